//! Who a process is and what time it is: process, group and session ids ([`ids`] for the
//! user and group ids), `uname`, clocks and sleeps ([`time`]), limits and usage
//! ([`limits`]), `getrandom`, `set_tid_address`.
//!
//! Not served here: `sched_yield` (the kernel's), `umask` (the file calls'); `setpgid` of
//! another process is the kernel's ([`Outcome::Kernel`]). `set_robust_list` and `rseq`
//! answer `ENOSYS` without a log line: there are no threads, and glibc goes on without them.

pub mod ids;
pub mod limits;
pub mod prctl;
pub mod time;

use alloc::vec;
use core::mem::{offset_of, size_of};

use linux_raw_sys::general as linux;
use linux_raw_sys::system::new_utsname;

use crate::dispatch::{Call, Outcome};
use crate::errno::{Errno, SysResult};
use crate::host::Host;
use crate::process::Process;
use crate::user::{read_bytes, StructWriter, UserMemory};

pub use ids::SavedIds;
pub use limits::{Limit, Limits};
pub use time::{sleep_interrupted, Clock, Sleep};

/// What `uname` reports as the kernel's release: a Linux version new enough for glibc (which
/// refuses to start below its configured minimum, 3.2 for Debian's).
pub const RELEASE: &str = "6.1.0-overlay";

/// What `uname` reports as the kernel's version string.
pub const VERSION: &str = "#1 SMP overlay";

/// The node name `uname` reports for a process without a host name.
pub const DEFAULT_HOSTNAME: &str = "overlay";

/// Longest host name (`__NEW_UTS_LEN`).
const HOSTNAME_MAX: usize = linux_raw_sys::system::__NEW_UTS_LEN as usize;

/// `uname(buf)`: "Linux", the process's host name (the container's) or
/// [`DEFAULT_HOSTNAME`], [`RELEASE`], [`VERSION`], "x86_64", domain "(none)".
///
/// # Errors
/// `EFAULT` for an unwritable `buf`.
pub fn uname(process: &Process, memory: &mut dyn UserMemory, buf: u64) -> SysResult<u64> {
    let nodename = process.hostname.as_deref().unwrap_or(DEFAULT_HOSTNAME);
    let mut writer = StructWriter::new(size_of::<new_utsname>());
    let fields = [
        (offset_of!(new_utsname, sysname), "Linux"),
        (offset_of!(new_utsname, nodename), nodename),
        (offset_of!(new_utsname, release), RELEASE),
        (offset_of!(new_utsname, version), VERSION),
        (offset_of!(new_utsname, machine), "x86_64"),
        (offset_of!(new_utsname, domainname), "(none)"),
    ];
    for (offset, value) in fields {
        let bytes = value.as_bytes();
        // Each field is 65 bytes with its NUL: longer values are cut.
        writer.put(offset, &bytes[..bytes.len().min(HOSTNAME_MAX)]);
    }
    writer.write_to(memory, buf)?;
    Ok(0)
}

/// `sethostname(name, len)`: sets the process's host name (inherited by its children; the
/// kernel may keep it per container).
///
/// # Errors
/// `EPERM` if not root; `EINVAL` for a length above 64 or a name that is not UTF-8;
/// `EFAULT` for an unreadable `name`.
pub fn sethostname(
    process: &mut Process,
    memory: &dyn UserMemory,
    name: u64,
    len: u64,
) -> SysResult<u64> {
    if !process.creds.is_root() {
        return Err(Errno::EPERM);
    }
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    if len > HOSTNAME_MAX {
        return Err(Errno::EINVAL);
    }
    let bytes = read_bytes(memory, name, len)?;
    let name = alloc::string::String::from_utf8(bytes).map_err(|_| Errno::EINVAL)?;
    process.hostname = Some(name);
    Ok(0)
}

/// Most bytes one `getrandom` call fills (Linux's `MAX_RW_COUNT` rounds to this order).
const GETRANDOM_MAX: u64 = 0x7fff_f000;

/// `getrandom(buf, len, flags)`: fills `buf` from the host's random source (which never
/// blocks, so `GRND_NONBLOCK` and `GRND_RANDOM` change nothing). Returns `len`.
///
/// # Errors
/// `EINVAL` for unknown flags or `GRND_INSECURE` with `GRND_RANDOM`; `EFAULT` for an
/// unwritable `buf`.
pub fn getrandom(
    host: &dyn Host,
    memory: &mut dyn UserMemory,
    buf: u64,
    len: u64,
    flags: u64,
) -> SysResult<u64> {
    let known = u64::from(linux::GRND_NONBLOCK | linux::GRND_RANDOM | linux::GRND_INSECURE);
    let insecure_random = u64::from(linux::GRND_INSECURE | linux::GRND_RANDOM);
    if flags & !known != 0 || flags & insecure_random == insecure_random {
        return Err(Errno::EINVAL);
    }
    let len = len.min(GETRANDOM_MAX);
    let mut chunk = vec![0u8; 4096];
    let mut done = 0u64;
    while done < len {
        let step = (len - done).min(chunk.len() as u64) as usize;
        host.random(&mut chunk[..step]);
        memory.write(buf + done, &chunk[..step])?;
        done += step as u64;
    }
    Ok(len)
}

/// `getpgid(pid)` and `getsid(pid)`: the caller's (for 0 or its own id) or another process's
/// from the host's process table.
///
/// # Errors
/// `ESRCH` if there is no such process.
fn group_of(call: &Call<'_>, pid: u64, session: bool) -> SysResult<u64> {
    let process = &*call.process;
    if pid == 0 || pid == u64::from(process.pid) {
        return Ok(u64::from(if session { process.sid } else { process.pgid }));
    }
    call.host
        .processes()
        .iter()
        .find(|p| u64::from(p.pid) == pid)
        .map(|p| u64::from(if session { p.sid } else { p.pgid }))
        .ok_or(Errno::ESRCH)
}

/// `setpgid(pid, pgid)` for the caller itself (`pid` 0 or its own): `pgid` 0 means its own
/// id. `None` when `pid` is another process (the kernel's).
///
/// # Errors
/// `EINVAL` for a negative `pgid`; `EPERM` for a session leader.
fn setpgid(process: &mut Process, pid: u64, pgid: u64) -> Option<SysResult<u64>> {
    if pid != 0 && pid != u64::from(process.pid) {
        return None;
    }
    let Ok(pgid) = u32::try_from(pgid as u32 as i32) else {
        return Some(Err(Errno::EINVAL));
    };
    if process.sid == process.pid {
        return Some(Err(Errno::EPERM));
    }
    process.pgid = if pgid == 0 { process.pid } else { pgid };
    Some(Ok(0))
}

/// `setsid()`: the caller becomes the leader of a new session and process group.
///
/// # Errors
/// `EPERM` if it already leads a process group.
fn setsid(process: &mut Process) -> SysResult<u64> {
    if process.pgid == process.pid {
        return Err(Errno::EPERM);
    }
    process.sid = process.pid;
    process.pgid = process.pid;
    Ok(u64::from(process.pid))
}

/// Serves the identity, time, limit and randomness calls; `None` for other numbers.
pub fn dispatch(call: &mut Call<'_>, number: u64, args: [u64; 6]) -> Option<Outcome> {
    let number32 = u32::try_from(number).ok()?;
    let host = call.host;
    let result = match number32 {
        linux::__NR_getpid | linux::__NR_gettid => Ok(u64::from(call.process.pid)),
        linux::__NR_getppid => Ok(u64::from(call.process.ppid)),
        linux::__NR_getuid => Ok(u64::from(call.process.ids.real_uid)),
        linux::__NR_geteuid => Ok(u64::from(call.process.creds.uid)),
        linux::__NR_getgid => Ok(u64::from(call.process.ids.real_gid)),
        linux::__NR_getegid => Ok(u64::from(call.process.creds.gid)),
        linux::__NR_getresuid => {
            let p = &*call.process;
            let ids = [p.ids.real_uid, p.creds.uid, p.ids.saved_uid];
            ids::write_three(call.memory, [args[0], args[1], args[2]], ids)
        }
        linux::__NR_getresgid => {
            let p = &*call.process;
            let ids = [p.ids.real_gid, p.creds.gid, p.ids.saved_gid];
            ids::write_three(call.memory, [args[0], args[1], args[2]], ids)
        }
        linux::__NR_setuid => ids::setuid(call.process, args[0]),
        linux::__NR_setgid => ids::setgid(call.process, args[0]),
        linux::__NR_setreuid => ids::setreuid(call.process, args[0], args[1]),
        linux::__NR_setregid => ids::setregid(call.process, args[0], args[1]),
        linux::__NR_setresuid => ids::setresuid(call.process, args[0], args[1], args[2]),
        linux::__NR_setresgid => ids::setresgid(call.process, args[0], args[1], args[2]),
        linux::__NR_getgroups => ids::getgroups(call.process, call.memory, args[0], args[1]),
        linux::__NR_setgroups => ids::setgroups(call.process, call.memory, args[0], args[1]),
        linux::__NR_getpgid => group_of(call, args[0], false),
        linux::__NR_getpgrp => Ok(u64::from(call.process.pgid)),
        linux::__NR_getsid => group_of(call, args[0], true),
        linux::__NR_setpgid => match setpgid(call.process, args[0], args[1]) {
            Some(result) => result,
            None => return Some(Outcome::Kernel),
        },
        linux::__NR_setsid => setsid(call.process),
        linux::__NR_uname => uname(call.process, call.memory, args[0]),
        linux::__NR_prctl => prctl::prctl(call.process, call.memory, args),
        linux::__NR_sethostname => sethostname(call.process, call.memory, args[0], args[1]),
        linux::__NR_clock_gettime => {
            time::clock_gettime(call.process, host, call.memory, args[0], args[1])
        }
        linux::__NR_clock_getres => time::clock_getres(call.memory, args[0], args[1]),
        linux::__NR_gettimeofday => time::gettimeofday(host, call.memory, args[0], args[1]),
        linux::__NR_time => time::time(host, call.memory, args[0]),
        linux::__NR_nanosleep | linux::__NR_clock_nanosleep => {
            return Some(time::sleep(call.process, host, call.memory, number, args));
        }
        linux::__NR_getrandom => getrandom(host, call.memory, args[0], args[1], args[2]),
        linux::__NR_set_tid_address => {
            call.process.clear_child_tid = args[0];
            Ok(u64::from(call.process.pid))
        }
        linux::__NR_set_robust_list | linux::__NR_rseq => Err(Errno::ENOSYS),
        linux::__NR_prlimit64 => limits::prlimit(
            call.process,
            call.memory,
            args[0],
            args[1],
            args[2],
            args[3],
        ),
        linux::__NR_getrlimit => limits::prlimit(call.process, call.memory, 0, args[0], 0, args[1]),
        linux::__NR_setrlimit => limits::prlimit(call.process, call.memory, 0, args[0], args[1], 0),
        linux::__NR_getrusage => {
            limits::getrusage(call.process, host, call.memory, args[0], args[1])
        }
        linux::__NR_times => limits::times(call.process, host, call.memory, args[0]),
        linux::__NR_sysinfo => limits::sysinfo(host, call.memory, args[0]),
        linux::__NR_sched_getaffinity => {
            limits::sched_getaffinity(call.process, host, call.memory, args[0], args[1], args[2])
        }
        _ => return None,
    };
    Some(Outcome::of(result))
}
