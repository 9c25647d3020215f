//! The `union_ops` target: [`bodies::union_ops`] on a thread of the kernel's stack, with a heap budget in
//! proportion to the input (`src/budget.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use overlay_core_fuzz::{bodies, budget};

#[global_allocator]
static HEAP: budget::BudgetedHeap = budget::BudgetedHeap;

fuzz_target!(|input: &[u8]| {
    bodies::UNION_OPS.run(input);
});
