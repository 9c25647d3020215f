//! Reads a named file from QEMU's firmware configuration device (fw_cfg), the kernel's boot-time
//! switch: `boot` passes `-fw_cfg name=opt/overlay-kernel/mode,string=...` to choose what the
//! kernel runs, without a second kernel binary. See QEMU's docs/specs/fw_cfg.rst.

use alloc::vec::Vec;

use x86_64::instructions::port::Port;

const SELECTOR_PORT: u16 = 0x510;
const DATA_PORT: u16 = 0x511;
const KEY_SIGNATURE: u16 = 0x0000;
const KEY_FILE_DIR: u16 = 0x0019;
/// Each directory entry: size (be32), select key (be16), reserved (u16), name (56 bytes, NUL-padded).
const FILE_ENTRY_BYTES: usize = 64;

fn select(key: u16) {
    // SAFETY: 0x510 is the fw_cfg selector port on QEMU's PC machines (checked through the
    // signature before any file is read); selecting an item has no side effect besides
    // rewinding the data port.
    unsafe { Port::<u16>::new(SELECTOR_PORT).write(key) }
}

fn read_into(buffer: &mut [u8]) {
    let mut port = Port::<u8>::new(DATA_PORT);
    for byte in buffer {
        // SAFETY: 0x511 is the fw_cfg data port; reading it returns the next byte of the
        // selected item (0 past its end), and nothing else uses it.
        *byte = unsafe { port.read() };
    }
}

/// The contents of the fw_cfg file `name`, or `None` when there is no fw_cfg device or no such
/// file.
pub fn read_file(name: &str) -> Option<Vec<u8>> {
    let mut signature = [0u8; 4];
    select(KEY_SIGNATURE);
    read_into(&mut signature);
    if &signature != b"QEMU" {
        return None;
    }
    select(KEY_FILE_DIR);
    let mut count = [0u8; 4];
    read_into(&mut count);
    for _ in 0..u32::from_be_bytes(count) {
        let mut entry = [0u8; FILE_ENTRY_BYTES];
        read_into(&mut entry);
        let name_bytes = &entry[8..];
        let name_len = name_bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(name_bytes.len());
        if &name_bytes[..name_len] == name.as_bytes() {
            let size = u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]) as usize;
            let key = u16::from_be_bytes([entry[4], entry[5]]);
            let mut contents = alloc::vec![0u8; size];
            select(key);
            read_into(&mut contents);
            return Some(contents);
        }
    }
    None
}
