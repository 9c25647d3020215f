//! Signals: the actions a process installed, its mask, what is pending, and the frames that
//! deliver a signal to a handler.
//!
//! [`SignalState`] is one process's: `fork` clones it (the child's pending set is then
//! cleared with [`SignalState::clear_pending`]), `execve` calls
//! [`SignalState::reset_for_exec`]. The kernel sends signals with [`SignalState::send`] and,
//! before each return to user mode, asks [`SignalState::take_deliverable`] what to do:
//! end the process ([`Disposition::Terminate`], wait status from [`killed_status`]) or run
//! a handler ([`SignalState::deliver`] builds the frame; `rt_sigreturn` comes back through
//! [`SignalState::sigreturn`]).
//!
//! Default actions are Linux's, except that stopping (`SIGSTOP`, `SIGTSTP`, `SIGTTIN`,
//! `SIGTTOU`) is ignored: there is no job control here. Standard and real-time signals
//! alike are pending at most once (Linux queues real-time ones).
//!
//! A call blocked when a handled signal arrives ([`crate::dispatch::Outcome::Block`]) is
//! restarted after the handler if the handler has `SA_RESTART` and the call is one Linux
//! restarts, else it returns `EINTR`: [`interrupted_call`] gives the registers the frame must
//! save for either case.

mod calls;
mod frame;

use alloc::collections::BTreeMap;
use core::mem::{offset_of, size_of};

use linux_raw_sys::general::{self as linux, kernel_sigset_t};

use crate::errno::{Errno, SysResult};
use crate::regs::Registers;
use crate::user::{StructWriter, UserMemory};

pub use calls::dispatch;
pub use frame::{sigreturn, FrameStack, Restored, FXSAVE_BYTES};

/// The highest signal number.
pub const MAX_SIGNAL: u32 = linux::_NSIG;

/// The size of a signal set as the calls take it (`sigsetsize`).
pub const SIGSET_BYTES: u64 = size_of::<kernel_sigset_t>() as u64;

/// `SIG_DFL`: the default action.
pub const SIG_DFL: u64 = 0;
/// `SIG_IGN`: ignore the signal.
pub const SIG_IGN: u64 = 1;

/// The bit of `signo` in a signal set.
pub const fn bit(signo: u32) -> u64 {
    if signo >= 1 && signo <= MAX_SIGNAL {
        1 << (signo - 1)
    } else {
        0
    }
}

/// `SIGKILL` and `SIGSTOP`: they cannot be caught, ignored or blocked.
pub const KERNEL_ONLY: u64 = bit(linux::SIGKILL) | bit(linux::SIGSTOP);

/// What a process asked for one signal (`struct sigaction` as the kernel stores it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    /// The handler's address, or [`SIG_DFL`] / [`SIG_IGN`].
    pub handler: u64,
    /// `SA_*` flags.
    pub flags: u64,
    /// Where the handler returns to (`SA_RESTORER`: libc's `__restore_rt`, which calls
    /// `rt_sigreturn`).
    pub restorer: u64,
    /// Signals blocked while the handler runs.
    pub mask: u64,
}

/// What happens when a signal is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Run this handler.
    Handle(SigAction),
    /// Nothing.
    Ignore,
    /// End the process; `core` when Linux's default action dumps core (no dump is written:
    /// only the wait status says so).
    Terminate {
        /// Whether the wait status reports a core dump.
        core: bool,
    },
}

/// Where a signal came from, as its `siginfo` tells the handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigSource {
    /// Sent by a process (`kill`, `tgkill`): its id and user.
    Process {
        /// The sender's process id.
        pid: u32,
        /// The sender's user id.
        uid: u32,
    },
    /// Sent by the kernel (a terminal's `^C`, a broken pipe).
    Kernel,
    /// A fault of the process itself (`SIGSEGV`, `SIGILL`, `SIGFPE`, `SIGBUS`).
    Fault {
        /// The faulting address (`si_addr`; `cr2` in the frame).
        addr: u64,
        /// The CPU's exception vector (`trapno` in the frame).
        trapno: u64,
        /// The exception's error code (`err` in the frame).
        error_code: u64,
    },
    /// A child changed state (`SIGCHLD`).
    Child {
        /// The child's process id.
        pid: u32,
        /// The child's user id.
        uid: u32,
        /// Its exit code or signal (`si_status`).
        status: i32,
    },
}

/// One signal with what its `siginfo` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigInfo {
    /// The signal number.
    pub signo: u32,
    /// `si_code`: `SI_USER`, `SI_KERNEL`, `SEGV_MAPERR`, `CLD_EXITED`...
    pub code: i32,
    /// Where it came from.
    pub source: SigSource,
}

impl SigInfo {
    /// A signal sent by process `pid` of user `uid` (`SI_USER`).
    pub fn from_process(signo: u32, pid: u32, uid: u32) -> SigInfo {
        SigInfo {
            signo,
            code: linux::SI_USER as i32,
            source: SigSource::Process { pid, uid },
        }
    }

    /// A signal the kernel sends (`SI_KERNEL`).
    pub fn from_kernel(signo: u32) -> SigInfo {
        SigInfo {
            signo,
            code: linux::SI_KERNEL as i32,
            source: SigSource::Kernel,
        }
    }

    /// The faulting address, for the frame's `cr2` (0 unless a fault).
    fn addr(&self) -> u64 {
        match self.source {
            SigSource::Fault { addr, .. } => addr,
            _ => 0,
        }
    }

    /// The frame's `trapno` and `err` (0 unless a fault).
    fn trap(&self) -> (u64, u64) {
        match self.source {
            SigSource::Fault {
                trapno, error_code, ..
            } => (trapno, error_code),
            _ => (0, 0),
        }
    }

    /// Linux's `siginfo` (128 bytes) for it.
    pub fn to_bytes(&self) -> StructWriter {
        use linux::{
            __sifields, __sifields__bindgen_ty_1 as Kill, __sifields__bindgen_ty_4 as Child,
            __sifields__bindgen_ty_5 as Fault, siginfo__bindgen_ty_1__bindgen_ty_1 as Head,
        };
        let mut writer = StructWriter::new(size_of::<linux::siginfo>());
        writer.put_i32(offset_of!(Head, si_signo), self.signo as i32);
        writer.put_i32(offset_of!(Head, si_code), self.code);
        let fields = offset_of!(Head, _sifields);
        match self.source {
            SigSource::Process { pid, uid } => {
                let kill = fields + offset_of!(__sifields, _kill);
                writer.put_u32(kill + offset_of!(Kill, _pid), pid);
                writer.put_u32(kill + offset_of!(Kill, _uid), uid);
            }
            SigSource::Kernel => {}
            SigSource::Fault { addr, .. } => {
                let fault = fields + offset_of!(__sifields, _sigfault);
                writer.put_u64(fault + offset_of!(Fault, _addr), addr);
            }
            SigSource::Child { pid, uid, status } => {
                let child = fields + offset_of!(__sifields, _sigchld);
                writer.put_u32(child + offset_of!(Child, _pid), pid);
                writer.put_u32(child + offset_of!(Child, _uid), uid);
                writer.put_i32(child + offset_of!(Child, _status), status);
            }
        }
        writer
    }
}

/// The alternate signal stack (`sigaltstack`), as `stack_t` describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AltStack {
    /// Its lowest address.
    pub sp: u64,
    /// `SS_DISABLE` when there is none, `SS_ONSTACK` while a handler runs on it, else 0.
    pub flags: i32,
    /// Its size in bytes.
    pub size: u64,
}

impl Default for AltStack {
    fn default() -> AltStack {
        AltStack {
            sp: 0,
            flags: linux::SS_DISABLE as i32,
            size: 0,
        }
    }
}

impl AltStack {
    fn enabled(&self) -> bool {
        self.flags & linux::SS_DISABLE as i32 == 0 && self.size != 0
    }

    fn contains(&self, addr: u64) -> bool {
        self.enabled() && addr > self.sp && addr - self.sp <= self.size
    }
}

/// One process's signal state.
#[derive(Clone, Debug)]
pub struct SignalState {
    /// Actions, by signal number less one.
    actions: [SigAction; MAX_SIGNAL as usize],
    /// Blocked signals.
    mask: u64,
    /// Pending signals.
    pending: u64,
    /// What each pending signal's `siginfo` says.
    pending_info: BTreeMap<u32, SigInfo>,
    /// The alternate stack.
    altstack: AltStack,
    /// Whether a handler runs on the alternate stack now.
    on_altstack: bool,
    /// The mask `rt_sigsuspend` replaced, put back in the frame of the handler that ends it.
    suspended_mask: Option<u64>,
}

impl Default for SignalState {
    fn default() -> SignalState {
        SignalState {
            actions: [SigAction::default(); MAX_SIGNAL as usize],
            mask: 0,
            pending: 0,
            pending_info: BTreeMap::new(),
            altstack: AltStack::default(),
            on_altstack: false,
            suspended_mask: None,
        }
    }
}

/// Whether `signo` is a signal number (1..=64).
fn valid(signo: u32) -> bool {
    (1..=MAX_SIGNAL).contains(&signo)
}

/// Linux's default action for `signo` (stopping taken as ignoring).
pub fn default_disposition(signo: u32) -> Disposition {
    match signo {
        linux::SIGQUIT
        | linux::SIGILL
        | linux::SIGTRAP
        | linux::SIGABRT
        | linux::SIGBUS
        | linux::SIGFPE
        | linux::SIGSEGV
        | linux::SIGXCPU
        | linux::SIGXFSZ
        | linux::SIGSYS => Disposition::Terminate { core: true },
        linux::SIGCHLD
        | linux::SIGCONT
        | linux::SIGURG
        | linux::SIGWINCH
        | linux::SIGSTOP
        | linux::SIGTSTP
        | linux::SIGTTIN
        | linux::SIGTTOU => Disposition::Ignore,
        _ => Disposition::Terminate { core: false },
    }
}

impl SignalState {
    /// Every action the default, nothing blocked or pending.
    pub fn new() -> SignalState {
        SignalState::default()
    }

    /// The action installed for `signo` (the default for a number out of range).
    pub fn action(&self, signo: u32) -> SigAction {
        if valid(signo) {
            self.actions[(signo - 1) as usize]
        } else {
            SigAction::default()
        }
    }

    /// The blocked signals.
    pub fn mask(&self) -> u64 {
        self.mask
    }

    /// Sets the blocked signals (`SIGKILL` and `SIGSTOP` never are).
    pub fn set_mask(&mut self, mask: u64) {
        self.mask = mask & !KERNEL_ONLY;
    }

    /// The pending signals.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Forgets every pending signal (a `fork`'s child starts with none).
    pub fn clear_pending(&mut self) {
        self.pending = 0;
        self.pending_info.clear();
    }

    /// What delivering `signo` does now.
    pub fn disposition(&self, signo: u32) -> Disposition {
        if signo == linux::SIGKILL || signo == linux::SIGSTOP {
            return default_disposition(signo);
        }
        let action = self.action(signo);
        match action.handler {
            SIG_DFL => default_disposition(signo),
            SIG_IGN => Disposition::Ignore,
            _ => Disposition::Handle(action),
        }
    }

    /// Makes `info.signo` pending. An ignored signal that is not blocked is dropped at once,
    /// as Linux drops it; a signal already pending stays pending once.
    pub fn send(&mut self, info: SigInfo) {
        let signo = info.signo;
        if !valid(signo) {
            return;
        }
        if self.mask & bit(signo) == 0 && self.disposition(signo) == Disposition::Ignore {
            return;
        }
        if self.pending & bit(signo) == 0 {
            self.pending |= bit(signo);
            self.pending_info.insert(signo, info);
        }
    }

    /// Sends `signo` as the kernel (`SI_KERNEL`).
    pub fn send_signal(&mut self, signo: u32) {
        self.send(SigInfo::from_kernel(signo));
    }

    /// The lowest pending signal that is not blocked.
    pub fn next_deliverable(&self) -> Option<u32> {
        let ready = self.pending & !self.mask;
        if ready == 0 {
            None
        } else {
            Some(ready.trailing_zeros() + 1)
        }
    }

    /// Whether a signal is ready to interrupt a blocked call (one that is not ignored).
    pub fn has_deliverable(&self) -> bool {
        self.next_deliverable().is_some()
    }

    /// Takes the next signal to deliver off the pending set, with what to do: ignored ones
    /// are dropped on the way. `None` if nothing is deliverable.
    pub fn take_deliverable(&mut self) -> Option<(SigInfo, Disposition)> {
        while let Some(signo) = self.next_deliverable() {
            self.pending &= !bit(signo);
            let info = self
                .pending_info
                .remove(&signo)
                .unwrap_or_else(|| SigInfo::from_kernel(signo));
            match self.disposition(signo) {
                Disposition::Ignore => continue,
                other => return Some((info, other)),
            }
        }
        None
    }

    /// Runs `action`'s handler for `info`: builds the frame (on the alternate stack if the
    /// action has `SA_ONSTACK` and one is set up and not in use, else below `regs.rsp`),
    /// blocks the action's mask and the signal itself (unless `SA_NODEFER`), and resets the
    /// action to the default if it has `SA_RESETHAND`. Returns the handler's registers.
    /// `fpu_bytes` is the thread's FXSAVE image, saved in the frame and given back by
    /// [`SignalState::sigreturn`].
    ///
    /// # Errors
    /// `EFAULT` if the frame cannot be written: the kernel then ends the process with
    /// `SIGSEGV`, as Linux does.
    pub fn deliver(
        &mut self,
        regs: &Registers,
        info: &SigInfo,
        action: &SigAction,
        memory: &mut dyn UserMemory,
        fpu_bytes: Option<&[u8]>,
    ) -> SysResult<Registers> {
        let flags = action.flags;
        let on_altstack = self.altstack.contains(regs.rsp);
        let use_altstack =
            flags & u64::from(linux::SA_ONSTACK) != 0 && self.altstack.enabled() && !on_altstack;
        let top = if use_altstack {
            self.altstack.sp + self.altstack.size
        } else {
            regs.rsp
        };
        let mut reported = self.altstack;
        if on_altstack {
            reported.flags = linux::SS_ONSTACK as i32;
        }
        let stack = FrameStack {
            top,
            altstack: reported,
        };
        // A handler that ends `rt_sigsuspend` returns to the mask from before the suspend.
        let old_mask = self.suspended_mask.unwrap_or(self.mask);
        let handler_regs = frame::deliver(regs, info, action, old_mask, &stack, memory, fpu_bytes)?;
        self.suspended_mask = None;
        self.on_altstack = use_altstack || on_altstack;
        let mut blocked = old_mask | action.mask;
        if flags & u64::from(linux::SA_NODEFER) == 0 {
            blocked |= bit(info.signo);
        }
        self.set_mask(blocked);
        if flags & u64::from(linux::SA_RESETHAND) != 0 && valid(info.signo) {
            self.actions[(info.signo - 1) as usize] = SigAction::default();
        }
        Ok(handler_regs)
    }

    /// `rt_sigreturn`: reads the frame at `regs.rsp - 8` and puts its mask back; returns the
    /// saved registers (and FPU state) for the kernel to resume.
    ///
    /// # Errors
    /// `EFAULT` if the frame cannot be read: the kernel then ends the process with `SIGSEGV`.
    pub fn sigreturn(&mut self, regs: &Registers, memory: &dyn UserMemory) -> SysResult<Restored> {
        let restored = frame::sigreturn(regs, memory)?;
        self.set_mask(restored.mask);
        self.on_altstack = self.altstack.contains(restored.regs.rsp);
        Ok(restored)
    }

    /// What a successful `execve` keeps: ignored signals stay ignored, every other action
    /// returns to the default (flags, mask and restorer cleared); the mask and pending
    /// signals stay; the alternate stack is forgotten.
    pub fn reset_for_exec(&mut self) {
        for action in &mut self.actions {
            let handler = if action.handler == SIG_IGN {
                SIG_IGN
            } else {
                SIG_DFL
            };
            *action = SigAction {
                handler,
                ..SigAction::default()
            };
        }
        self.altstack = AltStack::default();
        self.on_altstack = false;
        self.suspended_mask = None;
    }
}

/// The wait status of a process that exited with `code` (`WIFEXITED`).
pub const fn exit_status(code: u32) -> u32 {
    (code & 0xff) << 8
}

/// The wait status of a process a signal ended (`WIFSIGNALED`), with the core-dump bit if
/// `core_dumped` (a segmentation fault: `killed_status(SIGSEGV, true)` is 139, what a shell
/// shows as `$?` 139).
pub const fn killed_status(signo: u32, core_dumped: bool) -> u32 {
    (signo & 0x7f) | if core_dumped { 0x80 } else { 0 }
}

/// Whether Linux restarts call `number` after a handler with `SA_RESTART` (its
/// `-ERESTARTSYS` calls). Sleeps, `pause`, `sigsuspend`, `poll` and `select` always return
/// `EINTR` after a handler.
pub fn restartable(number: u64) -> bool {
    let Ok(number) = u32::try_from(number) else {
        return false;
    };
    !matches!(
        number,
        linux::__NR_nanosleep
            | linux::__NR_clock_nanosleep
            | linux::__NR_pause
            | linux::__NR_rt_sigsuspend
            | linux::__NR_rt_sigtimedwait
            | linux::__NR_poll
            | linux::__NR_ppoll
            | linux::__NR_select
            | linux::__NR_pselect6
            | linux::__NR_epoll_wait
            | linux::__NR_epoll_pwait
    )
}

/// Length of the `syscall` instruction, which a restarted call runs again.
const SYSCALL_INSTRUCTION_BYTES: u64 = 2;

/// The registers to save in a signal frame for a thread whose call `number` was blocked
/// when a handler with `action` became deliverable: the call runs again after the handler
/// (`rip` back on the `syscall` instruction, `rax` the number again) if the action has
/// `SA_RESTART` and the call is [`restartable`]; else the call returns `EINTR`. `regs` are
/// the registers at the call's entry.
pub fn interrupted_call(regs: &Registers, number: u64, action: &SigAction) -> Registers {
    let mut saved = *regs;
    if action.flags & u64::from(linux::SA_RESTART) != 0 && restartable(number) {
        saved.rip = regs.rip.wrapping_sub(SYSCALL_INSTRUCTION_BYTES);
        saved.rax = number;
    } else {
        saved.rax = Errno::EINTR.as_return();
    }
    saved
}
