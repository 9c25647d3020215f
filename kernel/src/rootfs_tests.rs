//! Kernel tests on the real root: containers of the image the bootloader loaded. Each test
//! makes its own container, so they are independent; all of them share the image's layers.
//!
//! The tests do not assume what the image holds beyond what the OCI format says: they find
//! their files by walking the layers (a file of the base layer that the union still shows from
//! the base, a base file a higher layer deletes, ...).

use alloc::{format, string::String, sync::Arc, vec, vec::Vec};

use overlay_core::image::ImageLayerFs;
use overlay_core::overlay::{OverlayFs, OverlayInode};
use overlay_core::posix::Namespace;
use overlay_core::vfs::{Credentials, DeviceId, FileSystem, FileType, Inode, OpenFlags};
use overlay_core::Errno;

use crate::handover::{fnv1a64, Handover};
use crate::rootfs;
use crate::runner::Test;

/// Tests that need the image.
pub const ALL: &[Test] = &[
    Test {
        name: "rootfs_base_file_is_served_from_the_ramdisk",
        run: base_file_is_served_from_the_ramdisk,
    },
    Test {
        name: "rootfs_first_write_copies_up_and_ramdisk_stays",
        run: first_write_copies_up_and_ramdisk_stays,
    },
    Test {
        name: "rootfs_delete_leaves_whiteout",
        run: delete_leaves_whiteout,
    },
    Test {
        name: "rootfs_diff_shows_exactly_the_changes",
        run: diff_shows_exactly_the_changes,
    },
    Test {
        name: "rootfs_union_agrees_with_the_layers",
        run: union_agrees_with_the_layers,
    },
    Test {
        name: "rootfs_two_containers_share_layers_not_changes",
        run: two_containers_share_layers_not_changes,
    },
];

/// A container of the boot image with its POSIX calls.
struct Container {
    fs: Arc<OverlayFs>,
    ns: Namespace,
    root: Credentials,
}

fn container() -> Result<Container, String> {
    let fs = rootfs::container()?;
    let ns = Namespace::with_filesystem(fs.clone());
    Ok(Container {
        fs,
        ns,
        root: Credentials::root(),
    })
}

impl Container {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        let mut file = self
            .ns
            .open(&self.root, path, OpenFlags::READ, 0)
            .map_err(|errno| format!("open {path}: {errno}"))?;
        let mut content = Vec::new();
        let mut buf = [0u8; 512];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|errno| format!("read {path}: {errno}"))?;
            if n == 0 {
                return Ok(content);
            }
            content.extend_from_slice(&buf[..n]);
        }
    }

    /// The layer the union shows `path` from: `None` for the upper, `Some(n)` for lower `n`.
    fn origin(&self, path: &str) -> Result<Option<usize>, String> {
        let inode = self
            .ns
            .lookup(&self.root, path, false)
            .map_err(|errno| format!("lookup {path}: {errno}"))?;
        let node = inode
            .as_any()
            .downcast_ref::<OverlayInode>()
            .ok_or("not a union inode")?;
        Ok(node.origin_layer())
    }
}

/// Every regular file of `fs`, as absolute paths, in listing order.
pub(crate) fn regular_files(fs: &dyn FileSystem) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    let mut pending = vec![(String::new(), fs.root())];
    while let Some((path, dir)) = pending.pop() {
        let mut entries = Vec::new();
        dir.readdir(0, &mut |entry| {
            entries.push((String::from(entry.name), entry.kind));
            true
        })
        .map_err(|errno| format!("listing {path}/: {errno}"))?;
        for (name, kind) in entries {
            let child = format!("{path}/{name}");
            match kind {
                FileType::Directory => {
                    let inode = dir
                        .lookup(&name)
                        .map_err(|errno| format!("{child}: {errno}"))?;
                    pending.push((child, inode));
                }
                FileType::Regular if !name.starts_with(".wh.") => files.push(child),
                _ => {}
            }
        }
    }
    Ok(files)
}

/// The base (bottom) layer's files the union still shows from the base layer.
fn base_files_shown_from_base(
    layers: &[Arc<ImageLayerFs>],
    container: &Container,
) -> Result<Vec<String>, String> {
    let base_index = layers
        .len()
        .checked_sub(1)
        .ok_or("the image has no layers")?;
    let base = layers.first().ok_or("the image has no layers")?;
    let mut shown = Vec::new();
    for path in regular_files(&**base)? {
        if let Ok(Some(layer)) = container.origin(&path) {
            if layer == base_index {
                shown.push(path);
            }
        }
    }
    if shown.is_empty() {
        return Err("no base file is shown from the base layer".into());
    }
    Ok(shown)
}

pub(crate) fn ramdisk() -> Result<&'static [u8], String> {
    Handover::get()
        .and_then(Handover::ramdisk_bytes)
        .ok_or_else(|| "no RAM disk".into())
}

pub(crate) fn check(condition: bool, reason: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(reason())
    }
}

/// A base file read through the union is the very bytes of the RAM disk: the layer serves
/// them in place, and reading copies nothing up.
fn base_file_is_served_from_the_ramdisk() -> Result<(), String> {
    let layers = rootfs::first_image_layers()?;
    let c = container()?;
    let path = base_files_shown_from_base(&layers, &c)?.remove(0);
    let base = &layers[0];
    let mut node: Arc<dyn Inode> = base.root();
    for part in path.split('/').filter(|part| !part.is_empty()) {
        node = node
            .lookup(part)
            .map_err(|errno| format!("{path}: {errno}"))?;
    }
    let image_inode = node
        .as_any()
        .downcast_ref::<overlay_core::image::ImageInode>()
        .ok_or("not an image inode")?;
    let data = image_inode.data().ok_or("no file data")?;
    let ramdisk = ramdisk()?.as_ptr_range();
    let inside = ramdisk.start <= data.as_ptr() && data.as_ptr_range().end <= ramdisk.end;
    check(inside, || {
        format!("{path}'s data is not inside the RAM disk")
    })?;
    check(c.read(&path)? == data, || {
        format!("{path} reads differently")
    })?;
    check(
        c.fs.diff().map_err(|e| format!("diff: {e}"))?.is_empty(),
        || format!("reading {path} changed the upper layer"),
    )
}

/// The first write to a base file copies it up; the RAM disk's bytes do not change.
fn first_write_copies_up_and_ramdisk_stays() -> Result<(), String> {
    let layers = rootfs::first_image_layers()?;
    let c = container()?;
    let path = base_files_shown_from_base(&layers, &c)?.remove(0);
    let before = fnv1a64(ramdisk()?);
    let original = c.read(&path)?;
    let file =
        c.ns.open(&c.root, &path, OpenFlags::WRITE, 0)
            .map_err(|errno| format!("open for write: {errno}"))?;
    file.pwrite(0, b"#")
        .map_err(|errno| format!("write: {errno}"))?;
    let mut expected = original.clone();
    match expected.first_mut() {
        Some(first) => *first = b'#',
        None => expected.push(b'#'),
    }
    check(c.read(&path)? == expected, || {
        format!("{path} does not show the write")
    })?;
    check(c.origin(&path)?.is_none(), || {
        format!("{path} was not copied up")
    })?;
    check(fnv1a64(ramdisk()?) == before, || {
        "the RAM disk changed".into()
    })?;
    let fresh = container()?;
    check(fresh.read(&path)? == original, || {
        "the image itself changed".into()
    })
}

/// Deleting a base file leaves a whiteout in the upper layer, and the name is gone.
fn delete_leaves_whiteout() -> Result<(), String> {
    let layers = rootfs::first_image_layers()?;
    let c = container()?;
    let path = base_files_shown_from_base(&layers, &c)?.remove(0);
    c.ns.unlink(&c.root, &path)
        .map_err(|errno| format!("unlink {path}: {errno}"))?;
    check(c.ns.lstat(&c.root, &path) == Err(Errno::ENOENT), || {
        format!("{path} still shows")
    })?;
    let upper = c.fs.upper().ok_or("no upper layer")?;
    let mut node: Arc<dyn Inode> = upper.upper_dir().clone();
    for part in path.split('/').filter(|part| !part.is_empty()) {
        node = node
            .lookup(part)
            .map_err(|errno| format!("upper {path}: {errno}"))?;
    }
    let meta = node
        .metadata()
        .map_err(|errno| format!("upper {path}: {errno}"))?;
    check(
        meta.kind == FileType::CharDevice && meta.rdev == DeviceId::default(),
        || format!("upper {path} is a {:?}, not a whiteout", meta.kind),
    )
}

/// `diff` lists exactly what was changed: a copied-up file and its directories, a deleted file,
/// a new file.
fn diff_shows_exactly_the_changes() -> Result<(), String> {
    let layers = rootfs::first_image_layers()?;
    let c = container()?;
    let files = base_files_shown_from_base(&layers, &c)?;
    // With a single base file shown, the change is a delete of nothing else.
    let changed = files[0].clone();
    let deleted = files.get(1).cloned();
    let file =
        c.ns.open(&c.root, &changed, OpenFlags::WRITE | OpenFlags::APPEND, 0)
            .map_err(|errno| format!("open {changed}: {errno}"))?;
    drop(file);
    if let Some(deleted) = &deleted {
        c.ns.unlink(&c.root, deleted)
            .map_err(|errno| format!("unlink {deleted}: {errno}"))?;
    }
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
    c.ns.open(&c.root, "/kernel-was-here", flags, 0o644)
        .map_err(|errno| format!("create: {errno}"))?;

    let mut expected = vec![format!("A /kernel-was-here"), format!("C {changed}")];
    expected.extend(deleted.iter().map(|deleted| format!("D {deleted}")));
    for path in core::iter::once(&changed).chain(&deleted) {
        let mut parent = path.as_str();
        while let Some((dir, _)) = parent.rsplit_once('/') {
            if dir.is_empty() {
                break;
            }
            expected.push(format!("C {dir}"));
            parent = dir;
        }
    }
    expected.sort_by(|a, b| a.as_bytes()[2..].cmp(&b.as_bytes()[2..]));
    expected.dedup();
    let diff: Vec<String> =
        c.fs.diff()
            .map_err(|errno| format!("diff: {errno}"))?
            .iter()
            .map(|change| format!("{} {}", change.kind.letter(), change.path))
            .collect();
    check(diff == expected, || {
        format!("diff {diff:?}, expected {expected:?}")
    })
}

/// What the union shows of each base file agrees with the layers above it: a file shown from
/// layer `n` is in layer `n` and in no layer between it and the top; a file that is gone is
/// deleted above (a `.wh.` whiteout beside it or an opaque marker in a directory on its path).
fn union_agrees_with_the_layers() -> Result<(), String> {
    let layers = rootfs::first_image_layers()?;
    let c = container()?;
    // Lowers top first, as the union numbers them.
    let lowers: Vec<_> = layers.iter().rev().cloned().collect();
    let has = |layer: usize, path: &str| walk(&*lowers[layer], path).is_ok();
    for path in regular_files(&*layers[0])? {
        match c.origin(&path) {
            Ok(Some(shown)) => {
                check(has(shown, &path), || {
                    format!("{path} shown from lower:{shown} that lacks it")
                })?;
                if let Some(above) = (0..shown).find(|&layer| has(layer, &path)) {
                    return Err(format!(
                        "{path} shown from lower:{shown}, but lower:{above} has it"
                    ));
                }
            }
            Ok(None) => {
                return Err(format!(
                    "{path} comes from the upper layer of a new container"
                ))
            }
            Err(_) => {
                let deleted = (0..lowers.len() - 1).any(|layer| deleted_in(&*lowers[layer], &path));
                check(deleted, || {
                    format!("{path} is gone but no layer above deletes it")
                })?;
            }
        }
    }
    Ok(())
}

/// Whether `layer` holds a whiteout for `path` or an opaque marker in a directory on its way.
fn deleted_in(layer: &dyn FileSystem, path: &str) -> bool {
    let mut dir = String::new();
    for part in path.split('/').filter(|part| !part.is_empty()) {
        if walk(layer, &format!("{dir}/.wh.{part}")).is_ok()
            || walk(layer, &format!("{dir}/.wh..wh..opq")).is_ok()
        {
            return true;
        }
        dir = format!("{dir}/{part}");
    }
    false
}

/// The entry at `path` of `fs`, without the union.
pub(crate) fn walk(fs: &dyn FileSystem, path: &str) -> Result<Arc<dyn Inode>, Errno> {
    let mut node = fs.root();
    for part in path.split('/').filter(|part| !part.is_empty()) {
        node = node.lookup(part)?;
    }
    Ok(node)
}

/// Two containers of one image stack the same layer objects (the image is in memory once),
/// and a change in one is invisible in the other.
fn two_containers_share_layers_not_changes() -> Result<(), String> {
    let layers = rootfs::first_image_layers()?;
    let first = container()?;
    let second = container()?;
    for (a, b) in first.fs.lowers().iter().zip(second.fs.lowers()) {
        check(Arc::ptr_eq(a.filesystem(), b.filesystem()), || {
            format!("layer {} is not shared", a.label())
        })?;
    }
    let path = base_files_shown_from_base(&layers, &first)?.remove(0);
    let original = second.read(&path)?;
    first
        .ns
        .truncate(&first.root, &path, 0)
        .map_err(|errno| format!("truncate: {errno}"))?;
    let flags = OpenFlags::WRITE | OpenFlags::CREATE;
    first
        .ns
        .open(&first.root, "/only-in-first", flags, 0o644)
        .map_err(|errno| format!("create: {errno}"))?;
    check(first.read(&path)?.is_empty(), || {
        "the first container's change is lost".into()
    })?;
    check(second.read(&path)? == original, || {
        "the change shows in the second container".into()
    })?;
    check(
        second.ns.lstat(&second.root, "/only-in-first") == Err(Errno::ENOENT),
        || "a new file shows in the second container".into(),
    )
}
