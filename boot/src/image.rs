//! Disk images: the kernel (and a RAM disk, if given) packed by `bootloader`'s
//! `DiskImageBuilder` into a BIOS (MBR) or UEFI (GPT) disk image. An image whose inputs have
//! not changed since it was written is used again: with a RAM disk of hundreds of MiB,
//! writing it takes seconds.

use std::{
    fmt, fs,
    path::{Path, PathBuf},
    time::UNIX_EPOCH,
};

use anyhow::{ensure, Context, Result};
use bootloader::{BootConfig, DiskImageBuilder};

/// The firmware an image boots with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Firmware {
    /// Legacy BIOS (SeaBIOS under QEMU), MBR disk image.
    Bios,
    /// UEFI (OVMF under QEMU), GPT disk image.
    Uefi,
}

impl Firmware {
    /// Lower-case name used in file names and messages.
    pub fn name(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        }
    }
}

impl fmt::Display for Firmware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The bootloader's run-time settings: only its warnings and errors, on the serial port only.
/// Its info log repeats what the kernel's boot report says, and drawing it on the framebuffer is
/// slow under TCG.
fn boot_config() -> BootConfig {
    let mut config = BootConfig::default();
    config.log_level = bootloader_boot_config::LevelFilter::Warn;
    config.frame_buffer_logging = false;
    config.serial_logging = true;
    config
}

/// Writes `<out_dir>/kernel-<firmware>.img` booting `kernel`, with `ramdisk` loaded next to it
/// if given, and returns the image's path.
pub fn build_image(
    firmware: Firmware,
    kernel: &Path,
    ramdisk: Option<&Path>,
    out_dir: &Path,
) -> Result<PathBuf> {
    ensure!(kernel.is_file(), "kernel {} not found", kernel.display());
    let mut builder = DiskImageBuilder::new(kernel.to_path_buf());
    builder.set_boot_config(&boot_config());
    if let Some(ramdisk) = ramdisk {
        ensure!(
            ramdisk.is_file(),
            "RAM disk {} not found",
            ramdisk.display()
        );
        builder.set_ramdisk(ramdisk.to_path_buf());
    }
    fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let image = out_dir.join(format!("kernel-{firmware}.img"));
    let inputs_path = image.with_extension("img.inputs");
    let inputs = inputs(firmware, kernel, ramdisk)?;
    if image.is_file() && fs::read_to_string(&inputs_path).ok().as_deref() == Some(&inputs) {
        return Ok(image);
    }
    // An image being rewritten is not the one its old inputs describe.
    let _ = fs::remove_file(&inputs_path);
    match firmware {
        Firmware::Bios => builder.create_bios_image(&image),
        Firmware::Uefi => builder.create_uefi_image(&image),
    }
    .with_context(|| format!("cannot build the {firmware} image {}", image.display()))?;
    fs::write(&inputs_path, inputs)
        .with_context(|| format!("cannot write {}", inputs_path.display()))?;
    Ok(image)
}

/// What an image is made of, as written next to it (`kernel-<firmware>.img.inputs`): the
/// firmware, the boot config, and the path, size and modification time of the kernel and the
/// RAM disk (a rebuilt kernel or a rewritten RAM disk is a new file).
fn inputs(firmware: Firmware, kernel: &Path, ramdisk: Option<&Path>) -> Result<String> {
    let config = serde_json::to_string(&boot_config()).context("writing the boot config")?;
    let mut inputs = format!("{firmware}\n{config}\n");
    for file in std::iter::once(kernel).chain(ramdisk) {
        let meta = fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| since.as_nanos());
        inputs.push_str(&format!("{} {} {modified}\n", file.display(), meta.len()));
    }
    Ok(inputs)
}
