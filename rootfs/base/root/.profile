export PS1="# "
