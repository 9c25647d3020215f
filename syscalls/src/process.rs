//! One process's state as the system calls see it: who it is, its descriptors, its view of
//! the filesystem, its memory regions and its signals. The kernel keeps one per process next
//! to its CPU state (registers, page tables); `fork` clones it.

use alloc::{string::String, vec::Vec};

use overlay_core::vfs::Credentials;

use crate::file::FdTable;
use crate::fs::FsContext;
use crate::signal::SignalState;
use crate::vm::MemoryMap;

/// A process (one thread: this kernel's processes are single-threaded).
#[derive(Clone)]
pub struct Process {
    /// Process id (also its thread id).
    pub pid: u32,
    /// Parent's id (0 for a container's first process).
    pub ppid: u32,
    /// Process group.
    pub pgid: u32,
    /// Session.
    pub sid: u32,
    /// User and groups (real and effective are the same).
    pub creds: Credentials,
    /// Root, working directory, umask.
    pub fs: FsContext,
    /// Open descriptors.
    pub fds: FdTable,
    /// Memory regions.
    pub memory: MemoryMap,
    /// Signal actions, mask, pending signals.
    pub signals: SignalState,
    /// The path of the program it runs (what `/proc/self/exe` points to).
    pub exe: String,
    /// The arguments the program was started with.
    pub cmdline: Vec<Vec<u8>>,
    /// Its name as `ps` shows it (`/proc/PID/comm`): set by `execve` from the program's path
    /// and by `prctl(PR_SET_NAME)`.
    pub comm: String,
    /// Address `set_tid_address` registered (cleared at exit; kept for the record).
    pub clear_child_tid: u64,
    /// Real and saved user and group ids (the effective ones are `creds`).
    pub ids: crate::misc::SavedIds,
    /// Resource limits (`setrlimit`).
    pub limits: crate::misc::Limits,
    /// The node name `uname` reports (the container's name), if any.
    pub hostname: Option<String>,
    /// The sleep (`nanosleep`), or the deadline of the `poll` or `select` with a timeout, the
    /// process is blocked in, kept between re-runs of the call.
    pub sleep: Option<crate::misc::Sleep>,
}

impl Process {
    /// A container's first process: `pid` in its own process group and session, with
    /// `creds` as its real, effective and saved ids, no program yet (the kernel loads one with
    /// [`crate::exec`]), default signal actions and limits.
    pub fn new(pid: u32, creds: Credentials, fs: FsContext, fds: FdTable) -> Process {
        Process {
            pid,
            ppid: 0,
            pgid: pid,
            sid: pid,
            ids: crate::misc::SavedIds::same_as(&creds),
            creds,
            fs,
            fds,
            memory: MemoryMap::default(),
            signals: SignalState::default(),
            exe: String::new(),
            cmdline: Vec::new(),
            comm: String::new(),
            clear_child_tid: 0,
            limits: crate::misc::Limits::default(),
            hostname: None,
            sleep: None,
        }
    }
}

impl core::fmt::Debug for Process {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Process")
            .field("pid", &self.pid)
            .field("ppid", &self.ppid)
            .field("exe", &self.exe)
            .field("fds", &self.fds)
            .finish()
    }
}
