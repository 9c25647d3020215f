//! The clock of user mode: the PIT's channel 0 at [`TIMER_HZ`], through IRQ 0 of the PIC.
//!
//! The kernel runs with interrupts off, so a tick is taken only while a program runs in ring 3
//! (where it ends the program's run with [`Trap::Timer`](super::Trap::Timer), so no program
//! keeps the CPU) or while the kernel waits in
//! [`idle_until_interrupt`](super::idle_until_interrupt). [`ticks`] counts them.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::instructions::port::Port;

use super::pic;

/// Timer interrupts per second.
pub const TIMER_HZ: u64 = 100;

/// The vector the timer interrupts at (IRQ 0).
pub const TIMER_VECTOR: u8 = pic::FIRST_VECTOR;

/// The PIT's input clock, in Hz.
const PIT_INPUT_HZ: u64 = 1_193_182;
const PIT_CHANNEL_0: u16 = 0x40;
const PIT_COMMAND: u16 = 0x43;
/// Channel 0, low byte then high byte, mode 2 (rate generator), binary.
const PIT_RATE_GENERATOR: u8 = 0x34;

static TICKS: AtomicU64 = AtomicU64::new(0);

/// Starts the PIT at [`TIMER_HZ`]. Call after the PIC is remapped.
pub fn init() {
    let divisor = (PIT_INPUT_HZ + TIMER_HZ / 2) / TIMER_HZ;
    let [low, high, ..] = divisor.to_le_bytes();
    // SAFETY: the PIT's ports belong to the timer; nothing else in the kernel uses them.
    unsafe {
        Port::new(PIT_COMMAND).write(PIT_RATE_GENERATOR);
        let mut channel = Port::new(PIT_CHANNEL_0);
        channel.write(low);
        channel.write(high);
    }
}

/// Timer interrupts taken since boot.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::SeqCst)
}

/// Counts one tick and acknowledges it at the PIC.
pub(crate) fn tick() {
    TICKS.fetch_add(1, Ordering::SeqCst);
    pic::end_of_timer_interrupt();
}
