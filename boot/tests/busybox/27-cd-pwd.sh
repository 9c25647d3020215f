# checks: the working directory: `pwd`, relative paths, `cd ..`, writing through a relative path
pwd
cd /data/dir
pwd
ls
cd ..
pwd
cat ./a
cd /tmp && echo hi > rel && cat /tmp/rel
