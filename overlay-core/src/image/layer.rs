//! [`ImageLayerFs`]: one image layer (an uncompressed tar) as a read-only filesystem whose file
//! data stays where it is, in the layer's bytes.
//!
//! The tree is built once, when the layer is parsed, the way `tar -x` would extract it:
//! - parent directories the archive does not list are implied, mode `0755`, owned by `0:0`,
//!   time 0 (the root too, unless the archive has a `./` entry);
//! - a later entry of the same path replaces the earlier one (a directory entry over a
//!   directory only updates its metadata and keeps its contents; anything else replaces the
//!   whole entry, a directory with everything in it);
//! - a hard link names an earlier entry of the same archive, which must be a non-directory.
//!
//! OCI whiteouts (`.wh.<name>`) and opaque markers (`.wh..wh..opq`) are kept as the plain
//! files they are in the archive: the overlay's [`WhiteoutEncoding::Oci`] interprets them,
//! so use the layer through [`Layer::with_encoding`] (or [`super::Image::lowers`]):
//!
//! ```
//! # use overlay_core::image::{Bytes, ImageLayerFs};
//! # use overlay_core::overlay::{Layer, WhiteoutEncoding};
//! # fn layer(bytes: Bytes) -> Result<Layer, overlay_core::image::TarError> {
//! let fs = ImageLayerFs::parse(bytes)?;
//! Ok(Layer::with_encoding(fs, WhiteoutEncoding::Oci))
//! # }
//! ```
//!
//! # Character devices 0/0
//! The OCI format deletes names only with `.wh.` files, so to an OCI reader a character
//! device 0/0 in a layer is a device like any other. Docker's `overlay2` driver, which most
//! images are made and run with, unpacks each layer into a directory that overlayfs stacks,
//! where a character device 0/0 is a whiteout: Docker shows such an entry as deleted, and
//! hides the name in the layers below. This layer does the same, at parse time: a character
//! device 0/0 at `dir/name` becomes the whiteout `dir/.wh.name` (an empty file, counted in
//! [`LayerStats::whiteouts`]), so the union never shows it, and nothing shows it as a device
//! that a copy-up into an upper layer with Linux whiteouts would turn into a deletion. A
//! later entry of the same path replaces it as it would replace the device (the whiteout
//! goes); a hard link to it is one more such whiteout. A device 0/0 whose name starts with
//! `.wh.` is kept as it is (its name already makes it a whiteout); one whose whiteout name
//! would be over 255 bytes is refused (`EINVAL`), as no lookup could find that whiteout.
//!
//! Once built, the tree never changes: no locks, and readdir cookies (an entry's index in
//! its directory's sorted list, plus one) stay valid for the life of the layer.
//!
//! [`WhiteoutEncoding::Oci`]: crate::overlay::WhiteoutEncoding::Oci
//! [`Layer::with_encoding`]: crate::overlay::Layer::with_encoding

mod children;

use alloc::{collections::BTreeMap, format, string::String, sync::Arc, vec, vec::Vec};
use core::any::Any;
use core::ops::Range;

use spin::RwLock;

use self::children::Children;
use super::bytes::Bytes;
use super::tar::{EntryKind, TarEntry, TarError, TarReader};
use crate::error::{Errno, Result};
use crate::overlay::whiteout::{OCI_OPAQUE_MARKER, OCI_WHITEOUT_PREFIX};
use crate::vfs::{
    check_name, DeviceId, DirEntry, FileSystem, FileType, FsFeatures, Ino, Inode, Metadata,
    NamedInode, NewNode, OpenFlags, RenameFlags, SetAttr, StatFs, Timespec, XattrFlags, NAME_MAX,
};

/// The size a directory reports: this much per entry, `.` and `..` included (as tmpfs).
const DIRENT_BYTES: u64 = 20;
/// The block size `statfs` reports.
const BLOCK_BYTES: u64 = 4096;

/// Figures about one layer, for a `docker history`-like report.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct LayerStats {
    /// Regular files, each counted once however many names it has; whiteouts not included.
    pub files: u64,
    /// Directories, the root included.
    pub directories: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Device nodes and fifos.
    pub special_files: u64,
    /// Whiteout markers (`.wh.<name>`): names this layer deletes from the layers below.
    pub whiteouts: u64,
    /// Directories marked opaque (`.wh..wh..opq`).
    pub opaque_dirs: u64,
    /// Bytes of file data (each file once).
    pub data_bytes: u64,
}

/// A read-only filesystem over one layer tar; see the [module docs](self).
pub struct ImageLayerFs {
    tree: Arc<Tree>,
}

/// The frozen tree: nodes in breadth-first order from the root, so `ino = index + 1`.
struct Tree {
    bytes: Bytes,
    nodes: Vec<Node>,
    stats: LayerStats,
    /// Every node's inode, by index, made when the layer is parsed (about 40 bytes per
    /// entry): a lookup hands out a reference to one instead of allocating it (a union's
    /// first walk looks up every entry).
    /// Each holds the tree, so the [`ImageLayerFs`] empties this when it goes; inodes still
    /// held after that make their children's on each lookup.
    inodes: RwLock<Vec<Arc<ImageInode>>>,
}

impl Tree {
    /// The inode of node `index`.
    fn inode(self: &Arc<Tree>, index: usize) -> Arc<ImageInode> {
        let made = self.inodes.read().get(index).cloned();
        made.unwrap_or_else(|| self.new_inode(index))
    }

    /// A new inode of node `index`, holding the tree.
    fn new_inode(self: &Arc<Tree>, index: usize) -> Arc<ImageInode> {
        Arc::new(ImageInode {
            tree: self.clone(),
            index,
        })
    }
}

struct Node {
    kind: FileType,
    mode: u16,
    uid: u32,
    gid: u32,
    mtime: Timespec,
    rdev: DeviceId,
    nlink: u32,
    content: Content,
    /// Sorted by name.
    xattrs: Vec<(String, Vec<u8>)>,
}

enum Content {
    /// Device nodes and fifos.
    Nothing,
    /// A regular file's bytes, as a range of the layer's bytes.
    File(Range<usize>),
    Symlink(String),
    /// Entries sorted by name, with their node indices.
    Directory(Children),
}

impl ImageLayerFs {
    /// Parses the layer tar `bytes` into a tree. File data is not copied: files read from
    /// `bytes`, which the layer keeps.
    ///
    /// # Errors
    /// Whatever [`TarReader`] finds wrong with the archive, and, at the entry at fault:
    /// `EINVAL` if an entry's parent is not a directory, the root entry is not a directory,
    /// or a hard link names a missing entry or a directory.
    pub fn parse(bytes: Bytes) -> core::result::Result<Arc<ImageLayerFs>, TarError> {
        let mut builder = Builder::new();
        for entry in TarReader::new(bytes.as_slice()) {
            let entry = entry?;
            let offset = entry.header_offset;
            builder.add(entry).map_err(|(errno, reason)| TarError {
                offset,
                errno,
                reason,
            })?;
        }
        let tree = Arc::new(builder.freeze(bytes));
        let inodes = (0..tree.nodes.len())
            .map(|index| tree.new_inode(index))
            .collect();
        *tree.inodes.write() = inodes;
        Ok(Arc::new(ImageLayerFs { tree }))
    }

    /// Counts of what the layer holds.
    pub fn stats(&self) -> LayerStats {
        self.tree.stats
    }

    /// The layer's bytes (the tar), a view of the buffer it was parsed from.
    pub fn bytes(&self) -> &Bytes {
        &self.tree.bytes
    }

    /// The root directory as this filesystem's own inode type.
    pub fn root_inode(&self) -> Arc<ImageInode> {
        self.tree.inode(0)
    }
}

impl Drop for ImageLayerFs {
    /// Lets the tree go once the last inode handed out goes (the ones it keeps hold it).
    fn drop(&mut self) {
        let inodes = core::mem::take(&mut *self.tree.inodes.write());
        drop(inodes);
    }
}

impl core::fmt::Debug for ImageLayerFs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ImageLayerFs")
            .field("bytes", &self.tree.bytes)
            .field("inodes", &self.tree.nodes.len())
            .field("stats", &self.tree.stats)
            .finish()
    }
}

impl FileSystem for ImageLayerFs {
    fn root(&self) -> Arc<dyn Inode> {
        self.root_inode()
    }

    /// Blocks of file data (all used, none free) and inodes, in 4 KiB blocks.
    fn statfs(&self) -> Result<StatFs> {
        let stats = self.tree.stats;
        Ok(StatFs {
            block_size: BLOCK_BYTES as u32,
            blocks: stats.data_bytes.div_ceil(BLOCK_BYTES),
            blocks_free: 0,
            blocks_available: 0,
            files: self.tree.nodes.len() as u64,
            files_free: 0,
            name_max: NAME_MAX as u32,
        })
    }

    fn features(&self) -> FsFeatures {
        FsFeatures::READ_ONLY
            | FsFeatures::SYMLINKS
            | FsFeatures::HARD_LINKS
            | FsFeatures::DEVICE_NODES
            | FsFeatures::XATTRS
    }
}

/// An entry of an [`ImageLayerFs`]. Every modifying method fails with `EROFS` (after the
/// checks of kind that come first on Linux: `ENOTDIR`, `EISDIR`, `EINVAL`).
pub struct ImageInode {
    tree: Arc<Tree>,
    index: usize,
}

impl ImageInode {
    fn node(&self) -> &Node {
        &self.tree.nodes[self.index]
    }

    /// A regular file's bytes, straight from the layer's buffer (no copy); `None` for other
    /// kinds.
    pub fn data(&self) -> Option<&[u8]> {
        match &self.node().content {
            Content::File(range) => self.tree.bytes.as_slice().get(range.clone()),
            _ => None,
        }
    }

    /// A regular file's bytes as a shared view of the layer's buffer; `None` for other kinds.
    pub fn data_bytes(&self) -> Option<Bytes> {
        match &self.node().content {
            Content::File(range) => self.tree.bytes.slice(range.clone()),
            _ => None,
        }
    }

    fn children(&self) -> Result<&Children> {
        match &self.node().content {
            Content::Directory(children) => Ok(children),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// `ENOTDIR` for a non-directory, else `EROFS`: what every namespace change returns.
    fn refuse_dir_op(&self) -> Result<()> {
        self.children()?;
        Err(Errno::EROFS)
    }

    /// `EISDIR` for a directory, `EINVAL` for other non-files, else `EROFS`.
    fn refuse_data_op(&self) -> Result<()> {
        match self.node().kind {
            FileType::Regular => Err(Errno::EROFS),
            FileType::Directory => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }
}

impl core::fmt::Debug for ImageInode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ImageInode")
            .field("ino", &(self.index as Ino + 1))
            .field("kind", &self.node().kind)
            .finish()
    }
}

impl Inode for ImageInode {
    /// Never fails: the tree lives as long as any of its inodes.
    fn metadata(&self) -> Result<Metadata> {
        let node = self.node();
        let size = match &node.content {
            Content::Nothing => 0,
            Content::File(range) => range.len() as u64,
            Content::Symlink(target) => target.len() as u64,
            Content::Directory(children) => (children.len() as u64 + 2) * DIRENT_BYTES,
        };
        Ok(Metadata {
            ino: self.index as Ino + 1,
            dev: 0,
            kind: node.kind,
            mode: node.mode,
            nlink: node.nlink,
            uid: node.uid,
            gid: node.gid,
            size,
            rdev: node.rdev,
            atime: node.mtime,
            mtime: node.mtime,
            ctime: node.mtime,
        })
    }

    /// `EROFS`.
    fn set_attr(&self, attr: &SetAttr) -> Result<()> {
        let _ = attr;
        Err(Errno::EROFS)
    }

    /// `ENOTDIR` for a non-directory; `EINVAL`/`ENAMETOOLONG` for a bad name; `ENOENT`.
    fn lookup(&self, name: &str) -> Result<Arc<dyn Inode>> {
        self.lookup_shared(name).map(|(inode, _)| inode)
    }

    /// The entry with the layer's own `Arc` of its name.
    fn lookup_shared(&self, name: &str) -> Result<NamedInode> {
        let children = self.children()?;
        check_name(name)?;
        let (shared, index) = children.find_entry(name).ok_or(Errno::ENOENT)?;
        Ok((self.tree.inode(*index), Some(shared.clone())))
    }

    /// `ENOTDIR` for a non-directory, else `EROFS`.
    fn create(&self, name: &str, node: &NewNode) -> Result<Arc<dyn Inode>> {
        let _ = (name, node);
        self.refuse_dir_op()?;
        Err(Errno::EROFS)
    }

    /// `ENOTDIR` for a non-directory, else `EROFS`.
    fn symlink(&self, name: &str, target: &str, uid: u32, gid: u32) -> Result<Arc<dyn Inode>> {
        let _ = (name, target, uid, gid);
        self.refuse_dir_op()?;
        Err(Errno::EROFS)
    }

    /// `ENOTDIR` for a non-directory, else `EROFS`.
    fn link(&self, name: &str, target: &dyn Inode) -> Result<()> {
        let _ = (name, target);
        self.refuse_dir_op()
    }

    /// `ENOTDIR` for a non-directory, else `EROFS`.
    fn unlink(&self, name: &str) -> Result<()> {
        let _ = name;
        self.refuse_dir_op()
    }

    /// `ENOTDIR` for a non-directory, else `EROFS`.
    fn rmdir(&self, name: &str) -> Result<()> {
        let _ = name;
        self.refuse_dir_op()
    }

    /// `ENOTDIR` for a non-directory, else `EROFS`.
    fn rename(
        &self,
        old_name: &str,
        new_dir: &dyn Inode,
        new_name: &str,
        flags: RenameFlags,
    ) -> Result<()> {
        let _ = (old_name, new_dir, new_name, flags);
        self.refuse_dir_op()
    }

    /// Copies from the layer's bytes. `EISDIR` for a directory; `EINVAL` for other
    /// non-files.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let node = self.node();
        let Content::File(_) = &node.content else {
            return Err(match node.kind {
                FileType::Directory => Errno::EISDIR,
                _ => Errno::EINVAL,
            });
        };
        let data = self.data().unwrap_or_default();
        let Some(rest) = usize::try_from(offset)
            .ok()
            .and_then(|start| data.get(start..))
        else {
            return Ok(0);
        };
        let count = rest.len().min(buf.len());
        buf[..count].copy_from_slice(&rest[..count]);
        Ok(count)
    }

    /// A regular file's bytes: a view of the layer's buffer (the RAM disk), which never
    /// changes, and neither does the layer. `None` for other kinds.
    fn shared_data(&self) -> Option<Bytes> {
        self.data_bytes()
    }

    /// `EISDIR` for a directory; `EINVAL` for other non-files; else `EROFS`.
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize> {
        let _ = (offset, buf);
        self.refuse_data_op()?;
        Err(Errno::EROFS)
    }

    /// `EISDIR` for a directory; `EINVAL` for other non-files; else `EROFS`.
    fn set_len(&self, len: u64) -> Result<()> {
        let _ = len;
        self.refuse_data_op()
    }

    /// `ENOTDIR` for a non-directory. Cookies are positions in the sorted entries, plus one.
    fn readdir(&self, cookie: u64, sink: &mut dyn FnMut(DirEntry<'_>) -> bool) -> Result<()> {
        let children = self.children()?;
        let start = usize::try_from(cookie).unwrap_or(usize::MAX);
        for (position, (name, index)) in children.iter().enumerate().skip(start) {
            let entry = DirEntry {
                name,
                shared_name: Some(name),
                ino: *index as Ino + 1,
                kind: self.tree.nodes[*index].kind,
                next_cookie: position as u64 + 1,
            };
            if !sink(entry) {
                break;
            }
        }
        Ok(())
    }

    /// `EINVAL` for a non-symlink.
    fn readlink(&self) -> Result<String> {
        match &self.node().content {
            Content::Symlink(target) => Ok(target.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    /// `ENODATA` if the archive gave the entry no such attribute.
    fn get_xattr(&self, name: &str) -> Result<Vec<u8>> {
        let xattrs = &self.node().xattrs;
        match xattrs.binary_search_by(|(key, _)| key.as_str().cmp(name)) {
            Ok(found) => Ok(xattrs[found].1.clone()),
            Err(_) => Err(Errno::ENODATA),
        }
    }

    /// `EROFS`.
    fn set_xattr(&self, name: &str, value: &[u8], flags: XattrFlags) -> Result<()> {
        let _ = (name, value, flags);
        Err(Errno::EROFS)
    }

    /// Never fails.
    fn list_xattr(&self) -> Result<Vec<String>> {
        Ok(self
            .node()
            .xattrs
            .iter()
            .map(|(name, _)| name.clone())
            .collect())
    }

    /// `EROFS`.
    fn remove_xattr(&self, name: &str) -> Result<()> {
        let _ = name;
        Err(Errno::EROFS)
    }

    /// Opening to change data: `EISDIR` for a directory, `EROFS` for a file or symlink;
    /// device nodes and fifos may be opened for writing, as on Linux.
    fn open(&self, flags: OpenFlags) -> Result<()> {
        if !flags.modifies_data() {
            return Ok(());
        }
        match self.node().kind {
            FileType::Directory => Err(Errno::EISDIR),
            FileType::Regular | FileType::Symlink => Err(Errno::EROFS),
            _ => Ok(()),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A failure while building, before the entry's offset is attached.
type Fault = (Errno, &'static str);

/// The tree while entries are added: directories as maps, replaced nodes left behind
/// (unreachable) until [`Builder::freeze`] drops them.
struct Builder {
    nodes: Vec<BuildNode>,
}

struct BuildNode {
    kind: FileType,
    mode: u16,
    uid: u32,
    gid: u32,
    mtime: Timespec,
    rdev: DeviceId,
    content: BuildContent,
    xattrs: Vec<(String, Vec<u8>)>,
    /// A whiteout made of a character device 0/0 (see the module docs): a later entry of
    /// the device's name removes it.
    device_whiteout: bool,
}

enum BuildContent {
    Nothing,
    File(Range<usize>),
    Symlink(String),
    Directory(BTreeMap<Arc<str>, usize>),
}

impl BuildNode {
    fn implied_dir() -> BuildNode {
        BuildNode {
            kind: FileType::Directory,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: Timespec::default(),
            rdev: DeviceId::default(),
            content: BuildContent::Directory(BTreeMap::new()),
            xattrs: Vec::new(),
            device_whiteout: false,
        }
    }
}

impl Builder {
    fn new() -> Builder {
        Builder {
            nodes: vec![BuildNode::implied_dir()],
        }
    }

    fn children(&mut self, dir: usize) -> Option<&mut BTreeMap<Arc<str>, usize>> {
        match &mut self.nodes[dir].content {
            BuildContent::Directory(children) => Some(children),
            _ => None,
        }
    }

    /// The node at `path` (normalised, not the root), if there is one.
    fn find(&mut self, path: &str) -> Option<usize> {
        let mut current = 0;
        for component in path.split('/') {
            current = *self.children(current)?.get(component)?;
        }
        Some(current)
    }

    /// The directory `path` (normalised; `""` is the root), made with any missing parents.
    fn directory(&mut self, path: &str) -> core::result::Result<usize, Fault> {
        let mut current = 0;
        if path.is_empty() {
            return Ok(current);
        }
        for component in path.split('/') {
            let next = self.nodes.len();
            let children = self
                .children(current)
                .ok_or((Errno::EINVAL, "a parent is not a directory"))?;
            match children.get(component) {
                Some(&child) => current = child,
                None => {
                    self.nodes.push(BuildNode::implied_dir());
                    self.insert(current, component, next);
                    current = next;
                }
            }
        }
        if self.children(current).is_none() {
            return Err((Errno::EINVAL, "a parent is not a directory"));
        }
        Ok(current)
    }

    fn add(&mut self, entry: TarEntry) -> core::result::Result<(), Fault> {
        let TarEntry {
            path,
            kind,
            mode,
            uid,
            gid,
            mtime,
            data,
            mut xattrs,
            header_offset: _,
        } = entry;
        xattrs.sort_by(|a, b| a.0.cmp(&b.0));
        let (kind, rdev, content) = match kind {
            EntryKind::HardLink { target } => return self.add_hard_link(&path, &target),
            EntryKind::CharDevice(rdev) if rdev == DeviceId::default() => {
                if let Some((parent, name)) = self.device_whiteout_place(&path)? {
                    return self.add_device_whiteout(parent, name);
                }
                (FileType::CharDevice, rdev, BuildContent::Nothing)
            }
            EntryKind::Regular => (
                FileType::Regular,
                DeviceId::default(),
                BuildContent::File(data),
            ),
            EntryKind::Directory => (
                FileType::Directory,
                DeviceId::default(),
                BuildContent::Directory(BTreeMap::new()),
            ),
            EntryKind::Symlink { target } => (
                FileType::Symlink,
                DeviceId::default(),
                BuildContent::Symlink(target),
            ),
            EntryKind::CharDevice(rdev) => (FileType::CharDevice, rdev, BuildContent::Nothing),
            EntryKind::BlockDevice(rdev) => (FileType::BlockDevice, rdev, BuildContent::Nothing),
            EntryKind::Fifo => (FileType::Fifo, DeviceId::default(), BuildContent::Nothing),
        };
        let node = BuildNode {
            kind,
            mode,
            uid,
            gid,
            mtime,
            rdev,
            content,
            xattrs,
            device_whiteout: false,
        };
        let (parent_path, name) = match path.rsplit_once('/') {
            Some((parent, name)) => (parent, name),
            None if path.is_empty() => {
                if kind != FileType::Directory {
                    return Err((Errno::EINVAL, "the root is not a directory"));
                }
                self.update_dir(0, node);
                return Ok(());
            }
            None => ("", path.as_str()),
        };
        let parent = self.directory(parent_path)?;
        let existing = self.children(parent).and_then(|c| c.get(name).copied());
        match existing {
            // A directory entry over a directory: new metadata, same contents.
            Some(old) if kind.is_dir() && self.nodes[old].kind.is_dir() => {
                self.update_dir(old, node);
            }
            _ => {
                let index = self.nodes.len();
                self.nodes.push(node);
                self.insert(parent, name, index);
            }
        }
        Ok(())
    }

    /// Makes `name` of the directory `parent` the node `index` (replacing what it was), and
    /// drops the whiteout a character device 0/0 of that name left (see the module docs).
    fn insert(&mut self, parent: usize, name: &str, index: usize) {
        let whiteout = format!("{OCI_WHITEOUT_PREFIX}{name}");
        let from_device = self
            .children(parent)
            .and_then(|children| children.get(whiteout.as_str()).copied())
            .is_some_and(|old| self.nodes[old].device_whiteout);
        if let Some(children) = self.children(parent) {
            if from_device {
                children.remove(whiteout.as_str());
            }
            children.insert(Arc::from(name), index);
        }
    }

    /// Where a character device 0/0 at `path` puts its whiteout: the parent directory and
    /// the name it deletes; `None` for a name that is already a whiteout (`.wh.x`), which
    /// stays the device it is.
    fn device_whiteout_place<'p>(
        &mut self,
        path: &'p str,
    ) -> core::result::Result<Option<(usize, &'p str)>, Fault> {
        let (parent_path, name) = path.rsplit_once('/').unwrap_or(("", path));
        if name.is_empty() {
            return Err((Errno::EINVAL, "the root is not a directory"));
        }
        if name.starts_with(OCI_WHITEOUT_PREFIX) {
            return Ok(None);
        }
        if name.len() + OCI_WHITEOUT_PREFIX.len() > NAME_MAX {
            return Err((
                Errno::EINVAL,
                "a character device 0/0 (a whiteout) whose name is too long to delete",
            ));
        }
        Ok(Some((self.directory(parent_path)?, name)))
    }

    /// A character device 0/0 named `name` in the directory `parent`: the name goes (as a
    /// tar entry replaces what was there), and the whiteout `.wh.name` deletes it from the
    /// layers below.
    fn add_device_whiteout(
        &mut self,
        parent: usize,
        name: &str,
    ) -> core::result::Result<(), Fault> {
        let index = self.nodes.len();
        self.nodes.push(BuildNode {
            kind: FileType::Regular,
            mode: 0,
            uid: 0,
            gid: 0,
            mtime: Timespec::default(),
            rdev: DeviceId::default(),
            content: BuildContent::File(0..0),
            xattrs: Vec::new(),
            device_whiteout: true,
        });
        if let Some(children) = self.children(parent) {
            children.remove(name);
            children.insert(Arc::from(format!("{OCI_WHITEOUT_PREFIX}{name}")), index);
        }
        Ok(())
    }

    fn update_dir(&mut self, dir: usize, node: BuildNode) {
        let old = &mut self.nodes[dir];
        old.mode = node.mode;
        old.uid = node.uid;
        old.gid = node.gid;
        old.mtime = node.mtime;
        old.xattrs = node.xattrs;
    }

    fn add_hard_link(&mut self, path: &str, target: &str) -> core::result::Result<(), Fault> {
        let Some(linked) = self.find(target) else {
            // A link to a character device 0/0 is one more: one more whiteout.
            if self.is_device_whiteout(target) {
                if let Some((parent, name)) = self.device_whiteout_place(path)? {
                    return self.add_device_whiteout(parent, name);
                }
            }
            return Err((Errno::EINVAL, "hard link to a missing entry"));
        };
        if self.nodes[linked].kind.is_dir() {
            return Err((Errno::EINVAL, "hard link to a directory"));
        }
        if path.is_empty() {
            return Err((Errno::EINVAL, "the root is not a directory"));
        }
        let (parent_path, name) = path.rsplit_once('/').unwrap_or(("", path));
        let parent = self.directory(parent_path)?;
        self.insert(parent, name, linked);
        Ok(())
    }

    /// Whether `path` names a character device 0/0 that became a whiteout.
    fn is_device_whiteout(&mut self, path: &str) -> bool {
        let (parent_path, name) = path.rsplit_once('/').unwrap_or(("", path));
        let parent = match parent_path {
            "" => Some(0),
            _ => self.find(parent_path),
        };
        let whiteout = format!("{OCI_WHITEOUT_PREFIX}{name}");
        parent
            .and_then(|parent| self.children(parent)?.get(whiteout.as_str()).copied())
            .is_some_and(|index| self.nodes[index].device_whiteout)
    }

    /// The final tree: reachable nodes only, numbered breadth-first from the root, with
    /// link counts and figures.
    fn freeze(self, bytes: Bytes) -> Tree {
        let mut built: Vec<Option<BuildNode>> = self.nodes.into_iter().map(Some).collect();
        // New index of each old node reached so far, and how many names it has.
        let mut renumbered: Vec<Option<usize>> = vec![None; built.len()];
        let mut order: Vec<usize> = vec![0];
        let mut names: Vec<u32> = vec![1];
        renumbered[0] = Some(0);
        let mut stats = LayerStats::default();
        let mut next = 0;
        while next < order.len() {
            let old = order[next];
            next += 1;
            let Some(BuildNode {
                content: BuildContent::Directory(children),
                ..
            }) = &built[old]
            else {
                continue;
            };
            for (name, &child) in children {
                let first_visit = renumbered[child].is_none();
                let new = *renumbered[child].get_or_insert(order.len());
                if first_visit {
                    order.push(child);
                    names.push(0);
                }
                names[new] += 1;
                if let Some(node) = &built[child] {
                    count(&mut stats, node, name, first_visit);
                }
            }
        }
        stats.directories += 1; // the root
        let mut nodes: Vec<Node> = order
            .iter()
            .zip(&names)
            .filter_map(|(&old, &name_count)| {
                let node = built[old].take()?;
                Some(finish_node(node, name_count, &renumbered))
            })
            .collect();
        // A directory's link count: its name, its `.`, and each subdirectory's `..`.
        let subdirectories: Vec<u32> = nodes
            .iter()
            .map(|node| match &node.content {
                Content::Directory(children) => children
                    .iter()
                    .filter(|(_, child)| nodes[*child].kind.is_dir())
                    .count() as u32,
                _ => 0,
            })
            .collect();
        for (node, subdirectories) in nodes.iter_mut().zip(subdirectories) {
            if node.kind.is_dir() {
                node.nlink = 2 + subdirectories;
            }
        }
        Tree {
            bytes,
            nodes,
            stats,
            inodes: RwLock::new(Vec::new()),
        }
    }
}

/// Adds the entry `name` (of `node`) to `stats`.
fn count(stats: &mut LayerStats, node: &BuildNode, name: &str, first_visit: bool) {
    match &node.content {
        BuildContent::File(_) if name == OCI_OPAQUE_MARKER => stats.opaque_dirs += 1,
        BuildContent::File(_) if name.starts_with(OCI_WHITEOUT_PREFIX) => stats.whiteouts += 1,
        BuildContent::File(range) if first_visit => {
            stats.files += 1;
            stats.data_bytes += range.len() as u64;
        }
        BuildContent::File(_) => {}
        BuildContent::Directory(_) => stats.directories += 1,
        BuildContent::Symlink(_) if first_visit => stats.symlinks += 1,
        BuildContent::Nothing if first_visit => stats.special_files += 1,
        BuildContent::Symlink(_) | BuildContent::Nothing => {}
    }
}

/// The frozen form of `node`, which has `name_count` names (directories get their link
/// count later, from their subdirectories).
fn finish_node(node: BuildNode, name_count: u32, renumbered: &[Option<usize>]) -> Node {
    let content = match node.content {
        BuildContent::Nothing => Content::Nothing,
        BuildContent::File(range) => Content::File(range),
        BuildContent::Symlink(target) => Content::Symlink(target),
        BuildContent::Directory(children) => Content::Directory(Children::from_sorted(
            children
                .into_iter()
                .filter_map(|(name, old)| Some((name, renumbered[old]?)))
                .collect(),
        )),
    };
    Node {
        kind: node.kind,
        mode: node.mode,
        uid: node.uid,
        gid: node.gid,
        mtime: node.mtime,
        rdev: node.rdev,
        nlink: name_count,
        content,
        xattrs: node.xattrs,
    }
}

#[cfg(test)]
mod tests;
