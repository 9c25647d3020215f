//! The shell on the serial console (`make shell`): overlay-core's shell language, run on the
//! root container, one line at a time. `exit` (or Ctrl-D on an empty line) leaves QEMU.

use alloc::{string::String, sync::Arc, vec::Vec};

use overlay_core::overlay::OverlayFs;
use overlay_core::posix::Namespace;
use overlay_core::shell::Shell;

use crate::{print, println, serial};

const PROMPT: &str = "overlay# ";
/// Longest line the console takes; longer input is cut there.
const MAX_LINE_BYTES: usize = 4096;

/// Runs the shell on `root` until `exit`.
pub fn run(root: Arc<OverlayFs>) {
    let mut shell = Shell::new(
        Namespace::with_filesystem(root.clone()),
        Some(root as Arc<_>),
    );
    println!("shell: the root is a container of the boot image; try `layers`, `ls /`, `diff`;");
    println!("shell: the commands are overlay-core's shell language; `exit` leaves");
    loop {
        print!("{PROMPT}");
        let Some(line) = read_line() else { return };
        let line = line.trim();
        if line == "exit" {
            return;
        }
        let mut output = String::new();
        // Writing into a String cannot fail.
        let _ = shell.run_line(line, &mut output);
        print!("{output}");
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
