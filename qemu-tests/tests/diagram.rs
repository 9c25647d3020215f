//! `docs/boot.svg` (the boot drawn by `boot diagram`, shown in the README) cannot drift from
//! the code: one boot, made as `make diagram` makes it, must have the shape of the report the
//! drawing keeps. Sizes, addresses, counts and digests may differ; the stages, the bootloader
//! memory's uses, the images, their layers, the containers and their top-level entries may
//! not (see `boot::diagram::shape`). That the drawing is what today's drawing code makes of
//! its report is a host test in `boot` (`the_committed_diagram_is_what_this_code_draws_...`).

#![forbid(unsafe_code)]

use std::fs;

use qemu_tests::{busybox_layout, test_dir, SUITE_TIMEOUT};

#[test]
fn committed_boot_diagram_has_the_shape_of_a_boot_of_this_kernel() {
    let name = "diagram";
    busybox_layout(name)
        .expect("build the BusyBox layout")
        .expect("BusyBox is not fetched: run `make deps`");
    let serial = boot::diagram::record(&boot::diagram::Recording {
        dir: test_dir(name),
        ramdisk: None,
        fw_cfg_images: true,
        timeout: SUITE_TIMEOUT,
        echo: false,
    })
    .expect("boot for the report");
    let log = test_dir(name).join("serial.log");
    fs::write(&log, &serial).expect("keep the serial log");
    let booted = boot::diagram::parse(&serial)
        .unwrap_or_else(|error| panic!("{error:#}\nserial log kept at {}", log.display()));

    let committed = fs::read_to_string("../docs/boot.svg").expect("read docs/boot.svg");
    let kept = boot::diagram::embedded_report(&committed).expect("docs/boot.svg keeps its report");
    let drawn = boot::diagram::parse(&kept).expect("the kept report parses");

    let differences = boot::diagram::differences(
        &boot::diagram::shape(&drawn),
        &boot::diagram::shape(&booted),
    );
    assert!(
        differences.is_empty(),
        "docs/boot.svg was drawn from a boot of another shape (- drawn, + this boot); \
         run `make diagram`:\n{}\nserial log kept at {}",
        differences.join("\n"),
        log.display()
    );
}
