//! `/proc` of a run: the kernel's answers to `overlay_syscalls::procfs::ProcSource`, from a
//! table of process summaries the run keeps up to date (a task's summary is refreshed after
//! its calls, so `/proc/self` shows its descriptors and working directory as they are).

use alloc::{collections::BTreeMap, sync::Arc, vec::Vec};

use overlay_syscalls::host::{Host, MemoryFigures, ProcessSummary, Timespec};
use overlay_syscalls::procfs::{MountEntry, ProcSource};
use spin::Mutex;

use super::host::KernelHost;
use super::task::{Task, TaskState};

/// The shared table behind a run's `/proc`.
#[derive(Default)]
pub struct ProcTable {
    summaries: Mutex<BTreeMap<u32, ProcessSummary>>,
    current: Mutex<Option<u32>>,
    mounts: Vec<MountEntry>,
}

impl ProcTable {
    /// A table for a container whose mounts are `mounts`.
    pub fn new(mounts: Vec<MountEntry>) -> Arc<ProcTable> {
        Arc::new(ProcTable {
            mounts,
            ..ProcTable::default()
        })
    }

    /// Records `task` as it is now.
    pub fn refresh(&self, task: &Task) {
        let summary = summarize(task);
        self.summaries.lock().insert(summary.pid, summary);
    }

    /// Every process, by pid.
    pub fn all(&self) -> Vec<ProcessSummary> {
        self.summaries.lock().values().cloned().collect()
    }

    /// Forgets `pid` (reaped).
    pub fn remove(&self, pid: u32) {
        self.summaries.lock().remove(&pid);
    }

    /// Sets the task whose calls are being served (what `/proc/self` is).
    pub fn set_current(&self, pid: Option<u32>) {
        *self.current.lock() = pid;
    }
}

/// `/proc`'s view of `task`.
fn summarize(task: &Task) -> ProcessSummary {
    let process = &task.process;
    let state = match task.state {
        TaskState::Runnable => 'R',
        TaskState::Waiting { .. } => 'S',
        TaskState::Zombie { .. } => 'Z',
    };
    let comm = process.comm.clone();
    let fds = process
        .fds
        .numbers()
        .filter_map(|fd| {
            let file = process.fds.file(fd).ok()?;
            Some((fd, file.describe()))
        })
        .collect();
    ProcessSummary {
        pid: process.pid,
        ppid: process.ppid,
        pgid: process.pgid,
        sid: process.sid,
        uid: process.creds.uid,
        gid: process.creds.gid,
        state,
        comm,
        cmdline: process.cmdline.clone(),
        mapped_bytes: process.memory.mapped_bytes(),
        ticks: task.ticks,
        start_ticks: task.start_ticks,
        exe: process.exe.clone(),
        cwd: process.fs.cwd_path_hint(),
        fds,
    }
}

/// A run's `/proc` source: its table and the kernel's clocks and memory figures.
pub struct RunProcSource {
    /// The summaries.
    pub table: Arc<ProcTable>,
    /// Clocks and memory.
    pub host: KernelHost,
}

impl ProcSource for RunProcSource {
    fn pids(&self) -> Vec<u32> {
        self.table.summaries.lock().keys().copied().collect()
    }

    fn process(&self, pid: u32) -> Option<ProcessSummary> {
        self.table.summaries.lock().get(&pid).cloned()
    }

    fn memory(&self) -> MemoryFigures {
        self.host.memory()
    }

    fn uptime(&self) -> Timespec {
        self.host.monotonic()
    }

    fn realtime(&self) -> Timespec {
        self.host.realtime()
    }

    fn mounts(&self) -> Vec<MountEntry> {
        self.table.mounts.clone()
    }

    fn current_pid(&self) -> Option<u32> {
        *self.table.current.lock()
    }
}
