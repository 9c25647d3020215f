//! Allocation failures injected into copy-up and writes: a test allocator that, when armed on
//! the current thread, fails the N-th allocation of a page or more (file pages, copy buffers:
//! the allocations the engine makes fallibly), for N = 0, 1, 2... until the call succeeds.
//! After each failure the call returned `ENOMEM`, the union shows exactly what it showed
//! before, the lower bytes are unchanged and the next call works.
//!
//! Smaller allocations are never failed: `alloc` has no fallible API for boxes, `Arc`s and map
//! nodes, so the engine (like most kernels' Rust code) allocates those infallibly, and failing
//! one would abort the process rather than test anything. A big allocation made infallibly on
//! these paths would abort this test binary: that is a failure too.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use overlay_core::tmpfs::TmpFsOptions;
use overlay_core::vfs::{Credentials, OpenFlags};
use overlay_core::Errno;

/// Allocations of at least this many bytes can be failed.
const BIG: usize = 4096;

thread_local! {
    /// Big allocations to let through before failing one; `None`: not armed.
    static FAIL_AFTER: Cell<Option<usize>> = const { Cell::new(None) };
    /// Whether an armed allocation was failed.
    static FAILED: Cell<bool> = const { Cell::new(false) };
}

struct FailingAllocator;

// SAFETY: every call is forwarded to `System` unchanged, except that some return null, which
// `GlobalAlloc` allows ("returning a null pointer indicates that either memory is exhausted").
unsafe impl GlobalAlloc for FailingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= BIG && should_fail() {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` (this allocator never hands out anything else).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= BIG && should_fail() {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `dealloc`; `System` keeps `ptr` valid when it returns null.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: FailingAllocator = FailingAllocator;

/// Counts a big allocation on an armed thread; true if it is the one to fail. Uses only
/// thread-locals with `const` initialisers, which never allocate.
fn should_fail() -> bool {
    FAIL_AFTER
        .try_with(|countdown| match countdown.get() {
            Some(0) => {
                countdown.set(None);
                let _ = FAILED.try_with(|failed| failed.set(true));
                true
            }
            Some(left) => {
                countdown.set(Some(left - 1));
                false
            }
            None => false,
        })
        .unwrap_or(false)
}

/// Runs `f` with the `skip`-th big allocation on this thread failing; returns its result and
/// whether an allocation was failed.
fn with_failure<T>(skip: usize, f: impl FnOnce() -> T) -> (T, bool) {
    FAILED.with(|failed| failed.set(false));
    FAIL_AFTER.with(|countdown| countdown.set(Some(skip)));
    let result = f();
    FAIL_AFTER.with(|countdown| countdown.set(None));
    (result, FAILED.with(Cell::get))
}

fn root() -> Credentials {
    Credentials::root()
}

fn original() -> Vec<u8> {
    (b'a'..=b'z').cycle().take(3 * 4096 + 100).collect()
}

fn lowers() -> Vec<Vec<String>> {
    let big: String = original().into_iter().map(char::from).collect();
    vec![vec!["d d".into(), format!("f d/big {big}")]]
}

/// One change on a fresh union, failed at every big allocation in turn.
fn sweep(name: &str, change: fn(&overlay_core::posix::Namespace) -> Result<(), Errno>) -> usize {
    for skip in 0.. {
        let (_fs, ns) = support::union(&lowers(), TmpFsOptions::default());
        let before = support::walk(&ns).expect("walk");
        let (result, failed) = with_failure(skip, || change(&ns));
        if !failed {
            result.unwrap_or_else(|errno| panic!("{name}: failed with nothing injected: {errno}"));
            return skip;
        }
        match result {
            Err(Errno::ENOMEM) => {}
            other => panic!("{name}: allocation {skip} failed, the call returned {other:?}"),
        }
        let after = support::walk(&ns).expect("walk");
        let same = after
            .iter()
            .zip(&before)
            .all(|(a, b)| a.path == b.path && a.content == b.content && a.mode == b.mode);
        assert!(
            same && after.len() == before.len(),
            "{name}: allocation {skip}: the union changed"
        );
        assert_eq!(
            support::read(&ns, "/d/big"),
            Ok(original()),
            "{name}: content"
        );
        change(&ns).unwrap_or_else(|errno| panic!("{name}: the next call failed: {errno}"));
    }
    unreachable!("`0..` does not end")
}

#[test]
fn allocation_failures_in_copy_up_and_writes() {
    let mut points = 0;
    points += sweep("write at offset 0 (copy-up)", |ns| {
        let file = ns.open(&root(), "/d/big", OpenFlags::WRITE, 0)?;
        file.pwrite(0, b"X").map(drop)
    });
    points += sweep("chmod (copy-up)", |ns| ns.chmod(&root(), "/d/big", 0o600));
    // Copy-up, then three new pages: a failure in either leaves the union as it was.
    points += sweep("append three pages (copy-up, then new pages)", |ns| {
        let flags = OpenFlags::WRITE | OpenFlags::APPEND;
        let mut file = ns.open(&root(), "/d/big", flags, 0)?;
        file.write_all(&[b'+'; 3 * 4096])
    });
    eprintln!("alloc faults: {points} allocation failures injected, nothing lost");
    // A copy-up of a four-page file allocates a copy buffer and four pages.
    assert!(points >= 5, "too few injection points: {points}");
}
