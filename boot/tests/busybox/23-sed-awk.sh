# checks: `sed -i` (write a temporary file, rename it over a lower file), `sed` and `awk` on pipes
sed 's/^/> /' /etc/motd
awk -F: '{ print $1, $3 }' /etc/passwd
sed -i 's/a/A/g' /data/a
cat /data/a
ls /data
