//! The legacy 8259 interrupt controllers, remapped to vectors 0x20..0x2f (their BIOS vectors
//! overlap the CPU's exceptions) with every line masked but IRQ 0, the timer.
//!
//! QEMU's PC keeps them wired to the CPU under both BIOS and UEFI (through the local APIC's
//! virtual-wire mode), which is all a single-CPU kernel with one timer needs.

use x86_64::instructions::port::Port;

/// The vector of IRQ 0; IRQ `n` arrives at `FIRST_VECTOR + n`.
pub const FIRST_VECTOR: u8 = 0x20;

const MASTER_COMMAND: u16 = 0x20;
const MASTER_DATA: u16 = 0x21;
const SLAVE_COMMAND: u16 = 0xa0;
const SLAVE_DATA: u16 = 0xa1;

/// ICW1: initialization, ICW4 follows (cascade mode, edge triggered).
const ICW1_INIT: u8 = 0x11;
/// ICW4: 8086 mode.
const ICW4_8086: u8 = 0x01;
/// OCW2: non-specific end of interrupt.
const END_OF_INTERRUPT: u8 = 0x20;
/// OCW3: the next read of the command port returns the in-service register.
const READ_IN_SERVICE: u8 = 0x0b;

fn write(port: u16, value: u8) {
    // SAFETY: the 8259 ports (and the POST port 0x80, written only to let the PIC settle)
    // belong to the interrupt controllers; nothing else in the kernel drives them, and the
    // kernel runs with interrupts off, so no IRQ is delivered halfway through.
    unsafe {
        Port::new(port).write(value);
        Port::<u8>::new(0x80).write(0);
    }
}

fn read(port: u16) -> u8 {
    // SAFETY: reading a PIC port has no effect beyond the OCW3 selection the caller made.
    unsafe { Port::new(port).read() }
}

/// Remaps both controllers to `FIRST_VECTOR..FIRST_VECTOR + 16` and masks every line but
/// IRQ 0.
pub fn init() {
    write(MASTER_COMMAND, ICW1_INIT);
    write(SLAVE_COMMAND, ICW1_INIT);
    write(MASTER_DATA, FIRST_VECTOR);
    write(SLAVE_DATA, FIRST_VECTOR + 8);
    // The slave hangs off the master's IRQ 2.
    write(MASTER_DATA, 1 << 2);
    write(SLAVE_DATA, 2);
    write(MASTER_DATA, ICW4_8086);
    write(SLAVE_DATA, ICW4_8086);
    write(MASTER_DATA, !1);
    write(SLAVE_DATA, 0xff);
}

/// Acknowledges IRQ 0 (the timer).
pub fn end_of_timer_interrupt() {
    write(MASTER_COMMAND, END_OF_INTERRUPT);
}

fn in_service(command_port: u16) -> u8 {
    write(command_port, READ_IN_SERVICE);
    read(command_port)
}

/// Answers an IRQ other than the timer's. They are all masked, so this is a spurious IRQ 7 or
/// 15 (the PIC raises them when a request goes away; they must not be acknowledged, except
/// the master's cascade line for a spurious IRQ 15), or a request that raced the masking.
pub fn acknowledge_other(vector: u8) {
    let irq = vector.wrapping_sub(FIRST_VECTOR);
    match irq {
        7 if in_service(MASTER_COMMAND) & 0x80 == 0 => {}
        15 if in_service(SLAVE_COMMAND) & 0x80 == 0 => write(MASTER_COMMAND, END_OF_INTERRUPT),
        8..=15 => {
            write(SLAVE_COMMAND, END_OF_INTERRUPT);
            write(MASTER_COMMAND, END_OF_INTERRUPT);
        }
        _ => write(MASTER_COMMAND, END_OF_INTERRUPT),
    }
}
