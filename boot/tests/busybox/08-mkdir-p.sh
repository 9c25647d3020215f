# checks: `mkdir -p` makes missing parents in the upper layer and accepts existing lower ones
mkdir -p /a/b/c
mkdir -p /data/dir/x/y
mkdir -p /data
echo "mkdir: $?"
find /a /data | sort
mkdir /a
echo "mkdir existing: $?"
