# checks: renaming a lower file: the new name in the upper layer, a whiteout over the old one
mv /data/a /data/renamed
ls /data
cat /data/renamed
mv /tmp /data/b 2>/dev/null
echo "mv dir over file: $?"
mv /data/renamed /data/b
cat /data/b
