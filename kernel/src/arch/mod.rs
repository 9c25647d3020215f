//! The CPU half of running user programs: everything that needs `unsafe` and the CPU itself.
//!
//! - [`enter_user`] runs a program in ring 3 from a [`UserContext`] until its next [`Trap`]
//!   (system call, timer tick, fault), on the caller's own kernel stack ([`trap`], [`entry`]).
//! - [`init`] sets the CPU up for it: SSE, no-execute, `SYSCALL`/`SYSRET` ([`cpu`]), and the
//!   timer that takes the CPU back from a program that never traps ([`pic`], [`timer`]).
//! - [`FpuState`] holds a program's x87/SSE registers while another program runs ([`fpu`]);
//!   [`set_fs_base`] loads its thread pointer.
//!
//! Single CPU; the kernel itself runs with interrupts off.

pub mod cpu;
pub mod entry;
pub mod fpu;
pub mod pic;
pub mod timer;
pub mod trap;

pub use cpu::{fs_base, hwcap, idle_until_interrupt, no_execute_enabled, set_fs_base};
pub use fpu::FpuState;
pub use timer::{ticks, TIMER_HZ};
pub use trap::{enter_user, Trap, UserContext, SYSCALL_VECTOR};

/// Sets the CPU up for user mode and starts the timer. Call once at boot, after `gdt::init`
/// and `interrupts::init`.
pub fn init() {
    cpu::init();
    pic::init();
    timer::init();
}
