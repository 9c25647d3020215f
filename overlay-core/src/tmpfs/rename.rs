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
mod tests {
    use alloc::string::String;

    use super::super::test_support::{directory, names, regular};
    use super::super::{TmpFs, TmpFsOptions};
    use super::*;
    use crate::vfs::FileSystem;

    fn ino(dir: &dyn Inode, name: &str) -> u64 {
        dir.lookup(name).unwrap().metadata().unwrap().ino
    }

    fn nlink(inode: &dyn Inode) -> u32 {
        inode.metadata().unwrap().nlink
    }

    const NONE: RenameFlags = RenameFlags::empty();

    #[test]
    fn rename_file_within_and_across_directories() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let sub = root.create("sub", &directory()).unwrap();
        let file = root.create("a", &regular()).unwrap();
        file.write_at(0, b"content").unwrap();
        let before = (
            root.metadata().unwrap(),
            sub.metadata().unwrap(),
            file.metadata().unwrap(),
        );
        root.rename("a", &*root, "b", NONE).unwrap();
        assert_eq!(root.lookup("a").err(), Some(Errno::ENOENT));
        assert_eq!(ino(&*root, "b"), before.2.ino);
        root.rename("b", &*sub, "c", NONE).unwrap();
        assert_eq!(names(&*root), ["sub"]);
        assert_eq!(names(&*sub), ["c"]);
        let mut buf = [0; 7];
        sub.lookup("c").unwrap().read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"content");
        let after = (
            root.metadata().unwrap(),
            sub.metadata().unwrap(),
            file.metadata().unwrap(),
        );
        assert!(after.0.mtime > before.0.mtime && after.0.ctime == after.0.mtime);
        assert!(after.1.mtime > before.1.mtime);
        assert!(after.2.ctime > before.2.ctime);
        assert_eq!(after.2.mtime, before.2.mtime);
        assert_eq!((after.0.nlink, after.1.nlink, after.2.nlink), (3, 2, 1));
    }

    #[test]
    fn rename_directory_moves_parent_links() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let a = root.create("a", &directory()).unwrap();
        let b = root.create("b", &directory()).unwrap();
        let moved = a.create("m", &directory()).unwrap();
        moved.create("inside", &regular()).unwrap();
        assert_eq!((nlink(&*a), nlink(&*b)), (3, 2));
        a.rename("m", &*b, "m2", NONE).unwrap();
        assert_eq!((nlink(&*a), nlink(&*b), nlink(&*root)), (2, 3, 4));
        assert_eq!(names(&*b.lookup("m2").unwrap()), ["inside"]);
        // The moved directory's new parent counts for the subtree checks.
        assert_eq!(b.rename("m2", &*moved, "x", NONE), Err(Errno::EINVAL));
        assert_eq!(root.rename("b", &*moved, "x", NONE), Err(Errno::EINVAL));
        root.rename("a", &*moved, "a", NONE).unwrap();
        assert_eq!(nlink(&*moved), 3);
        assert_eq!(nlink(&*root), 3);
    }

    #[test]
    fn rename_type_errors_and_replacement() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let file = root.create("f", &regular()).unwrap();
        let other = root.create("g", &regular()).unwrap();
        let empty = root.create("empty", &directory()).unwrap();
        let full = root.create("full", &directory()).unwrap();
        full.create("x", &regular()).unwrap();
        assert_eq!(
            root.rename("missing", &*root, "z", NONE),
            Err(Errno::ENOENT)
        );
        assert_eq!(root.rename("empty", &*root, "f", NONE), Err(Errno::ENOTDIR));
        assert_eq!(root.rename("f", &*root, "empty", NONE), Err(Errno::EISDIR));
        assert_eq!(
            root.rename("empty", &*root, "full", NONE),
            Err(Errno::ENOTEMPTY)
        );
        assert_eq!(file.rename("a", &*root, "b", NONE), Err(Errno::ENOTDIR));
        assert_eq!(root.rename("f", &*file, "b", NONE), Err(Errno::ENOTDIR));
        assert_eq!(root.rename("", &*root, "b", NONE), Err(Errno::EINVAL));
        assert_eq!(root.rename("f", &*root, "a/b", NONE), Err(Errno::EINVAL));
        // Nothing changed.
        assert_eq!(names(&*root), ["f", "g", "empty", "full"]);
        // A file over a file: the old one loses its name but stays usable while open.
        root.rename("f", &*root, "g", NONE).unwrap();
        assert_eq!(ino(&*root, "g"), file.metadata().unwrap().ino);
        assert_eq!(nlink(&*other), 0);
        other.write_at(0, b"still works").unwrap();
        // A directory over an empty directory.
        let root_links = nlink(&*root);
        root.rename("full", &*root, "empty", NONE).unwrap();
        assert_eq!(nlink(&*root), root_links - 1);
        assert_eq!(nlink(&*empty), 0);
        assert_eq!(names(&*root.lookup("empty").unwrap()), ["x"]);
        assert_eq!(names(&*root), ["g", "empty"]);
    }

    #[test]
    fn rename_directory_over_empty_directory_elsewhere() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let a = root.create("a", &directory()).unwrap();
        let b = root.create("b", &directory()).unwrap();
        a.create("d", &directory()).unwrap();
        let replaced = b.create("d", &directory()).unwrap();
        a.rename("d", &*b, "d", NONE).unwrap();
        assert_eq!((nlink(&*a), nlink(&*b), nlink(&*replaced)), (2, 3, 0));
    }

    #[test]
    fn rename_into_own_subtree_is_einval() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let a = root.create("a", &directory()).unwrap();
        let b = a.create("b", &directory()).unwrap();
        let c = b.create("c", &directory()).unwrap();
        assert_eq!(root.rename("a", &*a, "x", NONE), Err(Errno::EINVAL));
        assert_eq!(root.rename("a", &*c, "x", NONE), Err(Errno::EINVAL));
        assert_eq!(a.rename("b", &*c, "x", NONE), Err(Errno::EINVAL));
        // The target is an ancestor of the source: not empty (EINVAL when exchanging).
        assert_eq!(c.rename("x", &*root, "a", NONE), Err(Errno::ENOENT));
        c.create("x", &regular()).unwrap();
        assert_eq!(c.rename("x", &*root, "a", NONE), Err(Errno::ENOTEMPTY));
        assert_eq!(b.rename("c", &*root, "a", NONE), Err(Errno::ENOTEMPTY));
        assert_eq!(
            b.rename("c", &*root, "a", RenameFlags::EXCHANGE),
            Err(Errno::EINVAL)
        );
        assert_eq!(b.rename("c", &*a, "b", NONE), Err(Errno::ENOTEMPTY));
        // Up the tree is fine.
        b.rename("c", &*root, "c", NONE).unwrap();
        assert_eq!(names(&*root), ["a", "c"]);
    }

    #[test]
    fn rename_onto_itself_or_another_link_does_nothing() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let file = root.create("f", &regular()).unwrap();
        root.link("g", &*file).unwrap();
        root.create("d", &directory()).unwrap();
        let before = root.metadata().unwrap();
        root.rename("f", &*root, "f", NONE).unwrap();
        root.rename("f", &*root, "g", NONE).unwrap();
        root.rename("d", &*root, "d", NONE).unwrap();
        root.rename("f", &*root, "g", RenameFlags::WHITEOUT)
            .unwrap();
        root.rename("f", &*root, "g", RenameFlags::EXCHANGE)
            .unwrap();
        assert_eq!(names(&*root), ["f", "g", "d"]);
        assert_eq!(nlink(&*file), 2);
        assert_eq!(root.metadata().unwrap(), before);
        assert_eq!(
            root.rename("f", &*root, "g", RenameFlags::NOREPLACE),
            Err(Errno::EEXIST)
        );
    }

    #[test]
    fn rename_flags() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        root.create("a", &regular()).unwrap();
        root.create("b", &regular()).unwrap();
        let both = RenameFlags::NOREPLACE | RenameFlags::EXCHANGE;
        assert_eq!(root.rename("a", &*root, "c", both), Err(Errno::EINVAL));
        let both = RenameFlags::EXCHANGE | RenameFlags::WHITEOUT;
        assert_eq!(root.rename("a", &*root, "b", both), Err(Errno::EINVAL));
        let unknown = RenameFlags::from_bits_retain(1 << 7);
        assert_eq!(root.rename("a", &*root, "c", unknown), Err(Errno::EINVAL));
        assert_eq!(
            root.rename("a", &*root, "b", RenameFlags::NOREPLACE),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            root.rename("a", &*root, "c", RenameFlags::EXCHANGE),
            Err(Errno::ENOENT)
        );
        assert_eq!(
            root.rename("z", &*root, "b", RenameFlags::EXCHANGE),
            Err(Errno::ENOENT)
        );
        root.rename("a", &*root, "c", RenameFlags::NOREPLACE)
            .unwrap();
        assert_eq!(names(&*root), ["b", "c"]);
        let other = TmpFs::new(TmpFsOptions::default());
        assert_eq!(
            root.rename("c", &*other.root(), "c", NONE),
            Err(Errno::EXDEV)
        );
    }

    #[test]
    fn exchange_swaps_entries() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let a = root.create("a", &directory()).unwrap();
        let b = root.create("b", &directory()).unwrap();
        let file = a.create("x", &regular()).unwrap();
        let dir = b.create("y", &directory()).unwrap();
        dir.create("inner", &directory()).unwrap();
        a.rename("x", &*b, "y", RenameFlags::EXCHANGE).unwrap();
        assert_eq!(ino(&*a, "x"), dir.metadata().unwrap().ino);
        assert_eq!(ino(&*b, "y"), file.metadata().unwrap().ino);
        assert_eq!((nlink(&*a), nlink(&*b)), (3, 2));
        // The directory's parent moved with it.
        assert_eq!(root.rename("a", &*dir, "z", NONE), Err(Errno::EINVAL));
        assert!(root.rename("b", &*dir, "z", NONE).is_ok());
        // Same directory: names keep their listing position.
        let root_entries = names(&*root);
        root.create("f", &regular()).unwrap();
        root.rename("a", &*root, "f", RenameFlags::EXCHANGE)
            .unwrap();
        assert_eq!(
            names(&*root),
            [root_entries, alloc::vec![String::from("f")]].concat()
        );
        assert_eq!(
            root.lookup("f").unwrap().metadata().unwrap().kind,
            FileType::Directory
        );
        assert_eq!(nlink(&*root), 3);
    }

    #[test]
    fn whiteout_rename_leaves_a_char_device() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let sub = root.create("sub", &directory()).unwrap();
        let file = root.create("f", &regular()).unwrap();
        root.rename("f", &*sub, "f", RenameFlags::WHITEOUT).unwrap();
        let whiteout = root.lookup("f").unwrap().metadata().unwrap();
        assert_eq!(whiteout.kind, FileType::CharDevice);
        assert_eq!(whiteout.rdev, DeviceId { major: 0, minor: 0 });
        assert_ne!(whiteout.ino, file.metadata().unwrap().ino);
        assert_eq!(ino(&*sub, "f"), file.metadata().unwrap().ino);
        // A directory too, and over an existing target.
        let d = root.create("d", &directory()).unwrap();
        sub.create("e", &directory()).unwrap();
        root.rename("d", &*sub, "e", RenameFlags::WHITEOUT).unwrap();
        assert_eq!(
            root.lookup("d").unwrap().metadata().unwrap().kind,
            FileType::CharDevice
        );
        assert_eq!(ino(&*sub, "e"), d.metadata().unwrap().ino);
        assert_eq!((nlink(&*root), nlink(&*sub)), (3, 3));
        // Whiteout and NOREPLACE go together.
        sub.rename(
            "f",
            &*root,
            "g",
            RenameFlags::WHITEOUT | RenameFlags::NOREPLACE,
        )
        .unwrap();
        assert_eq!(
            sub.lookup("f").unwrap().metadata().unwrap().kind,
            FileType::CharDevice
        );
    }

    #[test]
    fn whiteout_needs_an_inode_slot() {
        let fs = TmpFs::new(TmpFsOptions {
            max_inodes: Some(2),
            ..TmpFsOptions::default()
        });
        let root = fs.root();
        root.create("f", &regular()).unwrap();
        assert_eq!(
            root.rename("f", &*root, "g", RenameFlags::WHITEOUT),
            Err(Errno::ENOSPC)
        );
        assert_eq!(names(&*root), ["f"]);
        root.rename("f", &*root, "g", NONE).unwrap();
    }

    #[test]
    fn rename_over_hard_link_gives_its_slot_back() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let file = root.create("f", &regular()).unwrap();
        root.link("g", &*file).unwrap();
        root.create("h", &regular()).unwrap();
        assert_eq!(fs.used_inodes(), 4);
        root.rename("h", &*root, "g", NONE).unwrap();
        assert_eq!(nlink(&*file), 1);
        assert_eq!(fs.used_inodes(), 3);
    }

    #[test]
    fn rename_in_removed_directory_is_enoent() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let dead = root.create("dead", &directory()).unwrap();
        root.create("f", &regular()).unwrap();
        root.rmdir("dead").unwrap();
        assert_eq!(root.rename("f", &*dead, "f", NONE), Err(Errno::ENOENT));
        assert_eq!(names(&*root), ["f"]);
    }
}
