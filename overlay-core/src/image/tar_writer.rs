//! [`TarWriter`]: writes an uncompressed tar archive in memory, in the format [`TarReader`]
//! reads back and [`ImageLayerFs`] serves as a layer: POSIX ustar headers, with a PAX extended
//! header (`x`) in front of an entry whenever ustar cannot hold what it needs:
//! - a path longer than ustar's 100-byte name field (or its name/prefix split), or a link
//!   target longer than 100 bytes (`path`, `linkpath`);
//! - a uid or gid above `0o7777777`, a size of 8 GiB or more, a time before the epoch, past
//!   ustar's 33 bits of seconds, or with nanoseconds (`uid`, `gid`, `size`, `mtime`);
//! - extended attributes (`SCHILY.xattr.<name>`, as GNU tar and Go write them).
//!
//! Device numbers too large for octal are written in GNU base-256, which the reader takes too.
//!
//! Nothing here panics: a path the reader would refuse (empty components are dropped; `..`,
//! NUL, a name over [`NAME_MAX`] or a path of [`PATH_MAX`] bytes or more are not) is `EINVAL`
//! or `ENAMETOOLONG`, an xattr the reader would refuse is `EINVAL`, and memory the archive
//! cannot get is `ENOMEM` (every growth of the buffer is a `try_reserve`), leaving the archive
//! as it was before the call.
//!
//! ```
//! use overlay_core::image::{EntryKind, NewEntry, TarReader, TarWriter};
//!
//! # fn main() -> Result<(), overlay_core::Errno> {
//! let mut tar = TarWriter::new();
//! tar.append(&NewEntry::new("etc", EntryKind::Directory, 0o755), &[])?;
//! tar.append(&NewEntry::new("etc/motd", EntryKind::Regular, 0o644), b"hello\n")?;
//! tar.append(&NewEntry::new("etc/.wh.hostname", EntryKind::Regular, 0o644), &[])?;
//! let archive = tar.finish()?;
//! let paths: Vec<String> = TarReader::new(&archive).map(|e| e.unwrap().path).collect();
//! assert_eq!(paths, ["etc", "etc/motd", "etc/.wh.hostname"]);
//! # Ok(())
//! # }
//! ```
//!
//! [`TarReader`]: super::TarReader
//! [`ImageLayerFs`]: super::ImageLayerFs

use alloc::{format, string::String, vec::Vec};
use core::fmt;

use super::clip;
use super::tar::{EntryKind, BLOCK_SIZE, MAX_EXTENDED_HEADER_BYTES, XATTR_VALUE_MAX};
use crate::error::{Errno, Result};
use crate::vfs::{DeviceId, Timespec, NAME_MAX, PATH_MAX};

/// Largest value of an 8-byte octal field (7 digits and a NUL).
const OCTAL_7_MAX: u64 = 0o7777777;
/// Largest value of a 12-byte octal field (11 digits and a NUL).
const OCTAL_11_MAX: u64 = 0o77777777777;
/// The ustar name field's size.
const NAME_FIELD: usize = 100;
/// The ustar prefix field's size.
const PREFIX_FIELD: usize = 155;

/// One member to append: where, what, and its metadata.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewEntry<'a> {
    /// The path in the archive, relative (a leading `/` is dropped, as the reader does); `""`
    /// is the root directory (written as `./`).
    pub path: &'a str,
    /// What the entry is; a [`EntryKind::HardLink`] names an earlier entry's path.
    pub kind: EntryKind,
    /// Permission bits (set-id and sticky bits included).
    pub mode: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time.
    pub mtime: Timespec,
    /// Extended attributes, written in this order.
    pub xattrs: &'a [(String, Vec<u8>)],
}

impl<'a> NewEntry<'a> {
    /// An entry at `path` of `kind` with `mode`, owned by `0:0`, time 0, no xattrs.
    pub fn new(path: &'a str, kind: EntryKind, mode: u16) -> NewEntry<'a> {
        NewEntry {
            path,
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: Timespec::default(),
            xattrs: &[],
        }
    }
}

/// Why [`TarWriter::try_append`] refused an entry: the errno [`TarWriter::append`] returns,
/// and what about the entry a tar (as [`TarReader`] reads it) cannot hold.
///
/// [`TarReader`]: super::TarReader
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Refusal {
    /// `EINVAL`, `ENAMETOOLONG` or `ENOMEM` (see [`TarWriter::append`]).
    pub errno: Errno,
    /// What is wrong, in a few words (`"xattrs over the 1 MiB a tar entry's extended header
    /// may hold"`).
    pub reason: &'static str,
}

impl Refusal {
    const fn new(errno: Errno, reason: &'static str) -> Refusal {
        Refusal { errno, reason }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.errno, self.reason)
    }
}

/// Out of memory for the archive.
const NO_MEMORY: Refusal = Refusal::new(Errno::ENOMEM, "no memory for the archive");
/// A path or link target too long for the reader.
const LONG_PATH: Refusal = Refusal::new(Errno::ENAMETOOLONG, "a path of 4096 bytes or more");

/// Writes a tar archive into memory; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct TarWriter {
    archive: Vec<u8>,
}

impl TarWriter {
    /// An empty archive.
    pub fn new() -> TarWriter {
        TarWriter::default()
    }

    /// Bytes written so far (without the end-of-archive marker).
    pub fn len(&self) -> usize {
        self.archive.len()
    }

    /// Whether nothing has been written yet.
    pub fn is_empty(&self) -> bool {
        self.archive.is_empty()
    }

    /// Appends `entry`, followed by `data` for a regular file.
    ///
    /// # Errors
    /// Nothing is appended on error:
    /// - `EINVAL`: `data` given for an entry that is not a regular file; a path or link
    ///   target with a `..` component or a NUL; an empty path for anything but a directory;
    ///   an empty symlink target or hard-link target; an xattr name that is empty, holds a
    ///   NUL or `=`, or is longer than [`NAME_MAX`]; an xattr value over 64 KiB; extended
    ///   headers over the reader's limit; a time with `nsec` of a second or more, or with
    ///   `sec` of `i64::MIN`;
    /// - `ENAMETOOLONG`: a component over [`NAME_MAX`] bytes, a path or target of
    ///   [`PATH_MAX`] bytes or more;
    /// - `ENOMEM`: the archive's buffer cannot grow.
    pub fn append(&mut self, entry: &NewEntry<'_>, data: &[u8]) -> Result<()> {
        self.try_append(entry, data)
            .map_err(|refusal| refusal.errno)
    }

    /// [`TarWriter::append`], saying why an entry is refused (see [`Refusal`]).
    ///
    /// # Errors
    /// Those of [`TarWriter::append`]; nothing is appended on error.
    pub fn try_append(
        &mut self,
        entry: &NewEntry<'_>,
        data: &[u8],
    ) -> core::result::Result<(), Refusal> {
        let is_regular = entry.kind == EntryKind::Regular;
        if !is_regular && !data.is_empty() {
            return Err(Refusal::new(
                Errno::EINVAL,
                "data for an entry that is not a file",
            ));
        }
        let mut path = normalize(entry.path)?;
        if path.is_empty() && entry.kind != EntryKind::Directory {
            return Err(Refusal::new(
                Errno::EINVAL,
                "a root that is not a directory",
            ));
        }
        if entry.kind == EntryKind::Directory {
            // A trailing slash marks directories for old readers too; the root is `./`.
            path.push_str(if path.is_empty() { "./" } else { "/" });
        }
        let (typeflag, link): (u8, Option<String>) = match &entry.kind {
            EntryKind::Regular => (b'0', None),
            EntryKind::HardLink { target } => {
                let target = normalize(target)?;
                if target.is_empty() {
                    return Err(Refusal::new(Errno::EINVAL, "an empty hard-link target"));
                }
                (b'1', Some(target))
            }
            EntryKind::Symlink { target } => {
                check_target(target)?;
                (b'2', Some(String::from(target.as_str())))
            }
            EntryKind::CharDevice(_) => (b'3', None),
            EntryKind::BlockDevice(_) => (b'4', None),
            EntryKind::Directory => (b'5', None),
            EntryKind::Fifo => (b'6', None),
        };
        let device = match entry.kind {
            EntryKind::CharDevice(device) | EntryKind::BlockDevice(device) => device,
            _ => DeviceId::default(),
        };
        let size = data.len() as u64;

        // What ustar cannot hold goes into a PAX header.
        let mut records = Vec::new();
        let (prefix, name) = match split_name(&path) {
            Some(split) => split,
            None => {
                pax_record(&mut records, "path", path.as_bytes())?;
                ("", clip(&path, NAME_FIELD))
            }
        };
        let link_field = match &link {
            Some(link) if link.len() > NAME_FIELD => {
                pax_record(&mut records, "linkpath", link.as_bytes())?;
                clip(link, NAME_FIELD)
            }
            Some(link) => link.as_str(),
            None => "",
        };
        if u64::from(entry.uid) > OCTAL_7_MAX {
            pax_record(&mut records, "uid", format!("{}", entry.uid).as_bytes())?;
        }
        if u64::from(entry.gid) > OCTAL_7_MAX {
            pax_record(&mut records, "gid", format!("{}", entry.gid).as_bytes())?;
        }
        if size > OCTAL_11_MAX {
            pax_record(&mut records, "size", format!("{size}").as_bytes())?;
        }
        // The reader takes nanoseconds below one second and seconds it can negate.
        if entry.mtime.nsec >= 1_000_000_000 || entry.mtime.sec == i64::MIN {
            return Err(Refusal::new(Errno::EINVAL, "a time a tar cannot hold"));
        }
        let header_mtime = match u64::try_from(entry.mtime.sec) {
            Ok(sec) if sec <= OCTAL_11_MAX && entry.mtime.nsec == 0 => sec,
            _ => {
                pax_record(&mut records, "mtime", pax_time(entry.mtime).as_bytes())?;
                0
            }
        };
        for (xattr, value) in entry.xattrs {
            if xattr.is_empty() || xattr.len() > NAME_MAX || xattr.contains(['\0', '=']) {
                return Err(Refusal::new(
                    Errno::EINVAL,
                    "an xattr name a tar cannot hold (empty, over 255 bytes, a NUL or `=`)",
                ));
            }
            if value.len() > XATTR_VALUE_MAX {
                return Err(Refusal::new(Errno::EINVAL, "an xattr value over 64 KiB"));
            }
            let key = format!("SCHILY.xattr.{xattr}");
            pax_record(&mut records, &key, value)?;
        }
        if records.len() > MAX_EXTENDED_HEADER_BYTES {
            return Err(Refusal::new(
                Errno::EINVAL,
                "xattrs and names over the 1 MiB a tar entry's extended header may hold",
            ));
        }

        let header = Header {
            name,
            prefix,
            mode: u64::from(entry.mode & 0o7777),
            uid: u64::from(entry.uid).min(OCTAL_7_MAX),
            gid: u64::from(entry.gid).min(OCTAL_7_MAX),
            size: size.min(OCTAL_11_MAX),
            mtime: header_mtime,
            typeflag,
            link: link_field,
            device,
        };
        let mut needed = padded(data.len()).ok_or(NO_MEMORY)?;
        if !records.is_empty() {
            needed = needed
                .checked_add(2 * BLOCK_SIZE + padded(records.len()).ok_or(NO_MEMORY)?)
                .ok_or(NO_MEMORY)?;
        } else {
            needed += BLOCK_SIZE;
        }
        self.archive.try_reserve(needed).map_err(|_| NO_MEMORY)?;
        // From here on nothing can fail: the space is reserved.
        if !records.is_empty() {
            let pax_name = format!("PaxHeaders/{}", base_name(&path));
            let pax = Header {
                name: clip(&pax_name, NAME_FIELD),
                prefix: "",
                mode: 0o644,
                uid: 0,
                gid: 0,
                size: records.len() as u64,
                mtime: 0,
                typeflag: b'x',
                link: "",
                device: DeviceId::default(),
            };
            self.archive.extend_from_slice(&pax.encode());
            self.push_padded(&records);
        }
        self.archive.extend_from_slice(&header.encode());
        self.push_padded(data);
        Ok(())
    }

    /// The archive, closed by its end-of-archive marker (two zero blocks).
    ///
    /// # Errors
    /// `ENOMEM` if the marker does not fit in memory.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        self.archive
            .try_reserve(2 * BLOCK_SIZE)
            .map_err(|_| Errno::ENOMEM)?;
        self.archive.resize(self.archive.len() + 2 * BLOCK_SIZE, 0);
        Ok(self.archive)
    }

    /// Appends `bytes` and zeros up to the next block boundary (space already reserved).
    fn push_padded(&mut self, bytes: &[u8]) {
        self.archive.extend_from_slice(bytes);
        let padding = (BLOCK_SIZE - bytes.len() % BLOCK_SIZE) % BLOCK_SIZE;
        self.archive.resize(self.archive.len() + padding, 0);
    }
}

/// `len` rounded up to whole blocks, `None` on overflow.
fn padded(len: usize) -> Option<usize> {
    len.checked_add(BLOCK_SIZE - 1)
        .map(|len| len / BLOCK_SIZE * BLOCK_SIZE)
}

/// The fields of one header block.
struct Header<'a> {
    name: &'a str,
    prefix: &'a str,
    mode: u64,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
    typeflag: u8,
    link: &'a str,
    device: DeviceId,
}

impl Header<'_> {
    fn encode(&self) -> [u8; BLOCK_SIZE] {
        let mut block = [0u8; BLOCK_SIZE];
        put_text(&mut block[0..100], self.name);
        put_octal(&mut block[100..108], self.mode);
        put_octal(&mut block[108..116], self.uid);
        put_octal(&mut block[116..124], self.gid);
        put_octal(&mut block[124..136], self.size);
        put_octal(&mut block[136..148], self.mtime);
        block[156] = self.typeflag;
        put_text(&mut block[157..257], self.link);
        block[257..263].copy_from_slice(b"ustar\0");
        block[263..265].copy_from_slice(b"00");
        if matches!(self.typeflag, b'3' | b'4') {
            put_number(&mut block[329..337], u64::from(self.device.major));
            put_number(&mut block[337..345], u64::from(self.device.minor));
        }
        put_text(&mut block[345..500], self.prefix);
        // The checksum is taken with its own field as blanks.
        block[148..156].fill(b' ');
        let sum: u64 = block.iter().map(|&byte| u64::from(byte)).sum();
        put_octal(&mut block[148..155], sum);
        block[155] = b' ';
        block
    }
}

/// Copies `text` into `field` (callers make sure it fits; longer text is cut).
fn put_text(field: &mut [u8], text: &str) {
    for (slot, byte) in field.iter_mut().zip(text.bytes()) {
        *slot = byte;
    }
}

/// `value` as zero-padded octal digits filling all but the last byte of `field`, then a NUL.
/// Callers keep `value` within the field (it is cut to the low digits otherwise).
fn put_octal(field: &mut [u8], mut value: u64) {
    let Some((last, digits)) = field.split_last_mut() else {
        return;
    };
    *last = 0;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (value & 7) as u8;
        value >>= 3;
    }
}

/// Octal when it fits in the 8-byte field, else GNU base-256 (marker bit, big-endian).
fn put_number(field: &mut [u8], value: u64) {
    if value <= OCTAL_7_MAX {
        put_octal(field, value);
        return;
    }
    let mut rest = value;
    for slot in field.iter_mut().rev() {
        *slot = (rest & 0xff) as u8;
        rest >>= 8;
    }
    if let Some(first) = field.first_mut() {
        *first = 0x80;
    }
}

/// Appends one PAX record, `"%d %s=%s\n"`, whose length counts itself.
fn pax_record(records: &mut Vec<u8>, key: &str, value: &[u8]) -> core::result::Result<(), Refusal> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut length = body + 1;
    while length != body + decimal_digits(length) {
        length = body + decimal_digits(length);
    }
    records.try_reserve(length).map_err(|_| NO_MEMORY)?;
    records.extend_from_slice(format!("{length} {key}=").as_bytes());
    records.extend_from_slice(value);
    records.push(b'\n');
    Ok(())
}

fn decimal_digits(mut value: usize) -> usize {
    let mut digits = 1;
    while value >= 10 {
        value /= 10;
        digits += 1;
    }
    digits
}

/// A time as PAX writes it: `[-]SECONDS[.NANOSECONDS]` (see the reader's `parse_pax_time`).
fn pax_time(time: Timespec) -> String {
    let nsec = time.nsec;
    match (time.sec < 0, nsec) {
        (_, 0) => format!("{}", time.sec),
        (false, _) => format!("{}.{nsec:09}", time.sec),
        // sec -2, nsec 750 000 000 is -1.25.
        (true, _) => format!(
            "-{}.{:09}",
            (time.sec + 1).unsigned_abs(),
            1_000_000_000 - nsec
        ),
    }
}

/// `path` as the reader would normalise it (no leading `/`, no `.` or empty components).
fn normalize(path: &str) -> core::result::Result<String, Refusal> {
    if path.len() >= PATH_MAX {
        return Err(LONG_PATH);
    }
    if path.contains('\0') {
        return Err(Refusal::new(Errno::EINVAL, "a path with a NUL"));
    }
    let mut normal = String::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err(Refusal::new(Errno::EINVAL, "a path with a `..` component")),
            _ if component.len() > NAME_MAX => {
                return Err(Refusal::new(Errno::ENAMETOOLONG, "a name over 255 bytes"))
            }
            _ => {
                if !normal.is_empty() {
                    normal.push('/');
                }
                normal.push_str(component);
            }
        }
    }
    Ok(normal)
}

/// A symlink target the reader takes: not empty, no NUL, shorter than [`PATH_MAX`].
fn check_target(target: &str) -> core::result::Result<(), Refusal> {
    if target.is_empty() || target.contains('\0') {
        return Err(Refusal::new(
            Errno::EINVAL,
            "a symlink target that is empty or holds a NUL",
        ));
    }
    if target.len() >= PATH_MAX {
        return Err(LONG_PATH);
    }
    Ok(())
}

/// `path` as ustar's `prefix` and `name` fields, if it fits them.
fn split_name(path: &str) -> Option<(&str, &str)> {
    if path.len() <= NAME_FIELD {
        return Some(("", path));
    }
    // The split is at a slash: prefix (at most 155 bytes), '/', name (at most 100 bytes).
    // A directory's trailing slash stays with the name.
    let body = path.strip_suffix('/').unwrap_or(path);
    path.char_indices()
        .filter(|&(index, c)| c == '/' && index < body.len())
        .map(|(index, _)| index)
        .find(|&index| index <= PREFIX_FIELD && path.len() - index - 1 <= NAME_FIELD)
        .filter(|&index| index > 0)
        .map(|index| (&path[..index], &path[index + 1..]))
}

/// The last component of `path` (a directory's trailing slash ignored).
fn base_name(path: &str) -> &str {
    let path = path.strip_suffix('/').unwrap_or(path);
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests;
