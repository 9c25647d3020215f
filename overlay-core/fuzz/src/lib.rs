//! The fuzz targets of overlay-core, as bodies that a libFuzzer target (`fuzz_targets/`) and
//! the regression test `overlay-core/tests/fuzz_budgets.rs` both run under the same budgets.
//!
//! Each module is written to be included by path as well (the test includes `budget.rs` and
//! `bodies/mod.rs`), so they name nothing of this crate, only `overlay_core` and `std`.

pub mod bodies;
pub mod budget;
