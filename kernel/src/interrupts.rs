//! The interrupt descriptor table. The kernel runs with interrupts disabled; only CPU exceptions
//! arrive here. `int3` is counted and returns (the test suite checks that); every other exception
//! is a kernel bug and ends the run through the panic handler, so it is reported, not hung on.

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Once;
use x86_64::{
    registers::control::Cr2,
    structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode},
};

use crate::gdt;

static IDT: Once<InterruptDescriptorTable> = Once::new();

/// How many breakpoint exceptions (`int3`) have been handled.
static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);

/// Loads the IDT. Call after `gdt::init`: the double-fault entry uses the TSS's stack.
pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        idt.breakpoint.set_handler_fn(breakpoint);
        // SAFETY: `DOUBLE_FAULT_IST_INDEX` names the stack that `gdt::init` stored in the TSS,
        // and no other handler uses that stack.
        unsafe {
            idt.double_fault
                .set_handler_fn(double_fault)
                .set_stack_index(gdt::DOUBLE_FAULT_IST_INDEX);
        }
        idt.page_fault.set_handler_fn(page_fault);
        idt.general_protection_fault
            .set_handler_fn(general_protection_fault);
        idt.invalid_opcode.set_handler_fn(invalid_opcode);
        idt.divide_error.set_handler_fn(divide_error);
        idt
    });
    idt.load();
}

/// Number of `int3` exceptions handled so far.
pub fn breakpoints_handled() -> u64 {
    BREAKPOINTS.load(Ordering::SeqCst)
}

extern "x86-interrupt" fn breakpoint(_frame: InterruptStackFrame) {
    BREAKPOINTS.fetch_add(1, Ordering::SeqCst);
}

extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, error_code: u64) -> ! {
    panic!("double fault (error code {error_code:#x}), often a kernel stack overflow\n{frame:#?}");
}

extern "x86-interrupt" fn page_fault(frame: InterruptStackFrame, error_code: PageFaultErrorCode) {
    match Cr2::read() {
        Ok(address) => panic!("page fault at {address:?} ({error_code:?})\n{frame:#?}"),
        Err(_) => panic!("page fault at a non-canonical address ({error_code:?})\n{frame:#?}"),
    }
}

extern "x86-interrupt" fn general_protection_fault(frame: InterruptStackFrame, error_code: u64) {
    panic!("general protection fault (error code {error_code:#x})\n{frame:#?}");
}

extern "x86-interrupt" fn invalid_opcode(frame: InterruptStackFrame) {
    panic!("invalid opcode\n{frame:#?}");
}

extern "x86-interrupt" fn divide_error(frame: InterruptStackFrame) {
    panic!("divide error\n{frame:#?}");
}
