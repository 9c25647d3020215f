# checks: deleting a lower file leaves a whiteout: gone from the union and the listing, `D /data/a`
rm /data/a
ls /data
cat /data/a
echo "cat: $?"
test -e /data/a || echo "a is gone"
