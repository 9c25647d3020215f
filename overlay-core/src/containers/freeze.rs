//! Freezing a container's upper layer into a layer tar (`commit`): the changes the upper
//! directory holds, written in the format image layers use, so the image filesystem serves
//! them as a read-only layer.
//!
//! The upper directory is walked depth first, parents before children, names sorted
//! bytewise (so the same changes give the same tar, and the same digest). Each entry becomes one tar member with its mode, owner,
//! time and user-visible xattrs; the union's own encodings become OCI's:
//! - a Linux whiteout (a character device 0/0) becomes an empty file `.wh.NAME`;
//! - a directory marked opaque (`trusted.overlay.opaque=y`) gets a `.wh..wh..opq` entry
//!   right after it;
//! - in an upper layer that already uses the OCI encoding, the `.wh.` files are written as
//!   they are.
//!
//! The union's other private xattrs (`trusted.overlay.*`) stay behind; an xattr a user set in
//! that namespace (stored escaped, as `trusted.overlay.overlay.*`) is kept, escaped, so the
//! new layer shows it the same way. Files with several names in the upper layer are written
//! once and linked (tar hard links), so they stay one file. Sockets are left out, as `tar`
//! does: an archive cannot hold them.
//!
//! What this does not do: a directory moved with `redirect_dir` (an upper directory carrying
//! `trusted.overlay.redirect`) takes its contents from another lower path, which a layer tar
//! cannot express; such an upper layer is refused with `ENOTSUP`. Containers made by
//! [`super::ContainerManager`] never enable redirects.

use alloc::{collections::BTreeMap, format, string::String, sync::Arc, vec, vec::Vec};

use crate::error::{Errno, Result};
use crate::image::tar::EntryKind;
use crate::image::{NewEntry, TarWriter};
use crate::overlay::whiteout::{OCI_OPAQUE_MARKER, OCI_WHITEOUT_PREFIX, OPAQUE_XATTR};
use crate::overlay::{UpperLayer, WhiteoutEncoding};
use crate::vfs::{DeviceId, FileType, Ino, Inode, Metadata, Timespec};

/// The union's own xattr namespace in its layers.
const PRIVATE_XATTR_PREFIX: &str = "trusted.overlay.";
/// Where an xattr of that namespace set through the union is stored.
const ESCAPED_XATTR_PREFIX: &str = "trusted.overlay.overlay.";
/// The xattr of a directory moved with `redirect_dir`.
const REDIRECT_XATTR: &str = "trusted.overlay.redirect";
/// How much of a file is read at a time.
const CHUNK_BYTES: usize = 16 * 1024;

/// The layer tar of everything `upper` holds; see the [module docs](self).
///
/// # Errors
/// `ENOTSUP` for a redirected directory; `ENOMEM` if the tar does not fit in memory;
/// whatever reading the upper layer fails with; `EINVAL`/`ENAMETOOLONG` for an entry a tar
/// cannot hold (see [`TarWriter::append`]).
pub fn freeze_upper(upper: &UpperLayer) -> Result<Vec<u8>> {
    let mut freezer = Freezer {
        tar: TarWriter::new(),
        encoding: upper.encoding(),
        first_names: BTreeMap::new(),
    };
    let root = upper.upper_dir().clone();
    let meta = root.metadata()?;
    // Depth first, parents before children, with an explicit stack: a deep tree must not
    // exhaust a kernel stack.
    let mut pending = vec![Pending::Entry(String::new(), root, meta)];
    while let Some(item) = pending.pop() {
        let (path, inode, meta) = match item {
            Pending::Whiteout(dir, name) => {
                freezer.whiteout(&dir, &name)?;
                continue;
            }
            Pending::Entry(path, inode, meta) => (path, inode, meta),
        };
        freezer.entry(&*inode, &meta, path.clone())?;
        if !meta.kind.is_dir() {
            continue;
        }
        let mut names = list(&*inode)?;
        // Sorted, so the same changes always give the same tar (and digest).
        names.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut children = Vec::new();
        for (name, _) in names {
            let child = inode.lookup(&name)?;
            let child_meta = child.metadata()?;
            if freezer.encoding == WhiteoutEncoding::Linux
                && child_meta.kind == FileType::CharDevice
                && child_meta.rdev == DeviceId::default()
            {
                children.push(Pending::Whiteout(path.clone(), name));
            } else {
                children.push(Pending::Entry(join(&path, &name), child, child_meta));
            }
        }
        // Reversed, so the stack hands them back in order.
        pending.extend(children.into_iter().rev());
    }
    freezer.tar.finish()
}

/// What is left to write.
enum Pending {
    /// An entry: its path, inode and metadata.
    Entry(String, Arc<dyn Inode>, Metadata),
    /// A Linux whiteout in a directory: the directory's path and the name it deletes.
    Whiteout(String, String),
}

struct Freezer {
    tar: TarWriter,
    encoding: WhiteoutEncoding,
    /// Inode number of each file with several names -> the path it was first written at.
    first_names: BTreeMap<Ino, String>,
}

impl Freezer {
    fn whiteout(&mut self, dir: &str, name: &str) -> Result<()> {
        let path = join(dir, &format!("{OCI_WHITEOUT_PREFIX}{name}"));
        self.tar
            .append(&NewEntry::new(&path, EntryKind::Regular, 0o644), &[])
    }

    /// Writes `inode` (with `meta`) at `path`; `""` is the root.
    fn entry(&mut self, inode: &dyn Inode, meta: &Metadata, path: String) -> Result<()> {
        let xattrs = visible_xattrs(inode)?;
        let opaque = self.encoding == WhiteoutEncoding::Linux
            && meta.kind.is_dir()
            && matches!(inode.get_xattr(OPAQUE_XATTR).as_deref(), Ok(b"y"));
        let mut data = Vec::new();
        let kind = match meta.kind {
            FileType::Directory => {
                if has_xattr(inode, REDIRECT_XATTR)? {
                    return Err(Errno::ENOTSUP);
                }
                EntryKind::Directory
            }
            FileType::Regular => {
                if meta.nlink > 1 {
                    if let Some(first) = self.first_names.get(&meta.ino) {
                        let link = EntryKind::HardLink {
                            target: first.clone(),
                        };
                        return self.append(&path, link, meta, &xattrs, &[]);
                    }
                    self.first_names.insert(meta.ino, path.clone());
                }
                data = read_all(inode, meta.size)?;
                EntryKind::Regular
            }
            FileType::Symlink => EntryKind::Symlink {
                target: inode.readlink()?,
            },
            FileType::CharDevice => EntryKind::CharDevice(meta.rdev),
            FileType::BlockDevice => EntryKind::BlockDevice(meta.rdev),
            FileType::Fifo => EntryKind::Fifo,
            FileType::Socket => return Ok(()),
        };
        self.append(&path, kind, meta, &xattrs, &data)?;
        if opaque {
            let marker = join(&path, OCI_OPAQUE_MARKER);
            self.tar
                .append(&NewEntry::new(&marker, EntryKind::Regular, 0o644), &[])?;
        }
        Ok(())
    }

    fn append(
        &mut self,
        path: &str,
        kind: EntryKind,
        meta: &Metadata,
        xattrs: &[(String, Vec<u8>)],
        data: &[u8],
    ) -> Result<()> {
        let entry = NewEntry {
            path,
            kind,
            mode: meta.mode,
            uid: meta.uid,
            gid: meta.gid,
            mtime: Timespec {
                sec: meta.mtime.sec,
                nsec: meta.mtime.nsec,
            },
            xattrs,
        };
        self.tar.append(&entry, data)
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        String::from(name)
    } else {
        format!("{dir}/{name}")
    }
}

/// Every entry of `dir`, in listing order.
fn list(dir: &dyn Inode) -> Result<Vec<(String, FileType)>> {
    let mut entries = Vec::new();
    let mut cookie = 0;
    loop {
        let before = entries.len();
        dir.readdir(cookie, &mut |entry| {
            entries.push((String::from(entry.name), entry.kind));
            cookie = entry.next_cookie;
            true
        })?;
        if entries.len() == before {
            return Ok(entries);
        }
    }
}

/// The xattrs a user of the union sees (in their stored form), sorted by name.
fn visible_xattrs(inode: &dyn Inode) -> Result<Vec<(String, Vec<u8>)>> {
    let mut names = match inode.list_xattr() {
        Ok(names) => names,
        Err(Errno::ENOTSUP) => return Ok(Vec::new()),
        Err(errno) => return Err(errno),
    };
    names.sort();
    let mut xattrs = Vec::new();
    for name in names {
        if name.starts_with(PRIVATE_XATTR_PREFIX) && !name.starts_with(ESCAPED_XATTR_PREFIX) {
            continue;
        }
        match inode.get_xattr(&name) {
            Ok(value) => xattrs.push((name, value)),
            Err(Errno::ENODATA) => {}
            Err(errno) => return Err(errno),
        }
    }
    Ok(xattrs)
}

fn has_xattr(inode: &dyn Inode, name: &str) -> Result<bool> {
    match inode.get_xattr(name) {
        Ok(_) => Ok(true),
        Err(Errno::ENODATA | Errno::ENOTSUP) => Ok(false),
        Err(errno) => Err(errno),
    }
}

/// A file's bytes, `size` of them as its metadata says (a file that shrinks meanwhile
/// gives fewer).
fn read_all(inode: &dyn Inode, size: u64) -> Result<Vec<u8>> {
    let size = usize::try_from(size).map_err(|_| Errno::ENOMEM)?;
    let mut data = Vec::new();
    data.try_reserve_exact(size).map_err(|_| Errno::ENOMEM)?;
    let mut chunk = vec![0u8; CHUNK_BYTES.min(size.max(1))];
    while data.len() < size {
        let want = (size - data.len()).min(chunk.len());
        let Some(buf) = chunk.get_mut(..want) else {
            break;
        };
        let count = inode.read_at(data.len() as u64, buf)?;
        match buf.get(..count) {
            Some(read) if !read.is_empty() => data.extend_from_slice(read),
            _ => break,
        }
    }
    Ok(data)
}
