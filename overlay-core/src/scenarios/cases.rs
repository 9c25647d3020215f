//! The scenarios of `docs/semantics.md`, one function each, numbered as there.

use alloc::{format, vec::Vec};

use super::fixture::{ensure, expect_eq, expect_errno, expect_ok, Fixture, Outcome};
use crate::error::Errno;
use crate::overlay::whiteout::OPAQUE_XATTR;
use crate::overlay::ChangeKind;
use crate::vfs::{
    Credentials, DeviceId, FileSystem, FileType, NewNode, OpenFlags, RenameFlags, XattrFlags,
};

/// A small distribution-like base layer.
const BASE: &[&str] = &[
    "d etc",
    "f etc/config :xxx:yyy:zzz",
    "f etc/os-release NAME=base",
    "d bin",
    "f bin/sh #!shell",
    "l bin/link ../etc/config",
    "d lib",
    "f lib/libc.so libc",
];
const CONFIG: &[u8] = b":xxx:yyy:zzz";

fn base() -> Outcome<Fixture> {
    Fixture::new(&[BASE])
}

fn open_flags(f: &Fixture, path: &str, flags: OpenFlags) -> crate::Result<()> {
    f.ns.open(&f.root, path, flags, 0o644).map(drop)
}

/// Scenario 1: Reading a lower file shows its content and copies nothing up.
pub fn read_lower_file() -> Outcome {
    let f = base()?;
    expect_eq(
        "content",
        expect_ok("read", f.read("/etc/config"))?,
        CONFIG.to_vec(),
    )?;
    ensure(
        f.upper_entry("/etc").is_none(),
        "reading copied the parent up",
    )
}

/// Scenario 2: Writing at offset 0 of a lower file copies it up; the lower bytes stay.
pub fn write_lower_file_copies_up() -> Outcome {
    let f = base()?;
    expect_ok("write", f.write_at("/etc/config", 0, b"q"))?;
    expect_eq(
        "union",
        expect_ok("read", f.read("/etc/config"))?,
        b"qxxx:yyy:zzz".to_vec(),
    )?;
    ensure(
        f.upper_entry("/etc/config").is_some(),
        "the upper layer has no copy",
    )?;
    expect_eq(
        "lower",
        expect_ok("lower", f.lower_bytes(0, "/etc/config"))?,
        CONFIG.to_vec(),
    )
}

/// Scenario 3: Appending to a lower file gives the lower content followed by the new bytes.
pub fn append_to_lower_file() -> Outcome {
    let f = base()?;
    let mut file = expect_ok(
        "open",
        f.ns.open(
            &f.root,
            "/etc/config",
            OpenFlags::WRITE | OpenFlags::APPEND,
            0,
        ),
    )?;
    expect_ok("append", file.write(b":end"))?;
    expect_eq(
        "content",
        expect_ok("read", f.read("/etc/config"))?,
        b":xxx:yyy:zzz:end".to_vec(),
    )
}

/// Scenario 4: Opening a lower file read-only with truncate empties it and copies it up.
pub fn open_read_only_truncate_copies_up() -> Outcome {
    let f = base()?;
    expect_ok(
        "open",
        open_flags(&f, "/etc/config", OpenFlags::READ | OpenFlags::TRUNCATE),
    )?;
    expect_eq("size", expect_ok("stat", f.lstat("/etc/config"))?.size, 0)?;
    expect_eq(
        "upper size",
        f.upper_entry("/etc/config").map(|m| m.size),
        Some(0),
    )
}

/// Scenario 5: Exclusive create of an existing lower file fails and changes nothing.
pub fn exclusive_create_of_lower_file_is_eexist() -> Outcome {
    let f = base()?;
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
    expect_errno(
        "create",
        open_flags(&f, "/etc/config", flags),
        Errno::EEXIST,
    )?;
    expect_eq(
        "content",
        expect_ok("read", f.read("/etc/config"))?,
        CONFIG.to_vec(),
    )?;
    ensure(
        f.upper_entry("/etc/config").is_none(),
        "a failed create copied up",
    )
}

/// Scenario 6: Exclusive create of a missing name works once, then fails.
pub fn exclusive_create_of_missing_name() -> Outcome {
    let f = base()?;
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
    expect_ok("first create", open_flags(&f, "/etc/new", flags))?;
    expect_eq("size", expect_ok("stat", f.lstat("/etc/new"))?.size, 0)?;
    expect_errno(
        "second create",
        open_flags(&f, "/etc/new", flags),
        Errno::EEXIST,
    )
}

/// Scenario 7: A lower directory opens read-only but not for writing.
pub fn open_lower_dir_for_write_is_eisdir() -> Outcome {
    let f = base()?;
    expect_errno(
        "open for write",
        open_flags(&f, "/etc", OpenFlags::WRITE),
        Errno::EISDIR,
    )?;
    expect_ok("open read-only", open_flags(&f, "/etc", OpenFlags::READ))
}

/// Scenario 8: Writing through a symlink changes the lower target's data (in its copy).
pub fn write_through_symlink_changes_target() -> Outcome {
    let f = base()?;
    expect_ok("write", f.write_at("/bin/link", 0, b"Z"))?;
    expect_eq(
        "target",
        expect_ok("read", f.read("/etc/config"))?,
        b"Zxxx:yyy:zzz".to_vec(),
    )?;
    expect_eq(
        "link kind",
        expect_ok("lstat", f.lstat("/bin/link"))?.kind,
        FileType::Symlink,
    )
}

/// Scenario 9: readlink of a file or directory is EINVAL; of a symlink, its target.
pub fn readlink_of_non_symlink_is_einval() -> Outcome {
    let f = base()?;
    expect_errno("file", f.ns.readlink(&f.root, "/etc/config"), Errno::EINVAL)?;
    expect_errno("directory", f.ns.readlink(&f.root, "/etc"), Errno::EINVAL)?;
    expect_eq(
        "symlink",
        expect_ok("readlink", f.ns.readlink(&f.root, "/bin/link"))?.as_str(),
        "../etc/config",
    )
}

/// Scenario 10: Truncating a lower file to every size from 0 to 28: that size, zeros past the old end.
pub fn truncate_lower_file_to_every_size() -> Outcome {
    for size in 0..=28u64 {
        let f = base()?;
        expect_ok("truncate", f.ns.truncate(&f.root, "/etc/config", size))?;
        let content = expect_ok("read", f.read("/etc/config"))?;
        let mut expected: Vec<u8> = CONFIG.iter().copied().take(size as usize).collect();
        expected.resize(size as usize, 0);
        expect_eq(&format!("content at size {size}"), content, expected)?;
    }
    Ok(())
}

/// Scenario 11: Unlinking a lower file leaves a whiteout; the name is gone, a second unlink is ENOENT.
pub fn unlink_lower_file_leaves_whiteout() -> Outcome {
    let f = base()?;
    expect_ok("unlink", f.ns.unlink(&f.root, "/etc/config"))?;
    expect_errno("stat after", f.lstat("/etc/config"), Errno::ENOENT)?;
    expect_errno(
        "unlink again",
        f.ns.unlink(&f.root, "/etc/config"),
        Errno::ENOENT,
    )?;
    ensure(
        f.upper_has_whiteout("/etc/config"),
        "no whiteout in the upper layer",
    )
}

/// Scenario 12: Unlinking a symlink removes only the link; unlinking a directory is EISDIR.
pub fn unlink_symlink_and_directory() -> Outcome {
    let f = base()?;
    expect_ok("unlink link", f.ns.unlink(&f.root, "/bin/link"))?;
    expect_errno("link gone", f.lstat("/bin/link"), Errno::ENOENT)?;
    expect_eq(
        "target kept",
        expect_ok("read", f.read("/etc/config"))?,
        CONFIG.to_vec(),
    )?;
    expect_errno("unlink dir", f.ns.unlink(&f.root, "/etc"), Errno::EISDIR)
}

/// Scenario 13: rmdir of a populated lower directory is ENOTEMPTY until every child is unlinked.
pub fn rmdir_populated_lower_dir() -> Outcome {
    let f = base()?;
    expect_errno("rmdir", f.ns.rmdir(&f.root, "/bin"), Errno::ENOTEMPTY)?;
    for name in expect_ok("list", f.names("/bin"))? {
        expect_ok(
            "unlink child",
            f.ns.unlink(&f.root, &format!("/bin/{name}")),
        )?;
    }
    expect_ok("rmdir emptied", f.ns.rmdir(&f.root, "/bin"))?;
    expect_errno("gone", f.lstat("/bin"), Errno::ENOENT)
}

/// Scenario 14: rmdir of a file is ENOTDIR; of a missing name, ENOENT.
pub fn rmdir_file_or_missing() -> Outcome {
    let f = base()?;
    expect_errno("file", f.ns.rmdir(&f.root, "/etc/config"), Errno::ENOTDIR)?;
    expect_errno("missing", f.ns.rmdir(&f.root, "/nothing"), Errno::ENOENT)
}

/// Scenario 15: A directory made where a lower one was removed is opaque: lower contents never return.
pub fn recreated_dir_is_opaque() -> Outcome {
    let f = base()?;
    for name in expect_ok("list", f.names("/lib"))? {
        expect_ok(
            "unlink child",
            f.ns.unlink(&f.root, &format!("/lib/{name}")),
        )?;
    }
    expect_ok("rmdir", f.ns.rmdir(&f.root, "/lib"))?;
    expect_ok("mkdir", f.ns.mkdir(&f.root, "/lib", 0o755))?;
    let flags = OpenFlags::WRITE | OpenFlags::CREATE;
    expect_ok("create", open_flags(&f, "/lib/new.so", flags))?;
    expect_eq(
        "listing",
        expect_ok("list", f.names("/lib"))?,
        ["new.so".into()].to_vec(),
    )?;
    expect_errno("old file", f.lstat("/lib/libc.so"), Errno::ENOENT)
}

/// Scenario 16: Every kind of entry of a lower directory can be removed; the listing is then empty.
pub fn remove_every_file_type() -> Outcome {
    let f = Fixture::new(&[&[
        "d all",
        "f all/file data",
        "h all/hardlink all/file",
        "l all/symlink file",
        "c all/char 1 3",
        "b all/block 8 0",
        "p all/fifo",
    ]])?;
    expect_eq("kinds", expect_ok("list", f.names("/all"))?.len(), 6)?;
    for name in expect_ok("list", f.names("/all"))? {
        expect_ok(
            &format!("unlink {name}"),
            f.ns.unlink(&f.root, &format!("/all/{name}")),
        )?;
    }
    expect_eq("listing", expect_ok("list", f.names("/all"))?, Vec::new())
}

/// Scenario 17: With the top layer whiting out `d/a`, removing `d` recursively succeeds.
pub fn remove_dir_with_whiteout_in_lower() -> Outcome {
    let f = Fixture::new(&[&["d d", "w d/a"], &["d d", "f d/a a", "f d/b b"]])?;
    expect_eq(
        "listing",
        expect_ok("list", f.names("/d"))?,
        ["b".into()].to_vec(),
    )?;
    for name in expect_ok("list", f.names("/d"))? {
        expect_ok("unlink", f.ns.unlink(&f.root, &format!("/d/{name}")))?;
    }
    expect_ok("rmdir", f.ns.rmdir(&f.root, "/d"))?;
    expect_errno("gone", f.lstat("/d"), Errno::ENOENT)
}

/// Scenario 18: mknod of a 0/0 character device through the union is EPERM.
pub fn mknod_whiteout_device_is_eperm() -> Outcome {
    let f = base()?;
    let result = f.ns.mknod(
        &f.root,
        "/etc/wh",
        FileType::CharDevice,
        0o644,
        DeviceId::default(),
    );
    expect_errno("mknod 0/0", result, Errno::EPERM)
}

/// Scenario 19: mkdir over an existing file, directory or symlink is EEXIST.
pub fn mkdir_over_existing_is_eexist() -> Outcome {
    let f = base()?;
    for path in ["/etc/config", "/etc", "/bin/link"] {
        expect_errno(path, f.ns.mkdir(&f.root, path, 0o755), Errno::EEXIST)?;
    }
    Ok(())
}

/// Scenario 20: Linking a lower file: both names show the same content and inode number.
pub fn link_lower_file() -> Outcome {
    let f = base()?;
    expect_ok("link", f.ns.link(&f.root, "/etc/config", "/etc/alias"))?;
    expect_eq(
        "alias content",
        expect_ok("read", f.read("/etc/alias"))?,
        CONFIG.to_vec(),
    )?;
    let a = expect_ok("stat", f.lstat("/etc/config"))?;
    let b = expect_ok("stat", f.lstat("/etc/alias"))?;
    expect_eq("inode numbers", a.ino, b.ino)?;
    expect_eq("nlink", (a.nlink, b.nlink), (2, 2))?;
    expect_errno(
        "link a directory",
        f.ns.link(&f.root, "/etc", "/etc2"),
        Errno::EPERM,
    )?;
    expect_errno(
        "link onto a name",
        f.ns.link(&f.root, "/etc/config", "/etc/os-release"),
        Errno::EEXIST,
    )
}

/// Scenario 21: Renaming a lower file away and back keeps its content; the old name is gone between.
pub fn rename_lower_file_and_back() -> Outcome {
    let f = base()?;
    expect_ok(
        "rename",
        f.ns.rename(&f.root, "/etc/config", "/etc/moved", RenameFlags::empty()),
    )?;
    expect_errno("old name", f.lstat("/etc/config"), Errno::ENOENT)?;
    expect_eq(
        "moved",
        expect_ok("read", f.read("/etc/moved"))?,
        CONFIG.to_vec(),
    )?;
    expect_ok(
        "rename back",
        f.ns.rename(&f.root, "/etc/moved", "/etc/config", RenameFlags::empty()),
    )?;
    expect_eq(
        "back",
        expect_ok("read", f.read("/etc/config"))?,
        CONFIG.to_vec(),
    )?;
    expect_errno("moved name", f.lstat("/etc/moved"), Errno::ENOENT)
}

/// Scenario 22: Renaming a lower directory without redirects is EXDEV and changes nothing.
pub fn rename_lower_dir_is_exdev() -> Outcome {
    let f = base()?;
    let result = f.ns.rename(&f.root, "/bin", "/sbin", RenameFlags::empty());
    expect_errno("rename", result, Errno::EXDEV)?;
    expect_eq("source", expect_ok("list", f.names("/bin"))?.len(), 2)?;
    expect_errno("target", f.lstat("/sbin"), Errno::ENOENT)?;
    ensure(
        f.upper_entry("/bin").is_none() && f.upper_entry("/sbin").is_none(),
        "upper changed",
    )
}

/// Scenario 23: A new empty directory renamed over an empty lower directory works; over a populated one
/// it is ENOTEMPTY.
pub fn rename_new_dir_over_lower_dir() -> Outcome {
    let f = Fixture::new(&[&["d empty", "d full", "f full/x x"]])?;
    expect_ok("mkdir", f.ns.mkdir(&f.root, "/new", 0o755))?;
    let result = f.ns.rename(&f.root, "/new", "/full", RenameFlags::empty());
    expect_errno("over populated", result, Errno::ENOTEMPTY)?;
    expect_ok(
        "over empty",
        f.ns.rename(&f.root, "/new", "/empty", RenameFlags::empty()),
    )?;
    expect_errno("source gone", f.lstat("/new"), Errno::ENOENT)?;
    expect_eq(
        "kind",
        expect_ok("stat", f.lstat("/empty"))?.kind,
        FileType::Directory,
    )
}

/// Scenario 24: A non-root user opening a root-owned 0644 lower file for writing gets EACCES, and
/// nothing is copied up.
pub fn non_root_write_open_is_eacces() -> Outcome {
    let f = base()?;
    let user = Credentials::user(1000, 1000);
    let result =
        f.ns.open(&user, "/etc/config", OpenFlags::WRITE, 0)
            .map(drop);
    expect_errno("open", result, Errno::EACCES)?;
    ensure(
        f.upper_entry("/etc/config").is_none(),
        "a refused open copied up",
    )?;
    ensure(
        f.upper_entry("/etc").is_none(),
        "a refused open copied the parent up",
    )
}

/// Scenario 25: `st_ino` stays the same across copy-up and rename.
pub fn inode_number_is_stable() -> Outcome {
    let f = base()?;
    let before = expect_ok("stat", f.lstat("/etc/config"))?.ino;
    expect_ok("write", f.write_at("/etc/config", 0, b"q"))?;
    expect_eq(
        "after copy-up",
        expect_ok("stat", f.lstat("/etc/config"))?.ino,
        before,
    )?;
    expect_ok(
        "rename",
        f.ns.rename(&f.root, "/etc/config", "/etc/renamed", RenameFlags::empty()),
    )?;
    expect_eq(
        "after rename",
        expect_ok("stat", f.lstat("/etc/renamed"))?.ino,
        before,
    )
}

/// Scenario 26: Without an upper layer, creating a file is EROFS.
pub fn no_upper_is_read_only() -> Outcome {
    let f = Fixture::without_upper(&[BASE])?;
    let flags = OpenFlags::WRITE | OpenFlags::CREATE;
    expect_errno("create", open_flags(&f, "/etc/new", flags), Errno::EROFS)?;
    expect_errno(
        "write open",
        open_flags(&f, "/etc/config", OpenFlags::WRITE),
        Errno::EROFS,
    )?;
    expect_errno("mkdir", f.ns.mkdir(&f.root, "/new", 0o755), Errno::EROFS)
}

/// Scenario 27: `trusted.overlay.opaque` set through the union hides nothing; a real opaque marker can
/// neither be read nor removed through the union.
pub fn overlay_xattrs_are_not_markers() -> Outcome {
    let f = Fixture::new(&[&["d etc", "f etc/top t"], BASE])?;
    expect_ok(
        "setxattr",
        f.ns.set_xattr(&f.root, "/etc", OPAQUE_XATTR, b"y", XattrFlags::empty()),
    )?;
    expect_ok(
        "create",
        open_flags(&f, "/etc/new", OpenFlags::WRITE | OpenFlags::CREATE),
    )?;
    let names = expect_ok("list", f.names("/etc"))?;
    expect_eq("listing", names.len(), 4)?;
    expect_eq(
        "read back",
        expect_ok("getxattr", f.ns.get_xattr(&f.root, "/etc", OPAQUE_XATTR))?,
        b"y".to_vec(),
    )?;

    let f = Fixture::new(&[&["o etc", "f etc/top t"], BASE])?;
    expect_eq(
        "opaque listing",
        expect_ok("list", f.names("/etc"))?,
        ["top".into()].to_vec(),
    )?;
    expect_errno(
        "read marker",
        f.ns.get_xattr(&f.root, "/etc", OPAQUE_XATTR),
        Errno::ENODATA,
    )?;
    expect_errno(
        "remove marker",
        f.ns.remove_xattr(&f.root, "/etc", OPAQUE_XATTR),
        Errno::ENODATA,
    )?;
    expect_eq(
        "still opaque",
        expect_ok("list", f.names("/etc"))?,
        ["top".into()].to_vec(),
    )
}

/// Scenario 28: ENOSPC in the upper layer during copy-up: the call fails, the union shows the lower
/// content, and nothing is left in the upper layer under that name.
pub fn enospc_during_copy_up() -> Outcome {
    let line = format!("f data/big {}", "y".repeat(256 * 1024));
    let f = Fixture::with_upper_capacity(&[&["d data", &line]], 64 * 1024)?;
    let original = expect_ok("read", f.read("/data/big"))?;
    expect_errno("write", f.write_at("/data/big", 0, b"x"), Errno::ENOSPC)?;
    expect_eq(
        "union content",
        expect_ok("read", f.read("/data/big"))? == original,
        true,
    )?;
    ensure(
        f.upper_entry("/data/big").is_none(),
        "a half copy is in the upper layer",
    )?;
    expect_eq(
        "lower content",
        expect_ok("lower", f.lower_bytes(0, "/data/big"))? == original,
        true,
    )
}

/// How deep [`deep_trees_use_bounded_stack`] nests its directories: deep enough that one stack
/// frame per level would overflow a 512 KiB kernel stack, with the deepest lower path still
/// shorter than `PATH_MAX`.
const DEEP_LEVELS: usize = 1500;

/// Scenario 29: Every walk whose depth comes from the layers uses bounded stack: a write to a
/// file 1,500 lower directories down copies all of them up, `diff` lists an upper 1,500
/// directories deep and the copied parents, and the union drops the whole tree.
pub fn deep_trees_use_bounded_stack() -> Outcome {
    let f = Fixture::new(&[&[]])?;
    let directory = NewNode::new(FileType::Directory, 0o755, 0, 0);
    // The lower chain `/l/l/.../l/f`, made before the union first looks at the layer.
    let mut lower_dir = f.lowers[0].root();
    for _ in 0..DEEP_LEVELS {
        lower_dir = expect_ok("lower mkdir", lower_dir.create("l", &directory))?;
    }
    let file = NewNode::new(FileType::Regular, 0o644, 0, 0);
    let deep_file = expect_ok("lower file", lower_dir.create("f", &file))?;
    expect_ok("lower write", deep_file.write_at(0, b"deep"))?;
    drop((lower_dir, deep_file));
    // The upper chain `/u/u/.../u`, made through the union.
    let mut upper_dir = f.fs.root();
    for _ in 0..DEEP_LEVELS {
        upper_dir = expect_ok("union mkdir", upper_dir.create("u", &directory))?;
    }
    drop(upper_dir);

    let path = format!("{}/f", "/l".repeat(DEEP_LEVELS));
    expect_ok("write", f.write_at(&path, 0, b"DEEP"))?;
    expect_eq(
        "content",
        expect_ok("read", f.read(&path))?,
        b"DEEP".to_vec(),
    )?;
    ensure(
        f.upper_entry(&path).is_some(),
        "the deep file was not copied up",
    )?;
    expect_eq(
        "lower content",
        expect_ok("lower", f.lower_bytes(0, &path))?,
        b"deep".to_vec(),
    )?;

    let changes = expect_ok("diff", f.fs.diff())?;
    let count = |kind| changes.iter().filter(|c| c.kind == kind).count();
    expect_eq("added", count(ChangeKind::Added), DEEP_LEVELS)?;
    expect_eq("changed", count(ChangeKind::Changed), DEEP_LEVELS + 1)?;
    expect_eq("deleted", count(ChangeKind::Deleted), 0)?;
    ensure(
        changes.iter().any(|c| c.path == path),
        "diff misses the deep file",
    )?;
    let deepest_upper = "/u".repeat(DEEP_LEVELS);
    expect_eq(
        "last change",
        changes.last().map(|c| c.path.as_str()),
        Some(deepest_upper.as_str()),
    )
}
