//! `boot shell` end to end: what it writes to standard output, byte for byte.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A fresh directory under the system's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("boot-shell-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `boot shell --lower LOWER EXTRA...` on `script` and requires it to succeed.
fn run_shell(lower: &std::path::Path, extra: &[&str], script: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_boot"))
        .arg("shell")
        .arg("--lower")
        .arg(lower)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `boot shell --lower LOWER` on `script`; its standard output.
fn shell(lower: &std::path::Path, script: &str) -> Vec<u8> {
    run_shell(lower, &[], script).stdout
}

#[test]
fn cat_writes_the_bytes_of_a_file_unchanged() {
    let lower = scratch("cat");
    std::fs::write(lower.join("bin"), b"\x80\xff\x00\x1b").unwrap();
    std::fs::write(lower.join("text"), "caf\u{e9}\n").unwrap();
    let out = shell(&lower, "cat /bin\ncat /text\n");
    assert_eq!(out, b"\x80\xff\x00\x1b\ncaf\xc3\xa9\n");
    std::fs::remove_dir_all(&lower).unwrap();
}

#[test]
fn names_are_escaped_so_that_none_forges_a_line() {
    let lower = scratch("names");
    let forged = lower.join("a\nf 0644 0:0 1 x ");
    std::fs::create_dir_all(forged.join("etc")).unwrap();
    std::fs::write(forged.join("etc/shadow"), b"").unwrap();
    let out = String::from_utf8(shell(&lower, "tree /\nls /\n")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[3].ends_with(" /a\\nf 0644 0:0 1 x /etc/shadow"),
        "{out}"
    );
    assert_eq!(lines[4], "a\\nf 0644 0:0 1 x ");
    std::fs::remove_dir_all(&lower).unwrap();
}

/// Runs `boot shell --lower LOWER EXTRA...` on `script`: its standard output and error.
fn shell_with(lower: &std::path::Path, extra: &[&str], script: &str) -> (String, String) {
    let output = run_shell(lower, extra, script);
    (
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn exit_ends_the_script_as_in_the_kernel() {
    let lower = scratch("exit");
    let (out, err) = shell_with(&lower, &[], "write /a 1\nexit\ncat /a\nwrite /b 2\n");
    assert_eq!(out, "");
    assert_eq!(err, "");
    std::fs::remove_dir_all(&lower).unwrap();
}

#[test]
fn a_malformed_line_gets_its_error_line_and_a_usage_hint_on_stderr() {
    let lower = scratch("hint");
    let (out, err) = shell_with(&lower, &[], "mv /a\nfrob\ncat /none\n");
    assert_eq!(
        out,
        "error: EINVAL: mv /a\nerror: EINVAL: frob\nerror: ENOENT: cat /none\n"
    );
    assert_eq!(
        err,
        "boot shell: usage: mv [-n|-x] A B\n\
         boot shell: unknown command `frob`; `help` lists the commands\n"
    );
    std::fs::remove_dir_all(&lower).unwrap();
}

#[test]
fn echo_shows_each_command_before_its_output() {
    let lower = scratch("echo");
    std::fs::write(lower.join("motd"), "hello\n").unwrap();
    let (out, _) = shell_with(&lower, &["--echo"], "cat /motd\n\n  ls /  \nexit\n");
    assert_eq!(
        out,
        "overlay# cat /motd\nhello\noverlay# ls /\nmotd\noverlay# exit\n"
    );
    std::fs::remove_dir_all(&lower).unwrap();
}

#[test]
fn help_lists_the_commands() {
    let lower = scratch("help");
    let (out, _) = shell_with(&lower, &[], "help\n");
    for synopsis in ["ls [-l] [P]", "mv [-n|-x] A B", "commit NAME IMAGE", "exit"] {
        assert!(
            out.lines().any(|line| line == synopsis),
            "{synopsis}:\n{out}"
        );
    }
    std::fs::remove_dir_all(&lower).unwrap();
}
