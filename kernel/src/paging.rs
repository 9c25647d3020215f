//! Page tables: reading the active ones (the bootloader's, then the kernel's) and building the
//! kernel's own address space, so that the bootloader's table frames can be given back.
//!
//! The kernel lives in the upper half (level-4 entries 256..512); the lower half is left empty
//! for user programs, whose tables share the kernel's upper-half entries (see `user_space`).

use alloc::{boxed::Box, vec::Vec};
use core::ops::Range;

use spin::Once;

use x86_64::{
    registers::{
        control::{Cr3, Cr4, Cr4Flags},
        model_specific::{Efer, EferFlags},
    },
    structures::paging::{
        mapper::MapToError, FrameAllocator, Mapper, OffsetPageTable, Page, PageTable,
        PageTableFlags as Flags, PhysFrame, Size2MiB, Size4KiB,
    },
    PhysAddr, VirtAddr,
};

pub const PAGE_BYTES: u64 = 4096;
const HUGE_2MIB: u64 = 2 * 1024 * 1024;

/// Level-4 entries below this one map the lower (user) half.
pub const FIRST_KERNEL_LEVEL_4_ENTRY: usize = 256;

/// The kernel's own page tables, once active.
#[derive(Debug, Clone, Copy)]
pub struct KernelTables {
    /// Physical address of the kernel's level-4 table.
    pub level_4: u64,
    /// Physical address `p` is mapped at virtual `physical_memory_offset + p`.
    pub physical_memory_offset: u64,
}

static KERNEL_TABLES: Once<KernelTables> = Once::new();

/// The kernel's own page tables, once `bootfs` has switched to them (user address spaces copy
/// their upper-half entries).
pub fn kernel_tables() -> Option<KernelTables> {
    KERNEL_TABLES.get().copied()
}

/// Switches back to the kernel's own page tables (if active ones are a user address space's).
pub fn activate_kernel_tables() {
    let Some(tables) = kernel_tables() else {
        return;
    };
    let (frame, flags) = Cr3::read();
    if frame.start_address().as_u64() != tables.level_4 {
        let kernel = PhysFrame::containing_address(PhysAddr::new(tables.level_4));
        // SAFETY: the kernel's tables map everything the kernel uses; user address spaces
        // share their upper half, which is all the kernel touches, so nothing changes meaning.
        unsafe { Cr3::write(kernel, flags) };
    }
}

/// The first present level-4 entry of the lower half in the table at `level_4`, if any.
pub fn first_lower_half_entry(level_4: u64, physical_memory_offset: u64) -> Option<usize> {
    // SAFETY: `level_4` is the root of a live hierarchy, reachable through the physical-memory
    // mapping; see `walk_table`.
    let table = unsafe { table_at(level_4, physical_memory_offset) };
    table
        .iter()
        .take(FIRST_KERNEL_LEVEL_4_ENTRY)
        .position(|entry| entry.flags().contains(Flags::PRESENT))
}

/// One thing found while walking a hierarchy of page tables.
#[derive(Debug, Clone, Copy)]
pub enum Visit {
    /// A page-table frame (any level, the level-4 table included).
    Table { phys: u64 },
    /// A present leaf entry mapping `bytes` at `virt` to `phys`.
    Leaf { virt: u64, phys: u64, bytes: u64 },
}

/// # Safety
/// `phys` must be the frame of a page table in the hierarchy the caller walks, mapped at
/// `physical_memory_offset + phys`, and not modified while the reference is alive.
unsafe fn table_at(phys: u64, physical_memory_offset: u64) -> &'static PageTable {
    // SAFETY: forwarded from this function's contract.
    unsafe { &*((physical_memory_offset + phys) as *const PageTable) }
}

/// Physical address of the active level-4 table.
pub fn active_level_4() -> u64 {
    Cr3::read().0.start_address().as_u64()
}

/// Sign-extends a 48-bit virtual address to its canonical form.
fn canonical(virt: u64) -> u64 {
    (((virt << 16) as i64) >> 16) as u64
}

/// Calls `visit` for every table and every present leaf reachable from the level-4 table at
/// `level_4`, which must be a live page-table hierarchy (the active one, for instance).
pub fn walk(level_4: u64, physical_memory_offset: u64, visit: &mut dyn FnMut(Visit)) {
    walk_table(level_4, 4, 0, physical_memory_offset, visit);
}

fn walk_table(phys: u64, level: u8, virt_base: u64, offset: u64, visit: &mut dyn FnMut(Visit)) {
    visit(Visit::Table { phys });
    // SAFETY: `phys` is a table of the live hierarchy the caller names (the root, or an entry of
    // a table already visited), reachable through the physical-memory mapping; the kernel does
    // not change page tables while walking them (single CPU, interrupts off).
    let table = unsafe { table_at(phys, offset) };
    let entry_span = 1u64 << (12 + 9 * u32::from(level - 1));
    for (index, entry) in table.iter().enumerate() {
        let flags = entry.flags();
        if !flags.contains(Flags::PRESENT) {
            continue;
        }
        let virt = canonical(virt_base + index as u64 * entry_span);
        if level == 1 || flags.contains(Flags::HUGE_PAGE) {
            visit(Visit::Leaf {
                virt,
                phys: entry.addr().as_u64(),
                bytes: entry_span,
            });
        } else {
            walk_table(entry.addr().as_u64(), level - 1, virt, offset, visit);
        }
    }
}

/// Translates `virt` through the hierarchy at `level_4`: the physical address and the leaf flags.
pub fn translate(level_4: u64, physical_memory_offset: u64, virt: u64) -> Option<(u64, Flags)> {
    let mut table_phys = level_4;
    for level in (1..=4u32).rev() {
        let shift = 12 + 9 * (level - 1);
        let index = ((virt >> shift) & 0x1ff) as usize;
        // SAFETY: `table_phys` is the root or came from a present non-leaf entry of the live
        // hierarchy; see `walk_table`.
        let entry = &unsafe { table_at(table_phys, physical_memory_offset) }[index];
        let flags = entry.flags();
        if !flags.contains(Flags::PRESENT) {
            return None;
        }
        if level == 1 || flags.contains(Flags::HUGE_PAGE) {
            let within = virt & ((1u64 << shift) - 1);
            return Some((entry.addr().as_u64() + within, flags));
        }
        table_phys = entry.addr().as_u64();
    }
    None
}

/// Hands out zeroed page-table frames from the heap. The heap lives in the physical-memory
/// mapping, so a heap address minus the offset is the frame's physical address.
struct HeapFrames {
    physical_memory_offset: u64,
    frames: Vec<u64>,
}

// SAFETY: every frame returned is a fresh, 4 KiB-aligned heap allocation that is leaked, so it is
// used for nothing else, ever; its physical address is exact because heap memory is only ever
// reached through the physical-memory mapping.
unsafe impl FrameAllocator<Size4KiB> for HeapFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let table: &'static mut PageTable = Box::leak(Box::new(PageTable::new()));
        let phys = core::ptr::from_mut(table) as u64 - self.physical_memory_offset;
        self.frames.push(phys);
        PhysFrame::from_start_address(PhysAddr::new(phys)).ok()
    }
}

/// The kernel's own page tables, under construction (inactive until [`AddressSpace::activate`]).
pub struct AddressSpace {
    mapper: OffsetPageTable<'static>,
    level_4: u64,
    frames: HeapFrames,
}

impl AddressSpace {
    /// An empty address space whose tables come from the heap.
    pub fn new(physical_memory_offset: u64) -> Self {
        let mut frames = HeapFrames {
            physical_memory_offset,
            frames: Vec::new(),
        };
        let level_4 = Box::leak(Box::new(PageTable::new()));
        let level_4_phys = core::ptr::from_mut(level_4) as u64 - physical_memory_offset;
        frames.frames.push(level_4_phys);
        // SAFETY: all physical memory is mapped at `physical_memory_offset` (the bootloader's
        // mapping now, the same one in these tables once active), and `level_4` is a fresh
        // table nobody else references.
        let mapper =
            unsafe { OffsetPageTable::new(level_4, VirtAddr::new(physical_memory_offset)) };
        AddressSpace {
            mapper,
            level_4: level_4_phys,
            frames,
        }
    }

    /// The first lower-half level-4 entry these tables use, if any (there should be none:
    /// the lower half belongs to user programs).
    pub fn first_lower_half_entry(&self) -> Option<usize> {
        first_lower_half_entry(self.level_4, self.frames.physical_memory_offset)
    }

    /// Physical addresses of every table frame these tables use.
    pub fn table_frames(&self) -> &[u64] {
        &self.frames.frames
    }

    /// Maps physical `range` (widened to 2 MiB boundaries) at `physical_memory_offset`,
    /// read-write, with 2 MiB pages. Ranges may overlap.
    pub fn map_physical_memory(&mut self, range: Range<u64>) -> Result<(), &'static str> {
        let offset = self.frames.physical_memory_offset;
        if !offset.is_multiple_of(HUGE_2MIB) {
            return Err("the physical-memory offset is not 2 MiB aligned");
        }
        let mut flags = Flags::PRESENT | Flags::WRITABLE;
        if Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE) {
            flags |= Flags::NO_EXECUTE;
        }
        let first = range.start / HUGE_2MIB;
        for phys in (first..range.end.div_ceil(HUGE_2MIB)).map(|i| i * HUGE_2MIB) {
            let page = Page::<Size2MiB>::containing_address(VirtAddr::new(offset + phys));
            let frame = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(phys));
            // SAFETY: the tables are inactive, so no access changes meaning now; once active,
            // this is the same offset mapping the bootloader provided and the kernel relies on.
            let result = unsafe {
                self.mapper.map_to_with_table_flags(
                    page,
                    frame,
                    flags,
                    Flags::PRESENT | Flags::WRITABLE,
                    &mut self.frames,
                )
            };
            match result {
                Ok(flush) => flush.ignore(),
                Err(MapToError::PageAlreadyMapped(existing)) if existing == frame => {}
                Err(_) => return Err("cannot map physical memory"),
            }
        }
        Ok(())
    }

    /// Maps every page of `virt` that is mapped in the hierarchy at `old_level_4` to the same
    /// frame with the same permissions; returns the frames (physical addresses) it now maps.
    pub fn copy_mappings(
        &mut self,
        old_level_4: u64,
        virt: Range<u64>,
    ) -> Result<Vec<u64>, &'static str> {
        let offset = self.frames.physical_memory_offset;
        let keep = Flags::PRESENT
            | Flags::WRITABLE
            | Flags::WRITE_THROUGH
            | Flags::NO_CACHE
            | Flags::NO_EXECUTE;
        let mut mapped_frames = Vec::new();
        let first_page = virt.start & !(PAGE_BYTES - 1);
        for page_virt in (first_page..virt.end).step_by(PAGE_BYTES as usize) {
            let Some((phys, flags)) = translate(old_level_4, offset, page_virt) else {
                continue; // e.g. the stack's guard page
            };
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(page_virt));
            let frame = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(phys));
            // SAFETY: the tables are inactive; the mapping repeats one the bootloader made for
            // the kernel, so once active the page means what it meant before.
            let result = unsafe {
                self.mapper.map_to_with_table_flags(
                    page,
                    frame,
                    flags & keep,
                    Flags::PRESENT | Flags::WRITABLE,
                    &mut self.frames,
                )
            };
            match result {
                Ok(flush) => flush.ignore(),
                // Two ELF segments may share a page; the same mapping twice is fine.
                Err(MapToError::PageAlreadyMapped(existing)) if existing == frame => {}
                Err(_) => return Err("cannot copy a mapping into the kernel's page tables"),
            }
            mapped_frames.push(frame.start_address().as_u64());
        }
        Ok(mapped_frames)
    }

    /// Switches the CPU to these tables and flushes every TLB entry, global ones included.
    ///
    /// # Safety
    /// The tables must map everything the kernel touches from now on at the same virtual
    /// addresses as the active tables do: its image, the stack in use, the physical-memory
    /// mapping (the heap), and anything else still referenced (its GDT, IDT and TSS live in the
    /// image). Nothing may refer to memory mapped only by the old tables afterwards.
    pub unsafe fn activate(self) {
        let (_, cr3_flags) = Cr3::read();
        KERNEL_TABLES.call_once(|| KernelTables {
            level_4: self.level_4,
            physical_memory_offset: self.frames.physical_memory_offset,
        });
        let frame = PhysFrame::containing_address(PhysAddr::new(self.level_4));
        // SAFETY: forwarded from this function's contract.
        unsafe { Cr3::write(frame, cr3_flags) };
        let cr4 = Cr4::read();
        if cr4.contains(Cr4Flags::PAGE_GLOBAL) {
            // Writing CR3 keeps global TLB entries; toggling CR4.PGE drops them, so no stale
            // translation into soon-reclaimed frames survives.
            // SAFETY: only the PGE bit changes, and it is restored at once.
            unsafe {
                Cr4::write(cr4 - Cr4Flags::PAGE_GLOBAL);
                Cr4::write(cr4);
            }
        }
    }
}
