//! Resource limits and usage: `prlimit64`, `getrlimit`, `setrlimit`, `getrusage`, `times`,
//! `sysinfo`, `sched_getaffinity`.
//!
//! Limits are stored and reported but not enforced, except where the rest of the crate has
//! its own (descriptors: [`crate::file::MAX_FDS`]; the stack: [`crate::vm::STACK_MAX_BYTES`]).

use core::mem::{offset_of, size_of};

use linux_raw_sys::general::{self as linux, __kernel_old_timeval, rlimit64, rusage};
use linux_raw_sys::system::sysinfo;

use crate::errno::{Errno, SysResult};
use crate::host::Host;
use crate::process::Process;
use crate::user::{StructReader, StructWriter, UserMemory};

/// `RLIM_INFINITY`.
pub const INFINITY: u64 = u64::MAX;

/// One resource's soft and hard limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// The soft limit (`rlim_cur`).
    pub soft: u64,
    /// The hard limit (`rlim_max`).
    pub hard: u64,
}

/// A process's resource limits, by `RLIMIT_*` number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    limits: [Limit; linux::RLIM_NLIMITS as usize],
}

impl Default for Limits {
    /// Linux's usual defaults: an 8 MiB stack (soft), as many descriptors as the table holds
    /// ([`crate::file::MAX_FDS`], soft and hard), no core files (soft), everything else
    /// unlimited.
    fn default() -> Limits {
        let unlimited = Limit {
            soft: INFINITY,
            hard: INFINITY,
        };
        let mut limits = [unlimited; linux::RLIM_NLIMITS as usize];
        limits[linux::RLIMIT_STACK as usize].soft = crate::vm::STACK_MAX_BYTES;
        limits[linux::RLIMIT_NOFILE as usize] = Limit {
            soft: u64::from(crate::file::MAX_FDS),
            hard: u64::from(crate::file::MAX_FDS),
        };
        limits[linux::RLIMIT_CORE as usize].soft = 0;
        Limits { limits }
    }
}

impl Limits {
    /// The limits of `resource`.
    ///
    /// # Errors
    /// `EINVAL` for an unknown resource.
    pub fn get(&self, resource: u64) -> SysResult<Limit> {
        usize::try_from(resource)
            .ok()
            .and_then(|index| self.limits.get(index))
            .copied()
            .ok_or(Errno::EINVAL)
    }

    /// Sets the limits of `resource`.
    ///
    /// # Errors
    /// `EINVAL` for an unknown resource or a soft limit above the hard one; `EPERM` to raise
    /// the hard limit without being root.
    pub fn set(&mut self, resource: u64, new: Limit, is_root: bool) -> SysResult<()> {
        let old = self.get(resource)?;
        if new.soft > new.hard {
            return Err(Errno::EINVAL);
        }
        if new.hard > old.hard && !is_root {
            return Err(Errno::EPERM);
        }
        self.limits[resource as usize] = new;
        Ok(())
    }
}

fn read_limit(memory: &dyn UserMemory, addr: u64) -> SysResult<Limit> {
    let reader = StructReader::read_from(memory, addr, size_of::<rlimit64>())?;
    Ok(Limit {
        soft: reader.u64(offset_of!(rlimit64, rlim_cur)),
        hard: reader.u64(offset_of!(rlimit64, rlim_max)),
    })
}

fn write_limit(memory: &mut dyn UserMemory, addr: u64, limit: Limit) -> SysResult<()> {
    let mut writer = StructWriter::new(size_of::<rlimit64>());
    writer.put_u64(offset_of!(rlimit64, rlim_cur), limit.soft);
    writer.put_u64(offset_of!(rlimit64, rlim_max), limit.hard);
    writer.write_to(memory, addr)
}

/// `prlimit64(pid, resource, new, old)` (and `getrlimit`/`setrlimit`, whose `struct rlimit`
/// has the same layout on x86_64): `old` receives the limits before `new` is set; either may
/// be null.
///
/// # Errors
/// `ESRCH` for a `pid` other than 0 or the caller's (other processes' limits are not
/// reachable from here); as [`Limits::set`]; `EFAULT` for a bad pointer.
pub fn prlimit(
    process: &mut Process,
    memory: &mut dyn UserMemory,
    pid: u64,
    resource: u64,
    new: u64,
    old: u64,
) -> SysResult<u64> {
    if pid != 0 && pid != u64::from(process.pid) {
        return Err(Errno::ESRCH);
    }
    let current = process.limits.get(resource)?;
    let new = if new != 0 {
        Some(read_limit(memory, new)?)
    } else {
        None
    };
    if let Some(new) = new {
        let is_root = process.creds.is_root();
        process.limits.set(resource, new, is_root)?;
    }
    if old != 0 {
        write_limit(memory, old, current)?;
    }
    Ok(0)
}

/// The CPU time `pid` used, in clock ticks (100 a second), from the host's process table.
fn ticks_of(host: &dyn Host, pid: u32) -> u64 {
    host.processes()
        .iter()
        .find(|p| p.pid == pid)
        .map_or(0, |p| p.ticks)
}

/// `RUSAGE_THREAD` (Linux's number; not among `linux-raw-sys`'s `RUSAGE_` constants).
const RUSAGE_THREAD: i32 = 1;

/// `getrusage(who, usage)`: the CPU time as user time (the kernel does not split user and
/// system time), the mapped memory as `ru_maxrss`; children's usage is reported as zero.
///
/// # Errors
/// `EINVAL` for an unknown `who`; `EFAULT` for an unwritable `usage`.
pub fn getrusage(
    process: &Process,
    host: &dyn Host,
    memory: &mut dyn UserMemory,
    who: u64,
    usage: u64,
) -> SysResult<u64> {
    let who = who as u32 as i32;
    let mut writer = StructWriter::new(size_of::<rusage>());
    match who {
        w if w == linux::RUSAGE_SELF as i32 || w == RUSAGE_THREAD => {
            let ticks = ticks_of(host, process.pid);
            let utime = offset_of!(rusage, ru_utime);
            writer.put_i64(
                utime + offset_of!(__kernel_old_timeval, tv_sec),
                (ticks / 100) as i64,
            );
            writer.put_i64(
                utime + offset_of!(__kernel_old_timeval, tv_usec),
                ((ticks % 100) * 10_000) as i64,
            );
            writer.put_i64(
                offset_of!(rusage, ru_maxrss),
                (process.memory.mapped_bytes() / 1024) as i64,
            );
        }
        linux::RUSAGE_CHILDREN => {}
        _ => return Err(Errno::EINVAL),
    }
    writer.write_to(memory, usage)?;
    Ok(0)
}

/// Linux's `struct tms` (`linux/times.h`; not in `linux-raw-sys`).
#[repr(C)]
#[allow(dead_code)]
struct Tms {
    tms_utime: i64,
    tms_stime: i64,
    tms_cutime: i64,
    tms_cstime: i64,
}

/// `times(buf)`: the process's CPU time in clock ticks (as user time; children's as zero)
/// at `buf` if it is not null; returns the clock ticks since boot.
///
/// # Errors
/// `EFAULT` for an unwritable `buf`.
pub fn times(
    process: &Process,
    host: &dyn Host,
    memory: &mut dyn UserMemory,
    buf: u64,
) -> SysResult<u64> {
    if buf != 0 {
        let mut writer = StructWriter::new(size_of::<Tms>());
        writer.put_i64(
            offset_of!(Tms, tms_utime),
            ticks_of(host, process.pid) as i64,
        );
        writer.write_to(memory, buf)?;
    }
    let now = host.monotonic();
    Ok(now.secs as u64 * 100 + u64::from(now.nanos / 10_000_000))
}

/// `sysinfo(info)`: uptime, memory from the host (in bytes: `mem_unit` 1), the number of
/// processes; no swap, load averages zero.
///
/// # Errors
/// `EFAULT` for an unwritable `info`.
pub fn sysinfo(host: &dyn Host, memory: &mut dyn UserMemory, info: u64) -> SysResult<u64> {
    let figures = host.memory();
    let mut writer = StructWriter::new(size_of::<sysinfo>());
    writer.put_i64(offset_of!(sysinfo, uptime), host.monotonic().secs);
    writer.put_u64(offset_of!(sysinfo, totalram), figures.total_bytes);
    writer.put_u64(offset_of!(sysinfo, freeram), figures.free_bytes);
    let procs = u16::try_from(host.processes().len()).unwrap_or(u16::MAX);
    writer.put_u16(offset_of!(sysinfo, procs), procs);
    writer.put_u32(offset_of!(sysinfo, mem_unit), 1);
    writer.write_to(memory, info)?;
    Ok(0)
}

/// `sched_getaffinity(pid, len, mask)`: one CPU (CPU 0). Returns the bytes written (8).
///
/// # Errors
/// `EINVAL` if `len` is smaller than 8 or not a multiple of 8; `ESRCH` for an unknown
/// `pid`; `EFAULT` for an unwritable `mask`.
pub fn sched_getaffinity(
    process: &Process,
    host: &dyn Host,
    memory: &mut dyn UserMemory,
    pid: u64,
    len: u64,
    mask: u64,
) -> SysResult<u64> {
    if len < 8 || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    if pid != 0
        && pid != u64::from(process.pid)
        && !host.processes().iter().any(|p| u64::from(p.pid) == pid)
    {
        return Err(Errno::ESRCH);
    }
    crate::user::write_u64(memory, mask, 1)?;
    Ok(8)
}
