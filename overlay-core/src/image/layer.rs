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
//! # Memory
//! An entry costs about 60 bytes of heap besides its name's bytes, an implied directory as
//! much as a listed one: a 40-byte node, and 20 bytes in one table of every directory's
//! entries, whose names are kept one after the other (a listing reads them in sequence).
//! File data and symlink targets stay in the layer's bytes; while the tree is built, so do
//! names (a tar header, a PAX `path` or a GNU long name); inodes are made when looked up,
//! not kept per entry. [`ImageLayerFs::heap_bytes`] says what a layer takes. Building
//! the tree allocates fallibly: a layer that needs more memory than there is is refused
//! with `ENOMEM` (a [`TarError`]), never a panic.
//!
//! [`WhiteoutEncoding::Oci`]: crate::overlay::WhiteoutEncoding::Oci
//! [`Layer::with_encoding`]: crate::overlay::Layer::with_encoding

mod builder;
mod children;
mod node;

use alloc::{string::String, sync::Arc, vec::Vec};
use core::any::Any;

use self::builder::{Builder, Frozen, Xattrs};
use self::children::{Child, Children};
use self::node::{Content, Node, HAS_XATTRS};
use super::bytes::Bytes;
use super::tar::{TarError, TarReader};
use crate::error::{Errno, Result};
use crate::vfs::{
    check_name, DirEntry, FileSystem, FileType, FsFeatures, Ino, Inode, Metadata, NamedInode,
    NewNode, OpenFlags, RenameFlags, SetAttr, StatFs, XattrFlags, NAME_MAX,
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
/// About 60 bytes of heap per entry besides its name: a 40-byte node, and in the table of
/// entries 12 bytes (where its name is, its node) and 8 of its name's first bytes; no
/// allocation per entry, no inode until one is looked up.
struct Tree {
    bytes: Bytes,
    nodes: Vec<Node>,
    children: Children,
    /// Extended attributes, by node, sorted by node: few nodes have any.
    xattrs: Vec<(u32, Xattrs)>,
    stats: LayerStats,
}

impl Tree {
    /// A new inode of node `index`, holding the tree.
    fn inode(self: &Arc<Tree>, index: u32) -> Arc<ImageInode> {
        Arc::new(ImageInode {
            tree: self.clone(),
            index,
        })
    }

    /// The text of the entry `child`'s name. The reader checked that every name is UTF-8,
    /// and a component is cut at a `/`, so this is the whole name.
    fn name(&self, child: &Child) -> &str {
        core::str::from_utf8(self.children.name(child)).unwrap_or_default()
    }

    fn xattrs(&self, index: u32) -> &[(String, Vec<u8>)] {
        if self.nodes[index as usize].flags & HAS_XATTRS == 0 {
            return &[];
        }
        match self.xattrs.binary_search_by_key(&index, |(node, _)| *node) {
            Ok(found) => &self.xattrs[found].1,
            Err(_) => &[],
        }
    }

    /// Bytes of heap the tree takes (with its `Arc`), file data in the layer's bytes not
    /// counted.
    fn heap_bytes(&self) -> usize {
        let xattrs: usize = self
            .xattrs
            .iter()
            .map(|(_, list)| {
                list.capacity() * core::mem::size_of::<(String, Vec<u8>)>()
                    + list
                        .iter()
                        .map(|(name, value)| name.capacity() + value.capacity())
                        .sum::<usize>()
            })
            .sum();
        2 * core::mem::size_of::<usize>()
            + core::mem::size_of::<Tree>()
            + self.nodes.capacity() * core::mem::size_of::<Node>()
            + self.children.heap_bytes()
            + self.xattrs.capacity() * core::mem::size_of::<(u32, Xattrs)>()
            + xattrs
    }
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
        let fault = |offset: usize| {
            move |(errno, reason): builder::Fault| TarError {
                offset,
                errno,
                reason,
            }
        };
        let mut builder = Builder::new(bytes.as_slice()).map_err(fault(0))?;
        for entry in TarReader::new(bytes.as_slice()) {
            let entry = entry?;
            let offset = entry.header_offset;
            builder.add(entry).map_err(fault(offset))?;
        }
        let Frozen {
            nodes,
            children,
            xattrs,
            stats,
        } = builder.freeze().map_err(fault(bytes.len()))?;
        let tree = Tree {
            bytes,
            nodes,
            children,
            xattrs,
            stats,
        };
        Ok(Arc::new(ImageLayerFs {
            tree: Arc::new(tree),
        }))
    }

    /// Number of entries: names in the tree, the root included (a file with several names
    /// counts once for each).
    pub fn entries(&self) -> u64 {
        self.tree.children.len() as u64 + 1
    }

    /// Bytes of heap the entries' names take (each entry's name once, one after the other).
    pub fn name_bytes(&self) -> u64 {
        self.tree.children.name_bytes() as u64
    }

    /// Bytes of heap the layer's tree takes (names included): what loading the layer costs
    /// beyond its bytes (file data stays there).
    pub fn heap_bytes(&self) -> u64 {
        (self.tree.heap_bytes() + 2 * core::mem::size_of::<usize>() + core::mem::size_of::<Self>())
            as u64
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

impl core::fmt::Debug for ImageLayerFs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ImageLayerFs")
            .field("bytes", &self.tree.bytes)
            .field("nodes", &self.tree.nodes.len())
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
    index: u32,
}

impl ImageInode {
    fn node(&self) -> &Node {
        &self.tree.nodes[self.index as usize]
    }

    /// A regular file's bytes, straight from the layer's buffer (no copy); `None` for other
    /// kinds.
    pub fn data(&self) -> Option<&[u8]> {
        match self.node().content() {
            Content::File(range) => self.tree.bytes.as_slice().get(range),
            _ => None,
        }
    }

    /// A regular file's bytes as a shared view of the layer's buffer; `None` for other kinds.
    pub fn data_bytes(&self) -> Option<Bytes> {
        match self.node().content() {
            Content::File(range) => self.tree.bytes.slice(range),
            _ => None,
        }
    }

    /// The positions of a directory's entries in the tree's table.
    fn children(&self) -> Result<core::ops::Range<usize>> {
        match self.node().content() {
            Content::Directory(run) => Ok(run),
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
            .field("ino", &(Ino::from(self.index) + 1))
            .field("kind", &self.node().kind)
            .finish()
    }
}

impl Inode for ImageInode {
    /// Never fails: the tree lives as long as any of its inodes.
    fn metadata(&self) -> Result<Metadata> {
        let node = self.node();
        let size = match node.content() {
            Content::Nothing => 0,
            Content::File(range) | Content::Symlink(range) => range.len() as u64,
            Content::Directory(run) => (run.len() as u64 + 2) * DIRENT_BYTES,
        };
        let mtime = node.mtime();
        Ok(Metadata {
            ino: Ino::from(self.index) + 1,
            dev: 0,
            kind: node.kind,
            mode: node.mode,
            nlink: node.nlink,
            uid: node.uid,
            gid: node.gid,
            size,
            rdev: node.rdev(),
            atime: mtime,
            mtime,
            ctime: mtime,
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

    /// A new inode of the entry; the layer keeps its names in its bytes, not as `Arc`s.
    fn lookup_shared(&self, name: &str) -> Result<NamedInode> {
        let run = self.children()?;
        check_name(name)?;
        let tree = &self.tree;
        let position = tree.children.find(run, name).ok_or(Errno::ENOENT)?;
        let child = tree.children.get(position).ok_or(Errno::ENOENT)?;
        Ok((tree.inode(child.node), None))
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
        let Content::File(_) = node.content() else {
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
        let run = self.children()?;
        let start = usize::try_from(cookie).unwrap_or(usize::MAX);
        let tree = &self.tree;
        for (position, child) in tree.children.run(run).iter().enumerate().skip(start) {
            let entry = DirEntry {
                name: tree.name(child),
                shared_name: None,
                ino: Ino::from(child.node) + 1,
                kind: tree.nodes[child.node as usize].kind,
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
        let Content::Symlink(target) = self.node().content() else {
            return Err(Errno::EINVAL);
        };
        let text = self.tree.bytes.as_slice().get(target).unwrap_or_default();
        // The reader checked the target is UTF-8.
        core::str::from_utf8(text)
            .map(String::from)
            .map_err(|_| Errno::EIO)
    }

    /// `ENODATA` if the archive gave the entry no such attribute.
    fn get_xattr(&self, name: &str) -> Result<Vec<u8>> {
        let xattrs = self.tree.xattrs(self.index);
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
            .tree
            .xattrs(self.index)
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

#[cfg(test)]
mod tests;
