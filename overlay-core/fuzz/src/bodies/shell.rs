//! The shell language: any text, run line by line on a small union, must never panic; every
//! line prints its output or exactly one `error:` line.

use std::sync::Arc;

use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer};
use overlay_core::posix::Namespace;
use overlay_core::scenarios::fixture::build_layer;
use overlay_core::shell::{Output, Shell};
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};

/// Inodes the upper holds whatever the input; one more per [`INPUT_BYTES_PER_INODE`].
const BASE_INODES: usize = 256;

/// Input bytes per inode of the upper beyond [`BASE_INODES`]: an upper as deep as issue 20's
/// (1,500 levels) takes three lines per level (`mkdir /b`, `mv /a /b/a`, `mv /b /a`, 29
/// bytes), so the limit lets a long enough input build it.
const INPUT_BYTES_PER_INODE: usize = 24;

/// The heap this target may hold per input byte. Its input is commands, and the union keeps
/// what they make: a directory of the tmpfs upper costs about 690 bytes, and about 1.9 KB
/// more once a walk (`tree`) has visited it through the union, 2.6 KB in all
/// (an upper 1,600 levels deep: 1.09 MB, then 4.10 MB after a `tree`). The upper allows one
/// inode per [`INPUT_BYTES_PER_INODE`] input bytes, about 110 bytes per byte; 128 holds that.
/// What a command needs beyond the state it leaves (a listing, `diff`'s changes, the lines
/// it prints) must stay within it too.
pub const HEAP_BYTES_PER_INPUT_BYTE: usize = 128;

/// File bytes the upper holds whatever the input; one more per input byte.
const BASE_CAPACITY_BYTES: usize = 64 * 1024;

/// Runs `input`, as UTF-8 text (bad bytes replaced), line by line in a shell on a union of a
/// small lower and a tmpfs upper whose limits grow with the input (an upper thousands of
/// directories deep takes a few lines per level), so that they stay within the heap budget.
pub fn run(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let lower = build_layer(&[
        "d etc",
        "f etc/config :xxx:",
        "l etc/link config",
        "w gone",
        "o opaque",
    ])
    .expect("layer");
    let upper = TmpFs::new(TmpFsOptions {
        capacity_bytes: Some((BASE_CAPACITY_BYTES + input.len()) as u64),
        max_inodes: Some((BASE_INODES + input.len() / INPUT_BYTES_PER_INODE) as u64),
        ..TmpFsOptions::default()
    });
    let union = OverlayFs::new(
        vec![Layer::new(lower)],
        Some(UpperLayer::new(upper).expect("upper")),
        OverlayOptions::default(),
    )
    .expect("union");
    let mut shell = Shell::new(
        Namespace::with_filesystem(union.clone()),
        Some(union as Arc<_>),
    );
    for line in text.lines() {
        let mut out = LineOutput::default();
        let failures_before = shell.failures();
        shell
            .run_line(line, &mut out)
            .expect("the output takes every line");
        if shell.failures() > failures_before {
            // `tree` and `diff` print as they walk: one that fails partway (a path past
            // PATH_MAX) has printed lines before its one `error:` line, which ends it.
            let last = String::from_utf8_lossy(&out.last_start);
            assert_eq!(last, "error: ", "a failed line ended with {last:?}...");
            assert_eq!(
                out.errors, 1,
                "a failed line printed {} error lines",
                out.errors
            );
        }
    }
}

/// What one line printed, as far as the contract is checked: the first bytes of its last line
/// and how many lines were `error:` lines. The rest is dropped, so that the output of a big
/// tree (whole paths, up to `PATH_MAX` each) is not held here: only what the shell holds
/// counts against the budget.
#[derive(Default)]
struct LineOutput {
    /// The first bytes of the last line, up to the length of `error: `.
    last_start: Vec<u8>,
    /// Lines printed that start with `error: `.
    errors: usize,
}

impl Output for LineOutput {
    fn write_bytes(&mut self, bytes: &[u8]) -> std::fmt::Result {
        let lines = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        for line in lines.split(|&byte| byte == b'\n') {
            self.errors += usize::from(line.starts_with(b"error: "));
            self.last_start.clear();
            self.last_start.extend(line.iter().take("error: ".len()));
        }
        Ok(())
    }
}
