//! Directories: their entries, and the namespace operations (lookup, create, symlink, link,
//! unlink, rmdir, readdir) of [`TmpInode`].
//!
//! Entries are kept twice: by name (hashed), for lookup, and by offset, for listing. Every
//! entry gets its offset from a per-directory counter when it is inserted, and a listing
//! resumes after the offset of the last entry it returned, so entries created or removed
//! between two `readdir` calls never make it skip or repeat an entry that stays (Linux
//! tmpfs's stable offsets).
//!
//! Lock order (see also `rename.rs`): a directory's lock before the lock of an inode inside it.

use alloc::{string::String, sync::Arc, vec::Vec};

use super::node::{Contents, NodeInit, TmpInode};
use super::offsets::Offsets;
use crate::error::{Errno, Result};
use crate::name_table::{NameTable, Refused};
use crate::vfs::{check_name, DirEntry, FileType, Ino, Inode, NewNode, PATH_MAX};

/// How many entries `readdir` copies out per lock hold, so the sink runs unlocked (and may
/// call back into the filesystem).
const READDIR_BATCH: usize = 32;

/// The entries of one directory.
pub(super) struct Directory {
    by_name: NameTable<Arc<str>, Slot>,
    names_by_offset: Offsets,
    /// The offset the next inserted entry gets; offsets start at 1 (cookie 0 is the start).
    next_offset: u64,
}

struct Slot {
    node: Arc<TmpInode>,
    offset: u64,
}

impl Directory {
    /// An empty directory.
    pub(super) fn new() -> Directory {
        Directory {
            by_name: NameTable::default(),
            names_by_offset: Offsets::default(),
            next_offset: 1,
        }
    }

    /// Number of entries.
    pub(super) fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether the directory has no entries.
    pub(super) fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The inode named `name`.
    pub(super) fn get(&self, name: &str) -> Option<&Arc<TmpInode>> {
        self.by_name.get(name).map(|slot| &slot.node)
    }

    /// The inode named `name`, with the name as kept here.
    fn get_entry(&self, name: &str) -> Option<(&Arc<str>, &Arc<TmpInode>)> {
        self.by_name
            .get_key_value(name)
            .map(|(name, slot)| (name, &slot.node))
    }

    /// `EOVERFLOW` unless `count` more entries can get offsets (they are never reused).
    pub(super) fn check_room(&self, count: u64) -> Result<()> {
        self.next_offset
            .checked_add(count)
            .map(|_| ())
            .ok_or(Errno::EOVERFLOW)
    }

    /// Adds `name` at the next offset: `EEXIST` if present, `EOVERFLOW` out of offsets.
    pub(super) fn insert(&mut self, name: &str, node: Arc<TmpInode>) -> Result<()> {
        // Room first (a growth can fail without anything changed), then one search of the
        // table, which finds the name taken or leaves its place to fill.
        self.by_name.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        self.names_by_offset.try_reserve()?;
        let offset = self.next_offset;
        let Some(next_offset) = offset.checked_add(1) else {
            // Out of offsets; a name that is there is still `EEXIST` first.
            return Err(match self.by_name.get(name) {
                Some(_) => Errno::EEXIST,
                None => Errno::EOVERFLOW,
            });
        };
        let key = self
            .by_name
            .insert_new(name, || (Arc::from(name), Slot { node, offset }))
            .map_err(|refused| match refused {
                Refused::Taken => Errno::EEXIST,
                // More entries than 4 bytes count: as Linux's tmpfs out of inodes.
                Refused::Full => Errno::ENOSPC,
            })?;
        self.names_by_offset.push(offset, key.clone());
        self.next_offset = next_offset;
        Ok(())
    }

    /// Removes `name`, returning its inode.
    pub(super) fn remove(&mut self, name: &str) -> Option<Arc<TmpInode>> {
        let slot = self.by_name.remove(name)?;
        self.names_by_offset.remove(slot.offset);
        Some(slot.node)
    }

    /// Points the existing entry `name` at `node`, keeping its offset (a listing in progress
    /// sees the name once); returns the inode it named, or `None` (and changes nothing) if
    /// `name` is absent.
    pub(super) fn replace(&mut self, name: &str, node: Arc<TmpInode>) -> Option<Arc<TmpInode>> {
        let slot = self.by_name.get_mut(name)?;
        Some(core::mem::replace(&mut slot.node, node))
    }

    /// Entries with an offset above `cookie`, in offset order.
    fn entries_after(&self, cookie: u64) -> impl Iterator<Item = (u64, &Arc<str>, &TmpInode)> {
        self.names_by_offset
            .after(cookie)
            .filter_map(|(offset, name)| {
                // Both maps change together, so every offset has its name.
                self.by_name
                    .get(name)
                    .map(|slot| (offset, name, &*slot.node))
            })
    }

    /// Empties the directory, returning the inodes it held.
    pub(super) fn take_nodes(&mut self) -> Vec<Arc<TmpInode>> {
        self.names_by_offset.clear();
        self.by_name.take_values().map(|slot| slot.node).collect()
    }
}

/// Checks a symlink target as Linux's `symlink(2)` does: `ENOENT` if empty, `ENAMETOOLONG` if
/// it is as long as [`PATH_MAX`] (which counts the NUL), `EINVAL` with a NUL inside.
fn check_symlink_target(target: &str) -> Result<()> {
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    if target.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if target.bytes().any(|b| b == 0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

impl TmpInode {
    /// `ENOTDIR` unless this is a directory.
    fn check_dir(&self) -> Result<()> {
        if self.kind().is_dir() {
            Ok(())
        } else {
            Err(Errno::ENOTDIR)
        }
    }

    pub(super) fn lookup_child(&self, name: &str) -> Result<Arc<TmpInode>> {
        self.with_child(name, |_, node| node.clone())
    }

    /// [`TmpInode::lookup_child`], with the directory's own `Arc` of the name.
    pub(super) fn lookup_child_shared(&self, name: &str) -> Result<(Arc<TmpInode>, Arc<str>)> {
        self.with_child(name, |shared, node| (node.clone(), shared.clone()))
    }

    /// `found` applied to the entry `name` (its name as kept here, its inode) under the lock:
    /// `EINVAL`/`ENAMETOOLONG` for a bad name, `ENOTDIR`, `ENOENT`.
    fn with_child<T>(
        &self,
        name: &str,
        found: impl FnOnce(&Arc<str>, &Arc<TmpInode>) -> T,
    ) -> Result<T> {
        check_name(name)?;
        self.check_dir()?;
        let state = self.state.read();
        let (shared, node) = state.directory()?.get_entry(name).ok_or(Errno::ENOENT)?;
        Ok(found(shared, node))
    }

    pub(super) fn create_child(&self, name: &str, node: &NewNode) -> Result<Arc<TmpInode>> {
        check_name(name)?;
        let init = NodeInit::for_new_node(node)?;
        self.add_child(name, init)
    }

    pub(super) fn symlink_child(
        &self,
        name: &str,
        target: &str,
        uid: u32,
        gid: u32,
    ) -> Result<Arc<TmpInode>> {
        check_name(name)?;
        check_symlink_target(target)?;
        let mut owned_target = String::new();
        owned_target.try_reserve_exact(target.len())?;
        owned_target.push_str(target);
        let init = NodeInit {
            kind: FileType::Symlink,
            mode: 0o777,
            uid,
            gid,
            contents: Contents::Symlink(owned_target),
            charged_bytes: target.len() as u64,
        };
        self.add_child(name, init)
    }

    /// Adds a new inode made from `init` as `name`. `init.charged_bytes` are reserved here;
    /// the new inode owns them (and its inode slot) from then on.
    fn add_child(&self, name: &str, init: NodeInit) -> Result<Arc<TmpInode>> {
        self.check_dir()?;
        let mut state = self.state.write();
        let state = &mut *state;
        // Linux reports an existing name before a read-only filesystem.
        if state.directory()?.get(name).is_some() {
            return Err(Errno::EEXIST);
        }
        self.fs.check_writable()?;
        if state.nlink == 0 {
            // Removed while we held a handle: nothing can be created in it, as on Linux.
            return Err(Errno::ENOENT);
        }
        let is_dir = init.kind.is_dir();
        let parent_nlink = if is_dir {
            state.nlink.checked_add(1).ok_or(Errno::EMLINK)?
        } else {
            state.nlink
        };
        state.directory()?.check_room(1)?;
        self.fs.charge_inodes(1)?;
        if let Err(errno) = self.fs.charge_bytes(init.charged_bytes) {
            self.fs.uncharge_inodes(1);
            return Err(errno);
        }
        let child = TmpInode::new(&self.fs, init);
        if is_dir {
            *child.parent.lock() = self.this.clone();
        }
        // Cannot fail: the name is free and there is room, both checked under this lock. If it
        // did, dropping `child` would give its charges back.
        state.directory_mut()?.insert(name, child.clone())?;
        state.nlink = parent_nlink;
        state.touch_modified(self.fs.now());
        Ok(child)
    }

    pub(super) fn link_child(&self, name: &str, target: &dyn Inode) -> Result<()> {
        check_name(name)?;
        self.check_dir()?;
        let mut state = self.state.write();
        let state = &mut *state;
        // Linux's order: the name, then the filesystem, then the kind of target.
        if state.directory()?.get(name).is_some() {
            return Err(Errno::EEXIST);
        }
        self.fs.check_writable()?;
        let target = self.own_inode(target)?;
        if target.kind().is_dir() {
            return Err(Errno::EPERM);
        }
        if state.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        // Only a live `Arc` can hand out `&TmpInode`, so the upgrade succeeds.
        let target_arc = target.this.upgrade().ok_or(Errno::ENOENT)?;
        state.directory()?.check_room(1)?;
        // Lock order: this directory, then the (non-directory) inode linked into it.
        let mut target_state = target.state.write();
        if target_state.nlink == 0 {
            // Its last name is gone: Linux refuses to bring it back.
            return Err(Errno::ENOENT);
        }
        let nlink = target_state.nlink.checked_add(1).ok_or(Errno::EMLINK)?;
        self.fs.charge_inodes(1)?;
        if let Err(errno) = state.directory_mut()?.insert(name, target_arc) {
            self.fs.uncharge_inodes(1);
            return Err(errno);
        }
        let now = self.fs.now();
        target_state.nlink = nlink;
        target_state.ctime = now;
        state.touch_modified(now);
        Ok(())
    }

    pub(super) fn unlink_child(&self, name: &str) -> Result<()> {
        check_name(name)?;
        self.check_dir()?;
        self.fs.check_writable()?;
        let mut state = self.state.write();
        let child = state.directory()?.get(name).ok_or(Errno::ENOENT)?;
        if child.kind().is_dir() {
            return Err(Errno::EISDIR);
        }
        let removed = state.directory_mut()?.remove(name).ok_or(Errno::ENOENT)?;
        let now = self.fs.now();
        removed.drop_link(now);
        state.touch_modified(now);
        drop(state);
        // `removed` may be the last handle: let it go outside the directory's lock.
        drop(removed);
        Ok(())
    }

    pub(super) fn rmdir_child(&self, name: &str) -> Result<()> {
        check_name(name)?;
        self.check_dir()?;
        self.fs.check_writable()?;
        let mut state = self.state.write();
        let child = state.directory()?.get(name).ok_or(Errno::ENOENT)?.clone();
        if !child.kind().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        // Lock order: this directory, then the directory inside it.
        let mut child_state = child.state.write();
        if !child_state.directory()?.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        state.directory_mut()?.remove(name);
        let now = self.fs.now();
        child_state.nlink = 0;
        child_state.ctime = now;
        state.nlink = state.nlink.saturating_sub(1);
        state.touch_modified(now);
        Ok(())
    }

    /// Takes one name away from a non-directory that was just removed from a directory (whose
    /// lock the caller holds): `nlink` down by one, `ctime` now, and the inode slot of an
    /// extra hard link given back (the last name's slot goes with the inode).
    pub(super) fn drop_link(&self, now: crate::vfs::Timespec) {
        let mut state = self.state.write();
        state.nlink = state.nlink.saturating_sub(1);
        state.ctime = now;
        if state.nlink > 0 {
            self.fs.uncharge_inodes(1);
        }
    }

    pub(super) fn list_children(
        &self,
        cookie: u64,
        sink: &mut dyn FnMut(DirEntry<'_>) -> bool,
    ) -> Result<()> {
        self.check_dir()?;
        let mut cookie = cookie;
        let mut batch: Vec<(u64, Arc<str>, Ino, FileType)> = Vec::new();
        batch.try_reserve_exact(READDIR_BATCH)?;
        loop {
            batch.clear();
            {
                let state = self.state.read();
                for (offset, name, node) in
                    state.directory()?.entries_after(cookie).take(READDIR_BATCH)
                {
                    batch.push((offset, name.clone(), node.ino(), node.kind()));
                }
            }
            if batch.is_empty() {
                return Ok(());
            }
            for (offset, name, ino, kind) in &batch {
                if !sink(DirEntry {
                    name,
                    shared_name: Some(name),
                    ino: *ino,
                    kind: *kind,
                    next_cookie: *offset,
                }) {
                    return Ok(());
                }
                cookie = *offset;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{directory, names, regular};
    use super::super::{TmpFs, TmpFsOptions};
    use super::*;
    use crate::vfs::{DeviceId, FileSystem, RenameFlags};

    #[test]
    fn create_and_lookup_every_kind() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let mut char_dev = NewNode::new(FileType::CharDevice, 0o600, 1, 2);
        char_dev.rdev = DeviceId {
            major: 4,
            minor: 64,
        };
        let mut block_dev = NewNode::new(FileType::BlockDevice, 0o660, 0, 6);
        block_dev.rdev = DeviceId { major: 8, minor: 1 };
        let mut fifo = NewNode::new(FileType::Fifo, 0o644, 0, 0);
        fifo.rdev = DeviceId { major: 9, minor: 9 };
        let cases = [
            ("file", regular()),
            ("dir", directory()),
            ("chr", char_dev),
            ("blk", block_dev),
            ("fifo", fifo),
            ("sock", NewNode::new(FileType::Socket, 0o755, 0, 0)),
        ];
        for (name, node) in &cases {
            let created = root.create(name, node).unwrap();
            let meta = root.lookup(name).unwrap().metadata().unwrap();
            assert_eq!(meta, created.metadata().unwrap());
            assert_eq!(meta.kind, node.kind);
            assert_eq!(meta.mode, node.mode);
            assert_eq!((meta.uid, meta.gid), (node.uid, node.gid));
            let expected_rdev = match node.kind {
                FileType::CharDevice | FileType::BlockDevice => node.rdev,
                _ => DeviceId::default(),
            };
            assert_eq!(meta.rdev, expected_rdev, "{name}");
            assert_eq!(meta.nlink, if node.kind.is_dir() { 2 } else { 1 });
            assert_eq!(meta.size, if node.kind.is_dir() { 40 } else { 0 });
        }
        let link = root.symlink("link", "some/where", 3, 4).unwrap();
        let meta = link.metadata().unwrap();
        assert_eq!(
            (meta.kind, meta.mode, meta.size, meta.uid, meta.gid),
            (FileType::Symlink, 0o777, 10, 3, 4)
        );
        assert_eq!(
            root.lookup("link").unwrap().readlink().unwrap(),
            "some/where"
        );
        assert_eq!(
            names(&*root),
            ["file", "dir", "chr", "blk", "fifo", "sock", "link"]
        );
        assert_eq!(root.metadata().unwrap().nlink, 3);
        assert_eq!(root.metadata().unwrap().size, 9 * 20);
    }

    #[test]
    fn create_errors() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let file = root.create("f", &regular()).unwrap();
        assert_eq!(root.create("f", &regular()).err(), Some(Errno::EEXIST));
        assert_eq!(root.create("f", &directory()).err(), Some(Errno::EEXIST));
        assert_eq!(root.symlink("f", "x", 0, 0).err(), Some(Errno::EEXIST));
        assert_eq!(
            root.create("s", &NewNode::new(FileType::Symlink, 0o777, 0, 0))
                .err(),
            Some(Errno::EINVAL)
        );
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            assert_eq!(
                root.create(bad, &regular()).err(),
                Some(Errno::EINVAL),
                "{bad:?}"
            );
            assert_eq!(root.lookup(bad).err(), Some(Errno::EINVAL));
            assert_eq!(root.unlink(bad), Err(Errno::EINVAL));
            assert_eq!(root.rmdir(bad), Err(Errno::EINVAL));
        }
        let long = "x".repeat(256);
        assert_eq!(
            root.create(&long, &regular()).err(),
            Some(Errno::ENAMETOOLONG)
        );
        assert_eq!(root.lookup(&long).err(), Some(Errno::ENAMETOOLONG));
        assert!(root.create(&"x".repeat(255), &regular()).is_ok());
        assert_eq!(file.create("x", &regular()).err(), Some(Errno::ENOTDIR));
        assert_eq!(file.lookup("x").err(), Some(Errno::ENOTDIR));
        assert_eq!(file.symlink("x", "t", 0, 0).err(), Some(Errno::ENOTDIR));
        assert_eq!(file.unlink("x"), Err(Errno::ENOTDIR));
        assert_eq!(file.rmdir("x"), Err(Errno::ENOTDIR));
        assert_eq!(file.readdir(0, &mut |_| true), Err(Errno::ENOTDIR));
        assert_eq!(root.lookup("missing").err(), Some(Errno::ENOENT));
        assert_eq!(root.symlink("s", "", 0, 0).err(), Some(Errno::ENOENT));
        assert_eq!(
            root.symlink("s", &"t".repeat(4096), 0, 0).err(),
            Some(Errno::ENAMETOOLONG)
        );
        assert_eq!(root.symlink("s", "a\0b", 0, 0).err(), Some(Errno::EINVAL));
        assert!(root.symlink("s", &"t".repeat(4095), 0, 0).is_ok());
    }

    #[test]
    fn symlink_targets_are_charged() {
        let fs = TmpFs::new(TmpFsOptions {
            capacity_bytes: Some(10),
            ..TmpFsOptions::default()
        });
        let root = fs.root();
        root.symlink("a", "123456", 0, 0).unwrap();
        assert_eq!(fs.used_bytes(), 6);
        assert_eq!(root.symlink("b", "12345", 0, 0).err(), Some(Errno::ENOSPC));
        assert_eq!(root.lookup("b").err(), Some(Errno::ENOENT));
        assert_eq!(
            (fs.used_bytes(), fs.used_inodes()),
            (6, 2),
            "nothing left behind"
        );
        root.symlink("b", "1234", 0, 0).unwrap();
        root.unlink("a").unwrap();
        assert_eq!(fs.used_bytes(), 4);
    }

    #[test]
    fn offsets_that_run_out_are_eoverflow() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let file = fs.root_inode().create_child("f", &regular()).unwrap();
        let mut directory = Directory::new();
        directory.next_offset = u64::MAX - 1;
        directory.insert("a", file.clone()).unwrap();
        assert_eq!(directory.insert("b", file.clone()), Err(Errno::EOVERFLOW));
        assert_eq!(directory.insert("a", file.clone()), Err(Errno::EEXIST));
        assert_eq!(directory.len(), 1);
        // Through the inode: a directory out of offsets refuses new entries, changing nothing.
        let root = fs.root_inode();
        root.state.write().directory_mut().unwrap().next_offset = u64::MAX;
        assert_eq!(root.create("g", &regular()).err(), Some(Errno::EOVERFLOW));
        assert_eq!(root.link("g", &*file), Err(Errno::EOVERFLOW));
        assert_eq!(
            root.rename("f", &*root, "g", RenameFlags::empty()),
            Err(Errno::EOVERFLOW)
        );
        assert_eq!(names(&*root), ["f"]);
        assert_eq!(fs.used_inodes(), 2);
        assert_eq!(file.metadata().unwrap().nlink, 1);
        // Room for one entry but not for the whiteout too: all or nothing.
        root.state.write().directory_mut().unwrap().next_offset = u64::MAX - 1;
        assert_eq!(
            root.rename("f", &*root, "g", RenameFlags::WHITEOUT),
            Err(Errno::EOVERFLOW)
        );
        assert_eq!(names(&*root), ["f"]);
        assert_eq!(fs.used_inodes(), 2);
        root.rename("f", &*root, "g", RenameFlags::empty()).unwrap();
        assert_eq!(names(&*root), ["g"]);
    }

    #[test]
    fn modes_are_masked_to_permission_bits() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let file = fs
            .root()
            .create("f", &NewNode::new(FileType::Regular, 0o177_777, 0, 0))
            .unwrap();
        assert_eq!(file.metadata().unwrap().mode, 0o7777);
    }

    #[test]
    fn parent_times_move_on_create_and_remove() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let mut last = root.metadata().unwrap();
        let mut check_moved = |what: &str| {
            let now = root.metadata().unwrap();
            assert!(now.mtime > last.mtime && now.ctime == now.mtime, "{what}");
            last = now;
        };
        let file = root.create("f", &regular()).unwrap();
        check_moved("create");
        root.create("d", &directory()).unwrap();
        check_moved("mkdir");
        root.symlink("l", "t", 0, 0).unwrap();
        check_moved("symlink");
        let file_ctime = file.metadata().unwrap().ctime;
        root.link("g", &*file).unwrap();
        check_moved("link");
        assert!(file.metadata().unwrap().ctime > file_ctime);
        let file_ctime = file.metadata().unwrap().ctime;
        root.unlink("g").unwrap();
        check_moved("unlink");
        assert!(file.metadata().unwrap().ctime > file_ctime);
        root.rmdir("d").unwrap();
        check_moved("rmdir");
    }

    #[test]
    fn unlink_and_rmdir_errors() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        root.create("f", &regular()).unwrap();
        let dir = root.create("d", &directory()).unwrap();
        dir.create("inner", &regular()).unwrap();
        assert_eq!(root.unlink("missing"), Err(Errno::ENOENT));
        assert_eq!(root.rmdir("missing"), Err(Errno::ENOENT));
        assert_eq!(root.unlink("d"), Err(Errno::EISDIR));
        assert_eq!(root.rmdir("f"), Err(Errno::ENOTDIR));
        assert_eq!(root.rmdir("d"), Err(Errno::ENOTEMPTY));
        dir.unlink("inner").unwrap();
        assert_eq!(dir.unlink("inner"), Err(Errno::ENOENT));
        root.rmdir("d").unwrap();
        assert_eq!(root.rmdir("d"), Err(Errno::ENOENT));
        root.unlink("f").unwrap();
        assert_eq!(root.lookup("f").err(), Some(Errno::ENOENT));
        assert!(names(&*root).is_empty());
    }

    #[test]
    fn directory_nlink_counts_subdirectories() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let a = root.create("a", &directory()).unwrap();
        root.create("b", &directory()).unwrap();
        root.create("f", &regular()).unwrap();
        a.create("c", &directory()).unwrap();
        assert_eq!(root.metadata().unwrap().nlink, 4);
        assert_eq!(a.metadata().unwrap().nlink, 3);
        a.rmdir("c").unwrap();
        assert_eq!(a.metadata().unwrap().nlink, 2);
        root.rmdir("a").unwrap();
        assert_eq!(root.metadata().unwrap().nlink, 3);
        assert_eq!(a.metadata().unwrap().nlink, 0);
    }

    #[test]
    fn removed_directory_accepts_nothing_new() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let file = root.create("f", &regular()).unwrap();
        let dir = root.create("d", &directory()).unwrap();
        root.rmdir("d").unwrap();
        assert_eq!(dir.create("x", &regular()).err(), Some(Errno::ENOENT));
        assert_eq!(dir.create("x", &directory()).err(), Some(Errno::ENOENT));
        assert_eq!(dir.symlink("x", "t", 0, 0).err(), Some(Errno::ENOENT));
        assert_eq!(dir.link("x", &*file), Err(Errno::ENOENT));
        assert_eq!(dir.lookup("x").err(), Some(Errno::ENOENT));
        assert!(names(&*dir).is_empty());
        assert_eq!(
            fs.used_inodes(),
            3,
            "nothing leaked from the failed creates"
        );
    }

    #[test]
    fn hard_links_share_the_inode() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let sub = root.create("sub", &directory()).unwrap();
        let file = root.create("a", &regular()).unwrap();
        file.write_at(0, b"shared").unwrap();
        root.link("b", &*file).unwrap();
        sub.link("c", &*file).unwrap();
        let b = root.lookup("b").unwrap();
        let c = sub.lookup("c").unwrap();
        let meta = file.metadata().unwrap();
        assert_eq!(meta.nlink, 3);
        assert_eq!(b.metadata().unwrap().ino, meta.ino);
        c.write_at(0, b"SH").unwrap();
        let mut buf = [0; 6];
        b.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"SHared");
        root.unlink("a").unwrap();
        sub.unlink("c").unwrap();
        assert_eq!(b.metadata().unwrap().nlink, 1);
        root.unlink("b").unwrap();
        // Unlinked but still open: keeps working with nlink 0.
        assert_eq!(file.metadata().unwrap().nlink, 0);
        file.write_at(6, b"!").unwrap();
        let mut buf = [0; 7];
        file.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"SHared!");
        // ... but cannot be linked back (Linux: ENOENT).
        assert_eq!(root.link("back", &*file), Err(Errno::ENOENT));
    }

    #[test]
    fn link_errors() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let other = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let file = root.create("f", &regular()).unwrap();
        let dir = root.create("d", &directory()).unwrap();
        let foreign = other.root().create("x", &regular()).unwrap();
        assert_eq!(root.link("d2", &*dir), Err(Errno::EPERM));
        assert_eq!(root.link("f", &*file), Err(Errno::EEXIST));
        assert_eq!(
            root.link("d", &*dir),
            Err(Errno::EEXIST),
            "Linux: EEXIST before EPERM"
        );
        assert_eq!(root.link("y", &*foreign), Err(Errno::EXDEV));
        assert_eq!(file.link("y", &*file), Err(Errno::ENOTDIR));
        assert_eq!(root.link("", &*file), Err(Errno::EINVAL));
        struct Alien;
        impl Inode for Alien {
            fn metadata(&self) -> Result<crate::vfs::Metadata> {
                Err(Errno::EIO)
            }
            fn as_any(&self) -> &dyn core::any::Any {
                self
            }
        }
        assert_eq!(root.link("y", &Alien), Err(Errno::EXDEV));
        let symlink = root.symlink("s", "f", 0, 0).unwrap();
        root.link("s2", &*symlink).unwrap();
        assert_eq!(root.lookup("s2").unwrap().readlink().unwrap(), "f");
        assert_eq!(symlink.metadata().unwrap().nlink, 2);
    }

    #[test]
    fn readdir_cookies_resume_after_the_last_entry() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        for i in 0..100 {
            root.create(&alloc::format!("f{i:03}"), &regular()).unwrap();
        }
        let mut seen = Vec::new();
        let mut cookie = 0;
        loop {
            let mut got = 0;
            root.readdir(cookie, &mut |entry| {
                seen.push(String::from(entry.name));
                cookie = entry.next_cookie;
                got += 1;
                got < 7
            })
            .unwrap();
            if got == 0 {
                break;
            }
        }
        let expected: Vec<String> = (0..100).map(|i| alloc::format!("f{i:03}")).collect();
        assert_eq!(seen, expected);
        // A cookie past the end lists nothing.
        root.readdir(u64::MAX, &mut |_| panic!("nothing after the end"))
            .unwrap();
    }

    #[test]
    fn readdir_never_skips_or_repeats_survivors_across_changes() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        for i in 0..50 {
            root.create(&alloc::format!("n{i}"), &regular()).unwrap();
        }
        let mut seen: Vec<String> = Vec::new();
        let mut cookie = 0;
        let mut round = 0;
        loop {
            let mut got = 0;
            root.readdir(cookie, &mut |entry| {
                seen.push(String::from(entry.name));
                cookie = entry.next_cookie;
                got += 1;
                got < 5
            })
            .unwrap();
            if got == 0 {
                break;
            }
            // Between reads, remove an entry already listed, one not yet listed, and add new.
            round += 1;
            let _ = root.unlink(&alloc::format!("n{}", round * 2 - 2));
            let _ = root.unlink(&alloc::format!("n{}", 49 - round));
            if round < 5 {
                root.create(&alloc::format!("new{round}"), &regular())
                    .unwrap();
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "no entry listed twice");
        let survivors = names(&*root);
        for name in &survivors {
            if name.starts_with('n') {
                assert!(seen.contains(name), "survivor {name} listed");
            }
        }
        // Entries created during the listing are appended, so they appear too.
        assert!(seen.iter().any(|name| name.starts_with("new")));
    }

    #[test]
    fn readdir_sink_may_call_back_into_the_directory() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        root.create("a", &regular()).unwrap();
        let mut count = 0;
        root.readdir(0, &mut |entry| {
            count += 1;
            // Creating in the directory being listed must not deadlock.
            let _ = root.create(&alloc::format!("{}x", entry.name), &regular());
            count < 3
        })
        .unwrap();
        assert_eq!(count, 3);
        assert_eq!(names(&*root), ["a", "ax", "axx", "axxx"]);
        let entries = {
            let mut entries = Vec::new();
            root.readdir(0, &mut |entry| {
                entries.push((entry.ino, entry.kind));
                true
            })
            .unwrap();
            entries
        };
        assert_eq!(
            entries[0],
            (
                root.lookup("a").unwrap().metadata().unwrap().ino,
                FileType::Regular
            )
        );
    }
}
