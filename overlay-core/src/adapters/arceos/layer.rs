//! An ArceOS filesystem (any `axfs_vfs::VfsOps`) as a [`FileSystem`] of this crate, so it
//! can be a layer of a union: a lower layer, or the upper one.

use alloc::sync::{Arc, Weak};
use core::any::Any;

use axfs_vfs::{VfsDirEntry, VfsError, VfsNodeOps, VfsNodeRef, VfsNodeType, VfsOps};
use hashbrown::HashMap;
use spin::Mutex;

use super::errno::errno_from_ax;
use super::{kind_from_ax, DIRENT_NAME_MAX};
use crate::error::{Errno, Result};
use crate::vfs::{
    check_name, DirEntry, FileSystem, FileType, FsFeatures, Ino, Inode, Metadata, NewNode,
    RenameFlags, StatFs,
};

/// How many entries [`ArceosInode::readdir`] asks the ArceOS directory for at a time.
const READ_DIR_BATCH: usize = 16;

/// Options of an [`ArceosLayer`]: what the ArceOS interface cannot say about a filesystem.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ArceosLayerOptions {
    /// The device number its entries report.
    pub dev: u64,
    /// Whether the filesystem is read-only: every modifying call then fails with `EROFS`
    /// before it reaches the filesystem, and a union refuses it as its upper layer.
    pub read_only: bool,
    /// The largest size a write or truncate may give a file; past it they fail with `EFBIG`
    /// before they reach the filesystem. An ArceOS filesystem has no way to say what it can
    /// hold, and `axfs_ramfs` grows a `Vec` for whatever it is asked (a write far past the
    /// end would exhaust memory), so set this to what the kernel can afford. The default,
    /// `isize::MAX`, only keeps offsets within what any Rust buffer can address.
    pub max_file_bytes: u64,
}

impl Default for ArceosLayerOptions {
    fn default() -> ArceosLayerOptions {
        ArceosLayerOptions {
            dev: 0,
            read_only: false,
            max_file_bytes: isize::MAX as u64,
        }
    }
}

/// An ArceOS filesystem as a [`FileSystem`]: a layer for a union.
///
/// It reports no [`FsFeatures`] but [`FsFeatures::READ_ONLY`] (if the options say so): the
/// ArceOS interface has no xattrs, device numbers, symlinks, hard links, metadata changes or
/// cross-directory renames, so a union over it as the upper layer writes name-based (`.wh.`)
/// whiteouts and builds copy-ups in place (see [`crate::overlay::UpperLayer`]).
pub struct ArceosLayer {
    fs: Arc<dyn VfsOps>,
    shared: Arc<Shared>,
}

/// What every inode of one layer shares.
struct Shared {
    options: ArceosLayerOptions,
    numbers: Mutex<Numbers>,
}

/// Inode numbers for the ArceOS nodes of one layer, which have none.
///
/// A node is known by the address of its `Arc`. The table holds a `Weak` to each node it
/// numbered, and a `Weak` keeps the allocation (not the node) alive, so no other node can
/// take that address while the entry stands: one address, one node, one number. Numbers
/// come from a counter and are never reused. A filesystem that keeps one node per entry for
/// the entry's life (`axfs_ramfs` does) so gets numbers as stable as the entries; one that
/// builds nodes per lookup gets a new number whenever the old node is gone.
#[derive(Default)]
struct Numbers {
    by_address: HashMap<usize, (Weak<dyn VfsNodeOps>, Ino)>,
    next: Ino,
}

impl Numbers {
    fn number(&mut self, node: &VfsNodeRef) -> Ino {
        let address = Arc::as_ptr(node).cast::<()>().addr();
        if let Some(&(_, ino)) = self.by_address.get(&address) {
            return ino;
        }
        // Forget dead nodes now and then, so the table does not only grow.
        let len = self.by_address.len();
        if len >= 1024 && len.is_power_of_two() {
            self.by_address
                .retain(|_, (node, _)| node.strong_count() > 0);
        }
        self.next += 1;
        self.by_address
            .insert(address, (Arc::downgrade(node), self.next));
        self.next
    }
}

impl ArceosLayer {
    /// A layer over the ArceOS filesystem `fs`, with default options.
    pub fn new(fs: Arc<dyn VfsOps>) -> Arc<ArceosLayer> {
        ArceosLayer::with_options(fs, ArceosLayerOptions::default())
    }

    /// A layer over the ArceOS filesystem `fs`.
    pub fn with_options(fs: Arc<dyn VfsOps>, options: ArceosLayerOptions) -> Arc<ArceosLayer> {
        Arc::new(ArceosLayer {
            fs,
            shared: Arc::new(Shared {
                options,
                numbers: Mutex::new(Numbers::default()),
            }),
        })
    }

    /// The ArceOS filesystem.
    pub fn arceos_fs(&self) -> &Arc<dyn VfsOps> {
        &self.fs
    }
}

impl FileSystem for ArceosLayer {
    fn root(&self) -> Arc<dyn Inode> {
        Arc::new(ArceosInode {
            node: self.fs.root_dir(),
            shared: self.shared.clone(),
        })
    }

    /// ArceOS's `statfs` has nothing to report yet (`FileSystemInfo` is empty), so this
    /// reports the longest name a listing can carry and nothing else.
    fn statfs(&self) -> Result<StatFs> {
        Ok(StatFs {
            block_size: 512,
            name_max: DIRENT_NAME_MAX as u32,
            ..StatFs::default()
        })
    }

    fn features(&self) -> FsFeatures {
        if self.shared.options.read_only {
            FsFeatures::READ_ONLY
        } else {
            FsFeatures::empty()
        }
    }
}

/// An ArceOS node as an [`Inode`].
///
/// How each call maps onto `VfsNodeOps`:
/// - names are checked first ([`check_name`]), so no `/`, `.` or `..` reaches ArceOS's
///   path-taking methods; a name longer than the 63 bytes an ArceOS directory entry holds is
///   never found and cannot be created (`ENAMETOOLONG`);
/// - `create` makes files and directories only (ArceOS has no device numbers or symlink
///   targets: other kinds are `EPERM`) and ignores mode and owner, which ArceOS cannot
///   store; it looks the name up first, since ArceOS's `create` may succeed on an existing
///   name;
/// - `unlink` and `rmdir` check the kind (and emptiness) before ArceOS's `remove`;
/// - `rename` works within one directory, through ArceOS's path-taking `rename`; between
///   directories it is `EXDEV` (and `Unsupported` becomes `EXDEV` too). Replacing a target
///   that ArceOS will not replace removes it first, which is not atomic;
/// - `readdir` cookies are ArceOS `read_dir` indices; `.` and `..` are skipped. Indices shift
///   when the directory changes between calls, so a listing read in pieces while others
///   change the directory can skip or repeat entries (a union reads each layer's directory
///   whole, under its lock);
/// - metadata: kind, permission bits and size from `get_attr`; owner root, `nlink` 1, times
///   zero (ArceOS has none of these); inode numbers as [`ArceosLayer`] explains;
/// - `open` does not call ArceOS's `open`, which would need a matching `release`.
pub struct ArceosInode {
    node: VfsNodeRef,
    shared: Arc<Shared>,
}

impl ArceosInode {
    /// The ArceOS node.
    pub fn arceos_node(&self) -> &VfsNodeRef {
        &self.node
    }

    fn wrap(&self, node: VfsNodeRef) -> Arc<ArceosInode> {
        Arc::new(ArceosInode {
            node,
            shared: self.shared.clone(),
        })
    }

    fn kind(&self) -> Result<FileType> {
        Ok(kind_from_ax(
            self.node.get_attr().map_err(errno_from_ax)?.file_type(),
        ))
    }

    fn writable(&self) -> Result<()> {
        if self.shared.options.read_only {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    /// Checks that a write or truncate may make the file `end` bytes long.
    fn check_size(&self, end: Option<u64>) -> Result<()> {
        match end {
            Some(end) if end <= self.shared.options.max_file_bytes => Ok(()),
            _ => Err(Errno::EFBIG),
        }
    }

    /// The child `name`, or `ENOENT` for a name no ArceOS directory entry can hold.
    fn child(&self, name: &str) -> Result<Arc<ArceosInode>> {
        check_name(name)?;
        if name.len() > DIRENT_NAME_MAX {
            return Err(Errno::ENOENT);
        }
        let node = self.node.clone().lookup(name).map_err(errno_from_ax)?;
        Ok(self.wrap(node))
    }

    /// Whether the directory has an entry besides `.` and `..`.
    fn has_entries(&self) -> Result<bool> {
        let mut found = false;
        self.read_entries(0, &mut |_, _, _| {
            found = true;
            false
        })?;
        Ok(found)
    }

    /// Calls `each(name, kind, next index)` for the entries from index `start` on (`.` and
    /// `..` and names that are not UTF-8 left out) until it returns `false`.
    fn read_entries(
        &self,
        start: usize,
        each: &mut dyn FnMut(&str, FileType, usize) -> bool,
    ) -> Result<()> {
        let mut batch: [VfsDirEntry; READ_DIR_BATCH] =
            core::array::from_fn(|_| VfsDirEntry::default());
        let mut index = start;
        loop {
            let count = self
                .node
                .read_dir(index, &mut batch)
                .map_err(errno_from_ax)?;
            for entry in batch.iter().take(count) {
                index += 1;
                let Ok(name) = core::str::from_utf8(entry.name_as_bytes()) else {
                    log::warn!("arceos layer: a name that is not UTF-8 is left out");
                    continue;
                };
                if name == "." || name == ".." || name.is_empty() {
                    continue;
                }
                if !each(name, kind_from_ax(entry.entry_type()), index) {
                    return Ok(());
                }
            }
            if count < batch.len() {
                return Ok(());
            }
        }
    }
}

impl Inode for ArceosInode {
    fn metadata(&self) -> Result<Metadata> {
        let attr = self.node.get_attr().map_err(errno_from_ax)?;
        Ok(Metadata {
            ino: self.shared.numbers.lock().number(&self.node),
            dev: self.shared.options.dev,
            kind: kind_from_ax(attr.file_type()),
            mode: attr.perm().bits() & 0o777,
            nlink: 1,
            uid: 0,
            gid: 0,
            size: attr.size(),
            rdev: Default::default(),
            atime: Default::default(),
            mtime: Default::default(),
            ctime: Default::default(),
        })
    }

    fn lookup(&self, name: &str) -> Result<Arc<dyn Inode>> {
        let child: Arc<dyn Inode> = self.child(name)?;
        Ok(child)
    }

    fn create(&self, name: &str, node: &NewNode) -> Result<Arc<dyn Inode>> {
        check_name(name)?;
        let kind = match node.kind {
            FileType::Symlink => return Err(Errno::EINVAL),
            FileType::Regular => VfsNodeType::File,
            FileType::Directory => VfsNodeType::Dir,
            _ => return Err(Errno::EPERM),
        };
        self.writable()?;
        if !self.kind()?.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if name.len() > DIRENT_NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        match self.child(name) {
            Ok(_) => return Err(Errno::EEXIST),
            Err(Errno::ENOENT) => {}
            Err(errno) => return Err(errno),
        }
        self.node.create(name, kind).map_err(errno_from_ax)?;
        let created: Arc<dyn Inode> = self.child(name)?;
        Ok(created)
    }

    fn unlink(&self, name: &str) -> Result<()> {
        self.writable()?;
        let child = self.child(name)?;
        if child.kind()?.is_dir() {
            return Err(Errno::EISDIR);
        }
        self.node.remove(name).map_err(errno_from_ax)
    }

    fn rmdir(&self, name: &str) -> Result<()> {
        self.writable()?;
        let child = self.child(name)?;
        if !child.kind()?.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if child.has_entries()? {
            return Err(Errno::ENOTEMPTY);
        }
        self.node.remove(name).map_err(errno_from_ax)
    }

    fn rename(
        &self,
        old_name: &str,
        new_dir: &dyn Inode,
        new_name: &str,
        flags: RenameFlags,
    ) -> Result<()> {
        if !RenameFlags::NOREPLACE.contains(flags) {
            return Err(Errno::EINVAL);
        }
        self.writable()?;
        let source = self.child(old_name)?;
        check_name(new_name)?;
        let same_dir = new_dir
            .as_any()
            .downcast_ref::<ArceosInode>()
            .is_some_and(|dir| Arc::ptr_eq(&dir.node, &self.node));
        if !same_dir {
            return Err(Errno::EXDEV);
        }
        if new_name.len() > DIRENT_NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let source_is_dir = source.kind()?.is_dir();
        let target = match self.child(new_name) {
            Ok(target) => Some(target),
            Err(Errno::ENOENT) => None,
            Err(errno) => return Err(errno),
        };
        if let Some(target) = &target {
            if Arc::ptr_eq(&target.node, &source.node) {
                return Ok(());
            }
            if flags.contains(RenameFlags::NOREPLACE) {
                return Err(Errno::EEXIST);
            }
            match (source_is_dir, target.kind()?.is_dir()) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if target.has_entries()? => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
        }
        let rename = || match self.node.rename(old_name, new_name) {
            Err(VfsError::Unsupported) => Err(Errno::EXDEV),
            result => result.map_err(errno_from_ax),
        };
        match rename() {
            // This filesystem does not replace: make way, then try again.
            Err(Errno::EEXIST) if target.is_some() => {
                self.node.remove(new_name).map_err(errno_from_ax)?;
                rename()
            }
            result => result,
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        // Nothing can lie past the largest offset a buffer can address; keeping below it also
        // keeps `offset + buf.len()` from overflowing in the filesystem.
        let limit = isize::MAX as u64;
        if offset >= limit {
            return Ok(0);
        }
        let room = usize::try_from(limit - offset).unwrap_or(usize::MAX);
        let len = buf.len().min(room);
        self.node
            .read_at(offset, &mut buf[..len])
            .map_err(errno_from_ax)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize> {
        self.writable()?;
        self.check_size(offset.checked_add(buf.len() as u64))?;
        self.node.write_at(offset, buf).map_err(errno_from_ax)
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.writable()?;
        self.check_size(Some(len))?;
        self.node.truncate(len).map_err(errno_from_ax)
    }

    fn readdir(&self, cookie: u64, sink: &mut dyn FnMut(DirEntry<'_>) -> bool) -> Result<()> {
        let Ok(start) = usize::try_from(cookie) else {
            return Ok(());
        };
        let mut failure = None;
        self.read_entries(start, &mut |name, kind, next_index| {
            let ino = match self.child(name).and_then(|child| child.metadata()) {
                Ok(meta) => meta.ino,
                // Gone since the listing was read: leave it out.
                Err(Errno::ENOENT) => return true,
                Err(errno) => {
                    failure = Some(errno);
                    return false;
                }
            };
            sink(DirEntry {
                name,
                shared_name: None,
                ino,
                kind,
                next_cookie: next_index as u64,
            })
        })?;
        failure.map_or(Ok(()), Err)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
