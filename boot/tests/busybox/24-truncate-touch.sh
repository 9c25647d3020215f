# checks: `truncate` and `: >` of lower files (copy-up then truncate), `touch` of a new file
truncate -s 2 /data/b
cat /data/b; echo
wc -c /data/b
: > /data/a
wc -c /data/a
touch /data/new
ls /data
truncate -s 5 /data/new
od -An -tx1 /data/new
