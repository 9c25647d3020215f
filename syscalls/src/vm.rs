//! A process's address space as the system calls see it: the [`AddressSpace`] the kernel
//! implements over its page tables, and the regions `brk` and `mmap` keep ([`MemoryMap`]).

use bitflags::bitflags;

use crate::errno::SysResult;
use crate::user::UserMemory;

/// Size of a page.
pub const PAGE_BYTES: u64 = 4096;

bitflags! {
    /// What a user page allows.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Prot: u32 {
        /// Readable.
        const READ = 1;
        /// Writable.
        const WRITE = 2;
        /// Executable.
        const EXEC = 4;
    }
}

/// The kernel's side of a process's memory: checked copies ([`UserMemory`]) and the page
/// mappings behind them. Ranges are page-aligned and in the user half.
pub trait AddressSpace: UserMemory {
    /// Maps fresh zeroed pages over `start..start + len` with `prot`; pages already mapped
    /// there are replaced.
    ///
    /// # Errors
    /// `ENOMEM` when there is no memory for the pages or their tables; `EINVAL` for a range
    /// that is not page-aligned or leaves the user half.
    fn map(&mut self, start: u64, len: u64, prot: Prot) -> SysResult<()>;

    /// Unmaps every page of `start..start + len` (pages not mapped are skipped).
    fn unmap(&mut self, start: u64, len: u64);

    /// Changes the permissions of the mapped pages of `start..start + len`.
    ///
    /// # Errors
    /// `ENOMEM` if a page of the range is not mapped (Linux's answer).
    fn protect(&mut self, start: u64, len: u64, prot: Prot) -> SysResult<()>;
}

/// The regions of one process: its program's segments, the `brk` heap, anonymous `mmap`s and
/// the stack. (Being written.)
#[derive(Clone, Debug, Default)]
pub struct MemoryMap {}
