//! The POSIX rules, each checked through a [`Namespace`] over a tmpfs.

use alloc::{string::String, sync::Arc, vec, vec::Vec};

use super::spy::{self, CallLog, Spy};
use super::*;
use crate::path::MAX_SYMLINKS;
use crate::tmpfs::{TmpFs, TmpFsOptions};
use crate::vfs::{DeviceId, RenameFlags, Timespec, XattrFlags, S_ISUID, S_ISVTX};

fn tmpfs() -> Arc<dyn FileSystem> {
    TmpFs::new(TmpFsOptions::default())
}

/// A namespace over a fresh tmpfs whose root is world-writable (`1777` like `/tmp` when
/// `sticky`, else `0777`), so tests can act as users.
fn namespace() -> Namespace {
    let namespace = Namespace::with_filesystem(tmpfs());
    namespace.chmod(&root(), "/", 0o777).unwrap();
    namespace
}

/// A namespace whose inodes record calls in the returned log.
fn spied() -> (Namespace, CallLog) {
    let log = CallLog::default();
    let namespace = Namespace::new(Spy::wrap(tmpfs().root(), &log));
    namespace.chmod(&root(), "/", 0o777).unwrap();
    spy::take(&log);
    (namespace, log)
}

fn root() -> Credentials {
    Credentials::root()
}

fn user(uid: u32) -> Credentials {
    Credentials::user(uid, uid)
}

fn write_file(namespace: &Namespace, creds: &Credentials, path: &str, content: &[u8]) {
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
    namespace
        .open(creds, path, flags, 0o666)
        .unwrap()
        .write_all(content)
        .unwrap();
}

fn read_file(namespace: &Namespace, path: &str) -> Vec<u8> {
    let mut file = namespace.open(&root(), path, OpenFlags::READ, 0).unwrap();
    let mut content = Vec::new();
    let mut chunk = [0u8; 7];
    loop {
        let count = file.read(&mut chunk).unwrap();
        if count == 0 {
            return content;
        }
        content.extend_from_slice(&chunk[..count]);
    }
}

fn ino(namespace: &Namespace, path: &str) -> u64 {
    namespace.lstat(&root(), path).unwrap().ino
}

// ---- path walking --------------------------------------------------------------------------

#[test]
fn dot_and_dotdot_follow_the_walk() {
    let ns = namespace();
    ns.mkdir(&root(), "/a", 0o755).unwrap();
    ns.mkdir(&root(), "/a/b", 0o755).unwrap();
    assert_eq!(ino(&ns, "/a/b/../b/./.."), ino(&ns, "/a"));
    assert_eq!(ino(&ns, "/.."), ino(&ns, "/"));
    assert_eq!(ino(&ns, "/../../a/.."), ino(&ns, "/"));
    assert_eq!(ino(&ns, "a//b/"), ino(&ns, "/a/b"));
}

#[test]
fn dotdot_after_a_symlink_leaves_the_target_directory() {
    let ns = namespace();
    ns.mkdir(&root(), "/a", 0o755).unwrap();
    ns.mkdir(&root(), "/a/b", 0o755).unwrap();
    ns.mkdir(&root(), "/c", 0o755).unwrap();
    ns.symlink(&root(), "/a/b", "/c/l").unwrap();
    assert_eq!(ino(&ns, "/c/l/.."), ino(&ns, "/a"));
}

#[test]
fn relative_targets_resolve_from_the_links_directory() {
    let ns = namespace();
    ns.mkdir(&root(), "/a", 0o755).unwrap();
    write_file(&ns, &root(), "/a/f", b"in a");
    write_file(&ns, &root(), "/f", b"at root");
    ns.symlink(&root(), "f", "/a/rel").unwrap();
    ns.symlink(&root(), "/f", "/a/abs").unwrap();
    ns.symlink(&root(), "../a/./f", "/a/up").unwrap();
    assert_eq!(read_file(&ns, "/a/rel"), b"in a");
    assert_eq!(read_file(&ns, "/a/abs"), b"at root");
    assert_eq!(read_file(&ns, "/a/up"), b"in a");
    assert_eq!(ns.lstat(&root(), "/a/rel").unwrap().kind, FileType::Symlink);
    assert_eq!(ns.stat(&root(), "/a/rel").unwrap().kind, FileType::Regular);
}

#[test]
fn forty_symlinks_resolve_and_forty_one_loop() {
    let ns = namespace();
    write_file(&ns, &root(), "/target", b"end");
    // l0 -> target, l(i) -> l(i-1): reading l(n-1) follows n links.
    ns.symlink(&root(), "target", "/l0").unwrap();
    for i in 1..=MAX_SYMLINKS {
        ns.symlink(
            &root(),
            &alloc::format!("l{}", i - 1),
            &alloc::format!("/l{i}"),
        )
        .unwrap();
    }
    assert_eq!(
        read_file(&ns, &alloc::format!("/l{}", MAX_SYMLINKS - 1)),
        b"end"
    );
    assert_eq!(
        ns.stat(&root(), &alloc::format!("/l{MAX_SYMLINKS}")),
        Err(Errno::ELOOP)
    );
    // A link in the middle counts too.
    ns.mkdir(&root(), "/d", 0o755).unwrap();
    ns.symlink(&root(), "/self", "/self").unwrap();
    assert_eq!(ns.stat(&root(), "/self"), Err(Errno::ELOOP));
    assert_eq!(ns.stat(&root(), "/self/x"), Err(Errno::ELOOP));
    assert_eq!(ns.lstat(&root(), "/self").unwrap().kind, FileType::Symlink);
}

#[test]
fn name_and_path_limits() {
    let ns = namespace();
    assert_eq!(ns.stat(&root(), ""), Err(Errno::ENOENT));
    assert_eq!(ns.stat(&root(), "/a\0b"), Err(Errno::EINVAL));
    assert_eq!(ns.stat(&root(), &"a".repeat(255)), Err(Errno::ENOENT));
    assert_eq!(ns.stat(&root(), &"a".repeat(256)), Err(Errno::ENAMETOOLONG));
    assert_eq!(
        ns.mkdir(&root(), &"a".repeat(256), 0o755),
        Err(Errno::ENAMETOOLONG)
    );
    let long = "/".repeat(4095);
    assert_eq!(ns.stat(&root(), &long).unwrap().kind, FileType::Directory);
    assert_eq!(
        ns.stat(&root(), &"/".repeat(4096)),
        Err(Errno::ENAMETOOLONG)
    );
    ns.mkdir(&root(), &"d".repeat(255), 0o755).unwrap();
}

#[test]
fn non_directories_in_the_middle_are_enotdir() {
    let ns = namespace();
    write_file(&ns, &root(), "/f", b"");
    ns.symlink(&root(), "/f", "/lf").unwrap();
    ns.mkdir(&root(), "/d", 0o755).unwrap();
    ns.symlink(&root(), "/d", "/ld").unwrap();
    assert_eq!(ns.stat(&root(), "/f/x"), Err(Errno::ENOTDIR));
    assert_eq!(ns.stat(&root(), "/f/"), Err(Errno::ENOTDIR));
    assert_eq!(ns.stat(&root(), "/f/."), Err(Errno::ENOTDIR));
    assert_eq!(ns.lstat(&root(), "/lf/"), Err(Errno::ENOTDIR));
    // A trailing slash follows a final symlink even for lstat.
    assert_eq!(ns.lstat(&root(), "/ld/").unwrap().kind, FileType::Directory);
    assert_eq!(ns.lstat(&root(), "/ld").unwrap().kind, FileType::Symlink);
}

#[test]
fn dangling_symlinks_stat_enoent_lstat_works() {
    let ns = namespace();
    ns.symlink(&root(), "/nowhere", "/dangling").unwrap();
    assert_eq!(ns.stat(&root(), "/dangling"), Err(Errno::ENOENT));
    assert_eq!(ns.lstat(&root(), "/dangling").unwrap().size, 8);
    assert_eq!(ns.symlink(&root(), "", "/empty"), Err(Errno::ENOENT));
    assert_eq!(ns.symlink(&root(), "a\0", "/nul"), Err(Errno::EINVAL));
    assert_eq!(
        ns.symlink(&root(), &"t".repeat(4096), "/long"),
        Err(Errno::ENAMETOOLONG)
    );
}

#[test]
fn search_permission_is_needed_on_every_directory() {
    let ns = namespace();
    ns.mkdir(&root(), "/private", 0o700).unwrap();
    ns.mkdir(&root(), "/private/sub", 0o755).unwrap();
    write_file(&ns, &root(), "/private/sub/f", b"x");
    let alice = user(1000);
    assert!(ns.stat(&alice, "/private").is_ok());
    assert_eq!(ns.stat(&alice, "/private/sub"), Err(Errno::EACCES));
    assert_eq!(ns.stat(&alice, "/private/sub/f"), Err(Errno::EACCES));
    assert_eq!(ns.stat(&alice, "/private/."), Err(Errno::EACCES));
    // Reaching it through a symlink does not help.
    ns.symlink(&root(), "/private/sub", "/shortcut").unwrap();
    assert_eq!(ns.stat(&alice, "/shortcut/f"), Err(Errno::EACCES));
    // Root passes; a group member with x passes.
    assert!(ns.stat(&root(), "/private/sub/f").is_ok());
    ns.chown(&root(), "/private", None, Some(50)).unwrap();
    ns.chmod(&root(), "/private", 0o710).unwrap();
    let member = Credentials {
        uid: 1000,
        gid: 1000,
        groups: vec![50],
    };
    assert!(ns.stat(&member, "/private/sub/f").is_ok());
    // x without r: names can be looked up but not listed.
    assert_eq!(
        ns.read_dir(&member, "/private").map(|_| ()),
        Err(Errno::EACCES)
    );
}

#[test]
fn relative_paths_start_at_the_root() {
    let ns = namespace();
    write_file(&ns, &root(), "rel", b"r");
    assert_eq!(read_file(&ns, "/rel"), b"r");
    assert_eq!(read_file(&ns, "./rel"), b"r");
}

// ---- open ----------------------------------------------------------------------------------

#[test]
fn exclusive_create_refuses_any_existing_name() {
    let ns = namespace();
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
    ns.open(&root(), "/new", flags, 0o644).unwrap();
    assert_eq!(
        ns.open(&root(), "/new", flags, 0o644).map(drop),
        Err(Errno::EEXIST)
    );
    ns.symlink(&root(), "/nowhere", "/dangling").unwrap();
    assert_eq!(
        ns.open(&root(), "/dangling", flags, 0o644).map(drop),
        Err(Errno::EEXIST)
    );
    assert_eq!(ns.lstat(&root(), "/nowhere"), Err(Errno::ENOENT));
    ns.mkdir(&root(), "/dir", 0o755).unwrap();
    assert_eq!(
        ns.open(&root(), "/dir", flags, 0o644).map(drop),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        ns.open(&root(), "/", flags, 0o644).map(drop),
        Err(Errno::EEXIST)
    );
}

#[test]
fn exclusive_create_reports_an_existing_name_before_a_refusal() {
    // `open` makes a free name at once; when that fails, the error must still be Linux's:
    // an existing name before the caller's missing permission or a read-only filesystem.
    let writable = tmpfs();
    let ns = Namespace::with_filesystem(writable.clone());
    ns.mkdir(&root(), "/locked", 0o755).unwrap();
    write_file(&ns, &root(), "/locked/f", b"x");
    let alice = user(1000);
    fn open(ns: &Namespace, creds: &Credentials, path: &str) -> crate::Result<()> {
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
        ns.open(creds, path, flags, 0o644).map(drop)
    }
    assert_eq!(open(&ns, &alice, "/locked/f"), Err(Errno::EEXIST));
    assert_eq!(open(&ns, &alice, "/locked/g"), Err(Errno::EACCES));
    assert_eq!(ns.lstat(&root(), "/locked/g"), Err(Errno::ENOENT));
    let read_only = Namespace::with_filesystem(Arc::new(ReadOnly(writable)));
    assert_eq!(open(&read_only, &root(), "/locked/f"), Err(Errno::EEXIST));
    assert_eq!(open(&read_only, &root(), "/locked/g"), Err(Errno::EROFS));
    assert_eq!(ns.lstat(&root(), "/locked/g"), Err(Errno::ENOENT));
    ns.mkdir(&root(), "/open", 0o777).unwrap();
    ns.chmod(&root(), "/open", 0o777).unwrap();
    assert_eq!(open(&ns, &alice, "/open/g"), Ok(()));
    assert_eq!(ns.lstat(&root(), "/open/g").unwrap().uid, 1000);
    assert_eq!(open(&ns, &alice, "/open/g"), Err(Errno::EEXIST));
}

#[test]
fn create_through_a_dangling_symlink_creates_its_target() {
    let ns = namespace();
    ns.mkdir(&root(), "/d", 0o755).unwrap();
    ns.symlink(&root(), "d/target", "/link").unwrap();
    write_file(&ns, &root(), "/link", b"via link");
    assert_eq!(read_file(&ns, "/d/target"), b"via link");
    assert_eq!(ns.lstat(&root(), "/link").unwrap().kind, FileType::Symlink);
    // With NOFOLLOW a final symlink is ELOOP.
    let flags = OpenFlags::READ | OpenFlags::NOFOLLOW;
    assert_eq!(
        ns.open(&root(), "/link", flags, 0).map(drop),
        Err(Errno::ELOOP)
    );
}

#[test]
fn directories_refuse_writes_and_files_refuse_directory() {
    let ns = namespace();
    ns.mkdir(&root(), "/d", 0o755).unwrap();
    write_file(&ns, &root(), "/f", b"data");
    for flags in [
        OpenFlags::WRITE,
        OpenFlags::READ | OpenFlags::WRITE,
        OpenFlags::TRUNCATE,
    ] {
        assert_eq!(
            ns.open(&root(), "/d", flags, 0).map(drop),
            Err(Errno::EISDIR),
            "{flags:?}"
        );
    }
    assert_eq!(
        ns.open(&root(), "/d", OpenFlags::CREATE, 0).map(drop),
        Err(Errno::EISDIR)
    );
    assert!(ns.open(&root(), "/d", OpenFlags::READ, 0).is_ok());
    let dir = OpenFlags::READ | OpenFlags::DIRECTORY;
    assert_eq!(
        ns.open(&root(), "/f", dir, 0).map(drop),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        ns.open(&root(), "/f/", OpenFlags::READ, 0).map(drop),
        Err(Errno::ENOTDIR)
    );
    let create_dir = OpenFlags::CREATE | OpenFlags::DIRECTORY;
    assert_eq!(
        ns.open(&root(), "/x", create_dir, 0).map(drop),
        Err(Errno::EINVAL)
    );
    let create = OpenFlags::WRITE | OpenFlags::CREATE;
    assert_eq!(
        ns.open(&root(), "/new/", create, 0o644).map(drop),
        Err(Errno::EISDIR)
    );
    assert_eq!(ns.lstat(&root(), "/new"), Err(Errno::ENOENT));
    let mut directory = ns.open(&root(), "/d", OpenFlags::READ, 0).unwrap();
    assert_eq!(directory.read(&mut [0; 4]), Err(Errno::EISDIR));
}

#[test]
fn open_checks_read_write_and_truncate_permission() {
    let ns = namespace();
    write_file(&ns, &root(), "/ro", b"root's");
    ns.chmod(&root(), "/ro", 0o644).unwrap();
    let alice = user(1000);
    assert!(ns.open(&alice, "/ro", OpenFlags::READ, 0).is_ok());
    for flags in [
        OpenFlags::WRITE,
        OpenFlags::READ | OpenFlags::WRITE,
        OpenFlags::READ | OpenFlags::TRUNCATE,
        OpenFlags::WRITE | OpenFlags::APPEND,
    ] {
        assert_eq!(
            ns.open(&alice, "/ro", flags, 0).map(drop),
            Err(Errno::EACCES),
            "{flags:?}"
        );
    }
    ns.chmod(&root(), "/ro", 0o600).unwrap();
    assert_eq!(
        ns.open(&alice, "/ro", OpenFlags::READ, 0).map(drop),
        Err(Errno::EACCES)
    );
    // Root passes the mode bits.
    ns.chmod(&root(), "/ro", 0o000).unwrap();
    assert!(ns
        .open(&root(), "/ro", OpenFlags::READ | OpenFlags::WRITE, 0)
        .is_ok());
    assert_eq!(read_file(&ns, "/ro"), b"root's");
}

#[test]
fn a_refused_open_modifies_nothing() {
    let (ns, log) = spied();
    write_file(&ns, &root(), "/f", b"keep");
    ns.chmod(&root(), "/f", 0o644).unwrap();
    spy::take(&log);
    let alice = user(1000);
    let flags = OpenFlags::WRITE | OpenFlags::TRUNCATE;
    assert_eq!(
        ns.open(&alice, "/f", flags, 0).map(drop),
        Err(Errno::EACCES)
    );
    assert_eq!(ns.truncate(&alice, "/f", 0), Err(Errno::EACCES));
    assert_eq!(ns.chmod(&alice, "/f", 0o777), Err(Errno::EPERM));
    assert_eq!(
        ns.utimes(
            &alice,
            "/f",
            SetTime::To(Timespec::default()),
            SetTime::Omit
        ),
        Err(Errno::EPERM)
    );
    assert_eq!(
        ns.utimes(&alice, "/f", SetTime::Now, SetTime::Now),
        Err(Errno::EACCES)
    );
    assert_eq!(
        ns.set_xattr(&alice, "/f", "user.a", b"v", XattrFlags::empty()),
        Err(Errno::EACCES)
    );
    ns.unlink(&alice, "/f").unwrap();
    // Unlink in a world-writable root is allowed; the calls before it modified nothing.
    let calls = spy::take(&log);
    assert_eq!(calls, ["unlink f"]);
}

#[test]
fn open_comes_before_truncation() {
    let (ns, log) = spied();
    write_file(&ns, &root(), "/f", b"content");
    spy::take(&log);
    ns.open(&root(), "/f", OpenFlags::WRITE | OpenFlags::TRUNCATE, 0)
        .unwrap();
    let calls = spy::take(&log);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].starts_with("open"), "{calls:?}");
    assert_eq!(calls[1], "set_len 0");
    // Read-only + truncate truncates too (and needs write permission).
    write_file(&ns, &root(), "/f", b"content");
    spy::take(&log);
    ns.open(&root(), "/f", OpenFlags::READ | OpenFlags::TRUNCATE, 0)
        .unwrap();
    assert_eq!(spy::take(&log)[1], "set_len 0");
    assert_eq!(ns.stat(&root(), "/f").unwrap().size, 0);
    // APPEND without WRITE is not passed on as a modifying open.
    ns.open(&root(), "/f", OpenFlags::READ | OpenFlags::APPEND, 0)
        .unwrap();
    assert_eq!(spy::take(&log), ["open OpenFlags(READ)"]);
}

#[test]
fn new_files_belong_to_the_caller_and_follow_the_umask() {
    let ns = namespace();
    let alice = Credentials {
        uid: 1000,
        gid: 100,
        groups: vec![],
    };
    write_file(&ns, &alice, "/a", b"");
    let metadata = ns.stat(&root(), "/a").unwrap();
    assert_eq!(
        (metadata.uid, metadata.gid, metadata.mode),
        (1000, 100, 0o644)
    );
    ns.mkdir(&alice, "/d", 0o777).unwrap();
    assert_eq!(ns.stat(&root(), "/d").unwrap().mode, 0o755);
    assert_eq!(ns.set_umask(0o077), 0o022);
    write_file(&ns, &alice, "/b", b"");
    assert_eq!(ns.stat(&root(), "/b").unwrap().mode, 0o600);
    // mkdir drops set-id bits but keeps sticky.
    ns.set_umask(0);
    ns.mkdir(&alice, "/s", 0o7777).unwrap();
    assert_eq!(ns.stat(&root(), "/s").unwrap().mode, 0o1777);
}

#[test]
fn setgid_directories_pass_on_their_group() {
    let ns = namespace();
    ns.mkdir(&root(), "/team", 0o777).unwrap();
    ns.chown(&root(), "/team", None, Some(50)).unwrap();
    ns.chmod(&root(), "/team", 0o2777).unwrap();
    let alice = Credentials {
        uid: 1000,
        gid: 100,
        groups: vec![],
    };
    write_file(&ns, &alice, "/team/f", b"");
    ns.mkdir(&alice, "/team/sub", 0o755).unwrap();
    let file = ns.stat(&root(), "/team/f").unwrap();
    let sub = ns.stat(&root(), "/team/sub").unwrap();
    assert_eq!((file.uid, file.gid, file.mode), (1000, 50, 0o644));
    assert_eq!((sub.gid, sub.mode), (50, 0o2755));
    // A new group-executable setgid file in a group the creator is not in loses the bit.
    let flags = OpenFlags::WRITE | OpenFlags::CREATE;
    ns.open(&alice, "/team/x", flags, 0o2775).unwrap();
    assert_eq!(ns.stat(&root(), "/team/x").unwrap().mode, 0o0755);
}

#[test]
fn a_new_file_is_writable_through_its_creating_handle() {
    let ns = namespace();
    let alice = user(1000);
    let flags = OpenFlags::WRITE | OpenFlags::CREATE;
    let mut file = ns.open(&alice, "/locked", flags, 0o444).unwrap();
    file.write_all(b"mine").unwrap();
    assert_eq!(
        ns.open(&alice, "/locked", OpenFlags::WRITE, 0).map(drop),
        Err(Errno::EACCES)
    );
}

#[test]
fn handles_read_write_seek_and_append() {
    let ns = namespace();
    write_file(&ns, &root(), "/f", b":xxx:yyy:zzz");
    let mut file = ns
        .open(&root(), "/f", OpenFlags::READ | OpenFlags::WRITE, 0)
        .unwrap();
    assert_eq!(file.write(b"q"), Ok(1));
    let mut buf = [0u8; 3];
    assert_eq!(file.read(&mut buf), Ok(3));
    assert_eq!(&buf, b"xxx");
    assert_eq!(file.seek(SeekFrom::End(-3)), Ok(9));
    assert_eq!(file.read(&mut buf), Ok(3));
    assert_eq!(&buf, b"zzz");
    assert_eq!(file.read(&mut buf), Ok(0));
    assert_eq!(file.seek(SeekFrom::Current(-20)), Err(Errno::EINVAL));
    assert_eq!(file.pwrite(20, b"!"), Ok(1));
    assert_eq!(file.pread(12, &mut buf), Ok(3));
    assert_eq!(buf, [0, 0, 0]);
    assert_eq!(read_file(&ns, "/f").len(), 21);

    write_file(&ns, &root(), "/log", b"one\n");
    let mut log = ns
        .open(&root(), "/log", OpenFlags::WRITE | OpenFlags::APPEND, 0)
        .unwrap();
    log.write_all(b"two\n").unwrap();
    assert_eq!(log.pwrite(0, b"three\n"), Ok(6));
    assert_eq!(read_file(&ns, "/log"), b"one\ntwo\nthree\n");

    let mut read_only = ns.open(&root(), "/log", OpenFlags::READ, 0).unwrap();
    assert_eq!(read_only.write(b"x"), Err(Errno::EBADF));
    assert_eq!(read_only.set_len(0), Err(Errno::EINVAL));
    let mut write_only = ns.open(&root(), "/log", OpenFlags::WRITE, 0).unwrap();
    assert_eq!(write_only.read(&mut buf), Err(Errno::EBADF));
    write_only.set_len(3).unwrap();
    assert_eq!(read_file(&ns, "/log"), b"one");
}

#[test]
fn sockets_cannot_be_opened() {
    let ns = namespace();
    let none = DeviceId::default();
    ns.mknod(&root(), "/sock", FileType::Socket, 0o644, none)
        .unwrap();
    assert_eq!(
        ns.open(&root(), "/sock", OpenFlags::READ, 0).map(drop),
        Err(Errno::ENXIO)
    );
}

// ---- names ---------------------------------------------------------------------------------

#[test]
fn mkdir_over_anything_is_eexist() {
    let ns = namespace();
    write_file(&ns, &root(), "/f", b"");
    ns.mkdir(&root(), "/d", 0o755).unwrap();
    ns.symlink(&root(), "/nowhere", "/l").unwrap();
    for path in ["/f", "/d", "/l", "/d/", "/", "/d/.", "/d/..", "/f/"] {
        assert_eq!(ns.mkdir(&root(), path, 0o755), Err(Errno::EEXIST), "{path}");
    }
    assert_eq!(ns.lstat(&root(), "/nowhere"), Err(Errno::ENOENT));
    ns.mkdir(&root(), "/new/", 0o755).unwrap();
    assert_eq!(ns.mkdir(&root(), "/missing/x", 0o755), Err(Errno::ENOENT));
    assert_eq!(ns.mkdir(&root(), "/f/x", 0o755), Err(Errno::ENOTDIR));
}

#[test]
fn creating_needs_write_and_search_on_the_parent() {
    let ns = namespace();
    ns.mkdir(&root(), "/closed", 0o755).unwrap();
    let alice = user(1000);
    let create = OpenFlags::WRITE | OpenFlags::CREATE;
    assert_eq!(ns.mkdir(&alice, "/closed/d", 0o755), Err(Errno::EACCES));
    assert_eq!(
        ns.open(&alice, "/closed/f", create, 0o644).map(drop),
        Err(Errno::EACCES)
    );
    assert_eq!(ns.symlink(&alice, "x", "/closed/l"), Err(Errno::EACCES));
    let fifo = DeviceId::default();
    assert_eq!(
        ns.mknod(&alice, "/closed/p", FileType::Fifo, 0o644, fifo),
        Err(Errno::EACCES)
    );
    write_file(&ns, &alice, "/mine", b"");
    assert_eq!(ns.link(&alice, "/mine", "/closed/h"), Err(Errno::EACCES));
    // An existing name is EEXIST before the permission check, as on Linux.
    ns.mkdir(&root(), "/closed/d", 0o755).unwrap();
    assert_eq!(ns.mkdir(&alice, "/closed/d", 0o755), Err(Errno::EEXIST));
}

#[test]
fn mknod_kinds_and_privilege() {
    let (ns, log) = spied();
    let alice = user(1000);
    let null = DeviceId { major: 1, minor: 3 };
    assert_eq!(
        ns.mknod(&alice, "/null", FileType::CharDevice, 0o666, null),
        Err(Errno::EPERM)
    );
    assert_eq!(
        ns.mknod(&alice, "/blk", FileType::BlockDevice, 0o666, null),
        Err(Errno::EPERM)
    );
    assert_eq!(
        ns.mknod(&root(), "/d", FileType::Directory, 0o755, null),
        Err(Errno::EPERM)
    );
    assert_eq!(
        ns.mknod(&root(), "/s", FileType::Symlink, 0o777, null),
        Err(Errno::EINVAL)
    );
    assert!(spy::take(&log).is_empty());
    // The whiteout device 0/0 is passed to the filesystem whoever asks.
    ns.mknod(
        &alice,
        "/wh",
        FileType::CharDevice,
        0o666,
        DeviceId::default(),
    )
    .unwrap();
    assert_eq!(spy::take(&log), ["create wh CharDevice 644"]);
    ns.mknod(&root(), "/null", FileType::CharDevice, 0o666, null)
        .unwrap();
    let metadata = ns.lstat(&root(), "/null").unwrap();
    assert_eq!((metadata.kind, metadata.rdev), (FileType::CharDevice, null));
    ns.mknod(&alice, "/fifo", FileType::Fifo, 0o666, null)
        .unwrap();
    assert_eq!(
        ns.lstat(&root(), "/fifo").unwrap().rdev,
        DeviceId::default()
    );
    assert_eq!(
        ns.mknod(&root(), "/fifo", FileType::Fifo, 0o666, null),
        Err(Errno::EEXIST)
    );
}

#[test]
fn unlink_rules() {
    let ns = namespace();
    ns.mkdir(&root(), "/d", 0o755).unwrap();
    write_file(&ns, &root(), "/f", b"target");
    ns.symlink(&root(), "/f", "/l").unwrap();
    assert_eq!(ns.unlink(&root(), "/d"), Err(Errno::EISDIR));
    assert_eq!(ns.unlink(&root(), "/"), Err(Errno::EISDIR));
    assert_eq!(ns.unlink(&root(), "/d/."), Err(Errno::EISDIR));
    assert_eq!(ns.unlink(&root(), "/missing"), Err(Errno::ENOENT));
    assert_eq!(ns.unlink(&root(), "/f/"), Err(Errno::ENOTDIR));
    assert_eq!(ns.unlink(&root(), "/d/"), Err(Errno::EISDIR));
    ns.unlink(&root(), "/l").unwrap();
    assert_eq!(read_file(&ns, "/f"), b"target");
    ns.unlink(&root(), "/f").unwrap();
    assert_eq!(ns.unlink(&root(), "/f"), Err(Errno::ENOENT));
}

#[test]
fn rmdir_rules() {
    let ns = namespace();
    ns.mkdir(&root(), "/d", 0o755).unwrap();
    ns.mkdir(&root(), "/d/sub", 0o755).unwrap();
    write_file(&ns, &root(), "/f", b"");
    ns.symlink(&root(), "/d", "/l").unwrap();
    assert_eq!(ns.rmdir(&root(), "/f"), Err(Errno::ENOTDIR));
    assert_eq!(ns.rmdir(&root(), "/l"), Err(Errno::ENOTDIR));
    assert_eq!(ns.rmdir(&root(), "/l/"), Err(Errno::ENOTDIR));
    assert_eq!(ns.rmdir(&root(), "/missing"), Err(Errno::ENOENT));
    assert_eq!(ns.rmdir(&root(), "/d/sub/."), Err(Errno::EINVAL));
    assert_eq!(ns.rmdir(&root(), "/d/sub/.."), Err(Errno::ENOTEMPTY));
    assert_eq!(ns.rmdir(&root(), "/"), Err(Errno::EBUSY));
    assert_eq!(ns.rmdir(&root(), "/d"), Err(Errno::ENOTEMPTY));
    ns.rmdir(&root(), "/d/sub/").unwrap();
    ns.rmdir(&root(), "/d").unwrap();
    assert_eq!(ns.stat(&root(), "/d"), Err(Errno::ENOENT));
}

#[test]
fn sticky_directories_restrict_deletion() {
    let ns = namespace();
    ns.chmod(&root(), "/", 0o1777).unwrap();
    let alice = user(1000);
    let bob = user(1001);
    write_file(&ns, &alice, "/alices", b"");
    ns.mkdir(&alice, "/alices-dir", 0o777).unwrap();
    assert_eq!(ns.unlink(&bob, "/alices"), Err(Errno::EPERM));
    assert_eq!(ns.rmdir(&bob, "/alices-dir"), Err(Errno::EPERM));
    assert_eq!(
        ns.rename(&bob, "/alices", "/bobs", RenameFlags::empty()),
        Err(Errno::EPERM)
    );
    write_file(&ns, &bob, "/bobs", b"");
    assert_eq!(
        ns.rename(&bob, "/bobs", "/alices", RenameFlags::empty()),
        Err(Errno::EPERM)
    );
    ns.unlink(&alice, "/alices").unwrap();
    ns.unlink(&root(), "/bobs").unwrap();
    // The directory's owner may delete anything in it.
    ns.mkdir(&bob, "/bobs-tmp", 0o777).unwrap();
    ns.chmod(&bob, "/bobs-tmp", 0o1777).unwrap();
    write_file(&ns, &alice, "/bobs-tmp/a", b"");
    ns.unlink(&bob, "/bobs-tmp/a").unwrap();
    assert_eq!(S_ISVTX, 0o1000);
}

#[test]
fn rename_rules() {
    let ns = namespace();
    let none = RenameFlags::empty();
    ns.mkdir(&root(), "/a", 0o755).unwrap();
    ns.mkdir(&root(), "/a/b", 0o755).unwrap();
    ns.mkdir(&root(), "/full", 0o755).unwrap();
    write_file(&ns, &root(), "/full/x", b"");
    ns.mkdir(&root(), "/empty", 0o755).unwrap();
    write_file(&ns, &root(), "/f", b"f");
    write_file(&ns, &root(), "/g", b"g");
    assert_eq!(ns.rename(&root(), "/a", "/a/b/c", none), Err(Errno::EINVAL));
    assert_eq!(ns.rename(&root(), "/a", "/a/c", none), Err(Errno::EINVAL));
    assert_eq!(
        ns.rename(&root(), "/a/b", "/a", none),
        Err(Errno::ENOTEMPTY)
    );
    assert_eq!(ns.rename(&root(), "/a", "/f", none), Err(Errno::ENOTDIR));
    assert_eq!(ns.rename(&root(), "/f", "/a", none), Err(Errno::EISDIR));
    assert_eq!(
        ns.rename(&root(), "/a", "/full", none),
        Err(Errno::ENOTEMPTY)
    );
    assert_eq!(
        ns.rename(&root(), "/missing", "/x", none),
        Err(Errno::ENOENT)
    );
    assert_eq!(ns.rename(&root(), "/f", "/x/", none), Err(Errno::ENOTDIR));
    assert_eq!(ns.rename(&root(), "/f/", "/x", none), Err(Errno::ENOTDIR));
    assert_eq!(ns.rename(&root(), "/", "/x", none), Err(Errno::EBUSY));
    assert_eq!(ns.rename(&root(), "/a/.", "/x", none), Err(Errno::EBUSY));
    assert_eq!(ns.rename(&root(), "/f", "/a/..", none), Err(Errno::EBUSY));
    assert_eq!(
        ns.rename(&root(), "/f", "/", RenameFlags::NOREPLACE),
        Err(Errno::EEXIST)
    );
    // Onto itself, or onto another name of the same inode: nothing happens.
    ns.rename(&root(), "/f", "/f", none).unwrap();
    ns.link(&root(), "/f", "/f2").unwrap();
    ns.rename(&root(), "/f", "/f2", none).unwrap();
    assert_eq!(ino(&ns, "/f"), ino(&ns, "/f2"));
    ns.unlink(&root(), "/f2").unwrap();
    // Flags.
    assert_eq!(
        ns.rename(&root(), "/f", "/g", RenameFlags::NOREPLACE),
        Err(Errno::EEXIST)
    );
    let both = RenameFlags::NOREPLACE | RenameFlags::EXCHANGE;
    assert_eq!(ns.rename(&root(), "/f", "/g", both), Err(Errno::EINVAL));
    let unknown = RenameFlags::from_bits_retain(1 << 7);
    assert_eq!(ns.rename(&root(), "/f", "/g", unknown), Err(Errno::EINVAL));
    assert_eq!(
        ns.rename(&root(), "/f", "/none", RenameFlags::EXCHANGE),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        ns.rename(&user(1000), "/f", "/h", RenameFlags::WHITEOUT),
        Err(Errno::EPERM)
    );
    ns.rename(&root(), "/f", "/g", RenameFlags::EXCHANGE)
        .unwrap();
    assert_eq!(read_file(&ns, "/g"), b"f");
    assert_eq!(read_file(&ns, "/f"), b"g");
    // Moves that work.
    ns.rename(&root(), "/a", "/empty", none).unwrap();
    assert_eq!(
        ns.stat(&root(), "/empty/b").unwrap().kind,
        FileType::Directory
    );
    let moved = ino(&ns, "/g");
    ns.rename(&root(), "/g", "/full/x", none).unwrap();
    assert_eq!(ino(&ns, "/full/x"), moved);
    assert_eq!(ns.stat(&root(), "/g"), Err(Errno::ENOENT));
}

#[test]
fn rename_permissions() {
    let ns = namespace();
    let alice = user(1000);
    ns.mkdir(&root(), "/closed", 0o755).unwrap();
    write_file(&ns, &root(), "/closed/f", b"");
    write_file(&ns, &alice, "/mine", b"");
    let none = RenameFlags::empty();
    assert_eq!(
        ns.rename(&alice, "/closed/f", "/taken", none),
        Err(Errno::EACCES)
    );
    assert_eq!(
        ns.rename(&alice, "/mine", "/closed/mine", none),
        Err(Errno::EACCES)
    );
    // A directory changing parent needs write permission on itself (its `..` changes).
    ns.mkdir(&root(), "/rootdir", 0o755).unwrap();
    ns.mkdir(&alice, "/open", 0o777).unwrap();
    assert_eq!(
        ns.rename(&alice, "/rootdir", "/open/rootdir", none),
        Err(Errno::EACCES)
    );
    ns.rename(&alice, "/rootdir", "/renamed", none).unwrap();
}

#[test]
fn link_rules() {
    let ns = namespace();
    write_file(&ns, &root(), "/f", b"shared");
    ns.mkdir(&root(), "/d", 0o755).unwrap();
    ns.symlink(&root(), "/f", "/l").unwrap();
    assert_eq!(ns.link(&root(), "/d", "/d2"), Err(Errno::EPERM));
    assert_eq!(ns.link(&root(), "/f", "/d"), Err(Errno::EEXIST));
    assert_eq!(ns.link(&root(), "/missing", "/x"), Err(Errno::ENOENT));
    assert_eq!(ns.link(&root(), "/f", "/x/"), Err(Errno::ENOENT));
    assert_eq!(ns.link(&root(), "/f/", "/x"), Err(Errno::ENOTDIR));
    ns.link(&root(), "/f", "/h").unwrap();
    assert_eq!(ino(&ns, "/h"), ino(&ns, "/f"));
    assert_eq!(ns.stat(&root(), "/f").unwrap().nlink, 2);
    // The old path's final symlink is not followed.
    ns.link(&root(), "/l", "/hl").unwrap();
    assert_eq!(ns.lstat(&root(), "/hl").unwrap().kind, FileType::Symlink);
    assert_eq!(ino(&ns, "/hl"), ino(&ns, "/l"));
}

#[test]
fn links_follow_protected_hardlinks() {
    // `/` is world-writable here, so only the source decides.
    let ns = namespace();
    let alice = user(1000);
    write_file(&ns, &root(), "/readable", b"");
    write_file(&ns, &root(), "/shared", b"");
    ns.chmod(&root(), "/shared", 0o666).unwrap();
    write_file(&ns, &root(), "/setuid", b"");
    ns.chmod(&root(), "/setuid", 0o4666).unwrap();
    write_file(&ns, &root(), "/setgid", b"");
    ns.chmod(&root(), "/setgid", 0o2676).unwrap();
    write_file(&ns, &alice, "/own", b"");
    ns.chmod(&alice, "/own", 0o400).unwrap();
    ns.symlink(&root(), "/shared", "/link").unwrap();
    ns.mkdir(&root(), "/closed", 0o755).unwrap();
    // Not the owner, and not allowed to read and write it (or not a plain file): EPERM.
    for source in ["/readable", "/setuid", "/setgid", "/link"] {
        assert_eq!(ns.link(&alice, source, "/x"), Err(Errno::EPERM), "{source}");
    }
    // ...checked before the directory's permissions, as Linux's `may_linkat`.
    assert_eq!(ns.link(&alice, "/readable", "/closed/x"), Err(Errno::EPERM));
    assert_eq!(ns.link(&alice, "/shared", "/closed/x"), Err(Errno::EACCES));
    // A file they may read and write, their own (whatever its mode), anything for root.
    ns.link(&alice, "/shared", "/a").unwrap();
    ns.link(&alice, "/own", "/b").unwrap();
    ns.link(&root(), "/readable", "/c").unwrap();
    assert_eq!(ino(&ns, "/a"), ino(&ns, "/shared"));
}

// ---- attributes ----------------------------------------------------------------------------

#[test]
fn chmod_needs_ownership() {
    let ns = namespace();
    let alice = Credentials {
        uid: 1000,
        gid: 100,
        groups: vec![],
    };
    write_file(&ns, &alice, "/f", b"");
    assert_eq!(ns.chmod(&user(1001), "/f", 0o777), Err(Errno::EPERM));
    ns.chmod(&alice, "/f", 0o4750).unwrap();
    assert_eq!(ns.stat(&root(), "/f").unwrap().mode, 0o4750);
    // Set-group-id is dropped for a group the owner is not in.
    ns.chown(&root(), "/f", None, Some(7)).unwrap();
    ns.chmod(&alice, "/f", 0o2755).unwrap();
    assert_eq!(ns.stat(&root(), "/f").unwrap().mode, 0o0755);
    ns.chmod(&root(), "/f", 0o2755).unwrap();
    assert_eq!(ns.stat(&root(), "/f").unwrap().mode, 0o2755);
    // chmod follows symlinks.
    ns.symlink(&root(), "/f", "/l").unwrap();
    ns.chmod(&root(), "/l", 0o600).unwrap();
    assert_eq!(ns.stat(&root(), "/f").unwrap().mode, 0o600);
    assert_eq!(ns.lstat(&root(), "/l").unwrap().mode, 0o777);
}

#[test]
fn chown_rules() {
    let ns = namespace();
    let alice = Credentials {
        uid: 1000,
        gid: 100,
        groups: vec![200],
    };
    write_file(&ns, &alice, "/f", b"");
    assert_eq!(ns.chown(&alice, "/f", Some(1001), None), Err(Errno::EPERM));
    ns.chown(&alice, "/f", Some(1000), None).unwrap();
    ns.chown(&alice, "/f", None, Some(200)).unwrap();
    assert_eq!(ns.stat(&root(), "/f").unwrap().gid, 200);
    assert_eq!(ns.chown(&alice, "/f", None, Some(300)), Err(Errno::EPERM));
    assert_eq!(
        ns.chown(&user(1001), "/f", None, Some(1001)),
        Err(Errno::EPERM)
    );
    ns.chmod(&root(), "/f", 0o6755).unwrap();
    ns.chown(&root(), "/f", Some(5), Some(6)).unwrap();
    let metadata = ns.stat(&root(), "/f").unwrap();
    assert_eq!((metadata.uid, metadata.gid), (5, 6));
    // Set-user-id and (group-executable) set-group-id are cleared on a non-directory.
    assert_eq!(metadata.mode, 0o0755);
    ns.mkdir(&root(), "/d", 0o755).unwrap();
    ns.chmod(&root(), "/d", 0o2755).unwrap();
    ns.chown(&root(), "/d", Some(5), None).unwrap();
    assert_eq!(ns.stat(&root(), "/d").unwrap().mode, 0o2755);
}

#[test]
fn truncate_rules() {
    let ns = namespace();
    write_file(&ns, &root(), "/f", b"0123456789");
    ns.mkdir(&root(), "/d", 0o755).unwrap();
    ns.mknod(&root(), "/p", FileType::Fifo, 0o666, DeviceId::default())
        .unwrap();
    ns.truncate(&root(), "/f", 4).unwrap();
    assert_eq!(read_file(&ns, "/f"), b"0123");
    ns.truncate(&root(), "/f", 6).unwrap();
    assert_eq!(read_file(&ns, "/f"), b"0123\0\0");
    assert_eq!(ns.truncate(&root(), "/d", 0), Err(Errno::EISDIR));
    assert_eq!(ns.truncate(&root(), "/p", 0), Err(Errno::EINVAL));
    ns.chmod(&root(), "/f", 0o644).unwrap();
    assert_eq!(ns.truncate(&user(1000), "/f", 0), Err(Errno::EACCES));
    ns.symlink(&root(), "/f", "/l").unwrap();
    ns.truncate(&root(), "/l", 1).unwrap();
    assert_eq!(read_file(&ns, "/f"), b"0");
}

#[test]
fn writes_by_users_clear_set_user_id() {
    let ns = namespace();
    let alice = user(1000);
    write_file(&ns, &alice, "/f", b"");
    ns.chmod(&alice, "/f", 0o4777).unwrap();
    let mut file = ns.open(&alice, "/f", OpenFlags::WRITE, 0).unwrap();
    file.write_all(b"x").unwrap();
    assert_eq!(ns.stat(&root(), "/f").unwrap().mode & S_ISUID, 0);
    // Root writes keep it.
    ns.chmod(&root(), "/f", 0o4777).unwrap();
    write_file(&ns, &root(), "/f", b"y");
    assert_eq!(ns.stat(&root(), "/f").unwrap().mode, 0o4777);
}

#[test]
fn utimes_rules() {
    let ns = namespace();
    let alice = user(1000);
    let bob = user(1001);
    write_file(&ns, &alice, "/f", b"");
    ns.chmod(&alice, "/f", 0o666).unwrap();
    let when = Timespec {
        sec: 1_000_000,
        nsec: 5,
    };
    ns.utimes(&alice, "/f", SetTime::To(when), SetTime::Omit)
        .unwrap();
    assert_eq!(ns.stat(&root(), "/f").unwrap().atime, when);
    assert_eq!(
        ns.utimes(&bob, "/f", SetTime::To(when), SetTime::To(when)),
        Err(Errno::EPERM)
    );
    // Now: ownership or write permission is enough.
    ns.utimes(&bob, "/f", SetTime::Now, SetTime::Now).unwrap();
    let touched = ns.stat(&root(), "/f").unwrap();
    assert_ne!(touched.mtime, when);
    assert_eq!(touched.atime, touched.mtime);
    ns.chmod(&alice, "/f", 0o644).unwrap();
    assert_eq!(
        ns.utimes(&bob, "/f", SetTime::Now, SetTime::Now),
        Err(Errno::EACCES)
    );
    ns.utimes(&alice, "/f", SetTime::Now, SetTime::Now).unwrap();
    ns.utimes(&bob, "/f", SetTime::Omit, SetTime::Omit).unwrap();
    let bad = Timespec {
        sec: 0,
        nsec: 1_000_000_000,
    };
    assert_eq!(
        ns.utimes(&alice, "/f", SetTime::To(bad), SetTime::Omit),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        ns.utimes(&alice, "/missing", SetTime::Now, SetTime::Now),
        Err(Errno::ENOENT)
    );
}

#[test]
fn xattr_rules() {
    let ns = namespace();
    let alice = user(1000);
    let bob = user(1001);
    write_file(&ns, &alice, "/f", b"");
    let none = XattrFlags::empty();
    ns.set_xattr(&alice, "/f", "user.color", b"blue", none)
        .unwrap();
    assert_eq!(ns.get_xattr(&bob, "/f", "user.color"), Ok(b"blue".to_vec()));
    assert_eq!(
        ns.set_xattr(&bob, "/f", "user.color", b"red", none),
        Err(Errno::EACCES)
    );
    assert_eq!(
        ns.remove_xattr(&bob, "/f", "user.color"),
        Err(Errno::EACCES)
    );
    assert_eq!(
        ns.set_xattr(&alice, "/f", "user.color", b"red", XattrFlags::CREATE),
        Err(Errno::EEXIST)
    );
    ns.set_xattr(&root(), "/f", "trusted.overlay.opaque", b"y", none)
        .unwrap();
    assert_eq!(
        ns.set_xattr(&alice, "/f", "trusted.x", b"1", none),
        Err(Errno::EPERM)
    );
    assert_eq!(
        ns.get_xattr(&alice, "/f", "trusted.overlay.opaque"),
        Err(Errno::ENODATA)
    );
    assert_eq!(
        ns.get_xattr(&root(), "/f", "trusted.overlay.opaque"),
        Ok(b"y".to_vec())
    );
    assert_eq!(
        ns.list_xattr(&alice, "/f"),
        Ok(vec![String::from("user.color")])
    );
    assert_eq!(
        ns.list_xattr(&root(), "/f"),
        Ok(vec![
            String::from("trusted.overlay.opaque"),
            String::from("user.color")
        ])
    );
    assert_eq!(ns.get_xattr(&alice, "/f", ""), Err(Errno::ERANGE));
    assert_eq!(
        ns.get_xattr(&alice, "/f", &"u".repeat(256)),
        Err(Errno::ERANGE)
    );
    assert_eq!(
        ns.get_xattr(&alice, "/f", "nonamespace"),
        Err(Errno::ENOTSUP)
    );
    assert_eq!(
        ns.set_xattr(&alice, "/f", "user.", b"", none),
        Err(Errno::EINVAL)
    );
    let big = vec![0u8; 65537];
    assert_eq!(
        ns.set_xattr(&alice, "/f", "user.big", &big, none),
        Err(Errno::E2BIG)
    );
    ns.remove_xattr(&alice, "/f", "user.color").unwrap();
    assert_eq!(
        ns.get_xattr(&alice, "/f", "user.color"),
        Err(Errno::ENODATA)
    );
    // user.* only on regular files and directories; xattr calls follow symlinks.
    ns.mknod(&root(), "/p", FileType::Fifo, 0o666, DeviceId::default())
        .unwrap();
    assert_eq!(
        ns.set_xattr(&root(), "/p", "user.a", b"", none),
        Err(Errno::EPERM)
    );
    assert_eq!(ns.get_xattr(&root(), "/p", "user.a"), Err(Errno::ENODATA));
    ns.symlink(&alice, "/f", "/l").unwrap();
    ns.set_xattr(&alice, "/l", "user.via", b"link", none)
        .unwrap();
    assert_eq!(ns.get_xattr(&alice, "/f", "user.via"), Ok(b"link".to_vec()));
}

#[test]
fn readlink_and_stat() {
    let ns = namespace();
    write_file(&ns, &root(), "/f", b"12345");
    ns.symlink(&root(), "f", "/l").unwrap();
    assert_eq!(ns.readlink(&root(), "/l"), Ok(String::from("f")));
    assert_eq!(ns.readlink(&root(), "/f"), Err(Errno::EINVAL));
    assert_eq!(ns.readlink(&root(), "/"), Err(Errno::EINVAL));
    assert_eq!(ns.stat(&root(), "/l").unwrap().size, 5);
    assert_eq!(ns.lstat(&root(), "/l").unwrap().size, 1);
    assert_eq!(
        ns.access(&user(1000), "/f", perm::Access::WRITE),
        Err(Errno::EACCES)
    );
    assert_eq!(ns.access(&user(1000), "/f", perm::Access::READ), Ok(()));
}

#[test]
fn directories_list_in_pieces() {
    let ns = namespace();
    ns.mkdir(&root(), "/big", 0o755).unwrap();
    for i in 0..150 {
        write_file(&ns, &root(), &alloc::format!("/big/f{i:03}"), b"");
    }
    let mut names: Vec<String> = ns
        .read_dir(&root(), "/big")
        .unwrap()
        .into_iter()
        .map(|entry| String::from(&*entry.name))
        .collect();
    names.sort();
    assert_eq!(names.len(), 150);
    assert_eq!(names[0], "f000");
    assert_eq!(names[149], "f149");

    let mut directory = ns.open(&root(), "/big", OpenFlags::READ, 0).unwrap();
    let first = directory.read_dir(10).unwrap();
    assert_eq!(first.len(), 10);
    let mut seen = first.len();
    loop {
        let batch = directory.read_dir(7).unwrap();
        if batch.is_empty() {
            break;
        }
        seen += batch.len();
    }
    assert_eq!(seen, 150);
    assert_eq!(directory.seek(SeekFrom::Start(0)), Ok(0));
    assert_eq!(directory.read_dir(10).unwrap(), first);
    assert_eq!(
        ns.read_dir(&root(), "/big/f000").map(drop),
        Err(Errno::ENOTDIR)
    );
}

#[test]
fn listings_share_the_filesystems_names() {
    let ns = namespace();
    for name in ["a", "b"] {
        write_file(&ns, &root(), &alloc::format!("/{name}"), b"");
    }
    let first = ns.read_dir(&root(), "/").unwrap();
    let again = ns.read_dir(&root(), "/").unwrap();
    assert_eq!(first.len(), 2);
    for (entry, same) in first.iter().zip(&again) {
        assert!(
            Arc::ptr_eq(&entry.name, &same.name),
            "{} copied",
            entry.name
        );
    }
}

#[test]
fn statfs_needs_the_filesystem() {
    let ns = namespace();
    assert!(ns.statfs(&root(), "/").is_ok());
    let bare = Namespace::new(tmpfs().root());
    assert_eq!(bare.statfs(&root(), "/"), Err(Errno::ENOSYS));
    assert_eq!(ns.statfs(&root(), "/missing"), Err(Errno::ENOENT));
}

/// A filesystem that reports itself read-only (its inodes still accept changes, so only the
/// namespace's own `EROFS` checks are seen).
struct ReadOnly(Arc<dyn FileSystem>);

impl FileSystem for ReadOnly {
    fn root(&self) -> Arc<dyn Inode> {
        self.0.root()
    }
    fn features(&self) -> FsFeatures {
        FsFeatures::READ_ONLY
    }
}

#[test]
fn read_only_filesystems_refuse_changes_before_permission_checks() {
    let writable = tmpfs();
    let setup = Namespace::with_filesystem(writable.clone());
    write_file(&setup, &root(), "/f", b"data");
    setup.mkdir(&root(), "/d", 0o755).unwrap();
    setup
        .mknod(
            &root(),
            "/null",
            FileType::CharDevice,
            0o666,
            DeviceId { major: 1, minor: 3 },
        )
        .unwrap();
    let ns = Namespace::with_filesystem(Arc::new(ReadOnly(writable)));
    let alice = user(1000);
    assert_eq!(ns.mkdir(&alice, "/x", 0o755), Err(Errno::EROFS));
    assert_eq!(ns.mkdir(&alice, "/d", 0o755), Err(Errno::EEXIST));
    let create = OpenFlags::WRITE | OpenFlags::CREATE;
    assert_eq!(
        ns.open(&root(), "/new", create, 0o644).map(drop),
        Err(Errno::EROFS)
    );
    assert_eq!(
        ns.open(&alice, "/f", OpenFlags::WRITE, 0).map(drop),
        Err(Errno::EROFS)
    );
    assert_eq!(
        ns.open(&root(), "/d", OpenFlags::WRITE, 0).map(drop),
        Err(Errno::EISDIR)
    );
    assert!(ns.open(&alice, "/f", OpenFlags::READ, 0).is_ok());
    assert!(ns.open(&root(), "/null", OpenFlags::WRITE, 0).is_ok());
    assert_eq!(ns.chmod(&alice, "/f", 0o777), Err(Errno::EROFS));
    assert_eq!(ns.unlink(&alice, "/f"), Err(Errno::EROFS));
    assert_eq!(ns.rmdir(&root(), "/d"), Err(Errno::EROFS));
    assert_eq!(ns.truncate(&root(), "/f", 0), Err(Errno::EROFS));
    assert_eq!(
        ns.rename(&root(), "/f", "/g", RenameFlags::empty()),
        Err(Errno::EROFS)
    );
    assert_eq!(
        ns.access(&root(), "/f", perm::Access::WRITE),
        Err(Errno::EROFS)
    );
    assert_eq!(read_file(&ns, "/f"), b"data");
}

#[test]
fn read_only_filesystem_refuses_removal_before_looking_names_up() {
    // Linux's unlink, rmdir and rename ask for write access to the mount right after the
    // parent is resolved, so even a missing name is EROFS (difftest finding 1).
    let fs = TmpFs::new(TmpFsOptions::default());
    let namespace = Namespace::with_filesystem(fs.clone());
    namespace.mkdir(&root(), "/etc", 0o755).unwrap();
    write_file(&namespace, &root(), "/etc/config", b"x");
    fs.set_read_only(true);
    let creds = root();
    assert_eq!(namespace.unlink(&creds, "/etc/missing"), Err(Errno::EROFS));
    assert_eq!(namespace.unlink(&creds, "/etc/"), Err(Errno::EROFS));
    assert_eq!(namespace.rmdir(&creds, "/missing"), Err(Errno::EROFS));
    let none = RenameFlags::empty();
    assert_eq!(
        namespace.rename(&creds, "/missing", "/etc/x", none),
        Err(Errno::EROFS)
    );
    assert_eq!(
        namespace.rename(&creds, "/etc/config", "/etc/config", none),
        Err(Errno::EROFS)
    );
    // `.`/`..`/root are refused first, as on Linux.
    assert_eq!(namespace.rmdir(&creds, "/etc/."), Err(Errno::EINVAL));
}

#[test]
fn directory_flag_is_checked_before_a_nofollow_symlink() {
    // Linux: open(O_DIRECTORY | O_NOFOLLOW) of a symlink is ENOTDIR (difftest finding 3).
    let namespace = namespace();
    namespace.mkdir(&root(), "/d", 0o755).unwrap();
    namespace.symlink(&root(), "/d", "/d/ld").unwrap();
    let flags = OpenFlags::READ | OpenFlags::DIRECTORY | OpenFlags::NOFOLLOW;
    assert_eq!(
        namespace.open(&root(), "/d/ld", flags, 0).err(),
        Some(Errno::ENOTDIR)
    );
    let flags = OpenFlags::READ | OpenFlags::NOFOLLOW;
    assert_eq!(
        namespace.open(&root(), "/d/ld", flags, 0).err(),
        Some(Errno::ELOOP)
    );
}

#[test]
fn relative_paths_start_at_the_working_directory_and_dotdot_climbs_its_chain() {
    let mut namespace = namespace();
    let creds = root();
    namespace.mkdir(&creds, "/a", 0o755).unwrap();
    namespace.mkdir(&creds, "/a/b", 0o755).unwrap();
    write_file(&namespace, &creds, "/a/f", b"in a");
    write_file(&namespace, &creds, "/f", b"at the root");
    namespace.chdir(&creds, "/a/b").unwrap();
    assert_eq!(namespace.cwd().depth(), 2);
    assert_eq!(read_file(&namespace, "../f"), b"in a");
    assert_eq!(read_file(&namespace, "../../f"), b"at the root");
    assert_eq!(read_file(&namespace, "../../../../f"), b"at the root");
    assert_eq!(read_file(&namespace, "/f"), b"at the root");
    write_file(&namespace, &creds, "new", b"made here");
    assert_eq!(read_file(&namespace, "/a/b/new"), b"made here");
    namespace.chdir(&creds, "..").unwrap();
    assert_eq!(ino(&namespace, "."), ino(&namespace, "/a"));
    assert_eq!(namespace.chdir(&creds, "f"), Err(Errno::ENOTDIR));
    assert_eq!(namespace.chdir(&creds, "missing"), Err(Errno::ENOENT));
}

#[test]
fn chdir_follows_symlinks_and_dotdot_then_leaves_the_target() {
    let mut namespace = namespace();
    let creds = root();
    namespace.mkdir(&creds, "/a", 0o755).unwrap();
    namespace.mkdir(&creds, "/a/b", 0o755).unwrap();
    namespace.symlink(&creds, "/a/b", "/link").unwrap();
    namespace.chdir(&creds, "/link").unwrap();
    assert_eq!(ino(&namespace, "."), ino(&namespace, "/a/b"));
    assert_eq!(ino(&namespace, ".."), ino(&namespace, "/a"));
}

#[test]
fn chdir_needs_search_permission() {
    let mut namespace = namespace();
    namespace.mkdir(&root(), "/locked", 0o700).unwrap();
    assert_eq!(namespace.chdir(&user(1000), "/locked"), Err(Errno::EACCES));
    namespace.chdir(&root(), "/locked").unwrap();
}

#[test]
fn an_open_directory_knows_where_it_was_reached_and_at_resolves_from_it() {
    let namespace = namespace();
    let creds = root();
    namespace.mkdir(&creds, "/a", 0o755).unwrap();
    namespace.mkdir(&creds, "/a/b", 0o755).unwrap();
    write_file(&namespace, &creds, "/a/b/f", b"deep");
    write_file(&namespace, &creds, "/a/g", b"above");
    let dir = namespace
        .open(&creds, "/a/b", OpenFlags::READ | OpenFlags::DIRECTORY, 0)
        .unwrap();
    let file = namespace.open(&creds, "/a/g", OpenFlags::READ, 0).unwrap();
    assert!(file.location().is_none());
    let from_b = namespace.at(dir.location().unwrap().clone());
    assert_eq!(read_file(&from_b, "f"), b"deep");
    assert_eq!(read_file(&from_b, "../g"), b"above");
    // The chain counts for a rename: a directory cannot move below itself.
    assert_eq!(
        from_b.rename(&creds, "/a", "inside", RenameFlags::empty()),
        Err(Errno::EINVAL)
    );
    let up = namespace
        .open(&creds, "/a/b/..", OpenFlags::READ, 0)
        .unwrap();
    assert_eq!(
        up.location().unwrap().dir().metadata().unwrap().ino,
        ino(&namespace, "/a")
    );
}

#[test]
fn rename_and_link_between_two_working_directories() {
    let namespace = namespace();
    let creds = root();
    namespace.mkdir(&creds, "/x", 0o755).unwrap();
    namespace.mkdir(&creds, "/y", 0o755).unwrap();
    write_file(&namespace, &creds, "/x/f", b"moving");
    let from_x = namespace.at(namespace.locate(&creds, "/x").unwrap());
    let from_y = namespace.at(namespace.locate(&creds, "/y").unwrap());
    from_x
        .rename_to(&creds, "f", &from_y, "g", RenameFlags::empty())
        .unwrap();
    assert_eq!(read_file(&namespace, "/y/g"), b"moving");
    from_y.link_to(&creds, "g", false, &from_x, "h").unwrap();
    assert_eq!(ino(&namespace, "/x/h"), ino(&namespace, "/y/g"));
    namespace.symlink(&creds, "g", "/y/l").unwrap();
    from_y
        .link_to(&creds, "l", true, &from_x, "followed")
        .unwrap();
    assert_eq!(ino(&namespace, "/x/followed"), ino(&namespace, "/y/g"));
    // `/y` cannot move below itself when named from `/x`'s side.
    namespace.mkdir(&creds, "/y/inner", 0o755).unwrap();
    let from_inner = namespace.at(namespace.locate(&creds, "/y/inner").unwrap());
    assert_eq!(
        from_x.rename_to(&creds, "/y", &from_inner, "moved", RenameFlags::empty()),
        Err(Errno::EINVAL)
    );
}
