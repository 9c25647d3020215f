//! What an image layer costs in heap per entry, counted by an instrumented global allocator:
//! at most 64 bytes an entry beyond its name's bytes (file data stays in the layer's bytes),
//! what [`ImageLayerFs::heap_bytes`] reports, and a directory the archive only implies costs
//! no more than one it lists.
//!
//! The counts are the whole process's, so this binary holds one test, which runs the checks
//! one after the other with nothing else running.

use std::alloc::System;
use std::sync::Arc;

use overlay_core::image::{Bytes, EntryKind, ImageLayerFs, NewEntry, TarWriter};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The goal: heap per entry, beyond the bytes of its name.
const MAX_HEAP_PER_ENTRY: u64 = 64;

/// Syllables of made-up package names, for names of realistic lengths.
const SYLLABLES: [&str; 16] = [
    "lib", "gnu", "tls", "x11", "core", "util", "sys", "perl", "python3", "ssl", "ncurses", "z",
    "bz2", "lzma", "systemd", "apt",
];

/// The `index`-th package name, e.g. `libcore-utils3`.
fn package(index: usize) -> String {
    let first = SYLLABLES[index % SYLLABLES.len()];
    let second = SYLLABLES[(index / SYLLABLES.len() * 7 + 3) % SYLLABLES.len()];
    format!("{first}{second}-{}", index % 97)
}

/// A Debian-like layer: packages with their documentation, libraries, binaries and manual
/// pages; some symlinks and hard links; locale directories only implied by their files.
fn debian_like_layer() -> Vec<u8> {
    let mut tar = TarWriter::new();
    let mut add = |path: &str, kind: EntryKind, data: &[u8]| {
        let mode = match kind {
            EntryKind::Directory => 0o755,
            _ => 0o644,
        };
        tar.append(&NewEntry::new(path, kind, mode), data)
            .expect("tar entry");
    };
    for dir in [
        "etc",
        "usr",
        "usr/bin",
        "usr/lib",
        "usr/lib/x86_64-linux-gnu",
        "usr/share",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/man/man1",
        "var",
        "var/lib",
        "var/lib/dpkg",
        "var/lib/dpkg/info",
    ] {
        add(dir, EntryKind::Directory, &[]);
    }
    for index in 0..600 {
        let name = package(index);
        let doc = format!("usr/share/doc/{name}");
        add(&doc, EntryKind::Directory, &[]);
        add(&format!("{doc}/copyright"), EntryKind::Regular, b"GPL");
        add(
            &format!("{doc}/changelog.Debian.gz"),
            EntryKind::Regular,
            b"x",
        );
        let library = format!("usr/lib/x86_64-linux-gnu/{name}.so.{}.2.0", index % 7);
        add(&library, EntryKind::Regular, b"\x7fELF");
        add(
            &format!("usr/lib/x86_64-linux-gnu/{name}.so.{}", index % 7),
            EntryKind::Symlink {
                target: library.rsplit('/').next().unwrap_or_default().to_string(),
            },
            &[],
        );
        add(&format!("usr/bin/{name}"), EntryKind::Regular, b"#!");
        add(
            &format!("usr/share/man/man1/{name}.1.gz"),
            EntryKind::Regular,
            b"x",
        );
        add(
            &format!("var/lib/dpkg/info/{name}.md5sums"),
            EntryKind::Regular,
            b"0",
        );
        if index % 10 == 0 {
            add(
                &format!("usr/bin/{name}-alias"),
                EntryKind::HardLink {
                    target: format!("usr/bin/{name}"),
                },
                &[],
            );
        }
    }
    // Locale directories the archive never lists.
    for language in 0..80 {
        add(
            &format!("usr/share/locale/l{language:02}_XX/LC_MESSAGES/coreutils.mo"),
            EntryKind::Regular,
            b"mo",
        );
    }
    tar.finish().expect("tar")
}

/// `count` directories, each with one file; listed in the archive or only implied.
fn directories_layer(count: usize, listed: bool) -> Vec<u8> {
    let mut tar = TarWriter::new();
    for index in 0..count {
        let dir = format!("usr/share/doc/package-{index:05}");
        if listed {
            tar.append(&NewEntry::new(&dir, EntryKind::Directory, 0o755), &[])
                .expect("tar entry");
        }
        tar.append(
            &NewEntry::new(&format!("{dir}/copyright"), EntryKind::Regular, 0o644),
            b"GPL",
        )
        .expect("tar entry");
    }
    tar.finish().expect("tar")
}

/// The layer of `archive` and the heap its parse left allocated (the archive's own buffer
/// made before counting).
fn parse_counted(archive: Vec<u8>) -> (Arc<ImageLayerFs>, u64) {
    let bytes = Bytes::from_vec(archive);
    let region = Region::new(GLOBAL);
    let fs = ImageLayerFs::parse(bytes).expect("image layer");
    let change = region.change();
    // Growth and shrinking by `realloc` are in these two already.
    let kept = change.bytes_allocated as i64 - change.bytes_deallocated as i64;
    (fs, u64::try_from(kept).unwrap_or(0))
}

#[test]
fn an_image_entry_costs_at_most_64_bytes_of_heap() {
    let (fs, heap) = parse_counted(debian_like_layer());
    let entries = fs.entries();
    assert!(entries > 5000, "{entries} entries");
    let names = fs.name_bytes();
    println!(
        "debian-like layer: {entries} entries, {heap} bytes of heap, {names} of them names: \
         {:.1} per entry, {:.1} beyond its name",
        heap as f64 / entries as f64,
        (heap - names) as f64 / entries as f64
    );
    assert_eq!(fs.heap_bytes(), heap, "the layer reports what it holds");
    assert!(
        heap - names <= MAX_HEAP_PER_ENTRY * entries,
        "{heap} bytes, {names} of names, for {entries} entries"
    );
    drop(fs);

    // An implied directory costs what a listed one does, and no more.
    let (listed, listed_heap) = parse_counted(directories_layer(3000, true));
    let (implied, implied_heap) = parse_counted(directories_layer(3000, false));
    assert_eq!(listed.entries(), implied.entries());
    println!(
        "3000 directories of one file: listed {listed_heap} bytes, implied {implied_heap} bytes \
         of heap ({} entries)",
        listed.entries()
    );
    assert!(
        implied_heap <= listed_heap,
        "implied {implied_heap} bytes, listed {listed_heap}"
    );
    assert!(implied_heap - implied.name_bytes() <= MAX_HEAP_PER_ENTRY * implied.entries());
}
