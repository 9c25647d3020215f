//! Clocks and sleeps: `clock_gettime`, `clock_getres`, `gettimeofday`, `time`, `nanosleep`,
//! `clock_nanosleep`.
//!
//! A sleep blocks the caller ([`Outcome::Block`]) until the clock passes its deadline. The
//! kernel re-runs a blocked call from the start, so the deadline computed the first time is
//! kept in [`Process::sleep`] with the call's arguments: a re-run of the same call finds it
//! and only compares the clock; a different call starts a new sleep. When a signal ends the
//! sleep early the kernel calls [`sleep_interrupted`], which writes the time left (`rem`)
//! and forgets the deadline.
//!
//! `poll` and `select` keep the deadline of a finite timeout in [`Process::sleep`] the same
//! way (see [`crate::poll`]); interrupted, they only return `EINTR`.

use core::mem::{offset_of, size_of};

use linux_raw_sys::general::{self as linux, __kernel_old_timeval, timespec, timezone};

use crate::dispatch::Outcome;
use crate::errno::{Errno, SysResult};
use crate::host::{Host, Timespec};
use crate::process::Process;
use crate::user::{StructReader, StructWriter, UserMemory};

const NANOS_PER_SECOND: u32 = 1_000_000_000;

/// A sleep in progress: its deadline on its clock, and the call it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sleep {
    /// When it ends.
    pub until: Timespec,
    /// The clock `until` is read on.
    pub clock: Clock,
    /// The call's number and arguments, to recognise its re-runs.
    pub call: [u64; 5],
}

/// The clocks a process can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Wall-clock time (`CLOCK_REALTIME`, `_COARSE`, `CLOCK_TAI`).
    Realtime,
    /// Time since boot (`CLOCK_MONOTONIC`, `_RAW`, `_COARSE`, `CLOCK_BOOTTIME`: nothing here
    /// suspends, so boot time and monotonic time are the same).
    Monotonic,
    /// CPU time of the process or thread (the same here: one thread per process).
    Cputime,
}

impl Clock {
    /// The clock `clockid` names.
    ///
    /// # Errors
    /// `EINVAL` for an unknown clock (and for the per-process clocks of other processes,
    /// which Linux encodes as negative ids).
    pub fn from_id(clockid: u64) -> SysResult<Clock> {
        match u32::try_from(clockid as i32).map_err(|_| Errno::EINVAL)? {
            linux::CLOCK_REALTIME | linux::CLOCK_REALTIME_COARSE | linux::CLOCK_TAI => {
                Ok(Clock::Realtime)
            }
            linux::CLOCK_MONOTONIC
            | linux::CLOCK_MONOTONIC_RAW
            | linux::CLOCK_MONOTONIC_COARSE
            | linux::CLOCK_BOOTTIME => Ok(Clock::Monotonic),
            linux::CLOCK_PROCESS_CPUTIME_ID | linux::CLOCK_THREAD_CPUTIME_ID => Ok(Clock::Cputime),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The clock's time now for `pid`.
    pub fn now(self, host: &dyn Host, pid: u32) -> Timespec {
        match self {
            Clock::Realtime => host.realtime(),
            Clock::Monotonic => host.monotonic(),
            Clock::Cputime => {
                let ticks = host
                    .processes()
                    .iter()
                    .find(|p| p.pid == pid)
                    .map_or(0, |p| p.ticks);
                Timespec {
                    secs: (ticks / 100) as i64,
                    nanos: ((ticks % 100) * 10_000_000) as u32,
                }
            }
        }
    }
}

/// `a + b`, saturating at the largest time.
pub(crate) fn add(a: Timespec, b: Timespec) -> Timespec {
    let mut secs = a.secs.saturating_add(b.secs);
    let mut nanos = a.nanos + b.nanos;
    if nanos >= NANOS_PER_SECOND {
        nanos -= NANOS_PER_SECOND;
        secs = secs.saturating_add(1);
    }
    Timespec { secs, nanos }
}

/// `a - b`, or zero if `b` is later.
pub(crate) fn sub(a: Timespec, b: Timespec) -> Timespec {
    if a <= b {
        return Timespec::default();
    }
    let (secs, nanos) = if a.nanos >= b.nanos {
        (a.secs - b.secs, a.nanos - b.nanos)
    } else {
        (a.secs - b.secs - 1, a.nanos + NANOS_PER_SECOND - b.nanos)
    };
    Timespec { secs, nanos }
}

/// Writes `time` as a `struct timespec`.
fn write_timespec(memory: &mut dyn UserMemory, addr: u64, time: Timespec) -> SysResult<()> {
    let mut writer = StructWriter::new(size_of::<timespec>());
    writer.put_i64(offset_of!(timespec, tv_sec), time.secs);
    writer.put_i64(offset_of!(timespec, tv_nsec), i64::from(time.nanos));
    writer.write_to(memory, addr)
}

/// Reads a `struct timespec` a sleep asks for.
///
/// # Errors
/// `EFAULT` if unreadable; `EINVAL` for a negative time or nanoseconds out of range.
fn read_timespec(memory: &dyn UserMemory, addr: u64) -> SysResult<Timespec> {
    let reader = StructReader::read_from(memory, addr, size_of::<timespec>())?;
    let secs = reader.i64(offset_of!(timespec, tv_sec));
    let nanos = reader.i64(offset_of!(timespec, tv_nsec));
    if secs < 0 || !(0..i64::from(NANOS_PER_SECOND)).contains(&nanos) {
        return Err(Errno::EINVAL);
    }
    Ok(Timespec {
        secs,
        nanos: nanos as u32,
    })
}

/// `clock_gettime(clockid, tp)`.
///
/// # Errors
/// `EINVAL` for an unknown clock; `EFAULT` for an unwritable `tp`.
pub fn clock_gettime(
    process: &Process,
    host: &dyn Host,
    memory: &mut dyn UserMemory,
    clockid: u64,
    tp: u64,
) -> SysResult<u64> {
    let now = Clock::from_id(clockid)?.now(host, process.pid);
    write_timespec(memory, tp, now)?;
    Ok(0)
}

/// `clock_getres(clockid, res)`: 1 ns for the fine clocks, 10 ms (a tick) for the coarse
/// ones; a null `res` only checks the clock.
///
/// # Errors
/// `EINVAL` for an unknown clock; `EFAULT` for an unwritable `res`.
pub fn clock_getres(memory: &mut dyn UserMemory, clockid: u64, res: u64) -> SysResult<u64> {
    Clock::from_id(clockid)?;
    let coarse = matches!(
        clockid as u32,
        linux::CLOCK_REALTIME_COARSE | linux::CLOCK_MONOTONIC_COARSE
    );
    let resolution = Timespec {
        secs: 0,
        nanos: if coarse { 10_000_000 } else { 1 },
    };
    if res != 0 {
        write_timespec(memory, res, resolution)?;
    }
    Ok(0)
}

/// `gettimeofday(tv, tz)`: either may be null; the time zone is always UTC.
///
/// # Errors
/// `EFAULT` for an unwritable pointer.
pub fn gettimeofday(
    host: &dyn Host,
    memory: &mut dyn UserMemory,
    tv: u64,
    tz: u64,
) -> SysResult<u64> {
    if tv != 0 {
        let now = host.realtime();
        let mut writer = StructWriter::new(size_of::<__kernel_old_timeval>());
        writer.put_i64(offset_of!(__kernel_old_timeval, tv_sec), now.secs);
        writer.put_i64(
            offset_of!(__kernel_old_timeval, tv_usec),
            i64::from(now.nanos / 1000),
        );
        writer.write_to(memory, tv)?;
    }
    if tz != 0 {
        StructWriter::new(size_of::<timezone>()).write_to(memory, tz)?;
    }
    Ok(0)
}

/// `time(tloc)`: the seconds since the epoch, also stored at `tloc` if it is not null.
///
/// # Errors
/// `EFAULT` for an unwritable `tloc`.
pub fn time(host: &dyn Host, memory: &mut dyn UserMemory, tloc: u64) -> SysResult<u64> {
    let secs = host.realtime().secs;
    if tloc != 0 {
        crate::user::write_u64(memory, tloc, secs as u64)?;
    }
    Ok(secs as u64)
}

/// `nanosleep(req, rem)` and `clock_nanosleep(clockid, flags, req, rem)`: blocks until the
/// time passed (or, with `TIMER_ABSTIME`, until the clock reads `req`), then returns 0.
/// `rem` is written only when a signal interrupts the sleep ([`sleep_interrupted`]).
///
/// # Errors
/// `EINVAL` for an unknown clock, a CPU-time clock (not supported for sleeping), unknown
/// flags, or a bad `req`; `EFAULT` for an unreadable `req`.
pub fn sleep(
    process: &mut Process,
    host: &dyn Host,
    memory: &dyn UserMemory,
    number: u64,
    args: [u64; 6],
) -> Outcome {
    let call = [number, args[0], args[1], args[2], args[3]];
    let existing = process.sleep.filter(|sleep| sleep.call == call);
    let sleep = match existing {
        Some(sleep) => sleep,
        None => match new_sleep(process, host, memory, number, args) {
            Ok(sleep) => sleep,
            Err(errno) => {
                process.sleep = None;
                return Outcome::of(Err(errno));
            }
        },
    };
    if sleep.clock.now(host, process.pid) >= sleep.until {
        process.sleep = None;
        Outcome::Return(0)
    } else {
        process.sleep = Some(sleep);
        Outcome::Block
    }
}

fn new_sleep(
    process: &Process,
    host: &dyn Host,
    memory: &dyn UserMemory,
    number: u64,
    args: [u64; 6],
) -> SysResult<Sleep> {
    let call = [number, args[0], args[1], args[2], args[3]];
    let (clock, absolute, req) = if number == u64::from(linux::__NR_nanosleep) {
        (Clock::Monotonic, false, args[0])
    } else {
        let clock = Clock::from_id(args[0])?;
        let flags = args[1];
        if flags & !u64::from(linux::TIMER_ABSTIME) != 0 || clock == Clock::Cputime {
            return Err(Errno::EINVAL);
        }
        (clock, flags != 0, args[2])
    };
    let request = read_timespec(memory, req)?;
    let until = if absolute {
        request
    } else {
        add(clock.now(host, process.pid), request)
    };
    Ok(Sleep { until, clock, call })
}

/// What a sleep a signal interrupted returns: writes the time left to its `rem` (for a
/// relative `nanosleep` or `clock_nanosleep` with a `rem` pointer; a `poll` or `select`
/// has none), forgets the deadline and gives `-EINTR` (`-EFAULT`
/// if `rem` cannot be written, as Linux answers). Returns `None` if the process was not
/// sleeping.
pub fn sleep_interrupted(
    process: &mut Process,
    host: &dyn Host,
    memory: &mut dyn UserMemory,
) -> Option<u64> {
    let sleep = process.sleep.take()?;
    let [number, _, arg1, _, arg3] = sleep.call;
    let rem = if number == u64::from(linux::__NR_nanosleep) {
        arg1
    } else if number == u64::from(linux::__NR_clock_nanosleep)
        && arg1 & u64::from(linux::TIMER_ABSTIME) == 0
    {
        arg3
    } else {
        0
    };
    if rem != 0 {
        let left = sub(sleep.until, sleep.clock.now(host, process.pid));
        if let Err(errno) = write_timespec(memory, rem, left) {
            return Some(errno.as_return());
        }
    }
    Some(Errno::EINTR.as_return())
}
