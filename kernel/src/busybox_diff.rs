//! Boot mode `busybox-diff`: the kernel's side of the differential test of BusyBox scripts
//! against Linux (`boot difftest --busybox`, see `boot/src/busybox_diff/mod.rs` for the
//! protocol). Each script of the fw_cfg file `opt/overlay-kernel/busybox-scripts` runs as
//! `/bin/busybox sh -c SCRIPT` in a fresh container of the `busybox` image, its output
//! captured; the kernel prints one block of `busybox-diff` lines per script (output, status,
//! the union's `tree /`, the container's `diff`) and `busybox-diff done COUNT` at the end.

use alloc::{format, string::String, sync::Arc, vec::Vec};

use overlay_core::containers::ContainerManager;
use overlay_core::shell::Shell;

use crate::process::{self, Capture, Launch, LaunchStdio, RunLimits, RunReport};
use crate::{fw_cfg, println};

/// The fw_cfg file holding the scripts: `NAME\0SCRIPT\0` for each.
pub const SCRIPTS_FILE: &str = "opt/overlay-kernel/busybox-scripts";
/// The image every script runs in.
const IMAGE: &str = "busybox";
/// The environment of the shell, as on the Linux side (Docker's default `PATH`, `HOME`).
const ENVIRONMENT: &[&str] = &[
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
];
/// How long one script may run, in seconds.
const SCRIPT_SECONDS: u64 = 60;
/// Bytes of output per `out`/`err` line.
const CHUNK_BYTES: usize = 64;

/// Runs every script and prints the blocks.
///
/// # Errors
/// A one-line reason when the scripts file is missing or malformed, or there are no images.
pub fn run(manager: &Arc<ContainerManager>) -> Result<(), String> {
    let bytes = fw_cfg::read_file(SCRIPTS_FILE)
        .ok_or_else(|| format!("busybox-diff: no fw_cfg file {SCRIPTS_FILE}"))?;
    let scripts = decode(&bytes)?;
    for (index, (name, script)) in scripts.iter().enumerate() {
        println!("busybox-diff begin {name}");
        let container = format!("diff-{index}");
        if let Err(why) = run_one(manager, &container, name, script) {
            println!("busybox-diff error {name} {why}");
        }
        let _ = manager.remove_container(&container);
        println!("busybox-diff end {name}");
    }
    println!("busybox-diff done {}", scripts.len());
    Ok(())
}

/// The scripts of the file: pairs of NUL-ended fields.
fn decode(bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let Some(body) = bytes.strip_suffix(&[0]) else {
        return if bytes.is_empty() {
            Ok(Vec::new())
        } else {
            Err(String::from(
                "busybox-diff: the scripts file does not end with NUL",
            ))
        };
    };
    let fields: Vec<&[u8]> = body.split(|&byte| byte == 0).collect();
    if !fields.len().is_multiple_of(2) {
        return Err(String::from("busybox-diff: a script record is cut short"));
    }
    fields
        .chunks(2)
        .map(|pair| {
            let name = core::str::from_utf8(pair[0]).map_err(|_| "a name is not UTF-8")?;
            let script = core::str::from_utf8(pair[1]).map_err(|_| "a script is not UTF-8")?;
            Ok((String::from(name), String::from(script)))
        })
        .collect::<Result<_, &str>>()
        .map_err(|why| format!("busybox-diff: {why}"))
}

fn run_one(
    manager: &Arc<ContainerManager>,
    container: &str,
    name: &str,
    script: &str,
) -> Result<(), String> {
    manager
        .run(IMAGE, container)
        .map_err(|errno| format!("container of {IMAGE}: {errno}"))?;
    let stdout = Capture::new();
    let stderr = Capture::new();
    let launch = Launch {
        container,
        command: ["/bin/busybox", "sh", "-c", script]
            .iter()
            .map(|arg| String::from(*arg))
            .collect(),
        env: Some(ENVIRONMENT.iter().map(|var| String::from(*var)).collect()),
        stdio: LaunchStdio::Captured {
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        },
        limits: RunLimits {
            max_ticks: Some(SCRIPT_SECONDS * process::TICKS_PER_SECOND),
        },
    };
    let report = process::launch(manager, &launch)?;
    print_hex(name, "out", &stdout.bytes());
    print_hex(name, "err", &stderr.bytes());
    println!("busybox-diff status {name} {}", status(&report));
    let mut shell = Shell::with_engine(manager.clone(), container)
        .map_err(|errno| format!("shell: {errno}"))?;
    let mut tree = String::new();
    let _ = shell.run_line("tree /", &mut tree);
    for line in tree.lines() {
        println!("busybox-diff tree {name} {line}");
    }
    let union = manager
        .container(container)
        .map_err(|errno| format!("container: {errno}"))?;
    let changes = union.diff().map_err(|errno| format!("diff: {errno}"))?;
    for change in changes {
        println!(
            "busybox-diff diff {name} {} {}",
            change.kind.letter(),
            change.path
        );
    }
    Ok(())
}

fn status(report: &RunReport) -> String {
    if report.timed_out {
        return String::from("timeout");
    }
    let signal = report.wait_status & 0x7f;
    if signal == 0 {
        format!("exit {}", (report.wait_status >> 8) & 0xff)
    } else {
        format!("signal {signal}")
    }
}

fn print_hex(name: &str, stream: &str, bytes: &[u8]) {
    for chunk in bytes.chunks(CHUNK_BYTES) {
        let hex: String = chunk.iter().map(|byte| format!("{byte:02x}")).collect();
        println!("busybox-diff {stream} {name} {hex}");
    }
}
