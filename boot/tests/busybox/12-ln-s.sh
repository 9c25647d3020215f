# checks: symlinks: `ln -s`, `readlink`, reading through a link, a dangling link's error, `ls -l` of a link
ln -s /data/a /tmp/link
readlink /tmp/link
cat /tmp/link
ln -s missing /tmp/dangling
cat /tmp/dangling
echo "cat dangling: $?"
ls -l /tmp/link /tmp/dangling
ln -s /data/a /tmp/link
echo "ln over existing: $?"
