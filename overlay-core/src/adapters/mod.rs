//! Adapters between this crate's filesystem interface and other kernels' VFS interfaces, each
//! behind a crate feature of the same name:
//! - `arceos`: module `arceos`, ArceOS's `axfs_vfs` both ways: its filesystems as layers of a
//!   union, and a union as one of its filesystems.

#[cfg(feature = "arceos")]
pub mod arceos;
