# checks: writing over a lower file copies it up: the new content in the union, `C /data/a` in the diff
echo changed > /data/a
cat /data/a
cat /data/b
