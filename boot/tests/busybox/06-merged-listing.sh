# checks: `ls` of a merged directory after adds and deletes: lower names, upper names, no whiteouts
touch /data/new
rm /data/b
mkdir /data/sub
ls /data
ls -a /data
ls /data/dir
