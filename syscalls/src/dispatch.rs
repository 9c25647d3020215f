//! From a system-call number to its handler.
//!
//! The kernel calls [`dispatch`] with the caller's state; each family of calls (files and
//! paths, memory, signals, identity and time) has a module with its handlers, and a function
//! that takes the numbers it serves and returns `None` for the others. A number nobody serves
//! is logged once, with its name, and answers `ENOSYS`.
//!
//! The calls that create, replace or end processes (`fork`, `clone`, `vfork`, `execve`,
//! `wait4`, `exit`, `exit_group`, `kill`, `rt_sigreturn`, `arch_prctl`, `sched_yield`) need
//! the kernel's process table and CPU state: [`dispatch`] answers [`Outcome::Kernel`] for them
//! and the kernel serves them itself, with this crate's help ([`crate::exec`],
//! [`crate::signal`]).

use core::sync::atomic::{AtomicU64, Ordering};

use crate::errno::{Errno, SysResult};
use crate::host::Host;
use crate::names::syscall_name;
use crate::process::Process;
use crate::vm::AddressSpace;

/// What a handler may use: the calling process, its memory, the kernel's services.
pub struct Call<'a> {
    /// The caller.
    pub process: &'a mut Process,
    /// The caller's address space.
    pub memory: &'a mut dyn AddressSpace,
    /// Clocks, random bytes, the process table.
    pub host: &'a dyn Host,
}

/// What the kernel does after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Return this value in `rax` (an error is already `-errno`).
    Return(u64),
    /// The call cannot complete now: block the caller and run the call again when something
    /// changed (a pipe was written or closed, a child exited, input arrived).
    Block,
    /// End the process with this exit code (`exit`, `exit_group`).
    Exit(u8),
    /// The kernel's own call (see the module docs).
    Kernel,
}

impl Outcome {
    /// The outcome of a handler's result: the value, or `-errno`.
    pub fn of(result: SysResult<u64>) -> Outcome {
        match result {
            Ok(value) => Outcome::Return(value),
            Err(errno) => Outcome::Return(errno.as_return()),
        }
    }

    /// As [`Outcome::of`], but `EAGAIN` blocks the caller unless `nonblocking`.
    pub fn blocking(result: SysResult<u64>, nonblocking: bool) -> Outcome {
        match result {
            Err(Errno::EAGAIN) if !nonblocking => Outcome::Block,
            other => Outcome::of(other),
        }
    }
}

/// Serves system call `number` with `args` for `call.process`.
pub fn dispatch(call: &mut Call<'_>, number: u64, args: [u64; 6]) -> Outcome {
    dispatch_known(call, number, args).unwrap_or_else(|| unknown(number))
}

/// As [`dispatch`], but `None` for a number no family serves (which [`dispatch`] logs and
/// answers `ENOSYS`).
pub fn dispatch_known(call: &mut Call<'_>, number: u64, args: [u64; 6]) -> Option<Outcome> {
    type Family = fn(&mut Call<'_>, u64, [u64; 6]) -> Option<Outcome>;
    const FAMILIES: [Family; 6] = [
        crate::pipe::dispatch,
        crate::poll::dispatch,
        crate::fs::dispatch,
        crate::vm::dispatch,
        crate::signal::dispatch,
        crate::misc::dispatch,
    ];
    FAMILIES
        .iter()
        .find_map(|family| family(call, number, args))
}

/// Bit `n` set once call `n` (below 512) was logged as unknown.
static LOGGED_UNKNOWN: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

/// The answer to a call nobody serves: `ENOSYS`, logged the first time each number is seen.
fn unknown(number: u64) -> Outcome {
    let first_time = match LOGGED_UNKNOWN.get((number / 64) as usize) {
        Some(word) => {
            let bit = 1u64 << (number % 64);
            word.fetch_or(bit, Ordering::Relaxed) & bit == 0
        }
        None => true,
    };
    if first_time {
        match syscall_name(number) {
            Some(name) => log::warn!("unsupported system call {number} ({name}): ENOSYS"),
            None => log::warn!("unknown system call {number}: ENOSYS"),
        }
    }
    Outcome::of(Err(Errno::ENOSYS))
}
