//! `boot diagram`: draws the boot as an SVG (see `boot::diagram`), from a boot report saved
//! earlier (`--report FILE`, e.g. the output of `make qemu`) or from a boot it makes itself
//! (the default RAM disk under BIOS, the overlay shell left at once).

use std::{fs, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct DiagramArgs {
    /// Draw from this boot report (a serial log holding one) instead of booting.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Where to write the SVG.
    #[arg(long, value_name = "FILE", default_value = "docs/boot.svg")]
    out: PathBuf,
    /// Boot this RAM disk instead of the default images of rootfs/.
    #[arg(long, value_name = "FILE", conflicts_with = "report")]
    ramdisk: Option<PathBuf>,
    /// Pass no images through fw_cfg (by default BusyBox's, when `make deps` fetched it).
    #[arg(long, conflicts_with = "report")]
    no_fw_cfg_images: bool,
    /// Directory for the disk image and RAM disk [default: <cargo target dir>/images].
    #[arg(long, value_name = "DIR", conflicts_with = "report")]
    images: Option<PathBuf>,
    /// Also write the boot's serial output here (with the default boot).
    #[arg(long, value_name = "FILE", conflicts_with = "report")]
    save_report: Option<PathBuf>,
    /// Kill QEMU and fail when the kernel has not exited after this many seconds.
    #[arg(long, value_name = "S", default_value_t = 180)]
    timeout: u64,
}

pub fn run(args: &DiagramArgs) -> Result<ExitCode> {
    let serial = match &args.report {
        Some(path) => fs::read_to_string(path)
            .with_context(|| format!("reading the boot report {}", path.display()))?,
        None => {
            let dir = args.images.clone().unwrap_or_else(boot::default_image_dir);
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            eprintln!("boot: booting the kernel (BIOS) for its boot report");
            let serial = boot::diagram::record(&boot::diagram::Recording {
                dir,
                ramdisk: args.ramdisk.clone(),
                fw_cfg_images: !args.no_fw_cfg_images,
                timeout: Duration::from_secs(args.timeout),
                echo: false,
            })?;
            if let Some(path) = &args.save_report {
                fs::write(path, &serial).with_context(|| format!("writing {}", path.display()))?;
            }
            serial
        }
    };
    let svg = boot::diagram::draw(&serial)?;
    fs::write(&args.out, &svg).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "boot: drew the boot report as {} ({} bytes)",
        args.out.display(),
        svg.len()
    );
    Ok(ExitCode::SUCCESS)
}
