# checks: the umask (0022 at start) applies to new files and directories; `umask 077` changes it
umask
mkdir /tmp/d
touch /tmp/f
stat -c '%a %n' /tmp/d /tmp/f
umask 077
touch /tmp/g
mkdir /tmp/e
stat -c '%a %n' /tmp/g /tmp/e
