//! What checking digests costs at boot: the store's layers hashed again with the loader's own
//! SHA-256 (`overlay_core::image::sha256_digest`), in TSC cycles per MiB, and the share of the
//! RAM disk stage that hashing those bytes takes.
//!
//! The loader hashes every blob once while the boot goes (each layer, each config and
//! manifest; a layer shared by several images once). Timing it inside the store would mean
//! instrumenting code that is not the bench's; hashing the same layer bytes again after the
//! suite costs the same work (the configs and manifests left out are a few KiB), so the share
//! printed is that of the RAM disk stage the hashing takes, to within the cache effects of a
//! second pass (none to speak of once an image outgrows the CPU's caches). The fastest of
//! [`PASSES`] passes is taken: under QEMU's TCG the counter follows the host's clock, so a pass
//! the host preempted reads slower than the work was.

use alloc::vec::Vec;

use overlay_core::image::{sha256_digest, Bytes};

use super::{cycles, percent};
use crate::println;

/// How many times the layers are hashed; the fastest pass counts.
const PASSES: usize = 3;

/// Prints the digest check's cycles per MiB and its share of `rootfs_cycles`, the RAM disk
/// stage (parse and digest check) of this boot.
pub fn print(rootfs_cycles: u64) {
    let Some(manager) = crate::rootfs::manager() else {
        println!("bench:   digest check: no image was loaded, nothing was hashed");
        return;
    };
    let layers: Vec<Bytes> = manager.with_store(|store| {
        store
            .layers()
            .map(|layer| layer.fs.bytes().clone())
            .collect()
    });
    let bytes: u64 = layers.iter().map(|layer| layer.len() as u64).sum();
    let hashing = (0..PASSES)
        .map(|_| {
            let start = cycles();
            for layer in &layers {
                core::hint::black_box(sha256_digest(layer.as_slice()));
            }
            cycles().saturating_sub(start)
        })
        .min()
        .unwrap_or(0);
    let per_mib = u128::from(hashing) * (1 << 20) / u128::from(bytes.max(1));
    println!(
        "bench:   digest check: SHA-256 of the {} layers ({} KiB) again, fastest of {PASSES}: \
         {hashing} cycles, {per_mib} cycles per MiB, {} of the RAM disk stage",
        layers.len(),
        bytes >> 10,
        percent(hashing, rootfs_cycles)
    );
}
