//! This engine: image layers (tars in memory, as the kernel gets them from its RAM disk, OCI
//! whiteouts) under a tmpfs upper, through the POSIX layer (`posix::Namespace`) for path
//! operations and through inodes for the walk, as a kernel's VFS with a dentry cache would.

use std::sync::Arc;

use overlay_core::image::{Bytes, EntryKind, ImageLayerFs, NewEntry, TarWriter};
use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer, WhiteoutEncoding};
use overlay_core::posix::Namespace;
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::vfs::{Credentials, FileSystem, FileType, Inode, NewNode, OpenFlags};
use overlay_core::Errno;

use crate::spec::{merge, Node, Tree};
use crate::system::{Mounted, Prepared, System};

/// The union: `OverlayFs` over image layers and a tmpfs upper.
pub struct Union;
/// The same tree in one tmpfs of this engine, no union (W5's single-layer baseline).
pub struct PlainTmpfs;
/// The same tree as the one lower layer of a union (an image layer, as the union's own
/// layers are, made once) under a tmpfs upper: W5's baseline for what the layers alone cost.
pub struct OneLayerUnion;

impl System for Union {
    fn name(&self) -> &'static str {
        "this engine"
    }

    fn prepare(&self, layers: &[Tree]) -> Result<Box<dyn Prepared>, String> {
        let layers = layers.iter().map(image_layer).collect::<Result<_, _>>()?;
        Ok(Box::new(PreparedUnion { layers }))
    }
}

impl System for PlainTmpfs {
    fn name(&self) -> &'static str {
        "this engine, one tmpfs"
    }

    fn prepare(&self, layers: &[Tree]) -> Result<Box<dyn Prepared>, String> {
        Ok(Box::new(PreparedTmpfs {
            tree: merge(layers),
        }))
    }
}

impl System for OneLayerUnion {
    fn name(&self) -> &'static str {
        "this engine, union of one image layer"
    }

    fn prepare(&self, layers: &[Tree]) -> Result<Box<dyn Prepared>, String> {
        Ok(Box::new(PreparedUnion {
            layers: vec![image_layer(&merge(layers))?],
        }))
    }
}

/// A tar of `tree`, parsed as an image layer (OCI whiteouts: `.wh.<name>` files).
fn image_layer(tree: &Tree) -> Result<Layer, String> {
    let archive = layer_tar(tree)?;
    let fs = ImageLayerFs::parse(Bytes::from_vec(archive)).map_err(|error| error.to_string())?;
    Ok(Layer::with_encoding(fs, WhiteoutEncoding::Oci))
}

/// `tree` as an OCI layer tar: whiteouts are empty `.wh.<name>` files.
pub fn layer_tar(tree: &Tree) -> Result<Vec<u8>, String> {
    let mut tar = TarWriter::new();
    for node in &tree.nodes {
        let appended = match node {
            Node::Dir(path) => tar.append(&NewEntry::new(path, EntryKind::Directory, 0o755), &[]),
            Node::File(path, data) => {
                tar.append(&NewEntry::new(path, EntryKind::Regular, 0o644), data)
            }
            Node::Whiteout(path) => {
                let whiteout = match path.rsplit_once('/') {
                    Some((dir, name)) => format!("{dir}/.wh.{name}"),
                    None => format!(".wh.{path}"),
                };
                tar.append(&NewEntry::new(&whiteout, EntryKind::Regular, 0o644), &[])
            }
        };
        appended.map_err(|errno| format!("tar of {}: {errno}", node.path()))?;
    }
    tar.finish().map_err(|errno| format!("tar: {errno}"))
}

struct PreparedUnion {
    layers: Vec<Layer>,
}

impl Prepared for PreparedUnion {
    fn mount(&self) -> Result<Box<dyn Mounted>, String> {
        let upper = UpperLayer::new(TmpFs::new(TmpFsOptions::default()))
            .map_err(|errno| format!("upper: {errno}"))?;
        let union = OverlayFs::new(self.layers.clone(), Some(upper), OverlayOptions::default())
            .map_err(|errno| format!("union: {errno}"))?;
        Ok(Box::new(Posix::new(union)))
    }
}

struct PreparedTmpfs {
    tree: Tree,
}

impl Prepared for PreparedTmpfs {
    fn mount(&self) -> Result<Box<dyn Mounted>, String> {
        Ok(Box::new(Posix::new(tmpfs_of(&self.tree)?)))
    }
}

/// A tmpfs holding `tree` (whose whiteouts, if any, are left out).
fn tmpfs_of(tree: &Tree) -> Result<Arc<TmpFs>, String> {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    for node in &tree.nodes {
        let (dir, name) = match node.path().rsplit_once('/') {
            Some((dir, name)) => (walk_to(&root, dir), name),
            None => (root.clone(), node.path()),
        };
        let made = match node {
            Node::Dir(_) => dir.create(name, &NewNode::new(FileType::Directory, 0o755, 0, 0)),
            Node::File(_, data) => dir
                .create(name, &NewNode::new(FileType::Regular, 0o644, 0, 0))
                .and_then(|file| file.write_at(0, data).map(|_| file)),
            Node::Whiteout(_) => continue,
        };
        made.map_err(|errno| format!("tmpfs {}: {errno}", node.path()))?;
    }
    Ok(fs)
}

fn walk_to(root: &Arc<dyn Inode>, path: &str) -> Arc<dyn Inode> {
    path.split('/').fold(root.clone(), |dir, name| {
        dir.lookup(name).expect("parent directory")
    })
}

/// A filesystem of this engine driven through its POSIX layer, as root.
struct Posix {
    ns: Namespace,
    creds: Credentials,
}

impl Posix {
    fn new(fs: Arc<dyn FileSystem>) -> Posix {
        Posix {
            ns: Namespace::with_filesystem(fs),
            creds: Credentials::root(),
        }
    }
}

impl Mounted for Posix {
    fn stat(&self, path: &str) -> bool {
        match self.ns.lstat(&self.creds, path) {
            Ok(_) => true,
            Err(Errno::ENOENT) => false,
            Err(errno) => panic!("stat {path}: {errno}"),
        }
    }

    fn list(&self, path: &str) -> usize {
        self.ns.read_dir(&self.creds, path).expect("read_dir").len()
    }

    fn write_first_byte(&self, path: &str) {
        let file = self
            .ns
            .open(&self.creds, path, OpenFlags::WRITE, 0)
            .expect("open");
        assert_eq!(file.pwrite(0, b"x"), Ok(1));
    }

    fn unlink(&self, path: &str) {
        self.ns.unlink(&self.creds, path).expect("unlink");
    }

    fn create(&self, path: &str, data: &[u8]) {
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
        let mut file = self
            .ns
            .open(&self.creds, path, flags, 0o644)
            .expect("create");
        file.write_all(data).expect("write");
    }

    fn walk(&self) -> u64 {
        walk(self.ns.root())
    }
}

/// Lists `dir`, then looks up and stats each entry, going down into directories.
fn walk(dir: &Arc<dyn Inode>) -> u64 {
    let mut names = Vec::new();
    dir.readdir(0, &mut |entry| {
        names.push(entry.name.to_owned());
        true
    })
    .expect("readdir");
    let mut count = 0;
    for name in names {
        let child = dir.lookup(&name).expect("lookup");
        let meta = child.metadata().expect("metadata");
        count += 1;
        if meta.kind.is_dir() {
            count += walk(&child);
        }
    }
    count
}
