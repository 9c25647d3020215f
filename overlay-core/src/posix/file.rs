//! [`File`]: an open file or directory, with its offset and the access it was opened for.

use alloc::{sync::Arc, vec::Vec};

use crate::error::{Errno, Result};
use crate::path::Location;
use crate::vfs::{
    Credentials, FileType, Ino, Inode, Metadata, OpenFlags, SetAttr, S_ISGID, S_ISUID,
};

/// Where [`File::seek`] moves the offset from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SeekFrom {
    /// From the start of the file.
    Start(u64),
    /// From the current offset.
    Current(i64),
    /// From the end of the file.
    End(i64),
}

/// How many entries [`File::read_dir`] makes room for before it reads any.
const ENTRIES_AT_ONCE: usize = 64;

/// One entry of a directory listing. Its name is shared with the filesystem where that keeps
/// it as an `Arc<str>` (see [`crate::vfs::DirEntry::shared_name`]), so a listing copies none.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    /// The entry's name.
    pub name: Arc<str>,
    /// Its inode number.
    pub ino: Ino,
    /// Its kind.
    pub kind: FileType,
}

/// An open file, directory or other entry, as [`super::Namespace::open`] returns it.
///
/// Reads and writes go through the handle's offset; [`File::pread`] and [`File::pwrite`] take
/// their own. For a directory the offset is the listing cookie of [`File::read_dir`]. A handle
/// stays usable after its entry is unlinked, as far as the filesystem keeps the inode.
pub struct File {
    inode: Arc<dyn Inode>,
    flags: OpenFlags,
    offset: u64,
    creds: Credentials,
    location: Option<Location>,
}

impl File {
    pub(super) fn new(inode: Arc<dyn Inode>, flags: OpenFlags, creds: &Credentials) -> File {
        File {
            inode,
            flags,
            offset: 0,
            creds: creds.clone(),
            location: None,
        }
    }

    pub(super) fn set_location(&mut self, location: Location) {
        self.location = Some(location);
    }

    /// For an open directory, where the walk that opened it reached it (what `openat` and
    /// `fchdir` resolve from); `None` for anything else.
    pub fn location(&self) -> Option<&Location> {
        self.location.as_ref()
    }

    /// The open entry.
    pub fn inode(&self) -> &Arc<dyn Inode> {
        &self.inode
    }

    /// The flags the handle was opened with.
    pub fn flags(&self) -> OpenFlags {
        self.flags
    }

    /// The current offset (for a directory: the listing cookie).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether the handle was opened for reading: `READ`, or neither `READ` nor `WRITE` (like
    /// `O_RDONLY`, which is 0).
    pub fn is_readable(&self) -> bool {
        self.flags.contains(OpenFlags::READ) || !self.flags.contains(OpenFlags::WRITE)
    }

    /// Whether the handle was opened for writing (`WRITE`).
    pub fn is_writable(&self) -> bool {
        self.flags.contains(OpenFlags::WRITE)
    }

    /// The entry's metadata (`fstat`).
    ///
    /// # Errors
    /// Whatever the filesystem's `metadata` returns (`ESTALE`).
    pub fn metadata(&self) -> Result<Metadata> {
        self.inode.metadata()
    }

    /// Reads at the offset and advances it; returns how many bytes were read, 0 at the end.
    ///
    /// # Errors
    /// `EBADF` if the handle is not open for reading; `EISDIR` for a directory; whatever the
    /// filesystem's `read_at` returns.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let count = self.pread(self.offset, buf)?;
        self.offset = self.offset.saturating_add(count as u64);
        Ok(count)
    }

    /// Reads at `offset` without moving the handle's offset.
    ///
    /// # Errors
    /// As [`File::read`].
    pub fn pread(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        if !self.is_readable() {
            return Err(Errno::EBADF);
        }
        self.inode.read_at(offset, buf)
    }

    /// Writes at the offset (at the end with `APPEND`) and moves the offset past what was
    /// written. A write by a non-root caller clears the file's set-user-id bit, and its
    /// set-group-id bit if group-executable, as Linux does.
    ///
    /// # Errors
    /// `EBADF` if the handle is not open for writing; `EISDIR` for a directory; `ENOSPC`,
    /// `EFBIG` and whatever else the filesystem's `write_at` returns.
    pub fn write(&mut self, buf: &[u8]) -> Result<usize> {
        let at = self.write_offset(self.offset)?;
        let count = self.write_at(at, buf)?;
        self.offset = at.saturating_add(count as u64);
        Ok(count)
    }

    /// Writes at `offset` without moving the handle's offset. With `APPEND` the data goes to
    /// the end regardless of `offset`, as Linux's `pwrite` does.
    ///
    /// # Errors
    /// As [`File::write`].
    pub fn pwrite(&self, offset: u64, buf: &[u8]) -> Result<usize> {
        let at = self.write_offset(offset)?;
        self.write_at(at, buf)
    }

    /// Writes all of `buf` at the offset, as [`File::write`] repeated.
    ///
    /// # Errors
    /// As [`File::write`]; `EIO` if the filesystem writes nothing without an error.
    pub fn write_all(&mut self, mut buf: &[u8]) -> Result<()> {
        while !buf.is_empty() {
            let count = self.write(buf)?;
            if count == 0 {
                return Err(Errno::EIO);
            }
            buf = buf.get(count..).unwrap_or_default();
        }
        Ok(())
    }

    /// Moves the offset; returns the new one. For a directory, `Start(0)` rewinds the listing.
    ///
    /// # Errors
    /// `EINVAL` if the result would be negative; `EOVERFLOW` if it does not fit; for `End`,
    /// whatever the filesystem's `metadata` returns.
    pub fn seek(&mut self, from: SeekFrom) -> Result<u64> {
        let offset = match from {
            SeekFrom::Start(offset) => offset,
            SeekFrom::Current(delta) => offset_by(self.offset, delta)?,
            SeekFrom::End(delta) => offset_by(self.inode.metadata()?.size, delta)?,
        };
        self.offset = offset;
        Ok(offset)
    }

    /// Sets the file's size (`ftruncate`).
    ///
    /// # Errors
    /// `EINVAL` if the handle is not open for writing or the entry is not a regular file;
    /// `ENOSPC` and whatever else the filesystem's `set_len` returns.
    pub fn set_len(&self, len: u64) -> Result<()> {
        if !self.is_writable() {
            return Err(Errno::EINVAL);
        }
        let metadata = self.inode.metadata()?;
        if metadata.kind != FileType::Regular {
            return Err(Errno::EINVAL);
        }
        clear_set_id(&*self.inode, &metadata, &self.creds)?;
        self.inode.set_len(len)
    }

    /// Lists up to `max_entries` entries of the open directory from the handle's cookie and
    /// advances it; an empty result means the listing is complete. `.` and `..` are not listed.
    ///
    /// # Errors
    /// `EBADF` if the handle is not open for reading; `ENOTDIR` if the entry is not a
    /// directory; whatever the filesystem's `readdir` returns.
    pub fn read_dir(&mut self, max_entries: usize) -> Result<Vec<Entry>> {
        if !self.is_readable() {
            return Err(Errno::EBADF);
        }
        let mut entries = Vec::new();
        if max_entries == 0 {
            return Ok(entries);
        }
        // Room for a batch at once (a listing read whole grew it a doubling at a time).
        entries.try_reserve(max_entries.min(ENTRIES_AT_ONCE))?;
        let mut next_cookie = self.offset;
        self.inode.readdir(self.offset, &mut |entry| {
            entries.push(Entry {
                name: entry.name_arc(),
                ino: entry.ino,
                kind: entry.kind,
            });
            next_cookie = entry.next_cookie;
            entries.len() < max_entries
        })?;
        self.offset = next_cookie;
        Ok(entries)
    }

    fn write_offset(&self, offset: u64) -> Result<u64> {
        if !self.is_writable() {
            return Err(Errno::EBADF);
        }
        if self.flags.contains(OpenFlags::APPEND) {
            Ok(self.inode.metadata()?.size)
        } else {
            Ok(offset)
        }
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let metadata = self.inode.metadata()?;
        if metadata.kind == FileType::Regular {
            clear_set_id(&*self.inode, &metadata, &self.creds)?;
        }
        self.inode.write_at(offset, buf)
    }
}

impl core::fmt::Debug for File {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("File")
            .field("flags", &self.flags)
            .field("offset", &self.offset)
            .finish()
    }
}

/// Linux's `file_remove_privs`: a data change by a caller without `CAP_FSETID` (non-root)
/// drops set-user-id, and set-group-id when group-executable (without that `x` bit it marks
/// mandatory locking instead, and stays).
pub(super) fn clear_set_id(
    inode: &dyn Inode,
    metadata: &Metadata,
    creds: &Credentials,
) -> Result<()> {
    if creds.is_root() || metadata.kind != FileType::Regular {
        return Ok(());
    }
    let mut mode = metadata.mode & !S_ISUID;
    if mode & 0o010 != 0 {
        mode &= !S_ISGID;
    }
    if mode == metadata.mode {
        return Ok(());
    }
    inode.set_attr(&SetAttr {
        mode: Some(mode),
        ..SetAttr::default()
    })
}

fn offset_by(base: u64, delta: i64) -> Result<u64> {
    let target = i128::from(base) + i128::from(delta);
    if target < 0 {
        return Err(Errno::EINVAL);
    }
    // An offset must fit Linux's signed `loff_t`.
    i64::try_from(target)
        .map(|offset| offset as u64)
        .map_err(|_| Errno::EOVERFLOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seek_arithmetic() {
        assert_eq!(offset_by(10, -3), Ok(7));
        assert_eq!(offset_by(10, -11), Err(Errno::EINVAL));
        assert_eq!(offset_by(u64::MAX, 0), Err(Errno::EOVERFLOW));
        assert_eq!(offset_by(0, i64::MAX), Ok(i64::MAX as u64));
    }
}
