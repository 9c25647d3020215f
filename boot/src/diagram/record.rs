//! The boot a diagram is drawn from: the default RAM disk (or a given one) under BIOS, the
//! fw_cfg images when BusyBox is fetched, the overlay shell left at once with `exit`, so the
//! boot report is all the kernel prints. `boot diagram` and its QEMU test boot the same way.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Result};

use crate::{Firmware, QemuRun, SerialInput, Verdict};

/// How to boot for a diagram.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Where the disk image, RAM disk and fw_cfg layout are written.
    pub dir: PathBuf,
    /// The RAM disk to boot; `None`: the default images of `rootfs/`.
    pub ramdisk: Option<PathBuf>,
    /// Pass the images of `rootfs/fw-cfg-images` (BusyBox) through fw_cfg, if fetched.
    pub fw_cfg_images: bool,
    /// Give up after this long.
    pub timeout: Duration,
    /// Copy the serial output to standard output as it arrives.
    pub echo: bool,
}

/// Boots as `recording` says and returns the kernel's serial output.
///
/// # Errors
/// When the image cannot be built or QEMU run, or the kernel does not pass.
pub fn record(recording: &Recording) -> Result<String> {
    crate::qemu::check_qemu_installed()?;
    let ramdisk = match &recording.ramdisk {
        Some(path) => path.clone(),
        None => crate::oci::default_ramdisk(&recording.dir)?,
    };
    let image = crate::build_image(
        Firmware::Bios,
        Path::new(crate::KERNEL),
        Some(&ramdisk),
        &recording.dir,
    )?;
    let mut run = QemuRun::new(Firmware::Bios, image, recording.timeout);
    run.mode = Some(String::from("shell"));
    run.input = SerialInput::Bytes(b"exit\n".to_vec());
    run.echo = recording.echo;
    if recording.fw_cfg_images {
        if let Some((layout, _)) = crate::build::fw_cfg_layout(&recording.dir)? {
            run.fw_cfg_files
                .push((crate::qemu::IMAGES_FW_CFG_NAME.to_owned(), layout));
        }
    }
    let outcome = crate::run(&run)?;
    if outcome.verdict != Verdict::Passed {
        let tail: Vec<&str> = outcome.serial.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "the boot did not pass ({:?}); its last lines:\n{}",
            outcome.verdict,
            tail.join("\n")
        );
    }
    Ok(outcome.serial)
}
