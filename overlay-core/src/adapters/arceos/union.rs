//! A [`FileSystem`] of this crate (usually an [`crate::overlay::OverlayFs`]) as an ArceOS
//! filesystem: `axfs_vfs::VfsOps` and `VfsNodeOps`, ready to mount in an ArceOS-style VFS.

use alloc::sync::{Arc, Weak};
use core::any::Any;

use axfs_vfs::{
    VfsDirEntry, VfsError, VfsNodeAttr, VfsNodeOps, VfsNodePerm, VfsNodeRef, VfsNodeType, VfsOps,
    VfsResult,
};
use hashbrown::HashMap;
use spin::Mutex;

use super::errno::ax_from_errno;
use super::{ax_kind, DIRENT_NAME_MAX};
use crate::vfs::{check_name, FileSystem, FileType, Inode, NewNode, RenameFlags};

/// Permission bits of files created through ArceOS's `create`, which carries none: ArceOS's
/// own default (`VfsNodePerm::default_file`).
pub const NEW_FILE_MODE: u16 = 0o666;
/// Permission bits of directories created through ArceOS's `create`
/// (`VfsNodePerm::default_dir`).
pub const NEW_DIR_MODE: u16 = 0o755;

/// A filesystem exported as an ArceOS filesystem.
///
/// ArceOS has no caller identity and no permission checks in its VFS interface: calls through
/// it act as root, and new entries belong to root with [`NEW_FILE_MODE`] or
/// [`NEW_DIR_MODE`]. The union behind it copies up, whites out and merges as it always does.
pub struct ArceosUnion {
    fs: Arc<dyn FileSystem>,
    root: Arc<ArceosNode>,
    mount: Arc<Mount>,
}

/// What the nodes of one exported filesystem share.
#[derive(Default)]
struct Mount {
    /// Where the exported filesystem is mounted: the directory `..` of its root leads to.
    parent: Mutex<Option<VfsNodeRef>>,
    /// The live node of each inode, by the inode's address: while an ArceOS node for an
    /// inode is alive, every lookup of that inode returns it, so ArceOS callers can compare
    /// nodes (the union likewise returns one inode per entry while it is in use). The node
    /// holds its inode, so the address cannot be another inode's while the node lives.
    nodes: Mutex<HashMap<usize, Weak<ArceosNode>>>,
}

impl ArceosUnion {
    /// `fs` as an ArceOS filesystem.
    pub fn new(fs: Arc<dyn FileSystem>) -> Arc<ArceosUnion> {
        let mount = Arc::new(Mount::default());
        let root = ArceosNode::new(fs.root(), FileType::Directory, None, mount.clone());
        Arc::new(ArceosUnion { fs, root, mount })
    }

    /// The exported filesystem.
    pub fn filesystem(&self) -> &Arc<dyn FileSystem> {
        &self.fs
    }
}

impl VfsOps for ArceosUnion {
    /// Remembers the mount point's parent, where `..` of the root leads (as `axfs_ramfs`
    /// does).
    fn mount(&self, _path: &str, mount_point: VfsNodeRef) -> VfsResult {
        *self.mount.parent.lock() = mount_point.parent();
        Ok(())
    }

    fn umount(&self) -> VfsResult {
        *self.mount.parent.lock() = None;
        Ok(())
    }

    fn root_dir(&self) -> VfsNodeRef {
        self.root.clone()
    }
}

/// An [`Inode`] as an ArceOS node.
///
/// - Paths given to `lookup`, `create`, `remove` and `rename` are relative to this node, split
///   at `/`; `.` stays, `..` goes to the directory this node was first reached from (from the
///   root, to the mount point's parent, or nowhere before a mount: the root then is its own
///   parent). While a node is alive, lookups of its entry return that same node. A name the inode interface refuses (a NUL byte, more than 255 bytes) is
///   `InvalidInput` or `NameTooLong`.
/// - `create` of an existing name fails with `AlreadyExists`, as in `axfs_ramfs` (the trait's
///   documentation says it succeeds), and makes files, directories, fifos and sockets; device
///   nodes (no device number to give) and symlinks (no target) are `Unsupported`.
/// - `remove` removes a file or an empty directory, whichever the name is.
/// - `read_dir` lists `.` and `..` at indices 0 and 1, then the entries; a node remembers
///   where its last listing stopped, so reading on from there resumes by cookie (a directory
///   changed between reads neither skips nor repeats entries that stay). Names longer than
///   the 63 bytes an ArceOS directory entry holds are left out of listings (and logged);
///   they can still be looked up.
/// - `get_attr` reports the kind, the permission bits (not set-id or sticky bits, which
///   ArceOS's permission type cannot hold) and the size; `blocks` is the size in 512-byte
///   units, rounded up.
/// - `open`, `release` and `fsync` have nothing to do (the union copies up on the first
///   write or truncate, not on open).
pub struct ArceosNode {
    inode: Arc<dyn Inode>,
    kind: FileType,
    me: Weak<ArceosNode>,
    /// The directory this node was reached from; `None` for the root.
    parent: Option<Arc<ArceosNode>>,
    mount: Arc<Mount>,
    /// Where the last `read_dir` stopped: the next index, and the cookie that resumes there.
    cursor: Mutex<Option<(usize, u64)>>,
}

impl ArceosNode {
    fn new(
        inode: Arc<dyn Inode>,
        kind: FileType,
        parent: Option<Arc<ArceosNode>>,
        mount: Arc<Mount>,
    ) -> Arc<ArceosNode> {
        Arc::new_cyclic(|me| ArceosNode {
            inode,
            kind,
            me: me.clone(),
            parent,
            mount,
            cursor: Mutex::new(None),
        })
    }

    /// The inode behind this node.
    pub fn inode(&self) -> &Arc<dyn Inode> {
        &self.inode
    }

    /// This node as an `Arc`; nodes are only made inside one, so this fails only while the
    /// node is being dropped.
    fn this(&self) -> VfsResult<Arc<ArceosNode>> {
        self.me.upgrade().ok_or(VfsError::NotFound)
    }

    fn dir(&self) -> VfsResult<()> {
        if self.kind.is_dir() {
            Ok(())
        } else {
            Err(VfsError::NotADirectory)
        }
    }

    /// The node one path component `name` leads to from this directory.
    fn step(&self, name: &str) -> VfsResult<VfsNodeRef> {
        self.dir()?;
        match name {
            "" | "." => Ok(self.this()?),
            ".." => match &self.parent {
                Some(parent) => Ok(parent.clone()),
                None => match self.mount.parent.lock().clone() {
                    Some(parent) => Ok(parent),
                    None => Ok(self.this()?),
                },
            },
            name => Ok(self.child(name)?),
        }
    }

    /// The child `name` of this directory: its live node, or a new one.
    fn child(&self, name: &str) -> VfsResult<Arc<ArceosNode>> {
        check_name(name).map_err(ax_from_errno)?;
        let inode = self.inode.lookup(name).map_err(ax_from_errno)?;
        let address = Arc::as_ptr(&inode).cast::<()>().addr();
        if let Some(node) = self
            .mount
            .nodes
            .lock()
            .get(&address)
            .and_then(Weak::upgrade)
        {
            return Ok(node);
        }
        let kind = inode.metadata().map_err(ax_from_errno)?.kind;
        let node = ArceosNode::new(inode, kind, Some(self.this()?), self.mount.clone());
        let mut nodes = self.mount.nodes.lock();
        // Forget dead nodes now and then, so the table does not only grow.
        if nodes.len() >= 1024 && nodes.len().is_power_of_two() {
            nodes.retain(|_, node| node.strong_count() > 0);
        }
        nodes.insert(address, Arc::downgrade(&node));
        Ok(node)
    }

    /// The directory of `path`'s last component, and that component: both must be in this
    /// exported filesystem.
    fn parent_of<'a>(&self, path: &'a str) -> VfsResult<(Arc<ArceosNode>, &'a str)> {
        let path = path.trim_end_matches('/');
        let (dir_path, name) = path.rsplit_once('/').unwrap_or(("", path));
        if matches!(name, "" | "." | "..") {
            return Err(VfsError::InvalidInput);
        }
        let dir = self.this()?.lookup(dir_path)?;
        match dir.as_any().downcast_ref::<ArceosNode>() {
            Some(node) if Arc::ptr_eq(&node.mount, &self.mount) => Ok((node.this()?, name)),
            _ => Err(VfsError::CrossesDevices),
        }
    }
}

/// The first component of `path` and what follows its `/`, if anything (as `axfs_ramfs`
/// splits paths).
fn split_path(path: &str) -> (&str, Option<&str>) {
    let path = path.trim_start_matches('/');
    match path.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (path, None),
    }
}

impl VfsNodeOps for ArceosNode {
    fn get_attr(&self) -> VfsResult<VfsNodeAttr> {
        let meta = self.inode.metadata().map_err(ax_from_errno)?;
        Ok(VfsNodeAttr::new(
            VfsNodePerm::from_bits_truncate(meta.mode & 0o777),
            ax_kind(meta.kind),
            meta.size,
            meta.size.div_ceil(512),
        ))
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        self.inode.read_at(offset, buf).map_err(ax_from_errno)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> VfsResult<usize> {
        self.inode.write_at(offset, buf).map_err(ax_from_errno)
    }

    fn fsync(&self) -> VfsResult {
        if self.kind.is_dir() {
            Err(VfsError::IsADirectory)
        } else {
            Ok(())
        }
    }

    fn truncate(&self, size: u64) -> VfsResult {
        self.inode.set_len(size).map_err(ax_from_errno)
    }

    fn parent(&self) -> Option<VfsNodeRef> {
        if !self.kind.is_dir() {
            return None;
        }
        match &self.parent {
            Some(parent) => Some(parent.clone()),
            None => self.mount.parent.lock().clone(),
        }
    }

    fn lookup(self: Arc<Self>, path: &str) -> VfsResult<VfsNodeRef> {
        let (name, rest) = split_path(path);
        let node = self.step(name)?;
        match rest {
            Some(rest) => node.lookup(rest),
            None => Ok(node),
        }
    }

    fn create(&self, path: &str, ty: VfsNodeType) -> VfsResult {
        let (name, rest) = split_path(path);
        if let Some(rest) = rest {
            return self.step(name)?.create(rest, ty);
        }
        self.dir()?;
        if matches!(name, "" | "." | "..") {
            return Ok(());
        }
        let (kind, mode) = match ty {
            VfsNodeType::File => (FileType::Regular, NEW_FILE_MODE),
            VfsNodeType::Dir => (FileType::Directory, NEW_DIR_MODE),
            VfsNodeType::Fifo => (FileType::Fifo, NEW_FILE_MODE),
            VfsNodeType::Socket => (FileType::Socket, NEW_FILE_MODE),
            _ => return Err(VfsError::Unsupported),
        };
        self.inode
            .create(name, &NewNode::new(kind, mode, 0, 0))
            .map(drop)
            .map_err(ax_from_errno)
    }

    fn remove(&self, path: &str) -> VfsResult {
        let (name, rest) = split_path(path);
        if let Some(rest) = rest {
            return self.step(name)?.remove(rest);
        }
        self.dir()?;
        if matches!(name, "" | "." | "..") {
            return Err(VfsError::InvalidInput);
        }
        check_name(name).map_err(ax_from_errno)?;
        let kind = self
            .inode
            .lookup(name)
            .and_then(|child| child.metadata())
            .map_err(ax_from_errno)?
            .kind;
        let removed = if kind.is_dir() {
            self.inode.rmdir(name)
        } else {
            self.inode.unlink(name)
        };
        removed.map_err(ax_from_errno)
    }

    fn read_dir(&self, start_idx: usize, dirents: &mut [VfsDirEntry]) -> VfsResult<usize> {
        self.dir()?;
        let mut filled = 0;
        let mut index = start_idx;
        while index < 2 && filled < dirents.len() {
            let name = if index == 0 { "." } else { ".." };
            dirents[filled] = VfsDirEntry::new(name, VfsNodeType::Dir);
            filled += 1;
            index += 1;
        }
        if filled == dirents.len() {
            return Ok(filled);
        }
        // Resume where the last listing stopped, or count entries from the start.
        let (mut skip, mut cookie) = match *self.cursor.lock() {
            Some((next_index, cookie)) if next_index == index => (0, cookie),
            _ => (index - 2, 0),
        };
        self.inode
            .readdir(cookie, &mut |entry| {
                let resume = entry.next_cookie;
                if entry.name.len() > DIRENT_NAME_MAX {
                    log::warn!(
                        "arceos export: {} is longer than a directory entry holds; left out",
                        entry.name
                    );
                } else if skip > 0 {
                    skip -= 1;
                } else {
                    dirents[filled] = VfsDirEntry::new(entry.name, ax_kind(entry.kind));
                    filled += 1;
                    index += 1;
                }
                cookie = resume;
                filled < dirents.len()
            })
            .map_err(ax_from_errno)?;
        *self.cursor.lock() = Some((index, cookie));
        Ok(filled)
    }

    fn rename(&self, src_path: &str, dst_path: &str) -> VfsResult {
        let (src_dir, src_name) = self.parent_of(src_path)?;
        let (dst_dir, dst_name) = self.parent_of(dst_path)?;
        src_dir
            .inode
            .rename(src_name, &*dst_dir.inode, dst_name, RenameFlags::empty())
            .map_err(ax_from_errno)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
