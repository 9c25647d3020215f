//! `boot image`: writes disk images, with the RAM disk of an OCI image (the default image
//! of `rootfs/` unless told otherwise).

use std::{path::PathBuf, process::ExitCode};

use anyhow::Result;
use boot::Firmware;
use clap::Args;

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Write the BIOS image (both are written when neither --bios nor --uefi is given).
    #[arg(long)]
    bios: bool,
    /// Write the UEFI image.
    #[arg(long)]
    uefi: bool,
    #[command(flatten)]
    disk: super::ramdisk::RamdiskChoice,
    /// Output directory [default: <cargo target dir>/images].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Kernel binary [default: the kernel this tool was built with].
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,
}

pub fn run(args: &ImageArgs) -> Result<ExitCode> {
    let firmwares: &[Firmware] = match (args.bios, args.uefi) {
        (true, false) => &[Firmware::Bios],
        (false, true) => &[Firmware::Uefi],
        _ => &[Firmware::Bios, Firmware::Uefi],
    };
    let out = args.out.clone().unwrap_or_else(boot::default_image_dir);
    let kernel = args.kernel.clone().unwrap_or_else(|| boot::KERNEL.into());
    let ramdisk = args.disk.resolve(&out)?;
    for &firmware in firmwares {
        let image = boot::build_image(firmware, &kernel, ramdisk.as_deref(), &out)?;
        println!("{}", image.display());
    }
    Ok(ExitCode::SUCCESS)
}
