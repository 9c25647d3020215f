//! Just enough ELF64 to list the kernel's loadable segments, which tell `bootfs` which virtual
//! pages make up the running kernel image.

use alloc::vec::Vec;

/// One `PT_LOAD` program header.
#[derive(Debug, Clone, Copy)]
pub struct LoadSegment {
    /// Virtual address in the ELF file (before the bootloader's image offset is added).
    pub vaddr: u64,
    pub mem_bytes: u64,
}

const PT_LOAD: u32 = 1;

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        bytes.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        bytes.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// The `PT_LOAD` segments of a little-endian ELF64 file.
pub fn load_segments(elf: &[u8]) -> Result<Vec<LoadSegment>, &'static str> {
    if elf.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err("no ELF magic");
    }
    // EI_CLASS 2 = 64-bit, EI_DATA 1 = little-endian.
    if elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Err("not a little-endian ELF64 file");
    }
    let truncated = "program headers out of bounds";
    let ph_offset = read_u64(elf, 0x20).ok_or(truncated)? as usize;
    let ph_entry_bytes = usize::from(read_u16(elf, 0x36).ok_or(truncated)?);
    let ph_count = usize::from(read_u16(elf, 0x38).ok_or(truncated)?);
    let mut segments = Vec::new();
    for index in 0..ph_count {
        let header = index
            .checked_mul(ph_entry_bytes)
            .and_then(|at| at.checked_add(ph_offset))
            .ok_or(truncated)?;
        if read_u32(elf, header).ok_or(truncated)? != PT_LOAD {
            continue;
        }
        segments.push(LoadSegment {
            vaddr: read_u64(elf, header.saturating_add(0x10)).ok_or(truncated)?,
            mem_bytes: read_u64(elf, header.saturating_add(0x28)).ok_or(truncated)?,
        });
    }
    Ok(segments)
}
