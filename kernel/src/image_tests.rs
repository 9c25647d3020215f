//! Kernel tests of the images in the RAM disk: several images share layers, held once;
//! containers of them are isolated from each other and from the images; `commit` turns a
//! container's changes into a new image; `rmi` keeps the layers others still use.
//!
//! Like the root tests, they assume only what the OCI format says: they find their files by
//! walking the layers. With a RAM disk of one image, the "two images" of a test are that
//! image twice. Each test removes the containers and images it made.

use alloc::{format, string::String, sync::Arc, vec, vec::Vec};

use overlay_core::containers::ContainerManager;
use overlay_core::image::{Bytes, Image, ImageStore, LayerSource};
use overlay_core::overlay::{OverlayFs, OverlayInode};
use overlay_core::posix::Namespace;
use overlay_core::vfs::{Credentials, FileSystem, FileType, OpenFlags};
use overlay_core::Errno;

use crate::rootfs;
use crate::rootfs_tests::{check, ramdisk, regular_files, walk};
use crate::runner::Test;

/// Tests that need the image store.
pub const ALL: &[Test] = &[
    Test {
        name: "images_shared_layers_are_mounted_once",
        run: shared_layers_are_mounted_once,
    },
    Test {
        name: "images_shared_layers_take_memory_once",
        run: shared_layers_take_memory_once,
    },
    Test {
        name: "images_a_change_is_invisible_to_other_containers_and_the_image",
        run: a_change_is_invisible_to_other_containers_and_the_image,
    },
    Test {
        name: "images_commit_then_run_shows_the_changes_and_deletions",
        run: commit_then_run_shows_the_changes_and_deletions,
    },
    Test {
        name: "images_rmi_keeps_shared_layers",
        run: rmi_keeps_shared_layers,
    },
];

fn manager() -> Result<&'static Arc<ContainerManager>, String> {
    rootfs::manager().ok_or_else(|| "no image was loaded".into())
}

fn root() -> Credentials {
    Credentials::root()
}

fn read(union: &Arc<OverlayFs>, path: &str) -> Result<Vec<u8>, Errno> {
    let ns = Namespace::with_filesystem(union.clone());
    let mut file = ns.open(&root(), path, OpenFlags::READ, 0)?;
    let mut content = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(content);
        }
        content.extend_from_slice(&buf[..n]);
    }
}

fn write(union: &Arc<OverlayFs>, path: &str, bytes: &[u8]) -> Result<(), String> {
    let ns = Namespace::with_filesystem(union.clone());
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
    ns.open(&root(), path, flags, 0o644)
        .and_then(|mut file| file.write_all(bytes))
        .map_err(|errno| format!("write {path}: {errno}"))
}

fn list(union: &Arc<OverlayFs>, path: &str) -> Result<Vec<String>, String> {
    let ns = Namespace::with_filesystem(union.clone());
    let mut names: Vec<String> = ns
        .read_dir(&root(), path)
        .map_err(|errno| format!("ls {path}: {errno}"))?
        .into_iter()
        .map(|entry| String::from(&*entry.name))
        .collect();
    names.sort();
    Ok(names)
}

/// The layer (`None`: the upper) the union shows `path` from.
fn origin(union: &Arc<OverlayFs>, path: &str) -> Result<Option<usize>, String> {
    let ns = Namespace::with_filesystem(union.clone());
    let inode = ns
        .lookup(&root(), path, false)
        .map_err(|errno| format!("lookup {path}: {errno}"))?;
    let node = inode
        .as_any()
        .downcast_ref::<OverlayInode>()
        .ok_or("not a union inode")?;
    Ok(node.origin_layer())
}

/// Two images that share a layer (the first such pair), or the first image twice.
fn two_images() -> Result<(String, String), String> {
    manager()?.with_store(|store| {
        let images = store.images();
        let first = images.first().ok_or("the RAM disk holds no image")?;
        for a in images {
            for b in images {
                if a.name != b.name && a.layers.iter().any(|l| b.layers.contains(l)) {
                    return Ok((a.name.clone(), b.name.clone()));
                }
            }
        }
        Ok((first.name.clone(), first.name.clone()))
    })
}

/// Regular files of the bottom layer of `image` that `union` shows from that layer.
fn base_files(union: &Arc<OverlayFs>) -> Result<Vec<String>, String> {
    let bottom = union.lowers().len().checked_sub(1).ok_or("no lowers")?;
    let base = union.lowers()[bottom].filesystem().clone();
    let files: Vec<String> = regular_files(&*base)?
        .into_iter()
        .filter(|path| origin(union, path) == Ok(Some(bottom)))
        .collect();
    check(!files.is_empty(), || {
        "no base file is shown from the base layer".into()
    })?;
    Ok(files)
}

/// Runs container `name` of `image`, named for the test.
fn run(image: &str, name: &str) -> Result<Arc<OverlayFs>, String> {
    manager()?
        .run(image, name)
        .map_err(|errno| format!("run {image} {name}: {errno}"))
}

fn remove(names: &[&str]) {
    if let Ok(manager) = manager() {
        for name in names {
            let _ = manager.remove_container(name);
        }
    }
}

/// Every layer is one filesystem object, whichever image or container stacks it: the
/// containers of two images that share layers stack the very same objects, and the store
/// holds one per distinct digest.
fn shared_layers_are_mounted_once() -> Result<(), String> {
    let manager = manager()?;
    let (a, b) = two_images()?;
    let result = (|| {
        let first = run(&a, "t-once-a")?;
        let second = run(&b, "t-once-b")?;
        let mut shared = 0;
        manager.with_store(|store| -> Result<(), String> {
            let layers_a = &store.image(&a).ok_or("image gone")?.layers;
            let layers_b = &store.image(&b).ok_or("image gone")?.layers;
            for (union, layers) in [(&first, layers_a), (&second, layers_b)] {
                for (lower, digest) in union.lowers().iter().zip(layers.iter().rev()) {
                    let stored = store.layer(digest).ok_or("layer not stored")?;
                    let stored: Arc<dyn FileSystem> = stored.fs.clone();
                    check(Arc::ptr_eq(lower.filesystem(), &stored), || {
                        format!("{} is not the stored layer object", lower.label())
                    })?;
                }
            }
            shared = layers_a.iter().filter(|l| layers_b.contains(l)).count();
            // One object per distinct digest of all images.
            let mut digests: Vec<&String> = store
                .images()
                .iter()
                .flat_map(|i| i.layers.iter())
                .collect();
            digests.sort();
            digests.dedup();
            check(digests.len() == store.layers().count(), || {
                format!(
                    "{} digests, {} layers",
                    digests.len(),
                    store.layers().count()
                )
            })
        })?;
        check(shared > 0, || format!("{a} and {b} share no layer"))
    })();
    remove(&["t-once-a", "t-once-b"]);
    result
}

/// The store takes less memory than the images parsed one by one (each with its own copy
/// of every layer), and the layers' bytes are the RAM disk's own: nothing is copied.
fn shared_layers_take_memory_once() -> Result<(), String> {
    let ramdisk = ramdisk()?;
    let bytes = Bytes::from_static(ramdisk);
    let heap = || crate::heap::stats().allocated_bytes;
    let before = heap();
    let store = ImageStore::from_ramdisk(bytes.clone()).map_err(|e| format!("{e}"))?;
    let store_bytes = heap().saturating_sub(before);
    let names: Vec<String> = store.images().iter().map(|i| i.name.clone()).collect();
    let before = heap();
    let mut separate = Vec::new();
    for name in &names {
        let ref_name = (!name.starts_with("sha256:")).then_some(name.as_str());
        separate.push(Image::parse_ref(bytes.clone(), ref_name).map_err(|e| format!("{e}"))?);
    }
    let separate_bytes = heap().saturating_sub(before);
    let shares = store.usage().shared_bytes > 0;
    check(!shares || store_bytes < separate_bytes, || {
        format!(
            "the store takes {store_bytes} bytes of heap, the images one by one {separate_bytes}"
        )
    })?;
    let range = ramdisk.as_ptr_range();
    for layer in store.layers() {
        let data = layer.fs.bytes().as_slice().as_ptr_range();
        check(layer.source == LayerSource::RamDisk, || {
            "not a RAM disk layer".into()
        })?;
        check(range.start <= data.start && data.end <= range.end, || {
            format!("layer {} is not served from the RAM disk", layer.digest)
        })?;
    }
    drop(separate);
    Ok(())
}

/// A change in one container shows neither in another container of the same image, nor in
/// one of another image that shares the layer, nor in a new container of either image.
fn a_change_is_invisible_to_other_containers_and_the_image() -> Result<(), String> {
    let (a, b) = two_images()?;
    let names = ["t-iso-a1", "t-iso-a2", "t-iso-b", "t-iso-a3", "t-iso-b2"];
    let result = (|| {
        let a1 = run(&a, names[0])?;
        let a2 = run(&a, names[1])?;
        let other = run(&b, names[2])?;
        let files = base_files(&a1)?;
        let changed = &files[0];
        let original = read(&a1, changed).map_err(|e| format!("read {changed}: {e}"))?;
        write(&a1, changed, b"changed in t-iso-a1\n")?;
        write(&a1, "/t-iso-new", b"new\n")?;
        let deleted = files.get(1);
        if let Some(deleted) = deleted {
            Namespace::with_filesystem(a1.clone())
                .unlink(&root(), deleted)
                .map_err(|errno| format!("rm {deleted}: {errno}"))?;
        }
        check(
            read(&a1, changed) == Ok(b"changed in t-iso-a1\n".to_vec()),
            || "the change is lost".into(),
        )?;
        let a3 = run(&a, names[3])?;
        let b2 = run(&b, names[4])?;
        for (union, what) in [(&a2, "a second container"), (&a3, "a new container")] {
            check(read(union, changed).as_deref() == Ok(&original[..]), || {
                format!("{changed} changed in {what} of {a}")
            })?;
            check(read(union, "/t-iso-new") == Err(Errno::ENOENT), || {
                format!("a new file shows in {what}")
            })?;
            if let Some(deleted) = deleted {
                check(read(union, deleted).is_ok(), || {
                    format!("{deleted} is gone in {what}")
                })?;
            }
        }
        // Containers of the other image see whatever that image has there, unchanged.
        for union in [&other, &b2] {
            check(read(union, "/t-iso-new") == Err(Errno::ENOENT), || {
                format!("a new file shows in a container of {b}")
            })?;
            check(
                union.diff().map_err(|e| format!("diff: {e}"))?.is_empty(),
                || format!("a container of {b} has changes"),
            )?;
        }
        check(read(&other, changed) == read(&b2, changed), || {
            format!("{changed} differs between two containers of {b}")
        })
    })();
    remove(&names);
    result
}

/// A directory of the base layer whose entries are all regular files (so a test can empty
/// it), and those entries.
fn base_dir_of_files(union: &Arc<OverlayFs>) -> Result<Option<(String, Vec<String>)>, String> {
    let bottom = union.lowers().len().checked_sub(1).ok_or("no lowers")?;
    let base = union.lowers()[bottom].filesystem().clone();
    for file in regular_files(&*base)? {
        let Some((dir, _)) = file.rsplit_once('/') else {
            continue;
        };
        // A directory the union shows from a lower layer (a higher layer may delete it).
        if dir.is_empty() || !matches!(origin(union, dir), Ok(Some(_))) {
            continue;
        }
        let entries = list(union, dir)?;
        let ns = Namespace::with_filesystem(union.clone());
        let all_files = entries.iter().all(|name| {
            ns.lstat(&root(), &format!("{dir}/{name}"))
                .is_ok_and(|meta| meta.kind == FileType::Regular)
        });
        if all_files && !entries.is_empty() {
            return Ok(Some((String::from(dir), entries)));
        }
    }
    Ok(None)
}

/// `commit` freezes a container's changes (a changed file, a deleted file, a directory
/// replaced by a new one, a new file) into a layer; a container of the new image shows them
/// all, read from that layer; the committed container goes on over it with an empty upper;
/// the original image is unchanged.
fn commit_then_run_shows_the_changes_and_deletions() -> Result<(), String> {
    let manager = manager()?;
    let image = rootfs::first_image().ok_or("no image")?;
    let new_image = "t-commit:1";
    let names = ["t-commit-c", "t-commit-run", "t-commit-orig"];
    let result = (|| {
        let c = run(&image, names[0])?;
        let files = base_files(&c)?;
        let changed = files[0].clone();
        let original = read(&c, &changed).map_err(|e| format!("read {changed}: {e}"))?;
        write(&c, &changed, b"committed change\n")?;
        let ns = Namespace::with_filesystem(c.clone());
        let deleted = files.get(1).cloned();
        if let Some(deleted) = &deleted {
            ns.unlink(&root(), deleted)
                .map_err(|errno| format!("rm {deleted}: {errno}"))?;
        }
        // Replace a whole base directory: emptied, removed, made again (an opaque directory).
        let replaced = base_dir_of_files(&c)?;
        if let Some((dir, entries)) = &replaced {
            for entry in entries {
                let path = format!("{dir}/{entry}");
                match ns.unlink(&root(), &path) {
                    Ok(()) | Err(Errno::ENOENT) => {}
                    Err(errno) => return Err(format!("rm {path}: {errno}")),
                }
            }
            ns.rmdir(&root(), dir)
                .map_err(|e| format!("rmdir {dir}: {e}"))?;
            ns.mkdir(&root(), dir, 0o755)
                .map_err(|e| format!("mkdir {dir}: {e}"))?;
            write(&c, &format!("{dir}/only-this"), b"x\n")?;
        }
        ns.mkdir(&root(), "/t-commit", 0o755)
            .map_err(|e| format!("mkdir: {e}"))?;
        write(&c, "/t-commit/new.txt", b"new\n")?;

        let commit = manager
            .commit(names[0], new_image)
            .map_err(|errno| format!("commit: {errno}"))?;
        // The container goes on over the new image, its upper empty.
        let c = manager.container(names[0]).map_err(|e| format!("{e}"))?;
        check(
            c.diff().map_err(|e| format!("diff: {e}"))?.is_empty(),
            || "the committed container's upper is not empty".into(),
        )?;
        check(
            read(&c, &changed) == Ok(b"committed change\n".to_vec()),
            || "the committed container lost its change".into(),
        )?;
        let layer_source = manager.with_store(|store| store.layer(&commit.layer).map(|l| l.source));
        check(layer_source == Some(LayerSource::Committed), || {
            "the new layer is not in the store".into()
        })?;

        let fresh = run(new_image, names[1])?;
        check(
            read(&fresh, &changed) == Ok(b"committed change\n".to_vec()),
            || format!("{changed} does not show the change in a container of {new_image}"),
        )?;
        check(origin(&fresh, &changed)? == Some(0), || {
            format!("{changed} is not read from the committed layer")
        })?;
        check(
            read(&fresh, "/t-commit/new.txt") == Ok(b"new\n".to_vec()),
            || "the new file is missing".into(),
        )?;
        if let Some(deleted) = &deleted {
            check(read(&fresh, deleted) == Err(Errno::ENOENT), || {
                format!("deleted {deleted} is back in a container of {new_image}")
            })?;
        }
        if let Some((dir, _)) = &replaced {
            let listing = list(&fresh, dir)?;
            check(listing == vec![String::from("only-this")], || {
                format!("{dir} lists {listing:?}: the old contents show through")
            })?;
        }
        let orig = run(&image, names[2])?;
        check(
            read(&orig, &changed).as_deref() == Ok(&original[..]),
            || format!("{image} itself changed"),
        )?;
        check(
            read(&orig, "/t-commit/new.txt") == Err(Errno::ENOENT),
            || format!("{image} shows the new file"),
        )
    })();
    remove(&names);
    let _ = manager.remove_image(new_image);
    result
}

/// `rmi` of an image drops only the layers no other image (and no container) uses; the
/// shared ones stay, still the same objects, and `df` counts what was reclaimed. Done on a
/// store of its own, so the shell's images stay as they are.
fn rmi_keeps_shared_layers() -> Result<(), String> {
    let store = ImageStore::from_ramdisk(Bytes::from_static(ramdisk()?))
        .map_err(|error| format!("{error}"))?;
    let manager = ContainerManager::new(store, rootfs::container_options());
    // The image to remove: one that shares layers with another, if there is one; else a
    // new one committed on top of the first image.
    let victim = manager.with_store(|store| {
        let images = store.images();
        images
            .iter()
            .rev()
            .find(|x| {
                images
                    .iter()
                    .any(|y| y.name != x.name && x.layers.iter().any(|l| y.layers.contains(l)))
            })
            .map(|x| x.name.clone())
    });
    let victim = match victim {
        Some(victim) => victim,
        None => {
            let first = manager.images()[0].name.clone();
            manager.run(&first, "c").map_err(|e| format!("run: {e}"))?;
            manager
                .commit("c", "t-rmi:1")
                .map_err(|e| format!("commit: {e}"))?;
            manager.remove_container("c").map_err(|e| format!("{e}"))?;
            String::from("t-rmi:1")
        }
    };
    let before = manager.usage();
    let layers = manager.with_store(|store| store.image(&victim).map(|i| i.layers.clone()));
    let layers = layers.ok_or("the image is gone")?;
    let kept_objects: Vec<(String, Arc<dyn FileSystem>)> = manager.with_store(|store| {
        layers
            .iter()
            .filter(|digest| store.images_using(digest).len() > 1)
            .filter_map(|digest| {
                let fs: Arc<dyn FileSystem> = store.layer(digest)?.fs.clone();
                Some((digest.clone(), fs))
            })
            .collect()
    });
    check(!kept_objects.is_empty(), || {
        format!("{victim} shares no layer")
    })?;

    // A container of the victim keeps all its layers while it runs.
    let running = manager
        .run(&victim, "holder")
        .map_err(|e| format!("run: {e}"))?;
    let removal = manager
        .remove_image(&victim)
        .map_err(|errno| format!("rmi: {errno}"))?;
    check(removal.deleted.is_empty(), || {
        format!("rmi dropped {:?} a container still uses", removal.deleted)
    })?;
    check(removal.kept.len() == layers.len(), || {
        "not every layer was kept".into()
    })?;
    let sample = base_files(&running)?;
    check(read(&running, &sample[0]).is_ok(), || {
        "the running container lost its layers".into()
    })?;
    let reclaimed = manager
        .remove_container("holder")
        .map_err(|errno| format!("{errno}"))?;
    drop(running);

    // Once the container is gone, exactly the layers no other image uses are reclaimed.
    let unique: Vec<&String> = layers
        .iter()
        .filter(|digest| !kept_objects.iter().any(|(kept, _)| kept == *digest))
        .collect();
    let mut reclaimed_digests: Vec<&String> = reclaimed.iter().map(|(d, _)| d).collect();
    reclaimed_digests.sort();
    let mut expected = unique.clone();
    expected.sort();
    expected.dedup();
    check(reclaimed_digests == expected, || {
        format!("reclaimed {reclaimed_digests:?}, expected {expected:?}")
    })?;
    let after = manager.usage();
    let reclaimed_bytes: u64 = reclaimed.iter().map(|(_, size)| size).sum();
    check(after.reclaimed_bytes == reclaimed_bytes, || {
        format!(
            "df says {} reclaimed, rmi {reclaimed_bytes}",
            after.reclaimed_bytes
        )
    })?;
    check(
        after.stored_bytes + reclaimed_bytes == before.stored_bytes,
        || "df's stored bytes do not add up".into(),
    )?;
    // The shared layers are still there, the same objects, and still work.
    for (digest, object) in &kept_objects {
        let stored = manager.with_store(|store| {
            store
                .layer(digest)
                .map(|l| -> Arc<dyn FileSystem> { l.fs.clone() })
        });
        let stored = stored.ok_or_else(|| format!("shared layer {digest} was dropped"))?;
        check(Arc::ptr_eq(&stored, object), || {
            format!("shared layer {digest} was reloaded")
        })?;
        check(walk(&*stored, "/").is_ok(), || {
            "a kept layer is unreadable".into()
        })?;
    }
    let other = manager.images()[0].name.clone();
    let container = manager
        .run(&other, "after")
        .map_err(|e| format!("run: {e}"))?;
    check(!base_files(&container)?.is_empty(), || "no files".into())
}
