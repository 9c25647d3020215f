//! Boot mode `bench` (`make qemu-bench`): the boot-to-verdict time split by stage, then the
//! lookup (W1) and copy-up (W3) workloads of issue 6 inside the kernel, all in TSC cycles.
//!
//! The stages are stamped with the time-stamp counter as the boot goes (`stamp`, called from
//! `main`); the counter starts at reset, so its value at the kernel's entry is the time the
//! firmware and the bootloader took (loading the RAM disk included). Under QEMU's TCG the
//! counter is emulated: cycles compare with each other within one run, not with a real CPU.
//! Under the stages, [`digest`] says what checking the layers' digests costs per MiB and what
//! share of the RAM disk stage it is.
//!
//! W1 and W3 run on this kernel's heap: layers are built as image-layer tars in memory (as
//! the RAM disk's layers are), stacked under a tmpfs upper, and driven through
//! `overlay_core::posix` like the host benchmark (`make bench`) drives them.
//!
//! Last, [`user`] measures what the user boundary costs: a process made and ended, a system
//! call that does nothing, and `stat` through the system-call layer against inside the kernel.

use alloc::{format, string::String, vec, vec::Vec};
use core::sync::atomic::{AtomicU64, Ordering};

use overlay_core::image::{Bytes, EntryKind, ImageLayerFs, NewEntry, TarWriter};
use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer, WhiteoutEncoding};
use overlay_core::posix::Namespace;
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::vfs::{Credentials, OpenFlags};

use crate::exit::{exit_qemu, ExitCode};
use crate::println;
use crate::runner::Summary;

mod digest;
mod user;

/// The points of the boot that are stamped, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The kernel's first instruction of Rust.
    Entry,
    /// The kernel is set up (GDT, interrupts, heap, bootloader memory reclaimed).
    KernelReady,
    /// The RAM disk's images are parsed and every digest checked.
    RootfsLoaded,
    /// The root union is mounted.
    Mounted,
    /// The test suite has run: the verdict is known.
    Verdict,
}

const STAGES: usize = 5;
static STAMPS: [AtomicU64; STAGES] = [const { AtomicU64::new(0) }; STAGES];

/// The time-stamp counter, in cycles.
pub fn cycles() -> u64 {
    // SAFETY: `rdtsc` only reads the time-stamp counter, which every x86_64 CPU has; it
    // touches no memory, and the kernel does not disable it (CR4.TSD is clear, and the
    // kernel runs in ring 0 anyway).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Records that the boot reached `stage` now.
pub fn stamp(stage: Stage) {
    STAMPS[stage as usize].store(cycles(), Ordering::Relaxed);
}

fn stamped(stage: Stage) -> u64 {
    STAMPS[stage as usize].load(Ordering::Relaxed)
}

/// Prints the stages, runs W1, W3 and the user-boundary workloads, and leaves QEMU with the
/// suite's verdict.
pub fn run(summary: Summary) -> ! {
    stamp(Stage::Verdict);
    print_stages(summary);
    let verdict_ok = summary.failed == 0;
    let result = w1().and_then(|()| w3()).and_then(|()| user::run());
    if let Err(why) = &result {
        println!("bench: failed: {why}");
    }
    exit_qemu(if verdict_ok && result.is_ok() {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

fn print_stages(summary: Summary) {
    let total = stamped(Stage::Verdict).max(1);
    let rows = [
        (
            "firmware and bootloader (TSC at entry)",
            0,
            stamped(Stage::Entry),
        ),
        (
            "kernel set-up (heap, memory, report)",
            stamped(Stage::Entry),
            stamped(Stage::KernelReady),
        ),
        (
            "RAM disk parse and digest check",
            stamped(Stage::KernelReady),
            stamped(Stage::RootfsLoaded),
        ),
        (
            "mount (the root container)",
            stamped(Stage::RootfsLoaded),
            stamped(Stage::Mounted),
        ),
        (
            "test suite",
            stamped(Stage::Mounted),
            stamped(Stage::Verdict),
        ),
    ];
    println!(
        "bench: boot to verdict ({} passed, {} failed), by stage, in TSC cycles:",
        summary.passed, summary.failed
    );
    println!("bench:   {:<40} {:>16} {:>7}", "STAGE", "CYCLES", "SHARE");
    for (name, from, to) in rows {
        let cycles = to.saturating_sub(from);
        println!(
            "bench:   {name:<40} {cycles:>16} {:>7}",
            percent(cycles, total)
        );
    }
    println!(
        "bench:   {:<40} {total:>16} {:>7}",
        "total, reset to verdict", "100 %"
    );
    digest::print(stamped(Stage::RootfsLoaded).saturating_sub(stamped(Stage::KernelReady)));
}

/// `part` of `whole` as a percentage with one decimal.
fn percent(part: u64, whole: u64) -> String {
    let tenths = u128::from(part) * 1000 / u128::from(whole.max(1));
    format!("{}.{} %", tenths / 10, tenths % 10)
}

/// A layer tar with `files` (path, bytes) under the directories `dirs`, as an image layer.
fn image_layer(dirs: &[&str], files: &[(String, &[u8])]) -> Result<Layer, String> {
    let mut tar = TarWriter::new();
    for dir in dirs {
        tar.append(&NewEntry::new(dir, EntryKind::Directory, 0o755), &[])
            .map_err(|errno| format!("tar: {errno}"))?;
    }
    for (path, data) in files {
        tar.append(&NewEntry::new(path, EntryKind::Regular, 0o644), data)
            .map_err(|errno| format!("tar: {errno}"))?;
    }
    let archive = tar.finish().map_err(|errno| format!("tar: {errno}"))?;
    let fs = ImageLayerFs::parse(Bytes::from_vec(archive)).map_err(|error| format!("{error}"))?;
    Ok(Layer::with_encoding(fs, WhiteoutEncoding::Oci))
}

/// A union of `lowers` (top first) under an empty, unlimited tmpfs upper.
fn union(lowers: Vec<Layer>) -> Result<Namespace, String> {
    let upper = UpperLayer::new(TmpFs::new(TmpFsOptions::default()))
        .map_err(|errno| format!("upper: {errno}"))?;
    let union = OverlayFs::new(lowers, Some(upper), OverlayOptions::default())
        .map_err(|errno| format!("union: {errno}"))?;
    Ok(Namespace::with_filesystem(union))
}

const W1_FILES: usize = 1000;

/// W1: stat every `/d/f<layer>_<i>` of L layers of 1000 files, cold then warm, and 1000 names
/// no layer has; cycles per lookup.
fn w1() -> Result<(), String> {
    println!(
        "bench: W1 lookups through L image layers of {W1_FILES} files each, cycles per lookup:"
    );
    println!(
        "bench:   {:>6} {:>12} {:>12} {:>12}",
        "LAYERS", "COLD", "WARM", "MISSING"
    );
    let creds = Credentials::root();
    let mut warm_per_layers = Vec::new();
    for count in [1usize, 8, 64] {
        let mut lowers = Vec::new();
        for layer in 0..count {
            let files: Vec<(String, &[u8])> = (0..W1_FILES)
                .map(|i| (format!("d/f{layer}_{i}"), &b"0123456789abcdef"[..]))
                .collect();
            lowers.push(image_layer(&["d"], &files)?);
        }
        let ns = union(lowers)?;
        let paths: Vec<String> = (0..count)
            .flat_map(|layer| (0..W1_FILES).map(move |i| format!("/d/f{layer}_{i}")))
            .collect();
        let missing: Vec<String> = (0..W1_FILES).map(|i| format!("/d/missing_{i}")).collect();
        let pass = |paths: &[String], exist: bool| -> Result<u64, String> {
            let start = cycles();
            for path in paths {
                if ns.lstat(&creds, path).is_ok() != exist {
                    return Err(format!("W1: stat {path} gave the wrong answer"));
                }
            }
            Ok((cycles() - start) / paths.len() as u64)
        };
        let cold = pass(&paths, true)?;
        let warm = pass(&paths, true)?;
        let absent = pass(&missing, false)?;
        println!("bench:   {count:>6} {cold:>12} {warm:>12} {absent:>12}");
        warm_per_layers.push((warm, absent));
    }
    if let (Some(one), Some(many)) = (warm_per_layers.first(), warm_per_layers.last()) {
        println!(
            "bench:   warm, 64 layers / 1 layer: {} found, {} missing",
            ratio(many.0, one.0),
            ratio(many.1, one.1)
        );
    }
    Ok(())
}

/// `a / b` with two decimals and an `x`.
fn ratio(a: u64, b: u64) -> String {
    let hundredths = u128::from(a) * 100 / u128::from(b.max(1));
    format!("{}.{:02}x", hundredths / 100, hundredths % 100)
}

const W3_BYTES: usize = 64 << 20;

/// W3: the first 1-byte write into a 64 MiB lower file (open for writing, write at 0), next
/// to a memcpy of the same 64 MiB.
fn w3() -> Result<(), String> {
    let layer = {
        let data: Vec<u8> = (0..W3_BYTES).map(|i| (i % 251) as u8 + 1).collect();
        image_layer(&["data"], &[(String::from("data/big"), &data)])?
    };
    let ns = union(vec![layer])?;
    let creds = Credentials::root();
    let start = cycles();
    let file = ns
        .open(&creds, "/data/big", OpenFlags::WRITE, 0)
        .map_err(|errno| format!("W3: open: {errno}"))?;
    file.pwrite(0, b"x")
        .map_err(|errno| format!("W3: write: {errno}"))?;
    let first_write = cycles() - start;
    drop(file);
    // The physical limit of a copy: the same bytes into memory already touched.
    let source = ns
        .lookup(&creds, "/data/big", true)
        .map_err(|errno| format!("W3: lookup: {errno}"))?;
    let mut from = vec![0u8; W3_BYTES];
    let read = source
        .read_at(0, &mut from)
        .map_err(|errno| format!("W3: read: {errno}"))?;
    if read != W3_BYTES || from[0] != b'x' || from[1] != 2 {
        return Err(String::from("W3: the copied-up file reads back wrong"));
    }
    let mut to = vec![1u8; W3_BYTES];
    let start = cycles();
    to.copy_from_slice(&from);
    let memcpy = cycles() - start;
    core::hint::black_box(&to);
    println!(
        "bench: W3 first 1-byte write into a 64 MiB image file: {first_write} cycles; \
         memcpy of 64 MiB: {memcpy} cycles; the write takes {} of the memcpy",
        percent(first_write, memcpy)
    );
    Ok(())
}
