use alloc::{string::String, sync::Arc, vec, vec::Vec};

use super::*;
use crate::image::testlayout::{self, app_layer, base_layer};
use crate::image::{sha256_digest, EntryKind, ImageLayerFs, TarReader};
use crate::overlay::{Layer, WhiteoutEncoding};
use crate::posix::Namespace;
use crate::scenarios::fixture::build_layer;
use crate::shell::Shell;
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
    let upper = manager.container("a1").unwrap();
    let tar = freeze_upper(upper.upper().unwrap()).unwrap();
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
    let tar = freeze_upper(union.upper().unwrap()).unwrap();
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
    assert_eq!(freeze_upper(union.upper().unwrap()), Err(Errno::ENOTSUP));
}

#[test]
fn failed_commits_change_nothing() {
    let manager = manager();
    manager.run("svc-a", "a1").unwrap();
    shell(&manager, "a1", "write /x 1");
    let before = manager.usage();
    assert_eq!(manager.commit("a1", "svc-b").err(), Some(Errno::EEXIST));
    assert_eq!(manager.commit("nope", "new").err(), Some(Errno::ENOENT));
    assert_eq!(manager.commit("a1", "bad name").err(), Some(Errno::EINVAL));
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
