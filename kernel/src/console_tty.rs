//! The serial console as a terminal for user programs: `overlay_syscalls::tty::Terminal`
//! (the line discipline: echo, line editing, Ctrl-C) fed with the bytes typed on COM1 and
//! writing to it.

use alloc::{sync::Arc, vec::Vec};

use overlay_syscalls::tty::{ConsoleOutput, Terminal};

use crate::serial;

/// Writes a terminal's output to COM1.
struct SerialOutput;

impl ConsoleOutput for SerialOutput {
    fn write(&self, bytes: &[u8]) {
        serial::write_bytes(bytes);
    }
}

/// The console terminal.
pub struct ConsoleTerminal {
    terminal: Arc<Terminal>,
}

impl ConsoleTerminal {
    /// A terminal on COM1 with Linux's console settings.
    pub fn new() -> Arc<ConsoleTerminal> {
        Arc::new(ConsoleTerminal {
            terminal: Terminal::new(Arc::new(SerialOutput)),
        })
    }

    /// The line discipline.
    pub fn terminal(&self) -> &Arc<Terminal> {
        &self.terminal
    }

    /// Feeds every byte typed since the last call to the terminal; whether there was any.
    pub fn poll_input(&self) -> bool {
        let mut any = false;
        while let Some(byte) = serial::try_read_byte() {
            self.terminal.input(byte);
            any = true;
        }
        any
    }

    /// The signals typed keys raised: (process group, signal).
    pub fn take_signals(&self) -> Vec<(u32, u32)> {
        self.terminal.take_signals()
    }
}
