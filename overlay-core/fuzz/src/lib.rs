//! The fuzz targets of overlay-core, as bodies that a libFuzzer target (`fuzz_targets/`) and
//! the regression test `overlay-core/tests/fuzz_budgets.rs` both run under the same budgets.
//!
//! Both modules are written to be included by path as well (the test includes `budget.rs` and
//! `bodies/mod.rs` at its crate root, as here), so they name nothing of this crate but each
//! other, as `crate::budget` and `crate::bodies`.

pub mod bodies;
pub mod budget;
