# checks: `find` walks the merged tree (symlinked applets, files, names, types)
find /data | sort
find /etc -type f | sort
find /bin -type l | wc -l
find / -name motd -type f 2>/dev/null
find /data -type d | sort
