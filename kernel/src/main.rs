//! The overlay kernel: boots through `bootloader_api`, reports what the bootloader handed over,
//! unloads the bootloader's leftovers (see `bootfs`), and runs the test suite on the serial
//! console, leaving QEMU with the verdict (see `exit`).

// The kernel runs on bare metal only. Built for the host (`cargo clippy --workspace`), it is
// type-checked and linted like any crate but its `main` just says where to run it.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![feature(abi_x86_interrupt)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

extern crate alloc;

use overlay_core::scenarios::{self, Scenario};

mod arch;
mod bench;
mod bootfs;
mod busybox_diff;
mod console;
mod console_tty;
mod container_tests;
mod elf;
mod exit;
mod fw_cfg;
mod gdt;
mod handover;
mod heap;
mod image_tests;
mod interrupts;
mod layer_map;
mod logger;
mod mode;
mod paging;
mod process;
mod rootfs;
mod rootfs_tests;
mod rtc;
mod runner;
mod serial;
mod tests;
mod tiny_program;
mod units;
mod user_space;
mod user_tests;

use alloc::{format, string::String};
use bootloader_api::{
    config::Mapping,
    info::{MemoryRegionKind, MemoryRegions},
    BootInfo, BootloaderConfig,
};
use core::panic::PanicInfo;

use exit::{exit_qemu, ExitCode};
use handover::{Firmware, Handover};
use mode::Mode;
use runner::Test;
use units::Bytes;

/// The kernel stack. The overlay test suite recurses (path walks, copy-up of directory trees),
/// so it gets far more than the bootloader's 80 KiB default.
const KERNEL_STACK_BYTES: u64 = 512 * 1024;

/// What the kernel asks of the bootloader: all physical memory mapped at an offset the
/// bootloader chooses (the heap and the page-table code reach memory through it), a big stack,
/// and everything it maps for the kernel (image, stack, RAM disk, that mapping) placed in the
/// upper half, so the lower half is free for user programs.
pub static BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.kernel_stack_size = KERNEL_STACK_BYTES;
    config.mappings.dynamic_range_start = Some(0xffff_8000_0000_0000);
    config
};

#[cfg(target_os = "none")]
bootloader_api::entry_point!(kernel_main, config = &BOOTLOADER_CONFIG);

/// The host build's entry point: the kernel cannot run there.
#[cfg(not(target_os = "none"))]
fn main() {
    // Keeps the whole kernel reachable, so the host lint sees no dead code.
    let _ = kernel_main as fn(&'static mut BootInfo) -> !;
    let _ = panic as fn(&PanicInfo) -> !;
    eprintln!(
        "the kernel runs on bare metal: boot it with `make qemu` (or `cargo run -p boot -- qemu`)"
    );
    std::process::exit(2);
}

fn kernel_main(boot_info: &'static mut BootInfo) -> ! {
    bench::stamp(bench::Stage::Entry);
    serial::init();
    logger::init();
    println!();
    println!("overlay kernel {} starting", env!("CARGO_PKG_VERSION"));
    // Our own GDT first: the bootloader's sits in a frame that `bootfs` gives away.
    gdt::init();
    interrupts::init();
    // SSE, SYSCALL and the timer, for user programs.
    arch::init();
    rtc::init();

    let Some(offset) = boot_info.physical_memory_offset.into_option() else {
        fail("the bootloader did not map physical memory (BOOTLOADER_CONFIG asks it to)");
    };
    let (heap_bytes, heap_regions) = claim_usable_memory(&boot_info.memory_regions, offset);
    let Some(handover) = Handover::take(boot_info) else {
        fail("cannot copy the boot info");
    };
    print_boot_report(handover);
    println!(
        "heap: {} in {heap_regions} usable regions",
        Bytes(heap_bytes)
    );

    if let Err(why) = bootfs::unload(handover) {
        fail(&why);
    }
    let heap = heap::stats();
    println!(
        "heap: {} in {} spans after reclaiming, {} in use",
        Bytes(heap.claimed_bytes),
        heap.spans,
        Bytes(heap.allocated_bytes)
    );

    let mode =
        mode::read().unwrap_or_else(|unknown| fail(&format!("unknown boot mode {unknown:?}")));
    bench::stamp(bench::Stage::KernelReady);
    let has_image = rootfs::load(handover).unwrap_or_else(|why| fail(&format!("rootfs: {why}")));
    bench::stamp(bench::Stage::RootfsLoaded);
    let root = has_image
        .then(|| rootfs::mount_root().unwrap_or_else(|why| fail(&format!("union: {why}"))));
    bench::stamp(bench::Stage::Mounted);
    if let (Some(_), Some(manager)) = (&root, rootfs::manager()) {
        layer_map::print(manager);
    }
    if mode == Mode::Shell {
        let (Some(_root), Some(manager)) = (root, rootfs::manager()) else {
            fail("the shell needs an image: boot with a RAM disk");
        };
        if let Err(errno) = console::run(manager.clone(), rootfs::ROOT_CONTAINER) {
            fail(&format!("shell: {errno}"));
        }
        exit_qemu(ExitCode::Success);
    }
    if let Mode::Run { image, argv } = &mode {
        run_program(image, argv);
    }
    if mode == Mode::BusyboxDiff {
        let Some(manager) = rootfs::manager() else {
            fail("busybox-diff: no images");
        };
        if let Err(why) = busybox_diff::run(manager) {
            fail(&why);
        }
        exit_qemu(ExitCode::Success);
    }

    // The kernel's own tests, the tests on the real root and of the image store (when there
    // is an image), then (in the normal test mode) the overlay scenarios that `cargo test -p overlay-core` runs on
    // the host, each on a fresh union.
    let (root_tests, image_tests): (&[Test], &[Test]) = if has_image {
        (rootfs_tests::ALL, image_tests::ALL)
    } else {
        (&[], &[])
    };
    let (tests, scenarios): (&[Test], &[Scenario]) = match mode {
        Mode::Test | Mode::Bench => (tests::ALL, scenarios::ALL),
        Mode::PanicTest => (tests::PANICKING, &[]),
        Mode::HangTest => (tests::HANGING, &[]),
        Mode::Shell | Mode::Run { .. } | Mode::BusyboxDiff => (&[], &[]),
    };
    let (root_tests, image_tests) = if matches!(mode, Mode::Test | Mode::Bench) {
        (root_tests, image_tests)
    } else {
        (&[][..], &[][..])
    };
    let user_tests: &[Test] = if matches!(mode, Mode::Test | Mode::Bench) {
        user_tests::ALL
    } else {
        &[]
    };
    // The container tests need the BusyBox image (`boot` passes it through fw_cfg when
    // `make deps` has fetched BusyBox); without it the boot says so and runs the rest.
    let container_tests: &[Test] = if !matches!(mode, Mode::Test | Mode::Bench) {
        &[]
    } else if container_tests::image_present() {
        container_tests::ALL
    } else {
        println!("container tests: skipped, no `busybox` image (boot with its fw_cfg layout)");
        &[]
    };
    let count = tests.len()
        + user_tests.len()
        + container_tests.len()
        + root_tests.len()
        + image_tests.len()
        + scenarios.len();
    let plural = if count == 1 { "" } else { "s" };
    println!("running {count} test{plural}");
    let scenario_entries = scenarios.iter().map(|s| (s.name, s.run));
    let entries = tests
        .iter()
        .chain(user_tests)
        .chain(root_tests)
        .chain(image_tests)
        .chain(container_tests)
        .map(Test::entry)
        .chain(scenario_entries);
    let summary = runner::run(entries);
    if mode == Mode::Bench {
        bench::run(summary);
    }
    exit_qemu(if summary.failed == 0 {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

/// The mode `run` (`make run`, `make shell`): a container of `image` runs its command (or
/// `argv`) on the console; the kernel reports its exit status (see `mode`) and leaves QEMU.
fn run_program(image: &str, argv: &[String]) -> ! {
    let Some(manager) = rootfs::manager() else {
        fail("run: no images: boot with a RAM disk or an fw_cfg image layout");
    };
    let container = "run";
    if let Err(errno) = manager.run(image, container) {
        fail(&format!("run: container of {image}: {errno}"));
    }
    println!("run: container {container} of {image}");
    let launch = process::Launch {
        container,
        command: argv.to_vec(),
        env: None,
        stdio: process::LaunchStdio::Console,
        limits: process::RunLimits { max_ticks: None },
    };
    let status = match process::launch(manager, &launch) {
        Ok(report) => report.shell_status(),
        Err(why) => {
            // As `docker run` answers a command it cannot start: 127 if it is not there,
            // 126 if it cannot be run.
            println!("run: {why}");
            if why.contains("ENOENT") {
                127
            } else {
                126
            }
        }
    };
    println!("{}{status}", mode::EXIT_STATUS_PREFIX);
    exit_qemu(ExitCode::Success)
}

/// Gives every `Usable` region to the heap; returns the bytes claimed and the region count.
fn claim_usable_memory(regions: &MemoryRegions, physical_memory_offset: u64) -> (u64, usize) {
    let mut bytes = 0;
    let mut count = 0;
    for region in regions
        .iter()
        .filter(|r| r.kind == MemoryRegionKind::Usable)
    {
        // SAFETY: the bootloader reports `Usable` regions as free memory it does not use, the
        // kernel has not touched any yet, and all physical memory is mapped read-write at
        // `physical_memory_offset`. Each region is claimed once.
        let claimed = unsafe { heap::claim(region.start, region.end, physical_memory_offset) };
        if claimed > 0 {
            bytes += claimed;
            count += 1;
        }
    }
    (bytes, count)
}

fn print_boot_report(handover: &Handover) {
    let firmware = match handover.firmware {
        Firmware::Bios => "BIOS",
        Firmware::Uefi => "UEFI",
        Firmware::Unknown => "unknown firmware",
    };
    let (major, minor, patch) = handover.api_version;
    println!("boot: handed over by bootloader_api {major}.{minor}.{patch}");
    let (usable, usable_count) = handover.bytes_of_kind(MemoryRegionKind::Usable);
    let (bootloader, bootloader_count) = handover.bytes_of_kind(MemoryRegionKind::Bootloader);
    let (firmware_bytes, firmware_count) = handover
        .memory_regions
        .iter()
        .filter(|r| {
            matches!(
                r.kind,
                MemoryRegionKind::UnknownBios(_) | MemoryRegionKind::UnknownUefi(_)
            )
        })
        .fold((0, 0), |(bytes, count), r| {
            (bytes + (r.end - r.start), count + 1)
        });
    println!(
        "boot: memory map from {firmware}: {} regions; usable {} in {usable_count}, bootloader {} in {bootloader_count}, firmware-reserved {} in {firmware_count}",
        handover.memory_regions.len(),
        Bytes(usable),
        Bytes(bootloader),
        Bytes(firmware_bytes)
    );
    for region in handover
        .memory_regions
        .iter()
        .filter(|r| r.kind == MemoryRegionKind::Bootloader)
    {
        println!(
            "boot:   bootloader region {:#012x}..{:#012x} ({})",
            region.start,
            region.end,
            Bytes(region.end - region.start)
        );
    }
    println!(
        "boot: kernel ELF at phys {:#x}, {} bytes ({}); image at virt {:#x}",
        handover.kernel_elf.start,
        handover.kernel_elf.end - handover.kernel_elf.start,
        Bytes(handover.kernel_elf.end - handover.kernel_elf.start),
        handover.kernel_image_offset
    );
    println!(
        "boot: kernel stack at virt {:#x}, {}",
        handover.kernel_stack.start,
        Bytes(handover.kernel_stack.end - handover.kernel_stack.start)
    );
    match &handover.ramdisk {
        Some(ramdisk) => println!(
            "boot: RAM disk at virt {:#x} (phys {}), {} bytes, fnv1a64 {:#018x}",
            ramdisk.virt.start,
            ramdisk
                .phys_start
                .map_or(String::from("unmapped"), |phys| format!("{phys:#x}")),
            ramdisk.virt.end - ramdisk.virt.start,
            ramdisk.fnv1a64
        ),
        None => println!("boot: RAM disk: none (the image was built without one)"),
    }
    println!(
        "boot: physical memory mapped at virt {:#x}",
        handover.physical_memory_offset
    );
    match handover.rsdp_addr {
        Some(rsdp) => println!("boot: ACPI RSDP at phys {rsdp:#x}"),
        None => println!("boot: ACPI RSDP: not found"),
    }
}

/// Reports a fatal boot error and fails the run.
fn fail(why: &str) -> ! {
    println!("kernel: fatal: {why}");
    exit_qemu(ExitCode::Failure)
}

#[cfg_attr(target_os = "none", panic_handler)]
fn panic(info: &PanicInfo) -> ! {
    // The location is part of `PanicInfo`'s display: "panicked at FILE:LINE:COL:\nMESSAGE".
    serial::write_fmt_emergency(format_args!("\nKERNEL PANIC: {info}\n"));
    exit_qemu(ExitCode::Failure)
}
