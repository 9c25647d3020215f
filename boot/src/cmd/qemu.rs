//! `boot qemu` and `boot run`: build an image and boot it headless under QEMU, serial on this
//! terminal. `boot qemu` runs a kernel mode (the suite, the overlay shell, ...) and exits with
//! its verdict; `boot run IMAGE [ARG]...` runs a container's program (the kernel's mode `run`)
//! and exits with the program's exit status, as `docker run` does.
//!
//! Both pass the images of `rootfs/fw-cfg-images` (BusyBox) through fw_cfg when BusyBox has
//! been fetched, or the layout `--fw-cfg-images` builds; see `boot::qemu` for the fw_cfg files.

use std::{
    fs,
    io::{IsTerminal, Read},
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::{ensure, Context, Result};
use boot::{Firmware, QemuRun, SerialInput, Verdict};
use clap::Args;

use super::{STATUS_ERROR, STATUS_HUNG, STATUS_KERNEL_FAILED};

/// `boot run`'s status when the kernel failed or could not run the program (Docker's 125).
pub const STATUS_RUN_FAILED: u8 = 125;
/// `boot run`'s status when QEMU was left (Ctrl-A X) before the program ended: 128 + SIGINT.
pub const STATUS_LEFT: u8 = 130;

/// The machine: firmware, accelerator, disk, memory, fw_cfg images, time limit.
#[derive(Debug, Args)]
pub struct MachineArgs {
    /// Boot through UEFI (OVMF) instead of BIOS.
    #[arg(long)]
    uefi: bool,
    /// Use KVM instead of TCG (slower than TCG under nested virtualisation, and OVMF may crash).
    #[arg(long)]
    kvm: bool,
    #[command(flatten)]
    disk: super::ramdisk::RamdiskChoice,
    /// An image list (like rootfs/fw-cfg-images, the default when BusyBox is fetched) built
    /// into one OCI layout that the kernel reads through fw_cfg (DMA) and adds to the RAM
    /// disk's images: for images too big for the BIOS RAM disk.
    #[arg(long, value_name = "LIST", conflicts_with = "no_fw_cfg_images")]
    fw_cfg_images: Option<PathBuf>,
    /// Pass no images through fw_cfg.
    #[arg(long)]
    no_fw_cfg_images: bool,
    /// Kill QEMU and fail when the kernel has not exited after this many seconds.
    #[arg(long, value_name = "S", default_value_t = 180)]
    timeout: u64,
    /// Guest memory in MiB [default: 256, more for a large RAM disk: twice its size and the
    /// fw_cfg images' above 128 MiB].
    #[arg(long, value_name = "MIB")]
    memory: Option<u32>,
    /// Directory for the disk image [default: <cargo target dir>/images].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// The kernel's boot modes `boot qemu --mode` takes (kernel `mode::read`), checked here so a
/// mistyped mode is refused before anything is built or booted.
const KERNEL_MODES: [&str; 6] = [
    "test",
    "shell",
    "bench",
    "busybox-diff",
    "panic-test",
    "hang-test",
];

#[derive(Debug, Args)]
pub struct QemuArgs {
    #[command(flatten)]
    machine: MachineArgs,
    /// What the kernel runs: `test` (the suite), `shell` (the overlay shell on the serial
    /// console, on this terminal), `bench` (the suite timed by stage, then benchmarks; `make
    /// qemu-bench`), `busybox-diff` (the BusyBox difftest's kernel side), `panic-test` or
    /// `hang-test` (harness checks). `boot run` is the mode `run`.
    #[arg(long, value_name = "MODE", value_parser = KERNEL_MODES)]
    mode: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    machine: MachineArgs,
    /// The image whose program runs (e.g. `busybox`).
    image: String,
    /// The command, replacing the image's `Cmd` (after its `Entrypoint`); none: the image's.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARG"
    )]
    args: Vec<String>,
}

impl MachineArgs {
    /// Builds the disk image and the fw_cfg layout; returns the run (with echo on), ready for
    /// a mode and input.
    fn prepare(&self) -> Result<(QemuRun, PathBuf)> {
        boot::qemu::check_qemu_installed()?;
        let firmware = if self.uefi {
            Firmware::Uefi
        } else {
            Firmware::Bios
        };
        let out = self.out.clone().unwrap_or_else(boot::default_image_dir);
        let ramdisk = self.disk.resolve(&out)?;
        let image = boot::build_image(firmware, boot::KERNEL.as_ref(), ramdisk.as_deref(), &out)?;
        let mut run = QemuRun::new(firmware, image, Duration::from_secs(self.timeout));
        run.kvm = self.kvm;
        run.echo = true;
        let layout = self.fw_cfg_layout(&out)?;
        run.memory_mib = match self.memory {
            Some(memory) => memory,
            None => {
                let size = |path: Option<&Path>| path.and_then(|path| fs::metadata(path).ok());
                let ramdisk_bytes = size(ramdisk.as_deref()).map_or(0, |meta| meta.len());
                let fw_cfg_bytes = size(layout.as_deref()).map_or(0, |meta| meta.len());
                boot::qemu::memory_for(ramdisk_bytes, fw_cfg_bytes)
            }
        };
        if let Some(layout) = layout {
            run.fw_cfg_files
                .push((boot::qemu::IMAGES_FW_CFG_NAME.to_string(), layout));
        }
        let firmware_note = match firmware {
            Firmware::Bios => "",
            Firmware::Uefi => "; OVMF's screen-control codes are left out until the kernel starts",
        };
        eprintln!(
            "boot: booting {} under QEMU ({firmware}, {} MiB{firmware_note})",
            run.image.display(),
            run.memory_mib
        );
        Ok((run, out))
    }

    /// The fw_cfg image layout to pass, built: `--fw-cfg-images`, else the default list if
    /// BusyBox is fetched.
    fn fw_cfg_layout(&self, out: &Path) -> Result<Option<PathBuf>> {
        if self.no_fw_cfg_images {
            return Ok(None);
        }
        let built = match &self.fw_cfg_images {
            Some(list) => Some(boot::build::build_list_to(list, out)?),
            None => boot::build::fw_cfg_layout(out)?,
        };
        let Some((path, reports)) = built else {
            return Ok(None);
        };
        for report in &reports {
            eprintln!("boot: {}", report.line());
        }
        let size = fs::metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        eprintln!(
            "boot: fw_cfg image layout {} ({:.1} MiB) as {}",
            path.display(),
            size as f64 / (1024.0 * 1024.0),
            boot::qemu::IMAGES_FW_CFG_NAME
        );
        Ok(Some(path))
    }
}

/// Standard input as the serial console's input: a terminal as it is (QEMU makes it raw;
/// Ctrl-C goes to the guest, Ctrl-A X leaves QEMU), else its bytes, sent once the kernel is
/// ready for them, then `end` (e.g. Ctrl-D, the end of input on a terminal).
fn console_input(end: &[u8]) -> Result<SerialInput> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(SerialInput::Inherit);
    }
    let mut script = Vec::new();
    stdin.lock().read_to_end(&mut script)?;
    script.extend_from_slice(end);
    Ok(SerialInput::Bytes(script))
}

/// Reports the bootloader's panic, with what to do when it ran out of memory.
fn bootloader_panicked(message: &str, seconds: f64, memory_mib: u32) {
    eprintln!(
        "boot: the bootloader panicked after {seconds:.1} s, before the kernel started: {message}"
    );
    if message.contains("OUT_OF_RESOURCES") {
        eprintln!(
            "boot: it ran out of memory ({memory_mib} MiB): give the guest more with --memory MIB"
        );
    }
}

/// Starts the verdict on its own line, after output cut short by a panic or a hang.
fn end_output_line(serial: &str) {
    if !serial.is_empty() && !serial.ends_with('\n') {
        println!();
    }
}

pub fn run(args: &QemuArgs) -> Result<ExitCode> {
    let (mut run, _) = args.machine.prepare()?;
    run.mode = args.mode.clone();
    let interactive = args.mode.as_deref() == Some("shell");
    if interactive {
        // The overlay shell reads the serial console; piped commands are passed on once it
        // prompts.
        run.input = console_input(b"")?;
    }
    let outcome = boot::run(&run)?;
    let seconds = outcome.elapsed.as_secs_f64();
    end_output_line(&outcome.serial);
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
        Verdict::BootloaderPanicked { message } => {
            bootloader_panicked(&message, seconds, run.memory_mib);
            ExitCode::from(STATUS_KERNEL_FAILED)
        }
        Verdict::QemuError { status: Some(0) } if run.input == SerialInput::Inherit => {
            eprintln!("boot: QEMU was left (Ctrl-A X) after {seconds:.1} s");
            ExitCode::SUCCESS
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

/// `boot run`: the exit status is the program's (0..=255), [`STATUS_RUN_FAILED`] when the
/// kernel failed or did not report one, 124 when it hung, [`STATUS_LEFT`] when QEMU was left.
pub fn run_container(args: &RunArgs) -> Result<ExitCode> {
    ensure!(
        !args.image.contains('\n') && args.args.iter().all(|arg| !arg.contains('\0')),
        "an image name cannot hold a newline, nor an argument a NUL byte"
    );
    let (mut run, out) = args.machine.prepare()?;
    let request = out.join("run-request");
    fs::write(&request, boot::qemu::run_request(&args.image, &args.args))
        .with_context(|| format!("writing {}", request.display()))?;
    run.mode = Some("run".into());
    run.fw_cfg_files
        .push((boot::qemu::RUN_FW_CFG_NAME.to_string(), request));
    run.ready_marker = boot::qemu::RUN_READY_MARKER.to_vec();
    // Piped input ends with Ctrl-D, which ends a read at the start of a line, as on a terminal.
    run.input = console_input(b"\x04")?;
    let outcome = boot::run(&run)?;
    let seconds = outcome.elapsed.as_secs_f64();
    end_output_line(&outcome.serial);
    Ok(match outcome.verdict {
        Verdict::Passed => match boot::qemu::run_exit_status(&outcome.serial) {
            Some(status) => {
                eprintln!(
                    "boot: {} exited with {status} after {seconds:.1} s",
                    args.image
                );
                ExitCode::from(status)
            }
            None => {
                eprintln!(
                    "boot: the kernel ended without reporting an exit status (`run: exit status N`)"
                );
                ExitCode::from(STATUS_RUN_FAILED)
            }
        },
        Verdict::Failed => {
            eprintln!("boot: kernel FAILED (QEMU status 35) after {seconds:.1} s");
            ExitCode::from(STATUS_RUN_FAILED)
        }
        Verdict::Hung { after } => {
            eprintln!("boot: killed after {} s (--timeout)", after.as_secs());
            ExitCode::from(STATUS_HUNG)
        }
        Verdict::BootloaderPanicked { message } => {
            bootloader_panicked(&message, seconds, run.memory_mib);
            ExitCode::from(STATUS_RUN_FAILED)
        }
        Verdict::QemuError { status: Some(0) } if run.input == SerialInput::Inherit => {
            eprintln!("boot: QEMU was left (Ctrl-A X) after {seconds:.1} s");
            ExitCode::from(STATUS_LEFT)
        }
        Verdict::QemuError { status } => {
            let status = status.map_or("a signal".to_string(), |code| code.to_string());
            eprintln!(
                "boot: QEMU exited with {status} without a kernel verdict after {seconds:.1} s"
            );
            ExitCode::from(STATUS_RUN_FAILED)
        }
    })
}
