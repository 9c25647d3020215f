//! The kernel's own tests: the machinery the overlay suite stands on (heap, collections, the RAM
//! disk, exceptions, stack depth, the unloaded bootloader memory). Each says what it checks in
//! its name; the runner prints one line per test.

use alloc::{boxed::Box, collections::BTreeMap, format, string::String, vec, vec::Vec};
use core::hint::black_box;

use crate::{
    bootfs,
    handover::{fnv1a64, Handover},
    heap, interrupts,
    paging::{self, Visit, PAGE_BYTES},
    runner::Test,
};

/// The suite `make qemu` runs.
pub const ALL: &[Test] = &[
    Test {
        name: "heap_small_blocks_alloc_and_free",
        run: heap_small_blocks_alloc_and_free,
    },
    Test {
        name: "heap_big_blocks_alloc_and_free",
        run: heap_big_blocks_alloc_and_free,
    },
    Test {
        name: "heap_impossible_allocation_fails_cleanly",
        run: heap_impossible_allocation_fails_cleanly,
    },
    Test {
        name: "collections_box_vec_btreemap",
        run: collections_box_vec_btreemap,
    },
    Test {
        name: "ramdisk_bytes_readable",
        run: ramdisk_bytes_readable,
    },
    Test {
        name: "breakpoint_exception_handled_and_returns",
        run: breakpoint_exception_handled_and_returns,
    },
    Test {
        name: "deep_recursion_fits_kernel_stack",
        run: deep_recursion_fits_kernel_stack,
    },
    Test {
        name: "page_tables_avoid_reclaimed_frames",
        run: page_tables_avoid_reclaimed_frames,
    },
];

/// The `panic-test` boot mode: one test that panics.
pub const PANICKING: &[Test] = &[Test {
    name: "deliberate_panic",
    run: deliberate_panic,
}];

/// The `hang-test` boot mode: one test that never returns.
pub const HANGING: &[Test] = &[Test {
    name: "deliberate_hang",
    run: deliberate_hang,
}];

fn check(condition: bool, reason: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(reason())
    }
}

/// Every byte gets a value derived from the block and its position, so overlapping blocks show.
fn pattern(block: usize, index: usize) -> u8 {
    (block.wrapping_mul(31) ^ index.wrapping_mul(7)) as u8
}

fn heap_small_blocks_alloc_and_free() -> Result<(), String> {
    let before = heap::stats().allocated_bytes;
    let blocks: Vec<Vec<u8>> = (0..4096)
        .map(|block| (0..1 + block % 257).map(|i| pattern(block, i)).collect())
        .collect();
    for (block, bytes) in blocks.iter().enumerate() {
        if let Some(i) = (0..bytes.len()).find(|&i| bytes[i] != pattern(block, i)) {
            return Err(format!("block {block} byte {i} was overwritten"));
        }
    }
    drop(blocks);
    let after = heap::stats().allocated_bytes;
    check(after == before, || {
        format!("{before} bytes allocated before, {after} after freeing every block")
    })
}

fn heap_big_blocks_alloc_and_free() -> Result<(), String> {
    const BIG_BYTES: usize = 16 * 1024 * 1024;
    let before = heap::stats().allocated_bytes;
    // Twice, so the second round must reuse what the first freed.
    for round in 0..2 {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        for block in 0..3 {
            let mut bytes = vec![0u8; BIG_BYTES];
            for (i, byte) in bytes.iter_mut().enumerate().step_by(PAGE_BYTES as usize) {
                *byte = pattern(block, i);
            }
            blocks.push(bytes);
        }
        for (block, bytes) in blocks.iter().enumerate() {
            let bad = (0..BIG_BYTES)
                .step_by(PAGE_BYTES as usize)
                .find(|&i| bytes[i] != pattern(block, i));
            if let Some(i) = bad {
                return Err(format!(
                    "round {round}: 16 MiB block {block} byte {i} changed"
                ));
            }
        }
    }
    let after = heap::stats().allocated_bytes;
    check(after == before, || {
        format!("{before} bytes allocated before, {after} after freeing the big blocks")
    })
}

fn heap_impossible_allocation_fails_cleanly() -> Result<(), String> {
    let mut bytes: Vec<u8> = Vec::new();
    check(bytes.try_reserve_exact(1 << 40).is_err(), || {
        String::from("a 1 TiB allocation succeeded")
    })
}

fn collections_box_vec_btreemap() -> Result<(), String> {
    let boxed = Box::new(0x1234_5678_u64);
    check(**black_box(&boxed) == 0x1234_5678, || {
        String::from("Box lost its value")
    })?;
    let numbers: Vec<u64> = (1..=100_000).collect();
    let sum: u64 = numbers.iter().sum();
    check(sum == 5_000_050_000, || format!("Vec sum {sum}"))?;
    let mut map = BTreeMap::new();
    for key in (0..10_000u32).rev() {
        map.insert(key, format!("value {key}"));
    }
    map.retain(|key, _| key % 2 == 0);
    check(map.len() == 5_000, || {
        format!("BTreeMap has {} entries", map.len())
    })?;
    check(map.keys().copied().eq((0..10_000).step_by(2)), || {
        String::from("BTreeMap keys out of order")
    })?;
    check(
        map.get(&4_242).map(String::as_str) == Some("value 4242"),
        || String::from("BTreeMap lookup returned the wrong value"),
    )
}

fn ramdisk_bytes_readable() -> Result<(), String> {
    let handover = Handover::get().ok_or("no handover")?;
    let (Some(ramdisk), Some(bytes)) = (&handover.ramdisk, handover.ramdisk_bytes()) else {
        return Ok(()); // booted without a RAM disk: the boot report says so
    };
    let expected_len = ramdisk.virt.end - ramdisk.virt.start;
    check(bytes.len() as u64 == expected_len, || {
        format!("{} bytes readable, expected {expected_len}", bytes.len())
    })?;
    // The checksum was taken through the bootloader's page tables; this read goes through the
    // kernel's own, so equal sums mean the mapping was carried over intact.
    let sum = fnv1a64(bytes);
    check(sum == ramdisk.fnv1a64, || {
        format!("fnv1a64 {sum:#018x} now, {:#018x} at boot", ramdisk.fnv1a64)
    })
}

fn breakpoint_exception_handled_and_returns() -> Result<(), String> {
    let before = interrupts::breakpoints_handled();
    x86_64::instructions::interrupts::int3();
    let after = interrupts::breakpoints_handled();
    check(after == before + 1, || {
        format!("breakpoint counter went from {before} to {after}")
    })
}

/// Recurses until the stack has grown `target_bytes` below `top`; returns the depth reached.
#[inline(never)]
fn recurse_until(top: usize, target_bytes: usize, depth: u32) -> u32 {
    let frame = black_box([depth as u8; 512]);
    let here = core::ptr::from_ref(black_box(&frame)) as usize;
    if top.saturating_sub(here) >= target_bytes {
        return depth;
    }
    let reached = recurse_until(top, target_bytes, depth + 1);
    // Using `frame` after the call keeps every level's frame alive on the stack.
    black_box(&frame);
    reached
}

fn deep_recursion_fits_kernel_stack() -> Result<(), String> {
    // Half the kernel stack the boot config asks for; frame sizes depend on the build, so the
    // depth is measured, not assumed. An overflow would hit the guard page and double-fault.
    const TARGET_BYTES: usize = 256 * 1024;
    let top = black_box(0u8);
    let top = core::ptr::from_ref(&top) as usize;
    let depth = recurse_until(top, TARGET_BYTES, 0);
    check(depth > 0, || {
        String::from("the recursion did not go deeper than one call")
    })
}

fn page_tables_avoid_reclaimed_frames() -> Result<(), String> {
    let handover = Handover::get().ok_or("no handover")?;
    let unloaded = bootfs::unloaded().ok_or("the bootloader memory was not unloaded")?;
    check(unloaded.reclaimed_bytes > 0, || {
        String::from("no bootloader memory was reclaimed")
    })?;
    let reclaimed = |phys: u64| unloaded.reclaimed.iter().any(|r| r.contains(&phys));
    let mut problem = None;
    paging::walk(
        paging::active_level_4(),
        handover.physical_memory_offset,
        &mut |visit| match visit {
            Visit::Table { phys } if reclaimed(phys) => {
                problem = Some(format!("page table at {phys:#x} is in reclaimed memory"));
            }
            // Huge leaves are the physical-memory mapping itself, which covers everything.
            Visit::Leaf { virt, phys, bytes } if bytes == PAGE_BYTES && reclaimed(phys) => {
                problem = Some(format!("{virt:#x} maps reclaimed frame {phys:#x}"));
            }
            _ => {}
        },
    );
    problem.map_or(Ok(()), Err)
}

fn deliberate_panic() -> Result<(), String> {
    panic!("deliberate panic requested by the panic-test boot mode");
}

fn deliberate_hang() -> Result<(), String> {
    // Interrupts are off, so `hlt` never returns: QEMU idles until the harness kills it.
    loop {
        x86_64::instructions::hlt();
    }
}
