# checks: error paths and their messages on stderr (errno names as glibc spells them) and statuses
cat /missing; echo "cat: $?"
ls /missing; echo "ls: $?"
mkdir /etc; echo "mkdir: $?"
rm /data; echo "rm dir: $?"
rmdir /data; echo "rmdir non-empty: $?"
rmdir /etc/motd; echo "rmdir file: $?"
cd /nonexistent; echo "cd: $?"
cat /etc/motd/x; echo "through a file: $?"
echo x > /data/dir; echo "write to dir: $?"
exit 3
