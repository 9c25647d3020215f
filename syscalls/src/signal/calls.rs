//! The signal calls: `rt_sigaction`, `rt_sigprocmask`, `rt_sigpending`, `sigaltstack`,
//! `rt_sigsuspend`, `pause`, and `tkill`/`tgkill` to the caller itself.

use core::mem::{offset_of, size_of};

use linux_raw_sys::general::{self as linux, kernel_sigaction, stack_t};

use crate::dispatch::{Call, Outcome};
use crate::errno::{Errno, SysResult};
use crate::user::{StructReader, StructWriter, UserMemory};

use super::{
    bit, valid, AltStack, Disposition, SigAction, SigInfo, SignalState, KERNEL_ONLY, SIGSET_BYTES,
};

impl SignalState {
    /// `rt_sigaction(signo, act, oldact, sigsetsize)`.
    ///
    /// # Errors
    /// `EINVAL` for a `sigsetsize` other than 8, a signal out of range, or a new action for
    /// `SIGKILL` or `SIGSTOP`; `EFAULT` for an unreadable `act` or unwritable `oldact`.
    pub fn rt_sigaction(
        &mut self,
        memory: &mut dyn UserMemory,
        signo: u64,
        act: u64,
        oldact: u64,
        sigsetsize: u64,
    ) -> SysResult<u64> {
        if sigsetsize != SIGSET_BYTES {
            return Err(Errno::EINVAL);
        }
        let signo = u32::try_from(signo).map_err(|_| Errno::EINVAL)?;
        if !valid(signo) || (act != 0 && bit(signo) & KERNEL_ONLY != 0) {
            return Err(Errno::EINVAL);
        }
        let old = self.action(signo);
        if act != 0 {
            let reader = StructReader::read_from(memory, act, size_of::<kernel_sigaction>())?;
            let action = SigAction {
                handler: reader.u64(offset_of!(kernel_sigaction, sa_handler_kernel)),
                flags: reader.u64(offset_of!(kernel_sigaction, sa_flags)),
                restorer: reader.u64(offset_of!(kernel_sigaction, sa_restorer)),
                mask: reader.u64(offset_of!(kernel_sigaction, sa_mask)) & !KERNEL_ONLY,
            };
            if oldact != 0 {
                write_action(memory, oldact, &old)?;
            }
            self.actions[(signo - 1) as usize] = action;
            // POSIX: setting an action that ignores a pending signal discards it.
            if self.disposition(signo) == Disposition::Ignore {
                self.pending &= !bit(signo);
                self.pending_info.remove(&signo);
            }
        } else if oldact != 0 {
            write_action(memory, oldact, &old)?;
        }
        Ok(0)
    }

    /// `rt_sigprocmask(how, set, oldset, sigsetsize)`.
    ///
    /// # Errors
    /// `EINVAL` for a `sigsetsize` other than 8 or an unknown `how` (with a `set`); `EFAULT`
    /// for an unreadable `set` or unwritable `oldset`.
    pub fn rt_sigprocmask(
        &mut self,
        memory: &mut dyn UserMemory,
        how: u64,
        set: u64,
        oldset: u64,
        sigsetsize: u64,
    ) -> SysResult<u64> {
        if sigsetsize != SIGSET_BYTES {
            return Err(Errno::EINVAL);
        }
        let old = self.mask;
        if set != 0 {
            let new = crate::user::read_u64(memory, set)?;
            let mask = match u32::try_from(how).map_err(|_| Errno::EINVAL)? {
                linux::SIG_BLOCK => old | new,
                linux::SIG_UNBLOCK => old & !new,
                linux::SIG_SETMASK => new,
                _ => return Err(Errno::EINVAL),
            };
            if oldset != 0 {
                crate::user::write_u64(memory, oldset, old)?;
            }
            self.set_mask(mask);
        } else if oldset != 0 {
            crate::user::write_u64(memory, oldset, old)?;
        }
        Ok(0)
    }

    /// `rt_sigpending(set, sigsetsize)`: the pending signals that are blocked.
    ///
    /// # Errors
    /// `EINVAL` for a `sigsetsize` above 8; `EFAULT` for an unwritable `set`.
    pub fn rt_sigpending(
        &self,
        memory: &mut dyn UserMemory,
        set: u64,
        sigsetsize: u64,
    ) -> SysResult<u64> {
        if sigsetsize > SIGSET_BYTES {
            return Err(Errno::EINVAL);
        }
        let pending = (self.pending & self.mask).to_le_bytes();
        memory.write(set, &pending[..sigsetsize as usize])?;
        Ok(0)
    }

    /// `sigaltstack(ss, old_ss)`: stores the alternate stack handlers with `SA_ONSTACK` run
    /// on.
    ///
    /// # Errors
    /// `EFAULT` for an unreadable `ss` or unwritable `old_ss`; `EPERM` to change it while a
    /// handler runs on it; `EINVAL` for flags other than `SS_DISABLE`, `SS_ONSTACK` (taken
    /// as 0, as Linux does) and `SS_AUTODISARM`; `ENOMEM` for a size below `MINSIGSTKSZ`.
    pub fn sigaltstack(
        &mut self,
        memory: &mut dyn UserMemory,
        ss: u64,
        old_ss: u64,
    ) -> SysResult<u64> {
        let mut old = self.altstack;
        if self.on_altstack {
            old.flags = linux::SS_ONSTACK as i32;
        }
        if ss != 0 {
            let reader = StructReader::read_from(memory, ss, size_of::<stack_t>())?;
            if self.on_altstack {
                return Err(Errno::EPERM);
            }
            let flags = reader.i32(offset_of!(stack_t, ss_flags)) as u32;
            let mode = flags & !linux::SS_AUTODISARM;
            let new = if mode == linux::SS_DISABLE {
                AltStack::default()
            } else if mode == 0 || mode == linux::SS_ONSTACK {
                let size = reader.u64(offset_of!(stack_t, ss_size));
                if size < u64::from(linux::MINSIGSTKSZ) {
                    return Err(Errno::ENOMEM);
                }
                AltStack {
                    sp: reader.u64(offset_of!(stack_t, ss_sp)),
                    flags: 0,
                    size,
                }
            } else {
                return Err(Errno::EINVAL);
            };
            if old_ss != 0 {
                write_altstack(memory, old_ss, &old)?;
            }
            self.altstack = new;
        } else if old_ss != 0 {
            write_altstack(memory, old_ss, &old)?;
        }
        Ok(0)
    }

    /// `rt_sigsuspend(mask, sigsetsize)`: waits with `mask` in place until a signal that is
    /// not ignored comes, then returns `EINTR` (the handler's frame restores the mask from
    /// before the call). The first run swaps the mask in and blocks; the kernel's re-runs
    /// find the swap done.
    ///
    /// # Errors
    /// `EINVAL` for a `sigsetsize` other than 8; `EFAULT` for an unreadable `mask`.
    pub fn rt_sigsuspend(
        &mut self,
        memory: &dyn UserMemory,
        mask: u64,
        sigsetsize: u64,
    ) -> SysResult<Option<u64>> {
        if sigsetsize != SIGSET_BYTES {
            return Err(Errno::EINVAL);
        }
        if self.suspended_mask.is_none() {
            let new = crate::user::read_u64(memory, mask)?;
            self.suspended_mask = Some(self.mask);
            self.set_mask(new);
        }
        Ok(self.wake())
    }

    /// `pause()`: waits until a signal that is not ignored comes, then returns `EINTR`.
    pub fn pause(&mut self) -> Option<u64> {
        self.wake()
    }

    /// `Some(-EINTR)` if a signal ends a wait now (ignored ones are dropped on the way),
    /// `None` to keep waiting.
    fn wake(&mut self) -> Option<u64> {
        while let Some(signo) = self.next_deliverable() {
            if self.disposition(signo) != Disposition::Ignore {
                return Some(Errno::EINTR.as_return());
            }
            self.pending &= !bit(signo);
            self.pending_info.remove(&signo);
        }
        None
    }
}

fn write_action(memory: &mut dyn UserMemory, addr: u64, action: &SigAction) -> SysResult<()> {
    let mut writer = StructWriter::new(size_of::<kernel_sigaction>());
    writer.put_u64(
        offset_of!(kernel_sigaction, sa_handler_kernel),
        action.handler,
    );
    writer.put_u64(offset_of!(kernel_sigaction, sa_flags), action.flags);
    writer.put_u64(offset_of!(kernel_sigaction, sa_restorer), action.restorer);
    writer.put_u64(offset_of!(kernel_sigaction, sa_mask), action.mask);
    writer.write_to(memory, addr)
}

fn write_altstack(memory: &mut dyn UserMemory, addr: u64, altstack: &AltStack) -> SysResult<()> {
    let mut writer = StructWriter::new(size_of::<stack_t>());
    writer.put_u64(offset_of!(stack_t, ss_sp), altstack.sp);
    writer.put_i32(offset_of!(stack_t, ss_flags), altstack.flags);
    writer.put_u64(offset_of!(stack_t, ss_size), altstack.size);
    writer.write_to(memory, addr)
}

/// Serves `rt_sigaction`, `rt_sigprocmask`, `rt_sigpending`, `sigaltstack`, `rt_sigsuspend`
/// and `pause` (which block until a signal comes: [`Outcome::Block`]), and `tkill`/`tgkill`
/// aimed at the caller itself (glibc's `raise` and `abort`); `tkill` and
/// `tgkill` to another thread are the kernel's ([`Outcome::Kernel`]). `None` for other
/// numbers.
pub fn dispatch(call: &mut Call<'_>, number: u64, args: [u64; 6]) -> Option<Outcome> {
    let number = u32::try_from(number).ok()?;
    let process = &mut *call.process;
    let memory = &mut *call.memory;
    let signals = &mut process.signals;
    let result = match number {
        linux::__NR_rt_sigaction => {
            signals.rt_sigaction(memory, args[0], args[1], args[2], args[3])
        }
        linux::__NR_rt_sigprocmask => {
            signals.rt_sigprocmask(memory, args[0], args[1], args[2], args[3])
        }
        linux::__NR_rt_sigpending => signals.rt_sigpending(memory, args[0], args[1]),
        linux::__NR_sigaltstack => signals.sigaltstack(memory, args[0], args[1]),
        linux::__NR_rt_sigsuspend => {
            return Some(match signals.rt_sigsuspend(memory, args[0], args[1]) {
                Ok(Some(value)) => Outcome::Return(value),
                Ok(None) => Outcome::Block,
                Err(errno) => Outcome::of(Err(errno)),
            });
        }
        linux::__NR_pause => {
            return Some(match signals.pause() {
                Some(value) => Outcome::Return(value),
                None => Outcome::Block,
            });
        }
        linux::__NR_tkill | linux::__NR_tgkill => {
            let (tid, signo) = if number == linux::__NR_tkill {
                (args[0], args[1])
            } else {
                if args[0] != u64::from(process.pid) {
                    return Some(Outcome::Kernel);
                }
                (args[1], args[2])
            };
            if tid != u64::from(process.pid) {
                return Some(Outcome::Kernel);
            }
            match u32::try_from(signo) {
                Ok(0) => Ok(0),
                Ok(signo) if valid(signo) => {
                    let uid = process.creds.uid;
                    process
                        .signals
                        .send(SigInfo::from_process(signo, process.pid, uid));
                    Ok(0)
                }
                _ => Err(Errno::EINVAL),
            }
        }
        _ => return None,
    };
    Some(Outcome::of(result))
}
