//! The POSIX calls over a tree of [`Inode`]s, like Linux's VFS layer: path walking (through
//! [`crate::path`]), every permission check, and the order of checks that decides which errno
//! a caller sees.
//!
//! Filesystems trust their caller (see [`crate::vfs`]); a [`Namespace`] is that caller. Each
//! method takes the caller's [`Credentials`] and checks them against the mode bits and owners
//! the filesystem reports, before it calls anything that modifies. This matters for the
//! overlay: a refused write-open must not copy a lower file up, so the checks come first,
//! then [`Inode::open`] (where the overlay copies up), then truncation.
//!
//! Absolute paths are resolved from the namespace's root, relative ones from its working
//! directory (a [`Location`]: the root unless [`Namespace::with_cwd`] or
//! [`Namespace::chdir`] moved it). [`Namespace::at`] gives a namespace sharing everything but
//! the working directory, for the calls that resolve from an open directory (`openat`).
//!
//! Where this module knowingly differs from Linux:
//! - Opening with `APPEND` but without `WRITE` passes `APPEND` on to [`Inode::open`] only when
//!   the handle is writable, so a read-only open never triggers a copy-up.
//! - `O_CREAT | O_DIRECTORY` is `EINVAL`, as on Linux 6.4 and later.

mod attr;
mod file;
mod names;
pub use crate::perm;
#[cfg(test)]
mod spy;
#[cfg(test)]
mod tests;

use alloc::{string::String, sync::Arc, vec::Vec};
use core::sync::atomic::{AtomicU16, Ordering};

pub use self::attr::SetTime;
pub use self::file::{Entry, File, SeekFrom};

use self::perm::Access;
use crate::error::{Errno, Result};
use crate::path::{Last, Location, Walker};
use crate::time::{Clock, TickClock};
use crate::vfs::{
    Credentials, FileSystem, FileType, FsFeatures, Inode, Metadata, NewNode, OpenFlags, StatFs,
    S_ISGID,
};

/// The umask a new [`Namespace`] starts with.
pub const DEFAULT_UMASK: u16 = 0o022;

/// How many entries [`Namespace::read_dir`] asks the filesystem for at a time.
const READ_DIR_BATCH: usize = 64;

/// A filesystem tree seen through POSIX calls: a root, a umask, and a clock for `utimes`.
///
/// Every method takes the caller's credentials; the namespace itself holds no user. All
/// methods take `&self`, so one namespace can serve several CPUs.
pub struct Namespace {
    root: Arc<dyn Inode>,
    filesystem: Option<Arc<dyn FileSystem>>,
    umask: AtomicU16,
    clock: Arc<dyn Clock>,
    cwd: Location,
}

impl Namespace {
    /// A namespace rooted at `root`, with umask 022 and a [`TickClock`]. Without the
    /// [`FileSystem`] behind `root`, [`Namespace::statfs`] returns `ENOSYS`; see
    /// [`Namespace::with_filesystem`].
    pub fn new(root: Arc<dyn Inode>) -> Namespace {
        Namespace {
            cwd: Location::root(root.clone()),
            root,
            filesystem: None,
            umask: AtomicU16::new(DEFAULT_UMASK),
            clock: Arc::new(TickClock::new()),
        }
    }

    /// A namespace rooted at `filesystem`'s root, which also answers `statfs` and makes
    /// modifying calls on a read-only filesystem fail with `EROFS` before any permission check,
    /// as on Linux.
    pub fn with_filesystem(filesystem: Arc<dyn FileSystem>) -> Namespace {
        let mut namespace = Namespace::new(filesystem.root());
        namespace.filesystem = Some(filesystem);
        namespace
    }

    /// The same namespace, reading the time for `utimes` from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Namespace {
        self.clock = clock;
        self
    }

    /// The same namespace, resolving relative paths from `cwd` (a location reached from this
    /// namespace's root, as [`Namespace::locate`] or an open directory's
    /// [`File::location`] give).
    pub fn with_cwd(mut self, cwd: Location) -> Namespace {
        self.cwd = cwd;
        self
    }

    /// A namespace with this one's root, filesystem, clock and (current) umask, resolving
    /// relative paths from `cwd`: a forked process's copy, or the view from an open directory
    /// for one `*at` call.
    pub fn at(&self, cwd: Location) -> Namespace {
        Namespace {
            root: self.root.clone(),
            filesystem: self.filesystem.clone(),
            umask: AtomicU16::new(self.umask()),
            clock: self.clock.clone(),
            cwd,
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Arc<dyn Inode> {
        &self.root
    }

    /// The filesystem behind the root, if the namespace was made with one.
    pub fn filesystem(&self) -> Option<&Arc<dyn FileSystem>> {
        self.filesystem.as_ref()
    }

    /// The working directory.
    pub fn cwd(&self) -> &Location {
        &self.cwd
    }

    /// The directory `path` names (a final symlink followed), as a [`Location`].
    ///
    /// # Errors
    /// `ENOTDIR` if it is not a directory; the path errors of [`Namespace::lookup`].
    pub fn locate(&self, creds: &Credentials, path: &str) -> Result<Location> {
        self.walker(creds).locate(path)
    }

    /// Makes `path` the working directory (`chdir`).
    ///
    /// # Errors
    /// `ENOTDIR` if it is not a directory; `EACCES` without search permission on it; the path
    /// errors of [`Namespace::lookup`].
    pub fn chdir(&mut self, creds: &Credentials, path: &str) -> Result<()> {
        let location = self.locate(creds, path)?;
        self.set_cwd(creds, location)
    }

    /// Makes `location` the working directory (`fchdir`), if `creds` may search it.
    ///
    /// # Errors
    /// `ENOTDIR` if it is not a directory; `EACCES` without search permission on it.
    pub fn set_cwd(&mut self, creds: &Credentials, location: Location) -> Result<()> {
        let permissions = location.dir().permissions()?;
        if !permissions.kind.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        perm::check_permissions(&permissions, creds, Access::EXEC)?;
        self.cwd = location;
        Ok(())
    }

    /// The current umask.
    pub fn umask(&self) -> u16 {
        self.umask.load(Ordering::Relaxed)
    }

    /// Sets the umask (only its `0o777` bits count); returns the previous one.
    pub fn set_umask(&self, umask: u16) -> u16 {
        self.umask.swap(umask & 0o777, Ordering::Relaxed)
    }

    /// The existing entry at `path`, following a final symlink if `follow` is set (or the path
    /// ends in a slash).
    ///
    /// # Errors
    /// As [`crate::path::resolve`]: `ENOENT`, `ENOTDIR`, `EACCES` (search permission), `ELOOP`,
    /// `ENAMETOOLONG`, `EINVAL`.
    pub fn lookup(&self, creds: &Credentials, path: &str, follow: bool) -> Result<Arc<dyn Inode>> {
        self.walker(creds).resolve(path, follow)
    }

    /// Opens `path`. The access mode is `READ`, `WRITE` or both (neither means read-only);
    /// `mode` gives the permission bits of a file `CREATE` makes, masked by the umask.
    ///
    /// A final symlink is followed, unless `NOFOLLOW` is given or `CREATE | EXCLUSIVE` is
    /// (which refuses any existing name); `CREATE` through a dangling symlink creates the
    /// target. A new file is owned by the caller, with the parent's group if the parent is
    /// set-group-id. After the permission checks, [`Inode::open`] is called (where the overlay
    /// copies a lower file up); then `TRUNCATE` empties an existing regular file.
    ///
    /// # Errors
    /// - `EEXIST` with `CREATE | EXCLUSIVE` if the name exists (even as a symlink).
    /// - `EISDIR` opening a directory for writing or truncation, or with `CREATE`; `CREATE`
    ///   with a trailing slash.
    /// - `ENOTDIR` with `DIRECTORY` (or a trailing slash) on a non-directory.
    /// - `ELOOP` with `NOFOLLOW` on a symlink; `ENXIO` for a socket.
    /// - `EACCES` without read or write permission on the entry as the flags require, or
    ///   without write and search permission on the parent to create.
    /// - `EINVAL` for `CREATE | DIRECTORY`.
    /// - `EROFS` on a read-only filesystem (write, truncate or create).
    /// - The path errors of [`Namespace::lookup`]; what the filesystem's `create`, `open` and
    ///   `set_len` return (`ENOSPC`, ...).
    pub fn open(
        &self,
        creds: &Credentials,
        path: &str,
        flags: OpenFlags,
        mode: u16,
    ) -> Result<File> {
        if flags.contains(OpenFlags::CREATE | OpenFlags::DIRECTORY) {
            return Err(Errno::EINVAL);
        }
        let exclusive = flags.contains(OpenFlags::CREATE | OpenFlags::EXCLUSIVE);
        let mut walker = self.walker(creds);
        let mut parent = walker.parent(path)?;
        let (inode, created) = loop {
            if flags.contains(OpenFlags::CREATE) && parent.trailing_slash {
                return Err(Errno::EISDIR);
            }
            let Last::Name(name) = &parent.last else {
                break (walker.lookup_last(&parent)?, false);
            };
            // `CREATE | EXCLUSIVE` asks for a name that is free, as it nearly always is: the
            // file is made at once, without a lookup that would only find nothing (in a
            // union, a search of the layers that the filesystem's `create` repeats anyway).
            // If that fails nothing was made, and the full way below reports the error in
            // Linux's order (`EEXIST` before `EROFS` or `EACCES`).
            if exclusive {
                if let Ok(inode) = self.create_file(creds, parent.dir(), name, mode) {
                    break (inode, true);
                }
            }
            match parent.dir().lookup(name) {
                Ok(inode) => {
                    let follow = !flags.contains(OpenFlags::NOFOLLOW) || parent.trailing_slash;
                    if follow && !exclusive && inode.metadata()?.kind == FileType::Symlink {
                        parent = walker.follow(parent, &*inode)?;
                        continue;
                    }
                    break (inode, false);
                }
                Err(Errno::ENOENT) if flags.contains(OpenFlags::CREATE) => {
                    break (self.create_file(creds, parent.dir(), name, mode)?, true);
                }
                Err(errno) => return Err(errno),
            }
        };
        let metadata = inode.metadata()?;
        if !created {
            self.check_open_existing(creds, &metadata, flags, parent.trailing_slash)?;
        }
        // Without WRITE an APPEND cannot change anything; do not let it look like a
        // modifying open to the filesystem (the overlay would copy up).
        let mut open_flags = flags;
        if !flags.contains(OpenFlags::WRITE) {
            open_flags.remove(OpenFlags::APPEND);
        }
        inode.open(open_flags)?;
        if !created && flags.contains(OpenFlags::TRUNCATE) && metadata.kind == FileType::Regular {
            file::clear_set_id(&*inode, &metadata, creds)?;
            inode.set_len(0)?;
        }
        let mut file = File::new(inode.clone(), flags, creds);
        if metadata.kind.is_dir() {
            file.set_location(parent.into_location(inode));
        }
        Ok(file)
    }

    /// Creates the regular file `name` in `dir` for `open`, with the checks Linux makes
    /// before it: a writable filesystem, then write and search permission on `dir`.
    fn create_file(
        &self,
        creds: &Credentials,
        dir: &Arc<dyn Inode>,
        name: &str,
        mode: u16,
    ) -> Result<Arc<dyn Inode>> {
        self.check_writable_fs()?;
        let dir_metadata = dir.metadata()?;
        perm::may_create(&dir_metadata, creds)?;
        let node = self.new_node(creds, &dir_metadata, FileType::Regular, mode);
        dir.create(name, &node)
    }

    /// The checks Linux's `do_open` and `may_open` make on an entry that already exists.
    fn check_open_existing(
        &self,
        creds: &Credentials,
        metadata: &Metadata,
        flags: OpenFlags,
        trailing_slash: bool,
    ) -> Result<()> {
        if flags.contains(OpenFlags::CREATE | OpenFlags::EXCLUSIVE) {
            return Err(Errno::EEXIST);
        }
        let is_dir = metadata.kind.is_dir();
        if flags.contains(OpenFlags::CREATE) && is_dir {
            return Err(Errno::EISDIR);
        }
        // Linux's `do_open` refuses a non-directory under O_DIRECTORY before `may_open`
        // refuses a symlink that was not followed.
        if (flags.contains(OpenFlags::DIRECTORY) || trailing_slash) && !is_dir {
            return Err(Errno::ENOTDIR);
        }
        if metadata.kind == FileType::Symlink {
            return Err(Errno::ELOOP);
        }
        let writes = flags.intersects(OpenFlags::WRITE | OpenFlags::TRUNCATE);
        match metadata.kind {
            FileType::Directory if writes => return Err(Errno::EISDIR),
            FileType::Socket => return Err(Errno::ENXIO),
            _ => {}
        }
        let mut want = Access::empty();
        if flags.contains(OpenFlags::READ) || !flags.contains(OpenFlags::WRITE) {
            want |= Access::READ;
        }
        if writes {
            // Like Linux's `sb_permission`: device nodes and fifos stay writable on a
            // read-only filesystem, files do not (directories were refused above).
            if metadata.kind == FileType::Regular {
                self.check_writable_fs()?;
            }
            want |= Access::WRITE;
        }
        perm::check(metadata, creds, want)
    }

    /// The metadata of `path`, following a final symlink.
    ///
    /// # Errors
    /// The path errors of [`Namespace::lookup`].
    pub fn stat(&self, creds: &Credentials, path: &str) -> Result<Metadata> {
        self.walker(creds)
            .resolve_with_metadata(path, true)
            .map(|(_, metadata)| metadata)
    }

    /// The metadata of `path` itself, even if it is a symlink.
    ///
    /// # Errors
    /// The path errors of [`Namespace::lookup`].
    pub fn lstat(&self, creds: &Credentials, path: &str) -> Result<Metadata> {
        self.walker(creds)
            .resolve_with_metadata(path, false)
            .map(|(_, metadata)| metadata)
    }

    /// Whether `creds` may access `path` as `want` says (`access(2)` with the effective ids);
    /// an empty `want` only checks that the entry exists.
    ///
    /// # Errors
    /// `EACCES` if the mode bits deny it; `EROFS` asking to write on a read-only filesystem;
    /// the path errors of [`Namespace::lookup`].
    pub fn access(&self, creds: &Credentials, path: &str, want: Access) -> Result<()> {
        let metadata = self.stat(creds, path)?;
        if want.contains(Access::WRITE) {
            self.check_writable_fs()?;
        }
        perm::check(&metadata, creds, want)
    }

    /// The target of the symlink at `path` (not followed).
    ///
    /// # Errors
    /// `EINVAL` if the entry is not a symlink; the path errors of [`Namespace::lookup`].
    pub fn readlink(&self, creds: &Credentials, path: &str) -> Result<String> {
        self.lookup(creds, path, false)?.readlink()
    }

    /// All entries of the directory at `path` (`.` and `..` excluded), in the filesystem's
    /// order, read in pieces through the listing cookie.
    ///
    /// # Errors
    /// `ENOTDIR` if it is not a directory; `EACCES` without read permission on it; the path
    /// errors of [`Namespace::lookup`]; whatever the filesystem's `readdir` returns.
    pub fn read_dir(&self, creds: &Credentials, path: &str) -> Result<Vec<Entry>> {
        let mut directory = self.open(creds, path, OpenFlags::READ | OpenFlags::DIRECTORY, 0)?;
        let mut entries = Vec::new();
        loop {
            let batch = directory.read_dir(READ_DIR_BATCH)?;
            if batch.is_empty() {
                return Ok(entries);
            }
            entries.extend(batch);
        }
    }

    /// Figures of the filesystem holding `path`.
    ///
    /// # Errors
    /// `ENOSYS` if the namespace was made with [`Namespace::new`] (no [`FileSystem`] known);
    /// the path errors of [`Namespace::lookup`]; whatever the filesystem's `statfs` returns.
    pub fn statfs(&self, creds: &Credentials, path: &str) -> Result<StatFs> {
        self.lookup(creds, path, true)?;
        match &self.filesystem {
            Some(filesystem) => filesystem.statfs(),
            None => Err(Errno::ENOSYS),
        }
    }

    fn walker<'a>(&'a self, creds: &'a Credentials) -> Walker<'a> {
        Walker::new(self.root.clone(), creds).with_cwd(&self.cwd)
    }

    /// `EROFS` if the filesystem is known to be read-only.
    fn check_writable_fs(&self) -> Result<()> {
        match &self.filesystem {
            Some(filesystem) if filesystem.features().contains(FsFeatures::READ_ONLY) => {
                Err(Errno::EROFS)
            }
            _ => Ok(()),
        }
    }

    /// What to create in the directory described by `dir` for `creds`: the mode masked by the
    /// umask, the caller as owner, and the group and set-group-id rules of Linux's
    /// `inode_init_owner`.
    fn new_node(&self, creds: &Credentials, dir: &Metadata, kind: FileType, mode: u16) -> NewNode {
        let setgid_dir = dir.mode & S_ISGID != 0;
        let gid = if setgid_dir { dir.gid } else { creds.gid };
        // mkdir keeps only the sticky bit of the special bits (Linux's `vfs_mkdir`).
        let allowed = if kind.is_dir() { 0o1777 } else { 0o7777 };
        let mut mode = mode & allowed & !self.umask();
        if kind.is_dir() {
            if setgid_dir {
                mode |= S_ISGID;
            }
        } else if mode & (S_ISGID | 0o010) == (S_ISGID | 0o010)
            && !creds.is_root()
            && !creds.in_group(gid)
        {
            mode &= !S_ISGID;
        }
        NewNode::new(kind, mode, creds.uid, gid)
    }
}

impl core::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Namespace")
            .field("umask", &self.umask())
            .finish()
    }
}
