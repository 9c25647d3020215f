//! A user thread's registers, as the kernel saved them when the thread entered the kernel.
//!
//! The kernel copies its trap frame into [`Registers`] and back; the crate reads the
//! system-call arguments from it and changes it to deliver a signal or start a program.

/// The general registers, the instruction pointer and the flags of a user thread (x86_64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Registers {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
    /// The thread's FS base (`arch_prctl(ARCH_SET_FS)`: glibc's thread pointer).
    pub fs_base: u64,
}

/// The flags a user thread may hold: CF, PF, AF, ZF, SF, TF, DF, OF, AC, ID (the others are the
/// kernel's; `IF` is always set in user mode).
pub const USER_RFLAGS_MASK: u64 = 0x0004_0dd5 | (1 << 21);
/// The interrupt-enable flag, always set while a user thread runs.
pub const RFLAGS_IF: u64 = 1 << 9;

impl Registers {
    /// The registers a new program starts with: all zero but the entry point, the stack
    /// pointer and `IF`, as Linux starts a static program.
    pub fn at_entry(rip: u64, rsp: u64) -> Registers {
        Registers {
            rip,
            rsp,
            rflags: RFLAGS_IF,
            ..Registers::default()
        }
    }

    /// The system-call number (`rax` at entry).
    pub fn syscall_number(&self) -> u64 {
        self.rax
    }

    /// The six system-call arguments: `rdi, rsi, rdx, r10, r8, r9`.
    pub fn syscall_args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }

    /// `rflags` with every bit a user may not set cleared and `IF` set.
    pub fn sanitized_rflags(rflags: u64) -> u64 {
        (rflags & USER_RFLAGS_MASK) | RFLAGS_IF | 0x2
    }
}
