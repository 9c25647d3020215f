//! The assembly at the edge of ring 3: the interrupt and exception stubs, the `SYSCALL` entry,
//! and the two ways into user mode (`iretq`, `sysretq`).
//!
//! There are no per-process kernel stacks. [`enter_user_iret`] and [`enter_user_sysret`] save
//! the kernel's callee-saved registers and flags on the kernel stack, remember that stack
//! pointer in [`KERNEL_RSP`], load every user register from a
//! [`super::UserContext`] and go to ring 3. The TSS's `RSP0` and
//! [`CONTEXT_END`] point at the end of that same context, so the next trap from ring 3 pushes
//! its frame straight into it: the CPU writes `ss, rsp, rflags, cs, rip` (and an error code),
//! the stub adds the error code (0 when the CPU gives none) and the vector, then pushes the
//! general registers below. With the context full, the stub reloads [`KERNEL_RSP`] and
//! returns from the `enter_user_*` call, on the kernel stack it was called on.
//!
//! `SYSCALL` does not switch stacks, so [`syscall_entry`] builds the same frame itself, with
//! [`SYSCALL_VECTOR`] as its vector. A trap taken in ring 0 (a kernel bug, `int3` in the tests,
//! or the timer while the kernel idles) goes to [`kernel_trap`](crate::interrupts::kernel_trap)
//! on the current stack and returns with `iretq`, so the stubs look at the saved `CS` first.
//!
//! Single CPU: the saved stack pointer and the context pointer are plain statics.

use core::{
    arch::naked_asm,
    mem::{offset_of, size_of},
    sync::atomic::AtomicU64,
};

use super::trap::UserContext;
use crate::gdt;

/// The vector recorded for a trap that came through `SYSCALL` (not an IDT vector).
pub const SYSCALL_VECTOR: u64 = 0x100;

/// The kernel's stack pointer inside the running `enter_user_*` call.
static KERNEL_RSP: AtomicU64 = AtomicU64::new(0);

/// The end of the context the user thread now running saves into; `SYSCALL` entry switches
/// its stack pointer here (the TSS's `RSP0` holds the same address for interrupts).
pub(super) static CONTEXT_END: AtomicU64 = AtomicU64::new(0);

/// The user stack pointer, kept for the few instructions between `SYSCALL` and the push that
/// stores it in the context.
static SYSCALL_USER_RSP: AtomicU64 = AtomicU64::new(0);

/// The registers a trap taken in ring 0 leaves on the stack: the caller-saved registers the
/// stub pushes, the vector and error code, and the CPU's interrupt frame.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub struct KernelTrapFrame {
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

// The stubs' frame layout is the context's layout: the pushes below depend on it.
const _: () = {
    assert!(offset_of!(UserContext, r15) == 0);
    assert!(offset_of!(UserContext, rax) == 14 * 8);
    assert!(offset_of!(UserContext, vector) == 15 * 8);
    assert!(offset_of!(UserContext, error_code) == 16 * 8);
    assert!(offset_of!(UserContext, rip) == 17 * 8);
    assert!(offset_of!(UserContext, rsp) == 20 * 8);
    assert!(offset_of!(UserContext, ss) == 21 * 8);
    assert!(size_of::<UserContext>() == 22 * 8);
    assert!(size_of::<UserContext>().is_multiple_of(16));
    assert!(offset_of!(KernelTrapFrame, vector) == 9 * 8);
    assert!(size_of::<KernelTrapFrame>() == 16 * 8);
};

/// Goes to ring 3 with every register from `*context` through `iretq`; returns at the next
/// trap from ring 3, with `*context` holding the user's registers at that moment.
///
/// # Safety
/// `context` must be valid for writes and 16-byte aligned, its end must be in the TSS's
/// `RSP0` and in [`CONTEXT_END`], its `cs`/`ss` must be the user selectors and its `rflags`
/// sanitized (IOPL 0, IF set), its `rip` canonical, and the active page tables must map the
/// kernel (stubs, stack, context) as the kernel's own tables do.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn enter_user_iret(context: *mut UserContext) {
    naked_asm!(
        "push rbx",
        "push rbp",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "pushfq",
        "mov [rip + {kernel_rsp}], rsp",
        "mov rsp, rdi",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop r11",
        "pop r10",
        "pop r9",
        "pop r8",
        "pop rbp",
        "pop rdi",
        "pop rsi",
        "pop rdx",
        "pop rcx",
        "pop rbx",
        "pop rax",
        // Skip the vector and error code: what is left is the frame `iretq` takes.
        "add rsp, 16",
        "iretq",
        kernel_rsp = sym KERNEL_RSP,
    )
}

/// As [`enter_user_iret`], through `sysretq`: faster, but it takes `rip` from `rcx` and
/// `rflags` from `r11`, so the context must hold `rcx == rip` and `r11 == rflags`.
///
/// # Safety
/// As [`enter_user_iret`]; besides, `rcx == rip`, `r11 == rflags`, and `rip` lies in the
/// user half below its last page (a non-canonical `rcx` faults `sysretq` in ring 0 on Intel),
/// with neither TF nor RF set in `rflags`.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn enter_user_sysret(context: *mut UserContext) {
    naked_asm!(
        "push rbx",
        "push rbp",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "pushfq",
        "mov [rip + {kernel_rsp}], rsp",
        "mov rsp, rdi",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop r11",
        "pop r10",
        "pop r9",
        "pop r8",
        "pop rbp",
        "pop rdi",
        "pop rsi",
        "pop rdx",
        "pop rcx",
        "pop rbx",
        "pop rax",
        // The stack pointer now points at the vector; the user's rsp is 5 words up. IF stays
        // clear until `sysretq` loads r11 into rflags, so nothing runs on the user stack.
        "mov rsp, [rsp + 40]",
        "sysretq",
        kernel_rsp = sym KERNEL_RSP,
    )
}

/// Where every trap from ring 3 ends: `rsp` points at the context's `vector` field, with the
/// CPU frame above it. Pushes the general registers into the context, then returns from the
/// `enter_user_*` call with the kernel's stack, callee-saved registers and flags (IF and DF
/// clear) as they were.
#[unsafe(naked)]
unsafe extern "C" fn user_trap() {
    naked_asm!(
        "push rax",
        "push rbx",
        "push rcx",
        "push rdx",
        "push rsi",
        "push rdi",
        "push rbp",
        "push r8",
        "push r9",
        "push r10",
        "push r11",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov rsp, [rip + {kernel_rsp}]",
        "popfq",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbp",
        "pop rbx",
        "ret",
        kernel_rsp = sym KERNEL_RSP,
    )
}

/// The `LSTAR` target. The CPU left the user's rip in rcx and rflags in r11, masked rflags
/// with `SFMASK` (IF, DF, TF, AC clear) and did not touch rsp: build the same frame an
/// interrupt from ring 3 would, in the current context, and join [`user_trap`].
#[unsafe(naked)]
pub(super) unsafe extern "C" fn syscall_entry() {
    naked_asm!(
        "mov [rip + {user_rsp}], rsp",
        "mov rsp, [rip + {context_end}]",
        "push {user_ss}",
        "push qword ptr [rip + {user_rsp}]",
        "push r11",
        "push {user_cs}",
        "push rcx",
        "push 0",
        "push {vector}",
        "jmp {user_trap}",
        user_rsp = sym SYSCALL_USER_RSP,
        context_end = sym CONTEXT_END,
        user_ss = const gdt::USER_DATA_SELECTOR,
        user_cs = const gdt::USER_CODE_SELECTOR,
        vector = const SYSCALL_VECTOR,
        user_trap = sym user_trap,
    )
}

/// Every stub's common part. The stack holds `vector, error_code, rip, cs, ...`: a trap from
/// ring 3 goes to [`user_trap`]; one from ring 0 calls the kernel's handler with the
/// caller-saved registers kept (the kernel is soft-float, so no vector registers) and
/// returns to the interrupted kernel code.
#[unsafe(naked)]
unsafe extern "C" fn trap_common() {
    naked_asm!(
        "test byte ptr [rsp + 24], 3",
        "jnz {user_trap}",
        "push rax",
        "push rcx",
        "push rdx",
        "push rsi",
        "push rdi",
        "push r8",
        "push r9",
        "push r10",
        "push r11",
        // The CPU aligned the frame to 16 bytes; 16 words later the stack is still aligned,
        // as a call wants it.
        "mov rdi, rsp",
        "call {kernel_trap}",
        "pop r11",
        "pop r10",
        "pop r9",
        "pop r8",
        "pop rdi",
        "pop rsi",
        "pop rdx",
        "pop rcx",
        "pop rax",
        "add rsp, 16",
        "iretq",
        user_trap = sym user_trap,
        kernel_trap = sym crate::interrupts::kernel_trap,
    )
}

/// One IDT stub per vector: pushes a 0 error code where the CPU pushes none, then the vector.
macro_rules! stubs {
    ($($name:ident = $vector:literal $(, $error_code:ident)?;)*) => {
        $(
            #[unsafe(naked)]
            unsafe extern "C" fn $name() {
                naked_asm!(
                    stubs!(@error_code $($error_code)?),
                    "push {vector}",
                    "jmp {common}",
                    vector = const $vector,
                    common = sym trap_common,
                )
            }
        )*

        /// The address of the stub for `vector`, for the IDT; `None` for the vectors without
        /// one (the double fault keeps its own handler on its own stack; reserved vectors).
        pub fn stub(vector: u8) -> Option<u64> {
            let stub: unsafe extern "C" fn() = match vector {
                $($vector => $name,)*
                _ => return None,
            };
            Some(stub as usize as u64)
        }
    };
    (@error_code error_code) => { "" };
    (@error_code) => { "push 0" };
}

stubs! {
    divide_error = 0;
    debug = 1;
    non_maskable_interrupt = 2;
    breakpoint = 3;
    overflow = 4;
    bound_range_exceeded = 5;
    invalid_opcode = 6;
    device_not_available = 7;
    invalid_tss = 10, error_code;
    segment_not_present = 11, error_code;
    stack_segment_fault = 12, error_code;
    general_protection = 13, error_code;
    page_fault = 14, error_code;
    x87_floating_point = 16;
    alignment_check = 17, error_code;
    machine_check = 18;
    simd_floating_point = 19;
    virtualization = 20;
    irq_0 = 32;
    irq_1 = 33;
    irq_2 = 34;
    irq_3 = 35;
    irq_4 = 36;
    irq_5 = 37;
    irq_6 = 38;
    irq_7 = 39;
    irq_8 = 40;
    irq_9 = 41;
    irq_10 = 42;
    irq_11 = 43;
    irq_12 = 44;
    irq_13 = 45;
    irq_14 = 46;
    irq_15 = 47;
}
