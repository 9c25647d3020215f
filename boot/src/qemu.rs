//! Running a kernel image under QEMU: the flags (all in [`qemu_args`]), the UEFI firmware files,
//! the serial log, the timeout, and the verdict the kernel reports through `isa-debug-exit`.

use std::{
    ffi::OsString,
    fs,
    io::{self, Read, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::Firmware;

/// The QEMU binary, found on `PATH`.
pub const QEMU: &str = "qemu-system-x86_64";

/// QEMU's exit status when the kernel writes 0x10 (success) to `isa-debug-exit`: (0x10 << 1) | 1.
pub const SUCCESS_STATUS: i32 = 33;
/// QEMU's exit status when the kernel writes 0x11 (failure) to `isa-debug-exit`: (0x11 << 1) | 1.
pub const FAILURE_STATUS: i32 = 35;

/// The fw_cfg file the kernel reads its boot mode from (kernel `mode::MODE_FILE`).
pub const MODE_FW_CFG_NAME: &str = "opt/overlay-kernel/mode";

/// The fw_cfg file holding a second image layout, passed by DMA (kernel `rootfs::IMAGES_FILE`).
pub const IMAGES_FW_CFG_NAME: &str = "opt/overlay-kernel/images";

/// The fw_cfg file holding the image and command of the mode `run` (kernel `mode::RUN_FILE`).
pub const RUN_FW_CFG_NAME: &str = "opt/overlay-kernel/run";

/// Guest memory for small images; [`memory_for`] sizes it for large ones.
pub const DEFAULT_MEMORY_MIB: u32 = 256;

/// Guest memory for a RAM disk of `ramdisk_bytes` and fw_cfg files of `fw_cfg_bytes`: the
/// default while they are small, else room for the RAM disk twice (under UEFI the
/// bootloader's copy, and OVMF reading it) and the fw_cfg files (the kernel reads them into
/// its heap) above 128 MiB for the firmware and the kernel, in MiB rounded up to 64. A 194 MiB
/// RAM disk in the default 256 MiB makes the UEFI bootloader panic (`OUT_OF_RESOURCES`).
pub fn memory_for(ramdisk_bytes: u64, fw_cfg_bytes: u64) -> u32 {
    const MIB: u64 = 1024 * 1024;
    let needed_mib = 128 + (2 * ramdisk_bytes + fw_cfg_bytes).div_ceil(MIB);
    let rounded_mib = needed_mib.div_ceil(64) * 64;
    u32::try_from(rounded_mib)
        .unwrap_or(u32::MAX)
        .max(DEFAULT_MEMORY_MIB)
}

/// Where OVMF may live: Debian/Ubuntu's `ovmf` package (4 MiB and 2 MiB builds), then Fedora's
/// and Arch's `edk2-ovmf`. Code and variable store must come from the same build.
const OVMF_CANDIDATES: &[(&str, &str)] = &[
    (
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
    ),
    (
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/OVMF/OVMF_VARS.fd",
    ),
    (
        "/usr/share/edk2/ovmf/OVMF_CODE.fd",
        "/usr/share/edk2/ovmf/OVMF_VARS.fd",
    ),
    (
        "/usr/share/edk2-ovmf/x64/OVMF_CODE.fd",
        "/usr/share/edk2-ovmf/x64/OVMF_VARS.fd",
    ),
];

/// One QEMU run of a kernel image.
#[derive(Debug, Clone)]
pub struct QemuRun {
    pub firmware: Firmware,
    pub image: PathBuf,
    /// Use KVM instead of TCG. Off by default: nested KVM is slower and crashes OVMF here.
    pub kvm: bool,
    /// Kill QEMU and report a hang after this long.
    pub timeout: Duration,
    /// The kernel's boot mode (`test`, `panic-test`, `hang-test`); `None` leaves the default.
    pub mode: Option<String>,
    pub memory_mib: u32,
    /// Copy the serial output to standard output as it arrives.
    pub echo: bool,
    /// What the serial console's input is.
    pub input: SerialInput,
    /// With [`SerialInput::Bytes`], the bytes are sent once the serial output holds these:
    /// [`READY_MARKER`] (the overlay shell's prompt) unless told otherwise.
    pub ready_marker: Vec<u8>,
    /// Files for the kernel through fw_cfg besides the mode: `(name, host file)`, e.g. the
    /// image layout [`IMAGES_FW_CFG_NAME`] and the request [`RUN_FW_CFG_NAME`] (a file, since
    /// its NUL bytes cannot go on a command line).
    pub fw_cfg_files: Vec<(String, PathBuf)>,
}

/// Where the kernel's serial input comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SerialInput {
    /// Nothing: the kernel never reads (the test suite).
    #[default]
    None,
    /// This process's standard input, a terminal (an interactive shell): QEMU puts it in raw
    /// mode with signals off, so Ctrl-C reaches the guest; Ctrl-A is QEMU's escape (Ctrl-A X
    /// leaves QEMU, Ctrl-A C switches to its monitor and back, Ctrl-A A sends Ctrl-A).
    Inherit,
    /// These bytes, then nothing more (a scripted shell session).
    Bytes(Vec<u8>),
    /// These lines, each sent (with its newline) once the serial output has shown `prompt`
    /// one more time: a session typed at a shell's prompt, as a person would, so nothing is
    /// typed ahead (a real transcript).
    Lines {
        /// What the shell prints when it waits for a line (its end: `"# "`).
        prompt: Vec<u8>,
        /// The lines to type.
        lines: Vec<Vec<u8>>,
    },
}

impl QemuRun {
    /// A TCG run of `image` with the default memory, no mode, no echo, and `timeout`.
    pub fn new(firmware: Firmware, image: PathBuf, timeout: Duration) -> Self {
        QemuRun {
            firmware,
            image,
            kvm: false,
            timeout,
            mode: None,
            memory_mib: DEFAULT_MEMORY_MIB,
            echo: false,
            input: SerialInput::None,
            ready_marker: READY_MARKER.to_vec(),
            fw_cfg_files: Vec::new(),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The kernel exited with the success code (QEMU status 33).
    Passed,
    /// The kernel exited with the failure code (QEMU status 35): a failed test or a panic.
    Failed,
    /// The kernel did not exit within the timeout and was killed.
    Hung { after: Duration },
    /// QEMU itself ended some other way (bad arguments, missing firmware, a triple fault with
    /// `-no-reboot`): its exit status, if any.
    QemuError { status: Option<i32> },
    /// The bootloader panicked before the kernel started (it then halts for good), and QEMU
    /// was killed at once: the panic's line.
    BootloaderPanicked { message: String },
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub verdict: Verdict,
    /// The kernel's serial output.
    pub serial: String,
    /// QEMU's own messages.
    pub qemu_stderr: String,
    /// From starting QEMU to its exit (or to the kill): the boot-to-verdict time.
    pub elapsed: Duration,
}

/// The UEFI firmware files.
#[derive(Debug, Clone)]
pub struct Ovmf {
    pub code: PathBuf,
    /// The pristine variable store; each run writes to its own copy.
    pub vars: PathBuf,
}

/// Finds OVMF: `OVMF_CODE` and `OVMF_VARS` from the environment if both are set, else the first
/// complete pair among the usual install locations.
pub fn find_ovmf() -> Result<Ovmf> {
    if let (Some(code), Some(vars)) = (std::env::var_os("OVMF_CODE"), std::env::var_os("OVMF_VARS"))
    {
        return Ok(Ovmf {
            code: code.into(),
            vars: vars.into(),
        });
    }
    OVMF_CANDIDATES
        .iter()
        .map(|(code, vars)| (Path::new(code), Path::new(vars)))
        .find(|(code, vars)| code.is_file() && vars.is_file())
        .map(|(code, vars)| Ovmf {
            code: code.to_path_buf(),
            vars: vars.to_path_buf(),
        })
        .context("OVMF not found (looked in /usr/share/OVMF and edk2 paths; `make deps` installs Debian's `ovmf`, or set OVMF_CODE and OVMF_VARS)")
}

/// A path inside a `-drive` or `-fw_cfg` option, where a comma must be doubled.
fn drive_path(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// The QEMU command line for `run`. For UEFI, `uefi` holds OVMF's code and the run's own
/// writable copy of the variable store.
pub fn qemu_args(run: &QemuRun, uefi: Option<(&Path, &Path)>) -> Vec<OsString> {
    let mut args: Vec<String> = vec![
        "-accel".into(),
        if run.kvm { "kvm" } else { "tcg" }.into(),
        "-m".into(),
        format!("{}M", run.memory_mib),
        // The kernel's verdict: writing code C to port 0xf4 exits QEMU with (C << 1) | 1.
        "-device".into(),
        "isa-debug-exit,iobase=0xf4,iosize=0x04".into(),
        "-display".into(),
        "none".into(),
        "-nic".into(),
        "none".into(),
        // A triple fault ends the run instead of rebooting into the same failure forever.
        "-no-reboot".into(),
    ];
    // Headless: the serial port is the console, on standard input and output.
    if run.input == SerialInput::Inherit {
        // A person at a terminal: Ctrl-C is a byte for the guest (signal=off), and the monitor
        // shares the terminal behind QEMU's escape key (mux=on): Ctrl-A X leaves QEMU.
        args.extend([
            "-chardev".into(),
            "stdio,id=console,signal=off,mux=on".into(),
            "-serial".into(),
            "chardev:console".into(),
            "-mon".into(),
            "chardev=console,mode=readline".into(),
        ]);
    } else {
        args.extend([
            "-serial".into(),
            "stdio".into(),
            "-monitor".into(),
            "none".into(),
        ]);
    }
    if let Some((code, vars)) = uefi {
        args.push("-drive".into());
        args.push(format!(
            "if=pflash,format=raw,readonly=on,file={}",
            drive_path(code)
        ));
        args.push("-drive".into());
        args.push(format!("if=pflash,format=raw,file={}", drive_path(vars)));
    }
    // A virtio disk: firmware reads it by DMA, where IDE's port I/O costs an exit per word under
    // TCG (a 200 MiB RAM disk loads in about 3 s instead of 25, a BIOS boot takes half the
    // time). It is the first boot device, so OVMF does not try the machine's empty CD-ROM
    // first (its `BdsDxe: failed to load Boot0001 "UEFI QEMU DVD-ROM"` line).
    args.push("-drive".into());
    args.push(format!(
        "if=none,id=boot-disk,format=raw,file={}",
        drive_path(&run.image)
    ));
    args.push("-device".into());
    args.push("virtio-blk-pci,drive=boot-disk,bootindex=0".into());
    if let Some(mode) = &run.mode {
        args.push("-fw_cfg".into());
        args.push(format!(
            "name={MODE_FW_CFG_NAME},string={}",
            mode.replace(',', ",,")
        ));
    }
    for (name, path) in &run.fw_cfg_files {
        args.push("-fw_cfg".into());
        args.push(format!("name={name},file={}", drive_path(path)));
    }
    args.into_iter().map(OsString::from).collect()
}

/// A marker to count in the serial output, and how many times it was seen so far.
#[derive(Clone)]
struct Watch {
    marker: Vec<u8>,
    seen: Arc<AtomicUsize>,
}

impl Watch {
    fn new(marker: &[u8]) -> Watch {
        Watch {
            marker: marker.to_vec(),
            seen: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn seen(&self) -> usize {
        self.seen.load(Ordering::Acquire)
    }

    /// Waits until the marker was seen more than `count` times; false after `timeout`.
    fn wait_past(&self, count: usize, timeout: Duration) -> bool {
        let waiting = Instant::now();
        while self.seen() <= count {
            if waiting.elapsed() >= timeout {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Counts the occurrences of the marker that end in `collected[new_from..]`.
    fn count_new(&self, collected: &[u8], new_from: usize) {
        if self.marker.is_empty() {
            return;
        }
        // Ends at or before `new_from` were counted with the earlier chunks.
        let first_end = (new_from + 1).max(self.marker.len());
        let found = (first_end..=collected.len())
            .filter(|&end| collected[..end].ends_with(&self.marker))
            .count();
        if found > 0 {
            self.seen.fetch_add(found, Ordering::Release);
        }
    }
}

/// Removes terminal escape sequences (`ESC [ ... final`, `ESC ( X`, `ESC X`) from a stream
/// of chunks; a sequence cut between two chunks is removed whole.
#[derive(Debug, Default)]
struct EscapeFilter {
    state: EscapeState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum EscapeState {
    #[default]
    Text,
    /// After ESC.
    Escape,
    /// Inside `ESC [`, up to its final byte (0x40..=0x7e).
    Csi,
    /// After `ESC (` or `ESC )`: one more byte (a character set).
    Charset,
}

impl EscapeFilter {
    /// The bytes of `chunk` that are not part of an escape sequence.
    fn filter(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut text = Vec::with_capacity(chunk.len());
        for &byte in chunk {
            self.state = match (self.state, byte) {
                (EscapeState::Text, 0x1b) => EscapeState::Escape,
                (EscapeState::Text, _) => {
                    text.push(byte);
                    EscapeState::Text
                }
                (EscapeState::Escape, b'[') => EscapeState::Csi,
                (EscapeState::Escape, b'(' | b')') => EscapeState::Charset,
                (EscapeState::Csi, 0x40..=0x7e) => EscapeState::Text,
                (EscapeState::Csi, _) => EscapeState::Csi,
                (EscapeState::Escape | EscapeState::Charset, _) => EscapeState::Text,
            };
        }
        text
    }
}

/// `text` without its terminal escape sequences.
pub fn strip_escapes(text: &str) -> String {
    String::from_utf8_lossy(&EscapeFilter::default().filter(text.as_bytes())).into_owned()
}

/// Reads `from` to its end, copying each chunk to `echo` as it arrives and counting `watches`.
/// Until `plain_after` has been seen, the echo leaves out terminal escape sequences (OVMF's
/// screen control before the kernel starts); the collected bytes keep everything.
fn collect(
    mut from: impl Read,
    mut echo: Option<Box<dyn Write + Send>>,
    watches: Vec<Watch>,
    plain_after: Option<Watch>,
) -> Vec<u8> {
    let mut collected = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut filter = EscapeFilter::default();
    loop {
        match from.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let filtering = plain_after.as_ref().is_some_and(|watch| watch.seen() == 0);
                let new_from = collected.len();
                collected.extend_from_slice(&chunk[..n]);
                for watch in watches.iter().chain(&plain_after) {
                    watch.count_new(&collected, new_from);
                }
                if let Some(out) = echo.as_mut() {
                    let shown = if filtering {
                        filter.filter(&chunk[..n])
                    } else {
                        chunk[..n].to_vec()
                    };
                    // Echo is a courtesy; a closed terminal must not stop the run.
                    let _ = out.write_all(&shown).and_then(|()| out.flush());
                }
            }
        }
    }
    collected
}

/// The start of the kernel's first line (`overlay kernel 0.1.0 starting`): before it, the
/// serial output is the firmware's and the bootloader's.
pub const KERNEL_STARTED_MARKER: &[u8] = b"overlay kernel ";

/// What a Rust panic message holds: before [`KERNEL_STARTED_MARKER`], the bootloader's panic
/// (its UEFI stage prints it through the firmware, its log as `ERROR: panicked at ...`).
pub const PANIC_MARKER: &[u8] = b"panicked at";

/// How long the rest of a bootloader's panic message may take to arrive before QEMU is killed.
const PANIC_GRACE: Duration = Duration::from_millis(500);

/// The bootloader's panic in `serial`: the line that says where, and the message after it,
/// without escape sequences.
fn bootloader_panic_message(serial: &str) -> String {
    let text = strip_escapes(serial);
    let mut lines = text
        .lines()
        .map(str::trim)
        .skip_while(|line| !line.contains("panicked at"))
        .filter(|line| !line.is_empty());
    match (lines.next(), lines.next()) {
        (Some(place), Some(message)) if place.ends_with(':') => format!("{place} {message}"),
        (Some(place), _) => place.to_string(),
        (None, _) => String::from("panicked"),
    }
}

/// What the kernel's shell prints when it waits for a line: scripted input starts after it.
pub const READY_MARKER: &[u8] = b"overlay# ";

/// What the kernel prints in the mode `run` before it starts the program (a line `run: ...`,
/// kernel `mode`): piped input starts after it.
pub const RUN_READY_MARKER: &[u8] = b"\nrun: ";

/// The start of the line the kernel prints when the program of the mode `run` has ended
/// (kernel `mode::EXIT_STATUS_PREFIX`): `run: exit status N`.
pub const EXIT_STATUS_PREFIX: &str = "run: exit status ";

/// The contents of the fw_cfg file [`RUN_FW_CFG_NAME`]: the image's name, a newline, then each
/// argument followed by a NUL byte (none: the image's own command).
pub fn run_request(image: &str, args: &[String]) -> Vec<u8> {
    let mut request = format!("{image}\n").into_bytes();
    for arg in args {
        request.extend_from_slice(arg.as_bytes());
        request.push(0);
    }
    request
}

/// The exit status the kernel reported in `serial` (its last `run: exit status N` line), if
/// it reported one in 0..=255.
pub fn run_exit_status(serial: &str) -> Option<u8> {
    serial
        .lines()
        .rev()
        .find_map(|line| line.trim_end().strip_prefix(EXIT_STATUS_PREFIX))
        .and_then(|status| status.parse().ok())
}

/// Boots `run.image` under QEMU, waits for the kernel's verdict or the timeout, and returns it
/// with the serial log.
pub fn run(run: &QemuRun) -> Result<RunOutcome> {
    let vars_copy;
    let ovmf;
    let uefi = match run.firmware {
        Firmware::Bios => None,
        Firmware::Uefi => {
            ovmf = find_ovmf()?;
            // OVMF writes its variable store, so every run gets a fresh copy next to its image.
            vars_copy = run.image.with_extension("ovmf-vars.fd");
            fs::copy(&ovmf.vars, &vars_copy).with_context(|| {
                format!(
                    "cannot copy {} to {}",
                    ovmf.vars.display(),
                    vars_copy.display()
                )
            })?;
            Some((ovmf.code.as_path(), vars_copy.as_path()))
        }
    };
    let started = Instant::now();
    let stdin = match run.input {
        SerialInput::None => Stdio::null(),
        SerialInput::Inherit => Stdio::inherit(),
        SerialInput::Bytes(_) | SerialInput::Lines { .. } => Stdio::piped(),
    };
    // QEMU makes the terminal raw and restores it when it exits, but not when it is killed
    // (the timeout): the settings are saved here and put back after any end.
    let terminal = (run.input == SerialInput::Inherit)
        .then(saved_terminal)
        .flatten();
    let mut child = Command::new(QEMU)
        .args(qemu_args(run, uefi))
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => {
                anyhow::anyhow!(
                    "{QEMU} not found: run `make deps` (Debian package qemu-system-x86)"
                )
            }
            _ => anyhow::Error::new(error).context(format!("cannot start {QEMU}")),
        })?;
    let stdout = child
        .stdout
        .take()
        .context("QEMU's stdout was not captured")?;
    let stderr = child
        .stderr
        .take()
        .context("QEMU's stderr was not captured")?;
    let ready = Watch::new(&run.ready_marker);
    let panicked = Watch::new(PANIC_MARKER);
    let kernel_started = Watch::new(KERNEL_STARTED_MARKER);
    let mut watches = vec![ready.clone(), panicked.clone()];
    let timeout = run.timeout;
    // Input sent before the kernel reads is lost (setting up the UART clears its FIFO), so it
    // waits for the kernel's first prompt; a thread, so a kernel that never reads cannot block
    // the harness. A UART has no end of input: after the last byte the kernel just waits.
    match (&run.input, child.stdin.take()) {
        (SerialInput::Bytes(bytes), Some(mut stdin)) => {
            let bytes = bytes.clone();
            let ready = ready.clone();
            thread::spawn(move || {
                ready.wait_past(0, timeout);
                stdin.write_all(&bytes)
            });
        }
        (SerialInput::Lines { prompt, lines }, Some(mut stdin)) => {
            let prompts = Watch::new(prompt);
            watches.push(prompts.clone());
            let lines = lines.clone();
            let ready = ready.clone();
            thread::spawn(move || -> io::Result<()> {
                ready.wait_past(0, timeout);
                let before = prompts.seen();
                for (index, line) in lines.iter().enumerate() {
                    if !prompts.wait_past(before + index, timeout) {
                        break;
                    }
                    stdin.write_all(line)?;
                    stdin.write_all(b"\n")?;
                    stdin.flush()?;
                }
                Ok(())
            });
        }
        _ => {}
    }
    let echo = run.echo;
    let started_watch = kernel_started.clone();
    let serial_reader = thread::spawn(move || {
        collect(
            stdout,
            echo.then(|| Box::new(io::stdout()) as _),
            watches,
            Some(started_watch),
        )
    });
    let stderr_reader = thread::spawn(move || {
        collect(
            stderr,
            echo.then(|| Box::new(io::stderr()) as _),
            Vec::new(),
            None,
        )
    });

    /// Why the wait for QEMU ended.
    enum End {
        Exited(std::process::ExitStatus),
        TimedOut,
        BootloaderPanicked,
    }
    let mut bootloader_panic_seen: Option<Instant> = None;
    let end = loop {
        if let Some(status) = child.try_wait().context("cannot wait for QEMU")? {
            break End::Exited(status);
        }
        // The bootloader halts after its panic: waiting for the timeout would only delay the
        // verdict. A panic after the kernel started is the kernel's, which exits by itself.
        if panicked.seen() > 0 && kernel_started.seen() == 0 {
            let seen = *bootloader_panic_seen.get_or_insert_with(Instant::now);
            if seen.elapsed() >= PANIC_GRACE {
                let _ = child.kill();
                child.wait().context("cannot reap the killed QEMU")?;
                break End::BootloaderPanicked;
            }
        }
        if started.elapsed() >= run.timeout {
            // Already exited between the two checks is fine: kill then reports an error we ignore.
            let _ = child.kill();
            child.wait().context("cannot reap the killed QEMU")?;
            break End::TimedOut;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    if let Some(settings) = &terminal {
        restore_terminal(settings);
    }
    let serial = serial_reader.join().unwrap_or_default();
    let qemu_stderr = stderr_reader.join().unwrap_or_default();
    let serial = String::from_utf8_lossy(&serial).into_owned();
    let verdict = match end {
        End::TimedOut => Verdict::Hung { after: run.timeout },
        End::BootloaderPanicked => Verdict::BootloaderPanicked {
            message: bootloader_panic_message(&serial),
        },
        End::Exited(status) => match status.code() {
            Some(SUCCESS_STATUS) => Verdict::Passed,
            Some(FAILURE_STATUS) => Verdict::Failed,
            code => Verdict::QemuError { status: code },
        },
    };
    Ok(RunOutcome {
        verdict,
        serial,
        qemu_stderr: String::from_utf8_lossy(&qemu_stderr).into_owned(),
        elapsed,
    })
}

/// The settings of the terminal on standard input (`stty -g`), if it is one.
fn saved_terminal() -> Option<String> {
    let output = Command::new("stty")
        .arg("-g")
        .stdin(Stdio::inherit())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let settings = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !settings.trim().is_empty()).then(|| settings.trim().to_string())
}

/// Puts back settings [`saved_terminal`] saved; a failure only leaves the terminal as it is.
fn restore_terminal(settings: &str) {
    let _ = Command::new("stty")
        .arg(settings)
        .stdin(Stdio::inherit())
        .stderr(Stdio::null())
        .status();
}

/// Fails early with a clear message when QEMU is not installed.
pub fn check_qemu_installed() -> Result<()> {
    match Command::new(QEMU)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => bail!("`{QEMU} --version` failed ({status})"),
        Err(_) => bail!("{QEMU} not found: run `make deps` (Debian package qemu-system-x86)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_of(run: &QemuRun, uefi: Option<(&Path, &Path)>) -> Vec<String> {
        qemu_args(run, uefi)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    fn has_pair(args: &[String], flag: &str, value: &str) -> bool {
        args.windows(2).any(|w| w[0] == flag && w[1] == value)
    }

    #[test]
    fn bios_run_is_headless_tcg_with_debug_exit() {
        let run = QemuRun::new(Firmware::Bios, "/tmp/k.img".into(), Duration::from_secs(5));
        let args = args_of(&run, None);
        assert!(has_pair(&args, "-accel", "tcg"));
        assert!(has_pair(
            &args,
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04"
        ));
        assert!(has_pair(&args, "-serial", "stdio"));
        assert!(has_pair(&args, "-display", "none"));
        assert!(args.contains(&"-no-reboot".to_string()));
        assert!(has_pair(
            &args,
            "-drive",
            "if=none,id=boot-disk,format=raw,file=/tmp/k.img"
        ));
        assert!(has_pair(
            &args,
            "-device",
            "virtio-blk-pci,drive=boot-disk,bootindex=0"
        ));
        assert!(!args.iter().any(|a| a.contains("pflash") || a == "-fw_cfg"));
    }

    #[test]
    fn uefi_run_adds_read_only_code_and_writable_vars() {
        let run = QemuRun::new(Firmware::Uefi, "/tmp/k.img".into(), Duration::from_secs(5));
        let args = args_of(
            &run,
            Some((Path::new("/o/CODE.fd"), Path::new("/t/vars,1.fd"))),
        );
        assert!(has_pair(
            &args,
            "-drive",
            "if=pflash,format=raw,readonly=on,file=/o/CODE.fd"
        ));
        // Commas in paths are doubled, as QEMU's option syntax requires.
        assert!(has_pair(
            &args,
            "-drive",
            "if=pflash,format=raw,file=/t/vars,,1.fd"
        ));
    }

    #[test]
    fn kvm_and_mode_and_memory_reach_the_command_line() {
        let mut run = QemuRun::new(Firmware::Bios, "/k.img".into(), Duration::from_secs(5));
        run.kvm = true;
        run.mode = Some("panic-test".into());
        run.memory_mib = 512;
        let args = args_of(&run, None);
        assert!(has_pair(&args, "-accel", "kvm"));
        assert!(has_pair(&args, "-m", "512M"));
        assert!(has_pair(
            &args,
            "-fw_cfg",
            "name=opt/overlay-kernel/mode,string=panic-test"
        ));
    }

    #[test]
    fn a_terminal_gets_a_console_where_ctrl_c_reaches_the_guest() {
        let mut run = QemuRun::new(Firmware::Bios, "/k.img".into(), Duration::from_secs(5));
        run.input = SerialInput::Inherit;
        let args = args_of(&run, None);
        assert!(has_pair(
            &args,
            "-chardev",
            "stdio,id=console,signal=off,mux=on"
        ));
        assert!(has_pair(&args, "-serial", "chardev:console"));
        assert!(has_pair(&args, "-mon", "chardev=console,mode=readline"));
        assert!(!args.contains(&"stdio".to_string()));
        assert!(!has_pair(&args, "-monitor", "none"));
    }

    #[test]
    fn fw_cfg_files_reach_the_command_line_with_commas_doubled() {
        let mut run = QemuRun::new(Firmware::Bios, "/k.img".into(), Duration::from_secs(5));
        run.fw_cfg_files = vec![
            (IMAGES_FW_CFG_NAME.into(), "/t/images,1.tar".into()),
            (RUN_FW_CFG_NAME.into(), "/t/run".into()),
        ];
        let args = args_of(&run, None);
        assert!(has_pair(
            &args,
            "-fw_cfg",
            "name=opt/overlay-kernel/images,file=/t/images,,1.tar"
        ));
        assert!(has_pair(
            &args,
            "-fw_cfg",
            "name=opt/overlay-kernel/run,file=/t/run"
        ));
    }

    #[test]
    fn a_run_request_is_the_image_a_newline_and_nul_ended_arguments() {
        let args = ["sh".to_string(), "-c".into(), "echo a b".into()];
        assert_eq!(
            run_request("busybox", &args),
            b"busybox\nsh\0-c\0echo a b\0"
        );
        assert_eq!(run_request("busybox", &[]), b"busybox\n");
    }

    #[test]
    fn the_last_exit_status_line_is_the_programs_status() {
        let serial = "run: busybox: sh -c exit 3\r\nhello\nrun: exit status 3\r\n";
        assert_eq!(run_exit_status(serial), Some(3));
        assert_eq!(run_exit_status("run: exit status 255\n"), Some(255));
        assert_eq!(run_exit_status("run: exit status 256\n"), None);
        assert_eq!(run_exit_status("run: exit status x\n"), None);
        assert_eq!(run_exit_status("no status\n"), None);
    }

    #[test]
    fn escape_sequences_are_removed_even_across_chunks() {
        let mut filter = EscapeFilter::default();
        let mut text = filter.filter(b"\x1b[0m\x1b[30m\x1b[40m\x1b[2J\x1b[01;01HBdsDxe: ok\x1b[");
        text.extend(filter.filter(b"=3h\x1b(Bnext\r\n"));
        assert_eq!(text, b"BdsDxe: oknext\r\n");
        assert_eq!(strip_escapes("a\x1b[1;31mb\x1b[0m"), "ab");
    }

    #[test]
    fn the_bootloader_panic_message_is_its_place_and_its_message() {
        let serial = "\x1b[2J\x1b[01;01HBdsDxe: starting Boot0002\r\n\
                      panicked at src/main.rs:333:10:\r\n\
                      called `Result::unwrap()` on an `Err` value: OUT_OF_RESOURCES\r\n";
        assert_eq!(
            bootloader_panic_message(serial),
            "panicked at src/main.rs:333:10: called `Result::unwrap()` on an `Err` value: \
             OUT_OF_RESOURCES"
        );
        assert_eq!(
            bootloader_panic_message("ERROR: panicked at x.rs:1:2: boom\n"),
            "ERROR: panicked at x.rs:1:2: boom"
        );
    }

    #[test]
    fn memory_grows_with_large_images_only() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(memory_for(0, 0), DEFAULT_MEMORY_MIB);
        assert_eq!(memory_for(100 * 1024, 3 * MIB), DEFAULT_MEMORY_MIB);
        // A Debian-sized RAM disk: 194 MiB twice, 2 MiB of fw_cfg, 128 MiB: 518 -> 576.
        assert_eq!(memory_for(194 * MIB, 2 * MIB), 576);
    }

    #[test]
    fn exit_statuses_follow_isa_debug_exit_encoding() {
        assert_eq!(SUCCESS_STATUS, (0x10 << 1) | 1);
        assert_eq!(FAILURE_STATUS, (0x11 << 1) | 1);
    }
}
