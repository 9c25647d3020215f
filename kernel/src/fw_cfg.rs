//! Reads named files from QEMU's firmware configuration device (fw_cfg; QEMU's
//! docs/specs/fw_cfg.rst), the kernel's boot-time input besides the RAM disk: `boot` passes
//! `-fw_cfg name=opt/overlay-kernel/...` files to choose what the kernel runs (see `mode`) and
//! to hand it image layouts too big for the BIOS RAM disk (see `rootfs`).
//!
//! Two ways to read a file's bytes:
//! - the data port (0x511), one byte per `in`: fine for a few bytes (the file directory, the
//!   mode), far too slow for megabytes;
//! - DMA (QEMU 2.5 and later, announced by bit 1 of the ID item): the kernel writes the
//!   physical address of an `FWCfgDmaAccess` structure to the DMA address register (0x514),
//!   and QEMU copies the whole item into guest memory before the `out` returns.
//!
//! [`read_file`] uses DMA when the device offers it, the data port otherwise.

use alloc::{boxed::Box, vec::Vec};
use core::ptr;

use x86_64::instructions::port::Port;

use crate::handover::Handover;

const SELECTOR_PORT: u16 = 0x510;
const DATA_PORT: u16 = 0x511;
/// The DMA address register: the high 32 bits of the address at 0x514, the low ones at 0x518
/// (writing the low half starts the transfer), each big-endian.
const DMA_HIGH_PORT: u16 = 0x514;
const DMA_LOW_PORT: u16 = 0x518;
const KEY_SIGNATURE: u16 = 0x0000;
/// A little-endian 32-bit feature bitmap: bit 0 the data port, bit 1 DMA.
const KEY_ID: u16 = 0x0001;
const KEY_FILE_DIR: u16 = 0x0019;
const FEATURE_DMA: u32 = 1 << 1;
/// Each directory entry: size (be32), select key (be16), reserved (u16), name (56 bytes, NUL-padded).
const FILE_ENTRY_BYTES: usize = 64;

/// `FWCfgDmaAccess.control` bits.
const DMA_CTL_ERROR: u32 = 1 << 0;
const DMA_CTL_READ: u32 = 1 << 1;
const DMA_CTL_SELECT: u32 = 1 << 3;

/// One file of the fw_cfg directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileEntry {
    /// Its size in bytes.
    pub size: u32,
    /// The item key that selects it.
    pub key: u16,
}

/// How a file's bytes came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// One DMA transfer.
    Dma,
    /// Byte by byte through the data port (no DMA on this device, or it reported an error).
    DataPort,
}

/// The DMA request QEMU reads: every field big-endian. 16-byte aligned so it never straddles
/// a page.
#[repr(C, align(16))]
struct DmaAccess {
    control: u32,
    length: u32,
    address: u64,
}

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

/// Whether there is a fw_cfg device at all.
fn present() -> bool {
    let mut signature = [0u8; 4];
    select(KEY_SIGNATURE);
    read_into(&mut signature);
    &signature == b"QEMU"
}

/// Whether the device offers the DMA interface.
pub fn has_dma() -> bool {
    if !present() {
        return false;
    }
    let mut id = [0u8; 4];
    select(KEY_ID);
    read_into(&mut id);
    u32::from_le_bytes(id) & FEATURE_DMA != 0
}

/// The directory entry of the file `name`, or `None` when there is no fw_cfg device or no
/// such file.
pub fn find(name: &str) -> Option<FileEntry> {
    if !present() {
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
            return Some(FileEntry {
                size: u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]),
                key: u16::from_be_bytes([entry[4], entry[5]]),
            });
        }
    }
    None
}

/// The contents of the fw_cfg file `name`, or `None` when there is no fw_cfg device or no such
/// file.
pub fn read_file(name: &str) -> Option<Vec<u8>> {
    read_file_with(name).map(|(bytes, _)| bytes)
}

/// [`read_file`], also saying how the bytes came in.
pub fn read_file_with(name: &str) -> Option<(Vec<u8>, Transfer)> {
    let entry = find(name)?;
    let mut contents = alloc::vec![0u8; entry.size as usize];
    if has_dma() && dma_read(entry.key, &mut contents) {
        return Some((contents, Transfer::Dma));
    }
    select(entry.key);
    read_into(&mut contents);
    Some((contents, Transfer::DataPort))
}

/// Physical address of `virt`, an address of the heap (`None` before the handover).
fn heap_physical(virt: *const u8) -> Option<u64> {
    let offset = Handover::get()?.physical_memory_offset;
    (virt as u64).checked_sub(offset)
}

/// Reads the whole item `key` into `buffer` (its exact size) with one DMA transfer; `false`
/// if QEMU reported an error or the addresses are not known (the caller then reads through
/// the data port).
fn dma_read(key: u16, buffer: &mut [u8]) -> bool {
    let Ok(length) = u32::try_from(buffer.len()) else {
        return false;
    };
    // Both the request and the buffer are on the heap, which is physical memory mapped at
    // `physical_memory_offset` (see `heap::claim`): one allocation is one physically
    // contiguous range, so QEMU can reach it at `virt - offset`.
    let Some(buffer_phys) = heap_physical(buffer.as_ptr()) else {
        return false;
    };
    let mut request = Box::new(DmaAccess {
        control: ((u32::from(key) << 16) | DMA_CTL_SELECT | DMA_CTL_READ).to_be(),
        length: length.to_be(),
        address: buffer_phys.to_be(),
    });
    let request_ptr: *mut DmaAccess = &mut *request;
    let Some(request_phys) = heap_physical(request_ptr.cast::<u8>()) else {
        return false;
    };
    // The request's fields must be in memory before QEMU reads them.
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    // SAFETY: 0x514/0x518 are fw_cfg's DMA address register on QEMU's PC machines (the
    // caller checked the device and its DMA feature). The request names the heap buffer
    // `buffer` by its physical address and exactly its length, so QEMU writes nothing
    // outside it; `buffer` is borrowed mutably for the whole transfer, which QEMU completes
    // before the write to the low half returns.
    unsafe {
        Port::<u32>::new(DMA_HIGH_PORT).write(((request_phys >> 32) as u32).to_be());
        Port::<u32>::new(DMA_LOW_PORT).write((request_phys as u32).to_be());
    }
    // QEMU clears `control` when the transfer is done, or leaves the error bit set.
    loop {
        // SAFETY: `request_ptr` points to the boxed request, alive until the end of this
        // function; QEMU writes `control` behind the compiler's back, hence the volatile read.
        let control = u32::from_be(unsafe { ptr::read_volatile(&(*request_ptr).control) });
        if control & DMA_CTL_ERROR != 0 {
            return false;
        }
        if control == 0 {
            break;
        }
        core::hint::spin_loop();
    }
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    drop(request);
    true
}
