# checks: standard output and standard error kept apart, and the shell's own exit status
echo out
echo err >&2
echo out2
exit 42
