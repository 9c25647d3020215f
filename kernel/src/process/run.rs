//! One container's processes, from its first program to that program's end: the task table
//! and the round-robin loop that runs them.
//!
//! # Waiting without kernel stacks
//! A call that cannot complete leaves its task [`TaskState::Waiting`] with the run's
//! *generation* at that moment. The generation counts events that may let a waiting call
//! complete: a call that completed, a task that ended, input typed, a timer tick. A waiting
//! task is run again (and so re-issues its call) only once the generation moved on; when no
//! task can run, the CPU halts until the next interrupt (the timer or the console).

use alloc::{collections::BTreeMap, format, string::String, vec::Vec};

use overlay_syscalls::dispatch::{dispatch, Call, Outcome};
use overlay_syscalls::Errno;

use super::host::KernelHost;
use super::kernel_calls;
use super::signals;
use super::task::{Task, TaskState};
use crate::arch::{self, Trap};
use crate::println;

/// The signal that ends the tasks left when a run ends.
const SIGKILL: u32 = linux_raw_sys::general::SIGKILL;

/// Timer ticks per second (the PIT's rate).
pub const TICKS_PER_SECOND: u64 = arch::TIMER_HZ;

/// What bounds a run.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// Timer ticks the whole run may take (wall clock, waiting included) before every task
    /// is ended; `None` for no limit (an interactive shell).
    pub max_ticks: Option<u64>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// The first program's wait status (as `wait4` gives it).
    pub wait_status: u32,
    /// Whether the run was cut short by [`RunLimits::max_ticks`].
    pub timed_out: bool,
    /// Tasks made, the first included.
    pub tasks_made: u32,
}

impl RunReport {
    /// The status a shell shows for the first program: its exit code, or 128 + the signal
    /// that ended it.
    pub fn shell_status(&self) -> u8 {
        let signal = self.wait_status & 0x7f;
        if signal == 0 {
            ((self.wait_status >> 8) & 0xff) as u8
        } else {
            (128 + signal) as u8
        }
    }
}

/// The tasks of one container.
pub struct Run {
    pub(super) tasks: BTreeMap<u32, Task>,
    pub(super) next_pid: u32,
    pub(super) first_pid: u32,
    pub(super) generation: u64,
    /// The task whose registers are in the FPU now.
    fpu_owner: Option<u32>,
    /// The task that ran last, where the round-robin search starts.
    last_run: u32,
    pub(super) host: KernelHost,
    pub(super) tasks_made: u32,
}

impl Run {
    /// A run whose first task is `first` (already loaded with its program).
    pub fn new(first: Task, host: KernelHost) -> Run {
        let first_pid = first.process.pid;
        let mut tasks = BTreeMap::new();
        tasks.insert(first_pid, first);
        Run {
            tasks,
            next_pid: first_pid + 1,
            first_pid,
            generation: 0,
            fpu_owner: None,
            last_run: first_pid,
            host,
            tasks_made: 1,
        }
    }

    /// Runs until the first task ends (every other task is then ended too, as a container
    /// stops with its first process) or `limits` cut the run short.
    pub fn run(&mut self, limits: RunLimits) -> RunReport {
        let start = arch::ticks();
        let mut timed_out = false;
        loop {
            if let Some(TaskState::Zombie { .. }) = self.tasks.get(&self.first_pid).map(|t| t.state)
            {
                break;
            }
            if limits
                .max_ticks
                .is_some_and(|max| arch::ticks().saturating_sub(start) > max)
            {
                timed_out = true;
                break;
            }
            if self.host.poll_console() {
                self.generation += 1;
            }
            self.deliver_terminal_signals();
            match self.next_task() {
                Some(pid) => self.run_task(pid),
                None => {
                    arch::idle_until_interrupt();
                    self.generation += 1;
                }
            }
        }
        if timed_out {
            let seconds = limits.max_ticks.unwrap_or(0) / TICKS_PER_SECOND;
            crate::serial::start_line();
            println!(
                "run: the program did not end within {seconds} s: every task of the run is ended"
            );
        }
        let wait_status = match self.tasks.get(&self.first_pid).map(|t| t.state) {
            Some(TaskState::Zombie { wait_status }) => wait_status,
            _ => signals::killed_status(SIGKILL),
        };
        // The container stops with its first process: whatever is left is ended.
        let pids: Vec<u32> = self.tasks.keys().copied().collect();
        for pid in pids {
            if let Some(mut task) = self.tasks.remove(&pid) {
                if !task.is_zombie() {
                    self.end_task(&mut task, signals::killed_status(SIGKILL));
                }
            }
        }
        self.fpu_owner = None;
        RunReport {
            wait_status,
            timed_out,
            tasks_made: self.tasks_made,
        }
    }

    /// The next task to run after the last one, round robin: a runnable task, a waiting one
    /// whose generation moved on, or one with a signal to take.
    fn next_task(&self) -> Option<u32> {
        let after = self.tasks.range(self.last_run + 1..);
        let before = self.tasks.range(..=self.last_run);
        after.chain(before).find_map(|(&pid, task)| {
            let ready = match task.state {
                TaskState::Runnable => true,
                TaskState::Waiting { since_generation } => {
                    since_generation != self.generation || signals::has_deliverable(task)
                }
                TaskState::Zombie { .. } => false,
            };
            ready.then_some(pid)
        })
    }

    /// Runs task `pid` until its next trap and serves the trap.
    fn run_task(&mut self, pid: u32) {
        let Some(mut task) = self.tasks.remove(&pid) else {
            return;
        };
        self.last_run = pid;
        signals::deliver_pending(self, &mut task);
        if task.is_zombie() {
            self.tasks.insert(pid, task);
            return;
        }
        if let TaskState::Waiting { .. } = task.state {
            task.state = TaskState::Runnable;
        }
        self.switch_fpu_to(&mut task);
        let Some(space) = task.space.as_ref() else {
            self.tasks.insert(pid, task);
            return;
        };
        space.activate();
        arch::set_fs_base(task.fs_base);
        let trap = arch::enter_user(&mut task.context);
        match trap {
            Trap::Syscall => self.serve_syscall(&mut task),
            Trap::Timer => {
                task.ticks += 1;
                self.generation += 1;
            }
            fault => signals::fault(self, &mut task, fault),
        }
        self.tasks.insert(pid, task);
    }

    /// Puts `task`'s FPU registers into the FPU, saving the previous owner's.
    fn switch_fpu_to(&mut self, task: &mut Task) {
        let pid = task.process.pid;
        if self.fpu_owner == Some(pid) {
            return;
        }
        if let Some(owner) = self.fpu_owner.and_then(|owner| self.tasks.get_mut(&owner)) {
            owner.fpu.save();
        }
        task.fpu.restore();
        self.fpu_owner = Some(pid);
    }

    /// Saves the FPU registers of `task` if it owns the FPU (before copying them for `fork`).
    pub(super) fn save_fpu_of(&mut self, task: &mut Task) {
        if self.fpu_owner == Some(task.process.pid) {
            task.fpu.save();
        }
    }

    /// Serves the system call `task` trapped with.
    fn serve_syscall(&mut self, task: &mut Task) {
        let regs = task.context.registers();
        let number = regs.syscall_number();
        let args = regs.syscall_args();
        if let Some(table) = &self.host.proc_table {
            table.set_current(Some(task.process.pid));
        }
        let outcome = match kernel_calls::serve(self, task, number, args) {
            Some(outcome) => outcome,
            None => {
                let Some(space) = task.space.as_mut() else {
                    return;
                };
                let mut call = Call {
                    process: &mut task.process,
                    memory: space,
                    host: &self.host,
                };
                match dispatch(&mut call, number, args) {
                    Outcome::Kernel => Outcome::of(Err(Errno::ENOSYS)),
                    outcome => outcome,
                }
            }
        };
        let blocked = outcome == Outcome::Block;
        self.finish_call(task, outcome);
        if let Some(table) = &self.host.proc_table {
            table.set_current(None);
            if blocked || changes_summary(number) {
                table.refresh(task);
            }
        }
    }

    /// Applies a call's outcome to `task`.
    pub(super) fn finish_call(&mut self, task: &mut Task, outcome: Outcome) {
        match outcome {
            Outcome::Return(value) => {
                let mut regs = task.context.registers();
                regs.rax = value;
                task.context.set_registers(&regs);
                self.generation += 1;
            }
            Outcome::Block => {
                // Back to the `syscall` instruction (2 bytes): the call is issued again when
                // the task next runs; `rax` still holds its number.
                let mut regs = task.context.registers();
                regs.rip = regs.rip.wrapping_sub(2);
                task.context.set_registers(&regs);
                task.state = TaskState::Waiting {
                    since_generation: self.generation,
                };
            }
            Outcome::Exit(code) => self.end_task(task, signals::exit_status(code)),
            Outcome::Kernel => {}
        }
    }

    /// Ends `task` with `wait_status`: closes its descriptors, frees its memory, hands its
    /// children to nobody (they are reaped when they end) and tells its parent.
    pub(super) fn end_task(&mut self, task: &mut Task, wait_status: u32) {
        let pid = task.process.pid;
        task.state = TaskState::Zombie { wait_status };
        task.process.fds.clear();
        task.space = None;
        if self.fpu_owner == Some(pid) {
            self.fpu_owner = None;
        }
        let orphans: Vec<u32> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.process.ppid == pid)
            .map(|(&child, _)| child)
            .collect();
        for child in orphans {
            let reap = match self.tasks.get_mut(&child) {
                Some(orphan) => {
                    orphan.process.ppid = 0;
                    orphan.is_zombie()
                }
                None => false,
            };
            if reap {
                self.forget(child);
            }
        }
        self.refresh(task);
        let parent = task.process.ppid;
        if let Some(parent) = self.tasks.get_mut(&parent) {
            signals::send(parent, signals::SIGCHLD);
        }
        self.generation += 1;
    }

    /// Removes an ended task for good (reaped by its parent, or an orphan).
    pub(super) fn forget(&mut self, pid: u32) {
        self.tasks.remove(&pid);
        if let Some(table) = &self.host.proc_table {
            table.remove(pid);
        }
    }

    /// Records a task that changed outside a call of its own (made by `fork`, ended).
    pub(super) fn refresh(&self, task: &Task) {
        if let Some(table) = &self.host.proc_table {
            table.refresh(task);
        }
    }

    /// Sends the signals the terminal produced (Ctrl-C) to the foreground group's tasks.
    fn deliver_terminal_signals(&mut self) {
        for (pgid, signal) in self.host.take_terminal_signals() {
            for task in self.tasks.values_mut() {
                if task.process.pgid == pgid && !task.is_zombie() {
                    signals::send(task, signal);
                }
            }
            self.generation += 1;
        }
    }

    /// A description of task `pid` for the kernel's log lines: `3 (/bin/busybox)`.
    pub(super) fn describe(task: &Task) -> String {
        format!("{} ({})", task.process.pid, task.process.exe)
    }
}

/// Whether call `number` may change what `/proc` shows of its caller (descriptors, working
/// directory, ids, name, memory): only then is the caller's summary rebuilt, so a call like
/// `getpid` or `read` costs no more than it must. (`fork`, `execve` and the end of a task
/// refresh it themselves.)
fn changes_summary(number: u64) -> bool {
    use linux_raw_sys::general as linux;
    let Ok(number) = u32::try_from(number) else {
        return false;
    };
    matches!(
        number,
        linux::__NR_open
            | linux::__NR_openat
            | linux::__NR_creat
            | linux::__NR_close
            | linux::__NR_dup
            | linux::__NR_dup2
            | linux::__NR_dup3
            | linux::__NR_fcntl
            | linux::__NR_pipe
            | linux::__NR_pipe2
            | linux::__NR_chdir
            | linux::__NR_fchdir
            | linux::__NR_execve
            | linux::__NR_setpgid
            | linux::__NR_setsid
            | linux::__NR_setuid
            | linux::__NR_setgid
            | linux::__NR_setreuid
            | linux::__NR_setregid
            | linux::__NR_setresuid
            | linux::__NR_setresgid
            | linux::__NR_setgroups
            | linux::__NR_prctl
            | linux::__NR_brk
            | linux::__NR_mmap
            | linux::__NR_munmap
            | linux::__NR_mremap
    )
}
