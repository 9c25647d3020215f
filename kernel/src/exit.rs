//! Leaving QEMU with a verdict through its `isa-debug-exit` device (`-device
//! isa-debug-exit,iobase=0xf4,iosize=0x04`): QEMU exits with status `(code << 1) | 1`.

use x86_64::instructions::{hlt, port::Port};

/// I/O port of the `isa-debug-exit` device, as `boot` configures it.
const ISA_DEBUG_EXIT_PORT: u16 = 0xf4;

/// The two verdicts. Neither is 0: QEMU's own error status is 1, which code 0 would also give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// Every test passed: QEMU exits with status 33.
    Success = 0x10,
    /// A test failed, the kernel panicked or faulted: QEMU exits with status 35.
    Failure = 0x11,
}

/// Ends the QEMU run with `code`. On a machine without the exit device the write does nothing,
/// so the CPU is halted for good instead of running on.
pub fn exit_qemu(code: ExitCode) -> ! {
    let mut port = Port::<u32>::new(ISA_DEBUG_EXIT_PORT);
    // SAFETY: 0xf4 is the isa-debug-exit device that `boot` attaches; writing it terminates the
    // virtual machine and has no other effect. Without the device the port is unused.
    unsafe { port.write(code as u32) };
    loop {
        x86_64::instructions::interrupts::disable();
        hlt();
    }
}
