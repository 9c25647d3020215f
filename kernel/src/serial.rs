//! The serial console on COM1: the kernel's only output device. Under QEMU it is wired to the
//! host's standard output (`-serial stdio`), which is what `boot qemu` and the QEMU tests read.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spin::Mutex;
use uart_16550::SerialPort;

/// I/O base port of COM1 on the PC platform.
const COM1: u16 = 0x3f8;

/// `None` until [`init`] has programmed the UART; output before that is dropped.
static CONSOLE: Mutex<Option<SerialPort>> = Mutex::new(None);

/// Programs COM1 (38400 8N1, FIFOs on) and makes it the console.
pub fn init() {
    // SAFETY: 0x3f8 is COM1 on every PC-compatible machine QEMU emulates, and this module is the
    // only code in the kernel that touches those ports.
    let mut port = unsafe { SerialPort::new(COM1) };
    port.init();
    *CONSOLE.lock() = Some(port);
}

/// Whether the last byte written was a newline (or nothing was written yet).
static AT_LINE_START: AtomicBool = AtomicBool::new(true);
/// How many writes reached the console: the test runner tells from it whether a test printed.
static WRITES: AtomicU64 = AtomicU64::new(0);

/// Writes the text, keeping [`AT_LINE_START`] and [`WRITES`].
struct Tracked<'a>(&'a mut SerialPort);

impl Write for Tracked<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if let Some(&last) = text.as_bytes().last() {
            AT_LINE_START.store(last == b'\n', Ordering::Relaxed);
        }
        self.0.write_str(text)
    }
}

/// Writes formatted text to the console; used by [`print!`](crate::print) and
/// [`println!`](crate::println).
pub fn write_fmt(args: fmt::Arguments) {
    if let Some(port) = CONSOLE.lock().as_mut() {
        WRITES.fetch_add(1, Ordering::Relaxed);
        // A UART write cannot fail: `SerialPort::write_str` always returns `Ok`.
        let _ = Tracked(port).write_fmt(args);
    }
}

/// Ends the line being written, if one is (so a log line starts on a line of its own).
pub fn start_line() {
    if !AT_LINE_START.load(Ordering::Relaxed) {
        write_fmt(format_args!("\n"));
    }
}

/// How many writes reached the console so far.
pub fn writes() -> u64 {
    WRITES.load(Ordering::Relaxed)
}

/// Waits for the next byte typed on the console (polling the UART: the kernel runs with
/// interrupts for exceptions only). `None` if the console is not set up.
pub fn read_byte() -> Option<u8> {
    // The lock is held while waiting; nothing else prints while the shell waits for input.
    CONSOLE.lock().as_mut().map(SerialPort::receive)
}

/// The next byte typed on the console if one has arrived, without waiting. `None` when
/// nothing is there or the console is not set up.
pub fn try_read_byte() -> Option<u8> {
    let mut console = CONSOLE.lock();
    let port = console.as_mut()?;
    port.try_receive().ok()
}

/// Writes raw bytes (a program's output) to the console.
pub fn write_bytes(bytes: &[u8]) {
    if let Some(port) = CONSOLE.lock().as_mut() {
        WRITES.fetch_add(1, Ordering::Relaxed);
        if let Some(&last) = bytes.last() {
            AT_LINE_START.store(last == b'\n', Ordering::Relaxed);
        }
        for &byte in bytes {
            port.send_raw(byte);
        }
    }
}

/// Writes to COM1 without taking the console lock, for the panic and fault paths: the lock may be
/// held by the very code that panicked, and nothing else runs on this single CPU afterwards.
pub fn write_fmt_emergency(args: fmt::Arguments) {
    // SAFETY: same ports as `init`; the interrupted writer (if any) never resumes, so the two
    // writers cannot interleave on the UART. Re-running `init` only resets the line settings.
    let mut port = unsafe { SerialPort::new(COM1) };
    port.init();
    let _ = port.write_fmt(args);
}

/// Prints to the serial console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::serial::write_fmt(format_args!($($arg)*)) };
}

/// Prints a line to the serial console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::serial::write_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}
