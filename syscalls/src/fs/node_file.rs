//! [`NodeFile`]: the open file description of an entry of the filesystem tree (a file,
//! directory, symlink opened with `O_PATH`, or a device node without a description of its
//! own), over the engine's [`File`].

use alloc::{string::String, sync::Arc};
use core::any::Any;
use core::sync::atomic::{AtomicU32, Ordering};

use linux_raw_sys::general::{O_APPEND, O_NONBLOCK, O_PATH};
use overlay_core::path::Location;
use overlay_core::posix::{File, SeekFrom};
use overlay_core::vfs::{Inode, Metadata};
use spin::Mutex;

use crate::errno::{Errno, SysResult};
use crate::file::{OpenFile, Whence};

/// The status flags `fcntl(F_SETFL)` may change.
const SETTABLE_FLAGS: u32 = O_APPEND | O_NONBLOCK;

/// An open entry of the filesystem tree.
///
/// Reads, writes and seeks go through the engine's [`File`] (its offset is the description's,
/// shared by `dup`s and forks). `O_APPEND` is kept here, not in the engine's flags, so that
/// `fcntl(F_SETFL)` can turn it on and off: a write with it moves to the end first, as
/// Linux's does. For a directory the offset is the position of `getdents64` (0 before `.`,
/// 1 before `..`, then the filesystem's listing cookie plus 2).
pub struct NodeFile {
    file: Mutex<File>,
    inode: Arc<dyn Inode>,
    location: Option<Location>,
    status: AtomicU32,
    path: String,
}

impl NodeFile {
    /// The description of `file`, opened with status flags `status` (Linux's numbers, as
    /// `F_GETFL` shows them) by the absolute path `path`.
    pub fn new(file: File, status: u32, path: String) -> NodeFile {
        NodeFile {
            inode: file.inode().clone(),
            location: file.location().cloned(),
            file: Mutex::new(file),
            status: AtomicU32::new(status),
            path,
        }
    }

    /// For a directory, where it was reached (what `openat` and `fchdir` resolve from).
    pub fn location(&self) -> Option<&Location> {
        self.location.as_ref()
    }

    /// The absolute path it was opened by (taken as written: see `FsContext`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether it was opened with `O_PATH` (only a place: no reads, writes or listing).
    pub fn is_path_only(&self) -> bool {
        self.status.load(Ordering::Relaxed) & O_PATH != 0
    }

    /// Runs `f` on the engine's file, holding its lock (its offset cannot move meanwhile).
    pub fn with_file<R>(&self, f: impl FnOnce(&mut File) -> R) -> R {
        f(&mut self.file.lock())
    }

    fn appends(&self) -> bool {
        self.status.load(Ordering::Relaxed) & O_APPEND != 0
    }

    fn usable(&self) -> SysResult<()> {
        if self.is_path_only() {
            Err(Errno::EBADF)
        } else {
            Ok(())
        }
    }
}

impl OpenFile for NodeFile {
    fn read(&self, buf: &mut [u8]) -> SysResult<usize> {
        self.usable()?;
        Ok(self.file.lock().read(buf)?)
    }

    fn write(&self, buf: &[u8]) -> SysResult<usize> {
        self.usable()?;
        let mut file = self.file.lock();
        if !file.is_writable() {
            return Err(Errno::EBADF);
        }
        if self.appends() {
            file.seek(SeekFrom::End(0))?;
        }
        Ok(file.write(buf)?)
    }

    fn pread(&self, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.usable()?;
        Ok(self.file.lock().pread(offset, buf)?)
    }

    fn pwrite(&self, offset: u64, buf: &[u8]) -> SysResult<usize> {
        self.usable()?;
        let file = self.file.lock();
        if !file.is_writable() {
            return Err(Errno::EBADF);
        }
        // Linux's `pwrite` on an `O_APPEND` description appends, whatever the offset.
        let at = if self.appends() {
            file.metadata()?.size
        } else {
            offset
        };
        Ok(file.pwrite(at, buf)?)
    }

    fn seek(&self, offset: i64, whence: Whence) -> SysResult<u64> {
        self.usable()?;
        let from = match whence {
            Whence::Set => SeekFrom::Start(u64::try_from(offset).map_err(|_| Errno::EINVAL)?),
            Whence::Current => SeekFrom::Current(offset),
            // A directory's position is not a size away from anything.
            Whence::End if self.location.is_some() => return Err(Errno::EINVAL),
            Whence::End => SeekFrom::End(offset),
        };
        Ok(self.file.lock().seek(from)?)
    }

    fn metadata(&self) -> SysResult<Metadata> {
        Ok(self.inode.metadata()?)
    }

    fn inode(&self) -> Option<Arc<dyn Inode>> {
        Some(self.inode.clone())
    }

    fn status_flags(&self) -> u32 {
        self.status.load(Ordering::Relaxed)
    }

    fn set_status_flags(&self, flags: u32) {
        let _ = self
            .status
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |status| {
                Some((status & !SETTABLE_FLAGS) | (flags & SETTABLE_FLAGS))
            });
    }

    fn describe(&self) -> String {
        self.path.clone()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl core::fmt::Debug for NodeFile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NodeFile")
            .field("path", &self.path)
            .field("status", &self.status_flags())
            .finish()
    }
}
