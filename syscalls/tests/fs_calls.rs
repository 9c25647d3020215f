//! The file and path calls through the dispatcher, over a real union (a tmpfs lower layer
//! under a tmpfs upper layer), checking return values, errnos, packed bytes and what the
//! union recorded.

mod fs_support;

use std::mem::{offset_of, size_of};

use fs_support::{parse_dirents, World, BAD};
use linux_raw_sys::general::*;
use overlay_syscalls::user::UserMemory;
use overlay_syscalls::Errno;

#[test]
fn open_read_write_close_round_trip_through_the_union() {
    let mut w = World::new();
    assert_eq!(w.cat("/etc/hostname").unwrap(), b"lower-host\n");
    let fd = w
        .open("/etc/new", O_RDWR | O_CREAT | O_EXCL, 0o640)
        .unwrap();
    assert_eq!(fd, 0, "the lowest free descriptor");
    assert_eq!(w.write(fd, b"hello, union").unwrap(), 12);
    assert_eq!(w.call(__NR_lseek, &[fd, 0, SEEK_SET.into()]), Ok(0));
    assert_eq!(w.read(fd, 5).unwrap(), b"hello");
    assert_eq!(w.read(fd, 100).unwrap(), b", union");
    assert_eq!(w.read(fd, 100).unwrap(), b"");
    assert_eq!(w.call(__NR_close, &[fd]), Ok(0));
    assert_eq!(w.errno(__NR_close, &[fd]), Errno::EBADF);
    let scratch = w.alloc(1);
    assert_eq!(w.errno(__NR_read, &[fd, scratch, 1]), Errno::EBADF);
    // Created with the mode less the umask, owned by the caller.
    let stat = w.stat("/etc/new").unwrap();
    assert_eq!(stat.mode, S_IFREG | 0o640);
    assert_eq!(stat.size, 12);
    assert_eq!(w.diff(), ["C /etc", "A /etc/new"]);
}

#[test]
fn writing_a_lower_file_copies_it_up() {
    let mut w = World::new();
    let fd = w.open("/etc/motd", O_WRONLY | O_APPEND, 0).unwrap();
    assert_eq!(w.write(fd, b"more\n").unwrap(), 5);
    assert_eq!(w.cat("/etc/motd").unwrap(), b"welcome\nmore\n");
    assert_eq!(w.diff(), ["C /etc", "C /etc/motd"]);
    // Opening for reading alone copies nothing up.
    let mut w = World::new();
    let fd = w.open("/data/a", O_RDONLY, 0).unwrap();
    let scratch = w.alloc(1);
    assert_eq!(w.errno(__NR_write, &[fd, scratch, 1]), Errno::EBADF);
    assert!(w.diff().is_empty());
}

#[test]
fn bad_pointers_are_efault_and_change_nothing() {
    let mut w = World::new();
    let fd = w.open("/data/c", O_RDONLY, 0).unwrap();
    assert_eq!(w.errno(__NR_read, &[fd, BAD, 3]), Errno::EFAULT);
    // The read took nothing: the offset did not move.
    assert_eq!(w.read(fd, 3).unwrap(), b"CCC");
    let out = w.open("/data/new", O_WRONLY | O_CREAT, 0o644).unwrap();
    assert_eq!(w.errno(__NR_write, &[out, BAD, 3]), Errno::EFAULT);
    assert_eq!(w.stat("/data/new").unwrap().size, 0);
    // A buffer running off the end of memory is EFAULT too.
    let end = fs_support::BASE + fs_support::MEMORY_BYTES as u64 - 2;
    assert_eq!(w.errno(__NR_write, &[out, end, 3]), Errno::EFAULT);
    // Zero bytes need no buffer at all.
    assert_eq!(w.call(__NR_write, &[out, 0, 0]), Ok(0));
    assert_eq!(w.call(__NR_read, &[fd, 0, 0]), Ok(0));
    // Path pointers.
    assert_eq!(
        w.errno(__NR_openat, &[AT_FDCWD as u64, BAD, 0, 0]),
        Errno::EFAULT
    );
    let scratch = w.alloc(200);
    assert_eq!(w.errno(__NR_stat, &[BAD, scratch]), Errno::EFAULT);
    let path = w.str("/data/a");
    assert_eq!(w.errno(__NR_stat, &[path, BAD]), Errno::EFAULT);
    assert_eq!(w.errno(__NR_fstat, &[fd, BAD]), Errno::EFAULT);
    assert_eq!(w.errno(__NR_mkdir, &[BAD, 0o755]), Errno::EFAULT);
    let buf = w.alloc(8);
    assert_eq!(w.errno(__NR_getcwd, &[BAD, 4096]), Errno::EFAULT);
    assert_eq!(w.errno(__NR_readv, &[fd, BAD, 1]), Errno::EFAULT);
    let _ = buf;
}

#[test]
fn path_errors_are_linuxs() {
    let mut w = World::new();
    assert_eq!(w.open("/etc/missing", O_RDONLY, 0), Err(Errno::ENOENT));
    assert_eq!(
        w.open("/missing/x", O_RDONLY | O_CREAT, 0o644),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        w.open("/etc/hostname", O_RDWR | O_CREAT | O_EXCL, 0o644),
        Err(Errno::EEXIST)
    );
    assert_eq!(w.open("/etc/hostname/x", O_RDONLY, 0), Err(Errno::ENOTDIR));
    assert_eq!(
        w.open("/etc/hostname", O_RDONLY | O_DIRECTORY, 0),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(w.open("/etc", O_WRONLY, 0), Err(Errno::EISDIR));
    assert_eq!(
        w.open("/bin/sh", O_RDONLY | O_NOFOLLOW, 0),
        Err(Errno::ELOOP)
    );
    assert_eq!(w.open("", O_RDONLY, 0), Err(Errno::ENOENT));
    assert_eq!(
        w.open(&"a".repeat(300), O_RDONLY, 0),
        Err(Errno::ENAMETOOLONG)
    );
    let dir = w.str("/etc");
    assert_eq!(w.errno(__NR_mkdir, &[dir, 0o755]), Errno::EEXIST);
    assert_eq!(w.errno(__NR_unlink, &[dir]), Errno::EISDIR);
    let data = w.str("/data");
    assert_eq!(w.errno(__NR_rmdir, &[data]), Errno::ENOTEMPTY);
    let file = w.str("/data/a");
    assert_eq!(w.errno(__NR_rmdir, &[file]), Errno::ENOTDIR);
    let fd = w.open("/etc", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let scratch = w.alloc(4);
    assert_eq!(w.errno(__NR_read, &[fd, scratch, 4]), Errno::EISDIR);
    // A path that is not UTF-8 cannot reach the engine.
    let odd = w.put(b"/etc/\xff\0");
    assert_eq!(
        w.errno(__NR_openat, &[AT_FDCWD as u64, odd, 0, 0]),
        Errno::EINVAL
    );
    // Descriptors that are not open, or negative.
    let scratch = w.alloc(200);
    assert_eq!(w.errno(__NR_fstat, &[99, scratch]), Errno::EBADF);
    assert_eq!(w.errno(__NR_close, &[(-1i64) as u64]), Errno::EBADF);
}

#[test]
fn a_merged_directory_lists_each_name_once_across_small_reads() {
    let mut w = World::new();
    w.create("/data/d", b"upper").unwrap();
    w.create("/data/a", b"over a lower name").unwrap();
    let b = w.str("/data/b");
    w.call(__NR_unlink, &[b]).unwrap();
    let fd = w.open("/data", O_RDONLY | O_DIRECTORY, 0).unwrap();
    // 32 bytes hold one record of a short name at a time.
    let entries = w.list_fd(fd, 32).unwrap();
    let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(&names[..2], [".", ".."]);
    names.sort();
    assert_eq!(names, [".", "..", "a", "c", "d", "sub"]);
    // Each record says where the listing resumes after it, in increasing order.
    assert!(entries.windows(2).all(|pair| pair[0].off < pair[1].off));
    let kind = |name: &str| entries.iter().find(|e| e.name == name).unwrap().kind;
    assert_eq!(u32::from(kind("sub")), DT_DIR);
    assert_eq!(u32::from(kind("d")), DT_REG);
    // `.` is the directory, `..` its parent, with the numbers stat gives.
    let ino = |name: &str| entries.iter().find(|e| e.name == name).unwrap().ino;
    assert_eq!(ino("."), w.stat("/data").unwrap().ino);
    assert_eq!(ino(".."), w.stat("/").unwrap().ino);
    assert_eq!(ino("c"), w.stat("/data/c").unwrap().ino);
    // At the end: 0, again and again.
    let buf = w.alloc(64);
    assert_eq!(w.call(__NR_getdents64, &[fd, buf, 64]), Ok(0));
    // Rewound with lseek, the listing starts over; a buffer too small for one record is
    // EINVAL and moves nothing.
    assert_eq!(w.call(__NR_lseek, &[fd, 0, SEEK_SET.into()]), Ok(0));
    assert_eq!(w.errno(__NR_getdents64, &[fd, buf, 10]), Errno::EINVAL);
    assert_eq!(w.list_fd(fd, 4096).unwrap().len(), 6);
    // Seeking to a record's d_off resumes after it.
    let after_c = entries.iter().find(|e| e.name == "c").unwrap().off;
    w.call(__NR_lseek, &[fd, after_c as u64, SEEK_SET.into()])
        .unwrap();
    let rest: Vec<String> = w
        .list_fd(fd, 4096)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    let all: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
    let at = all.iter().position(|n| n == "c").unwrap();
    assert_eq!(rest, all[at + 1..]);
    // Not a directory: ENOTDIR; a bad buffer: EFAULT.
    let file = w.open("/data/c", O_RDONLY, 0).unwrap();
    assert_eq!(w.errno(__NR_getdents64, &[file, buf, 64]), Errno::ENOTDIR);
    w.call(__NR_lseek, &[fd, 0, SEEK_SET.into()]).unwrap();
    assert_eq!(w.errno(__NR_getdents64, &[fd, BAD, 64]), Errno::EFAULT);
    assert_eq!(
        w.list_fd(fd, 4096).unwrap().len(),
        6,
        "the failed copy moved nothing"
    );
}

#[test]
fn unlinking_a_lower_file_leaves_a_whiteout() {
    let mut w = World::new();
    let path = w.str("/etc/hostname");
    assert_eq!(w.call(__NR_unlink, &[path]), Ok(0));
    assert_eq!(w.stat("/etc/hostname"), Err(Errno::ENOENT));
    assert_eq!(w.diff(), ["C /etc", "D /etc/hostname"]);
    assert_eq!(w.ls("/etc").unwrap(), [".", "..", "motd"]);
    let at = w.str("sub");
    let data = w.open("/data", O_RDONLY | O_DIRECTORY, 0).unwrap();
    assert_eq!(w.errno(__NR_unlinkat, &[data, at, 0]), Errno::EISDIR);
    let deep = w.str("sub/deep");
    w.call(__NR_unlinkat, &[data, deep, 0]).unwrap();
    assert_eq!(
        w.call(__NR_unlinkat, &[data, at, AT_REMOVEDIR.into()]),
        Ok(0)
    );
    assert_eq!(w.errno(__NR_unlinkat, &[data, at, 0x4]), Errno::EINVAL);
    assert!(w.diff().contains(&"D /data/sub".to_string()));
}

#[test]
fn relative_paths_follow_chdir_and_dotdot_climbs_back() {
    let mut w = World::new();
    assert_eq!(w.getcwd().unwrap(), "/");
    let sub = w.str("/data/sub");
    w.call(__NR_chdir, &[sub]).unwrap();
    assert_eq!(w.getcwd().unwrap(), "/data/sub");
    assert_eq!(w.cat("deep").unwrap(), b"deep");
    assert_eq!(w.cat("../a").unwrap(), b"A");
    assert_eq!(w.cat("../../etc/motd").unwrap(), b"welcome\n");
    assert_eq!(w.cat("../../../../etc/motd").unwrap(), b"welcome\n");
    w.create("made-here", b"x").unwrap();
    assert_eq!(w.cat("/data/sub/made-here").unwrap(), b"x");
    let up = w.str("..");
    w.call(__NR_chdir, &[up]).unwrap();
    assert_eq!(w.getcwd().unwrap(), "/data");
    assert_eq!(w.cat("b").unwrap(), b"BB");
    // chdir through a symlink: getcwd gives the directory's real path.
    let link_target = w.str("/data/sub");
    let link = w.str("/shortcut");
    w.call(__NR_symlink, &[link_target, link]).unwrap();
    w.call(__NR_chdir, &[link]).unwrap();
    assert_eq!(w.getcwd().unwrap(), "/data/sub");
    // Errors leave the working directory where it was.
    let file = w.str("/data/a");
    assert_eq!(w.errno(__NR_chdir, &[file]), Errno::ENOTDIR);
    let missing = w.str("nope");
    assert_eq!(w.errno(__NR_chdir, &[missing]), Errno::ENOENT);
    assert_eq!(w.getcwd().unwrap(), "/data/sub");
    // getcwd: ERANGE when the buffer is too small for the path and its NUL.
    let buf = w.alloc(16);
    assert_eq!(w.errno(__NR_getcwd, &[buf, 9]), Errno::ERANGE);
    assert_eq!(w.call(__NR_getcwd, &[buf, 10]), Ok(10));
}

#[test]
fn getcwd_follows_renames_and_fails_once_the_directory_is_gone() {
    let mut w = World::new();
    for dir in ["/work", "/work/inner"] {
        let path = w.str(dir);
        w.call(__NR_mkdir, &[path, 0o755]).unwrap();
    }
    let inner = w.str("/work/inner");
    w.call(__NR_chdir, &[inner]).unwrap();
    let (old, new) = (w.str("/work"), w.str("/moved"));
    w.call(__NR_rename, &[old, new]).unwrap();
    assert_eq!(w.getcwd().unwrap(), "/moved/inner");
    w.create("still-here", b"").unwrap();
    assert!(w.stat("/moved/inner/still-here").is_ok());
    let gone = w.str("/moved/inner");
    w.call(__NR_rmdir, &[gone]).unwrap_err();
    let file = w.str("/moved/inner/still-here");
    w.call(__NR_unlink, &[file]).unwrap();
    w.call(__NR_rmdir, &[gone]).unwrap();
    assert_eq!(w.getcwd(), Err(Errno::ENOENT));
}

#[test]
fn a_forked_context_keeps_its_own_working_directory_and_umask() {
    let mut w = World::new();
    let mut child = w.process.clone();
    child.fs.chdir(&child.creds, "/etc").unwrap();
    child.fs.set_umask(0o077);
    assert_eq!(child.fs.cwd_path().unwrap(), "/etc");
    assert_eq!(w.getcwd().unwrap(), "/");
    assert_eq!(w.call(__NR_umask, &[0o027]), Ok(0o022));
    assert_eq!(w.call(__NR_umask, &[0o022]), Ok(0o027));
    assert_eq!(child.fs.umask(), 0o077);
}

#[test]
fn the_umask_masks_new_modes() {
    let mut w = World::new();
    w.call(__NR_umask, &[0o077]).unwrap();
    w.open("/f", O_WRONLY | O_CREAT, 0o666).unwrap();
    assert_eq!(w.stat("/f").unwrap().mode, S_IFREG | 0o600);
    let dir = w.str("/d");
    w.call(__NR_mkdir, &[dir, 0o777]).unwrap();
    assert_eq!(w.stat("/d").unwrap().mode, S_IFDIR | 0o700);
}

#[test]
fn openat_resolves_from_the_directory_descriptor() {
    let mut w = World::new();
    let data = w.open("/data", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let sub = w.str("sub/deep");
    let fd = w.call(__NR_openat, &[data, sub, 0, 0]).unwrap();
    assert_eq!(w.read(fd, 10).unwrap(), b"deep");
    // `..` from the descriptor's directory goes to its parent.
    let up = w.str("../etc/motd");
    let fd = w.call(__NR_openat, &[data, up, 0, 0]).unwrap();
    assert_eq!(w.read(fd, 10).unwrap(), b"welcome\n");
    // An absolute path ignores the descriptor, even a bad one.
    let abs = w.str("/data/a");
    assert!(w.call(__NR_openat, &[1234, abs, 0, 0]).is_ok());
    // A relative path needs a directory descriptor.
    let rel = w.str("a");
    assert_eq!(w.errno(__NR_openat, &[1234, rel, 0, 0]), Errno::EBADF);
    let file = w.open("/data/a", O_RDONLY, 0).unwrap();
    assert_eq!(w.errno(__NR_openat, &[file, rel, 0, 0]), Errno::ENOTDIR);
    // mkdirat and newfstatat from the same descriptor.
    let name = w.str("fresh");
    w.call(__NR_mkdirat, &[data, name, 0o755]).unwrap();
    assert_eq!(w.stat("/data/fresh").unwrap().mode & S_IFMT, S_IFDIR);
    let buf = w.alloc(size_of::<stat>());
    w.call(__NR_newfstatat, &[data, name, buf, 0]).unwrap();
    // AT_EMPTY_PATH stats the descriptor itself.
    let empty = w.str("");
    assert_eq!(
        w.errno(__NR_newfstatat, &[data, empty, buf, 0]),
        Errno::ENOENT
    );
    w.call(__NR_newfstatat, &[data, empty, buf, AT_EMPTY_PATH.into()])
        .unwrap();
    let st = fs_support::Stat::of(&w.peek(buf, size_of::<stat>()));
    assert_eq!(st.ino, w.stat("/data").unwrap().ino);
    // fchdir moves the working directory there.
    w.call(__NR_fchdir, &[data]).unwrap();
    assert_eq!(w.getcwd().unwrap(), "/data");
    assert_eq!(w.errno(__NR_fchdir, &[file]), Errno::ENOTDIR);
}

#[test]
fn rename_moves_names_through_the_union() {
    let mut w = World::new();
    let (old, new) = (w.str("/data/a"), w.str("/etc/a-moved"));
    w.call(__NR_rename, &[old, new]).unwrap();
    assert_eq!(w.cat("/etc/a-moved").unwrap(), b"A");
    assert_eq!(w.stat("/data/a"), Err(Errno::ENOENT));
    let diff = w.diff();
    assert!(diff.contains(&"D /data/a".to_string()), "{diff:?}");
    assert!(diff.contains(&"A /etc/a-moved".to_string()), "{diff:?}");
    // RENAME_NOREPLACE refuses an existing name; without it the name is replaced.
    let (c, b) = (w.str("/data/c"), w.str("/data/b"));
    let cwd = AT_FDCWD as u64;
    assert_eq!(
        w.errno(__NR_renameat2, &[cwd, c, cwd, b, RENAME_NOREPLACE.into()]),
        Errno::EEXIST
    );
    assert_eq!(
        w.errno(__NR_renameat2, &[cwd, c, cwd, b, 0x100]),
        Errno::EINVAL
    );
    w.call(__NR_renameat, &[cwd, c, cwd, b]).unwrap();
    assert_eq!(w.cat("/data/b").unwrap(), b"CCC");
    // A directory cannot move below itself; two directory descriptors work together.
    let (data, inside) = (w.str("/data"), w.str("/data/sub/data"));
    assert_eq!(w.errno(__NR_rename, &[data, inside]), Errno::EINVAL);
    let etc = w.open("/etc", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let sub = w.open("/data/sub", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let (from, to) = (w.str("motd"), w.str("motd-here"));
    w.call(__NR_renameat, &[etc, from, sub, to]).unwrap();
    assert_eq!(w.cat("/data/sub/motd-here").unwrap(), b"welcome\n");
}

#[test]
fn symlink_readlink_and_link() {
    let mut w = World::new();
    let (target, path) = (w.str("../etc/motd"), w.str("/data/motd-link"));
    w.call(__NR_symlink, &[target, path]).unwrap();
    assert_eq!(w.cat("/data/motd-link").unwrap(), b"welcome\n");
    let lstat = w.lstat("/data/motd-link").unwrap();
    assert_eq!(lstat.mode, S_IFLNK | 0o777);
    assert_eq!(lstat.size, "../etc/motd".len() as i64);
    let buf = w.alloc(64);
    assert_eq!(w.call(__NR_readlink, &[path, buf, 64]), Ok(11));
    assert_eq!(w.peek(buf, 11), b"../etc/motd");
    // Cut to the buffer, without a NUL.
    let small = w.alloc(8);
    assert_eq!(w.call(__NR_readlink, &[path, small, 4]), Ok(4));
    assert_eq!(w.peek(small, 5), b"../e\0");
    assert_eq!(w.errno(__NR_readlink, &[path, buf, 0]), Errno::EINVAL);
    let file = w.str("/data/a");
    assert_eq!(w.errno(__NR_readlink, &[file, buf, 64]), Errno::EINVAL);
    assert_eq!(w.errno(__NR_symlink, &[target, path]), Errno::EEXIST);
    let data = w.open("/data", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let rel = w.str("motd-link");
    assert_eq!(w.call(__NR_readlinkat, &[data, rel, buf, 64]), Ok(11));
    // A hard link shares the inode.
    let other = w.str("/data/a-again");
    w.call(__NR_link, &[file, other]).unwrap();
    assert_eq!(
        w.stat("/data/a").unwrap().ino,
        w.stat("/data/a-again").unwrap().ino
    );
    assert_eq!(w.stat("/data/a").unwrap().nlink, 2);
    let dir = w.str("/data/sub");
    let dir_link = w.str("/data/sub2");
    assert_eq!(w.errno(__NR_link, &[dir, dir_link]), Errno::EPERM);
    // linkat with AT_SYMLINK_FOLLOW links the target, without it the symlink.
    let (l1, l2) = (w.str("/data/l1"), w.str("/data/l2"));
    let cwd = AT_FDCWD as u64;
    w.call(__NR_linkat, &[cwd, path, cwd, l1, 0]).unwrap();
    w.call(__NR_linkat, &[cwd, path, cwd, l2, AT_SYMLINK_FOLLOW.into()])
        .unwrap();
    assert_eq!(w.lstat("/data/l1").unwrap().mode & S_IFMT, S_IFLNK);
    assert_eq!(w.lstat("/data/l2").unwrap().mode & S_IFMT, S_IFREG);
}

#[test]
fn dup_dup2_dup3_and_fcntl() {
    let mut w = World::new();
    let fd = w.open("/data/c", O_RDONLY, 0).unwrap();
    let copy = w.call(__NR_dup, &[fd]).unwrap();
    assert_eq!(copy, fd + 1);
    // The copies share the offset.
    assert_eq!(w.read(fd, 1).unwrap(), b"C");
    assert_eq!(w.call(__NR_lseek, &[copy, 0, SEEK_CUR.into()]), Ok(1));
    assert_eq!(w.call(__NR_dup2, &[fd, 10]), Ok(10));
    assert_eq!(w.call(__NR_dup2, &[fd, fd]), Ok(fd));
    assert_eq!(w.errno(__NR_dup2, &[77, 10]), Errno::EBADF);
    assert_eq!(w.errno(__NR_dup3, &[fd, fd, 0]), Errno::EINVAL);
    assert_eq!(w.errno(__NR_dup3, &[fd, 11, 1]), Errno::EINVAL);
    assert_eq!(w.call(__NR_dup3, &[fd, 11, O_CLOEXEC.into()]), Ok(11));
    assert_eq!(
        w.call(__NR_fcntl, &[11, F_GETFD.into()]),
        Ok(FD_CLOEXEC.into())
    );
    assert_eq!(w.call(__NR_fcntl, &[10, F_GETFD.into()]), Ok(0));
    w.call(__NR_fcntl, &[10, F_SETFD.into(), FD_CLOEXEC.into()])
        .unwrap();
    assert_eq!(
        w.call(__NR_fcntl, &[10, F_GETFD.into()]),
        Ok(FD_CLOEXEC.into())
    );
    assert_eq!(w.call(__NR_fcntl, &[fd, F_DUPFD.into(), 5]), Ok(5));
    assert_eq!(w.call(__NR_fcntl, &[fd, F_DUPFD.into(), 5]), Ok(6));
    assert_eq!(
        w.call(__NR_fcntl, &[fd, F_DUPFD_CLOEXEC.into(), 20]),
        Ok(20)
    );
    assert_eq!(
        w.call(__NR_fcntl, &[20, F_GETFD.into()]),
        Ok(FD_CLOEXEC.into())
    );
    assert_eq!(
        w.errno(__NR_fcntl, &[fd, F_DUPFD.into(), 5000]),
        Errno::EINVAL
    );
    assert_eq!(w.errno(__NR_fcntl, &[fd, 9999]), Errno::EINVAL);
    // Status flags: the access mode shows, O_APPEND and O_NONBLOCK change.
    let out = w.open("/data/out", O_WRONLY | O_CREAT, 0o644).unwrap();
    let flags = w.call(__NR_fcntl, &[out, F_GETFL.into()]).unwrap() as u32;
    assert_eq!(flags & (O_ACCMODE | O_APPEND | O_NONBLOCK), O_WRONLY);
    w.call(
        __NR_fcntl,
        &[out, F_SETFL.into(), (O_APPEND | O_RDWR).into()],
    )
    .unwrap();
    let flags = w.call(__NR_fcntl, &[out, F_GETFL.into()]).unwrap() as u32;
    assert_eq!(flags & (O_ACCMODE | O_APPEND), O_WRONLY | O_APPEND);
    w.write(out, b"12345").unwrap();
    w.call(__NR_lseek, &[out, 0, SEEK_SET.into()]).unwrap();
    w.write(out, b"67").unwrap();
    assert_eq!(
        w.cat("/data/out").unwrap(),
        b"1234567",
        "O_APPEND set by F_SETFL"
    );
    // Locks: nobody else holds one.
    let lock = w.alloc(size_of::<flock>());
    w.space
        .0
        .write(lock, &(F_WRLCK as u16).to_le_bytes())
        .unwrap();
    w.call(__NR_fcntl, &[out, F_GETLK.into(), lock]).unwrap();
    let kind = u16::from_le_bytes(
        w.peek(lock + offset_of!(flock, l_type) as u64, 2)
            .try_into()
            .unwrap(),
    );
    assert_eq!(u32::from(kind), F_UNLCK);
    assert_eq!(w.call(__NR_fcntl, &[out, F_SETLK.into(), lock]), Ok(0));
    assert_eq!(
        w.errno(__NR_fcntl, &[out, F_SETLKW.into(), BAD]),
        Errno::EFAULT
    );
    // ioctl: a file is not a terminal.
    let termios = w.alloc(64);
    assert_eq!(w.errno(__NR_ioctl, &[fd, 0x5401, termios]), Errno::ENOTTY);
    assert_eq!(w.call(__NR_ioctl, &[fd, 0x5451, 0]), Ok(0), "FIOCLEX");
    assert_eq!(
        w.call(__NR_fcntl, &[fd, F_GETFD.into()]),
        Ok(FD_CLOEXEC.into())
    );
}

#[test]
fn stat_packs_linuxs_x86_64_layout() {
    assert_eq!(size_of::<stat>(), 144);
    let mut w = World::new();
    let bytes = w.stat_bytes("/data/b", false).unwrap();
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(u32_at(offset_of!(stat, st_mode)), S_IFREG | 0o644);
    assert_eq!(u64_at(offset_of!(stat, st_size)), 2);
    assert_eq!(u64_at(offset_of!(stat, st_nlink)), 1);
    assert_eq!(u32_at(offset_of!(stat, st_uid)), 0);
    assert_eq!(u64_at(offset_of!(stat, st_blksize)), 4096);
    assert_eq!(u64_at(offset_of!(stat, st_blocks)), 8);
    assert_eq!(u64_at(offset_of!(stat, st_rdev)), 0);
    assert_eq!(u32_at(offset_of!(stat, __pad0)), 0);
    assert_ne!(u64_at(offset_of!(stat, st_ino)), 0);
    // The union's numbers, as fstat and statx give them too.
    let fd = w.open("/data/b", O_RDONLY, 0).unwrap();
    let buf = w.alloc(size_of::<stat>());
    w.call(__NR_fstat, &[fd, buf]).unwrap();
    assert_eq!(w.peek(buf, size_of::<stat>()), bytes);
    let path = w.str("/data/b");
    let sx = w.alloc(size_of::<statx>());
    w.call(
        __NR_statx,
        &[AT_FDCWD as u64, path, 0, STATX_BASIC_STATS.into(), sx],
    )
    .unwrap();
    let sx_bytes = w.peek(sx, size_of::<statx>());
    let sx_u64 = |at: usize| u64::from_le_bytes(sx_bytes[at..at + 8].try_into().unwrap());
    let sx_u16 = |at: usize| u16::from_le_bytes(sx_bytes[at..at + 2].try_into().unwrap());
    assert_eq!(
        sx_u64(offset_of!(statx, stx_ino)),
        u64_at(offset_of!(stat, st_ino))
    );
    assert_eq!(sx_u64(offset_of!(statx, stx_size)), 2);
    assert_eq!(
        u32::from(sx_u16(offset_of!(statx, stx_mode))),
        S_IFREG | 0o644
    );
    assert_eq!(
        u32::from_le_bytes(sx_bytes[..4].try_into().unwrap()),
        STATX_BASIC_STATS
    );
    assert_eq!(
        w.errno(
            __NR_statx,
            &[AT_FDCWD as u64, path, 0, STATX__RESERVED.into(), sx]
        ),
        Errno::EINVAL
    );
    // Directories and symlinks.
    assert_eq!(w.stat("/data").unwrap().mode, S_IFDIR | 0o755);
    assert_eq!(w.stat("/bin/sh").unwrap().mode, S_IFREG | 0o644);
    assert_eq!(w.lstat("/bin/sh").unwrap().mode, S_IFLNK | 0o777);
    assert_eq!(
        w.errno(__NR_newfstatat, &[AT_FDCWD as u64, path, buf, 0x1]),
        Errno::EINVAL
    );
}

#[test]
fn positioned_and_vectored_io() {
    let mut w = World::new();
    let fd = w.open("/data/v", O_RDWR | O_CREAT, 0o644).unwrap();
    // writev of two buffers.
    let (one, two) = (w.put(b"abc"), w.put(b"defg"));
    let iov = w.alloc(2 * size_of::<iovec>());
    for (i, (base, len)) in [(one, 3u64), (two, 4u64)].into_iter().enumerate() {
        let at = iov + (i * size_of::<iovec>()) as u64;
        w.space
            .0
            .write(at + offset_of!(iovec, iov_base) as u64, &base.to_le_bytes())
            .unwrap();
        w.space
            .0
            .write(at + offset_of!(iovec, iov_len) as u64, &len.to_le_bytes())
            .unwrap();
    }
    assert_eq!(w.call(__NR_writev, &[fd, iov, 2]), Ok(7));
    assert_eq!(w.cat("/data/v").unwrap(), b"abcdefg");
    // readv from the start fills both in turn.
    w.call(__NR_lseek, &[fd, 0, SEEK_SET.into()]).unwrap();
    w.space.0.write(one, b"___").unwrap();
    w.space.0.write(two, b"____").unwrap();
    assert_eq!(w.call(__NR_readv, &[fd, iov, 2]), Ok(7));
    assert_eq!(w.peek(one, 3), b"abc");
    assert_eq!(w.peek(two, 4), b"defg");
    assert_eq!(w.errno(__NR_readv, &[fd, iov, 5000]), Errno::EINVAL);
    // pread/pwrite leave the offset alone.
    let buf = w.alloc(4);
    assert_eq!(w.call(__NR_pread64, &[fd, buf, 3, 2]), Ok(3));
    assert_eq!(w.peek(buf, 3), b"cde");
    let x = w.put(b"XY");
    assert_eq!(w.call(__NR_pwrite64, &[fd, x, 2, 1]), Ok(2));
    assert_eq!(w.call(__NR_lseek, &[fd, 0, SEEK_CUR.into()]), Ok(7));
    assert_eq!(w.cat("/data/v").unwrap(), b"aXYdefg");
    assert_eq!(
        w.errno(__NR_pread64, &[fd, buf, 3, (-1i64) as u64]),
        Errno::EINVAL
    );
    // lseek: SEEK_END, negative results, bad whence.
    assert_eq!(
        w.call(__NR_lseek, &[fd, (-2i64) as u64, SEEK_END.into()]),
        Ok(5)
    );
    assert_eq!(
        w.errno(__NR_lseek, &[fd, (-9i64) as u64, SEEK_END.into()]),
        Errno::EINVAL
    );
    assert_eq!(w.errno(__NR_lseek, &[fd, 0, 17]), Errno::EINVAL);
    assert_eq!(w.call(__NR_lseek, &[fd, 3, SEEK_DATA.into()]), Ok(3));
    assert_eq!(w.call(__NR_lseek, &[fd, 3, SEEK_HOLE.into()]), Ok(7));
    // A huge length is served with a bounded buffer (here the file's 7 bytes; the memory
    // after `big` is mapped for a MiB), not refused nor allocated whole.
    let big = w.alloc(16);
    assert_eq!(w.call(__NR_pread64, &[fd, big, u64::MAX / 2, 0]), Ok(7));
    assert_eq!(w.peek(big, 7), b"aXYdefg");
}

#[test]
fn attributes_times_access_and_xattrs() {
    let mut w = World::new();
    let path = w.str("/data/a");
    w.call(__NR_chmod, &[path, 0o600]).unwrap();
    assert_eq!(w.stat("/data/a").unwrap().mode, S_IFREG | 0o600);
    w.call(__NR_chown, &[path, 1000, u64::from(u32::MAX)])
        .unwrap();
    let st = w.stat("/data/a").unwrap();
    assert_eq!((st.uid, st.gid), (1000, 0));
    let fd = w.open("/data/a", O_RDWR, 0).unwrap();
    w.call(__NR_fchmod, &[fd, 0o640]).unwrap();
    assert_eq!(w.stat("/data/a").unwrap().mode, S_IFREG | 0o640);
    w.call(__NR_ftruncate, &[fd, 10]).unwrap();
    assert_eq!(w.stat("/data/a").unwrap().size, 10);
    w.call(__NR_truncate, &[path, 0]).unwrap();
    assert_eq!(w.stat("/data/a").unwrap().size, 0);
    assert_eq!(
        w.errno(__NR_truncate, &[path, (-1i64) as u64]),
        Errno::EINVAL
    );
    let ro = w.open("/data/c", O_RDONLY, 0).unwrap();
    assert_eq!(w.errno(__NR_ftruncate, &[ro, 0]), Errno::EINVAL);
    // lchown changes the symlink, chown its target.
    let link = w.str("/bin/sh");
    w.call(__NR_lchown, &[link, 5, 5]).unwrap();
    assert_eq!(w.lstat("/bin/sh").unwrap().uid, 5);
    assert_eq!(w.stat("/bin/sh").unwrap().uid, 0);
    // utimensat: explicit times, UTIME_OMIT keeps one.
    let times = w.alloc(2 * size_of::<timespec>());
    let ts = |sec: i64, nsec: i64| [sec.to_le_bytes(), nsec.to_le_bytes()].concat();
    let both = [ts(100, 5), ts(200, 6)].concat();
    w.space.0.write(times, &both).unwrap();
    let cwd = AT_FDCWD as u64;
    w.call(__NR_utimensat, &[cwd, path, times, 0]).unwrap();
    let bytes = w.stat_bytes("/data/a", false).unwrap();
    let at = |off: usize| i64::from_le_bytes(bytes[off..off + 8].try_into().unwrap());
    assert_eq!(at(offset_of!(stat, st_atime)), 100);
    assert_eq!(at(offset_of!(stat, st_mtime)), 200);
    assert_eq!(at(offset_of!(stat, st_mtime_nsec)), 6);
    let omit = [ts(1, (1 << 30) - 2), ts(300, 0)].concat();
    w.space.0.write(times, &omit).unwrap();
    w.call(__NR_utimensat, &[cwd, path, times, 0]).unwrap();
    let bytes = w.stat_bytes("/data/a", false).unwrap();
    let at = |off: usize| i64::from_le_bytes(bytes[off..off + 8].try_into().unwrap());
    assert_eq!(
        (
            at(offset_of!(stat, st_atime)),
            at(offset_of!(stat, st_mtime))
        ),
        (100, 300)
    );
    let bad = [ts(1, 1_000_000_000), ts(1, 0)].concat();
    w.space.0.write(times, &bad).unwrap();
    assert_eq!(
        w.errno(__NR_utimensat, &[cwd, path, times, 0]),
        Errno::EINVAL
    );
    assert_eq!(w.call(__NR_utimensat, &[cwd, path, 0, 0]), Ok(0));
    assert_eq!(w.errno(__NR_utimensat, &[cwd, 0, 0, 0]), Errno::EFAULT);
    assert_eq!(w.call(__NR_utimensat, &[fd, 0, 0, 0]), Ok(0), "futimens");
    // access.
    assert_eq!(w.call(__NR_access, &[path, 0]), Ok(0));
    assert_eq!(w.call(__NR_access, &[path, 6]), Ok(0));
    assert_eq!(
        w.errno(__NR_access, &[path, 1]),
        Errno::EACCES,
        "root needs an x bit"
    );
    assert_eq!(w.errno(__NR_access, &[path, 8]), Errno::EINVAL);
    let missing = w.str("/nope");
    assert_eq!(w.errno(__NR_access, &[missing, 0]), Errno::ENOENT);
    assert_eq!(
        w.call(__NR_faccessat2, &[cwd, link, 0, AT_SYMLINK_NOFOLLOW.into()]),
        Ok(0)
    );
    // Extended attributes.
    let name = w.str("user.colour");
    let value = w.put(b"blue");
    w.call(__NR_setxattr, &[path, name, value, 4, 0]).unwrap();
    assert_eq!(
        w.errno(__NR_setxattr, &[path, name, value, 4, XATTR_CREATE.into()]),
        Errno::EEXIST
    );
    let buf = w.alloc(64);
    assert_eq!(w.call(__NR_getxattr, &[path, name, 0, 0]), Ok(4));
    assert_eq!(w.errno(__NR_getxattr, &[path, name, buf, 2]), Errno::ERANGE);
    assert_eq!(w.call(__NR_fgetxattr, &[fd, name, buf, 64]), Ok(4));
    assert_eq!(w.peek(buf, 4), b"blue");
    assert_eq!(w.call(__NR_listxattr, &[path, buf, 64]), Ok(12));
    assert_eq!(w.peek(buf, 12), b"user.colour\0");
    w.call(__NR_removexattr, &[path, name]).unwrap();
    assert_eq!(
        w.errno(__NR_getxattr, &[path, name, buf, 64]),
        Errno::ENODATA
    );
    let empty = w.str("");
    assert_eq!(
        w.errno(__NR_getxattr, &[path, empty, buf, 64]),
        Errno::ERANGE
    );
}

#[test]
fn non_root_callers_meet_the_permission_checks() {
    let mut w = World::as_user(overlay_core::vfs::Credentials::user(1000, 1000));
    assert_eq!(
        w.open("/data/new", O_WRONLY | O_CREAT, 0o644),
        Err(Errno::EACCES)
    );
    assert_eq!(w.open("/data/a", O_WRONLY, 0), Err(Errno::EACCES));
    let path = w.str("/data/a");
    assert_eq!(w.errno(__NR_chmod, &[path, 0o777]), Errno::EPERM);
    assert_eq!(w.errno(__NR_unlink, &[path]), Errno::EACCES);
    assert_eq!(w.cat("/data/a").unwrap(), b"A");
    assert!(w.diff().is_empty(), "a refused open copies nothing up");
}

#[test]
fn getdents_entries_are_records_of_their_own_length() {
    let mut w = World::new();
    let long = "n".repeat(200);
    w.create(&format!("/data/{long}"), b"").unwrap();
    let fd = w.open("/data", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let buf = w.alloc(4096);
    let count = w.call(__NR_getdents64, &[fd, buf, 4096]).unwrap() as usize;
    let entries = parse_dirents(&w.peek(buf, count));
    let record = entries.iter().find(|e| e.name == long).unwrap();
    let header = offset_of!(linux_dirent64, d_name);
    assert_eq!(record.reclen as usize, (header + 201).next_multiple_of(8));
    assert_eq!(
        entries.iter().map(|e| e.reclen as usize).sum::<usize>(),
        count
    );
}

#[test]
fn sendfile_copies_between_descriptors() {
    let mut w = World::new();
    let input = w.open("/data/c", O_RDONLY, 0).unwrap();
    let out = w.open("/data/copy", O_WRONLY | O_CREAT, 0o644).unwrap();
    assert_eq!(w.call(__NR_sendfile, &[out, input, 0, 100]), Ok(3));
    assert_eq!(w.call(__NR_lseek, &[input, 0, SEEK_CUR.into()]), Ok(3));
    assert_eq!(w.call(__NR_sendfile, &[out, input, 0, 100]), Ok(0));
    // With an offset: read there, the offset updated, the input's own unmoved.
    let offset = w.put(&1u64.to_le_bytes());
    assert_eq!(w.call(__NR_sendfile, &[out, input, offset, 1]), Ok(1));
    assert_eq!(w.peek(offset, 8), 2u64.to_le_bytes());
    assert_eq!(w.call(__NR_lseek, &[input, 0, SEEK_CUR.into()]), Ok(3));
    assert_eq!(w.cat("/data/copy").unwrap(), b"CCCC");
    assert_eq!(w.errno(__NR_sendfile, &[input, out, 0, 1]), Errno::EBADF);
    assert_eq!(w.errno(__NR_sendfile, &[out, input, BAD, 1]), Errno::EFAULT);
}

#[test]
fn creat_mknod_and_truncating_opens() {
    let mut w = World::new();
    let path = w.str("/data/made");
    let fd = w.call(__NR_creat, &[path, 0o600]).unwrap();
    assert_eq!(w.write(fd, b"xyz"), Ok(3));
    let scratch = w.alloc(1);
    assert_eq!(w.errno(__NR_read, &[fd, scratch, 1]), Errno::EBADF);
    assert_eq!(w.stat("/data/made").unwrap().mode, S_IFREG | 0o600);
    // O_TRUNC on a lower file copies it up empty.
    w.open("/etc/motd", O_WRONLY | O_TRUNC, 0).unwrap();
    assert_eq!(w.stat("/etc/motd").unwrap().size, 0);
    assert!(w.diff().contains(&"C /etc/motd".to_string()));
    // mknod: a fifo, a device (root), a plain file; not a directory.
    let fifo = w.str("/data/fifo");
    w.call(__NR_mknod, &[fifo, u64::from(S_IFIFO | 0o644), 0])
        .unwrap();
    assert_eq!(w.lstat("/data/fifo").unwrap().mode, S_IFIFO | 0o644);
    let null = w.str("/data/null");
    w.call(__NR_mknod, &[null, u64::from(S_IFCHR | 0o666), 0x103])
        .unwrap();
    let st = w.stat("/data/null").unwrap();
    assert_eq!(
        (st.mode, st.rdev),
        (S_IFCHR | 0o644, 0x103),
        "less the umask"
    );
    let plain = w.str("/data/plain");
    w.call(__NR_mknod, &[plain, 0o644, 0]).unwrap();
    assert_eq!(w.stat("/data/plain").unwrap().mode, S_IFREG | 0o644);
    let dir = w.str("/data/dir");
    assert_eq!(
        w.errno(__NR_mknod, &[dir, u64::from(S_IFDIR | 0o755), 0]),
        Errno::EPERM
    );
    assert_eq!(w.errno(__NR_mknod, &[dir, 0o170644, 0]), Errno::EINVAL);
    // O_TMPFILE is not supported; O_CLOEXEC marks the descriptor.
    assert_eq!(
        w.open("/data", O_TMPFILE | O_RDWR, 0o600),
        Err(Errno::EOPNOTSUPP)
    );
    let fd = w.open("/data/a", O_RDONLY | O_CLOEXEC, 0).unwrap();
    assert_eq!(
        w.call(__NR_fcntl, &[fd, F_GETFD.into()]),
        Ok(FD_CLOEXEC.into())
    );
}

#[test]
fn o_path_descriptors_are_places_not_data() {
    let mut w = World::new();
    let fd = w.open("/data", O_PATH | O_DIRECTORY, 0).unwrap();
    let scratch = w.alloc(4);
    assert_eq!(w.errno(__NR_read, &[fd, scratch, 4]), Errno::EBADF);
    let buf = w.alloc(256);
    assert_eq!(w.errno(__NR_getdents64, &[fd, buf, 256]), Errno::EBADF);
    w.call(__NR_fstat, &[fd, buf]).unwrap();
    let rel = w.str("c");
    let file = w.call(__NR_openat, &[fd, rel, 0, 0]).unwrap();
    assert_eq!(w.read(file, 8).unwrap(), b"CCC");
    assert_eq!(
        w.call(__NR_fcntl, &[fd, F_GETFL.into()]).unwrap() as u32 & O_PATH,
        O_PATH
    );
}

#[test]
fn statfs_reports_the_root_filesystem() {
    let mut w = World::new();
    let path = w.str("/data");
    let buf = w.alloc(size_of::<statfs>());
    w.call(__NR_statfs, &[path, buf]).unwrap();
    let bytes = w.peek(buf, size_of::<statfs>());
    let at = |off: usize| i64::from_le_bytes(bytes[off..off + 8].try_into().unwrap());
    assert_eq!(
        at(offset_of!(statfs, f_type)),
        i64::from(OVERLAYFS_SUPER_MAGIC)
    );
    assert_eq!(at(offset_of!(statfs, f_namelen)), 255);
    assert!(at(offset_of!(statfs, f_bsize)) > 0);
    let missing = w.str("/nope");
    assert_eq!(w.errno(__NR_statfs, &[missing, buf]), Errno::ENOENT);
    let fd = w.open("/data/a", O_RDONLY, 0).unwrap();
    w.call(__NR_fstatfs, &[fd, buf]).unwrap();
    assert_eq!(w.errno(__NR_fstatfs, &[99, buf]), Errno::EBADF);
}

#[test]
fn the_root_lists_its_dotdot_as_itself() {
    let mut w = World::new();
    let fd = w.open("/", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let entries = w.list_fd(fd, 4096).unwrap();
    let root = w.stat("/").unwrap().ino;
    assert_eq!(entries[0].name, ".");
    assert_eq!((entries[1].name.as_str(), entries[1].ino), ("..", root));
    let mut names: Vec<String> = entries.into_iter().skip(2).map(|e| e.name).collect();
    names.sort();
    assert_eq!(names, ["bin", "data", "etc"]);
}

#[test]
fn names_added_and_removed_while_listing_never_repeat_or_skip_the_others() {
    let mut w = World::new();
    for name in ["e", "f", "g", "h"] {
        w.create(&format!("/data/{name}"), b"").unwrap();
    }
    let fd = w.open("/data", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let buf = w.alloc(40);
    let mut seen = Vec::new();
    let mut step = 0;
    loop {
        let count = w.call(__NR_getdents64, &[fd, buf, 40]).unwrap();
        if count == 0 {
            break;
        }
        seen.extend(
            parse_dirents(&w.peek(buf, count as usize))
                .into_iter()
                .map(|e| e.name),
        );
        step += 1;
        if step == 3 {
            // Midway: a new name, a name gone (lower or upper, listed or not).
            w.create("/data/late", b"").unwrap();
            let gone = w.str("/data/h");
            w.call(__NR_unlink, &[gone]).unwrap();
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no name twice: {seen:?}");
    for name in [".", "..", "a", "b", "c", "sub", "e", "f", "g"] {
        assert!(seen.iter().any(|n| n == name), "{name} listed: {seen:?}");
    }
}

#[test]
fn with_every_descriptor_taken_open_creates_nothing() {
    let mut w = World::new();
    let fd = w.open("/data/a", O_RDONLY, 0).unwrap();
    while w.call(__NR_dup, &[fd]).is_ok() {}
    assert_eq!(w.errno(__NR_dup, &[fd]), Errno::EMFILE);
    assert_eq!(
        w.open("/data/new", O_WRONLY | O_CREAT, 0o644),
        Err(Errno::EMFILE)
    );
    assert_eq!(w.stat("/data/new"), Err(Errno::ENOENT));
    w.call(__NR_close, &[7]).unwrap();
    assert_eq!(w.open("/data/new", O_WRONLY | O_CREAT, 0o644), Ok(7));
}
