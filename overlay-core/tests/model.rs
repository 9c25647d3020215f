//! Model-based property tests: random operation sequences over random small layer stacks,
//! run on `OverlayFs` (through `posix::Namespace`, as root) and on a reference model of the
//! merged view (`support::model`). After every step both must agree on the result (ok or the
//! errno, and the listing for readdir) and on the whole tree: paths, kinds, modes, contents,
//! symlink targets, `user.*` xattrs, and inode identity (names of one model node share one
//! inode number, different nodes have different ones, and a node's number never changes:
//! not across copy-up, not across rename). The layers are tmpfs layers (Linux whiteouts) in
//! one test and image layers (tars with OCI whiteouts, as the kernel stacks them) in another.
//!
//! `MODEL_CASES=N` runs N cases (64 by default, so `cargo test` stays fast); proptest shrinks a
//! failure to a minimal sequence, which belongs in the regression tests at the end.

mod support;

use std::collections::BTreeMap;

use overlay_core::overlay::Layer;
use overlay_core::tmpfs::TmpFsOptions;
use overlay_core::vfs::{Credentials, FileType, OpenFlags, RenameFlags, XattrFlags};
use overlay_core::Errno;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use support::model::{Kind, LayerEntry, LayerSpec, Model};

/// Paths the layers and the operations use; parents come before their children.
const POOL: &[&str] = &[
    "/a", "/a/x", "/a/y", "/a/s", "/a/s/z", "/b", "/b/x", "/c", "/d",
];
/// Targets of symlinks: absolute, relative, dangling, to directories.
const TARGETS: &[&str] = &["/a/x", "x", "../c", "/b", "nowhere", "/a/s/z", "s"];
/// Names of xattrs the operations set.
const XATTRS: &[&str] = &["user.k", "user.m"];

/// One operation, with indices into the pools.
#[derive(Clone, Debug)]
enum Op {
    Create(usize),
    Write(usize, u64, Vec<u8>),
    Truncate(usize, u64),
    Unlink(usize),
    Mkdir(usize),
    Rmdir(usize),
    Rename(usize, usize),
    Link(usize, usize),
    Symlink(usize, usize),
    Chmod(usize, u16),
    SetXattr(usize, usize, Vec<u8>),
    ReadDir(usize),
}

fn path() -> impl Strategy<Value = usize> {
    0..POOL.len()
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(b'a'..=b'e', 0..6)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        path().prop_map(Op::Create),
        (path(), 0..10u64, bytes()).prop_map(|(p, offset, data)| Op::Write(p, offset, data)),
        (path(), 0..12u64).prop_map(|(p, len)| Op::Truncate(p, len)),
        path().prop_map(Op::Unlink),
        path().prop_map(Op::Mkdir),
        path().prop_map(Op::Rmdir),
        (path(), path()).prop_map(|(a, b)| Op::Rename(a, b)),
        (path(), path()).prop_map(|(a, b)| Op::Link(a, b)),
        (0..TARGETS.len(), path()).prop_map(|(t, p)| Op::Symlink(t, p)),
        (
            path(),
            prop::sample::select(vec![0o600u16, 0o755, 0o4750, 0o1777, 0])
        )
            .prop_map(|(p, mode)| Op::Chmod(p, mode)),
        (path(), 0..XATTRS.len(), bytes()).prop_map(|(p, n, v)| Op::SetXattr(p, n, v)),
        path().prop_map(Op::ReadDir),
    ]
}

/// A layer: for each pool path, a choice byte and an auxiliary byte.
fn layer_choices() -> impl Strategy<Value = Vec<(u8, u8)>> {
    prop::collection::vec((0u8..10, any::<u8>()), POOL.len())
}

/// Decodes one layer's choices: absent, directory (opaque), file, hard link, symlink,
/// whiteout; entries only under directories of the same layer.
fn decode_layer(choices: &[(u8, u8)], bottom: bool) -> LayerSpec {
    let mut layer: LayerSpec = Vec::new();
    let mut dirs: Vec<&str> = Vec::new();
    let mut files: Vec<&str> = Vec::new();
    for (&path, &(choice, aux)) in POOL.iter().zip(choices) {
        let parent = &path[..path.rfind('/').unwrap_or(0)];
        if !parent.is_empty() && !dirs.contains(&parent) {
            continue;
        }
        let entry = match choice {
            5 => LayerEntry::Dir { opaque: false },
            6 => LayerEntry::Dir { opaque: !bottom },
            7 if aux % 4 == 0 && !files.is_empty() => {
                LayerEntry::HardLink(files[aux as usize % files.len()].to_string())
            }
            7 => LayerEntry::File(format!("{}", aux % 37).into_bytes()),
            8 => LayerEntry::Symlink(TARGETS[aux as usize % TARGETS.len()].to_string()),
            9 if !bottom => LayerEntry::Whiteout,
            _ => continue,
        };
        match entry {
            LayerEntry::Dir { .. } => dirs.push(path),
            LayerEntry::File(_) => files.push(path),
            _ => {}
        }
        layer.push((path.to_string(), entry));
    }
    layer
}

/// Stacks of 1 to 3 lower layers.
fn layers() -> impl Strategy<Value = Vec<LayerSpec>> {
    prop::collection::vec(layer_choices(), 1..=3).prop_map(|stack| {
        let count = stack.len();
        stack
            .iter()
            .enumerate()
            .map(|(index, choices)| decode_layer(choices, index + 1 == count))
            .collect()
    })
}

/// What an operation returned: nothing, or a listing.
type Outcome = Result<Option<Vec<String>>, Errno>;

fn apply_model(model: &mut Model, op: &Op) -> Outcome {
    let p = |index: usize| POOL[index];
    match op {
        Op::Create(a) => model.create(p(*a)).map(|()| None),
        Op::Write(a, offset, data) => model.write(p(*a), *offset, data).map(|()| None),
        Op::Truncate(a, len) => model.truncate(p(*a), *len).map(|()| None),
        Op::Unlink(a) => model.unlink(p(*a)).map(|()| None),
        Op::Mkdir(a) => model.mkdir(p(*a)).map(|()| None),
        Op::Rmdir(a) => model.rmdir(p(*a)).map(|()| None),
        Op::Rename(a, b) => model.rename(p(*a), p(*b)).map(|()| None),
        Op::Link(a, b) => model.link(p(*a), p(*b)).map(|()| None),
        Op::Symlink(t, a) => model.symlink(TARGETS[*t], p(*a)).map(|()| None),
        Op::Chmod(a, mode) => model.chmod(p(*a), *mode).map(|()| None),
        Op::SetXattr(a, n, v) => model.set_xattr(p(*a), XATTRS[*n], v).map(|()| None),
        Op::ReadDir(a) => model.read_dir(p(*a)).map(Some),
    }
}

fn apply_union(ns: &overlay_core::posix::Namespace, op: &Op) -> Outcome {
    let root = Credentials::root();
    let p = |index: usize| POOL[index];
    let none = |result: Result<(), Errno>| result.map(|()| None);
    match op {
        Op::Create(a) => {
            let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
            ns.open(&root, p(*a), flags, 0o666).map(|_| None)
        }
        Op::Write(a, offset, data) => {
            let file = ns.open(&root, p(*a), OpenFlags::WRITE, 0)?;
            let written = file.pwrite(*offset, data)?;
            assert_eq!(written, data.len(), "short write");
            Ok(None)
        }
        Op::Truncate(a, len) => none(ns.truncate(&root, p(*a), *len)),
        Op::Unlink(a) => none(ns.unlink(&root, p(*a))),
        Op::Mkdir(a) => none(ns.mkdir(&root, p(*a), 0o777)),
        Op::Rmdir(a) => none(ns.rmdir(&root, p(*a))),
        Op::Rename(a, b) => none(ns.rename(&root, p(*a), p(*b), RenameFlags::empty())),
        Op::Link(a, b) => none(ns.link(&root, p(*a), p(*b))),
        Op::Symlink(t, a) => none(ns.symlink(&root, TARGETS[*t], p(*a))),
        Op::Chmod(a, mode) => none(ns.chmod(&root, p(*a), *mode)),
        Op::SetXattr(a, n, v) => {
            none(ns.set_xattr(&root, p(*a), XATTRS[*n], v, XattrFlags::empty()))
        }
        Op::ReadDir(a) => {
            let mut names: Vec<String> = ns
                .read_dir(&root, p(*a))?
                .into_iter()
                .map(|entry| String::from(&*entry.name))
                .collect();
            names.sort();
            Ok(Some(names))
        }
    }
}

/// Checks the whole union against the model; `inos` remembers each model node's inode
/// number across steps.
fn check_tree(
    ns: &overlay_core::posix::Namespace,
    model: &Model,
    inos: &mut BTreeMap<usize, u64>,
) -> Result<(), TestCaseError> {
    let seen = support::walk(ns).map_err(|errno| TestCaseError::fail(format!("walk: {errno}")))?;
    let seen_paths: Vec<&str> = seen.iter().map(|entry| entry.path.as_str()).collect();
    let model_paths: Vec<&str> = model.entries.keys().map(String::as_str).collect();
    prop_assert_eq!(seen_paths, model_paths, "the paths differ");
    let mut node_of_ino: BTreeMap<u64, usize> = BTreeMap::new();
    let mut nlink_of_node: BTreeMap<usize, u32> = BTreeMap::new();
    for entry in &seen {
        let id = model.entries[&entry.path];
        let node = &model.nodes[&id];
        let (kind, content) = match &node.kind {
            Kind::File(content) => (FileType::Regular, content.clone()),
            Kind::Dir => (FileType::Directory, Vec::new()),
            Kind::Symlink(target) => (FileType::Symlink, target.clone().into_bytes()),
        };
        prop_assert_eq!(entry.kind, kind, "kind of {}", entry.path);
        prop_assert_eq!(&entry.content, &content, "content of {}", entry.path);
        if kind != FileType::Symlink {
            prop_assert_eq!(entry.mode, node.mode, "mode of {}", entry.path);
            let xattrs: Vec<(String, Vec<u8>)> = node
                .xattrs
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            prop_assert_eq!(&entry.xattrs, &xattrs, "xattrs of {}", entry.path);
        }
        // One inode number per model node, never shared, never changing.
        let owner = *node_of_ino.entry(entry.ino).or_insert(id);
        prop_assert_eq!(
            owner,
            id,
            "{} shares an inode number with another node",
            entry.path
        );
        let first = *inos.entry(id).or_insert(entry.ino);
        prop_assert_eq!(
            entry.ino,
            first,
            "the inode number of {} changed",
            entry.path
        );
        if kind == FileType::Regular {
            let nlink = *nlink_of_node.entry(id).or_insert(entry.nlink);
            prop_assert_eq!(entry.nlink, nlink, "names of one file disagree on nlink");
        }
    }
    // Numbers of nodes that are gone may be reused by new ones; forget them.
    inos.retain(|id, _| model.nodes.contains_key(id));
    Ok(())
}

/// Runs `ops` on a union of `lowers` and on the model, comparing after every step.
fn run(lowers: &[LayerSpec], ops: &[Op]) -> Result<(), TestCaseError> {
    run_over(lowers, ops, support::tmpfs_layer)
}

/// [`run`] with lower layers made by `layer` from their spec lines.
fn run_over(
    lowers: &[LayerSpec],
    ops: &[Op],
    layer: fn(&[String]) -> Layer,
) -> Result<(), TestCaseError> {
    let specs: Vec<Vec<String>> = lowers.iter().map(support::model::spec_lines).collect();
    let (_fs, ns) = support::union_of(&specs, layer, TmpFsOptions::default());
    let mut model = Model::from_layers(lowers);
    let mut inos = BTreeMap::new();
    check_tree(&ns, &model, &mut inos)?;
    for (step, op) in ops.iter().enumerate() {
        let expected = apply_model(&mut model, op);
        let got = apply_union(&ns, op);
        prop_assert_eq!(&got, &expected, "step {}: {:?}", step, op);
        check_tree(&ns, &model, &mut inos)?;
    }
    Ok(())
}

/// `MODEL_CASES` cases (64 by default) from a fixed seed, so that every run of `cargo test`
/// checks the same cases; `MODEL_SEED=N` picks another seed.
fn config() -> ProptestConfig {
    use support::env_number as number;
    ProptestConfig {
        cases: number("MODEL_CASES").unwrap_or(64),
        rng_seed: proptest::test_runner::RngSeed::Fixed(number("MODEL_SEED").unwrap_or(5)),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn union_behaves_like_the_model(
        lowers in layers(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run(&lowers, &ops)?;
    }

    /// The same over image layers (tars with OCI whiteouts), as the kernel stacks them.
    #[test]
    fn union_of_image_layers_behaves_like_the_model(
        lowers in layers(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run_over(&lowers, &ops, support::image_layer)?;
    }
}

/// Regression test for finding 4 (fixed in 3096c5b), as proptest shrank it: `/d` and `/a/x`
/// are one lower file; `/a/x` is copied up (opened for writing) and removed; `ln` and `mv` of
/// `/d` must still work (Linux: they do).
#[test]
fn regression_finding_04_link_after_the_copied_up_name_is_gone() {
    let lower: LayerSpec = vec![
        ("/a".into(), LayerEntry::Dir { opaque: false }),
        ("/a/x".into(), LayerEntry::File(b"0".to_vec())),
        ("/d".into(), LayerEntry::HardLink("/a/x".into())),
    ];
    let a_x = 1;
    let d = 8;
    let ops = [
        Op::Write(a_x, 0, Vec::new()),
        Op::Unlink(a_x),
        Op::Link(d, 2),
        Op::Rename(d, 7),
    ];
    run(&[lower], &ops).unwrap();
}

/// The model itself reads a layer stack by the lookup rules.
#[test]
fn model_merges_layers_like_semantics_md() {
    let top: LayerSpec = vec![
        ("/d".into(), LayerEntry::Dir { opaque: false }),
        ("/d/a".into(), LayerEntry::Whiteout),
        ("/o".into(), LayerEntry::Dir { opaque: true }),
    ];
    let bottom: LayerSpec = vec![
        ("/d".into(), LayerEntry::Dir { opaque: false }),
        ("/d/a".into(), LayerEntry::File(b"a".to_vec())),
        ("/d/b".into(), LayerEntry::File(b"b".to_vec())),
        ("/o".into(), LayerEntry::Dir { opaque: false }),
        ("/o/hidden".into(), LayerEntry::File(b"h".to_vec())),
    ];
    let model = Model::from_layers(&[top.clone(), bottom.clone()]);
    let paths: Vec<&str> = model.entries.keys().map(String::as_str).collect();
    assert_eq!(paths, ["/d", "/d/b", "/o"]);
    run(&[top, bottom], &[Op::ReadDir(0)]).unwrap();
}
