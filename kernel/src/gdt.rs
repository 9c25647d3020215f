//! The kernel's own GDT and TSS. The bootloader's GDT lives in a frame the kernel gives back to
//! its heap, so the kernel must stop using it first; the TSS supplies the stack the double-fault
//! handler runs on, so that a kernel-stack overflow is reported instead of triple-faulting.

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
    VirtAddr,
};

/// Interrupt-stack-table slot used by the double-fault handler.
pub const DOUBLE_FAULT_IST_INDEX: u16 = 0;

const DOUBLE_FAULT_STACK_BYTES: usize = 32 * 1024;

/// The double-fault stack. The CPU writes it, so it must be a `static mut` (a plain `static`
/// would be placed in read-only memory); Rust code never reads or writes it.
static mut DOUBLE_FAULT_STACK: [u8; DOUBLE_FAULT_STACK_BYTES] = [0; DOUBLE_FAULT_STACK_BYTES];

struct Selectors {
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

/// Loads the kernel's GDT, reloads the segment registers and loads the TSS.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        let stack_start = VirtAddr::from_ptr(&raw const DOUBLE_FAULT_STACK);
        // Stacks grow down: the IST entry is the end of the array, 16-byte aligned as the ABI
        // wants it at a call.
        tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST_INDEX)] =
            (stack_start + DOUBLE_FAULT_STACK_BYTES as u64).align_down(16u64);
        tss
    });
    let (gdt, selectors) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        (gdt, Selectors { code, data, tss })
    });
    gdt.load();
    // SAFETY: the selectors index the code, data and TSS descriptors of the GDT just loaded,
    // which lives in a `static` for the rest of the kernel's life.
    unsafe {
        CS::set_reg(selectors.code);
        SS::set_reg(selectors.data);
        DS::set_reg(selectors.data);
        ES::set_reg(selectors.data);
        load_tss(selectors.tss);
    }
}
