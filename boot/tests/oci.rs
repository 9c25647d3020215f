//! The default RAM disk (the images of `rootfs/images`), packed the way `boot` packs it for
//! the kernel, read back with `overlay_core::image` and stacked under a tmpfs upper: what a
//! container of its first image shows.

use std::process::Command;
use std::sync::Arc;

use boot::oci;
use overlay_core::image::{Bytes, Image, ImageInode, ImageStore};
use overlay_core::overlay::{OverlayFs, OverlayOptions, UpperLayer};
use overlay_core::posix::Namespace;
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::vfs::{Credentials, FileSystem, FileType, OpenFlags};
use overlay_core::Errno;

fn default_ramdisk() -> Vec<u8> {
    oci::default_layout().unwrap().ramdisk().unwrap()
}

fn container(image: &Image) -> (Arc<OverlayFs>, Namespace) {
    let upper = UpperLayer::new(TmpFs::new(TmpFsOptions::default())).unwrap();
    let union = OverlayFs::new(image.lowers(), Some(upper), OverlayOptions::default()).unwrap();
    let ns = Namespace::with_filesystem(union.clone());
    (union, ns)
}

fn cat(ns: &Namespace, path: &str) -> Result<String, Errno> {
    let file = ns.open(&Credentials::root(), path, OpenFlags::READ, 0)?;
    let mut buf = vec![0; 4096];
    let count = file.pread(0, &mut buf)?;
    buf.truncate(count);
    Ok(String::from_utf8(buf).unwrap())
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
fn the_default_ramdisk_is_small_and_deterministic() {
    let ramdisk = default_ramdisk();
    assert_eq!(ramdisk, default_ramdisk());
    // BIOS loads the RAM disk at about 10 s per MiB under TCG.
    assert!(ramdisk.len() < 256 * 1024, "{} bytes", ramdisk.len());
}

#[test]
fn the_first_default_image_has_three_layers_with_their_history() {
    let image = Image::parse(Bytes::from_vec(default_ramdisk())).unwrap();
    let created_by: Vec<&str> = image
        .layers
        .iter()
        .map(|layer| layer.created_by.as_deref().unwrap())
        .collect();
    assert_eq!(
        created_by,
        ["COPY base /", "COPY runtime /", "COPY greeter /"]
    );
    assert_eq!(image.ref_name.as_deref(), Some("greeter:1.0"));
    let app = image.layers[2].fs.stats();
    assert_eq!((app.whiteouts, app.opaque_dirs), (1, 1));
    assert!(image
        .layers
        .iter()
        .all(|layer| layer.digest == layer.diff_id));
    assert_eq!(image.config.cmd, ["/usr/bin/rt", "/app/main.rt"]);
}

#[test]
fn the_default_ramdisk_holds_two_services_on_one_base() {
    let store = ImageStore::from_ramdisk(Bytes::from_vec(default_ramdisk())).unwrap();
    let names: Vec<&str> = store.images().iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["greeter:1.0", "counter:1.0", "runtime:1.4"]);
    let base = store.image("runtime:1.4").unwrap().layers.clone();
    for service in ["greeter:1.0", "counter:1.0"] {
        assert_eq!(
            store.image(service).unwrap().layers[..2],
            base[..],
            "{service}"
        );
    }
    // 2 shared layers, 1 of the greeter's own, 4 of the counter's own.
    assert_eq!(store.layers().count(), 7);
    let usage = store.usage();
    assert!(usage.shared_bytes > 0 && usage.unique_bytes > 0);
    assert!(usage.stored_bytes < usage.unshared_bytes);
}

#[test]
fn a_container_of_the_default_image_shows_the_app_layer_changes() {
    let image = Image::parse(Bytes::from_vec(default_ramdisk())).unwrap();
    let (union, ns) = container(&image);
    let root = Credentials::root();
    // The app layer changed a base file...
    assert!(cat(&ns, "/etc/config").unwrap().contains("debug=1"));
    // ...deleted another, whose whiteout never shows...
    assert_eq!(cat(&ns, "/etc/motd"), Err(Errno::ENOENT));
    let etc = ls(&ns, "/etc");
    assert!(!etc.iter().any(|name| name.contains("motd")), "{etc:?}");
    assert!(etc.contains(&"os-release".to_string()));
    // ...and replaced a directory (opaque).
    assert_eq!(ls(&ns, "/var/cache"), ["app"]);
    assert!(cat(&ns, "/app/greeting.txt").unwrap().starts_with("Hello"));
    // The runtime layer's files and its change to a base file.
    assert_eq!(cat(&ns, "/usr/lib/runtime/VERSION").unwrap(), "1.4.2\n");
    assert!(cat(&ns, "/etc/ld.so.conf")
        .unwrap()
        .contains("/usr/lib/runtime/lib"));
    assert_eq!(
        ns.readlink(&root, "/usr/bin/rt").unwrap(),
        "../lib/runtime/bin/rt"
    );
    assert!(cat(&ns, "/usr/bin/rt").unwrap().starts_with("#!/bin/sh"));
    // Base files, modes as the packer sets them.
    assert!(cat(&ns, "/etc/os-release")
        .unwrap()
        .contains("Overlay Demo Linux"));
    assert_eq!(ns.readlink(&root, "/bin/sh").unwrap(), "busybox");
    let busybox = ns.stat(&root, "/bin/busybox").unwrap();
    assert_eq!(
        (busybox.kind, busybox.mode, busybox.uid),
        (FileType::Regular, 0o755, 0)
    );
    assert_eq!(ns.stat(&root, "/etc/passwd").unwrap().mode, 0o644);
    assert_eq!(ns.stat(&root, "/etc").unwrap().mode, 0o755);
    // Nothing changed yet; then a change of a base file is the only difference.
    assert!(union.diff().unwrap().is_empty());
    let file = ns
        .open(
            &root,
            "/etc/hostname",
            OpenFlags::WRITE | OpenFlags::TRUNCATE,
            0,
        )
        .unwrap();
    file.pwrite(0, b"container\n").unwrap();
    let changes: Vec<String> = union
        .diff()
        .unwrap()
        .iter()
        .map(|change| format!("{} {}", change.kind.letter(), change.path))
        .collect();
    assert_eq!(changes, ["C /etc", "C /etc/hostname"]);
}

#[test]
fn base_files_are_read_from_the_ramdisk_bytes() {
    let bytes = Bytes::from_vec(default_ramdisk());
    let image = Image::parse(bytes.clone()).unwrap();
    let ramdisk = bytes.as_slice().as_ptr_range();
    let base = &image.layers[0].fs;
    let os_release = base
        .root()
        .lookup("etc")
        .unwrap()
        .lookup("os-release")
        .unwrap();
    let data = os_release
        .as_any()
        .downcast_ref::<ImageInode>()
        .unwrap()
        .data()
        .unwrap()
        .as_ptr_range();
    assert!(ramdisk.start <= data.start && data.end <= ramdisk.end);
}

/// A fresh scratch directory.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("boot-oci-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a host tool; `None` if it is not installed, a panic if it fails.
fn run(tool: &str, args: &[&str], dir: &std::path::Path) -> Option<()> {
    let output = match Command::new(tool).args(args).current_dir(dir).output() {
        Ok(output) => output,
        Err(_) => {
            eprintln!("{tool} is not installed: skipped");
            return None;
        }
    };
    assert!(
        output.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(())
}

#[test]
fn gnu_tar_pax_archives_parse_as_layers() {
    let dir = scratch("gnu-tar");
    let tree = dir.join("tree");
    let long_dir = tree.join("d".repeat(150));
    std::fs::create_dir_all(&long_dir).unwrap();
    std::fs::write(long_dir.join("f".repeat(120)), b"deep\n").unwrap();
    std::fs::write(tree.join("file"), b"content\n").unwrap();
    std::fs::hard_link(tree.join("file"), tree.join("link")).unwrap();
    std::os::unix::fs::symlink("x".repeat(200), tree.join("sym")).unwrap();
    let has_xattr = xattr::set(tree.join("file"), "user.note", b"kept").is_ok();
    let Some(()) = run(
        "tar",
        &[
            "--format=pax",
            "--xattrs",
            "-C",
            "tree",
            "-cf",
            "layer.tar",
            ".",
        ],
        &dir,
    ) else {
        return;
    };
    let bytes = Bytes::from_vec(std::fs::read(dir.join("layer.tar")).unwrap());
    let fs = overlay_core::image::ImageLayerFs::parse(bytes).unwrap();
    let root = fs.root();
    let file = root.lookup("file").unwrap();
    let link = root.lookup("link").unwrap();
    assert_eq!(file.metadata().unwrap().ino, link.metadata().unwrap().ino);
    assert_eq!(file.metadata().unwrap().nlink, 2);
    assert_eq!(
        root.lookup("sym").unwrap().readlink().unwrap(),
        "x".repeat(200)
    );
    let deep = root
        .lookup(&"d".repeat(150))
        .unwrap()
        .lookup(&"f".repeat(120))
        .unwrap();
    assert_eq!(deep.metadata().unwrap().size, 5);
    if has_xattr {
        assert_eq!(file.get_xattr("user.note").unwrap(), b"kept");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_image_written_by_umoci_boots_as_the_rootfs() {
    let dir = scratch("umoci");
    let Some(()) = run("umoci", &["init", "--layout", "img"], &dir) else {
        return;
    };
    run("umoci", &["new", "--image", "img:demo"], &dir);
    let unpack = ["unpack", "--rootless", "--image", "img:demo", "bundle"];
    run("umoci", &unpack, &dir);
    let rootfs = dir.join("bundle/rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(rootfs.join("etc/issue"), b"base\n").unwrap();
    std::fs::write(rootfs.join("etc/old"), b"gone soon\n").unwrap();
    std::os::unix::fs::symlink("issue", rootfs.join("etc/issue.link")).unwrap();
    let repack = |created_by: &str| {
        let args = [
            "repack",
            "--image",
            "img:demo",
            "--history.created_by",
            created_by,
            "bundle",
        ];
        run("umoci", &args, &dir);
    };
    repack("ADD base /");
    let config = ["config", "--image", "img:demo", "--config.cmd", "/bin/app"];
    run("umoci", &config, &dir);
    std::fs::remove_dir_all(dir.join("bundle")).unwrap();
    run("umoci", &unpack, &dir);
    std::fs::remove_file(rootfs.join("etc/old")).unwrap();
    std::fs::write(rootfs.join("etc/issue"), b"changed\n").unwrap();
    repack("RUN change");

    // umoci writes gzip layers; the RAM disk holds them uncompressed, config untouched.
    let image = oci::OciImage::from_layout(&dir.join("img"), Some("demo")).unwrap();
    let ramdisk = dir.join("ramdisk.tar");
    image.write_ramdisk(&ramdisk).unwrap();
    let parsed = Image::parse(Bytes::from_vec(std::fs::read(&ramdisk).unwrap())).unwrap();
    assert_eq!(parsed.ref_name.as_deref(), Some("demo"));
    assert_eq!(parsed.config.cmd, ["/bin/app"]);
    let created_by: Vec<_> = parsed
        .layers
        .iter()
        .map(|l| l.created_by.as_deref())
        .collect();
    assert_eq!(created_by, [Some("ADD base /"), Some("RUN change")]);
    let (_, ns) = container(&parsed);
    assert_eq!(cat(&ns, "/etc/issue").unwrap(), "changed\n");
    assert_eq!(cat(&ns, "/etc/issue.link").unwrap(), "changed\n");
    assert_eq!(cat(&ns, "/etc/old"), Err(Errno::ENOENT));
    assert_eq!(ls(&ns, "/etc"), ["issue", "issue.link"]);
    // skopeo reads the RAM disk as an OCI archive, if it is installed.
    let archive = format!("oci-archive:{}", ramdisk.display());
    if run("skopeo", &["inspect", "--config", &archive], &dir).is_some() {
        let output = Command::new("skopeo")
            .args(["inspect", "--config", &archive])
            .output()
            .unwrap();
        let config: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(config["config"]["Cmd"][0], "/bin/app");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn umoci_and_skopeo_read_the_default_layout_of_three_images() {
    let dir = scratch("layout-tools");
    oci::default_layout()
        .unwrap()
        .write_layout(&dir.join("layout"))
        .unwrap();
    let output = match Command::new("umoci")
        .args(["ls", "--layout", "layout"])
        .current_dir(&dir)
        .output()
    {
        Ok(output) => output,
        Err(_) => {
            eprintln!("umoci is not installed: skipped");
            return;
        }
    };
    assert!(output.status.success(), "{output:?}");
    let mut names: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    names.sort();
    assert_eq!(names, ["counter:1.0", "greeter:1.0", "runtime:1.4"]);
    if let Ok(output) = Command::new("skopeo")
        .args(["inspect", "oci:layout:counter:1.0"])
        .current_dir(&dir)
        .output()
    {
        assert!(output.status.success(), "{output:?}");
        let inspect: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(inspect["Layers"].as_array().unwrap().len(), 6);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
