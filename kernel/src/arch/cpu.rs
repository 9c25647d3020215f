//! The CPU settings user mode needs, made by the kernel itself rather than trusted from the
//! firmware: SSE on (a BIOS boot leaves it off, so a program's first SSE instruction would be
//! `#UD`), XSAVE off (the kernel saves only the FXSAVE state, so programs must not see AVX),
//! no-execute pages, and `SYSCALL` aimed at the kernel's entry.

use core::arch::x86_64::__cpuid;

use x86_64::{
    registers::{
        control::{Cr0, Cr0Flags, Cr4, Cr4Flags},
        model_specific::{Efer, EferFlags, LStar, Msr, SFMask, Star},
        rflags::RFlags,
    },
    VirtAddr,
};

use super::entry;
use crate::gdt;

/// The `IA32_FS_BASE` model-specific register.
const FS_BASE_MSR: u32 = 0xc000_0100;
/// Linux's `TASK_SIZE_MAX`: the highest FS base `arch_prctl` accepts is below it.
const USER_TOP: u64 = 0x0000_7fff_ffff_f000;

/// Whether the CPU has `NX` (CPUID 0x8000_0001, EDX bit 20).
fn cpu_has_no_execute() -> bool {
    // Leaf 0x8000_0000 gives the highest extended leaf, checked before 0x8000_0001 is asked.
    __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).edx & (1 << 20) != 0
}

/// Turns on what user programs need. Call once at boot, after `gdt::init`.
pub fn init() {
    let cr0 = (Cr0::read() | Cr0Flags::MONITOR_COPROCESSOR | Cr0Flags::NUMERIC_ERROR)
        - Cr0Flags::EMULATE_COPROCESSOR
        - Cr0Flags::TASK_SWITCHED;
    let cr4 = (Cr4::read() | Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE) - Cr4Flags::OSXSAVE;
    let mut efer = Efer::read() | EferFlags::SYSTEM_CALL_EXTENSIONS;
    if cpu_has_no_execute() {
        efer |= EferFlags::NO_EXECUTE_ENABLE;
    }
    // SAFETY: enabling the FPU and SSE (MP set, EM and TS clear, OSFXSR/OSXMMEXCPT) and
    // disabling XSAVE changes nothing for the kernel, which is built soft-float and never
    // touches those registers; NX is only set when the CPU has it; SCE only allows `syscall`,
    // whose target is set below before any ring-3 code runs.
    unsafe {
        Cr0::write(cr0);
        Cr4::write(cr4);
        Efer::write(efer);
    }
    let selectors = gdt::selectors();
    if let Err(why) = Star::write(
        selectors.user_code,
        selectors.user_data,
        selectors.kernel_code,
        selectors.kernel_data,
    ) {
        panic!("the GDT's order does not suit SYSCALL/SYSRET: {why:?}");
    }
    LStar::write(VirtAddr::new(entry::syscall_entry as *const () as u64));
    // What `syscall` clears on entry: the kernel runs with interrupts off and DF clear, and
    // takes no single-step or alignment traps.
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK
            | RFlags::IOPL_HIGH
            | RFlags::IOPL_LOW,
    );
    super::fpu::init();
    // The FPU starts in the state a new program gets.
    super::FpuState::new().restore();
}

/// Whether pages can be made non-executable (`EFER.NXE` is on).
pub fn no_execute_enabled() -> bool {
    Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE)
}

/// Sets the FS base (glibc's thread pointer) for the code about to run in ring 3. An address
/// outside the user half (which `arch_prctl(ARCH_SET_FS)` refuses with `EPERM` on Linux) loads
/// 0 instead: a non-canonical one would fault here, in ring 0.
pub fn set_fs_base(base: u64) {
    let base = if base < USER_TOP { base } else { 0 };
    // SAFETY: `base` is canonical (checked), so the write cannot fault; the kernel does not
    // address through FS, so only ring-3 code sees the change.
    unsafe { Msr::new(FS_BASE_MSR).write(base) };
}

/// The current FS base.
pub fn fs_base() -> u64 {
    // SAFETY: `IA32_FS_BASE` exists on every x86_64 CPU; reading it has no side effect.
    unsafe { Msr::new(FS_BASE_MSR).read() }
}

/// Waits for the next interrupt (the timer, at the latest a tick away), with interrupts on
/// only while waiting: for a scheduler with nothing to run.
pub fn idle_until_interrupt() {
    // SAFETY: `sti` takes effect after the next instruction, so no interrupt slips in before
    // `hlt` and is missed; the handlers of interrupts taken in ring 0 return to the `cli`.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nostack)) };
}

/// What the CPU supports, as Linux reports it in `AT_HWCAP` on x86_64: CPUID leaf 1's EDX.
pub fn hwcap() -> u64 {
    u64::from(__cpuid(1).edx)
}
