# checks: `echo >` creates a file in the upper layer, `>>` appends to it, `cat` reads it back
echo hello > /tmp/greeting
echo world >> /tmp/greeting
cat /tmp/greeting
wc -l /tmp/greeting
