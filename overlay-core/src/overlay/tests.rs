//! Tests of the union over tmpfs layers, through the `Inode` interface.

use alloc::{string::String, sync::Arc, vec::Vec};

use super::*;
use crate::tmpfs::{TmpFs, TmpFsOptions};
use crate::vfs::{DeviceId, Metadata, OpenFlags, RenameFlags, SetAttr};

/// Builds a layer from lines `"d path"`, `"f path content"`, `"l path target"`,
/// `"w path"` (Linux whiteout), `"o path"` (opaque dir), `"h path existing"` (hard link).
fn tmpfs_layer(spec: &[&str]) -> Arc<TmpFs> {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    for line in spec {
        let mut words = line.splitn(3, ' ');
        let (op, path) = (words.next().unwrap(), words.next().unwrap());
        let rest = words.next().unwrap_or("");
        let (parent, name) = match path.rsplit_once('/') {
            Some((dir, name)) => (walk(&root, dir).unwrap(), name),
            None => (root.clone(), path),
        };
        match op {
            "d" => {
                parent
                    .create(name, &NewNode::new(FileType::Directory, 0o755, 0, 0))
                    .unwrap();
            }
            "o" => {
                let dir = parent
                    .create(name, &NewNode::new(FileType::Directory, 0o755, 0, 0))
                    .unwrap();
                dir.set_xattr(whiteout::OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .unwrap();
            }
            "f" => {
                let file = parent
                    .create(name, &NewNode::new(FileType::Regular, 0o644, 0, 0))
                    .unwrap();
                file.write_at(0, rest.as_bytes()).unwrap();
            }
            "l" => {
                parent.symlink(name, rest, 0, 0).unwrap();
            }
            "w" => {
                parent.create(name, &whiteout::whiteout_device()).unwrap();
            }
            "h" => {
                let target = walk(&root, rest).unwrap();
                parent.link(name, &*target).unwrap();
            }
            other => panic!("bad op {other}"),
        }
    }
    fs
}

fn walk(root: &Arc<dyn Inode>, path: &str) -> Result<Arc<dyn Inode>> {
    let mut node = root.clone();
    for part in path.split('/').filter(|part| !part.is_empty()) {
        node = node.lookup(part)?;
    }
    Ok(node)
}

fn parent_of<'a>(root: &Arc<dyn Inode>, path: &'a str) -> (Arc<dyn Inode>, &'a str) {
    match path.rsplit_once('/') {
        Some((dir, name)) => (walk(root, dir).unwrap(), name),
        None => (root.clone(), path),
    }
}

fn read(root: &Arc<dyn Inode>, path: &str) -> Result<String> {
    let node = walk(root, path)?;
    let mut buf = vec![0; node.metadata()?.size as usize];
    let n = node.read_at(0, &mut buf)?;
    buf.truncate(n);
    Ok(String::from_utf8(buf).unwrap())
}

fn names(dir: &Arc<dyn Inode>) -> Vec<String> {
    let mut out = Vec::new();
    dir.readdir(0, &mut |entry| {
        out.push(String::from(entry.name));
        true
    })
    .unwrap();
    out.sort();
    out
}

fn meta(root: &Arc<dyn Inode>, path: &str) -> Metadata {
    walk(root, path).unwrap().metadata().unwrap()
}

struct Union {
    fs: Arc<OverlayFs>,
    root: Arc<dyn Inode>,
    lowers: Vec<Arc<TmpFs>>,
}

impl Union {
    fn upper_root(&self) -> Arc<dyn Inode> {
        self.fs.upper().unwrap().upper_dir().clone()
    }
}

fn union(lowers: &[&[&str]]) -> Union {
    union_with_upper(lowers, TmpFs::new(TmpFsOptions::default()))
}

fn union_with_upper(lowers: &[&[&str]], upper: Arc<TmpFs>) -> Union {
    union_with_options(lowers, upper, OverlayOptions::default())
}

fn union_with_options(lowers: &[&[&str]], upper: Arc<TmpFs>, options: OverlayOptions) -> Union {
    let lower_fs: Vec<Arc<TmpFs>> = lowers.iter().map(|spec| tmpfs_layer(spec)).collect();
    let layers = lower_fs
        .iter()
        .map(|fs| Layer::new(fs.clone() as Arc<dyn FileSystem>))
        .collect();
    let upper_layer = UpperLayer::new(upper).unwrap();
    let fs = OverlayFs::new(layers, Some(upper_layer), options).unwrap();
    let root = fs.root();
    Union {
        fs,
        root,
        lowers: lower_fs,
    }
}

const BASE: &[&str] = &[
    "d etc",
    "f etc/config :xxx:yyy:zzz",
    "f etc/os-release base",
    "d bin",
    "f bin/sh shell",
    "l bin/link ../etc/config",
];

#[test]
fn lookup_merges_layers_top_first() {
    let u = union(&[&["d etc", "f etc/os-release top", "f etc/new n"], BASE]);
    assert_eq!(read(&u.root, "etc/os-release").unwrap(), "top");
    assert_eq!(read(&u.root, "etc/config").unwrap(), ":xxx:yyy:zzz");
    assert_eq!(
        names(&walk(&u.root, "etc").unwrap()),
        ["config", "new", "os-release"]
    );
    assert_eq!(names(&u.root), ["bin", "etc"]);
    assert_eq!(walk(&u.root, "missing").err(), Some(Errno::ENOENT));
}

#[test]
fn whiteouts_and_opaque_dirs_hide_lower_entries() {
    let u = union(&[&["d etc", "w etc/config", "o bin", "f bin/only top"], BASE]);
    assert_eq!(walk(&u.root, "etc/config").err(), Some(Errno::ENOENT));
    assert_eq!(names(&walk(&u.root, "etc").unwrap()), ["os-release"]);
    assert_eq!(names(&walk(&u.root, "bin").unwrap()), ["only"]);
    assert_eq!(walk(&u.root, "bin/sh").err(), Some(Errno::ENOENT));
}

#[test]
fn non_directory_above_hides_directory_below_and_vice_versa() {
    let u = union(&[&["f etc plain", "d bin"], BASE]);
    assert_eq!(meta(&u.root, "etc").kind, FileType::Regular);
    assert_eq!(meta(&u.root, "bin").kind, FileType::Directory);
    assert_eq!(names(&walk(&u.root, "bin").unwrap()), ["link", "sh"]);
}

#[test]
fn write_copies_up_and_leaves_lower_alone() {
    let u = union(&[BASE]);
    let file = walk(&u.root, "etc/config").unwrap();
    let ino = file.metadata().unwrap().ino;
    assert!(
        walk(&u.upper_root(), "etc").is_err(),
        "reading copies nothing"
    );
    file.write_at(0, b"q").unwrap();
    assert_eq!(read(&u.root, "etc/config").unwrap(), "qxxx:yyy:zzz");
    assert_eq!(read(&u.upper_root(), "etc/config").unwrap(), "qxxx:yyy:zzz");
    assert_eq!(
        read(&u.lowers[0].root(), "etc/config").unwrap(),
        ":xxx:yyy:zzz"
    );
    assert_eq!(
        file.metadata().unwrap().ino,
        ino,
        "inode number survives copy-up"
    );
    assert_eq!(meta(&u.root, "etc/config").ino, ino);
}

#[test]
fn permissions_are_those_of_metadata_before_and_after_changes() {
    let u = union(&[&["d etc", "f etc/motd hi"], BASE]);
    let same = |path: &str| {
        let node = walk(&u.root, path).unwrap();
        assert_eq!(
            node.permissions().unwrap(),
            node.metadata().unwrap().permissions(),
            "{path}"
        );
        node
    };
    // An image file, a merged directory, a symlink, the root.
    for path in ["etc/motd", "etc", "bin/link", ""] {
        same(path);
    }
    let chmod = |path: &str, mode| {
        let node = same(path);
        node.set_attr(&SetAttr {
            mode: Some(mode),
            uid: Some(5),
            ..SetAttr::default()
        })
        .unwrap();
        let after = same(path).permissions().unwrap();
        assert_eq!((after.mode, after.uid), (mode, 5), "{path}");
    };
    // Copied up by the change: the upper entry answers from then on.
    chmod("etc/motd", 0o600);
    chmod("etc", 0o700);
    chmod("bin", 0o711);
}

#[test]
fn copy_up_keeps_metadata_and_xattrs() {
    let lower = tmpfs_layer(BASE);
    let file = walk(&lower.root(), "etc/config").unwrap();
    file.set_attr(&SetAttr {
        mode: Some(0o4751),
        uid: Some(7),
        gid: Some(8),
        ..SetAttr::default()
    })
    .unwrap();
    file.set_xattr("user.color", b"blue", XattrFlags::empty())
        .unwrap();
    let before = file.metadata().unwrap();
    let upper = TmpFs::new(TmpFsOptions::default());
    let fs = OverlayFs::new(
        vec![Layer::new(lower.clone())],
        Some(UpperLayer::new(upper).unwrap()),
        OverlayOptions::default(),
    )
    .unwrap();
    let root = fs.root();
    let node = walk(&root, "etc/config").unwrap();
    node.open(OpenFlags::WRITE).unwrap();
    let after = fs
        .upper()
        .unwrap()
        .upper_dir()
        .lookup("etc")
        .unwrap()
        .lookup("config")
        .unwrap();
    let after = after.metadata().unwrap();
    assert_eq!((after.mode, after.uid, after.gid), (0o4751, 7, 8));
    assert_eq!(after.mtime, before.mtime);
    assert_eq!(node.get_xattr("user.color").unwrap(), b"blue");
}

#[test]
fn handles_opened_before_copy_up_see_new_data() {
    let u = union(&[BASE]);
    let reader = walk(&u.root, "etc/config").unwrap();
    let writer = walk(&u.root, "etc/config").unwrap();
    writer.set_len(0).unwrap();
    writer.write_at(0, b"new").unwrap();
    let mut buf = [0u8; 16];
    let n = reader.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"new");
}

#[test]
fn truncate_open_copies_no_data() {
    let u = union(&[BASE]);
    let node = walk(&u.root, "etc/config").unwrap();
    node.open(OpenFlags::READ | OpenFlags::TRUNCATE).unwrap();
    node.set_len(0).unwrap();
    assert_eq!(read(&u.root, "etc/config").unwrap(), "");
    assert_eq!(read(&u.upper_root(), "etc/config").unwrap(), "");
}

#[test]
fn unlink_lower_file_leaves_whiteout() {
    let u = union(&[BASE]);
    let etc = walk(&u.root, "etc").unwrap();
    etc.unlink("config").unwrap();
    assert_eq!(etc.lookup("config").err(), Some(Errno::ENOENT));
    assert_eq!(etc.unlink("config"), Err(Errno::ENOENT));
    let whiteout = walk(&u.upper_root(), "etc/config")
        .unwrap()
        .metadata()
        .unwrap();
    assert_eq!(
        (whiteout.kind, whiteout.rdev),
        (FileType::CharDevice, DeviceId::default())
    );
    assert_eq!(names(&etc), ["os-release"]);
}

#[test]
fn unlink_upper_only_file_leaves_nothing() {
    let u = union(&[BASE]);
    let etc = walk(&u.root, "etc").unwrap();
    etc.create("fresh", &NewNode::new(FileType::Regular, 0o644, 0, 0))
        .unwrap();
    etc.unlink("fresh").unwrap();
    assert_eq!(
        walk(&u.upper_root(), "etc/fresh").err(),
        Some(Errno::ENOENT)
    );
}

#[test]
fn rmdir_of_populated_merged_dir_is_enotempty_until_emptied() {
    let u = union(&[BASE]);
    assert_eq!(u.root.rmdir("bin"), Err(Errno::ENOTEMPTY));
    let bin = walk(&u.root, "bin").unwrap();
    bin.unlink("sh").unwrap();
    bin.unlink("link").unwrap();
    u.root.rmdir("bin").unwrap();
    assert_eq!(walk(&u.root, "bin").err(), Some(Errno::ENOENT));
    u.root
        .create("bin", &NewNode::new(FileType::Directory, 0o755, 0, 0))
        .unwrap();
    assert!(
        names(&walk(&u.root, "bin").unwrap()).is_empty(),
        "new directory is opaque"
    );
    walk(&u.root, "bin")
        .unwrap()
        .create("x", &NewNode::new(FileType::Regular, 0o644, 0, 0))
        .unwrap();
    assert_eq!(names(&walk(&u.root, "bin").unwrap()), ["x"]);
}

#[test]
fn mknod_whiteout_device_is_eperm() {
    let u = union(&[BASE]);
    assert_eq!(
        u.root.create("wh", &whiteout::whiteout_device()).err(),
        Some(Errno::EPERM)
    );
}

#[test]
fn rename_lower_file_and_back() {
    let u = union(&[BASE]);
    let etc = walk(&u.root, "etc").unwrap();
    let ino = meta(&u.root, "etc/config").ino;
    etc.rename("config", &*etc, "moved", RenameFlags::empty())
        .unwrap();
    assert_eq!(etc.lookup("config").err(), Some(Errno::ENOENT));
    assert_eq!(read(&u.root, "etc/moved").unwrap(), ":xxx:yyy:zzz");
    assert_eq!(meta(&u.root, "etc/moved").ino, ino);
    etc.rename("moved", &*etc, "config", RenameFlags::empty())
        .unwrap();
    assert_eq!(read(&u.root, "etc/config").unwrap(), ":xxx:yyy:zzz");
    assert_eq!(etc.lookup("moved").err(), Some(Errno::ENOENT));
    assert_eq!(meta(&u.root, "etc/config").ino, ino);
    assert_eq!(names(&etc), ["config", "os-release"]);
}

#[test]
fn rename_lower_dir_is_exdev_and_changes_nothing() {
    let u = union(&[BASE]);
    assert_eq!(
        u.root.rename("etc", &*u.root, "etc2", RenameFlags::empty()),
        Err(Errno::EXDEV)
    );
    assert_eq!(names(&u.root), ["bin", "etc"]);
}

#[test]
fn rename_new_dir_over_empty_lower_dir() {
    let u = union(&[&["d empty", "d full", "f full/x 1"]]);
    u.root
        .create("new", &NewNode::new(FileType::Directory, 0o755, 0, 0))
        .unwrap();
    assert_eq!(
        u.root.rename("new", &*u.root, "full", RenameFlags::empty()),
        Err(Errno::ENOTEMPTY)
    );
    u.root
        .rename("new", &*u.root, "empty", RenameFlags::empty())
        .unwrap();
    assert_eq!(names(&u.root), ["empty", "full"]);
}

#[test]
fn rename_checks() {
    let u = union(&[BASE]);
    let root = &u.root;
    root.create("d", &NewNode::new(FileType::Directory, 0o755, 0, 0))
        .unwrap();
    let d = walk(root, "d").unwrap();
    d.create("sub", &NewNode::new(FileType::Directory, 0o755, 0, 0))
        .unwrap();
    let sub = walk(root, "d/sub").unwrap();
    assert_eq!(
        root.rename("d", &*sub, "x", RenameFlags::empty()),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        root.rename("d", &**root, "bin", RenameFlags::empty()),
        Err(Errno::ENOTEMPTY)
    );
    let etc = walk(root, "etc").unwrap();
    assert_eq!(
        root.rename("d", &*etc, "config", RenameFlags::empty()),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        etc.rename("config", &**root, "d", RenameFlags::empty()),
        Err(Errno::EISDIR)
    );
    assert_eq!(
        etc.rename("config", &*etc, "os-release", RenameFlags::NOREPLACE),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        etc.rename("config", &*etc, "x", RenameFlags::WHITEOUT),
        Err(Errno::EINVAL)
    );
    etc.rename("config", &*etc, "config", RenameFlags::empty())
        .unwrap();
    etc.rename("config", &*etc, "os-release", RenameFlags::EXCHANGE)
        .unwrap();
    assert_eq!(read(root, "etc/os-release").unwrap(), ":xxx:yyy:zzz");
    assert_eq!(read(root, "etc/config").unwrap(), "base");
}

#[test]
fn link_lower_file_keeps_inode_and_nlink() {
    let u = union(&[BASE]);
    let etc = walk(&u.root, "etc").unwrap();
    let config = etc.lookup("config").unwrap();
    etc.link("alias", &*config).unwrap();
    let a = meta(&u.root, "etc/config");
    let b = meta(&u.root, "etc/alias");
    assert_eq!(a.ino, b.ino);
    assert_eq!((a.nlink, b.nlink), (2, 2));
    assert_eq!(read(&u.root, "etc/alias").unwrap(), ":xxx:yyy:zzz");
    assert_eq!(etc.link("alias", &*config), Err(Errno::EEXIST));
    assert_eq!(u.root.link("x", &*etc), Err(Errno::EPERM));
}

#[test]
fn lower_hard_link_group_stays_together_on_copy_up() {
    let u = union(&[&["f a shared", "h b a"]]);
    assert_eq!(meta(&u.root, "a").nlink, 2);
    walk(&u.root, "a").unwrap().write_at(0, b"SHARED").unwrap();
    assert_eq!(
        read(&u.root, "b").unwrap(),
        "SHARED",
        "the other name sees the copy"
    );
    assert_eq!(meta(&u.root, "a").ino, meta(&u.root, "b").ino);
    assert_eq!(meta(&u.root, "b").nlink, 2);
    u.root.unlink("b").unwrap();
    assert_eq!(meta(&u.root, "a").nlink, 1);
}

#[test]
fn renaming_over_a_lower_hard_link_covers_it() {
    // The group is copied up through `a`; `b` is still only a lower name when it is replaced.
    let u = union(&[&["f a shared", "h b a", "f c other"]]);
    walk(&u.root, "a").unwrap().write_at(0, b"SHARED").unwrap();
    assert_eq!(meta(&u.root, "a").nlink, 2);
    u.root
        .rename("c", &*u.root, "b", RenameFlags::empty())
        .unwrap();
    assert_eq!(meta(&u.root, "a").nlink, 1, "b no longer names the file");
    assert_eq!(read(&u.root, "b").unwrap(), "other");
    assert_eq!(read(&u.root, "a").unwrap(), "SHARED");
}

#[test]
fn no_upper_means_erofs() {
    let lower = tmpfs_layer(BASE);
    let fs = OverlayFs::new(vec![Layer::new(lower)], None, OverlayOptions::default()).unwrap();
    let root = fs.root();
    let new = NewNode::new(FileType::Regular, 0o644, 0, 0);
    assert_eq!(root.create("x", &new).err(), Some(Errno::EROFS));
    assert_eq!(
        walk(&root, "etc/config").unwrap().write_at(0, b"x"),
        Err(Errno::EROFS)
    );
    assert_eq!(
        walk(&root, "etc").unwrap().unlink("config"),
        Err(Errno::EROFS)
    );
    assert!(fs.features().contains(FsFeatures::READ_ONLY));
}

#[test]
fn layer_limits() {
    assert_eq!(
        OverlayFs::new(Vec::new(), None, OverlayOptions::default()).err(),
        Some(Errno::EINVAL)
    );
    let lower = tmpfs_layer(&[]);
    let many = (0..=MAX_LOWERS)
        .map(|_| Layer::new(lower.clone()))
        .collect();
    assert_eq!(
        OverlayFs::new(many, None, OverlayOptions::default()).err(),
        Some(Errno::EINVAL)
    );
    let max = (0..MAX_LOWERS).map(|_| Layer::new(lower.clone())).collect();
    assert!(OverlayFs::new(max, None, OverlayOptions::default()).is_ok());
}

#[test]
fn private_xattrs_are_escaped_and_markers_hidden() {
    let u = union(&[&["o dir", "f dir/x 1"], &["d dir", "f dir/hidden 2"]]);
    let dir = walk(&u.root, "dir").unwrap();
    assert_eq!(dir.get_xattr(whiteout::OPAQUE_XATTR), Err(Errno::ENODATA));
    assert!(dir.list_xattr().unwrap().is_empty());
    assert_eq!(
        dir.remove_xattr(whiteout::OPAQUE_XATTR),
        Err(Errno::ENODATA)
    );
    let etc_like = walk(&u.root, "dir/x").unwrap();
    etc_like
        .set_xattr(whiteout::OPAQUE_XATTR, b"y", XattrFlags::empty())
        .unwrap();
    assert_eq!(etc_like.get_xattr(whiteout::OPAQUE_XATTR).unwrap(), b"y");
    assert_eq!(etc_like.list_xattr().unwrap(), [whiteout::OPAQUE_XATTR]);
    let stored = walk(&u.upper_root(), "dir/x").unwrap();
    assert_eq!(
        stored.get_xattr("trusted.overlay.overlay.opaque").unwrap(),
        b"y"
    );
    // Setting the marker on a merged directory through the union hides nothing.
    let u = union(&[&["d dir", "f dir/a 1"], &["d dir", "f dir/b 2"]]);
    let dir = walk(&u.root, "dir").unwrap();
    dir.set_xattr(whiteout::OPAQUE_XATTR, b"y", XattrFlags::empty())
        .unwrap();
    dir.create("c", &NewNode::new(FileType::Regular, 0o644, 0, 0))
        .unwrap();
    assert_eq!(names(&walk(&u.root, "dir").unwrap()), ["a", "b", "c"]);
}

#[test]
fn enospc_during_copy_up_leaves_nothing() {
    let big = "x".repeat(64 * 1024);
    let spec = ["d etc", &format!("f etc/big {big}")];
    let upper = TmpFs::new(TmpFsOptions {
        capacity_bytes: Some(16 * 1024),
        ..TmpFsOptions::default()
    });
    let u = union_with_upper(&[&spec], upper);
    let file = walk(&u.root, "etc/big").unwrap();
    assert_eq!(file.write_at(0, b"y"), Err(Errno::ENOSPC));
    assert_eq!(read(&u.root, "etc/big").unwrap(), big);
    assert_eq!(walk(&u.upper_root(), "etc/big").err(), Some(Errno::ENOENT));
    assert!(
        names(&u.fs.upper().unwrap().work_dir).is_empty(),
        "work dir is clean"
    );
    assert_eq!(read(&u.lowers[0].root(), "etc/big").unwrap(), big);
}

#[test]
fn readdir_cookies_survive_concurrent_changes() {
    let spec: Vec<String> = (0..20).map(|i| format!("f f{i:02} {i}")).collect();
    let spec: Vec<&str> = spec.iter().map(String::as_str).collect();
    let u = union(&[&spec]);
    let mut seen = Vec::new();
    let mut cookie = 0;
    let mut first = true;
    loop {
        let mut batch = Vec::new();
        u.root
            .readdir(cookie, &mut |entry| {
                batch.push((String::from(entry.name), entry.next_cookie));
                batch.len() < 5
            })
            .unwrap();
        if batch.is_empty() {
            break;
        }
        cookie = batch.last().unwrap().1;
        seen.extend(batch.into_iter().map(|(name, _)| name));
        if first {
            // Between reads: remove one already listed and one not yet listed, add one.
            u.root.unlink("f00").unwrap();
            u.root.unlink("f19").unwrap();
            u.root
                .create("new", &NewNode::new(FileType::Regular, 0o644, 0, 0))
                .unwrap();
            first = false;
        }
    }
    let expected: Vec<String> = (0..19)
        .map(|i| format!("f{i:02}"))
        .chain(["new".into()])
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(names(&u.root).len(), 19);
}

/// A union whose `d` is one OCI-encoded lower directory of `f00`..`f19`, a whiteout and an
/// opaque marker (which hide nothing there), under a tmpfs upper: `d` is listed straight from
/// the lower directory until it gets an upper one.
fn union_with_lone_oci_dir() -> Arc<OverlayFs> {
    let mut spec: Vec<String> = (0..20).map(|i| format!("f d/f{i:02} {i}")).collect();
    spec.extend([
        "d d".into(),
        "f d/.wh.gone".into(),
        "f d/.wh..wh..opq".into(),
    ]);
    spec.rotate_right(3);
    let spec: Vec<&str> = spec.iter().map(String::as_str).collect();
    let lower = Layer::with_encoding(tmpfs_layer(&spec), WhiteoutEncoding::Oci);
    let upper = UpperLayer::new(TmpFs::new(TmpFsOptions::default())).unwrap();
    OverlayFs::new(vec![lower], Some(upper), OverlayOptions::default()).unwrap()
}

#[test]
fn a_lone_lower_directory_is_listed_without_its_markers_with_the_inode_numbers_of_stat() {
    let fs = union_with_lone_oci_dir();
    let dir = walk(&fs.root(), "d").unwrap();
    let mut entries = Vec::new();
    dir.readdir(0, &mut |entry| {
        entries.push((String::from(entry.name), entry.ino, entry.kind));
        true
    })
    .unwrap();
    let listed: Vec<&str> = entries.iter().map(|(name, _, _)| name.as_str()).collect();
    let expected: Vec<String> = (0..20).map(|i| format!("f{i:02}")).collect();
    assert_eq!(listed, expected);
    for (name, ino, kind) in entries {
        let meta = dir.lookup(&name).unwrap().metadata().unwrap();
        assert_eq!((meta.ino, meta.kind), (ino, kind), "{name}");
    }
}

#[test]
fn a_lone_lower_directory_merged_while_listed_keeps_its_place() {
    // Listed straight from the lower directory, then changed between two reads (which gives
    // it an upper directory and a merged listing): the names listed before the change are
    // not listed again, the others that survive are listed once. As on Linux, which goes on
    // reading the lower directory it opened, the name made meanwhile is not listed then; a
    // listing from the start shows it first (the upper directory's names first).
    let fs = union_with_lone_oci_dir();
    let dir = walk(&fs.root(), "d").unwrap();
    let mut seen = Vec::new();
    let mut cookie = 0;
    let mut changed = false;
    loop {
        let mut batch = Vec::new();
        dir.readdir(cookie, &mut |entry| {
            batch.push((String::from(entry.name), entry.next_cookie));
            batch.len() < 5
        })
        .unwrap();
        let Some((_, last)) = batch.last() else {
            break;
        };
        cookie = *last;
        seen.extend(batch.into_iter().map(|(name, _)| name));
        if !changed {
            // Remove one listed and one not yet listed, copy one not yet listed up, add one.
            dir.unlink("f00").unwrap();
            dir.unlink("f19").unwrap();
            walk(&dir, "f10").unwrap().write_at(0, b"X").unwrap();
            dir.create("new", &NewNode::new(FileType::Regular, 0o644, 0, 0))
                .unwrap();
            changed = true;
        }
    }
    let expected: Vec<String> = (0..19).map(|i| format!("f{i:02}")).collect();
    assert_eq!(seen, expected);
    let mut now = Vec::new();
    dir.readdir(0, &mut |entry| {
        now.push(String::from(entry.name));
        true
    })
    .unwrap();
    let expected_now: Vec<String> = ["new".to_string()]
        .into_iter()
        .chain((1..19).map(|i| format!("f{i:02}")))
        .collect();
    assert_eq!(now, expected_now);
}

#[test]
fn readdir_inode_numbers_match_stat() {
    let u = union(&[&["d a", "f a/x 1"], &["d a", "f a/y 2", "f z 3"]]);
    walk(&u.root, "a/y").unwrap().write_at(0, b"Y").unwrap();
    for dir in ["", "a"] {
        let node = walk(&u.root, dir).unwrap();
        let mut entries = Vec::new();
        node.readdir(0, &mut |e| {
            entries.push((String::from(e.name), e.ino));
            true
        })
        .unwrap();
        for (name, ino) in entries {
            assert_eq!(
                node.lookup(&name).unwrap().metadata().unwrap().ino,
                ino,
                "{dir}/{name}"
            );
        }
    }
}

#[test]
fn oci_encoded_lower_whiteouts() {
    let lower = tmpfs_layer(&[
        "d etc",
        "f etc/.wh.config",
        "f etc/kept 1",
        "d opq",
        "f opq/.wh..wh..opq",
        "f opq/mine 1",
    ]);
    let base = tmpfs_layer(&["d etc", "f etc/config 1", "d opq", "f opq/theirs 2"]);
    let fs = OverlayFs::new(
        vec![
            Layer::with_encoding(lower, WhiteoutEncoding::Oci),
            Layer::new(base),
        ],
        None,
        OverlayOptions::default(),
    )
    .unwrap();
    let root = fs.root();
    assert_eq!(names(&walk(&root, "etc").unwrap()), ["kept"]);
    assert_eq!(walk(&root, "etc/config").err(), Some(Errno::ENOENT));
    assert_eq!(walk(&root, "etc/.wh.config").err(), Some(Errno::ENOENT));
    assert_eq!(names(&walk(&root, "opq").unwrap()), ["mine"]);
}

#[test]
fn oci_encoded_upper_works_and_reserves_names() {
    let upper = TmpFs::new(TmpFsOptions::default());
    let lower = tmpfs_layer(BASE);
    let fs = OverlayFs::new(
        vec![Layer::new(lower)],
        Some(
            UpperLayer::new(upper)
                .unwrap()
                .with_encoding(WhiteoutEncoding::Oci),
        ),
        OverlayOptions::default(),
    )
    .unwrap();
    let root = fs.root();
    let etc = walk(&root, "etc").unwrap();
    let new = NewNode::new(FileType::Regular, 0o644, 0, 0);
    assert_eq!(etc.create(".wh.x", &new).err(), Some(Errno::EINVAL));
    etc.unlink("config").unwrap();
    assert_eq!(names(&etc), ["os-release"]);
    assert!(walk(fs.upper().unwrap().upper_dir(), "etc/.wh.config").is_ok());
    root.rmdir("bin").unwrap_err();
    let bin = walk(&root, "bin").unwrap();
    bin.unlink("sh").unwrap();
    bin.unlink("link").unwrap();
    root.rmdir("bin").unwrap();
    root.create("bin", &NewNode::new(FileType::Directory, 0o755, 0, 0))
        .unwrap();
    assert!(names(&walk(&root, "bin").unwrap()).is_empty());
    etc.create("config", &new).unwrap();
    assert_eq!(read(&root, "etc/config").unwrap(), "");
    assert_eq!(names(&etc), ["config", "os-release"]);
}

#[test]
fn diff_reports_added_changed_deleted() {
    let u = union(&[BASE]);
    walk(&u.root, "etc/config")
        .unwrap()
        .write_at(0, b"q")
        .unwrap();
    walk(&u.root, "etc").unwrap().unlink("os-release").unwrap();
    u.root
        .create("app", &NewNode::new(FileType::Directory, 0o755, 0, 0))
        .unwrap();
    walk(&u.root, "app")
        .unwrap()
        .create("main", &NewNode::new(FileType::Regular, 0o644, 0, 0))
        .unwrap();
    let lines: Vec<String> =
        u.fs.diff()
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect();
    assert_eq!(
        lines,
        [
            "A /app",
            "A /app/main",
            "C /etc",
            "C /etc/config",
            "D /etc/os-release"
        ]
    );
}

#[test]
fn symlink_through_union_and_readlink() {
    let u = union(&[BASE]);
    assert_eq!(
        walk(&u.root, "bin/link").unwrap().readlink().unwrap(),
        "../etc/config"
    );
    assert_eq!(
        walk(&u.root, "bin/sh").unwrap().readlink(),
        Err(Errno::EINVAL)
    );
    u.root.symlink("s", "bin/sh", 0, 0).unwrap();
    assert_eq!(walk(&u.root, "s").unwrap().readlink().unwrap(), "bin/sh");
    let (_, _) = parent_of(&u.root, "bin/sh");
}

#[test]
fn concurrent_copy_up_of_one_file_copies_once() {
    let u = union(&[BASE]);
    let fs = u.fs.clone();
    std::thread::scope(|scope| {
        for i in 0..8u8 {
            let root = fs.root();
            scope.spawn(move || {
                let file = walk(&root, "etc/config").unwrap();
                file.write_at(12 + u64::from(i), &[b'a' + i]).unwrap();
            });
        }
        for _ in 0..4 {
            let root = fs.root();
            scope.spawn(move || {
                for _ in 0..100 {
                    let text = read(&root, "etc/config").unwrap();
                    assert!(text.starts_with(":xxx:yyy:zzz"), "{text}");
                }
            });
        }
    });
    let text = read(&u.root, "etc/config").unwrap();
    assert_eq!(&text[..12], ":xxx:yyy:zzz");
    let mut tail: Vec<u8> = text.as_bytes()[12..].to_vec();
    tail.sort();
    assert_eq!(
        tail, b"abcdefgh",
        "every writer's byte landed in the one copy"
    );
}

#[test]
fn redirect_dir_moves_merged_directories() {
    let options = OverlayOptions {
        redirect_dir: true,
        ..OverlayOptions::default()
    };
    let top = ["d bin", "f bin/top t"];
    let u = union_with_options(&[&top, BASE], TmpFs::new(TmpFsOptions::default()), options);
    let ino = meta(&u.root, "bin").ino;
    u.root
        .rename("bin", &*u.root, "sbin", RenameFlags::empty())
        .unwrap();
    assert_eq!(walk(&u.root, "bin").err(), Some(Errno::ENOENT));
    assert_eq!(
        names(&walk(&u.root, "sbin").unwrap()),
        ["link", "sh", "top"]
    );
    assert_eq!(read(&u.root, "sbin/sh").unwrap(), "shell");
    assert_eq!(
        meta(&u.root, "sbin").ino,
        ino,
        "inode number survives the move"
    );
    let stored = walk(&u.upper_root(), "sbin").unwrap();
    assert_eq!(stored.get_xattr(whiteout::REDIRECT_XATTR).unwrap(), b"/bin");
    assert!(
        walk(&u.root, "sbin")
            .unwrap()
            .list_xattr()
            .unwrap()
            .is_empty(),
        "redirect is private"
    );

    // Moved again, deeper, and over a name the lower layers hold: still the same contents.
    u.root
        .create("x", &NewNode::new(FileType::Directory, 0o755, 0, 0))
        .unwrap();
    let x = walk(&u.root, "x").unwrap();
    u.root
        .rename("sbin", &*x, "etc", RenameFlags::empty())
        .unwrap();
    assert_eq!(
        names(&walk(&u.root, "x/etc").unwrap()),
        ["link", "sh", "top"]
    );
    let etc = walk(&u.root, "etc").unwrap();
    for name in names(&etc) {
        etc.unlink(&name).unwrap();
    }
    u.root.rmdir("etc").unwrap();
    x.rename("etc", &*u.root, "etc", RenameFlags::empty())
        .unwrap();
    assert_eq!(names(&walk(&u.root, "etc").unwrap()), ["link", "sh", "top"]);

    // Removing a redirected directory works like any other.
    assert_eq!(u.root.rmdir("etc"), Err(Errno::ENOTEMPTY));
    let etc = walk(&u.root, "etc").unwrap();
    for name in names(&etc) {
        etc.unlink(&name).unwrap();
    }
    u.root.rmdir("etc").unwrap();
    assert_eq!(names(&u.root), ["x"]);
}

#[test]
fn readdir_sink_may_change_the_directory() {
    let spec: Vec<String> = (0..150).map(|i| format!("f f{i:03} {i}")).collect();
    let spec: Vec<&str> = spec.iter().map(String::as_str).collect();
    let u = union(&[&spec]);
    let root = u.root.clone();
    let mut removed = 0;
    u.root
        .readdir(0, &mut |entry| {
            root.unlink(entry.name).unwrap();
            removed += 1;
            true
        })
        .unwrap();
    assert_eq!(removed, 150);
    assert!(names(&u.root).is_empty());
}

#[test]
fn hard_link_group_outlives_its_copied_up_name() {
    // Difftest finding 4: the other names of a copied-up lower group stay linkable after the
    // name that was copied up is gone, and the index link goes with the group's last name.
    let u = union(&[&["f a shared", "h b a"]]);
    walk(&u.root, "a").unwrap().write_at(0, b"S").unwrap();
    u.root.unlink("a").unwrap();
    assert_eq!(meta(&u.root, "b").nlink, 1);
    u.root
        .rename("b", &*u.root, "c", RenameFlags::empty())
        .unwrap();
    let c = walk(&u.root, "c").unwrap();
    u.root.link("d", &*c).unwrap();
    assert_eq!(read(&u.root, "d").unwrap(), "Shared");
    assert_eq!((meta(&u.root, "c").nlink, meta(&u.root, "d").nlink), (2, 2));
    let work = u.fs.upper().unwrap().work_dir.clone();
    assert_eq!(names(&work).len(), 1, "the index link");
    u.root.unlink("c").unwrap();
    u.root.unlink("d").unwrap();
    assert!(
        names(&work).is_empty(),
        "the index link is dropped with the last name"
    );
    assert!(names(&u.root).is_empty());
}

#[test]
fn a_name_made_again_during_a_listing_is_not_listed_twice() {
    // Difftest finding 6: removed and made again between two reads, a name keeps its place.
    let u = union(&[&["f a 1", "f b 2", "f c 3"]]);
    let mut seen = Vec::new();
    let mut cookie = 0;
    u.root
        .readdir(0, &mut |entry| {
            seen.push(String::from(entry.name));
            cookie = entry.next_cookie;
            seen.len() < 2
        })
        .unwrap();
    assert_eq!(seen, ["a", "b"]);
    u.root.unlink("a").unwrap();
    u.root
        .create("a", &NewNode::new(FileType::Regular, 0o644, 0, 0))
        .unwrap();
    u.root
        .readdir(cookie, &mut |entry| {
            seen.push(String::from(entry.name));
            true
        })
        .unwrap();
    assert_eq!(seen, ["a", "b", "c"]);
    assert_eq!(
        names(&u.root),
        ["a", "b", "c"],
        "after a rewind it is there"
    );
}
