//! Calls that change an entry in place or check access: `chmod` and `chown` families,
//! `truncate`, `ftruncate`, `utimensat`, `access`, `faccessat(2)` (the extended attributes
//! are in `xattr`). The engine decides the errno; the `f` forms act on a descriptor's entry
//! and the `l` forms (or `AT_SYMLINK_NOFOLLOW`) on a symlink itself.
//!
//! Not supported: `fchmodat2` (its `AT_SYMLINK_NOFOLLOW`; the call is `ENOSYS` and libc
//! falls back to `fchmodat`, which has no flags). `access` and `faccessat` check with the effective ids, which are the
//! real ones here (no set-id programs change them).

use alloc::sync::Arc;
use core::mem::{offset_of, size_of};

use linux_raw_sys::general::*;
use overlay_core::posix::perm::{self, Access};
use overlay_core::posix::SetTime;
use overlay_core::vfs::{FsFeatures, Inode, Timespec};

use super::{at_dir, dirfd_arg, fd_arg, fd_inode, path_arg, target_arg, u32_arg, Target};
use crate::dispatch::Call;
use crate::errno::{Errno, SysResult};
use crate::user::StructReader;

/// `UTIME_NOW` and `UTIME_OMIT` (Linux's `stat.h`): a `tv_nsec` asking for the current time,
/// or for the time to stay.
const UTIME_NOW: i64 = (1 << 30) - 1;
const UTIME_OMIT: i64 = (1 << 30) - 2;

/// `access`'s mode bits: `R_OK`, `W_OK`, `X_OK` (`F_OK` is 0).
const ACCESS_BITS: u32 = 0o7;

/// The entry `path` names from `dirfd`, a final symlink followed or not.
pub(super) fn entry_at(
    call: &Call<'_>,
    dirfd: i32,
    path: &str,
    follow: bool,
) -> SysResult<Arc<dyn Inode>> {
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
pub(super) fn fd_entry(call: &Call<'_>, fd: u64) -> SysResult<Arc<dyn Inode>> {
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
