use super::super::{TmpFs, TmpFsOptions, PAGE_SIZE};
use super::*;
use crate::vfs::FileSystem;

fn file_in(fs: &TmpFs, name: &str) -> Arc<dyn Inode> {
    fs.root()
        .create(name, &NewNode::new(FileType::Regular, 0o644, 0, 0))
        .unwrap()
}

fn read_to_vec(inode: &dyn Inode) -> Vec<u8> {
    let size = inode.metadata().unwrap().size as usize;
    let mut buf = vec![0; size];
    assert_eq!(inode.read_at(0, &mut buf), Ok(size));
    buf
}

#[test]
fn write_then_read_back() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let file = file_in(&fs, "f");
    assert_eq!(file.write_at(0, b"hello world"), Ok(11));
    assert_eq!(file.write_at(6, b"there"), Ok(5));
    assert_eq!(read_to_vec(&*file), b"hello there");
    let mut buf = [0; 4];
    assert_eq!(file.read_at(9, &mut buf), Ok(2));
    assert_eq!(&buf[..2], b"re");
    assert_eq!(file.read_at(11, &mut buf), Ok(0));
    assert_eq!(file.read_at(1000, &mut buf), Ok(0));
    assert_eq!(file.write_at(3, b""), Ok(0));
    assert_eq!(file.metadata().unwrap().size, 11);
}

#[test]
fn sparse_file_reads_zeros_and_costs_only_written_pages() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let file = file_in(&fs, "sparse");
    file.write_at(1 << 30, b"end").unwrap();
    assert_eq!(file.metadata().unwrap().size, (1 << 30) + 3);
    assert_eq!(fs.used_bytes(), PAGE_SIZE as u64);
    let mut buf = [0xFF; 100];
    assert_eq!(file.read_at(12345, &mut buf), Ok(100));
    assert!(buf.iter().all(|&b| b == 0));
    file.set_len(1 << 40).unwrap();
    assert_eq!(fs.used_bytes(), PAGE_SIZE as u64, "growing adds a hole");
    assert_eq!(file.read_at((1 << 30) + 1, &mut buf[..4]), Ok(4));
    assert_eq!(&buf[..4], b"nd\0\0");
}

#[test]
fn enospc_write_changes_nothing() {
    let fs = TmpFs::new(TmpFsOptions {
        capacity_bytes: Some(2 * PAGE_SIZE as u64),
        ..TmpFsOptions::default()
    });
    let file = file_in(&fs, "f");
    file.write_at(0, &[1; 100]).unwrap();
    let before = file.metadata().unwrap();
    let used = fs.used_bytes();
    // Needs two more pages, only one is left: nothing is written at all.
    assert_eq!(file.write_at(50, &[2; 2 * PAGE_SIZE]), Err(Errno::ENOSPC));
    assert_eq!(fs.used_bytes(), used);
    let after = file.metadata().unwrap();
    assert_eq!(after.size, before.size);
    assert_eq!(after.mtime, before.mtime);
    assert_eq!(read_to_vec(&*file), [1; 100]);
    // A write into pages already held needs no space.
    file.write_at(100, &[3; PAGE_SIZE - 100]).unwrap();
    // One more page fits, exactly.
    file.write_at(PAGE_SIZE as u64, &[4; PAGE_SIZE]).unwrap();
    assert_eq!(fs.used_bytes(), 2 * PAGE_SIZE as u64);
    assert_eq!(
        file.write_at(2 * PAGE_SIZE as u64, b"x"),
        Err(Errno::ENOSPC)
    );
    // Truncating gives pages back, so the write fits again.
    file.set_len(10).unwrap();
    assert_eq!(fs.used_bytes(), PAGE_SIZE as u64);
    file.write_at(2 * PAGE_SIZE as u64, b"x").unwrap();
    // Growing by set_len needs no space even when full.
    let other = file_in(&fs, "g");
    other.set_len(1 << 20).unwrap();
    assert_eq!(other.write_at(0, b"y"), Err(Errno::ENOSPC));
}

#[test]
fn truncate_then_extend_reads_zeros() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let file = file_in(&fs, "f");
    file.write_at(0, b":xxx:yyy:zzz").unwrap();
    for size in 0..28u64 {
        file.set_len(size).unwrap();
        assert_eq!(file.metadata().unwrap().size, size);
        let bytes = read_to_vec(&*file);
        let kept = size.min(12) as usize;
        assert_eq!(&bytes[..kept], &b":xxx:yyy:zzz"[..kept]);
        assert!(bytes[kept..].iter().all(|&b| b == 0));
        file.write_at(0, b":xxx:yyy:zzz").unwrap();
        file.set_len(12).unwrap();
    }
    file.set_len(4).unwrap();
    file.set_len(12).unwrap();
    assert_eq!(read_to_vec(&*file), b":xxx\0\0\0\0\0\0\0\0");
}

#[test]
fn timestamps_move_on_write_and_truncate() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let file = file_in(&fs, "f");
    let created = file.metadata().unwrap();
    assert_eq!(created.mtime, created.ctime);
    file.write_at(0, b"x").unwrap();
    let written = file.metadata().unwrap();
    assert!(written.mtime > created.mtime && written.ctime == written.mtime);
    assert_eq!(written.atime, created.atime);
    let mut buf = [0; 1];
    file.read_at(0, &mut buf).unwrap();
    assert_eq!(
        file.metadata().unwrap().atime,
        created.atime,
        "reads leave atime alone"
    );
    file.set_len(1).unwrap();
    assert_eq!(
        file.metadata().unwrap().mtime,
        written.mtime,
        "same size: no change"
    );
    file.set_len(0).unwrap();
    assert!(file.metadata().unwrap().mtime > written.mtime);
}

#[test]
fn set_attr_changes_mode_owner_times_and_ctime() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let file = file_in(&fs, "f");
    let before = file.metadata().unwrap();
    let when = Timespec { sec: 1000, nsec: 5 };
    file.set_attr(&SetAttr {
        mode: Some(0o104_755),
        uid: Some(5),
        gid: Some(6),
        atime: Some(when),
        mtime: Some(when),
    })
    .unwrap();
    let after = file.metadata().unwrap();
    assert_eq!(after.mode, 0o4755, "kind bits are dropped");
    assert_eq!((after.uid, after.gid), (5, 6));
    assert_eq!((after.atime, after.mtime), (when, when));
    assert!(after.ctime > before.ctime);
    file.set_attr(&SetAttr {
        uid: Some(9),
        ..SetAttr::default()
    })
    .unwrap();
    let last = file.metadata().unwrap();
    assert_eq!(
        (last.mode, last.uid, last.gid, last.mtime),
        (0o4755, 9, 6, when)
    );
}

#[test]
fn data_calls_on_other_kinds() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let mut buf = [0; 4];
    assert_eq!(root.read_at(0, &mut buf), Err(Errno::EISDIR));
    assert_eq!(root.write_at(0, b"x"), Err(Errno::EISDIR));
    assert_eq!(root.set_len(0), Err(Errno::EISDIR));
    let link = root.symlink("l", "t", 0, 0).unwrap();
    let fifo = root
        .create("p", &NewNode::new(FileType::Fifo, 0o644, 0, 0))
        .unwrap();
    for node in [&link, &fifo] {
        assert_eq!(node.read_at(0, &mut buf), Err(Errno::EINVAL));
        assert_eq!(node.write_at(0, b"x"), Err(Errno::EINVAL));
        assert_eq!(node.set_len(0), Err(Errno::EINVAL));
    }
    assert_eq!(root.readlink(), Err(Errno::EINVAL));
    assert_eq!(fifo.readlink(), Err(Errno::EINVAL));
    assert_eq!(link.readlink().unwrap(), "t");
    let file = file_in(&fs, "f");
    assert_eq!(file.readlink(), Err(Errno::EINVAL));
    assert_eq!(file.write_at(u64::MAX, b"x"), Err(Errno::EFBIG));
    assert_eq!(file.set_len(u64::MAX), Err(Errno::EFBIG));
}

#[test]
fn open_checks() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let file = file_in(&fs, "f");
    let fifo = fs
        .root()
        .create("p", &NewNode::new(FileType::Fifo, 0o644, 0, 0))
        .unwrap();
    assert_eq!(fs.root().open(OpenFlags::READ), Ok(()));
    assert_eq!(fs.root().open(OpenFlags::WRITE), Err(Errno::EISDIR));
    assert_eq!(
        fs.root().open(OpenFlags::READ | OpenFlags::TRUNCATE),
        Err(Errno::EISDIR)
    );
    assert_eq!(file.open(OpenFlags::WRITE), Ok(()));
    fs.set_read_only(true);
    assert_eq!(file.open(OpenFlags::READ), Ok(()));
    assert_eq!(file.open(OpenFlags::WRITE), Err(Errno::EROFS));
    assert_eq!(
        file.open(OpenFlags::READ | OpenFlags::TRUNCATE),
        Err(Errno::EROFS)
    );
    assert_eq!(fifo.open(OpenFlags::WRITE), Ok(()));
}

#[test]
fn xattrs_on_inodes_are_charged() {
    let fs = TmpFs::new(TmpFsOptions {
        capacity_bytes: Some(100),
        ..TmpFsOptions::default()
    });
    let root = fs.root();
    root.set_xattr("trusted.overlay.opaque", b"y", XattrFlags::empty())
        .unwrap();
    assert_eq!(fs.used_bytes(), 23);
    assert_eq!(root.get_xattr("trusted.overlay.opaque").unwrap(), b"y");
    let before = root.metadata().unwrap().ctime;
    root.set_xattr("user.big", &[0; 80], XattrFlags::empty())
        .unwrap_err();
    assert_eq!(
        root.set_xattr("user.big", &[0; 80], XattrFlags::empty()),
        Err(Errno::ENOSPC)
    );
    assert_eq!(root.get_xattr("user.big"), Err(Errno::ENODATA));
    assert_eq!(fs.used_bytes(), 23);
    assert_eq!(root.metadata().unwrap().ctime, before);
    root.set_xattr("user.big", &[0; 60], XattrFlags::empty())
        .unwrap();
    assert_eq!(fs.used_bytes(), 23 + 68);
    assert!(root.metadata().unwrap().ctime > before);
    // Shrinking a value gives bytes back.
    root.set_xattr("user.big", &[0; 10], XattrFlags::REPLACE)
        .unwrap();
    assert_eq!(fs.used_bytes(), 23 + 18);
    assert_eq!(
        root.list_xattr().unwrap(),
        ["trusted.overlay.opaque", "user.big"]
    );
    root.remove_xattr("user.big").unwrap();
    assert_eq!(root.remove_xattr("user.big"), Err(Errno::ENODATA));
    assert_eq!(fs.used_bytes(), 23);
    assert_eq!(
        root.set_xattr("user.x", &[0; 65537], XattrFlags::empty()),
        Err(Errno::E2BIG)
    );
    assert_eq!(
        root.set_xattr("", b"", XattrFlags::empty()),
        Err(Errno::ERANGE)
    );
    assert_eq!(root.get_xattr("os2.x"), Err(Errno::ENOTSUP));
    assert_eq!(
        root.set_xattr("user.x", b"", XattrFlags::from_bits_retain(4)),
        Err(Errno::EINVAL)
    );
    // Symlinks and device nodes carry xattrs too (the overlay marks whiteouts with them).
    let link = root.symlink("l", "t", 0, 0).unwrap();
    link.set_xattr("trusted.x", b"1", XattrFlags::CREATE)
        .unwrap();
    assert_eq!(link.list_xattr().unwrap(), ["trusted.x"]);
}

#[test]
fn read_only_refuses_every_change() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let file = file_in(&fs, "f");
    file.write_at(0, b"data").unwrap();
    file.set_xattr("user.a", b"1", XattrFlags::empty()).unwrap();
    root.create("d", &NewNode::new(FileType::Directory, 0o755, 0, 0))
        .unwrap();
    fs.set_read_only(true);
    let regular = NewNode::new(FileType::Regular, 0o644, 0, 0);
    assert_eq!(root.create("new", &regular).err(), Some(Errno::EROFS));
    assert_eq!(root.symlink("new", "t", 0, 0).err(), Some(Errno::EROFS));
    assert_eq!(root.link("new", &*file), Err(Errno::EROFS));
    assert_eq!(root.unlink("f"), Err(Errno::EROFS));
    assert_eq!(root.rmdir("d"), Err(Errno::EROFS));
    assert_eq!(
        root.rename("f", &*root, "g", RenameFlags::empty()),
        Err(Errno::EROFS)
    );
    assert_eq!(file.write_at(0, b"x"), Err(Errno::EROFS));
    assert_eq!(file.set_len(0), Err(Errno::EROFS));
    assert_eq!(
        file.set_attr(&SetAttr {
            mode: Some(0),
            ..SetAttr::default()
        }),
        Err(Errno::EROFS)
    );
    assert_eq!(
        file.set_xattr("user.b", b"", XattrFlags::empty()),
        Err(Errno::EROFS)
    );
    assert_eq!(file.remove_xattr("user.a"), Err(Errno::EROFS));
    // Like Linux, creating over an existing name reports EEXIST before EROFS.
    assert_eq!(root.create("f", &regular).err(), Some(Errno::EEXIST));
    // Reading still works.
    assert_eq!(read_to_vec(&*file), b"data");
    assert_eq!(file.get_xattr("user.a").unwrap(), b"1");
    assert!(root.lookup("d").is_ok());
    let mut names = Vec::new();
    root.readdir(0, &mut |entry| {
        names.push(String::from(entry.name));
        true
    })
    .unwrap();
    assert_eq!(names, ["f", "d"]);
    fs.set_read_only(false);
    root.unlink("f").unwrap();
}
