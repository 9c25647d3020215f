//! Signals as the kernel delivers them: sending one to a task, running the pending ones
//! before a task returns to user mode (a handler's frame, or the default action), a fault
//! turned into its signal, and `rt_sigreturn`. What a signal *means* (actions, masks, the
//! frame's layout) is `overlay_syscalls::signal`'s.

use linux_raw_sys::general as linux;
use overlay_syscalls::misc;
use overlay_syscalls::signal::{self, Disposition, SigInfo, SigSource};

use super::run::Run;
use super::task::{Task, TaskState};
use crate::arch::Trap;
use crate::println;

/// Highest signal number.
pub const MAX_SIGNAL: u32 = signal::MAX_SIGNAL;
/// A child ended.
pub const SIGCHLD: u32 = linux::SIGCHLD;

/// The wait status of a task that exited with `code`.
pub fn exit_status(code: u8) -> u32 {
    signal::exit_status(u32::from(code))
}

/// The wait status of a task ended by `signo` (no core dump).
pub fn killed_status(signo: u32) -> u32 {
    signal::killed_status(signo, false)
}

/// The wait status of a task ended by `signo` with a core dump (a fault's default).
pub fn killed_status_core(signo: u32) -> u32 {
    signal::killed_status(signo, true)
}

/// Makes `signo` pending for `task` (from the kernel: a terminal, a child's end).
pub fn send(task: &mut Task, signo: u32) {
    task.process.signals.send(SigInfo::from_kernel(signo));
}

/// Whether `task` has a signal to take now (which ends a wait).
pub fn has_deliverable(task: &Task) -> bool {
    task.process.signals.has_deliverable()
}

/// Takes `task`'s deliverable signals before it returns to user mode: a handler gets its
/// frame (a waiting call returns `EINTR` or, with `SA_RESTART`, runs again after the
/// handler); a default action that ends the task ends it.
pub fn deliver_pending(run: &mut Run, task: &mut Task) {
    while let Some((info, disposition)) = task.process.signals.take_deliverable() {
        match disposition {
            Disposition::Ignore => {}
            Disposition::Terminate { core } => {
                run.end_task(task, signal::killed_status(info.signo, core));
                return;
            }
            Disposition::Handle(action) => {
                let mut regs = task.context.registers();
                regs.fs_base = task.fs_base;
                if let TaskState::Waiting { .. } = task.state {
                    // The waiting call's registers are rewound to its `syscall`; the frame
                    // saves them as at the call's entry, then as Linux leaves an
                    // interrupted call.
                    regs.rip = regs.rip.wrapping_add(2);
                    let number = regs.rax;
                    regs = signal::interrupted_call(&regs, number, &action);
                    task.state = TaskState::Runnable;
                    // A sleep ends here: its deadline goes, and `nanosleep` reports the time
                    // left (its return value replaces EINTR when it has one).
                    if let Some(space) = task.space.as_mut() {
                        let host = run.host.clone();
                        if let Some(value) =
                            misc::sleep_interrupted(&mut task.process, &host, space)
                        {
                            if regs.rax != number {
                                regs.rax = value;
                            }
                        }
                    }
                }
                run.save_fpu_of(task);
                let fpu = task.fpu.as_bytes();
                let Some(space) = task.space.as_mut() else {
                    return;
                };
                match task
                    .process
                    .signals
                    .deliver(&regs, &info, &action, space, Some(fpu))
                {
                    Ok(handler) => task.context.set_registers(&handler),
                    Err(_) => {
                        // No room for the frame: Linux ends the task with SIGSEGV.
                        report(task, "cannot write a signal frame", regs.rsp, regs.rip);
                        run.end_task(task, killed_status_core(linux::SIGSEGV));
                        return;
                    }
                }
                // The handler runs first; further signals wait for its mask.
                return;
            }
        }
    }
}

/// `rt_sigreturn`: puts back the registers, mask and FPU state a handler's frame saved.
///
/// # Errors
/// `EFAULT` when the frame cannot be read; the caller ends the task.
pub fn sigreturn(task: &mut Task) -> overlay_syscalls::SysResult<()> {
    let regs = task.context.registers();
    let space = task.space.as_ref().ok_or(overlay_syscalls::Errno::EFAULT)?;
    let restored = task.process.signals.sigreturn(&regs, space)?;
    if let Some(bytes) = restored.fpu_bytes.as_deref() {
        task.fpu.set_bytes(bytes);
        // The FPU still holds the handler's registers: load the saved ones now.
        task.fpu.restore();
    }
    task.context.set_registers(&restored.regs);
    Ok(())
}

/// A fault of `task` in user mode, turned into its signal as Linux does: `SIGSEGV` for a page
/// or protection fault, `SIGILL`, `SIGFPE`, `SIGTRAP`, `SIGBUS`. A handler the program
/// installed runs; else the task ends (with one log line naming it, the address and the
/// instruction) with the signal's wait status.
pub fn fault(run: &mut Run, task: &mut Task, trap: Trap) {
    let regs = task.context.registers();
    let (signo, code, addr, what) = match trap {
        Trap::PageFault {
            address,
            error_code,
        } => {
            let code = if error_code & 1 != 0 {
                linux::SEGV_ACCERR
            } else {
                linux::SEGV_MAPERR
            };
            (linux::SIGSEGV, code as i32, address, "segmentation fault")
        }
        Trap::GeneralProtection { .. } => (linux::SIGSEGV, 0x80, 0, "general protection fault"),
        Trap::InvalidOpcode => (
            linux::SIGILL,
            linux::ILL_ILLOPN as i32,
            regs.rip,
            "invalid opcode",
        ),
        Trap::DivideError => (
            linux::SIGFPE,
            linux::FPE_INTDIV as i32,
            regs.rip,
            "divide error",
        ),
        Trap::X87FloatingPoint | Trap::SimdFloatingPoint => {
            (linux::SIGFPE, 0, regs.rip, "floating-point exception")
        }
        Trap::Breakpoint => (linux::SIGTRAP, 0x80, regs.rip, "breakpoint"),
        Trap::Other { vector: 1, .. } => (linux::SIGTRAP, 2, regs.rip, "single step"),
        Trap::AlignmentCheck => (linux::SIGBUS, 1, regs.rip, "alignment check"),
        Trap::Other { .. } => (linux::SIGSEGV, 0x80, 0, "exception"),
        Trap::Syscall | Trap::Timer => return,
    };
    let (vector, error_code) = (task.context.vector, task.context.error_code);
    let info = SigInfo {
        signo,
        code,
        source: SigSource::Fault {
            addr,
            trapno: vector,
            error_code,
        },
    };
    let handled = matches!(
        task.process.signals.disposition(signo),
        Disposition::Handle(_)
    ) && task.process.signals.mask() & signal::bit(signo) == 0;
    if handled {
        task.process.signals.send(info);
        deliver_pending(run, task);
        return;
    }
    report(task, what, addr, regs.rip);
    run.end_task(task, killed_status_core(signo));
}

/// The one line a fault that ends a task prints.
fn report(task: &Task, what: &str, addr: u64, rip: u64) {
    crate::serial::start_line();
    println!(
        "process {}: {what} at {addr:#x}, ip {rip:#x}: killed",
        Run::describe(task)
    );
}
