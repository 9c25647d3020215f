//! A property of `commit`: it makes an image that shows exactly what the container showed, or
//! it fails with an errno and changes nothing.
//!
//! Each case builds an image of one or two random layer tars (directories, files with
//! xattrs, hard links, symlinks, devices (character devices 0/0 among them), fifos, OCI
//! whiteouts and opaque markers, paths up to seven levels deep), runs a container of it, and
//! applies random shell commands: writes, truncation, `mkdir`, `rm`, `rmdir`, a directory
//! removed with everything in it and made again (an opaque directory), `mv`, `ln`, `ln -s`,
//! `mknod`, `chmod`, `chown`, `setxattr`, `rmxattr`, names starting with `.wh.`, and now and
//! then xattrs a tar entry cannot hold. Then `commit`, and:
//! - if it succeeded, a new container of the new image, and the committing container (now
//!   over the new image), must show what the container showed before: the shell's `tree`,
//!   and for every entry its xattrs and mtime, and which names are one file (hard links).
//!   Link counts are not compared: a lower file keeps counting its names that a whiteout
//!   hides (as on Linux), which a copy no longer has;
//! - if it failed, the errno must be `EINVAL` naming an entry that is either a name starting
//!   with `.wh.` or a file whose xattrs exceed a tar entry's extended header, and nothing
//!   may have changed: the same images, the same store usage, the same `tree`.
//!
//! Each case commits twice: a second round of commands runs in a container of the first
//! commit's image (so committed layers stack on committed layers).
//!
//! `COMMIT_MODEL_CASES=N` (or `MODEL_CASES=N`) runs N cases (300 by default: a few seconds);
//! `MODEL_SEED=N` picks another seed. Proptest shrinks a failure to a minimal case.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use overlay_core::containers::{ContainerManager, ContainerOptions};
use overlay_core::image::{
    Bytes, EntryKind, HistoryStep, ImageStore, LayerSource, NewEntry, RuntimeConfig, StoredImage,
    StoredLayer, TarWriter,
};
use overlay_core::posix::Namespace;
use overlay_core::shell::Shell;
use overlay_core::vfs::{Credentials, DeviceId, Timespec};
use overlay_core::Errno;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Paths the layers and the commands use; parents come before their children.
const POOL: &[&str] = &[
    "/a",
    "/a/x",
    "/a/b",
    "/a/b/y",
    "/a/b/c",
    "/a/b/c/d",
    "/a/b/c/d/e",
    "/a/b/c/d/e/f",
    "/a/b/c/d/e/f/z",
    "/g",
    "/g/h",
    "/g/i",
    "/k",
];
/// Paths whose names OCI layers reserve: rarer, as any of them fails a commit.
const RESERVED: &[&str] = &["/a/.wh.x", "/g/.wh..wh..opq", "/.wh.k"];
/// Targets of symlinks.
const TARGETS: &[&str] = &["/a/x", "x", "../g", "nowhere", "/a/b/c/d/e/f/z"];
/// Names of the xattrs set.
const XATTRS: &[&str] = &["user.k", "user.m", "trusted.t"];
/// Largest total of xattr names and values one tar entry holds (its extended header).
const TAR_XATTR_BYTES: usize = 1 << 20;

/// A path: usually from [`POOL`], now and then a reserved one.
#[derive(Clone, Copy, Debug)]
struct P(usize);

impl P {
    fn path(self) -> &'static str {
        POOL.get(self.0)
            .or_else(|| RESERVED.get(self.0 - POOL.len()))
            .copied()
            .unwrap_or("/")
    }
}

fn path() -> impl Strategy<Value = P> {
    prop_oneof![
        30 => (0..POOL.len()).prop_map(P),
        1 => (0..RESERVED.len()).prop_map(|i| P(POOL.len() + i)),
    ]
}

fn text() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(b'a'..=b'e', 0..6)
}

/// One shell command (or the test's own `rm -r` + `mkdir`).
#[derive(Clone, Debug)]
enum Op {
    Write(P, Vec<u8>),
    WriteAt(P, u64, Vec<u8>),
    Truncate(P, u64),
    Mkdir(P),
    Rm(P),
    Rmdir(P),
    /// `rm -r` then `mkdir`: over a lower directory, an opaque one.
    Recreate(P),
    Mv(P, P),
    Ln(P, P),
    Symlink(usize, P),
    Mknod(P, char, u32, u32),
    Chmod(P, u16),
    Chown(P, u32, u32),
    SetXattr(P, usize, Vec<u8>),
    RmXattr(P, usize),
    /// Twenty xattrs of 60 KB: more than one tar entry holds.
    BigXattrs(P),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (path(), text()).prop_map(|(p, t)| Op::Write(p, t)),
        4 => (path(), 0..8u64, text()).prop_map(|(p, o, t)| Op::WriteAt(p, o, t)),
        3 => (path(), 0..8u64).prop_map(|(p, n)| Op::Truncate(p, n)),
        8 => path().prop_map(Op::Mkdir),
        6 => path().prop_map(Op::Rm),
        4 => path().prop_map(Op::Rmdir),
        4 => path().prop_map(Op::Recreate),
        6 => (path(), path()).prop_map(|(a, b)| Op::Mv(a, b)),
        6 => (path(), path()).prop_map(|(a, b)| Op::Ln(a, b)),
        3 => (0..TARGETS.len(), path()).prop_map(|(t, p)| Op::Symlink(t, p)),
        3 => (path(), prop::sample::select(vec!['c', 'b', 'p']), 0..3u32, 0..3u32)
            .prop_map(|(p, k, major, minor)| Op::Mknod(p, k, major, minor)),
        4 => (path(), prop::sample::select(vec![0o600u16, 0o755, 0o4750, 0o1777, 0]))
            .prop_map(|(p, mode)| Op::Chmod(p, mode)),
        3 => (path(), 0..3u32, 0..3u32).prop_map(|(p, u, g)| Op::Chown(p, u, g)),
        5 => (path(), 0..XATTRS.len(), text()).prop_map(|(p, n, v)| Op::SetXattr(p, n, v)),
        2 => (path(), 0..XATTRS.len()).prop_map(|(p, n)| Op::RmXattr(p, n)),
        1 => path().prop_map(Op::BigXattrs),
    ]
}

/// One entry of a layer tar.
#[derive(Clone, Debug)]
enum Entry {
    Dir,
    File(Vec<u8>),
    /// A hard link to the `n`th file written before it (modulo their count).
    Link(usize),
    Symlink(usize),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
}

/// A layer: for each path of [`POOL`] then [`RESERVED`], maybe an entry, with its mode
/// choice and maybe an xattr value.
type LayerChoice = Vec<(Option<Entry>, u16, Option<Vec<u8>>)>;

fn entry() -> impl Strategy<Value = Option<Entry>> {
    prop_oneof![
        4 => Just(None),
        4 => Just(Some(Entry::Dir)),
        3 => text().prop_map(|t| Some(Entry::File(t))),
        2 => any::<usize>().prop_map(|n| Some(Entry::Link(n))),
        1 => (0..TARGETS.len()).prop_map(|t| Some(Entry::Symlink(t))),
        // Character devices 0/0 (whiteouts, as Docker shows them) half the time.
        1 => (0..2u32, 0..2u32).prop_map(|(a, b)| Some(Entry::Char(a, b))),
        1 => (1..3u32, 0..2u32).prop_map(|(a, b)| Some(Entry::Block(a, b))),
        1 => Just(Some(Entry::Fifo)),
    ]
}

fn layer() -> impl Strategy<Value = LayerChoice> {
    prop::collection::vec(
        (
            entry(),
            prop::sample::select(vec![0o755u16, 0o700, 0o644, 0o2775]),
            prop::option::weighted(0.2, text()),
        ),
        POOL.len() + RESERVED.len(),
    )
}

/// The tar of one layer: entries only where their parent is a directory of the layer or
/// absent from it (then implied).
fn layer_tar(choices: &LayerChoice, seed: u32) -> Vec<u8> {
    let mut tar = TarWriter::new();
    let mut kinds: BTreeMap<&str, bool> = BTreeMap::new(); // path -> is a directory
    let mut files: Vec<&str> = Vec::new();
    let paths = POOL.iter().chain(RESERVED);
    for (&path, (entry, mode, xattr)) in paths.zip(choices) {
        let Some(entry) = entry else { continue };
        let parent = &path[..path.rfind('/').unwrap_or(0)];
        if kinds.get(parent) == Some(&false)
            || kinds
                .iter()
                .any(|(p, dir)| !dir && path.starts_with(&format!("{p}/")))
        {
            continue;
        }
        let (kind, data) = match entry {
            Entry::Dir => (EntryKind::Directory, Vec::new()),
            Entry::File(data) => (EntryKind::Regular, data.clone()),
            Entry::Link(_) if files.is_empty() => (EntryKind::Regular, b"solo".to_vec()),
            Entry::Link(n) => (
                EntryKind::HardLink {
                    target: files[n % files.len()].to_string(),
                },
                Vec::new(),
            ),
            Entry::Symlink(t) => (
                EntryKind::Symlink {
                    target: TARGETS[*t].to_string(),
                },
                Vec::new(),
            ),
            Entry::Char(major, minor) => (
                EntryKind::CharDevice(DeviceId {
                    major: *major,
                    minor: *minor,
                }),
                Vec::new(),
            ),
            Entry::Block(major, minor) => (
                EntryKind::BlockDevice(DeviceId {
                    major: *major,
                    minor: *minor,
                }),
                Vec::new(),
            ),
            Entry::Fifo => (EntryKind::Fifo, Vec::new()),
        };
        if kind == EntryKind::Regular {
            files.push(path);
        }
        kinds.insert(path, kind == EntryKind::Directory);
        let xattrs: Vec<(String, Vec<u8>)> = xattr
            .iter()
            .map(|value| ("user.layer".to_string(), value.clone()))
            .collect();
        let new = NewEntry {
            uid: seed % 3,
            mtime: Timespec {
                sec: 1_600_000_000 + i64::from(seed),
                nsec: 0,
            },
            xattrs: &xattrs,
            ..NewEntry::new(path, kind, *mode)
        };
        tar.append(&new, &data).expect("a valid entry");
    }
    tar.finish().expect("the tar")
}

/// A manager holding the image `img` of `layers` (base first).
fn manager(layers: &[LayerChoice]) -> Arc<ContainerManager> {
    let mut store = ImageStore::new();
    let mut digests = Vec::new();
    let mut stored = Vec::new();
    for (n, choices) in layers.iter().enumerate() {
        let tar = layer_tar(choices, n as u32);
        let layer = StoredLayer::parse(Bytes::from_vec(tar), LayerSource::RamDisk).unwrap();
        digests.push(layer.digest.clone());
        stored.push(layer);
    }
    let image = StoredImage {
        name: "img".to_string(),
        history: digests
            .iter()
            .map(|digest| HistoryStep {
                layer: Some(digest.clone()),
                ..HistoryStep::default()
            })
            .collect(),
        layers: digests,
        config: RuntimeConfig::default(),
        manifest_digest: None,
    };
    store.add_image(image, stored).unwrap();
    ContainerManager::new(store, ContainerOptions::default())
}

/// Runs `script` in container `container`, returning what it printed.
fn shell(manager: &Arc<ContainerManager>, container: &str, script: &str) -> String {
    let mut shell = Shell::with_engine(manager.clone(), container).unwrap();
    let mut out = String::new();
    shell.run_script(script, &mut out).unwrap();
    out
}

fn namespace(manager: &ContainerManager, container: &str) -> Namespace {
    Namespace::with_filesystem(manager.container(container).unwrap())
}

/// Removes `path` and everything below it (errors ignored, as `rm -rf`).
fn remove_tree(ns: &Namespace, path: &str) {
    let root = Credentials::root();
    match ns.lstat(&root, path) {
        Ok(meta) if meta.kind.is_dir() => {
            for entry in ns.read_dir(&root, path).unwrap_or_default() {
                remove_tree(ns, &format!("{path}/{}", entry.name));
            }
            let _ = ns.rmdir(&root, path);
        }
        Ok(_) => {
            let _ = ns.unlink(&root, path);
        }
        Err(_) => {}
    }
}

fn text_arg(bytes: &[u8]) -> String {
    format!("\"{}\"", String::from_utf8_lossy(bytes))
}

/// Applies `op` in container `container`; its result does not matter.
fn apply(manager: &Arc<ContainerManager>, container: &str, op: &Op) {
    let line = match op {
        Op::Write(p, t) => format!("write {} {}", p.path(), text_arg(t)),
        Op::WriteAt(p, o, t) => format!("writeat {} {o} {}", p.path(), text_arg(t)),
        Op::Truncate(p, n) => format!("truncate {} {n}", p.path()),
        Op::Mkdir(p) => format!("mkdir {}", p.path()),
        Op::Rm(p) => format!("rm {}", p.path()),
        Op::Rmdir(p) => format!("rmdir {}", p.path()),
        Op::Recreate(p) => {
            remove_tree(&namespace(manager, container), p.path());
            format!("mkdir {}", p.path())
        }
        Op::Mv(a, b) => format!("mv {} {}", a.path(), b.path()),
        Op::Ln(a, b) => format!("ln {} {}", a.path(), b.path()),
        Op::Symlink(t, p) => format!("ln -s {} {}", TARGETS[*t], p.path()),
        Op::Mknod(p, 'p', _, _) => format!("mknod {} p", p.path()),
        Op::Mknod(p, kind, major, minor) => format!("mknod {} {kind} {major} {minor}", p.path()),
        Op::Chmod(p, mode) => format!("chmod {mode:o} {}", p.path()),
        Op::Chown(p, uid, gid) => format!("chown {uid}:{gid} {}", p.path()),
        Op::SetXattr(p, n, v) => format!("setxattr {} {} {}", p.path(), XATTRS[*n], text_arg(v)),
        Op::RmXattr(p, n) => format!("rmxattr {} {}", p.path(), XATTRS[*n]),
        Op::BigXattrs(p) => {
            let value = "v".repeat(60_000);
            (0..20)
                .map(|n| format!("setxattr {} user.big{n} {value}", p.path()))
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    shell(manager, container, &line);
}

/// An entry's xattrs (sorted) and mtime: what `tree` leaves out.
type Details = (Vec<(String, Vec<u8>)>, Timespec);

/// What a container shows: the shell's `tree`, then per entry what `tree` leaves out.
#[derive(Debug, PartialEq, Eq)]
struct View {
    tree: String,
    /// Path -> (xattrs, mtime).
    details: BTreeMap<String, Details>,
    /// The names of each file with several, sorted: which names are one file.
    links: Vec<Vec<String>>,
}

fn view(manager: &Arc<ContainerManager>, container: &str) -> View {
    let ns = namespace(manager, container);
    let root = Credentials::root();
    let mut details = BTreeMap::new();
    let mut by_ino: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut pending = vec!["/".to_string()];
    while let Some(path) = pending.pop() {
        let meta = ns.lstat(&root, &path).unwrap();
        let mut xattrs = Vec::new();
        for name in ns.list_xattr(&root, &path).unwrap_or_default() {
            // `user.*` of a device or fifo is listed but not readable (as on Linux).
            if let Ok(value) = ns.get_xattr(&root, &path, &name) {
                xattrs.push((name, value));
            }
        }
        xattrs.sort();
        if meta.kind.is_dir() {
            for entry in ns.read_dir(&root, &path).unwrap() {
                let child = match path.as_str() {
                    "/" => format!("/{}", entry.name),
                    _ => format!("{path}/{}", entry.name),
                };
                pending.push(child);
            }
        } else {
            by_ino.entry(meta.ino).or_default().push(path.clone());
        }
        details.insert(path, (xattrs, meta.mtime));
    }
    let mut links: Vec<Vec<String>> = by_ino
        .into_values()
        .filter(|names| names.len() > 1)
        .map(|mut names| {
            names.sort();
            names
        })
        .collect();
    links.sort();
    View {
        tree: shell(manager, container, "tree"),
        details,
        links,
    }
}

/// Whether the view holds something commit must refuse at `path`: a name starting with
/// `.wh.`, or more xattr bytes than one tar entry holds.
fn refusable(view: &View, path: &str) -> bool {
    let reserved = path
        .rsplit('/')
        .next()
        .is_some_and(|n| n.starts_with(".wh."));
    let xattr_bytes: usize = view.details.get(path).map_or(0, |(xattrs, _)| {
        xattrs.iter().map(|(n, v)| n.len() + v.len()).sum()
    });
    reserved || xattr_bytes > TAR_XATTR_BYTES
}

/// Commits `container` as `image` and checks the property; returns whether it committed.
fn commit_and_check(
    manager: &Arc<ContainerManager>,
    container: &str,
    image: &str,
    next: &str,
) -> Result<bool, TestCaseError> {
    let before = view(manager, container);
    let images = manager.images();
    let usage = manager.usage();
    match manager.commit(container, image) {
        Ok(_) => {
            manager.run(image, next).unwrap();
            let fresh = view(manager, next);
            prop_assert_eq!(&fresh.tree, &before.tree, "a container of the new image");
            prop_assert_eq!(&fresh, &before, "a container of the new image");
            prop_assert_eq!(
                &view(manager, container),
                &before,
                "the committing container"
            );
            Ok(true)
        }
        Err(error) => {
            prop_assert_eq!(error.errno, Errno::EINVAL, "{}", error);
            let path = error.path.clone().unwrap_or_default();
            prop_assert!(refusable(&before, &path), "refused {}", error);
            prop_assert_eq!(manager.images(), images);
            prop_assert_eq!(manager.usage(), usage);
            prop_assert_eq!(
                &view(manager, container),
                &before,
                "after the failed commit"
            );
            Ok(false)
        }
    }
}

fn run(layers: &[LayerChoice], first: &[Op], second: &[Op]) -> Result<(), TestCaseError> {
    let manager = manager(layers);
    manager.run("img", "c1").unwrap();
    for op in first {
        apply(&manager, "c1", op);
    }
    if !commit_and_check(&manager, "c1", "img:2", "c2")? {
        return Ok(());
    }
    for op in second {
        apply(&manager, "c2", op);
    }
    commit_and_check(&manager, "c2", "img:3", "c3")?;
    Ok(())
}

/// `COMMIT_MODEL_CASES` or `MODEL_CASES` cases (300 by default) from a fixed seed, so that
/// every run of `cargo test` checks the same cases; `MODEL_SEED=N` picks another seed.
fn config() -> ProptestConfig {
    use support::env_number as number;
    ProptestConfig {
        cases: number("COMMIT_MODEL_CASES")
            .or_else(|| number("MODEL_CASES"))
            .unwrap_or(300),
        rng_seed: proptest::test_runner::RngSeed::Fixed(number("MODEL_SEED").unwrap_or(20)),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_committed_image_shows_what_the_container_showed_or_commit_changes_nothing(
        layers in prop::collection::vec(layer(), 1..=2),
        first in prop::collection::vec(op(), 1..30),
        second in prop::collection::vec(op(), 0..15),
    ) {
        run(&layers, &first, &second)?;
    }
}

/// The examples of issue 20, as the property meets them.
#[test]
fn names_oci_reserves_and_hard_link_groups_as_the_issue_found_them() {
    let file = |data: &[u8]| (Some(Entry::File(data.to_vec())), 0o644, None);
    let dir = (Some(Entry::Dir), 0o755, None);
    let none = (None, 0o755, None);
    let mut base: LayerChoice = vec![none.clone(); POOL.len() + RESERVED.len()];
    base[0] = dir.clone(); // /a
    base[1] = file(b"old"); // /a/x
    base[9] = dir; // /g
    base[10] = (Some(Entry::Link(0)), 0o644, None); // /g/h, a link to /a/x
    let x = P(1);
    let reserved = P(POOL.len());
    // `write /a/x new` shows `new` under both names; the commit keeps it so.
    run(&[base.clone()], &[Op::Write(x, b"new".to_vec())], &[]).unwrap();
    // `write /a/.wh.x` must not delete /a/x from the image: the commit fails instead.
    run(&[base], &[Op::Write(reserved, b"x".to_vec())], &[]).unwrap();
}
