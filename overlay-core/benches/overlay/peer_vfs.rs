//! The in-process Rust peer: the `vfs` crate's `OverlayFS` over its `MemoryFS`, through its
//! path API (`VfsPath`).
//!
//! Its `OverlayFS` keeps whiteouts only in the writable layer (files under `/.whiteout/`), so a
//! layer's whiteouts are put there when it is mounted (the same view), and its walk leaves that
//! directory out, as it is no entry of the tree.

use std::io::{Seek, SeekFrom, Write};

use vfs::error::VfsErrorKind;
use vfs::{MemoryFS, OverlayFS, VfsPath};

use crate::spec::{Node, Tree};
use crate::system::{Mounted, Prepared, System};

pub struct VfsCrate;

impl System for VfsCrate {
    fn name(&self) -> &'static str {
        "vfs OverlayFS"
    }

    fn prepare(&self, layers: &[Tree]) -> Result<Box<dyn Prepared>, String> {
        let mut lowers = Vec::new();
        let mut whiteouts = Vec::new();
        for tree in layers {
            let root: VfsPath = MemoryFS::new().into();
            for node in &tree.nodes {
                let path = root.join(node.path()).map_err(|e| e.to_string())?;
                let made = match node {
                    Node::Dir(_) => path.create_dir(),
                    Node::File(_, data) => path
                        .create_file()
                        .and_then(|mut file| Ok(file.write_all(data)?)),
                    Node::Whiteout(name) => {
                        whiteouts.push(name.clone());
                        Ok(())
                    }
                };
                made.map_err(|e| format!("{}: {e}", node.path()))?;
            }
            lowers.push(root);
        }
        Ok(Box::new(PreparedVfs { lowers, whiteouts }))
    }
}

struct PreparedVfs {
    lowers: Vec<VfsPath>,
    whiteouts: Vec<String>,
}

impl Prepared for PreparedVfs {
    fn mount(&self) -> Result<Box<dyn Mounted>, String> {
        let upper: VfsPath = MemoryFS::new().into();
        for name in &self.whiteouts {
            let marker = upper
                .join(format!(".whiteout/{name}_wo"))
                .map_err(|e| e.to_string())?;
            marker
                .parent()
                .create_dir_all()
                .map_err(|e| e.to_string())?;
            marker.create_file().map_err(|e| e.to_string())?;
        }
        let mut layers = vec![upper];
        layers.extend(self.lowers.iter().cloned());
        Ok(Box::new(VfsUnion {
            root: OverlayFS::new(&layers).into(),
        }))
    }
}

struct VfsUnion {
    root: VfsPath,
}

impl VfsUnion {
    fn path(&self, path: &str) -> VfsPath {
        self.root
            .join(path.trim_start_matches('/'))
            .expect("a valid path")
    }
}

impl Mounted for VfsUnion {
    fn stat(&self, path: &str) -> bool {
        match self.path(path).metadata() {
            Ok(_) => true,
            Err(error) if matches!(error.kind(), VfsErrorKind::FileNotFound) => false,
            Err(error) => panic!("metadata {path}: {error}"),
        }
    }

    fn list(&self, path: &str) -> usize {
        self.path(path).read_dir().expect("read_dir").count()
    }

    fn write_first_byte(&self, path: &str) {
        let mut file = self.path(path).append_file().expect("append_file");
        file.seek(SeekFrom::Start(0)).expect("seek");
        file.write_all(b"x").expect("write");
        file.flush().expect("flush");
    }

    fn unlink(&self, path: &str) {
        self.path(path).remove_file().expect("remove_file");
    }

    fn create(&self, path: &str, data: &[u8]) {
        let mut file = self.path(path).create_file().expect("create_file");
        file.write_all(data).expect("write");
        file.flush().expect("flush");
    }

    fn walk(&self) -> u64 {
        walk(&self.root, true)
    }
}

fn walk(dir: &VfsPath, top: bool) -> u64 {
    let mut count = 0;
    for child in dir.read_dir().expect("read_dir") {
        if top && child.filename() == ".whiteout" {
            continue;
        }
        let meta = child.metadata().expect("metadata");
        count += 1;
        if meta.file_type == vfs::VfsFileType::Directory {
            count += walk(&child, false);
        }
    }
    count
}
