//! A process's address space as the system calls see it: the [`AddressSpace`] the kernel
//! implements over its page tables, and the regions `brk` and `mmap` keep ([`MemoryMap`]).
//!
//! [`MemoryMap`] is the process's record of what it maps; every change goes to the
//! [`AddressSpace`] too, so the two agree. The layout follows Linux's on x86_64 without
//! randomization: the program's segments low, the `brk` heap just after them, anonymous and
//! file mappings placed top-down below a gap under the stack, the stack at the top of the
//! lower half.
//!
//! Not supported (see `docs/syscalls.md`): `MAP_SHARED` mappings are private copies (a
//! forked child and its parent do not share them, and a shared file mapping never writes
//! back, so a writable one is refused with `ENODEV`); `MAP_GROWSDOWN` is an ordinary
//! mapping; huge pages, `mlock`, `MAP_POPULATE` change nothing (everything is mapped eagerly,
//! but for the stack, which grows on demand: [`MemoryMap::grow_stack`]).
//!
//! What the kernel's [`AddressSpace`] is asked for: `map` and `protect` with `Prot::empty()`
//! (`PROT_NONE`: guard pages, reserved ranges) must leave the pages mapped for the record but
//! inaccessible to the user, so that a later `mprotect` can open them; pages without
//! `Prot::EXEC` should be no-execute where the CPU allows.

use alloc::{collections::BTreeMap, vec::Vec};

use bitflags::bitflags;

use crate::errno::{Errno, SysResult};
use crate::user::UserMemory;

mod calls;

pub use calls::{dispatch, prot_from_linux, MmapRequest};

/// Size of a page.
pub const PAGE_BYTES: u64 = 4096;

/// The first address past the user half (x86_64 with 4-level paging).
pub const USER_END: u64 = 0x0000_8000_0000_0000;

/// The lowest address a mapping may have (Linux's default `vm.mmap_min_addr`).
pub const MMAP_MIN_ADDR: u64 = 0x1_0000;

/// The top of the stack: the last page of the user half stays unmapped, as on Linux.
pub const STACK_TOP: u64 = 0x7fff_ffff_f000;

/// The most the stack may grow to (`RLIMIT_STACK`'s usual 8 MiB).
pub const STACK_MAX_BYTES: u64 = 8 << 20;

/// Mappings are placed top-down from here: 128 MiB below the stack's top, as Linux leaves
/// at least that gap for the stack.
pub const MMAP_TOP: u64 = STACK_TOP - (128 << 20);

bitflags! {
    /// What a user page allows.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Prot: u32 {
        /// Readable.
        const READ = 1;
        /// Writable.
        const WRITE = 2;
        /// Executable.
        const EXEC = 4;
    }
}

/// The kernel's side of a process's memory: checked copies ([`UserMemory`]) and the page
/// mappings behind them. Ranges are page-aligned and in the user half.
pub trait AddressSpace: UserMemory {
    /// Maps fresh zeroed pages over `start..start + len` with `prot`; pages already mapped
    /// there are replaced.
    ///
    /// # Errors
    /// `ENOMEM` when there is no memory for the pages or their tables; `EINVAL` for a range
    /// that is not page-aligned or leaves the user half.
    fn map(&mut self, start: u64, len: u64, prot: Prot) -> SysResult<()>;

    /// Unmaps every page of `start..start + len` (pages not mapped are skipped).
    fn unmap(&mut self, start: u64, len: u64);

    /// Changes the permissions of the mapped pages of `start..start + len`.
    ///
    /// # Errors
    /// `ENOMEM` if a page of the range is not mapped (Linux's answer).
    fn protect(&mut self, start: u64, len: u64, prot: Prot) -> SysResult<()>;
}

/// `addr` rounded down to its page.
pub const fn page_down(addr: u64) -> u64 {
    addr & !(PAGE_BYTES - 1)
}

/// `addr` rounded up to a page boundary, `None` if that overflows.
pub const fn page_up(addr: u64) -> Option<u64> {
    match addr.checked_add(PAGE_BYTES - 1) {
        Some(end) => Some(page_down(end)),
        None => None,
    }
}

/// What a region holds, for `/proc/PID/maps`-like listings and for the calls that treat
/// kinds differently (`madvise(MADV_DONTNEED)` zeroes only anonymous memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// A segment of the program (`PT_LOAD`).
    Program,
    /// The `brk` heap.
    Heap,
    /// An anonymous `mmap`.
    Anonymous,
    /// A private copy of a file (`mmap` of a file descriptor).
    File,
    /// The stack.
    Stack,
}

/// One mapped range with one set of permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First address (page-aligned).
    pub start: u64,
    /// First address past the region (page-aligned).
    pub end: u64,
    /// What its pages allow.
    pub prot: Prot,
    /// What it holds.
    pub kind: RegionKind,
}

impl Region {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether it is empty (never, in a [`MemoryMap`]).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// The regions of one process: its program's segments, the `brk` heap, anonymous `mmap`s and
/// the stack. `fork` clones it (the kernel copies the pages); `execve` starts a new one.
#[derive(Clone, Debug, Default)]
pub struct MemoryMap {
    /// Regions by start address; they never overlap.
    regions: BTreeMap<u64, Region>,
    /// Where the heap starts (page-aligned, just after the program).
    brk_start: u64,
    /// The current program break (`brk_start..brk` is the heap; not page-aligned).
    brk: u64,
    /// The lowest address the stack may grow down to.
    stack_limit: u64,
}

impl MemoryMap {
    /// An empty map (no program loaded).
    pub fn new() -> MemoryMap {
        MemoryMap::default()
    }

    /// The regions, by address.
    pub fn regions(&self) -> impl Iterator<Item = &Region> + '_ {
        self.regions.values()
    }

    /// Bytes mapped in all (`/proc/PID/status` `VmSize`, `ps`).
    pub fn mapped_bytes(&self) -> u64 {
        self.regions.values().map(Region::len).sum()
    }

    /// The current program break.
    pub fn brk(&self) -> u64 {
        self.brk
    }

    /// Where the heap starts.
    pub fn brk_start(&self) -> u64 {
        self.brk_start
    }

    /// Sets where the heap starts (the loader: just after the program's highest segment).
    pub fn set_brk_start(&mut self, addr: u64) {
        self.brk_start = addr;
        self.brk = addr;
    }

    /// The region holding `addr`.
    pub fn region_at(&self, addr: u64) -> Option<&Region> {
        self.regions
            .range(..=addr)
            .next_back()
            .map(|(_, region)| region)
            .filter(|region| addr < region.end)
    }

    /// Whether any region overlaps `start..end`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        if let Some(region) = self.regions.range(..start).next_back().map(|(_, r)| r) {
            if region.end > start {
                return true;
            }
        }
        self.regions.range(start..end).next().is_some()
    }

    /// Whether every byte of `start..end` is in some region.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        while at < end {
            match self.region_at(at) {
                Some(region) => at = region.end,
                None => return false,
            }
        }
        true
    }

    /// Records `start..end` as a region (the pages are already mapped); what was recorded
    /// there is replaced.
    pub fn insert(&mut self, start: u64, end: u64, prot: Prot, kind: RegionKind) {
        if start >= end {
            return;
        }
        self.forget(start, end);
        self.regions.insert(
            start,
            Region {
                start,
                end,
                prot,
                kind,
            },
        );
        self.merge_around(start);
    }

    /// Joins the region at `start` with its neighbours when they touch it and agree on
    /// permissions and kind, as Linux merges areas, so that a range mapped in steps is one
    /// region again.
    fn merge_around(&mut self, start: u64) {
        let Some(mut region) = self.regions.get(&start).copied() else {
            return;
        };
        if let Some((_, before)) = self.regions.range(..start).next_back() {
            if before.end == start && before.prot == region.prot && before.kind == region.kind {
                let before = *before;
                self.regions.remove(&start);
                region.start = before.start;
                self.regions.insert(region.start, region);
            }
        }
        if let Some(after) = self.regions.get(&region.end).copied() {
            if after.prot == region.prot && after.kind == region.kind {
                self.regions.remove(&after.start);
                region.end = after.end;
                self.regions.insert(region.start, region);
            }
        }
    }

    /// Removes `start..end` from the record, splitting regions that straddle its ends.
    fn forget(&mut self, start: u64, end: u64) {
        let touched: Vec<Region> = self
            .regions
            .range(..end)
            .rev()
            .map(|(_, region)| *region)
            .take_while(|region| region.end > start)
            .collect();
        for region in touched {
            self.regions.remove(&region.start);
            if region.start < start {
                let before = Region {
                    end: start,
                    ..region
                };
                self.regions.insert(before.start, before);
            }
            if region.end > end {
                let after = Region {
                    start: end,
                    ..region
                };
                self.regions.insert(after.start, after);
            }
        }
    }

    /// Sets the permissions of `start..end` in the record, splitting regions at its ends.
    fn set_prot(&mut self, start: u64, end: u64, prot: Prot) {
        let touched: Vec<Region> = self
            .regions
            .range(..end)
            .rev()
            .map(|(_, region)| *region)
            .take_while(|region| region.end > start)
            .collect();
        for region in touched {
            self.insert(
                region.start.max(start),
                region.end.min(end),
                prot,
                region.kind,
            );
        }
    }

    /// Records the stack: `start..STACK_TOP` mapped, growing down to `limit` at most.
    pub fn set_stack(&mut self, start: u64, end: u64, limit: u64, prot: Prot) {
        self.insert(start, end, prot, RegionKind::Stack);
        self.stack_limit = limit;
    }

    /// Grows the stack down over `fault_addr`, for the kernel's page-fault handler: a fault
    /// below the stack's lowest page but within its limit (8 MiB) maps the pages from there up
    /// to the stack, as Linux grows a stack on demand.
    ///
    /// # Errors
    /// `EFAULT` if `fault_addr` is not just below the stack (a real segmentation fault) or the
    /// pages in between are taken; `ENOMEM` from [`AddressSpace::map`].
    pub fn grow_stack(&mut self, space: &mut dyn AddressSpace, fault_addr: u64) -> SysResult<()> {
        let stack = self
            .regions
            .values()
            .find(|region| region.kind == RegionKind::Stack)
            .copied()
            .ok_or(Errno::EFAULT)?;
        let new_start = page_down(fault_addr);
        if fault_addr >= stack.start || new_start < self.stack_limit {
            return Err(Errno::EFAULT);
        }
        if self.overlaps(new_start, stack.start) {
            return Err(Errno::EFAULT);
        }
        space.map(new_start, stack.start - new_start, stack.prot)?;
        self.regions.remove(&stack.start);
        self.regions.insert(
            new_start,
            Region {
                start: new_start,
                ..stack
            },
        );
        Ok(())
    }

    /// A free range of `len` bytes (page-aligned): at `hint` if that is free, else the highest
    /// free range below [`MMAP_TOP`], as Linux places mappings top-down.
    pub fn find_free(&self, len: u64, hint: u64) -> Option<u64> {
        if hint != 0 {
            if let Some(start) = page_up(hint.max(MMAP_MIN_ADDR)) {
                if let Some(end) = start.checked_add(len) {
                    if end <= MMAP_TOP && !self.overlaps(start, end) {
                        return Some(start);
                    }
                }
            }
        }
        let mut top = MMAP_TOP;
        for region in self.regions.values().rev() {
            if region.start >= top {
                continue;
            }
            if region.end <= top && top - region.end >= len {
                return Some(top - len);
            }
            top = top.min(region.start);
        }
        top.checked_sub(len).filter(|&start| start >= MMAP_MIN_ADDR)
    }
}
