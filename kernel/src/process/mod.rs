//! User processes: a container's programs, run in ring 3 with the container's union as their
//! root, their system calls served by `overlay-syscalls` over the engine.
//!
//! One [`Run`](run::Run) is one container's processes from its first program to the end of that
//! program: a table of tasks and a round-robin scheduler. There are no kernel threads and no
//! kernel stack per process: the kernel enters a task's user mode as a function call
//! ([`crate::arch::enter_user`]) that returns at the task's next trap, serves the trap on the
//! kernel's one stack, and picks the task to run next.
//!
//! A system call that cannot complete now (a read from an empty pipe, `wait4` with no child
//! ended yet, a read from the console before a line is typed) is *re-run*: the task's
//! instruction pointer goes back to its `syscall` instruction and the task waits until
//! something changes (another task ran a call, a task ended, input arrived, the timer
//! ticked); then it issues the call again. This keeps every handler a plain function that
//! either completes or says "not yet", and gives `SA_RESTART` semantics for free.
//!
//! The calls that make, replace or end processes (`fork`, `clone`, `vfork`, `execve`,
//! `wait4`, `exit`, `exit_group`, `kill`, `rt_sigreturn`, `arch_prctl`, `sched_yield`) are
//! served here ([`kernel_calls`]); every other call goes to `overlay_syscalls::dispatch`.

mod capture;
mod host;
mod kernel_calls;
mod launch;
mod proc_table;
mod run;
mod signals;
mod spawn;
mod task;

pub use capture::Capture;
pub use launch::{launch, Launch, LaunchStdio};
pub use run::{RunLimits, RunReport, TICKS_PER_SECOND};
