//! Test helper: writes small tar archives by hand, header by header, so tests can make both
//! good archives and every kind of bad one.

use alloc::{format, string::String, vec, vec::Vec};

use super::tar::BLOCK_SIZE;

/// A ustar header block for `name`, checksum filled in.
pub fn header(name: &str, typeflag: u8, mode: u32, size: u64, link: &str) -> [u8; BLOCK_SIZE] {
    let mut block = [0u8; BLOCK_SIZE];
    put(&mut block[0..100], name.as_bytes());
    put_octal(&mut block[100..108], u64::from(mode));
    put_octal(&mut block[108..116], 0);
    put_octal(&mut block[116..124], 0);
    put_octal(&mut block[124..136], size);
    put_octal(&mut block[136..148], 0);
    block[156] = typeflag;
    put(&mut block[157..257], link.as_bytes());
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    put_octal(&mut block[329..337], 0);
    put_octal(&mut block[337..345], 0);
    set_checksum(&mut block);
    block
}

/// Writes `bytes` at the start of `field`.
pub fn put(field: &mut [u8], bytes: &[u8]) {
    field[..bytes.len()].copy_from_slice(bytes);
}

/// Writes `value` as zero-padded octal, NUL-terminated, filling `field`.
pub fn put_octal(field: &mut [u8], value: u64) {
    let text = format!("{:0width$o}\0", value, width = field.len() - 1);
    field.copy_from_slice(text.as_bytes());
}

/// Recomputes the checksum of `block` (after a test changed a field).
pub fn set_checksum(block: &mut [u8; BLOCK_SIZE]) {
    block[148..156].fill(b' ');
    let sum: u64 = block.iter().map(|&b| u64::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    block[148..156].copy_from_slice(text.as_bytes());
}

/// One PAX record, its length prefix computed.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body_len = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut length = body_len + 1;
    while format!("{length}").len() + body_len != length {
        length += 1;
    }
    let mut record = format!("{length} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// An archive being written.
#[derive(Default)]
pub struct TarBuilder {
    pub out: Vec<u8>,
}

impl TarBuilder {
    pub fn new() -> TarBuilder {
        TarBuilder::default()
    }

    /// Appends a header block and `data`, padded to whole blocks.
    pub fn raw(&mut self, block: &[u8; BLOCK_SIZE], data: &[u8]) -> &mut Self {
        self.out.extend_from_slice(block);
        self.out.extend_from_slice(data);
        let padding = (BLOCK_SIZE - data.len() % BLOCK_SIZE) % BLOCK_SIZE;
        self.out.extend(core::iter::repeat_n(0, padding));
        self
    }

    pub fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.file_mode(path, 0o644, data)
    }

    pub fn file_mode(&mut self, path: &str, mode: u32, data: &[u8]) -> &mut Self {
        let block = header(path, b'0', mode, data.len() as u64, "");
        self.raw(&block, data)
    }

    pub fn dir(&mut self, path: &str) -> &mut Self {
        self.raw(&header(path, b'5', 0o755, 0, ""), &[])
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.raw(&header(path, b'2', 0o777, 0, target), &[])
    }

    pub fn hard_link(&mut self, path: &str, target: &str) -> &mut Self {
        self.raw(&header(path, b'1', 0o644, 0, target), &[])
    }

    pub fn device(&mut self, path: &str, typeflag: u8, major: u64, minor: u64) -> &mut Self {
        let mut block = header(path, typeflag, 0o600, 0, "");
        put_octal(&mut block[329..337], major);
        put_octal(&mut block[337..345], minor);
        set_checksum(&mut block);
        self.raw(&block, &[])
    }

    /// A PAX extended header (`x`) with `records`, for the entry that follows.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let data: Vec<u8> = records
            .iter()
            .flat_map(|(key, value)| pax_record(key, value))
            .collect();
        let block = header("PaxHeaders/x", b'x', 0o644, data.len() as u64, "");
        self.raw(&block, &data)
    }

    /// A GNU long-name entry (`L`) for the entry that follows.
    pub fn gnu_long_name(&mut self, name: &str) -> &mut Self {
        let mut data = Vec::from(name.as_bytes());
        data.push(0);
        let block = header("././@LongLink", b'L', 0o644, data.len() as u64, "");
        self.raw(&block, &data)
    }

    /// The two zero blocks that end an archive, and the archive.
    pub fn finish(&mut self) -> Vec<u8> {
        self.out.extend_from_slice(&[0; 2 * BLOCK_SIZE]);
        core::mem::take(&mut self.out)
    }
}

/// A long string of `c`s.
pub fn long(c: char, count: usize) -> String {
    core::iter::repeat_n(c, count).collect()
}

/// `count` zero bytes.
pub fn zeros(count: usize) -> Vec<u8> {
    vec![0; count]
}
