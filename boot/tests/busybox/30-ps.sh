# checks: `ps` reads /proc: only the container's processes, by command name (`busybox` for the shell)
ps -o comm
ps -o comm | wc -l
