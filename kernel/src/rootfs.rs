//! The rootfs stage: the RAM disk is an OCI image layout packed as one tar, holding one or
//! more images. Every image is parsed and every blob checked against its digest; each
//! distinct layer becomes one read-only filesystem whose file data is served straight from
//! the RAM disk bytes, shared by every image that uses it (an [`ImageStore`], layers keyed
//! by digest). The store is handed to a [`ContainerManager`], kept for the rest of the run:
//! the root is its container [`ROOT_CONTAINER`] of the first image, and the shell's image
//! commands run more containers, commit and remove images on it.

use alloc::{format, string::String, sync::Arc, vec::Vec};

use overlay_core::containers::{ContainerManager, ContainerOptions};
use overlay_core::image::{short_digest, Bytes, ImageLayerFs, ImageStore};
use overlay_core::overlay::{OverlayFs, OverlayOptions, UpperLayer};
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use spin::Once;

use crate::handover::Handover;
use crate::println;
use crate::units::Bytes as ByteCount;

/// Capacity of each container's writable layer.
pub const UPPER_CAPACITY_BYTES: u64 = 16 * 1024 * 1024;

/// The container the boot makes of the first image: the root, and where the shell starts.
pub const ROOT_CONTAINER: &str = "root";

static MANAGER: Once<Arc<ContainerManager>> = Once::new();

/// The images and containers, if the machine was booted with a RAM disk.
pub fn manager() -> Option<&'static Arc<ContainerManager>> {
    MANAGER.get()
}

/// How containers are made: each upper a tmpfs of [`UPPER_CAPACITY_BYTES`].
pub fn container_options() -> ContainerOptions {
    ContainerOptions {
        upper_capacity_bytes: Some(UPPER_CAPACITY_BYTES),
    }
}

/// Loads and verifies every image of the RAM disk and prints what they hold: the images,
/// then each distinct layer once (top first, like `docker history`) with the number of
/// images sharing it. Returns `Ok(false)` when there is no RAM disk.
///
/// # Errors
/// A one-line reason when the RAM disk is not a valid, intact image layout.
pub fn load(handover: &Handover) -> Result<bool, String> {
    let Some(ramdisk) = handover.ramdisk_bytes() else {
        println!("rootfs: no RAM disk: no image to mount, running the suite without one");
        return Ok(false);
    };
    println!(
        "rootfs: RAM disk of {} at {:#x}: an OCI image layout",
        ByteCount(ramdisk.len() as u64),
        ramdisk.as_ptr() as usize
    );
    let heap_before = crate::heap::stats().allocated_bytes;
    let store = ImageStore::from_ramdisk(Bytes::from_static(ramdisk))
        .map_err(|error| format!("{error}"))?;
    let store_heap = crate::heap::stats()
        .allocated_bytes
        .saturating_sub(heap_before);
    let usage = store.usage();
    let shared = store
        .layers()
        .filter(|layer| store.images_using(&layer.digest).len() > 1)
        .count();
    println!(
        "rootfs: {} images, {} distinct layers ({shared} shared by several images), every digest checked",
        store.images().len(),
        usage.layers,
    );
    println!("rootfs:   IMAGE            LAYERS      SIZE  MANIFEST");
    for image in store.images() {
        let size = usage
            .images
            .iter()
            .find(|row| row.name == image.name)
            .map_or(0, |row| row.total_bytes);
        println!(
            "rootfs:   {:<16} {:>6} {:>9}  {}",
            image.name,
            image.layers.len(),
            format!("{}", ByteCount(size)),
            image.manifest_digest.as_deref().map_or("-", short_digest)
        );
    }
    println!("rootfs:   LAYER                 SIZE  FILES  USED BY   CREATED BY");
    let mut listed: Vec<&str> = Vec::new();
    for image in store.images() {
        for digest in image.layers.iter().rev() {
            if listed.contains(&digest.as_str()) {
                continue;
            }
            listed.push(digest);
            let Some(layer) = store.layer(digest) else {
                continue;
            };
            let users = store.images_using(digest).len();
            let created_by = image
                .history
                .iter()
                .find(|step| step.layer.as_deref() == Some(digest.as_str()))
                .and_then(|step| step.created_by.as_deref())
                .unwrap_or("-");
            println!(
                "rootfs:   {:<19} {:>7} {:>6}  {:<8}  {}",
                short_digest(digest),
                format!("{}", ByteCount(layer.size)),
                layer.fs.stats().files,
                format!("{users} image{}", if users == 1 { "" } else { "s" }),
                created_by
            );
        }
    }
    println!(
        "rootfs: each layer is loaded once, one filesystem per digest: {} of layers stored for {} of images; \
         {} of heap for all of them, file data stays in the RAM disk",
        ByteCount(usage.stored_bytes),
        ByteCount(usage.unshared_bytes),
        ByteCount(store_heap)
    );
    MANAGER.call_once(|| ContainerManager::new(store, container_options()));
    Ok(true)
}

/// The name of the first image (the one the root container runs).
pub fn first_image() -> Option<String> {
    let manager = manager()?;
    manager.with_store(|store| store.images().first().map(|image| image.name.clone()))
}

/// The layer filesystems of the first image, base first.
pub fn first_image_layers() -> Result<Vec<Arc<ImageLayerFs>>, String> {
    let manager = manager().ok_or("no image was loaded")?;
    manager.with_store(|store| {
        let image = store
            .images()
            .first()
            .ok_or("the RAM disk holds no image")?;
        image
            .layers
            .iter()
            .map(|digest| {
                store
                    .layer(digest)
                    .map(|layer| layer.fs.clone())
                    .ok_or_else(|| format!("layer {digest} is not in the store"))
            })
            .collect()
    })
}

/// A new union of the first image (not registered as a container): its layers (shared,
/// never copied) under a fresh tmpfs upper. Tests make as many as they like.
///
/// # Errors
/// The reason the union could not be made.
pub fn container() -> Result<Arc<OverlayFs>, String> {
    let manager = manager().ok_or("no image was loaded")?;
    let lowers = manager.with_store(|store| {
        let image = store
            .images()
            .first()
            .ok_or("the RAM disk holds no image")?;
        store
            .lowers(&image.layers)
            .map_err(|errno| format!("layers: {errno}"))
    })?;
    let options = TmpFsOptions {
        capacity_bytes: Some(UPPER_CAPACITY_BYTES),
        ..TmpFsOptions::default()
    };
    let upper = UpperLayer::new(TmpFs::new(options)).map_err(|errno| format!("upper: {errno}"))?;
    OverlayFs::new(lowers, Some(upper), OverlayOptions::default())
        .map_err(|errno| format!("union: {errno}"))
}

/// Runs the root container ([`ROOT_CONTAINER`] of the first image) and prints the union
/// stage.
///
/// # Errors
/// The reason the union could not be made.
pub fn mount_root() -> Result<Arc<OverlayFs>, String> {
    let manager = manager().ok_or("no image was loaded")?;
    let image = first_image().ok_or("the RAM disk holds no image")?;
    let heap_before = crate::heap::stats().allocated_bytes;
    let root = manager
        .run(&image, ROOT_CONTAINER)
        .map_err(|errno| format!("container {ROOT_CONTAINER}: {errno}"))?;
    let container_bytes = crate::heap::stats()
        .allocated_bytes
        .saturating_sub(heap_before);
    let layer_data: u64 = first_image_layers()?
        .iter()
        .map(|layer| layer.stats().data_bytes)
        .sum();
    let lowers: Vec<&str> = root.lowers().iter().map(|layer| layer.label()).collect();
    println!(
        "union: container {ROOT_CONTAINER} of {image}: {} read-only lowers (top first: {}), upper tmpfs of {} with its work directory",
        lowers.len(),
        lowers.join(", "),
        ByteCount(UPPER_CAPACITY_BYTES)
    );
    println!(
        "union: the container took {} of heap; the layers' {} of file data stay in the RAM disk, \
         shared by every container",
        ByteCount(container_bytes),
        ByteCount(layer_data)
    );
    println!("union: mounted as the root filesystem");
    Ok(root)
}
