# checks: reading files of the lower layers (`cat /etc/motd`) copies nothing up: the diff is empty
cat /etc/motd
cat /data/a /data/b
head -n 1 /etc/passwd
