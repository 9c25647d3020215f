//! Calls on descriptors themselves: `close`, `dup`, `dup2`, `dup3`, `fcntl`, `lseek`,
//! `ioctl`, `fsync`, `fdatasync`.

use core::mem::{offset_of, size_of};

use linux_raw_sys::general::*;
use linux_raw_sys::ioctl::{FIOCLEX, FIONBIO, FIONCLEX};

use super::fd_arg;
use crate::dispatch::Call;
use crate::errno::{Errno, SysResult};
use crate::file::{Descriptor, Whence, MAX_FDS};
use crate::user::{self, StructReader, StructWriter};

/// `close(fd)`. Dropping the last descriptor of a pipe's end wakes its other end.
///
/// # Errors
/// `EBADF` if `fd` is not open.
pub(super) fn close(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    call.process.fds.remove(fd_arg(args[0])?)?;
    Ok(0)
}

/// `dup(fd)`: the lowest free descriptor for the same description, without close-on-exec.
///
/// # Errors
/// `EBADF` if `fd` is not open; `EMFILE` with every descriptor taken.
pub(super) fn dup(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    duplicate(call, fd_arg(args[0])?, 0, false)
}

/// `dup2(old, new)`: `new` made a descriptor of `old`'s description (closing what `new` was);
/// `new` itself if it is `old`.
///
/// # Errors
/// `EBADF` if `old` is not open or `new` is out of range.
pub(super) fn dup2(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let old = fd_arg(args[0])?;
    let new = fd_arg(args[1])?;
    let file = call.process.fds.file(old)?;
    if old == new {
        return Ok(u64::from(new));
    }
    install_at(call, file, new, false)
}

/// `dup3(old, new, flags)`: `dup2` with `O_CLOEXEC` as the only flag.
///
/// # Errors
/// `EINVAL` if `old == new` or for another flag; otherwise as `dup2`.
pub(super) fn dup3(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let old = fd_arg(args[0])?;
    let new = fd_arg(args[1])?;
    let flags = args[2] as u32;
    if flags & !O_CLOEXEC != 0 || old == new {
        return Err(Errno::EINVAL);
    }
    let file = call.process.fds.file(old)?;
    install_at(call, file, new, flags & O_CLOEXEC != 0)
}

/// `fcntl(fd, cmd, arg)`: `F_DUPFD`, `F_DUPFD_CLOEXEC`, `F_GETFD`, `F_SETFD`, `F_GETFL`,
/// `F_SETFL` (only `O_APPEND` and `O_NONBLOCK` change, as on Linux), and the record locks
/// (`F_GETLK`, `F_SETLK`, `F_SETLKW` and their `F_OFD_` forms) answered as if no other
/// process held a lock: this kernel keeps none, and its processes of one container take turns.
///
/// # Errors
/// `EBADF` if `fd` is not open; `EINVAL` for another command or an `F_DUPFD` minimum past
/// the limit; `EMFILE` with every descriptor from the minimum taken; `EFAULT` for a bad
/// `struct flock` pointer.
pub(super) fn fcntl(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let fd = fd_arg(args[0])?;
    let descriptor = call.process.fds.get(fd)?.clone();
    let arg = args[2];
    match args[1] as u32 {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = u32::try_from(arg as i32).map_err(|_| Errno::EINVAL)?;
            if min >= MAX_FDS {
                return Err(Errno::EINVAL);
            }
            duplicate(call, fd, min, args[1] as u32 == F_DUPFD_CLOEXEC)
        }
        F_GETFD => Ok(if descriptor.close_on_exec {
            u64::from(FD_CLOEXEC)
        } else {
            0
        }),
        F_SETFD => {
            let close_on_exec = arg as u32 & FD_CLOEXEC != 0;
            call.process.fds.set_close_on_exec(fd, close_on_exec)?;
            Ok(0)
        }
        F_GETFL => Ok(u64::from(descriptor.file.status_flags())),
        F_SETFL => {
            descriptor.file.set_status_flags(arg as u32);
            Ok(0)
        }
        F_GETLK | F_OFD_GETLK => {
            let lock = StructReader::read_from(&*call.memory, arg, size_of::<flock>())?;
            let kind = lock.bytes().get(offset_of!(flock, l_type)).copied();
            if !matches!(kind.map(u32::from), Some(F_RDLCK | F_WRLCK)) {
                return Err(Errno::EINVAL);
            }
            // Nothing stands in the way: the lock's type becomes F_UNLCK, the rest stays.
            let mut out = StructWriter::new(size_of::<flock>());
            out.put(0, lock.bytes());
            out.put_u16(offset_of!(flock, l_type), F_UNLCK as u16);
            out.write_to(call.memory, arg)?;
            Ok(0)
        }
        F_SETLK | F_SETLKW | F_OFD_SETLK | F_OFD_SETLKW => {
            StructReader::read_from(&*call.memory, arg, size_of::<flock>())?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// `lseek(fd, offset, whence)`: `SEEK_SET`, `SEEK_CUR`, `SEEK_END`; `SEEK_DATA` and
/// `SEEK_HOLE` as for a file without holes (data up to the size, a hole at it).
///
/// # Errors
/// `EBADF` if `fd` is not open; `ESPIPE` on a pipe or terminal; `EINVAL` for another
/// `whence` or a negative result; `EOVERFLOW` if it does not fit; `ENXIO` for `SEEK_DATA`
/// or `SEEK_HOLE` at or past the end.
pub(super) fn lseek(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let file = call.process.fds.file(fd_arg(args[0])?)?;
    let offset = args[1] as i64;
    let whence = match args[2] as u32 {
        SEEK_SET => Whence::Set,
        SEEK_CUR => Whence::Current,
        SEEK_END => Whence::End,
        SEEK_DATA | SEEK_HOLE => {
            let size = file.metadata()?.size;
            let enxio = Errno::from(overlay_core::Errno::ENXIO);
            let at = u64::try_from(offset).map_err(|_| enxio)?;
            if at >= size {
                return Err(enxio);
            }
            let target = if args[2] as u32 == SEEK_DATA {
                at
            } else {
                size
            };
            return file.seek(target as i64, Whence::Set);
        }
        _ => return Err(Errno::EINVAL),
    };
    file.seek(offset, whence)
}

/// `ioctl(fd, request, arg)`: `FIOCLEX`/`FIONCLEX` (close-on-exec) and `FIONBIO`
/// (`O_NONBLOCK`) for any descriptor; any other request goes to the description
/// ([`crate::file::OpenFile::ioctl`]: the terminal answers `TCGETS` and its kin, a file
/// answers `ENOTTY`).
///
/// # Errors
/// `EBADF` if `fd` is not open; `EFAULT` for a bad `FIONBIO` pointer; what the description
/// answers (`ENOTTY` by default).
pub(super) fn ioctl(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let fd = fd_arg(args[0])?;
    let file = call.process.fds.file(fd)?;
    match args[1] as u32 {
        FIOCLEX | FIONCLEX => {
            call.process
                .fds
                .set_close_on_exec(fd, args[1] as u32 == FIOCLEX)?;
            Ok(0)
        }
        FIONBIO => {
            let on = user::read_u32(&*call.memory, args[2])? != 0;
            let status = file.status_flags();
            let status = if on {
                status | O_NONBLOCK
            } else {
                status & !O_NONBLOCK
            };
            file.set_status_flags(status);
            Ok(0)
        }
        request => file.ioctl(request, args[2], call.memory),
    }
}

/// `fsync(fd)`, `fdatasync(fd)`: the union lives in memory; there is nothing to flush.
///
/// # Errors
/// `EBADF` if `fd` is not open.
pub(super) fn fsync(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    call.process.fds.file(fd_arg(args[0])?)?;
    Ok(0)
}

/// A new descriptor for `fd`'s description, the lowest free from `min`.
fn duplicate(call: &mut Call<'_>, fd: u32, min: u32, close_on_exec: bool) -> SysResult<u64> {
    let file = call.process.fds.file(fd)?;
    let new = call.process.fds.insert_from(
        min,
        Descriptor {
            file,
            close_on_exec,
        },
    )?;
    Ok(u64::from(new))
}

/// Puts `file` at descriptor `new`, closing what was there.
fn install_at(
    call: &mut Call<'_>,
    file: alloc::sync::Arc<dyn crate::file::OpenFile>,
    new: u32,
    close_on_exec: bool,
) -> SysResult<u64> {
    call.process.fds.replace(
        new,
        Descriptor {
            file,
            close_on_exec,
        },
    )?;
    Ok(u64::from(new))
}
