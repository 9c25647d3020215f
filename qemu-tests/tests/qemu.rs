//! Boots the real kernel under QEMU (TCG) with both firmwares and checks what it reports.

#![forbid(unsafe_code)]

use std::{fs, time::Duration};

use boot::{Firmware, Verdict};
use qemu_tests::{
    boot, closing_line, fnv1a64, make_ramdisk, test_lines, Boot, Booted, TestResult, SUITE_TIMEOUT,
};

/// Not a multiple of the page size, so the last page is partly RAM disk.
const RAMDISK_BYTES: usize = 70_001;

/// Boots `firmware` with a fresh RAM disk and checks the whole report: the RAM disk arrived
/// intact, the bootloader memory was reclaimed, every test passed, the verdict is success.
fn suite_passes(name: &str, firmware: Firmware) {
    let ramdisk = make_ramdisk(name, RAMDISK_BYTES).expect("write the RAM disk");
    let booted = boot(&Boot {
        name,
        firmware,
        ramdisk: Some(&ramdisk),
        mode: None,
        timeout: SUITE_TIMEOUT,
    })
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
    let ramdisk_line = format!("bytes, fnv1a64 {:#018x}", fnv1a64(&bytes));
    assert!(
        serial.contains(&format!("{RAMDISK_BYTES} {ramdisk_line}")),
        "the kernel did not report the RAM disk's length and checksum\n{context}"
    );
    assert!(
        serial.contains("bootfs: switched to the kernel's own page tables"),
        "{context}"
    );
    assert!(serial.contains("bootfs: reclaimed "), "{context}");

    let tests = test_lines(serial);
    assert!(
        tests.len() >= 8,
        "only {} test lines\n{context}",
        tests.len()
    );
    for (test, result) in &tests {
        assert_eq!(*result, TestResult::Ok, "test {test}\n{context}");
    }
    // The kernel runs the same scenario list as `cargo test -p overlay-core`, every one of it.
    for scenario in overlay_core::scenarios::ALL {
        assert!(
            tests.iter().any(|(test, _)| test == scenario.name),
            "scenario {} did not run in the kernel\n{context}",
            scenario.name
        );
    }
    assert_eq!(closing_line(serial), Some((tests.len(), 0)), "{context}");
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
