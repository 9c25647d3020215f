//! A layer whose names imply far more directories than memory holds: GNU long names of
//! 2,041 fresh one-letter components each, about 600,000 directories in a 1.5 MiB tar. Under
//! a heap budget, loading it fails with `ENOMEM` and never aborts (every allocation whose
//! size the archive decides is fallible); with room enough, it loads at the same cost per
//! entry as any layer.
//!
//! The budget is a test allocator: on a thread that arms it, an allocation that would take
//! the thread's live heap past the budget returns null, as a kernel heap out of memory does.
//! An allocation the engine made infallibly would then abort this test binary: a failure too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use overlay_core::image::{Bytes, ImageLayerFs, TarError};
use overlay_core::Errno;

thread_local! {
    /// The armed budget in bytes; `None`: not armed.
    static BUDGET: Cell<Option<usize>> = const { Cell::new(None) };
    /// Bytes allocated on this thread since it was armed, less those freed.
    static LIVE: Cell<usize> = const { Cell::new(0) };
    /// The most `LIVE` has been since it was armed.
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

struct BudgetAllocator;

// SAFETY: every call is forwarded to `System` unchanged, except that some return null, which
// `GlobalAlloc` allows ("returning a null pointer indicates that either memory is exhausted").
unsafe impl GlobalAlloc for BudgetAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !take(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        give_back(layout.size());
        // SAFETY: `ptr` came from `System` (this allocator never hands out anything else).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // The old and the new block both exist while the data is copied.
        if !take(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `dealloc`; `System` keeps `ptr` valid when it returns null.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if moved.is_null() {
            give_back(new_size);
        } else {
            give_back(layout.size());
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: BudgetAllocator = BudgetAllocator;

/// Counts `bytes` more on an armed thread; false if that would pass the budget. Uses only
/// thread-locals with `const` initialisers, which never allocate.
fn take(bytes: usize) -> bool {
    let Ok(Some(budget)) = BUDGET.try_with(Cell::get) else {
        return true;
    };
    let live = LIVE.with(Cell::get);
    if live + bytes > budget {
        return false;
    }
    LIVE.with(|cell| cell.set(live + bytes));
    PEAK.with(|cell| cell.set(cell.get().max(live + bytes)));
    true
}

fn give_back(bytes: usize) {
    if let Ok(Some(_)) = BUDGET.try_with(Cell::get) {
        LIVE.with(|cell| cell.set(cell.get().saturating_sub(bytes)));
    }
}

/// Parses `bytes` (made before) with a heap budget of `budget` bytes on this thread; returns
/// the layer's entries and heap beyond their names (the layer dropped within the budget),
/// and the peak heap.
fn parse_within(bytes: &Bytes, budget: usize) -> (Result<(u64, u64), TarError>, usize) {
    let bytes = bytes.clone();
    LIVE.with(|cell| cell.set(0));
    PEAK.with(|cell| cell.set(0));
    BUDGET.with(|cell| cell.set(Some(budget)));
    let result =
        ImageLayerFs::parse(bytes).map(|fs| (fs.entries(), fs.heap_bytes() - fs.name_bytes()));
    BUDGET.with(|cell| cell.set(None));
    (result, PEAK.with(Cell::get))
}

/// One 512-byte tar header, GNU format, with its checksum.
fn header(name: &[u8], typeflag: u8, size: usize) -> [u8; 512] {
    let mut block = [0u8; 512];
    block[..name.len()].copy_from_slice(name);
    let octal = |field: &mut [u8], value: usize| {
        let text = format!("{value:0width$o}", width = field.len() - 1);
        field[..text.len()].copy_from_slice(text.as_bytes());
    };
    octal(&mut block[100..108], 0o755);
    octal(&mut block[108..116], 0);
    octal(&mut block[116..124], 0);
    octal(&mut block[124..136], size);
    octal(&mut block[136..148], 0);
    block[156] = typeflag;
    block[257..265].copy_from_slice(b"ustar  \0");
    block[148..156].fill(b' ');
    let sum: usize = block.iter().map(|&byte| usize::from(byte)).sum();
    octal(&mut block[148..155], sum);
    block
}

/// A layer tar of `files` files, each under its own chain of `depth` one-letter directories
/// named by a GNU long name (`L`): a first component of its own (`d<i>`), then `a/b/c/...`,
/// so every directory is new and implied, never listed.
fn deep_names_layer(files: usize, depth: usize) -> Vec<u8> {
    let mut tar = Vec::new();
    for file in 0..files {
        let mut path = format!("d{file}");
        for level in 1..depth {
            path.push('/');
            path.push(char::from(b'a' + (level % 26) as u8));
        }
        path.push_str("/f");
        let mut long_name = path.into_bytes();
        long_name.push(0);
        tar.extend_from_slice(&header(b"././@LongLink", b'L', long_name.len()));
        tar.extend_from_slice(&long_name);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
        tar.extend_from_slice(&header(b"f", b'0', 0));
    }
    tar.resize(tar.len() + 1024, 0);
    tar
}

/// The layer issue 20 describes: 1.5 MiB, about 600,000 implied directories.
fn hostile_layer() -> Vec<u8> {
    // 2,041 components make a path of 4,081 to 4,087 bytes, under PATH_MAX; each file takes
    // 5,120 bytes of tar.
    deep_names_layer(307, 2040)
}

#[test]
fn a_layer_implying_more_directories_than_memory_holds_is_refused_with_enomem() {
    let bytes = Bytes::from_vec(hostile_layer());
    assert!(bytes.len() <= 1536 * 1024, "{} bytes", bytes.len());
    let budget = 16 << 20;
    let (result, peak) = parse_within(&bytes, budget);
    let error = result.expect_err("loaded within 16 MiB");
    assert_eq!(error.errno, Errno::ENOMEM, "{error}");
    println!("hostile layer under a 16 MiB budget: {error} (peak {peak} bytes)");
}

#[test]
fn with_room_enough_implied_directories_cost_what_any_entry_does() {
    let bytes = Bytes::from_vec(hostile_layer());
    let (result, peak) = parse_within(&bytes, 1 << 30);
    let (entries, heap) = result.expect("loaded within 1 GiB");
    assert!(entries > 600_000, "{entries} entries");
    println!(
        "hostile layer: {entries} entries, {heap} bytes of heap beyond names ({:.1} per \
         entry), peak while loading {peak} bytes ({:.1} per entry)",
        heap as f64 / entries as f64,
        peak as f64 / entries as f64
    );
    assert!(heap <= 64 * entries, "{heap} bytes for {entries} entries");
}

#[test]
fn every_budget_gives_the_layer_or_enomem_never_an_abort() {
    let bytes = Bytes::from_vec(deep_names_layer(4, 500));
    let mut budget = 0;
    let loaded = loop {
        let (result, _) = parse_within(&bytes, budget);
        match result {
            Ok(loaded) => break loaded,
            Err(error) => assert_eq!(error.errno, Errno::ENOMEM, "budget {budget}: {error}"),
        }
        budget = budget * 5 / 4 + 256;
    };
    assert_eq!(loaded.0, 4 * 501 + 1, "entries");
}
