# checks: a hard link to a lower file: both names one file after copy-up (link counts, shared writes)
ln /data/a /tmp/hard
echo appended >> /tmp/hard
cat /data/a
stat -c '%h %s %n' /data/a /tmp/hard
rm /data/a
stat -c '%h %n' /tmp/hard
