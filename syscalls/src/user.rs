//! User memory as a system call sees it: addresses the process passed, reached only through
//! checked copies.
//!
//! The kernel implements [`UserMemory`] over the process's page tables; tests implement it
//! over a vector ([`FlatMemory`]). A handler never holds a pointer into user memory: it copies
//! the bytes in, works on them, and copies the result out, so a bad address is `EFAULT` from
//! the copy and never a fault in the kernel.
//!
//! Linux structures are packed with [`StructWriter`] at the offsets `core::mem::offset_of!`
//! gives for the `linux-raw-sys` type, and read back with [`StructReader`].

use alloc::{string::String, vec, vec::Vec};

use crate::errno::{Errno, SysResult};

/// Longest C string a path argument may be, terminating NUL included (Linux `PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// Copies between the kernel and one process's memory.
pub trait UserMemory {
    /// Fills `buf` from user address `addr`.
    ///
    /// # Errors
    /// `EFAULT` if any byte of `addr..addr + buf.len()` is not mapped readable for the user
    /// (or the range wraps, or reaches the kernel's half). Nothing is promised about `buf` then.
    fn read(&self, addr: u64, buf: &mut [u8]) -> SysResult<()>;

    /// Copies `bytes` to user address `addr`.
    ///
    /// # Errors
    /// `EFAULT` if any byte of the range is not mapped writable for the user; the bytes before
    /// the fault may have been written, as on Linux.
    fn write(&mut self, addr: u64, bytes: &[u8]) -> SysResult<()>;
}

/// Reads `len` bytes at `addr`.
///
/// # Errors
/// `EFAULT` as [`UserMemory::read`]; `ENOMEM` if the buffer cannot be allocated.
pub fn read_bytes(memory: &dyn UserMemory, addr: u64, len: usize) -> SysResult<Vec<u8>> {
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
    bytes.resize(len, 0);
    memory.read(addr, &mut bytes)?;
    Ok(bytes)
}

/// Reads a little-endian `u64` at `addr`.
///
/// # Errors
/// `EFAULT` as [`UserMemory::read`].
pub fn read_u64(memory: &dyn UserMemory, addr: u64) -> SysResult<u64> {
    let mut bytes = [0u8; 8];
    memory.read(addr, &mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// Reads a little-endian `u32` at `addr`.
///
/// # Errors
/// `EFAULT` as [`UserMemory::read`].
pub fn read_u32(memory: &dyn UserMemory, addr: u64) -> SysResult<u32> {
    let mut bytes = [0u8; 4];
    memory.read(addr, &mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

/// Writes a little-endian `u64` at `addr`.
///
/// # Errors
/// `EFAULT` as [`UserMemory::write`].
pub fn write_u64(memory: &mut dyn UserMemory, addr: u64, value: u64) -> SysResult<()> {
    memory.write(addr, &value.to_le_bytes())
}

/// Writes a little-endian `u32` at `addr`.
///
/// # Errors
/// `EFAULT` as [`UserMemory::write`].
pub fn write_u32(memory: &mut dyn UserMemory, addr: u64, value: u32) -> SysResult<()> {
    memory.write(addr, &value.to_le_bytes())
}

/// Reads the NUL-terminated string at `addr`, of at most `max` bytes with its NUL.
///
/// # Errors
/// `EFAULT` if a byte before the NUL is unreadable; `ENAMETOOLONG` if there is no NUL within
/// `max` bytes (Linux's answer for a path, whose `max` is [`PATH_MAX`]).
pub fn read_c_bytes(memory: &dyn UserMemory, addr: u64, max: usize) -> SysResult<Vec<u8>> {
    /// Bytes read at a time: most paths fit in one read.
    const CHUNK_BYTES: usize = 128;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; CHUNK_BYTES];
    // Never read past the end of the page the string is in before its NUL is missing there:
    // a string that ends just before an unmapped page must not fault on the bytes after it.
    let mut at = addr;
    while bytes.len() < max {
        let to_page_end = (4096 - (at % 4096)) as usize;
        let chunk_len = to_page_end.min(max - bytes.len()).min(CHUNK_BYTES);
        let chunk = &mut chunk[..chunk_len];
        memory.read(at, chunk)?;
        if let Some(nul) = chunk.iter().position(|&b| b == 0) {
            bytes.extend_from_slice(&chunk[..nul]);
            return Ok(bytes);
        }
        bytes.extend_from_slice(chunk);
        at = at.checked_add(chunk_len as u64).ok_or(Errno::EFAULT)?;
    }
    Err(Errno::ENAMETOOLONG)
}

/// Reads a path argument: a NUL-terminated string of at most [`PATH_MAX`] bytes.
///
/// # Errors
/// As [`read_c_bytes`]; `ENOENT` for an empty path (Linux's answer); `EINVAL` if the bytes are
/// not UTF-8 (the engine's paths are `str`; see `docs/syscalls.md`).
pub fn read_path(memory: &dyn UserMemory, addr: u64) -> SysResult<String> {
    let bytes = read_c_bytes(memory, addr, PATH_MAX)?;
    if bytes.is_empty() {
        return Err(Errno::ENOENT);
    }
    String::from_utf8(bytes).map_err(|_| Errno::EINVAL)
}

/// Reads a NULL-terminated array of string pointers (`argv`, `envp`), at most `max_total`
/// bytes of strings in all. A null `addr` is an empty array, as Linux takes it.
///
/// # Errors
/// `EFAULT` for an unreadable pointer or string; `E2BIG` past `max_total` bytes.
pub fn read_string_array(
    memory: &dyn UserMemory,
    addr: u64,
    max_total: usize,
) -> SysResult<Vec<Vec<u8>>> {
    let mut strings = Vec::new();
    if addr == 0 {
        return Ok(strings);
    }
    let mut total = 0usize;
    for index in 0u64.. {
        let slot = addr.checked_add(index * 8).ok_or(Errno::EFAULT)?;
        let pointer = read_u64(memory, slot)?;
        if pointer == 0 {
            break;
        }
        let string = match read_c_bytes(memory, pointer, max_total - total + 1) {
            Err(Errno::ENAMETOOLONG) => return Err(Errno::E2BIG),
            other => other?,
        };
        total += string.len() + 1;
        if total > max_total {
            return Err(Errno::E2BIG);
        }
        strings.push(string);
    }
    Ok(strings)
}

/// Builds one Linux structure as bytes: fields are put at their `offset_of!` offsets in a
/// zeroed buffer of the structure's size, so padding is zero and nothing is laid out by hand.
///
/// ```
/// use core::mem::{offset_of, size_of};
/// use linux_raw_sys::general::timespec;
/// use overlay_syscalls::user::StructWriter;
///
/// let mut ts = StructWriter::new(size_of::<timespec>());
/// ts.put_i64(offset_of!(timespec, tv_sec), 5);
/// ts.put_i64(offset_of!(timespec, tv_nsec), 7);
/// assert_eq!(ts.bytes()[..8], 5i64.to_le_bytes());
/// ```
#[derive(Clone, Debug)]
pub struct StructWriter {
    bytes: Vec<u8>,
}

impl StructWriter {
    /// A zeroed structure of `size` bytes.
    pub fn new(size: usize) -> StructWriter {
        StructWriter {
            bytes: vec![0; size],
        }
    }

    /// Puts `value` at `offset`. A field past the end is a bug in the caller's offsets; it is
    /// ignored (and caught by the tests that pack each structure).
    pub fn put(&mut self, offset: usize, value: &[u8]) {
        if let Some(field) = offset
            .checked_add(value.len())
            .and_then(|end| self.bytes.get_mut(offset..end))
        {
            field.copy_from_slice(value);
        }
    }

    /// Puts a `u8`.
    pub fn put_u8(&mut self, offset: usize, value: u8) {
        self.put(offset, &[value]);
    }

    /// Puts a little-endian `u16`.
    pub fn put_u16(&mut self, offset: usize, value: u16) {
        self.put(offset, &value.to_le_bytes());
    }

    /// Puts a little-endian `u32`.
    pub fn put_u32(&mut self, offset: usize, value: u32) {
        self.put(offset, &value.to_le_bytes());
    }

    /// Puts a little-endian `i32`.
    pub fn put_i32(&mut self, offset: usize, value: i32) {
        self.put(offset, &value.to_le_bytes());
    }

    /// Puts a little-endian `u64`.
    pub fn put_u64(&mut self, offset: usize, value: u64) {
        self.put(offset, &value.to_le_bytes());
    }

    /// Puts a little-endian `i64`.
    pub fn put_i64(&mut self, offset: usize, value: i64) {
        self.put(offset, &value.to_le_bytes());
    }

    /// The structure's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Copies the structure to user address `addr`.
    ///
    /// # Errors
    /// `EFAULT` as [`UserMemory::write`].
    pub fn write_to(&self, memory: &mut dyn UserMemory, addr: u64) -> SysResult<()> {
        memory.write(addr, &self.bytes)
    }
}

/// Reads fields of one Linux structure copied in from user memory.
#[derive(Clone, Debug)]
pub struct StructReader {
    bytes: Vec<u8>,
}

impl StructReader {
    /// Copies in `size` bytes at `addr`.
    ///
    /// # Errors
    /// `EFAULT` as [`UserMemory::read`].
    pub fn read_from(memory: &dyn UserMemory, addr: u64, size: usize) -> SysResult<StructReader> {
        Ok(StructReader {
            bytes: read_bytes(memory, addr, size)?,
        })
    }

    /// A reader over bytes already copied in.
    pub fn from_bytes(bytes: Vec<u8>) -> StructReader {
        StructReader { bytes }
    }

    fn field<const N: usize>(&self, offset: usize) -> [u8; N] {
        let mut field = [0u8; N];
        if let Some(bytes) = offset
            .checked_add(N)
            .and_then(|end| self.bytes.get(offset..end))
        {
            field.copy_from_slice(bytes);
        }
        field
    }

    /// The `u32` at `offset` (0 past the end).
    pub fn u32(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.field(offset))
    }

    /// The `i32` at `offset` (0 past the end).
    pub fn i32(&self, offset: usize) -> i32 {
        i32::from_le_bytes(self.field(offset))
    }

    /// The `u64` at `offset` (0 past the end).
    pub fn u64(&self, offset: usize) -> u64 {
        u64::from_le_bytes(self.field(offset))
    }

    /// The `i64` at `offset` (0 past the end).
    pub fn i64(&self, offset: usize) -> i64 {
        i64::from_le_bytes(self.field(offset))
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// User memory as one flat range of bytes starting at `base`: the tests' stand-in for a
/// process's address space. Every address outside `base..base + len` is `EFAULT`.
#[derive(Clone, Debug)]
pub struct FlatMemory {
    /// The first mapped address.
    pub base: u64,
    /// The mapped bytes.
    pub bytes: Vec<u8>,
}

impl FlatMemory {
    /// `len` zeroed bytes at `base`.
    pub fn new(base: u64, len: usize) -> FlatMemory {
        FlatMemory {
            base,
            bytes: vec![0; len],
        }
    }

    fn range(&self, addr: u64, len: usize) -> SysResult<core::ops::Range<usize>> {
        let start = addr.checked_sub(self.base).ok_or(Errno::EFAULT)?;
        let start = usize::try_from(start).map_err(|_| Errno::EFAULT)?;
        let end = start.checked_add(len).ok_or(Errno::EFAULT)?;
        if end > self.bytes.len() {
            return Err(Errno::EFAULT);
        }
        Ok(start..end)
    }
}

impl UserMemory for FlatMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> SysResult<()> {
        let range = self.range(addr, buf.len())?;
        buf.copy_from_slice(&self.bytes[range]);
        Ok(())
    }

    fn write(&mut self, addr: u64, bytes: &[u8]) -> SysResult<()> {
        let range = self.range(addr, bytes.len())?;
        self.bytes[range].copy_from_slice(bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_string_ending_before_an_unmapped_page_is_read() {
        let mut memory = FlatMemory::new(0x1000, 4096);
        memory.write(0x1ffd, b"ab\0").unwrap();
        assert_eq!(read_c_bytes(&memory, 0x1ffd, PATH_MAX).unwrap(), b"ab");
        memory.write(0x1ffd, b"abc").unwrap();
        assert_eq!(read_c_bytes(&memory, 0x1ffd, PATH_MAX), Err(Errno::EFAULT));
    }

    #[test]
    fn path_without_nul_within_path_max_is_too_long() {
        let mut memory = FlatMemory::new(0x1000, 3 * 4096);
        memory.write(0x1000, &[b'a'; 8192]).unwrap();
        assert_eq!(read_path(&memory, 0x1000), Err(Errno::ENAMETOOLONG));
        assert_eq!(read_path(&memory, 0x1000 + 8192), Err(Errno::ENOENT));
    }

    #[test]
    fn string_array_reads_until_null() {
        let mut memory = FlatMemory::new(0x1000, 4096);
        memory.write(0x1100, b"sh\0-c\0").unwrap();
        write_u64(&mut memory, 0x1000, 0x1100).unwrap();
        write_u64(&mut memory, 0x1008, 0x1103).unwrap();
        write_u64(&mut memory, 0x1010, 0).unwrap();
        let strings = read_string_array(&memory, 0x1000, 1 << 17).unwrap();
        assert_eq!(strings, [b"sh".to_vec(), b"-c".to_vec()]);
        assert_eq!(read_string_array(&memory, 0x1000, 4), Err(Errno::E2BIG));
        assert_eq!(read_string_array(&memory, 0, 4).unwrap().len(), 0);
        assert_eq!(read_string_array(&memory, 0x9000, 4), Err(Errno::EFAULT));
    }
}
