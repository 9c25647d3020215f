//! A container's root: the union with other filesystems (`/proc`, `/dev`) shown at names of
//! its root directory, as Docker mounts them over the image.
//!
//! [`ContainerRoot`] wraps the union's [`FileSystem`]. Its root directory is the union's root
//! directory in all but one thing: looking up a mounted name (`proc`, `dev`) gives the
//! mounted filesystem's root instead of the union's entry. So:
//!
//! - Nothing done under a mount point reaches the union: writing `/dev/null` or reading
//!   `/proc/meminfo` never copies anything up, and the union's `diff` and `commit` never see
//!   them.
//! - Listing `/` is the union's listing, so a mount point shows in it only if the image has
//!   an entry of that name (Docker's images, and this project's, have `/proc` and `/dev`
//!   directories); the mount is there for lookups either way. `stat("/proc")` is the mounted
//!   root's (its own `st_dev`), as on Linux.
//! - `..` from a mount's root is the container's root: the path walker keeps the stack of
//!   directories it came through, so it never asks a mounted filesystem for its parent.
//! - Removing or renaming a mount point is `EBUSY`, as on Linux; creating one is `EEXIST`
//!   (the name exists, as lookups show).
//! - The root directory's `as_any` is the union root's: the union's `rename` and `link`
//!   recognise their own directory through it, so a rename into `/` works as in the bare
//!   union; a rename or link between a mount and the union is `EXDEV` (the union does not
//!   recognise the other filesystem's inodes, and the mounted filesystems refuse changes).
//! - `statfs` and `features` are the union's, whatever the path: the system-call layer asks
//!   the filesystem of the root, which is the union's.
//! - Limit: renaming into the root from another directory over a mount point's name
//!   (`rename("/tmp/d", "/proc")`) is decided by the union, which replaces the image's entry
//!   below the mount (Linux answers `EBUSY`); the mount stays in front of it.
//!
//! A container's root, as the kernel builds it (any [`FileSystem`] stands in for the union):
//!
//! ```
//! use std::sync::Arc;
//! use overlay_core::posix::Namespace;
//! use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
//! use overlay_core::vfs::{Credentials, NewNode, FileType, FileSystem};
//! use overlay_syscalls::devices::{DevFs, DevFsOptions};
//! use overlay_syscalls::mounts::ContainerRoot;
//! use overlay_syscalls::procfs::{container_mounts, HostSource, ProcFs};
//! # use overlay_syscalls::host::*;
//! # struct Kernel;
//! # impl Host for Kernel {
//! #     fn realtime(&self) -> Timespec { Timespec::default() }
//! #     fn monotonic(&self) -> Timespec { Timespec::default() }
//! #     fn random(&self, buf: &mut [u8]) { buf.fill(4) }
//! #     fn processes(&self) -> Vec<ProcessSummary> { Vec::new() }
//! #     fn memory(&self) -> MemoryFigures { MemoryFigures::default() }
//! # }
//! # struct Serial;
//! # impl overlay_syscalls::tty::ConsoleOutput for Serial { fn write(&self, _: &[u8]) {} }
//! let union = TmpFs::new(TmpFsOptions::default());
//! for dir in ["proc", "dev"] {
//!     union.root().create(dir, &NewNode::new(FileType::Directory, 0o555, 0, 0)).unwrap();
//! }
//! let host: Arc<dyn Host> = Arc::new(Kernel);
//! let terminal = overlay_syscalls::tty::Terminal::new(Arc::new(Serial));
//! let random_host = host.clone();
//! let dev = DevFs::new(terminal, Arc::new(move |buf: &mut [u8]| random_host.random(buf)),
//!                      DevFsOptions::default());
//! let mounts = container_mounts(&["/layers/0"], "/upper", "/work");
//! let proc = ProcFs::new(Arc::new(HostSource::new(host, mounts)), 1);
//! let root = ContainerRoot::container(union, proc, dev);
//! let namespace = Namespace::with_filesystem(root);
//! assert!(namespace.stat(&Credentials::root(), "/dev/null").is_ok());
//! ```

use alloc::{string::String, sync::Arc, vec::Vec};
use core::any::Any;

use overlay_core::vfs::{
    Bytes, DirEntry, FileSystem, FsFeatures, Inode, Metadata, NamedInode, NewNode, OpenFlags,
    Permissions, RenameFlags, SetAttr, StatFs, XattrFlags,
};
use overlay_core::{Errno, Result};

/// The union with filesystems mounted at names of its root. See the [module docs](self).
pub struct ContainerRoot {
    union: Arc<dyn FileSystem>,
    root: Arc<MountedRoot>,
}

impl ContainerRoot {
    /// The union alone, nothing mounted yet.
    pub fn new(union: Arc<dyn FileSystem>) -> ContainerRoot {
        let root = Arc::new(MountedRoot {
            union_root: union.root(),
            mounts: Vec::new(),
        });
        ContainerRoot { union, root }
    }

    /// A container's usual root: the union with `proc` and `dev` mounted.
    pub fn container(
        union: Arc<dyn FileSystem>,
        proc: Arc<dyn FileSystem>,
        dev: Arc<dyn FileSystem>,
    ) -> Arc<ContainerRoot> {
        Arc::new(
            ContainerRoot::new(union)
                .mount("proc", proc)
                .mount("dev", dev),
        )
    }

    /// The same root with `filesystem` mounted at `name` of the root directory (replacing a
    /// filesystem mounted there before). `name` is a single component.
    pub fn mount(mut self, name: &str, filesystem: Arc<dyn FileSystem>) -> ContainerRoot {
        let mut mounts = self.root.mounts.clone();
        mounts.retain(|(mounted, _)| mounted != name);
        mounts.push((String::from(name), filesystem.root()));
        self.root = Arc::new(MountedRoot {
            union_root: self.root.union_root.clone(),
            mounts,
        });
        self
    }

    /// The union's filesystem.
    pub fn union(&self) -> &Arc<dyn FileSystem> {
        &self.union
    }
}

impl FileSystem for ContainerRoot {
    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }

    fn statfs(&self) -> Result<StatFs> {
        self.union.statfs()
    }

    fn features(&self) -> FsFeatures {
        self.union.features()
    }
}

/// The root directory: the union's, with the mount points in front.
struct MountedRoot {
    union_root: Arc<dyn Inode>,
    mounts: Vec<(String, Arc<dyn Inode>)>,
}

impl MountedRoot {
    fn mounted(&self, name: &str) -> Option<&Arc<dyn Inode>> {
        self.mounts
            .iter()
            .find(|(mounted, _)| mounted == name)
            .map(|(_, root)| root)
    }

    /// Whether `dir` is this root directory (as the union sees it: its own root node).
    fn is_self(&self, dir: &dyn Inode) -> bool {
        let theirs = dir.as_any() as *const dyn Any as *const ();
        let ours = self.union_root.as_any() as *const dyn Any as *const ();
        core::ptr::eq(theirs, ours)
    }

    /// `EBUSY` if `name` is a mount point.
    fn not_mount_point(&self, name: &str) -> Result<()> {
        match self.mounted(name) {
            Some(_) => Err(Errno::EBUSY),
            None => Ok(()),
        }
    }
}

impl Inode for MountedRoot {
    fn metadata(&self) -> Result<Metadata> {
        self.union_root.metadata()
    }

    fn permissions(&self) -> Result<Permissions> {
        self.union_root.permissions()
    }

    fn set_attr(&self, attr: &SetAttr) -> Result<()> {
        self.union_root.set_attr(attr)
    }

    fn lookup(&self, name: &str) -> Result<Arc<dyn Inode>> {
        match self.mounted(name) {
            Some(root) => Ok(root.clone()),
            None => self.union_root.lookup(name),
        }
    }

    fn lookup_shared(&self, name: &str) -> Result<NamedInode> {
        match self.mounted(name) {
            Some(root) => Ok((root.clone(), None)),
            None => self.union_root.lookup_shared(name),
        }
    }

    fn create(&self, name: &str, node: &NewNode) -> Result<Arc<dyn Inode>> {
        if self.mounted(name).is_some() {
            return Err(Errno::EEXIST);
        }
        self.union_root.create(name, node)
    }

    fn symlink(&self, name: &str, target: &str, uid: u32, gid: u32) -> Result<Arc<dyn Inode>> {
        if self.mounted(name).is_some() {
            return Err(Errno::EEXIST);
        }
        self.union_root.symlink(name, target, uid, gid)
    }

    fn link(&self, name: &str, target: &dyn Inode) -> Result<()> {
        if self.mounted(name).is_some() {
            return Err(Errno::EEXIST);
        }
        self.union_root.link(name, target)
    }

    fn unlink(&self, name: &str) -> Result<()> {
        self.not_mount_point(name)?;
        self.union_root.unlink(name)
    }

    fn rmdir(&self, name: &str) -> Result<()> {
        self.not_mount_point(name)?;
        self.union_root.rmdir(name)
    }

    fn rename(
        &self,
        old_name: &str,
        new_dir: &dyn Inode,
        new_name: &str,
        flags: RenameFlags,
    ) -> Result<()> {
        self.not_mount_point(old_name)?;
        if self.is_self(new_dir) {
            self.not_mount_point(new_name)?;
        }
        self.union_root.rename(old_name, new_dir, new_name, flags)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.union_root.read_at(offset, buf)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize> {
        self.union_root.write_at(offset, buf)
    }

    fn shared_data(&self) -> Option<Bytes> {
        self.union_root.shared_data()
    }

    fn write_shared_at(&self, offset: u64, bytes: &Bytes) -> Result<usize> {
        self.union_root.write_shared_at(offset, bytes)
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.union_root.set_len(len)
    }

    fn readdir(&self, cookie: u64, sink: &mut dyn FnMut(DirEntry<'_>) -> bool) -> Result<()> {
        self.union_root.readdir(cookie, sink)
    }

    fn readlink(&self) -> Result<String> {
        self.union_root.readlink()
    }

    fn get_xattr(&self, name: &str) -> Result<Vec<u8>> {
        self.union_root.get_xattr(name)
    }

    fn set_xattr(&self, name: &str, value: &[u8], flags: XattrFlags) -> Result<()> {
        self.union_root.set_xattr(name, value, flags)
    }

    fn list_xattr(&self) -> Result<Vec<String>> {
        self.union_root.list_xattr()
    }

    fn remove_xattr(&self, name: &str) -> Result<()> {
        self.union_root.remove_xattr(name)
    }

    fn open(&self, flags: OpenFlags) -> Result<()> {
        self.union_root.open(flags)
    }

    /// The union root's: see the module docs.
    fn as_any(&self) -> &dyn Any {
        self.union_root.as_any()
    }
}
