//! [`TmpInode`]: one inode of a [`TmpFs`](super::TmpFs), and its [`Inode`] implementation.
//!
//! The data operations (read, write, truncate), metadata, symlinks and xattrs live here; the
//! namespace operations of directories are in `dir.rs` and rename in `rename.rs`.

use alloc::{
    string::String,
    sync::{Arc, Weak},
    vec::Vec,
};
use core::any::Any;

use super::{data::FileData, dir::Directory, xattr::Xattrs, Shared};
use crate::error::{Errno, Result};
use crate::vfs::{
    Bytes, DeviceId, DirEntry, FileType, Ino, Inode, Metadata, NamedInode, NewNode, OpenFlags,
    Permissions, RenameFlags, SetAttr, Timespec, XattrFlags, MODE_PERMISSIONS,
};

/// Size Linux tmpfs reports per directory entry, `.` and `..` included (`BOGO_DIRENT_SIZE`).
const BOGO_DIRENT_BYTES: u64 = 20;

/// An inode of a [`TmpFs`](super::TmpFs): a file, directory, symlink, device node, fifo or
/// socket.
///
/// Handles are `Arc<TmpInode>` (usually seen as `Arc<dyn Inode>`). An inode whose last name is
/// removed keeps working through the handles that remain (with `nlink` 0); its space is given
/// back when the last handle goes.
pub struct TmpInode {
    ino: Ino,
    kind: FileType,
    pub(super) fs: Arc<Shared>,
    /// This inode's own `Arc`, so that a `&TmpInode` (all that `link` and `rename` receive)
    /// can be stored in a directory.
    pub(super) this: Weak<TmpInode>,
    /// For a directory, the directory holding it (the root has none); unused for other kinds,
    /// which may have many. Changed only under the filesystem's rename lock, and only read to
    /// walk up the tree. A leaf lock: nothing else is locked while it is held.
    pub(super) parent: spin::Mutex<Weak<TmpInode>>,
    pub(super) state: spin::RwLock<NodeState>,
}

/// The mutable part of an inode, behind its lock.
pub(super) struct NodeState {
    pub(super) mode: u16,
    pub(super) uid: u32,
    pub(super) gid: u32,
    /// Names of a non-directory; for a directory 2 plus its subdirectories, 0 once removed.
    pub(super) nlink: u32,
    pub(super) atime: Timespec,
    pub(super) mtime: Timespec,
    pub(super) ctime: Timespec,
    /// Bytes this inode holds against the capacity: pages, symlink target, xattrs.
    pub(super) charged_bytes: u64,
    pub(super) xattrs: Xattrs,
    pub(super) contents: Contents,
}

/// What an inode holds, by kind.
pub(super) enum Contents {
    Regular(FileData),
    Directory(Directory),
    Symlink(String),
    /// Character and block devices (with their number), fifos and sockets (number 0:0).
    Special(DeviceId),
}

impl NodeState {
    /// The directory's entries; `ENOTDIR` for other kinds.
    pub(super) fn directory(&self) -> Result<&Directory> {
        match &self.contents {
            Contents::Directory(directory) => Ok(directory),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// The directory's entries, for changing; `ENOTDIR` for other kinds.
    pub(super) fn directory_mut(&mut self) -> Result<&mut Directory> {
        match &mut self.contents {
            Contents::Directory(directory) => Ok(directory),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// Records a change of content (entries or data): `mtime` and `ctime` become `now`.
    pub(super) fn touch_modified(&mut self, now: Timespec) {
        self.mtime = now;
        self.ctime = now;
    }
}

/// Everything a new inode starts with.
pub(super) struct NodeInit {
    pub(super) kind: FileType,
    pub(super) mode: u16,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) contents: Contents,
    /// Bytes already charged for `contents`, given back when the inode goes.
    pub(super) charged_bytes: u64,
}

impl NodeInit {
    /// What `create` makes of `node`: empty contents of its kind (`EINVAL` for a symlink).
    pub(super) fn for_new_node(node: &NewNode) -> Result<NodeInit> {
        let contents = match node.kind {
            FileType::Regular => Contents::Regular(FileData::default()),
            FileType::Directory => Contents::Directory(Directory::new()),
            FileType::CharDevice | FileType::BlockDevice => Contents::Special(node.rdev),
            FileType::Fifo | FileType::Socket => Contents::Special(DeviceId::default()),
            FileType::Symlink => return Err(Errno::EINVAL),
        };
        Ok(NodeInit {
            kind: node.kind,
            mode: node.mode & MODE_PERMISSIONS,
            uid: node.uid,
            gid: node.gid,
            contents,
            charged_bytes: 0,
        })
    }
}

impl TmpInode {
    /// A new inode, whose inode slot the caller has already charged; the inode gives it back
    /// (and its `charged_bytes`) when dropped.
    pub(super) fn new(fs: &Arc<Shared>, init: NodeInit) -> Arc<TmpInode> {
        let now = fs.now();
        let nlink = if init.kind.is_dir() { 2 } else { 1 };
        Arc::new_cyclic(|this| TmpInode {
            ino: fs.allocate_ino(),
            kind: init.kind,
            fs: fs.clone(),
            this: this.clone(),
            parent: spin::Mutex::new(Weak::new()),
            state: spin::RwLock::new(NodeState {
                mode: init.mode,
                uid: init.uid,
                gid: init.gid,
                nlink,
                atime: now,
                mtime: now,
                ctime: now,
                charged_bytes: init.charged_bytes,
                xattrs: Xattrs::default(),
                contents: init.contents,
            }),
        })
    }

    /// The root directory of a new filesystem (its inode slot already charged).
    pub(super) fn new_root(fs: &Arc<Shared>, mode: u16, uid: u32, gid: u32) -> Arc<TmpInode> {
        TmpInode::new(
            fs,
            NodeInit {
                kind: FileType::Directory,
                mode: mode & MODE_PERMISSIONS,
                uid,
                gid,
                contents: Contents::Directory(Directory::new()),
                charged_bytes: 0,
            },
        )
    }

    /// The inode number.
    pub fn ino(&self) -> Ino {
        self.ino
    }

    /// The kind of inode.
    pub fn kind(&self) -> FileType {
        self.kind
    }

    /// Whether `other` belongs to the same filesystem as `self`.
    pub(super) fn same_fs(&self, other: &TmpInode) -> bool {
        Arc::ptr_eq(&self.fs, &other.fs)
    }

    /// `other` as an inode of this filesystem, or `EXDEV`.
    pub(super) fn own_inode<'a>(&self, other: &'a dyn Inode) -> Result<&'a TmpInode> {
        other
            .as_any()
            .downcast_ref::<TmpInode>()
            .filter(|other| self.same_fs(other))
            .ok_or(Errno::EXDEV)
    }

    /// `EISDIR` for a directory, `EINVAL` for any other kind that has no data.
    fn check_has_data(&self) -> Result<()> {
        match self.kind {
            FileType::Regular => Ok(()),
            FileType::Directory => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }
}

impl core::fmt::Debug for TmpInode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TmpInode")
            .field("ino", &self.ino)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Drop for TmpInode {
    fn drop(&mut self) {
        let state = self.state.get_mut();
        self.fs.uncharge_bytes(state.charged_bytes);
        // A non-directory holds one slot per name (at least one); see `max_inodes`.
        let slots = if self.kind.is_dir() {
            1
        } else {
            u64::from(state.nlink.max(1))
        };
        self.fs.uncharge_inodes(slots);
        // Dropping the entries in place would drop subdirectories recursively, as deep as the
        // tree goes; take them out and drop them one at a time instead.
        if let Contents::Directory(directory) = &mut state.contents {
            let mut orphans = directory.take_nodes();
            while let Some(orphan) = orphans.pop() {
                if let Some(mut orphan) = Arc::into_inner(orphan) {
                    if let Contents::Directory(directory) = &mut orphan.state.get_mut().contents {
                        orphans.append(&mut directory.take_nodes());
                    }
                    // `orphan` is dropped here with no entries left.
                }
            }
        }
    }
}

impl TmpInode {
    /// Writes `len` bytes at `offset` with `write`, all or nothing: the capacity for the
    /// pages the write needs is reserved first, and given back if `write` fails.
    fn write_data(
        &self,
        offset: u64,
        len: usize,
        write: impl FnOnce(&mut FileData) -> Result<()>,
    ) -> Result<usize> {
        self.check_has_data()?;
        self.fs.check_writable()?;
        if len == 0 {
            return Ok(0);
        }
        let mut state = self.state.write();
        let state = &mut *state;
        let Contents::Regular(data) = &mut state.contents else {
            return Err(Errno::EINVAL);
        };
        let needed_bytes = data.bytes_needed_for_write(offset, len)?;
        self.fs.charge_bytes(needed_bytes)?;
        if let Err(errno) = write(data) {
            self.fs.uncharge_bytes(needed_bytes);
            return Err(errno);
        }
        state.charged_bytes += needed_bytes;
        state.touch_modified(self.fs.now());
        Ok(len)
    }
}

impl Inode for TmpInode {
    fn metadata(&self) -> Result<Metadata> {
        let state = self.state.read();
        let (size, rdev) = match &state.contents {
            Contents::Regular(data) => (data.size_bytes(), DeviceId::default()),
            Contents::Directory(directory) => (
                (directory.len() as u64 + 2) * BOGO_DIRENT_BYTES,
                DeviceId::default(),
            ),
            Contents::Symlink(target) => (target.len() as u64, DeviceId::default()),
            Contents::Special(rdev) => (0, *rdev),
        };
        Ok(Metadata {
            ino: self.ino,
            dev: self.fs.dev,
            kind: self.kind,
            mode: state.mode,
            nlink: state.nlink,
            uid: state.uid,
            gid: state.gid,
            size,
            rdev,
            atime: state.atime,
            mtime: state.mtime,
            ctime: state.ctime,
        })
    }

    fn permissions(&self) -> Result<Permissions> {
        let state = self.state.read();
        Ok(Permissions {
            kind: self.kind,
            mode: state.mode,
            uid: state.uid,
            gid: state.gid,
        })
    }

    fn set_attr(&self, attr: &SetAttr) -> Result<()> {
        self.fs.check_writable()?;
        let mut state = self.state.write();
        if let Some(mode) = attr.mode {
            state.mode = mode & MODE_PERMISSIONS;
        }
        if let Some(uid) = attr.uid {
            state.uid = uid;
        }
        if let Some(gid) = attr.gid {
            state.gid = gid;
        }
        if let Some(atime) = attr.atime {
            state.atime = atime;
        }
        if let Some(mtime) = attr.mtime {
            state.mtime = mtime;
        }
        state.ctime = self.fs.now();
        Ok(())
    }

    fn lookup(&self, name: &str) -> Result<Arc<dyn Inode>> {
        Ok(self.lookup_child(name)?)
    }

    fn lookup_shared(&self, name: &str) -> Result<NamedInode> {
        let (node, shared) = self.lookup_child_shared(name)?;
        Ok((node, Some(shared)))
    }

    fn create(&self, name: &str, node: &NewNode) -> Result<Arc<dyn Inode>> {
        Ok(self.create_child(name, node)?)
    }

    fn symlink(&self, name: &str, target: &str, uid: u32, gid: u32) -> Result<Arc<dyn Inode>> {
        Ok(self.symlink_child(name, target, uid, gid)?)
    }

    fn link(&self, name: &str, target: &dyn Inode) -> Result<()> {
        self.link_child(name, target)
    }

    fn unlink(&self, name: &str) -> Result<()> {
        self.unlink_child(name)
    }

    fn rmdir(&self, name: &str) -> Result<()> {
        self.rmdir_child(name)
    }

    fn rename(
        &self,
        old_name: &str,
        new_dir: &dyn Inode,
        new_name: &str,
        flags: RenameFlags,
    ) -> Result<()> {
        self.rename_child(old_name, new_dir, new_name, flags)
    }

    /// Reads never update `atime` (as if mounted `noatime`).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.check_has_data()?;
        match &self.state.read().contents {
            Contents::Regular(data) => Ok(data.read(offset, buf)),
            _ => Err(Errno::EINVAL),
        }
    }

    /// All or nothing: the pages the write needs are reserved and allocated before a byte is
    /// written, so `ENOSPC` and `ENOMEM` leave the file as it was.
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize> {
        self.write_data(offset, buf.len(), |data| data.write(offset, buf))
    }

    /// Keeps `bytes` by reference, as a run of shared pages, where they fill whole pages (at
    /// a page-aligned `offset`, ending on a page boundary or at or past the end of the file);
    /// anywhere else they are copied as by `write_at`. A shared page is charged against the
    /// capacity like a copied one, and is copied on the first write into it (which then
    /// needs no more capacity), so every result is the one `write_at` would give.
    fn write_shared_at(&self, offset: u64, bytes: &Bytes) -> Result<usize> {
        self.write_data(offset, bytes.len(), |data| {
            if data.write_shared(offset, bytes)? {
                Ok(())
            } else {
                data.write(offset, bytes.as_slice())
            }
        })
    }

    /// Growing a file adds a hole, which needs no space; shrinking frees pages. `EFBIG` past
    /// the largest file size (`i64::MAX` bytes).
    fn set_len(&self, len: u64) -> Result<()> {
        self.check_has_data()?;
        self.fs.check_writable()?;
        let mut state = self.state.write();
        let state = &mut *state;
        let Contents::Regular(data) = &mut state.contents else {
            return Err(Errno::EINVAL);
        };
        let old_len = data.size_bytes();
        let freed_bytes = data.set_size(len)?;
        self.fs.uncharge_bytes(freed_bytes);
        state.charged_bytes -= freed_bytes;
        // POSIX: truncate marks mtime and ctime only if the size changes.
        if len != old_len {
            state.touch_modified(self.fs.now());
        }
        Ok(())
    }

    fn readdir(&self, cookie: u64, sink: &mut dyn FnMut(DirEntry<'_>) -> bool) -> Result<()> {
        self.list_children(cookie, sink)
    }

    fn readlink(&self) -> Result<String> {
        match &self.state.read().contents {
            Contents::Symlink(target) => {
                let mut copy = String::new();
                copy.try_reserve_exact(target.len())?;
                copy.push_str(target);
                Ok(copy)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn get_xattr(&self, name: &str) -> Result<Vec<u8>> {
        self.state.read().xattrs.get(name)
    }

    /// Names may be in the `user.`, `trusted.`, `security.` or `system.` namespace (others:
    /// `ENOTSUP`); an empty or over-long name is `ERANGE`, a bare prefix `EINVAL`, a value
    /// over 64 KiB `E2BIG`, as on Linux.
    fn set_xattr(&self, name: &str, value: &[u8], flags: XattrFlags) -> Result<()> {
        self.fs.check_writable()?;
        let mut state = self.state.write();
        let pending = state.xattrs.prepare_set(name, value, flags)?;
        let delta_bytes = pending.delta_bytes();
        if delta_bytes > 0 {
            self.fs.charge_bytes(delta_bytes.unsigned_abs())?;
            state.charged_bytes += delta_bytes.unsigned_abs();
        } else {
            self.fs.uncharge_bytes(delta_bytes.unsigned_abs());
            state.charged_bytes -= delta_bytes.unsigned_abs();
        }
        state.xattrs.commit(pending);
        state.ctime = self.fs.now();
        Ok(())
    }

    fn list_xattr(&self) -> Result<Vec<String>> {
        self.state.read().xattrs.list()
    }

    fn remove_xattr(&self, name: &str) -> Result<()> {
        self.fs.check_writable()?;
        let mut state = self.state.write();
        let freed_bytes = state.xattrs.remove(name)?;
        self.fs.uncharge_bytes(freed_bytes);
        state.charged_bytes -= freed_bytes;
        state.ctime = self.fs.now();
        Ok(())
    }

    /// `EISDIR` for a directory opened to change data; `EROFS` for a regular file opened to
    /// change data on a read-only filesystem (device nodes and fifos may still be opened for
    /// writing, as on Linux).
    fn open(&self, flags: OpenFlags) -> Result<()> {
        if !flags.modifies_data() {
            return Ok(());
        }
        match self.kind {
            FileType::Directory => Err(Errno::EISDIR),
            FileType::Regular | FileType::Symlink => self.fs.check_writable(),
            _ => Ok(()),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests;
