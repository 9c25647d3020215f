//! The Linux side of the BusyBox differential test (see `boot::busybox_diff`): the corpus in
//! `tests/busybox/` run by Debian's static BusyBox in containers made of a real
//! `mount -t overlay` of the BusyBox image's layers, checked to be deterministic (two runs give
//! the same results) and sane (a write shows its new content, a delete its whiteout), and
//! read back through the kernel's serial protocol exactly as a kernel that behaves like Linux
//! would print it.
//!
//! This needs root, overlayfs, util-linux `unshare` and the BusyBox binary (`make deps`, or
//! `BUSYBOX_DIR`). Where any is missing, each test prints `SKIPPED: <reason>` and returns;
//! with `DIFFTEST_REQUIRED=1` (as `make test` sets it) it fails instead.

use std::sync::OnceLock;

use boot::busybox_diff::protocol::{self, KernelRecord};
use boot::busybox_diff::{self, compare, corpus, ScriptResult, Status, Verdict};

/// Whether the Linux side can run here; prints why not, or fails if it must.
fn linux_side_available() -> bool {
    let reason = match busybox_diff::availability() {
        Err(reason) => reason,
        Ok(()) if boot::build::busybox_binary().is_none() => {
            "the BusyBox binary is missing (run `make deps`, or set BUSYBOX_DIR)".to_string()
        }
        Ok(()) => return true,
    };
    if std::env::var("DIFFTEST_REQUIRED").is_ok_and(|value| value == "1") {
        panic!("DIFFTEST_REQUIRED=1 but the BusyBox difftest cannot run: {reason}");
    }
    eprintln!("SKIPPED: BusyBox differential test against Linux: {reason}");
    false
}

fn scripts() -> Vec<corpus::Script> {
    corpus::load_dir(&corpus::default_dir()).expect("the corpus loads")
}

fn run_corpus() -> Vec<ScriptResult> {
    let image = busybox_diff::default_image().expect("the BusyBox image builds");
    busybox_diff::linux_results(&image, &scripts()).expect("the Linux side runs")
}

/// The corpus's first run on Linux, shared by the tests.
fn first_run() -> &'static [ScriptResult] {
    static RESULTS: OnceLock<Vec<ScriptResult>> = OnceLock::new();
    RESULTS.get_or_init(run_corpus)
}

fn result<'a>(results: &'a [ScriptResult], name: &str) -> &'a ScriptResult {
    results
        .iter()
        .find(|result| result.name == name)
        .unwrap_or_else(|| panic!("no result for {name}"))
}

/// The `tree` line of `path`, if the union has it.
fn tree_line<'a>(result: &'a ScriptResult, path: &str) -> Option<&'a str> {
    result
        .tree
        .iter()
        .map(String::as_str)
        .find(|line| line.rsplit_once(' ').is_some_and(|(_, at)| at == path))
}

#[test]
fn the_corpus_is_small_and_says_what_each_script_checks() {
    let scripts = scripts();
    assert!(
        (15..=30).contains(&scripts.len()),
        "{} scripts: the corpus `make test` runs should stay small",
        scripts.len()
    );
    for script in &scripts {
        assert!(
            !script.checks.is_empty(),
            "{}: no `# checks:` line",
            script.name
        );
    }
    let bytes = protocol::encode_scripts(&scripts).unwrap();
    assert_eq!(protocol::decode_scripts(&bytes).unwrap(), scripts);
}

#[test]
fn linux_runs_are_deterministic() {
    if !linux_side_available() {
        return;
    }
    let first = first_run();
    let second = run_corpus();
    assert_eq!(first.len(), second.len());
    let mut failures = String::new();
    for (a, b) in first.iter().zip(&second) {
        if let Verdict::Different(parts) = compare::compare_script(a, &KernelRecord::from(b)) {
            failures.push_str(&format!("{}:\n{}\n", a.name, parts.join("\n")));
        }
    }
    assert!(failures.is_empty(), "two Linux runs differ:\n{failures}");
}

#[test]
fn linux_results_show_copy_up_whiteouts_and_merged_listings() {
    if !linux_side_available() {
        return;
    }
    let results = first_run();
    assert_eq!(results.len(), scripts().len());
    for result in results {
        assert!(
            tree_line(result, "/bin/busybox").is_some(),
            "{}: the union's tree has no /bin/busybox",
            result.name
        );
        let mounted = result
            .tree
            .iter()
            .find(|line| line.contains(" /proc/") || line.contains(" /dev/"));
        assert_eq!(
            mounted, None,
            "{}: the tree shows what is mounted over the union",
            result.name
        );
        assert_ne!(result.status, Status::Timeout, "{} timed out", result.name);
    }

    let read = result(results, "02-read-lower");
    assert!(read.diff.is_empty(), "reading copied up: {:?}", read.diff);
    assert!(!read.stdout.is_empty());

    let written = result(results, "03-copy-up-write");
    let digest = boot::difftest::listing::short_digest(b"changed\n");
    assert_eq!(
        tree_line(written, "/data/a"),
        Some(format!("f 0644 0:0 8 {digest} /data/a").as_str())
    );
    assert_eq!(written.diff, ["C /data", "C /data/a"]);
    assert!(written.stdout.starts_with(b"changed\n"));

    let deleted = result(results, "05-whiteout");
    assert_eq!(tree_line(deleted, "/data/a"), None);
    assert!(deleted.diff.contains(&"D /data/a".to_string()));
    assert!(String::from_utf8_lossy(&deleted.stdout).contains("a is gone"));
    assert!(String::from_utf8_lossy(&deleted.stderr).contains("No such file or directory"));

    let listing = result(results, "06-merged-listing");
    assert!(listing.stdout.starts_with(b"a\ndir\nnew\nsub\n"));

    let recreated = result(results, "21-rm-r-recreate");
    assert_eq!(tree_line(recreated, "/data/dir/c"), None);
    assert!(tree_line(recreated, "/data/dir/d").is_some());

    let status = result(results, "18-exit-status");
    assert_eq!(status.status, Status::Exit(42));
    assert_eq!(status.stdout, b"out\nout2\n");
    assert_eq!(status.stderr, b"err\n");

    let proc_self = result(results, "19-proc-self");
    assert!(proc_self.stdout.starts_with(b"/bin/busybox\n"));
}

/// A kernel that printed exactly Linux's results, in the protocol's blocks with other serial
/// output between them, is found the same for every script.
#[test]
fn linux_results_read_back_through_the_protocol_are_the_same() {
    if !linux_side_available() {
        return;
    }
    let results = first_run();
    let mut serial = String::from("boot: kernel log line\r\n");
    for result in results {
        serial.push_str(&protocol::block(result).replace('\n', "\r\n"));
        serial.push_str("syscalls: unknown system call 334 (rseq): ENOSYS\r\n");
    }
    serial.push_str(&format!(
        "{} done {}\r\n",
        protocol::LINE_PREFIX,
        results.len()
    ));
    let report = compare::compare(&serial, results);
    assert!(report.is_clean(), "{}", report.render());
    assert!(report
        .scripts
        .iter()
        .all(|script| script.verdict == Verdict::Same));

    // One byte of output changed is found, and shown.
    let mut changed = results.to_vec();
    changed[0].stdout.push(b'!');
    let report = compare::compare(&serial, &changed);
    assert!(!report.is_clean());
    assert_eq!(report.different().count(), 1);
}

/// OCI whiteouts become overlayfs's own (a character device 0/0, the opaque xattr), and
/// modes, owners, symlinks and hard links come through as the tar says.
#[test]
fn layers_unpack_into_overlayfs_lower_directories() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    if let Err(reason) = boot::difftest::availability() {
        if std::env::var("DIFFTEST_REQUIRED").is_ok_and(|value| value == "1") {
            panic!("DIFFTEST_REQUIRED=1 but layers cannot be unpacked: {reason}");
        }
        eprintln!("SKIPPED: unpacking layers needs root and a tmpfs: {reason}");
        return;
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, content: &[u8], link: &str| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(1);
        header.set_gid(2);
        header.set_size(content.len() as u64);
        if !link.is_empty() {
            header.set_link_name(link).unwrap();
        }
        tar.append_data(&mut header, path, content).unwrap();
    };
    add("etc/", tar::EntryType::Directory, 0o755, b"", "");
    add("etc/.wh.motd", tar::EntryType::Regular, 0o644, b"", "");
    add("data/", tar::EntryType::Directory, 0o750, b"", "");
    add("data/.wh..wh..opq", tar::EntryType::Regular, 0o644, b"", "");
    add("data/x", tar::EntryType::Regular, 0o4711, b"xyz", "");
    add("data/hard", tar::EntryType::Link, 0o644, b"", "data/x");
    add("bin/sh", tar::EntryType::Symlink, 0o777, b"", "busybox");
    let tar = tar.into_inner().unwrap();

    let workspace = boot::difftest::linux::Workspace::new().unwrap();
    let dir = workspace.new_dir("layer").unwrap();
    busybox_diff::unpack::unpack_layer(&tar, &dir).unwrap();

    let whiteout = std::fs::symlink_metadata(dir.join("etc/motd")).unwrap();
    assert!(whiteout.file_type().is_char_device());
    assert_eq!((whiteout.rdev(), whiteout.mode() & 0o7777), (0, 0));
    assert_eq!(
        xattr::get(dir.join("data"), "trusted.overlay.opaque").unwrap(),
        Some(b"y".to_vec())
    );
    assert!(!dir.join("data/.wh..wh..opq").exists());
    let file = std::fs::metadata(dir.join("data/x")).unwrap();
    assert_eq!(
        (file.mode() & 0o7777, file.uid(), file.gid(), file.nlink()),
        (0o4711, 1, 2, 2)
    );
    assert_eq!(std::fs::read(dir.join("data/hard")).unwrap(), b"xyz");
    assert_eq!(
        std::fs::read_link(dir.join("bin/sh")).unwrap(),
        std::path::Path::new("busybox")
    );
    let data = std::fs::metadata(dir.join("data")).unwrap();
    assert_eq!((data.mode() & 0o7777, data.mtime()), (0o750, 0));
}

/// The whole differential test: the kernel under QEMU runs every script of the corpus in its
/// own containers, and its output, statuses, trees and diffs equal Linux's, but for the
/// differences `compare::KNOWN_DIFFERENCES` names.
#[test]
fn kernel_matches_linux_on_every_script() {
    if !linux_side_available() {
        return;
    }
    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("busybox-difftest");
    let (outcome, log) = busybox_diff::kernel::run(
        &scripts(),
        boot::Firmware::Uefi,
        std::time::Duration::from_secs(600),
        &out_dir,
    )
    .expect("the kernel boots");
    assert_eq!(
        outcome.verdict,
        boot::Verdict::Passed,
        "the kernel failed; serial log {}",
        log.display()
    );
    let report = compare(&outcome.serial, first_run());
    assert!(
        report.is_clean(),
        "{}\nserial log {}",
        report.render(),
        log.display()
    );
}
