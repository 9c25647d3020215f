//! The kernel's own GDT and TSS. The bootloader's GDT lives in a frame the kernel gives back to
//! its heap, so the kernel must stop using it first. Besides the kernel's code and data
//! segments, the GDT holds the user segments in the order `SYSCALL`/`SYSRET` need them (the
//! `STAR` register names a base, and the CPU takes the segments at fixed steps from it):
//! kernel code, kernel data, user data, user code. The TSS supplies two stacks: `RSP0`, where
//! the CPU stores a user thread's registers when it traps from ring 3 (the thread's context;
//! see `arch::entry`), and the double-fault stack, so that a kernel-stack overflow is reported
//! instead of triple-faulting.

use core::cell::UnsafeCell;

use spin::Once;
use x86_64::{
    instructions::{
        segmentation::{Segment, CS, DS, ES, SS},
        tables::load_tss,
    },
    structures::{
        gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector},
        tss::TaskStateSegment,
    },
    PrivilegeLevel, VirtAddr,
};

/// Interrupt-stack-table slot used by the double-fault handler.
pub const DOUBLE_FAULT_IST_INDEX: u16 = 0;

/// The kernel code segment (`STAR`'s `SYSCALL` base).
pub const KERNEL_CODE_SELECTOR: u16 = 0x08;
/// The kernel data segment: `SYSCALL` loads SS with the base plus 8.
pub const KERNEL_DATA_SELECTOR: u16 = 0x10;
/// The user data (stack) segment, RPL 3: `SYSRET` loads SS with `STAR`'s base plus 8.
pub const USER_DATA_SELECTOR: u16 = 0x18 | 3;
/// The 64-bit user code segment, RPL 3: `SYSRET` loads CS with `STAR`'s base plus 16.
pub const USER_CODE_SELECTOR: u16 = 0x20 | 3;

const DOUBLE_FAULT_STACK_BYTES: usize = 32 * 1024;

/// The double-fault stack. The CPU writes it, so it must be a `static mut` (a plain `static`
/// would be placed in read-only memory); Rust code never reads or writes it.
static mut DOUBLE_FAULT_STACK: [u8; DOUBLE_FAULT_STACK_BYTES] = [0; DOUBLE_FAULT_STACK_BYTES];

/// The segment selectors of the kernel's GDT.
#[derive(Debug, Clone, Copy)]
pub struct Selectors {
    pub kernel_code: SegmentSelector,
    pub kernel_data: SegmentSelector,
    pub user_data: SegmentSelector,
    pub user_code: SegmentSelector,
    pub tss: SegmentSelector,
}

/// The TSS. The CPU reads it at every trap from ring 3 and the kernel changes `RSP0` before
/// each entry to ring 3, so it lives in an `UnsafeCell`.
struct Tss(UnsafeCell<TaskStateSegment>);

// SAFETY: single CPU; the kernel changes the TSS only through `set_kernel_stack`, with
// interrupts off, and never holds a reference to it.
unsafe impl Sync for Tss {}

static TSS: Tss = Tss(UnsafeCell::new(TaskStateSegment::new()));
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

/// Loads the kernel's GDT, reloads the segment registers and loads the TSS.
pub fn init() {
    let stack_start = VirtAddr::from_ptr(&raw const DOUBLE_FAULT_STACK);
    // Stacks grow down: the IST entry is the end of the array, 16-byte aligned as the ABI wants
    // it at a call.
    let double_fault_stack = (stack_start + DOUBLE_FAULT_STACK_BYTES as u64).align_down(16u64);
    // SAFETY: the TSS is not loaded yet (or, if `init` runs again, the CPU reads it only at a
    // trap from ring 3 or a double fault, neither of which can happen here); no reference to
    // it exists.
    unsafe {
        (*TSS.0.get()).interrupt_stack_table[usize::from(DOUBLE_FAULT_IST_INDEX)] =
            double_fault_stack;
    }
    let (gdt, selectors) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let kernel_code = gdt.append(Descriptor::kernel_code_segment());
        let kernel_data = gdt.append(Descriptor::kernel_data_segment());
        let user_data = gdt.append(Descriptor::user_data_segment());
        let user_code = gdt.append(Descriptor::user_code_segment());
        // SAFETY: the TSS is a `static`, valid for as long as the GDT is used.
        let tss = gdt.append(unsafe { Descriptor::tss_segment_unchecked(TSS.0.get()) });
        (
            gdt,
            Selectors {
                kernel_code,
                kernel_data,
                user_data,
                user_code,
                tss,
            },
        )
    });
    let expected = [
        (selectors.kernel_code, KERNEL_CODE_SELECTOR),
        (selectors.kernel_data, KERNEL_DATA_SELECTOR),
        (selectors.user_data, USER_DATA_SELECTOR),
        (selectors.user_code, USER_CODE_SELECTOR),
    ];
    for (selector, value) in expected {
        assert_eq!(selector.0, value, "GDT selector out of the SYSRET order");
    }
    assert_eq!(selectors.user_code.rpl(), PrivilegeLevel::Ring3);
    gdt.load();
    // SAFETY: the selectors index the code, data and TSS descriptors of the GDT just loaded,
    // which lives in a `static` for the rest of the kernel's life.
    unsafe {
        CS::set_reg(selectors.kernel_code);
        SS::set_reg(selectors.kernel_data);
        DS::set_reg(selectors.kernel_data);
        ES::set_reg(selectors.kernel_data);
        load_tss(selectors.tss);
    }
}

/// The selectors of the loaded GDT.
///
/// # Panics
/// If [`init`] has not run (a boot-order bug).
pub fn selectors() -> Selectors {
    match GDT.get() {
        Some((_, selectors)) => *selectors,
        None => panic!("gdt::selectors before gdt::init"),
    }
}

/// Sets the TSS's `RSP0`: where the CPU pushes its frame at the next trap from ring 3.
pub fn set_kernel_stack(rsp0: u64) {
    let rsp0 = VirtAddr::new_truncate(rsp0);
    // SAFETY: single CPU with interrupts off: the CPU reads the TSS only at a trap from ring 3
    // or a double fault, neither of which runs while this store does; no reference to the TSS
    // exists. The field is written in place through the raw pointer (the struct is packed).
    unsafe {
        let tss = TSS.0.get();
        let stacks = core::ptr::addr_of_mut!((*tss).privilege_stack_table);
        let mut table = stacks.read_unaligned();
        table[0] = rsp0;
        stacks.write_unaligned(table);
    }
}
