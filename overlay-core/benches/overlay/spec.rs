//! The workloads' data, the same for every system: layers as lists of entries (top layer
//! first, like Linux's `lowerdir=`), and the paths each workload touches.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// One entry of a layer; paths are relative (`d/f0_1`), parents before children.
#[derive(Clone)]
pub enum Node {
    Dir(String),
    File(String, Arc<[u8]>),
    /// Hides the entry of the layers below.
    Whiteout(String),
}

impl Node {
    pub fn path(&self) -> &str {
        match self {
            Node::Dir(path) | Node::File(path, _) | Node::Whiteout(path) => path,
        }
    }
}

/// A layer's entries.
#[derive(Clone, Default)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    fn dir(&mut self, path: &str) {
        self.nodes.push(Node::Dir(path.into()));
    }

    fn file(&mut self, path: &str, data: &Arc<[u8]>) {
        self.nodes.push(Node::File(path.into(), data.clone()));
    }
}

/// What the layers (top first) show as one tree: what a plain directory holding the union's
/// contents would hold.
pub fn merge(layers: &[Tree]) -> Tree {
    let mut merged: BTreeMap<String, Node> = BTreeMap::new();
    for layer in layers.iter().rev() {
        for node in &layer.nodes {
            let path = node.path();
            match node {
                Node::Whiteout(_) => {
                    let below = format!("{path}/");
                    merged.retain(|other, _| other != path && !other.starts_with(&below));
                }
                Node::Dir(_) if matches!(merged.get(path), Some(Node::Dir(_))) => {}
                _ => {
                    merged.insert(path.into(), node.clone());
                }
            }
        }
    }
    Tree {
        nodes: merged.into_values().collect(),
    }
}

/// A data pattern of `len` bytes, nowhere zero.
pub fn pattern(len: usize) -> Arc<[u8]> {
    (0..len).map(|i| (i % 251) as u8 + 1).collect()
}

/// W1: layer counts; files per layer.
pub const W1_LAYER_COUNTS: [usize; 3] = [1, 8, 64];
pub const W1_FILES: usize = 1000;

/// W1: `count` layers, layer `k` (0 = top) holding `d/f<k>_<i>` for `i < 1000`.
pub fn w1_layers(count: usize) -> Vec<Tree> {
    let data = pattern(16);
    (0..count)
        .map(|layer| {
            let mut tree = Tree::default();
            tree.dir("d");
            for i in 0..W1_FILES {
                tree.file(&format!("d/f{layer}_{i}"), &data);
            }
            tree
        })
        .collect()
}

/// W1: every path the layers hold.
pub fn w1_paths(count: usize) -> Vec<String> {
    (0..count)
        .flat_map(|layer| (0..W1_FILES).map(move |i| format!("/d/f{layer}_{i}")))
        .collect()
}

/// W1: names no layer has.
pub fn w1_missing() -> Vec<String> {
    (0..W1_FILES).map(|i| format!("/d/missing_{i}")).collect()
}

/// W2: 4 layers of 5000 names in `big`, adjacent layers sharing 25% of them.
pub const W2_LAYERS: usize = 4;
pub const W2_PER_LAYER: usize = 5000;
const W2_SHIFT: usize = W2_PER_LAYER * 3 / 4;
pub const W2_DIR: &str = "/big";

fn w2_name(index: usize) -> String {
    format!("big/e{index:05}")
}

pub fn w2_layers() -> Vec<Tree> {
    let data = pattern(16);
    (0..W2_LAYERS)
        .map(|layer| {
            let mut tree = Tree::default();
            tree.dir("big");
            for index in layer * W2_SHIFT..layer * W2_SHIFT + W2_PER_LAYER {
                tree.file(&w2_name(index), &data);
            }
            tree
        })
        .collect()
}

fn w2_distinct() -> usize {
    (W2_LAYERS - 1) * W2_SHIFT + W2_PER_LAYER
}

/// W2: the 10% of names the upper layer whites out (removed through the union).
pub fn w2_removed() -> Vec<String> {
    (0..w2_distinct())
        .filter(|index| index % 10 == 0)
        .map(|index| format!("/{}", w2_name(index)))
        .collect()
}

/// W2: entries the listing must show.
pub fn w2_expected() -> usize {
    w2_distinct() - w2_removed().len()
}

/// W3: a 64 MiB lower file.
pub const W3_BYTES: usize = 64 << 20;
pub const W3_PATH: &str = "/data/big";

pub fn w3_layers(data: &Arc<[u8]>) -> Vec<Tree> {
    let mut tree = Tree::default();
    tree.dir("data");
    tree.file("data/big", data);
    vec![tree]
}

/// W4: lower files deleted, then new 4 KiB files created, in one directory.
pub const W4_FILES: usize = 10_000;
pub const W4_FILE_BYTES: usize = 4096;

pub fn w4_layers() -> Vec<Tree> {
    let data = pattern(W4_FILE_BYTES);
    let mut tree = Tree::default();
    tree.dir("churn");
    for i in 0..W4_FILES {
        tree.file(&format!("churn/f{i}"), &data);
    }
    vec![tree]
}

pub fn w4_deleted() -> Vec<String> {
    (0..W4_FILES).map(|i| format!("/churn/f{i}")).collect()
}

pub fn w4_created() -> Vec<String> {
    (0..W4_FILES).map(|i| format!("/churn/n{i}")).collect()
}

/// W5: the Rust standard library's sources as the base layer, a layer changing 1% of its
/// files and one deleting another 1% (whiteouts) on top; what a full walk must count.
pub struct W5 {
    pub layers: Vec<Tree>,
    pub expected_entries: u64,
    pub files: usize,
    pub changed: usize,
    pub deleted: usize,
}

/// Reads the tree at `root` (directories and regular files only).
pub fn w5(root: &Path) -> std::io::Result<W5> {
    let mut base = Tree::default();
    read_tree(root, "", &mut base)?;
    let files: Vec<(String, Arc<[u8]>)> = base
        .nodes
        .iter()
        .filter_map(|node| match node {
            Node::File(path, data) => Some((path.clone(), data.clone())),
            _ => None,
        })
        .collect();
    let (mut changes, mut deletions) = (Tree::default(), Tree::default());
    let (mut changed, mut deleted) = (0, 0);
    for (index, (path, data)) in files.iter().enumerate() {
        if index % 100 == 0 {
            add_parents(&mut changes, path);
            let mut new = data.to_vec();
            new.extend_from_slice(b"\n// changed by the layer above\n");
            changes.file(path, &Arc::from(new));
            changed += 1;
        } else if index % 100 == 50 {
            add_parents(&mut deletions, path);
            deletions.nodes.push(Node::Whiteout(path.clone()));
            deleted += 1;
        }
    }
    let expected_entries = (base.nodes.len() - deleted) as u64;
    Ok(W5 {
        layers: vec![deletions, changes, base],
        expected_entries,
        files: files.len(),
        changed,
        deleted,
    })
}

fn read_tree(dir: &Path, prefix: &str, tree: &mut Tree) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{prefix}{name}");
        let kind = entry.file_type()?;
        if kind.is_dir() {
            tree.dir(&path);
            read_tree(&entry.path(), &format!("{path}/"), tree)?;
        } else if kind.is_file() {
            let data: Arc<[u8]> = std::fs::read(entry.path())?.into();
            tree.file(&path, &data);
        }
    }
    Ok(())
}

/// Adds the directories above `path` that `tree` does not have yet.
fn add_parents(tree: &mut Tree, path: &str) {
    let mut end = 0;
    while let Some(slash) = path[end..].find('/') {
        end += slash;
        let parent = &path[..end];
        if !tree.nodes.iter().any(|node| node.path() == parent) {
            tree.dir(parent);
        }
        end += 1;
    }
}

/// W6b: a generated image shaped like a Debian base system (~7,000 entries, ~200 MiB): a base
/// layer of 600 package directories and 6,200 files, most small and a few of megabytes; a
/// layer rewriting 5% of them and adding an application of 300 files; a top layer deleting
/// 100 files and adding 10. Top layer first. File sizes and contents are fixed by the index
/// (the same image every run).
pub fn w6_generated() -> Vec<Tree> {
    const PACKAGES: usize = 300;
    const BASE_FILES: usize = 6_200;
    let mut base = Tree::default();
    for dir in [
        "bin",
        "etc",
        "usr",
        "usr/lib",
        "usr/share",
        "usr/share/doc",
        "var",
    ] {
        base.dir(dir);
    }
    for package in 0..PACKAGES {
        base.dir(&format!("usr/lib/p{package}"));
        base.dir(&format!("usr/share/doc/p{package}"));
    }
    let base_path = |index: usize| {
        let package = index % PACKAGES;
        match index % 8 {
            0 => format!("usr/share/doc/p{package}/f{index}"),
            1 => format!("bin/f{index}"),
            2 => format!("etc/f{index}"),
            _ => format!("usr/lib/p{package}/f{index}"),
        }
    };
    for index in 0..BASE_FILES {
        base.file(
            &base_path(index),
            &generated_data(index, generated_size(index)),
        );
    }
    let mut changes = Tree::default();
    for dir in ["opt", "opt/app"] {
        changes.dir(dir);
    }
    for index in (0..BASE_FILES).step_by(20) {
        add_parents(&mut changes, &base_path(index));
        changes.file(
            &base_path(index),
            &generated_data(index + 1, generated_size(index)),
        );
    }
    for index in 0..300 {
        let size = generated_size(BASE_FILES + index) / 4;
        changes.file(
            &format!("opt/app/f{index}"),
            &generated_data(BASE_FILES + index, size),
        );
    }
    let mut top = Tree::default();
    top.dir("etc");
    for index in 0..10 {
        top.file(&format!("etc/local{index}"), &generated_data(index, 512));
    }
    for index in (7..BASE_FILES).step_by(BASE_FILES / 100) {
        add_parents(&mut top, &base_path(index));
        top.nodes.push(Node::Whiteout(base_path(index)));
    }
    vec![top, changes, base]
}

/// A size for generated file `index`: 90% under 8 KiB, 9% under 128 KiB, 1% of 1-3.75 MiB.
fn generated_size(index: usize) -> usize {
    let hash = (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let pick = (hash >> 40) as usize;
    match (hash >> 20) % 100 {
        0 => (1 << 20) + pick % (11 << 18),
        1..=9 => pick % (128 << 10),
        _ => pick % (8 << 10),
    }
}

/// `len` bytes of content for generated file `index` (different files, different bytes).
fn generated_data(index: usize, len: usize) -> Arc<[u8]> {
    (0..len)
        .map(|i| ((i.wrapping_mul(7) + index) % 251) as u8 + 1)
        .collect()
}
