//! The file and path system calls over the union.
//!
//! Each handler copies its arguments in through [`crate::user`] (a bad pointer is `EFAULT`),
//! calls the engine ([`overlay_core::posix::Namespace`], whose checks decide the errno), and
//! packs Linux's structures out. [`dispatch`] takes the numbers this family serves.
//!
//! - [`context`]: [`FsContext`], the process's root, working directory and umask.
//! - `open`: `open`, `openat`, `creat`; [`node_file`]: the description they give;
//!   `fd_links`: `open` of `/proc/self/fd/N` (`/dev/stdin`, ...).
//! - `rw`: `read`, `write` and their vector and positioned forms, `sendfile`.
//! - `fdops`: `close`, `dup*`, `fcntl`, `lseek`, `ioctl`, `fsync`.
//! - `stat`: `stat` and its family, `statx`, `statfs`; `dirent`: `getdents64`.
//! - `names`: calls that add, remove or move names; `attr`: calls that change an entry
//!   (modes, owners, sizes, times) or check access; `xattr`: extended attributes; `cwd`:
//!   `getcwd`, `chdir`, `fchdir`, `umask`.
//!
//! Paths: the engine's paths are `str`, so a path that is not UTF-8 is `EINVAL` (Linux would
//! take any bytes). `*at` calls resolve a relative path from the directory `dirfd` was opened
//! on (`ENOTDIR` if it is not a directory, `EBADF` if it is not open), from the working
//! directory for `AT_FDCWD`, and ignore `dirfd` for an absolute path, as Linux does.

pub mod context;
pub mod node_file;

mod attr;
mod cwd;
mod dirent;
mod fd_links;
mod fdops;
mod names;
mod open;
mod rw;
mod stat;
mod xattr;

use alloc::{string::String, sync::Arc};

use linux_raw_sys::general::*;
use overlay_core::posix::Namespace;
use overlay_core::vfs::{Inode, Metadata};

use crate::dispatch::{Call, Outcome};
use crate::errno::{Errno, SysResult};
use crate::user::{self, PATH_MAX};

pub use self::context::FsContext;
pub use self::node_file::NodeFile;
pub use self::stat::{makedev, pack_stat, pack_statx, split_dev};

/// Most bytes one `read`, `write` or `getdents64` moves: a longer request is served in part
/// (a short count, as Linux returns for requests past its own `MAX_RW_COUNT`), so that a huge
/// length never becomes a huge kernel buffer.
pub const MAX_TRANSFER: usize = 1 << 20;

/// Serves `number` if it is a file or path call; `None` for the others.
// `linux-raw-sys` names the call numbers in lower case (`__NR_read`), as Linux does.
#[allow(non_upper_case_globals)]
pub fn dispatch(call: &mut Call<'_>, number: u64, args: [u64; 6]) -> Option<Outcome> {
    let number = u32::try_from(number).ok()?;
    let result = match number {
        __NR_read => return Some(rw::read(call, args)),
        __NR_write => return Some(rw::write(call, args)),
        __NR_readv => return Some(rw::readv(call, args)),
        __NR_writev => return Some(rw::writev(call, args)),
        __NR_sendfile => return Some(rw::sendfile(call, args)),
        __NR_pread64 => rw::pread64(call, args),
        __NR_pwrite64 => rw::pwrite64(call, args),
        __NR_open => open::open(call, args),
        __NR_openat => open::openat(call, args),
        __NR_creat => open::creat(call, args),
        __NR_close => fdops::close(call, args),
        __NR_lseek => fdops::lseek(call, args),
        __NR_dup => fdops::dup(call, args),
        __NR_dup2 => fdops::dup2(call, args),
        __NR_dup3 => fdops::dup3(call, args),
        __NR_fcntl => fdops::fcntl(call, args),
        __NR_ioctl => fdops::ioctl(call, args),
        __NR_fsync | __NR_fdatasync => fdops::fsync(call, args),
        __NR_stat => stat::stat(call, args),
        __NR_lstat => stat::lstat(call, args),
        __NR_fstat => stat::fstat(call, args),
        __NR_newfstatat => stat::newfstatat(call, args),
        __NR_statx => stat::statx(call, args),
        __NR_statfs => stat::statfs(call, args),
        __NR_fstatfs => stat::fstatfs(call, args),
        __NR_getdents64 => dirent::getdents64(call, args),
        __NR_mkdir => names::mkdir(call, args),
        __NR_mkdirat => names::mkdirat(call, args),
        __NR_mknod => names::mknod(call, args),
        __NR_mknodat => names::mknodat(call, args),
        __NR_rmdir => names::rmdir(call, args),
        __NR_unlink => names::unlink(call, args),
        __NR_unlinkat => names::unlinkat(call, args),
        __NR_rename => names::rename(call, args),
        __NR_renameat => names::renameat(call, args),
        __NR_renameat2 => names::renameat2(call, args),
        __NR_link => names::link(call, args),
        __NR_linkat => names::linkat(call, args),
        __NR_symlink => names::symlink(call, args),
        __NR_symlinkat => names::symlinkat(call, args),
        __NR_readlink => names::readlink(call, args),
        __NR_readlinkat => names::readlinkat(call, args),
        __NR_chmod => attr::chmod(call, args),
        __NR_fchmod => attr::fchmod(call, args),
        __NR_fchmodat => attr::fchmodat(call, args),
        __NR_chown => attr::chown(call, args),
        __NR_lchown => attr::lchown(call, args),
        __NR_fchown => attr::fchown(call, args),
        __NR_fchownat => attr::fchownat(call, args),
        __NR_truncate => attr::truncate(call, args),
        __NR_ftruncate => attr::ftruncate(call, args),
        __NR_utimensat => attr::utimensat(call, args),
        __NR_access => attr::access(call, args),
        __NR_faccessat => attr::faccessat(call, args),
        __NR_faccessat2 => attr::faccessat2(call, args),
        __NR_getxattr => xattr::getxattr(call, args, Follow::Yes),
        __NR_lgetxattr => xattr::getxattr(call, args, Follow::No),
        __NR_fgetxattr => xattr::fgetxattr(call, args),
        __NR_setxattr => xattr::setxattr(call, args, Follow::Yes),
        __NR_lsetxattr => xattr::setxattr(call, args, Follow::No),
        __NR_fsetxattr => xattr::fsetxattr(call, args),
        __NR_listxattr => xattr::listxattr(call, args, Follow::Yes),
        __NR_llistxattr => xattr::listxattr(call, args, Follow::No),
        __NR_flistxattr => xattr::flistxattr(call, args),
        __NR_removexattr => xattr::removexattr(call, args, Follow::Yes),
        __NR_lremovexattr => xattr::removexattr(call, args, Follow::No),
        __NR_fremovexattr => xattr::fremovexattr(call, args),
        __NR_getcwd => cwd::getcwd(call, args),
        __NR_chdir => cwd::chdir(call, args),
        __NR_fchdir => cwd::fchdir(call, args),
        __NR_umask => cwd::umask(call, args),
        _ => return None,
    };
    Some(Outcome::of(result))
}

/// Whether a call follows a final symlink (`getxattr`) or not (`lgetxattr`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Follow {
    /// Follow it.
    Yes,
    /// Act on the symlink itself.
    No,
}

/// A descriptor argument (a C `int`): `EBADF` if negative.
pub(crate) fn fd_arg(arg: u64) -> SysResult<u32> {
    u32::try_from(arg as i32).map_err(|_| Errno::EBADF)
}

/// A `dirfd` argument (a C `int`; `AT_FDCWD` is negative).
pub(crate) fn dirfd_arg(arg: u64) -> i32 {
    arg as i32
}

/// A C `int` or `unsigned int` flags argument.
pub(crate) fn u32_arg(arg: u64) -> u32 {
    arg as u32
}

/// Reads a path argument.
///
/// # Errors
/// `EFAULT` for a bad pointer; `ENOENT` if empty; `ENAMETOOLONG` past `PATH_MAX`; `EINVAL`
/// if not UTF-8.
pub(crate) fn path_arg(call: &Call<'_>, addr: u64) -> SysResult<String> {
    user::read_path(&*call.memory, addr)
}

/// What an `*at` call with `AT_EMPTY_PATH` acts on: a path, or the descriptor itself.
pub(crate) enum Target {
    /// A path, resolved as `*at` calls do.
    Path(String),
    /// The empty path with `AT_EMPTY_PATH`: `dirfd` itself (the working directory for
    /// `AT_FDCWD`).
    Fd(i32),
}

/// Reads the path argument of an `*at` call taking `AT_EMPTY_PATH` in `flags`.
///
/// # Errors
/// As [`path_arg`], but an empty path is [`Target::Fd`] with `AT_EMPTY_PATH`.
pub(crate) fn target_arg(call: &Call<'_>, dirfd: i32, addr: u64, flags: u32) -> SysResult<Target> {
    let bytes = user::read_c_bytes(&*call.memory, addr, PATH_MAX)?;
    if bytes.is_empty() {
        return if flags & AT_EMPTY_PATH != 0 {
            Ok(Target::Fd(dirfd))
        } else {
            Err(Errno::ENOENT)
        };
    }
    String::from_utf8(bytes)
        .map(Target::Path)
        .map_err(|_| Errno::EINVAL)
}

/// The namespace a path is resolved in for an `*at` call: `None` for the process's own
/// (an absolute path, or `AT_FDCWD`), else one whose working directory is `dirfd`'s.
///
/// # Errors
/// `EBADF` if `dirfd` is not open; `ENOTDIR` if it is not a directory.
pub(crate) fn at_dir(call: &Call<'_>, dirfd: i32, path: &str) -> SysResult<Option<Namespace>> {
    if path.starts_with('/') || dirfd == AT_FDCWD {
        return Ok(None);
    }
    let file = call.process.fds.file(fd_arg(dirfd as u64)?)?;
    let location = file
        .as_any()
        .downcast_ref::<NodeFile>()
        .and_then(NodeFile::location)
        .ok_or(Errno::ENOTDIR)?;
    Ok(Some(call.process.fs.namespace_at(location.clone())))
}

/// The absolute path `path` names from `dirfd` (as `*at` calls resolve it), taken as
/// written: what an open description is described as.
pub(crate) fn described_path(call: &Call<'_>, dirfd: i32, path: &str) -> String {
    if path.starts_with('/') {
        return context::lexical_path("/", path);
    }
    let base = if dirfd == AT_FDCWD {
        call.process.fs.cwd_path_hint()
    } else {
        fd_arg(dirfd as u64)
            .and_then(|fd| call.process.fds.file(fd))
            .ok()
            .and_then(|file| {
                file.as_any()
                    .downcast_ref::<NodeFile>()
                    .map(|node| String::from(node.path()))
            })
            .unwrap_or_else(|| String::from("/"))
    };
    context::lexical_path(&base, path)
}

/// The entry `dirfd` stands for with `AT_EMPTY_PATH`: the working directory for
/// `AT_FDCWD`, else the descriptor's inode.
///
/// # Errors
/// `EBADF` if `dirfd` is not open or has no inode (a pipe).
pub(crate) fn fd_inode(call: &Call<'_>, dirfd: i32) -> SysResult<Arc<dyn Inode>> {
    if dirfd == AT_FDCWD {
        return Ok(call.process.fs.cwd().dir().clone());
    }
    call.process
        .fds
        .file(fd_arg(dirfd as u64)?)?
        .inode()
        .ok_or(Errno::EBADF)
}

/// The metadata of what `dirfd` stands for with `AT_EMPTY_PATH` (a pipe's too).
///
/// # Errors
/// `EBADF` if `dirfd` is not open.
pub(crate) fn fd_metadata(call: &Call<'_>, dirfd: i32) -> SysResult<Metadata> {
    if dirfd == AT_FDCWD {
        return Ok(call.process.fs.cwd().dir().metadata()?);
    }
    call.process.fds.file(fd_arg(dirfd as u64)?)?.metadata()
}
