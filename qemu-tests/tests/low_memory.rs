//! A RAM disk that needs more memory than the machine has: one image whose 1.5 MiB layer
//! names files under GNU long names of 2,041 fresh one-letter components, about 600,000
//! implied directories. Booted with little memory, the kernel refuses it with one fatal line
//! ending `(ENOMEM)` and the failure status, never a panic.

#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Duration;

use boot::oci::{pack_layout, OciImage, OciLayout};
use boot::{Firmware, QemuRun, Verdict};
use qemu_tests::{closing_line, test_dir, write_ramdisk};

/// The guest's memory: the kernel boots and the RAM disk fits, but not the tree of 600,000
/// directories (about 100 MiB while it is built).
const MEMORY_MIB: u32 = 64;

/// A layer tar of `files` files, each under its own chain of `depth` directories, written
/// with GNU long names: a first component of its own (`d<i>`), then `a/b/c/...`, so every
/// directory is new and only implied.
fn deep_names_layer(files: usize, depth: usize) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for file in 0..files {
        let mut path = format!("d{file}");
        for level in 1..depth {
            path.push('/');
            path.push(char::from(b'a' + (level % 26) as u8));
        }
        path.push_str("/f");
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, Path::new(&path), &[][..])
            .expect("append a file");
    }
    tar.into_inner().expect("finish the tar")
}

#[test]
fn a_ramdisk_needing_more_memory_than_there_is_fails_with_enomem_not_a_panic() {
    let name = "bios-low-memory";
    let layer = deep_names_layer(307, 2040);
    assert!(layer.len() <= 1536 * 1024, "{} bytes", layer.len());
    let mut image = OciImage::new();
    image.add_layer_tar(layer, "deep implied directories");
    image.set_ref_name("deep:1");
    let files = OciLayout::of(image)
        .layout_files()
        .expect("lay out the image");
    let ramdisk = write_ramdisk(name, &pack_layout(&files).expect("pack")).expect("write");

    let dir = test_dir(name);
    let kernel_image = boot::build_image(
        Firmware::Bios,
        Path::new(boot::KERNEL),
        Some(&ramdisk),
        &dir,
    )
    .expect("build the boot image");
    let mut run = QemuRun::new(Firmware::Bios, kernel_image, Duration::from_secs(300));
    run.memory_mib = MEMORY_MIB;
    let outcome = boot::run(&run).expect("run QEMU");
    let log = dir.join("serial.log");
    std::fs::write(&log, &outcome.serial).expect("keep the serial log");
    let serial = &outcome.serial;
    let context = format!(
        "verdict {:?} after {:.1} s; serial log at {}",
        outcome.verdict,
        outcome.elapsed.as_secs_f64(),
        log.display()
    );

    assert!(!serial.contains("KERNEL PANIC"), "{context}");
    assert_eq!(outcome.verdict, Verdict::Failed, "{context}");
    let fatal: Vec<&str> = serial
        .lines()
        .filter(|line| line.starts_with("kernel: fatal: "))
        .collect();
    assert_eq!(fatal.len(), 1, "expected one fatal line\n{context}");
    assert!(
        fatal[0].starts_with("kernel: fatal: rootfs: ") && fatal[0].ends_with("(ENOMEM)"),
        "the fatal line is not an ENOMEM of the rootfs: {}\n{context}",
        fatal[0]
    );
    assert_eq!(closing_line(serial), None, "{context}");
    eprintln!(
        "low memory: {} MiB guest: {} ({context})",
        MEMORY_MIB, fatal[0]
    );
}
