//! Containers running their image's program, seen from outside: `make run` (the mode `run`)
//! and an interactive BusyBox shell on the console, whose transcript in the docs must be what
//! a real session prints.

#![forbid(unsafe_code)]

use std::fs;

use boot::Firmware;
use qemu_tests::{boot_with, busybox_layout, run_exit_status, Boot, FwCfg, SUITE_TIMEOUT};

/// The transcript the README and `docs/processes.md` show.
const TRANSCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/transcripts/busybox-shell.txt"
);

/// What BusyBox's shell prints when it waits for a line at `/`.
const PROMPT: &str = "/ # ";

fn busybox(name: &str) -> std::path::PathBuf {
    busybox_layout(name)
        .expect("build the BusyBox layout")
        .expect("BusyBox is not fetched: run `make deps`")
}

/// The serial output from the shell's banner to the exit status line, with the terminal's
/// line ends made plain and its control sequences (BusyBox asks the terminal where the cursor
/// is: `ESC [ 6 n`) left out.
fn session(serial: &str) -> String {
    let start = serial.find("BusyBox v").unwrap_or(0);
    let text = without_control_sequences(&serial[start..]).replace("\r\n", "\n");
    match text.find("run: exit status ") {
        Some(at) => {
            let end = text[at..].find('\n').map_or(text.len(), |n| at + n + 1);
            text[..end].to_string()
        }
        None => text,
    }
}

/// `text` without its `ESC [ ... letter` sequences.
fn without_control_sequences(text: &str) -> String {
    let mut plain = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain
}

#[test]
fn busybox_shell_transcript_is_what_a_session_prints() {
    let expected = fs::read_to_string(TRANSCRIPT).expect("read the transcript");
    let commands: Vec<&str> = expected
        .lines()
        .filter_map(|line| line.strip_prefix(PROMPT))
        .collect();
    assert!(commands.len() >= 3, "no commands in {TRANSCRIPT}");
    let layout = busybox("busybox-shell");
    let booted = boot_with(
        &Boot {
            name: "busybox-shell",
            firmware: Firmware::Bios,
            ramdisk: None,
            mode: None,
            input: None,
            timeout: SUITE_TIMEOUT,
        },
        &FwCfg {
            images: Some(&layout),
            run: Some(("busybox", &[])),
            typed: Some((PROMPT.as_bytes(), &commands)),
        },
    )
    .expect("boot");
    let context = booted.context();
    let actual = session(&booted.outcome.serial);
    assert_eq!(
        actual, expected,
        "the session printed (left) is not the transcript (right)\n{context}"
    );
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("read the README");
    assert!(
        readme.contains(&format!("```text\n{expected}```")),
        "README.md does not show docs/transcripts/busybox-shell.txt as it is"
    );
    let last = commands.last().expect("a command");
    if let Some(code) = last.strip_prefix("exit ") {
        assert_eq!(
            run_exit_status(&booted.outcome.serial),
            code.parse().ok(),
            "{context}"
        );
    }
}

#[test]
fn run_exits_with_the_programs_status_under_uefi() {
    let layout = busybox("busybox-run");
    let args = ["sh", "-c", "echo from the container; ls /data; exit 42"];
    let booted = boot_with(
        &Boot {
            name: "busybox-run",
            firmware: Firmware::Uefi,
            ramdisk: None,
            mode: None,
            input: None,
            timeout: SUITE_TIMEOUT,
        },
        &FwCfg {
            images: Some(&layout),
            run: Some(("busybox", &args)),
            typed: None,
        },
    )
    .expect("boot");
    let context = booted.context();
    let serial = booted.outcome.serial.replace("\r\n", "\n");
    // Standard output is the console, a terminal: `ls` prints columns.
    assert!(
        serial.contains("\nfrom the container\na    b    dir\n"),
        "{context}"
    );
    assert_eq!(run_exit_status(&serial), Some(42), "{context}");
}
