//! Calls that add, remove or move names: `mkdir(at)`, `mknod(at)`, `rmdir`, `unlink(at)`,
//! `rename(at, at2)`, `link(at)`, `symlink(at)`, `readlink(at)`. The engine's
//! [`overlay_core::posix::Namespace`] makes Linux's checks in Linux's order; over the union an
//! unlink of a lower file leaves a whiteout and a rename copies up.

use alloc::string::String;

use linux_raw_sys::general::*;
use overlay_core::posix::Namespace;
use overlay_core::vfs::{DeviceId, FileType, RenameFlags};

use super::{at_dir, dirfd_arg, path_arg, u32_arg};
use crate::dispatch::Call;
use crate::errno::{Errno, SysResult};
use crate::user::PATH_MAX;

/// Runs `f` with the namespace `path` resolves in from `dirfd`, and the caller's credentials.
fn in_dir<R>(
    call: &Call<'_>,
    dirfd: i32,
    path: &str,
    f: impl FnOnce(&Namespace, &overlay_core::vfs::Credentials) -> overlay_core::Result<R>,
) -> SysResult<R> {
    let at = at_dir(call, dirfd, path)?;
    let namespace = at.as_ref().unwrap_or(call.process.fs.namespace());
    Ok(f(namespace, &call.process.creds)?)
}

/// `mkdir(path, mode)`.
///
/// # Errors
/// As `mkdirat` from the working directory.
pub(super) fn mkdir(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    mkdir_at(call, AT_FDCWD, args[0], u32_arg(args[1]))
}

/// `mkdirat(dirfd, path, mode)`: the mode less the umask (and set-id bits).
///
/// # Errors
/// `EFAULT` for a bad path; `EBADF`/`ENOTDIR` for a bad `dirfd`; `EEXIST`, `ENOENT`,
/// `ENOTDIR`, `EACCES`, `EROFS`, `ENOSPC`, `ENAMETOOLONG`, `ELOOP` as the engine finds.
pub(super) fn mkdirat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    mkdir_at(call, dirfd_arg(args[0]), args[1], u32_arg(args[2]))
}

fn mkdir_at(call: &Call<'_>, dirfd: i32, path_addr: u64, mode: u32) -> SysResult<u64> {
    let path = path_arg(call, path_addr)?;
    in_dir(call, dirfd, &path, |ns, creds| {
        ns.mkdir(creds, &path, (mode & 0o7777) as u16)
    })?;
    Ok(0)
}

/// `mknod(path, mode, dev)`.
///
/// # Errors
/// As `mknodat` from the working directory.
pub(super) fn mknod(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    mknod_at(call, AT_FDCWD, args[0], u32_arg(args[1]), u32_arg(args[2]))
}

/// `mknodat(dirfd, path, mode, dev)`: a regular file (type 0 or `S_IFREG`), fifo, socket, or
/// (root only) character or block device `dev` (Linux's 32-bit encoding).
///
/// # Errors
/// `EINVAL` for a symlink or unknown type; `EPERM` for a directory, or a device made by
/// anyone but root; then as `mkdirat`.
pub(super) fn mknodat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    mknod_at(
        call,
        dirfd_arg(args[0]),
        args[1],
        u32_arg(args[2]),
        u32_arg(args[3]),
    )
}

fn mknod_at(call: &Call<'_>, dirfd: i32, path_addr: u64, mode: u32, dev: u32) -> SysResult<u64> {
    let path = path_arg(call, path_addr)?;
    let kind = match mode & S_IFMT {
        0 => FileType::Regular,
        kind => FileType::from_mode(kind).ok_or(Errno::EINVAL)?,
    };
    // Linux's `new_decode_dev`.
    let device = DeviceId {
        major: (dev & 0xfff00) >> 8,
        minor: (dev & 0xff) | ((dev >> 12) & 0xfff00),
    };
    in_dir(call, dirfd, &path, |ns, creds| {
        ns.mknod(creds, &path, kind, (mode & 0o7777) as u16, device)
    })?;
    Ok(0)
}

/// `rmdir(path)`.
///
/// # Errors
/// `ENOTEMPTY`, `ENOTDIR`, `ENOENT`, `EBUSY` (the root), `EINVAL` (a final `.`), `EACCES`,
/// `EPERM` (sticky directory), `EROFS`, `EFAULT`.
pub(super) fn rmdir(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let path = path_arg(call, args[0])?;
    in_dir(call, AT_FDCWD, &path, |ns, creds| ns.rmdir(creds, &path))?;
    Ok(0)
}

/// `unlink(path)`.
///
/// # Errors
/// `EISDIR` for a directory; `ENOENT`, `ENOTDIR`, `EACCES`, `EPERM`, `EROFS`, `EFAULT`.
pub(super) fn unlink(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let path = path_arg(call, args[0])?;
    in_dir(call, AT_FDCWD, &path, |ns, creds| ns.unlink(creds, &path))?;
    Ok(0)
}

/// `unlinkat(dirfd, path, flags)`: `rmdir` with `AT_REMOVEDIR`, else `unlink`.
///
/// # Errors
/// `EINVAL` for another flag; as `unlink` or `rmdir`.
pub(super) fn unlinkat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let flags = u32_arg(args[2]);
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let path = path_arg(call, args[1])?;
    in_dir(call, dirfd_arg(args[0]), &path, |ns, creds| {
        if flags & AT_REMOVEDIR != 0 {
            ns.rmdir(creds, &path)
        } else {
            ns.unlink(creds, &path)
        }
    })?;
    Ok(0)
}

/// `rename(old, new)`.
///
/// # Errors
/// As `renameat2` without flags.
pub(super) fn rename(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    rename_at(call, AT_FDCWD, args[0], AT_FDCWD, args[1], 0)
}

/// `renameat(olddirfd, old, newdirfd, new)`.
///
/// # Errors
/// As `renameat2` without flags.
pub(super) fn renameat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    rename_at(
        call,
        dirfd_arg(args[0]),
        args[1],
        dirfd_arg(args[2]),
        args[3],
        0,
    )
}

/// `renameat2(olddirfd, old, newdirfd, new, flags)`: `RENAME_NOREPLACE`,
/// `RENAME_EXCHANGE`, `RENAME_WHITEOUT` (root only) as the engine supports them (the union
/// refuses an exchange with `EINVAL`, as Linux's overlayfs does).
///
/// # Errors
/// `EINVAL` for unknown or conflicting flags or a directory moved below itself; `EEXIST`
/// (`NOREPLACE`), `ENOENT`, `ENOTDIR`, `EISDIR`, `ENOTEMPTY`, `EBUSY`, `EACCES`, `EPERM`,
/// `EROFS`, `EXDEV` (a lower directory without redirects), `EFAULT`.
pub(super) fn renameat2(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    rename_at(
        call,
        dirfd_arg(args[0]),
        args[1],
        dirfd_arg(args[2]),
        args[3],
        u32_arg(args[4]),
    )
}

fn rename_at(
    call: &Call<'_>,
    old_dirfd: i32,
    old_addr: u64,
    new_dirfd: i32,
    new_addr: u64,
    flags: u32,
) -> SysResult<u64> {
    let old = path_arg(call, old_addr)?;
    let new = path_arg(call, new_addr)?;
    let known = RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT;
    if flags & !known != 0 {
        return Err(Errno::EINVAL);
    }
    let mut engine_flags = RenameFlags::empty();
    for (linux, ours) in [
        (RENAME_NOREPLACE, RenameFlags::NOREPLACE),
        (RENAME_EXCHANGE, RenameFlags::EXCHANGE),
        (RENAME_WHITEOUT, RenameFlags::WHITEOUT),
    ] {
        if flags & linux != 0 {
            engine_flags |= ours;
        }
    }
    let old_at = at_dir(call, old_dirfd, &old)?;
    let new_at = at_dir(call, new_dirfd, &new)?;
    let own = call.process.fs.namespace();
    let old_ns = old_at.as_ref().unwrap_or(own);
    let new_ns = new_at.as_ref().unwrap_or(own);
    old_ns.rename_to(&call.process.creds, &old, new_ns, &new, engine_flags)?;
    Ok(0)
}

/// `link(old, new)`: a symlink `old` is linked itself.
///
/// # Errors
/// As `linkat` without flags.
pub(super) fn link(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    link_at(call, AT_FDCWD, args[0], AT_FDCWD, args[1], 0)
}

/// `linkat(olddirfd, old, newdirfd, new, flags)`: `AT_SYMLINK_FOLLOW` follows a final
/// symlink of `old`. `AT_EMPTY_PATH` (linking a descriptor) is not supported: `ENOENT`, as
/// Linux answers a caller without `CAP_DAC_READ_SEARCH`.
///
/// # Errors
/// `EINVAL` for another flag; `EEXIST`, `ENOENT`, `EPERM` (a directory, or
/// `protected_hardlinks`), `EXDEV`, `EACCES`, `EROFS`, `EMLINK`, `EFAULT`.
pub(super) fn linkat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    link_at(
        call,
        dirfd_arg(args[0]),
        args[1],
        dirfd_arg(args[2]),
        args[3],
        u32_arg(args[4]),
    )
}

fn link_at(
    call: &Call<'_>,
    old_dirfd: i32,
    old_addr: u64,
    new_dirfd: i32,
    new_addr: u64,
    flags: u32,
) -> SysResult<u64> {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let old = path_arg(call, old_addr)?;
    let new = path_arg(call, new_addr)?;
    let old_at = at_dir(call, old_dirfd, &old)?;
    let new_at = at_dir(call, new_dirfd, &new)?;
    let own = call.process.fs.namespace();
    let old_ns = old_at.as_ref().unwrap_or(own);
    let new_ns = new_at.as_ref().unwrap_or(own);
    let follow = flags & AT_SYMLINK_FOLLOW != 0;
    old_ns.link_to(&call.process.creds, &old, follow, new_ns, &new)?;
    Ok(0)
}

/// `symlink(target, path)`.
///
/// # Errors
/// As `symlinkat` from the working directory.
pub(super) fn symlink(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    symlink_at(call, args[0], AT_FDCWD, args[1])
}

/// `symlinkat(target, dirfd, path)`: `target` stored as given.
///
/// # Errors
/// `ENOENT` for an empty target; `EEXIST`, `ENOENT`, `ENOTDIR`, `EACCES`, `EROFS`, `EFAULT`;
/// `EINVAL` for a target that is not UTF-8.
pub(super) fn symlinkat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    symlink_at(call, args[0], dirfd_arg(args[1]), args[2])
}

fn symlink_at(call: &Call<'_>, target_addr: u64, dirfd: i32, path_addr: u64) -> SysResult<u64> {
    let target = path_arg(call, target_addr)?;
    let path = path_arg(call, path_addr)?;
    in_dir(call, dirfd, &path, |ns, creds| {
        ns.symlink(creds, &target, &path)
    })?;
    Ok(0)
}

/// `readlink(path, buf, size)`.
///
/// # Errors
/// As `readlinkat` from the working directory.
pub(super) fn readlink(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    readlink_at(call, AT_FDCWD, args[0], args[1], args[2])
}

/// `readlinkat(dirfd, path, buf, size)`: the target, cut to `size` bytes, without a NUL;
/// returns its length as copied.
///
/// # Errors
/// `EINVAL` if `size` is not positive or the entry is not a symlink; `ENOENT`, `ENOTDIR`,
/// `EACCES`, `ELOOP`; `EFAULT` for a bad `path` or `buf`.
pub(super) fn readlinkat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    readlink_at(call, dirfd_arg(args[0]), args[1], args[2], args[3])
}

fn readlink_at(
    call: &mut Call<'_>,
    dirfd: i32,
    path_addr: u64,
    buf: u64,
    size: u64,
) -> SysResult<u64> {
    let size = size as i32;
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    let path = path_arg(call, path_addr)?;
    let target: String = in_dir(call, dirfd, &path, |ns, creds| ns.readlink(creds, &path))?;
    let count = target.len().min(size as usize).min(PATH_MAX);
    call.memory.write(buf, &target.as_bytes()[..count])?;
    Ok(count as u64)
}
