//! `open`, `openat`, `creat`: Linux's open flags onto the engine's, and a descriptor for the
//! description.
//!
//! Flags: the access mode (`O_RDONLY`, `O_WRONLY`, `O_RDWR`; the mode 3 is taken as
//! `O_RDWR`), `O_CREAT`, `O_EXCL`, `O_TRUNC`, `O_APPEND`, `O_DIRECTORY`, `O_NOFOLLOW`,
//! `O_NONBLOCK`, `O_CLOEXEC` act as on Linux. `O_NOCTTY`, `O_SYNC`, `O_DSYNC`, `O_DIRECT`,
//! `O_NOATIME`, `O_ASYNC` and `O_LARGEFILE` are accepted and change nothing (the union has no
//! cache to bypass or flush; this kernel has no controlling-terminal rules). `O_PATH` opens
//! for reading without giving read access to the data (`read` is `EBADF`): unlike Linux it
//! needs read permission on the entry, and with `O_NOFOLLOW` on a symlink it is `ELOOP`.
//! `O_TMPFILE` is `EOPNOTSUPP` (Linux's answer where a filesystem has no unnamed files).

use alloc::sync::Arc;

use linux_raw_sys::general::*;
use overlay_core::vfs::{FileType, OpenFlags};

use super::fd_links::{self, Opened};
use super::{at_dir, described_path, dirfd_arg, path_arg, u32_arg, NodeFile};
use crate::devices;
use crate::dispatch::Call;
use crate::errno::{Errno, SysResult};
use crate::file::{Descriptor, OpenFile, MAX_FDS};

/// The flags a description keeps for `F_GETFL` besides the access mode.
const KEPT_FLAGS: u32 = O_APPEND
    | O_NONBLOCK
    | O_DIRECTORY
    | O_NOFOLLOW
    | O_SYNC
    | O_DSYNC
    | O_DIRECT
    | O_NOATIME
    | O_PATH
    | FASYNC;

/// `open(path, flags, mode)`.
///
/// # Errors
/// As [`open_at`] from the working directory.
pub(super) fn open(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    open_at(call, AT_FDCWD, args[0], u32_arg(args[1]), u32_arg(args[2]))
}

/// `openat(dirfd, path, flags, mode)`.
///
/// # Errors
/// As [`open_at`].
pub(super) fn openat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    open_at(
        call,
        dirfd_arg(args[0]),
        args[1],
        u32_arg(args[2]),
        u32_arg(args[3]),
    )
}

/// `creat(path, mode)`: `open` with `O_CREAT | O_WRONLY | O_TRUNC`.
///
/// # Errors
/// As [`open_at`].
pub(super) fn creat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    open_at(
        call,
        AT_FDCWD,
        args[0],
        O_CREAT | O_WRONLY | O_TRUNC,
        u32_arg(args[1]),
    )
}

/// Opens `path` (at user address `path_addr`) from `dirfd` with Linux's `flags`; a file
/// `O_CREAT` makes gets `mode`'s permission bits less the umask. The descriptor is the
/// lowest free one. A device node that needs a description of its own (the terminal) gets
/// it from [`devices::open_special`], after the permission checks. A `/proc/self/fd/N` link
/// (`/dev/stdin`, ...) to a pipe gives the caller's own description ([`fd_links`]).
///
/// # Errors
/// `EFAULT` for a bad path pointer; `EMFILE` with every descriptor taken (nothing is
/// created then); `EOPNOTSUPP` for `O_TMPFILE`; `EBADF`/`ENOTDIR` for a bad `dirfd`; then
/// the engine's: `ENOENT`, `EEXIST` (`O_CREAT | O_EXCL`), `EISDIR` (a directory opened for
/// writing), `ENOTDIR` (`O_DIRECTORY` on a non-directory), `ELOOP` (`O_NOFOLLOW` on a
/// symlink), `EACCES`, `EINVAL` (`O_CREAT | O_DIRECTORY`), `EROFS`, `ENOSPC`,
/// `ENAMETOOLONG`, `ENXIO` (a socket).
pub(super) fn open_at(
    call: &mut Call<'_>,
    dirfd: i32,
    path_addr: u64,
    flags: u32,
    mode: u32,
) -> SysResult<u64> {
    let path = path_arg(call, path_addr)?;
    if flags & O_TMPFILE == O_TMPFILE {
        return Err(Errno::EOPNOTSUPP);
    }
    // Linux takes a descriptor number before it opens: with none free, nothing is created.
    if call.process.fds.numbers().count() >= MAX_FDS as usize {
        return Err(Errno::EMFILE);
    }
    let at = at_dir(call, dirfd, &path)?;
    let namespace = at.as_ref().unwrap_or(call.process.fs.namespace());
    let mode = (mode & 0o7777) as u16;
    let file = match fd_links::open_path(call.process, namespace, &path, flags, mode)? {
        Opened::File(file) => file,
        Opened::Shared(description) => {
            let fd = call.process.fds.insert(Descriptor {
                file: description,
                close_on_exec: flags & O_CLOEXEC != 0,
            })?;
            return Ok(u64::from(fd));
        }
    };
    let kind = file.metadata()?.kind;
    let special = match kind {
        FileType::CharDevice | FileType::BlockDevice if flags & O_PATH == 0 => {
            devices::open_special(file.inode(), flags)
        }
        _ => None,
    };
    let description: Arc<dyn OpenFile> = match special {
        Some(description) => description,
        None => Arc::new(NodeFile::new(
            file,
            status_flags(flags),
            described_path(call, dirfd, &path),
        )),
    };
    let fd = call.process.fds.insert(Descriptor {
        file: description,
        close_on_exec: flags & O_CLOEXEC != 0,
    })?;
    Ok(u64::from(fd))
}

/// The engine's flags for Linux's `flags`. `O_APPEND` is not passed: the description keeps
/// it (see [`NodeFile`]); a writable open copies a lower file up without it.
pub(crate) fn engine_flags(flags: u32) -> OpenFlags {
    let mut engine = if flags & O_PATH != 0 {
        OpenFlags::READ
    } else {
        match flags & O_ACCMODE {
            O_RDONLY => OpenFlags::READ,
            O_WRONLY => OpenFlags::WRITE,
            _ => OpenFlags::READ | OpenFlags::WRITE,
        }
    };
    let pairs = [
        (O_DIRECTORY, OpenFlags::DIRECTORY),
        (O_NOFOLLOW, OpenFlags::NOFOLLOW),
    ];
    let more = [
        (O_CREAT, OpenFlags::CREATE),
        (O_EXCL, OpenFlags::EXCLUSIVE),
        (O_TRUNC, OpenFlags::TRUNCATE),
    ];
    for (linux, ours) in pairs {
        if flags & linux != 0 {
            engine |= ours;
        }
    }
    // `O_PATH` ignores every flag but `O_DIRECTORY`, `O_NOFOLLOW` and `O_CLOEXEC`.
    if flags & O_PATH == 0 {
        for (linux, ours) in more {
            if flags & linux != 0 {
                engine |= ours;
            }
        }
    }
    engine
}

/// What `F_GETFL` shows of an open with `flags`: the access mode, the flags a description
/// keeps, and `O_LARGEFILE` (which Linux sets on every open of a 64-bit process).
pub(crate) fn status_flags(flags: u32) -> u32 {
    let access = match flags & O_ACCMODE {
        O_RDONLY => O_RDONLY,
        O_WRONLY => O_WRONLY,
        _ => O_RDWR,
    };
    access | (flags & KEPT_FLAGS) | O_LARGEFILE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_flags_map_onto_the_engines() {
        assert_eq!(engine_flags(O_RDONLY), OpenFlags::READ);
        assert_eq!(
            engine_flags(O_WRONLY | O_CREAT | O_TRUNC | O_APPEND),
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE
        );
        assert_eq!(
            engine_flags(O_RDWR | O_EXCL | O_CREAT),
            OpenFlags::READ | OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE
        );
        assert_eq!(
            engine_flags(O_PATH | O_CREAT | O_DIRECTORY | O_WRONLY),
            OpenFlags::READ | OpenFlags::DIRECTORY
        );
        assert_eq!(
            status_flags(O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC),
            O_WRONLY | O_APPEND | O_LARGEFILE
        );
    }
}
