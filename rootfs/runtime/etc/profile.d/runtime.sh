export RUNTIME_HOME=/usr/lib/runtime
