//! The budgets a fuzz target's body runs under: the kernel's stack, and a heap in proportion to
//! its input. Over either budget is a finding.
//!
//! libFuzzer calls a target on the process's main thread (8 MiB of stack) with gigabytes of
//! memory to spare, so recursion as deep as the input and memory that grows far faster than
//! the input both pass unseen there, while in the kernel the first double-faults its stack and
//! the second ends the boot. [`run`] runs a body the way the kernel would hold it:
//!
//! - **Stack**: a thread of [`STACK_BYTES`], the kernel's stack (`KERNEL_STACK_BYTES` in
//!   `kernel/src/main.rs`, handed to the bootloader as its `kernel_stack_size`). A walk that
//!   recurses once per directory level of its input overflows it and aborts the process.
//! - **Heap**: [`BudgetedHeap`], the global allocator of every target, counts the bytes live on
//!   the body's thread and refuses an allocation that would take them past
//!   [`heap_budget`] = [`BASE_BYTES`] + k × the input's length, k given by the target. A
//!   fallible allocation (`try_reserve`, what the engine uses where a size comes from its input)
//!   then sees an error the engine must turn into `ENOMEM`; an infallible one aborts the
//!   process ("memory allocation of N bytes failed"), the host's form of the kernel's panic.
//!
//! # The figures
//! [`BASE_BYTES`], 512 KiB, is what a body may hold whatever its input: the fixture unions of
//! the `shell` and `union_ops` targets with their tmpfs uppers (bounded by options, the
//! shell's sized from the input), the walkers' queues. The committed seeds peak at 5 KB to
//! 123 KB (`union_ops`, whose upper holds up to 64 KiB of file data), but for the shell's
//! 1,600-level upper, which its own k holds; `tests/fuzz_budgets.rs` prints each figure. A larger base would hide amplification in the short inputs fuzzers
//! mostly try: at 1 MiB, a 10 KB tar may hold 100 times its length unseen.
//!
//! k is how far the engine may amplify its input. For the targets whose input is data the
//! engine parses (a layer, a RAM disk), it is [`DATA_BYTES_PER_INPUT_BYTE`], 32: every such
//! target copies its input once (a layer is its bytes plus the tree built over them), and a
//! tar entry, at least 512 bytes of header, becomes one node of well under 512 bytes, so an
//! honest image costs a few bytes per byte. 32 leaves an order of magnitude of room over that
//! while keeping the class of issue 20 a finding: a tar of GNU long names made of one-letter
//! components implies one directory per 2.5 bytes of input, so an implied directory that
//! costs more than about 80 bytes shows up at any input length (550 bytes each is 220 bytes
//! per input byte). With the base, a 1 MiB input (the `make fuzz` cap) may hold 32.5 MiB.
//! A target whose input is commands (the shell) keeps what they create, and says its own k.
//!
//! Only the body's thread is counted: libFuzzer's own bookkeeping (C++, not this allocator)
//! and a test harness's other threads are not, and a byte freed on the body's thread that
//! another thread allocated lowers its count only down to zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr;

/// The kernel's stack: `KERNEL_STACK_BYTES` in `kernel/src/main.rs`.
pub const STACK_BYTES: usize = 512 * 1024;

/// Heap a body may hold whatever its input (see the module's doc).
pub const BASE_BYTES: usize = 512 * 1024;

/// Heap a body may hold per byte of input when that input is data the engine parses (see the
/// module's doc).
pub const DATA_BYTES_PER_INPUT_BYTE: usize = 32;

/// The heap budget of a body run on `input_bytes` bytes of input that may hold
/// `bytes_per_input_byte` bytes per byte of it.
pub fn heap_budget(input_bytes: usize, bytes_per_input_byte: usize) -> usize {
    BASE_BYTES.saturating_add(bytes_per_input_byte.saturating_mul(input_bytes))
}

/// What a body used of its budgets.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    /// The most heap bytes live at once on the body's thread.
    pub peak_heap_bytes: usize,
    /// The heap budget the body ran under.
    pub heap_budget_bytes: usize,
}

/// Runs `body(input)` on a thread of [`STACK_BYTES`] whose heap is limited to
/// [`heap_budget`]`(input.len(), bytes_per_input_byte)` (counted by [`BudgetedHeap`], which
/// must be the program's global allocator), and says what it used. A panic of the body is
/// passed on to the caller.
pub fn run(input: &[u8], body: fn(&[u8]), bytes_per_input_byte: usize) -> Usage {
    let heap_budget_bytes = heap_budget(input.len(), bytes_per_input_byte);
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, || {
                ACCOUNT.with(|account| account.open(heap_budget_bytes));
                body(input);
                ACCOUNT.with(Account::close)
            })
            .expect("spawning the body's thread");
        match thread.join() {
            Ok(peak_heap_bytes) => Usage {
                peak_heap_bytes,
                heap_budget_bytes,
            },
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// The heap count of one thread; only a thread inside [`run`] has a limit.
struct Account {
    /// Whether this thread is a body's, whose bytes are counted.
    counting: Cell<bool>,
    /// Bytes allocated on this thread while counting and not freed since.
    live_bytes: Cell<usize>,
    /// The most `live_bytes` has been.
    peak_bytes: Cell<usize>,
    /// What `live_bytes` may not exceed.
    limit_bytes: Cell<usize>,
}

impl Account {
    fn open(&self, limit_bytes: usize) {
        self.live_bytes.set(0);
        self.peak_bytes.set(0);
        self.limit_bytes.set(limit_bytes);
        self.counting.set(true);
    }

    /// Stops counting; returns the peak.
    fn close(&self) -> usize {
        self.counting.set(false);
        self.peak_bytes.get()
    }

    /// Counts `bytes` more, unless that would pass the limit.
    fn charge(&self, bytes: usize) -> bool {
        if !self.counting.get() {
            return true;
        }
        let live_bytes = self.live_bytes.get().saturating_add(bytes);
        if live_bytes > self.limit_bytes.get() {
            return false;
        }
        self.live_bytes.set(live_bytes);
        self.peak_bytes.set(self.peak_bytes.get().max(live_bytes));
        true
    }

    fn refund(&self, bytes: usize) {
        if self.counting.get() {
            self.live_bytes
                .set(self.live_bytes.get().saturating_sub(bytes));
        }
    }
}

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates, so the
    // allocator may use it.
    static ACCOUNT: Account = const {
        Account {
            counting: Cell::new(false),
            live_bytes: Cell::new(0),
            peak_bytes: Cell::new(0),
            limit_bytes: Cell::new(usize::MAX),
        }
    };
}

/// Counts `bytes` on this thread's account; true if they fit its budget. A thread whose
/// thread-locals are gone is not a body's and is never refused.
fn charge(bytes: usize) -> bool {
    ACCOUNT
        .try_with(|account| account.charge(bytes))
        .unwrap_or(true)
}

fn refund(bytes: usize) {
    let _ = ACCOUNT.try_with(|account| account.refund(bytes));
}

/// The system allocator with the heap budget of [`run`]: an allocation on a body's thread that
/// would take its live bytes past the budget fails (a null pointer).
pub struct BudgetedHeap;

// SAFETY: every call is passed on to `System` with the caller's arguments unchanged; refusing
// an allocation returns null, which `GlobalAlloc` allows for `alloc`, `alloc_zeroed` and
// `realloc` (and leaves the old block allocated, as a failed `realloc` must).
unsafe impl GlobalAlloc for BudgetedHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !charge(layout.size()) {
            return ptr::null_mut();
        }
        // SAFETY: the caller's `layout` has a non-zero size, as `alloc` requires of it.
        let block = unsafe { System.alloc(layout) };
        if block.is_null() {
            refund(layout.size());
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !charge(layout.size()) {
            return ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        let block = unsafe { System.alloc_zeroed(layout) };
        if block.is_null() {
            refund(layout.size());
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: `block` was allocated by `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(block, layout) };
        refund(layout.size());
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_size = layout.size();
        if new_size > old_size && !charge(new_size - old_size) {
            return ptr::null_mut();
        }
        // SAFETY: `block` was allocated by `System` with `layout`, and `new_size` is what the
        // caller asked for, under the same contract.
        let moved = unsafe { System.realloc(block, layout, new_size) };
        match (moved.is_null(), new_size > old_size) {
            (true, true) => refund(new_size - old_size),
            (false, false) => refund(old_size - new_size),
            _ => {}
        }
        moved
    }
}
