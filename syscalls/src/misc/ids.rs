//! User and group identity: `getuid` and the `set*id` family, `getgroups`/`setgroups`.
//!
//! The effective ids are the process's [`Credentials`] (what every permission check uses);
//! the real and saved ids are in [`SavedIds`]. Root (effective uid 0) may set any id; others
//! may only move between their real, effective and saved ids (`EPERM` otherwise), as on
//! Linux without capabilities. The filesystem ids follow the effective ones (`setfsuid` is
//! not served).

use alloc::vec::Vec;

use linux_raw_sys::general as linux;
use overlay_core::vfs::Credentials;

use crate::errno::{Errno, SysResult};
use crate::process::Process;
use crate::user::{read_bytes, write_u32, UserMemory};

/// The real and saved user and group ids of a process (the effective ones are its
/// [`Credentials`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SavedIds {
    /// Real user id.
    pub real_uid: u32,
    /// Saved set-user-id.
    pub saved_uid: u32,
    /// Real group id.
    pub real_gid: u32,
    /// Saved set-group-id.
    pub saved_gid: u32,
}

impl SavedIds {
    /// Real and saved ids equal to the effective ones of `creds` (a process started by the
    /// kernel).
    pub fn same_as(creds: &Credentials) -> SavedIds {
        SavedIds {
            real_uid: creds.uid,
            saved_uid: creds.uid,
            real_gid: creds.gid,
            saved_gid: creds.gid,
        }
    }
}

/// `-1` as an id argument: "leave unchanged".
const UNCHANGED: u32 = u32::MAX;

/// The id argument `value`, `None` for -1.
fn id_arg(value: u64) -> Option<u32> {
    match value as u32 {
        UNCHANGED => None,
        id => Some(id),
    }
}

/// `setuid(uid)`: root sets the real, effective and saved ids; others set the effective id
/// to their real or saved one.
///
/// # Errors
/// `EINVAL` for -1; `EPERM` if not root and `uid` is neither the real nor the saved id.
pub fn setuid(process: &mut Process, uid: u64) -> SysResult<u64> {
    let uid = id_arg(uid).ok_or(Errno::EINVAL)?;
    if process.creds.is_root() {
        process.ids.real_uid = uid;
        process.ids.saved_uid = uid;
    } else if uid != process.ids.real_uid && uid != process.ids.saved_uid {
        return Err(Errno::EPERM);
    }
    process.creds.uid = uid;
    Ok(0)
}

/// `setgid(gid)`: as [`setuid`] for the group ids (root is the effective uid 0).
///
/// # Errors
/// `EINVAL` for -1; `EPERM` if not root and `gid` is neither the real nor the saved id.
pub fn setgid(process: &mut Process, gid: u64) -> SysResult<u64> {
    let gid = id_arg(gid).ok_or(Errno::EINVAL)?;
    if process.creds.is_root() {
        process.ids.real_gid = gid;
        process.ids.saved_gid = gid;
    } else if gid != process.ids.real_gid && gid != process.ids.saved_gid {
        return Err(Errno::EPERM);
    }
    process.creds.gid = gid;
    Ok(0)
}

/// `setresuid(real, effective, saved)`: -1 leaves an id as it is.
///
/// # Errors
/// `EPERM` if not root and a new id is none of the current real, effective and saved ids.
pub fn setresuid(process: &mut Process, real: u64, effective: u64, saved: u64) -> SysResult<u64> {
    let current = [
        process.ids.real_uid,
        process.creds.uid,
        process.ids.saved_uid,
    ];
    let new = [id_arg(real), id_arg(effective), id_arg(saved)];
    if !process.creds.is_root() && new.iter().flatten().any(|id| !current.contains(id)) {
        return Err(Errno::EPERM);
    }
    if let Some(id) = new[0] {
        process.ids.real_uid = id;
    }
    if let Some(id) = new[1] {
        process.creds.uid = id;
    }
    if let Some(id) = new[2] {
        process.ids.saved_uid = id;
    }
    Ok(0)
}

/// `setresgid(real, effective, saved)`: as [`setresuid`] for the group ids.
///
/// # Errors
/// `EPERM` if not root and a new id is none of the current real, effective and saved ids.
pub fn setresgid(process: &mut Process, real: u64, effective: u64, saved: u64) -> SysResult<u64> {
    let current = [
        process.ids.real_gid,
        process.creds.gid,
        process.ids.saved_gid,
    ];
    let new = [id_arg(real), id_arg(effective), id_arg(saved)];
    if !process.creds.is_root() && new.iter().flatten().any(|id| !current.contains(id)) {
        return Err(Errno::EPERM);
    }
    if let Some(id) = new[0] {
        process.ids.real_gid = id;
    }
    if let Some(id) = new[1] {
        process.creds.gid = id;
    }
    if let Some(id) = new[2] {
        process.ids.saved_gid = id;
    }
    Ok(0)
}

/// `setreuid(real, effective)`: as Linux, the saved id becomes the new effective id when the
/// real id is set or the effective id set to something other than the old real id.
///
/// # Errors
/// `EPERM` if not root and the real id is neither the real nor the effective one, or the
/// effective id is none of the real, effective and saved ones.
pub fn setreuid(process: &mut Process, real: u64, effective: u64) -> SysResult<u64> {
    let (real, effective) = (id_arg(real), id_arg(effective));
    let ids = process.ids;
    let euid = process.creds.uid;
    if !process.creds.is_root() {
        if real.is_some_and(|id| id != ids.real_uid && id != euid) {
            return Err(Errno::EPERM);
        }
        if effective.is_some_and(|id| id != ids.real_uid && id != euid && id != ids.saved_uid) {
            return Err(Errno::EPERM);
        }
    }
    if let Some(id) = real {
        process.ids.real_uid = id;
    }
    if let Some(id) = effective {
        process.creds.uid = id;
    }
    if real.is_some() || effective.is_some_and(|id| id != ids.real_uid) {
        process.ids.saved_uid = process.creds.uid;
    }
    Ok(0)
}

/// `setregid(real, effective)`: as [`setreuid`] for the group ids.
///
/// # Errors
/// As [`setreuid`].
pub fn setregid(process: &mut Process, real: u64, effective: u64) -> SysResult<u64> {
    let (real, effective) = (id_arg(real), id_arg(effective));
    let ids = process.ids;
    let egid = process.creds.gid;
    if !process.creds.is_root() {
        if real.is_some_and(|id| id != ids.real_gid && id != egid) {
            return Err(Errno::EPERM);
        }
        if effective.is_some_and(|id| id != ids.real_gid && id != egid && id != ids.saved_gid) {
            return Err(Errno::EPERM);
        }
    }
    if let Some(id) = real {
        process.ids.real_gid = id;
    }
    if let Some(id) = effective {
        process.creds.gid = id;
    }
    if real.is_some() || effective.is_some_and(|id| id != ids.real_gid) {
        process.ids.saved_gid = process.creds.gid;
    }
    Ok(0)
}

/// Writes three ids (`getresuid`, `getresgid`).
///
/// # Errors
/// `EFAULT` for an unwritable pointer.
pub fn write_three(memory: &mut dyn UserMemory, ptrs: [u64; 3], ids: [u32; 3]) -> SysResult<u64> {
    for (ptr, id) in ptrs.into_iter().zip(ids) {
        write_u32(memory, ptr, id)?;
    }
    Ok(0)
}

/// `getgroups(size, list)`: the supplementary groups; with `size` 0, only their number.
///
/// # Errors
/// `EINVAL` if `size` is negative or smaller than the number of groups; `EFAULT` for an
/// unwritable `list`.
pub fn getgroups(
    process: &Process,
    memory: &mut dyn UserMemory,
    size: u64,
    list: u64,
) -> SysResult<u64> {
    let groups = &process.creds.groups;
    let size = size as u32 as i32;
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if (size as usize) < groups.len() {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|gid| gid.to_le_bytes()).collect();
    memory.write(list, &bytes)?;
    Ok(groups.len() as u64)
}

/// `setgroups(size, list)`: replaces the supplementary groups (root only).
///
/// # Errors
/// `EPERM` if not root; `EINVAL` for more than `NGROUPS_MAX` groups; `EFAULT` for an
/// unreadable `list`.
pub fn setgroups(
    process: &mut Process,
    memory: &dyn UserMemory,
    size: u64,
    list: u64,
) -> SysResult<u64> {
    if !process.creds.is_root() {
        return Err(Errno::EPERM);
    }
    let size = usize::try_from(size as u32).map_err(|_| Errno::EINVAL)?;
    if size > linux::NGROUPS_MAX as usize {
        return Err(Errno::EINVAL);
    }
    let bytes = read_bytes(memory, list, size * 4)?;
    let mut groups: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|gid| u32::from_le_bytes([gid[0], gid[1], gid[2], gid[3]]))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    process.creds.groups = groups;
    Ok(0)
}
