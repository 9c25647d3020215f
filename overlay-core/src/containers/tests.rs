use alloc::{string::String, sync::Arc, vec, vec::Vec};

use super::*;
use crate::image::testlayout::{self, app_layer, base_layer};
use crate::image::{sha256_digest, EntryKind, ImageLayerFs, TarReader};
use crate::overlay::{Layer, WhiteoutEncoding};
use crate::posix::Namespace;
use crate::scenarios::fixture::build_layer;
use crate::shell::{ContainerEngine, Shell};
use crate::vfs::{Credentials, FileSystem, OpenFlags, RenameFlags};

fn manager() -> Arc<ContainerManager> {
    let store = ImageStore::from_ramdisk(Bytes::from_vec(testlayout::two_services())).unwrap();
    ContainerManager::new(store, ContainerOptions::default())
}

/// Runs `script` in a shell in container `container`, returning what it printed.
fn shell(manager: &Arc<ContainerManager>, container: &str, script: &str) -> String {
    let mut shell = Shell::with_engine(manager.clone(), container).unwrap();
    let mut out = String::new();
    shell.run_script(script, &mut out).unwrap();
    out
}

fn cat(union: &Arc<OverlayFs>, path: &str) -> core::result::Result<String, Errno> {
    let ns = Namespace::with_filesystem(union.clone());
    let file = ns.open(&Credentials::root(), path, OpenFlags::READ, 0)?;
    let mut buf = vec![0; 4096];
    let count = file.pread(0, &mut buf)?;
    buf.truncate(count);
    Ok(String::from_utf8(buf).unwrap())
}

fn diff(union: &OverlayFs) -> Vec<String> {
    union
        .diff()
        .unwrap()
        .iter()
        .map(|change| alloc::format!("{} {}", change.kind.letter(), change.path))
        .collect()
}

#[test]
fn containers_of_two_images_stack_the_same_layer_objects() {
    let manager = manager();
    let a1 = manager.run("svc-a", "a1").unwrap();
    let a2 = manager.run("svc-a", "a2").unwrap();
    let b1 = manager.run("svc-b", "b1").unwrap();
    // Base and runtime (lowers 2 and 1, top first) are one object in all three.
    for union in [&a2, &b1] {
        for lower in [1, 2] {
            assert!(Arc::ptr_eq(
                a1.lowers()[lower].filesystem(),
                union.lowers()[lower].filesystem()
            ));
        }
    }
    assert!(Arc::ptr_eq(
        a1.lowers()[0].filesystem(),
        a2.lowers()[0].filesystem()
    ));
    assert!(!Arc::ptr_eq(
        a1.lowers()[0].filesystem(),
        b1.lowers()[0].filesystem()
    ));
    // ... and the store's own object: nothing was loaded twice.
    manager.with_store(|store| {
        let base = store.layer(&sha256_digest(&base_layer())).unwrap();
        let fs: Arc<dyn FileSystem> = base.fs.clone();
        assert!(Arc::ptr_eq(&fs, a1.lowers()[2].filesystem()));
    });
    assert_eq!(manager.run("svc-a", "a1").err(), Some(Errno::EEXIST));
    assert_eq!(manager.run("nope", "x").err(), Some(Errno::ENOENT));
    assert_eq!(manager.run("svc-a", "bad name").err(), Some(Errno::EINVAL));
    let names: Vec<String> = manager.containers().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["a1", "a2", "b1"]);
}

#[test]
fn a_change_in_one_container_is_invisible_to_the_others_and_the_image() {
    let manager = manager();
    let a1 = manager.run("svc-a", "a1").unwrap();
    let a2 = manager.run("svc-a", "a2").unwrap();
    let b1 = manager.run("svc-b", "b1").unwrap();
    let out = shell(
        &manager,
        "a1",
        "write /etc/os-release changed\nrm /etc/motd\ndiff",
    );
    assert_eq!(out, "C /etc\nD /etc/motd\nC /etc/os-release\n");
    assert_eq!(cat(&a1, "/etc/os-release").unwrap(), "changed");
    for other in [&a2, &b1] {
        assert_eq!(cat(other, "/etc/os-release").unwrap(), "NAME=Base\n");
        assert_eq!(cat(other, "/etc/motd").unwrap(), "welcome\n");
        assert!(diff(other).is_empty());
    }
    let fresh = manager.run("svc-a", "fresh").unwrap();
    assert_eq!(cat(&fresh, "/etc/os-release").unwrap(), "NAME=Base\n");
    assert!(manager.containers()[0].upper_bytes > 0);
    assert_eq!(manager.containers()[1].upper_bytes, 0);
}

#[test]
fn commit_then_run_shows_every_change_deletions_included() {
    let manager = manager();
    manager.run("svc-a", "a1").unwrap();
    let script = "\
write /etc/config changed\n\
rm /etc/motd\n\
rmdir /var/cache/base/index\n\
rm /var/cache/base/index\n\
rmdir /var/cache/base\n\
mkdir /var/cache/base\n\
write /var/cache/base/new fresh\n\
mkdir /data\n\
write /data/note hello\n\
ln /data/note /data/note2\n\
ln -s ../etc/config /data/link\n\
mknod /data/fifo p\n\
mknod /data/dev c 1 3\n\
chmod 0600 /data/note\n\
chown 7:8 /data/note\n\
setxattr /data/note user.tag v1\n\
setxattr /data trusted.overlay.opaque y\n\
diff";
    let out = shell(&manager, "a1", script);
    assert!(
        out.starts_with("error: ENOTDIR: rmdir /var/cache/base/index\n"),
        "{out}"
    );
    let tree_before = shell(&manager, "a1", "tree");

    let commit = manager.commit("a1", "svc-a:2").unwrap();
    assert!(!commit.shared);
    assert_eq!(commit.image, "svc-a:2");
    // The container goes on over the new image: same view, nothing left in its upper.
    let a1 = manager.container("a1").unwrap();
    assert!(diff(&a1).is_empty());
    assert_eq!(a1.lowers().len(), 4);
    assert_eq!(shell(&manager, "a1", "tree"), tree_before);
    assert_eq!(manager.containers()[0].image, "svc-a:2");

    // A new container of the new image shows the same tree (deletions, the opaque
    // directory, links, devices, owners, modes, xattrs), read from the committed layer.
    let a2 = manager.run("svc-a:2", "a2").unwrap();
    assert!(Arc::ptr_eq(
        a1.lowers()[0].filesystem(),
        a2.lowers()[0].filesystem()
    ));
    assert_eq!(shell(&manager, "a2", "tree"), tree_before);
    let out = shell(
        &manager,
        "a2",
        "cat /etc/motd\nls /var/cache/base\nstat /data/note\ngetxattr /data/note user.tag\n\
         getxattr /data trusted.overlay.opaque\nls /data\nreadlink /data/link\nstat /etc/config",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "error: ENOENT: cat /etc/motd");
    assert_eq!(lines[1], "new");
    assert!(lines[2].starts_with("f 0600 7:8 size=5 nlink=2 "), "{out}");
    assert!(lines[2].ends_with(" layer=lower:0 /data/note"), "{out}");
    assert_eq!(lines[3], "v1");
    assert_eq!(lines[4], "y");
    assert_eq!(lines[5..10], ["dev", "fifo", "link", "note", "note2"]);
    assert_eq!(lines[10], "../etc/config");
    assert!(lines[11].ends_with(" layer=lower:0 /etc/config"), "{out}");
    // The original image did not change.
    let a3 = manager.run("svc-a", "a3").unwrap();
    assert_eq!(cat(&a3, "/etc/motd").unwrap(), "welcome\n");
    assert_eq!(cat(&a3, "/var/cache/base/index").unwrap(), "base cache\n");
    // History: the commit on top of the image's steps.
    let history = ContainerEngine::history(&*manager, "svc-a:2").unwrap();
    assert_eq!(history[0].created_by, "commit a1");
    assert_eq!(history[0].layer.as_deref(), Some(commit.layer.as_str()));
    assert_eq!(history[0].size_bytes, commit.size);
    assert_eq!(history.len(), 4);
}

#[test]
fn the_committed_layer_is_an_oci_layer_tar() {
    let manager = manager();
    manager.run("svc-a", "a1").unwrap();
    shell(
        &manager,
        "a1",
        "rm /etc/motd\nrmdir /var/cache/base/index\nrm /var/cache/base/index\n\
         rmdir /var/cache/base\nmkdir /var/cache/base\nwrite /app/new x",
    );
    let union = manager.container("a1").unwrap();
    let tar = freeze(&union).unwrap();
    let entries: Vec<(String, EntryKind)> = TarReader::new(&tar)
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.path, entry.kind)
        })
        .collect();
    let paths: Vec<&str> = entries.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "",
            "app",
            "app/new",
            "etc",
            "etc/.wh.motd",
            "var",
            "var/cache",
            "var/cache/base",
            "var/cache/base/.wh..wh..opq",
        ]
    );
    assert_eq!(entries[4].1, EntryKind::Regular);
    let layer = ImageLayerFs::parse(Bytes::from_vec(tar)).unwrap();
    let stats = layer.stats();
    assert_eq!((stats.whiteouts, stats.opaque_dirs, stats.files), (1, 1, 1));
}

#[test]
fn an_upper_with_oci_whiteouts_is_written_as_it_is() {
    let lower = build_layer(&["d etc", "f etc/motd hi", "f etc/config x"]).unwrap();
    let upper_fs = TmpFs::new(TmpFsOptions::default());
    let upper = UpperLayer::new(upper_fs)
        .unwrap()
        .with_encoding(WhiteoutEncoding::Oci);
    let union = OverlayFs::new(
        vec![Layer::new(lower)],
        Some(upper),
        OverlayOptions::default(),
    )
    .unwrap();
    let ns = Namespace::with_filesystem(union.clone());
    let root = Credentials::root();
    ns.unlink(&root, "/etc/motd").unwrap();
    let tar = freeze(&union).unwrap();
    let paths: Vec<String> = TarReader::new(&tar).map(|e| e.unwrap().path).collect();
    assert_eq!(paths, ["", "etc", "etc/.wh.motd"]);
}

#[test]
fn a_redirected_directory_cannot_be_frozen() {
    let lower = build_layer(&["d dir", "f dir/file x"]).unwrap();
    let upper = UpperLayer::new(TmpFs::new(TmpFsOptions::default())).unwrap();
    let options = OverlayOptions {
        redirect_dir: true,
        ..OverlayOptions::default()
    };
    let union = OverlayFs::new(vec![Layer::new(lower)], Some(upper), options).unwrap();
    let ns = Namespace::with_filesystem(union.clone());
    ns.rename(&Credentials::root(), "/dir", "/moved", RenameFlags::empty())
        .unwrap();
    let error = freeze(&union).unwrap_err();
    assert_eq!(error.errno, Errno::ENOTSUP);
    assert_eq!(error.path.as_deref(), Some("/moved"));
}

#[test]
fn failed_commits_change_nothing() {
    let manager = manager();
    manager.run("svc-a", "a1").unwrap();
    shell(&manager, "a1", "write /x 1");
    let before = manager.usage();
    assert_eq!(
        manager.commit("a1", "svc-b").err(),
        Some(Errno::EEXIST.into())
    );
    assert_eq!(
        manager.commit("nope", "new").err(),
        Some(Errno::ENOENT.into())
    );
    assert_eq!(
        manager.commit("a1", "bad name").err(),
        Some(Errno::EINVAL.into())
    );
    assert_eq!(manager.usage(), before);
    assert_eq!(diff(&manager.container("a1").unwrap()), ["A /x"]);
}

#[test]
fn identical_commits_share_one_layer() {
    let manager = manager();
    manager.run("java:8", "j1").unwrap();
    manager.run("java:8", "j2").unwrap();
    let first = manager.commit("j1", "java:8-empty").unwrap();
    let second = manager.commit("j2", "java:8-empty2").unwrap();
    assert_eq!(first.layer, second.layer);
    assert!(!first.shared && second.shared);
    let usage = manager.usage();
    assert_eq!(usage.layers, 5);
    assert!(Arc::ptr_eq(
        manager.container("j1").unwrap().lowers()[0].filesystem(),
        manager.container("j2").unwrap().lowers()[0].filesystem()
    ));
}

#[test]
fn rmi_keeps_layers_other_images_or_containers_use() {
    let manager = manager();
    manager.run("svc-a", "a1").unwrap();
    shell(&manager, "a1", "write /x 1");
    let commit = manager.commit("a1", "svc-a:2").unwrap();
    let before = manager.usage();
    assert_eq!(before.layers, 5);

    // svc-a:2's new layer is used by the container a1; the rest by svc-a.
    let removal = manager.remove_image("svc-a:2").unwrap();
    assert!(removal.deleted.is_empty());
    assert_eq!(removal.kept[0].digest, commit.layer);
    assert_eq!(removal.kept[0].containers, ["a1"]);
    assert_eq!(removal.kept[1].images, ["svc-a"]);
    assert_eq!(manager.usage().unused_bytes, commit.size);
    assert_eq!(cat(&manager.container("a1").unwrap(), "/x").unwrap(), "1");

    // svc-b's own layer goes; the base layers stay with svc-a and java:8.
    let removal = manager.remove_image("svc-b").unwrap();
    assert_eq!(removal.deleted.len(), 1);
    assert_eq!(removal.deleted[0].0, sha256_digest(&app_layer("b")));
    assert_eq!(removal.kept.len(), 2);
    let usage = manager.usage();
    assert_eq!(usage.reclaimed_layers, 1);
    assert_eq!(usage.reclaimed_bytes, app_layer("b").len() as u64);
    assert_eq!(
        usage.stored_bytes,
        before.stored_bytes - usage.reclaimed_bytes
    );

    // Once its last container goes, the committed layer goes too.
    assert_eq!(
        manager.remove_container("a1").unwrap(),
        [(commit.layer, commit.size)]
    );
    assert_eq!(manager.usage().reclaimed_layers, 2);
    assert_eq!(manager.remove_container("a1").err(), Some(Errno::ENOENT));
    assert_eq!(manager.remove_image("svc-b").err(), Some(Errno::ENOENT));
}

#[test]
fn upper_capacity_applies_to_every_container() {
    let store = ImageStore::from_ramdisk(Bytes::from_vec(testlayout::two_services())).unwrap();
    let manager = ContainerManager::new(
        store,
        ContainerOptions {
            upper_capacity_bytes: Some(8192),
        },
    );
    manager.run("svc-a", "a1").unwrap();
    let out = shell(&manager, "a1", "write /a x\nwrite /b y\nwrite /c z");
    assert_eq!(out, "error: ENOSPC: write /c z\n");
    // Writes of 4 KiB pages: the first two fit, the third does not.
    assert_eq!(manager.containers()[0].upper_bytes, 8192);
}

/// A manager of one image `img` whose one layer is the tar of `entries`.
fn manager_of(entries: &[(&str, EntryKind, &[u8])]) -> Arc<ContainerManager> {
    let mut tar = crate::image::TarWriter::new();
    for (path, kind, data) in entries {
        let mode = if *kind == EntryKind::Directory {
            0o711
        } else {
            0o644
        };
        let entry = crate::image::NewEntry::new(path, kind.clone(), mode);
        tar.append(&entry, data).unwrap();
    }
    let layer =
        StoredLayer::parse(Bytes::from_vec(tar.finish().unwrap()), LayerSource::RamDisk).unwrap();
    let mut store = ImageStore::new();
    let image = StoredImage {
        name: String::from("img"),
        layers: vec![layer.digest.clone()],
        history: vec![HistoryStep {
            layer: Some(layer.digest.clone()),
            ..HistoryStep::default()
        }],
        config: RuntimeConfig::default(),
        manifest_digest: None,
    };
    store.add_image(image, vec![layer]).unwrap();
    ContainerManager::new(store, ContainerOptions::default())
}

fn link(target: &str) -> EntryKind {
    EntryKind::HardLink {
        target: String::from(target),
    }
}

#[test]
fn names_oci_reserves_fail_the_commit_with_their_path_and_nothing_changes() {
    let manager = manager_of(&[
        ("etc", EntryKind::Directory, b""),
        ("etc/hostname", EntryKind::Regular, b"box\n"),
    ]);
    manager.run("img", "c").unwrap();
    for (name, reason) in [
        (".wh.hostname", "delete"),
        (".wh..wh..opq", "empty its directory"),
    ] {
        let out = shell(&manager, "c", &alloc::format!("write /etc/{name} x"));
        assert_eq!(out, "");
        let before = (manager.images(), manager.usage());
        let error = manager.commit("c", "img:2").unwrap_err();
        assert_eq!(error.errno, Errno::EINVAL);
        let path = alloc::format!("/etc/{name}");
        assert_eq!(error.path.as_deref(), Some(path.as_str()));
        assert!(error.reason.unwrap().contains(reason), "{error}");
        assert!(alloc::format!("{error}").starts_with(&alloc::format!("EINVAL: {path}: ")));
        assert_eq!((manager.images(), manager.usage()), before);
        assert_eq!(
            cat(&manager.container("c").unwrap(), "/etc/hostname").unwrap(),
            "box\n"
        );
        // Once the name is gone, the commit goes through and keeps what the container shows.
        shell(&manager, "c", &alloc::format!("rm /etc/{name}"));
    }
    let tree = shell(&manager, "c", "tree");
    manager.commit("c", "img:2").unwrap();
    manager.run("img:2", "d").unwrap();
    assert_eq!(shell(&manager, "d", "tree"), tree);
}

#[test]
fn xattrs_a_tar_entry_cannot_hold_fail_the_commit_naming_the_file() {
    let manager = manager_of(&[("f", EntryKind::Regular, b"x")]);
    let union = manager.run("img", "c").unwrap();
    let ns = Namespace::with_filesystem(union);
    let value = vec![b'v'; 60_000];
    for n in 0..20 {
        let name = alloc::format!("user.big{n}");
        ns.set_xattr(
            &Credentials::root(),
            "/f",
            &name,
            &value,
            crate::vfs::XattrFlags::empty(),
        )
        .unwrap();
    }
    let error = manager.commit("c", "img:2").unwrap_err();
    assert_eq!(error.errno, Errno::EINVAL);
    assert_eq!(error.path.as_deref(), Some("/f"));
    assert!(error.reason.unwrap().contains("xattrs"), "{error}");
    assert_eq!(manager.images().len(), 1);
}

#[test]
fn a_copied_up_hard_link_group_reaches_the_layer_as_links_of_the_new_data() {
    let manager = manager_of(&[
        ("a", EntryKind::Regular, b"old"),
        ("b", link("a"), b""),
        ("dir", EntryKind::Directory, b""),
        ("dir/sub", EntryKind::Directory, b""),
        ("dir/sub/c", link("a"), b""),
        ("gone", EntryKind::Regular, b"old too"),
        ("gone2", link("gone"), b""),
    ]);
    let union = manager.run("img", "c").unwrap();
    let out = shell(
        &manager,
        "c",
        "write /a new\nwrite /gone fresh\nrm /gone\nchmod 0600 /b\ndiff",
    );
    // `diff` lists the names in the upper layer, not the group's other names.
    assert_eq!(out, "C /a\nD /gone\n");
    let tree = shell(&manager, "c", "tree");
    let stat = "stat /a\nstat /dir/sub/c\nstat /gone2";
    let nlinks = |out: String| -> Vec<String> {
        out.lines()
            .map(|line| String::from(line.split(' ').find(|w| w.starts_with("nlink=")).unwrap()))
            .collect()
    };
    let before = nlinks(shell(&manager, "c", stat));
    assert_eq!(before, ["nlink=3", "nlink=3", "nlink=1"]);
    assert_eq!(cat(&union, "/dir/sub/c").unwrap(), "new");
    assert_eq!(cat(&union, "/gone2").unwrap(), "fresh");

    manager.commit("c", "img:2").unwrap();
    manager.run("img:2", "d").unwrap();
    for container in ["c", "d"] {
        let union = manager.container(container).unwrap();
        assert_eq!(shell(&manager, container, "tree"), tree, "{container}");
        for name in ["/a", "/b", "/dir/sub/c"] {
            assert_eq!(cat(&union, name).unwrap(), "new", "{container} {name}");
        }
        assert_eq!(cat(&union, "/gone2").unwrap(), "fresh");
        assert_eq!(nlinks(shell(&manager, container, stat)), before);
    }
    // The directories leading to a linked name keep the metadata the union showed.
    let d = manager.container("d").unwrap();
    let ns = Namespace::with_filesystem(d);
    let dir = ns.lstat(&Credentials::root(), "/dir/sub").unwrap();
    assert_eq!(dir.mode & 0o7777, 0o711);
}

#[test]
fn the_root_and_linked_symlinks_and_devices_survive_a_commit() {
    let manager = manager_of(&[("f", EntryKind::Regular, b"x")]);
    manager.run("img", "c").unwrap();
    let out = shell(
        &manager,
        "c",
        "chmod 0700 /\nchown 3:4 /\nsetxattr / user.root yes\nln -s f /s\nln /s /s2\n\
         mknod /dev c 1 3\nln /dev /dev2\nmknod /p p\nln /p /p2",
    );
    assert_eq!(out, "");
    let stats = "stat /s2\nstat /dev2\nstat /p2";
    let nlinks = |container: &str| -> Vec<String> {
        shell(&manager, container, stats)
            .lines()
            .filter_map(|line| line.split(' ').find(|w| w.starts_with("nlink=")))
            .map(String::from)
            .collect()
    };
    let tree = shell(&manager, "c", "tree");
    assert!(tree.starts_with("d 0700 3:4 - - /\n"), "{tree}");
    assert_eq!(nlinks("c"), ["nlink=2", "nlink=2", "nlink=2"]);
    manager.commit("c", "img:2").unwrap();
    manager.run("img:2", "d").unwrap();
    for container in ["c", "d"] {
        assert_eq!(shell(&manager, container, "tree"), tree, "{container}");
        assert_eq!(nlinks(container), ["nlink=2", "nlink=2", "nlink=2"]);
        let xattr = shell(&manager, container, "getxattr / user.root");
        assert_eq!(xattr, "yes\n", "{container}");
    }
}
