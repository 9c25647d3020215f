//! Calls that change an entry in place or check access: `chmod` and `chown` families,
//! `truncate`, `ftruncate`, `utimensat`, `access`, `faccessat(2)`, and the extended
//! attribute families (`getxattr`, `setxattr`, `listxattr`, `removexattr` with their `l`
//! and `f` forms). The engine decides the errno; the `f` forms act on a descriptor's entry
//! and the `l` forms on a symlink itself.
//!
//! Not supported: `fchmodat2` (its `AT_SYMLINK_NOFOLLOW`; the call is `ENOSYS` and libc
//! falls back to `fchmodat`, which has no flags). Extended attribute names that are not
//! UTF-8 are `EINVAL`. `access` and `faccessat` check with the effective ids, which are the
//! real ones here (no set-id programs change them).

use alloc::{string::String, sync::Arc, vec::Vec};
use core::mem::{offset_of, size_of};

use linux_raw_sys::general::*;
use overlay_core::posix::perm::{self, Access};
use overlay_core::posix::SetTime;
use overlay_core::vfs::{FsFeatures, Inode, Timespec, XattrFlags};

use super::{at_dir, dirfd_arg, fd_arg, fd_inode, path_arg, target_arg, u32_arg, Follow, Target};
use crate::dispatch::Call;
use crate::errno::{Errno, SysResult};
use crate::user::{self, StructReader};

/// `UTIME_NOW` and `UTIME_OMIT` (Linux's `stat.h`): a `tv_nsec` asking for the current time,
/// or for the time to stay.
const UTIME_NOW: i64 = (1 << 30) - 1;
const UTIME_OMIT: i64 = (1 << 30) - 2;

/// `access`'s mode bits: `R_OK`, `W_OK`, `X_OK` (`F_OK` is 0).
const ACCESS_BITS: u32 = 0o7;

/// The entry `path` names from `dirfd`, a final symlink followed or not.
fn entry_at(call: &Call<'_>, dirfd: i32, path: &str, follow: bool) -> SysResult<Arc<dyn Inode>> {
    let at = at_dir(call, dirfd, path)?;
    let namespace = at.as_ref().unwrap_or(call.process.fs.namespace());
    Ok(namespace.lookup(&call.process.creds, path, follow)?)
}

/// The entry an `*at` call with `AT_EMPTY_PATH` and `AT_SYMLINK_NOFOLLOW` in `flags` names.
fn target_entry(call: &Call<'_>, dirfd: i32, addr: u64, flags: u32) -> SysResult<Arc<dyn Inode>> {
    match target_arg(call, dirfd, addr, flags)? {
        Target::Fd(dirfd) => fd_inode(call, dirfd),
        Target::Path(path) => entry_at(call, dirfd, &path, flags & AT_SYMLINK_NOFOLLOW == 0),
    }
}

/// The entry behind descriptor `fd` (`EBADF` if not open or without one).
fn fd_entry(call: &Call<'_>, fd: u64) -> SysResult<Arc<dyn Inode>> {
    call.process
        .fds
        .file(fd_arg(fd)?)?
        .inode()
        .ok_or(Errno::EBADF)
}

/// `chmod(path, mode)`.
///
/// # Errors
/// `EPERM` unless the caller owns the entry or is root; `EROFS`; the path errors; `EFAULT`.
pub(super) fn chmod(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    chmod_at(call, AT_FDCWD, args[0], u32_arg(args[1]))
}

/// `fchmodat(dirfd, path, mode)`.
///
/// # Errors
/// As `chmod`; `EBADF`/`ENOTDIR` for a bad `dirfd`.
pub(super) fn fchmodat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    chmod_at(call, dirfd_arg(args[0]), args[1], u32_arg(args[2]))
}

fn chmod_at(call: &Call<'_>, dirfd: i32, addr: u64, mode: u32) -> SysResult<u64> {
    let path = path_arg(call, addr)?;
    let at = at_dir(call, dirfd, &path)?;
    let namespace = at.as_ref().unwrap_or(call.process.fs.namespace());
    namespace.chmod(&call.process.creds, &path, (mode & 0o7777) as u16)?;
    Ok(0)
}

/// `fchmod(fd, mode)`.
///
/// # Errors
/// `EBADF` if `fd` is not open; as `chmod`.
pub(super) fn fchmod(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let inode = fd_entry(call, args[0])?;
    let mode = (u32_arg(args[1]) & 0o7777) as u16;
    call.process
        .fs
        .namespace()
        .fchmod(&call.process.creds, &*inode, mode)?;
    Ok(0)
}

/// An owner argument: `-1` leaves it.
fn id_arg(arg: u64) -> Option<u32> {
    let id = arg as u32;
    (id != u32::MAX).then_some(id)
}

/// `chown(path, uid, gid)`: a final symlink followed; `-1` leaves an id as it is.
///
/// # Errors
/// `EPERM` if the change is not allowed; `EROFS`; the path errors; `EFAULT`.
pub(super) fn chown(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    chown_at(call, AT_FDCWD, args[0], args[1], args[2], 0)
}

/// `lchown(path, uid, gid)`: the symlink itself.
///
/// # Errors
/// As `chown`.
pub(super) fn lchown(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    chown_at(
        call,
        AT_FDCWD,
        args[0],
        args[1],
        args[2],
        AT_SYMLINK_NOFOLLOW,
    )
}

/// `fchownat(dirfd, path, uid, gid, flags)`: `AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH`.
///
/// # Errors
/// `EINVAL` for another flag; as `chown`.
pub(super) fn fchownat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let flags = u32_arg(args[4]);
    chown_at(call, dirfd_arg(args[0]), args[1], args[2], args[3], flags)
}

fn chown_at(
    call: &Call<'_>,
    dirfd: i32,
    addr: u64,
    uid: u64,
    gid: u64,
    flags: u32,
) -> SysResult<u64> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let inode = target_entry(call, dirfd, addr, flags)?;
    call.process
        .fs
        .namespace()
        .fchown(&call.process.creds, &*inode, id_arg(uid), id_arg(gid))?;
    Ok(0)
}

/// `fchown(fd, uid, gid)`.
///
/// # Errors
/// `EBADF` if `fd` is not open; as `chown`.
pub(super) fn fchown(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let inode = fd_entry(call, args[0])?;
    call.process.fs.namespace().fchown(
        &call.process.creds,
        &*inode,
        id_arg(args[1]),
        id_arg(args[2]),
    )?;
    Ok(0)
}

/// A length argument (`off_t`): `EINVAL` if negative.
fn length_arg(arg: u64) -> SysResult<u64> {
    u64::try_from(arg as i64).map_err(|_| Errno::EINVAL)
}

/// `truncate(path, length)`.
///
/// # Errors
/// `EINVAL` for a negative length or a non-regular file; `EISDIR`; `EACCES`; `EROFS`;
/// `EFBIG`, `ENOSPC`; the path errors; `EFAULT`.
pub(super) fn truncate(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let path = path_arg(call, args[0])?;
    let length = length_arg(args[1])?;
    call.process
        .fs
        .namespace()
        .truncate(&call.process.creds, &path, length)?;
    Ok(0)
}

/// `ftruncate(fd, length)`.
///
/// # Errors
/// `EBADF` if `fd` is not open; `EINVAL` for a negative length, a description not open for
/// writing or a non-regular file; `EFBIG`, `ENOSPC`.
pub(super) fn ftruncate(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let file = call.process.fds.file(fd_arg(args[0])?)?;
    let length = length_arg(args[1])?;
    let node = file
        .as_any()
        .downcast_ref::<super::NodeFile>()
        .ok_or(Errno::EINVAL)?;
    if node.is_path_only() {
        return Err(Errno::EBADF);
    }
    node.with_file(|file| file.set_len(length))?;
    Ok(0)
}

/// `utimensat(dirfd, path, times, flags)`: `times` null sets both times to now; a
/// `tv_nsec` of `UTIME_NOW` or `UTIME_OMIT` sets one to now or leaves it. A null `path`
/// acts on `dirfd` itself (`futimens`). Flags: `AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH`.
///
/// # Errors
/// `EINVAL` for another flag or a `tv_nsec` out of range; `EPERM` setting explicit times
/// without owning the entry; `EACCES` setting the current time without owning or being able
/// to write it; `EROFS`; `EBADF` for a null path with `AT_FDCWD` or a bad `dirfd`;
/// `EFAULT` for a bad `times` or `path`; the path errors.
pub(super) fn utimensat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let dirfd = dirfd_arg(args[0]);
    let flags = u32_arg(args[3]);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let (atime, mtime) = if args[2] == 0 {
        (SetTime::Now, SetTime::Now)
    } else {
        let size = size_of::<timespec>();
        let times = StructReader::read_from(&*call.memory, args[2], 2 * size)?;
        (time_arg(&times, 0)?, time_arg(&times, size)?)
    };
    let inode = if args[1] == 0 {
        if dirfd == AT_FDCWD {
            return Err(Errno::EFAULT);
        }
        fd_inode(call, dirfd)?
    } else {
        target_entry(call, dirfd, args[1], flags)?
    };
    call.process
        .fs
        .namespace()
        .futimes(&call.process.creds, &*inode, atime, mtime)?;
    Ok(0)
}

/// One `struct timespec` of `utimensat` at `at` in `times`.
fn time_arg(times: &StructReader, at: usize) -> SysResult<SetTime> {
    let sec = times.i64(at + offset_of!(timespec, tv_sec));
    let nsec = times.i64(at + offset_of!(timespec, tv_nsec));
    match nsec {
        UTIME_NOW => Ok(SetTime::Now),
        UTIME_OMIT => Ok(SetTime::Omit),
        0..=999_999_999 => Ok(SetTime::To(Timespec {
            sec,
            nsec: nsec as u32,
        })),
        _ => Err(Errno::EINVAL),
    }
}

/// `access(path, mode)`.
///
/// # Errors
/// As `faccessat2` without flags.
pub(super) fn access(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    access_at(call, AT_FDCWD, args[0], u32_arg(args[1]), 0)
}

/// `faccessat(dirfd, path, mode)`.
///
/// # Errors
/// As `faccessat2` without flags.
pub(super) fn faccessat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    access_at(call, dirfd_arg(args[0]), args[1], u32_arg(args[2]), 0)
}

/// `faccessat2(dirfd, path, mode, flags)`: `mode` of `R_OK`, `W_OK`, `X_OK` or `F_OK`
/// (existence); flags `AT_EACCESS` (the same here: real and effective ids are one),
/// `AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH`.
///
/// # Errors
/// `EINVAL` for other mode bits or flags; `EACCES` if the mode bits deny it; `EROFS` asking
/// to write on a read-only filesystem; the path errors; `EFAULT`.
pub(super) fn faccessat2(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    access_at(
        call,
        dirfd_arg(args[0]),
        args[1],
        u32_arg(args[2]),
        u32_arg(args[3]),
    )
}

fn access_at(call: &Call<'_>, dirfd: i32, addr: u64, mode: u32, flags: u32) -> SysResult<u64> {
    if mode & !ACCESS_BITS != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0
    {
        return Err(Errno::EINVAL);
    }
    let want = Access::from_bits_truncate(mode as u16);
    let creds = &call.process.creds;
    let metadata = match target_arg(call, dirfd, addr, flags)? {
        Target::Path(path) if flags & AT_SYMLINK_NOFOLLOW == 0 => {
            let at = at_dir(call, dirfd, &path)?;
            let namespace = at.as_ref().unwrap_or(call.process.fs.namespace());
            namespace.access(creds, &path, want)?;
            return Ok(0);
        }
        Target::Path(path) => entry_at(call, dirfd, &path, false)?.metadata()?,
        Target::Fd(dirfd) => fd_inode(call, dirfd)?.metadata()?,
    };
    if want.contains(Access::WRITE)
        && call
            .process
            .fs
            .root()
            .features()
            .contains(FsFeatures::READ_ONLY)
    {
        return Err(Errno::EROFS);
    }
    perm::check(&metadata, creds, want)?;
    Ok(0)
}

/// An extended attribute's name argument.
///
/// # Errors
/// `EFAULT` for a bad pointer; `ERANGE` for an empty name or one past `XATTR_NAME_MAX`;
/// `EINVAL` if not UTF-8.
fn xattr_name_arg(call: &Call<'_>, addr: u64) -> SysResult<String> {
    let bytes = match user::read_c_bytes(&*call.memory, addr, XATTR_NAME_MAX as usize + 1) {
        Err(Errno::ENAMETOOLONG) => return Err(Errno::ERANGE),
        other => other?,
    };
    if bytes.is_empty() {
        return Err(Errno::ERANGE);
    }
    String::from_utf8(bytes).map_err(|_| Errno::EINVAL)
}

/// The entry a path-based xattr call names.
fn xattr_entry(call: &Call<'_>, addr: u64, follow: Follow) -> SysResult<Arc<dyn Inode>> {
    let path = path_arg(call, addr)?;
    entry_at(call, AT_FDCWD, &path, follow == Follow::Yes)
}

/// Copies `value` to the user buffer `buf` of `size` bytes, as the get and list calls do:
/// with `size` 0 only the length is returned.
fn value_out(call: &mut Call<'_>, buf: u64, size: u64, value: &[u8]) -> SysResult<u64> {
    if size == 0 {
        return Ok(value.len() as u64);
    }
    if (value.len() as u64) > size {
        return Err(Errno::ERANGE);
    }
    if !value.is_empty() {
        call.memory.write(buf, value)?;
    }
    Ok(value.len() as u64)
}

/// `getxattr(path, name, value, size)` and `lgetxattr`: the value's length (the value
/// copied out if `size` is not 0).
///
/// # Errors
/// `ENODATA` if not set; `ERANGE` if `size` is too small or for a bad name; `ENOTSUP`;
/// `EACCES`; the path errors; `EFAULT`.
pub(super) fn getxattr(call: &mut Call<'_>, args: [u64; 6], follow: Follow) -> SysResult<u64> {
    let inode = xattr_entry(call, args[0], follow)?;
    get_value(call, &*inode, args[1], args[2], args[3])
}

/// `fgetxattr(fd, name, value, size)`.
///
/// # Errors
/// `EBADF` if `fd` is not open; as `getxattr`.
pub(super) fn fgetxattr(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let inode = fd_entry(call, args[0])?;
    get_value(call, &*inode, args[1], args[2], args[3])
}

fn get_value(
    call: &mut Call<'_>,
    inode: &dyn Inode,
    name: u64,
    buf: u64,
    size: u64,
) -> SysResult<u64> {
    let name = xattr_name_arg(call, name)?;
    let value = call
        .process
        .fs
        .namespace()
        .fget_xattr(&call.process.creds, inode, &name)?;
    value_out(call, buf, size.min(u64::from(XATTR_SIZE_MAX)), &value)
}

/// `setxattr(path, name, value, size, flags)` and `lsetxattr`: flags `XATTR_CREATE`,
/// `XATTR_REPLACE`.
///
/// # Errors
/// `E2BIG` for a value past `XATTR_SIZE_MAX`; `EEXIST`/`ENODATA` as the flags say;
/// `EINVAL` for other flags; `ERANGE` for a bad name; `EPERM`, `EACCES`, `EROFS`,
/// `ENOTSUP`, `ENOSPC`; the path errors; `EFAULT`.
pub(super) fn setxattr(call: &mut Call<'_>, args: [u64; 6], follow: Follow) -> SysResult<u64> {
    let inode = xattr_entry(call, args[0], follow)?;
    set_value(call, &*inode, args[1], args[2], args[3], args[4])
}

/// `fsetxattr(fd, name, value, size, flags)`.
///
/// # Errors
/// `EBADF` if `fd` is not open; as `setxattr`.
pub(super) fn fsetxattr(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let inode = fd_entry(call, args[0])?;
    set_value(call, &*inode, args[1], args[2], args[3], args[4])
}

fn set_value(
    call: &Call<'_>,
    inode: &dyn Inode,
    name: u64,
    value: u64,
    size: u64,
    flags: u64,
) -> SysResult<u64> {
    let name = xattr_name_arg(call, name)?;
    if size > u64::from(XATTR_SIZE_MAX) {
        return Err(Errno::E2BIG);
    }
    let flags = XattrFlags::from_bits(flags as u32).ok_or(Errno::EINVAL)?;
    let value = if size == 0 {
        Vec::new()
    } else {
        user::read_bytes(&*call.memory, value, size as usize)?
    };
    call.process
        .fs
        .namespace()
        .fset_xattr(&call.process.creds, inode, &name, &value, flags)?;
    Ok(0)
}

/// `listxattr(path, list, size)` and `llistxattr`: the names, each NUL-terminated.
///
/// # Errors
/// `ERANGE` if `size` is too small; `ENOTSUP`; the path errors; `EFAULT`.
pub(super) fn listxattr(call: &mut Call<'_>, args: [u64; 6], follow: Follow) -> SysResult<u64> {
    let inode = xattr_entry(call, args[0], follow)?;
    list_names(call, &*inode, args[1], args[2])
}

/// `flistxattr(fd, list, size)`.
///
/// # Errors
/// `EBADF` if `fd` is not open; as `listxattr`.
pub(super) fn flistxattr(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let inode = fd_entry(call, args[0])?;
    list_names(call, &*inode, args[1], args[2])
}

fn list_names(call: &mut Call<'_>, inode: &dyn Inode, buf: u64, size: u64) -> SysResult<u64> {
    let names = call
        .process
        .fs
        .namespace()
        .flist_xattr(&call.process.creds, inode)?;
    let mut list = Vec::new();
    for name in names {
        list.extend_from_slice(name.as_bytes());
        list.push(0);
    }
    value_out(call, buf, size.min(u64::from(XATTR_LIST_MAX)), &list)
}

/// `removexattr(path, name)` and `lremovexattr`.
///
/// # Errors
/// `ENODATA` if not set; as `setxattr`.
pub(super) fn removexattr(call: &mut Call<'_>, args: [u64; 6], follow: Follow) -> SysResult<u64> {
    let inode = xattr_entry(call, args[0], follow)?;
    remove_value(call, &*inode, args[1])
}

/// `fremovexattr(fd, name)`.
///
/// # Errors
/// `EBADF` if `fd` is not open; as `removexattr`.
pub(super) fn fremovexattr(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let inode = fd_entry(call, args[0])?;
    remove_value(call, &*inode, args[1])
}

fn remove_value(call: &Call<'_>, inode: &dyn Inode, name: u64) -> SysResult<u64> {
    let name = xattr_name_arg(call, name)?;
    call.process
        .fs
        .namespace()
        .fremove_xattr(&call.process.creds, inode, &name)?;
    Ok(0)
}
