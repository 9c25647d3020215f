//! ArceOS: the union and ArceOS's VFS interface (`axfs_vfs` 0.1), both ways.
//!
//! - [`ArceosLayer`] (with [`ArceosInode`]): any ArceOS filesystem (`axfs_vfs::VfsOps`, such as
//!   `axfs_ramfs::RamFileSystem`) as a [`crate::vfs::FileSystem`], usable as a lower layer and
//!   as the upper layer of a union.
//! - [`ArceosUnion`] (with [`ArceosNode`]): any [`crate::vfs::FileSystem`], usually an
//!   [`crate::overlay::OverlayFs`], as an ArceOS filesystem (`VfsOps` + `VfsNodeOps`), so an
//!   ArceOS-style kernel mounts the union like any of its own filesystems.
//! - [`errno_from_ax`] and [`ax_from_errno`]: one table of `AxError` <-> [`crate::Errno`] (also as
//!   `From` conversions).
//!
//! Enabled by the crate feature `arceos`. Each type's documentation says how every call
//! maps onto the other interface.
//!
//! # Example: an ArceOS ramfs as the container's writable layer, the union mounted back
//! ```
//! use std::sync::Arc;
//!
//! use axfs_ramfs::RamFileSystem;
//! use axfs_vfs::{VfsNodeType, VfsOps};
//! use overlay_core::adapters::arceos::{ArceosLayer, ArceosUnion};
//! use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer, WhiteoutEncoding};
//! use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
//! use overlay_core::vfs::{FileSystem, FileType, Inode, NewNode};
//!
//! # fn main() -> Result<(), overlay_core::Errno> {
//! // The image: one read-only layer (here a tmpfs built in memory).
//! let image = TmpFs::new(TmpFsOptions::default());
//! let etc = image.root().create("etc", &NewNode::new(FileType::Directory, 0o755, 0, 0))?;
//! etc.create("hostname", &NewNode::new(FileType::Regular, 0o644, 0, 0))?
//!     .write_at(0, b"image\n")?;
//!
//! // The writable layer: ArceOS's own RAM filesystem, through the adapter. It has no xattrs
//! // or device nodes, so the union writes `.wh.` whiteouts there.
//! let upper = ArceosLayer::new(Arc::new(RamFileSystem::new()));
//! let upper = UpperLayer::new(upper)?;
//! assert_eq!(upper.encoding(), WhiteoutEncoding::Oci);
//! let union = OverlayFs::new(vec![Layer::new(image)], Some(upper), OverlayOptions::default())?;
//!
//! // Mount it in an ArceOS-style VFS: it is an `axfs_vfs::VfsOps` now.
//! let mounted: Arc<dyn VfsOps> = ArceosUnion::new(union.clone());
//! let root = mounted.root_dir();
//! let hostname = root.clone().lookup("/etc/hostname")?;
//! hostname.write_at(0, b"union")?; // copies the file up into the ramfs
//! root.remove("etc/hostname")?; // leaves `.wh.hostname` in the ramfs
//! root.create("etc/motd", VfsNodeType::File)?;
//! assert_eq!(root.lookup("etc/hostname").err(), Some(axfs_vfs::VfsError::NotFound));
//! # Ok(())
//! # }
//! ```
//! (`?` turns an ArceOS error into an [`crate::Errno`] through the table.)
//!
//! # The scenarios of `docs/semantics.md` through the adapters
//! The host tests run every scenario of [`crate::scenarios`] in three setups:
//! - **ramfs layers**: every lower layer and the upper layer an `axfs_ramfs` behind
//!   [`ArceosLayer`] (the scenarios' layer lines for entries ArceOS cannot hold, symlinks,
//!   hard links, device nodes and fifos, are left out); for the `ENOSPC` scenario the upper is
//!   a ramfs whose files a test wrapper limits to the capacity;
//! - **ramfs upper**: tmpfs lower layers holding every kind of entry, an `axfs_ramfs` upper;
//! - **exported**: a union of tmpfs layers exported through [`ArceosUnion`] and re-imported
//!   through [`ArceosLayer`], so every POSIX call of a scenario crosses `VfsNodeOps` twice.
//!
//! A scenario that cannot apply in a setup (it needs an operation ArceOS's interface or its
//! ramfs lacks) is skipped by name, with its reason: `cargo test` lists it as ignored with that
//! reason, and a test checks that it really fails there, so this table cannot go stale (another
//! test checks the table against the tests).
//!
//! | # | Scenario | ramfs layers | ramfs upper | exported |
//! |---|----------|--------------|-------------|----------|
//! | 1 | `read_lower_file` | ran | ran | ran |
//! | 2 | `write_lower_file_copies_up` | ran | ran | ran |
//! | 3 | `append_to_lower_file` | ran | ran | ran |
//! | 4 | `open_read_only_truncate_copies_up` | ran | ran | ran |
//! | 5 | `exclusive_create_of_lower_file_is_eexist` | ran | ran | ran |
//! | 6 | `exclusive_create_of_missing_name` | ran | ran | ran |
//! | 7 | `open_lower_dir_for_write_is_eisdir` | ran | ran | ran |
//! | 8 | `write_through_symlink_changes_target` | skipped: symlinks: axfs_vfs has none, so the ramfs layer cannot hold the scenario's symlink | ran | skipped: readlink: axfs_vfs cannot read a symlink's target, so symlinks cannot be followed |
//! | 9 | `readlink_of_non_symlink_is_einval` | skipped: symlinks: axfs_vfs has none, so the ramfs layer cannot hold the scenario's symlink | ran | skipped: readlink: axfs_vfs cannot read a symlink's target, so symlinks cannot be followed |
//! | 10 | `truncate_lower_file_to_every_size` | ran | ran | ran |
//! | 11 | `unlink_lower_file_leaves_whiteout` | ran (a `.wh.` whiteout) | ran (a `.wh.` whiteout) | ran |
//! | 12 | `unlink_symlink_and_directory` | skipped: symlinks: axfs_vfs has none, so the ramfs layer cannot hold the scenario's symlink | ran | ran |
//! | 13 | `rmdir_populated_lower_dir` | ran | ran | ran |
//! | 14 | `rmdir_file_or_missing` | ran | ran | ran |
//! | 15 | `recreated_dir_is_opaque` | ran (a `.wh..wh..opq` marker) | ran (a `.wh..wh..opq` marker) | ran |
//! | 16 | `remove_every_file_type` | skipped: file types: axfs_vfs has no symlinks, hard links, device nodes or fifos, so the ramfs layer holds only the regular file | ran | ran |
//! | 17 | `remove_dir_with_whiteout_in_lower` | ran | ran | ran |
//! | 18 | `mknod_whiteout_device_is_eperm` | ran | ran | ran (refused by the adapter: ArceOS cannot create device nodes) |
//! | 19 | `mkdir_over_existing_is_eexist` | skipped: symlinks: axfs_vfs has none, so the ramfs layer cannot hold the scenario's symlink | ran | ran |
//! | 20 | `link_lower_file` | skipped: hard links: axfs_vfs has none, so link fails with EPERM | skipped: hard links: axfs_vfs has none, so link fails with EPERM | skipped: hard links: axfs_vfs has none, so link fails with EPERM |
//! | 21 | `rename_lower_file_and_back` | skipped: rename: axfs_ramfs cannot rename, so rename through the union is EXDEV | skipped: rename: axfs_ramfs cannot rename, so rename through the union is EXDEV | ran |
//! | 22 | `rename_lower_dir_is_exdev` | skipped: symlinks: axfs_vfs has none, so the ramfs layer cannot hold the scenario's symlink | ran | ran |
//! | 23 | `rename_new_dir_over_lower_dir` | skipped: rename: axfs_ramfs cannot rename, so rename through the union is EXDEV | skipped: rename: axfs_ramfs cannot rename, so rename through the union is EXDEV | ran |
//! | 24 | `non_root_write_open_is_eacces` | skipped: owners: axfs_ramfs stores no owner or mode (every file is root's, mode 0666), so any user may write | ran | ran |
//! | 25 | `inode_number_is_stable` | skipped: rename: axfs_ramfs cannot rename, so rename through the union is EXDEV | skipped: rename: axfs_ramfs cannot rename, so rename through the union is EXDEV | skipped: inode numbers: axfs_vfs carries none, and the re-imported layer numbers nodes the export makes per lookup |
//! | 26 | `no_upper_is_read_only` | ran | ran | ran |
//! | 27 | `overlay_xattrs_are_not_markers` | skipped: xattrs: axfs_vfs has none, so setxattr through the union is ENOTSUP | skipped: xattrs: axfs_vfs has none, so setxattr through the union is ENOTSUP | skipped: xattrs: axfs_vfs has none, so setxattr through the union is ENOTSUP |
//! | 28 | `enospc_during_copy_up` | ran (the ramfs upper's files limited to the capacity) | ran (the same) | ran |
//! | 29 | `deep_trees_use_bounded_stack` | ran | ran | ran |
//!
//! Every setup runs with the name-based whiteout encoding wherever the upper is an ArceOS
//! ramfs, and `.wh.` names never show through the union and cannot be created through it
//! (`EINVAL`); tests check that too. What copy-ups to a ramfs upper lose: owner, mode and
//! times (a copied file is root's, mode 0666, like every ramfs file), since ArceOS cannot
//! store them; and atomicity, since ramfs cannot rename (see [`crate::overlay::UpperLayer`]).

mod errno;
mod layer;
mod union;

#[cfg(test)]
mod tests;

use axfs_vfs::VfsNodeType;

pub use errno::{ax_from_errno, errno_from_ax};
pub use layer::{ArceosInode, ArceosLayer, ArceosLayerOptions};
pub use union::{ArceosNode, ArceosUnion, NEW_DIR_MODE, NEW_FILE_MODE};

use crate::vfs::FileType;

/// The longest name an ArceOS directory entry (`VfsDirEntry`) holds, in bytes.
pub const DIRENT_NAME_MAX: usize = 63;

/// The kind of an ArceOS node type.
fn kind_from_ax(kind: VfsNodeType) -> FileType {
    match kind {
        VfsNodeType::Fifo => FileType::Fifo,
        VfsNodeType::CharDevice => FileType::CharDevice,
        VfsNodeType::Dir => FileType::Directory,
        VfsNodeType::BlockDevice => FileType::BlockDevice,
        VfsNodeType::File => FileType::Regular,
        VfsNodeType::SymLink => FileType::Symlink,
        VfsNodeType::Socket => FileType::Socket,
    }
}

/// The ArceOS node type of a kind.
fn ax_kind(kind: FileType) -> VfsNodeType {
    match kind {
        FileType::Fifo => VfsNodeType::Fifo,
        FileType::CharDevice => VfsNodeType::CharDevice,
        FileType::Directory => VfsNodeType::Dir,
        FileType::BlockDevice => VfsNodeType::BlockDevice,
        FileType::Regular => VfsNodeType::File,
        FileType::Symlink => VfsNodeType::SymLink,
        FileType::Socket => VfsNodeType::Socket,
    }
}
