//! The shell on the serial console (`make shell`): overlay-core's shell language, run in the
//! root container, one line at a time, with the image commands on the kernel's container
//! manager (`images`, `history`, `df`, `ps`, `run`, `use`, `commit`, `rmi`). `exit` (or
//! Ctrl-D on an empty line) leaves QEMU.

use alloc::{string::String, sync::Arc, vec::Vec};

use overlay_core::containers::ContainerManager;
use overlay_core::shell::{Output, Shell};

use crate::{print, println, serial};

const PROMPT: &str = "overlay# ";
/// Longest line the console takes; longer input is cut there.
const MAX_LINE_BYTES: usize = 4096;

/// Runs the shell in container `container` of `manager` until its `exit` (or Ctrl-D).
///
/// # Errors
/// The errno if there is no such container.
pub fn run(manager: Arc<ContainerManager>, container: &str) -> Result<(), overlay_core::Errno> {
    let image = manager
        .containers()
        .into_iter()
        .find(|info| info.name == container)
        .map(|info| info.image)
        .unwrap_or_default();
    let mut shell = Shell::with_engine(manager, container)?;
    println!("shell: you are in container {container} of {image}; try `layers`, `ls /`, `diff`,");
    println!(
        "shell: and `images`, `history IMAGE`, `run IMAGE NAME`, `use NAME`, `commit NAME IMAGE`,"
    );
    println!("shell: `df`, `rmi IMAGE`, `rmc NAME`, `ps`; the commands are overlay-core's shell language; `exit` leaves");
    loop {
        print!("{PROMPT}");
        let Some(line) = read_line() else {
            return Ok(());
        };
        // Writing to the serial port cannot fail.
        let _ = shell.run_line(&line, &mut SerialOutput);
        if shell.exited() {
            return Ok(());
        }
    }
}

/// The shell's output straight to the serial port, line by line as the shell makes it (a
/// `tree` of a deep container is not held whole): the bytes as the shell gives them, so
/// `cat` shows a file's content unchanged.
struct SerialOutput;

impl Output for SerialOutput {
    fn write_bytes(&mut self, bytes: &[u8]) -> core::fmt::Result {
        serial::write_bytes(bytes);
        Ok(())
    }
}

/// Reads one line, echoing what is typed and handling backspace. `None` on Ctrl-D at the
/// start of a line, or when there is no console.
fn read_line() -> Option<String> {
    let mut bytes: Vec<u8> = Vec::new();
    loop {
        match serial::read_byte()? {
            b'\r' | b'\n' => {
                println!();
                return Some(String::from_utf8_lossy(&bytes).into_owned());
            }
            0x04 if bytes.is_empty() => {
                println!();
                return None;
            }
            0x08 | 0x7f => {
                if bytes.pop().is_some() {
                    print!("\x08 \x08");
                }
            }
            byte if bytes.len() < MAX_LINE_BYTES && (byte >= 0x20 || byte == b'\t') => {
                bytes.push(byte);
                print!("{}", char::from(byte));
            }
            _ => {}
        }
    }
}
