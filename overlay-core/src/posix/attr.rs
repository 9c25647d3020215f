//! Calls that change an entry in place: `chmod`, `chown`, `truncate`, `utimes`, and the
//! extended-attribute calls. All follow a final symlink, as their Linux namesakes do. Each has
//! a twin taking the entry itself (`fchmod`, `fchown`, ...), for the calls made on an open
//! descriptor or on an entry the caller resolved its own way (`lchown`, `lgetxattr`); the
//! checks are the same.

use alloc::{string::String, vec::Vec};

use super::perm::{self, Access};
use super::Namespace;
use crate::error::{Errno, Result};
use crate::vfs::{
    Credentials, FileType, Inode, Metadata, SetAttr, Timespec, XattrFlags, S_ISGID, S_ISUID,
    S_ISVTX,
};

/// Longest extended-attribute name, in bytes (Linux `XATTR_NAME_MAX`).
pub const XATTR_NAME_MAX: usize = 255;
/// Largest extended-attribute value, in bytes (Linux `XATTR_SIZE_MAX`).
pub const XATTR_SIZE_MAX: usize = 65536;

/// One timestamp of [`Namespace::utimes`] (Linux's `UTIME_NOW`, `UTIME_OMIT` or a time).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SetTime {
    /// The namespace clock's current time.
    Now,
    /// Leave this timestamp as it is.
    Omit,
    /// This time.
    To(Timespec),
}

/// The namespace of an extended attribute name, which decides who may use it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum XattrClass {
    User,
    Trusted,
    Security,
    System,
    Unknown,
}

impl Namespace {
    /// Sets the permission bits of `path` (`0o7777` of `mode` count). A non-root caller
    /// outside the entry's group cannot set set-group-id: the bit is silently dropped.
    ///
    /// # Errors
    /// `EROFS` on a read-only filesystem; `EPERM` unless the caller owns the entry or is root;
    /// the path errors of [`Namespace::lookup`]; what the filesystem's `set_attr` returns.
    pub fn chmod(&self, creds: &Credentials, path: &str, mode: u16) -> Result<()> {
        let (inode, metadata) = self.walker(creds).resolve_with_metadata(path, true)?;
        self.chmod_entry(creds, &*inode, &metadata, mode)
    }

    /// [`Namespace::chmod`] of the entry `inode` (`fchmod`).
    ///
    /// # Errors
    /// As [`Namespace::chmod`], without the path errors.
    pub fn fchmod(&self, creds: &Credentials, inode: &dyn Inode, mode: u16) -> Result<()> {
        self.chmod_entry(creds, inode, &inode.metadata()?, mode)
    }

    fn chmod_entry(
        &self,
        creds: &Credentials,
        inode: &dyn Inode,
        metadata: &Metadata,
        mode: u16,
    ) -> Result<()> {
        self.check_writable_fs()?;
        if !perm::owns(metadata, creds) {
            return Err(Errno::EPERM);
        }
        let mut mode = mode & 0o7777;
        if !creds.is_root() && !creds.in_group(metadata.gid) {
            mode &= !S_ISGID;
        }
        inode.set_attr(&SetAttr {
            mode: Some(mode),
            ..SetAttr::default()
        })
    }

    /// Changes the owner and/or group of `path` (`None` leaves one as it is). Only root
    /// changes the owner; the owner may change the group to one it is in. On a non-directory
    /// set-user-id is cleared, and set-group-id if group-executable, as Linux does.
    ///
    /// # Errors
    /// `EROFS` on a read-only filesystem; `EPERM` if the change is not allowed; the path
    /// errors of [`Namespace::lookup`]; what the filesystem's `set_attr` returns.
    pub fn chown(
        &self,
        creds: &Credentials,
        path: &str,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<()> {
        let (inode, metadata) = self.walker(creds).resolve_with_metadata(path, true)?;
        self.chown_entry(creds, &*inode, &metadata, uid, gid)
    }

    /// [`Namespace::chown`] of the entry `inode` (`fchown`; `lchown` on the entry it resolved
    /// without following a symlink).
    ///
    /// # Errors
    /// As [`Namespace::chown`], without the path errors.
    pub fn fchown(
        &self,
        creds: &Credentials,
        inode: &dyn Inode,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<()> {
        self.chown_entry(creds, inode, &inode.metadata()?, uid, gid)
    }

    fn chown_entry(
        &self,
        creds: &Credentials,
        inode: &dyn Inode,
        metadata: &Metadata,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<()> {
        self.check_writable_fs()?;
        let owner = creds.uid == metadata.uid;
        let uid_ok = uid.is_none_or(|uid| creds.is_root() || (owner && uid == metadata.uid));
        let gid_ok = gid.is_none_or(|gid| {
            creds.is_root() || (owner && (gid == metadata.gid || creds.in_group(gid)))
        });
        if !uid_ok || !gid_ok {
            return Err(Errno::EPERM);
        }
        let mut attr = SetAttr {
            uid,
            gid,
            ..SetAttr::default()
        };
        if !metadata.kind.is_dir() {
            let mut mode = metadata.mode & !S_ISUID;
            if mode & 0o010 != 0 {
                mode &= !S_ISGID;
            }
            if mode != metadata.mode {
                attr.mode = Some(mode);
            }
        }
        inode.set_attr(&attr)
    }

    /// Sets the size of the regular file at `path`: truncates, or extends with zeros.
    ///
    /// # Errors
    /// `EISDIR` for a directory; `EINVAL` for another non-regular file; `EROFS` on a
    /// read-only filesystem; `EACCES` without write permission; the path errors of
    /// [`Namespace::lookup`]; what the filesystem's `set_len` returns (`ENOSPC`, `EFBIG`).
    pub fn truncate(&self, creds: &Credentials, path: &str, len: u64) -> Result<()> {
        let (inode, metadata) = self.walker(creds).resolve_with_metadata(path, true)?;
        match metadata.kind {
            FileType::Directory => return Err(Errno::EISDIR),
            FileType::Regular => {}
            _ => return Err(Errno::EINVAL),
        }
        self.check_writable_fs()?;
        perm::check(&metadata, creds, Access::WRITE)?;
        super::file::clear_set_id(&*inode, &metadata, creds)?;
        inode.set_len(len)
    }

    /// Sets the access and modification times of `path` (`utimensat`). Setting an explicit
    /// time needs ownership; setting the current time needs ownership or write permission;
    /// omitting both does nothing.
    ///
    /// # Errors
    /// `EINVAL` for nanoseconds of a second or more; `EROFS` on a read-only filesystem;
    /// `EPERM` setting an explicit time without owning the entry; `EACCES` setting the current
    /// time without owning it or having write permission; the path errors of
    /// [`Namespace::lookup`]; what the filesystem's `set_attr` returns.
    pub fn utimes(
        &self,
        creds: &Credentials,
        path: &str,
        atime: SetTime,
        mtime: SetTime,
    ) -> Result<()> {
        check_times(atime, mtime)?;
        let (inode, metadata) = self.walker(creds).resolve_with_metadata(path, true)?;
        self.utimes_entry(creds, &*inode, &metadata, atime, mtime)
    }

    /// [`Namespace::utimes`] of the entry `inode` (`futimens`, `utimensat` with
    /// `AT_SYMLINK_NOFOLLOW` on the entry resolved without following).
    ///
    /// # Errors
    /// As [`Namespace::utimes`], without the path errors.
    pub fn futimes(
        &self,
        creds: &Credentials,
        inode: &dyn Inode,
        atime: SetTime,
        mtime: SetTime,
    ) -> Result<()> {
        check_times(atime, mtime)?;
        self.utimes_entry(creds, inode, &inode.metadata()?, atime, mtime)
    }

    fn utimes_entry(
        &self,
        creds: &Credentials,
        inode: &dyn Inode,
        metadata: &Metadata,
        atime: SetTime,
        mtime: SetTime,
    ) -> Result<()> {
        if atime == SetTime::Omit && mtime == SetTime::Omit {
            return Ok(());
        }
        self.check_writable_fs()?;
        let explicit = matches!(atime, SetTime::To(_)) || matches!(mtime, SetTime::To(_));
        if !perm::owns(metadata, creds) {
            if explicit {
                return Err(Errno::EPERM);
            }
            perm::check(metadata, creds, Access::WRITE)?;
        }
        let now = self.clock.now();
        let pick = |time: SetTime| match time {
            SetTime::Now => Some(now),
            SetTime::Omit => None,
            SetTime::To(time) => Some(time),
        };
        inode.set_attr(&SetAttr {
            atime: pick(atime),
            mtime: pick(mtime),
            ..SetAttr::default()
        })
    }

    /// The value of extended attribute `name` of `path`.
    ///
    /// # Errors
    /// `ERANGE` for an empty name or one over 255 bytes; `ENODATA` if not set, or for a
    /// `trusted.` name read by a non-root caller, or a `user.` name on an entry other than a
    /// regular file or directory; `EACCES` without read permission (`user.` names);
    /// `ENOTSUP` for a name outside the `user.`, `trusted.`, `security.` and `system.`
    /// namespaces or without xattr support; `EINVAL` for a bare namespace prefix; the path
    /// errors of [`Namespace::lookup`].
    pub fn get_xattr(&self, creds: &Credentials, path: &str, name: &str) -> Result<Vec<u8>> {
        let class = classify_xattr(name)?;
        let (inode, metadata) = self.walker(creds).resolve_with_metadata(path, true)?;
        get_xattr_entry(creds, &*inode, &metadata, name, class)
    }

    /// [`Namespace::get_xattr`] of the entry `inode` (`fgetxattr`, `lgetxattr`).
    ///
    /// # Errors
    /// As [`Namespace::get_xattr`], without the path errors.
    pub fn fget_xattr(
        &self,
        creds: &Credentials,
        inode: &dyn Inode,
        name: &str,
    ) -> Result<Vec<u8>> {
        let class = classify_xattr(name)?;
        get_xattr_entry(creds, inode, &inode.metadata()?, name, class)
    }

    /// Sets extended attribute `name` of `path` to `value`.
    ///
    /// # Errors
    /// `ERANGE` for a bad name as [`Namespace::get_xattr`]; `E2BIG` for a value over 64 KiB;
    /// `EINVAL` for unknown flags or a bare prefix; `EROFS` on a read-only filesystem; `EPERM`
    /// for a `trusted.` name and a non-root caller, for a `user.` name on an entry other than a
    /// regular file or directory, or on a sticky directory the caller does not own; `EACCES`
    /// without write permission; `EEXIST`/`ENODATA` as `flags` say; `ENOTSUP` as
    /// [`Namespace::get_xattr`]; the path errors of [`Namespace::lookup`]; what the
    /// filesystem's `set_xattr` returns (`ENOSPC`).
    pub fn set_xattr(
        &self,
        creds: &Credentials,
        path: &str,
        name: &str,
        value: &[u8],
        flags: XattrFlags,
    ) -> Result<()> {
        let class = classify_xattr(name)?;
        if value.len() > XATTR_SIZE_MAX {
            return Err(Errno::E2BIG);
        }
        if flags.bits() & !XattrFlags::all().bits() != 0 {
            return Err(Errno::EINVAL);
        }
        let (inode, metadata) = self.walker(creds).resolve_with_metadata(path, true)?;
        self.check_writable_fs()?;
        xattr_permission(&metadata, creds, class, true)?;
        check_xattr_suffix(name, class)?;
        inode.set_xattr(name, value, flags)
    }

    /// [`Namespace::set_xattr`] of the entry `inode` (`fsetxattr`, `lsetxattr`).
    ///
    /// # Errors
    /// As [`Namespace::set_xattr`], without the path errors.
    pub fn fset_xattr(
        &self,
        creds: &Credentials,
        inode: &dyn Inode,
        name: &str,
        value: &[u8],
        flags: XattrFlags,
    ) -> Result<()> {
        let class = classify_xattr(name)?;
        if value.len() > XATTR_SIZE_MAX {
            return Err(Errno::E2BIG);
        }
        if flags.bits() & !XattrFlags::all().bits() != 0 {
            return Err(Errno::EINVAL);
        }
        let metadata = inode.metadata()?;
        self.check_writable_fs()?;
        xattr_permission(&metadata, creds, class, true)?;
        check_xattr_suffix(name, class)?;
        inode.set_xattr(name, value, flags)
    }

    /// The names of the extended attributes of `path`, sorted; `trusted.` names are listed to
    /// root only, as on Linux.
    ///
    /// # Errors
    /// `ENOTSUP` without xattr support; the path errors of [`Namespace::lookup`].
    pub fn list_xattr(&self, creds: &Credentials, path: &str) -> Result<Vec<String>> {
        self.flist_xattr(creds, &*self.lookup(creds, path, true)?)
    }

    /// [`Namespace::list_xattr`] of the entry `inode` (`flistxattr`, `llistxattr`).
    ///
    /// # Errors
    /// `ENOTSUP` without xattr support.
    pub fn flist_xattr(&self, creds: &Credentials, inode: &dyn Inode) -> Result<Vec<String>> {
        let mut names = inode.list_xattr()?;
        if !creds.is_root() {
            names.retain(|name| !name.starts_with("trusted."));
        }
        names.sort();
        Ok(names)
    }

    /// Removes extended attribute `name` of `path`.
    ///
    /// # Errors
    /// As [`Namespace::set_xattr`] (`ENODATA` if it is not set).
    pub fn remove_xattr(&self, creds: &Credentials, path: &str, name: &str) -> Result<()> {
        let class = classify_xattr(name)?;
        let (inode, metadata) = self.walker(creds).resolve_with_metadata(path, true)?;
        self.remove_xattr_entry(creds, &*inode, &metadata, name, class)
    }

    /// [`Namespace::remove_xattr`] of the entry `inode` (`fremovexattr`, `lremovexattr`).
    ///
    /// # Errors
    /// As [`Namespace::remove_xattr`], without the path errors.
    pub fn fremove_xattr(&self, creds: &Credentials, inode: &dyn Inode, name: &str) -> Result<()> {
        let class = classify_xattr(name)?;
        self.remove_xattr_entry(creds, inode, &inode.metadata()?, name, class)
    }

    fn remove_xattr_entry(
        &self,
        creds: &Credentials,
        inode: &dyn Inode,
        metadata: &Metadata,
        name: &str,
        class: XattrClass,
    ) -> Result<()> {
        self.check_writable_fs()?;
        xattr_permission(metadata, creds, class, true)?;
        check_xattr_suffix(name, class)?;
        inode.remove_xattr(name)
    }
}

/// `EINVAL` for a time with nanoseconds of a second or more.
fn check_times(atime: SetTime, mtime: SetTime) -> Result<()> {
    for time in [atime, mtime] {
        if matches!(time, SetTime::To(time) if time.nsec >= 1_000_000_000) {
            return Err(Errno::EINVAL);
        }
    }
    Ok(())
}

/// The checks of [`Namespace::get_xattr`] on an entry, then its value.
fn get_xattr_entry(
    creds: &Credentials,
    inode: &dyn Inode,
    metadata: &Metadata,
    name: &str,
    class: XattrClass,
) -> Result<Vec<u8>> {
    xattr_permission(metadata, creds, class, false)?;
    check_xattr_suffix(name, class)?;
    inode.get_xattr(name)
}

/// Linux's `import_xattr_name` (length) and the namespace of the name.
fn classify_xattr(name: &str) -> Result<XattrClass> {
    if name.is_empty() || name.len() > XATTR_NAME_MAX {
        return Err(Errno::ERANGE);
    }
    Ok(if name.starts_with("user.") {
        XattrClass::User
    } else if name.starts_with("trusted.") {
        XattrClass::Trusted
    } else if name.starts_with("security.") {
        XattrClass::Security
    } else if name.starts_with("system.") {
        XattrClass::System
    } else {
        XattrClass::Unknown
    })
}

/// What Linux's `xattr_resolve_name` refuses, after the permission check: an unknown
/// namespace (`ENOTSUP`) or a bare prefix such as `user.` (`EINVAL`).
fn check_xattr_suffix(name: &str, class: XattrClass) -> Result<()> {
    if class == XattrClass::Unknown {
        return Err(Errno::ENOTSUP);
    }
    if name.ends_with('.') && name.matches('.').count() == 1 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Linux's `xattr_permission`.
fn xattr_permission(
    metadata: &Metadata,
    creds: &Credentials,
    class: XattrClass,
    write: bool,
) -> Result<()> {
    let refused = if write { Errno::EPERM } else { Errno::ENODATA };
    match class {
        // Left to the filesystem (and security modules) on Linux.
        XattrClass::Security | XattrClass::System => return Ok(()),
        XattrClass::Trusted => {
            return if creds.is_root() {
                Ok(())
            } else {
                Err(refused)
            }
        }
        XattrClass::User => {
            if !matches!(metadata.kind, FileType::Regular | FileType::Directory) {
                return Err(refused);
            }
            if metadata.kind.is_dir()
                && metadata.mode & S_ISVTX != 0
                && write
                && !perm::owns(metadata, creds)
            {
                return Err(Errno::EPERM);
            }
        }
        XattrClass::Unknown => {}
    }
    perm::check(
        metadata,
        creds,
        if write { Access::WRITE } else { Access::READ },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xattr_names_are_classified() {
        assert_eq!(classify_xattr(""), Err(Errno::ERANGE));
        assert_eq!(classify_xattr(&"u".repeat(256)), Err(Errno::ERANGE));
        assert_eq!(classify_xattr("user.a"), Ok(XattrClass::User));
        assert_eq!(
            classify_xattr("trusted.overlay.opaque"),
            Ok(XattrClass::Trusted)
        );
        assert_eq!(classify_xattr("foo"), Ok(XattrClass::Unknown));
        assert_eq!(
            check_xattr_suffix("foo", XattrClass::Unknown),
            Err(Errno::ENOTSUP)
        );
        assert_eq!(
            check_xattr_suffix("user.", XattrClass::User),
            Err(Errno::EINVAL)
        );
        assert_eq!(check_xattr_suffix("user.a.", XattrClass::User), Ok(()));
    }
}
