# checks: `rm -r` of a lower directory, then `mkdir` of the same name: an opaque, empty directory
rm -r /data/dir
ls /data
ls /data/dir; echo "ls gone: $?"
mkdir /data/dir
ls -a /data/dir
echo new > /data/dir/d
ls /data/dir
