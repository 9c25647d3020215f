//! What the bootloader handed over, copied out of `BootInfo` into memory the kernel owns. The
//! boot info lives in bootloader frames that `bootfs` gives back to the heap, so after
//! [`Handover::take`] the kernel never touches `BootInfo` again.

use alloc::vec::Vec;
use core::ops::Range;

use bootloader_api::{
    info::{MemoryRegion, MemoryRegionKind},
    BootInfo,
};
use spin::Once;

use crate::paging;

/// The firmware that booted the machine, as far as the memory map tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    Bios,
    Uefi,
    Unknown,
}

/// The RAM disk the bootloader loaded next to the kernel.
#[derive(Debug, Clone)]
pub struct Ramdisk {
    /// Where the bootloader mapped it (the kernel's own page tables keep it there).
    pub virt: Range<u64>,
    /// Physical address of its first byte, if it is mapped.
    pub phys_start: Option<u64>,
    /// FNV-1a 64 of its bytes, computed before the switch to the kernel's page tables.
    pub fnv1a64: u64,
}

/// Everything the kernel keeps from `BootInfo`.
#[derive(Debug)]
pub struct Handover {
    pub api_version: (u16, u16, u16),
    pub firmware: Firmware,
    pub memory_regions: Vec<MemoryRegion>,
    /// Physical address `p` is mapped at virtual `physical_memory_offset + p`.
    pub physical_memory_offset: u64,
    /// The kernel's ELF file in physical memory.
    pub kernel_elf: Range<u64>,
    /// Added to the ELF's virtual addresses to get where the kernel runs.
    pub kernel_image_offset: u64,
    /// Virtual range of the kernel stack, guard page included.
    pub kernel_stack: Range<u64>,
    pub ramdisk: Option<Ramdisk>,
    /// Virtual ranges the boot info and its memory map occupied, for the reclaim accounting.
    pub boot_info: Vec<Range<u64>>,
    pub rsdp_addr: Option<u64>,
}

static HANDOVER: Once<Handover> = Once::new();

impl Handover {
    /// Copies what the kernel needs out of `boot_info` and stores it for the rest of the run.
    /// Needs the heap. Returns `None` when the bootloader did not map physical memory (the
    /// kernel's `BootloaderConfig` asks for it, so that would be a bootloader mismatch).
    pub fn take(boot_info: &'static mut BootInfo) -> Option<&'static Handover> {
        let physical_memory_offset = boot_info.physical_memory_offset.into_option()?;
        let memory_regions: Vec<MemoryRegion> = boot_info.memory_regions.iter().copied().collect();
        let firmware = if memory_regions
            .iter()
            .any(|r| matches!(r.kind, MemoryRegionKind::UnknownUefi(_)))
        {
            Firmware::Uefi
        } else if memory_regions
            .iter()
            .any(|r| matches!(r.kind, MemoryRegionKind::UnknownBios(_)))
        {
            Firmware::Bios
        } else {
            Firmware::Unknown
        };
        let ramdisk = boot_info.ramdisk_addr.into_option().map(|start| {
            let virt = start..start + boot_info.ramdisk_len;
            // SAFETY: the bootloader mapped the RAM disk at `ramdisk_addr` for `ramdisk_len`
            // bytes and nothing writes it.
            let bytes = unsafe { bytes_at(&virt) };
            let phys_start =
                paging::translate(paging::active_level_4(), physical_memory_offset, virt.start)
                    .map(|(phys, _)| phys);
            Ramdisk {
                fnv1a64: fnv1a64(bytes),
                virt,
                phys_start,
            }
        });
        let info_start = core::ptr::from_ref::<BootInfo>(boot_info) as u64;
        let regions_start = boot_info.memory_regions.as_ptr() as u64;
        let boot_info_ranges = alloc::vec![
            info_start..info_start + core::mem::size_of::<BootInfo>() as u64,
            regions_start
                ..regions_start
                    + core::mem::size_of_val::<[MemoryRegion]>(&boot_info.memory_regions) as u64,
        ];
        let version = &boot_info.api_version;
        let handover = Handover {
            api_version: (
                version.version_major(),
                version.version_minor(),
                version.version_patch(),
            ),
            firmware,
            memory_regions,
            physical_memory_offset,
            kernel_elf: boot_info.kernel_addr..boot_info.kernel_addr + boot_info.kernel_len,
            kernel_image_offset: boot_info.kernel_image_offset,
            kernel_stack: boot_info.kernel_stack_bottom
                ..boot_info.kernel_stack_bottom + boot_info.kernel_stack_len,
            ramdisk,
            boot_info: boot_info_ranges,
            rsdp_addr: boot_info.rsdp_addr.into_option(),
        };
        Some(HANDOVER.call_once(|| handover))
    }

    /// The handover, once [`Handover::take`] has run.
    pub fn get() -> Option<&'static Handover> {
        HANDOVER.get()
    }

    /// The RAM disk's bytes, if the bootloader loaded one.
    pub fn ramdisk_bytes(&self) -> Option<&'static [u8]> {
        self.ramdisk.as_ref().map(|ramdisk| {
            // SAFETY: the RAM disk stays mapped read-only at the same virtual range for the whole
            // run: `bootfs` copies its mapping into the kernel's page tables and never gives its
            // frames to the heap.
            unsafe { bytes_at(&ramdisk.virt) }
        })
    }

    /// The kernel's ELF file, read through the physical-memory mapping.
    pub fn kernel_elf_bytes(&self) -> &'static [u8] {
        let virt = self.physical_memory_offset + self.kernel_elf.start
            ..self.physical_memory_offset + self.kernel_elf.end;
        // SAFETY: the bootloader loaded the kernel ELF file at `kernel_elf` (physical); all
        // physical memory is mapped at `physical_memory_offset`, and the file's frames are never
        // handed to the heap. Segments mapped in place are read-only or were copied before the
        // bootloader changed them, so nothing writes these bytes.
        unsafe { bytes_at(&virt) }
    }

    /// Bytes in regions of `kind`.
    pub fn bytes_of_kind(&self, kind: MemoryRegionKind) -> (u64, usize) {
        self.memory_regions
            .iter()
            .filter(|r| r.kind == kind)
            .fold((0, 0), |(bytes, count), r| {
                (bytes + (r.end - r.start), count + 1)
            })
    }
}

/// # Safety
/// `virt` must be mapped, readable and unchanging for the rest of the kernel's run.
unsafe fn bytes_at(virt: &Range<u64>) -> &'static [u8] {
    let len = (virt.end - virt.start) as usize;
    if len == 0 {
        return &[];
    }
    // SAFETY: forwarded from this function's contract.
    unsafe { core::slice::from_raw_parts(virt.start as *const u8, len) }
}

/// FNV-1a, 64-bit: a checksum the host can recompute to check the RAM disk arrived intact.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
