# checks: `ls -l` and `ls -ln`: modes, links, owners by name and number, sizes; times masked (ls-time)
echo 12345 > /data/new
ln -s a /data/link
ls -l /data
ls -ln /etc/motd /data/a /data/new
ls -ld /tmp /data/link
