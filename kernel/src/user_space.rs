//! A user program's address space: its own page tables, whose lower half maps the program's
//! pages and whose upper half is the kernel's (the same level-4 entries, so the kernel, its
//! heap and the trap path stay mapped whichever program runs).
//!
//! Page tables and user pages come from the kernel heap as 4 KiB-aligned allocations: the heap
//! is reached through the physical-memory mapping, so a heap address minus its offset is the
//! frame's physical address. Every one of them belongs to its [`UserSpace`] and is freed when
//! it is dropped. Running out of memory is `ENOMEM`, never a panic.
//!
//! The kernel reads and writes user memory only through [`UserMemory`]: each access walks the
//! tables, checks the user and write permissions, and copies through the physical-memory
//! mapping, so a bad user address is `EFAULT` and never a fault in the kernel.
//!
//! A page mapped with no access (`PROT_NONE`) keeps its frame in a not-present entry marked
//! [`NONE_PAGE`], so `mprotect` can make it accessible again with its contents.

use alloc::{
    alloc::{alloc_zeroed, dealloc},
    vec::Vec,
};
use core::alloc::Layout;

use overlay_syscalls::{
    user::UserMemory,
    vm::{AddressSpace, Prot},
    Errno, SysResult,
};
use x86_64::{
    registers::control::Cr3,
    structures::paging::{
        page_table::PageTableEntry, PageTable, PageTableFlags as Flags, PhysFrame,
    },
    PhysAddr,
};

use crate::{arch, paging};

/// The end of what a program may map: the user half minus its last page, which stays
/// unmapped as on Linux (so no `syscall` returns to the non-canonical address after it).
pub const USER_END: u64 = 0x0000_7fff_ffff_f000;

const PAGE_BYTES: u64 = 4096;
const PAGE: Layout = match Layout::from_size_align(4096, 4096) {
    Ok(layout) => layout,
    Err(_) => panic!("a page is a valid layout"),
};

/// Marks a leaf entry that holds a page mapped without access (`PROT_NONE`): not present, but
/// the frame is the space's.
const NONE_PAGE: Flags = Flags::BIT_9;

/// The flags of a table entry that points to a lower-level table: the leaf decides access.
const TABLE_FLAGS: Flags = Flags::PRESENT
    .union(Flags::WRITABLE)
    .union(Flags::USER_ACCESSIBLE);

/// One program's page tables and pages.
#[derive(Debug)]
pub struct UserSpace {
    level_4: u64,
    physical_memory_offset: u64,
    /// Pages mapped (any protection).
    pages: u64,
}

/// The index into the level-`level` table for `virt`.
fn index(virt: u64, level: u32) -> usize {
    ((virt >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}

/// Whether a leaf entry holds a page of the space.
fn is_mapped(entry: &PageTableEntry) -> bool {
    entry.flags().intersects(Flags::PRESENT | NONE_PAGE)
}

/// The leaf flags for `prot`.
fn leaf_flags(prot: Prot) -> Flags {
    if prot.is_empty() {
        return NONE_PAGE;
    }
    let mut flags = Flags::PRESENT | Flags::USER_ACCESSIBLE;
    if prot.contains(Prot::WRITE) {
        flags |= Flags::WRITABLE;
    }
    if !prot.contains(Prot::EXEC) && arch::no_execute_enabled() {
        flags |= Flags::NO_EXECUTE;
    }
    flags
}

/// The page-aligned range `start..start + len` (len rounded up to pages) if it lies in the
/// mappable part of the user half.
fn user_pages(start: u64, len: u64) -> Option<core::ops::Range<u64>> {
    let end = start
        .checked_add(len)?
        .checked_next_multiple_of(PAGE_BYTES)?;
    (start.is_multiple_of(PAGE_BYTES) && end <= USER_END).then_some(start..end)
}

impl UserSpace {
    /// An empty address space: nothing mapped in the lower half, the kernel's upper half.
    ///
    /// # Errors
    /// `ENOMEM` when there is no memory for the level-4 table, or before the kernel runs on
    /// its own page tables (there is no upper half to share yet).
    pub fn new() -> Result<UserSpace, Errno> {
        let kernel = paging::kernel_tables().ok_or(Errno::ENOMEM)?;
        let offset = kernel.physical_memory_offset;
        let level_4 = alloc_frame(offset)?;
        let space = UserSpace {
            level_4,
            physical_memory_offset: offset,
            pages: 0,
        };
        // SAFETY: `level_4` is a fresh table of this space; the kernel's level-4 table is live
        // and only read. They are distinct frames.
        unsafe {
            let table = &mut *space.table_ptr(level_4);
            let kernel_table = &*space.table_ptr(kernel.level_4);
            for entry in paging::FIRST_KERNEL_LEVEL_4_ENTRY..512 {
                table[entry] = kernel_table[entry].clone();
            }
        }
        Ok(space)
    }

    /// Physical address of the level-4 table (what CR3 holds while this space is active).
    pub fn level_4(&self) -> u64 {
        self.level_4
    }

    /// Pages mapped, whatever their protection.
    pub fn mapped_pages(&self) -> u64 {
        self.pages
    }

    /// Makes this the CPU's address space.
    pub fn activate(&self) {
        let (current, flags) = Cr3::read();
        if current.start_address().as_u64() != self.level_4 {
            let frame = PhysFrame::containing_address(PhysAddr::new(self.level_4));
            // SAFETY: the upper half, all the kernel touches, is the kernel's own level-4
            // entries; the lower half holds only this space's user pages, which the kernel
            // reaches through the physical-memory mapping, never at their user addresses.
            unsafe { Cr3::write(frame, flags) };
        }
    }

    /// Whether this space is the CPU's address space now.
    pub fn is_active(&self) -> bool {
        Cr3::read().0.start_address().as_u64() == self.level_4
    }

    /// A copy of this space: every user page copied now (no copy-on-write), same protections.
    ///
    /// # Errors
    /// `ENOMEM` when memory runs out (nothing of the copy is kept).
    pub fn fork(&self) -> Result<UserSpace, Errno> {
        let mut child = UserSpace::new()?;
        let mut pages = Vec::new();
        pages
            .try_reserve_exact(self.pages as usize)
            .map_err(|_| Errno::ENOMEM)?;
        self.for_each_leaf(&mut |virt, entry| pages.push((virt, entry.clone())));
        for (virt, entry) in pages {
            let frame = alloc_frame(self.physical_memory_offset)?;
            // SAFETY: `entry` maps a frame of this space (a whole heap page); `frame` is a
            // fresh page of the heap. Both are reached through the physical-memory mapping and
            // nothing else refers to them while this runs.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    self.frame_ptr(entry.addr().as_u64()),
                    child.frame_ptr(frame),
                    PAGE_BYTES as usize,
                );
            }
            match child.leaf_slot(virt, true) {
                Ok(Some(slot)) => {
                    // SAFETY: `slot` is a level-1 entry of `child`, exclusively borrowed; it
                    // is empty, as `child` had nothing mapped at `virt`.
                    unsafe { (*slot).set_addr(PhysAddr::new(frame), entry.flags()) };
                    child.pages += 1;
                }
                Ok(None) | Err(_) => {
                    // SAFETY: `frame` is a fresh heap page nothing maps.
                    unsafe { free_frame(frame, self.physical_memory_offset) };
                    return Err(Errno::ENOMEM);
                }
            }
        }
        Ok(child)
    }

    /// A pointer to the page table at physical `phys`.
    fn table_ptr(&self, phys: u64) -> *mut PageTable {
        (self.physical_memory_offset + phys) as *mut PageTable
    }

    /// A pointer to the first byte of the frame at physical `phys`.
    fn frame_ptr(&self, phys: u64) -> *mut u8 {
        (self.physical_memory_offset + phys) as *mut u8
    }

    /// The level-1 entry for user address `virt`; with `create`, missing tables are made.
    /// `Ok(None)` when a table on the way is missing and `create` is false.
    fn leaf_slot(&mut self, virt: u64, create: bool) -> SysResult<Option<*mut PageTableEntry>> {
        let mut table = self.level_4;
        for level in (2..=4).rev() {
            // SAFETY: `table` is a table of this space (the root, or the target of a present
            // entry of a table of this space, all of them allocated by this space), exclusively
            // borrowed through `&mut self`.
            let entry = unsafe { &mut (&mut *self.table_ptr(table))[index(virt, level)] };
            if !entry.flags().contains(Flags::PRESENT) {
                if !create {
                    return Ok(None);
                }
                let next = alloc_frame(self.physical_memory_offset)?;
                entry.set_addr(PhysAddr::new(next), TABLE_FLAGS);
            }
            table = entry.addr().as_u64();
        }
        // SAFETY: as above, for the level-1 table.
        Ok(Some(unsafe {
            &raw mut (&mut *self.table_ptr(table))[index(virt, 1)]
        }))
    }

    /// The level-1 entry for user address `virt`, if its tables exist.
    fn leaf(&self, virt: u64) -> Option<PageTableEntry> {
        if virt >= USER_END {
            return None;
        }
        let mut table = self.level_4;
        for level in (2..=4).rev() {
            // SAFETY: `table` is a table of this space (see `leaf_slot`), only read here.
            let entry = unsafe { &(&*self.table_ptr(table))[index(virt, level)] };
            if !entry.flags().contains(Flags::PRESENT) {
                return None;
            }
            table = entry.addr().as_u64();
        }
        // SAFETY: as above.
        Some(unsafe { &(&*self.table_ptr(table))[index(virt, 1)] }.clone())
    }

    /// Calls `visit` with the address and entry of every page of the space.
    fn for_each_leaf(&self, visit: &mut dyn FnMut(u64, &PageTableEntry)) {
        self.walk(self.level_4, 4, 0, &mut |virt, entry, level| {
            if level == 1 && is_mapped(entry) {
                visit(virt, entry);
            }
        });
    }

    /// Calls `visit(virt, entry, level)` for every entry of the lower half, children before
    /// the entry that points to their table (so tables can be freed in the visit).
    fn walk(
        &self,
        table: u64,
        level: u32,
        base: u64,
        visit: &mut dyn FnMut(u64, &PageTableEntry, u32),
    ) {
        let entries = if level == 4 {
            paging::FIRST_KERNEL_LEVEL_4_ENTRY
        } else {
            512
        };
        let span = 1u64 << (12 + 9 * (level - 1));
        for slot in 0..entries {
            // SAFETY: `table` is a table of this space (see `leaf_slot`), only read here.
            let entry = unsafe { &(&*self.table_ptr(table))[slot] }.clone();
            let virt = base + slot as u64 * span;
            if level > 1 && entry.flags().contains(Flags::PRESENT) {
                self.walk(entry.addr().as_u64(), level - 1, virt, visit);
            }
            visit(virt, &entry, level);
        }
    }

    /// Flushes the TLB entry of `virt` if this space is active (an inactive space has no TLB
    /// entries: switching CR3 drops them, and user pages are never global).
    fn flush(&self, virt: u64) {
        if self.is_active() {
            x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(virt));
        }
    }

    /// Copies between user memory at `addr` and the kernel, a page at a time, after checking
    /// each page is mapped for the user (and writable, with `write`). `copy(kernel_offset,
    /// user_page_pointer, bytes)` does each piece.
    fn access(
        &self,
        addr: u64,
        len: usize,
        write: bool,
        copy: &mut dyn FnMut(usize, *mut u8, usize),
    ) -> SysResult<()> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len as u64).ok_or(Errno::EFAULT)?;
        if end > USER_END {
            return Err(Errno::EFAULT);
        }
        let mut need = Flags::PRESENT | Flags::USER_ACCESSIBLE;
        if write {
            need |= Flags::WRITABLE;
        }
        let mut at = addr;
        while at < end {
            let within = at % PAGE_BYTES;
            let bytes = (PAGE_BYTES - within).min(end - at);
            let entry = self.leaf(at - within).ok_or(Errno::EFAULT)?;
            if !entry.flags().contains(need) {
                return Err(Errno::EFAULT);
            }
            let page = self.frame_ptr(entry.addr().as_u64());
            // `within < PAGE_BYTES`, so the pointer stays inside the page.
            copy(
                (at - addr) as usize,
                page.wrapping_add(within as usize),
                bytes as usize,
            );
            at += bytes;
        }
        Ok(())
    }
}

impl Drop for UserSpace {
    fn drop(&mut self) {
        // Its tables are about to be freed: the CPU must not be using them.
        if self.is_active() {
            paging::activate_kernel_tables();
        }
        let offset = self.physical_memory_offset;
        self.walk(self.level_4, 4, 0, &mut |_, entry, level| {
            let table = level > 1 && entry.flags().contains(Flags::PRESENT);
            if table || (level == 1 && is_mapped(entry)) {
                // SAFETY: the entry holds a page or table this space allocated and still owns;
                // the tables are inactive (switched away from above). `walk` visits an entry
                // after the table it points to, and has read each table whole before the
                // entry pointing to it is visited, so no freed table is read again; each
                // frame is in exactly one entry, so it is freed once.
                unsafe { free_frame(entry.addr().as_u64(), offset) };
            }
        });
        // SAFETY: the level-4 table is this space's own allocation, no longer in CR3.
        unsafe { free_frame(self.level_4, offset) };
    }
}

/// A zeroed 4 KiB heap page; returns its physical address.
fn alloc_frame(physical_memory_offset: u64) -> SysResult<u64> {
    // SAFETY: `PAGE` has a non-zero size.
    let page = unsafe { alloc_zeroed(PAGE) };
    if page.is_null() {
        return Err(Errno::ENOMEM);
    }
    Ok(page as u64 - physical_memory_offset)
}

/// Gives the page at physical `phys` back to the heap.
///
/// # Safety
/// `phys` must come from [`alloc_frame`] with the same offset, not be freed yet, and nothing
/// (no page table, no pointer) may use it afterwards.
unsafe fn free_frame(phys: u64, physical_memory_offset: u64) {
    // SAFETY: forwarded from this function's contract: the pointer and layout are those of the
    // allocation.
    unsafe { dealloc((physical_memory_offset + phys) as *mut u8, PAGE) };
}

impl UserMemory for UserSpace {
    fn read(&self, addr: u64, buf: &mut [u8]) -> SysResult<()> {
        let target = buf.as_mut_ptr();
        self.access(addr, buf.len(), false, &mut |done, page, bytes| {
            // SAFETY: `page..page + bytes` lies in one user page of this space (a heap page it
            // owns, mapped for the user: checked by `access`), `target + done..+ bytes` in
            // `buf`; they do not overlap (`buf` is kernel memory the space does not own).
            unsafe { core::ptr::copy_nonoverlapping(page, target.add(done), bytes) };
        })
    }

    fn write(&mut self, addr: u64, bytes: &[u8]) -> SysResult<()> {
        let source = bytes.as_ptr();
        self.access(addr, bytes.len(), true, &mut |done, page, count| {
            // SAFETY: as in `read`, with the page checked writable, and `&mut self` so nothing
            // else reads the page meanwhile.
            unsafe { core::ptr::copy_nonoverlapping(source.add(done), page, count) };
        })
    }
}

impl AddressSpace for UserSpace {
    fn map(&mut self, start: u64, len: u64, prot: Prot) -> SysResult<()> {
        let range = user_pages(start, len).ok_or(Errno::EINVAL)?;
        let count = ((range.end - range.start) / PAGE_BYTES) as usize;
        // Every page and table first, so a failure leaves the old mappings as they were.
        let mut frames = Vec::new();
        frames.try_reserve_exact(count).map_err(|_| Errno::ENOMEM)?;
        let free_all = |frames: &[u64], offset| {
            for &frame in frames {
                // SAFETY: fresh heap pages nothing maps yet.
                unsafe { free_frame(frame, offset) };
            }
        };
        for _ in 0..count {
            match alloc_frame(self.physical_memory_offset) {
                Ok(frame) => frames.push(frame),
                Err(errno) => {
                    free_all(&frames, self.physical_memory_offset);
                    return Err(errno);
                }
            }
        }
        let mut slots = Vec::new();
        if slots.try_reserve_exact(count).is_err() {
            free_all(&frames, self.physical_memory_offset);
            return Err(Errno::ENOMEM);
        }
        for virt in range.clone().step_by(PAGE_BYTES as usize) {
            match self.leaf_slot(virt, true) {
                Ok(Some(slot)) => slots.push(slot),
                Ok(None) | Err(_) => {
                    // Tables already made stay (empty); they are freed with the space.
                    free_all(&frames, self.physical_memory_offset);
                    return Err(Errno::ENOMEM);
                }
            }
        }
        let flags = leaf_flags(prot);
        for ((virt, slot), frame) in range.step_by(PAGE_BYTES as usize).zip(slots).zip(frames) {
            // SAFETY: `slot` is a level-1 entry of this space (from `leaf_slot`, tables not
            // changed since), exclusively borrowed; an old page there is this space's own and
            // unmapped before it is freed.
            unsafe {
                let old = (*slot).clone();
                (*slot).set_addr(PhysAddr::new(frame), flags);
                if is_mapped(&old) {
                    self.flush(virt);
                    free_frame(old.addr().as_u64(), self.physical_memory_offset);
                } else {
                    self.pages += 1;
                }
            }
        }
        Ok(())
    }

    fn unmap(&mut self, start: u64, len: u64) {
        let first = start - start % PAGE_BYTES;
        let end = start.saturating_add(len).min(USER_END);
        for virt in (first..end).step_by(PAGE_BYTES as usize) {
            let Ok(Some(slot)) = self.leaf_slot(virt, false) else {
                continue;
            };
            // SAFETY: `slot` is a level-1 entry of this space, exclusively borrowed; its page
            // is this space's, unmapped and flushed before it is freed.
            unsafe {
                let old = (*slot).clone();
                if is_mapped(&old) {
                    (*slot).set_unused();
                    self.flush(virt);
                    free_frame(old.addr().as_u64(), self.physical_memory_offset);
                    self.pages -= 1;
                }
            }
        }
    }

    fn protect(&mut self, start: u64, len: u64, prot: Prot) -> SysResult<()> {
        if !start.is_multiple_of(PAGE_BYTES) {
            return Err(Errno::EINVAL);
        }
        let range = user_pages(start, len).ok_or(Errno::ENOMEM)?;
        // Check the whole range first: Linux changes nothing when a page is missing.
        let all_mapped = range
            .clone()
            .step_by(PAGE_BYTES as usize)
            .all(|virt| self.leaf(virt).is_some_and(|entry| is_mapped(&entry)));
        if !all_mapped {
            return Err(Errno::ENOMEM);
        }
        let flags = leaf_flags(prot);
        for virt in range.step_by(PAGE_BYTES as usize) {
            if let Ok(Some(slot)) = self.leaf_slot(virt, false) {
                // SAFETY: `slot` is a level-1 entry of this space holding one of its pages
                // (checked above); only the flags change.
                unsafe {
                    let frame = (*slot).addr();
                    (*slot).set_addr(frame, flags);
                }
                self.flush(virt);
            }
        }
        Ok(())
    }
}
