//! Boots the real kernel under QEMU (TCG) with both firmwares and checks what it reports.

#![forbid(unsafe_code)]

use std::{fs, time::Duration};

use boot::{Firmware, Verdict};
use qemu_tests::{
    boot, boot_with, busybox_layout, closing_line, default_ramdisk, fnv1a64, shell_session,
    test_lines, write_ramdisk, Boot, Booted, FwCfg, TestResult, SUITE_TIMEOUT,
};

/// Boots `firmware` with the default image and checks the whole report: the RAM disk arrived
/// intact, the bootloader memory was reclaimed, the image was verified and mounted, every test
/// passed, the verdict is success.
fn suite_passes(name: &str, firmware: Firmware) {
    let ramdisk = default_ramdisk(name).expect("write the RAM disk");
    let busybox = busybox_layout(name)
        .expect("build the BusyBox layout")
        .expect("BusyBox is not fetched: run `make deps`");
    let booted = boot_with(
        &Boot {
            name,
            firmware,
            ramdisk: Some(&ramdisk),
            mode: None,
            input: None,
            timeout: SUITE_TIMEOUT,
        },
        &FwCfg {
            images: Some(&busybox),
            ..FwCfg::default()
        },
    )
    .expect("build and boot the image");
    let serial = &booted.outcome.serial;
    let context = booted.context();
    assert_eq!(booted.outcome.verdict, Verdict::Passed, "{context}");

    let memory_map = format!("boot: memory map from {}", firmware.name().to_uppercase());
    assert!(
        serial.contains(&memory_map),
        "no `{memory_map}` line\n{context}"
    );
    let bytes = fs::read(&ramdisk).expect("read the RAM disk back");
    let ramdisk_line = format!("{} bytes, fnv1a64 {:#018x}", bytes.len(), fnv1a64(&bytes));
    assert!(
        serial.contains(&ramdisk_line),
        "the kernel did not report the RAM disk's length and checksum\n{context}"
    );
    assert!(
        serial.contains("bootfs: switched to the kernel's own page tables"),
        "{context}"
    );
    assert!(serial.contains("bootfs: reclaimed "), "{context}");
    for stage in [
        "rootfs: 3 images, 7 distinct layers (2 shared by several images), every digest checked",
        "rootfs:   greeter:1.0           3 ",
        "rootfs:   counter:1.0           6 ",
        "rootfs:   runtime:1.4           2 ",
        "  3 images  COPY base /",
        "  1 image   COPY greeter /",
        "rootfs: each layer is loaded once, one filesystem per digest",
        "union: container root of greeter:1.0: 3 read-only lowers",
        "union: mounted as the root filesystem",
    ] {
        assert!(
            serial.contains(stage),
            "no `{stage}` in the report\n{context}"
        );
    }

    let tests = test_lines(serial);
    assert!(
        tests.len() >= 8,
        "only {} test lines\n{context}",
        tests.len()
    );
    for (test, result) in &tests {
        assert_eq!(*result, TestResult::Ok, "test {test}\n{context}");
    }
    // The image store's own tests ran: shared layers, isolation, commit, rmi.
    let image_tests = tests
        .iter()
        .filter(|(test, _)| test.starts_with("images_"))
        .count();
    assert_eq!(image_tests, 5, "{context}");
    // BusyBox ran in containers: its scripts, and the tiny programs of the error paths.
    let container_tests = tests
        .iter()
        .filter(|(test, _)| test.starts_with("busybox_"))
        .count();
    assert!(
        container_tests >= 8,
        "{container_tests} BusyBox tests\n{context}"
    );
    assert!(
        tests
            .iter()
            .any(|(test, _)| test == "program_that_segfaults_ends_with_status_139"),
        "{context}"
    );
    // The kernel runs the same scenario list as `cargo test -p overlay-core`, every one of it.
    for scenario in overlay_core::scenarios::ALL {
        assert!(
            tests.iter().any(|(test, _)| test == scenario.name),
            "scenario {} did not run in the kernel\n{context}",
            scenario.name
        );
    }
    assert_eq!(closing_line(serial), Some((tests.len(), 0)), "{context}");
    // The kernel's own closing line, for `make test` to show (it runs these with --nocapture).
    let kernel_line = serial
        .lines()
        .rev()
        .find(|line| closing_line(line).is_some())
        .unwrap_or_default();
    println!(
        "kernel ({}): {}",
        firmware.name().to_uppercase(),
        kernel_line.trim()
    );
}

fn assert_failed_with(booted: &Booted, expected: &[&str]) {
    let context = booted.context();
    assert_eq!(booted.outcome.verdict, Verdict::Failed, "{context}");
    for text in expected {
        assert!(
            booted.outcome.serial.contains(text),
            "missing `{text}`\n{context}"
        );
    }
    assert_eq!(closing_line(&booted.outcome.serial), None, "{context}");
}

#[test]
fn bios_boot_runs_the_suite_to_zero_failures() {
    suite_passes("bios-suite", Firmware::Bios);
}

#[test]
fn uefi_boot_runs_the_suite_to_zero_failures() {
    suite_passes("uefi-suite", Firmware::Uefi);
}

#[test]
fn boot_without_ramdisk_reports_none_and_passes() {
    let booted = boot(&Boot {
        name: "bios-no-ramdisk",
        firmware: Firmware::Bios,
        ramdisk: None,
        mode: None,
        input: None,
        timeout: SUITE_TIMEOUT,
    })
    .expect("build and boot the image");
    let context = booted.context();
    assert_eq!(booted.outcome.verdict, Verdict::Passed, "{context}");
    assert!(
        booted.outcome.serial.contains("boot: RAM disk: none"),
        "{context}"
    );
}

#[test]
fn panicking_kernel_reports_message_and_location_and_fails() {
    let booted = boot(&Boot {
        name: "bios-panic",
        firmware: Firmware::Bios,
        ramdisk: None,
        mode: Some("panic-test"),
        input: None,
        timeout: SUITE_TIMEOUT,
    })
    .expect("build and boot the image");
    assert_failed_with(
        &booted,
        &[
            "test deliberate_panic ... ",
            "KERNEL PANIC: panicked at kernel/src/tests.rs:",
            "deliberate panic requested by the panic-test boot mode",
        ],
    );
}

#[test]
fn unknown_boot_mode_fails_cleanly() {
    let booted = boot(&Boot {
        name: "bios-bad-mode",
        firmware: Firmware::Bios,
        ramdisk: None,
        mode: Some("no-such-mode"),
        input: None,
        timeout: SUITE_TIMEOUT,
    })
    .expect("build and boot the image");
    assert_failed_with(
        &booted,
        &["kernel: fatal: unknown boot mode \"no-such-mode\""],
    );
}

#[test]
fn hanging_kernel_is_killed_at_the_timeout() {
    let timeout = Duration::from_secs(30);
    let booted = boot(&Boot {
        name: "bios-hang",
        firmware: Firmware::Bios,
        ramdisk: None,
        mode: Some("hang-test"),
        input: None,
        timeout,
    })
    .expect("build and boot the image");
    let context = booted.context();
    assert_eq!(
        booted.outcome.verdict,
        Verdict::Hung { after: timeout },
        "{context}"
    );
    assert!(booted.outcome.elapsed >= timeout, "{context}");
    // The kill must come from the hang, not from a slow boot: the kernel reached the test.
    assert!(
        booted.outcome.serial.contains("test deliberate_hang ... "),
        "{context}"
    );
    assert_eq!(closing_line(&booted.outcome.serial), None, "{context}");
}

/// Boots a damaged RAM disk and checks the kernel refuses it with one clear line naming
/// `stage`, and a failure exit, well before the timeout.
fn refuses_ramdisk(name: &str, bytes: &[u8], stage: &str) {
    let ramdisk = write_ramdisk(name, bytes).expect("write the RAM disk");
    let timeout = Duration::from_secs(120);
    let booted = boot(&Boot {
        name,
        firmware: Firmware::Bios,
        ramdisk: Some(&ramdisk),
        mode: None,
        input: None,
        timeout,
    })
    .expect("build and boot the image");
    let context = booted.context();
    assert_eq!(booted.outcome.verdict, Verdict::Failed, "{context}");
    let fatal: Vec<&str> = booted
        .outcome
        .serial
        .lines()
        .filter(|line| line.starts_with("kernel: fatal: "))
        .collect();
    assert_eq!(fatal.len(), 1, "expected one fatal line\n{context}");
    assert!(
        fatal[0].starts_with(&format!("kernel: fatal: rootfs: {stage}")),
        "the fatal line does not name `{stage}`: {}\n{context}",
        fatal[0]
    );
    assert!(!booted.outcome.serial.contains("KERNEL PANIC"), "{context}");
    assert_eq!(closing_line(&booted.outcome.serial), None, "{context}");
}

fn default_layout() -> Vec<(String, Vec<u8>)> {
    boot::oci::default_layout()
        .and_then(|layout| layout.layout_files())
        .expect("lay out the default image")
}

#[test]
fn truncated_ramdisk_is_refused() {
    let ramdisk = boot::oci::pack_layout(&default_layout()).expect("pack");
    refuses_ramdisk("bad-truncated", &ramdisk[..ramdisk.len() / 2], "");
}

#[test]
fn flipped_byte_in_a_layer_is_a_digest_mismatch() {
    let mut files = default_layout();
    // The largest blob is a layer tar; flip one byte of a file's data in its middle.
    let layer = files
        .iter_mut()
        .filter(|(path, _)| path.starts_with("blobs/"))
        .max_by_key(|(_, bytes)| bytes.len())
        .expect("a layer blob");
    let middle = layer.1.len() / 2;
    layer.1[middle] ^= 0x20;
    let ramdisk = boot::oci::pack_layout(&files).expect("pack");
    refuses_ramdisk("bad-flipped-byte", &ramdisk, "layer ");
}

#[test]
fn missing_index_is_refused() {
    let files: Vec<_> = default_layout()
        .into_iter()
        .filter(|(path, _)| path != "index.json")
        .collect();
    let ramdisk = boot::oci::pack_layout(&files).expect("pack");
    refuses_ramdisk("bad-missing-index", &ramdisk, "index.json");
}

#[test]
fn random_garbage_is_refused() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let garbage: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    refuses_ramdisk("bad-garbage", &garbage, "outer tar");
}

#[test]
fn shell_session_on_the_real_root() {
    let ramdisk = default_ramdisk("bios-shell").expect("write the RAM disk");
    let script = b"layers\nls /etc\ncat /etc/config\nwrite /etc/config changed\n\
rm /etc/hostname\nmkdir /tmp2\ncat /etc/motd\ndiff\nexit\n";
    let booted = boot(&Boot {
        name: "bios-shell",
        firmware: Firmware::Bios,
        ramdisk: Some(&ramdisk),
        mode: Some("shell"),
        input: Some(script),
        timeout: Duration::from_secs(120),
    })
    .expect("build and boot the image");
    let serial = &booted.outcome.serial;
    let context = booted.context();
    assert_eq!(booted.outcome.verdict, Verdict::Passed, "{context}");
    let app_config =
        fs::read_to_string("../rootfs/greeter/etc/config").expect("read the app layer");
    let expected = [
        "overlay# layers\nupper rw whiteouts=linux\nlower:0 ro sha256:",
        "overlay# cat /etc/config\n",
        app_config.as_str(),
        "overlay# cat /etc/motd\nerror: ENOENT: cat /etc/motd\n",
        "overlay# diff\nC /etc\nC /etc/config\nD /etc/hostname\nA /tmp2\noverlay# exit",
    ];
    for text in expected {
        assert!(serial.contains(text), "missing {text:?}\n{context}");
    }
    let listing = serial
        .split("overlay# ls /etc\n")
        .nth(1)
        .unwrap_or_default();
    let listing = listing.split("overlay# ").next().unwrap_or_default();
    assert!(listing.lines().any(|name| name == "config"), "{context}");
    assert!(
        !listing
            .lines()
            .any(|name| name == "motd" || name.starts_with(".wh.")),
        "{context}"
    );
}

/// The seeds' story in `make shell`: two services share a base image; a change in one
/// container is its own; `commit` makes it an image whose containers show it (the deletion
/// too); `df` counts shared layers once; `rmi` drops only what nothing else uses.
#[test]
fn shell_session_images_containers_commit_rmi_and_rmc() {
    let ramdisk = default_ramdisk("bios-shell-images").expect("write the RAM disk");
    let layout = boot::oci::default_layout().expect("build the default images");
    let size_of = |name: &str| -> (usize, u64) {
        let image = layout
            .images()
            .iter()
            .find(|image| image.ref_name() == name)
            .expect("a default image");
        let size = image.layers().iter().map(|l| l.tar.len() as u64).sum();
        (image.layers().len(), size)
    };
    let base: Vec<String> = layer_digests(&layout, "runtime:1.4");
    let counter_own: u64 = layout
        .images()
        .iter()
        .find(|image| image.ref_name() == "counter:1.0")
        .expect("counter")
        .layers()
        .iter()
        .filter(|layer| !base.contains(&layer.diff_id))
        .map(|layer| layer.tar.len() as u64)
        .sum();
    let script = "images\nhistory greeter:1.0\nrun greeter:1.0 web2\n\
write /etc/config \"changed in root\\n\"\nrm /etc/hostname\nmkdir /data\n\
write /data/note \"hello\\n\"\ndiff\nuse web2\ncat /etc/config\ndiff\nuse root\n\
commit root greeter:1.1\ndiff\nhistory greeter:1.1\nrun greeter:1.1 web3\nuse web3\n\
cat /etc/config\ncat /etc/hostname\ncat /data/note\nlayers\nps\ndf\nrmi counter:1.0\n\
rmi greeter:1.1\ndf\nuse web2\nrmc root\nrmc web3\nps\nexit\n";
    let booted = boot(&Boot {
        name: "bios-shell-images",
        firmware: Firmware::Bios,
        ramdisk: Some(&ramdisk),
        mode: Some("shell"),
        input: Some(script.as_bytes()),
        timeout: Duration::from_secs(180),
    })
    .expect("build and boot the image");
    let context = booted.context();
    assert_eq!(booted.outcome.verdict, Verdict::Passed, "{context}");
    let session = shell_session(&booted.outcome.serial);
    let commands: Vec<&str> = session
        .iter()
        .map(|(command, _)| command.as_str())
        .collect();
    let expected_commands: Vec<&str> = script.lines().collect();
    assert_eq!(commands, expected_commands, "{context}");
    let out = |index: usize| session[index].1.as_str();

    // images: three, sizes in bytes as packed.
    let rows: Vec<Vec<&str>> = out(0)
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["IMAGE", "LAYERS", "SIZE"], "{context}");
    for (row, name) in rows[1..]
        .iter()
        .zip(["greeter:1.0", "counter:1.0", "runtime:1.4"])
    {
        let (layers, size) = size_of(name);
        assert_eq!(
            *row,
            [name, &layers.to_string(), &size.to_string()],
            "{context}"
        );
    }
    assert_eq!(rows.len(), 4, "{context}");
    // history: top first, empty-layer steps included, the base layer last.
    let history: Vec<&str> = out(1).lines().collect();
    assert!(
        history[1].starts_with("-  ")
            && history[1].ends_with("CMD [\"/usr/bin/rt\", \"/app/main.rt\"]"),
        "{context}"
    );
    assert!(
        history
            .iter()
            .any(|line| line.ends_with("  COPY greeter /")),
        "{context}"
    );
    assert!(
        history.last().unwrap().ends_with("  COPY base /"),
        "{context}"
    );
    assert_eq!(out(2), "", "{context}");
    // The change, as docker diff shows it; invisible in the other container.
    assert_eq!(
        out(7),
        "A /data\nA /data/note\nC /etc\nC /etc/config\nD /etc/hostname\n",
        "{context}"
    );
    let greeter_config = fs::read_to_string("../rootfs/greeter/etc/config").expect("read");
    assert_eq!(out(9), greeter_config, "{context}");
    assert_eq!(out(10), "", "{context}");
    // commit: the new layer's digest; the container goes on with an empty upper.
    let layer = out(12).trim_end();
    assert!(
        layer.starts_with("sha256:") && layer.len() == 71,
        "{context}"
    );
    assert_eq!(out(13), "", "{context}");
    let short = &layer[..19];
    let top = out(14).lines().nth(1).unwrap_or_default();
    assert!(
        top.starts_with(short) && top.ends_with("  commit root"),
        "{context}"
    );
    // A container of the committed image shows the change and the deletion.
    assert_eq!(out(17), "changed in root\n", "{context}");
    assert_eq!(out(18), "error: ENOENT: cat /etc/hostname\n", "{context}");
    assert_eq!(out(19), "hello\n", "{context}");
    let layers: Vec<&str> = out(20).lines().collect();
    assert_eq!(layers.len(), 5, "{context}");
    assert_eq!(
        layers[1],
        format!("lower:0 ro {short} whiteouts=oci"),
        "{context}"
    );
    assert!(
        out(21).contains("\n*  web3 ") && out(21).lines().count() == 4,
        "{context}"
    );
    // df: 8 layers stored once, 3 containers.
    let df = out(22);
    assert!(
        df.lines()
            .any(|l| l.split_whitespace().take(2).eq(["total", "8"])),
        "{context}"
    );
    assert!(
        df.contains("\ncontainers: 3, writable layers "),
        "{context}"
    );
    assert!(
        df.contains("\nreclaimed by rmi and rmc: 0 bytes in 0 layers\n"),
        "{context}"
    );
    // rmi counter:1.0: its own four layers go, the two shared ones stay.
    let rmi = out(23);
    assert!(rmi.starts_with("Untagged: counter:1.0\n"), "{context}");
    assert_eq!(
        rmi.lines().filter(|l| l.starts_with("Deleted: ")).count(),
        4,
        "{context}"
    );
    let kept: Vec<&str> = rmi.lines().filter(|l| l.starts_with("Kept: ")).collect();
    assert_eq!(kept.len(), 2, "{context}");
    assert!(
        kept.iter()
            .all(|l| l.contains("greeter:1.0") && l.contains("runtime:1.4")),
        "{context}"
    );
    // rmi greeter:1.1: its layer stays for the containers running it.
    let rmi = out(24);
    assert!(rmi.starts_with("Untagged: greeter:1.1\n"), "{context}");
    assert!(!rmi.contains("Deleted"), "{context}");
    assert!(rmi.contains(&format!("Kept: {short} ")), "{context}");
    assert!(
        rmi.contains("(used by container root, container web3)"),
        "{context}"
    );
    let reclaimed = format!("\nreclaimed by rmi and rmc: {counter_own} bytes in 4 layers\n");
    assert!(out(25).contains(&reclaimed), "{context}");
    assert!(
        out(25).contains("\nheld for containers only: "),
        "{context}"
    );
    // rmc: the committed layer stays while web3 stacks it, and goes with web3.
    assert_eq!(out(26), "", "{context}");
    assert_eq!(out(27), "Removed: root\n", "{context}");
    let removed: Vec<&str> = out(28).lines().collect();
    assert_eq!(removed.len(), 2, "{context}");
    assert_eq!(removed[0], "Removed: web3", "{context}");
    assert!(
        removed[1].starts_with(&format!("Deleted: {short} ")),
        "{context}"
    );
    let ps: Vec<&str> = out(29).lines().collect();
    assert_eq!(ps.len(), 2, "{context}");
    assert!(ps[1].starts_with("*  web2 "), "{context}");
}

/// The digests of the layers of the default image `name`.
fn layer_digests(layout: &boot::oci::OciLayout, name: &str) -> Vec<String> {
    layout
        .images()
        .iter()
        .find(|image| image.ref_name() == name)
        .map(|image| image.layers().iter().map(|l| l.diff_id.clone()).collect())
        .unwrap_or_default()
}
