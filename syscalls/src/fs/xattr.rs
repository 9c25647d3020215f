//! The extended attribute calls: `getxattr`, `setxattr`, `listxattr`, `removexattr`, each
//! with its `l` form (the symlink itself) and `f` form (a descriptor's entry). Names that are
//! not UTF-8 are `EINVAL` (the engine's names are `str`).

use alloc::{string::String, sync::Arc, vec::Vec};

use linux_raw_sys::general::*;
use overlay_core::vfs::{Inode, XattrFlags};

use super::attr::{entry_at, fd_entry};
use super::{path_arg, Follow};
use crate::dispatch::Call;
use crate::errno::{Errno, SysResult};
use crate::user;

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
