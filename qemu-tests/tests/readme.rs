//! The README's samples of real output, checked against one real boot so they cannot drift:
//! the boot report it shows (and `docs/transcripts/boot.txt`) has the lines a boot prints,
//! figures aside, and the overlay shell transcripts it and `docs/shell.md` show are exactly
//! what the shell prints. (The BusyBox transcript is checked by `busybox.rs`.)

#![forbid(unsafe_code)]

use std::{collections::HashSet, fs, sync::OnceLock};

use boot::{Firmware, Verdict};
use qemu_tests::{
    boot_with, busybox_layout, default_ramdisk, Boot, Booted, FwCfg, PROMPT, SUITE_TIMEOUT,
};

/// A file of the repository, read.
fn repository_file(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    fs::read_to_string(&full).unwrap_or_else(|error| panic!("cannot read {full}: {error}"))
}

/// The overlay shell session the README shows, in the order it is typed: the first part is
/// shown whole, the second in excerpts.
const SESSION: [&str; 2] = [
    "docs/transcripts/overlay-shell.txt",
    "docs/transcripts/overlay-shell-images.txt",
];

/// The session's transcript, its parts joined.
fn expected_session() -> String {
    SESSION.iter().map(|path| repository_file(path)).collect()
}

/// One boot for every test here, as `make overlay-shell` boots (the default RAM disk, the
/// BusyBox images through fw_cfg), with the session's commands typed at the prompt. The
/// report before the shell is the one `make qemu` prints.
fn booted() -> &'static Booted {
    static BOOTED: OnceLock<Booted> = OnceLock::new();
    BOOTED.get_or_init(|| {
        let ramdisk = default_ramdisk("readme").expect("write the RAM disk");
        let busybox = busybox_layout("readme")
            .expect("build the BusyBox layout")
            .expect("BusyBox is not fetched: run `make deps`");
        let input: String = expected_session()
            .lines()
            .filter_map(|line| line.strip_prefix(PROMPT))
            .map(|command| format!("{command}\n"))
            .collect();
        let booted = boot_with(
            &Boot {
                name: "readme",
                firmware: Firmware::Bios,
                ramdisk: Some(&ramdisk),
                mode: Some("shell"),
                input: Some(input.as_bytes()),
                timeout: SUITE_TIMEOUT,
            },
            &FwCfg {
                images: Some(&busybox),
                ..FwCfg::default()
            },
        )
        .expect("build and boot the image");
        assert_eq!(
            booted.outcome.verdict,
            Verdict::Passed,
            "{}",
            booted.context()
        );
        booted
    })
}

/// The blocks of ```` ```text ```` in `markdown`, each without its fences.
fn text_blocks(markdown: &str) -> Vec<String> {
    markdown
        .split("```text\n")
        .skip(1)
        .filter_map(|block| block.split_once("```").map(|(body, _)| body.to_owned()))
        .collect()
}

/// `line` with every figure replaced by `#` (decimal numbers, and the hex digits after `0x`
/// or `sha256:`) and every run of blanks by one blank: what stays the same from one build or
/// machine to the next.
fn shape(line: &str) -> String {
    let mut shaped = String::new();
    let mut rest = line.trim();
    while let Some(c) = rest.chars().next() {
        let hex_prefix = ["0x", "sha256:"]
            .into_iter()
            .find(|prefix| rest.starts_with(prefix));
        if let Some(prefix) = hex_prefix {
            let digits = rest[prefix.len()..]
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(rest.len() - prefix.len());
            if digits > 0 {
                shaped.push_str(prefix);
                shaped.push('#');
                rest = &rest[prefix.len() + digits..];
                continue;
            }
        }
        if c.is_ascii_digit() {
            shaped.push('#');
            rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        } else if c == ' ' || c == '\t' {
            shaped.push(' ');
            rest = rest.trim_start_matches([' ', '\t']);
        } else {
            shaped.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    shaped
}

/// The lines of a sample boot before its test suite (the report), with the `...` that mark
/// cuts left out, and the lines from the suite's `running N tests` on.
fn report_and_suite(sample: &str) -> (Vec<&str>, Vec<&str>) {
    let lines: Vec<&str> = sample.lines().filter(|line| *line != "...").collect();
    let suite = lines
        .iter()
        .position(|line| line.starts_with("running "))
        .unwrap_or(lines.len());
    (lines[..suite].to_vec(), lines[suite..].to_vec())
}

/// Every line of `report` has the shape of a line the real boot printed.
fn assert_report_is_real(name: &str, report: &[&str]) {
    let booted = booted();
    let real: HashSet<String> = booted.outcome.serial.lines().map(shape).collect();
    assert!(report.len() >= 10, "{name}: no boot report found");
    for line in report {
        assert!(
            real.contains(&shape(line)),
            "{name} shows a line no boot prints any more:\n  {line}\n\
             (as a shape: {:?}); update it from {}",
            shape(line),
            booted.log.display()
        );
    }
}

#[test]
fn readme_boot_report_has_the_lines_a_boot_prints() {
    let readme = repository_file("README.md");
    let sample = text_blocks(&readme)
        .into_iter()
        .find(|block| block.starts_with("overlay kernel "))
        .expect("README.md shows no boot report (a text block from `overlay kernel `)");
    let (report, suite) = report_and_suite(&sample);
    assert_report_is_real("README.md", &report);
    // The suite's own lines (which tests run is `qemu.rs`'s business): their shapes.
    for line in suite {
        let shaped = shape(line);
        assert!(
            ["running # tests", "# passed, # failed"].contains(&shaped.as_str())
                || (line.starts_with("test ") && line.ends_with(" ... ok")),
            "README.md shows a line the test suite does not print: {line:?}"
        );
    }
}

/// The whole boot in the docs: its report (the suite's lines are `qemu.rs`'s business).
#[test]
fn boot_transcript_has_the_lines_a_boot_prints() {
    let transcript = repository_file("docs/transcripts/boot.txt");
    let start = transcript
        .find("overlay kernel ")
        .expect("docs/transcripts/boot.txt has no boot");
    let (report, _) = report_and_suite(&transcript[start..]);
    assert_report_is_real("docs/transcripts/boot.txt", &report);
}

#[test]
fn overlay_shell_transcripts_are_what_the_shell_prints() {
    let expected = expected_session();
    let booted = booted();
    let serial = booted.outcome.serial.replace("\r\n", "\n");
    let start = serial.find("shell: ").unwrap_or(0);
    let session = &serial[start..];
    let end = session
        .find(&format!("{PROMPT}exit\n"))
        .map_or(session.len(), |at| at + PROMPT.len() + "exit\n".len());
    assert_eq!(
        &session[..end],
        expected,
        "the session printed (left) is not the transcripts {SESSION:?} (right); serial log: {}",
        booted.log.display()
    );

    let readme = repository_file("README.md");
    let first = repository_file(SESSION[0]);
    assert!(
        readme.contains(&format!("```text\n{first}```")),
        "README.md does not show {} as it is",
        SESSION[0]
    );
    for page in ["README.md", "docs/shell.md"] {
        for block in text_blocks(&repository_file(page))
            .iter()
            .filter(|block| block.starts_with(PROMPT))
        {
            assert!(
                expected.contains(block.as_str()),
                "{page} shows a shell excerpt that is not in {SESSION:?}:\n{block}"
            );
        }
    }
}

#[test]
fn shape_keeps_words_and_drops_figures() {
    assert_eq!(
        shape("heap: 252.2 MiB in 6 spans   after reclaiming, 61 KiB in use"),
        "heap: #.# MiB in # spans after reclaiming, # KiB in use"
    );
    assert_eq!(
        shape("boot: RAM disk at virt 0xffff818000000000, fnv1a64 0x25cb1d89a6c599ba"),
        "boot: RAM disk at virt 0x#, fnv#a# 0x#"
    );
    assert_eq!(
        shape("rootfs:   sha256:f2252f45379d  10 KiB      5  1 image"),
        "rootfs: sha256:# # KiB # # image"
    );
    assert_ne!(shape("heap: 1 MiB in use"), shape("heap: 1 MiB free"));
}
