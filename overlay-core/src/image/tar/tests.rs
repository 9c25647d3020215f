use alloc::{string::ToString, vec};

use super::*;
use crate::image::testtar::{
    header, long, pax_record, put, put_octal, set_checksum, zeros, TarBuilder,
};

fn entries(archive: &[u8]) -> Result<Vec<TarEntry>, TarError> {
    TarReader::new(archive).collect()
}

/// The errno and reason an archive is refused with.
fn refusal(archive: &[u8]) -> (Errno, &'static str) {
    let error = entries(archive).expect_err("the archive should be refused");
    (error.errno, error.reason)
}

/// An archive of one entry made from `block` (already checksummed) and `data`.
fn single(block: &[u8; BLOCK_SIZE], data: &[u8]) -> Vec<u8> {
    TarBuilder::new().raw(block, data).finish()
}

/// `block` with `change` applied and the checksum recomputed.
fn patched(mut block: [u8; BLOCK_SIZE], change: impl FnOnce(&mut [u8; BLOCK_SIZE])) -> Vec<u8> {
    change(&mut block);
    set_checksum(&mut block);
    single(&block, &[])
}

fn sample() -> Vec<u8> {
    TarBuilder::new()
        .dir("./")
        .dir("etc/")
        .file("etc/hostname", b"overlay\n")
        .symlink("etc/localtime", "/usr/share/zoneinfo/UTC")
        .hard_link("etc/hostname.bak", "etc/hostname")
        .device("dev/null", b'3', 1, 3)
        .device("dev/sda", b'4', 8, 0)
        .raw(&header("run/fifo", b'6', 0o600, 0, ""), &[])
        .file("big", &[7u8; 1500])
        .finish()
}

#[test]
fn reads_every_entry_kind() {
    let archive = sample();
    let all = entries(&archive).unwrap();
    let paths: Vec<&str> = all.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "",
            "etc",
            "etc/hostname",
            "etc/localtime",
            "etc/hostname.bak",
            "dev/null",
            "dev/sda",
            "run/fifo",
            "big"
        ]
    );
    assert_eq!(all[0].kind, EntryKind::Directory);
    assert_eq!(all[2].kind, EntryKind::Regular);
    assert_eq!(&archive[all[2].data.clone()], b"overlay\n");
    assert_eq!((all[2].mode, all[2].size()), (0o644, 8));
    assert_eq!(
        all[3].kind,
        EntryKind::Symlink {
            target: "/usr/share/zoneinfo/UTC".to_string()
        }
    );
    assert_eq!(
        all[4].kind,
        EntryKind::HardLink {
            target: "etc/hostname".to_string()
        }
    );
    assert_eq!(
        all[5].kind,
        EntryKind::CharDevice(DeviceId { major: 1, minor: 3 })
    );
    assert_eq!(
        all[6].kind,
        EntryKind::BlockDevice(DeviceId { major: 8, minor: 0 })
    );
    assert_eq!(all[7].kind, EntryKind::Fifo);
    assert_eq!(all[8].size(), 1500);
    assert!(archive[all[8].data.clone()].iter().all(|&b| b == 7));
    // Non-files carry no data, whatever their size field.
    assert!(all
        .iter()
        .filter(|e| e.kind != EntryKind::Regular)
        .all(|e| e.data.is_empty()));
}

#[test]
fn reads_owner_mode_and_time() {
    let mut block = header("f", b'0', 0o104755, 0, "");
    put_octal(&mut block[108..116], 1000);
    put_octal(&mut block[116..124], 100);
    put_octal(&mut block[136..148], 1_700_000_000);
    set_checksum(&mut block);
    let entry = &entries(&single(&block, &[])).unwrap()[0];
    // The file type bits old archives put in the mode are dropped.
    assert_eq!(entry.mode, 0o4755);
    assert_eq!((entry.uid, entry.gid), (1000, 100));
    assert_eq!(
        entry.mtime,
        Timespec {
            sec: 1_700_000_000,
            nsec: 0
        }
    );
}

#[test]
fn paths_are_normalised() {
    let archive = TarBuilder::new()
        .file("./a//b/./c", b"")
        .file("/abs/olute", b"")
        .dir("dir/")
        .dir(".")
        .dir("/")
        .finish();
    let paths: Vec<String> = entries(&archive)
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(paths, ["a/b/c", "abs/olute", "dir", "", ""]);
}

#[test]
fn ustar_prefix_extends_the_name() {
    let mut block = header("name", b'0', 0o644, 0, "");
    put(&mut block[345..500], b"some/prefix");
    set_checksum(&mut block);
    assert_eq!(
        entries(&single(&block, &[])).unwrap()[0].path,
        "some/prefix/name"
    );
    // GNU headers use that space for other things: no prefix there.
    let mut gnu = header("name", b'0', 0o644, 0, "");
    gnu[257..265].copy_from_slice(b"ustar  \0");
    put(&mut gnu[345..357], b"00000000000");
    set_checksum(&mut gnu);
    assert_eq!(entries(&single(&gnu, &[])).unwrap()[0].path, "name");
}

#[test]
fn v7_headers_and_trailing_slash_directories() {
    let mut block = header("olddir/", 0, 0o755, 0, "");
    block[257..265].fill(0);
    set_checksum(&mut block);
    let entry = &entries(&single(&block, &[])).unwrap()[0];
    assert_eq!(
        (entry.path.as_str(), &entry.kind),
        ("olddir", &EntryKind::Directory)
    );
    let mut file = header("oldfile", 0, 0o644, 3, "");
    file[257..265].fill(0);
    set_checksum(&mut file);
    let archive = single(&file, b"abc");
    let entry = &entries(&archive).unwrap()[0];
    assert_eq!(
        (&entry.kind, &archive[entry.data.clone()]),
        (&EntryKind::Regular, &b"abc"[..])
    );
}

#[test]
fn signed_checksums_are_accepted() {
    let mut block = header("caf\u{e9}", b'0', 0o644, 0, "");
    block[148..156].fill(b' ');
    let signed: i64 = block.iter().map(|&b| i64::from(b as i8)).sum();
    put(
        &mut block[148..156],
        alloc::format!("{signed:06o}\0").as_bytes(),
    );
    assert_eq!(entries(&single(&block, &[])).unwrap()[0].path, "caf\u{e9}");
}

#[test]
fn base_256_numbers() {
    let mut block = header("f", b'0', 0o644, 0, "");
    // size 3 in base-256; uid 2^32-1; mtime -1.
    block[124..136].fill(0);
    block[124] = 0x80;
    block[135] = 3;
    block[108..116].copy_from_slice(&[0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    block[136..148].fill(0xff);
    set_checksum(&mut block);
    let archive = single(&block, b"xyz");
    let entry = &entries(&archive).unwrap()[0];
    assert_eq!(entry.size(), 3);
    assert_eq!(entry.uid, u32::MAX);
    assert_eq!(entry.mtime.sec, -1);
    // Too large for 64 bits, or negative where only positive makes sense.
    let huge = patched(header("f", b'0', 0o644, 0, ""), |b| {
        b[124..136].fill(0xff);
        b[124] = 0x80;
    });
    assert_eq!(refusal(&huge), (Errno::EINVAL, "number too large"));
    let negative = patched(header("f", b'0', 0o644, 0, ""), |b| b[124..136].fill(0xff));
    assert_eq!(refusal(&negative), (Errno::EINVAL, "negative number"));
    let big_uid = patched(header("f", b'0', 0o644, 0, ""), |b| {
        put_octal(&mut b[108..116], 0o7777777)
    });
    assert!(entries(&big_uid).is_ok());
    let too_big_uid = patched(header("f", b'0', 0o644, 0, ""), |b| {
        b[108..116].copy_from_slice(&[0x80, 0, 0, 1, 0, 0, 0, 0]);
    });
    assert_eq!(
        refusal(&too_big_uid),
        (Errno::EINVAL, "uid or gid too large")
    );
}

#[test]
fn gnu_long_names_and_links() {
    let name = alloc::format!("{}/{}", long('d', 200), long('f', 200));
    let target = alloc::format!("{}/{}", long('t', 200), long('u', 200));
    let mut link_data = Vec::from(target.as_bytes());
    link_data.push(0);
    let archive = TarBuilder::new()
        .gnu_long_name(&name)
        .file("short", b"data")
        .raw(
            &header("././@LongLink", b'K', 0o644, link_data.len() as u64, ""),
            &link_data,
        )
        .symlink("link", "ignored")
        .finish();
    let all = entries(&archive).unwrap();
    assert_eq!(all[0].path, name);
    assert_eq!(&archive[all[0].data.clone()], b"data");
    assert_eq!(all[1].kind, EntryKind::Symlink { target });
}

#[test]
fn pax_records_override_the_header() {
    let name = alloc::format!("{}/{}", long('p', 250), long('q', 250));
    let archive = TarBuilder::new()
        .pax(&[
            ("path", name.as_bytes()),
            ("uid", b"4294967295"),
            ("gid", b"7"),
            ("mtime", b"1700000000.123456789123"),
            ("uname", b"someone"),
            ("atime", b"whatever"),
            ("SCHILY.xattr.user.comment", b"hello\0world"),
            ("SCHILY.xattr.security.capability", &[1, 0, 0, 2]),
            ("SCHILY.xattr.user.comment", b"replaced"),
        ])
        .file("short", b"abc")
        .pax(&[("linkpath", b"/far/away"), ("mtime", b"-1.25")])
        .symlink("link", "near")
        .pax(&[("path", b"")])
        .file("kept", b"")
        .finish();
    let all = entries(&archive).unwrap();
    assert_eq!(all[0].path, name);
    assert_eq!((all[0].uid, all[0].gid), (u32::MAX, 7));
    assert_eq!(
        all[0].mtime,
        Timespec {
            sec: 1_700_000_000,
            nsec: 123_456_789
        }
    );
    assert_eq!(
        all[0].xattrs,
        vec![
            ("security.capability".to_string(), vec![1, 0, 0, 2]),
            ("user.comment".to_string(), b"replaced".to_vec()),
        ]
    );
    assert_eq!(
        all[1].kind,
        EntryKind::Symlink {
            target: "/far/away".to_string()
        }
    );
    assert_eq!(
        all[1].mtime,
        Timespec {
            sec: -2,
            nsec: 750_000_000
        }
    );
    // An empty value cancels the record: the header's own name stands.
    assert_eq!(all[2].path, "kept");
    // Extended headers apply to one entry only.
    assert!(all[1].xattrs.is_empty());
}

#[test]
fn pax_size_overrides_the_header_size() {
    let archive = TarBuilder::new()
        .pax(&[("size", b"5")])
        .raw(&header("f", b'0', 0o644, 0, ""), b"12345")
        .file("next", b"n")
        .finish();
    let all = entries(&archive).unwrap();
    assert_eq!(&archive[all[0].data.clone()], b"12345");
    assert_eq!(all[1].path, "next");
    let past_end = TarBuilder::new()
        .pax(&[("size", b"99999")])
        .raw(&header("f", b'0', 0o644, 0, ""), b"")
        .finish();
    assert_eq!(refusal(&past_end).0, Errno::EIO);
}

#[test]
fn global_headers_are_checked_and_ignored() {
    let data = pax_record("comment", b"made by git archive");
    let archive = TarBuilder::new()
        .raw(
            &header("pax_global_header", b'g', 0o644, data.len() as u64, ""),
            &data,
        )
        .file("f", b"")
        .finish();
    let all = entries(&archive).unwrap();
    assert_eq!((all.len(), all[0].path.as_str()), (1, "f"));
    let bad = TarBuilder::new()
        .raw(&header("g", b'g', 0o644, 4, ""), b"junk")
        .file("f", b"")
        .finish();
    assert_eq!(refusal(&bad), (Errno::EINVAL, "malformed PAX record"));
}

#[test]
fn malformed_pax_records_are_einval() {
    let cases: &[&[u8]] = &[
        b"junk",
        b"5 a=b\n",       // length too short for the record
        b"99 a=b\n",      // length past the header
        b"6 ab\n\n",      // no '='
        b"7 a=bc!",       // no newline at the end
        b"x5 a=b\n",      // not a number
        b"6 =bc\n",       // empty key
        b"11 uid=-1\n\n", // not a number
        b"12 mtime=1x\n",
        b"12 mtime=.5\n",
        b"15 size=1.5\n\n\n\n",
        b"3  \n",
    ];
    let big_uid = pax_record("uid", b"99999999999999");
    for records in cases.iter().copied().chain([&big_uid[..]]) {
        let archive = TarBuilder::new()
            .raw(&header("x", b'x', 0o644, records.len() as u64, ""), records)
            .file("f", b"")
            .finish();
        assert_eq!(
            entries(&archive).unwrap_err().errno,
            Errno::EINVAL,
            "{:?}",
            core::str::from_utf8(records)
        );
    }
    let non_utf8_path = TarBuilder::new()
        .pax(&[("path", &[0xff, 0xfe])])
        .file("f", b"")
        .finish();
    assert_eq!(
        refusal(&non_utf8_path),
        (Errno::EINVAL, "name is not UTF-8")
    );
    let nul_path = TarBuilder::new()
        .pax(&[("path", b"a\0b")])
        .file("f", b"")
        .finish();
    assert_eq!(refusal(&nul_path), (Errno::EINVAL, "NUL in a name"));
    let nul_target = TarBuilder::new()
        .pax(&[("linkpath", b"a\0b")])
        .symlink("l", "t")
        .finish();
    assert_eq!(
        refusal(&nul_target),
        (Errno::EINVAL, "NUL in a symlink target")
    );
    let sparse = TarBuilder::new()
        .pax(&[("GNU.sparse.major", b"1")])
        .file("f", b"")
        .finish();
    assert_eq!(refusal(&sparse).0, Errno::ENOTSUP);
    let bad_xattr = TarBuilder::new()
        .pax(&[("SCHILY.xattr.", b"v")])
        .file("f", b"")
        .finish();
    assert_eq!(refusal(&bad_xattr), (Errno::EINVAL, "bad xattr name"));
    let big_value = zeros(XATTR_VALUE_MAX + 1);
    let big_xattr = TarBuilder::new()
        .pax(&[("SCHILY.xattr.user.big", &big_value)])
        .file("f", b"")
        .finish();
    assert_eq!(
        refusal(&big_xattr),
        (Errno::EINVAL, "xattr value too large")
    );
    let long_path = long('a', PATH_MAX);
    let too_long = TarBuilder::new()
        .pax(&[("path", long_path.as_bytes())])
        .file("f", b"")
        .finish();
    assert_eq!(refusal(&too_long).0, Errno::ENAMETOOLONG);
    // Trailing NUL padding after the records is fine.
    let mut padded = pax_record("path", b"padded");
    padded.extend_from_slice(&[0; 10]);
    let archive = TarBuilder::new()
        .raw(&header("x", b'x', 0o644, padded.len() as u64, ""), &padded)
        .file("f", b"")
        .finish();
    assert_eq!(entries(&archive).unwrap()[0].path, "padded");
}

#[test]
fn oversized_extended_headers_are_refused() {
    let size = MAX_EXTENDED_HEADER_BYTES as u64 + 1;
    let mut archive = Vec::from(header("x", b'x', 0o644, size, ""));
    archive.extend_from_slice(&zeros(size as usize + BLOCK_SIZE * 3));
    assert_eq!(refusal(&archive), (Errno::EINVAL, "PAX header too large"));
}

#[test]
fn header_checksum_and_fields_are_checked() {
    let good = header("f", b'0', 0o644, 0, "");
    let mut bad_sum = good;
    bad_sum[0] = b'g';
    assert_eq!(
        refusal(&single(&bad_sum, &[])),
        (Errno::EIO, "header checksum mismatch")
    );
    let mut garbage_sum = good;
    put(&mut garbage_sum[148..156], b"12x4567\0");
    assert_eq!(
        refusal(&single(&garbage_sum, &[])),
        (Errno::EIO, "bad checksum field")
    );
    let octal_garbage = patched(good, |b| put(&mut b[124..136], b"00000000009\0"));
    assert_eq!(refusal(&octal_garbage), (Errno::EINVAL, "bad octal number"));
    let inner_space = patched(good, |b| put(&mut b[100..108], b"06 44\0\0\0"));
    assert_eq!(refusal(&inner_space), (Errno::EINVAL, "bad octal number"));
    // Blanks around the number are fine; an empty field is 0.
    let blanks = patched(good, |b| put(&mut b[100..108], b"  644 \0\0"));
    assert_eq!(entries(&blanks).unwrap()[0].mode, 0o644);
    let empty = patched(good, |b| b[108..116].fill(0));
    assert_eq!(entries(&empty).unwrap()[0].uid, 0);
    let octal_overflow = patched(good, |b| put(&mut b[124..136], b"77777777777\0"));
    assert!(entries(&octal_overflow).is_err()); // 8 GiB of data past the end
    let magic = patched(good, |b| put(&mut b[257..263], b"star\0\0"));
    assert_eq!(refusal(&magic), (Errno::EINVAL, "unknown header format"));
    let device = patched(header("d", b'3', 0o600, 0, ""), |b| {
        b[329..337].copy_from_slice(b"7777777\0");
        b[337..345].copy_from_slice(&[0x80, 0, 0, 1, 0, 0, 0, 0]);
    });
    assert_eq!(refusal(&device), (Errno::EINVAL, "device number too large"));
}

#[test]
fn bad_names_are_refused() {
    let name = |name: &[u8]| {
        let mut block = header("", b'0', 0o644, 0, "");
        put(&mut block[0..100], name);
        set_checksum(&mut block);
        refusal(&single(&block, &[]))
    };
    assert_eq!(name(b"a/../b"), (Errno::EINVAL, "'..' in a path"));
    assert_eq!(name(b".."), (Errno::EINVAL, "'..' in a path"));
    assert_eq!(name(b"caf\xe9"), (Errno::EINVAL, "name is not UTF-8"));
    assert_eq!(name(b""), (Errno::EINVAL, "empty name"));
    let component = alloc::format!("{}/x", long('c', NAME_MAX + 1));
    let too_long = TarBuilder::new()
        .pax(&[("path", component.as_bytes())])
        .file("f", b"")
        .finish();
    assert_eq!(refusal(&too_long), (Errno::ENAMETOOLONG, "name too long"));
    let empty_target = TarBuilder::new().symlink("l", "").finish();
    assert_eq!(
        refusal(&empty_target),
        (Errno::EINVAL, "empty symlink target")
    );
    let link_to_root = TarBuilder::new().hard_link("l", "./").finish();
    assert_eq!(
        refusal(&link_to_root),
        (Errno::EINVAL, "hard link to the root")
    );
    let link_up = TarBuilder::new().hard_link("l", "../etc/shadow").finish();
    assert_eq!(refusal(&link_up), (Errno::EINVAL, "'..' in a path"));
    let mut huge_long_name = vec![b'n'; PATH_MAX + 10];
    huge_long_name.push(0);
    let long_name = TarBuilder::new()
        .raw(
            &header(
                "././@LongLink",
                b'L',
                0o644,
                huge_long_name.len() as u64,
                "",
            ),
            &huge_long_name,
        )
        .file("f", b"")
        .finish();
    assert_eq!(refusal(&long_name), (Errno::ENAMETOOLONG, "path too long"));
    let empty_long_name = TarBuilder::new()
        .raw(&header("././@LongLink", b'L', 0o644, 1, ""), &[0])
        .file("f", b"")
        .finish();
    assert_eq!(refusal(&empty_long_name), (Errno::EINVAL, "empty name"));
}

#[test]
fn unsupported_types_are_enotsup() {
    for &typeflag in b"SMVDNZ" {
        let archive = single(&header("f", typeflag, 0o644, 0, ""), &[]);
        assert_eq!(
            refusal(&archive).0,
            Errno::ENOTSUP,
            "type {}",
            typeflag as char
        );
    }
}

#[test]
fn truncation_and_missing_end_marker_are_eio() {
    let data_past_end = {
        let mut archive = Vec::from(header("f", b'0', 0o644, 1000, ""));
        archive.extend_from_slice(&[1; 100]);
        archive
    };
    assert_eq!(
        refusal(&data_past_end),
        (Errno::EIO, "data runs past the end of the archive")
    );
    let no_end = TarBuilder::new().file("f", b"x").out.clone();
    assert_eq!(
        refusal(&no_end),
        (Errno::EIO, "archive ends without an end-of-archive marker")
    );
    assert_eq!(refusal(&[]).0, Errno::EIO);
    let dangling = TarBuilder::new().pax(&[("path", b"p")]).finish();
    assert_eq!(
        refusal(&dangling),
        (Errno::EIO, "extended header without an entry")
    );
    let dangling_long = TarBuilder::new().gnu_long_name("name").finish();
    assert_eq!(
        refusal(&dangling_long),
        (Errno::EIO, "extended header without an entry")
    );
}

#[test]
fn errors_say_where() {
    let mut archive = TarBuilder::new().file("a", b"1").file("b", b"2").finish();
    archive[1024] ^= 1; // the name of "b"
    let error = entries(&archive).unwrap_err();
    assert_eq!(error.offset, 1024);
    assert_eq!(
        error.to_string(),
        "header checksum mismatch at byte 1024 (EIO)"
    );
    assert_eq!(Errno::from(error), Errno::EIO);
}

#[test]
fn reader_stops_after_the_end_marker_or_an_error() {
    let mut archive = TarBuilder::new().file("a", b"1").finish();
    archive.extend_from_slice(b"trailing garbage is not read");
    let mut reader = TarReader::new(&archive);
    assert!(reader.next().unwrap().is_ok());
    assert!(reader.next().is_none());
    assert!(reader.next().is_none());
    let mut broken = TarReader::new(&archive[..700]);
    assert!(broken.next().unwrap().is_ok());
    assert!(broken.next().unwrap().is_err());
    assert!(broken.next().is_none());
}

#[test]
fn every_truncation_is_an_error_or_the_whole_archive() {
    let archive = TarBuilder::new()
        .pax(&[("path", b"pax/name"), ("SCHILY.xattr.user.a", b"1")])
        .file("x", b"hello")
        .gnu_long_name("long/name")
        .file("y", &[3; 700])
        .symlink("s", "x")
        .finish();
    let full = entries(&archive).unwrap();
    assert_eq!(full.len(), 3);
    for length in 0..archive.len() {
        match entries(&archive[..length]) {
            Ok(found) => assert_eq!(found, full, "cut at {length}"),
            Err(error) => assert_eq!(error.errno, Errno::EIO, "cut at {length}: {error}"),
        }
    }
}

/// A small deterministic pseudo-random generator (xorshift64*).
pub(crate) struct XorShift(pub u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

#[test]
fn random_garbage_never_panics() {
    let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2000 {
        let length = random.below(4 * BLOCK_SIZE);
        let garbage: Vec<u8> = (0..length).map(|_| random.next() as u8).collect();
        let _ = entries(&garbage);
    }
}

#[test]
fn random_damage_to_headers_never_panics() {
    let archive = sample();
    let mut random = XorShift(42);
    for round in 0..3000 {
        let mut damaged = archive.clone();
        for _ in 0..1 + random.below(4) {
            let at = random.below(damaged.len());
            damaged[at] = random.next() as u8;
        }
        // Mostly keep the checksums right, so the damage reaches the fields behind them.
        if round % 4 != 0 {
            for block in damaged.chunks_exact_mut(BLOCK_SIZE) {
                if block.iter().any(|&b| b != 0) && block[257..262] == *b"ustar" {
                    let block: &mut [u8; BLOCK_SIZE] = block.try_into().unwrap();
                    set_checksum(block);
                }
            }
        }
        let _ = entries(&damaged);
    }
}
