# checks: a file bigger than a few pages, written through a pipe and read back (wc, tail, md5sum)
seq 1 20000 > /tmp/big
wc -l -c /tmp/big
tail -n 2 /tmp/big
md5sum /tmp/big
cat /data/a >> /tmp/big
tail -c 6 /tmp/big
