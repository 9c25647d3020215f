//! What `/proc` shows of a run's tasks: a table of process summaries the run keeps up to date
//! (a task's summary is rebuilt after the calls that change it, so `/proc/self` shows its
//! descriptors and working directory as they are) and the task being served. The kernel's
//! host answers `Host::processes` from it, and `overlay_syscalls::procfs::HostSource` turns
//! that into `/proc`.

use alloc::{collections::BTreeMap, sync::Arc, vec::Vec};

use overlay_syscalls::host::ProcessSummary;
use spin::Mutex;

use super::task::{Task, TaskState};

/// The shared table behind a run's `/proc`.
#[derive(Default)]
pub struct ProcTable {
    summaries: Mutex<BTreeMap<u32, ProcessSummary>>,
    current: Mutex<Option<u32>>,
}

impl ProcTable {
    /// An empty table.
    pub fn new() -> Arc<ProcTable> {
        Arc::new(ProcTable::default())
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

    /// The task whose calls are being served.
    pub fn current(&self) -> Option<u32> {
        *self.current.lock()
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
