//! What the upper layer changed, like `docker diff`: added, changed and deleted paths.

use alloc::{format, string::String, sync::Arc, vec::Vec};

use super::layer_list::list_layer;
use super::node::OverlayInode;
use super::Union;
use crate::error::Result;

/// How a path differs from the lower layers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum ChangeKind {
    /// The path exists only in the upper layer (`A`).
    Added,
    /// The upper layer holds a new version of a path the lower layers have (`C`).
    Changed,
    /// The upper layer deletes a path the lower layers have (`D`).
    Deleted,
}

impl ChangeKind {
    /// The letter `docker diff` prints: `A`, `C` or `D`.
    pub const fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Changed => 'C',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One changed path of the union.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Change {
    /// What happened to it.
    pub kind: ChangeKind,
    /// Its absolute path in the union.
    pub path: String,
}

impl Union {
    /// Every path the upper layer adds, changes or deletes, sorted by path bytewise. A
    /// directory the upper layer holds a copy of counts as changed (as in `docker diff`).
    /// A read-only union has no changes.
    ///
    /// # Errors
    /// Whatever reading the layers fails with.
    pub fn diff(&self) -> Result<Vec<Change>> {
        let mut changes = Vec::new();
        if self.upper.is_some() {
            let _namespace = self.namespace.read();
            // An explicit stack of directories still to read, not recursion: the upper layer
            // can be as deep as a user makes it, deeper than any kernel stack allows.
            let mut pending = Vec::from([(self.root_node(), String::new())]);
            while let Some((dir, path)) = pending.pop() {
                self.diff_dir(&dir, &path, &mut changes, &mut pending)?;
            }
        }
        changes.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        Ok(changes)
    }

    /// Adds the changes the upper directory of `dir` (at `path`) holds to `changes`, and its
    /// upper subdirectories to `pending`.
    fn diff_dir(
        &self,
        dir: &Arc<OverlayInode>,
        path: &str,
        changes: &mut Vec<Change>,
        pending: &mut Vec<(Arc<OverlayInode>, String)>,
    ) -> Result<()> {
        let (Some(upper), Some(upper_dir)) = (&self.upper, dir.upper()) else {
            return Ok(());
        };
        let layer = list_layer(&*upper_dir, upper.encoding)?;
        let dir_lowers = dir.lowers();
        for name in layer.whiteouts {
            // A whiteout over nothing (the lower name is gone too) deletes nothing.
            if self.lookup_lower(&dir_lowers, &name, false)?.is_some() {
                changes.push(Change {
                    kind: ChangeKind::Deleted,
                    path: format!("{path}/{name}"),
                });
            }
        }
        let mut subdirs = Vec::new();
        for entry in layer.entries {
            let (name, kind) = (entry.name, entry.kind);
            let child_path = format!("{path}/{name}");
            let in_lowers = self.lookup_lower(&dir_lowers, &name, false)?.is_some();
            let change = if in_lowers {
                ChangeKind::Changed
            } else {
                ChangeKind::Added
            };
            changes.push(Change {
                kind: change,
                path: child_path.clone(),
            });
            if kind.is_dir() {
                subdirs.push((self.lookup_node(dir, &name)?, child_path));
            }
        }
        // Reversed, so the stack hands them back in the order the layer lists them.
        pending.extend(subdirs.into_iter().rev());
        Ok(())
    }
}
