//! Faults: an upper layer too small for a change, at every size from nothing up to the size
//! the change needs (in bytes, then in inodes). At each size that is too small the call must
//! fail with `ENOSPC` and leave no trace: the union shows exactly what it showed before, the
//! upper layer holds nothing under the name being changed, the work directory is empty (no
//! half-made copy left), the lower layer's bytes are unchanged (by hash), and the next call
//! that fits works. At the first size that is big enough the call must succeed.

mod support;

use std::sync::Arc;

use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer, WORK_DIR_NAME};
use overlay_core::posix::Namespace;
use overlay_core::scenarios::fixture::{build_layer, walk as walk_inode};
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::vfs::{Credentials, FileSystem, FileType, Inode, OpenFlags, RenameFlags};
use overlay_core::vfs::{XattrFlags, PATH_MAX};
use overlay_core::Errno;
use sha2::{Digest, Sha256};

/// A lower file spanning three pages and a bit, two directories deep.
const BIG_BYTES: usize = 3 * 4096 + 100;

fn lower_lines() -> Vec<String> {
    let big: String = (b'a'..=b'z')
        .cycle()
        .take(BIG_BYTES)
        .map(char::from)
        .collect();
    vec![
        "d d".into(),
        "d d/sub".into(),
        format!("f d/sub/big {big}"),
        "f d/small s".into(),
        "l d/link sub/big".into(),
    ]
}

struct Setup {
    ns: Namespace,
    lower: Arc<TmpFs>,
    upper: Arc<TmpFs>,
}

fn setup(options: TmpFsOptions) -> Setup {
    let lines = lower_lines();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let lower = build_layer(&lines).expect("lower layer");
    let upper = TmpFs::new(options);
    let fs = OverlayFs::new(
        vec![Layer::new(lower.clone())],
        Some(UpperLayer::new(upper.clone()).expect("upper layer")),
        OverlayOptions::default(),
    )
    .expect("union");
    Setup {
        ns: Namespace::with_filesystem(fs),
        lower,
        upper,
    }
}

/// SHA-256 over every path and content of a filesystem, read directly (not via the union).
fn hash_tree(root: &Arc<dyn Inode>) -> Vec<u8> {
    let mut hasher = Sha256::new();
    let mut pending = vec![("/".to_string(), root.clone())];
    while let Some((path, inode)) = pending.pop() {
        hasher.update(path.as_bytes());
        let meta = inode.metadata().expect("metadata");
        hasher.update([meta.kind.letter() as u8]);
        hasher.update(meta.mode.to_le_bytes());
        match meta.kind {
            FileType::Directory => {
                let mut names = Vec::new();
                inode
                    .readdir(0, &mut |entry| {
                        names.push(entry.name.to_string());
                        true
                    })
                    .expect("readdir");
                names.sort();
                for name in names {
                    let child = inode.lookup(&name).expect("lookup");
                    pending.push((format!("{path}/{name}"), child));
                }
            }
            FileType::Regular => {
                let mut offset = 0u64;
                let mut chunk = [0u8; 4096];
                loop {
                    let count = inode.read_at(offset, &mut chunk).expect("read");
                    if count == 0 {
                        break;
                    }
                    hasher.update(&chunk[..count]);
                    offset += count as u64;
                }
            }
            FileType::Symlink => hasher.update(inode.readlink().expect("readlink").as_bytes()),
            _ => {}
        }
    }
    hasher.finalize().to_vec()
}

/// A walk as a failed call must leave it. The parent directories a copy-up made before it
/// failed stay in the upper layer, as on Linux (measured with `boot difftest`), and a merged
/// directory reports one link where the lower one reported its own count: directories'
/// link counts are left out.
fn visible(mut walk: Vec<support::Seen>) -> Vec<support::Seen> {
    for entry in &mut walk {
        if entry.kind == FileType::Directory {
            entry.nlink = 0;
        }
    }
    walk
}

/// The entries that differ between two walks, briefly (contents by length).
fn changes(before: &[support::Seen], after: &[support::Seen]) -> String {
    let brief = |entry: &support::Seen| {
        format!(
            "{} {:?} {:o} ino={} nlink={} len={} xattrs={:?}",
            entry.path,
            entry.kind,
            entry.mode,
            entry.ino,
            entry.nlink,
            entry.content.len(),
            entry.xattrs
        )
    };
    let old: Vec<String> = before.iter().map(brief).collect();
    let new: Vec<String> = after.iter().map(brief).collect();
    let gone: Vec<&String> = old.iter().filter(|line| !new.contains(line)).collect();
    let came: Vec<&String> = new.iter().filter(|line| !old.contains(line)).collect();
    format!("before {gone:?}, after {came:?}")
}

/// One change to try, the upper-layer path it creates or changes, and what the union shows
/// once it worked.
struct Change {
    name: &'static str,
    /// The union path whose upper entry must not exist after a failure.
    target: &'static str,
    run: fn(&Namespace) -> Result<(), Errno>,
    check: fn(&Namespace),
}

fn root() -> Credentials {
    Credentials::root()
}

fn write_at(ns: &Namespace, path: &str, offset: u64, bytes: &[u8]) -> Result<(), Errno> {
    let file = ns.open(&root(), path, OpenFlags::WRITE, 0)?;
    match file.pwrite(offset, bytes)? {
        count if count == bytes.len() => Ok(()),
        _ => Err(Errno::EIO),
    }
}

fn content(ns: &Namespace, path: &str) -> Vec<u8> {
    support::read(ns, path).expect("read through the union")
}

fn original() -> Vec<u8> {
    (b'a'..=b'z').cycle().take(BIG_BYTES).collect()
}

const CHANGES: &[Change] = &[
    Change {
        name: "write at offset 0 (copy-up of data and parents)",
        target: "/d/sub/big",
        run: |ns| write_at(ns, "/d/sub/big", 0, b"X"),
        check: |ns| {
            let mut expected = original();
            expected[0] = b'X';
            assert_eq!(content(ns, "/d/sub/big"), expected);
        },
    },
    Change {
        name: "write through a symlink",
        target: "/d/sub/big",
        run: |ns| write_at(ns, "/d/link", 4096, b"Y"),
        check: |ns| assert_eq!(content(ns, "/d/sub/big")[4096], b'Y'),
    },
    Change {
        name: "append past the last page",
        target: "/d/sub/big",
        run: |ns| {
            let mut file = ns.open(
                &root(),
                "/d/sub/big",
                OpenFlags::WRITE | OpenFlags::APPEND,
                0,
            )?;
            file.write_all(&[b'+'; 5000])
        },
        check: |ns| assert_eq!(content(ns, "/d/sub/big").len(), BIG_BYTES + 5000),
    },
    Change {
        name: "truncate to a larger size",
        target: "/d/sub/big",
        run: |ns| ns.truncate(&root(), "/d/sub/big", 20_000),
        check: |ns| assert_eq!(content(ns, "/d/sub/big").len(), 20_000),
    },
    Change {
        name: "chmod (copy-up of a whole file for metadata)",
        target: "/d/sub/big",
        run: |ns| ns.chmod(&root(), "/d/sub/big", 0o600),
        check: |ns| assert_eq!(ns.lstat(&root(), "/d/sub/big").unwrap().mode, 0o600),
    },
    Change {
        name: "setxattr with a 300-byte value",
        target: "/d/sub/big",
        run: |ns| {
            ns.set_xattr(
                &root(),
                "/d/sub/big",
                "user.k",
                &[b'v'; 300],
                XattrFlags::empty(),
            )
        },
        check: |ns| {
            assert_eq!(
                ns.get_xattr(&root(), "/d/sub/big", "user.k").unwrap().len(),
                300
            )
        },
    },
    Change {
        name: "rename of a lower file",
        target: "/d/moved",
        run: |ns| ns.rename(&root(), "/d/sub/big", "/d/moved", RenameFlags::empty()),
        check: |ns| {
            assert_eq!(content(ns, "/d/moved"), original());
            assert_eq!(ns.lstat(&root(), "/d/sub/big").err(), Some(Errno::ENOENT));
        },
    },
    Change {
        name: "link to a lower file",
        target: "/d/hard",
        run: |ns| ns.link(&root(), "/d/sub/big", "/d/hard"),
        check: |ns| assert_eq!(content(ns, "/d/hard"), original()),
    },
    Change {
        name: "exclusive create of a new file in a lower directory",
        target: "/d/sub/new",
        run: |ns| {
            let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
            ns.open(&root(), "/d/sub/new", flags, 0o644).map(drop)
        },
        check: |ns| assert_eq!(content(ns, "/d/sub/new").len(), 0),
    },
    Change {
        name: "symlink with a long target",
        target: "/d/sub/long",
        run: |ns| ns.symlink(&root(), &"t/".repeat(PATH_MAX / 4), "/d/sub/long"),
        check: |ns| {
            assert_eq!(
                ns.readlink(&root(), "/d/sub/long").unwrap().len(),
                PATH_MAX / 2
            )
        },
    },
];

/// Tries `change` with every upper size `sizes` gives until it succeeds; returns how many
/// sizes failed (each checked).
///
/// `next` is the call that must work after a failure (one that needs none of what ran out).
fn sweep(
    change: &Change,
    options_for: impl Fn(u64) -> TmpFsOptions,
    sizes: impl IntoIterator<Item = u64>,
    next: fn(&Namespace) -> Result<(), Errno>,
) -> u64 {
    for (tried, size) in (0u64..).zip(sizes) {
        let setup = setup(options_for(size));
        let before = visible(support::walk(&setup.ns).expect("walk before"));
        let lower_before = hash_tree(&setup.lower.root());
        match (change.run)(&setup.ns) {
            Ok(()) => {
                (change.check)(&setup.ns);
                return tried;
            }
            Err(Errno::ENOSPC) => {}
            Err(errno) => panic!("{}: size {size}: {errno}, expected ENOSPC", change.name),
        }
        let what = format!("{} at upper size {size}", change.name);
        let after = visible(support::walk(&setup.ns).expect("walk after"));
        assert!(
            after == before,
            "{what}: the union changed: {}",
            changes(&before, &after)
        );
        assert_eq!(
            hash_tree(&setup.lower.root()),
            lower_before,
            "{what}: the lower changed"
        );
        let upper_root = setup.upper.root();
        let upper_dir = upper_root.lookup("upper").expect("upper dir");
        // Under the name being changed the upper layer holds nothing, or (when the copy-up
        // was done and a later step ran out of room, e.g. the write after an append's open)
        // a whole copy of the lower file: never a part of one.
        match walk_inode(&upper_dir, change.target) {
            Err(Errno::ENOENT) => {}
            Ok(copy) if change.target == "/d/sub/big" => {
                let mut bytes = vec![0u8; BIG_BYTES + 1];
                let count = copy.read_at(0, &mut bytes).expect("read the upper copy");
                assert_eq!(
                    &bytes[..count],
                    &original()[..],
                    "{what}: a partial copy is left"
                );
            }
            Ok(_) => panic!("{what}: {} is in the upper layer", change.target),
            Err(errno) => panic!(
                "{what}: looking {} up in the upper layer: {errno}",
                change.target
            ),
        }
        let work = upper_root.lookup(WORK_DIR_NAME).expect("work dir");
        assert_eq!(
            support::names(&work),
            Vec::<String>::new(),
            "{what}: the work directory is not empty"
        );
        // The file reads as before, and the next call that needs no room works.
        assert_eq!(
            content(&setup.ns, "/d/sub/big"),
            original(),
            "{what}: content"
        );
        next(&setup.ns).unwrap_or_else(|errno| panic!("{what}: the next call failed: {errno}"));
    }
    panic!("{}: still failing at the largest size tried", change.name);
}

/// Upper capacities in bytes to try, from 0 up: every byte within 64 of a page boundary
/// (where data pages start to fit) and every 64th byte between, up to 64 KiB; every byte with
/// `FAULTS_EVERY_BYTE=1`.
fn byte_sizes() -> Box<dyn Iterator<Item = u64>> {
    const LIMIT: u64 = 64 * 1024;
    if std::env::var("FAULTS_EVERY_BYTE").is_ok_and(|value| value == "1") {
        return Box::new(0..=LIMIT);
    }
    Box::new((0..=LIMIT).filter(|size| {
        let from_boundary = (size % 4096).min(4096 - size % 4096);
        from_boundary <= 64 || size % 64 == 0
    }))
}

#[test]
fn every_upper_capacity_in_bytes_up_to_what_a_change_needs() {
    let mut fault_points = 0;
    for change in CHANGES {
        let failed = sweep(
            change,
            |bytes| TmpFsOptions {
                capacity_bytes: Some(bytes),
                ..TmpFsOptions::default()
            },
            byte_sizes(),
            // Removing a lower name takes a whiteout: an inode, no bytes.
            |ns| ns.unlink(&root(), "/d/small"),
        );
        eprintln!(
            "faults: {}: ENOSPC at {failed} byte sizes, then it worked",
            change.name
        );
        fault_points += failed;
    }
    eprintln!("faults: {fault_points} byte capacities tried with nothing lost");
    // The big file needs four pages: every change that copies it up fails below 16 KiB.
    assert!(fault_points > 1000, "too few fault points: {fault_points}");
}

#[test]
fn every_upper_inode_limit_up_to_what_a_change_needs() {
    let mut fault_points = 0;
    for change in CHANGES {
        let failed = sweep(
            change,
            // The root, `upper` and `work` always take three.
            |inodes| TmpFsOptions {
                max_inodes: Some(inodes + 3),
                ..TmpFsOptions::default()
            },
            0..=64,
            // With no inode left nothing can be made; the union still lists and reads.
            |ns| ns.read_dir(&root(), "/d/sub").map(drop),
        );
        eprintln!(
            "faults: {}: ENOSPC at {failed} inode limits, then it worked",
            change.name
        );
        fault_points += failed;
    }
    eprintln!("faults: {fault_points} inode limits tried with nothing lost");
    assert!(
        fault_points >= CHANGES.len() as u64,
        "too few fault points: {fault_points}"
    );
}

/// Regression test for finding 5 (fixed in e740673): a rename of a lower file that runs out
/// of inodes for the whiteout must fail with ENOSPC and change nothing (it used to leave the
/// file under both names).
#[test]
fn regression_finding_05_rename_out_of_inodes_changes_nothing() {
    let rename = CHANGES
        .iter()
        .find(|change| change.name.starts_with("rename"))
        .expect("the rename change");
    sweep(
        rename,
        |inodes| TmpFsOptions {
            max_inodes: Some(inodes + 3),
            ..TmpFsOptions::default()
        },
        0..=64,
        |ns| ns.read_dir(&root(), "/d/sub").map(drop),
    );
}

/// The statfs figures of a full upper layer are the union's (docs/semantics.md: statfs reports the
/// upper filesystem), so a caller can see why a call failed.
#[test]
fn a_full_upper_layer_shows_in_statfs() {
    let setup = setup(TmpFsOptions {
        capacity_bytes: Some(8192),
        ..TmpFsOptions::default()
    });
    assert_eq!(
        write_at(&setup.ns, "/d/sub/big", 0, b"X"),
        Err(Errno::ENOSPC)
    );
    let union = setup.ns.statfs(&root(), "/").expect("statfs");
    assert_eq!(union, setup.upper.statfs().expect("upper statfs"));
}
