# checks: the shell's descriptor handling: `exec 3>`, `>&3`, closing, `<` input, `{ } >` groups
exec 3> /tmp/fd3
echo via3 >&3
exec 3>&-
cat /tmp/fd3
head -n 1 < /etc/passwd
{ echo a; echo b; } > /tmp/group
cat /tmp/group
cat < /missing; echo "redirect from missing: $?"
