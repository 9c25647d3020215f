//! What the kernel runs after booting, chosen at boot time through fw_cfg (see `fw_cfg`), so one
//! kernel binary serves the test suite and the harness's failure checks.

use alloc::string::String;

use crate::fw_cfg;

/// The fw_cfg file that holds the mode; `boot::qemu` writes it from `--mode`.
pub const MODE_FILE: &str = "opt/overlay-kernel/mode";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run the test suite (the default, also when there is no fw_cfg device).
    Test,
    /// Run the shell on the serial console, on a container of the boot image.
    Shell,
    /// Run a test that panics: the harness checks the panic is reported and fails the run.
    PanicTest,
    /// Run a test that never returns: the harness checks the hang is caught by its timeout.
    HangTest,
    /// Run the suite timed by stage, then the in-kernel benchmarks (see `bench`).
    Bench,
}

/// The mode asked for, or the unrecognised text.
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
        other => Err(String::from(other)),
    }
}
