//! `tmpfs`: a writable filesystem that lives in memory.
//!
//! [`TmpFs`] holds every file type (regular files, directories, symlinks, character and block
//! devices, fifos, sockets), extended attributes, hard links and `renameat2`-style renames with
//! all of [`RenameFlags`](crate::vfs::RenameFlags). It is the overlay's usual upper layer, and,
//! switched to read-only with [`TmpFs::set_read_only`], a handy lower layer for tests.
//!
//! # Layout
//! - `mod.rs` (this file): [`TmpFs`], [`TmpFsOptions`], capacity accounting, `statfs`.
//! - `node.rs`: [`TmpInode`], the inode, and its [`Inode`] implementation.
//! - `dir.rs`: directory entries and the namespace operations (create, link, unlink, ...).
//! - `rename.rs`: rename, with its locking rules.
//! - `data.rs`: file data in 4 KiB pages, or runs of pages shared with an immutable file.
//! - `xattr.rs`: extended attributes.
//! - `stress.rs` (tests only): several threads at once.
//!
//! # Capacity
//! With [`TmpFsOptions::capacity_bytes`] set, these count against the capacity:
//! - every page of file data: [`PAGE_SIZE`] bytes each (holes cost nothing), including the
//!   pages of shared bytes kept by [`Inode::write_shared_at`] (an overlay copy-up of an image
//!   file): a shared page is charged like the copy it stands for, so the capacity means the
//!   same whatever the layers below can share (a copy-up needs the room a full copy needs,
//!   and the first write into a shared page, which copies that page, needs no more). What
//!   sharing saves is memory and time, not capacity;
//! - the bytes of every symlink target;
//! - the name and value bytes of every extended attribute.
//!
//! Directory entries and inode bookkeeping are not counted in bytes; they are bounded by
//! [`TmpFsOptions::max_inodes`], which, like Linux tmpfs's `nr_inodes`, counts every inode plus
//! every extra hard link of a non-directory (so names cannot grow without bound either).
//! An operation that would exceed either limit fails with `ENOSPC` and changes nothing. Space
//! of an unlinked file that is still held open is released when the last handle goes.
//!
//! File pages, symlink targets and xattr values are allocated fallibly, so running out of
//! memory there is `ENOMEM`. The small, fixed-size allocations of inodes and map nodes use the
//! infallible allocator APIs, as `alloc` offers no fallible alternative for them.
//!
//! # Locking
//! Each inode has one `spin` reader-writer lock. An operation on a directory locks the
//! directory, then at most the inode inside it that it changes; rename also takes a
//! filesystem-wide rename lock first and orders the two directories ancestor first (the full
//! order is in `rename.rs`). `readdir` copies entries out in small batches and calls its sink
//! with no lock held, so the sink may call back into the filesystem.
//!
//! # Shared data
//! [`Inode::write_shared_at`] keeps the given [`Bytes`](crate::vfs::Bytes) by reference
//! wherever they fill whole pages, in one entry however long, and copies a page only when it is
//! written; everything reads back as if the bytes had been copied. A tmpfs file does not offer
//! its own data that way ([`Inode::shared_data`] is `None`): it can be written again, even after
//! [`TmpFs::set_read_only`] (which can be undone), so it cannot promise bytes that never change.
//!
//! # Where this differs from Linux tmpfs
//! - Permission checks are not made here (see [`crate::vfs`]); neither is the clearing of
//!   set-user-id bits on write or chown, which belongs to the layer that checks permissions.
//! - `atime` is never updated by reads (as if mounted `noatime`); `set_attr` can set it.
//! - Any name in the `system.` xattr namespace is stored as given; Linux tmpfs accepts only
//!   the POSIX ACL names there.
//! - Whiteouts made by `RenameFlags::WHITEOUT` are owned by 0:0 (Linux: the caller).
//! - A write that does not fit (`ENOSPC`, `EFBIG`) writes nothing; Linux may write a part and
//!   return a short count.

mod data;
mod dir;
mod node;
mod offsets;
mod rename;
#[cfg(test)]
mod stress;
#[cfg(test)]
mod test_support;
mod xattr;

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use data::PAGE_SIZE;
pub use node::TmpInode;

use crate::error::{Errno, Result};
use crate::time::{Clock, TickClock};
use crate::vfs::{FileSystem, FsFeatures, Ino, Inode, StatFs, Timespec, NAME_MAX};

/// How to build a [`TmpFs`].
#[derive(Clone)]
pub struct TmpFsOptions {
    /// Most bytes the filesystem may hold (see the module docs for what counts); `None`: no
    /// limit but memory.
    pub capacity_bytes: Option<u64>,
    /// Most inodes (plus extra hard links) the filesystem may hold, the root included; `None`:
    /// no limit.
    pub max_inodes: Option<u64>,
    /// The device number reported in every inode's [`Metadata::dev`](crate::vfs::Metadata).
    pub dev: u64,
    /// Where timestamps come from.
    pub clock: Arc<dyn Clock>,
    /// Permission bits of the root directory.
    pub root_mode: u16,
    /// Owner of the root directory.
    pub root_uid: u32,
    /// Group of the root directory.
    pub root_gid: u32,
}

impl Default for TmpFsOptions {
    /// No limits, device 0, a [`TickClock`], and a root directory `0755` owned by `0:0`.
    fn default() -> TmpFsOptions {
        TmpFsOptions {
            capacity_bytes: None,
            max_inodes: None,
            dev: 0,
            clock: Arc::new(TickClock::new()),
            root_mode: 0o755,
            root_uid: 0,
            root_gid: 0,
        }
    }
}

impl core::fmt::Debug for TmpFsOptions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TmpFsOptions")
            .field("capacity_bytes", &self.capacity_bytes)
            .field("max_inodes", &self.max_inodes)
            .field("dev", &self.dev)
            .field("root_mode", &self.root_mode)
            .field("root_uid", &self.root_uid)
            .field("root_gid", &self.root_gid)
            .finish_non_exhaustive()
    }
}

/// A writable in-memory filesystem. See the [module docs](self).
pub struct TmpFs {
    shared: Arc<Shared>,
    root: Arc<TmpInode>,
}

impl TmpFs {
    /// A new, empty filesystem: just the root directory.
    pub fn new(options: TmpFsOptions) -> Arc<TmpFs> {
        let shared = Arc::new(Shared {
            dev: options.dev,
            clock: options.clock,
            read_only: AtomicBool::new(false),
            capacity_bytes: options.capacity_bytes,
            used_bytes: AtomicU64::new(0),
            max_inodes: options.max_inodes,
            used_inodes: AtomicU64::new(0),
            next_ino: AtomicU64::new(1),
            rename_lock: spin::Mutex::new(()),
        });
        // The root always exists, whatever `max_inodes` says, so it is counted unconditionally.
        shared.used_inodes.fetch_add(1, Ordering::Relaxed);
        let root = TmpInode::new_root(
            &shared,
            options.root_mode,
            options.root_uid,
            options.root_gid,
        );
        Arc::new(TmpFs { shared, root })
    }

    /// Makes the filesystem read-only (`true`) or writable again (`false`). While read-only,
    /// [`FileSystem::features`] includes `READ_ONLY` and every modifying call fails with
    /// `EROFS`.
    pub fn set_read_only(&self, read_only: bool) {
        self.shared.read_only.store(read_only, Ordering::SeqCst);
    }

    /// Whether the filesystem is read-only.
    pub fn is_read_only(&self) -> bool {
        self.shared.read_only.load(Ordering::SeqCst)
    }

    /// Bytes in use, as counted against the capacity (see the module docs).
    pub fn used_bytes(&self) -> u64 {
        self.shared.used_bytes.load(Ordering::SeqCst)
    }

    /// The capacity in bytes, if limited.
    pub fn capacity_bytes(&self) -> Option<u64> {
        self.shared.capacity_bytes
    }

    /// Inodes in use (plus extra hard links), as counted against `max_inodes`.
    pub fn used_inodes(&self) -> u64 {
        self.shared.used_inodes.load(Ordering::SeqCst)
    }

    /// The root directory, as this filesystem's own inode type.
    pub fn root_inode(&self) -> Arc<TmpInode> {
        self.root.clone()
    }
}

impl core::fmt::Debug for TmpFs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TmpFs")
            .field("dev", &self.shared.dev)
            .field("read_only", &self.is_read_only())
            .field("used_bytes", &self.used_bytes())
            .field("capacity_bytes", &self.shared.capacity_bytes)
            .field("used_inodes", &self.used_inodes())
            .field("max_inodes", &self.shared.max_inodes)
            .finish_non_exhaustive()
    }
}

impl FileSystem for TmpFs {
    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }

    /// Figures in [`PAGE_SIZE`] blocks. Like Linux tmpfs, an unlimited capacity (or inode
    /// count) is reported as 0 total and 0 free.
    fn statfs(&self) -> Result<StatFs> {
        let block_size = PAGE_SIZE as u64;
        let (blocks, blocks_free) = match self.shared.capacity_bytes {
            Some(capacity) => {
                let free = capacity.saturating_sub(self.used_bytes());
                (capacity / block_size, free / block_size)
            }
            None => (0, 0),
        };
        let (files, files_free) = match self.shared.max_inodes {
            Some(max) => (max, max.saturating_sub(self.used_inodes())),
            None => (0, 0),
        };
        Ok(StatFs {
            block_size: PAGE_SIZE as u32,
            blocks,
            blocks_free,
            blocks_available: blocks_free,
            files,
            files_free,
            name_max: NAME_MAX as u32,
        })
    }

    fn features(&self) -> FsFeatures {
        let mut features = FsFeatures::XATTRS
            | FsFeatures::DEVICE_NODES
            | FsFeatures::HARD_LINKS
            | FsFeatures::SYMLINKS
            | FsFeatures::RENAME_WHITEOUT
            | FsFeatures::RENAME
            | FsFeatures::SET_ATTR;
        if self.is_read_only() {
            features |= FsFeatures::READ_ONLY;
        }
        features
    }
}

/// What every inode of one filesystem shares: limits, usage, clock, identity.
///
/// Inodes hold an `Arc<Shared>` rather than an `Arc<TmpFs>`, so that the root (held by
/// `TmpFs`) does not keep its own filesystem alive in a cycle.
pub(crate) struct Shared {
    dev: u64,
    clock: Arc<dyn Clock>,
    read_only: AtomicBool,
    capacity_bytes: Option<u64>,
    used_bytes: AtomicU64,
    max_inodes: Option<u64>,
    used_inodes: AtomicU64,
    next_ino: AtomicU64,
    /// Held for the whole of every rename, so the shape of the tree (which directory is an
    /// ancestor of which) cannot change while a rename checks and locks. See `rename.rs` for
    /// the lock order.
    rename_lock: spin::Mutex<()>,
}

impl Shared {
    /// `EROFS` if the filesystem is read-only.
    fn check_writable(&self) -> Result<()> {
        if self.read_only.load(Ordering::SeqCst) {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    fn now(&self) -> Timespec {
        self.clock.now()
    }

    fn allocate_ino(&self) -> Ino {
        self.next_ino.fetch_add(1, Ordering::Relaxed)
    }

    /// Reserves `bytes` of capacity, or fails with `ENOSPC` and reserves nothing.
    fn charge_bytes(&self, bytes: u64) -> Result<()> {
        charge(&self.used_bytes, self.capacity_bytes, bytes)
    }

    /// Gives back `bytes` reserved by [`Shared::charge_bytes`].
    fn uncharge_bytes(&self, bytes: u64) {
        self.used_bytes.fetch_sub(bytes, Ordering::SeqCst);
    }

    /// Reserves `count` inode slots, or fails with `ENOSPC` and reserves nothing.
    fn charge_inodes(&self, count: u64) -> Result<()> {
        charge(&self.used_inodes, self.max_inodes, count)
    }

    /// Gives back `count` inode slots.
    fn uncharge_inodes(&self, count: u64) {
        self.used_inodes.fetch_sub(count, Ordering::SeqCst);
    }
}

/// Adds `amount` to `used` unless that would pass `limit`.
fn charge(used: &AtomicU64, limit: Option<u64>, amount: u64) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    used.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |current| {
        let next = current.checked_add(amount)?;
        match limit {
            Some(limit) if next > limit => None,
            _ => Some(next),
        }
    })
    .map(|_| ())
    .map_err(|_| Errno::ENOSPC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::{FileType, NewNode, XattrFlags};

    #[test]
    fn features_and_read_only_flag() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let all = FsFeatures::XATTRS
            | FsFeatures::DEVICE_NODES
            | FsFeatures::HARD_LINKS
            | FsFeatures::SYMLINKS
            | FsFeatures::RENAME_WHITEOUT
            | FsFeatures::RENAME
            | FsFeatures::SET_ATTR;
        assert_eq!(fs.features(), all);
        fs.set_read_only(true);
        assert!(fs.is_read_only());
        assert_eq!(fs.features(), all | FsFeatures::READ_ONLY);
        fs.set_read_only(false);
        assert_eq!(fs.features(), all);
    }

    #[test]
    fn root_follows_options() {
        let fs = TmpFs::new(TmpFsOptions {
            dev: 42,
            root_mode: 0o1777,
            root_uid: 7,
            root_gid: 8,
            ..TmpFsOptions::default()
        });
        let meta = fs.root().metadata().unwrap();
        assert_eq!(meta.kind, FileType::Directory);
        assert_eq!(meta.mode, 0o1777);
        assert_eq!((meta.uid, meta.gid, meta.dev, meta.nlink), (7, 8, 42, 2));
        let file = fs
            .root()
            .create("f", &NewNode::new(FileType::Regular, 0o644, 0, 0))
            .unwrap();
        assert_eq!(file.metadata().unwrap().dev, 42);
        assert_ne!(file.metadata().unwrap().ino, meta.ino);
    }

    #[test]
    fn statfs_reports_capacity_and_inodes() {
        let fs = TmpFs::new(TmpFsOptions {
            capacity_bytes: Some(10 * PAGE_SIZE as u64),
            max_inodes: Some(100),
            ..TmpFsOptions::default()
        });
        let file = fs
            .root()
            .create("f", &NewNode::new(FileType::Regular, 0o644, 0, 0))
            .unwrap();
        file.write_at(0, &[1; PAGE_SIZE + 1]).unwrap();
        let stat = fs.statfs().unwrap();
        assert_eq!(stat.block_size, PAGE_SIZE as u32);
        assert_eq!(
            (stat.blocks, stat.blocks_free, stat.blocks_available),
            (10, 8, 8)
        );
        assert_eq!((stat.files, stat.files_free), (100, 98));
        assert_eq!(stat.name_max, 255);

        let unlimited = TmpFs::new(TmpFsOptions::default()).statfs().unwrap();
        assert_eq!((unlimited.blocks, unlimited.files), (0, 0));
    }

    #[test]
    fn max_inodes_gives_enospc() {
        let fs = TmpFs::new(TmpFsOptions {
            max_inodes: Some(3),
            ..TmpFsOptions::default()
        });
        let root = fs.root();
        let node = NewNode::new(FileType::Regular, 0o644, 0, 0);
        let a = root.create("a", &node).unwrap();
        root.create("b", &node).unwrap();
        assert_eq!(root.create("c", &node).err(), Some(Errno::ENOSPC));
        assert_eq!(root.symlink("c", "t", 0, 0).err(), Some(Errno::ENOSPC));
        // An extra hard link takes a slot too, as in Linux tmpfs.
        assert_eq!(root.link("c", &*a), Err(Errno::ENOSPC));
        assert!(root.lookup("c").is_err());
        root.unlink("b").unwrap();
        root.link("c", &*a).unwrap();
        assert_eq!(fs.used_inodes(), 3);
        // Removing the extra link gives its slot back; the inode keeps its own.
        root.unlink("c").unwrap();
        assert_eq!(fs.used_inodes(), 2);
        root.unlink("a").unwrap();
        assert_eq!(fs.used_inodes(), 2, "the handle `a` still holds the inode");
        drop(a);
        assert_eq!(fs.used_inodes(), 1);
    }

    #[test]
    fn space_is_released_when_the_last_handle_goes() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let root = fs.root();
        let file = root
            .create("f", &NewNode::new(FileType::Regular, 0o644, 0, 0))
            .unwrap();
        file.write_at(0, b"data").unwrap();
        file.set_xattr("user.k", b"v", XattrFlags::empty()).unwrap();
        root.symlink("l", "target", 0, 0).unwrap();
        assert_eq!(fs.used_bytes(), PAGE_SIZE as u64 + 7 + 6);
        root.unlink("f").unwrap();
        assert_eq!(fs.used_bytes(), PAGE_SIZE as u64 + 7 + 6, "still open");
        let mut buf = [0; 4];
        assert_eq!(file.read_at(0, &mut buf), Ok(4));
        assert_eq!(&buf, b"data");
        drop(file);
        assert_eq!(fs.used_bytes(), 6);
        root.unlink("l").unwrap();
        assert_eq!(fs.used_bytes(), 0);
    }

    #[test]
    fn dropping_a_deep_tree_does_not_recurse() {
        let fs = TmpFs::new(TmpFsOptions::default());
        let mut dir = fs.root();
        let node = NewNode::new(FileType::Directory, 0o755, 0, 0);
        for _ in 0..100_000 {
            dir = dir.create("d", &node).unwrap();
        }
        drop(dir);
        assert_eq!(fs.used_inodes(), 100_001);
        drop(fs);
    }
}
