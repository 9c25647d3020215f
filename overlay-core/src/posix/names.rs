//! Calls that add, remove or move names: `mkdir`, `mknod`, `symlink`, `link`, `unlink`,
//! `rmdir`, `rename`, with Linux's order of checks (`filename_create`, `may_create`,
//! `may_delete`, `do_renameat2`).

use alloc::sync::Arc;

use super::{perm, Namespace};
use crate::error::{Errno, Result};
use crate::path::{Last, Parent};
use crate::vfs::{Credentials, DeviceId, FileType, Inode, Metadata, RenameFlags, PATH_MAX};

/// The parent directory and name where something new will be created, checked.
struct NewName {
    parent: Parent,
    dir_metadata: Metadata,
}

impl NewName {
    fn dir(&self) -> &Arc<dyn Inode> {
        self.parent.dir()
    }

    fn name(&self) -> &str {
        self.parent.name().unwrap_or_default()
    }
}

impl Namespace {
    /// Creates the directory `path` with `mode` (masked by the umask; set-user-id and
    /// set-group-id are dropped). It is owned by the caller; in a set-group-id parent it gets
    /// the parent's group and the set-group-id bit.
    ///
    /// # Errors
    /// `EEXIST` if the name exists (whatever it is, symlinks not followed) or is `/`, `.`,
    /// `..`; `EROFS` on a read-only filesystem; `EACCES` without write and search permission
    /// on the parent; the path errors of [`Namespace::lookup`]; what the filesystem's `create`
    /// returns (`ENOSPC`, `EMLINK`).
    pub fn mkdir(&self, creds: &Credentials, path: &str, mode: u16) -> Result<()> {
        let new = self.new_name(creds, path, true)?;
        let node = self.new_node(creds, &new.dir_metadata, FileType::Directory, mode);
        new.dir().create(new.name(), &node).map(drop)
    }

    /// Creates a node of `kind` at `path`: a regular file, fifo, socket, or a character or
    /// block device with number `device`. Only root may create devices, except the character
    /// device 0/0 (a whiteout), which is passed to the filesystem for anyone (the overlay
    /// refuses it with `EPERM`).
    ///
    /// # Errors
    /// `EPERM` for a directory, or a device created by a non-root caller; `EINVAL` for a
    /// symlink; then as [`Namespace::mkdir`] (`EEXIST`, `ENOENT` with a trailing slash,
    /// `EROFS`, `EACCES`); what the filesystem's `create` returns.
    pub fn mknod(
        &self,
        creds: &Credentials,
        path: &str,
        kind: FileType,
        mode: u16,
        device: DeviceId,
    ) -> Result<()> {
        match kind {
            FileType::Directory => return Err(Errno::EPERM),
            FileType::Symlink => return Err(Errno::EINVAL),
            _ => {}
        }
        let new = self.new_name(creds, path, false)?;
        let whiteout = kind == FileType::CharDevice && device == DeviceId::default();
        let device_node = matches!(kind, FileType::CharDevice | FileType::BlockDevice);
        if device_node && !whiteout && !creds.is_root() {
            return Err(Errno::EPERM);
        }
        let mut node = self.new_node(creds, &new.dir_metadata, kind, mode);
        if device_node {
            node.rdev = device;
        }
        new.dir().create(new.name(), &node).map(drop)
    }

    /// Creates the symlink `path` pointing to `target` (stored as given, not resolved).
    ///
    /// # Errors
    /// `ENOENT` for an empty target; `EINVAL` for a target with a NUL byte; `ENAMETOOLONG`
    /// for a target over 4095 bytes; then as [`Namespace::mkdir`] (`EEXIST`, `ENOENT` with a
    /// trailing slash, `EROFS`, `EACCES`); what the filesystem's `symlink` returns.
    pub fn symlink(&self, creds: &Credentials, target: &str, path: &str) -> Result<()> {
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        if target.bytes().any(|byte| byte == 0) {
            return Err(Errno::EINVAL);
        }
        if target.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let new = self.new_name(creds, path, false)?;
        let node = self.new_node(creds, &new.dir_metadata, FileType::Symlink, 0o777);
        new.dir()
            .symlink(new.name(), target, node.uid, node.gid)
            .map(drop)
    }

    /// Adds `new` as a hard link to the entry at `old`; a final symlink in `old` is not
    /// followed (the link is to the symlink).
    ///
    /// # Errors
    /// `ENOENT` if `old` is absent; `EEXIST` if `new` exists; `EROFS` on a read-only
    /// filesystem; `EPERM` if the caller may not pin `old` (see [`perm::may_link`], Linux's
    /// `fs.protected_hardlinks`); `EACCES` without write and search permission on `new`'s
    /// parent; `EPERM` if `old` is a directory; the path errors of [`Namespace::lookup`] for
    /// both; what the filesystem's `link` returns (`EXDEV`, `EMLINK`, `ENOSPC`).
    pub fn link(&self, creds: &Credentials, old: &str, new: &str) -> Result<()> {
        self.link_to(creds, old, false, self, new)
    }

    /// [`Namespace::link`] with `old` resolved here (its final symlink followed if `follow`,
    /// as `linkat`'s `AT_SYMLINK_FOLLOW` asks) and `new` in `target`, a namespace of the same
    /// root with another working directory (`linkat` with two directory descriptors).
    ///
    /// # Errors
    /// As [`Namespace::link`].
    pub fn link_to(
        &self,
        creds: &Credentials,
        old: &str,
        follow: bool,
        target: &Namespace,
        new: &str,
    ) -> Result<()> {
        let (inode, target_metadata) = self.walker(creds).resolve_with_metadata(old, follow)?;
        let new = target.new_name_where(creds, new, false, || {
            perm::may_link(&target_metadata, creds)
        })?;
        if target_metadata.kind.is_dir() {
            return Err(Errno::EPERM);
        }
        new.dir().link(new.name(), &*inode)
    }

    /// Removes the non-directory `path` (a symlink itself, not its target).
    ///
    /// # Errors
    /// `ENOENT` if absent; `EISDIR` for a directory (also for `/`, `.`, `..`); `ENOTDIR` for a
    /// non-directory named with a trailing slash; `EROFS` on a read-only filesystem; `EACCES`
    /// without write and search permission on the parent; `EPERM` if the parent's sticky bit
    /// protects the entry; the path errors of [`Namespace::lookup`]; what the filesystem's
    /// `unlink` returns.
    pub fn unlink(&self, creds: &Credentials, path: &str) -> Result<()> {
        let parent = self.walker(creds).parent(path)?;
        let Last::Name(name) = &parent.last else {
            return Err(Errno::EISDIR);
        };
        // Linux asks for write access to the mount before it looks the name up.
        self.check_writable_fs()?;
        let victim = parent.dir().lookup(name)?.metadata()?;
        if parent.trailing_slash {
            return Err(if victim.kind.is_dir() {
                Errno::EISDIR
            } else {
                Errno::ENOTDIR
            });
        }
        perm::may_delete(&parent.dir().metadata()?, &victim, false, creds)?;
        parent.dir().unlink(name)
    }

    /// Removes the empty directory `path`.
    ///
    /// # Errors
    /// `EBUSY` for the root; `EINVAL` for a final `.`; `ENOTEMPTY` for a final `..` and for a
    /// directory with entries; `ENOENT` if absent; `ENOTDIR` if not a directory (a symlink is
    /// not followed); `EROFS` on a read-only filesystem; `EACCES` without write and search
    /// permission on the parent; `EPERM` if the parent's sticky bit protects it; the path
    /// errors of [`Namespace::lookup`]; what the filesystem's `rmdir` returns.
    pub fn rmdir(&self, creds: &Credentials, path: &str) -> Result<()> {
        let parent = self.walker(creds).parent(path)?;
        let name = match &parent.last {
            Last::Name(name) => name,
            Last::Dot => return Err(Errno::EINVAL),
            Last::DotDot => return Err(Errno::ENOTEMPTY),
            Last::Root => return Err(Errno::EBUSY),
        };
        // Linux asks for write access to the mount before it looks the name up.
        self.check_writable_fs()?;
        let victim = parent.dir().lookup(name)?.metadata()?;
        perm::may_delete(&parent.dir().metadata()?, &victim, true, creds)?;
        parent.dir().rmdir(name)
    }

    /// Moves `old` to `new` (`renameat2`). Without flags an existing `new` is replaced;
    /// `NOREPLACE` refuses that; `EXCHANGE` swaps the two; `WHITEOUT` (root only) leaves a
    /// whiteout at `old`. Renaming an entry onto itself (or onto another name of the same
    /// inode) does nothing.
    ///
    /// # Errors
    /// - `EINVAL` for unknown flags, `EXCHANGE` with another flag, or moving a directory into
    ///   its own subtree; `EPERM` for `WHITEOUT` by a non-root caller.
    /// - `EBUSY` if either final component is `/`, `.` or `..` (`EEXIST` for `new` with
    ///   `NOREPLACE`).
    /// - `ENOENT` if `old` is absent (or, with `EXCHANGE`, `new`); `EEXIST` with `NOREPLACE`
    ///   if `new` exists.
    /// - `ENOTDIR` moving a directory over a non-directory, or a non-directory named with a
    ///   trailing slash; `EISDIR` moving a non-directory over a directory; `ENOTEMPTY` if
    ///   `new` is an ancestor of `old` or a directory with entries.
    /// - `EROFS` on a read-only filesystem; `EACCES` without write and search permission on
    ///   both parents, or without write permission on a directory that changes parent; `EPERM`
    ///   if a sticky bit protects either entry.
    /// - The path errors of [`Namespace::lookup`]; what the filesystem's `rename` returns
    ///   (`EXDEV` from the overlay for a lower directory).
    pub fn rename(
        &self,
        creds: &Credentials,
        old: &str,
        new: &str,
        flags: RenameFlags,
    ) -> Result<()> {
        self.rename_to(creds, old, self, new, flags)
    }

    /// [`Namespace::rename`] with `old` resolved here and `new` in `target`, a namespace of
    /// the same root with another working directory (`renameat2` with two directory
    /// descriptors).
    ///
    /// # Errors
    /// As [`Namespace::rename`].
    pub fn rename_to(
        &self,
        creds: &Credentials,
        old: &str,
        target: &Namespace,
        new: &str,
        flags: RenameFlags,
    ) -> Result<()> {
        if flags.bits() & !RenameFlags::all().bits() != 0
            || (flags.contains(RenameFlags::EXCHANGE)
                && flags.intersects(RenameFlags::NOREPLACE | RenameFlags::WHITEOUT))
        {
            return Err(Errno::EINVAL);
        }
        if flags.contains(RenameFlags::WHITEOUT) && !creds.is_root() {
            return Err(Errno::EPERM);
        }
        let exchange = flags.contains(RenameFlags::EXCHANGE);
        let old_parent = self.walker(creds).parent(old)?;
        let new_parent = target.walker(creds).parent(new)?;
        let Last::Name(old_name) = &old_parent.last else {
            return Err(Errno::EBUSY);
        };
        let Last::Name(new_name) = &new_parent.last else {
            return Err(if flags.contains(RenameFlags::NOREPLACE) {
                Errno::EEXIST
            } else {
                Errno::EBUSY
            });
        };
        // Linux asks for write access to the mount before it looks either name up.
        self.check_writable_fs()?;
        let source = old_parent.dir().lookup(old_name)?.metadata()?;
        let target = match new_parent.dir().lookup(new_name) {
            Ok(inode) => Some(inode.metadata()?),
            Err(Errno::ENOENT) => None,
            Err(errno) => return Err(errno),
        };
        if flags.contains(RenameFlags::NOREPLACE) && target.is_some() {
            return Err(Errno::EEXIST);
        }
        if exchange {
            match &target {
                None => return Err(Errno::ENOENT),
                Some(target) if !target.kind.is_dir() && new_parent.trailing_slash => {
                    return Err(Errno::ENOTDIR)
                }
                Some(_) => {}
            }
        }
        if !source.kind.is_dir()
            && (old_parent.trailing_slash || (!exchange && new_parent.trailing_slash))
        {
            return Err(Errno::ENOTDIR);
        }
        // A directory cannot move below itself; a directory holding `old` cannot be replaced.
        if source.kind.is_dir() && contains_identity(&new_parent, &source)? {
            return Err(Errno::EINVAL);
        }
        if let Some(target) = &target {
            if target.kind.is_dir() && contains_identity(&old_parent, target)? {
                return Err(if exchange {
                    Errno::EINVAL
                } else {
                    Errno::ENOTEMPTY
                });
            }
            if same_inode(&source, target) {
                return Ok(());
            }
        }
        let old_dir = old_parent.dir().metadata()?;
        let new_dir = new_parent.dir().metadata()?;
        perm::may_delete(&old_dir, &source, source.kind.is_dir(), creds)?;
        match &target {
            None => perm::may_create(&new_dir, creds)?,
            Some(target) => {
                let want_dir = if exchange {
                    target.kind.is_dir()
                } else {
                    source.kind.is_dir()
                };
                perm::may_delete(&new_dir, target, want_dir, creds)?;
            }
        }
        if !same_inode(&old_dir, &new_dir) {
            // A directory that changes parent has its `..` rewritten.
            if source.kind.is_dir() {
                perm::check(&source, creds, perm::Access::WRITE)?;
            }
            if let Some(target) = target.filter(|target| exchange && target.kind.is_dir()) {
                perm::check(&target, creds, perm::Access::WRITE)?;
            }
        }
        old_parent
            .dir()
            .rename(old_name, &**new_parent.dir(), new_name, flags)
    }

    /// Resolves the parent of `path` for a create and runs Linux's `filename_create` and
    /// `may_create` checks. `is_dir` says whether a directory is created (a trailing slash is
    /// only allowed then).
    fn new_name(&self, creds: &Credentials, path: &str, is_dir: bool) -> Result<NewName> {
        self.new_name_where(creds, path, is_dir, || Ok(()))
    }

    /// [`Namespace::new_name`] with `first` checked just before `may_create`, where Linux
    /// checks what is particular to the call (`link`'s `may_linkat`).
    fn new_name_where(
        &self,
        creds: &Credentials,
        path: &str,
        is_dir: bool,
        first: impl FnOnce() -> Result<()>,
    ) -> Result<NewName> {
        let parent = self.walker(creds).parent(path)?;
        let Last::Name(name) = &parent.last else {
            return Err(Errno::EEXIST);
        };
        match parent.dir().lookup(name) {
            Ok(_) => return Err(Errno::EEXIST),
            Err(Errno::ENOENT) => {}
            Err(errno) => return Err(errno),
        }
        if parent.trailing_slash && !is_dir {
            return Err(Errno::ENOENT);
        }
        self.check_writable_fs()?;
        first()?;
        let dir_metadata = parent.dir().metadata()?;
        perm::may_create(&dir_metadata, creds)?;
        Ok(NewName {
            parent,
            dir_metadata,
        })
    }
}

/// Whether two metadata describe the same inode.
fn same_inode(a: &Metadata, b: &Metadata) -> bool {
    a.dev == b.dev && a.ino == b.ino
}

/// Whether the inode `entry` describes is one of the directories on the way to `parent`'s
/// final component (`parent`'s directory included).
fn contains_identity(parent: &Parent, entry: &Metadata) -> Result<bool> {
    for dir in parent.chain() {
        if same_inode(&dir.metadata()?, entry) {
            return Ok(true);
        }
    }
    Ok(false)
}
