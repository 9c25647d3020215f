//! `getdents64`: a directory's entries as Linux's `struct linux_dirent64` records.
//!
//! The listing starts with `.` and `..` (as Linux lists them; the engine does not), then the
//! directory's own entries through the filesystem's listing cookies, so a union directory
//! read in pieces lists each name once even while names come and go. A description's
//! position (its offset, which `lseek` sets and `d_off` reports) is 0 before `.`, 1 before
//! `..`, and the filesystem's cookie plus 2 after that.
//!
//! Records are `d_ino`, `d_off` (the position after the entry), `d_reclen` (the record's
//! length, 8-byte aligned), `d_type` (`DT_*`), then the NUL-terminated name. The position
//! moves past what was copied out, only once the copy succeeded.

use alloc::vec::Vec;
use core::mem::{offset_of, size_of};

use linux_raw_sys::general::*;
use overlay_core::posix::SeekFrom;
use overlay_core::vfs::FileType;

use super::{fd_arg, NodeFile, MAX_TRANSFER};
use crate::dispatch::Call;
use crate::errno::{Errno, SysResult};
use crate::user::StructWriter;

/// Positions below this are `.` and `..`.
const FIRST_COOKIE_POSITION: u64 = 2;

/// `getdents64(fd, dirp, count)`: as many whole records as fit `count` bytes (at most
/// `MAX_TRANSFER`); 0 at the end of the directory.
///
/// # Errors
/// `EBADF` if `fd` is not open (or opened with `O_PATH`); `ENOTDIR` if it is not a directory
/// of the tree; `EINVAL` if the next record does not fit `count`; `EFAULT` for a bad `dirp`;
/// `EOVERFLOW` for a cookie past what `d_off` holds; what the filesystem's `readdir` returns.
pub(super) fn getdents64(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let description = call.process.fds.file(fd_arg(args[0])?)?;
    let node = description
        .as_any()
        .downcast_ref::<NodeFile>()
        .ok_or(Errno::ENOTDIR)?;
    if node.is_path_only() {
        return Err(Errno::EBADF);
    }
    let location = node.location().ok_or(Errno::ENOTDIR)?;
    let capacity = (args[2] as u32 as usize).min(MAX_TRANSFER);
    let dir = location.dir().clone();
    let parent_ino = location.parent_dir().metadata()?.ino;
    node.with_file(|file| {
        let mut out = Vec::new();
        let mut position = file.offset();
        let mut full = false;
        if position == 0 {
            full = !push(&mut out, capacity, dir.metadata()?.ino, 1, DT_DIR, ".");
            if !full {
                position = 1;
            }
        }
        if position == 1 && !full {
            full = !push(&mut out, capacity, parent_ino, 2, DT_DIR, "..");
            if !full {
                position = FIRST_COOKIE_POSITION;
            }
        }
        if !full {
            let mut overflow = false;
            dir.readdir(position - FIRST_COOKIE_POSITION, &mut |entry| {
                let Some(next) = entry
                    .next_cookie
                    .checked_add(FIRST_COOKIE_POSITION)
                    .filter(|next| *next <= i64::MAX as u64)
                else {
                    overflow = true;
                    return false;
                };
                if !push(
                    &mut out,
                    capacity,
                    entry.ino,
                    next,
                    d_type(entry.kind),
                    entry.name,
                ) {
                    full = true;
                    return false;
                }
                position = next;
                true
            })?;
            if overflow && out.is_empty() {
                return Err(Errno::EOVERFLOW);
            }
        }
        if out.is_empty() && full {
            return Err(Errno::EINVAL);
        }
        if !out.is_empty() {
            call.memory.write(args[1], &out)?;
        }
        file.seek(SeekFrom::Start(position))?;
        Ok(out.len() as u64)
    })
}

/// Appends one record to `out` if it fits within `capacity` bytes; whether it did.
fn push(out: &mut Vec<u8>, capacity: usize, ino: u64, next: u64, kind: u32, name: &str) -> bool {
    let header = offset_of!(linux_dirent64, d_name);
    let length = (header + name.len() + 1).next_multiple_of(8);
    if out.len() + length > capacity {
        return false;
    }
    let mut record = StructWriter::new(length.max(size_of::<linux_dirent64>()));
    record.put_u64(offset_of!(linux_dirent64, d_ino), ino);
    record.put_i64(offset_of!(linux_dirent64, d_off), next as i64);
    record.put_u16(offset_of!(linux_dirent64, d_reclen), length as u16);
    record.put_u8(offset_of!(linux_dirent64, d_type), kind as u8);
    record.put(header, name.as_bytes());
    out.extend_from_slice(&record.bytes()[..length]);
    true
}

/// The `d_type` of an entry of `kind`.
pub fn d_type(kind: FileType) -> u32 {
    match kind {
        FileType::Regular => DT_REG,
        FileType::Directory => DT_DIR,
        FileType::Symlink => DT_LNK,
        FileType::CharDevice => DT_CHR,
        FileType::BlockDevice => DT_BLK,
        FileType::Fifo => DT_FIFO,
        FileType::Socket => DT_SOCK,
    }
}
