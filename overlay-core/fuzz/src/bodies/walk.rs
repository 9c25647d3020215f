//! A walk of a whole tree through the `Inode` trait, with an explicit stack of directories so
//! that only the engine's own depth meets the stack budget: every directory listed, every
//! listed name looked up, every file read to its end, every symlink read, every inode's
//! xattrs listed.

use std::collections::BTreeSet;
use std::sync::Arc;

use overlay_core::vfs::{FileType, Inode};

/// How thoroughly to check each directory's lookups.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lookups {
    /// Every listed name is found.
    Listed,
    /// Every listed name is found, and a name next to it in a directory's order (one
    /// character longer, or one shorter) only if it is listed too: an image layer's
    /// directories are searched by position, where an off-by-one finds a neighbour.
    ListedAndNeighbours,
}

/// Walks the tree under `root`; panics if a lookup disagrees with a listing (see [`Lookups`]).
pub fn walk(root: Arc<dyn Inode>, lookups: Lookups) {
    let mut pending = vec![root];
    while let Some(inode) = pending.pop() {
        let Ok(meta) = inode.metadata() else { continue };
        match meta.kind {
            FileType::Directory => {
                let mut names = Vec::new();
                let _ = inode.readdir(0, &mut |entry| {
                    names.push(entry.name.to_string());
                    true
                });
                if lookups == Lookups::ListedAndNeighbours {
                    check_neighbours(&*inode, &names);
                }
                for name in names {
                    let child = inode.lookup(&name).expect("a listed name is found");
                    pending.push(child);
                }
            }
            FileType::Regular => read_to_end(&*inode),
            FileType::Symlink => {
                let _ = inode.readlink();
            }
            _ => {}
        }
        let _ = inode.list_xattr();
    }
}

/// Looks up the names next to each listed one: none is found unless listed.
fn check_neighbours(dir: &dyn Inode, names: &[String]) {
    let listed: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    for name in names {
        let mut shorter = name.clone();
        shorter.pop();
        for near in [format!("{name}\u{1}"), shorter] {
            if !near.is_empty() && !listed.contains(near.as_str()) {
                assert!(dir.lookup(&near).is_err(), "{near:?} is not listed");
            }
        }
    }
}

fn read_to_end(file: &dyn Inode) {
    let mut buf = [0u8; 4096];
    let mut offset = 0u64;
    while let Ok(count) = file.read_at(offset, &mut buf) {
        if count == 0 {
            break;
        }
        offset += count as u64;
    }
}
