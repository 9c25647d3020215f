# checks: renaming a lower directory (EXDEV without redirect_dir, so mv copies it and deletes the old)
mv /data/dir /data/moved
find /data | sort
cat /data/moved/c
ls /data/dir
echo "ls old: $?"
