//! The kernel heap: `talc` over physical memory, reached through the bootloader's mapping of all
//! physical memory at a fixed offset (which the kernel's own page tables keep at the same offset).
//! Memory joins the heap in two steps: the regions the bootloader reports `Usable` at boot, then
//! the bootloader's own frames that `reclaim` proves unused.

use talc::{ErrOnOom, Span, Talc, Talck};

// Only on bare metal: a host build of the kernel (lint only) keeps the system allocator.
#[cfg_attr(target_os = "none", global_allocator)]
static ALLOCATOR: Talck<spin::Mutex<()>, ErrOnOom> = Talc::new(ErrOnOom).lock();

/// Heap figures for the boot report and the tests.
#[derive(Debug, Clone, Copy)]
pub struct HeapStats {
    /// Bytes handed to the allocator.
    pub claimed_bytes: u64,
    /// Bytes currently allocated.
    pub allocated_bytes: u64,
    /// Number of separate memory spans the heap is made of.
    pub spans: u64,
}

/// Gives the physical range `start..end` to the heap; returns how many bytes were claimed
/// (0 when the range is too small for the allocator's bookkeeping).
///
/// # Safety
/// The range must be RAM that nothing else uses now or later (not the kernel image, a stack,
/// page tables in use, the RAM disk, or firmware data), mapped read-write at
/// `physical_memory_offset + address`, and not already part of the heap.
pub unsafe fn claim(start: u64, end: u64, physical_memory_offset: u64) -> u64 {
    if end <= start {
        return 0;
    }
    let base = (physical_memory_offset + start) as *mut u8;
    let span = Span::from_base_size(base, (end - start) as usize);
    // SAFETY: forwarded from this function's contract: the span is unused, mapped, writable RAM
    // that does not overlap any memory the heap already manages.
    match unsafe { ALLOCATOR.lock().claim(span) } {
        Ok(claimed) => claimed.size() as u64,
        Err(()) => 0,
    }
}

/// Current heap figures.
pub fn stats() -> HeapStats {
    let talc = ALLOCATOR.lock();
    let counters = talc.get_counters();
    HeapStats {
        claimed_bytes: counters.claimed_bytes as u64,
        allocated_bytes: counters.allocated_bytes as u64,
        spans: counters.heap_count as u64,
    }
}
