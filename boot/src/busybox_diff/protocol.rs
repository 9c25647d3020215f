//! The protocol between the host and the kernel: the scripts in, one block of serial lines per
//! script out. See the [module docs](super) for the definition; this file is its one
//! implementation on the host (encoder of the scripts file, reference printer of a block, and
//! the parser of the serial log).

use std::fmt::Write as _;

use anyhow::{bail, Result};

use super::corpus::{check_name, Script};
use super::{ScriptResult, Status};

/// The fw_cfg file that carries the scripts to the kernel (`-fw_cfg name=...,file=...`).
pub const FW_CFG_FILE: &str = "opt/overlay-kernel/busybox-scripts";

/// The kernel's boot mode (the fw_cfg file `opt/overlay-kernel/mode`) that runs the scripts.
pub const KERNEL_MODE: &str = "busybox-diff";

/// The first word of every serial line of the protocol.
pub const LINE_PREFIX: &str = "busybox-diff";

/// How many bytes of output one `out`/`err` line carries at most (twice as many hex digits).
pub const CHUNK_BYTES: usize = 64;

/// The scripts file: `NAME\0SCRIPT\0` for each script, in order.
///
/// # Errors
/// A name or script that the format cannot carry (see [`Script::new`]).
pub fn encode_scripts(scripts: &[Script]) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    for script in scripts {
        check_name(&script.name)?;
        if script.text.contains('\0') {
            bail!("script {}: holds a NUL byte", script.name);
        }
        bytes.extend_from_slice(script.name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(script.text.as_bytes());
        bytes.push(0);
    }
    Ok(bytes)
}

/// The scripts of a scripts file, as the kernel reads it (the reference for the kernel's
/// reader, and its test).
///
/// # Errors
/// A truncated record (an odd number of NUL-terminated fields, or bytes after the last NUL),
/// a name that is not valid, or text that is not UTF-8.
pub fn decode_scripts(bytes: &[u8]) -> Result<Vec<Script>> {
    let Some(body) = bytes.strip_suffix(&[0]) else {
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        bail!("the scripts file does not end with a NUL byte");
    };
    let fields: Vec<&[u8]> = body.split(|byte| *byte == 0).collect();
    if !fields.len().is_multiple_of(2) {
        bail!("the scripts file ends in the middle of a record");
    }
    fields
        .chunks(2)
        .map(|pair| {
            let name = std::str::from_utf8(pair[0])?;
            let text = std::str::from_utf8(pair[1])?;
            Script::new(name, text)
        })
        .collect()
}

/// The block of serial lines the kernel prints for `result` (the reference printer: the
/// kernel must print exactly this, other lines of its own may come between).
pub fn block(result: &ScriptResult) -> String {
    let name = &result.name;
    let mut text = String::new();
    let _ = writeln!(text, "{LINE_PREFIX} begin {name}");
    for (kind, bytes) in [("out", &result.stdout), ("err", &result.stderr)] {
        for chunk in bytes.chunks(CHUNK_BYTES) {
            let _ = writeln!(text, "{LINE_PREFIX} {kind} {name} {}", hex(chunk));
        }
    }
    let _ = writeln!(text, "{LINE_PREFIX} status {name} {}", result.status);
    for line in &result.tree {
        let _ = writeln!(text, "{LINE_PREFIX} tree {name} {line}");
    }
    for line in &result.diff {
        let _ = writeln!(text, "{LINE_PREFIX} diff {name} {line}");
    }
    let _ = writeln!(text, "{LINE_PREFIX} end {name}");
    text
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

/// What the kernel printed for one script.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelRecord {
    /// The script's name.
    pub name: String,
    /// Its standard output (the `out` chunks, in order).
    pub stdout: Vec<u8>,
    /// Its standard error (the `err` chunks, in order).
    pub stderr: Vec<u8>,
    /// How it ended, if the kernel said.
    pub status: Option<Status>,
    /// The union's `tree /` after it ran.
    pub tree: Vec<String>,
    /// The container's `diff` after it ran.
    pub diff: Vec<String>,
    /// `error` lines: the kernel could not run the script.
    pub errors: Vec<String>,
    /// Whether the block's `end` line came.
    pub ended: bool,
}

/// Everything the protocol's lines in a serial log said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelOutput {
    /// One record per script, in the order their blocks began.
    pub records: Vec<KernelRecord>,
    /// The count of the `done` line, if it came.
    pub done: Option<usize>,
    /// Protocol lines that could not be understood, with the reason.
    pub malformed: Vec<String>,
}

impl KernelOutput {
    /// The record of the script `name`.
    pub fn record(&self, name: &str) -> Option<&KernelRecord> {
        self.records.iter().find(|record| record.name == name)
    }
}

/// Reads the protocol's lines out of the serial log `serial` (other lines are ignored; line
/// ends may be `\n` or `\r\n`).
pub fn parse_serial(serial: &str) -> KernelOutput {
    let mut output = KernelOutput::default();
    // The record of each name whose block has begun and not ended.
    let mut open: Vec<usize> = Vec::new();
    for raw in serial.lines() {
        let line = raw.trim_end_matches('\r');
        let Some(rest) = line
            .strip_prefix(LINE_PREFIX)
            .and_then(|rest| rest.strip_prefix(' '))
        else {
            continue;
        };
        let (kind, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if kind == "done" {
            match rest.trim().parse() {
                Ok(count) => output.done = Some(count),
                Err(_) => output.malformed.push(format!("{line}: not a count")),
            }
            continue;
        }
        let (name, data) = rest.split_once(' ').unwrap_or((rest, ""));
        if check_name(name).is_err() {
            output.malformed.push(format!("{line}: no script name"));
            continue;
        }
        if kind == "begin" {
            if let Some(at) = output.records.iter().position(|record| record.name == name) {
                output.malformed.push(format!(
                    "{line}: a second block for {name}; the first is dropped"
                ));
                output.records.remove(at);
                open.retain(|index| *index != at);
                for index in &mut open {
                    if *index > at {
                        *index -= 1;
                    }
                }
            }
            open.push(output.records.len());
            output.records.push(KernelRecord {
                name: name.to_string(),
                ..KernelRecord::default()
            });
            continue;
        }
        let Some(slot) = open
            .iter()
            .position(|index| output.records[*index].name == name)
        else {
            output
                .malformed
                .push(format!("{line}: outside a begin/end block of {name}"));
            continue;
        };
        let index = open[slot];
        let record = &mut output.records[index];
        match kind {
            "out" | "err" => match unhex(data) {
                Some(bytes) if kind == "out" => record.stdout.extend(bytes),
                Some(bytes) => record.stderr.extend(bytes),
                None => output.malformed.push(format!("{line}: not hex")),
            },
            "status" => match data.parse() {
                Ok(status) => record.status = Some(status),
                Err(()) => output.malformed.push(format!("{line}: not a status")),
            },
            "tree" => record.tree.push(data.to_string()),
            "diff" => record.diff.push(data.to_string()),
            "error" => record.errors.push(data.to_string()),
            "end" => {
                record.ended = true;
                open.remove(slot);
            }
            _ => output
                .malformed
                .push(format!("{line}: unknown kind {kind:?}")),
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str) -> ScriptResult {
        ScriptResult {
            name: name.into(),
            stdout: (0..=200u8).collect(),
            stderr: b"cat: can't open '/missing': No such file or directory\n".to_vec(),
            status: Status::Exit(1),
            tree: vec![
                "d 0755 0:0 - - /".into(),
                "f 0644 0:0 3 abcdef0123456789 /a file".into(),
            ],
            diff: vec!["A /a file".into()],
        }
    }

    #[test]
    fn scripts_file_round_trips() {
        let scripts = vec![
            Script::new("one", "echo 1\n").unwrap(),
            Script::new("two", "").unwrap(),
        ];
        let bytes = encode_scripts(&scripts).unwrap();
        assert_eq!(bytes, b"one\0echo 1\n\0two\0\0");
        assert_eq!(decode_scripts(&bytes).unwrap(), scripts);
        assert!(decode_scripts(b"one\0echo").is_err());
        assert!(decode_scripts(b"one\0").is_err());
        assert!(decode_scripts(b"").unwrap().is_empty());
    }

    #[test]
    fn blocks_parse_back_amid_other_lines() {
        let a = result("a");
        let mut b = result("b");
        b.status = Status::Signal(11);
        b.stdout.clear();
        let serial = format!(
            "boot log\r\n{}kernel: unknown system call 999\n{}{LINE_PREFIX} done 2\n",
            block(&a).replace('\n', "\r\n"),
            block(&b)
        );
        let output = parse_serial(&serial);
        assert!(output.malformed.is_empty(), "{:?}", output.malformed);
        assert_eq!(output.done, Some(2));
        assert_eq!(output.records.len(), 2);
        for (record, expected) in output.records.iter().zip([&a, &b]) {
            assert!(record.ended);
            assert_eq!(record.name, expected.name);
            assert_eq!(record.stdout, expected.stdout);
            assert_eq!(record.stderr, expected.stderr);
            assert_eq!(record.status, Some(expected.status));
            assert_eq!(record.tree, expected.tree);
            assert_eq!(record.diff, expected.diff);
        }
    }

    #[test]
    fn broken_blocks_are_reported() {
        let serial = format!(
            "{p} begin x\n{p} out x 4g\n{p} status x exit\n{p} out y 41\n{p} bogus x 1\n\
             {p} error x no container\n",
            p = LINE_PREFIX
        );
        let output = parse_serial(&serial);
        assert_eq!(output.malformed.len(), 4, "{:?}", output.malformed);
        let record = output.record("x").unwrap();
        assert!(!record.ended);
        assert_eq!(record.status, None);
        assert_eq!(record.errors, ["no container"]);
        assert_eq!(output.done, None);
    }

    #[test]
    fn a_second_block_replaces_the_first() {
        let mut first = result("a");
        first.status = Status::Timeout;
        let second = result("a");
        let output = parse_serial(&format!("{}{}", block(&first), block(&second)));
        assert_eq!(output.records.len(), 1);
        assert_eq!(output.records[0].status, Some(Status::Exit(1)));
        assert_eq!(output.malformed.len(), 1);
    }
}
