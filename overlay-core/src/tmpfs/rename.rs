//! Rename, with `renameat2`'s flags, and the lock order that keeps it free of deadlocks.
//!
//! # Lock order
//! 1. The filesystem's rename lock, held for the whole rename. Only rename takes it, so while
//!    it is held the shape of the tree (which directory is inside which) cannot change: only
//!    rename moves directories.
//! 2. The two directories: if one is an ancestor of the other, the ancestor first; otherwise
//!    the source directory first. Every other operation locks at most a directory and then
//!    an inode inside it, so its locks always follow "ancestor before descendant" too, and
//!    two unrelated directories are only ever locked together by the one running rename.
//! 3. The moved inode, then the replaced one. Neither is an ancestor of a locked directory
//!    (that is `EINVAL` or `ENOTEMPTY`, checked before locking them), so no other thread can
//!    hold one of them while waiting for a directory we hold.
//! 4. Leaf locks, held only briefly and never while taking another: a directory's parent
//!    pointer (read to walk up the tree), and the capacity counters (atomics).
//!
//! The checks follow Linux's `do_renameat2` and `vfs_rename`, in their order.

use alloc::sync::Arc;
use core::ptr;

use super::node::{Contents, NodeInit, NodeState, TmpInode};
use crate::error::{Errno, Result};
use crate::vfs::{check_name, DeviceId, FileType, Inode, RenameFlags};

/// The one or two directories a rename changes, locked.
enum DirPair<'a> {
    Same(&'a mut NodeState),
    Two {
        old: &'a mut NodeState,
        new: &'a mut NodeState,
    },
}

impl DirPair<'_> {
    fn source_dir(&mut self) -> &mut NodeState {
        match self {
            DirPair::Same(dir) => dir,
            DirPair::Two { old, .. } => old,
        }
    }

    fn target_dir(&mut self) -> &mut NodeState {
        match self {
            DirPair::Same(dir) => dir,
            DirPair::Two { new, .. } => new,
        }
    }

    fn is_same(&self) -> bool {
        matches!(self, DirPair::Same(_))
    }
}

/// Whether `ancestor` is `node` or a directory that contains it. The caller holds the rename
/// lock, so the parent pointers walked here do not change meanwhile.
fn is_ancestor_or_self(ancestor: &TmpInode, node: &TmpInode) -> bool {
    if ptr::eq(ancestor, node) {
        return true;
    }
    if !ancestor.kind().is_dir() {
        return false;
    }
    let mut next = node.parent.lock().upgrade();
    while let Some(dir) = next {
        if ptr::eq(&*dir, ancestor) {
            return true;
        }
        next = dir.parent.lock().upgrade();
    }
    false
}

impl TmpInode {
    pub(super) fn rename_child(
        &self,
        old_name: &str,
        new_dir: &dyn Inode,
        new_name: &str,
        flags: RenameFlags,
    ) -> Result<()> {
        if !RenameFlags::all().contains(flags)
            || flags.contains(RenameFlags::NOREPLACE | RenameFlags::EXCHANGE)
            || flags.contains(RenameFlags::EXCHANGE | RenameFlags::WHITEOUT)
        {
            return Err(Errno::EINVAL);
        }
        check_name(old_name)?;
        check_name(new_name)?;
        if !self.kind().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let new_dir = self.own_inode(new_dir)?;
        if !new_dir.kind().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        self.fs.check_writable()?;

        let _rename_guard = self.fs.rename_lock.lock();
        if ptr::eq(self, new_dir) {
            let mut dir = self.state.write();
            self.rename_locked(new_dir, DirPair::Same(&mut dir), old_name, new_name, flags)
        } else if is_ancestor_or_self(new_dir, self) {
            let mut new = new_dir.state.write();
            let mut old = self.state.write();
            let dirs = DirPair::Two {
                old: &mut old,
                new: &mut new,
            };
            self.rename_locked(new_dir, dirs, old_name, new_name, flags)
        } else {
            let mut old = self.state.write();
            let mut new = new_dir.state.write();
            let dirs = DirPair::Two {
                old: &mut old,
                new: &mut new,
            };
            self.rename_locked(new_dir, dirs, old_name, new_name, flags)
        }
    }

    /// The rename, with the rename lock and both directories' locks held.
    fn rename_locked(
        &self,
        new_dir: &TmpInode,
        mut dirs: DirPair<'_>,
        old_name: &str,
        new_name: &str,
        flags: RenameFlags,
    ) -> Result<()> {
        if dirs.source_dir().nlink == 0 || dirs.target_dir().nlink == 0 {
            // A removed directory has no entries and takes none.
            return Err(Errno::ENOENT);
        }
        let source = dirs
            .source_dir()
            .directory()?
            .get(old_name)
            .cloned()
            .ok_or(Errno::ENOENT)?;
        let target = dirs.target_dir().directory()?.get(new_name).cloned();
        let exchange = flags.contains(RenameFlags::EXCHANGE);
        if flags.contains(RenameFlags::NOREPLACE) && target.is_some() {
            return Err(Errno::EEXIST);
        }
        if exchange && target.is_none() {
            return Err(Errno::ENOENT);
        }
        // The source must not be an ancestor of the new directory...
        if is_ancestor_or_self(&source, new_dir) {
            return Err(Errno::EINVAL);
        }
        // ... nor the target an ancestor of the old one (it would not be empty).
        if let Some(target) = &target {
            if is_ancestor_or_self(target, self) {
                return Err(if exchange {
                    Errno::EINVAL
                } else {
                    Errno::ENOTEMPTY
                });
            }
            if Arc::ptr_eq(&source, target) {
                // Two names of one inode (or one name onto itself): POSIX says do nothing.
                return Ok(());
            }
        }
        match target {
            Some(target) if exchange => {
                self.exchange_locked(new_dir, dirs, old_name, new_name, &source, &target)
            }
            target => self.move_locked(new_dir, dirs, old_name, new_name, &source, target, flags),
        }
    }

    /// Moves `source` to `new_name`, replacing `target` if there is one.
    #[allow(clippy::too_many_arguments)]
    fn move_locked(
        &self,
        new_dir: &TmpInode,
        mut dirs: DirPair<'_>,
        old_name: &str,
        new_name: &str,
        source: &Arc<TmpInode>,
        target: Option<Arc<TmpInode>>,
        flags: RenameFlags,
    ) -> Result<()> {
        let source_is_dir = source.kind().is_dir();
        if let Some(target) = &target {
            match (source_is_dir, target.kind().is_dir()) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                _ => {}
            }
        }
        let replaces_dir = target.as_ref().is_some_and(|target| target.kind().is_dir());
        let changes_dir = source_is_dir && !dirs.is_same();
        // Room checks before any change: `new_dir` gains a subdirectory, each directory an
        // entry (the whiteout goes at the old name).
        if changes_dir && !replaces_dir {
            dirs.target_dir()
                .nlink
                .checked_add(1)
                .ok_or(Errno::EMLINK)?;
        }
        let whiteout_entries = u64::from(flags.contains(RenameFlags::WHITEOUT));
        if dirs.is_same() {
            dirs.target_dir()
                .directory()?
                .check_room(1 + whiteout_entries)?;
        } else {
            dirs.target_dir().directory()?.check_room(1)?;
            dirs.source_dir()
                .directory()?
                .check_room(whiteout_entries)?;
        }

        // Lock order: the moved inode, then the replaced one (see the module docs).
        let mut source_state = source.state.write();
        let mut target_state = target.as_ref().map(|target| target.state.write());
        if let Some(target_state) = &target_state {
            if replaces_dir && !target_state.directory()?.is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
        }
        let whiteout = if flags.contains(RenameFlags::WHITEOUT) {
            Some(self.new_whiteout()?)
        } else {
            None
        };

        // Nothing below can fail: every check and reservation is done.
        let now = self.fs.now();
        if let Some(target_state) = &mut target_state {
            dirs.target_dir().directory_mut()?.remove(new_name);
            if replaces_dir {
                target_state.nlink = 0;
                dirs.target_dir().nlink = dirs.target_dir().nlink.saturating_sub(1);
            } else {
                target_state.nlink = target_state.nlink.saturating_sub(1);
                if target_state.nlink > 0 {
                    // An extra hard link's inode slot (see `TmpInode::drop_link`).
                    self.fs.uncharge_inodes(1);
                }
            }
            target_state.ctime = now;
        }
        dirs.source_dir().directory_mut()?.remove(old_name);
        dirs.target_dir()
            .directory_mut()?
            .insert(new_name, source.clone())?;
        if changes_dir {
            dirs.source_dir().nlink = dirs.source_dir().nlink.saturating_sub(1);
            dirs.target_dir().nlink = dirs.target_dir().nlink.saturating_add(1);
            *source.parent.lock() = new_dir.this.clone();
        }
        if let Some(whiteout) = whiteout {
            dirs.source_dir()
                .directory_mut()?
                .insert(old_name, whiteout)?;
        }
        source_state.ctime = now;
        dirs.source_dir().touch_modified(now);
        dirs.target_dir().touch_modified(now);
        Ok(())
    }

    /// Swaps `source` (at `old_name`) and `target` (at `new_name`); each name keeps its offset.
    fn exchange_locked(
        &self,
        new_dir: &TmpInode,
        mut dirs: DirPair<'_>,
        old_name: &str,
        new_name: &str,
        source: &Arc<TmpInode>,
        target: &Arc<TmpInode>,
    ) -> Result<()> {
        let (source_is_dir, target_is_dir) = (source.kind().is_dir(), target.kind().is_dir());
        let (mut old_nlink, mut new_nlink) = (dirs.source_dir().nlink, dirs.target_dir().nlink);
        if !dirs.is_same() && source_is_dir != target_is_dir {
            // The directory of the two moves across, and its `..` with it.
            if source_is_dir {
                old_nlink = old_nlink.saturating_sub(1);
                new_nlink = new_nlink.checked_add(1).ok_or(Errno::EMLINK)?;
            } else {
                new_nlink = new_nlink.saturating_sub(1);
                old_nlink = old_nlink.checked_add(1).ok_or(Errno::EMLINK)?;
            }
        }
        // Lock order: the moved inode, then the other (see the module docs).
        let mut source_state = source.state.write();
        let mut target_state = target.state.write();

        let now = self.fs.now();
        dirs.source_dir()
            .directory_mut()?
            .replace(old_name, target.clone());
        dirs.target_dir()
            .directory_mut()?
            .replace(new_name, source.clone());
        if !dirs.is_same() {
            dirs.source_dir().nlink = old_nlink;
            dirs.target_dir().nlink = new_nlink;
            if source_is_dir {
                *source.parent.lock() = new_dir.this.clone();
            }
            if target_is_dir {
                *target.parent.lock() = self.this.clone();
            }
        }
        source_state.ctime = now;
        target_state.ctime = now;
        dirs.source_dir().touch_modified(now);
        dirs.target_dir().touch_modified(now);
        Ok(())
    }

    /// A whiteout for `RenameFlags::WHITEOUT`: a character device 0/0, mode 0, owned by 0:0.
    /// `ENOSPC` if no inode slot is left.
    fn new_whiteout(&self) -> Result<Arc<TmpInode>> {
        self.fs.charge_inodes(1)?;
        let init = NodeInit {
            kind: FileType::CharDevice,
            mode: 0,
            uid: 0,
            gid: 0,
            contents: Contents::Special(DeviceId { major: 0, minor: 0 }),
            charged_bytes: 0,
        };
        Ok(TmpInode::new(&self.fs, init))
    }
}

#[cfg(test)]
mod tests;
