//! Freezing a container's changes into a layer tar (`commit`): what the union's upper layer
//! holds, written in the format image layers use, so the image filesystem serves it as a
//! read-only layer, and a union of the same lower layers under it shows what the container
//! showed.
//!
//! The upper directory is walked depth first, parents before children, names sorted
//! bytewise (so the same changes give the same tar, and the same digest). Each entry becomes
//! one tar member with its mode, owner, time and user-visible xattrs; the union's own
//! encodings become OCI's:
//! - a Linux whiteout (a character device 0/0) becomes an empty file `.wh.NAME`;
//! - a directory marked opaque (`trusted.overlay.opaque=y`) gets a `.wh..wh..opq` entry
//!   right after it;
//! - in an upper layer that already uses the OCI encoding, the `.wh.` files are written as
//!   they are.
//!
//! The union's other private xattrs (`trusted.overlay.*`) stay behind; an xattr a user set in
//! that namespace (stored escaped, as `trusted.overlay.overlay.*`) is kept, escaped, so the
//! new layer shows it the same way.
//!
//! # Hard links
//! Files (and symlinks, devices, fifos) with several names in the upper layer are written
//! once and linked (tar hard links), so they stay one file. A lower file with several names (a hard-link group) that
//! was copied up through one of them, say `write /a` of a group `a`, `b`, shows the new data
//! under every name while only `a` is in the upper directory (the others find the copy
//! through the union's index, as Linux's `index=on` does). The layer gets the group's other
//! visible names too, as hard links of the copy (with the directories leading to them, as
//! the union shows them), so a union of the new image shows one file under every name, as the
//! container did. (`diff` lists only the names in the upper directory: `C /a`, not `/b`.)
//!
//! # What a layer cannot hold
//! Nothing is silently changed: an upper layer the OCI format cannot express fails with a
//! [`CommitError`] naming the entry (its path in the container) and why:
//! - in an upper layer with Linux whiteouts, a name starting with `.wh.`: a plain file there,
//!   but in an OCI layer `.wh.x` deletes `x` and `.wh..wh..opq` empties its directory
//!   (`EINVAL`);
//! - an entry a tar cannot hold (see [`TarWriter::try_append`]: e.g. xattrs over the 1 MiB of
//!   one entry's extended header, `EINVAL`; a path of 4096 bytes or more, `ENAMETOOLONG`);
//! - a directory moved with `redirect_dir` (an upper directory carrying
//!   `trusted.overlay.redirect`) takes its contents from another lower path, which a layer
//!   tar cannot express (`ENOTSUP`). Containers made by [`super::ContainerManager`] never
//!   enable redirects.
//!
//! Sockets are the one thing left out, as `tar` and `docker commit` leave them out: an archive
//! cannot hold them, and a socket means nothing without the process listening on it.

use alloc::{
    collections::{BTreeMap, BTreeSet},
    format,
    string::String,
    sync::Arc,
    vec,
    vec::Vec,
};

use super::CommitError;
use crate::error::{Errno, Result};
use crate::image::tar::EntryKind;
use crate::image::{NewEntry, TarWriter};
use crate::overlay::whiteout::{OCI_OPAQUE_MARKER, OCI_WHITEOUT_PREFIX, OPAQUE_XATTR};
use crate::overlay::{OverlayFs, OverlayInode, WhiteoutEncoding};
use crate::vfs::{DeviceId, FileSystem, FileType, Ino, Inode, Metadata, Timespec};

/// The union's own xattr namespace in its layers.
const PRIVATE_XATTR_PREFIX: &str = "trusted.overlay.";
/// Where an xattr of that namespace set through the union is stored.
const ESCAPED_XATTR_PREFIX: &str = "trusted.overlay.overlay.";
/// The xattr of a directory moved with `redirect_dir`.
const REDIRECT_XATTR: &str = "trusted.overlay.redirect";
/// How much of a file is read at a time.
const CHUNK_BYTES: usize = 16 * 1024;

/// Why an upper name cannot go into an OCI layer.
const RESERVED_NAME: &str =
    "a name starting with .wh. (in an OCI layer it would delete another name)";
/// Why the opaque marker's name cannot go into an OCI layer.
const RESERVED_OPAQUE: &str =
    "the name .wh..wh..opq (in an OCI layer it would empty its directory)";

/// The layer tar of `union`'s changes: everything its upper layer holds, and the other names
/// of hard-link groups copied up through one name; see the [module docs](self).
///
/// # Errors
/// `EROFS` for a union without an upper layer; `ENOTSUP` for a redirected directory;
/// `EINVAL` for a reserved `.wh.` name; `EINVAL`/`ENAMETOOLONG` for an entry a tar cannot
/// hold (see [`TarWriter::try_append`]); `ENOMEM` if the tar does not fit in memory;
/// whatever reading the layers fails with. The error names the entry when there is one.
pub fn freeze(union: &OverlayFs) -> core::result::Result<Vec<u8>, CommitError> {
    let upper = union.upper().ok_or(Errno::EROFS)?;
    let upper_dir = upper.upper_dir().clone();
    let links = group_links(union, &*upper_dir)?;
    let mut freezer = Freezer {
        tar: TarWriter::new(),
        encoding: upper.encoding(),
        first_names: BTreeMap::new(),
        linked: links.iter().map(|(_, ino, _)| *ino).collect(),
        dirs: BTreeSet::new(),
    };
    let meta = upper_dir.metadata()?;
    // Depth first, parents before children, with an explicit stack: a deep tree must not
    // exhaust a kernel stack.
    let mut pending = vec![Pending::Entry(String::new(), upper_dir, meta)];
    while let Some(item) = pending.pop() {
        let (path, inode, meta) = match item {
            Pending::Whiteout(dir, name) => {
                freezer.whiteout(&dir, &name)?;
                continue;
            }
            Pending::Entry(path, inode, meta) => (path, inode, meta),
        };
        freezer.entry(&*inode, &meta, &path)?;
        if !meta.kind.is_dir() {
            continue;
        }
        let mut names = list(&*inode).map_err(|errno| at(errno, &path))?;
        // Sorted, so the same changes always give the same tar (and digest).
        names.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut children = Vec::new();
        for (name, _) in names {
            let child_path = join(&path, &name);
            let child = inode.lookup(&name).map_err(|e| at(e, &child_path))?;
            let child_meta = child.metadata().map_err(|e| at(e, &child_path))?;
            let whiteout = freezer.encoding == WhiteoutEncoding::Linux
                && child_meta.kind == FileType::CharDevice
                && child_meta.rdev == DeviceId::default();
            if freezer.encoding == WhiteoutEncoding::Linux && name.starts_with(OCI_WHITEOUT_PREFIX)
            {
                let reason = match name.as_str() {
                    OCI_OPAQUE_MARKER => RESERVED_OPAQUE,
                    _ => RESERVED_NAME,
                };
                return Err(CommitError::at(Errno::EINVAL, &child_path, reason));
            }
            if whiteout {
                children.push(Pending::Whiteout(path.clone(), name));
            } else {
                children.push(Pending::Entry(child_path, child, child_meta));
            }
        }
        // Reversed, so the stack hands them back in order.
        pending.extend(children.into_iter().rev());
    }
    for (path, _, node) in links {
        freezer.group_name(union, &path, &node)?;
    }
    Ok(freezer.tar.finish()?)
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
    /// Inode number of each upper non-directory with several names -> the path it was first
    /// written at.
    first_names: BTreeMap<Ino, String>,
    /// Upper files that lower names of their hard-link group link to (see [`group_links`]):
    /// their first path is kept whatever their link count.
    linked: BTreeSet<Ino>,
    /// The directories written so far (paths; the root is `""`).
    dirs: BTreeSet<String>,
}

impl Freezer {
    fn whiteout(&mut self, dir: &str, name: &str) -> core::result::Result<(), CommitError> {
        let path = join(dir, &format!("{OCI_WHITEOUT_PREFIX}{name}"));
        self.tar
            .try_append(&NewEntry::new(&path, EntryKind::Regular, 0o644), &[])
            .map_err(|refusal| CommitError::at(refusal.errno, &join(dir, name), refusal.reason))
    }

    /// Writes the upper entry `inode` (with `meta`) at `path`; `""` is the root.
    fn entry(
        &mut self,
        inode: &dyn Inode,
        meta: &Metadata,
        path: &str,
    ) -> core::result::Result<(), CommitError> {
        let xattrs = visible_xattrs(inode).map_err(|errno| at(errno, path))?;
        let opaque = self.encoding == WhiteoutEncoding::Linux
            && meta.kind.is_dir()
            && matches!(inode.get_xattr(OPAQUE_XATTR).as_deref(), Ok(b"y"));
        if !meta.kind.is_dir()
            && meta.kind != FileType::Socket
            && (meta.nlink > 1 || self.linked.contains(&meta.ino))
        {
            if let Some(first) = self.first_names.get(&meta.ino) {
                let link = EntryKind::HardLink {
                    target: first.clone(),
                };
                return self.append(path, link, meta, &xattrs, &[]);
            }
            self.first_names.insert(meta.ino, String::from(path));
        }
        let mut data = Vec::new();
        let kind = match meta.kind {
            FileType::Directory => {
                if has_xattr(inode, REDIRECT_XATTR).map_err(|errno| at(errno, path))? {
                    return Err(CommitError::at(
                        Errno::ENOTSUP,
                        path,
                        "a directory moved with redirect_dir (a layer cannot say where its \
                         lower contents are)",
                    ));
                }
                self.dirs.insert(String::from(path));
                EntryKind::Directory
            }
            FileType::Regular => {
                data = read_all(inode, meta.size).map_err(|errno| at(errno, path))?;
                EntryKind::Regular
            }
            FileType::Symlink => EntryKind::Symlink {
                target: inode.readlink().map_err(|errno| at(errno, path))?,
            },
            FileType::CharDevice => EntryKind::CharDevice(meta.rdev),
            FileType::BlockDevice => EntryKind::BlockDevice(meta.rdev),
            FileType::Fifo => EntryKind::Fifo,
            FileType::Socket => return Ok(()),
        };
        self.append(path, kind, meta, &xattrs, &data)?;
        if opaque {
            let marker = join(path, OCI_OPAQUE_MARKER);
            self.tar
                .try_append(&NewEntry::new(&marker, EntryKind::Regular, 0o644), &[])
                .map_err(|refusal| CommitError::at(refusal.errno, path, refusal.reason))?;
        }
        Ok(())
    }

    /// Writes `path`, a lower name of a hard-link group whose data the upper file `node`
    /// holds: the directories leading to it that the layer lacks (as the union shows them),
    /// then a link to the copy, or the copy itself if no name of it was written yet.
    fn group_name(
        &mut self,
        union: &OverlayFs,
        path: &str,
        node: &Arc<dyn Inode>,
    ) -> core::result::Result<(), CommitError> {
        let mut dir = union.root();
        let mut dir_path = String::new();
        let parents: Vec<&str> = path.split('/').collect();
        let parents = parents.split_last().map_or(&[][..], |(_, parents)| parents);
        for name in parents {
            dir_path = join(&dir_path, name);
            dir = dir.lookup(name).map_err(|errno| at(errno, &dir_path))?;
            if self.dirs.contains(&dir_path) {
                continue;
            }
            // A directory the upper layer does not hold: its top lower entry's metadata and
            // stored xattrs are what the union shows.
            let shown = dir.metadata().map_err(|errno| at(errno, &dir_path))?;
            let real = dir
                .as_any()
                .downcast_ref::<OverlayInode>()
                .ok_or_else(|| at(Errno::EIO, &dir_path))?
                .real()
                .map_err(|errno| at(errno, &dir_path))?;
            let xattrs = visible_xattrs(&*real).map_err(|errno| at(errno, &dir_path))?;
            self.append(&dir_path, EntryKind::Directory, &shown, &xattrs, &[])?;
            self.dirs.insert(dir_path.clone());
        }
        let meta = node.metadata().map_err(|errno| at(errno, path))?;
        self.entry(&**node, &meta, path)
    }

    fn append(
        &mut self,
        path: &str,
        kind: EntryKind,
        meta: &Metadata,
        xattrs: &[(String, Vec<u8>)],
        data: &[u8],
    ) -> core::result::Result<(), CommitError> {
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
        self.tar
            .try_append(&entry, data)
            .map_err(|refusal| CommitError::at(refusal.errno, path, refusal.reason))
    }
}

/// A lower name of a copied-up hard-link group (see [`group_links`]): its path, and the upper
/// file holding the group's data, with that file's inode number.
type GroupLink = (String, Ino, Arc<dyn Inode>);

/// The lower names of copied-up hard-link groups that the union shows with the copy's data
/// but the upper directory does not hold, sorted by path: each with the upper file's inode
/// number and the upper file. Found by walking the lower layers for files with several
/// names and asking the union what it shows at each.
fn group_links(
    union: &OverlayFs,
    upper_dir: &dyn Inode,
) -> core::result::Result<Vec<GroupLink>, CommitError> {
    let mut candidates = BTreeSet::new();
    for layer in union.lowers() {
        let mut pending = vec![(String::new(), layer.filesystem().root())];
        while let Some((path, dir)) = pending.pop() {
            for (name, kind) in list(&*dir).map_err(|errno| at(errno, &path))? {
                if layer.encoding().is_reserved_name(&name) {
                    continue;
                }
                let child_path = join(&path, &name);
                let child = dir.lookup(&name).map_err(|e| at(e, &child_path))?;
                if kind.is_dir() {
                    pending.push((child_path, child));
                } else if child.metadata().map_err(|e| at(e, &child_path))?.nlink > 1 {
                    candidates.insert(child_path);
                }
            }
        }
    }
    let mut links = Vec::new();
    for path in candidates {
        let Some(node) = shown_at(&union.root(), &path)? else {
            continue;
        };
        let Some(copy) = node
            .as_any()
            .downcast_ref::<OverlayInode>()
            .and_then(OverlayInode::upper)
        else {
            continue;
        };
        if holds(upper_dir, &path)? {
            continue;
        }
        let ino = copy.metadata().map_err(|errno| at(errno, &path))?.ino;
        links.push((path, ino, copy));
    }
    Ok(links)
}

/// The non-directory the union shows at `path` (relative to `root`), if it shows one there.
fn shown_at(
    root: &Arc<dyn Inode>,
    path: &str,
) -> core::result::Result<Option<Arc<dyn Inode>>, CommitError> {
    let mut current = root.clone();
    for name in path.split('/') {
        current = match current.lookup(name) {
            Ok(next) => next,
            Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(None),
            Err(errno) => return Err(at(errno, path)),
        };
    }
    let kind = current.metadata().map_err(|errno| at(errno, path))?.kind;
    Ok((!kind.is_dir()).then_some(current))
}

/// Whether the upper directory `upper_dir` holds an entry at `path`.
fn holds(upper_dir: &dyn Inode, path: &str) -> core::result::Result<bool, CommitError> {
    let mut names = path.split('/');
    let Some(first) = names.next() else {
        return Ok(true);
    };
    let mut current = match upper_dir.lookup(first) {
        Ok(found) => found,
        Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(false),
        Err(errno) => return Err(at(errno, path)),
    };
    for name in names {
        current = match current.lookup(name) {
            Ok(found) => found,
            Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(false),
            Err(errno) => return Err(at(errno, path)),
        };
    }
    Ok(true)
}

/// `errno` at the entry `path` (relative to the root, `""` for the root itself).
fn at(errno: Errno, path: &str) -> CommitError {
    CommitError {
        errno,
        path: Some(format!("/{path}")),
        reason: None,
    }
}

impl CommitError {
    /// `errno` at `path` (relative to the root), for `reason`.
    fn at(errno: Errno, path: &str, reason: &'static str) -> CommitError {
        CommitError {
            reason: Some(reason),
            ..at(errno, path)
        }
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
pub(super) fn visible_xattrs(inode: &dyn Inode) -> Result<Vec<(String, Vec<u8>)>> {
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
