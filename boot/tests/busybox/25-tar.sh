# checks: `tar` reads lower files into an archive and unpacks it into new upper directories
tar -cf /tmp/x.tar -C /data a b dir
tar -tf /tmp/x.tar
mkdir /tmp/out
tar -xf /tmp/x.tar -C /tmp/out
find /tmp/out | sort
cmp /data/b /tmp/out/b && echo same
