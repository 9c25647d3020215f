//! The kernel side, from the host: boots the kernel under QEMU in the mode
//! [`protocol::KERNEL_MODE`] with the BusyBox image layout and the scripts file on fw_cfg, and
//! returns its serial output for [`compare()`](super::compare::compare).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use super::corpus::Script;
use super::protocol;
use crate::{Firmware, QemuRun, RunOutcome};

/// Boots the kernel (with the default RAM disk) to run `scripts`, writing the disk image, the
/// scripts file and the serial log (`serial.log`) into `out_dir`; returns the run and the
/// log's path. The verdict is the kernel's word that it ran them all (`Passed`), not that
/// they match Linux: the comparison says that.
///
/// # Errors
/// BusyBox not fetched (`make deps`), QEMU missing, or an image that cannot be built.
pub fn run(
    scripts: &[Script],
    firmware: Firmware,
    timeout: Duration,
    out_dir: &Path,
) -> Result<(RunOutcome, PathBuf)> {
    crate::qemu::check_qemu_installed()?;
    fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let scripts_file = out_dir.join("busybox-scripts");
    fs::write(&scripts_file, protocol::encode_scripts(scripts)?)
        .with_context(|| format!("writing {}", scripts_file.display()))?;
    let (layout, _) = crate::build::fw_cfg_layout(out_dir)?
        .ok_or_else(|| anyhow!("BusyBox is not fetched (`make deps`)"))?;
    let ramdisk = crate::oci::default_ramdisk(out_dir)?;
    let image = crate::build_image(firmware, Path::new(crate::KERNEL), Some(&ramdisk), out_dir)?;
    let mut qemu = QemuRun::new(firmware, image, timeout);
    qemu.mode = Some(protocol::KERNEL_MODE.to_string());
    qemu.fw_cfg_files
        .push((crate::qemu::IMAGES_FW_CFG_NAME.to_string(), layout));
    qemu.fw_cfg_files
        .push((protocol::FW_CFG_FILE.to_string(), scripts_file));
    let outcome = crate::run(&qemu)?;
    let log = out_dir.join("serial.log");
    fs::write(&log, &outcome.serial).with_context(|| format!("writing {}", log.display()))?;
    Ok((outcome, log))
}
