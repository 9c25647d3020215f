//! `read`, `write`, `readv`, `writev`, `pread64`, `pwrite64`.
//!
//! Data moves through a kernel buffer of at most [`MAX_TRANSFER`] bytes per call: a longer
//! request is served in part, with a short count, as Linux serves one past its `MAX_RW_COUNT`.
//! Before a read takes anything from its file, the destination is checked (read and written
//! back unchanged), so a bad buffer is `EFAULT` without consuming a pipe's data or moving the
//! offset. A description that cannot go on now answers `EAGAIN`: the caller blocks
//! (see [`Outcome::blocking`]) unless it is non-blocking (`O_NONBLOCK`).

use alloc::{vec, vec::Vec};

use linux_raw_sys::general::{iovec, O_NONBLOCK, UIO_MAXIOV};
use overlay_core::vfs::FileType;

use super::{fd_arg, MAX_TRANSFER};
use crate::dispatch::{Call, Outcome};
use crate::errno::{Errno, SysResult};
use crate::file::{OpenFile, Whence};
use crate::user::{self, StructReader};

/// Most bytes `sendfile` reads at once from an input whose size does not bound it (a pipe,
/// a generated file): a pipe's capacity.
const CHUNK: usize = 64 << 10;

/// One user buffer: address and length.
#[derive(Clone, Copy, Debug)]
struct Span {
    addr: u64,
    len: usize,
}

/// `read(fd, buf, count)`.
///
/// Errors: `EBADF` (not open, or not for reading); `EFAULT` (bad `buf`); `EISDIR` (a
/// directory); `EAGAIN` only with `O_NONBLOCK` (else the caller blocks); what the file
/// returns.
pub(super) fn read(call: &mut Call<'_>, args: [u64; 6]) -> Outcome {
    transfer(call, args[0], |call, file| {
        read_spans(call, file, &[span(args[1], args[2])])
    })
}

/// `write(fd, buf, count)`.
///
/// Errors: `EBADF` (not open, or not for writing); `EFAULT` (bad `buf`, before anything is
/// written); `EPIPE` (a pipe without readers); `ENOSPC`, `EFBIG`; `EAGAIN` as for `read`.
pub(super) fn write(call: &mut Call<'_>, args: [u64; 6]) -> Outcome {
    transfer(call, args[0], |call, file| {
        write_spans(call, file, &[span(args[1], args[2])])
    })
}

/// `readv(fd, iov, iovcnt)`: the buffers filled in turn, until a read comes back short.
///
/// Errors: as `read`; `EINVAL` for more than `UIO_MAXIOV` buffers or a total length past
/// `isize::MAX`; `EFAULT` for a bad `iov`. An error after some bytes were read returns the
/// count instead.
pub(super) fn readv(call: &mut Call<'_>, args: [u64; 6]) -> Outcome {
    transfer(call, args[0], |call, file| {
        let spans = read_iovecs(call, args[1], args[2])?;
        read_spans(call, file, &spans)
    })
}

/// `writev(fd, iov, iovcnt)`: the buffers written in turn.
///
/// Errors: as `write` and `readv`.
pub(super) fn writev(call: &mut Call<'_>, args: [u64; 6]) -> Outcome {
    transfer(call, args[0], |call, file| {
        let spans = read_iovecs(call, args[1], args[2])?;
        write_spans(call, file, &spans)
    })
}

/// `pread64(fd, buf, count, offset)`: reads at `offset`, the description's offset unmoved.
///
/// # Errors
/// `EINVAL` for a negative offset; `ESPIPE` on a pipe or terminal; as `read`.
pub(super) fn pread64(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let file = call.process.fds.file(fd_arg(args[0])?)?;
    let offset = offset_arg(args[3])?;
    let span = span(args[1], args[2]);
    let mut buf = destination(call, span)?;
    let count = file.pread(offset, &mut buf)?;
    copy_out(call, span.addr, &buf[..count])?;
    Ok(count as u64)
}

/// `pwrite64(fd, buf, count, offset)`: writes at `offset` (at the end with `O_APPEND`, as
/// Linux does), the description's offset unmoved.
///
/// # Errors
/// `EINVAL` for a negative offset; `ESPIPE` on a pipe or terminal; as `write`.
pub(super) fn pwrite64(call: &mut Call<'_>, args: [u64; 6]) -> SysResult<u64> {
    let file = call.process.fds.file(fd_arg(args[0])?)?;
    let offset = offset_arg(args[3])?;
    let span = span(args[1], args[2]);
    let buf = copy_in(call, span.addr, span.len)?;
    Ok(file.pwrite(offset, &buf)? as u64)
}

/// Runs `body` on the description `fd` names and makes its `EAGAIN` block the caller unless
/// the description is non-blocking.
fn transfer(
    call: &mut Call<'_>,
    fd: u64,
    body: impl FnOnce(&mut Call<'_>, &dyn OpenFile) -> SysResult<u64>,
) -> Outcome {
    let file = match fd_arg(fd).and_then(|fd| call.process.fds.file(fd)) {
        Ok(file) => file,
        Err(errno) => return Outcome::of(Err(errno)),
    };
    let nonblocking = file.status_flags() & O_NONBLOCK != 0;
    Outcome::blocking(body(call, &*file), nonblocking)
}

/// A user buffer of `len` bytes, at most [`MAX_TRANSFER`].
fn span(addr: u64, len: u64) -> Span {
    Span {
        addr,
        len: usize::try_from(len).unwrap_or(usize::MAX).min(MAX_TRANSFER),
    }
}

/// A positioned call's offset: `EINVAL` if negative as Linux's `loff_t`.
fn offset_arg(arg: u64) -> SysResult<u64> {
    if (arg as i64) < 0 {
        Err(Errno::EINVAL)
    } else {
        Ok(arg)
    }
}

/// A kernel buffer for reading into the user buffer `span`, after checking the user buffer
/// can take it (its bytes read and written back as they were).
fn destination(call: &mut Call<'_>, span: Span) -> SysResult<Vec<u8>> {
    let mut buf = Vec::new();
    if span.len == 0 {
        return Ok(buf);
    }
    buf.try_reserve_exact(span.len).map_err(|_| Errno::ENOMEM)?;
    buf.resize(span.len, 0);
    call.memory.read(span.addr, &mut buf)?;
    call.memory.write(span.addr, &buf)?;
    Ok(buf)
}

/// The `len` bytes at `addr` (none, whatever `addr` is, for 0).
fn copy_in(call: &Call<'_>, addr: u64, len: usize) -> SysResult<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    user::read_bytes(&*call.memory, addr, len)
}

/// Copies `bytes` to `addr` (nothing, whatever `addr` is, for none).
fn copy_out(call: &mut Call<'_>, addr: u64, bytes: &[u8]) -> SysResult<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    call.memory.write(addr, bytes)
}

/// Reads into `spans` in turn; stops at a short read. An error after some bytes returns
/// their count.
fn read_spans(call: &mut Call<'_>, file: &dyn OpenFile, spans: &[Span]) -> SysResult<u64> {
    let mut total = 0usize;
    for &span in spans {
        let span = Span {
            len: span.len.min(MAX_TRANSFER - total),
            ..span
        };
        if span.len == 0 {
            continue;
        }
        let step = destination(call, span).and_then(|mut buf| {
            let count = file.read(&mut buf)?;
            copy_out(call, span.addr, &buf[..count])?;
            Ok(count)
        });
        match step {
            Ok(count) => {
                total += count;
                if count < span.len {
                    break;
                }
            }
            Err(errno) if total == 0 => return Err(errno),
            Err(_) => break,
        }
    }
    Ok(total as u64)
}

/// Writes `spans` in turn; stops at a short write. An error after some bytes returns their
/// count.
fn write_spans(call: &mut Call<'_>, file: &dyn OpenFile, spans: &[Span]) -> SysResult<u64> {
    let mut total = 0usize;
    for &span in spans {
        let len = span.len.min(MAX_TRANSFER - total);
        if len == 0 && total > 0 {
            continue;
        }
        let step = copy_in(call, span.addr, len).and_then(|buf| file.write(&buf));
        match step {
            Ok(count) => {
                total += count;
                if count < len {
                    break;
                }
            }
            Err(errno) if total == 0 => return Err(errno),
            Err(_) => break,
        }
    }
    Ok(total as u64)
}

/// Copies in the `iovec` array at `addr` of `count` entries.
///
/// # Errors
/// `EINVAL` for more than `UIO_MAXIOV` entries or a total past `isize::MAX`; `EFAULT` for a
/// bad array.
fn read_iovecs(call: &Call<'_>, addr: u64, count: u64) -> SysResult<Vec<Span>> {
    if count > u64::from(UIO_MAXIOV) {
        return Err(Errno::EINVAL);
    }
    let size = core::mem::size_of::<iovec>();
    let bytes = user::read_bytes(&*call.memory, addr, size * count as usize)?;
    let mut spans = vec![];
    let mut total = 0u64;
    for entry in bytes.chunks_exact(size) {
        let entry = StructReader::from_bytes(entry.to_vec());
        let base = entry.u64(core::mem::offset_of!(iovec, iov_base));
        let len = entry.u64(core::mem::offset_of!(iovec, iov_len));
        total = total.checked_add(len).ok_or(Errno::EINVAL)?;
        if total > isize::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        spans.push(span(base, len));
    }
    Ok(spans)
}

/// `sendfile(out_fd, in_fd, offset, count)`: copies up to `count` bytes (at most
/// `MAX_TRANSFER`) from `in_fd` to `out_fd` through a kernel buffer. With a null `offset`
/// the input is read at its own offset, which moves past what was written; otherwise at
/// `*offset`, which is updated, the input's offset unmoved.
///
/// Errors: `EBADF` (either not open, or not for reading/writing); `EINVAL` for a negative
/// `*offset`; `ESPIPE` for an `offset` on an input without one; `EFAULT` for a bad
/// `offset`; `EAGAIN` as for `write` (blocking on the output unless it is non-blocking).
pub(super) fn sendfile(call: &mut Call<'_>, args: [u64; 6]) -> Outcome {
    let files = fd_arg(args[0])
        .and_then(|out| call.process.fds.file(out))
        .and_then(|out| Ok((out, call.process.fds.file(fd_arg(args[1])?)?)));
    let (out, input) = match files {
        Ok(files) => files,
        Err(errno) => return Outcome::of(Err(errno)),
    };
    let nonblocking = out.status_flags() & O_NONBLOCK != 0;
    let len = usize::try_from(args[3])
        .unwrap_or(usize::MAX)
        .min(MAX_TRANSFER);
    let result = (|| {
        if args[2] != 0 {
            let offset = offset_arg(user::read_u64(&*call.memory, args[2])?)?;
            let mut buf = input_buffer(&*input, offset, len)?;
            let count = input.pread(offset, &mut buf)?;
            let written = out.write(&buf[..count])?;
            user::write_u64(call.memory, args[2], offset + written as u64)?;
            return Ok(written as u64);
        }
        match input.seek(0, Whence::Current) {
            Ok(at) => {
                let mut buf = input_buffer(&*input, at, len)?;
                let count = input.pread(at, &mut buf)?;
                let written = out.write(&buf[..count])?;
                input.seek((at + written as u64) as i64, Whence::Set)?;
                Ok(written as u64)
            }
            Err(Errno::ESPIPE) => {
                let mut buf = input_buffer(&*input, 0, len)?;
                let count = input.read(&mut buf)?;
                Ok(out.write(&buf[..count])? as u64)
            }
            Err(errno) => Err(errno),
        }
    })();
    Outcome::blocking(result, nonblocking)
}

/// A kernel buffer for reading up to `len` bytes of `input` at `from`. Callers ask for far
/// more than a file holds (BusyBox's `cp` asks `sendfile` for 16 MiB), so a regular file's
/// buffer is cut to what is left of it; a file whose size says nothing is left may still
/// have data (a generated file of `/proc` has size 0), and anything else has no size: they
/// get [`CHUNK`] bytes at most.
fn input_buffer(input: &dyn OpenFile, from: u64, len: usize) -> SysResult<Vec<u8>> {
    let metadata = input.metadata()?;
    let left = metadata.size.saturating_sub(from);
    let len = if metadata.kind == FileType::Regular && left > 0 {
        len.min(usize::try_from(left).unwrap_or(usize::MAX))
    } else {
        len.min(CHUNK)
    };
    let mut buf = Vec::new();
    buf.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
    buf.resize(len, 0);
    Ok(buf)
}
