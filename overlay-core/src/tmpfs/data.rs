//! File data in pages: a sparse map from page index to a 4 KiB page.
//!
//! A hole (a page index with no page) reads as zeros and costs nothing. Bytes of the last page
//! past the end of the file are always zero (truncation zeroes them), so growing a file never
//! has to clear anything.

use alloc::{boxed::Box, collections::BTreeMap, vec::Vec};

use crate::error::{Errno, Result};

/// Size of one page of file data, in bytes; also the unit capacity is charged in.
pub const PAGE_SIZE: usize = 4096;
const PAGE_BYTES: u64 = PAGE_SIZE as u64;

/// Largest file size, in bytes (Linux `MAX_LFS_FILESIZE` on 64-bit: `i64::MAX`).
pub(super) const MAX_FILE_BYTES: u64 = i64::MAX as u64;

/// One page of file data.
///
/// An enum so that a page can later also be borrowed, immutable bytes of a lower layer, copied
/// only when written ([`Page::bytes_mut`] is where that copy will happen).
pub(super) enum Page {
    /// Bytes this file owns: exactly [`PAGE_SIZE`] of them.
    Owned(Box<[u8]>),
}

impl Page {
    /// A page of zeros, or `ENOMEM`.
    fn zeroed() -> Result<Page> {
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(PAGE_SIZE)?;
        bytes.resize(PAGE_SIZE, 0);
        Ok(Page::Owned(bytes.into_boxed_slice()))
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Page::Owned(bytes) => bytes,
        }
    }

    /// The page's bytes, for writing. Fallible because a shared page will have to be copied.
    fn bytes_mut(&mut self) -> Result<&mut [u8]> {
        match self {
            Page::Owned(bytes) => Ok(bytes),
        }
    }
}

/// The data of one regular file.
#[derive(Default)]
pub(super) struct FileData {
    pages: BTreeMap<u64, Page>,
    size_bytes: u64,
}

/// The page index of byte `offset` and the offset within that page.
fn split(offset: u64) -> (u64, usize) {
    // The remainder is below PAGE_SIZE, so it fits a usize.
    (offset / PAGE_BYTES, (offset % PAGE_BYTES) as usize)
}

impl FileData {
    /// The file size in bytes.
    pub(super) fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Bytes held in pages: what the file is charged for.
    #[cfg(test)]
    pub(super) fn allocated_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE_BYTES
    }

    /// Copies bytes from `offset` into `buf`; returns how many (0 at or past the end).
    pub(super) fn read(&self, offset: u64, buf: &mut [u8]) -> usize {
        if offset >= self.size_bytes {
            return 0;
        }
        let available = self.size_bytes - offset;
        let len =
            usize::try_from(available).map_or(buf.len(), |available| buf.len().min(available));
        let mut done = 0;
        while done < len {
            // `offset + done` stays below `size_bytes`, so it cannot overflow.
            let (index, within) = split(offset + done as u64);
            let chunk = (PAGE_SIZE - within).min(len - done);
            let out = &mut buf[done..done + chunk];
            match self.pages.get(&index) {
                Some(page) => out.copy_from_slice(&page.bytes()[within..within + chunk]),
                None => out.fill(0),
            }
            done += chunk;
        }
        len
    }

    /// How many bytes of new pages a write of `len` bytes at `offset` needs, or `EFBIG` if
    /// the write would end past the largest file size. `len` must not be 0.
    pub(super) fn bytes_needed_for_write(&self, offset: u64, len: usize) -> Result<u64> {
        let end = write_end(offset, len)?;
        let first = offset / PAGE_BYTES;
        let last = (end - 1) / PAGE_BYTES;
        let present = self.pages.range(first..=last).count() as u64;
        Ok((last - first + 1 - present) * PAGE_BYTES)
    }

    /// Writes `buf` at `offset`, allocating the pages it touches. The caller has checked the
    /// size with [`FileData::bytes_needed_for_write`] and reserved that capacity.
    ///
    /// On `ENOMEM` nothing is written and no page is added.
    pub(super) fn write(&mut self, offset: u64, buf: &[u8]) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let end = write_end(offset, buf.len())?;
        let first = offset / PAGE_BYTES;
        let last = (end - 1) / PAGE_BYTES;
        // Allocate every missing page first, so a failed allocation leaves the file untouched.
        let mut new_pages = Vec::new();
        let missing = (first..=last).filter(|index| !self.pages.contains_key(index));
        new_pages.try_reserve_exact(missing.clone().count())?;
        for index in missing {
            new_pages.push((index, Page::zeroed()?));
        }
        self.pages.extend(new_pages);

        let mut done = 0;
        while done < buf.len() {
            let (index, within) = split(offset + done as u64);
            let chunk = (PAGE_SIZE - within).min(buf.len() - done);
            // Every page in first..=last was present or was just added.
            let page = self.pages.get_mut(&index).ok_or(Errno::EIO)?;
            page.bytes_mut()?[within..within + chunk].copy_from_slice(&buf[done..done + chunk]);
            done += chunk;
        }
        self.size_bytes = self.size_bytes.max(end);
        Ok(())
    }

    /// Sets the size. Shrinking frees the pages past the end and zeroes the tail of the new
    /// last page; growing adds a hole, which needs no page. Returns the bytes of pages freed.
    pub(super) fn set_size(&mut self, size_bytes: u64) -> Result<u64> {
        if size_bytes > MAX_FILE_BYTES {
            return Err(Errno::EFBIG);
        }
        if size_bytes >= self.size_bytes {
            self.size_bytes = size_bytes;
            return Ok(0);
        }
        let (index, within) = split(size_bytes);
        if within != 0 {
            if let Some(page) = self.pages.get_mut(&index) {
                page.bytes_mut()?[within..].fill(0);
            }
        }
        let first_freed = if within == 0 { index } else { index + 1 };
        let before = self.pages.len();
        // `split_off` keeps the pages from `first_freed` on in the returned map, dropped here.
        drop(self.pages.split_off(&first_freed));
        self.size_bytes = size_bytes;
        Ok((before - self.pages.len()) as u64 * PAGE_BYTES)
    }
}

/// The end of a write of `len` bytes at `offset`, or `EFBIG` past the largest file size.
fn write_end(offset: u64, len: usize) -> Result<u64> {
    offset.checked_add(len as u64).filter(|end| *end <= MAX_FILE_BYTES).ok_or(Errno::EFBIG)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &FileData) -> Vec<u8> {
        let mut buf = vec![0xAA; data.size_bytes() as usize + 10];
        let len = data.read(0, &mut buf);
        buf.truncate(len);
        buf
    }

    #[test]
    fn holes_read_as_zeros_and_cost_nothing() {
        let mut data = FileData::default();
        let offset = 10 * PAGE_BYTES + 5;
        assert_eq!(data.bytes_needed_for_write(offset, 3), Ok(PAGE_BYTES));
        data.write(offset, b"abc").unwrap();
        assert_eq!(data.size_bytes(), offset + 3);
        assert_eq!(data.allocated_bytes(), PAGE_BYTES);
        let bytes = read_all(&data);
        assert!(bytes[..offset as usize].iter().all(|&b| b == 0));
        assert_eq!(&bytes[offset as usize..], b"abc");
    }

    #[test]
    fn writes_across_page_boundaries() {
        let mut data = FileData::default();
        let payload: Vec<u8> = (0..3 * PAGE_SIZE).map(|i| (i % 251) as u8).collect();
        assert_eq!(data.bytes_needed_for_write(100, payload.len()), Ok(4 * PAGE_BYTES));
        data.write(100, &payload).unwrap();
        assert_eq!(data.bytes_needed_for_write(0, 4 * PAGE_SIZE), Ok(0));
        assert_eq!(data.bytes_needed_for_write(0, 5 * PAGE_SIZE), Ok(PAGE_BYTES));
        let mut buf = vec![0; payload.len()];
        assert_eq!(data.read(100, &mut buf), payload.len());
        assert_eq!(buf, payload);
        // A read that starts inside and runs past the end stops at the end.
        assert_eq!(data.read(data.size_bytes() - 2, &mut buf), 2);
        assert_eq!(data.read(data.size_bytes(), &mut buf), 0);
        assert_eq!(data.read(u64::MAX, &mut buf), 0);
    }

    #[test]
    fn shrinking_zeroes_the_tail_and_frees_pages() {
        let mut data = FileData::default();
        data.write(0, &[7; 3 * PAGE_SIZE]).unwrap();
        assert_eq!(data.set_size(PAGE_BYTES + 1), Ok(PAGE_BYTES));
        assert_eq!(data.allocated_bytes(), 2 * PAGE_BYTES);
        assert_eq!(data.set_size(3 * PAGE_BYTES), Ok(0));
        let bytes = read_all(&data);
        assert_eq!(bytes.len(), 3 * PAGE_SIZE);
        assert!(bytes[..=PAGE_SIZE].iter().all(|&b| b == 7));
        assert!(bytes[PAGE_SIZE + 1..].iter().all(|&b| b == 0));
        assert_eq!(data.set_size(PAGE_BYTES), Ok(PAGE_BYTES));
        assert_eq!(data.set_size(0), Ok(PAGE_BYTES));
        assert_eq!(data.allocated_bytes(), 0);
    }

    #[test]
    fn sizes_past_the_limit_are_efbig() {
        let mut data = FileData::default();
        assert_eq!(data.bytes_needed_for_write(u64::MAX, 1), Err(Errno::EFBIG));
        assert_eq!(data.bytes_needed_for_write(MAX_FILE_BYTES, 1), Err(Errno::EFBIG));
        assert_eq!(data.write(MAX_FILE_BYTES - 1, b"ab"), Err(Errno::EFBIG));
        assert_eq!(data.set_size(MAX_FILE_BYTES + 1), Err(Errno::EFBIG));
        // The largest size itself is fine, and costs nothing.
        assert_eq!(data.set_size(MAX_FILE_BYTES), Ok(0));
        data.write(MAX_FILE_BYTES - 1, b"z").unwrap();
        let mut byte = [0];
        assert_eq!(data.read(MAX_FILE_BYTES - 1, &mut byte), 1);
        assert_eq!(byte, *b"z");
    }
}
