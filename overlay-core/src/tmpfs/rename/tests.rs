use alloc::string::String;

use super::super::test_support::{directory, names, regular};
use super::super::{TmpFs, TmpFsOptions};
use super::*;
use crate::vfs::FileSystem;

fn ino(dir: &dyn Inode, name: &str) -> u64 {
    dir.lookup(name).unwrap().metadata().unwrap().ino
}

fn nlink(inode: &dyn Inode) -> u32 {
    inode.metadata().unwrap().nlink
}

const NONE: RenameFlags = RenameFlags::empty();

#[test]
fn rename_file_within_and_across_directories() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let sub = root.create("sub", &directory()).unwrap();
    let file = root.create("a", &regular()).unwrap();
    file.write_at(0, b"content").unwrap();
    let before = (
        root.metadata().unwrap(),
        sub.metadata().unwrap(),
        file.metadata().unwrap(),
    );
    root.rename("a", &*root, "b", NONE).unwrap();
    assert_eq!(root.lookup("a").err(), Some(Errno::ENOENT));
    assert_eq!(ino(&*root, "b"), before.2.ino);
    root.rename("b", &*sub, "c", NONE).unwrap();
    assert_eq!(names(&*root), ["sub"]);
    assert_eq!(names(&*sub), ["c"]);
    let mut buf = [0; 7];
    sub.lookup("c").unwrap().read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"content");
    let after = (
        root.metadata().unwrap(),
        sub.metadata().unwrap(),
        file.metadata().unwrap(),
    );
    assert!(after.0.mtime > before.0.mtime && after.0.ctime == after.0.mtime);
    assert!(after.1.mtime > before.1.mtime);
    assert!(after.2.ctime > before.2.ctime);
    assert_eq!(after.2.mtime, before.2.mtime);
    assert_eq!((after.0.nlink, after.1.nlink, after.2.nlink), (3, 2, 1));
}

#[test]
fn rename_directory_moves_parent_links() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let a = root.create("a", &directory()).unwrap();
    let b = root.create("b", &directory()).unwrap();
    let moved = a.create("m", &directory()).unwrap();
    moved.create("inside", &regular()).unwrap();
    assert_eq!((nlink(&*a), nlink(&*b)), (3, 2));
    a.rename("m", &*b, "m2", NONE).unwrap();
    assert_eq!((nlink(&*a), nlink(&*b), nlink(&*root)), (2, 3, 4));
    assert_eq!(names(&*b.lookup("m2").unwrap()), ["inside"]);
    // The moved directory's new parent counts for the subtree checks.
    assert_eq!(b.rename("m2", &*moved, "x", NONE), Err(Errno::EINVAL));
    assert_eq!(root.rename("b", &*moved, "x", NONE), Err(Errno::EINVAL));
    root.rename("a", &*moved, "a", NONE).unwrap();
    assert_eq!(nlink(&*moved), 3);
    assert_eq!(nlink(&*root), 3);
}

#[test]
fn rename_type_errors_and_replacement() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let file = root.create("f", &regular()).unwrap();
    let other = root.create("g", &regular()).unwrap();
    let empty = root.create("empty", &directory()).unwrap();
    let full = root.create("full", &directory()).unwrap();
    full.create("x", &regular()).unwrap();
    assert_eq!(
        root.rename("missing", &*root, "z", NONE),
        Err(Errno::ENOENT)
    );
    assert_eq!(root.rename("empty", &*root, "f", NONE), Err(Errno::ENOTDIR));
    assert_eq!(root.rename("f", &*root, "empty", NONE), Err(Errno::EISDIR));
    assert_eq!(
        root.rename("empty", &*root, "full", NONE),
        Err(Errno::ENOTEMPTY)
    );
    assert_eq!(file.rename("a", &*root, "b", NONE), Err(Errno::ENOTDIR));
    assert_eq!(root.rename("f", &*file, "b", NONE), Err(Errno::ENOTDIR));
    assert_eq!(root.rename("", &*root, "b", NONE), Err(Errno::EINVAL));
    assert_eq!(root.rename("f", &*root, "a/b", NONE), Err(Errno::EINVAL));
    // Nothing changed.
    assert_eq!(names(&*root), ["f", "g", "empty", "full"]);
    // A file over a file: the old one loses its name but stays usable while open.
    root.rename("f", &*root, "g", NONE).unwrap();
    assert_eq!(ino(&*root, "g"), file.metadata().unwrap().ino);
    assert_eq!(nlink(&*other), 0);
    other.write_at(0, b"still works").unwrap();
    // A directory over an empty directory.
    let root_links = nlink(&*root);
    root.rename("full", &*root, "empty", NONE).unwrap();
    assert_eq!(nlink(&*root), root_links - 1);
    assert_eq!(nlink(&*empty), 0);
    assert_eq!(names(&*root.lookup("empty").unwrap()), ["x"]);
    assert_eq!(names(&*root), ["g", "empty"]);
}

#[test]
fn rename_directory_over_empty_directory_elsewhere() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let a = root.create("a", &directory()).unwrap();
    let b = root.create("b", &directory()).unwrap();
    a.create("d", &directory()).unwrap();
    let replaced = b.create("d", &directory()).unwrap();
    a.rename("d", &*b, "d", NONE).unwrap();
    assert_eq!((nlink(&*a), nlink(&*b), nlink(&*replaced)), (2, 3, 0));
}

#[test]
fn rename_into_own_subtree_is_einval() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let a = root.create("a", &directory()).unwrap();
    let b = a.create("b", &directory()).unwrap();
    let c = b.create("c", &directory()).unwrap();
    assert_eq!(root.rename("a", &*a, "x", NONE), Err(Errno::EINVAL));
    assert_eq!(root.rename("a", &*c, "x", NONE), Err(Errno::EINVAL));
    assert_eq!(a.rename("b", &*c, "x", NONE), Err(Errno::EINVAL));
    // The target is an ancestor of the source: not empty (EINVAL when exchanging).
    assert_eq!(c.rename("x", &*root, "a", NONE), Err(Errno::ENOENT));
    c.create("x", &regular()).unwrap();
    assert_eq!(c.rename("x", &*root, "a", NONE), Err(Errno::ENOTEMPTY));
    assert_eq!(b.rename("c", &*root, "a", NONE), Err(Errno::ENOTEMPTY));
    assert_eq!(
        b.rename("c", &*root, "a", RenameFlags::EXCHANGE),
        Err(Errno::EINVAL)
    );
    assert_eq!(b.rename("c", &*a, "b", NONE), Err(Errno::ENOTEMPTY));
    // Up the tree is fine.
    b.rename("c", &*root, "c", NONE).unwrap();
    assert_eq!(names(&*root), ["a", "c"]);
}

#[test]
fn rename_onto_itself_or_another_link_does_nothing() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let file = root.create("f", &regular()).unwrap();
    root.link("g", &*file).unwrap();
    root.create("d", &directory()).unwrap();
    let before = root.metadata().unwrap();
    root.rename("f", &*root, "f", NONE).unwrap();
    root.rename("f", &*root, "g", NONE).unwrap();
    root.rename("d", &*root, "d", NONE).unwrap();
    root.rename("f", &*root, "g", RenameFlags::WHITEOUT)
        .unwrap();
    root.rename("f", &*root, "g", RenameFlags::EXCHANGE)
        .unwrap();
    assert_eq!(names(&*root), ["f", "g", "d"]);
    assert_eq!(nlink(&*file), 2);
    assert_eq!(root.metadata().unwrap(), before);
    assert_eq!(
        root.rename("f", &*root, "g", RenameFlags::NOREPLACE),
        Err(Errno::EEXIST)
    );
}

#[test]
fn rename_flags() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    root.create("a", &regular()).unwrap();
    root.create("b", &regular()).unwrap();
    let both = RenameFlags::NOREPLACE | RenameFlags::EXCHANGE;
    assert_eq!(root.rename("a", &*root, "c", both), Err(Errno::EINVAL));
    let both = RenameFlags::EXCHANGE | RenameFlags::WHITEOUT;
    assert_eq!(root.rename("a", &*root, "b", both), Err(Errno::EINVAL));
    let unknown = RenameFlags::from_bits_retain(1 << 7);
    assert_eq!(root.rename("a", &*root, "c", unknown), Err(Errno::EINVAL));
    assert_eq!(
        root.rename("a", &*root, "b", RenameFlags::NOREPLACE),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        root.rename("a", &*root, "c", RenameFlags::EXCHANGE),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        root.rename("z", &*root, "b", RenameFlags::EXCHANGE),
        Err(Errno::ENOENT)
    );
    root.rename("a", &*root, "c", RenameFlags::NOREPLACE)
        .unwrap();
    assert_eq!(names(&*root), ["b", "c"]);
    let other = TmpFs::new(TmpFsOptions::default());
    assert_eq!(
        root.rename("c", &*other.root(), "c", NONE),
        Err(Errno::EXDEV)
    );
}

#[test]
fn exchange_swaps_entries() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let a = root.create("a", &directory()).unwrap();
    let b = root.create("b", &directory()).unwrap();
    let file = a.create("x", &regular()).unwrap();
    let dir = b.create("y", &directory()).unwrap();
    dir.create("inner", &directory()).unwrap();
    a.rename("x", &*b, "y", RenameFlags::EXCHANGE).unwrap();
    assert_eq!(ino(&*a, "x"), dir.metadata().unwrap().ino);
    assert_eq!(ino(&*b, "y"), file.metadata().unwrap().ino);
    assert_eq!((nlink(&*a), nlink(&*b)), (3, 2));
    // The directory's parent moved with it.
    assert_eq!(root.rename("a", &*dir, "z", NONE), Err(Errno::EINVAL));
    assert!(root.rename("b", &*dir, "z", NONE).is_ok());
    // Same directory: names keep their listing position.
    let root_entries = names(&*root);
    root.create("f", &regular()).unwrap();
    root.rename("a", &*root, "f", RenameFlags::EXCHANGE)
        .unwrap();
    assert_eq!(
        names(&*root),
        [root_entries, alloc::vec![String::from("f")]].concat()
    );
    assert_eq!(
        root.lookup("f").unwrap().metadata().unwrap().kind,
        FileType::Directory
    );
    assert_eq!(nlink(&*root), 3);
}

#[test]
fn whiteout_rename_leaves_a_char_device() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let sub = root.create("sub", &directory()).unwrap();
    let file = root.create("f", &regular()).unwrap();
    root.rename("f", &*sub, "f", RenameFlags::WHITEOUT).unwrap();
    let whiteout = root.lookup("f").unwrap().metadata().unwrap();
    assert_eq!(whiteout.kind, FileType::CharDevice);
    assert_eq!(whiteout.rdev, DeviceId { major: 0, minor: 0 });
    assert_ne!(whiteout.ino, file.metadata().unwrap().ino);
    assert_eq!(ino(&*sub, "f"), file.metadata().unwrap().ino);
    // A directory too, and over an existing target.
    let d = root.create("d", &directory()).unwrap();
    sub.create("e", &directory()).unwrap();
    root.rename("d", &*sub, "e", RenameFlags::WHITEOUT).unwrap();
    assert_eq!(
        root.lookup("d").unwrap().metadata().unwrap().kind,
        FileType::CharDevice
    );
    assert_eq!(ino(&*sub, "e"), d.metadata().unwrap().ino);
    assert_eq!((nlink(&*root), nlink(&*sub)), (3, 3));
    // Whiteout and NOREPLACE go together.
    sub.rename(
        "f",
        &*root,
        "g",
        RenameFlags::WHITEOUT | RenameFlags::NOREPLACE,
    )
    .unwrap();
    assert_eq!(
        sub.lookup("f").unwrap().metadata().unwrap().kind,
        FileType::CharDevice
    );
}

#[test]
fn whiteout_needs_an_inode_slot() {
    let fs = TmpFs::new(TmpFsOptions {
        max_inodes: Some(2),
        ..TmpFsOptions::default()
    });
    let root = fs.root();
    root.create("f", &regular()).unwrap();
    assert_eq!(
        root.rename("f", &*root, "g", RenameFlags::WHITEOUT),
        Err(Errno::ENOSPC)
    );
    assert_eq!(names(&*root), ["f"]);
    root.rename("f", &*root, "g", NONE).unwrap();
}

#[test]
fn rename_over_hard_link_gives_its_slot_back() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let file = root.create("f", &regular()).unwrap();
    root.link("g", &*file).unwrap();
    root.create("h", &regular()).unwrap();
    assert_eq!(fs.used_inodes(), 4);
    root.rename("h", &*root, "g", NONE).unwrap();
    assert_eq!(nlink(&*file), 1);
    assert_eq!(fs.used_inodes(), 3);
}

#[test]
fn rename_in_removed_directory_is_enoent() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let dead = root.create("dead", &directory()).unwrap();
    root.create("f", &regular()).unwrap();
    root.rmdir("dead").unwrap();
    assert_eq!(root.rename("f", &*dead, "f", NONE), Err(Errno::ENOENT));
    assert_eq!(names(&*root), ["f"]);
}
