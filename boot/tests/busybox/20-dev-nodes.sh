# checks: the container's /dev: null swallows, zero gives zeros, urandom gives bytes, full is ENOSPC
echo discard > /dev/null
cat /dev/null | wc -c
head -c 8 /dev/zero | od -An -tx1
head -c 16 /dev/urandom | wc -c
echo x > /dev/full
echo "write to full: $?"
readlink /dev/fd
