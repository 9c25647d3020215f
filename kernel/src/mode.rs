//! What the kernel runs after booting, chosen at boot time through fw_cfg (see `fw_cfg`), so one
//! kernel binary serves the test suite, the shells, `make run` and the harness's failure checks.
//!
//! # The fw_cfg files (written by `boot::qemu`)
//! - `opt/overlay-kernel/mode` ([`MODE_FILE`]): the mode's name, `test` when absent.
//! - `opt/overlay-kernel/run` ([`RUN_FILE`]), for the mode `run`: the image's name, a newline,
//!   then the command's arguments, each ended by a NUL byte (`busybox\nsh\0-c\0echo hi\0`).
//!   No argument means the image's own command (its config's `Entrypoint` and `Cmd`); given
//!   arguments replace `Cmd` and follow the `Entrypoint`, as `docker run IMAGE ARG...` does.
//!
//! # What the mode `run` prints
//! After the program ends the kernel prints the line `run: exit status N` (N in 0..=255, as a
//! shell's `$?`: 128 + the signal for a program a signal ended) and exits QEMU with the success
//! code; `boot` exits with N ([`EXIT_STATUS_PREFIX`]). A kernel that cannot run the program at
//! all (no such image) fails as any boot does.

use alloc::{string::String, vec::Vec};

use crate::fw_cfg;

/// The fw_cfg file that holds the mode; `boot::qemu` writes it from `--mode`.
pub const MODE_FILE: &str = "opt/overlay-kernel/mode";

/// The fw_cfg file that holds the image and command of the mode `run`.
pub const RUN_FILE: &str = "opt/overlay-kernel/run";

/// The start of the line that reports a `run`'s exit status, which `boot` reads:
/// `run: exit status 0`.
pub const EXIT_STATUS_PREFIX: &str = "run: exit status ";

/// The kernel's boot modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Run the test suite (the default, also when there is no fw_cfg device).
    Test,
    /// Run the overlay shell on the serial console, on a container of the boot image.
    Shell,
    /// Run a test that panics: the harness checks the panic is reported and fails the run.
    PanicTest,
    /// Run a test that never returns: the harness checks the hang is caught by its timeout.
    HangTest,
    /// Run the suite timed by stage, then the in-kernel benchmarks (see `bench`).
    Bench,
    /// Run the BusyBox scripts of the differential test against Linux (see `busybox_diff`).
    BusyboxDiff,
    /// Create a container of `image` and run its program (`docker run`); see the module docs.
    Run {
        /// The image's name.
        image: String,
        /// The arguments given; empty: the image's own command.
        argv: Vec<String>,
    },
}

/// The mode asked for, or why it cannot be: an unknown mode's name, or a `run` without a
/// valid [`RUN_FILE`].
pub fn read() -> Result<Mode, String> {
    let Some(bytes) = fw_cfg::read_file(MODE_FILE) else {
        return Ok(Mode::Test);
    };
    let text = String::from_utf8_lossy(&bytes);
    match text.trim() {
        "" | "test" => Ok(Mode::Test),
        "shell" => Ok(Mode::Shell),
        "panic-test" => Ok(Mode::PanicTest),
        "hang-test" => Ok(Mode::HangTest),
        "bench" => Ok(Mode::Bench),
        "busybox-diff" => Ok(Mode::BusyboxDiff),
        "run" => {
            let request = fw_cfg::read_file(RUN_FILE)
                .ok_or_else(|| String::from("mode run without the fw_cfg file ") + RUN_FILE)?;
            parse_run(&request)
        }
        other => Err(String::from(other)),
    }
}

/// Parses the contents of [`RUN_FILE`].
fn parse_run(request: &[u8]) -> Result<Mode, String> {
    let text =
        core::str::from_utf8(request).map_err(|_| String::from("the run request is not UTF-8"))?;
    let (image, args) = text
        .split_once('\n')
        .ok_or_else(|| String::from("the run request has no newline after the image name"))?;
    if image.is_empty() {
        return Err(String::from("the run request names no image"));
    }
    let argv = match args.strip_suffix('\0') {
        Some(args) => args.split('\0').map(String::from).collect(),
        None if args.is_empty() => Vec::new(),
        None => return Err(String::from("the run request's last argument has no NUL")),
    };
    Ok(Mode::Run {
        image: String::from(image),
        argv,
    })
}
