//! What the union's common paths allocate, counted by an instrumented global allocator: the
//! performance properties that do not depend on the machine or on the allocator a kernel
//! brings. Warm lookups (found or not) and `stat`s allocate nothing; a cold lookup of a file
//! in an image layer allocates its node, the layer's inode and its name, and nothing else;
//! listing a directory of one layer allocates nothing
//! (it is listed straight from the layer), and listing a merged one again one vector per
//! batch handed out; a 1-byte write into a large lower file copies one page, not the file.
//!
//! The counts are the whole process's, so this binary holds one test, which runs the checks
//! one after the other with nothing else running.

mod support;

use std::alloc::System;
use std::sync::Arc;

use overlay_core::image::{Bytes, EntryKind, ImageLayerFs, NewEntry, TarWriter};
use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer, WhiteoutEncoding};
use overlay_core::posix::Namespace;
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::vfs::{Credentials, FileSystem, OpenFlags};
use stats_alloc::{Region, Stats, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Directories of the base layer, and files in each.
const DIRS: usize = 20;
const FILES: usize = 5;
/// Files of a directory too large for one batch of a merged listing (64 entries): `big` in
/// the base layer alone, `wide` in both layers.
const BIG_DIR_FILES: usize = 200;
/// Size of the lower file the copy-up check writes into.
const LARGE_FILE_BYTES: usize = 4 << 20;

/// The base layer: `d<i>/f<j>` for every directory and file, `big/f<j>`, `wide/f<j>` and
/// `large`.
fn base_layer() -> Layer {
    let mut tar = TarWriter::new();
    let mut append = |path: &str, kind: EntryKind, data: &[u8]| {
        let mode = if kind == EntryKind::Directory {
            0o755
        } else {
            0o644
        };
        tar.append(&NewEntry::new(path, kind, mode), data)
            .expect("tar entry");
    };
    for dir in 0..DIRS {
        append(&format!("d{dir}"), EntryKind::Directory, &[]);
        for file in 0..FILES {
            append(&format!("d{dir}/f{file}"), EntryKind::Regular, b"data");
        }
    }
    for dir in ["big", "wide"] {
        append(dir, EntryKind::Directory, &[]);
        for file in 0..BIG_DIR_FILES {
            append(&format!("{dir}/f{file}"), EntryKind::Regular, b"data");
        }
    }
    append("large", EntryKind::Regular, &vec![7u8; LARGE_FILE_BYTES]);
    image_layer(tar)
}

/// A layer on top that adds a file to `d0` and `wide` (so they are merged from two layers)
/// and deletes `d0/f0`.
fn top_layer() -> Layer {
    let mut tar = TarWriter::new();
    for (path, kind) in [
        ("d0", EntryKind::Directory),
        ("d0/new", EntryKind::Regular),
        ("d0/.wh.f0", EntryKind::Regular),
        ("wide", EntryKind::Directory),
        ("wide/new", EntryKind::Regular),
    ] {
        tar.append(&NewEntry::new(path, kind, 0o755), b"")
            .expect("tar entry");
    }
    image_layer(tar)
}

fn image_layer(tar: TarWriter) -> Layer {
    let archive = tar.finish().expect("tar");
    let fs = ImageLayerFs::parse(Bytes::from_vec(archive)).expect("image layer");
    Layer::with_encoding(fs, WhiteoutEncoding::Oci)
}

/// A fresh union of the two layers under an empty tmpfs upper.
fn union(lowers: &[Layer]) -> Arc<OverlayFs> {
    let upper = UpperLayer::new(TmpFs::new(TmpFsOptions::default())).expect("upper");
    OverlayFs::new(lowers.to_vec(), Some(upper), OverlayOptions::default()).expect("union")
}

/// What running `f` allocated.
fn allocations(f: impl FnOnce()) -> Stats {
    let region = Region::new(GLOBAL);
    f();
    region.change()
}

#[test]
fn common_paths_allocate_what_they_must() {
    let lowers = [top_layer(), base_layer()];
    let creds = Credentials::root();
    let fs = union(&lowers);
    let ns = Namespace::with_filesystem(fs.clone());
    let root = fs.root();

    // Cold lookups of the files of a listed directory of one layer: per file, its node, the
    // layer's inode (an image layer makes it on lookup rather than keep one per entry) and
    // the name (an image layer keeps names in its bytes, not as `Arc`s). Besides: the directory's lookup cache, made at the first (2 blocks), and the union's
    // table of nodes, doubling as it fills (8 times at most for 200 more nodes).
    let dir = root.lookup("big").expect("big");
    let files = support::names(&dir);
    assert_eq!(files.len(), BIG_DIR_FILES);
    let mut nodes = Vec::with_capacity(files.len());
    let cold = allocations(|| {
        for name in &files {
            nodes.push(dir.lookup(name).expect("cold lookup"));
        }
    });
    let tables = cold.allocations.checked_sub(3 * BIG_DIR_FILES);
    assert!(
        tables.is_some_and(|tables| (2..=2 + 8).contains(&tables)),
        "{BIG_DIR_FILES} files: {cold:?}"
    );
    let tables = tables.unwrap_or_default();
    assert_eq!(cold.reallocations, 0, "{cold:?}");
    assert_eq!(
        cold.deallocations,
        tables - 2,
        "only the outgrown tables: {cold:?}"
    );

    // Warm: the same lookups, their metadata, and `lstat` of the same paths, found or not,
    // in that directory and in one merged from two layers.
    let paths: Vec<String> = files.iter().map(|name| format!("/big/{name}")).collect();
    let merged: Vec<String> = support::names(&root.lookup("d0").expect("d0"))
        .iter()
        .map(|name| format!("/d0/{name}"))
        .collect();
    assert!(merged.iter().any(|path| path == "/d0/new"), "{merged:?}");
    assert!(!merged.iter().any(|path| path == "/d0/f0"), "{merged:?}");
    let missing = ["/big/none", "/d1/none", "/d0/none", "/d0/f0", "/nowhere"];
    for path in paths.iter().chain(&merged) {
        ns.lstat(&creds, path).expect("cold lstat");
    }
    for path in missing {
        assert!(ns.lstat(&creds, path).is_err(), "{path} found");
    }
    let warm = allocations(|| {
        for name in &files {
            let node = dir.lookup(name).expect("warm lookup");
            node.metadata().expect("metadata");
        }
        for path in paths.iter().chain(&merged) {
            ns.lstat(&creds, path).expect("warm lstat");
        }
        for path in missing {
            assert!(ns.lstat(&creds, path).is_err(), "{path} found");
        }
    });
    assert_eq!(warm.allocations + warm.reallocations, 0, "{warm:?}");

    // Listing a directory of one layer: straight from the layer, nothing kept or copied.
    // Listing a merged directory listed before: one vector per batch of entries handed out
    // (the union does not hold its lock while the caller takes them), however large it is.
    let wide = root.lookup("wide").expect("wide");
    assert_eq!(support::names(&wide).len(), BIG_DIR_FILES + 1);
    for (dir, entries, batches) in [
        (&dir, BIG_DIR_FILES, 0),
        (&wide, BIG_DIR_FILES + 1, (BIG_DIR_FILES + 1).div_ceil(64)),
    ] {
        let mut listed = 0;
        let again = allocations(|| {
            dir.readdir(0, &mut |_| {
                listed += 1;
                true
            })
            .expect("readdir");
        });
        assert_eq!(listed, entries);
        assert_eq!(again.allocations, batches, "{again:?}");
        assert_eq!(again.reallocations, 0, "{again:?}");
    }

    // A 1-byte write into a 4 MiB lower file: the copy-up shares the lower bytes and copies
    // the one page written, so it allocates a few KiB, not the file.
    let file = ns
        .open(&creds, "/large", OpenFlags::WRITE, 0)
        .expect("open for writing");
    let copy_up = allocations(|| {
        assert_eq!(file.pwrite(0, b"x"), Ok(1));
    });
    assert!(
        copy_up.bytes_allocated < 64 << 10,
        "{} bytes allocated for a 1-byte write into a {} byte file: {copy_up:?}",
        copy_up.bytes_allocated,
        LARGE_FILE_BYTES
    );
}
