//! File data in pages: a sparse map from page index to a 4 KiB page, or to a run of pages
//! that points into shared, never-changing bytes.
//!
//! A hole (a page index no entry covers) reads as zeros and costs nothing. Bytes of the last
//! page past the end of the file always read as zero (truncation zeroes them, or cuts a shared
//! run short), so growing a file never has to clear anything.
//!
//! A shared run ([`Page::Shared`]) is what [`Inode::write_shared_at`] leaves: the bytes of
//! another file (an image layer's file in the RAM disk) kept by reference, in one map entry
//! however long they are, so taking them costs the same for 4 KiB as for 64 MiB. The first
//! write into one of its pages copies that page alone (copy-on-write) and splits the run
//! around it; truncation cuts the run. Shared pages are charged against the capacity like
//! owned ones (see the tmpfs module docs).
//!
//! [`Inode::write_shared_at`]: crate::vfs::Inode::write_shared_at

use alloc::{boxed::Box, collections::BTreeMap, vec::Vec};

use crate::error::{Errno, Result};
use crate::vfs::Bytes;

/// Size of one page of file data, in bytes; also the unit capacity is charged in.
pub const PAGE_SIZE: usize = 4096;
const PAGE_BYTES: u64 = PAGE_SIZE as u64;

/// Largest file size, in bytes (Linux `MAX_LFS_FILESIZE` on 64-bit: `i64::MAX`).
pub(super) const MAX_FILE_BYTES: u64 = i64::MAX as u64;

/// One entry of a file's page map, at the index of the first page it covers.
pub(super) enum Page {
    /// Bytes this file owns: exactly [`PAGE_SIZE`] of them.
    Owned(Box<[u8]>),
    /// A run of pages read from shared bytes that never change: it covers
    /// `bytes.len().div_ceil(PAGE_SIZE)` pages (never zero), and what its last page holds
    /// past the end of `bytes` reads as zeros. Never written in place: a write copies the
    /// page it touches into an [`Page::Owned`] one.
    Shared(Bytes),
}

impl Page {
    /// A page of zeros, or `ENOMEM`.
    fn zeroed() -> Result<Page> {
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(PAGE_SIZE)?;
        bytes.resize(PAGE_SIZE, 0);
        Ok(Page::Owned(bytes.into_boxed_slice()))
    }

    /// A page holding `bytes`, exactly [`PAGE_SIZE`] of them, or `ENOMEM`: for a write that
    /// covers a whole page, which need not be zeroed first.
    fn copied(bytes: &[u8]) -> Result<Page> {
        if bytes.len() != PAGE_SIZE {
            return Err(Errno::EIO);
        }
        let mut page = Vec::new();
        page.try_reserve_exact(PAGE_SIZE)?;
        page.extend_from_slice(bytes);
        Ok(Page::Owned(page.into_boxed_slice()))
    }

    /// An owned copy of page `index` of the run starting at `key`, or `ENOMEM`.
    fn copy_of_shared(bytes: &Bytes, key: u64, index: u64) -> Result<Page> {
        let Page::Owned(mut page) = Page::zeroed()? else {
            return Err(Errno::EIO);
        };
        // `index - key` is below the run's page count, so the start fits the view.
        let start = usize::try_from(index - key).map_err(|_| Errno::EIO)? * PAGE_SIZE;
        let part = bytes.slice_within(start..start + PAGE_SIZE);
        page[..part.len()].copy_from_slice(part.as_slice());
        Ok(Page::Owned(page))
    }

    /// How many pages the entry covers.
    fn page_count(&self) -> u64 {
        match self {
            Page::Owned(_) => 1,
            Page::Shared(bytes) => (bytes.len() as u64).div_ceil(PAGE_BYTES),
        }
    }

    /// The bytes the entry holds from its first page on (fewer than it covers for a shared
    /// run whose last page is partly zeros).
    fn bytes(&self) -> &[u8] {
        match self {
            Page::Owned(bytes) => bytes,
            Page::Shared(bytes) => bytes.as_slice(),
        }
    }
}

/// The data of one regular file.
#[derive(Default)]
pub(super) struct FileData {
    /// Entries by the index of their first page; they never overlap.
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

    /// Bytes held in pages, owned or shared: what the file is charged for.
    #[cfg(test)]
    pub(super) fn allocated_bytes(&self) -> u64 {
        self.pages.values().map(Page::page_count).sum::<u64>() * PAGE_BYTES
    }

    /// Bytes held in pages this file owns (copied or written), shared runs left out.
    #[cfg(test)]
    pub(super) fn owned_bytes(&self) -> u64 {
        let owned = self
            .pages
            .values()
            .filter(|page| matches!(page, Page::Owned(_)));
        owned.count() as u64 * PAGE_BYTES
    }

    /// The entry covering page `index`, with its key.
    fn entry_covering(&self, index: u64) -> Option<(u64, &Page)> {
        self.pages
            .range(..=index)
            .next_back()
            .filter(|(&key, page)| index - key < page.page_count())
            .map(|(&key, page)| (key, page))
    }

    /// The key to start from to see every entry that covers a page from `index` on.
    fn first_key_from(&self, index: u64) -> u64 {
        self.entry_covering(index).map_or(index, |(key, _)| key)
    }

    /// How many of the pages `first..=last` some entry covers.
    fn covered_pages(&self, first: u64, last: u64) -> u64 {
        self.pages
            .range(self.first_key_from(first)..=last)
            .map(|(&key, page)| {
                let end = key + page.page_count() - 1;
                end.min(last) + 1 - key.max(first)
            })
            .sum()
    }

    /// Copies bytes from `offset` into `buf`; returns how many (0 at or past the end).
    pub(super) fn read(&self, offset: u64, buf: &mut [u8]) -> usize {
        if offset >= self.size_bytes {
            return 0;
        }
        let available = self.size_bytes - offset;
        let len =
            usize::try_from(available).map_or(buf.len(), |available| buf.len().min(available));
        if len == 0 {
            return 0;
        }
        let buf = &mut buf[..len];
        // `offset + len` is at most `size_bytes`, so none of this overflows.
        let end = offset + len as u64;
        let (first, _) = split(offset);
        let last = (end - 1) / PAGE_BYTES;
        // Bytes of `buf` filled so far; every entry is visited in order of position.
        let mut done = 0usize;
        for (&key, page) in self.pages.range(self.first_key_from(first)..=last) {
            let entry_start = key * PAGE_BYTES;
            let entry_end = entry_start + page.page_count() * PAGE_BYTES;
            let position = offset + done as u64;
            if entry_start > position {
                // A hole before this entry.
                let gap = (entry_start - position) as usize;
                buf[done..done + gap].fill(0);
                done += gap;
            }
            let position = offset + done as u64;
            let stop = entry_end.min(end);
            if stop <= position {
                continue;
            }
            let count = (stop - position) as usize;
            let from = (position - entry_start) as usize;
            let held = page.bytes().get(from..).unwrap_or_default();
            let copied = held.len().min(count);
            buf[done..done + copied].copy_from_slice(&held[..copied]);
            buf[done + copied..done + count].fill(0);
            done += count;
        }
        buf[done..].fill(0);
        len
    }

    /// How many bytes of new pages a write of `len` bytes at `offset` needs (the pages of
    /// the range no entry covers: a shared page is already charged), or `EFBIG` if the write
    /// would end past the largest file size. `len` must not be 0.
    pub(super) fn bytes_needed_for_write(&self, offset: u64, len: usize) -> Result<u64> {
        let end = write_end(offset, len)?;
        let first = offset / PAGE_BYTES;
        let last = (end - 1) / PAGE_BYTES;
        Ok((last - first + 1 - self.covered_pages(first, last)) * PAGE_BYTES)
    }

    /// Writes `buf` at `offset`, allocating the pages it touches and copying the shared pages
    /// it touches. The caller has checked the size with [`FileData::bytes_needed_for_write`]
    /// and reserved that capacity.
    ///
    /// On `ENOMEM` nothing is written and no page is added or copied.
    pub(super) fn write(&mut self, offset: u64, buf: &[u8]) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let end = write_end(offset, buf.len())?;
        let first = offset / PAGE_BYTES;
        let last = (end - 1) / PAGE_BYTES;
        // Make every page that is not owned yet first, so a failed allocation leaves the file
        // untouched: straight from `buf` when the write covers the whole page, else zeros for
        // a hole or a copy of a shared page (the write's part goes in below).
        let mut new_pages = Vec::new();
        let mut index = first;
        while index <= last {
            let page = match (
                self.entry_covering(index),
                whole_page_of(offset, buf, index),
            ) {
                (Some((_, Page::Owned(_))), _) => None,
                (_, Some(bytes)) => Some(Page::copied(bytes)?),
                (Some((key, Page::Shared(bytes))), None) => {
                    Some(Page::copy_of_shared(bytes, key, index)?)
                }
                (None, None) => Some(Page::zeroed()?),
            };
            if let Some(page) = page {
                new_pages.try_reserve(1)?;
                new_pages.push((index, page));
            }
            index += 1;
        }

        // Nothing fails from here on. Each part of `buf` goes into its page: a new one (in
        // `new_pages`, in page order like the parts) unless made from `buf` whole, or one the
        // file owned already.
        let mut made = new_pages.iter_mut().peekable();
        let mut done = 0;
        while done < buf.len() {
            let (index, within) = split(offset + done as u64);
            let chunk = (PAGE_SIZE - within).min(buf.len() - done);
            let part = &buf[done..done + chunk];
            done += chunk;
            let page = match made.next_if(|(new, _)| *new == index) {
                Some(_) if chunk == PAGE_SIZE => continue,
                Some((_, page)) => page,
                None => match self.pages.get_mut(&index) {
                    Some(page) => page,
                    // Every page in first..=last is owned or new.
                    None => return Err(Errno::EIO),
                },
            };
            let Page::Owned(bytes) = page else {
                return Err(Errno::EIO);
            };
            bytes[within..within + chunk].copy_from_slice(part);
        }
        for (index, page) in new_pages {
            self.cut_out(index, index);
            self.pages.insert(index, page);
        }
        self.size_bytes = self.size_bytes.max(end);
        Ok(())
    }

    /// Puts `bytes` at `offset` as a shared run instead of copying them, if they fill whole
    /// pages: `offset` is page-aligned, and `bytes` end on a page boundary or at or past the
    /// end of the file (so the zeros past them in their last page are right). Returns
    /// `Ok(false)` and changes nothing otherwise, for the caller to copy them. The caller has
    /// reserved what [`FileData::bytes_needed_for_write`] says, as for a write.
    ///
    /// Allocates nothing fallible, so it either happens whole or not at all.
    pub(super) fn write_shared(&mut self, offset: u64, bytes: &Bytes) -> Result<bool> {
        if bytes.is_empty() {
            return Ok(true);
        }
        let end = write_end(offset, bytes.len())?;
        let whole_pages = bytes.len().is_multiple_of(PAGE_SIZE) || end >= self.size_bytes;
        if !offset.is_multiple_of(PAGE_BYTES) || !whole_pages {
            return Ok(false);
        }
        let first = offset / PAGE_BYTES;
        let last = (end - 1) / PAGE_BYTES;
        self.cut_out(first, last);
        self.pages.insert(first, Page::Shared(bytes.clone()));
        self.size_bytes = self.size_bytes.max(end);
        Ok(true)
    }

    /// Removes what covers pages `first..=last`, keeping the parts of shared runs outside
    /// that range (split off as runs of their own).
    fn cut_out(&mut self, first: u64, last: u64) {
        let start = self.first_key_from(first);
        let keys: Vec<u64> = self
            .pages
            .range(start..=last)
            .map(|(&key, _)| key)
            .collect();
        for key in keys {
            let Some(page) = self.pages.remove(&key) else {
                continue;
            };
            let Page::Shared(bytes) = page else { continue };
            let pages_before = first.saturating_sub(key);
            if pages_before > 0 {
                let keep = bytes.slice_within(0..page_offset(pages_before));
                self.pages.insert(key, Page::Shared(keep));
            }
            let pages_to_after = last + 1 - key;
            let after = bytes.slice_within(page_offset(pages_to_after)..bytes.len());
            if !after.is_empty() {
                self.pages.insert(last + 1, Page::Shared(after));
            }
        }
    }

    /// Sets the size. Shrinking frees the pages past the end and zeroes the tail of the new
    /// last page (a shared run is cut to end there); growing adds a hole, which needs no
    /// page. Returns the bytes of pages freed.
    pub(super) fn set_size(&mut self, size_bytes: u64) -> Result<u64> {
        if size_bytes > MAX_FILE_BYTES {
            return Err(Errno::EFBIG);
        }
        if size_bytes >= self.size_bytes {
            self.size_bytes = size_bytes;
            return Ok(0);
        }
        // Pages `0..kept_pages` still hold bytes of the file.
        let kept_pages = size_bytes.div_ceil(PAGE_BYTES);
        let mut freed_pages = 0;
        if let Some((&key, page)) = self.pages.range_mut(..kept_pages).next_back() {
            let before = page.page_count();
            // The bytes of the entry that stay in the file.
            let keep = usize::try_from(size_bytes - key * PAGE_BYTES).unwrap_or(usize::MAX);
            match page {
                Page::Owned(bytes) => {
                    if let Some(tail) = bytes.get_mut(keep..) {
                        tail.fill(0);
                    }
                }
                Page::Shared(bytes) => *bytes = bytes.slice_within(0..keep),
            }
            freed_pages += before - page.page_count();
        }
        // `split_off` keeps the entries from `kept_pages` on in the returned map, dropped here.
        let dropped = self.pages.split_off(&kept_pages);
        freed_pages += dropped.values().map(Page::page_count).sum::<u64>();
        self.size_bytes = size_bytes;
        Ok(freed_pages * PAGE_BYTES)
    }
}

/// The byte offset of page `pages` of a run (saturating: a run is never that long).
fn page_offset(pages: u64) -> usize {
    usize::try_from(pages.saturating_mul(PAGE_BYTES)).unwrap_or(usize::MAX)
}

/// The end of a write of `len` bytes at `offset`, or `EFBIG` past the largest file size.
/// The part of `buf`, written at `offset`, that falls in page `index`, if it covers the whole
/// page.
fn whole_page_of(offset: u64, buf: &[u8], index: u64) -> Option<&[u8]> {
    let page_start = index.checked_mul(PAGE_BYTES)?;
    let from = usize::try_from(page_start.checked_sub(offset)?).ok()?;
    buf.get(from..from.checked_add(PAGE_SIZE)?)
}

fn write_end(offset: u64, len: usize) -> Result<u64> {
    offset
        .checked_add(len as u64)
        .filter(|end| *end <= MAX_FILE_BYTES)
        .ok_or(Errno::EFBIG)
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
        assert_eq!(
            data.bytes_needed_for_write(100, payload.len()),
            Ok(4 * PAGE_BYTES)
        );
        data.write(100, &payload).unwrap();
        assert_eq!(data.bytes_needed_for_write(0, 4 * PAGE_SIZE), Ok(0));
        assert_eq!(
            data.bytes_needed_for_write(0, 5 * PAGE_SIZE),
            Ok(PAGE_BYTES)
        );
        let mut buf = vec![0; payload.len()];
        assert_eq!(data.read(100, &mut buf), payload.len());
        assert_eq!(buf, payload);
        // A read that starts inside and runs past the end stops at the end.
        assert_eq!(data.read(data.size_bytes() - 2, &mut buf), 2);
        assert_eq!(data.read(data.size_bytes(), &mut buf), 0);
        assert_eq!(data.read(u64::MAX, &mut buf), 0);
    }

    #[test]
    fn a_write_over_whole_pages_fills_them_from_the_buffer() {
        let mut data = FileData::default();
        // A hole, then an owned page, then a shared one, each wholly rewritten (and the
        // write's ragged ends in partly written pages).
        data.write(PAGE_BYTES, &[7; 10]).unwrap();
        let pattern = |len: usize, key: u8| -> Vec<u8> {
            (0..len).map(|i| (i % 251) as u8 ^ key | 1).collect()
        };
        let shared = Bytes::from_vec(pattern(PAGE_SIZE, 3));
        assert_eq!(data.write_shared(2 * PAGE_BYTES, &shared), Ok(true));
        let payload = pattern(4 * PAGE_SIZE, 9);
        let offset = 100;
        data.write(offset, &payload).unwrap();
        let mut expected = vec![0; offset as usize];
        expected.extend_from_slice(&payload);
        let mut buf = vec![0; expected.len()];
        assert_eq!(data.read(0, &mut buf), expected.len());
        assert_eq!(buf, expected);
        assert_eq!(data.allocated_bytes(), 5 * PAGE_BYTES);
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
        assert_eq!(
            data.bytes_needed_for_write(MAX_FILE_BYTES, 1),
            Err(Errno::EFBIG)
        );
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

/// Shared runs ([`Page::Shared`]): every result is the one a full copy would give.
#[cfg(test)]
mod shared_tests;
