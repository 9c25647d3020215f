# checks: appending to a lower file copies up the old content first, then appends
echo more >> /data/b
cat /data/b
wc -c /data/b
