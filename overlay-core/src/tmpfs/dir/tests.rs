use super::super::test_support::{directory, names, regular};
use super::super::{TmpFs, TmpFsOptions};
use super::*;
use crate::vfs::{DeviceId, FileSystem, RenameFlags};

#[test]
fn create_and_lookup_every_kind() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let mut char_dev = NewNode::new(FileType::CharDevice, 0o600, 1, 2);
    char_dev.rdev = DeviceId {
        major: 4,
        minor: 64,
    };
    let mut block_dev = NewNode::new(FileType::BlockDevice, 0o660, 0, 6);
    block_dev.rdev = DeviceId { major: 8, minor: 1 };
    let mut fifo = NewNode::new(FileType::Fifo, 0o644, 0, 0);
    fifo.rdev = DeviceId { major: 9, minor: 9 };
    let cases = [
        ("file", regular()),
        ("dir", directory()),
        ("chr", char_dev),
        ("blk", block_dev),
        ("fifo", fifo),
        ("sock", NewNode::new(FileType::Socket, 0o755, 0, 0)),
    ];
    for (name, node) in &cases {
        let created = root.create(name, node).unwrap();
        let meta = root.lookup(name).unwrap().metadata().unwrap();
        assert_eq!(meta, created.metadata().unwrap());
        assert_eq!(meta.kind, node.kind);
        assert_eq!(meta.mode, node.mode);
        assert_eq!((meta.uid, meta.gid), (node.uid, node.gid));
        let expected_rdev = match node.kind {
            FileType::CharDevice | FileType::BlockDevice => node.rdev,
            _ => DeviceId::default(),
        };
        assert_eq!(meta.rdev, expected_rdev, "{name}");
        assert_eq!(meta.nlink, if node.kind.is_dir() { 2 } else { 1 });
        assert_eq!(meta.size, if node.kind.is_dir() { 40 } else { 0 });
    }
    let link = root.symlink("link", "some/where", 3, 4).unwrap();
    let meta = link.metadata().unwrap();
    assert_eq!(
        (meta.kind, meta.mode, meta.size, meta.uid, meta.gid),
        (FileType::Symlink, 0o777, 10, 3, 4)
    );
    assert_eq!(
        root.lookup("link").unwrap().readlink().unwrap(),
        "some/where"
    );
    assert_eq!(
        names(&*root),
        ["file", "dir", "chr", "blk", "fifo", "sock", "link"]
    );
    assert_eq!(root.metadata().unwrap().nlink, 3);
    assert_eq!(root.metadata().unwrap().size, 9 * 20);
}

#[test]
fn create_errors() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let file = root.create("f", &regular()).unwrap();
    assert_eq!(root.create("f", &regular()).err(), Some(Errno::EEXIST));
    assert_eq!(root.create("f", &directory()).err(), Some(Errno::EEXIST));
    assert_eq!(root.symlink("f", "x", 0, 0).err(), Some(Errno::EEXIST));
    assert_eq!(
        root.create("s", &NewNode::new(FileType::Symlink, 0o777, 0, 0))
            .err(),
        Some(Errno::EINVAL)
    );
    for bad in ["", ".", "..", "a/b", "a\0b"] {
        assert_eq!(
            root.create(bad, &regular()).err(),
            Some(Errno::EINVAL),
            "{bad:?}"
        );
        assert_eq!(root.lookup(bad).err(), Some(Errno::EINVAL));
        assert_eq!(root.unlink(bad), Err(Errno::EINVAL));
        assert_eq!(root.rmdir(bad), Err(Errno::EINVAL));
    }
    let long = "x".repeat(256);
    assert_eq!(
        root.create(&long, &regular()).err(),
        Some(Errno::ENAMETOOLONG)
    );
    assert_eq!(root.lookup(&long).err(), Some(Errno::ENAMETOOLONG));
    assert!(root.create(&"x".repeat(255), &regular()).is_ok());
    assert_eq!(file.create("x", &regular()).err(), Some(Errno::ENOTDIR));
    assert_eq!(file.lookup("x").err(), Some(Errno::ENOTDIR));
    assert_eq!(file.symlink("x", "t", 0, 0).err(), Some(Errno::ENOTDIR));
    assert_eq!(file.unlink("x"), Err(Errno::ENOTDIR));
    assert_eq!(file.rmdir("x"), Err(Errno::ENOTDIR));
    assert_eq!(file.readdir(0, &mut |_| true), Err(Errno::ENOTDIR));
    assert_eq!(root.lookup("missing").err(), Some(Errno::ENOENT));
    assert_eq!(root.symlink("s", "", 0, 0).err(), Some(Errno::ENOENT));
    assert_eq!(
        root.symlink("s", &"t".repeat(4096), 0, 0).err(),
        Some(Errno::ENAMETOOLONG)
    );
    assert_eq!(root.symlink("s", "a\0b", 0, 0).err(), Some(Errno::EINVAL));
    assert!(root.symlink("s", &"t".repeat(4095), 0, 0).is_ok());
}

#[test]
fn symlink_targets_are_charged() {
    let fs = TmpFs::new(TmpFsOptions {
        capacity_bytes: Some(10),
        ..TmpFsOptions::default()
    });
    let root = fs.root();
    root.symlink("a", "123456", 0, 0).unwrap();
    assert_eq!(fs.used_bytes(), 6);
    assert_eq!(root.symlink("b", "12345", 0, 0).err(), Some(Errno::ENOSPC));
    assert_eq!(root.lookup("b").err(), Some(Errno::ENOENT));
    assert_eq!(
        (fs.used_bytes(), fs.used_inodes()),
        (6, 2),
        "nothing left behind"
    );
    root.symlink("b", "1234", 0, 0).unwrap();
    root.unlink("a").unwrap();
    assert_eq!(fs.used_bytes(), 4);
}

#[test]
fn offsets_that_run_out_are_eoverflow() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let file = fs.root_inode().create_child("f", &regular()).unwrap();
    let mut directory = Directory::new();
    directory.next_offset = u64::MAX - 1;
    directory.insert("a", file.clone()).unwrap();
    assert_eq!(directory.insert("b", file.clone()), Err(Errno::EOVERFLOW));
    assert_eq!(directory.insert("a", file.clone()), Err(Errno::EEXIST));
    assert_eq!(directory.len(), 1);
    // Through the inode: a directory out of offsets refuses new entries, changing nothing.
    let root = fs.root_inode();
    root.state.write().directory_mut().unwrap().next_offset = u64::MAX;
    assert_eq!(root.create("g", &regular()).err(), Some(Errno::EOVERFLOW));
    assert_eq!(root.link("g", &*file), Err(Errno::EOVERFLOW));
    assert_eq!(
        root.rename("f", &*root, "g", RenameFlags::empty()),
        Err(Errno::EOVERFLOW)
    );
    assert_eq!(names(&*root), ["f"]);
    assert_eq!(fs.used_inodes(), 2);
    assert_eq!(file.metadata().unwrap().nlink, 1);
    // Room for one entry but not for the whiteout too: all or nothing.
    root.state.write().directory_mut().unwrap().next_offset = u64::MAX - 1;
    assert_eq!(
        root.rename("f", &*root, "g", RenameFlags::WHITEOUT),
        Err(Errno::EOVERFLOW)
    );
    assert_eq!(names(&*root), ["f"]);
    assert_eq!(fs.used_inodes(), 2);
    root.rename("f", &*root, "g", RenameFlags::empty()).unwrap();
    assert_eq!(names(&*root), ["g"]);
}

#[test]
fn modes_are_masked_to_permission_bits() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let file = fs
        .root()
        .create("f", &NewNode::new(FileType::Regular, 0o177_777, 0, 0))
        .unwrap();
    assert_eq!(file.metadata().unwrap().mode, 0o7777);
}

#[test]
fn parent_times_move_on_create_and_remove() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let mut last = root.metadata().unwrap();
    let mut check_moved = |what: &str| {
        let now = root.metadata().unwrap();
        assert!(now.mtime > last.mtime && now.ctime == now.mtime, "{what}");
        last = now;
    };
    let file = root.create("f", &regular()).unwrap();
    check_moved("create");
    root.create("d", &directory()).unwrap();
    check_moved("mkdir");
    root.symlink("l", "t", 0, 0).unwrap();
    check_moved("symlink");
    let file_ctime = file.metadata().unwrap().ctime;
    root.link("g", &*file).unwrap();
    check_moved("link");
    assert!(file.metadata().unwrap().ctime > file_ctime);
    let file_ctime = file.metadata().unwrap().ctime;
    root.unlink("g").unwrap();
    check_moved("unlink");
    assert!(file.metadata().unwrap().ctime > file_ctime);
    root.rmdir("d").unwrap();
    check_moved("rmdir");
}

#[test]
fn unlink_and_rmdir_errors() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    root.create("f", &regular()).unwrap();
    let dir = root.create("d", &directory()).unwrap();
    dir.create("inner", &regular()).unwrap();
    assert_eq!(root.unlink("missing"), Err(Errno::ENOENT));
    assert_eq!(root.rmdir("missing"), Err(Errno::ENOENT));
    assert_eq!(root.unlink("d"), Err(Errno::EISDIR));
    assert_eq!(root.rmdir("f"), Err(Errno::ENOTDIR));
    assert_eq!(root.rmdir("d"), Err(Errno::ENOTEMPTY));
    dir.unlink("inner").unwrap();
    assert_eq!(dir.unlink("inner"), Err(Errno::ENOENT));
    root.rmdir("d").unwrap();
    assert_eq!(root.rmdir("d"), Err(Errno::ENOENT));
    root.unlink("f").unwrap();
    assert_eq!(root.lookup("f").err(), Some(Errno::ENOENT));
    assert!(names(&*root).is_empty());
}

#[test]
fn directory_nlink_counts_subdirectories() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let a = root.create("a", &directory()).unwrap();
    root.create("b", &directory()).unwrap();
    root.create("f", &regular()).unwrap();
    a.create("c", &directory()).unwrap();
    assert_eq!(root.metadata().unwrap().nlink, 4);
    assert_eq!(a.metadata().unwrap().nlink, 3);
    a.rmdir("c").unwrap();
    assert_eq!(a.metadata().unwrap().nlink, 2);
    root.rmdir("a").unwrap();
    assert_eq!(root.metadata().unwrap().nlink, 3);
    assert_eq!(a.metadata().unwrap().nlink, 0);
}

#[test]
fn removed_directory_accepts_nothing_new() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let file = root.create("f", &regular()).unwrap();
    let dir = root.create("d", &directory()).unwrap();
    root.rmdir("d").unwrap();
    assert_eq!(dir.create("x", &regular()).err(), Some(Errno::ENOENT));
    assert_eq!(dir.create("x", &directory()).err(), Some(Errno::ENOENT));
    assert_eq!(dir.symlink("x", "t", 0, 0).err(), Some(Errno::ENOENT));
    assert_eq!(dir.link("x", &*file), Err(Errno::ENOENT));
    assert_eq!(dir.lookup("x").err(), Some(Errno::ENOENT));
    assert!(names(&*dir).is_empty());
    assert_eq!(
        fs.used_inodes(),
        3,
        "nothing leaked from the failed creates"
    );
}

#[test]
fn hard_links_share_the_inode() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let sub = root.create("sub", &directory()).unwrap();
    let file = root.create("a", &regular()).unwrap();
    file.write_at(0, b"shared").unwrap();
    root.link("b", &*file).unwrap();
    sub.link("c", &*file).unwrap();
    let b = root.lookup("b").unwrap();
    let c = sub.lookup("c").unwrap();
    let meta = file.metadata().unwrap();
    assert_eq!(meta.nlink, 3);
    assert_eq!(b.metadata().unwrap().ino, meta.ino);
    c.write_at(0, b"SH").unwrap();
    let mut buf = [0; 6];
    b.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"SHared");
    root.unlink("a").unwrap();
    sub.unlink("c").unwrap();
    assert_eq!(b.metadata().unwrap().nlink, 1);
    root.unlink("b").unwrap();
    // Unlinked but still open: keeps working with nlink 0.
    assert_eq!(file.metadata().unwrap().nlink, 0);
    file.write_at(6, b"!").unwrap();
    let mut buf = [0; 7];
    file.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"SHared!");
    // ... but cannot be linked back (Linux: ENOENT).
    assert_eq!(root.link("back", &*file), Err(Errno::ENOENT));
}

#[test]
fn link_errors() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let other = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let file = root.create("f", &regular()).unwrap();
    let dir = root.create("d", &directory()).unwrap();
    let foreign = other.root().create("x", &regular()).unwrap();
    assert_eq!(root.link("d2", &*dir), Err(Errno::EPERM));
    assert_eq!(root.link("f", &*file), Err(Errno::EEXIST));
    assert_eq!(
        root.link("d", &*dir),
        Err(Errno::EEXIST),
        "Linux: EEXIST before EPERM"
    );
    assert_eq!(root.link("y", &*foreign), Err(Errno::EXDEV));
    assert_eq!(file.link("y", &*file), Err(Errno::ENOTDIR));
    assert_eq!(root.link("", &*file), Err(Errno::EINVAL));
    struct Alien;
    impl Inode for Alien {
        fn metadata(&self) -> Result<crate::vfs::Metadata> {
            Err(Errno::EIO)
        }
        fn as_any(&self) -> &dyn core::any::Any {
            self
        }
    }
    assert_eq!(root.link("y", &Alien), Err(Errno::EXDEV));
    let symlink = root.symlink("s", "f", 0, 0).unwrap();
    root.link("s2", &*symlink).unwrap();
    assert_eq!(root.lookup("s2").unwrap().readlink().unwrap(), "f");
    assert_eq!(symlink.metadata().unwrap().nlink, 2);
}

#[test]
fn readdir_cookies_resume_after_the_last_entry() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    for i in 0..100 {
        root.create(&alloc::format!("f{i:03}"), &regular()).unwrap();
    }
    let mut seen = Vec::new();
    let mut cookie = 0;
    loop {
        let mut got = 0;
        root.readdir(cookie, &mut |entry| {
            seen.push(String::from(entry.name));
            cookie = entry.next_cookie;
            got += 1;
            got < 7
        })
        .unwrap();
        if got == 0 {
            break;
        }
    }
    let expected: Vec<String> = (0..100).map(|i| alloc::format!("f{i:03}")).collect();
    assert_eq!(seen, expected);
    // A cookie past the end lists nothing.
    root.readdir(u64::MAX, &mut |_| panic!("nothing after the end"))
        .unwrap();
}

#[test]
fn readdir_never_skips_or_repeats_survivors_across_changes() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    for i in 0..50 {
        root.create(&alloc::format!("n{i}"), &regular()).unwrap();
    }
    let mut seen: Vec<String> = Vec::new();
    let mut cookie = 0;
    let mut round = 0;
    loop {
        let mut got = 0;
        root.readdir(cookie, &mut |entry| {
            seen.push(String::from(entry.name));
            cookie = entry.next_cookie;
            got += 1;
            got < 5
        })
        .unwrap();
        if got == 0 {
            break;
        }
        // Between reads, remove an entry already listed, one not yet listed, and add new.
        round += 1;
        let _ = root.unlink(&alloc::format!("n{}", round * 2 - 2));
        let _ = root.unlink(&alloc::format!("n{}", 49 - round));
        if round < 5 {
            root.create(&alloc::format!("new{round}"), &regular())
                .unwrap();
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no entry listed twice");
    let survivors = names(&*root);
    for name in &survivors {
        if name.starts_with('n') {
            assert!(seen.contains(name), "survivor {name} listed");
        }
    }
    // Entries created during the listing are appended, so they appear too.
    assert!(seen.iter().any(|name| name.starts_with("new")));
}

#[test]
fn readdir_sink_may_call_back_into_the_directory() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    root.create("a", &regular()).unwrap();
    let mut count = 0;
    root.readdir(0, &mut |entry| {
        count += 1;
        // Creating in the directory being listed must not deadlock.
        let _ = root.create(&alloc::format!("{}x", entry.name), &regular());
        count < 3
    })
    .unwrap();
    assert_eq!(count, 3);
    assert_eq!(names(&*root), ["a", "ax", "axx", "axxx"]);
    let entries = {
        let mut entries = Vec::new();
        root.readdir(0, &mut |entry| {
            entries.push((entry.ino, entry.kind));
            true
        })
        .unwrap();
        entries
    };
    assert_eq!(
        entries[0],
        (
            root.lookup("a").unwrap().metadata().unwrap().ino,
            FileType::Regular
        )
    );
}
