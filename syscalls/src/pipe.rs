//! Pipes: `pipe` and `pipe2`, and the two open file descriptions they make.
//!
//! A pipe is a bounded buffer of [`PIPE_CAPACITY`] bytes (Linux's default of 16 pages) with a
//! read end and a write end. Each end is one open file description: `dup` and `fork` share it,
//! so an end counts as closed when the last descriptor naming it goes and the description is
//! dropped. That is what makes end of file and `EPIPE` come at the right time:
//!
//! - reading an empty pipe is `EAGAIN` while a write end is open (the system-call layer blocks
//!   the caller, or returns `EAGAIN` to an `O_NONBLOCK` one), and 0 (end of file) once none is;
//! - writing is `EPIPE` once no read end is open (the kernel then sends `SIGPIPE`: the errno
//!   is the sign), `EAGAIN` when the buffer is full; a write of at most [`PIPE_BUF`] bytes is
//!   atomic (all or `EAGAIN`), a longer one writes what fits and returns the count.
//!
//! Not supported: `O_DIRECT` (packet mode) and `O_NOTIFICATION_PIPE` (`pipe2` answers
//! `EINVAL`), `F_SETPIPE_SZ`, named pipes (fifos in the filesystem). A pipe's `fstat` shows a
//! fifo (`S_IFIFO | 0600`) owned by root with zero times: this crate has no clock of its own.

use alloc::{collections::VecDeque, format, string::String, sync::Arc};
use core::any::Any;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use linux_raw_sys::general::{
    __NR_pipe, __NR_pipe2, O_APPEND, O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_WRONLY, POLLERR, POLLHUP,
    POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM,
};
use overlay_core::vfs::{FileType, Metadata, Timespec};
use spin::Mutex;

use crate::dispatch::{Call, Outcome};
use crate::errno::{Errno, SysResult};
use crate::file::{Descriptor, FdTable, OpenFile};
use crate::user::{self, UserMemory};

/// Bytes a pipe holds (Linux's default pipe size).
pub const PIPE_CAPACITY: usize = 65536;
/// Writes of at most this many bytes are atomic (POSIX `PIPE_BUF`, 4096 on Linux).
pub const PIPE_BUF: usize = 4096;
/// The device number pipes report (pipefs is an anonymous filesystem, major 0).
pub const PIPEFS_DEV: u64 = 0x0c;

/// Source of pipe inode numbers (what `pipe:[N]` shows).
static NEXT_PIPE_INO: AtomicU64 = AtomicU64::new(1);

/// The buffer and end counts one pipe's two ends share.
struct Pipe {
    ino: u64,
    state: Mutex<PipeState>,
}

struct PipeState {
    bytes: VecDeque<u8>,
    readers: usize,
    writers: usize,
}

/// One end of a pipe: an open file description. Dropping it closes the end.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    writes: bool,
    /// `O_NONBLOCK` and `O_APPEND` as `fcntl` set them (the access mode is implied by `writes`).
    flags: AtomicU32,
}

/// A new pipe: its read end and its write end, both blocking.
pub fn new_pipe() -> (Arc<dyn OpenFile>, Arc<dyn OpenFile>) {
    let (read_end, write_end) = new_pipe_ends();
    (read_end, write_end)
}

fn new_pipe_ends() -> (Arc<PipeEnd>, Arc<PipeEnd>) {
    let pipe = Arc::new(Pipe {
        ino: NEXT_PIPE_INO.fetch_add(1, Ordering::Relaxed),
        state: Mutex::new(PipeState {
            bytes: VecDeque::new(),
            readers: 1,
            writers: 1,
        }),
    });
    let end = |writes| {
        Arc::new(PipeEnd {
            pipe: pipe.clone(),
            writes,
            flags: AtomicU32::new(0),
        })
    };
    (end(false), end(true))
}

impl PipeEnd {
    /// The pipe's inode number, as `pipe:[N]` and `fstat` show it.
    pub fn ino(&self) -> u64 {
        self.pipe.ino
    }

    /// Whether this is the write end.
    pub fn is_write_end(&self) -> bool {
        self.writes
    }

    /// Bytes waiting to be read.
    pub fn available(&self) -> usize {
        self.pipe.state.lock().bytes.len()
    }

    /// Whether a read would return now rather than block (`poll`'s `POLLIN`, or `POLLHUP`
    /// when no write end is left): there are bytes, or end of file.
    pub fn readable(&self) -> bool {
        let state = self.pipe.state.lock();
        !state.bytes.is_empty() || state.writers == 0
    }

    /// Whether a write of up to [`PIPE_BUF`] bytes would return now rather than block
    /// (`poll`'s `POLLOUT`, or `POLLERR` when no read end is left).
    pub fn writable(&self) -> bool {
        let state = self.pipe.state.lock();
        PIPE_CAPACITY - state.bytes.len() >= PIPE_BUF || state.readers == 0
    }

    /// What `poll` reports for this end, in Linux's bits: the read end is `POLLIN |
    /// POLLRDNORM` with bytes waiting and `POLLHUP` without writers; the write end is
    /// `POLLOUT | POLLWRNORM` with room for [`PIPE_BUF`] bytes and `POLLERR` without readers.
    pub fn poll_events(&self) -> u32 {
        let state = self.pipe.state.lock();
        let mut events = 0;
        if self.writes {
            if PIPE_CAPACITY - state.bytes.len() >= PIPE_BUF {
                events |= POLLOUT | POLLWRNORM;
            }
            if state.readers == 0 {
                events |= POLLERR;
            }
        } else {
            if !state.bytes.is_empty() {
                events |= POLLIN | POLLRDNORM;
            }
            if state.writers == 0 {
                events |= POLLHUP;
            }
        }
        events
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut state = self.pipe.state.lock();
        if self.writes {
            state.writers -= 1;
        } else {
            state.readers -= 1;
        }
    }
}

impl OpenFile for PipeEnd {
    fn read(&self, buf: &mut [u8]) -> SysResult<usize> {
        if self.writes {
            return Err(Errno::EBADF);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let mut state = self.pipe.state.lock();
        if state.bytes.is_empty() {
            return if state.writers > 0 {
                Err(Errno::EAGAIN)
            } else {
                Ok(0)
            };
        }
        let count = buf.len().min(state.bytes.len());
        for (slot, byte) in buf.iter_mut().zip(state.bytes.drain(..count)) {
            *slot = byte;
        }
        Ok(count)
    }

    fn write(&self, buf: &[u8]) -> SysResult<usize> {
        if !self.writes {
            return Err(Errno::EBADF);
        }
        let mut state = self.pipe.state.lock();
        if state.readers == 0 {
            return Err(Errno::EPIPE);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let free = PIPE_CAPACITY - state.bytes.len();
        // POSIX: a write of at most PIPE_BUF bytes is never interleaved with others, so it
        // waits until all of it fits.
        if free == 0 || (buf.len() <= PIPE_BUF && free < buf.len()) {
            return Err(Errno::EAGAIN);
        }
        let count = buf.len().min(free);
        state.bytes.try_reserve(count).map_err(|_| Errno::ENOMEM)?;
        state.bytes.extend(&buf[..count]);
        Ok(count)
    }

    fn metadata(&self) -> SysResult<Metadata> {
        Ok(Metadata {
            ino: self.pipe.ino,
            dev: PIPEFS_DEV,
            kind: FileType::Fifo,
            mode: 0o600,
            nlink: 1,
            uid: 0,
            gid: 0,
            size: 0,
            rdev: Default::default(),
            atime: Timespec::default(),
            mtime: Timespec::default(),
            ctime: Timespec::default(),
        })
    }

    /// `FIONREAD`: the bytes waiting in the pipe (Linux answers it for pipes too).
    fn ioctl(&self, request: u32, arg: u64, memory: &mut dyn UserMemory) -> SysResult<u64> {
        if request == linux_raw_sys::ioctl::FIONREAD {
            let available = u32::try_from(self.available()).unwrap_or(u32::MAX);
            user::write_u32(memory, arg, available)?;
            return Ok(0);
        }
        Err(Errno::ENOTTY)
    }

    fn poll_events(&self) -> u32 {
        PipeEnd::poll_events(self)
    }

    fn status_flags(&self) -> u32 {
        let access = if self.writes { O_WRONLY } else { O_RDONLY };
        access | self.flags.load(Ordering::Relaxed)
    }

    fn set_status_flags(&self, flags: u32) {
        self.flags
            .store(flags & (O_NONBLOCK | O_APPEND), Ordering::Relaxed);
    }

    fn describe(&self) -> String {
        format!("pipe:[{}]", self.pipe.ino)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Serves `pipe` and `pipe2`; `None` for any other call.
pub fn dispatch(call: &mut Call<'_>, number: u64, args: [u64; 6]) -> Option<Outcome> {
    let flags = if number == u64::from(__NR_pipe) {
        0
    } else if number == u64::from(__NR_pipe2) {
        args[1]
    } else {
        return None;
    };
    let result = pipe2(&mut call.process.fds, call.memory, args[0], flags);
    Some(Outcome::of(result))
}

/// `pipe2(fds, flags)` (and `pipe(fds)`, which is `pipe2(fds, 0)`): makes a pipe, installs
/// its read end and write end at the two lowest free descriptors of `table` and writes their
/// numbers to the `int[2]` at `fds_addr` in `memory`.
///
/// # Errors
/// `EINVAL` for a flag other than `O_NONBLOCK` and `O_CLOEXEC`; `EMFILE` without two free
/// descriptors; `EFAULT` if `fds_addr` cannot be written (no descriptor stays installed then).
pub fn pipe2(
    table: &mut FdTable,
    memory: &mut dyn UserMemory,
    fds_addr: u64,
    flags: u64,
) -> SysResult<u64> {
    let known = u64::from(O_NONBLOCK | O_CLOEXEC);
    if flags & !known != 0 {
        return Err(Errno::EINVAL);
    }
    let close_on_exec = flags & u64::from(O_CLOEXEC) != 0;
    let (read_end, write_end) = new_pipe_ends();
    if flags & u64::from(O_NONBLOCK) != 0 {
        read_end.set_status_flags(O_NONBLOCK);
        write_end.set_status_flags(O_NONBLOCK);
    }
    let read_fd = table.insert(Descriptor {
        file: read_end,
        close_on_exec,
    })?;
    let write_fd = match table.insert(Descriptor {
        file: write_end,
        close_on_exec,
    }) {
        Ok(fd) => fd,
        Err(errno) => {
            let _ = table.remove(read_fd);
            return Err(errno);
        }
    };
    let mut pair = [0u8; 8];
    pair[..4].copy_from_slice(&read_fd.to_le_bytes());
    pair[4..].copy_from_slice(&write_fd.to_le_bytes());
    if let Err(errno) = memory.write(fds_addr, &pair) {
        let _ = table.remove(read_fd);
        let _ = table.remove(write_fd);
        return Err(errno);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_end_refuses_the_other_direction() {
        let (read_end, write_end) = new_pipe();
        assert_eq!(read_end.write(b"x"), Err(Errno::EBADF));
        assert_eq!(write_end.read(&mut [0; 1]), Err(Errno::EBADF));
        assert_eq!(read_end.status_flags(), O_RDONLY);
        assert_eq!(write_end.status_flags(), O_WRONLY);
    }
}
