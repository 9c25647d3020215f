use alloc::{sync::Arc, vec, vec::Vec};

use super::*;
use crate::tmpfs::{TmpFs, TmpFsOptions};
use crate::vfs::{FileSystem, FileType, Inode, NewNode};

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ seed | 1)
        .collect::<Vec<u8>>()
}

fn read_all(data: &FileData) -> Vec<u8> {
    let mut buf = vec![0xAA; data.size_bytes() as usize + 10];
    let len = data.read(0, &mut buf);
    buf.truncate(len);
    buf
}

/// Applies a write to both the file and its model, checking the charge balances.
struct Checked {
    data: FileData,
    model: Vec<u8>,
    charged_bytes: u64,
}

impl Checked {
    fn new() -> Checked {
        Checked {
            data: FileData::default(),
            model: Vec::new(),
            charged_bytes: 0,
        }
    }

    fn model_write(&mut self, offset: usize, bytes: &[u8]) {
        if self.model.len() < offset + bytes.len() {
            self.model.resize(offset + bytes.len(), 0);
        }
        self.model[offset..offset + bytes.len()].copy_from_slice(bytes);
    }

    fn write(&mut self, offset: usize, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let needed = self
            .data
            .bytes_needed_for_write(offset as u64, bytes.len())
            .unwrap();
        self.data.write(offset as u64, bytes).unwrap();
        self.charged_bytes += needed;
        self.model_write(offset, bytes);
        self.check();
    }

    /// Returns whether the bytes were shared (else nothing changed).
    fn write_shared(&mut self, offset: usize, bytes: &Bytes) -> bool {
        let needed = self
            .data
            .bytes_needed_for_write(offset as u64, bytes.len().max(1))
            .unwrap();
        let before = self.data.allocated_bytes();
        if !self.data.write_shared(offset as u64, bytes).unwrap() {
            assert_eq!(self.data.allocated_bytes(), before);
            self.check();
            return false;
        }
        if !bytes.is_empty() {
            self.charged_bytes += needed;
            self.model_write(offset, bytes.as_slice());
        }
        self.check();
        true
    }

    fn set_size(&mut self, size: usize) {
        self.charged_bytes -= self.data.set_size(size as u64).unwrap();
        self.model.resize(size, 0);
        self.check();
    }

    fn check(&self) {
        assert_eq!(self.data.size_bytes(), self.model.len() as u64);
        assert_eq!(read_all(&self.data), self.model);
        assert_eq!(self.data.allocated_bytes(), self.charged_bytes);
        // Every read window, including ones that start and end inside pages and runs.
        for (offset, len) in [(1, 5000), (4095, 2), (4096, 4096), (8191, 9000)] {
            let mut buf = vec![0x55; len];
            let n = self.data.read(offset as u64, &mut buf);
            let expected = self.model.get(offset..).unwrap_or_default();
            let expected = &expected[..expected.len().min(len)];
            assert_eq!(&buf[..n], expected, "read of {len} at {offset}");
        }
    }
}

#[test]
fn a_shared_run_reads_like_a_copy_and_costs_one_entry() {
    let source = pattern(3 * PAGE_SIZE + 100, 7);
    let bytes = Bytes::from_vec(source.clone());
    let mut file = Checked::new();
    assert!(file.write_shared(0, &bytes));
    assert_eq!(file.data.pages.len(), 1, "one entry however long");
    assert_eq!(file.data.allocated_bytes(), 4 * PAGE_BYTES);
    assert_eq!(file.data.owned_bytes(), 0);
    assert_eq!(bytes.as_slice(), &source[..]);
}

#[test]
fn a_write_into_a_shared_page_copies_that_page_only() {
    let source = pattern(4 * PAGE_SIZE, 3);
    let bytes = Bytes::from_vec(source.clone());
    let mut file = Checked::new();
    file.write_shared(0, &bytes);
    file.write(2 * PAGE_SIZE + 17, b"x");
    assert_eq!(file.data.owned_bytes(), PAGE_BYTES);
    assert_eq!(file.data.allocated_bytes(), 4 * PAGE_BYTES);
    // The first and last pages of the run, then across a page boundary.
    file.write(0, b"first");
    file.write(4 * PAGE_SIZE - 1, b"z");
    file.write(PAGE_SIZE - 2, b"boundary");
    assert_eq!(file.data.owned_bytes(), 4 * PAGE_BYTES);
    // Past the end: a hole, then a new page.
    file.write(6 * PAGE_SIZE + 1, b"tail");
    assert_eq!(file.data.allocated_bytes(), 5 * PAGE_BYTES);
    assert_eq!(
        bytes.as_slice(),
        &source[..],
        "the shared bytes never change"
    );
}

#[test]
fn truncating_into_a_run_cuts_it_and_growing_reads_zeros() {
    let source = pattern(5 * PAGE_SIZE, 9);
    let bytes = Bytes::from_vec(source.clone());
    let mut file = Checked::new();
    file.write_shared(0, &bytes);
    file.set_size(2 * PAGE_SIZE + 10);
    assert_eq!(file.data.allocated_bytes(), 3 * PAGE_BYTES);
    file.set_size(7 * PAGE_SIZE);
    assert_eq!(
        file.data.allocated_bytes(),
        3 * PAGE_BYTES,
        "growing adds a hole"
    );
    file.write(2 * PAGE_SIZE + 5, b"in the cut page");
    file.set_size(PAGE_SIZE);
    file.set_size(0);
    assert_eq!(file.data.allocated_bytes(), 0);
    assert_eq!(bytes.as_slice(), &source[..]);
}

#[test]
fn only_whole_pages_are_shared() {
    let bytes = Bytes::from_vec(pattern(PAGE_SIZE + 10, 1));
    let mut file = Checked::new();
    file.write(0, &[1; 3 * PAGE_SIZE]);
    // Not page-aligned, or ending inside the file off a page boundary: copied instead.
    assert!(!file.write_shared(10, &bytes));
    assert!(!file.write_shared(0, &bytes));
    file.write(0, bytes.as_slice());
    // Ending on a page boundary: shared, replacing the owned pages it covers.
    let page = bytes.slice(0..PAGE_SIZE).unwrap();
    assert!(file.write_shared(PAGE_SIZE, &page));
    assert_eq!(file.data.owned_bytes(), 2 * PAGE_BYTES);
    // Ending at or past the end of the file: shared, its last page part zeros.
    assert!(file.write_shared(2 * PAGE_SIZE, &bytes));
    assert!(file.write_shared(5 * PAGE_SIZE, &bytes));
    assert_eq!(file.data.owned_bytes(), PAGE_BYTES);
    // Over the middle of a run: the run is split around it.
    let other = Bytes::from_vec(pattern(PAGE_SIZE, 200));
    let mut run = Checked::new();
    run.write_shared(0, &Bytes::from_vec(pattern(4 * PAGE_SIZE, 4)));
    assert!(run.write_shared(PAGE_SIZE, &other));
    assert_eq!(run.data.pages.len(), 3);
    assert!(run.write_shared(0, &Bytes::from_vec(Vec::new())));
}

#[test]
fn random_operations_match_a_full_copy() {
    let source = pattern(9 * PAGE_SIZE + 123, 5);
    let bytes = Bytes::from_vec(source.clone());
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    };
    for _ in 0..40 {
        let mut file = Checked::new();
        file.write_shared(0, &bytes);
        for _ in 0..30 {
            match next(5) {
                0 | 1 => {
                    let offset = next(12 * PAGE_SIZE);
                    let len = next(3 * PAGE_SIZE) + 1;
                    // No two bytes of a page alike, so a byte written to the wrong place
                    // shows (writes over whole pages take their own path).
                    let key = next(255) as u8;
                    let fill: Vec<u8> = (0..len).map(|i| (i % 251) as u8 ^ key).collect();
                    file.write(offset, &fill);
                }
                2 => {
                    let start = next(9) * PAGE_SIZE;
                    let end = (start + next(4 * PAGE_SIZE) + 1).min(bytes.len());
                    let part = bytes.slice_within(start..end);
                    file.write_shared(next(10) * PAGE_SIZE, &part);
                }
                3 => file.set_size(next(12 * PAGE_SIZE)),
                _ => file.set_size(file.model.len() + next(3 * PAGE_SIZE)),
            }
        }
    }
    assert_eq!(bytes.as_slice(), &source[..]);
}

fn tmpfs_file(capacity_bytes: Option<u64>) -> (Arc<TmpFs>, Arc<dyn Inode>) {
    let fs = TmpFs::new(TmpFsOptions {
        capacity_bytes,
        ..TmpFsOptions::default()
    });
    let file = fs
        .root()
        .create("f", &NewNode::new(FileType::Regular, 0o644, 0, 0))
        .unwrap();
    (fs, file)
}

#[test]
fn shared_pages_are_charged_like_copied_ones() {
    let bytes = Bytes::from_vec(pattern(4 * PAGE_SIZE, 2));
    // Too small for the copy: ENOSPC, and nothing changes, as for a copying write.
    let (fs, file) = tmpfs_file(Some(3 * PAGE_BYTES));
    assert_eq!(file.write_shared_at(0, &bytes), Err(Errno::ENOSPC));
    assert_eq!(file.write_at(0, bytes.as_slice()), Err(Errno::ENOSPC));
    assert_eq!((file.metadata().unwrap().size, fs.used_bytes()), (0, 0));
    // Room for it: charged in full; the first write into a shared page needs no more.
    let (fs, file) = tmpfs_file(Some(4 * PAGE_BYTES));
    assert_eq!(file.write_shared_at(0, &bytes), Ok(4 * PAGE_SIZE));
    assert_eq!(fs.used_bytes(), 4 * PAGE_BYTES);
    assert_eq!(file.write_at(PAGE_BYTES + 1, b"xy"), Ok(2));
    assert_eq!(file.write_at(4 * PAGE_BYTES, b"!"), Err(Errno::ENOSPC));
    let mut buf = vec![0; 4 * PAGE_SIZE];
    assert_eq!(file.read_at(0, &mut buf), Ok(4 * PAGE_SIZE));
    let mut expected = bytes.as_slice().to_vec();
    expected[PAGE_SIZE + 1..PAGE_SIZE + 3].copy_from_slice(b"xy");
    assert_eq!(buf, expected);
    // Truncation gives the shared pages' charge back; dropping the file, the rest.
    file.set_len(PAGE_BYTES).unwrap();
    assert_eq!(fs.used_bytes(), PAGE_BYTES);
    fs.root().unlink("f").unwrap();
    drop(file);
    assert_eq!(fs.used_bytes(), 0);
    // A read-only tmpfs refuses, like any write.
    let (fs, file) = tmpfs_file(None);
    fs.set_read_only(true);
    assert_eq!(file.write_shared_at(0, &bytes), Err(Errno::EROFS));
}

#[test]
fn the_default_write_shared_at_copies() {
    // A filesystem that keeps no shared bytes: the trait's default is a plain write.
    struct Plain(spin::Mutex<Vec<u8>>);
    impl Inode for Plain {
        fn metadata(&self) -> Result<crate::vfs::Metadata> {
            Err(Errno::ENOSYS)
        }
        fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize> {
            let mut data = self.0.lock();
            let offset = offset as usize;
            let len = data.len().max(offset + buf.len());
            data.resize(len, 0);
            data[offset..offset + buf.len()].copy_from_slice(buf);
            Ok(buf.len())
        }
        fn as_any(&self) -> &dyn core::any::Any {
            self
        }
    }
    let plain = Plain(spin::Mutex::new(Vec::new()));
    let bytes = Bytes::from_vec(b"shared".to_vec());
    assert_eq!(plain.write_shared_at(2, &bytes), Ok(6));
    assert_eq!(&plain.0.lock()[..], b"\0\0shared");
    assert!(plain.shared_data().is_none());
}
