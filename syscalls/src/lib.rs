//! Linux x86_64 system calls over an `overlay-core` union: the part of running a container's
//! program that needs no `unsafe` and no CPU.
//!
//! A kernel that runs user programs on top of [`overlay_core`] has two halves. The CPU half
//! (trap entry, page tables, switching between processes) is the kernel's own. This crate is
//! the other half: what each Linux system call *means* over the union, written once as safe
//! `no_std` code so that any hobby kernel can take it with the engine, and so that it is
//! tested on the host without booting.
//!
//! - [`user`]: user memory as the kernel sees it ([`user::UserMemory`]): every read and write of
//!   a user address is a checked copy that fails with `EFAULT`; structures are packed at the
//!   offsets `linux-raw-sys` gives.
//! - [`errno`]: the Linux error numbers a call returns (the engine's [`overlay_core::Errno`]
//!   converts into them).
//! - [`file`](mod@file): open file descriptions ([`file::OpenFile`]) and the per-process descriptor
//!   table; [`fs`]: the file and path calls over the union.
//! - [`pipe`], [`tty`], [`devices`], [`procfs`], [`mounts`]: what a container sees besides its
//!   image (`/proc`, `/dev`, the console), mounted over the union's root; [`poll`]: waiting
//!   for descriptors (`poll`, `select`).
//! - [`vm`], [`exec`], [`signal`]: the address space's regions (`brk`, `mmap`), loading a static
//!   ELF program with the initial stack Linux builds, and signal frames.
//! - [`process`]: one process's state; [`dispatch`]: from a system-call number to its handler.
//!
//! Numbers, flags and structure layouts come from `linux-raw-sys`; nothing here copies a table
//! by hand. Docs: `docs/syscalls.md` in the repository lists every call and what it supports.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod devices;
pub mod dispatch;
pub mod errno;
pub mod exec;
pub mod file;
pub mod fs;
pub mod host;
pub mod misc;
pub mod mounts;
mod names;
pub mod pipe;
pub mod poll;
pub mod process;
pub mod procfs;
pub mod regs;
pub mod signal;
pub mod tty;
pub mod user;
pub mod vm;

pub use errno::{Errno, SysResult};
pub use names::syscall_name;
