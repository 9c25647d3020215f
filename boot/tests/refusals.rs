//! `boot qemu` refuses what the kernel would refuse, on the host, before building or booting
//! anything: an unknown mode, a RAM disk its loader cannot read.

use std::process::Command;

/// Runs `boot ARGS...`; its exit status and standard error.
fn boot(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_boot"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_unknown_mode_is_refused_with_the_modes_listed() {
    let (status, stderr) = boot(&["qemu", "--mode", "nonsense"]);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains("invalid value 'nonsense'"), "{stderr}");
    assert!(
        stderr
            .contains("[possible values: test, shell, bench, busybox-diff, panic-test, hang-test]"),
        "{stderr}"
    );
    assert!(!stderr.contains("booting"), "{stderr}");
}

#[test]
fn a_ram_disk_the_kernel_cannot_read_is_refused_before_booting() {
    let dir = std::env::temp_dir().join(format!("boot-refusals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ramdisk = dir.join("three-bytes");
    std::fs::write(&ramdisk, b"abc").unwrap();
    let out = dir.join("images");
    let (status, stderr) = boot(&[
        "qemu",
        "--ramdisk",
        ramdisk.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    // 3: the tool could not do its job (QEMU missing would be one too, with its own message).
    assert_eq!(status, Some(3), "{stderr}");
    assert!(
        stderr.contains("the kernel would refuse this RAM disk: outer tar"),
        "{stderr}"
    );
    assert!(!stderr.contains("booting"), "{stderr}");
    assert!(!out.join("kernel-bios.img").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
