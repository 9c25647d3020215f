//! The union under several host threads at once: many threads copying up the same lower file,
//! creates and unlinks in a merged directory while another thread lists it, renames racing
//! lookups. Each test runs a fixed number of iterations (no timing); what it checks holds for
//! every interleaving.
//!
//! `CONCURRENCY_ROUNDS=N` repeats each test N times (default 4; Miri runs use 1).

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::thread;

use overlay_core::overlay::Layer;
use overlay_core::posix::Namespace;
use overlay_core::tmpfs::TmpFsOptions;
use overlay_core::vfs::{Credentials, OpenFlags, RenameFlags};
use overlay_core::Errno;

fn rounds() -> usize {
    std::env::var("CONCURRENCY_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(if cfg!(miri) { 1 } else { 4 })
}

/// Threads and iterations, smaller under Miri, which is slow.
const WRITERS: usize = if cfg!(miri) { 3 } else { 8 };
const ITERATIONS: usize = if cfg!(miri) { 4 } else { 200 };

fn root() -> Credentials {
    Credentials::root()
}

/// A lower file of 3 pages and a bit, so a copy-up takes several chunks.
fn original() -> Vec<u8> {
    (b'a'..=b'z').cycle().take(3 * 4096 + 100).collect()
}

fn setup(extra: &[&str]) -> (Arc<overlay_core::overlay::OverlayFs>, Arc<Namespace>) {
    setup_over(extra, support::tmpfs_layer)
}

/// [`setup`], with the lower layer made by `layer` from its spec lines.
fn setup_over(
    extra: &[&str],
    layer: fn(&[String]) -> Layer,
) -> (Arc<overlay_core::overlay::OverlayFs>, Arc<Namespace>) {
    let big: String = original().into_iter().map(char::from).collect();
    let mut lines = vec![
        "d d".to_string(),
        format!("f d/big {big}"),
        "f d/keep1 k".to_string(),
        "f d/keep2 k".to_string(),
        "f d/a a-content".to_string(),
    ];
    lines.extend(extra.iter().map(|line| line.to_string()));
    let (fs, ns) = support::union_of(&[lines], layer, TmpFsOptions::default());
    (fs, Arc::new(ns))
}

/// Every thread opens the lower file for writing at once and writes its own byte at its own
/// offset, while readers (some holding handles opened before the copy-up) read it whole.
/// There is one copy-up: every write lands in the same copy; every read shows the original
/// bytes everywhere but at the writers' offsets, and there either the original byte or that
/// writer's (never a half-copied file, never zeros).
#[test]
fn many_threads_copy_up_one_lower_file() {
    for _ in 0..rounds() {
        let (fs, ns) = setup(&[]);
        let offsets: Vec<u64> = (0..WRITERS as u64).map(|index| index * 1500).collect();
        let early = ns
            .open(&root(), "/d/big", OpenFlags::READ, 0)
            .expect("open early");
        let barrier = Arc::new(Barrier::new(WRITERS * 2));
        let mut handles = Vec::new();
        for (index, &offset) in offsets.iter().enumerate() {
            let ns = ns.clone();
            let barrier = barrier.clone();
            handles.push(thread::spawn(move || {
                barrier.wait();
                let file = ns
                    .open(&root(), "/d/big", OpenFlags::WRITE, 0)
                    .expect("open");
                let byte = b'0' + index as u8;
                assert_eq!(file.pwrite(offset, &[byte]), Ok(1));
            }));
        }
        for _ in 0..WRITERS {
            let ns = ns.clone();
            let barrier = barrier.clone();
            let offsets = offsets.clone();
            handles.push(thread::spawn(move || {
                barrier.wait();
                for _ in 0..ITERATIONS / 20 + 1 {
                    let seen = support::read(&ns, "/d/big").expect("read");
                    check_mix(&seen, &offsets);
                }
            }));
        }
        for handle in handles {
            handle.join().expect("thread");
        }
        let mut expected = original();
        for (index, &offset) in offsets.iter().enumerate() {
            expected[offset as usize] = b'0' + index as u8;
        }
        assert_eq!(support::read(&ns, "/d/big").expect("read"), expected);
        // The handle opened read-only before the copy-up sees the copy (modern Linux).
        let mut through_early = vec![0u8; expected.len()];
        assert_eq!(early.pread(0, &mut through_early), Ok(expected.len()));
        assert_eq!(through_early, expected);
        // One copy in the upper layer, nothing left in the work directory.
        let upper = fs.upper().expect("upper");
        let d = upper.upper_dir().lookup("d").expect("upper /d");
        let mut names = Vec::new();
        d.readdir(0, &mut |entry| {
            names.push(entry.name.to_string());
            true
        })
        .expect("readdir");
        assert_eq!(names, ["big"]);
    }
}

/// `seen` is the original file with, at each writer's offset, the original byte or that
/// writer's.
fn check_mix(seen: &[u8], offsets: &[u64]) {
    let original = original();
    assert_eq!(
        seen.len(),
        original.len(),
        "a read saw a file of another size"
    );
    for (position, (&got, &was)) in seen.iter().zip(&original).enumerate() {
        match offsets
            .iter()
            .position(|&offset| offset as usize == position)
        {
            Some(index) => assert!(
                got == was || got == b'0' + index as u8,
                "byte {position}: {got}"
            ),
            None => assert_eq!(got, was, "byte {position} is neither old nor new"),
        }
    }
}

/// Threads create and unlink names in a merged directory while others list it. Names that
/// exist throughout are listed exactly once by every listing; every listed name is one that
/// could exist; the final listing is exact.
#[test]
fn create_and_unlink_while_listing() {
    churn_while_listing(false, support::tmpfs_layer);
}

/// The same over an image layer: `/d` is listed straight from it until the first change
/// gives it an upper directory, which happens while the listers run.
#[test]
fn create_and_unlink_while_listing_a_directory_of_an_image_layer() {
    churn_while_listing(false, support::image_layer);
}

/// The same, and no name is ever listed twice, even one removed and made again during the
/// listing (`docs/semantics.md`: "each name once"; Linux lists a merged directory from a snapshot
/// taken when the listing starts).
#[test]
fn no_name_listed_twice_while_names_come_and_go() {
    churn_while_listing(true, support::tmpfs_layer);
}

/// The same over an image layer (see above).
#[test]
fn no_name_listed_twice_in_a_directory_of_an_image_layer() {
    churn_while_listing(true, support::image_layer);
}

fn churn_while_listing(each_name_once: bool, layer: fn(&[String]) -> Layer) {
    for _ in 0..rounds() {
        let (_fs, ns) = setup_over(&[], layer);
        let churners = 3;
        let barrier = Arc::new(Barrier::new(churners + 2));
        let mut handles = Vec::new();
        for thread_index in 0..churners {
            let ns = ns.clone();
            let barrier = barrier.clone();
            handles.push(thread::spawn(move || {
                barrier.wait();
                for iteration in 0..ITERATIONS {
                    let name = format!("/d/t{thread_index}-{}", iteration % 5);
                    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
                    match ns.open(&root(), &name, flags, 0o644) {
                        Ok(_) => {}
                        Err(Errno::EEXIST) => ns.unlink(&root(), &name).expect("unlink"),
                        Err(errno) => panic!("create {name}: {errno}"),
                    }
                }
                // A lower file, removed and made again (whiteout, then over it).
                if thread_index == 0 {
                    for _ in 0..ITERATIONS / 10 {
                        ns.unlink(&root(), "/d/a").expect("unlink lower");
                        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
                        ns.open(&root(), "/d/a", flags, 0o644).expect("recreate");
                    }
                }
            }));
        }
        for _ in 0..2 {
            let ns = ns.clone();
            let barrier = barrier.clone();
            handles.push(thread::spawn(move || {
                barrier.wait();
                for _ in 0..ITERATIONS / 4 {
                    let names: Vec<String> = ns
                        .read_dir(&root(), "/d")
                        .expect("list")
                        .into_iter()
                        .map(|entry| String::from(&*entry.name))
                        .collect();
                    if each_name_once {
                        let unique: BTreeSet<&String> = names.iter().collect();
                        assert_eq!(unique.len(), names.len(), "a name listed twice: {names:?}");
                    }
                    for kept in ["big", "keep1", "keep2"] {
                        let times = names.iter().filter(|name| *name == kept).count();
                        assert_eq!(times, 1, "{kept} listed {times} times: {names:?}");
                    }
                    for name in &names {
                        let possible = ["big", "keep1", "keep2", "a"].contains(&name.as_str())
                            || name.starts_with('t');
                        assert!(possible, "listed a name that never existed: {name}");
                    }
                }
            }));
        }
        for handle in handles {
            handle.join().expect("thread");
        }
        // Each name was made, removed, made... once per use: it is left if used an odd
        // number of times.
        let mut expected: Vec<String> = ["a", "big", "keep1", "keep2"].map(String::from).to_vec();
        for thread_index in 0..churners {
            for slot in 0..5 {
                let uses = (0..ITERATIONS)
                    .filter(|iteration| iteration % 5 == slot)
                    .count();
                if uses % 2 == 1 {
                    expected.push(format!("t{thread_index}-{slot}"));
                }
            }
        }
        expected.sort();
        let mut names: Vec<String> = ns
            .read_dir(&root(), "/d")
            .expect("list")
            .into_iter()
            .map(|entry| String::from(&*entry.name))
            .collect();
        names.sort();
        assert_eq!(names, expected);
    }
}

/// One thread renames a lower file back and forth between two names (the first rename copies
/// it up) while others look both names up: every lookup that finds the file sees the same
/// inode number and the whole content, and afterwards the file is under one name only.
#[test]
fn renames_race_lookups() {
    for _ in 0..rounds() {
        let (_fs, ns) = setup(&[]);
        let ino = ns.lstat(&root(), "/d/a").expect("stat").ino;
        let barrier = Arc::new(Barrier::new(4));
        let mut handles = Vec::new();
        {
            let ns = ns.clone();
            let barrier = barrier.clone();
            handles.push(thread::spawn(move || {
                barrier.wait();
                for iteration in 0..ITERATIONS {
                    let (from, to) = if iteration % 2 == 0 {
                        ("/d/a", "/d/b")
                    } else {
                        ("/d/b", "/d/a")
                    };
                    ns.rename(&root(), from, to, RenameFlags::empty())
                        .expect("rename");
                }
            }));
        }
        for _ in 0..3 {
            let ns = ns.clone();
            let barrier = barrier.clone();
            handles.push(thread::spawn(move || {
                barrier.wait();
                for _ in 0..ITERATIONS {
                    for name in ["/d/a", "/d/b"] {
                        match ns.lstat(&root(), name) {
                            Ok(meta) => assert_eq!(meta.ino, ino, "{name}: another inode"),
                            Err(Errno::ENOENT) => {}
                            Err(errno) => panic!("stat {name}: {errno}"),
                        }
                        match support::read(&ns, name) {
                            Ok(content) => assert_eq!(content, b"a-content"),
                            Err(Errno::ENOENT) => {}
                            Err(errno) => panic!("read {name}: {errno}"),
                        }
                    }
                }
            }));
        }
        for handle in handles {
            handle.join().expect("thread");
        }
        // ITERATIONS is even: the file is back under its first name, and only there.
        assert_eq!(ns.lstat(&root(), "/d/a").map(|meta| meta.ino), Ok(ino));
        assert_eq!(ns.lstat(&root(), "/d/b").err(), Some(Errno::ENOENT));
    }
}

/// Without threads, a name already listed that is removed and made again between two pieces
/// of a listing is listed once (finding 6 needs a second thread).
#[test]
fn a_name_made_again_between_pieces_of_a_listing_is_listed_once() {
    let (_fs, ns) = setup(&[]);
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
    for name in ["/d/new1", "/d/new2", "/d/new3"] {
        ns.open(&root(), name, flags, 0o644).expect("create");
    }
    let mut dir = ns
        .open(&root(), "/d", OpenFlags::READ | OpenFlags::DIRECTORY, 0)
        .expect("open /d");
    let mut names: Vec<String> = Vec::new();
    loop {
        let batch = dir.read_dir(1).expect("read_dir");
        let Some(entry) = batch.into_iter().next() else {
            break;
        };
        if &*entry.name == "new1" {
            ns.unlink(&root(), "/d/new1").expect("unlink");
            ns.open(&root(), "/d/new1", flags, 0o644)
                .expect("create again");
        }
        names.push(String::from(&*entry.name));
        assert!(names.len() < 50, "the listing does not end: {names:?}");
    }
    let times = names.iter().filter(|name| *name == "new1").count();
    assert_eq!(times, 1, "listing: {names:?}");
}
