//! The host side of the boot pipeline, shared by the `boot` command and the QEMU tests: disk
//! images of the kernel (with an optional RAM disk) built with the `bootloader` crate, and QEMU
//! runs whose verdict comes from the kernel through `isa-debug-exit`.

#![forbid(unsafe_code)]

pub mod build;
pub mod busybox_diff;
pub mod diagram;
pub mod difftest;
pub mod host_layer;
pub mod image;
pub mod oci;
pub mod qemu;
pub mod ramdisk_cache;

use std::path::{Path, PathBuf};

pub use image::{build_image, Firmware};
pub use qemu::{run, QemuRun, RunOutcome, SerialInput, Verdict};

/// The kernel binary this crate was built with (an artifact dependency on `kernel`).
pub const KERNEL: &str = env!("CARGO_BIN_FILE_KERNEL_kernel");

/// Cargo's target directory for this build: the ancestor of the kernel artifact that holds
/// Cargo's `CACHEDIR.TAG`, so it follows `CARGO_TARGET_DIR` too.
pub fn target_dir() -> PathBuf {
    let kernel = Path::new(KERNEL);
    kernel
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .or_else(|| kernel.parent())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// Where `boot` writes disk images unless told otherwise: `<target>/images`.
pub fn default_image_dir() -> PathBuf {
    target_dir().join("images")
}
