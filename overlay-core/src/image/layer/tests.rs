use alloc::{format, string::ToString, vec};

use super::*;
use crate::image::tar::tests::XorShift;
use crate::image::tar::EntryKind;
use crate::image::testtar::{header, put, put_octal, set_checksum, TarBuilder};
use crate::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer, WhiteoutEncoding};
use crate::posix::Namespace;
use crate::tmpfs::{TmpFs, TmpFsOptions};
use crate::vfs::{Credentials, DeviceId, Timespec};

fn parse(archive: Vec<u8>) -> Arc<ImageLayerFs> {
    ImageLayerFs::parse(Bytes::from_vec(archive)).unwrap()
}

fn refusal(archive: Vec<u8>) -> (Errno, &'static str) {
    let error = ImageLayerFs::parse(Bytes::from_vec(archive)).unwrap_err();
    (error.errno, error.reason)
}

fn walk(fs: &ImageLayerFs, path: &str) -> Result<Arc<dyn Inode>> {
    let mut inode = fs.root();
    for name in path.split('/').filter(|n| !n.is_empty()) {
        inode = inode.lookup(name)?;
    }
    Ok(inode)
}

fn meta(fs: &ImageLayerFs, path: &str) -> Metadata {
    walk(fs, path).unwrap().metadata().unwrap()
}

fn read_all(inode: &dyn Inode) -> Vec<u8> {
    let mut buf = vec![0; inode.metadata().unwrap().size as usize + 10];
    let count = inode.read_at(0, &mut buf).unwrap();
    buf.truncate(count);
    buf
}

fn names(dir: &dyn Inode, cookie: u64) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    dir.readdir(cookie, &mut |entry| {
        found.push((entry.name.to_string(), entry.next_cookie));
        true
    })
    .unwrap();
    found
}

fn base_layer() -> Vec<u8> {
    let mut owned = header("etc/shadow", b'0', 0o640, 7, "");
    put_octal(&mut owned[116..124], 42);
    put_octal(&mut owned[136..148], 1_600_000_000);
    set_checksum(&mut owned);
    TarBuilder::new()
        .dir("etc/")
        .file("etc/os-release", b"NAME=Base\n")
        .file("etc/config", b"debug=0\n")
        .raw(&owned, b"secret\n")
        .symlink("etc/localtime", "/usr/share/zoneinfo/UTC")
        .file_mode("bin/tool", 0o755, b"#!/bin/sh\necho tool\n")
        .hard_link("bin/alias", "bin/tool")
        .device("dev/null", b'3', 1, 3)
        .device("dev/loop0", b'4', 7, 0)
        .raw(&header("run/fifo", b'6', 0o600, 0, ""), &[])
        .dir("var/cache/")
        .file("var/cache/old", b"stale")
        .finish()
}

#[test]
fn builds_the_tree_with_implied_parents() {
    let fs = parse(base_layer());
    let root = fs.root().metadata().unwrap();
    assert_eq!(
        (root.ino, root.kind, root.mode),
        (1, FileType::Directory, 0o755)
    );
    // Implied parents: 0755 root:root, time 0.
    let bin = meta(&fs, "bin");
    assert_eq!(
        (bin.kind, bin.mode, bin.uid, bin.mtime.sec),
        (FileType::Directory, 0o755, 0, 0)
    );
    let names_at_root: Vec<String> = names(&*fs.root(), 0).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names_at_root, ["bin", "dev", "etc", "run", "var"]);
    let shadow = meta(&fs, "etc/shadow");
    assert_eq!((shadow.mode, shadow.gid, shadow.size), (0o640, 42, 7));
    assert_eq!(
        shadow.mtime,
        Timespec {
            sec: 1_600_000_000,
            nsec: 0
        }
    );
    assert_eq!((shadow.atime, shadow.ctime), (shadow.mtime, shadow.mtime));
    let null = meta(&fs, "dev/null");
    assert_eq!(
        (null.kind, null.rdev),
        (FileType::CharDevice, DeviceId { major: 1, minor: 3 })
    );
    assert_eq!(meta(&fs, "dev/loop0").kind, FileType::BlockDevice);
    assert_eq!(meta(&fs, "run/fifo").kind, FileType::Fifo);
    let localtime = walk(&fs, "etc/localtime").unwrap();
    assert_eq!(localtime.readlink().unwrap(), "/usr/share/zoneinfo/UTC");
    assert_eq!(localtime.metadata().unwrap().size, 23);
    // Link counts: directories 2 + subdirectories; hard links share one inode.
    assert_eq!(fs.root().metadata().unwrap().nlink, 7);
    assert_eq!(meta(&fs, "var").nlink, 3);
    let (tool, alias) = (meta(&fs, "bin/tool"), meta(&fs, "bin/alias"));
    assert_eq!((tool.ino, tool.nlink, alias.nlink), (alias.ino, 2, 2));
    assert_eq!(
        read_all(&*walk(&fs, "bin/alias").unwrap()),
        b"#!/bin/sh\necho tool\n"
    );
}

#[test]
fn inode_numbers_are_stable_and_listings_resume_at_cookies() {
    let fs = parse(base_layer());
    let first = meta(&fs, "etc/config").ino;
    assert_eq!(meta(&fs, "etc/config").ino, first);
    let etc = walk(&fs, "etc").unwrap();
    let all = names(&*etc, 0);
    assert_eq!(
        all.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["config", "localtime", "os-release", "shadow"]
    );
    // Resuming at each cookie gives exactly the rest.
    for (position, (_, cookie)) in all.iter().enumerate() {
        assert_eq!(names(&*etc, *cookie), all[position + 1..]);
    }
    assert!(names(&*etc, u64::MAX).is_empty());
    // The sink can stop the listing.
    let mut seen = 0;
    etc.readdir(0, &mut |_| {
        seen += 1;
        false
    })
    .unwrap();
    assert_eq!(seen, 1);
    // Entries carry the inode numbers lookup gives.
    etc.readdir(0, &mut |entry| {
        assert_eq!(
            etc.lookup(entry.name).unwrap().metadata().unwrap().ino,
            entry.ino
        );
        true
    })
    .unwrap();
}

#[test]
fn lookup_and_read_errors() {
    let fs = parse(base_layer());
    let root = fs.root();
    assert_eq!(root.lookup("nothing").err(), Some(Errno::ENOENT));
    assert_eq!(root.lookup("..").err(), Some(Errno::EINVAL));
    assert_eq!(
        root.lookup(&"x".repeat(256)).err(),
        Some(Errno::ENAMETOOLONG)
    );
    let config = walk(&fs, "etc/config").unwrap();
    assert_eq!(config.lookup("x").err(), Some(Errno::ENOTDIR));
    assert_eq!(config.readdir(0, &mut |_| true), Err(Errno::ENOTDIR));
    assert_eq!(root.read_at(0, &mut [0; 4]), Err(Errno::EISDIR));
    assert_eq!(
        walk(&fs, "dev/null").unwrap().read_at(0, &mut [0; 4]),
        Err(Errno::EINVAL)
    );
    assert_eq!(config.readlink(), Err(Errno::EINVAL));
    // Reads at and past the end, and in the middle.
    let mut buf = [0u8; 4];
    assert_eq!(config.read_at(6, &mut buf), Ok(2));
    assert_eq!(&buf[..2], b"0\n");
    assert_eq!(config.read_at(8, &mut buf), Ok(0));
    assert_eq!(config.read_at(u64::MAX, &mut buf), Ok(0));
}

#[test]
fn every_change_is_erofs() {
    let fs = parse(base_layer());
    let root = fs.root();
    let file = walk(&fs, "etc/config").unwrap();
    let node = NewNode::new(FileType::Regular, 0o644, 0, 0);
    assert_eq!(root.create("new", &node).err(), Some(Errno::EROFS));
    assert_eq!(root.symlink("s", "t", 0, 0).err(), Some(Errno::EROFS));
    assert_eq!(root.link("l", &*file), Err(Errno::EROFS));
    assert_eq!(root.unlink("etc"), Err(Errno::EROFS));
    assert_eq!(root.rmdir("etc"), Err(Errno::EROFS));
    assert_eq!(
        root.rename("etc", &*root, "etc2", RenameFlags::empty()),
        Err(Errno::EROFS)
    );
    assert_eq!(file.write_at(0, b"x"), Err(Errno::EROFS));
    assert_eq!(file.set_len(0), Err(Errno::EROFS));
    assert_eq!(file.set_attr(&SetAttr::default()), Err(Errno::EROFS));
    assert_eq!(
        file.set_xattr("user.a", b"1", XattrFlags::empty()),
        Err(Errno::EROFS)
    );
    assert_eq!(file.remove_xattr("user.a"), Err(Errno::EROFS));
    // The kind checks come first, as on Linux.
    assert_eq!(file.create("x", &node).err(), Some(Errno::ENOTDIR));
    assert_eq!(file.unlink("x"), Err(Errno::ENOTDIR));
    assert_eq!(root.write_at(0, b"x"), Err(Errno::EISDIR));
    assert_eq!(root.set_len(0), Err(Errno::EISDIR));
    let null = walk(&fs, "dev/null").unwrap();
    assert_eq!(null.write_at(0, b"x"), Err(Errno::EINVAL));
    // Opening to write: files and symlinks EROFS, directories EISDIR, devices allowed.
    assert_eq!(file.open(OpenFlags::WRITE), Err(Errno::EROFS));
    assert_eq!(
        file.open(OpenFlags::READ | OpenFlags::TRUNCATE),
        Err(Errno::EROFS)
    );
    assert_eq!(file.open(OpenFlags::READ), Ok(()));
    assert_eq!(root.open(OpenFlags::WRITE), Err(Errno::EISDIR));
    assert_eq!(null.open(OpenFlags::WRITE), Ok(()));
    assert!(fs
        .features()
        .contains(FsFeatures::READ_ONLY | FsFeatures::XATTRS));
    // Through the POSIX layer too.
    let ns = Namespace::with_filesystem(fs.clone());
    let creds = Credentials::root();
    assert_eq!(ns.mkdir(&creds, "/new", 0o755), Err(Errno::EROFS));
    assert_eq!(
        ns.open(&creds, "/etc/config", OpenFlags::WRITE, 0).err(),
        Some(Errno::EROFS)
    );
}

#[test]
fn xattrs_come_from_pax_records() {
    let archive = TarBuilder::new()
        .pax(&[
            ("SCHILY.xattr.user.mime", b"text/plain"),
            ("SCHILY.xattr.security.capability", &[1, 0, 0, 2]),
        ])
        .file("f", b"")
        .finish();
    let fs = parse(archive);
    let file = walk(&fs, "f").unwrap();
    assert_eq!(
        file.list_xattr().unwrap(),
        ["security.capability", "user.mime"]
    );
    assert_eq!(file.get_xattr("user.mime").unwrap(), b"text/plain");
    assert_eq!(file.get_xattr("user.other"), Err(Errno::ENODATA));
    assert!(fs.root().list_xattr().unwrap().is_empty());
}

#[test]
fn file_data_is_served_from_the_source_buffer() {
    let bytes = Bytes::from_vec(base_layer());
    let fs = ImageLayerFs::parse(bytes.clone()).unwrap();
    let source = bytes.as_slice().as_ptr_range();
    for path in ["etc/config", "etc/shadow", "bin/tool"] {
        let inode = walk(&fs, path).unwrap();
        let image_inode = inode.as_any().downcast_ref::<ImageInode>().unwrap();
        let data = image_inode.data().unwrap();
        let range = data.as_ptr_range();
        assert!(
            source.start <= range.start && range.end <= source.end,
            "{path}"
        );
        assert_eq!(data, read_all(&*inode));
        assert!(image_inode.data_bytes().unwrap().same_buffer(&bytes));
    }
    assert!(fs.bytes().same_buffer(&bytes));
    let root = fs.root_inode();
    assert!(root.data().is_none());
}

#[test]
fn later_entries_replace_earlier_ones() {
    let archive = TarBuilder::new()
        .file("f", b"first")
        .file("f", b"second")
        .dir("d/")
        .file("d/inside", b"kept")
        .raw(&header("d/", b'5', 0o700, 0, ""), &[])
        .dir("gone/")
        .file("gone/child", b"x")
        .file("gone", b"now a file")
        .file("was-file", b"x")
        .dir("was-file/")
        .file("linked", b"old")
        .hard_link("other-name", "linked")
        .file("linked", b"new")
        .finish();
    let fs = parse(archive);
    assert_eq!(read_all(&*walk(&fs, "f").unwrap()), b"second");
    // A directory over a directory: new metadata, contents kept.
    assert_eq!(meta(&fs, "d").mode, 0o700);
    assert_eq!(read_all(&*walk(&fs, "d/inside").unwrap()), b"kept");
    // A file over a directory replaces it and all it held.
    assert_eq!(read_all(&*walk(&fs, "gone").unwrap()), b"now a file");
    assert_eq!(meta(&fs, "was-file").kind, FileType::Directory);
    // The other name of a replaced file keeps the old file, as after `tar -x`.
    assert_eq!(read_all(&*walk(&fs, "other-name").unwrap()), b"old");
    assert_eq!(read_all(&*walk(&fs, "linked").unwrap()), b"new");
    assert_eq!(
        (meta(&fs, "linked").nlink, meta(&fs, "other-name").nlink),
        (1, 1)
    );
    // Replaced nodes are gone: inode numbers are dense and the figures count what is left.
    let stats = fs.stats();
    assert_eq!((stats.files, stats.directories), (5, 3));
    assert_eq!(fs.statfs().unwrap().files, 8);
}

#[test]
fn root_entry_sets_root_metadata() {
    let fs = parse(
        TarBuilder::new()
            .raw(&header("./", b'5', 0o700, 0, ""), &[])
            .finish(),
    );
    assert_eq!(fs.root().metadata().unwrap().mode, 0o700);
    assert_eq!(
        refusal(TarBuilder::new().file("./", b"").finish()),
        (Errno::EINVAL, "the root is not a directory")
    );
}

#[test]
fn inconsistent_trees_are_refused() {
    assert_eq!(
        refusal(TarBuilder::new().file("a", b"").file("a/b", b"").finish()),
        (Errno::EINVAL, "a parent is not a directory")
    );
    assert_eq!(
        refusal(
            TarBuilder::new()
                .symlink("a", "/etc")
                .file("a/passwd", b"")
                .finish()
        ),
        (Errno::EINVAL, "a parent is not a directory")
    );
    assert_eq!(
        refusal(TarBuilder::new().hard_link("a", "missing").finish()),
        (Errno::EINVAL, "hard link to a missing entry")
    );
    assert_eq!(
        refusal(TarBuilder::new().dir("d/").hard_link("a", "d").finish()),
        (Errno::EINVAL, "hard link to a directory")
    );
    let error = ImageLayerFs::parse(Bytes::from_vec(
        TarBuilder::new()
            .file("ok", b"")
            .hard_link("a", "missing")
            .finish(),
    ))
    .unwrap_err();
    assert_eq!(error.offset, 512);
}

#[test]
fn whiteouts_are_entries_and_figures_count_them() {
    let archive = TarBuilder::new()
        .file("etc/.wh.config", b"")
        .file("var/.wh..wh..opq", b"")
        .file("var/new", b"12345")
        .symlink("lnk", "var/new")
        .finish();
    let fs = parse(archive);
    assert_eq!(meta(&fs, "etc/.wh.config").kind, FileType::Regular);
    assert_eq!(meta(&fs, "var/.wh..wh..opq").kind, FileType::Regular);
    assert_eq!(
        fs.stats(),
        LayerStats {
            files: 1,
            directories: 3,
            symlinks: 1,
            special_files: 0,
            whiteouts: 1,
            opaque_dirs: 1,
            data_bytes: 5,
        }
    );
    let base = parse(base_layer()).stats();
    assert_eq!((base.files, base.special_files, base.symlinks), (5, 3, 1));
    assert_eq!(base.data_bytes, 10 + 8 + 7 + 20 + 5);
}

/// A base layer and an application layer that changes a base file, deletes another (a
/// whiteout), replaces a directory (opaque) and adds its own files.
fn app_layer() -> Vec<u8> {
    TarBuilder::new()
        .file("etc/config", b"debug=1\n")
        .file("etc/.wh.os-release", b"")
        .dir("var/cache/")
        .file("var/cache/.wh..wh..opq", b"")
        .file("var/cache/fresh", b"new")
        .file("app/main", b"app\n")
        .finish()
}

fn container(lowers: &[&Arc<ImageLayerFs>]) -> (Arc<OverlayFs>, Namespace) {
    let layers = lowers
        .iter()
        .map(|fs| Layer::with_encoding((*fs).clone(), WhiteoutEncoding::Oci))
        .collect();
    let upper = UpperLayer::new(TmpFs::new(TmpFsOptions::default())).unwrap();
    let union = OverlayFs::new(layers, Some(upper), OverlayOptions::default()).unwrap();
    let ns = Namespace::with_filesystem(union.clone());
    (union, ns)
}

fn cat(ns: &Namespace, path: &str) -> Result<Vec<u8>> {
    let file = ns.open(&Credentials::root(), path, OpenFlags::READ, 0)?;
    let mut buf = vec![0; 256];
    let count = file.pread(0, &mut buf)?;
    buf.truncate(count);
    Ok(buf)
}

fn ls(ns: &Namespace, path: &str) -> Vec<String> {
    let mut names: Vec<String> = ns
        .read_dir(&Credentials::root(), path)
        .unwrap()
        .into_iter()
        .map(|entry| String::from(&*entry.name))
        .collect();
    names.sort();
    names
}

#[test]
fn layers_stack_in_an_overlay() {
    let base = parse(base_layer());
    let app = parse(app_layer());
    let (union, ns) = container(&[&app, &base]);
    let root = Credentials::root();
    // The app layer's change wins; its whiteout deletes the base file and is never shown.
    assert_eq!(cat(&ns, "/etc/config").unwrap(), b"debug=1\n");
    assert_eq!(ns.stat(&root, "/etc/os-release").err(), Some(Errno::ENOENT));
    assert_eq!(ls(&ns, "/etc"), ["config", "localtime", "shadow"]);
    // The opaque directory hides the base's contents.
    assert_eq!(ls(&ns, "/var/cache"), ["fresh"]);
    assert_eq!(ls(&ns, "/"), ["app", "bin", "dev", "etc", "run", "var"]);
    assert_eq!(cat(&ns, "/bin/alias").unwrap(), b"#!/bin/sh\necho tool\n");
    // A write copies up; the layer's bytes stay as they were.
    let file = ns.open(&root, "/bin/tool", OpenFlags::WRITE, 0).unwrap();
    file.pwrite(0, b"#!/bin/zz").unwrap();
    assert_eq!(&cat(&ns, "/bin/tool").unwrap()[..9], b"#!/bin/zz");
    assert_eq!(
        read_all(&*walk(&base, "bin/tool").unwrap()),
        b"#!/bin/sh\necho tool\n"
    );
    ns.unlink(&root, "/etc/shadow").unwrap();
    let changes: Vec<String> = union
        .diff()
        .unwrap()
        .iter()
        .map(|c| format!("{} {}", c.kind.letter(), c.path))
        .collect();
    assert_eq!(
        changes,
        ["C /bin", "C /bin/tool", "C /etc", "D /etc/shadow"]
    );
    // The same layer objects serve a second container, which sees none of that.
    let (_, other) = container(&[&app, &base]);
    assert_eq!(cat(&other, "/bin/tool").unwrap(), b"#!/bin/sh\necho tool\n");
    assert!(other.stat(&root, "/etc/shadow").is_ok());
}

#[test]
fn every_truncation_of_a_layer_is_refused_or_whole() {
    let archive = app_layer();
    let whole = parse(archive.clone()).stats();
    for length in 0..archive.len() {
        let bytes = Bytes::from_vec(archive[..length].to_vec());
        if let Ok(fs) = ImageLayerFs::parse(bytes) {
            assert_eq!(fs.stats(), whole, "cut at {length}");
        }
    }
}

#[test]
fn random_layers_never_panic() {
    let mut random = XorShift(7);
    let archive = base_layer();
    for round in 0..1500 {
        let mut damaged = archive.clone();
        for _ in 0..1 + random.below(3) {
            let at = random.below(damaged.len());
            damaged[at] = random.next() as u8;
        }
        if round % 2 == 0 {
            for block in damaged.chunks_exact_mut(512) {
                if block[257..262] == *b"ustar" {
                    let block: &mut [u8; 512] = block.try_into().unwrap();
                    set_checksum(block);
                }
            }
        }
        if let Ok(fs) = ImageLayerFs::parse(Bytes::from_vec(damaged)) {
            // Whatever parsed must be walkable.
            fn visit(dir: &dyn Inode, depth: usize) {
                assert!(depth < 64);
                let mut children = Vec::new();
                dir.readdir(0, &mut |e| {
                    children.push(e.name.to_string());
                    true
                })
                .unwrap();
                for name in children {
                    let child = dir.lookup(&name).unwrap();
                    if child.metadata().unwrap().kind.is_dir() {
                        visit(&*child, depth + 1);
                    } else {
                        let _ = child.read_at(0, &mut [0; 64]);
                    }
                }
            }
            visit(&*fs.root(), 0);
        }
    }
}

#[test]
fn listings_hand_out_the_layers_names_one_after_the_other() {
    let layer = parse(base_layer());
    let etc = walk(&layer, "etc").unwrap();
    let mut listed = Vec::new();
    let mut previous_end = None;
    etc.readdir(0, &mut |entry| {
        // Each name follows the one before: the directory's names are one run of text.
        let start = entry.name.as_ptr() as usize;
        assert!(
            previous_end.is_none_or(|end| end == start),
            "{}",
            entry.name
        );
        previous_end = Some(start + entry.name.len());
        assert!(entry.shared_name.is_none(), "{}", entry.name);
        listed.push(entry.name.to_string());
        true
    })
    .unwrap();
    assert_eq!(listed, ["config", "localtime", "os-release", "shadow"]);
    // A union's listing of the directory holds the same names.
    let (union, _ns) = container(&[&layer]);
    let mut through = Vec::new();
    union
        .root()
        .lookup("etc")
        .unwrap()
        .readdir(0, &mut |entry| {
            through.push(entry.name.to_string());
            true
        })
        .unwrap();
    assert_eq!(through, listed);
}

#[test]
fn lookups_make_inodes_and_the_tree_goes_with_the_last_one() {
    let fs = parse(base_layer());
    let first = walk(&fs, "etc/os-release").unwrap();
    let again = walk(&fs, "etc/os-release").unwrap();
    assert_eq!(
        first.metadata().unwrap().ino,
        again.metadata().unwrap().ino,
        "one inode number per entry"
    );
    let tree = Arc::downgrade(&fs.tree);
    let etc = walk(&fs, "etc").unwrap();
    drop((fs, first, again));
    // What is still held works on, and holds the tree.
    let config = etc.lookup("config").unwrap();
    assert_eq!(read_all(&*config), b"debug=0\n");
    assert!(tree.upgrade().is_some());
    drop((etc, config));
    assert!(
        tree.upgrade().is_none(),
        "the tree went with its last inode"
    );
}

/// A layer tar of `entries` (path, kind), files empty.
fn layer_of(entries: &[(&str, EntryKind)]) -> Arc<ImageLayerFs> {
    let mut tar = crate::image::TarWriter::new();
    for (path, kind) in entries {
        let entry = crate::image::NewEntry::new(path, kind.clone(), 0o644);
        tar.append(&entry, b"").unwrap();
    }
    parse(tar.finish().unwrap())
}

#[test]
fn a_character_device_0_0_is_a_whiteout_as_docker_shows_it() {
    let whiteout = || EntryKind::CharDevice(DeviceId::default());
    let base = layer_of(&[
        ("etc/x", EntryKind::Regular),
        ("etc/d/in", EntryKind::Regular),
        ("etc/keep", EntryKind::Regular),
        ("etc/again", EntryKind::Directory),
        ("etc/again/old", EntryKind::Regular),
        ("dev", EntryKind::Regular),
        ("etc/linked", EntryKind::Regular),
        ("etc/null", EntryKind::Regular),
    ]);
    let top = layer_of(&[
        ("etc/x", whiteout()),
        ("etc/d", whiteout()),
        // A later entry of the name replaces the device, whiteout and all.
        ("etc/keep", whiteout()),
        ("etc/keep", EntryKind::Regular),
        ("etc/again", whiteout()),
        ("etc/again/new", EntryKind::Regular),
        // A hard link to the device is one more whiteout.
        (
            "etc/linked",
            EntryKind::HardLink {
                target: String::from("etc/x"),
            },
        ),
        // A `.wh.` name is already a whiteout: it stays as it is.
        (".wh.dev", whiteout()),
        // Other devices are devices.
        (
            "etc/null",
            EntryKind::CharDevice(DeviceId { major: 1, minor: 3 }),
        ),
    ]);
    assert_eq!(
        names(&*walk(&top, "etc").unwrap(), 0)
            .into_iter()
            .map(|(name, _)| name)
            .collect::<Vec<_>>(),
        [".wh.d", ".wh.linked", ".wh.x", "again", "keep", "null"]
    );
    assert_eq!(meta(&top, ".wh.dev").kind, FileType::CharDevice);
    assert_eq!(top.stats().whiteouts, 3);
    let (union, ns) = container(&[&top, &base]);
    let root = Credentials::root();
    for gone in ["/etc/x", "/etc/d", "/etc/linked", "/dev"] {
        assert_eq!(ns.lstat(&root, gone).err(), Some(Errno::ENOENT), "{gone}");
    }
    assert_eq!(ls(&ns, "/etc"), ["again", "keep", "null"]);
    assert_eq!(ls(&ns, "/etc/again"), ["new", "old"]);
    assert_eq!(
        ns.lstat(&root, "/etc/null").unwrap().rdev,
        DeviceId { major: 1, minor: 3 }
    );
    // Nothing a change copies up can turn into a deletion: the names are simply absent.
    assert_eq!(ns.chmod(&root, "/etc/x", 0o600).err(), Some(Errno::ENOENT));
    ns.chmod(&root, "/etc/null", 0o600).unwrap();
    assert_eq!(
        ns.lstat(&root, "/etc/null").unwrap().kind,
        FileType::CharDevice
    );
    assert!(union
        .diff()
        .unwrap()
        .iter()
        .all(|c| c.kind != crate::overlay::ChangeKind::Deleted));
    // A whiteout name no lookup could find is refused.
    let long = format!("etc/{}", "n".repeat(252));
    let mut tar = crate::image::TarWriter::new();
    tar.append(&crate::image::NewEntry::new(&long, whiteout(), 0), b"")
        .unwrap();
    assert_eq!(refusal(tar.finish().unwrap()).0, Errno::EINVAL);
}

#[test]
fn names_are_read_in_place_however_the_archive_writes_them() {
    let deep = format!("{}/{}", "p".repeat(120), "inner");
    // A ustar header with a `prefix` field: the name is `prefix/name`.
    let mut prefixed = header("file", b'0', 0o644, 2, "");
    put(&mut prefixed[345..500], b"./split//dir/");
    set_checksum(&mut prefixed);
    let archive = TarBuilder::new()
        .raw(&prefixed, b"ok")
        .pax(&[("path", format!("./pax//{deep}/./x").as_bytes())])
        .file("ignored-by-pax", b"pax")
        .gnu_long_name(&format!("gnu/{deep}/y"))
        .file("ignored-by-gnu", b"gnu")
        .symlink("link", "split/dir/file")
        .finish();
    let fs = parse(archive);
    for (path, data) in [
        ("split/dir/file", &b"ok"[..]),
        (&format!("pax/{deep}/x"), b"pax"),
        (&format!("gnu/{deep}/y"), b"gnu"),
        ("link", b""),
    ] {
        let inode = walk(&fs, path).unwrap_or_else(|e| panic!("{path}: {e}"));
        if !data.is_empty() {
            assert_eq!(read_all(&*inode), data, "{path}");
        }
    }
    assert_eq!(
        walk(&fs, "link").unwrap().readlink().unwrap(),
        "split/dir/file"
    );
    // Every entry is listed, and the names' bytes are what the tree keeps of them.
    let mut stack = vec![fs.root()];
    let (mut seen, mut name_bytes) = (0, 0);
    while let Some(dir) = stack.pop() {
        dir.readdir(0, &mut |entry| {
            seen += 1;
            name_bytes += entry.name.len() as u64;
            true
        })
        .unwrap();
        let mut names = Vec::new();
        dir.readdir(0, &mut |entry| {
            if entry.kind == FileType::Directory {
                names.push(entry.name.to_string());
            }
            true
        })
        .unwrap();
        for name in names {
            stack.push(dir.lookup(&name).unwrap());
        }
    }
    assert_eq!(seen as u64 + 1, fs.entries());
    assert_eq!(name_bytes, fs.name_bytes());
}
