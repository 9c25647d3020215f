//! `stat`, `lstat`, `fstat`, `newfstatat`, `statx`, `statfs`, `fstatfs`, and the packing of
//! Linux's `struct stat`, `struct statx` and `struct statfs` (x86_64) from the engine's
//! [`Metadata`] and [`StatFs`].
//!
//! What the engine does not keep: `st_blksize` is 4096; `st_blocks` counts the 4096-byte
//! pages of a regular file's size in 512-byte units (as tmpfs reports it), 0 for anything
//! else; `statx` has no birth time (`STATX_BTIME` is never in the returned mask) and no
//! mount id. `statfs` reports the root filesystem's figures with overlayfs's magic number
//! for every path.

use core::mem::{offset_of, size_of};

use linux_raw_sys::general::*;
use overlay_core::vfs::{DeviceId, FileType, Metadata, StatFs};

use super::{at_dir, dirfd_arg, fd_arg, fd_metadata, path_arg, target_arg, u32_arg, Target};
use crate::dispatch::Call;
use crate::errno::{Errno, SysResult};
use crate::user::StructWriter;

/// The block size `stat` reports.
const BLOCK_SIZE: u64 = 4096;

/// `stat(path, buf)`: follows a final symlink.
///
/// # Errors
/// `EFAULT` for a bad `path` or `buf`; the path errors (`ENOENT`, `ENOTDIR`, `EACCES`,
/// `ELOOP`, `ENAMETOOLONG`, `EINVAL` for a non-UTF-8 path).
pub(super) fn stat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let path = path_arg(call, args[0])?;
    let metadata = call
        .process
        .fs
        .namespace()
        .stat(&call.process.creds, &path)?;
    pack_stat(&metadata).write_to(call.memory, args[1])?;
    Ok(0)
}

/// `lstat(path, buf)`: the symlink itself.
///
/// # Errors
/// As `stat`.
pub(super) fn lstat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let path = path_arg(call, args[0])?;
    let metadata = call
        .process
        .fs
        .namespace()
        .lstat(&call.process.creds, &path)?;
    pack_stat(&metadata).write_to(call.memory, args[1])?;
    Ok(0)
}

/// `fstat(fd, buf)`.
///
/// # Errors
/// `EBADF` if `fd` is not open; `EFAULT` for a bad `buf`.
pub(super) fn fstat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let metadata = call.process.fds.file(fd_arg(args[0])?)?.metadata()?;
    pack_stat(&metadata).write_to(call.memory, args[1])?;
    Ok(0)
}

/// `newfstatat(dirfd, path, buf, flags)`: `AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH` (the
/// descriptor itself), `AT_NO_AUTOMOUNT` (nothing automounts here).
///
/// # Errors
/// `EINVAL` for another flag; `EBADF`/`ENOTDIR` for a bad `dirfd`; as `stat`.
pub(super) fn newfstatat(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let flags = u32_arg(args[3]);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL);
    }
    let metadata = metadata_at(call, dirfd_arg(args[0]), args[1], flags)?;
    pack_stat(&metadata).write_to(call.memory, args[2])?;
    Ok(0)
}

/// `statx(dirfd, path, flags, mask, buf)`: every basic field whatever `mask` asks (as Linux
/// may), the returned mask saying which (`STATX_BASIC_STATS`).
///
/// # Errors
/// `EINVAL` for an unknown flag, both sync flags, or `STATX__RESERVED` in `mask`; as
/// `newfstatat`.
pub(super) fn statx(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let flags = u32_arg(args[2]);
    let mask = u32_arg(args[3]);
    let known = AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE;
    if flags & !known != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask & STATX__RESERVED != 0
    {
        return Err(Errno::EINVAL);
    }
    let metadata = metadata_at(call, dirfd_arg(args[0]), args[1], flags)?;
    pack_statx(&metadata).write_to(call.memory, args[4])?;
    Ok(0)
}

/// `statfs(path, buf)`.
///
/// # Errors
/// `EFAULT` for a bad `path` or `buf`; the path errors.
pub(super) fn statfs(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let path = path_arg(call, args[0])?;
    let figures = call
        .process
        .fs
        .namespace()
        .statfs(&call.process.creds, &path)?;
    pack_statfs(&figures, read_only(call)).write_to(call.memory, args[1])?;
    Ok(0)
}

/// `fstatfs(fd, buf)`.
///
/// # Errors
/// `EBADF` if `fd` is not open; `EFAULT` for a bad `buf`.
pub(super) fn fstatfs(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    call.process.fds.file(fd_arg(args[0])?)?;
    let figures = call.process.fs.root().statfs()?;
    pack_statfs(&figures, read_only(call)).write_to(call.memory, args[1])?;
    Ok(0)
}

/// The metadata an `*at` stat call names: the path from `dirfd` (a final symlink followed
/// unless `AT_SYMLINK_NOFOLLOW`), or with `AT_EMPTY_PATH` and `""` the descriptor itself.
fn metadata_at(call: &Call<'_>, dirfd: i32, path_addr: u64, flags: u32) -> SysResult<Metadata> {
    let path = match target_arg(call, dirfd, path_addr, flags)? {
        Target::Fd(dirfd) => return fd_metadata(call, dirfd),
        Target::Path(path) => path,
    };
    let at = at_dir(call, dirfd, &path)?;
    let namespace = at.as_ref().unwrap_or(call.process.fs.namespace());
    let creds = &call.process.creds;
    Ok(if flags & AT_SYMLINK_NOFOLLOW != 0 {
        namespace.lstat(creds, &path)?
    } else {
        namespace.stat(creds, &path)?
    })
}

fn read_only(call: &Call<'_>) -> bool {
    call.process
        .fs
        .root()
        .features()
        .contains(overlay_core::vfs::FsFeatures::READ_ONLY)
}

/// A device number as glibc's `makedev` encodes it (and Linux's `new_encode_dev`, for
/// numbers that fit 32 bits).
pub fn makedev(device: DeviceId) -> u64 {
    let (major, minor) = (u64::from(device.major), u64::from(device.minor));
    ((major & 0xffff_f000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0xff)
}

/// The major and minor numbers of a device number encoded as [`makedev`] does.
pub fn split_dev(dev: u64) -> DeviceId {
    DeviceId {
        major: (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as u32,
        minor: (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as u32,
    }
}

/// 512-byte blocks of the entry (see the module docs).
fn blocks(metadata: &Metadata) -> u64 {
    if metadata.kind == FileType::Regular {
        metadata.size.div_ceil(BLOCK_SIZE) * (BLOCK_SIZE / 512)
    } else {
        0
    }
}

/// Linux's x86_64 `struct stat` for `metadata`. `st_dev` is the filesystem's device number
/// as the engine gives it; `st_rdev` is [`makedev`] of the node's device.
pub fn pack_stat(metadata: &Metadata) -> StructWriter {
    let mut out = StructWriter::new(size_of::<stat>());
    out.put_u64(offset_of!(stat, st_dev), metadata.dev);
    out.put_u64(offset_of!(stat, st_ino), metadata.ino);
    out.put_u64(offset_of!(stat, st_nlink), u64::from(metadata.nlink));
    out.put_u32(offset_of!(stat, st_mode), metadata.unix_mode());
    out.put_u32(offset_of!(stat, st_uid), metadata.uid);
    out.put_u32(offset_of!(stat, st_gid), metadata.gid);
    out.put_u64(offset_of!(stat, st_rdev), makedev(metadata.rdev));
    out.put_i64(offset_of!(stat, st_size), metadata.size as i64);
    out.put_i64(offset_of!(stat, st_blksize), BLOCK_SIZE as i64);
    out.put_i64(offset_of!(stat, st_blocks), blocks(metadata) as i64);
    let times = [
        (
            offset_of!(stat, st_atime),
            offset_of!(stat, st_atime_nsec),
            metadata.atime,
        ),
        (
            offset_of!(stat, st_mtime),
            offset_of!(stat, st_mtime_nsec),
            metadata.mtime,
        ),
        (
            offset_of!(stat, st_ctime),
            offset_of!(stat, st_ctime_nsec),
            metadata.ctime,
        ),
    ];
    for (sec, nsec, time) in times {
        out.put_i64(sec, time.sec);
        out.put_u64(nsec, u64::from(time.nsec));
    }
    out
}

/// Linux's `struct statx` for `metadata`, with `STATX_BASIC_STATS` in its mask.
pub fn pack_statx(metadata: &Metadata) -> StructWriter {
    let mut out = StructWriter::new(size_of::<statx>());
    out.put_u32(offset_of!(statx, stx_mask), STATX_BASIC_STATS);
    out.put_u32(offset_of!(statx, stx_blksize), BLOCK_SIZE as u32);
    out.put_u32(offset_of!(statx, stx_nlink), metadata.nlink);
    out.put_u32(offset_of!(statx, stx_uid), metadata.uid);
    out.put_u32(offset_of!(statx, stx_gid), metadata.gid);
    out.put_u16(offset_of!(statx, stx_mode), metadata.unix_mode() as u16);
    out.put_u64(offset_of!(statx, stx_ino), metadata.ino);
    out.put_u64(offset_of!(statx, stx_size), metadata.size);
    out.put_u64(offset_of!(statx, stx_blocks), blocks(metadata));
    let times = [
        (offset_of!(statx, stx_atime), metadata.atime),
        (offset_of!(statx, stx_ctime), metadata.ctime),
        (offset_of!(statx, stx_mtime), metadata.mtime),
    ];
    for (at, time) in times {
        out.put_i64(at + offset_of!(statx_timestamp, tv_sec), time.sec);
        out.put_u32(at + offset_of!(statx_timestamp, tv_nsec), time.nsec);
    }
    out.put_u32(offset_of!(statx, stx_rdev_major), metadata.rdev.major);
    out.put_u32(offset_of!(statx, stx_rdev_minor), metadata.rdev.minor);
    let dev = split_dev(metadata.dev);
    out.put_u32(offset_of!(statx, stx_dev_major), dev.major);
    out.put_u32(offset_of!(statx, stx_dev_minor), dev.minor);
    out
}

/// Linux's `struct statfs` for `figures`.
fn pack_statfs(figures: &StatFs, read_only: bool) -> StructWriter {
    /// `ST_VALID` and `ST_RDONLY` of `f_flags` (Linux's `statfs.h`).
    const ST_VALID: i64 = 0x20;
    const ST_RDONLY: i64 = 0x1;
    let mut out = StructWriter::new(size_of::<statfs>());
    out.put_i64(offset_of!(statfs, f_type), i64::from(OVERLAYFS_SUPER_MAGIC));
    out.put_i64(offset_of!(statfs, f_bsize), i64::from(figures.block_size));
    out.put_i64(offset_of!(statfs, f_blocks), figures.blocks as i64);
    out.put_i64(offset_of!(statfs, f_bfree), figures.blocks_free as i64);
    out.put_i64(
        offset_of!(statfs, f_bavail),
        figures.blocks_available as i64,
    );
    out.put_i64(offset_of!(statfs, f_files), figures.files as i64);
    out.put_i64(offset_of!(statfs, f_ffree), figures.files_free as i64);
    out.put_i64(offset_of!(statfs, f_namelen), i64::from(figures.name_max));
    out.put_i64(offset_of!(statfs, f_frsize), i64::from(figures.block_size));
    let flags = if read_only {
        ST_VALID | ST_RDONLY
    } else {
        ST_VALID
    };
    out.put_i64(offset_of!(statfs, f_flags), flags);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_encode_as_glibc_makedev() {
        let tty = DeviceId { major: 5, minor: 0 };
        assert_eq!(makedev(tty), 0x500);
        let big = DeviceId {
            major: 0x12345,
            minor: 0x6789a,
        };
        assert_eq!(split_dev(makedev(big)), big);
        assert_eq!(makedev(DeviceId { major: 1, minor: 3 }), 0x103);
    }
}
