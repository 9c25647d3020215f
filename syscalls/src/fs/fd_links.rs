//! `open` through a `/proc/PID/fd/N` link: `/proc/self/fd/1`, and `/dev/stdout`,
//! `/dev/fd/1`, which are symlinks to it.
//!
//! Linux opens the file a descriptor link stands for, not the path its text shows, so
//! `cat /dev/stdin` reads the pipe the shell gave it and `echo x > /dev/stderr` writes where
//! descriptor 2 goes. Here:
//!
//! - A description with an inode (a file, a directory, a device opened by its path) is
//!   opened again by the path the link shows, as following the link does: a new description
//!   with its own offset and the flags of this `open`, after the permission checks, which is
//!   what Linux does too (for a file that was removed since, the path finds nothing:
//!   `ENOENT`, where Linux still opens it).
//! - A description without one (a pipe end, the console the kernel gave the first process,
//!   the kernel's own streams) cannot be reached by a path: the new descriptor shares the
//!   caller's description (as `dup` does: offset and status flags included). Linux opens
//!   the pipe anew instead, with the access mode asked for; here the description keeps its
//!   own (reading `/dev/stdout` when it is a pipe's write end is `EBADF`). `O_DIRECTORY`
//!   or a trailing slash on one is `ENOTDIR`.
//! - Another process's links are followed as text (its pipes are not reachable from here:
//!   `pipe:[N]` finds nothing, `ENOENT`).
//!
//! To find out whether a path ends at such a link without walking every path twice, `open`
//! first opens with `NOFOLLOW` added: for any path whose last component is not a symlink
//! that is the same open. Only when that fails as a symlink would (`ELOOP`, or `ENOTDIR`
//! under `O_DIRECTORY`; `ENOENT` for a path ending in a slash, which follows the link's
//! text) is the path walked again, following symlinks up to a descriptor link; a path that
//! does not end at one is then opened as asked.

use alloc::sync::Arc;

use linux_raw_sys::general::{O_DIRECTORY, O_NOFOLLOW};
use overlay_core::path::{Last, Walker};
use overlay_core::posix::{File, Namespace};
use overlay_core::vfs::{FileType, OpenFlags};

use super::open::engine_flags;
use crate::errno::{Errno, SysResult};
use crate::file::OpenFile;
use crate::process::Process;
use crate::procfs;

/// What `open` of a path found.
pub(super) enum Opened {
    /// A file the engine opened.
    File(File),
    /// The caller's own description, through a descriptor link.
    Shared(Arc<dyn OpenFile>),
}

/// Opens `path` in `namespace` for `process` with Linux's `flags` (and `mode` for a file
/// `O_CREAT` makes), giving the caller's description where the path ends at a link to one
/// of its descriptors that has no path of its own (see the module docs).
///
/// # Errors
/// The engine's, as [`Namespace::open`]; `ENOTDIR` for `O_DIRECTORY` through a link to a
/// description without a path.
pub(super) fn open_path(
    process: &Process,
    namespace: &Namespace,
    path: &str,
    flags: u32,
    mode: u16,
) -> SysResult<Opened> {
    let creds = &process.creds;
    let engine = engine_flags(flags);
    if flags & O_NOFOLLOW != 0 || engine.contains(OpenFlags::CREATE | OpenFlags::EXCLUSIVE) {
        return Ok(Opened::File(namespace.open(creds, path, engine, mode)?));
    }
    match namespace.open(creds, path, engine | OpenFlags::NOFOLLOW, mode) {
        Err(overlay_core::Errno::ELOOP | overlay_core::Errno::ENOTDIR) => {}
        // A trailing slash follows the last symlink anyway, into the link's text.
        Err(overlay_core::Errno::ENOENT) if path.ends_with('/') => {}
        other => return Ok(Opened::File(other?)),
    }
    if let Some(description) = linked_description(process, namespace, path, flags)? {
        return Ok(Opened::Shared(description));
    }
    Ok(Opened::File(namespace.open(creds, path, engine, mode)?))
}

/// The caller's description that `path` ends at, following symlinks, if it ends at a link
/// to one of the caller's descriptors without a path of its own. A path that cannot be
/// walked gives `None`: opening it reports why.
///
/// # Errors
/// `ENOTDIR` for such a description under `O_DIRECTORY` or a trailing slash.
fn linked_description(
    process: &Process,
    namespace: &Namespace,
    path: &str,
    flags: u32,
) -> SysResult<Option<Arc<dyn OpenFile>>> {
    let mut walker =
        Walker::new(namespace.root().clone(), &process.creds).with_cwd(namespace.cwd());
    let Ok(mut parent) = walker.parent(path) else {
        return Ok(None);
    };
    loop {
        let Last::Name(name) = &parent.last else {
            return Ok(None);
        };
        let Ok(inode) = parent.dir().lookup(name) else {
            return Ok(None);
        };
        if let Some((pid, fd)) = procfs::descriptor_link(&*inode) {
            let description = match process.fds.file(fd) {
                Ok(description) if pid == process.pid && description.inode().is_none() => {
                    description
                }
                _ => return Ok(None),
            };
            if flags & O_DIRECTORY != 0 || parent.trailing_slash {
                return Err(Errno::ENOTDIR);
            }
            return Ok(Some(description));
        }
        match inode.metadata() {
            Ok(metadata) if metadata.kind == FileType::Symlink => {}
            _ => return Ok(None),
        }
        parent = match walker.follow(parent, &*inode) {
            Ok(parent) => parent,
            Err(_) => return Ok(None),
        };
    }
}
