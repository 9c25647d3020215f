//! One task: a process's system-call state (`overlay_syscalls::process::Process`) next to
//! what only the kernel holds: its registers, address space and FPU state.

use overlay_syscalls::process::Process;

use crate::arch::{FpuState, UserContext};
use crate::user_space::UserSpace;

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Ready to run.
    Runnable,
    /// Its last system call could not complete; it re-runs the call once the run's
    /// generation (see [`super::run`]) differs from this one.
    Waiting { since_generation: u64 },
    /// Ended with this wait status; kept until its parent reaps it.
    Zombie { wait_status: u32 },
}

/// A process as the kernel runs it.
pub struct Task {
    /// The system calls' view of the process.
    pub process: Process,
    /// Its user registers (saved at its last trap).
    pub context: UserContext,
    /// Its page tables and user pages (`None` once it has ended).
    pub space: Option<UserSpace>,
    /// Its FS base register (`arch_prctl(ARCH_SET_FS)`: glibc's thread pointer).
    pub fs_base: u64,
    /// Its x87/SSE registers while another task owns the FPU.
    pub fpu: FpuState,
    /// Where it stands.
    pub state: TaskState,
    /// Timer ticks it ran for.
    pub ticks: u64,
    /// The tick it was made at.
    pub start_ticks: u64,
}

impl Task {
    /// Whether the task has ended.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, TaskState::Zombie { .. })
    }
}
