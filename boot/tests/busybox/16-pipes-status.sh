# checks: `$?` after commands and pipelines, `&&`/`||`, a sub-shell's exit status
false; echo "false: $?"
true | false; echo "true|false: $?"
false | true; echo "false|true: $?"
cat /etc/passwd | grep root | wc -l
sh -c 'exit 7'; echo "sh exit 7: $?"
true && echo and-ran
false || echo or-ran
nosuchcommand; echo "not found: $?"
