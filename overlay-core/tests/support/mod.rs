//! Shared by the integration tests: the reference model and unions built from layer specs.

#![allow(dead_code)]

pub mod model;

use std::sync::Arc;

use overlay_core::image::{Bytes, EntryKind, ImageLayerFs, NewEntry, TarWriter};
use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer, WhiteoutEncoding};
use overlay_core::posix::Namespace;
use overlay_core::scenarios::fixture::build_layer;
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::vfs::{Credentials, FileType, Inode, OpenFlags};
use overlay_core::Errno;

/// A union of tmpfs layers built from spec lines (top first) under a tmpfs upper of
/// `options`, and the namespace over it.
pub fn union(lowers: &[Vec<String>], options: TmpFsOptions) -> (Arc<OverlayFs>, Namespace) {
    union_of(lowers, tmpfs_layer, options)
}

/// [`union`], each lower layer made from its spec lines by `layer`.
pub fn union_of(
    lowers: &[Vec<String>],
    layer: fn(&[String]) -> Layer,
    options: TmpFsOptions,
) -> (Arc<OverlayFs>, Namespace) {
    let layers = lowers.iter().map(|lines| layer(lines)).collect();
    let upper = UpperLayer::new(TmpFs::new(options)).expect("upper layer");
    let fs = OverlayFs::new(layers, Some(upper), OverlayOptions::default()).expect("union");
    let ns = Namespace::with_filesystem(fs.clone());
    (fs, ns)
}

/// A tmpfs layer (Linux whiteouts: character devices 0/0, opaque xattrs) from spec lines.
pub fn tmpfs_layer(lines: &[String]) -> Layer {
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    Layer::new(build_layer(&lines).expect("layer spec"))
}

/// An image layer from the same spec lines: a tar, as an image's layers are, with OCI
/// whiteouts (`.wh.<name>` files, a `.wh..wh..opq` file in an opaque directory), parsed.
/// Modes are those `build_layer` gives.
pub fn image_layer(lines: &[String]) -> Layer {
    let mut tar = TarWriter::new();
    for line in lines {
        let mut words = line.splitn(3, ' ');
        let (op, path) = (words.next().unwrap_or(""), words.next().expect("a path"));
        let rest = words.next().unwrap_or("");
        let (kind, mode, data, path) = match op {
            "d" | "o" => (EntryKind::Directory, 0o755, "", path.to_string()),
            "f" => (EntryKind::Regular, 0o644, rest, path.to_string()),
            "l" => {
                let target = rest.to_string();
                (EntryKind::Symlink { target }, 0o777, "", path.to_string())
            }
            "h" => {
                let target = rest.to_string();
                (EntryKind::HardLink { target }, 0o644, "", path.to_string())
            }
            "w" => {
                let whiteout = match path.rsplit_once('/') {
                    Some((dir, name)) => format!("{dir}/.wh.{name}"),
                    None => format!(".wh.{path}"),
                };
                (EntryKind::Regular, 0o644, "", whiteout)
            }
            other => panic!("no image layer line `{other}`"),
        };
        tar.append(&NewEntry::new(&path, kind, mode), data.as_bytes())
            .expect("tar entry");
        if op == "o" {
            let marker = format!("{path}/.wh..wh..opq");
            tar.append(&NewEntry::new(&marker, EntryKind::Regular, 0o644), &[])
                .expect("tar entry");
        }
    }
    let archive = tar.finish().expect("tar");
    let fs = ImageLayerFs::parse(Bytes::from_vec(archive)).expect("image layer");
    Layer::with_encoding(fs, WhiteoutEncoding::Oci)
}

/// The names `dir` lists, in its order.
pub fn names(dir: &Arc<dyn Inode>) -> Vec<String> {
    let mut names = Vec::new();
    dir.readdir(0, &mut |entry| {
        names.push(entry.name.to_owned());
        true
    })
    .expect("readdir");
    names
}

/// The whole content of the file at `path`, read through the union as root.
pub fn read(ns: &Namespace, path: &str) -> Result<Vec<u8>, Errno> {
    let mut file = ns.open(&Credentials::root(), path, OpenFlags::READ, 0)?;
    let mut content = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let count = file.read(&mut chunk)?;
        if count == 0 {
            return Ok(content);
        }
        content.extend_from_slice(&chunk[..count]);
    }
}

/// One entry of a union, as the tests compare it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    pub kind: FileType,
    pub mode: u16,
    pub ino: u64,
    pub nlink: u32,
    /// File content or symlink target.
    pub content: Vec<u8>,
    /// `user.*` xattrs.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// Every entry of the union below the root (not the root itself), sorted by path.
pub fn walk(ns: &Namespace) -> Result<Vec<Seen>, Errno> {
    let root = Credentials::root();
    let mut seen = Vec::new();
    let mut pending = vec!["/".to_string()];
    while let Some(dir) = pending.pop() {
        for entry in ns.read_dir(&root, &dir)? {
            let path = if dir == "/" {
                format!("/{}", entry.name)
            } else {
                format!("{dir}/{}", entry.name)
            };
            let meta = ns.lstat(&root, &path)?;
            let content = match meta.kind {
                FileType::Regular => read(ns, &path)?,
                FileType::Symlink => ns.readlink(&root, &path)?.into_bytes(),
                FileType::Directory => {
                    pending.push(path.clone());
                    Vec::new()
                }
                _ => Vec::new(),
            };
            let mut xattrs = Vec::new();
            if meta.kind != FileType::Symlink {
                for name in ns.list_xattr(&root, &path)? {
                    if name.starts_with("user.") {
                        let value = ns.get_xattr(&root, &path, &name)?;
                        xattrs.push((name, value));
                    }
                }
            }
            seen.push(Seen {
                path,
                kind: meta.kind,
                mode: meta.mode,
                ino: meta.ino,
                nlink: meta.nlink,
                content,
                xattrs,
            });
        }
    }
    seen.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(seen)
}

/// The environment variable `name` parsed as a number, if it is set and parses: how the
/// property tests take their case counts and seeds from the command line.
pub fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
}
