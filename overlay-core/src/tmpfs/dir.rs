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
mod tests;
