//! What each fuzz target does with one input. Every body must return normally for any input:
//! a panic, an overflowed stack or an allocation past the heap budget (see `budget.rs`) is a
//! finding.

pub mod image_oci;
pub mod image_tar;
pub mod shell;
pub mod union_ops;
mod walk;

/// What a target does with one input.
pub type Body = fn(&[u8]);

/// Every target: its name (the `[[bin]]` of `Cargo.toml`, the folder of its seeds in
/// `seeds/` and of its corpus) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("shell", shell::run),
    ("union_ops", union_ops::run),
    ("image_tar", image_tar::run),
    ("image_oci", image_oci::run),
];
