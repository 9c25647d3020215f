use alloc::{sync::Arc, vec, vec::Vec};

use crate::error::Errno;
use crate::image::{Bytes, EntryKind, ImageLayerFs, NewEntry, TarWriter};
use crate::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer, WhiteoutEncoding};
use crate::tmpfs::{TmpFs, TmpFsOptions, PAGE_SIZE};
use crate::vfs::{FileSystem, Inode, OpenFlags};

const PAGE_BYTES: u64 = PAGE_SIZE as u64;

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 253) as u8 | 1).collect()
}

/// An image layer with `/etc/big` holding `big`, and the tar it was parsed from.
fn image_layer(big: &[u8]) -> (Arc<ImageLayerFs>, Vec<u8>) {
    let mut tar = TarWriter::new();
    tar.append(&NewEntry::new("etc", EntryKind::Directory, 0o755), &[])
        .unwrap();
    tar.append(&NewEntry::new("etc/big", EntryKind::Regular, 0o644), big)
        .unwrap();
    tar.append(&NewEntry::new("etc/empty", EntryKind::Regular, 0o600), &[])
        .unwrap();
    let archive = tar.finish().unwrap();
    let fs = ImageLayerFs::parse(Bytes::from_vec(archive.clone())).unwrap();
    (fs, archive)
}

struct Setup {
    lower: Arc<ImageLayerFs>,
    archive: Vec<u8>,
    upper: Arc<TmpFs>,
    union: Arc<OverlayFs>,
}

fn setup(big: &[u8], capacity_bytes: Option<u64>) -> Setup {
    let (lower, archive) = image_layer(big);
    let upper = TmpFs::new(TmpFsOptions {
        capacity_bytes,
        ..TmpFsOptions::default()
    });
    let layer = Layer::with_encoding(lower.clone(), WhiteoutEncoding::Oci);
    let union = OverlayFs::new(
        vec![layer],
        Some(UpperLayer::new(upper.clone()).unwrap()),
        OverlayOptions::default(),
    )
    .unwrap();
    Setup {
        lower,
        archive,
        upper,
        union,
    }
}

fn read_all(file: &dyn Inode) -> Vec<u8> {
    let size = file.metadata().unwrap().size as usize;
    let mut buf = vec![0xAA; size + 7];
    let mut done = 0;
    loop {
        let n = file.read_at(done as u64, &mut buf[done..]).unwrap();
        if n == 0 {
            break;
        }
        done += n;
    }
    buf.truncate(done);
    buf
}

impl Setup {
    fn big(&self) -> Arc<dyn Inode> {
        self.union
            .root()
            .lookup("etc")
            .unwrap()
            .lookup("big")
            .unwrap()
    }

    /// The lower layer is exactly the tar it was parsed from, and its file unchanged.
    fn check_lower(&self, big: &[u8]) {
        assert_eq!(self.lower.bytes().as_slice(), &self.archive[..]);
        let lower_big = self
            .lower
            .root()
            .lookup("etc")
            .unwrap()
            .lookup("big")
            .unwrap();
        assert_eq!(read_all(&*lower_big), big);
        assert_eq!(lower_big.shared_data().unwrap().as_slice(), big);
    }
}

#[test]
fn image_files_offer_their_bytes_and_directories_do_not() {
    let big = content(3 * PAGE_SIZE);
    let s = setup(&big, None);
    let etc = s.lower.root().lookup("etc").unwrap();
    let shared = etc.lookup("big").unwrap().shared_data().unwrap();
    assert!(
        shared.same_buffer(s.lower.bytes()),
        "a view of the RAM disk, no copy"
    );
    assert!(etc.shared_data().is_none());
    assert!(etc
        .lookup("empty")
        .unwrap()
        .shared_data()
        .unwrap()
        .is_empty());
    // The union's own files never offer theirs: they can change.
    assert!(s.big().shared_data().is_none());
}

#[test]
fn first_write_into_a_large_lower_file_reads_back_as_a_full_copy() {
    let big = content(64 * PAGE_SIZE + 100);
    let s = setup(&big, None);
    let file = s.big();
    file.open(OpenFlags::WRITE).unwrap();
    assert_eq!(file.write_at(0, b"Q"), Ok(1));
    let mut expected = big.clone();
    expected[0] = b'Q';
    assert_eq!(read_all(&*file), expected);
    assert_eq!(file.metadata().unwrap().size, big.len() as u64);
    // Charged like a full copy: 65 pages (the last one partly used).
    assert_eq!(s.upper.used_bytes(), 65 * PAGE_BYTES);
    // The upper file holds the same bytes as seen from the upper layer itself.
    let upper_big = s
        .upper
        .root()
        .lookup("upper")
        .unwrap()
        .lookup("etc")
        .unwrap();
    assert_eq!(read_all(&*upper_big.lookup("big").unwrap()), expected);
    s.check_lower(&big);
}

#[test]
fn writes_truncation_and_growth_after_copy_up_match_a_full_copy() {
    let big = content(10 * PAGE_SIZE + 5);
    let s = setup(&big, None);
    let file = s.big();
    let mut model = big.clone();
    let write = |model: &mut Vec<u8>, offset: usize, bytes: &[u8]| {
        assert_eq!(file.write_at(offset as u64, bytes), Ok(bytes.len()));
        if model.len() < offset + bytes.len() {
            model.resize(offset + bytes.len(), 0);
        }
        model[offset..offset + bytes.len()].copy_from_slice(bytes);
        assert_eq!(read_all(&*file), *model);
    };
    // Inside a page, across page boundaries, the last partial page, past the end.
    write(&mut model, 3 * PAGE_SIZE + 9, b"inside");
    write(&mut model, PAGE_SIZE - 3, b"across");
    write(&mut model, 10 * PAGE_SIZE + 2, b"end of the file");
    write(&mut model, 13 * PAGE_SIZE, b"past a hole");
    // Truncate into the shared pages, then grow again: zeros, not the old bytes.
    file.set_len(4 * PAGE_BYTES + 1).unwrap();
    model.truncate(4 * PAGE_SIZE + 1);
    assert_eq!(read_all(&*file), model);
    file.set_len(8 * PAGE_BYTES).unwrap();
    model.resize(8 * PAGE_SIZE, 0);
    assert_eq!(read_all(&*file), model);
    write(&mut model, 6 * PAGE_SIZE, b"in the hole");
    s.check_lower(&big);
    // Only what is still in the file is charged: 5 pages kept, 1 written in the hole.
    assert_eq!(s.upper.used_bytes(), 6 * PAGE_BYTES);
}

#[test]
fn truncate_to_zero_and_open_with_truncate_share_nothing() {
    let big = content(4 * PAGE_SIZE);
    let s = setup(&big, None);
    let file = s.big();
    file.open(OpenFlags::WRITE | OpenFlags::TRUNCATE).unwrap();
    file.set_len(0).unwrap();
    assert_eq!(s.upper.used_bytes(), 0);
    assert!(read_all(&*file).is_empty());
    // An empty lower file copies up as an empty file.
    let empty = s
        .union
        .root()
        .lookup("etc")
        .unwrap()
        .lookup("empty")
        .unwrap();
    empty.write_at(0, b"new").unwrap();
    assert_eq!(read_all(&*empty), b"new");
    s.check_lower(&big);
}

#[test]
fn enospc_during_a_shared_copy_up_leaves_nothing_behind() {
    // The upper holds 8 pages; the file needs 9, as a full copy would.
    let big = content(9 * PAGE_SIZE);
    let s = setup(&big, Some(8 * PAGE_BYTES));
    let file = s.big();
    assert_eq!(file.write_at(0, b"x"), Err(Errno::ENOSPC));
    assert_eq!(file.open(OpenFlags::WRITE), Err(Errno::ENOSPC));
    assert_eq!(
        read_all(&*file),
        big,
        "the union still shows the lower file"
    );
    let upper_dir = s.upper.root().lookup("upper").unwrap();
    if let Ok(etc) = upper_dir.lookup("etc") {
        assert_eq!(etc.lookup("big").err(), Some(Errno::ENOENT));
    }
    let mut staged = 0;
    let work = s.upper.root().lookup("work").unwrap();
    work.readdir(0, &mut |_| {
        staged += 1;
        true
    })
    .unwrap();
    assert_eq!(staged, 0, "nothing left in the work directory");
    assert_eq!(s.upper.used_bytes(), 0);
    // With exactly enough room it works, and the first write needs no more.
    let s = setup(&big, Some(9 * PAGE_BYTES));
    let file = s.big();
    assert_eq!(file.write_at(PAGE_BYTES, b"x"), Ok(1));
    assert_eq!(file.write_at(9 * PAGE_BYTES, b"x"), Err(Errno::ENOSPC));
    s.check_lower(&big);
}
