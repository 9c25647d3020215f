//! Unloading the bootfs: the bootloader leaves the kernel running in memory it marked
//! `Bootloader`, which holds the kernel's ELF file and image, the kernel stack, the RAM disk, the
//! page tables in use, the boot info and a few scratch frames (its GDT, the identity-mapped
//! context switch). This module reports that split, builds the kernel's own page tables and
//! switches to them, then gives back to the heap exactly the bootloader frames nothing maps any
//! more. The kernel ELF file, the image, the stack and the RAM disk are never given back.

use alloc::{
    collections::{BTreeMap, BTreeSet},
    format,
    string::String,
    vec::Vec,
};
use core::ops::Range;

use bootloader_api::info::MemoryRegionKind;
use spin::Once;

use crate::{
    elf,
    handover::Handover,
    heap,
    paging::{self, AddressSpace, Visit, PAGE_BYTES},
    println,
    units::Bytes,
};

const FIRST_4_GIB: u64 = 1 << 32;

/// What a bootloader frame is used for, as far as the kernel can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Use {
    KernelElf,
    KernelImage,
    KernelStack,
    Ramdisk,
    PageTables,
    BootInfo,
    Other,
}

impl Use {
    const ALL: [Use; 7] = [
        Use::KernelElf,
        Use::KernelImage,
        Use::KernelStack,
        Use::Ramdisk,
        Use::PageTables,
        Use::BootInfo,
        Use::Other,
    ];

    fn label(self) -> &'static str {
        match self {
            Use::KernelElf => "kernel ELF file",
            Use::KernelImage => "kernel image (bss, relocated pages)",
            Use::KernelStack => "kernel stack",
            Use::Ramdisk => "RAM disk",
            Use::PageTables => "page tables",
            Use::BootInfo => "boot info",
            Use::Other => "other (GDT, context switch, scratch)",
        }
    }

    /// Frames the kernel still needs after switching to its own page tables.
    fn kept(self) -> bool {
        matches!(
            self,
            Use::KernelElf | Use::KernelImage | Use::KernelStack | Use::Ramdisk
        )
    }
}

/// The outcome, kept for the boot report and the tests.
#[derive(Debug)]
pub struct Unloaded {
    /// Physical ranges given to the heap.
    pub reclaimed: Vec<Range<u64>>,
    pub reclaimed_bytes: u64,
}

static UNLOADED: Once<Unloaded> = Once::new();

/// The result of [`unload`], once it has run.
pub fn unloaded() -> Option<&'static Unloaded> {
    UNLOADED.get()
}

fn page_range(range: &Range<u64>) -> impl Iterator<Item = u64> {
    let start = range.start & !(PAGE_BYTES - 1);
    (start..range.end).step_by(PAGE_BYTES as usize)
}

fn bytes(frames: usize) -> Bytes {
    Bytes(frames as u64 * PAGE_BYTES)
}

/// Reports what the bootloader occupies, switches to the kernel's own page tables and reclaims
/// the bootloader frames that are provably unused. Runs once; needs the heap and the handover.
pub fn unload(handover: &Handover) -> Result<&'static Unloaded, String> {
    let old_level_4 = paging::active_level_4();
    let image = kernel_image(handover)?;
    let (space, frame_use) = build_tables(handover, old_level_4, &image)?;
    check_kept_frames(handover, &frame_use)?;
    let (counts, reclaimable) = account(handover, &frame_use);
    switch_tables(space)?;
    let (reclaimed, reclaimed_bytes) = reclaim(&reclaimable, handover.physical_memory_offset);
    let kept_frames: usize = Use::ALL
        .iter()
        .filter(|u| u.kept())
        .map(|u| counts[*u as usize])
        .sum();
    println!(
        "bootfs: reclaimed {} of bootloader memory into the heap ({} ranges); kept {} (kernel ELF, image, stack, RAM disk)",
        Bytes(reclaimed_bytes),
        reclaimed.len(),
        bytes(kept_frames)
    );
    Ok(UNLOADED.call_once(|| Unloaded {
        reclaimed,
        reclaimed_bytes,
    }))
}

/// Where the running kernel image is: its ELF's loadable segments, moved by the image offset.
/// An error if the code running now lies outside them.
fn kernel_image(handover: &Handover) -> Result<Vec<Range<u64>>, String> {
    let segments = elf::load_segments(handover.kernel_elf_bytes())
        .map_err(|why| format!("cannot read the kernel's ELF headers: {why}"))?;
    let image: Vec<Range<u64>> = segments
        .iter()
        .map(|s| {
            let start = handover.kernel_image_offset + s.vaddr;
            start..start + s.mem_bytes
        })
        .collect();
    let entry = unload as *const () as usize as u64;
    if !image.iter().any(|r| r.contains(&entry)) {
        return Err(format!(
            "kernel code at {entry:#x} lies outside the ELF segments moved by the image offset"
        ));
    }
    Ok(image)
}

/// Builds the kernel's own tables, and notes what each frame the bootloader's tables reach is
/// used for.
///
/// The tables hold the physical-memory mapping, then copies of the image, stack and RAM disk
/// mappings. Unlike the bootloader, which maps up to the highest address in the memory map
/// (QEMU reserves 12 GiB at 1 TiB, which costs 4 MiB of tables), the kernel maps the first
/// 4 GiB (RAM, firmware tables, MMIO) and the RAM regions above it.
fn build_tables(
    handover: &Handover,
    old_level_4: u64,
    image: &[Range<u64>],
) -> Result<(AddressSpace, BTreeMap<u64, Use>), String> {
    let offset = handover.physical_memory_offset;
    let mut space = AddressSpace::new(offset);
    space.map_physical_memory(0..FIRST_4_GIB)?;
    for region in &handover.memory_regions {
        if matches!(
            region.kind,
            MemoryRegionKind::Usable | MemoryRegionKind::Bootloader
        ) {
            space.map_physical_memory(region.start..region.end)?;
        }
    }
    let mut uses: BTreeSet<(u64, Use)> = BTreeSet::new();
    for range in image {
        for frame in space.copy_mappings(old_level_4, range.clone())? {
            uses.insert((frame, Use::KernelImage));
        }
    }
    for frame in space.copy_mappings(old_level_4, handover.kernel_stack.clone())? {
        uses.insert((frame, Use::KernelStack));
    }
    if let Some(ramdisk) = &handover.ramdisk {
        for frame in space.copy_mappings(old_level_4, ramdisk.virt.clone())? {
            uses.insert((frame, Use::Ramdisk));
        }
    }
    for frame in page_range(&handover.kernel_elf) {
        uses.insert((frame, Use::KernelElf));
    }
    paging::walk(old_level_4, offset, &mut |visit| {
        if let Visit::Table { phys } = visit {
            uses.insert((phys, Use::PageTables));
        }
    });
    for range in &handover.boot_info {
        for virt in page_range(range) {
            if let Some((phys, _)) = paging::translate(old_level_4, offset, virt) {
                uses.insert((phys & !(PAGE_BYTES - 1), Use::BootInfo));
            }
        }
    }
    // A frame can have several uses (the image is partly mapped straight from the ELF file);
    // the first in `Use` order wins, so kept uses beat reclaimable ones.
    let mut frame_use: BTreeMap<u64, Use> = BTreeMap::new();
    for (frame, usage) in uses {
        frame_use
            .entry(frame)
            .and_modify(|u| *u = (*u).min(usage))
            .or_insert(usage);
    }
    Ok((space, frame_use))
}

/// Nothing the kernel keeps may sit in memory the heap already owns.
fn check_kept_frames(handover: &Handover, frame_use: &BTreeMap<u64, Use>) -> Result<(), String> {
    let usable = |frame: u64| {
        handover
            .memory_regions
            .iter()
            .any(|r| r.kind == MemoryRegionKind::Usable && r.start <= frame && frame < r.end)
    };
    if let Some((frame, usage)) = frame_use
        .iter()
        .find(|(frame, usage)| usage.kept() && usable(**frame))
    {
        return Err(format!(
            "{} frame {frame:#x} lies in a region marked usable",
            usage.label()
        ));
    }
    Ok(())
}

/// Accounts for every frame of every `Bootloader` region and reports the split: the frame
/// count of each use, and the frames that may be reclaimed.
fn account(
    handover: &Handover,
    frame_use: &BTreeMap<u64, Use>,
) -> ([usize; Use::ALL.len()], Vec<u64>) {
    let mut counts = [0usize; Use::ALL.len()];
    let mut reclaimable: Vec<u64> = Vec::new();
    let bootloader_regions = handover
        .memory_regions
        .iter()
        .filter(|r| r.kind == MemoryRegionKind::Bootloader);
    for region in bootloader_regions.clone() {
        for frame in page_range(&(region.start..region.end)) {
            let usage = frame_use.get(&frame).copied().unwrap_or(Use::Other);
            counts[usage as usize] += 1;
            if !usage.kept() {
                reclaimable.push(frame);
            }
        }
    }
    let total: usize = counts.iter().sum();
    println!(
        "bootfs: the bootloader occupies {} in {} regions:",
        bytes(total),
        bootloader_regions.count()
    );
    for usage in Use::ALL {
        let action = if usage.kept() { "kept" } else { "reclaimable" };
        println!(
            "bootfs:   {:<38} {:>10}  {action}",
            usage.label(),
            bytes(counts[usage as usize])
        );
    }
    (counts, reclaimable)
}

/// Switches to the kernel's own tables, once they are checked to leave the lower half free.
fn switch_tables(space: AddressSpace) -> Result<(), String> {
    // The lower half is for user programs: with the kernel's mappings in the upper half
    // (`BOOTLOADER_CONFIG`'s dynamic range), nothing the kernel keeps may be mapped there.
    if let Some(index) = space.first_lower_half_entry() {
        return Err(format!(
            "the kernel's page tables map the lower half (level-4 entry {index}), which user programs need"
        ));
    }
    let table_frames = space.table_frames().len();
    // SAFETY: `space` maps the physical memory at the same offset (heap, page tables), every
    // page of the kernel image (code, data, bss, and so the GDT, IDT, TSS and fault stack that
    // live there), the whole kernel stack we run on and the RAM disk, each at its old virtual
    // address with its old permissions. What is left behind is the old tables, the boot info
    // (copied into `handover`), the bootloader's GDT (replaced in `gdt::init`) and its context
    // switch, none of which the kernel refers to any more.
    unsafe { space.activate() };
    println!(
        "bootfs: switched to the kernel's own page tables ({} in {table_frames} frames)",
        bytes(table_frames)
    );
    Ok(())
}

/// Coalesces the reclaimable frames into ranges and gives them to the heap: the ranges, and
/// the bytes the heap took.
fn reclaim(reclaimable: &[u64], offset: u64) -> (Vec<Range<u64>>, u64) {
    let mut reclaimed: Vec<Range<u64>> = Vec::new();
    for &frame in reclaimable {
        match reclaimed.last_mut() {
            Some(last) if last.end == frame => last.end += PAGE_BYTES,
            _ => reclaimed.push(frame..frame + PAGE_BYTES),
        }
    }
    let mut reclaimed_bytes = 0;
    for range in &reclaimed {
        // SAFETY: each range is a run of `Bootloader` frames that holds none of what the kernel
        // keeps (ELF file, image, stack, RAM disk) and that the active tables no longer use:
        // they were built from the heap and map only the kept frames plus the offset mapping,
        // through which the heap reaches these frames. No frame is in a `Usable` region, so the
        // heap does not own it yet. The tables are switched before this runs (`unload`).
        if unsafe { heap::claim(range.start, range.end, offset) } > 0 {
            reclaimed_bytes += range.end - range.start;
        }
    }
    (reclaimed, reclaimed_bytes)
}
