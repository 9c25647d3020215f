//! Waiting for descriptors: `poll`, `ppoll`, `select`, `pselect6`.
//!
//! Each call asks every description it names what it could do now
//! ([`crate::file::OpenFile::poll_events`]). If something is ready, or the timeout is zero,
//! it returns at once. Otherwise it blocks the caller ([`Outcome::Block`]); the kernel runs
//! the call again from the start when something changed or the clock ticked, so it looks
//! again. A finite timeout's deadline is computed the first time and kept in
//! [`Process::sleep`] with the call's number and first four arguments, as `nanosleep` keeps
//! its own ([`crate::misc::time`]): a re-run of the same call finds it and returns 0 once
//! the monotonic clock has passed it; a call with other arguments starts a new deadline,
//! and every return forgets it.
//!
//! As on Linux:
//! - `poll` and `ppoll` take an array of `struct pollfd`, copied in whole (`EFAULT`) and
//!   written back with each `revents`, also when nothing was ready. A negative `fd` is
//!   skipped (`revents` 0); a descriptor that is not open gets `POLLNVAL`; `POLLERR` and
//!   `POLLHUP` are reported whether asked for or not. The result is the number of entries
//!   with a non-zero `revents`. More entries than `RLIMIT_NOFILE` is `EINVAL`.
//! - `select` and `pselect6` take three `fd_set` bitmaps of `nfds` bits (as many bytes as
//!   whole `long`s hold them), each optional. `nfds` is capped at [`MAX_FDS`]; a negative one
//!   is `EINVAL`; a bit for a descriptor that is not open is `EBADF`. A descriptor is
//!   readable with `POLLIN`, `POLLHUP` or `POLLERR`, writable with `POLLOUT` or `POLLERR`,
//!   exceptional with `POLLPRI`. The sets are overwritten with what is ready; the result is
//!   the number of bits set in all three.
//! - Timeouts: `poll` takes milliseconds (negative: no limit); `ppoll` and `pselect6` a
//!   `struct timespec`, `select` a `struct timeval` (a null pointer: no limit). A negative
//!   time or nanoseconds out of range is `EINVAL`. `ppoll`, `select` and `pselect6` write the
//!   time left back to a non-zero timeout when they return (a failure to write it is
//!   ignored, as Linux does).
//! - A handled signal ends the wait with `EINTR` (never restarted: see
//!   [`crate::signal::restartable`]).
//!
//! Not supported: the signal mask of `ppoll` and `pselect6` is read and checked (`EFAULT`,
//! `EINVAL` for a size other than 8) but not applied: the call waits under the process's
//! own mask. Linux's `STICKY_TIMEOUTS` personality, and `select`'s cap of `nfds` at the
//! descriptor table's current size (here every bit up to [`MAX_FDS`] is checked).

use alloc::vec::Vec;
use core::mem::{offset_of, size_of};

use linux_raw_sys::general::{
    self as linux, __kernel_old_timeval, pollfd, timespec, POLLERR, POLLHUP, POLLIN, POLLNVAL,
    POLLOUT, POLLPRI, POLLRDBAND, POLLRDNORM, POLLWRBAND, POLLWRNORM,
};

use crate::dispatch::{Call, Outcome};
use crate::errno::{Errno, SysResult};
use crate::file::{FdTable, MAX_FDS};
use crate::host::{Host, Timespec};
use crate::misc::time::{add, sub};
use crate::misc::{Clock, Sleep};
use crate::process::Process;
use crate::user::{self, StructReader, StructWriter, UserMemory};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Events that make a descriptor readable for `select` (Linux's `POLLIN_SET`).
const SELECT_READ: u32 = POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR;
/// Events that make a descriptor writable for `select` (Linux's `POLLOUT_SET`).
const SELECT_WRITE: u32 = POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR;
/// Events that make a descriptor exceptional for `select` (Linux's `POLLEX_SET`).
const SELECT_EXCEPT: u32 = POLLPRI;

/// Bytes of one `long` of an `fd_set` (8 on x86_64): sets are read and written in whole longs.
const LONG_BYTES: usize = size_of::<u64>();

/// Serves `poll`, `ppoll`, `select` and `pselect6`; `None` for any other call.
pub fn dispatch(call: &mut Call<'_>, number: u64, args: [u64; 6]) -> Option<Outcome> {
    let outcome = match u32::try_from(number).ok()? {
        linux::__NR_poll => poll(call, number, args),
        linux::__NR_ppoll => ppoll(call, number, args),
        linux::__NR_select => select(call, number, args, TimeFormat::Timeval, (0, 0)),
        linux::__NR_pselect6 => pselect6(call, number, args),
        _ => return None,
    };
    if outcome != Outcome::Block {
        call.process.sleep = None;
    }
    Some(outcome)
}

/// How long a call may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timeout {
    /// Not at all (a zero timeout).
    Now,
    /// Until something is ready.
    Never,
    /// At most this long.
    For(Timespec),
}

/// The layout of a call's timeout argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimeFormat {
    /// `struct timeval` (`select`).
    Timeval,
    /// `struct timespec` (`ppoll`, `pselect6`).
    Timespec,
}

/// A call's time limit, with the deadline kept across its re-runs.
struct Wait {
    timeout: Timeout,
    /// The deadline of a finite timeout, on the monotonic clock.
    until: Timespec,
    now: Timespec,
    /// The call's number and first four arguments, which recognise its re-runs.
    key: [u64; 5],
}

impl Wait {
    /// The wait of call `number` with `args`: a re-run finds the deadline its first run set.
    fn start(
        process: &Process,
        host: &dyn Host,
        number: u64,
        args: [u64; 6],
        timeout: Timeout,
    ) -> Wait {
        let key = [number, args[0], args[1], args[2], args[3]];
        let now = Clock::Monotonic.now(host, process.pid);
        let until = match timeout {
            Timeout::For(length) => process
                .sleep
                .filter(|sleep| sleep.call == key && sleep.clock == Clock::Monotonic)
                .map_or_else(|| add(now, length), |sleep| sleep.until),
            Timeout::Now | Timeout::Never => now,
        };
        Wait {
            timeout,
            until,
            now,
            key,
        }
    }

    /// Whether a call that found `ready` descriptors ready waits: blocks the caller and
    /// keeps the deadline if so.
    fn blocks(&self, process: &mut Process, ready: u64) -> bool {
        if ready > 0 {
            return false;
        }
        match self.timeout {
            Timeout::Now => false,
            Timeout::Never => {
                process.sleep = None;
                true
            }
            Timeout::For(_) if self.now >= self.until => false,
            Timeout::For(_) => {
                process.sleep = Some(Sleep {
                    until: self.until,
                    clock: Clock::Monotonic,
                    call: self.key,
                });
                true
            }
        }
    }

    /// Writes the time left to the timeout at `addr` (a finite, non-zero one); a failure
    /// is ignored, as Linux ignores it.
    fn write_left(&self, memory: &mut dyn UserMemory, addr: u64, format: TimeFormat) {
        if let Timeout::For(_) = self.timeout {
            let left = sub(self.until, self.now);
            let _ = write_time(memory, addr, format, left);
        }
    }
}

/// The timeout of `poll`: milliseconds, negative for none.
fn poll_timeout(millis: u64) -> Timeout {
    let millis = millis as i32;
    match millis {
        0 => Timeout::Now,
        m if m < 0 => Timeout::Never,
        m => Timeout::For(Timespec {
            secs: i64::from(m / 1000),
            nanos: (m % 1000) as u32 * 1_000_000,
        }),
    }
}

/// Reads the timeout at `addr` (null: none) in `format`.
///
/// # Errors
/// `EFAULT` if unreadable; `EINVAL` for a negative time or nanoseconds out of range (for a
/// `timeval`, microseconds are first carried into seconds, as Linux does).
fn read_timeout(memory: &dyn UserMemory, addr: u64, format: TimeFormat) -> SysResult<Timeout> {
    if addr == 0 {
        return Ok(Timeout::Never);
    }
    let (secs, nanos) = match format {
        TimeFormat::Timespec => {
            let reader = StructReader::read_from(memory, addr, size_of::<timespec>())?;
            (
                reader.i64(offset_of!(timespec, tv_sec)),
                reader.i64(offset_of!(timespec, tv_nsec)),
            )
        }
        TimeFormat::Timeval => {
            let reader = StructReader::read_from(memory, addr, size_of::<__kernel_old_timeval>())?;
            let secs = reader.i64(offset_of!(__kernel_old_timeval, tv_sec));
            let micros = reader.i64(offset_of!(__kernel_old_timeval, tv_usec));
            (
                secs.saturating_add(micros / 1_000_000),
                (micros % 1_000_000) * 1000,
            )
        }
    };
    if secs < 0 || !(0..NANOS_PER_SECOND).contains(&nanos) {
        return Err(Errno::EINVAL);
    }
    if secs == 0 && nanos == 0 {
        return Ok(Timeout::Now);
    }
    Ok(Timeout::For(Timespec {
        secs,
        nanos: nanos as u32,
    }))
}

/// Writes `time` at `addr` in `format`.
fn write_time(
    memory: &mut dyn UserMemory,
    addr: u64,
    format: TimeFormat,
    time: Timespec,
) -> SysResult<()> {
    match format {
        TimeFormat::Timespec => {
            let mut writer = StructWriter::new(size_of::<timespec>());
            writer.put_i64(offset_of!(timespec, tv_sec), time.secs);
            writer.put_i64(offset_of!(timespec, tv_nsec), i64::from(time.nanos));
            writer.write_to(memory, addr)
        }
        TimeFormat::Timeval => {
            let mut writer = StructWriter::new(size_of::<__kernel_old_timeval>());
            writer.put_i64(offset_of!(__kernel_old_timeval, tv_sec), time.secs);
            writer.put_i64(
                offset_of!(__kernel_old_timeval, tv_usec),
                i64::from(time.nanos / 1000),
            );
            writer.write_to(memory, addr)
        }
    }
}

/// Reads and checks the signal mask of `ppoll` or `pselect6` (null: none). The mask is not
/// applied (see the module docs).
///
/// # Errors
/// `EINVAL` for a size other than a `sigset_t`'s; `EFAULT` if unreadable.
fn check_sigmask(memory: &dyn UserMemory, addr: u64, size: u64) -> SysResult<()> {
    if addr == 0 {
        return Ok(());
    }
    if size != crate::signal::SIGSET_BYTES {
        return Err(Errno::EINVAL);
    }
    user::read_u64(memory, addr)?;
    Ok(())
}

/// `poll(fds, nfds, timeout)`.
fn poll(call: &mut Call<'_>, number: u64, args: [u64; 6]) -> Outcome {
    let wait = Wait::start(call.process, call.host, number, args, poll_timeout(args[2]));
    poll_fds(call, &wait, args[0], args[1])
}

/// `ppoll(fds, nfds, timeout, sigmask, sigsetsize)`.
fn ppoll(call: &mut Call<'_>, number: u64, args: [u64; 6]) -> Outcome {
    let timeout = match read_timeout(call.memory, args[2], TimeFormat::Timespec) {
        Ok(timeout) => timeout,
        Err(errno) => return Outcome::of(Err(errno)),
    };
    if let Err(errno) = check_sigmask(call.memory, args[3], args[4]) {
        return Outcome::of(Err(errno));
    }
    let wait = Wait::start(call.process, call.host, number, args, timeout);
    let outcome = poll_fds(call, &wait, args[0], args[1]);
    if outcome != Outcome::Block {
        wait.write_left(call.memory, args[2], TimeFormat::Timespec);
    }
    outcome
}

/// The `struct pollfd` array at `addr` with `count` entries: sets each `revents`, blocks
/// or returns the number of entries with events.
///
/// # Errors
/// `EINVAL` for more entries than `RLIMIT_NOFILE`; `EFAULT` if the array cannot be read or
/// written; `ENOMEM` if it cannot be copied in.
fn poll_fds(call: &mut Call<'_>, wait: &Wait, addr: u64, count: u64) -> Outcome {
    let count = count as u32;
    let limit = call
        .process
        .limits
        .get(u64::from(linux::RLIMIT_NOFILE))
        .map_or(u64::from(MAX_FDS), |limit| limit.soft);
    if u64::from(count) > limit {
        return Outcome::of(Err(Errno::EINVAL));
    }
    let bytes = (count as usize).saturating_mul(size_of::<pollfd>());
    let mut entries = match user::read_bytes(call.memory, addr, bytes) {
        Ok(entries) => entries,
        Err(errno) => return Outcome::of(Err(errno)),
    };
    let ready = poll_entries(&call.process.fds, &mut entries);
    if wait.blocks(call.process, ready) {
        return Outcome::Block;
    }
    Outcome::of(call.memory.write(addr, &entries).map(|()| ready))
}

/// Sets the `revents` of each `struct pollfd` in `entries`; returns how many are non-zero.
fn poll_entries(fds: &FdTable, entries: &mut [u8]) -> u64 {
    let mut ready = 0;
    for entry in entries.chunks_exact_mut(size_of::<pollfd>()) {
        let fd_at = offset_of!(pollfd, fd);
        let events_at = offset_of!(pollfd, events);
        let revents_at = offset_of!(pollfd, revents);
        let fd = i32::from_le_bytes([
            entry[fd_at],
            entry[fd_at + 1],
            entry[fd_at + 2],
            entry[fd_at + 3],
        ]);
        let events = u16::from_le_bytes([entry[events_at], entry[events_at + 1]]);
        let revents = revents(fds, fd, u32::from(events));
        entry[revents_at..revents_at + 2].copy_from_slice(&revents.to_le_bytes());
        if revents != 0 {
            ready += 1;
        }
    }
    ready
}

/// What `poll` reports for descriptor `fd` asked for `events`.
fn revents(fds: &FdTable, fd: i32, events: u32) -> u16 {
    let Ok(fd) = u32::try_from(fd) else {
        return 0;
    };
    match fds.file(fd) {
        Ok(file) => (file.poll_events() & (events | POLLERR | POLLHUP)) as u16,
        Err(_) => POLLNVAL as u16,
    }
}

/// `pselect6(nfds, readfds, writefds, exceptfds, timeout, sigmask)`: `select` with a
/// `struct timespec` and a pointer to a `{ sigset_t *, size_t }` pair.
fn pselect6(call: &mut Call<'_>, number: u64, args: [u64; 6]) -> Outcome {
    let mut mask = (0, 0);
    if args[5] != 0 {
        // Linux's `struct sigset_argpack { sigset_t *p; size_t size; }`, which
        // `linux-raw-sys` does not define: two 8-byte fields.
        let pair = match StructReader::read_from(call.memory, args[5], 2 * size_of::<u64>()) {
            Ok(pair) => pair,
            Err(errno) => return Outcome::of(Err(errno)),
        };
        mask = (pair.u64(0), pair.u64(size_of::<u64>()));
    }
    select(call, number, args, TimeFormat::Timespec, mask)
}

/// `select(nfds, readfds, writefds, exceptfds, timeout)` (and the rest of `pselect6`, whose
/// timeout is in `format` and whose signal mask and its size are `mask`; `(0, 0)` for none).
fn select(
    call: &mut Call<'_>,
    number: u64,
    args: [u64; 6],
    format: TimeFormat,
    mask: (u64, u64),
) -> Outcome {
    let timeout = match read_timeout(call.memory, args[4], format) {
        Ok(timeout) => timeout,
        Err(errno) => return Outcome::of(Err(errno)),
    };
    if let Err(errno) = check_sigmask(call.memory, mask.0, mask.1) {
        return Outcome::of(Err(errno));
    }
    let wait = Wait::start(call.process, call.host, number, args, timeout);
    let outcome = select_sets(call, &wait, args);
    if outcome != Outcome::Block {
        wait.write_left(call.memory, args[4], format);
    }
    outcome
}

/// The three sets of `select`: blocks, or overwrites them with what is ready and returns
/// the number of bits set.
///
/// # Errors
/// `EINVAL` for a negative `nfds`; `EFAULT` if a set cannot be read or written; `EBADF` if
/// a set names a descriptor that is not open.
fn select_sets(call: &mut Call<'_>, wait: &Wait, args: [u64; 6]) -> Outcome {
    let Ok(nfds) = u32::try_from(args[0] as i32) else {
        return Outcome::of(Err(Errno::EINVAL));
    };
    let nfds = nfds.min(MAX_FDS);
    let addrs = [args[1], args[2], args[3]];
    let bytes = (nfds as usize).div_ceil(64) * LONG_BYTES;
    let mut sets: [Vec<u8>; 3] = Default::default();
    for (set, &addr) in sets.iter_mut().zip(&addrs) {
        *set = if addr == 0 {
            alloc::vec![0; bytes]
        } else {
            match user::read_bytes(call.memory, addr, bytes) {
                Ok(bytes) => bytes,
                Err(errno) => return Outcome::of(Err(errno)),
            }
        };
    }
    let ready = match select_ready(&call.process.fds, nfds, &mut sets) {
        Ok(ready) => ready,
        Err(errno) => return Outcome::of(Err(errno)),
    };
    if wait.blocks(call.process, ready) {
        return Outcome::Block;
    }
    for (set, &addr) in sets.iter().zip(&addrs) {
        if addr != 0 {
            if let Err(errno) = call.memory.write(addr, set) {
                return Outcome::of(Err(errno));
            }
        }
    }
    Outcome::Return(ready)
}

/// Replaces the read, write and exception `sets` (`nfds` bits each) with the descriptors
/// that are ready; returns the number of bits set.
///
/// # Errors
/// `EBADF` if a set names a descriptor that is not open (the sets are unchanged then).
fn select_ready(fds: &FdTable, nfds: u32, sets: &mut [Vec<u8>; 3]) -> SysResult<u64> {
    const WANTED: [u32; 3] = [SELECT_READ, SELECT_WRITE, SELECT_EXCEPT];
    let bit = |set: &[u8], fd: u32| set[(fd / 8) as usize] & (1 << (fd % 8)) != 0;
    let mut asked = Vec::new();
    for fd in 0..nfds {
        let wants = [0, 1, 2].map(|which| bit(&sets[which], fd));
        if wants.iter().any(|&wanted| wanted) {
            let events = fds.file(fd)?.poll_events();
            asked.push((fd, wants, events));
        }
    }
    let mut ready = 0;
    for set in sets.iter_mut() {
        set.fill(0);
    }
    for (fd, wants, events) in asked {
        for which in 0..3 {
            if wants[which] && events & WANTED[which] != 0 {
                sets[which][(fd / 8) as usize] |= 1 << (fd % 8);
                ready += 1;
            }
        }
    }
    Ok(ready)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_timeouts_in_milliseconds() {
        assert_eq!(poll_timeout(0), Timeout::Now);
        assert_eq!(poll_timeout(u64::MAX), Timeout::Never);
        assert_eq!(poll_timeout(0xffff_ffff), Timeout::Never, "-1 as an int");
        assert_eq!(
            poll_timeout(1500),
            Timeout::For(Timespec {
                secs: 1,
                nanos: 500_000_000
            })
        );
    }

    #[test]
    fn select_names_the_descriptor_that_is_not_open() {
        let mut sets = [
            alloc::vec![0b100u8; 8],
            alloc::vec![0; 8],
            alloc::vec![0; 8],
        ];
        assert_eq!(
            select_ready(&FdTable::new(), 3, &mut sets),
            Err(Errno::EBADF)
        );
        assert_eq!(sets[0][0], 0b100, "unchanged");
        assert_eq!(select_ready(&FdTable::new(), 2, &mut sets), Ok(0));
    }
}
