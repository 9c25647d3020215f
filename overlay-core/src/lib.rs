//! An overlay (union) filesystem engine for small kernels: container-image layering
//! (lookup through layers, copy-on-write, whiteouts, opaque directories) as a `no_std` +
//! `alloc` library.
//!
//! A container image is a stack of read-only layers; a container adds one writable layer on
//! top, and a union filesystem shows the stack as one tree. [`overlay::OverlayFs`] is that union:
//! it stacks N read-only lower layers under an optional writable upper layer and is itself a
//! filesystem of the same [`vfs`] interface, so it can be mounted, nested, or wrapped like any
//! other. Its behaviour follows Linux overlayfs, errno included (see "Semantics" below).
//!
//! # What is in the crate
//! - [`vfs`]: the interface: the [`vfs::FileSystem`] and [`vfs::Inode`] traits (inode-based,
//!   object-safe, `Send + Sync`, errno-style errors, offset-based I/O) and their types.
//! - [`error`]: [`Errno`], POSIX names with Linux numbers.
//! - [`tmpfs`]: a complete writable in-memory filesystem, the usual upper layer.
//! - [`image`] (feature `image`): OCI images in memory (a RAM disk): the layout parsed and
//!   verified, each layer a read-only filesystem serving file data straight from the RAM disk.
//! - [`overlay`]: the union itself.
//! - [`layer_format`]: what image layers and the union agree on (whiteout names, opaque
//!   markers, the most layers a stack may have); `image` and `overlay` both use it and
//!   neither uses the other.
//! - [`path`], [`perm`] and [`posix`]: path walking, the permission checks, and the POSIX
//!   calls over both, the part of a VFS a small kernel may not have yet.
//! - [`containers`] (feature `containers`): named containers of the images in an
//!   [`image::ImageStore`], `commit` of a container's changes as a new image, `rmi` that keeps
//!   shared layers.
//! - [`shell`] (feature `shell`): a line-based command language over a union (the host front
//!   end and the kernel's serial console share it).
//! - [`scenarios`] (feature `scenarios`): the behaviours every build must show, as one list of
//!   named checks that runs on the host (`cargo test`) and inside a kernel alike.
//!
//! The four features are on by default; `default-features = false` builds the engine alone
//! (`vfs`, `path`, `perm`, `posix`, `tmpfs`, `overlay`), whose only dependencies are
//! `bitflags`, `hashbrown`, `spin` and `log`. `arceos` adds the adapters to ArceOS's VFS, and
//! `std` builds with the standard library (host tools and tests; the engine never needs it).
//!
//! # Example: a container over two image layers
//! ```
//! use std::sync::Arc;
//!
//! use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer};
//! use overlay_core::posix::Namespace;
//! use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
//! use overlay_core::vfs::{Credentials, FileSystem, FileType, Inode, NewNode, OpenFlags};
//! use overlay_core::Errno;
//!
//! # fn main() -> Result<(), Errno> {
//! // Two read-only layers, here built in memory: a base and an application layer on top.
//! let base = TmpFs::new(TmpFsOptions::default());
//! let etc = base.root().create("etc", &NewNode::new(FileType::Directory, 0o755, 0, 0))?;
//! let config = etc.create("config", &NewNode::new(FileType::Regular, 0o644, 0, 0))?;
//! config.write_at(0, b"debug=0\n")?;
//! let app = TmpFs::new(TmpFsOptions::default());
//! app.root().create("app", &NewNode::new(FileType::Directory, 0o755, 0, 0))?;
//!
//! // The container's writable layer, limited to 1 MiB, and the union: lowers top first.
//! let upper = TmpFs::new(TmpFsOptions { capacity_bytes: Some(1 << 20), ..Default::default() });
//! let union = OverlayFs::new(
//!     vec![Layer::new(app), Layer::new(base.clone())],
//!     Some(UpperLayer::new(upper)?),
//!     OverlayOptions::default(),
//! )?;
//!
//! // POSIX calls on the union, as root.
//! let ns = Namespace::with_filesystem(union.clone());
//! let root = Credentials::root();
//! let mut names: Vec<_> = ns.read_dir(&root, "/")?.into_iter().map(|e| e.name).collect();
//! names.sort();
//! assert_eq!(names, [Arc::from("app"), Arc::from("etc")]); // merged from both layers
//!
//! // The first write copies the lower file up; the lower layer keeps its bytes.
//! let file = ns.open(&root, "/etc/config", OpenFlags::WRITE, 0)?;
//! file.pwrite(6, b"1")?;
//! let mut lower_bytes = [0u8; 8];
//! config.read_at(0, &mut lower_bytes)?;
//! assert_eq!(&lower_bytes, b"debug=0\n");
//!
//! // Deleting a lower file leaves a whiteout; `diff` lists the upper layer's changes.
//! ns.unlink(&root, "/etc/config")?;
//! assert_eq!(ns.stat(&root, "/etc/config").err(), Some(Errno::ENOENT));
//! let changes: Vec<String> =
//!     union.diff()?.iter().map(|c| format!("{} {}", c.kind.letter(), c.path)).collect();
//! assert_eq!(changes, ["C /etc", "D /etc/config"]);
//! # Ok(())
//! # }
//! ```
//!
//! # Embedding the engine in your kernel
//! What the engine needs from the kernel: a global allocator, and nothing else: no threads,
//! no interrupts, no clock (timestamps come from a [`time::Clock`] you may supply). What it
//! never does: panic on input (every bad input and every full layer is an [`Errno`]), use
//! `unsafe` (`#![forbid(unsafe_code)]`), or keep global state (a union is a value you own;
//! two unions share nothing). All methods take `&self` and lock inside with `spin` locks,
//! so any CPU may call any method; [`overlay`] gives the lock order. Three steps:
//!
//! 1. **Layers.** Implement [`vfs::FileSystem`] and [`vfs::Inode`] for your filesystem: a
//!    thin wrapper over most hobby-kernel inode traits (`lookup`, `create`, `read_at`,
//!    `write_at`, `readdir` with a cookie...). A lower layer only needs the reading half;
//!    operations you lack keep their defaults, which fail the way Linux does (`ENOTSUP` for
//!    xattrs, `EPERM` for links). Declare honestly what it can store in
//!    [`vfs::FsFeatures`]: the union follows it. An upper layer without device nodes or
//!    xattrs gets `.wh.` name whiteouts (see [`overlay::whiteout`]); one without
//!    [`vfs::FsFeatures::RENAME`] gets its copy-ups built in place, not atomically, and
//!    rename through the union is `EXDEV`; one without [`vfs::FsFeatures::SET_ATTR`] keeps
//!    its own modes and owners (see [`overlay::UpperLayer`]). If your filesystem keeps its
//!    names as `Arc<str>`, hand them out ([`vfs::DirEntry::shared_name`],
//!    [`vfs::Inode::lookup_shared`]): the union then shares them instead of copying each one.
//!    ArceOS filesystems need no code: `adapters::arceos::ArceosLayer` (feature `arceos`)
//!    wraps any of them.
//! 2. **The union.** [`overlay::OverlayFs::new`] with your lowers (top first, like Linux's
//!    `lowerdir=`) and an [`overlay::UpperLayer`] (or none, for a read-only union). Keep the
//!    handle it returns while the union is mounted: directories keep the entries looked up in
//!    them (a dentry cache) as long as it lives.
//! 3. **Mount it.** The union is an `Arc<dyn FileSystem>`: wrap its root [`vfs::Inode`] in
//!    your VFS's node type (for ArceOS, `adapters::arceos::ArceosUnion` is that wrapper, a
//!    `VfsOps`), or use [`posix::Namespace`] as your system-call layer (it walks paths and
//!    checks permissions, which filesystems here leave to their caller, as in Linux).
//!
//! The whole path for a filesystem of your own, here the smallest one there is:
//! ```
//! use std::{any::Any, sync::Arc};
//!
//! use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer};
//! use overlay_core::posix::Namespace;
//! use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
//! use overlay_core::vfs::{Credentials, DirEntry, FileSystem, FileType, FsFeatures};
//! use overlay_core::vfs::{Inode, Metadata, OpenFlags};
//! use overlay_core::{Errno, Result};
//!
//! /// Your kernel's filesystem: read-only, one file `/motd`.
//! struct MotdFs;
//! struct Root;
//! struct Motd;
//! const TEXT: &[u8] = b"hello\n";
//!
//! fn metadata(ino: u64, kind: FileType, mode: u16, size: u64) -> Metadata {
//!     let never = Default::default();
//!     let (uid, gid, rdev) = (0, 0, Default::default());
//!     Metadata { ino, dev: 7, kind, mode, nlink: 1, uid, gid, size, rdev, atime: never,
//!                mtime: never, ctime: never }
//! }
//!
//! impl FileSystem for MotdFs {
//!     fn root(&self) -> Arc<dyn Inode> { Arc::new(Root) }
//!     fn features(&self) -> FsFeatures { FsFeatures::READ_ONLY }
//! }
//! impl Inode for Root {
//!     fn metadata(&self) -> Result<Metadata> { Ok(metadata(1, FileType::Directory, 0o755, 0)) }
//!     fn lookup(&self, name: &str) -> Result<Arc<dyn Inode>> {
//!         if name == "motd" { Ok(Arc::new(Motd)) } else { Err(Errno::ENOENT) }
//!     }
//!     fn readdir(&self, cookie: u64, sink: &mut dyn FnMut(DirEntry<'_>) -> bool) -> Result<()> {
//!         if cookie == 0 {
//!             sink(DirEntry {
//!                 name: "motd",
//!                 shared_name: None,
//!                 ino: 2,
//!                 kind: FileType::Regular,
//!                 next_cookie: 1,
//!             });
//!         }
//!         Ok(())
//!     }
//!     fn as_any(&self) -> &dyn Any { self }
//! }
//! impl Inode for Motd {
//!     fn metadata(&self) -> Result<Metadata> {
//!         Ok(metadata(2, FileType::Regular, 0o644, TEXT.len() as u64))
//!     }
//!     fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
//!         let rest = TEXT.get(offset as usize..).unwrap_or_default();
//!         let n = rest.len().min(buf.len());
//!         buf[..n].copy_from_slice(&rest[..n]);
//!         Ok(n)
//!     }
//!     fn as_any(&self) -> &dyn Any { self }
//! }
//!
//! # fn main() -> Result<()> {
//! // The union: your filesystem as the lower layer, a tmpfs to take the changes.
//! let upper = UpperLayer::new(TmpFs::new(TmpFsOptions::default()))?;
//! let union = OverlayFs::new(vec![Layer::new(Arc::new(MotdFs))], Some(upper),
//!                            OverlayOptions::default())?;
//!
//! // Mounted behind the POSIX layer: write to the read-only file (it is copied up).
//! let ns = Namespace::with_filesystem(union);
//! let root = Credentials::root();
//! ns.open(&root, "/motd", OpenFlags::WRITE | OpenFlags::APPEND, 0)?.write(b"world\n")?;
//! let mut text = [0u8; 12];
//! ns.open(&root, "/motd", OpenFlags::READ, 0)?.read(&mut text)?;
//! assert_eq!(&text, b"hello\nworld\n");
//! # Ok(())
//! # }
//! ```
//! With the `arceos` feature, `adapters::arceos` shows the same path with ArceOS's own RAM
//! filesystem as the upper layer and the union mounted as an ArceOS filesystem.
//!
//! # Semantics
//! Linux overlayfs is the reference. Lookup searches the layers top-down; a whiteout ends the
//! search; directories merge unless one is opaque. The first change to a lower entry copies it
//! up (data, mode, owner, times, xattrs), staged in the upper layer's work directory and renamed
//! into place, so a failed copy-up (`ENOSPC`, `ENOMEM`) leaves nothing behind (an upper that
//! cannot rename gets it built in place and removed on failure: see [`overlay::UpperLayer`]).
//! Unlink and rmdir of lower names leave whiteouts; a directory made over a whiteout is
//! opaque. Inode numbers stay the same across copy-up and rename (Linux `xino`); copied-up
//! hard links stay together (Linux `index=on`). Renaming a directory with lower contents is `EXDEV` unless
//! [`overlay::OverlayOptions::redirect_dir`] is set. Where the engine deliberately differs from
//! Linux:
//! - the identity of copied-up entries (Linux's `trusted.overlay.origin`) is kept in memory,
//!   not in the upper layer, so it does not survive building a new union over an old upper;
//! - `RENAME_WHITEOUT` is not offered to callers of the union (Linux refuses it too, with
//!   `EINVAL`), and `RENAME_EXCHANGE` of a directory with lower contents is `EXDEV`;
//! - merged directories report `nlink` 1, as Linux does, and atime is not updated by reads.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod adapters;
#[cfg(feature = "containers")]
pub mod containers;
pub mod error;
#[cfg(feature = "image")]
pub mod image;
pub mod layer_format;
#[cfg(feature = "image")]
mod name_order;
mod name_table;
pub mod overlay;
pub mod path;
pub mod perm;
pub mod posix;
#[cfg(feature = "scenarios")]
pub mod scenarios;
#[cfg(feature = "shell")]
pub mod shell;
pub mod time;
pub mod tmpfs;
pub mod vfs;

pub use error::{Errno, Result};

/// The package README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
