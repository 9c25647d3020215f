//! What the upper layer changed, like `docker diff`: added, changed and deleted paths.

use alloc::{string::String, sync::Arc, vec, vec::Vec};

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
        self.for_each_change(&mut |kind, path| {
            changes.push(Change {
                kind,
                path: String::from(path),
            });
            Ok(())
        })?;
        Ok(changes)
    }

    /// Hands every change of [`Union::diff`] to `visit` in the same order, sorted by path
    /// bytewise, as the walk finds it: what the walk holds is one path (the deepest so far)
    /// and the names of the directories it is in, not the changes (a deep upper layer has
    /// far more bytes of changed paths than of entries). `visit` runs with the union's
    /// namespace lock held for reading, so it must not change the union.
    ///
    /// # Errors
    /// Whatever reading the layers fails with, or the first error of `visit` (the walk stops
    /// there).
    pub fn for_each_change(
        &self,
        visit: &mut dyn FnMut(ChangeKind, &str) -> Result<()>,
    ) -> Result<()> {
        if self.upper.is_none() {
            return Ok(());
        }
        let _namespace = self.namespace.read();
        // An explicit stack of the directories being walked, not recursion: the upper layer
        // can be as deep as a user makes it, deeper than any kernel stack allows.
        let mut path = String::new();
        let mut walking = Vec::from([self.diff_dir(self.root_node(), 0)?]);
        while let Some(dir) = walking.last_mut() {
            let Some(step) = dir.steps.next() else {
                walking.pop();
                continue;
            };
            path.truncate(dir.path_len);
            path.push('/');
            path.push_str(&step.name);
            match step.kind {
                Some(kind) => visit(kind, &path)?,
                None => {
                    let node = self.lookup_node(&dir.node, &step.name)?;
                    let subdir = self.diff_dir(node, path.len())?;
                    walking.push(subdir);
                }
            }
        }
        Ok(())
    }

    /// The steps of the walk through `node` (at a path `path_len` bytes long), sorted.
    fn diff_dir(&self, node: Arc<OverlayInode>, path_len: usize) -> Result<DiffDir> {
        let mut steps = Vec::new();
        if let (Some(upper), Some(upper_dir)) = (&self.upper, node.upper()) {
            let layer = list_layer(&*upper_dir, upper.encoding)?;
            let dir_lowers = node.lowers();
            for name in layer.whiteouts {
                // A whiteout over nothing (the lower name is gone too) deletes nothing.
                if self.lookup_lower(&dir_lowers, &name, false)?.is_some() {
                    steps.push(DiffStep {
                        name,
                        kind: Some(ChangeKind::Deleted),
                    });
                }
            }
            for entry in layer.entries {
                let kind = if self
                    .lookup_lower(&dir_lowers, &entry.name, false)?
                    .is_some()
                {
                    ChangeKind::Changed
                } else {
                    ChangeKind::Added
                };
                if entry.kind.is_dir() {
                    steps.push(DiffStep {
                        name: entry.name.clone(),
                        kind: None,
                    });
                }
                steps.push(DiffStep {
                    name: entry.name,
                    kind: Some(kind),
                });
            }
        }
        // Stable, so a whiteout and an entry of one name (which only a foreign upper layer
        // can hold) stay in that order.
        steps.sort_by(|a, b| a.sort_key().cmp(b.sort_key()));
        Ok(DiffDir {
            node,
            path_len,
            steps: steps.into_iter(),
        })
    }
}

/// A directory of the upper layer that `diff` is walking.
struct DiffDir {
    node: Arc<OverlayInode>,
    /// How long its path is (the walk's path buffer is cut back to it for each step).
    path_len: usize,
    /// What is left to do in it, in the order of the output.
    steps: vec::IntoIter<DiffStep>,
}

/// One step of the walk through a directory: a change to print, or a subdirectory to walk.
struct DiffStep {
    name: Arc<str>,
    /// The change of `name`, or `None` for the walk through the directory `name`.
    kind: Option<ChangeKind>,
}

impl DiffStep {
    /// What orders the steps as their paths are ordered: the name, and a slash after it for
    /// the walk through a directory. Every path under `a` sorts where `a/` does among the
    /// names of its directory: after `a` itself and after `a-b` or `a.b` (`-` and `.` come
    /// before `/`), as sorting the whole paths would put them.
    fn sort_key(&self) -> impl Iterator<Item = u8> + '_ {
        let slash = self.kind.is_none().then_some(b'/');
        self.name.bytes().chain(slash)
    }
}
