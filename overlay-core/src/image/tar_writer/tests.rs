use alloc::{string::ToString, vec};

use super::*;
use crate::image::tar::{TarEntry, TarReader};
use crate::image::{Bytes, ImageLayerFs};
use crate::vfs::{FileSystem, FileType};

fn read_back(archive: &[u8]) -> Vec<TarEntry> {
    TarReader::new(archive)
        .collect::<core::result::Result<Vec<_>, _>>()
        .unwrap()
}

fn one(entry: &NewEntry<'_>, data: &[u8]) -> TarEntry {
    let mut tar = TarWriter::new();
    tar.append(entry, data).unwrap();
    let archive = tar.finish().unwrap();
    assert_eq!(archive.len() % BLOCK_SIZE, 0);
    let mut entries = read_back(&archive);
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.remove(0)
}

#[test]
fn every_kind_reads_back_with_its_metadata() {
    let xattrs = vec![
        ("user.comment".to_string(), b"hello".to_vec()),
        (
            "trusted.overlay.overlay.opaque".to_string(),
            vec![0, 255, b'\n'],
        ),
    ];
    let mut tar = TarWriter::new();
    let entries = [
        (NewEntry::new("", EntryKind::Directory, 0o755), &b""[..]),
        (NewEntry::new("etc", EntryKind::Directory, 0o1777), b""),
        (
            NewEntry {
                uid: 1000,
                gid: 100,
                mtime: Timespec {
                    sec: 1_700_000_000,
                    nsec: 0,
                },
                xattrs: &xattrs,
                ..NewEntry::new("/etc/motd", EntryKind::Regular, 0o4644)
            },
            b"hello\n",
        ),
        (
            NewEntry::new(
                "etc/motd.link",
                EntryKind::HardLink {
                    target: "/etc/motd".to_string(),
                },
                0o644,
            ),
            b"",
        ),
        (
            NewEntry::new(
                "etc/localtime",
                EntryKind::Symlink {
                    target: "../usr/share/zoneinfo/UTC".to_string(),
                },
                0o777,
            ),
            b"",
        ),
        (
            NewEntry::new(
                "dev/null",
                EntryKind::CharDevice(DeviceId { major: 1, minor: 3 }),
                0o666,
            ),
            b"",
        ),
        (
            NewEntry::new(
                "dev/sda",
                EntryKind::BlockDevice(DeviceId {
                    major: 8,
                    minor: 0xfffff,
                }),
                0o660,
            ),
            b"",
        ),
        (NewEntry::new("run/fifo", EntryKind::Fifo, 0o600), b""),
        (
            NewEntry::new("big", EntryKind::Regular, 0o644),
            &[7u8; 1500][..],
        ),
    ];
    for (entry, data) in &entries {
        tar.append(entry, data).unwrap();
    }
    let archive = tar.finish().unwrap();
    let read = read_back(&archive);
    assert_eq!(read.len(), entries.len());
    for ((written, data), read) in entries.iter().zip(&read) {
        assert_eq!(read.path, normalize(written.path).unwrap());
        let kind = match &written.kind {
            EntryKind::HardLink { target } => EntryKind::HardLink {
                target: normalize(target).unwrap(),
            },
            kind => kind.clone(),
        };
        assert_eq!(read.kind, kind);
        assert_eq!(read.mode, written.mode);
        assert_eq!((read.uid, read.gid), (written.uid, written.gid));
        assert_eq!(read.mtime, written.mtime);
        assert_eq!(read.xattrs, written.xattrs);
        assert_eq!(&archive[read.data.clone()], *data);
    }
}

#[test]
fn what_ustar_cannot_hold_goes_through_pax() {
    // A path too long for name + prefix, a long link target, large ids, times before the
    // epoch and with nanoseconds.
    let deep = ["component"; 40].join("/");
    let target = ["x"; 80].join("/");
    let times = [
        Timespec { sec: -1, nsec: 0 },
        Timespec {
            sec: -2,
            nsec: 750_000_000,
        },
        Timespec {
            sec: 12,
            nsec: 345_000_001,
        },
        Timespec {
            sec: 1 << 40,
            nsec: 0,
        },
    ];
    for mtime in times {
        let entry = one(
            &NewEntry {
                uid: u32::MAX,
                gid: 0o10000000,
                mtime,
                ..NewEntry::new(
                    &deep,
                    EntryKind::Symlink {
                        target: target.clone(),
                    },
                    0o777,
                )
            },
            &[],
        );
        assert_eq!(entry.path, deep);
        assert_eq!(
            entry.kind,
            EntryKind::Symlink {
                target: target.clone()
            }
        );
        assert_eq!((entry.uid, entry.gid), (u32::MAX, 0o10000000));
        assert_eq!(entry.mtime, mtime);
    }
}

#[test]
fn paths_that_fit_prefix_and_name_need_no_pax() {
    let path = format!("{}/{}", "p".repeat(150), "n".repeat(99));
    let mut tar = TarWriter::new();
    tar.append(&NewEntry::new(&path, EntryKind::Regular, 0o644), b"x")
        .unwrap();
    // One header block and one data block: no extended header.
    assert_eq!(tar.len(), 2 * BLOCK_SIZE);
    let archive = tar.finish().unwrap();
    assert_eq!(read_back(&archive)[0].path, path);
    // A long directory name keeps its trailing slash out of the split.
    let dir = format!("{}/{}", "d".repeat(120), "e".repeat(100));
    let entry = one(&NewEntry::new(&dir, EntryKind::Directory, 0o755), &[]);
    assert_eq!(
        (entry.path.as_str(), entry.kind),
        (dir.as_str(), EntryKind::Directory)
    );
}

#[test]
fn large_device_numbers_use_base_256() {
    let device = DeviceId {
        major: u32::MAX,
        minor: 0o7777777 + 1,
    };
    let entry = one(
        &NewEntry::new("dev/odd", EntryKind::CharDevice(device), 0o600),
        &[],
    );
    assert_eq!(entry.kind, EntryKind::CharDevice(device));
}

#[test]
fn unicode_names_are_cut_at_character_boundaries() {
    let name = "é".repeat(60); // 120 bytes, one component
    let entry = one(&NewEntry::new(&name, EntryKind::Regular, 0o644), b"");
    assert_eq!(entry.path, name);
}

#[test]
fn bad_entries_are_refused_and_leave_the_archive_as_it_was() {
    let mut tar = TarWriter::new();
    tar.append(&NewEntry::new("ok", EntryKind::Regular, 0o644), b"1")
        .unwrap();
    let before = tar.clone();
    let long_name = "n".repeat(NAME_MAX + 1);
    let long_path = "a/".repeat(PATH_MAX / 2);
    let bad_xattr = |name: &str, len: usize| vec![(name.to_string(), vec![0u8; len])];
    type Case<'a> = (Vec<(String, Vec<u8>)>, NewEntry<'a>, &'a [u8], Errno);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![],
            NewEntry::new("a/../b", EntryKind::Regular, 0o644),
            b"",
            Errno::EINVAL,
        ),
        (
            vec![],
            NewEntry::new("a\0b", EntryKind::Regular, 0o644),
            b"",
            Errno::EINVAL,
        ),
        (
            vec![],
            NewEntry::new("", EntryKind::Regular, 0o644),
            b"",
            Errno::EINVAL,
        ),
        (
            vec![],
            NewEntry::new("/", EntryKind::Fifo, 0o644),
            b"",
            Errno::EINVAL,
        ),
        (
            vec![],
            NewEntry::new("d", EntryKind::Directory, 0o755),
            b"x",
            Errno::EINVAL,
        ),
        (
            vec![],
            NewEntry::new(&long_name, EntryKind::Regular, 0o644),
            b"",
            Errno::ENAMETOOLONG,
        ),
        (
            vec![],
            NewEntry::new(&long_path, EntryKind::Regular, 0o644),
            b"",
            Errno::ENAMETOOLONG,
        ),
        (
            vec![],
            NewEntry::new(
                "l",
                EntryKind::Symlink {
                    target: String::new(),
                },
                0o777,
            ),
            b"",
            Errno::EINVAL,
        ),
        (
            vec![],
            NewEntry::new(
                "h",
                EntryKind::HardLink {
                    target: "/".to_string(),
                },
                0o644,
            ),
            b"",
            Errno::EINVAL,
        ),
        (
            bad_xattr("", 1),
            NewEntry::new("x", EntryKind::Regular, 0o644),
            b"",
            Errno::EINVAL,
        ),
        (
            bad_xattr("a=b", 1),
            NewEntry::new("x", EntryKind::Regular, 0o644),
            b"",
            Errno::EINVAL,
        ),
        (
            bad_xattr("user.big", XATTR_VALUE_MAX + 1),
            NewEntry::new("x", EntryKind::Regular, 0o644),
            b"",
            Errno::EINVAL,
        ),
    ];
    for (xattrs, entry, data, errno) in &cases {
        let entry = NewEntry {
            xattrs,
            ..entry.clone()
        };
        assert_eq!(tar.append(&entry, data), Err(*errno), "{entry:?}");
        assert_eq!(tar.archive, before.archive, "{entry:?} changed the archive");
    }
    let archive = tar.finish().unwrap();
    assert_eq!(read_back(&archive).len(), 1);
}

#[test]
fn a_written_layer_serves_its_files_and_whiteouts() {
    let mut tar = TarWriter::new();
    let entries = [
        (NewEntry::new("etc", EntryKind::Directory, 0o755), &b""[..]),
        (
            NewEntry::new("etc/config", EntryKind::Regular, 0o600),
            b"debug=1\n",
        ),
        (
            NewEntry::new("etc/.wh.motd", EntryKind::Regular, 0o644),
            b"",
        ),
        (NewEntry::new("var/cache", EntryKind::Directory, 0o755), b""),
        (
            NewEntry::new("var/cache/.wh..wh..opq", EntryKind::Regular, 0o644),
            b"",
        ),
    ];
    for (entry, data) in &entries {
        tar.append(entry, data).unwrap();
    }
    let layer = ImageLayerFs::parse(Bytes::from_vec(tar.finish().unwrap())).unwrap();
    let stats = layer.stats();
    assert_eq!((stats.files, stats.whiteouts, stats.opaque_dirs), (1, 1, 1));
    let config = layer
        .root()
        .lookup("etc")
        .unwrap()
        .lookup("config")
        .unwrap();
    let meta = config.metadata().unwrap();
    assert_eq!(
        (meta.kind, meta.mode, meta.size),
        (FileType::Regular, 0o600, 8)
    );
    let mut buf = [0u8; 8];
    config.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"debug=1\n");
}

#[test]
fn the_same_entries_give_the_same_bytes() {
    let write = || {
        let mut tar = TarWriter::new();
        tar.append(&NewEntry::new("a", EntryKind::Regular, 0o644), b"x")
            .unwrap();
        tar.finish().unwrap()
    };
    assert_eq!(write(), write());
    assert_eq!(TarWriter::new().finish().unwrap(), vec![0; 2 * BLOCK_SIZE]);
}

#[test]
fn random_entries_never_panic_and_read_back_when_accepted() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet: &[&str] = &[
        "a",
        "/",
        ".",
        "..",
        "é",
        "\0",
        "=",
        "bb",
        "/c/",
        "long-name-",
    ];
    for _ in 0..2000 {
        let mut path = String::new();
        for _ in 0..next() % 40 {
            path.push_str(alphabet[(next() % alphabet.len() as u64) as usize]);
        }
        let target = path.chars().rev().collect::<String>();
        let kind = match next() % 7 {
            0 => EntryKind::Regular,
            1 => EntryKind::Directory,
            2 => EntryKind::Symlink { target },
            3 => EntryKind::HardLink { target },
            4 => EntryKind::CharDevice(DeviceId {
                major: next() as u32,
                minor: next() as u32,
            }),
            5 => EntryKind::BlockDevice(DeviceId::default()),
            _ => EntryKind::Fifo,
        };
        let xattrs = vec![(path.clone(), vec![1u8; (next() % 3) as usize])];
        let entry = NewEntry {
            uid: next() as u32,
            gid: next() as u32,
            mtime: Timespec {
                sec: next() as i64 >> (next() % 64),
                nsec: (next() % 1_000_000_000) as u32,
            },
            xattrs: if next() % 2 == 0 { &xattrs } else { &[] },
            ..NewEntry::new(&path, kind, (next() & 0o7777) as u16)
        };
        let data = vec![3u8; (next() % 700) as usize];
        let data: &[u8] = if entry.kind == EntryKind::Regular {
            &data
        } else {
            &[]
        };
        let mut tar = TarWriter::new();
        if tar.append(&entry, data).is_ok() {
            let archive = tar.finish().unwrap();
            let read = TarReader::new(&archive)
                .collect::<core::result::Result<Vec<_>, _>>()
                .unwrap_or_else(|error| panic!("{entry:?}: {error}"));
            assert_eq!(read.len(), 1);
            assert_eq!(read[0].mtime, entry.mtime, "{entry:?}");
            assert_eq!(&archive[read[0].data.clone()], data);
        }
    }
}
