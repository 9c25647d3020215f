//! `boot qemu`: builds an image and boots it headless under QEMU, serial on standard output.

use std::{
    io::{IsTerminal, Read},
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use anyhow::Result;
use boot::{Firmware, QemuRun, Verdict};
use clap::Args;

use super::{STATUS_ERROR, STATUS_HUNG, STATUS_KERNEL_FAILED};

#[derive(Debug, Args)]
pub struct QemuArgs {
    /// Boot through UEFI (OVMF) instead of BIOS.
    #[arg(long)]
    uefi: bool,
    /// Use KVM instead of TCG (slower than TCG under nested virtualisation, and OVMF may crash).
    #[arg(long)]
    kvm: bool,
    #[command(flatten)]
    disk: super::ramdisk::RamdiskChoice,
    /// Kill QEMU and fail when the kernel has not exited after this many seconds.
    #[arg(long, value_name = "S", default_value_t = 180)]
    timeout: u64,
    /// What the kernel runs: `test` (the suite), `shell` (the shell on the serial console, on
    /// this terminal), `bench` (the suite timed by stage, then benchmarks; `make qemu-bench`),
    /// `panic-test` or `hang-test` (harness checks).
    #[arg(long, value_name = "MODE")]
    mode: Option<String>,
    /// Guest memory in MiB.
    #[arg(long, value_name = "MIB", default_value_t = boot::qemu::DEFAULT_MEMORY_MIB)]
    memory: u32,
    /// Directory for the disk image [default: <cargo target dir>/images].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn run(args: &QemuArgs) -> Result<ExitCode> {
    boot::qemu::check_qemu_installed()?;
    let firmware = if args.uefi {
        Firmware::Uefi
    } else {
        Firmware::Bios
    };
    let out = args.out.clone().unwrap_or_else(boot::default_image_dir);
    let ramdisk = args.disk.resolve(&out)?;
    let image = boot::build_image(firmware, boot::KERNEL.as_ref(), ramdisk.as_deref(), &out)?;
    eprintln!("boot: booting {} under QEMU ({firmware})", image.display());
    let mut run = QemuRun::new(firmware, image, Duration::from_secs(args.timeout));
    run.kvm = args.kvm;
    run.mode = args.mode.clone();
    run.memory_mib = args.memory;
    run.echo = true;
    if args.mode.as_deref() == Some("shell") {
        // The kernel's shell reads the serial console: a terminal is handed over as it is
        // (QEMU makes it raw); piped commands are passed on once the shell is ready for them.
        let stdin = std::io::stdin();
        run.input = if stdin.is_terminal() {
            boot::SerialInput::Inherit
        } else {
            let mut script = Vec::new();
            stdin.lock().read_to_end(&mut script)?;
            boot::SerialInput::Bytes(script)
        };
    }
    let outcome = boot::run(&run)?;
    let seconds = outcome.elapsed.as_secs_f64();
    if !outcome.serial.is_empty() && !outcome.serial.ends_with('\n') {
        // Start the verdict on its own line, after a test line cut short by a panic or a hang.
        println!();
    }
    Ok(match outcome.verdict {
        Verdict::Passed => {
            eprintln!("boot: kernel passed (QEMU status 33) after {seconds:.1} s");
            ExitCode::SUCCESS
        }
        Verdict::Failed => {
            eprintln!("boot: kernel FAILED (QEMU status 35) after {seconds:.1} s");
            ExitCode::from(STATUS_KERNEL_FAILED)
        }
        Verdict::Hung { after } => {
            eprintln!("boot: kernel hung: killed after {} s", after.as_secs());
            ExitCode::from(STATUS_HUNG)
        }
        Verdict::QemuError { status } => {
            let status = status.map_or("a signal".to_string(), |code| code.to_string());
            eprintln!(
                "boot: QEMU exited with {status} without a kernel verdict after {seconds:.1} s"
            );
            ExitCode::from(STATUS_ERROR)
        }
    })
}
