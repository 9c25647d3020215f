# checks: text tools over pipes: `sort`, `sort -u`, `uniq -c`, `wc`, `grep` with its exit statuses
printf 'b\na\nc\na\n' | sort
printf 'b\na\nc\na\n' | sort -u | wc -l
printf 'b\na\nc\na\n' | sort | uniq -c
wc /etc/passwd
grep -c root /etc/passwd
grep -n . /data/b
grep nomatch /etc/passwd
echo "grep no match: $?"
grep x /missing
echo "grep missing file: $?"
