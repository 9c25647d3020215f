//! What the crate asks of the kernel that runs it: clocks, random bytes, and a view of the
//! process table for `/proc`. Everything that needs the CPU stays behind this trait.

use alloc::{string::String, vec::Vec};

/// A point in time: seconds and nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timespec {
    /// Whole seconds.
    pub secs: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nanos: u32,
}

/// One process, as `/proc/PID` and `ps` show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSummary {
    /// Process id.
    pub pid: u32,
    /// Parent's process id (0 for the first process of a container).
    pub ppid: u32,
    /// Process group.
    pub pgid: u32,
    /// Session.
    pub sid: u32,
    /// User and group.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// State letter as `/proc/PID/stat` shows it: `R`, `S`, `Z`.
    pub state: char,
    /// The program's name (`comm`: the file name of the program, at most 15 bytes).
    pub comm: String,
    /// The arguments it was started with.
    pub cmdline: Vec<Vec<u8>>,
    /// Bytes of memory it maps.
    pub mapped_bytes: u64,
    /// Clock ticks it ran for (`USER_HZ`: 100 a second).
    pub ticks: u64,
    /// Clock ticks after boot when it started (`/proc/PID/stat`'s `starttime`).
    pub start_ticks: u64,
    /// The path of the program it runs, in its container (`/proc/PID/exe`).
    pub exe: String,
    /// Its working directory, in its container (`/proc/PID/cwd`).
    pub cwd: String,
    /// Its open descriptors and what each names ([`crate::file::OpenFile::describe`]), for
    /// `/proc/PID/fd`.
    pub fds: Vec<(u32, String)>,
}

/// Memory figures for `/proc/meminfo` (`free`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryFigures {
    /// All memory the kernel manages.
    pub total_bytes: u64,
    /// Of which free.
    pub free_bytes: u64,
}

/// The kernel's services the system calls need.
pub trait Host: Send + Sync {
    /// Wall-clock time (`CLOCK_REALTIME`).
    fn realtime(&self) -> Timespec;

    /// Time since boot (`CLOCK_MONOTONIC`, `/proc/uptime`).
    fn monotonic(&self) -> Timespec;

    /// Fills `buf` with random bytes (`getrandom`, `/dev/urandom`, `AT_RANDOM`).
    fn random(&self, buf: &mut [u8]);

    /// The processes of the caller's container, for `/proc`.
    fn processes(&self) -> Vec<ProcessSummary>;

    /// Memory figures for `/proc/meminfo`.
    fn memory(&self) -> MemoryFigures;
}
