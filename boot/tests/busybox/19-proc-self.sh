# checks: a minimal /proc: self/exe (how Debian's BusyBox runs applets), self/cmdline, self/cwd
readlink /proc/self/exe
cat /proc/self/cmdline | tr '\0' ' '
echo
readlink /proc/self/cwd
cd /data && readlink /proc/self/cwd
test -d /proc/self/fd && echo fd-is-a-directory
