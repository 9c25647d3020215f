//! Helpers shared by the tmpfs tests.

use alloc::{string::String, vec::Vec};

use crate::vfs::{FileType, Inode, NewNode};

/// A new regular file, 0644, owned by root.
pub(super) fn regular() -> NewNode {
    NewNode::new(FileType::Regular, 0o644, 0, 0)
}

/// A new directory, 0755, owned by root.
pub(super) fn directory() -> NewNode {
    NewNode::new(FileType::Directory, 0o755, 0, 0)
}

/// The names `dir` lists, in listing order.
pub(super) fn names(dir: &dyn Inode) -> Vec<String> {
    let mut names = Vec::new();
    dir.readdir(0, &mut |entry| {
        names.push(String::from(entry.name));
        true
    })
    .unwrap();
    names
}
