//! The rootfs stage: the RAM disk is an OCI image (a layout packed as one tar). It is parsed,
//! every blob is checked against its digest, and each layer becomes a read-only filesystem whose
//! file data is served straight from the RAM disk bytes. The image is loaded once and kept for
//! the rest of the run; every container stacks the same layer objects (see [`container`]).

use alloc::{format, string::String, sync::Arc};

use overlay_core::image::{short_digest, Bytes, Image};
use overlay_core::overlay::{OverlayFs, OverlayOptions, UpperLayer};
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use spin::Once;

use crate::handover::Handover;
use crate::println;
use crate::units::Bytes as ByteCount;

/// Capacity of each container's writable layer.
pub const UPPER_CAPACITY_BYTES: u64 = 16 * 1024 * 1024;

static IMAGE: Once<Image> = Once::new();

/// The image loaded at boot, if the machine was booted with one.
pub fn image() -> Option<&'static Image> {
    IMAGE.get()
}

/// Loads and verifies the image in the RAM disk and prints what it holds, like `docker
/// history` (top layer first). Returns `Ok(false)` when there is no RAM disk.
///
/// # Errors
/// A one-line reason when the RAM disk is not a valid, intact image.
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
    let image = Image::parse(Bytes::from_static(ramdisk)).map_err(|error| format!("{error}"))?;
    println!(
        "rootfs: image {} manifest {} config {}, {} layers, every digest checked",
        image.ref_name.as_deref().unwrap_or("(unnamed)"),
        short_digest(&image.manifest_digest),
        short_digest(&image.config_digest),
        image.layers.len()
    );
    println!("rootfs:   LAYER                 SIZE     FILES  CREATED BY");
    for layer in image.layers.iter().rev() {
        let stats = layer.fs.stats();
        println!(
            "rootfs:   {:<20} {:>9} {:>6}  {}",
            short_digest(&layer.digest),
            format!("{}", ByteCount(layer.size)),
            stats.files,
            layer.created_by.as_deref().unwrap_or("-")
        );
    }
    IMAGE.call_once(|| image);
    Ok(true)
}

/// A new container of `image`: its layers (shared, never copied) under a fresh tmpfs upper.
///
/// # Errors
/// The reason the union could not be made.
pub fn container(image: &Image) -> Result<Arc<OverlayFs>, String> {
    let options = TmpFsOptions {
        capacity_bytes: Some(UPPER_CAPACITY_BYTES),
        ..TmpFsOptions::default()
    };
    let upper = UpperLayer::new(TmpFs::new(options)).map_err(|errno| format!("upper: {errno}"))?;
    OverlayFs::new(image.lowers(), Some(upper), OverlayOptions::default())
        .map_err(|errno| format!("union: {errno}"))
}

/// Makes the root container and prints the union stage.
///
/// # Errors
/// The reason the union could not be made.
pub fn mount_root(image: &Image) -> Result<Arc<OverlayFs>, String> {
    let heap_before = crate::heap::stats().allocated_bytes;
    let root = container(image)?;
    let container_bytes = crate::heap::stats()
        .allocated_bytes
        .saturating_sub(heap_before);
    let layer_data: u64 = image
        .layers
        .iter()
        .map(|layer| layer.fs.stats().data_bytes)
        .sum();
    let lowers: alloc::vec::Vec<&str> = root.lowers().iter().map(|layer| layer.label()).collect();
    println!(
        "union: {} read-only lowers (top first: {}), upper tmpfs of {} with its work directory",
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
