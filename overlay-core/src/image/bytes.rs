//! [`Bytes`]: a cheap, shared, immutable view of part of a byte buffer (the RAM disk).
//!
//! The type lives in [`crate::vfs`] (any filesystem may hand out its file data as shared bytes,
//! see [`Inode::shared_data`](crate::vfs::Inode::shared_data)); it is re-exported here, where
//! the image filesystem makes its files of it.

pub use crate::vfs::Bytes;
