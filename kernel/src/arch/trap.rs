//! Running user code: [`enter_user`] goes to ring 3 with a [`UserContext`] and comes back with
//! the [`Trap`] that ended the run (a system call, the timer, a fault).
//!
//! The context is where the CPU and the stubs in [`super::entry`] store the user's
//! registers at a trap, so its layout is fixed (`#[repr(C)]`, checked at compile time there).
//! Interrupts that are not the program's business (a spurious IRQ of the PIC) are answered
//! here and the program resumes, so the caller only sees traps that mean something.

use overlay_syscalls::regs::Registers;
use x86_64::registers::control::Cr2;

use super::{cpu, entry, pic, timer};
use crate::gdt;

/// The first address past the user half (x86_64, 4-level paging).
const USER_HALF_END: u64 = 0x0000_8000_0000_0000;
/// The first address of the kernel half; everything between is non-canonical.
const KERNEL_HALF_START: u64 = 0xffff_8000_0000_0000;
/// `sysretq` is used only below this: the last page of the user half is never mapped, so a
/// `syscall` can never return past the canonical boundary.
const SYSRET_RIP_LIMIT: u64 = USER_HALF_END - 4096;

const RFLAGS_TF: u64 = 1 << 8;
const RFLAGS_RF: u64 = 1 << 16;

/// A user thread's registers as the CPU and the trap stubs store them, plus the trap that
/// ended its last run. The field order is the order of the stubs' pushes (lowest address
/// first); the struct ends 16-byte aligned, as the CPU aligns the `RSP0` stack.
#[repr(C, align(16))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct UserContext {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// The trap's vector: an exception or IRQ vector, or [`SYSCALL_VECTOR`].
    pub vector: u64,
    /// The CPU's error code for the exceptions that have one, else 0.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

pub use entry::SYSCALL_VECTOR;

/// Why [`enter_user`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trap {
    /// The program executed `syscall`: the number is in `rax`, the arguments in `rdi, rsi,
    /// rdx, r10, r8, r9`; `rcx` and `r11` hold the return address and flags. Set `rax` to the
    /// result and call [`enter_user`] again to return from the call.
    Syscall,
    /// The timer ticked while the program ran (the tick is counted and acknowledged).
    Timer,
    /// `#PF`: the program touched `address` in a way its pages do not allow. Error code bits:
    /// 1 present (protection, not a missing page), 2 write, 4 user, 16 instruction fetch.
    PageFault {
        /// The address it touched (`CR2`).
        address: u64,
        /// The CPU's error code.
        error_code: u64,
    },
    /// `#GP`: a privileged instruction, a non-canonical address, or a bad segment. Also what
    /// [`enter_user`] answers, without running anything, for a non-canonical `rip`.
    GeneralProtection {
        /// The CPU's error code (0 for most causes).
        error_code: u64,
    },
    /// `#UD`: an instruction this CPU does not have (or `ud2`).
    InvalidOpcode,
    /// `#DE`: division by zero or a quotient that does not fit.
    DivideError,
    /// `#BP`: `int3`.
    Breakpoint,
    /// `#MF`: an unmasked x87 floating-point exception.
    X87FloatingPoint,
    /// `#XM`: an unmasked SSE floating-point exception.
    SimdFloatingPoint,
    /// `#AC`: an unaligned access with alignment checking on.
    AlignmentCheck,
    /// Any other exception (debug, bound range, stack segment, ...).
    Other {
        /// The exception's vector.
        vector: u8,
        /// Its error code, or 0.
        error_code: u64,
    },
}

impl UserContext {
    /// The registers as the system-call layer sees them. `fs_base` is the CPU's current FS
    /// base: right for the thread that trapped last, which is the one whose context this is
    /// when a trap is being served; for any other thread, keep its FS base yourself.
    pub fn registers(&self) -> Registers {
        Registers {
            rax: self.rax,
            rbx: self.rbx,
            rcx: self.rcx,
            rdx: self.rdx,
            rsi: self.rsi,
            rdi: self.rdi,
            rbp: self.rbp,
            rsp: self.rsp,
            r8: self.r8,
            r9: self.r9,
            r10: self.r10,
            r11: self.r11,
            r12: self.r12,
            r13: self.r13,
            r14: self.r14,
            r15: self.r15,
            rip: self.rip,
            rflags: self.rflags,
            fs_base: cpu::fs_base(),
        }
    }

    /// Takes the general registers, `rip`, `rsp` and `rflags` (sanitized: only the flags a
    /// user may hold, IF set) from `regs`, with the user code and stack selectors. `fs_base`
    /// is not the context's: apply it with [`set_fs_base`](super::set_fs_base).
    pub fn set_registers(&mut self, regs: &Registers) {
        self.rax = regs.rax;
        self.rbx = regs.rbx;
        self.rcx = regs.rcx;
        self.rdx = regs.rdx;
        self.rsi = regs.rsi;
        self.rdi = regs.rdi;
        self.rbp = regs.rbp;
        self.rsp = regs.rsp;
        self.r8 = regs.r8;
        self.r9 = regs.r9;
        self.r10 = regs.r10;
        self.r11 = regs.r11;
        self.r12 = regs.r12;
        self.r13 = regs.r13;
        self.r14 = regs.r14;
        self.r15 = regs.r15;
        self.rip = regs.rip;
        self.rflags = Registers::sanitized_rflags(regs.rflags);
        self.cs = u64::from(gdt::USER_CODE_SELECTOR);
        self.ss = u64::from(gdt::USER_DATA_SELECTOR);
    }

    /// Whether returning through `sysretq` gives the user exactly these registers: it takes
    /// `rip` from `rcx` and `rflags` from `r11`, cannot restore RF, and faults in ring 0 on a
    /// non-canonical `rcx` (Intel), so anything unusual goes through `iretq`.
    fn sysret_is_exact(&self) -> bool {
        self.rcx == self.rip
            && self.r11 == self.rflags
            && self.rip < SYSRET_RIP_LIMIT
            && self.rflags & (RFLAGS_TF | RFLAGS_RF) == 0
    }
}

/// Whether `address` is canonical (bits 63..47 all equal).
fn is_canonical(address: u64) -> bool {
    !(USER_HALF_END..KERNEL_HALF_START).contains(&address)
}

/// Runs the user thread `context` describes, in the active address space, until it traps;
/// returns why, with `context` updated to the user's registers at the trap.
///
/// Every register the program sees comes from `context` (the FPU/SSE registers and the FS
/// base are whatever the CPU holds: see [`FpuState`](super::FpuState) and
/// [`set_fs_base`](super::set_fs_base)). `cs`, `ss` and `rflags` are forced to user values
/// first. After a [`Trap::Syscall`], set `rax` and call again: the return goes through
/// `sysretq` when that restores the context exactly, else through `iretq`. A non-canonical
/// `rip` (a signal frame can hold anything) is answered with [`Trap::GeneralProtection`]
/// without entering ring 3, where Linux would raise `SIGSEGV` too.
///
/// The kernel runs with interrupts off; the program runs with them on, so the timer ends its
/// run at the next tick.
pub fn enter_user(context: &mut UserContext) -> Trap {
    loop {
        context.cs = u64::from(gdt::USER_CODE_SELECTOR);
        context.ss = u64::from(gdt::USER_DATA_SELECTOR);
        context.rflags = Registers::sanitized_rflags(context.rflags);
        if !is_canonical(context.rip) {
            context.vector = 13;
            context.error_code = 0;
            return Trap::GeneralProtection { error_code: 0 };
        }
        let context_ptr: *mut UserContext = context;
        let context_end = context_ptr as u64 + core::mem::size_of::<UserContext>() as u64;
        gdt::set_kernel_stack(context_end);
        entry::CONTEXT_END.store(context_end, core::sync::atomic::Ordering::SeqCst);
        if context.sysret_is_exact() {
            // SAFETY: `context_ptr` comes from a `&mut UserContext` (valid, 16-byte aligned by
            // its type) that outlives the call; its end is in RSP0 and CONTEXT_END (just set);
            // cs, ss and rflags are the user values (just forced) and rcx == rip, r11 ==
            // rflags, rip below the user half's last page, TF and RF clear (checked). The
            // kernel's upper half is in every address space.
            unsafe { entry::enter_user_sysret(context_ptr) };
        } else {
            // SAFETY: as above, without the sysret conditions; rip is canonical (checked).
            unsafe { entry::enter_user_iret(context_ptr) };
        }
        if let Some(trap) = decode(context) {
            return trap;
        }
    }
}

/// The trap `context` records, or `None` for an interrupt the program should not see.
fn decode(context: &UserContext) -> Option<Trap> {
    let error_code = context.error_code;
    let trap = match context.vector {
        SYSCALL_VECTOR => Trap::Syscall,
        0 => Trap::DivideError,
        3 => Trap::Breakpoint,
        6 => Trap::InvalidOpcode,
        13 => Trap::GeneralProtection { error_code },
        // Read CR2 before anything else can fault: the kernel does not take page faults, and
        // interrupts are off.
        14 => Trap::PageFault {
            address: Cr2::read_raw(),
            error_code,
        },
        16 => Trap::X87FloatingPoint,
        17 => Trap::AlignmentCheck,
        19 => Trap::SimdFloatingPoint,
        vector if vector == u64::from(timer::TIMER_VECTOR) => {
            timer::tick();
            Trap::Timer
        }
        vector @ 32..=47 => {
            pic::acknowledge_other(vector as u8);
            return None;
        }
        vector => Trap::Other {
            vector: vector as u8,
            error_code,
        },
    };
    Some(trap)
}
