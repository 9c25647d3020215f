//! Comparing a script's two runs, the differences known and explained, and the report.
//!
//! Per script, the exit status, the union's `tree /` and the container's `diff` must be
//! identical; standard output and standard error must be identical except for what one of
//! [`KNOWN_DIFFERENCES`] explains: each names a part of the output that is each machine's own
//! business (a clock, a filesystem's block accounting), says why, and masks exactly that part
//! on both sides before they are compared again. A difference that none of them explains makes
//! the script `DIFFERENT`.

use std::fmt::Write as _;

use super::protocol::{KernelOutput, KernelRecord};
use super::ScriptResult;

/// Which output stream a known difference applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One way the two sides may differ for a reason that is not a bug, and how to mask it.
pub struct KnownDifference {
    /// A short name, used in reports.
    pub id: &'static str,
    /// What differs and why.
    pub reason: &'static str,
    /// The streams it applies to.
    pub streams: &'static [Stream],
    /// The text with exactly the part this difference explains masked.
    pub mask: fn(&str) -> String,
}

/// Every difference between Linux and the kernel that the comparison accepts, with its reason.
pub static KNOWN_DIFFERENCES: &[KnownDifference] = &[
    KnownDifference {
        id: "ls-time",
        reason: "the date and time columns of `ls -l` show each file's modification time: a \
                 file the script writes gets the time of each machine's clock (the guest's \
                 clock is not the host's, and the runs are not at the same moment), so the \
                 columns are masked; files of the image show the layer tar's time on both sides",
        streams: &[Stream::Stdout],
        mask: mask_ls_time,
    },
    KnownDifference {
        id: "ls-total",
        reason: "the `total N` line of `ls -l` sums st_blocks, the space each filesystem \
                 allocates (tmpfs pages under Linux overlayfs, the engine's own figure), which \
                 no program can rely on",
        streams: &[Stream::Stdout],
        mask: mask_ls_total,
    },
    KnownDifference {
        id: "ls-dir-size",
        reason: "the link count and size of a directory in `ls -l` are the filesystem's own \
                 figures (overlayfs reports 1 link for a merged directory and the upper \
                 tmpfs's size; the engine counts its own), as `tree` shows `-` for them",
        streams: &[Stream::Stdout],
        mask: mask_ls_dir_size,
    },
];

/// The month names `ls -l` prints.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// What [`mask_ls_time`] puts in place of each date word.
const MASKED_TIME: &str = "<time>";

/// The byte ranges of the words of `line` (split on spaces).
fn words(line: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (at, byte) in line.bytes().enumerate() {
        match (byte == b' ', start) {
            (true, Some(from)) => {
                spans.push((from, at));
                start = None;
            }
            (false, None) => start = Some(at),
            _ => {}
        }
    }
    if let Some(from) = start {
        spans.push((from, line.len()));
    }
    spans
}

/// Whether `word` is an `ls -l` mode column (`drwxr-xr-x`, `-rw-r--r--`, `lrwxrwxrwx`...).
fn is_mode_word(word: &str) -> bool {
    let bytes = word.as_bytes();
    bytes.len() == 10
        && b"-dlcbps".contains(&bytes[0])
        && bytes[1..].iter().all(|byte| b"rwxsStT-".contains(byte))
}

/// An `ls -l` line taken apart: the word spans of its columns before the name.
struct LsLine {
    spans: Vec<(usize, usize)>,
    /// Index of the month word (the date is it and the next two words).
    month: usize,
}

fn ls_line(line: &str) -> Option<LsLine> {
    let spans = words(line);
    let word = |index: usize| spans.get(index).map(|(from, to)| &line[*from..*to]);
    if !is_mode_word(word(0)?) {
        return None;
    }
    // Mode, links, user, group, then the size (or `MAJOR, MINOR` for a device).
    let month = if word(4)?.ends_with(',') { 6 } else { 5 };
    // A date another mask already replaced still marks the line.
    let masked = |index: usize| word(index) == Some(MASKED_TIME);
    let is_month = MONTHS.contains(&word(month)?) || masked(month);
    let is_day = word(month + 1)?.bytes().all(|byte| byte.is_ascii_digit()) || masked(month + 1);
    let when = word(month + 2)?;
    let is_when = when
        .bytes()
        .all(|byte| byte.is_ascii_digit() || byte == b':')
        || masked(month + 2);
    (is_month && is_day && is_when).then_some(LsLine { spans, month })
}

/// `line` with the words at `masked` (indices into `ls.spans`, ascending) replaced by
/// `<WHAT>`, the columns before the name joined by single spaces.
fn rebuild(line: &str, ls: &LsLine, masked: &[(usize, &str)]) -> String {
    let name_at = ls.month + 3;
    let mut columns: Vec<String> = ls.spans[..name_at.min(ls.spans.len())]
        .iter()
        .map(|(from, to)| line[*from..*to].to_string())
        .collect();
    for (index, what) in masked {
        if let Some(column) = columns.get_mut(*index) {
            *column = format!("<{what}>");
        }
    }
    let mut text = columns.join(" ");
    if let Some((from, _)) = ls.spans.get(name_at) {
        text.push(' ');
        text.push_str(&line[*from..]);
    }
    text
}

fn map_lines(text: &str, f: impl Fn(&str) -> String) -> String {
    text.split_inclusive('\n')
        .map(|line| match line.strip_suffix('\n') {
            Some(body) => format!("{}\n", f(body)),
            None => f(line),
        })
        .collect()
}

fn mask_ls_time(text: &str) -> String {
    map_lines(text, |line| match ls_line(line) {
        Some(ls) => rebuild(
            line,
            &ls,
            &[
                (ls.month, "time"),
                (ls.month + 1, "time"),
                (ls.month + 2, "time"),
            ],
        ),
        None => line.to_string(),
    })
}

fn mask_ls_total(text: &str) -> String {
    map_lines(text, |line| match line.strip_prefix("total ") {
        Some(count) if !count.is_empty() && count.bytes().all(|b| b.is_ascii_digit()) => {
            "total <blocks>".to_string()
        }
        _ => line.to_string(),
    })
}

fn mask_ls_dir_size(text: &str) -> String {
    map_lines(text, |line| match ls_line(line) {
        Some(ls) if line.starts_with('d') => rebuild(line, &ls, &[(1, "links"), (4, "size")]),
        _ => line.to_string(),
    })
}

/// What comparing one script found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Everything identical.
    Same,
    /// Identical once these known differences (their ids) are masked.
    Known(Vec<&'static str>),
    /// Different: one short account per part that differs.
    Different(Vec<String>),
}

/// One script's comparison.
#[derive(Clone, Debug)]
pub struct ScriptComparison {
    /// The script's name.
    pub name: String,
    /// What it found.
    pub verdict: Verdict,
}

/// How many lines of a short diff are shown per part.
const DIFF_LINES_SHOWN: usize = 12;

/// Compares Linux's `linux` with the kernel's `kernel` run of the same script.
pub fn compare_script(linux: &ScriptResult, kernel: &KernelRecord) -> Verdict {
    let mut different = Vec::new();
    let mut known = Vec::new();
    for error in &kernel.errors {
        different.push(format!("the kernel could not run it: {error}"));
    }
    if !kernel.ended {
        different.push("the kernel's block has no end line (cut short?)".to_string());
    }
    match kernel.status {
        Some(status) if status == linux.status => {}
        Some(status) => different.push(format!("status: linux {}, kernel {status}", linux.status)),
        None => different.push(format!("status: linux {}, kernel none", linux.status)),
    }
    for (stream, name, ours, theirs) in [
        (Stream::Stdout, "stdout", &linux.stdout, &kernel.stdout),
        (Stream::Stderr, "stderr", &linux.stderr, &kernel.stderr),
    ] {
        if ours == theirs {
            continue;
        }
        let (Ok(linux_text), Ok(kernel_text)) =
            (std::str::from_utf8(ours), std::str::from_utf8(theirs))
        else {
            // Masks work on text; bytes that are not UTF-8 must be identical.
            different.push(format!(
                "{name} (not UTF-8):\n{}",
                line_diff(
                    &String::from_utf8_lossy(ours),
                    &String::from_utf8_lossy(theirs)
                )
            ));
            continue;
        };
        let masks: Vec<&KnownDifference> = KNOWN_DIFFERENCES
            .iter()
            .filter(|difference| difference.streams.contains(&stream))
            .collect();
        let (linux_masked, kernel_masked) = masked(&masks, None, linux_text, kernel_text);
        if linux_masked == kernel_masked {
            // Name the masks the equality needs; if none alone is needed (two would each do),
            // every mask that changed something.
            let needed: Vec<&'static str> = (0..masks.len())
                .filter(|skip| {
                    let (l, k) = masked(&masks, Some(*skip), linux_text, kernel_text);
                    l != k
                })
                .map(|index| masks[index].id)
                .collect();
            if needed.is_empty() {
                known.extend(
                    masks
                        .iter()
                        .filter(|mask| {
                            (mask.mask)(linux_text) != linux_text
                                || (mask.mask)(kernel_text) != kernel_text
                        })
                        .map(|mask| mask.id),
                );
            } else {
                known.extend(needed);
            }
        } else {
            different.push(format!(
                "{name}:\n{}",
                line_diff(&linux_masked, &kernel_masked)
            ));
        }
    }
    for (name, ours, theirs) in [
        ("tree", &linux.tree, &kernel.tree),
        ("diff", &linux.diff, &kernel.diff),
    ] {
        if ours != theirs {
            different.push(format!("{name}:\n{}", lines_diff(ours, theirs)));
        }
    }
    if !different.is_empty() {
        Verdict::Different(different)
    } else if known.is_empty() {
        Verdict::Same
    } else {
        known.dedup();
        Verdict::Known(known)
    }
}

/// The comparison of every script, and what else the kernel's output said.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// One per Linux result, in order.
    pub scripts: Vec<ScriptComparison>,
    /// Scripts the kernel reported that Linux did not run.
    pub unexpected: Vec<String>,
    /// The kernel's `done` count, if it came.
    pub done: Option<usize>,
    /// Protocol lines the parser could not understand.
    pub malformed: Vec<String>,
}

impl Report {
    /// Whether every script is the same (known differences allowed), the kernel said `done`
    /// with the right count, and its output held nothing else unexpected.
    pub fn is_clean(&self) -> bool {
        self.scripts
            .iter()
            .all(|script| !matches!(script.verdict, Verdict::Different(_)))
            && self.unexpected.is_empty()
            && self.malformed.is_empty()
            && self.done == Some(self.scripts.len())
    }

    /// The scripts that differ.
    pub fn different(&self) -> impl Iterator<Item = &ScriptComparison> {
        self.scripts
            .iter()
            .filter(|script| matches!(script.verdict, Verdict::Different(_)))
    }

    /// One line per script (`same` / `DIFFERENT`, with a short diff under each difference),
    /// then a summary line.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let mut known_count = 0;
        for script in &self.scripts {
            match &script.verdict {
                Verdict::Same => {
                    let _ = writeln!(text, "same       {}", script.name);
                }
                Verdict::Known(ids) => {
                    known_count += 1;
                    let _ = writeln!(
                        text,
                        "same       {} (known differences: {})",
                        script.name,
                        ids.join(", ")
                    );
                }
                Verdict::Different(parts) => {
                    let _ = writeln!(text, "DIFFERENT  {}", script.name);
                    for part in parts {
                        for line in part.lines() {
                            let _ = writeln!(text, "    {line}");
                        }
                    }
                }
            }
        }
        for name in &self.unexpected {
            let _ = writeln!(
                text,
                "UNEXPECTED {name}: the kernel ran a script Linux did not"
            );
        }
        for line in &self.malformed {
            let _ = writeln!(text, "MALFORMED  {line}");
        }
        match self.done {
            Some(count) if count == self.scripts.len() => {}
            Some(count) => {
                let _ = writeln!(
                    text,
                    "the kernel said it ran {count} scripts, not {}",
                    self.scripts.len()
                );
            }
            None => {
                let _ = writeln!(text, "the kernel never said `done` (stopped early?)");
            }
        }
        let different = self.different().count();
        let _ = writeln!(
            text,
            "busybox difftest: {} scripts, {} same ({known_count} of them with known \
             differences), {different} different",
            self.scripts.len(),
            self.scripts.len() - different,
        );
        text
    }
}

/// Compares the kernel's serial output with Linux's results, script by script.
pub fn compare(kernel_serial_output: &str, linux: &[ScriptResult]) -> Report {
    let output = super::protocol::parse_serial(kernel_serial_output);
    compare_output(&output, linux)
}

/// As [`compare`], from an already parsed output.
pub fn compare_output(output: &KernelOutput, linux: &[ScriptResult]) -> Report {
    let scripts = linux
        .iter()
        .map(|result| {
            let verdict = match output.record(&result.name) {
                Some(record) => compare_script(result, record),
                None => Verdict::Different(vec!["the kernel did not report it".to_string()]),
            };
            ScriptComparison {
                name: result.name.clone(),
                verdict,
            }
        })
        .collect();
    let unexpected = output
        .records
        .iter()
        .filter(|record| !linux.iter().any(|result| result.name == record.name))
        .map(|record| record.name.clone())
        .collect();
    Report {
        scripts,
        unexpected,
        done: output.done,
        malformed: output.malformed.clone(),
    }
}

/// `linux` and `kernel` with every mask of `masks` applied in order, but the one at `skip`.
fn masked(
    masks: &[&KnownDifference],
    skip: Option<usize>,
    linux: &str,
    kernel: &str,
) -> (String, String) {
    let (mut linux, mut kernel) = (linux.to_string(), kernel.to_string());
    for (index, mask) in masks.iter().enumerate() {
        if Some(index) != skip {
            (linux, kernel) = ((mask.mask)(&linux), (mask.mask)(&kernel));
        }
    }
    (linux, kernel)
}

/// A short line diff of two texts (`-` Linux only, `+` kernel only).
fn line_diff(linux: &str, kernel: &str) -> String {
    let split = |text: &str| -> Vec<String> {
        let mut lines: Vec<String> = text
            .split_inclusive('\n')
            .map(|line| match line.strip_suffix('\n') {
                Some(body) => printable(body),
                None => format!("{} (no newline at the end)", printable(line)),
            })
            .collect();
        if lines.is_empty() {
            lines.push("(nothing)".to_string());
        }
        lines
    };
    lines_diff(&split(linux), &split(kernel))
}

/// `line` with its control characters escaped (`\t`, `\r`, `\u{1b}`...), the rest as it is.
fn printable(line: &str) -> String {
    line.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A short diff of two line lists by their longest common subsequence.
fn lines_diff(linux: &[String], kernel: &[String]) -> String {
    let (n, m) = (linux.len(), kernel.len());
    let mut shown = Vec::new();
    if n.saturating_mul(m) > 4_000_000 {
        // Too big for the table: the first line that differs.
        let at = linux.iter().zip(kernel).take_while(|(a, b)| a == b).count();
        shown.push(format!("  first difference at line {}", at + 1));
        if let Some(line) = linux.get(at) {
            shown.push(format!("  - {line}"));
        }
        if let Some(line) = kernel.get(at) {
            shown.push(format!("  + {line}"));
        }
        return shown.join("\n");
    }
    // common[i][j]: the longest common subsequence of linux[i..] and kernel[j..].
    let mut common = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[i][j] = if linux[i] == kernel[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut total = 0;
    while i < n || j < m {
        if i < n && j < m && linux[i] == kernel[j] {
            i += 1;
            j += 1;
            continue;
        }
        let line = if j == m || (i < n && common[i + 1][j] >= common[i][j + 1]) {
            i += 1;
            format!("  - linux:  {}", linux[i - 1])
        } else {
            j += 1;
            format!("  + kernel: {}", kernel[j - 1])
        };
        total += 1;
        if shown.len() < DIFF_LINES_SHOWN {
            shown.push(line);
        }
    }
    if total > shown.len() {
        shown.push(format!("  ... and {} more", total - shown.len()));
    }
    shown.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::busybox_diff::Status;

    fn result(stdout: &str) -> ScriptResult {
        ScriptResult {
            name: "s".into(),
            stdout: stdout.as_bytes().to_vec(),
            stderr: Vec::new(),
            status: Status::Exit(0),
            tree: vec!["d 0755 0:0 - - /".into()],
            diff: Vec::new(),
        }
    }

    fn verdict(linux: &str, kernel: &str) -> Verdict {
        compare_script(&result(linux), &KernelRecord::from(&result(kernel)))
    }

    #[test]
    fn ls_times_are_masked_and_nothing_else() {
        let linux = "-rw-r--r--    1 root     root             6 Dec  5 07:25 a b\n";
        let kernel = "-rw-r--r--    1 root     root             6 Jan  1  1970 a b\n";
        assert_eq!(verdict(linux, kernel), Verdict::Known(vec!["ls-time"]));
        let other_size = "-rw-r--r--    1 root     root             7 Jan  1  1970 a b\n";
        assert!(matches!(verdict(linux, other_size), Verdict::Different(_)));
        let other_name = "-rw-r--r--    1 root     root             6 Jan  1  1970 a c\n";
        assert!(matches!(verdict(linux, other_name), Verdict::Different(_)));
        let device = "crw-rw-rw-    1 root     root        1,   3 Dec  5 07:25 null\n";
        assert_eq!(
            mask_ls_time(device),
            "crw-rw-rw- 1 root root 1, 3 <time> <time> <time> null\n"
        );
    }

    #[test]
    fn directory_sizes_and_totals_are_masked() {
        let linux = "total 4\ndrwxr-xr-x    1 root     root            80 Dec  5 07:25 d\n";
        let kernel = "total 0\ndrwxr-xr-x    2 root     root             0 Dec  5 07:25 d\n";
        assert_eq!(
            verdict(linux, kernel),
            Verdict::Known(vec!["ls-total", "ls-dir-size"])
        );
        // A file's size is not a directory's.
        let file = "-rw-r--r--    1 root     root            80 Dec  5 07:25 d\n";
        let file_other = "-rw-r--r--    1 root     root             0 Dec  5 07:25 d\n";
        assert!(matches!(verdict(file, file_other), Verdict::Different(_)));
    }

    #[test]
    fn status_tree_and_diff_must_be_identical() {
        let linux = result("x\n");
        let mut kernel = KernelRecord::from(&linux);
        assert_eq!(compare_script(&linux, &kernel), Verdict::Same);
        kernel.status = Some(Status::Exit(1));
        kernel.tree.push("f 0644 0:0 1 abc /a".into());
        kernel.diff.push("A /a".into());
        let Verdict::Different(parts) = compare_script(&linux, &kernel) else {
            panic!("expected a difference");
        };
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(parts[0].contains("linux exit 0, kernel exit 1"));
        assert!(parts[1].contains("+ kernel: f 0644 0:0 1 abc /a"));
    }

    #[test]
    fn reports_say_same_or_different_per_script() {
        let a = ScriptResult {
            name: "a".into(),
            ..result("1\n")
        };
        let b = ScriptResult {
            name: "b".into(),
            ..result("2\n")
        };
        let mut kernel_b = b.clone();
        kernel_b.stdout = b"3\n".to_vec();
        let serial = format!(
            "{}{}busybox-diff done 2\n",
            super::super::protocol::block(&a),
            super::super::protocol::block(&kernel_b)
        );
        let report = compare(&serial, &[a, b]);
        assert!(!report.is_clean());
        let text = report.render();
        assert!(text.contains("same       a\n"), "{text}");
        assert!(text.contains("DIFFERENT  b\n"), "{text}");
        assert!(text.contains("- linux:  2"), "{text}");
        assert!(text.contains("+ kernel: 3"), "{text}");
        assert!(text.contains("2 scripts, 1 same"), "{text}");
    }

    #[test]
    fn missing_scripts_and_a_missing_done_are_failures() {
        let a = result("1\n");
        let report = compare("", std::slice::from_ref(&a));
        assert!(!report.is_clean());
        assert!(report.render().contains("did not report it"));
        let serial = super::super::protocol::block(&a);
        let report = compare(&serial, std::slice::from_ref(&a));
        assert_eq!(report.different().count(), 0);
        assert!(!report.is_clean(), "no done line");
    }

    #[test]
    fn long_diffs_are_cut_short() {
        let linux: Vec<String> = (0..100).map(|n| n.to_string()).collect();
        let kernel: Vec<String> = (0..100).map(|n| format!("k{n}")).collect();
        let diff = lines_diff(&linux, &kernel);
        assert_eq!(diff.lines().count(), DIFF_LINES_SHOWN + 1);
        assert!(diff.ends_with("... and 188 more"));
    }
}
