//! A reader of uncompressed tar archives over a byte slice: ustar, GNU and PAX (POSIX.1-2001).
//!
//! [`TarReader`] walks the archive's headers and yields one [`TarEntry`] per file, directory,
//! symlink, hard link, device node or fifo. File data is not copied: an entry says where its
//! bytes are in the archive ([`TarEntry::data`]).
//!
//! # What is understood
//! - Header formats: POSIX ustar (with its `prefix` field), GNU (`ustar  `) and old V7
//!   headers; numbers in octal or GNU base-256; the checksum, signed or unsigned.
//! - PAX extended headers (`x`): `path`, `linkpath`, `size`, `uid`, `gid`, `mtime` (with a
//!   fraction) and extended attributes as `SCHILY.xattr.<name>`; other keys (`uname`,
//!   `atime`, `comment`...) are checked for syntax and ignored. Global headers (`g`) are
//!   checked and ignored. GNU long names (`L`) and long link names (`K`).
//! - Entry types `0` (and NUL, and `7`), `1` (hard link), `2` (symlink), `3`, `4` (devices), `5`
//!   (directory), `6` (fifo). Only regular files carry data; like Go's `archive/tar`, the
//!   size field of the other types is ignored.
//!
//! # What is refused
//! Nothing in an archive can make the reader panic or allocate more than the archive's own
//! size; each bad input is a [`TarError`] naming the offset and the reason:
//! - `EIO`: the archive is corrupt or cut short: a header checksum that does not match, data
//!   or a header running past the end, no end-of-archive marker, an extended header with no
//!   entry after it.
//! - `EINVAL`: a field that makes no sense: octal garbage, a number too large for its field,
//!   a name that is not UTF-8 or holds a NUL, a `..` component, an empty name or symlink
//!   target, a malformed PAX record, an unknown header format.
//! - `ENAMETOOLONG`: a path over [`PATH_MAX`] bytes or a component over [`NAME_MAX`] bytes.
//! - `ENOTSUP`: an entry type this reader does not handle (GNU sparse files, multi-volume
//!   archives, ...).
//! - `ENOMEM`: what an entry needs (its names, its extended attributes) could not be
//!   allocated: the reader allocates fallibly, so a machine out of memory gets an error, not
//!   a panic.
//!
//! Paths are normalised: leading `/` and `./`, `.` components, repeated and trailing
//! slashes are dropped, so `./etc//passwd` and `/etc/passwd` are both `etc/passwd`, and `./`
//! is `""`, the root.

use alloc::{string::String, vec::Vec};
use core::fmt;
use core::ops::Range;

use crate::error::Errno;
use crate::vfs::{DeviceId, Timespec, NAME_MAX, PATH_MAX};

/// Size of a tar block: headers take one, file data is padded to a whole number of them.
pub const BLOCK_SIZE: usize = 512;
/// Largest PAX extended header accepted, in bytes (a bound on what one entry may allocate).
pub const MAX_EXTENDED_HEADER_BYTES: usize = 1 << 20;
/// Largest extended attribute value accepted, in bytes (Linux `XATTR_SIZE_MAX`).
pub const XATTR_VALUE_MAX: usize = 64 * 1024;

/// The PAX key prefix of extended attributes (as GNU tar, star and Go write them).
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

/// What an entry is.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum EntryKind {
    /// A regular file; its bytes are at [`TarEntry::data`].
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link to `target` (as written: relative or absolute, not normalised).
    Symlink {
        /// The link's target.
        target: String,
    },
    /// Another name for the file at `target`, a normalised path of an earlier entry.
    HardLink {
        /// The path of the file linked to.
        target: String,
    },
    /// A character device node.
    CharDevice(DeviceId),
    /// A block device node.
    BlockDevice(DeviceId),
    /// A named pipe.
    Fifo,
}

/// One member of an archive.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TarEntry {
    /// The normalised path (see the [module docs](self)); `""` is the root directory.
    pub path: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// Permission bits (set-id and sticky bits included).
    pub mode: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time.
    pub mtime: Timespec,
    /// Where a regular file's bytes are in the archive; an empty range for other kinds.
    pub data: Range<usize>,
    /// Extended attributes (PAX `SCHILY.xattr.*`), in archive order, names unique.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Offset of the entry's own header in the archive (after any extended headers).
    pub header_offset: usize,
    /// Where the path is in the archive as written, before normalisation: the text of the
    /// first range, then (for a ustar header with a `prefix`) a `/` and the second. Each
    /// component of [`TarEntry::path`] is a piece of these ranges, in order (see
    /// [`TarEntry::path_components`]): a layer can keep names as places in the archive.
    pub path_bytes: [Range<usize>; 2],
    /// Where a link's target is in the archive as written (the header's `linkname`, a PAX
    /// `linkpath` or a GNU long link name); an empty range for other kinds.
    pub link_bytes: Range<usize>,
}

impl TarEntry {
    /// The size of a regular file's data in bytes (0 for other kinds).
    pub fn size(&self) -> u64 {
        (self.data.end - self.data.start) as u64
    }

    /// Where each component of [`TarEntry::path`] is in `archive` (the archive the entry
    /// was read from), in order: the pieces of [`TarEntry::path_bytes`] between slashes,
    /// without the empty and `.` ones that normalisation drops.
    pub fn path_components<'a>(
        &'a self,
        archive: &'a [u8],
    ) -> impl Iterator<Item = Range<usize>> + 'a {
        self.path_bytes.iter().flat_map(move |range| {
            let text = archive.get(range.clone()).unwrap_or_default();
            let mut start = range.start;
            text.split(|&byte| byte == b'/').filter_map(move |piece| {
                let component = start..start + piece.len();
                start = component.end + 1;
                (!piece.is_empty() && piece != b".").then_some(component)
            })
        })
    }
}

/// Why an archive was refused: where, what errno, and a short reason.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TarError {
    /// Offset in the archive of the header (or byte) at fault.
    pub offset: usize,
    /// The error number: `EIO`, `EINVAL`, `ENAMETOOLONG`, `ENOTSUP` or `ENOMEM` (see the
    /// module docs; a layer adds `ENOMEM` and `EFBIG` of its own).
    pub errno: Errno,
    /// What is wrong, e.g. `"header checksum mismatch"`.
    pub reason: &'static str,
}

impl fmt::Display for TarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {} ({})",
            self.reason, self.offset, self.errno
        )
    }
}

impl From<TarError> for Errno {
    fn from(error: TarError) -> Errno {
        error.errno
    }
}

/// A reason, before the offset is known.
type Fault = (Errno, &'static str);

/// What the reader returns when it cannot allocate what an entry needs.
const OUT_OF_MEMORY: Fault = (Errno::ENOMEM, "out of memory");

/// A copy of `text`, allocated fallibly (its size comes from the archive).
fn owned(text: &str) -> Result<String, Fault> {
    let mut copy = String::new();
    copy.try_reserve_exact(text.len())
        .map_err(|_| OUT_OF_MEMORY)?;
    copy.push_str(text);
    Ok(copy)
}

/// A copy of `bytes`, allocated fallibly.
fn owned_bytes(bytes: &[u8]) -> Result<Vec<u8>, Fault> {
    let mut copy = Vec::new();
    copy.try_reserve_exact(bytes.len())
        .map_err(|_| OUT_OF_MEMORY)?;
    copy.extend_from_slice(bytes);
    Ok(copy)
}

/// Iterates over the entries of an archive; see the [module docs](self).
///
/// The reader stops after the end-of-archive marker (a zero block; what follows it is not
/// read) or after the first error.
#[derive(Clone, Debug)]
pub struct TarReader<'a> {
    archive: &'a [u8],
    offset: usize,
    finished: bool,
}

impl<'a> TarReader<'a> {
    /// A reader of the archive `archive`, from its first header.
    pub fn new(archive: &'a [u8]) -> TarReader<'a> {
        TarReader {
            archive,
            offset: 0,
            finished: false,
        }
    }

    /// The next entry, or `None` at the end-of-archive marker.
    ///
    /// # Errors
    /// A [`TarError`] for a corrupt, truncated or unsupported archive (see the module docs);
    /// after one, the reader yields nothing more.
    pub fn next_entry(&mut self) -> Result<Option<TarEntry>, TarError> {
        if self.finished {
            return Ok(None);
        }
        let result = self.read_entry();
        if !matches!(result, Ok(Some(_))) {
            self.finished = true;
        }
        result
    }

    fn read_entry(&mut self) -> Result<Option<TarEntry>, TarError> {
        let mut extensions = Extensions::default();
        loop {
            let header_offset = self.offset;
            let fail = |(errno, reason): Fault| TarError {
                offset: header_offset,
                errno,
                reason,
            };
            let block = self
                .archive
                .get(header_offset..)
                .and_then(|rest| rest.get(..BLOCK_SIZE))
                .ok_or(fail((
                    Errno::EIO,
                    "archive ends without an end-of-archive marker",
                )))?;
            if block.iter().all(|&byte| byte == 0) {
                if extensions.pending {
                    return Err(fail((Errno::EIO, "extended header without an entry")));
                }
                return Ok(None);
            }
            let header = Header::parse(block).map_err(fail)?;
            let data_start = header_offset + BLOCK_SIZE;
            let typeflag = block[156];
            let size = if is_header_only(typeflag) {
                0
            } else {
                match (typeflag, extensions.size) {
                    (b'0' | 0 | b'7', Some(size)) => size,
                    _ => header.size,
                }
            };
            let available = self.archive.len() - data_start;
            if size > available as u64 {
                return Err(fail((Errno::EIO, "data runs past the end of the archive")));
            }
            // `size` fits in the archive, so neither sum overflows.
            let data = data_start..data_start + size as usize;
            self.offset = data.end + (BLOCK_SIZE - data.len() % BLOCK_SIZE) % BLOCK_SIZE;
            let bytes = &self.archive[data.clone()];
            match typeflag {
                b'x' | b'g' => {
                    if bytes.len() > MAX_EXTENDED_HEADER_BYTES {
                        return Err(fail((Errno::EINVAL, "PAX header too large")));
                    }
                    // Global headers are checked but ignored: nothing this reader keeps
                    // (paths, owners, times) is meant to be set archive-wide.
                    let apply_to = if typeflag == b'x' {
                        Some(&mut extensions)
                    } else {
                        None
                    };
                    parse_pax(bytes, data.start, apply_to).map_err(fail)?;
                    if typeflag == b'x' {
                        extensions.pending = true;
                    }
                }
                b'L' => {
                    extensions.long_name = Some(long_name(bytes, data.start).map_err(fail)?);
                    extensions.pending = true;
                }
                b'K' => {
                    extensions.long_link = Some(long_name(bytes, data.start).map_err(fail)?);
                    extensions.pending = true;
                }
                _ => {
                    let entry = header
                        .into_entry(typeflag, extensions, data, header_offset)
                        .map_err(fail)?;
                    return Ok(Some(entry));
                }
            }
        }
    }
}

impl Iterator for TarReader<'_> {
    type Item = Result<TarEntry, TarError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry().transpose()
    }
}

/// Entry types with no data after the header, whatever their size field says.
fn is_header_only(typeflag: u8) -> bool {
    matches!(typeflag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6')
}

/// What extended headers say about the entry that follows them.
#[derive(Default)]
struct Extensions {
    /// An extended header was seen, so an entry must follow.
    pending: bool,
    /// Each name with where its text is in the archive.
    path: Option<(String, Range<usize>)>,
    linkpath: Option<(String, Range<usize>)>,
    long_name: Option<(String, Range<usize>)>,
    long_link: Option<(String, Range<usize>)>,
    size: Option<u64>,
    uid: Option<u32>,
    gid: Option<u32>,
    mtime: Option<Timespec>,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// The fields of one header block, checked.
struct Header<'b> {
    block: &'b [u8],
    /// Whether the block is POSIX ustar, whose `prefix` field extends the name.
    ustar: bool,
    mode: u16,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: i64,
}

impl<'b> Header<'b> {
    fn parse(block: &'b [u8]) -> Result<Header<'b>, Fault> {
        let stored =
            parse_octal(&block[148..156]).map_err(|_| (Errno::EIO, "bad checksum field"))?;
        let mut unsigned: u64 = 0;
        let mut signed: i64 = 0;
        for (index, &byte) in block.iter().enumerate() {
            let byte = if (148..156).contains(&index) {
                b' '
            } else {
                byte
            };
            unsigned += u64::from(byte);
            signed += i64::from(byte as i8);
        }
        if stored != unsigned && i64::try_from(stored).ok() != Some(signed) {
            return Err((Errno::EIO, "header checksum mismatch"));
        }
        let ustar = match (&block[257..263], &block[263..265]) {
            (b"ustar\0", _) => true,
            (b"ustar ", b" \0") => false,
            (magic, version) if magic.iter().chain(version).all(|&b| b == 0) => false,
            _ => return Err((Errno::EINVAL, "unknown header format")),
        };
        let number = |field: &[u8]| parse_number(field).map_err(|reason| (Errno::EINVAL, reason));
        let unsigned_number = |field: &[u8]| {
            u64::try_from(number(field)?).map_err(|_| (Errno::EINVAL, "negative number"))
        };
        Ok(Header {
            block,
            ustar,
            // Old archives put the file type bits in the mode too.
            mode: (unsigned_number(&block[100..108])? & 0o7777) as u16,
            uid: unsigned_number(&block[108..116])?,
            gid: unsigned_number(&block[116..124])?,
            size: unsigned_number(&block[124..136])?,
            mtime: number(&block[136..148])?,
        })
    }

    fn into_entry(
        self,
        typeflag: u8,
        extensions: Extensions,
        data: Range<usize>,
        header_offset: usize,
    ) -> Result<TarEntry, Fault> {
        let raw_name = self.name()?;
        let (name, path_bytes) = match extensions.path.as_ref().or(extensions.long_name.as_ref()) {
            Some((name, at)) => (name.as_str(), [at.clone(), at.end..at.end]),
            None => (raw_name.as_str(), self.name_bytes(header_offset)),
        };
        let raw_link = c_string(&self.block[157..257]);
        let (link_text, link_at) = match extensions
            .linkpath
            .as_ref()
            .or(extensions.long_link.as_ref())
        {
            Some((link, at)) => (Ok(link.as_str()), at.clone()),
            None => {
                let start = header_offset + 157;
                (utf8(raw_link), start..start + raw_link.len())
            }
        };
        let link = || -> Result<String, Fault> { owned(link_text?) };
        let device = || -> Result<DeviceId, Fault> {
            let field = |range: Range<usize>| {
                u32::try_from(parse_number(&self.block[range]).map_err(|r| (Errno::EINVAL, r))?)
                    .map_err(|_| (Errno::EINVAL, "device number too large"))
            };
            Ok(DeviceId {
                major: field(329..337)?,
                minor: field(337..345)?,
            })
        };
        let kind = match typeflag {
            // Pre-POSIX archives mark directories with a trailing slash only.
            0 if name.ends_with('/') => EntryKind::Directory,
            b'0' | 0 | b'7' => EntryKind::Regular,
            b'1' => {
                let target = normalize_path(link()?.as_bytes())?;
                if target.is_empty() {
                    return Err((Errno::EINVAL, "hard link to the root"));
                }
                EntryKind::HardLink { target }
            }
            b'2' => EntryKind::Symlink {
                target: check_symlink_target(link()?)?,
            },
            b'3' => EntryKind::CharDevice(device()?),
            b'4' => EntryKind::BlockDevice(device()?),
            b'5' => EntryKind::Directory,
            b'6' => EntryKind::Fifo,
            b'S' => return Err((Errno::ENOTSUP, "sparse files are not supported")),
            _ => return Err((Errno::ENOTSUP, "unsupported entry type")),
        };
        let path = normalize_path(name.as_bytes())?;
        let id =
            |value: u64| u32::try_from(value).map_err(|_| (Errno::EINVAL, "uid or gid too large"));
        let data = if kind == EntryKind::Regular {
            data
        } else {
            data.start..data.start
        };
        let link_bytes = match kind {
            EntryKind::HardLink { .. } | EntryKind::Symlink { .. } => link_at,
            _ => data.start..data.start,
        };
        Ok(TarEntry {
            path,
            kind,
            mode: self.mode,
            uid: extensions.uid.map_or_else(|| id(self.uid), Ok)?,
            gid: extensions.gid.map_or_else(|| id(self.gid), Ok)?,
            mtime: extensions.mtime.unwrap_or(Timespec {
                sec: self.mtime,
                nsec: 0,
            }),
            data,
            xattrs: extensions.xattrs,
            header_offset,
            path_bytes,
            link_bytes,
        })
    }

    /// Where [`Header::name`] is in the archive, the header being at `header_offset`: the
    /// `prefix` field (if any) then the `name` field. Pieces never span the two: the name is
    /// the prefix, a `/`, then the name field.
    fn name_bytes(&self, header_offset: usize) -> [Range<usize>; 2] {
        let name = header_offset..header_offset + c_string(&self.block[0..100]).len();
        let prefix_length = if self.ustar {
            c_string(&self.block[345..500]).len()
        } else {
            0
        };
        if prefix_length == 0 {
            return [name.clone(), name.end..name.end];
        }
        let prefix = header_offset + 345;
        [prefix..prefix + prefix_length, name]
    }

    /// The header's own name: `name`, after `prefix` in ustar headers. Not yet normalised.
    fn name(&self) -> Result<String, Fault> {
        let name = utf8(c_string(&self.block[0..100]))?;
        let prefix = if self.ustar {
            utf8(c_string(&self.block[345..500]))?
        } else {
            ""
        };
        let mut full = String::new();
        full.try_reserve_exact(prefix.len() + 1 + name.len())
            .map_err(|_| OUT_OF_MEMORY)?;
        if !prefix.is_empty() {
            full.push_str(prefix);
            full.push('/');
        }
        full.push_str(name);
        Ok(full)
    }
}

/// The bytes of a NUL-terminated field, up to the first NUL.
fn c_string(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

fn utf8(bytes: &[u8]) -> Result<&str, Fault> {
    core::str::from_utf8(bytes).map_err(|_| (Errno::EINVAL, "name is not UTF-8"))
}

/// A numeric field: octal text, or GNU base-256 when the first byte has its high bit set.
fn parse_number(field: &[u8]) -> Result<i64, &'static str> {
    match field.first() {
        Some(&first) if first & 0x80 != 0 => {
            // Two's complement, big-endian, in the bits after the marker bit (Go's
            // `archive/tar` reads it the same way: -a-1 == !a).
            let invert = if first & 0x40 != 0 { 0xff } else { 0 };
            let mut value: u64 = 0;
            for (index, &byte) in field.iter().enumerate() {
                let mut byte = byte ^ invert;
                if index == 0 {
                    byte &= 0x7f;
                }
                if value >> 56 != 0 {
                    return Err("number too large");
                }
                value = value << 8 | u64::from(byte);
            }
            let value = i64::try_from(value).map_err(|_| "number too large")?;
            Ok(if invert == 0xff { !value } else { value })
        }
        _ => i64::try_from(parse_octal(field)?).map_err(|_| "number too large"),
    }
}

/// Octal text, up to a NUL, with blanks around it; an empty field is 0.
fn parse_octal(field: &[u8]) -> Result<u64, &'static str> {
    let text = c_string(field);
    let start = text.iter().position(|&b| b != b' ').unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(start, |i| i + 1);
    let mut value: u64 = 0;
    for &byte in &text[start..end] {
        if !(b'0'..=b'7').contains(&byte) {
            return Err("bad octal number");
        }
        value = value
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(byte - b'0')))
            .ok_or("number too large")?;
    }
    Ok(value)
}

/// Decimal digits only (PAX `size`, `uid`, `gid`, record lengths).
fn parse_decimal(text: &[u8]) -> Result<u64, Fault> {
    const BAD: Fault = (Errno::EINVAL, "bad PAX number");
    if text.is_empty() {
        return Err(BAD);
    }
    let mut value: u64 = 0;
    for &byte in text {
        if !byte.is_ascii_digit() {
            return Err(BAD);
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(byte - b'0')))
            .ok_or(BAD)?;
    }
    Ok(value)
}

/// A PAX time: `[-]SECONDS[.FRACTION]`.
fn parse_pax_time(text: &[u8]) -> Result<Timespec, Fault> {
    const BAD: Fault = (Errno::EINVAL, "bad PAX time");
    let (negative, text) = match text.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &b""[..]),
    };
    let seconds = i64::try_from(parse_decimal(whole)?).map_err(|_| BAD)?;
    let mut nsec: u32 = 0;
    for (index, &byte) in fraction.iter().enumerate() {
        if !byte.is_ascii_digit() {
            return Err(BAD);
        }
        // Digits past nanoseconds are checked but dropped.
        if index < 9 {
            nsec = nsec * 10 + u32::from(byte - b'0');
        }
    }
    for _ in fraction.len()..9 {
        nsec *= 10;
    }
    Ok(match (negative, nsec) {
        (false, _) => Timespec { sec: seconds, nsec },
        (true, 0) => Timespec {
            sec: -seconds,
            nsec: 0,
        },
        // -1.25 is 1.75 seconds before -0: sec -2, nsec 750 000 000.
        (true, _) => Timespec {
            sec: -seconds - 1,
            nsec: 1_000_000_000 - nsec,
        },
    })
}

/// Reads the records of a PAX header (`"%d %s=%s\n"`, the length counting the whole record)
/// into `extensions`, or only checks them when `extensions` is `None`. The header's data
/// starts at byte `offset` of the archive.
fn parse_pax(
    mut records: &[u8],
    mut offset: usize,
    mut extensions: Option<&mut Extensions>,
) -> Result<(), Fault> {
    const BAD: Fault = (Errno::EINVAL, "malformed PAX record");
    // Some writers pad the header with NULs.
    while !records.iter().all(|&b| b == 0) {
        let space = records
            .iter()
            .take(20)
            .position(|&b| b == b' ')
            .ok_or(BAD)?;
        let length = usize::try_from(parse_decimal(&records[..space])?).map_err(|_| BAD)?;
        if length <= space + 1 || length > records.len() {
            return Err(BAD);
        }
        let record_at = offset + space + 1;
        let record = &records[space + 1..length];
        records = &records[length..];
        offset += length;
        let record = record.strip_suffix(b"\n").ok_or(BAD)?;
        let equals = record.iter().position(|&b| b == b'=').ok_or(BAD)?;
        let key = core::str::from_utf8(&record[..equals]).map_err(|_| BAD)?;
        let value = &record[equals + 1..];
        let value_at = record_at + equals + 1..record_at + record.len();
        if key.is_empty() {
            return Err(BAD);
        }
        if key.starts_with("GNU.sparse.") {
            return Err((Errno::ENOTSUP, "sparse files are not supported"));
        }
        if let Some(extensions) = extensions.as_deref_mut() {
            apply_pax_record(extensions, key, value, value_at.clone())?;
        }
    }
    Ok(())
}

/// Applies one PAX record, whose value is at `value_at` in the archive.
fn apply_pax_record(
    extensions: &mut Extensions,
    key: &str,
    value: &[u8],
    value_at: Range<usize>,
) -> Result<(), Fault> {
    // An empty value removes what an earlier record said.
    let text = || -> Result<Option<(String, Range<usize>)>, Fault> {
        if value.is_empty() {
            return Ok(None);
        }
        if value.len() >= PATH_MAX {
            return Err((Errno::ENAMETOOLONG, "path too long"));
        }
        Ok(Some((owned(utf8(value)?)?, value_at.clone())))
    };
    let id = || -> Result<Option<u32>, Fault> {
        if value.is_empty() {
            return Ok(None);
        }
        u32::try_from(parse_decimal(value)?)
            .map(Some)
            .map_err(|_| (Errno::EINVAL, "uid or gid too large"))
    };
    match key {
        "path" => extensions.path = text()?,
        "linkpath" => extensions.linkpath = text()?,
        "size" if value.is_empty() => extensions.size = None,
        "size" => extensions.size = Some(parse_decimal(value)?),
        "uid" => extensions.uid = id()?,
        "gid" => extensions.gid = id()?,
        "mtime" if value.is_empty() => extensions.mtime = None,
        "mtime" => extensions.mtime = Some(parse_pax_time(value)?),
        _ => {
            if let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX) {
                if name.is_empty() || name.len() > NAME_MAX || name.contains('\0') {
                    return Err((Errno::EINVAL, "bad xattr name"));
                }
                if value.len() > XATTR_VALUE_MAX {
                    return Err((Errno::EINVAL, "xattr value too large"));
                }
                extensions.xattrs.retain(|(old, _)| old != name);
                extensions
                    .xattrs
                    .try_reserve(1)
                    .map_err(|_| OUT_OF_MEMORY)?;
                extensions.xattrs.push((owned(name)?, owned_bytes(value)?));
            }
        }
    }
    Ok(())
}

/// The name held by a GNU `L` or `K` entry, its data (at byte `offset` of the archive) up
/// to the first NUL, and where that is.
fn long_name(data: &[u8], offset: usize) -> Result<(String, Range<usize>), Fault> {
    let name = c_string(data);
    if name.len() >= PATH_MAX {
        return Err((Errno::ENAMETOOLONG, "path too long"));
    }
    if name.is_empty() {
        return Err((Errno::EINVAL, "empty name"));
    }
    Ok((owned(utf8(name)?)?, offset..offset + name.len()))
}

/// Normalises an archive path (see the [module docs](self)); `""` is the root.
fn normalize_path(raw: &[u8]) -> Result<String, Fault> {
    if raw.len() >= PATH_MAX {
        return Err((Errno::ENAMETOOLONG, "path too long"));
    }
    if raw.is_empty() {
        return Err((Errno::EINVAL, "empty name"));
    }
    if raw.contains(&0) {
        return Err((Errno::EINVAL, "NUL in a name"));
    }
    let text = utf8(raw)?;
    let mut path = String::new();
    path.try_reserve_exact(text.len())
        .map_err(|_| OUT_OF_MEMORY)?;
    for component in text.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err((Errno::EINVAL, "'..' in a path")),
            _ if component.len() > NAME_MAX => {
                return Err((Errno::ENAMETOOLONG, "name too long"));
            }
            _ => {
                if !path.is_empty() {
                    path.push('/');
                }
                path.push_str(component);
            }
        }
    }
    Ok(path)
}

/// Checks a symlink target: not empty, no NUL, shorter than [`PATH_MAX`].
fn check_symlink_target(target: String) -> Result<String, Fault> {
    if target.is_empty() {
        return Err((Errno::EINVAL, "empty symlink target"));
    }
    if target.contains('\0') {
        return Err((Errno::EINVAL, "NUL in a symlink target"));
    }
    if target.len() >= PATH_MAX {
        return Err((Errno::ENAMETOOLONG, "symlink target too long"));
    }
    Ok(target)
}

#[cfg(test)]
pub(crate) mod tests;
