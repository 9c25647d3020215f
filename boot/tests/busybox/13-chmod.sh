# checks: `chmod` of lower files and directories copies them up with the new mode; `stat -c`
chmod 600 /data/a
chmod +x /etc/motd
chmod 700 /data/dir
chmod u=rwx,g=,o= /tmp
stat -c '%a %U %G %s %n' /data/a /etc/motd
stat -c '%a %U %G %n' /data/dir /tmp
chmod 644 /missing
echo "chmod missing: $?"
