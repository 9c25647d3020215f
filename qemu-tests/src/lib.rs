//! Helpers for the QEMU tests in `tests/`: boot an image built by the same `boot` library code
//! users call, keep the serial log, and read the kernel's report out of it.

#![forbid(unsafe_code)]

use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result};
use boot::{Firmware, QemuRun, RunOutcome};

/// Generous: a BIOS boot takes about 3 s and a UEFI boot about 7 s under TCG here, but the
/// machine may be busy compiling.
pub const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

/// One QEMU boot for a test.
#[derive(Debug, Clone)]
pub struct Boot<'a> {
    /// Names the test's own output directory, so tests can run in parallel.
    pub name: &'a str,
    pub firmware: Firmware,
    pub ramdisk: Option<&'a Path>,
    pub mode: Option<&'a str>,
    /// Typed on the serial console once the kernel's shell prompts (for `mode: Some("shell")`).
    pub input: Option<&'a [u8]>,
    pub timeout: Duration,
}

/// A finished boot and where its serial log was kept.
#[derive(Debug)]
pub struct Booted {
    pub outcome: RunOutcome,
    pub log: PathBuf,
}

impl Booted {
    /// The log path and its last lines, for assertion messages.
    pub fn context(&self) -> String {
        let lines: Vec<&str> = self.outcome.serial.lines().collect();
        let tail = lines[lines.len().saturating_sub(25)..].join("\n");
        format!(
            "verdict {:?} after {:.1} s; serial log kept at {}; last lines:\n{tail}\nQEMU stderr:\n{}",
            self.outcome.verdict,
            self.outcome.elapsed.as_secs_f64(),
            self.log.display(),
            self.outcome.qemu_stderr
        )
    }
}

/// `<target>/qemu-tests/<name>`: the test's image, OVMF variables and serial log.
pub fn test_dir(name: &str) -> PathBuf {
    boot::target_dir().join("qemu-tests").join(name)
}

/// What a boot gets through fw_cfg besides its mode (see `boot::qemu`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FwCfg<'a> {
    /// An image layout the kernel adds to the RAM disk's images (e.g. [`busybox_layout`]).
    pub images: Option<&'a Path>,
    /// For the mode `run`: the image and the arguments (empty: the image's command). The
    /// boot's input, if any, is typed once the kernel prints its `run: ` line.
    pub run: Option<(&'a str, &'a [&'a str])>,
    /// Lines typed one at a time, each once the serial output shows the prompt (the first
    /// field) once more: a session at a shell's prompt (in place of the boot's `input`).
    pub typed: Option<(&'a [u8], &'a [&'a str])>,
}

/// Builds the image, boots it, and writes the serial log to `<test dir>/serial.log`.
pub fn boot(spec: &Boot) -> Result<Booted> {
    boot_with(spec, &FwCfg::default())
}

/// [`boot()`] with fw_cfg files: an image layout, a `run` request (which sets the mode `run`).
pub fn boot_with(spec: &Boot, fw_cfg: &FwCfg) -> Result<Booted> {
    let dir = test_dir(spec.name);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let image = boot::build_image(spec.firmware, Path::new(boot::KERNEL), spec.ramdisk, &dir)?;
    let mut run = QemuRun::new(spec.firmware, image, spec.timeout);
    // Sized as `boot qemu` sizes it: the default but for large images.
    let size = |path: Option<&Path>| path.and_then(|path| fs::metadata(path).ok());
    run.memory_mib = boot::qemu::memory_for(
        size(spec.ramdisk).map_or(0, |meta| meta.len()),
        size(fw_cfg.images).map_or(0, |meta| meta.len()),
    );
    run.mode = spec.mode.map(str::to_owned);
    if let Some(input) = spec.input {
        run.input = boot::SerialInput::Bytes(input.to_vec());
    }
    if let Some(images) = fw_cfg.images {
        run.fw_cfg_files.push((
            boot::qemu::IMAGES_FW_CFG_NAME.to_owned(),
            images.to_path_buf(),
        ));
    }
    if let Some((image, args)) = fw_cfg.run {
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        let request = dir.join("run-request");
        fs::write(&request, boot::qemu::run_request(image, &args))
            .with_context(|| format!("cannot write {}", request.display()))?;
        run.mode = Some("run".to_owned());
        run.fw_cfg_files
            .push((boot::qemu::RUN_FW_CFG_NAME.to_owned(), request));
        run.ready_marker = boot::qemu::RUN_READY_MARKER.to_vec();
    }
    if let Some((prompt, lines)) = fw_cfg.typed {
        run.input = boot::SerialInput::Lines {
            prompt: prompt.to_vec(),
            lines: lines.iter().map(|line| line.as_bytes().to_vec()).collect(),
        };
    }
    let outcome = boot::run(&run)?;
    let log = dir.join("serial.log");
    fs::write(&log, &outcome.serial).with_context(|| format!("cannot write {}", log.display()))?;
    Ok(Booted { outcome, log })
}

/// Writes the default image's RAM disk (the one `make qemu` boots) to `<test dir>/rootfs.tar`.
pub fn default_ramdisk(name: &str) -> Result<PathBuf> {
    let dir = test_dir(name);
    fs::create_dir_all(&dir)?;
    boot::oci::default_ramdisk(&dir)
}

/// Builds the images of `rootfs/fw-cfg-images` (BusyBox) into `<test dir>/fw-cfg-images.tar`
/// for [`FwCfg::images`]; `Ok(None)` when BusyBox has not been fetched (`make deps`), which a
/// test that needs it should report as such.
pub fn busybox_layout(name: &str) -> Result<Option<PathBuf>> {
    let dir = test_dir(name);
    fs::create_dir_all(&dir)?;
    Ok(boot::build::fw_cfg_layout(&dir)?.map(|(path, _)| path))
}

/// The exit status of a `run` boot: its `run: exit status N` line.
pub fn run_exit_status(serial: &str) -> Option<u8> {
    boot::qemu::run_exit_status(serial)
}

/// Writes `bytes` as the RAM disk `<test dir>/ramdisk` (for damaged images).
pub fn write_ramdisk(name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let dir = test_dir(name);
    fs::create_dir_all(&dir)?;
    let path = dir.join("ramdisk");
    fs::write(&path, bytes)?;
    Ok(path)
}

/// FNV-1a 64, as the kernel computes it over the RAM disk.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The result of one `test NAME ... RESULT` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestResult {
    Ok,
    Failed(String),
    /// The line was cut short: the test panicked or hung.
    Unfinished,
}

/// Every test of a serial log with its result, in the order they started. A test that printed
/// lines of its own has a first `test NAME ... ` line cut by them and its result on a later
/// `test NAME ... RESULT` line: the last line of each name is its result.
pub fn test_lines(serial: &str) -> Vec<(String, TestResult)> {
    let mut tests: Vec<(String, TestResult)> = Vec::new();
    for (name, result) in serial.lines().filter_map(|line| {
        let rest = line.strip_prefix("test ")?;
        let (name, result) = rest.split_once(" ...")?;
        let result = result.trim_start();
        let result = if result == "ok" {
            TestResult::Ok
        } else if let Some(reason) = result.strip_prefix("FAILED: ") {
            TestResult::Failed(reason.to_owned())
        } else {
            TestResult::Unfinished
        };
        Some((name.to_owned(), result))
    }) {
        match tests.iter_mut().find(|(seen, _)| *seen == name) {
            Some(entry) => entry.1 = result,
            None => tests.push((name, result)),
        }
    }
    tests
}

/// The closing `N passed, M failed` line's numbers, if the suite got that far.
pub fn closing_line(serial: &str) -> Option<(usize, usize)> {
    serial.lines().rev().find_map(|line| {
        let (passed, failed) = line.trim().split_once(" passed, ")?;
        let failed = failed.strip_suffix(" failed")?;
        Some((passed.parse().ok()?, failed.parse().ok()?))
    })
}

/// The shell's prompt on the serial console.
pub const PROMPT: &str = "overlay# ";

/// Every command of a shell session in a serial log, with what it printed: the text after
/// each prompt, split into the echoed command line and the lines up to the next prompt (or
/// the end of the log).
pub fn shell_session(serial: &str) -> Vec<(String, String)> {
    serial
        .split(PROMPT)
        .skip(1)
        .map(|segment| {
            let (command, output) = segment.split_once('\n').unwrap_or((segment, ""));
            (command.trim_end().to_owned(), output.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_session_splits_commands_and_their_output() {
        let serial = "boot\noverlay# ls /\napp\netc\noverlay# cat /x\nerror: ENOENT: cat /x\n\
                      overlay# exit\nboot: kernel passed\n";
        assert_eq!(
            shell_session(serial),
            vec![
                ("ls /".to_owned(), "app\netc\n".to_owned()),
                ("cat /x".to_owned(), "error: ENOENT: cat /x\n".to_owned()),
                ("exit".to_owned(), "boot: kernel passed\n".to_owned()),
            ]
        );
    }

    #[test]
    fn a_test_that_printed_has_its_result_on_its_last_line() {
        let log = "test segv ... \nprocess 1 (/tmp/prog): segmentation fault\ntest segv ... ok\n\
                   test next ... ok\n";
        assert_eq!(
            test_lines(log),
            vec![
                ("segv".to_owned(), TestResult::Ok),
                ("next".to_owned(), TestResult::Ok)
            ]
        );
    }

    const LOG: &str = "boot: RAM disk: none\n\
        test heap_small ... ok\n\
        test ramdisk ... FAILED: length 0, expected 4096\n\
        1 passed, 1 failed\n\
        test cut_short ... \n";

    #[test]
    fn test_lines_reads_ok_failed_and_unfinished() {
        assert_eq!(
            test_lines(LOG),
            vec![
                ("heap_small".to_owned(), TestResult::Ok),
                (
                    "ramdisk".to_owned(),
                    TestResult::Failed("length 0, expected 4096".to_owned())
                ),
                ("cut_short".to_owned(), TestResult::Unfinished),
            ]
        );
    }

    #[test]
    fn closing_line_reads_the_totals() {
        assert_eq!(closing_line(LOG), Some((1, 1)));
        assert_eq!(closing_line("test a ... ok\n"), None);
        assert_eq!(closing_line("12 passed, 0 failed\n"), Some((12, 0)));
    }

    #[test]
    fn fnv1a64_matches_the_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
