//! Tests with several std threads at once: no deadlock, no lost update, and the tree and its
//! counters consistent afterwards.

use alloc::{collections::BTreeSet, format, string::String, sync::Arc, vec::Vec};
use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::test_support::{directory, regular};
use super::{TmpFs, TmpFsOptions, PAGE_SIZE};
use crate::error::Errno;
use crate::vfs::{FileSystem, FileType, Ino, Inode, RenameFlags};

/// A small deterministic random number generator (xorshift64), one per thread.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

/// Runs `work(thread_index)` on `threads` threads; fails the test if they do not all finish
/// within a minute (a deadlock) or if one panics.
fn run_threads(threads: usize, work: impl Fn(usize) + Send + Sync + 'static) {
    let work = Arc::new(work);
    let (done_tx, done_rx) = mpsc::channel();
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let work = work.clone();
            let done_tx = done_tx.clone();
            thread::spawn(move || {
                work(index);
                done_tx.send(()).unwrap();
            })
        })
        .collect();
    drop(done_tx);
    for _ in 0..threads {
        match done_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(()) => {}
            // Every sender is gone but not every thread reported: one panicked. Joining it
            // below passes its panic on.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("threads did not finish: deadlock?"),
        }
    }
    for handle in handles {
        handle.join().unwrap();
    }
}

/// Walks the whole tree and checks it: every directory reached once (no cycles), `nlink` of
/// each directory 2 plus its subdirectories. Returns the distinct inodes reached.
fn check_tree(fs: &TmpFs) -> BTreeSet<Ino> {
    let mut seen = BTreeSet::new();
    let mut pending: Vec<Arc<dyn Inode>> = alloc::vec![fs.root()];
    while let Some(dir) = pending.pop() {
        let meta = dir.metadata().unwrap();
        assert!(
            seen.insert(meta.ino),
            "directory {} reached twice",
            meta.ino
        );
        let mut subdirs = 0;
        let mut children = Vec::new();
        dir.readdir(0, &mut |entry| {
            children.push((String::from(entry.name), entry.kind));
            true
        })
        .unwrap();
        for (name, kind) in children {
            let child = dir.lookup(&name).unwrap();
            if kind == FileType::Directory {
                subdirs += 1;
                pending.push(child);
            } else {
                seen.insert(child.metadata().unwrap().ino);
            }
        }
        assert_eq!(meta.nlink, 2 + subdirs, "nlink of directory {}", meta.ino);
    }
    seen
}

#[test]
fn listing_while_others_create_and_unlink() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let stable: BTreeSet<String> = (0..200).map(|i| format!("stable{i}")).collect();
    for name in &stable {
        root.create(name, &regular()).unwrap();
    }
    let fs_for_threads = fs.clone();
    run_threads(4, move |index| {
        let root = fs_for_threads.root();
        if index == 0 {
            // The lister: lists in pieces of 3, many times over, while the others churn.
            for _ in 0..200 {
                let mut seen = BTreeSet::new();
                let mut inos = BTreeSet::new();
                let mut cookie = 0;
                loop {
                    let mut got = 0;
                    root.readdir(cookie, &mut |entry| {
                        // A name unlinked and created again is a new entry and may show up
                        // twice; one inode never does.
                        assert!(inos.insert(entry.ino), "{} repeated", entry.name);
                        seen.insert(String::from(entry.name));
                        cookie = entry.next_cookie;
                        got += 1;
                        got < 3
                    })
                    .unwrap();
                    if got == 0 {
                        break;
                    }
                }
                assert!(stable.is_subset(&seen), "a stable entry was skipped");
            }
        } else {
            let mut rng = Rng(index as u64 * 7919 + 1);
            for round in 0..3000 {
                let name = format!("churn{index}_{}", rng.below(20));
                match root.create(&name, &regular()) {
                    Ok(_) => {}
                    Err(Errno::EEXIST) => root.unlink(&name).unwrap(),
                    Err(errno) => panic!("create {name}: {errno}"),
                }
                if round % 7 == 0 {
                    let _ = root.unlink(&format!("churn{index}_{}", rng.below(20)));
                }
            }
        }
    });
    let left = check_tree(&fs);
    assert_eq!(fs.used_inodes(), left.len() as u64);
}

#[test]
fn renames_and_namespace_changes_do_not_deadlock() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    // Eight directories, initially flat; the threads move them into each other at random.
    for i in 0..8 {
        root.create(&format!("d{i}"), &directory()).unwrap();
    }
    let fs_for_threads = fs.clone();
    let moves = Arc::new(AtomicUsize::new(0));
    let moves_in_threads = moves.clone();
    run_threads(4, move |index| {
        let fs = &fs_for_threads;
        let moves = &moves_in_threads;
        let mut rng = Rng(index as u64 * 104_729 + 3);
        // Finds directory `d{i}` wherever it is now, by walking the tree.
        let find = |name: &str| -> Option<Arc<dyn Inode>> {
            let mut pending = alloc::vec![fs.root()];
            while let Some(dir) = pending.pop() {
                if let Ok(found) = dir.lookup(name) {
                    return Some(found);
                }
                let mut subdirs = Vec::new();
                let _ = dir.readdir(0, &mut |entry| {
                    if entry.kind == FileType::Directory {
                        subdirs.push(String::from(entry.name));
                    }
                    true
                });
                pending.extend(subdirs.iter().filter_map(|name| dir.lookup(name).ok()));
            }
            None
        };
        // The directory holding `d{i}`: the root or another `d{j}`.
        let parent_of = |name: &str| -> Option<Arc<dyn Inode>> {
            if fs.root().lookup(name).is_ok() {
                return Some(fs.root());
            }
            (0..8)
                .filter_map(|j| find(&format!("d{j}")))
                .find(|dir| dir.lookup(name).is_ok())
        };
        for _ in 0..400 {
            let name = format!("d{}", rng.below(8));
            match rng.below(4) {
                0 | 1 => {
                    // Move a directory into another one, or up to the root.
                    let (Some(from), target) = (parent_of(&name), rng.below(9)) else {
                        continue;
                    };
                    let to = if target == 8 {
                        Some(fs.root())
                    } else {
                        find(&format!("d{target}"))
                    };
                    let Some(to) = to else { continue };
                    let flags = if rng.below(2) == 0 {
                        RenameFlags::empty()
                    } else {
                        RenameFlags::NOREPLACE
                    };
                    match from.rename(&name, &*to, &name, flags) {
                        Ok(()) => {
                            moves.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Errno::EINVAL | Errno::ENOENT | Errno::EEXIST) => {}
                        Err(Errno::ENOTEMPTY) => {}
                        Err(errno) => panic!("rename: {errno}"),
                    }
                }
                2 => {
                    // Files come and go inside the directories, under the same locks.
                    if let Some(dir) = find(&name) {
                        let file = format!("f{index}");
                        if dir.create(&file, &regular()).is_err() {
                            let _ = dir.unlink(&file);
                        }
                    }
                }
                _ => {
                    // Exchange two directories' places.
                    let other = format!("d{}", rng.below(8));
                    if let (Some(from), Some(to)) = (parent_of(&name), parent_of(&other)) {
                        if from
                            .rename(&name, &*to, &other, RenameFlags::EXCHANGE)
                            .is_ok()
                        {
                            moves.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
    });
    let reached = check_tree(&fs);
    assert_eq!(
        fs.used_inodes(),
        reached.len() as u64,
        "every inode reachable, none leaked"
    );
    // The eight directories (and the files they hold) are all still in the tree.
    assert!(reached.len() >= 9);
    assert!(
        moves.load(Ordering::Relaxed) > 100,
        "the directories really moved"
    );
}

#[test]
fn concurrent_writers_respect_capacity() {
    const PAGES: u64 = 64;
    let fs = TmpFs::new(TmpFsOptions {
        capacity_bytes: Some(PAGES * PAGE_SIZE as u64),
        ..TmpFsOptions::default()
    });
    for index in 0..4 {
        fs.root().create(&format!("f{index}"), &regular()).unwrap();
    }
    let fs_for_threads = fs.clone();
    run_threads(4, move |index| {
        let fs = &fs_for_threads;
        let file = fs.root().lookup(&format!("f{index}")).unwrap();
        let mut rng = Rng(index as u64 + 11);
        for _ in 0..2000 {
            let page = rng.below(40) as u64;
            let byte = [index as u8 + 1; PAGE_SIZE];
            match file.write_at(page * PAGE_SIZE as u64, &byte) {
                Ok(written) => assert_eq!(written, PAGE_SIZE),
                Err(Errno::ENOSPC) => file
                    .set_len(rng.below(20) as u64 * PAGE_SIZE as u64)
                    .unwrap(),
                Err(errno) => panic!("write: {errno}"),
            }
            assert!(fs.used_bytes() <= PAGES * PAGE_SIZE as u64);
        }
    });
    // Every page a file holds is one it wrote: full of its own byte. Count pages by reading.
    let mut pages_held = 0;
    for index in 0..4u8 {
        let file = fs.root().lookup(&format!("f{index}")).unwrap();
        let size = file.metadata().unwrap().size;
        let mut page = alloc::vec![0; PAGE_SIZE];
        for offset in (0..size).step_by(PAGE_SIZE) {
            file.read_at(offset, &mut page).unwrap();
            if page.iter().all(|&b| b == index + 1) {
                pages_held += 1;
            } else {
                assert!(
                    page.iter().all(|&b| b == 0),
                    "a page is all one writer's or a hole"
                );
            }
        }
    }
    assert_eq!(fs.used_bytes(), pages_held * PAGE_SIZE as u64);
}

#[test]
fn concurrent_links_and_unlinks_keep_nlink_right() {
    let fs = TmpFs::new(TmpFsOptions::default());
    let target = fs.root().create("target", &regular()).unwrap();
    let fs_for_threads = fs.clone();
    run_threads(4, move |index| {
        let root = fs_for_threads.root();
        let target = root.lookup("target").unwrap();
        for i in 0..500 {
            let name = format!("link{index}_{}", i % 10);
            if root.link(&name, &*target).is_err() {
                root.unlink(&name).unwrap();
            }
        }
    });
    let mut names = 0;
    fs.root()
        .readdir(0, &mut |_| {
            names += 1;
            true
        })
        .unwrap();
    assert_eq!(target.metadata().unwrap().nlink, names);
    assert_eq!(fs.used_inodes(), 1 + u64::from(names));
}
