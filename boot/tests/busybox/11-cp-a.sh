# checks: `cp -a` of a lower tree keeps modes, owners, symlinks; `cp` of one file copies its bytes
ln -s dir/c /data/link
cp -a /data /copy
find /copy | sort
ls -ln /copy/a /copy/link
cat /copy/dir/c
cp /etc/motd /tmp/motd
cmp /etc/motd /tmp/motd && echo same
