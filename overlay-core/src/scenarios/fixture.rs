//! Fresh unions for the scenarios: tmpfs lower layers built from a small text description,
//! a tmpfs upper, and the POSIX calls over the union.

use alloc::{format, string::String, sync::Arc, vec::Vec};

use crate::error::Errno;
use crate::overlay::{whiteout, Layer, OverlayFs, OverlayOptions, UpperLayer};
use crate::posix::Namespace;
use crate::tmpfs::{TmpFs, TmpFsOptions};
use crate::vfs::{
    Credentials, DeviceId, FileSystem, FileType, Inode, Metadata, NewNode, OpenFlags, XattrFlags,
};

/// What a scenario step returns: `Err` carries the reason it failed.
pub type Outcome<T = ()> = core::result::Result<T, String>;

/// Builds a layer from lines, one entry each, parents before children:
/// `d PATH` (directory 0755), `o PATH` (opaque directory), `f PATH TEXT` (file 0644),
/// `l PATH TARGET` (symlink), `h PATH EXISTING` (hard link), `w PATH` (whiteout),
/// `c|b PATH MAJOR MINOR` (device), `p PATH` (fifo). Everything is owned by root.
pub fn build_layer(lines: &[&str]) -> Outcome<Arc<TmpFs>> {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    for line in lines {
        add_entry(&root, line).map_err(|errno| format!("building layer line `{line}`: {errno}"))?;
    }
    Ok(fs)
}

fn add_entry(root: &Arc<dyn Inode>, line: &str) -> crate::Result<()> {
    let mut words = line.splitn(3, ' ');
    let op = words.next().unwrap_or("");
    let path = words.next().ok_or(Errno::EINVAL)?;
    let rest = words.next().unwrap_or("");
    let (dir, name) = match path.rsplit_once('/') {
        Some((dir, name)) => (walk(root, dir)?, name),
        None => (root.clone(), path),
    };
    let node = |kind, mode| NewNode::new(kind, mode, 0, 0);
    match op {
        "d" => {
            dir.create(name, &node(FileType::Directory, 0o755))?;
        }
        "o" => {
            let opaque = dir.create(name, &node(FileType::Directory, 0o755))?;
            opaque.set_xattr(whiteout::OPAQUE_XATTR, b"y", XattrFlags::empty())?;
        }
        "f" => {
            let file = dir.create(name, &node(FileType::Regular, 0o644))?;
            file.write_at(0, rest.as_bytes())?;
        }
        "l" => {
            dir.symlink(name, rest, 0, 0)?;
        }
        "h" => {
            let target = walk(root, rest)?;
            dir.link(name, &*target)?;
        }
        "w" => {
            dir.create(name, &node(FileType::CharDevice, 0))?;
        }
        "c" | "b" => {
            let mut numbers = rest.split(' ').map(str::parse::<u32>);
            let (Some(Ok(major)), Some(Ok(minor))) = (numbers.next(), numbers.next()) else {
                return Err(Errno::EINVAL);
            };
            let kind = if op == "c" {
                FileType::CharDevice
            } else {
                FileType::BlockDevice
            };
            let mut device = node(kind, 0o644);
            device.rdev = DeviceId { major, minor };
            dir.create(name, &device)?;
        }
        "p" => {
            dir.create(name, &node(FileType::Fifo, 0o644))?;
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(())
}

/// The entry at `path` below `root`, without permission checks or symlinks.
pub fn walk(root: &Arc<dyn Inode>, path: &str) -> crate::Result<Arc<dyn Inode>> {
    let mut node = root.clone();
    for part in path.split('/').filter(|part| !part.is_empty()) {
        node = node.lookup(part)?;
    }
    Ok(node)
}

/// A fresh union over tmpfs layers, and the calls scenarios make on it.
pub struct Fixture {
    /// The union.
    pub fs: Arc<OverlayFs>,
    /// POSIX calls over the union.
    pub ns: Namespace,
    /// The lower layers, top first.
    pub lowers: Vec<Arc<TmpFs>>,
    /// Root's credentials.
    pub root: Credentials,
}

impl Fixture {
    /// A union of `lowers` (top first, each as [`build_layer`] reads it) under a tmpfs upper.
    pub fn new(lowers: &[&[&str]]) -> Outcome<Fixture> {
        Fixture::build(lowers, Some(TmpFsOptions::default()))
    }

    /// A union whose upper tmpfs holds at most `capacity_bytes`.
    pub fn with_upper_capacity(lowers: &[&[&str]], capacity_bytes: u64) -> Outcome<Fixture> {
        let options = TmpFsOptions {
            capacity_bytes: Some(capacity_bytes),
            ..TmpFsOptions::default()
        };
        Fixture::build(lowers, Some(options))
    }

    /// A read-only union: no upper layer.
    pub fn without_upper(lowers: &[&[&str]]) -> Outcome<Fixture> {
        Fixture::build(lowers, None)
    }

    fn build(lowers: &[&[&str]], upper: Option<TmpFsOptions>) -> Outcome<Fixture> {
        let lower_fs = lowers
            .iter()
            .map(|lines| build_layer(lines))
            .collect::<Outcome<Vec<_>>>()?;
        let layers = lower_fs.iter().map(|fs| Layer::new(fs.clone())).collect();
        let upper = match upper {
            Some(options) => Some(
                UpperLayer::new(TmpFs::new(options))
                    .map_err(|errno| format!("making the upper layer: {errno}"))?,
            ),
            None => None,
        };
        let fs = OverlayFs::new(layers, upper, OverlayOptions::default())
            .map_err(|errno| format!("making the union: {errno}"))?;
        let ns = Namespace::with_filesystem(fs.clone());
        Ok(Fixture {
            fs,
            ns,
            lowers: lower_fs,
            root: Credentials::root(),
        })
    }

    /// The whole content of `path`, read through the union.
    pub fn read(&self, path: &str) -> crate::Result<Vec<u8>> {
        let mut file = self.ns.open(&self.root, path, OpenFlags::READ, 0)?;
        read_all(|buf| file.read(buf))
    }

    /// Writes `bytes` at `offset` of `path` through the union (no create, no truncate).
    pub fn write_at(&self, path: &str, offset: u64, bytes: &[u8]) -> crate::Result<()> {
        let file = self.ns.open(&self.root, path, OpenFlags::WRITE, 0)?;
        let written = file.pwrite(offset, bytes)?;
        if written == bytes.len() {
            Ok(())
        } else {
            Err(Errno::EIO)
        }
    }

    /// `stat` (not following a final symlink) through the union.
    pub fn lstat(&self, path: &str) -> crate::Result<Metadata> {
        self.ns.lstat(&self.root, path)
    }

    /// The sorted names of directory `path`, listed through the union.
    pub fn names(&self, path: &str) -> crate::Result<Vec<String>> {
        let mut names: Vec<String> = self
            .ns
            .read_dir(&self.root, path)?
            .into_iter()
            .map(|entry| entry.name)
            .collect();
        names.sort_unstable();
        Ok(names)
    }

    /// What the upper directory holds at `path` (raw: whiteouts included), if anything.
    pub fn upper_entry(&self, path: &str) -> Option<Metadata> {
        let upper = self.fs.upper()?;
        walk(upper.upper_dir(), path)
            .and_then(|node| node.metadata())
            .ok()
    }

    /// Whether the upper directory holds a Linux whiteout at `path`.
    pub fn upper_has_whiteout(&self, path: &str) -> bool {
        self.upper_entry(path).is_some_and(|meta| {
            meta.kind == FileType::CharDevice && meta.rdev == DeviceId::default()
        })
    }

    /// The whole content of `path` in lower layer `layer`, read directly from it.
    pub fn lower_bytes(&self, layer: usize, path: &str) -> crate::Result<Vec<u8>> {
        let fs = self.lowers.get(layer).ok_or(Errno::EINVAL)?;
        let node = walk(&fs.root(), path)?;
        let mut offset = 0u64;
        read_all(|buf| {
            let n = node.read_at(offset, buf)?;
            offset += n as u64;
            Ok(n)
        })
    }
}

fn read_all(mut read: impl FnMut(&mut [u8]) -> crate::Result<usize>) -> crate::Result<Vec<u8>> {
    let mut content = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = read(&mut buf)?;
        if n == 0 {
            return Ok(content);
        }
        content.extend_from_slice(&buf[..n]);
    }
}

/// `Ok` if `value` is what was expected, else a message naming `what`.
pub fn expect_eq<T: PartialEq + core::fmt::Debug>(what: &str, value: T, expected: T) -> Outcome {
    if value == expected {
        Ok(())
    } else {
        Err(format!("{what}: got {value:?}, expected {expected:?}"))
    }
}

/// `Ok` if `result` failed with `errno`.
pub fn expect_errno<T: core::fmt::Debug>(
    what: &str,
    result: crate::Result<T>,
    errno: Errno,
) -> Outcome {
    match result {
        Err(got) if got == errno => Ok(()),
        other => Err(format!("{what}: got {other:?}, expected {errno}")),
    }
}

/// `Ok(value)` if `result` succeeded, else a message naming `what`.
pub fn expect_ok<T>(what: &str, result: crate::Result<T>) -> Outcome<T> {
    result.map_err(|errno| format!("{what}: failed with {errno}"))
}

/// `Ok` if `condition` holds, else `message`.
pub fn ensure(condition: bool, message: &str) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(String::from(message))
    }
}
