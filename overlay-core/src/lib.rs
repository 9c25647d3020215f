//! An overlay (union) filesystem engine for small kernels.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod error;
pub mod path;
pub mod posix;
pub mod shell;
pub mod time;
pub mod tmpfs;
pub mod vfs;

pub use error::{Errno, Result};
