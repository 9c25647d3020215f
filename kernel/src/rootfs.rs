//! The rootfs stage: the RAM disk is an OCI image layout packed as one tar, holding one or
//! more images. Every image is parsed and every blob checked against its digest; each
//! distinct layer becomes one read-only filesystem whose file data is served straight from
//! the RAM disk bytes, shared by every image that uses it (an [`ImageStore`], layers keyed
//! by digest). The store is handed to a [`ContainerManager`], kept for the rest of the run:
//! the root is its container [`ROOT_CONTAINER`] of the first image, and the shell's image
//! commands run more containers, commit and remove images on it.
//!
//! A second layout may come through fw_cfg ([`IMAGES_FILE`]): images too big for the BIOS
//! RAM disk (BusyBox). Its images join the same store after the RAM disk's.

use alloc::{format, string::String, sync::Arc, vec::Vec};

use overlay_core::containers::{ContainerManager, ContainerOptions};
use overlay_core::image::{short_digest, Bytes, ImageLayerFs, ImageStore};
use overlay_core::overlay::{OverlayFs, OverlayOptions, UpperLayer};
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::Errno;
use spin::Once;

use crate::fw_cfg;
use crate::handover::Handover;
use crate::println;
use crate::units::Bytes as ByteCount;

/// Capacity of each container's writable layer.
pub const UPPER_CAPACITY_BYTES: u64 = 16 * 1024 * 1024;

/// How much of a layer's `created_by` the boot report shows.
const CREATED_BY_CHARS: usize = 60;

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

/// The fw_cfg file that holds a second OCI image layout (packed as one tar, like the RAM
/// disk): images too big for the BIOS RAM disk, which firmware loads with real-mode disk reads
/// at about 10 s per MiB under TCG, while fw_cfg's DMA copies megabytes in milliseconds.
/// `boot::qemu` passes it (the BusyBox image, from `rootfs/fw-cfg-images`).
pub const IMAGES_FILE: &str = "opt/overlay-kernel/images";

/// Loads and verifies every image of the RAM disk and of the fw_cfg file [`IMAGES_FILE`], and
/// prints what they hold: the images, then each distinct layer once (top first, like
/// `docker history`) with the number of images sharing it. The images of both go into one
/// store, the RAM disk's first (so the first image is the RAM disk's), a layer both hold
/// loaded once. Returns `Ok(false)` when there is no RAM disk: the images of fw_cfg, if
/// any, are then still in [`manager`], but there is no root to mount.
///
/// # Errors
/// A one-line reason when the RAM disk or the fw_cfg file is not a valid, intact image layout,
/// or both hold an image of the same name.
pub fn load(handover: &Handover) -> Result<bool, String> {
    let from_ramdisk = match handover.ramdisk_bytes() {
        Some(ramdisk) => {
            println!(
                "rootfs: RAM disk of {} at {:#x}: reading it as an OCI image layout",
                ByteCount(ramdisk.len() as u64),
                ramdisk.as_ptr() as usize
            );
            Some(load_layout(ramdisk)?)
        }
        None => {
            println!("rootfs: no RAM disk: no image to mount, running the suite without one");
            None
        }
    };
    let from_fw_cfg = load_fw_cfg_images()?;
    let store = match (from_ramdisk, from_fw_cfg) {
        (Some(mut store), Some(extra)) => {
            add_images(&mut store, &extra)?;
            store
        }
        (Some(store), None) | (None, Some(store)) => store,
        (None, None) => return Ok(false),
    };
    let has_ramdisk = handover.ramdisk.is_some();
    MANAGER.call_once(|| ContainerManager::new(store, container_options()));
    Ok(has_ramdisk)
}

/// The images of the layout in [`IMAGES_FILE`], read by DMA into memory kept for the rest of
/// the run (their layers serve files from it, as the RAM disk's do); `None` without the file.
fn load_fw_cfg_images() -> Result<Option<ImageStore>, String> {
    let started = crate::bench::cycles();
    let Some((bytes, transfer)) = fw_cfg::read_file_with(IMAGES_FILE) else {
        return Ok(None);
    };
    let read_cycles = crate::bench::cycles().saturating_sub(started);
    let layout: &'static [u8] = bytes.leak();
    println!(
        "rootfs: fw_cfg image layout of {} ({IMAGES_FILE}) read {} in {read_cycles} cycles, at {:#x}",
        ByteCount(layout.len() as u64),
        match transfer {
            fw_cfg::Transfer::Dma => "by DMA",
            fw_cfg::Transfer::DataPort => "through the data port (no DMA)",
        },
        layout.as_ptr() as usize
    );
    let started = crate::bench::cycles();
    let store = load_layout(layout).map_err(|why| format!("fw_cfg {IMAGES_FILE}: {why}"))?;
    println!(
        "rootfs: fw_cfg images verified and loaded in {} cycles",
        crate::bench::cycles().saturating_sub(started)
    );
    Ok(Some(store))
}

/// Adds the images of `extra` to `store`, each layer `store` lacks with them.
fn add_images(store: &mut ImageStore, extra: &ImageStore) -> Result<(), String> {
    for image in extra.images() {
        let new_layers = image
            .layers
            .iter()
            .filter(|digest| store.layer(digest).is_none())
            .filter_map(|digest| extra.layer(digest).cloned())
            .collect();
        store
            .add_image(image.clone(), new_layers)
            .map_err(|errno| match errno {
                Errno::EEXIST => format!(
                    "image {} is both on the RAM disk and in fw_cfg {IMAGES_FILE}",
                    image.name
                ),
                errno => format!("image {} of fw_cfg {IMAGES_FILE}: {errno}", image.name),
            })?;
    }
    Ok(())
}

/// Parses and verifies the OCI layout `layout` (a tar) and prints its images and layers.
fn load_layout(layout: &'static [u8]) -> Result<ImageStore, String> {
    let heap_before = crate::heap::stats().allocated_bytes;
    let store =
        ImageStore::from_ramdisk(Bytes::from_static(layout)).map_err(|error| format!("{error}"))?;
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
            // A long instruction (SYMLINK of every BusyBox applet) is cut to its start.
            let created_by = match created_by.char_indices().nth(CREATED_BY_CHARS) {
                Some((cut, _)) => format!("{} ...", &created_by[..cut]),
                None => String::from(created_by),
            };
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
         {} of heap for all of them, file data stays in the layout's bytes",
        ByteCount(usage.stored_bytes),
        ByteCount(usage.unshared_bytes),
        ByteCount(store_heap)
    );
    println!(
        "rootfs: layer trees: {} entries in {} of heap ({} of names), {} bytes per entry besides its name",
        usage.entries,
        ByteCount(usage.tree_heap_bytes),
        ByteCount(usage.tree_name_bytes),
        (usage.tree_heap_bytes - usage.tree_name_bytes) / usage.entries.max(1)
    );
    Ok(store)
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
