//! The filesystem interface: the [`FileSystem`] and [`Inode`] traits and the types they exchange.
//!
//! The interface is inode-based and object-safe, so a kernel holds `Arc<dyn Inode>` handles and
//! every filesystem of this crate (tmpfs, the image filesystem, the overlay itself) can stand in
//! for any other. All methods take `&self` and lock internally; all errors are [`Errno`]s.
//!
//! What a filesystem does *not* do: walk paths (see [`crate::path`]) and check the caller's
//! permissions (see [`crate::posix`]). Like Linux's VFS, permission checks are made once, above
//! the filesystem, against the [`Metadata`] it reports; a filesystem trusts its caller. This keeps
//! filesystems small and makes the checks identical for every one of them.
//!
//! Optional operations have default implementations that fail with the errno Linux returns when a
//! filesystem lacks them, so a small filesystem implements only what it has.
//!
//! # Shared file data
//! A file whose bytes can never change (a file of a read-only image in a RAM disk) may hand
//! them out as [`Bytes`] through [`Inode::shared_data`], and a writable filesystem may keep
//! such bytes instead of copying them ([`Inode::write_shared_at`]), copying only the pages that
//! are later written. The overlay's copy-up uses the pair, so the first write into a large
//! lower file costs what the write costs, not what copying the file would. Both methods have
//! defaults (no shared data; a plain copying write), so a filesystem that ignores them behaves
//! exactly as before.

mod bytes;

use alloc::{string::String, sync::Arc, vec::Vec};
use core::any::Any;

use bitflags::bitflags;

pub use self::bytes::Bytes;
use crate::error::{Errno, Result};

/// An inode number, unique within one filesystem.
pub type Ino = u64;

/// Longest name of one directory entry, in bytes (Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// Longest path, in bytes, including the terminating NUL Linux counts (Linux `PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// The kind of a filesystem entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FileType {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A character device node.
    CharDevice,
    /// A block device node.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A Unix domain socket node.
    Socket,
}

impl FileType {
    /// The one-letter code `ls -l` and the shell's `tree` use: `f d l c b p s`.
    pub const fn letter(self) -> char {
        match self {
            FileType::Regular => 'f',
            FileType::Directory => 'd',
            FileType::Symlink => 'l',
            FileType::CharDevice => 'c',
            FileType::BlockDevice => 'b',
            FileType::Fifo => 'p',
            FileType::Socket => 's',
        }
    }

    /// The `S_IFMT` bits of a Unix mode for this kind (`0o040000` for a directory).
    pub const fn mode_bits(self) -> u32 {
        match self {
            FileType::Fifo => 0o010000,
            FileType::CharDevice => 0o020000,
            FileType::Directory => 0o040000,
            FileType::BlockDevice => 0o060000,
            FileType::Regular => 0o100000,
            FileType::Symlink => 0o120000,
            FileType::Socket => 0o140000,
        }
    }

    /// The kind whose `S_IFMT` bits are in `mode`, if they name one.
    pub const fn from_mode(mode: u32) -> Option<FileType> {
        Some(match mode & 0o170000 {
            0o010000 => FileType::Fifo,
            0o020000 => FileType::CharDevice,
            0o040000 => FileType::Directory,
            0o060000 => FileType::BlockDevice,
            0o100000 => FileType::Regular,
            0o120000 => FileType::Symlink,
            0o140000 => FileType::Socket,
            _ => return None,
        })
    }

    /// Whether this is a directory.
    pub const fn is_dir(self) -> bool {
        matches!(self, FileType::Directory)
    }
}

/// A point in time: seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Timespec {
    /// Whole seconds.
    pub sec: i64,
    /// Nanoseconds, below 1 000 000 000.
    pub nsec: u32,
}

/// A device number, as held by character and block device nodes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct DeviceId {
    /// Major number (the driver).
    pub major: u32,
    /// Minor number (the instance).
    pub minor: u32,
}

/// Permission bits that a mode may carry: set-user-id, set-group-id, sticky and `rwxrwxrwx`.
pub const MODE_PERMISSIONS: u16 = 0o7777;
/// The set-user-id bit.
pub const S_ISUID: u16 = 0o4000;
/// The set-group-id bit.
pub const S_ISGID: u16 = 0o2000;
/// The sticky bit.
pub const S_ISVTX: u16 = 0o1000;

/// What `stat` reports about an entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Metadata {
    /// Inode number, unique within `dev`.
    pub ino: Ino,
    /// The filesystem's device number.
    pub dev: u64,
    /// The kind of entry.
    pub kind: FileType,
    /// Permission bits ([`MODE_PERMISSIONS`]), without the kind.
    pub mode: u16,
    /// Number of hard links (for a directory: 2 plus its subdirectories).
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes: the data of a file, the target length of a symlink.
    pub size: u64,
    /// Device number of a character or block device node; zero otherwise.
    pub rdev: DeviceId,
    /// Last access.
    pub atime: Timespec,
    /// Last data change.
    pub mtime: Timespec,
    /// Last metadata change.
    pub ctime: Timespec,
}

impl Metadata {
    /// The full Unix mode: kind bits and permission bits.
    pub fn unix_mode(&self) -> u32 {
        self.kind.mode_bits() | u32::from(self.mode & MODE_PERMISSIONS)
    }

    /// The kind, permission bits and owner.
    pub fn permissions(&self) -> Permissions {
        Permissions {
            kind: self.kind,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
        }
    }
}

/// The part of [`Metadata`] a path walk reads of every entry it passes through: the kind (a
/// directory to enter, a symlink to follow) and what a permission check reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Permissions {
    /// The kind of entry.
    pub kind: FileType,
    /// Permission bits ([`MODE_PERMISSIONS`]).
    pub mode: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// A change of metadata; `None` fields stay as they are. The filesystem sets `ctime` itself.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SetAttr {
    /// New permission bits.
    pub mode: Option<u16>,
    /// New owner.
    pub uid: Option<u32>,
    /// New group.
    pub gid: Option<u32>,
    /// New access time.
    pub atime: Option<Timespec>,
    /// New modification time.
    pub mtime: Option<Timespec>,
}

/// What to create with [`Inode::create`]: any kind but a symlink (see [`Inode::symlink`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NewNode {
    /// Kind of the new entry.
    pub kind: FileType,
    /// Its permission bits, already masked by the caller's umask.
    pub mode: u16,
    /// Its owner.
    pub uid: u32,
    /// Its group.
    pub gid: u32,
    /// Device number, for character and block devices.
    pub rdev: DeviceId,
}

impl NewNode {
    /// A new entry of `kind` with `mode`, owned by `uid:gid`, with no device number.
    pub const fn new(kind: FileType, mode: u16, uid: u32, gid: u32) -> NewNode {
        NewNode {
            kind,
            mode,
            uid,
            gid,
            rdev: DeviceId { major: 0, minor: 0 },
        }
    }
}

/// One entry of a directory listing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DirEntry<'a> {
    /// The entry's name (never `.` or `..`: listings leave those to the caller).
    pub name: &'a str,
    /// The same name as the filesystem keeps it, if it keeps it as a shared `Arc<str>`
    /// (`None` otherwise): a caller that keeps the names it is handed (a union's merged
    /// listing) then takes a reference instead of a copy (see [`DirEntry::name_arc`]). It
    /// holds the same text as `name` (usually `name` points into it).
    pub shared_name: Option<&'a Arc<str>>,
    /// Its inode number.
    pub ino: Ino,
    /// Its kind.
    pub kind: FileType,
    /// The cookie that resumes the listing just after this entry.
    pub next_cookie: u64,
}

impl DirEntry<'_> {
    /// The name as an `Arc<str>`: the filesystem's own if it shares it, else a copy. A
    /// shared name whose text is not `name` (a filesystem's mistake) is not used: `name` is.
    #[inline]
    pub fn name_arc(&self) -> Arc<str> {
        match self.shared_name {
            // The same bytes (the usual case, checked without reading them), or equal ones.
            Some(shared) if core::ptr::eq(&**shared, self.name) || **shared == *self.name => {
                shared.clone()
            }
            _ => Arc::from(self.name),
        }
    }
}

/// An entry found by [`Inode::lookup_shared`]: its inode, and its name as the filesystem
/// keeps it if that is a shared `Arc<str>` (`None` otherwise).
pub type NamedInode = (Arc<dyn Inode>, Option<Arc<str>>);

/// The caller of an operation: whose permissions are checked and who owns what is created.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Credentials {
    /// User id; 0 is root, which passes every permission check.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids.
    pub groups: Vec<u32>,
}

impl Credentials {
    /// Root: uid 0, gid 0, no supplementary groups.
    pub const fn root() -> Credentials {
        Credentials {
            uid: 0,
            gid: 0,
            groups: Vec::new(),
        }
    }

    /// A user with a primary group and no supplementary groups.
    pub const fn user(uid: u32, gid: u32) -> Credentials {
        Credentials {
            uid,
            gid,
            groups: Vec::new(),
        }
    }

    /// Whether this caller is root.
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// Whether `gid` is the caller's primary or one of its supplementary groups.
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// Filesystem figures, as `statfs` reports them.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct StatFs {
    /// Size of a block, in bytes.
    pub block_size: u32,
    /// Total blocks.
    pub blocks: u64,
    /// Free blocks.
    pub blocks_free: u64,
    /// Free blocks available to unprivileged users.
    pub blocks_available: u64,
    /// Total inodes.
    pub files: u64,
    /// Free inodes.
    pub files_free: u64,
    /// Longest name.
    pub name_max: u32,
}

bitflags! {
    /// What a filesystem can store; the overlay chooses its whiteout encoding from these.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub struct FsFeatures: u32 {
        /// Nothing can be changed: every modifying call fails with `EROFS`.
        const READ_ONLY = 1 << 0;
        /// Extended attributes, including the `trusted.` namespace.
        const XATTRS = 1 << 1;
        /// Character and block device nodes, fifos and sockets.
        const DEVICE_NODES = 1 << 2;
        /// Hard links.
        const HARD_LINKS = 1 << 3;
        /// Symbolic links.
        const SYMLINKS = 1 << 4;
        /// [`RenameFlags::WHITEOUT`].
        const RENAME_WHITEOUT = 1 << 5;
        /// [`Inode::rename`] moves entries between any two directories of the filesystem,
        /// atomically, and honours [`RenameFlags::NOREPLACE`]. An overlay upper layer without
        /// it loses the atomicity of copy-up (see [`crate::overlay::UpperLayer`]).
        const RENAME = 1 << 6;
        /// [`Inode::set_attr`] stores mode, owner and times. Without it an overlay upper
        /// layer keeps what the filesystem gives new entries.
        const SET_ATTR = 1 << 7;
    }
}

bitflags! {
    /// Flags of [`Inode::rename`], with Linux's `renameat2` values.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct RenameFlags: u32 {
        /// Fail with `EEXIST` rather than replace an existing target.
        const NOREPLACE = 1 << 0;
        /// Swap source and target atomically; both must exist.
        const EXCHANGE = 1 << 1;
        /// Leave a whiteout (character device 0/0) at the old name, atomically.
        const WHITEOUT = 1 << 2;
    }
}

bitflags! {
    /// Flags of [`Inode::set_xattr`], with Linux's `setxattr` values.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct XattrFlags: u32 {
        /// Fail with `EEXIST` if the attribute exists.
        const CREATE = 1;
        /// Fail with `ENODATA` if the attribute does not exist.
        const REPLACE = 2;
    }
}

bitflags! {
    /// How a file is opened (the shell's `open` flags; POSIX `O_*`).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct OpenFlags: u32 {
        /// Open for reading.
        const READ = 1 << 0;
        /// Open for writing.
        const WRITE = 1 << 1;
        /// Create the file if it does not exist.
        const CREATE = 1 << 2;
        /// With `CREATE`: fail with `EEXIST` if it exists.
        const EXCLUSIVE = 1 << 3;
        /// Truncate to zero length.
        const TRUNCATE = 1 << 4;
        /// Every write goes to the end.
        const APPEND = 1 << 5;
        /// Fail with `ENOTDIR` unless the target is a directory.
        const DIRECTORY = 1 << 6;
        /// Do not follow a final symlink (`ELOOP` if it is one).
        const NOFOLLOW = 1 << 7;
    }
}

impl OpenFlags {
    /// Whether the open can change the file's data (write or truncate).
    pub fn modifies_data(self) -> bool {
        self.intersects(OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::TRUNCATE)
    }
}

/// A filesystem: a root directory and figures about the whole.
pub trait FileSystem: Send + Sync {
    /// The root directory.
    fn root(&self) -> Arc<dyn Inode>;

    /// Capacity and usage figures.
    ///
    /// # Errors
    /// Whatever the filesystem's storage reports; the default reports nothing is free and
    /// cannot fail.
    fn statfs(&self) -> Result<StatFs> {
        Ok(StatFs {
            block_size: 4096,
            name_max: NAME_MAX as u32,
            ..StatFs::default()
        })
    }

    /// What this filesystem can store.
    fn features(&self) -> FsFeatures;
}

/// An entry of a filesystem: file, directory, symlink, device node, fifo or socket.
///
/// Methods that only make sense for one kind fail on the others with the errno Linux gives:
/// directory operations on a non-directory with `ENOTDIR`, data operations on a directory with
/// `EISDIR`. Every modifying method fails with `EROFS` on a read-only filesystem. Names passed
/// in are single components: never empty, never `.` or `..`, without `/` or NUL, at most
/// [`NAME_MAX`] bytes; [`crate::path`] guarantees this, and a filesystem given anything else
/// returns `EINVAL` (`ENAMETOOLONG` for a long name) rather than misbehave.
pub trait Inode: Send + Sync + Any {
    /// The entry's metadata.
    ///
    /// # Errors
    /// `ESTALE` if the entry was removed and its storage released.
    fn metadata(&self) -> Result<Metadata>;

    /// The entry's kind, permission bits and owner, as [`Inode::metadata`] reports them: what
    /// a path walk reads of each directory it passes, so a filesystem that can answer this
    /// without making the whole [`Metadata`] saves that on every step. The default takes
    /// them from `metadata`.
    ///
    /// # Errors
    /// As [`Inode::metadata`].
    fn permissions(&self) -> Result<Permissions> {
        self.metadata().map(|metadata| metadata.permissions())
    }

    /// Changes mode, owner or times; the filesystem updates `ctime`.
    ///
    /// # Errors
    /// `EROFS` on a read-only filesystem; `EPERM` if the filesystem cannot store the change.
    /// The default returns `EPERM`.
    fn set_attr(&self, attr: &SetAttr) -> Result<()> {
        let _ = attr;
        Err(Errno::EPERM)
    }

    /// Finds `name` in this directory.
    ///
    /// # Errors
    /// `ENOTDIR` if `self` is not a directory; `ENOENT` if `name` is absent.
    /// The default returns `ENOTDIR`.
    fn lookup(&self, name: &str) -> Result<Arc<dyn Inode>> {
        let _ = name;
        Err(Errno::ENOTDIR)
    }

    /// [`Inode::lookup`], handing back with the entry its name as the filesystem keeps it, if
    /// it keeps it as a shared `Arc<str>` (as [`DirEntry::shared_name`] does for a listing):
    /// a caller that keeps names (a union's nodes) then takes a reference, not a copy.
    ///
    /// # Errors
    /// As [`Inode::lookup`]. The default is [`Inode::lookup`], with no shared name.
    fn lookup_shared(&self, name: &str) -> Result<NamedInode> {
        Ok((self.lookup(name)?, None))
    }

    /// Creates `name` in this directory as described by `node` (any kind but a symlink).
    ///
    /// # Errors
    /// `ENOTDIR` if `self` is not a directory; `EEXIST` if `name` exists; `ENOSPC` if the
    /// filesystem is full; `EPERM` if it cannot hold that kind of node; `EINVAL` if `node.kind`
    /// is `Symlink`. The default returns `ENOTDIR`.
    fn create(&self, name: &str, node: &NewNode) -> Result<Arc<dyn Inode>> {
        let _ = (name, node);
        Err(Errno::ENOTDIR)
    }

    /// Creates `name` in this directory as a symlink to `target`, owned by `uid:gid`.
    ///
    /// # Errors
    /// As [`Inode::create`]; `EPERM` where symlinks are not supported (the default).
    fn symlink(&self, name: &str, target: &str, uid: u32, gid: u32) -> Result<Arc<dyn Inode>> {
        let _ = (name, target, uid, gid);
        Err(Errno::EPERM)
    }

    /// Adds `name` in this directory as a new hard link to `target`.
    ///
    /// # Errors
    /// `EPERM` if `target` is a directory or hard links are not supported (the default);
    /// `EXDEV` if `target` belongs to another filesystem; `EEXIST` if `name` exists;
    /// `ENOTDIR` if `self` is not a directory; `EMLINK` if `target` has too many links.
    fn link(&self, name: &str, target: &dyn Inode) -> Result<()> {
        let _ = (name, target);
        Err(Errno::EPERM)
    }

    /// Removes the non-directory `name` from this directory.
    ///
    /// # Errors
    /// `ENOTDIR` if `self` is not a directory; `ENOENT` if `name` is absent; `EISDIR` if it is
    /// a directory. The default returns `ENOTDIR`.
    fn unlink(&self, name: &str) -> Result<()> {
        let _ = name;
        Err(Errno::ENOTDIR)
    }

    /// Removes the empty directory `name` from this directory.
    ///
    /// # Errors
    /// `ENOTDIR` if `self` or `name` is not a directory; `ENOENT` if `name` is absent;
    /// `ENOTEMPTY` if it has entries. The default returns `ENOTDIR`.
    fn rmdir(&self, name: &str) -> Result<()> {
        let _ = name;
        Err(Errno::ENOTDIR)
    }

    /// Moves `old_name` of this directory to `new_name` of `new_dir`, replacing what is there
    /// (unless `flags` says otherwise). Renaming an entry onto itself does nothing.
    ///
    /// # Errors
    /// `ENOENT` if `old_name` is absent (or, with `EXCHANGE`, `new_name`); `EEXIST` with
    /// `NOREPLACE` if `new_name` exists; `ENOTDIR` moving a directory over a non-directory;
    /// `EISDIR` moving a non-directory over a directory; `ENOTEMPTY` replacing a directory
    /// with entries; `EINVAL` moving a directory into its own subtree or for flags the
    /// filesystem does not support; `EXDEV` if `new_dir` belongs to another filesystem.
    /// The default returns `EXDEV`, which callers treat as "copy instead".
    fn rename(
        &self,
        old_name: &str,
        new_dir: &dyn Inode,
        new_name: &str,
        flags: RenameFlags,
    ) -> Result<()> {
        let _ = (old_name, new_dir, new_name, flags);
        Err(Errno::EXDEV)
    }

    /// Reads bytes at `offset` into `buf`; returns how many (0 at or past the end).
    ///
    /// # Errors
    /// `EISDIR` for a directory (the default); `EINVAL` for a symlink or device node.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let _ = (offset, buf);
        Err(Errno::EISDIR)
    }

    /// Writes `buf` at `offset`, growing the file as needed (a gap reads as zeros); returns
    /// how many bytes were written, which is all of them unless an error stops it at once.
    ///
    /// # Errors
    /// `EISDIR` for a directory (the default); `ENOSPC` if the filesystem is full (nothing is
    /// written then); `EFBIG` if `offset + buf.len()` overflows or passes the largest file
    /// size the filesystem can hold.
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize> {
        let _ = (offset, buf);
        Err(Errno::EISDIR)
    }

    /// The file's whole data as shared bytes that **never change**, if the filesystem can
    /// give them: `Some` only if the returned view holds exactly the file's current data
    /// (`metadata().size` bytes) and neither the file nor the view's bytes will ever change,
    /// for as long as anyone holds the view (a read-only filesystem over an immutable buffer,
    /// such as an image layer in a RAM disk). A caller may keep the view for ever instead of
    /// copying the data (see [`Inode::write_shared_at`]).
    ///
    /// The default returns `None` (so does any file that can be written, even one of a
    /// filesystem that is read-only for now); callers then read the data with
    /// [`Inode::read_at`] as usual. Never an error: a file that cannot share just says `None`.
    fn shared_data(&self) -> Option<Bytes> {
        None
    }

    /// Writes `bytes` at `offset`, exactly as [`Inode::write_at`] would (same result, same
    /// errors, same data read back afterwards), but the filesystem may keep a reference to
    /// `bytes` instead of copying them, which [`Bytes`] allows because its bytes never change.
    /// A filesystem that keeps them copies a page only when it is later written, and says
    /// what shared data costs against its capacity (see [`crate::tmpfs`]).
    ///
    /// The default copies: it calls [`Inode::write_at`] with the bytes.
    ///
    /// # Errors
    /// As [`Inode::write_at`].
    fn write_shared_at(&self, offset: u64, bytes: &Bytes) -> Result<usize> {
        self.write_at(offset, bytes.as_slice())
    }

    /// Sets the file's size: truncates, or extends with zeros.
    ///
    /// # Errors
    /// `EISDIR` for a directory (the default); `EINVAL` for other non-regular files;
    /// `ENOSPC` if the filesystem is full; `EFBIG` past the largest file size it can hold.
    fn set_len(&self, len: u64) -> Result<()> {
        let _ = len;
        Err(Errno::EISDIR)
    }

    /// Lists this directory from `cookie` (0: from the start), calling `sink` for each entry
    /// until it returns `false` or the entries run out. Each entry carries the cookie that
    /// resumes after it. Entries added or removed between calls never make the listing skip
    /// or repeat an entry that existed throughout; `.` and `..` are not listed.
    ///
    /// `sink` is called with no lock of the filesystem held, so it may call back into it: a
    /// union lists a directory of one lower layer alone by handing its own caller's `sink`
    /// to that layer's `readdir`.
    ///
    /// # Errors
    /// `ENOTDIR` if `self` is not a directory (the default).
    fn readdir(&self, cookie: u64, sink: &mut dyn FnMut(DirEntry<'_>) -> bool) -> Result<()> {
        let _ = (cookie, sink);
        Err(Errno::ENOTDIR)
    }

    /// The target of a symlink.
    ///
    /// # Errors
    /// `EINVAL` if `self` is not a symlink (the default).
    fn readlink(&self) -> Result<String> {
        Err(Errno::EINVAL)
    }

    /// The value of extended attribute `name`.
    ///
    /// # Errors
    /// `ENODATA` if it is not set; `ENOTSUP` without xattr support (the default).
    fn get_xattr(&self, name: &str) -> Result<Vec<u8>> {
        let _ = name;
        Err(Errno::ENOTSUP)
    }

    /// Sets extended attribute `name` to `value`.
    ///
    /// # Errors
    /// `EEXIST` with `CREATE` if it is set; `ENODATA` with `REPLACE` if it is not; `ENOSPC` if
    /// the filesystem is full; `ENOTSUP` without xattr support (the default).
    fn set_xattr(&self, name: &str, value: &[u8], flags: XattrFlags) -> Result<()> {
        let _ = (name, value, flags);
        Err(Errno::ENOTSUP)
    }

    /// The names of all extended attributes set on this entry, sorted.
    ///
    /// # Errors
    /// `ENOTSUP` without xattr support (the default).
    fn list_xattr(&self) -> Result<Vec<String>> {
        Err(Errno::ENOTSUP)
    }

    /// Removes extended attribute `name`.
    ///
    /// # Errors
    /// `ENODATA` if it is not set; `ENOTSUP` without xattr support (the default).
    fn remove_xattr(&self, name: &str) -> Result<()> {
        let _ = name;
        Err(Errno::ENOTSUP)
    }

    /// Called when the entry is opened with `flags`, after the caller's permissions were
    /// checked and before any truncation. A plain filesystem has nothing to do (the default);
    /// the overlay copies a lower file up here when `flags` can change its data.
    ///
    /// # Errors
    /// Whatever preparing the open needs: `ENOSPC`/`ENOMEM` for a failed copy-up, `EROFS`.
    fn open(&self, flags: OpenFlags) -> Result<()> {
        let _ = flags;
        Ok(())
    }

    /// The entry as [`Any`], so a filesystem can recognise its own inodes (e.g. the target of
    /// [`Inode::link`] or the new directory of [`Inode::rename`]).
    fn as_any(&self) -> &dyn Any;
}

/// Checks that `name` can be an entry of a directory: not empty, not `.` or `..`, no `/` or
/// NUL, at most [`NAME_MAX`] bytes.
///
/// # Errors
/// `ENAMETOOLONG` for a long name; `EINVAL` otherwise.
pub fn check_name(name: &str) -> Result<()> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.is_empty() || name == "." || name == ".." || name.bytes().any(|b| b == b'/' || b == 0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_arc_shares_the_filesystems_name_or_copies_it() {
        let kept: Arc<str> = Arc::from("motd");
        let mut entry = DirEntry {
            name: &kept,
            shared_name: Some(&kept),
            ino: 2,
            kind: FileType::Regular,
            next_cookie: 1,
        };
        assert!(Arc::ptr_eq(&entry.name_arc(), &kept));
        entry.shared_name = None;
        let copy = entry.name_arc();
        assert_eq!(&*copy, "motd");
        assert!(!Arc::ptr_eq(&copy, &kept));
        // A shared name that does not match is ignored, whatever the filesystem meant.
        let other: Arc<str> = Arc::from("issue");
        entry.shared_name = Some(&other);
        assert_eq!(&*entry.name_arc(), "motd");
        let equal: Arc<str> = Arc::from("motd");
        entry.shared_name = Some(&equal);
        assert!(Arc::ptr_eq(&entry.name_arc(), &equal));
    }

    #[test]
    fn mode_bits_round_trip() {
        for kind in [
            FileType::Regular,
            FileType::Directory,
            FileType::Symlink,
            FileType::CharDevice,
            FileType::BlockDevice,
            FileType::Fifo,
            FileType::Socket,
        ] {
            assert_eq!(FileType::from_mode(kind.mode_bits() | 0o755), Some(kind));
        }
        assert_eq!(FileType::from_mode(0o755), None);
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("a"), Ok(()));
        assert_eq!(check_name(""), Err(Errno::EINVAL));
        assert_eq!(check_name(".."), Err(Errno::EINVAL));
        assert_eq!(check_name("a/b"), Err(Errno::EINVAL));
        assert_eq!(check_name("a\0"), Err(Errno::EINVAL));
        assert_eq!(check_name(&"x".repeat(255)), Ok(()));
        assert_eq!(check_name(&"x".repeat(256)), Err(Errno::ENAMETOOLONG));
    }
}
