//! The frame a signal handler runs on: Linux's x86_64 `rt_sigframe`, built on the user stack
//! by [`deliver`] and read back by [`sigreturn`].
//!
//! ```text
//! (old rsp - 128: the red zone is kept)
//!   FPU state (FXSAVE image, 64-byte aligned), if the kernel passes one
//!   rt_sigframe:  pretcode (= sa_restorer), ucontext, siginfo
//! rsp → pretcode: rsp + 8 is 16-byte aligned, as at a function's entry
//! ```
//!
//! `linux-raw-sys` carries `siginfo` but not `ucontext` or `sigcontext`; those are declared
//! here from Linux's UAPI headers (`asm/ucontext.h`, `asm/sigcontext.h`) and written at
//! their `offset_of!` offsets like every other structure.

use alloc::vec::Vec;
use core::mem::{offset_of, size_of};

use linux_raw_sys::general::{siginfo, sigset_t, stack_t as StackT};

use crate::errno::{Errno, SysResult};
use crate::regs::Registers;
use crate::user::{read_bytes, StructReader, StructWriter, UserMemory};

use super::{AltStack, SigAction, SigInfo, KERNEL_ONLY};

/// Linux's `struct sigcontext` on x86_64 (`asm/sigcontext.h`): the saved registers.
#[repr(C)]
#[allow(dead_code)]
struct SigContext {
    r8: u64,
    r9: u64,
    r10: u64,
    r11: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
    rdi: u64,
    rsi: u64,
    rbp: u64,
    rbx: u64,
    rdx: u64,
    rax: u64,
    rcx: u64,
    rsp: u64,
    rip: u64,
    eflags: u64,
    cs: u16,
    gs: u16,
    fs: u16,
    ss: u16,
    err: u64,
    trapno: u64,
    oldmask: u64,
    cr2: u64,
    fpstate: u64,
    reserved1: [u64; 8],
}

/// Linux's `struct ucontext` on x86_64 (`asm/ucontext.h`), with the kernel's 8-byte mask.
#[repr(C)]
#[allow(dead_code)]
struct UContext {
    uc_flags: u64,
    uc_link: u64,
    uc_stack: StackT,
    uc_mcontext: SigContext,
    uc_sigmask: sigset_t,
}

/// Linux's `struct rt_sigframe` on x86_64 (`arch/x86/include/asm/sigframe.h`).
#[repr(C)]
#[allow(dead_code)]
struct RtSigFrame {
    pretcode: u64,
    uc: UContext,
    info: siginfo,
}

/// `uc_flags`: the frame saves `ss` and `sigreturn` restores it strictly
/// (`UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS`), as Linux sets for 64-bit programs.
const UC_FLAGS: u64 = 0x2 | 0x4;

/// The selectors Linux's 64-bit user code runs with (`__USER_CS`, `__USER_DS`), shown in the
/// frame; the kernel puts its own back on return, whatever the frame says.
const USER_CS: u16 = 0x33;
const USER_SS: u16 = 0x2b;

/// Bytes below the interrupted `rsp` a signal frame leaves alone (the System V red zone).
const RED_ZONE_BYTES: u64 = 128;

/// Size of an FXSAVE image.
pub const FXSAVE_BYTES: usize = 512;

/// Where a frame goes: below `top` (the interrupted `rsp`, or the top of the alternate
/// stack); `altstack` is what the frame's `uc_stack` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameStack {
    /// The address the frame is built below (the red zone is kept below it too).
    pub top: u64,
    /// The alternate stack as `sigaltstack` reports it.
    pub altstack: AltStack,
}

/// Builds the frame for `info` below `stack.top` and returns the registers the handler starts with: `rip` at the
/// handler, `rsp` at the frame (whose first word, the return address, is `sa_restorer`),
/// `rdi` the signal, `rsi` the `siginfo`, `rdx` the `ucontext`, `rax` 0. The frame saves
/// `regs` and `old_mask` (the mask before delivery), and `fpu_bytes` (an FXSAVE image) if
/// given.
///
/// # Errors
/// `EFAULT` if the frame cannot be written (the kernel then kills the process with
/// `SIGSEGV`, as Linux does).
pub(crate) fn deliver(
    regs: &Registers,
    info: &SigInfo,
    action: &SigAction,
    old_mask: u64,
    stack: &FrameStack,
    memory: &mut dyn UserMemory,
    fpu_bytes: Option<&[u8]>,
) -> SysResult<Registers> {
    let mut sp = stack.top.checked_sub(RED_ZONE_BYTES).ok_or(Errno::EFAULT)?;
    let mut fpstate = 0;
    if let Some(fpu) = fpu_bytes {
        sp = sp.checked_sub(fpu.len() as u64).ok_or(Errno::EFAULT)? & !63;
        memory.write(sp, fpu)?;
        fpstate = sp;
    }
    let frame_bytes = size_of::<RtSigFrame>() as u64;
    let frame = (sp.checked_sub(frame_bytes).ok_or(Errno::EFAULT)? & !15) - 8;

    let mut writer = StructWriter::new(size_of::<RtSigFrame>());
    writer.put_u64(offset_of!(RtSigFrame, pretcode), action.restorer);
    let uc = offset_of!(RtSigFrame, uc);
    writer.put_u64(uc + offset_of!(UContext, uc_flags), UC_FLAGS);
    let uc_stack = uc + offset_of!(UContext, uc_stack);
    writer.put_u64(uc_stack + offset_of!(StackT, ss_sp), stack.altstack.sp);
    writer.put_i32(
        uc_stack + offset_of!(StackT, ss_flags),
        stack.altstack.flags,
    );
    writer.put_u64(uc_stack + offset_of!(StackT, ss_size), stack.altstack.size);
    let mc = uc + offset_of!(UContext, uc_mcontext);
    for (offset, value) in saved_registers(regs) {
        writer.put_u64(mc + offset, value);
    }
    writer.put_u16(mc + offset_of!(SigContext, cs), USER_CS);
    writer.put_u16(mc + offset_of!(SigContext, ss), USER_SS);
    writer.put_u64(mc + offset_of!(SigContext, oldmask), old_mask);
    let (trapno, error_code) = info.trap();
    writer.put_u64(mc + offset_of!(SigContext, trapno), trapno);
    writer.put_u64(mc + offset_of!(SigContext, err), error_code);
    writer.put_u64(mc + offset_of!(SigContext, cr2), info.addr());
    writer.put_u64(mc + offset_of!(SigContext, fpstate), fpstate);
    writer.put_u64(uc + offset_of!(UContext, uc_sigmask), old_mask);
    let info_at = offset_of!(RtSigFrame, info);
    writer.put(info_at, info.to_bytes().bytes());
    writer.write_to(memory, frame)?;

    Ok(Registers {
        rip: action.handler,
        rsp: frame,
        rdi: u64::from(info.signo),
        rsi: frame + info_at as u64,
        rdx: frame + uc as u64,
        rax: 0,
        // The handler runs with the direction flag clear, as the ABI requires at a call.
        rflags: regs.rflags & !(1 << 10),
        ..*regs
    })
}

/// What `rt_sigreturn` restores from a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The registers saved when the signal came (`rflags` already limited to what a user
    /// may set; `fs_base` is the thread's current one, which the frame does not hold).
    pub regs: Registers,
    /// The signal mask to put back (`SIGKILL` and `SIGSTOP` removed).
    pub mask: u64,
    /// The FPU state the frame saved (an FXSAVE image), if it saved one.
    pub fpu_bytes: Option<Vec<u8>>,
}

/// `rt_sigreturn`: reads the frame [`super::SignalState::deliver`] built back from the stack. The handler returned
/// into `sa_restorer`, popping the return address, so the frame is at `rsp - 8`.
///
/// # Errors
/// `EFAULT` if the frame cannot be read (the kernel then kills the process with `SIGSEGV`,
/// as Linux does).
pub fn sigreturn(regs: &Registers, memory: &dyn UserMemory) -> SysResult<Restored> {
    let frame = regs.rsp.checked_sub(8).ok_or(Errno::EFAULT)?;
    let reader = StructReader::read_from(memory, frame, size_of::<RtSigFrame>())?;
    let uc = offset_of!(RtSigFrame, uc);
    let mc = uc + offset_of!(UContext, uc_mcontext);
    let mut restored = Registers {
        fs_base: regs.fs_base,
        ..Registers::default()
    };
    for (offset, slot) in register_slots(&mut restored) {
        *slot = reader.u64(mc + offset);
    }
    restored.rflags = Registers::sanitized_rflags(restored.rflags);
    let mask = reader.u64(uc + offset_of!(UContext, uc_sigmask)) & !KERNEL_ONLY;
    let fpstate = reader.u64(mc + offset_of!(SigContext, fpstate));
    let fpu_bytes = if fpstate == 0 {
        None
    } else {
        Some(read_bytes(memory, fpstate, FXSAVE_BYTES)?)
    };
    Ok(Restored {
        regs: restored,
        mask,
        fpu_bytes,
    })
}

/// Each register's offset in `sigcontext`, with its value in `regs`.
fn saved_registers(regs: &Registers) -> [(usize, u64); 18] {
    let mut copy = *regs;
    let mut pairs = [(0usize, 0u64); 18];
    for (pair, (offset, slot)) in pairs.iter_mut().zip(register_slots(&mut copy)) {
        *pair = (offset, *slot);
    }
    pairs
}

/// Each register's offset in `sigcontext`, with the field of `regs` it is saved from.
fn register_slots(regs: &mut Registers) -> [(usize, &mut u64); 18] {
    [
        (offset_of!(SigContext, r8), &mut regs.r8),
        (offset_of!(SigContext, r9), &mut regs.r9),
        (offset_of!(SigContext, r10), &mut regs.r10),
        (offset_of!(SigContext, r11), &mut regs.r11),
        (offset_of!(SigContext, r12), &mut regs.r12),
        (offset_of!(SigContext, r13), &mut regs.r13),
        (offset_of!(SigContext, r14), &mut regs.r14),
        (offset_of!(SigContext, r15), &mut regs.r15),
        (offset_of!(SigContext, rdi), &mut regs.rdi),
        (offset_of!(SigContext, rsi), &mut regs.rsi),
        (offset_of!(SigContext, rbp), &mut regs.rbp),
        (offset_of!(SigContext, rbx), &mut regs.rbx),
        (offset_of!(SigContext, rdx), &mut regs.rdx),
        (offset_of!(SigContext, rax), &mut regs.rax),
        (offset_of!(SigContext, rcx), &mut regs.rcx),
        (offset_of!(SigContext, rsp), &mut regs.rsp),
        (offset_of!(SigContext, rip), &mut regs.rip),
        (offset_of!(SigContext, eflags), &mut regs.rflags),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_structures_have_linux_sizes() {
        assert_eq!(size_of::<SigContext>(), 256);
        assert_eq!(size_of::<UContext>(), 304);
        assert_eq!(size_of::<siginfo>(), 128);
        assert_eq!(size_of::<RtSigFrame>(), 440);
        assert_eq!(offset_of!(UContext, uc_mcontext), 40);
    }
}
