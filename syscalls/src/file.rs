//! Open file descriptions and the descriptor table.
//!
//! An [`OpenFile`] is what `open`, `pipe2` or the console give: one description, shared by
//! every descriptor `dup` or `fork` made of it (so they share its offset and status flags, as
//! on Linux). A [`FdTable`] maps a process's descriptor numbers to descriptions, each with its
//! own close-on-exec flag.
//!
//! Blocking: a description whose `read` or `write` cannot go on now returns `EAGAIN`. The
//! system-call layer then blocks the caller (the kernel re-runs the call when something
//! changed) unless the description is non-blocking (`O_NONBLOCK`), when the caller gets
//! `EAGAIN` itself.

use alloc::{collections::BTreeMap, sync::Arc};
use core::any::Any;

use linux_raw_sys::general::{POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use overlay_core::vfs::{Inode, Metadata};

use crate::errno::{Errno, SysResult};
use crate::user::UserMemory;

/// Where a seek counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whence {
    /// From the start (`SEEK_SET`).
    Set,
    /// From the current offset (`SEEK_CUR`).
    Current,
    /// From the end (`SEEK_END`).
    End,
}

/// One open file description.
pub trait OpenFile: Send + Sync {
    /// Reads at the description's offset and advances it.
    ///
    /// # Errors
    /// `EAGAIN` when nothing can be read yet (the caller blocks); `EBADF` if not open for
    /// reading; `EISDIR` for a directory; what the filesystem returns.
    fn read(&self, buf: &mut [u8]) -> SysResult<usize>;

    /// Writes at the description's offset (at the end with `O_APPEND`) and advances it.
    ///
    /// # Errors
    /// `EAGAIN` when nothing can be written yet; `EPIPE` on a pipe without readers; `EBADF` if
    /// not open for writing; what the filesystem returns.
    fn write(&self, buf: &[u8]) -> SysResult<usize>;

    /// Reads at `offset` without moving the description's offset (`pread64`).
    ///
    /// # Errors
    /// `ESPIPE` (the default) where there is no offset: pipes, terminals.
    fn pread(&self, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        let _ = (offset, buf);
        Err(Errno::ESPIPE)
    }

    /// Writes at `offset` without moving the description's offset (`pwrite64`).
    ///
    /// # Errors
    /// `ESPIPE` (the default) where there is no offset.
    fn pwrite(&self, offset: u64, buf: &[u8]) -> SysResult<usize> {
        let _ = (offset, buf);
        Err(Errno::ESPIPE)
    }

    /// Moves the offset; returns the new one.
    ///
    /// # Errors
    /// `ESPIPE` (the default) where there is no offset; `EINVAL` for a negative result.
    fn seek(&self, offset: i64, whence: Whence) -> SysResult<u64> {
        let _ = (offset, whence);
        Err(Errno::ESPIPE)
    }

    /// What `fstat` reports.
    ///
    /// # Errors
    /// What the filesystem returns.
    fn metadata(&self) -> SysResult<Metadata>;

    /// The inode behind the description, for the calls that act on it (`fchmod`, `fchdir`,
    /// `fgetxattr`); `None` (the default) for pipes and other objects without one.
    fn inode(&self) -> Option<Arc<dyn Inode>> {
        None
    }

    /// A device control request (`ioctl`). `memory` is the caller's, for `arg` pointers.
    ///
    /// # Errors
    /// `ENOTTY` (the default) for a request this kind of file does not know.
    fn ioctl(&self, request: u32, arg: u64, memory: &mut dyn UserMemory) -> SysResult<u64> {
        let _ = (request, arg, memory);
        Err(Errno::ENOTTY)
    }

    /// The events `poll` and `select` would report now, in Linux's bits (`POLLIN`, `POLLOUT`,
    /// `POLLHUP`, `POLLERR`, ...), whatever the caller asked for: the caller keeps the ones
    /// it wants. The default is Linux's for files without a poll method of their own (regular
    /// files, directories, most devices): always readable and writable, `POLLIN | POLLRDNORM |
    /// POLLOUT | POLLWRNORM`.
    fn poll_events(&self) -> u32 {
        POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM
    }

    /// The status flags (`O_APPEND`, `O_NONBLOCK` and the access mode, as `fcntl(F_GETFL)`
    /// reports them, in Linux's numbers).
    fn status_flags(&self) -> u32;

    /// Changes the status flags `fcntl(F_SETFL)` may change (`O_APPEND`, `O_NONBLOCK`).
    fn set_status_flags(&self, flags: u32);

    /// What `/proc/PID/fd/N` shows for it: the path it was opened by, `pipe:[N]`, `/dev/null`.
    fn describe(&self) -> alloc::string::String;

    /// The description as `Any`, for the calls that need its concrete kind (`getdents64`
    /// on a directory).
    fn as_any(&self) -> &dyn Any;
}

/// One descriptor: the description it names and its close-on-exec flag.
#[derive(Clone)]
pub struct Descriptor {
    /// The open file description (shared with `dup`s and forks).
    pub file: Arc<dyn OpenFile>,
    /// `FD_CLOEXEC`: closed by a successful `execve`.
    pub close_on_exec: bool,
}

/// Most descriptors one process may have open (`RLIMIT_NOFILE`'s usual soft limit).
pub const MAX_FDS: u32 = 1024;

/// A process's descriptors.
#[derive(Clone, Default)]
pub struct FdTable {
    descriptors: BTreeMap<u32, Descriptor>,
}

impl FdTable {
    /// An empty table.
    pub fn new() -> FdTable {
        FdTable::default()
    }

    /// The descriptor `fd`.
    ///
    /// # Errors
    /// `EBADF` if it is not open.
    pub fn get(&self, fd: u32) -> SysResult<&Descriptor> {
        self.descriptors.get(&fd).ok_or(Errno::EBADF)
    }

    /// The description behind `fd`.
    ///
    /// # Errors
    /// `EBADF` if it is not open.
    pub fn file(&self, fd: u32) -> SysResult<Arc<dyn OpenFile>> {
        Ok(self.get(fd)?.file.clone())
    }

    /// Installs `descriptor` at the lowest free number at or above `min`; returns it.
    ///
    /// # Errors
    /// `EMFILE` when every number up to [`MAX_FDS`] is taken; `EINVAL` if `min` is beyond it.
    pub fn insert_from(&mut self, min: u32, descriptor: Descriptor) -> SysResult<u32> {
        if min >= MAX_FDS {
            return Err(Errno::EINVAL);
        }
        let mut fd = min;
        for &used in self.descriptors.range(min..).map(|(fd, _)| fd) {
            if used != fd {
                break;
            }
            fd += 1;
        }
        if fd >= MAX_FDS {
            return Err(Errno::EMFILE);
        }
        self.descriptors.insert(fd, descriptor);
        Ok(fd)
    }

    /// Installs `descriptor` at the lowest free number.
    ///
    /// # Errors
    /// As [`FdTable::insert_from`].
    pub fn insert(&mut self, descriptor: Descriptor) -> SysResult<u32> {
        self.insert_from(0, descriptor)
    }

    /// Puts `descriptor` at exactly `fd`, closing what was there; returns what was there.
    ///
    /// # Errors
    /// `EBADF` if `fd` is beyond [`MAX_FDS`].
    pub fn replace(&mut self, fd: u32, descriptor: Descriptor) -> SysResult<Option<Descriptor>> {
        if fd >= MAX_FDS {
            return Err(Errno::EBADF);
        }
        Ok(self.descriptors.insert(fd, descriptor))
    }

    /// Closes `fd`; returns the descriptor (dropping it may wake a pipe's other end).
    ///
    /// # Errors
    /// `EBADF` if it is not open.
    pub fn remove(&mut self, fd: u32) -> SysResult<Descriptor> {
        self.descriptors.remove(&fd).ok_or(Errno::EBADF)
    }

    /// Sets or clears `FD_CLOEXEC` on `fd`.
    ///
    /// # Errors
    /// `EBADF` if it is not open.
    pub fn set_close_on_exec(&mut self, fd: u32, close_on_exec: bool) -> SysResult<()> {
        self.descriptors
            .get_mut(&fd)
            .ok_or(Errno::EBADF)?
            .close_on_exec = close_on_exec;
        Ok(())
    }

    /// Closes every close-on-exec descriptor (a successful `execve`).
    pub fn close_on_exec(&mut self) {
        self.descriptors.retain(|_, d| !d.close_on_exec);
    }

    /// The open descriptor numbers, in order (for `/proc/self/fd`).
    pub fn numbers(&self) -> impl Iterator<Item = u32> + '_ {
        self.descriptors.keys().copied()
    }

    /// Closes everything (the process exits).
    pub fn clear(&mut self) {
        self.descriptors.clear();
    }
}

impl core::fmt::Debug for FdTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_set().entries(self.numbers()).finish()
    }
}
