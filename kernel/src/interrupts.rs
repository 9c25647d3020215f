//! The interrupt descriptor table, and what a trap taken in ring 0 does.
//!
//! Every exception and PIC vector goes to a stub of `arch::entry`, which looks at the ring the
//! trap came from. From ring 3 it belongs to the running program and `arch::enter_user`
//! returns it. From ring 0 it comes here ([`kernel_trap`]): `int3` is counted and returns (the
//! test suite checks that), the timer is counted while the kernel idles, a stray PIC IRQ is
//! acknowledged, and every other exception is a kernel bug that ends the run through the panic
//! handler, so it is reported, not hung on. The double fault keeps its own handler on its own
//! stack (a kernel-stack overflow cannot push a frame on the overflowed stack).

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Once;
use x86_64::{
    registers::control::Cr2,
    structures::idt::{
        EntryOptions, InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode,
    },
    PrivilegeLevel, VirtAddr,
};

use crate::{
    arch::{self, entry::KernelTrapFrame},
    gdt,
};

static IDT: Once<InterruptDescriptorTable> = Once::new();

/// How many breakpoint exceptions (`int3`) have been handled in ring 0.
static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);

/// Points the IDT entry of `vector` at `address`.
///
/// # Safety
/// `address` must be an interrupt entry point that handles the frame the CPU pushes for
/// `vector` (with or without error code).
unsafe fn set_entry(
    idt: &mut InterruptDescriptorTable,
    vector: u8,
    address: u64,
) -> &mut EntryOptions {
    let address = VirtAddr::new(address);
    // SAFETY: forwarded from this function's contract; each arm names the entry of `vector`.
    unsafe {
        match vector {
            8 => idt.double_fault.set_handler_addr(address),
            10 => idt.invalid_tss.set_handler_addr(address),
            11 => idt.segment_not_present.set_handler_addr(address),
            12 => idt.stack_segment_fault.set_handler_addr(address),
            13 => idt.general_protection_fault.set_handler_addr(address),
            14 => idt.page_fault.set_handler_addr(address),
            17 => idt.alignment_check.set_handler_addr(address),
            18 => idt.machine_check.set_handler_addr(address),
            vector => idt[vector].set_handler_addr(address),
        }
    }
}

/// Loads the IDT. Call after `gdt::init`: the double-fault entry uses the TSS's stack.
pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        for vector in 0..=u8::MAX {
            let Some(stub) = arch::entry::stub(vector) else {
                continue;
            };
            // SAFETY: `stub(vector)` is the entry stub written for that vector's frame.
            let options = unsafe { set_entry(&mut idt, vector, stub) };
            // `int3` and `into` are the exceptions a program raises on purpose.
            if matches!(vector, 3 | 4) {
                options.set_privilege_level(PrivilegeLevel::Ring3);
            }
        }
        // SAFETY: `DOUBLE_FAULT_IST_INDEX` names the stack that `gdt::init` stored in the TSS,
        // and no other handler uses that stack.
        unsafe {
            idt.double_fault
                .set_handler_fn(double_fault)
                .set_stack_index(gdt::DOUBLE_FAULT_IST_INDEX);
        }
        idt
    });
    idt.load();
}

/// Number of `int3` exceptions handled so far.
pub fn breakpoints_handled() -> u64 {
    BREAKPOINTS.load(Ordering::SeqCst)
}

/// A trap taken in ring 0, called by the entry stubs with the interrupted registers.
pub extern "C" fn kernel_trap(frame: &mut KernelTrapFrame) {
    let vector = frame.vector;
    match vector {
        3 => {
            BREAKPOINTS.fetch_add(1, Ordering::SeqCst);
        }
        // The timer, taken while the kernel waits in `idle_until_interrupt`.
        v if v == u64::from(arch::timer::TIMER_VECTOR) => arch::timer::tick(),
        33..=47 => arch::pic::acknowledge_other(vector as u8),
        14 => {
            let error_code = PageFaultErrorCode::from_bits_truncate(frame.error_code);
            let address = Cr2::read_raw();
            panic!("page fault at {address:#x} ({error_code:?})\n{frame:#x?}");
        }
        _ => panic!(
            "{} in the kernel (error code {:#x})\n{frame:#x?}",
            exception_name(vector),
            frame.error_code
        ),
    }
}

fn exception_name(vector: u64) -> &'static str {
    match vector {
        0 => "divide error",
        1 => "debug exception",
        2 => "non-maskable interrupt",
        4 => "overflow",
        5 => "bound range exceeded",
        6 => "invalid opcode",
        7 => "device not available",
        10 => "invalid TSS",
        11 => "segment not present",
        12 => "stack-segment fault",
        13 => "general protection fault",
        16 => "x87 floating-point exception",
        17 => "alignment check",
        18 => "machine check",
        19 => "SIMD floating-point exception",
        20 => "virtualization exception",
        _ => "unexpected interrupt",
    }
}

extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, error_code: u64) -> ! {
    panic!("double fault (error code {error_code:#x}), often a kernel stack overflow\n{frame:#?}");
}
