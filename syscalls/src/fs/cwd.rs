//! `getcwd`, `chdir`, `fchdir`, `umask`.

use super::{fd_arg, path_arg, NodeFile};
use crate::dispatch::Call;
use crate::errno::{Errno, SysResult};

/// `getcwd(buf, size)`: the working directory's absolute path with its NUL; returns its
/// length, NUL included (the system call's answer; libc's returns the pointer).
///
/// # Errors
/// `ERANGE` if `size` is too small for it; `ENOENT` if the working directory was removed;
/// `EFAULT` for a bad `buf`.
pub(super) fn getcwd(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let mut path = call.process.fs.cwd_path()?.into_bytes();
    path.push(0);
    if (path.len() as u64) > args[1] {
        return Err(Errno::ERANGE);
    }
    call.memory.write(args[0], &path)?;
    Ok(path.len() as u64)
}

/// `chdir(path)`.
///
/// # Errors
/// `ENOENT`, `ENOTDIR`, `EACCES` (search permission on it or on the way), `ELOOP`,
/// `ENAMETOOLONG`, `EFAULT`.
pub(super) fn chdir(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let path = path_arg(call, args[0])?;
    let process = &mut *call.process;
    process.fs.chdir(&process.creds, &path)?;
    Ok(0)
}

/// `fchdir(fd)`: the directory `fd` was opened on (where that open reached it).
///
/// # Errors
/// `EBADF` if `fd` is not open; `ENOTDIR` if it is not a directory; `EACCES` without search
/// permission on it.
pub(super) fn fchdir(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let file = call.process.fds.file(fd_arg(args[0])?)?;
    let node = file
        .as_any()
        .downcast_ref::<NodeFile>()
        .ok_or(Errno::ENOTDIR)?;
    let location = node.location().ok_or(Errno::ENOTDIR)?.clone();
    let process = &mut *call.process;
    process.fs.set_cwd(&process.creds, location, node.path())?;
    Ok(0)
}

/// `umask(mask)`: sets the umask (its `0o777` bits); returns the previous one. Never fails.
pub(super) fn umask(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    Ok(u64::from(
        call.process.fs.set_umask((args[0] & 0o777) as u16),
    ))
}
