//! `/proc` as a container sees it: a filesystem whose files are written when they are read,
//! from what the kernel tells through [`ProcSource`].
//!
//! ```text
//! /proc/self -> PID           /proc/meminfo   /proc/uptime   /proc/loadavg   /proc/stat
//! /proc/mounts -> self/mounts /proc/version   /proc/cpuinfo  /proc/filesystems
//! /proc/PID/exe -> the program's path       /proc/PID/cwd -> the working directory
//! /proc/PID/root -> /                       /proc/PID/fd/N -> what descriptor N names
//! /proc/PID/{cmdline,comm,stat,statm,status,mounts}
//! ```
//!
//! - `exe`, `cwd` and `root` are ordinary symlinks to paths in the container, so a path walk
//!   through the container's root follows them into the union: `execve("/proc/self/exe")`
//!   (what Debian's BusyBox does to run an applet) reaches the program's file. `fd/N` links
//!   to the description's [`crate::file::OpenFile::describe`] text (`/dev/console`,
//!   `pipe:[7]`). Followed as text, `fd/N` of a pipe or a deleted file finds nothing; Linux
//!   opens the description itself, which [`descriptor_link`] lets `open` do: it tells which
//!   process's descriptor a link stands for.
//! - Files report size 0 and are generated at each read (`read_at` of the text made then),
//!   as Linux's are; the process's files and directories belong to its user, the rest to
//!   root. Times are the wall-clock time of the `stat`.
//! - Read-only, with Linux's errnos for a filesystem without the operation: creating a file
//!   (`open` with `O_CREAT`) is `EACCES`; `mkdir`, `mknod`, `symlink`, `link`, `unlink`,
//!   `rmdir`, `rename`, `chmod` and `chown` are `EPERM`; writing a file is `EIO` (what Linux
//!   answers root, whom the permission check lets open a `0444` file for writing; others get
//!   `EACCES` from the check).
//! - Inode numbers are stable and distinct: fixed for the top-level entries, derived from
//!   the pid (and descriptor number) for a process's.
//! - A process that is gone (`ProcSource::process` answers `None`) is `ENOENT`, for its
//!   directory and every entry in it.
//!
//! Not provided: `PID/task`, `PID/environ`, `PID/maps`, `thread-self`, `sys/`, per-process
//! mount namespaces (every process sees the same mount list), load averages and idle time
//! (zeros).

mod files;
mod source;

use alloc::{format, string::String, sync::Arc, vec::Vec};
use core::any::Any;

use overlay_core::vfs::{
    DirEntry, FileSystem, FileType, FsFeatures, Ino, Inode, Metadata, NewNode, RenameFlags,
    SetAttr, StatFs, Timespec, NAME_MAX,
};
use overlay_core::{Errno, Result};

pub use self::files::USER_HZ;
pub use self::source::{container_mounts, CurrentPid, HostSource, MountEntry, ProcSource};
use crate::host::ProcessSummary;

/// The device number `/proc`'s entries report (an anonymous filesystem, major 0).
pub const PROCFS_DEV: u64 = 0x04;

/// The `/proc` filesystem for one process (or for all, if the source knows the caller: see
/// [`ProcSource::current_pid`]).
pub struct ProcFs {
    shared: Arc<Shared>,
}

struct Shared {
    source: Arc<dyn ProcSource>,
    self_pid: u32,
}

impl Shared {
    fn self_pid(&self) -> u32 {
        self.source.current_pid().unwrap_or(self.self_pid)
    }

    fn process(&self, pid: u32) -> Result<ProcessSummary> {
        self.source.process(pid).ok_or(Errno::ENOENT)
    }

    fn now(&self) -> Timespec {
        let now = self.source.realtime();
        Timespec {
            sec: now.secs,
            nsec: now.nanos,
        }
    }
}

impl ProcFs {
    /// `/proc` as process `self_pid` sees it, showing what `source` tells.
    pub fn new(source: Arc<dyn ProcSource>, self_pid: u32) -> Arc<ProcFs> {
        Arc::new(ProcFs {
            shared: Arc::new(Shared { source, self_pid }),
        })
    }
}

impl FileSystem for ProcFs {
    fn root(&self) -> Arc<dyn Inode> {
        node(&self.shared, Node::Root)
    }

    fn statfs(&self) -> Result<StatFs> {
        Ok(StatFs {
            block_size: 4096,
            name_max: NAME_MAX as u32,
            ..StatFs::default()
        })
    }

    /// Not `READ_ONLY`: Linux mounts `/proc` read-write and refuses changes entry by entry,
    /// with the errnos the module docs list (a read-only mount would answer `EROFS`).
    fn features(&self) -> FsFeatures {
        FsFeatures::SYMLINKS
    }
}

/// A top-level file whose text is the system's, not a process's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GlobalFile {
    Cpuinfo,
    Filesystems,
    Loadavg,
    Meminfo,
    Stat,
    Uptime,
    Version,
}

/// A file of `/proc/PID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PidFile {
    Cmdline,
    Comm,
    Mounts,
    Stat,
    Statm,
    Status,
}

/// A symlink of `/proc/PID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PidLink {
    Cwd,
    Exe,
    Root,
}

/// Every kind of entry `/proc` has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    Root,
    SelfLink,
    MountsLink,
    Global(GlobalFile),
    PidDir(u32),
    PidFile(u32, PidFile),
    PidLink(u32, PidLink),
    FdDir(u32),
    FdLink(u32, u32),
}

/// The top-level entries besides the process directories, sorted by name.
const TOP: [(&str, Node); 9] = [
    ("cpuinfo", Node::Global(GlobalFile::Cpuinfo)),
    ("filesystems", Node::Global(GlobalFile::Filesystems)),
    ("loadavg", Node::Global(GlobalFile::Loadavg)),
    ("meminfo", Node::Global(GlobalFile::Meminfo)),
    ("mounts", Node::MountsLink),
    ("self", Node::SelfLink),
    ("stat", Node::Global(GlobalFile::Stat)),
    ("uptime", Node::Global(GlobalFile::Uptime)),
    ("version", Node::Global(GlobalFile::Version)),
];

/// The entries of `/proc/PID` (`fd` is the directory), sorted by name.
const PID_ENTRIES: [&str; 10] = [
    "cmdline", "comm", "cwd", "exe", "fd", "mounts", "root", "stat", "statm", "status",
];

/// Listing cookies at or above this resume the process directories of `/proc` at pid
/// `cookie - PID_COOKIE_BASE`, so pids that come and go never make a listing skip others.
const PID_COOKIE_BASE: u64 = 0x100;
/// Inode numbers of a process's entries start here (see [`Node::ino`]).
const PID_INO_BASE: u64 = 0x1_0000_0000;

impl Node {
    /// The entry of `/proc/PID` named `name`.
    fn in_pid_dir(pid: u32, name: &str) -> Option<Node> {
        Some(match name {
            "cmdline" => Node::PidFile(pid, PidFile::Cmdline),
            "comm" => Node::PidFile(pid, PidFile::Comm),
            "cwd" => Node::PidLink(pid, PidLink::Cwd),
            "exe" => Node::PidLink(pid, PidLink::Exe),
            "fd" => Node::FdDir(pid),
            "mounts" => Node::PidFile(pid, PidFile::Mounts),
            "root" => Node::PidLink(pid, PidLink::Root),
            "stat" => Node::PidFile(pid, PidFile::Stat),
            "statm" => Node::PidFile(pid, PidFile::Statm),
            "status" => Node::PidFile(pid, PidFile::Status),
            _ => return None,
        })
    }

    /// A stable inode number, distinct for every entry: the top-level entries are numbered
    /// from 1; a process's from `PID_INO_BASE + pid * 0x1_0000` (its directory), with its
    /// entries' index, `fd` at `+ 0x100` and descriptor `N` at `+ 0x200 + N`.
    fn ino(self) -> Ino {
        let per_pid = |pid: u32, offset: u64| PID_INO_BASE + u64::from(pid) * 0x1_0000 + offset;
        let index_in_pid = |name: &str| {
            PID_ENTRIES
                .iter()
                .position(|entry| *entry == name)
                .unwrap_or(0) as u64
                + 1
        };
        match self {
            Node::Root => 1,
            Node::PidDir(pid) => per_pid(pid, 0),
            Node::FdDir(pid) => per_pid(pid, 0x100),
            Node::FdLink(pid, fd) => per_pid(pid, 0x200 + u64::from(fd)),
            Node::PidFile(pid, file) => per_pid(pid, index_in_pid(pid_file_name(file))),
            Node::PidLink(pid, link) => per_pid(pid, index_in_pid(pid_link_name(link))),
            top => TOP.iter().position(|(_, node)| *node == top).unwrap_or(0) as u64 + 2,
        }
    }

    /// The process this entry belongs to, if any.
    fn pid(self) -> Option<u32> {
        match self {
            Node::PidDir(pid)
            | Node::PidFile(pid, _)
            | Node::PidLink(pid, _)
            | Node::FdDir(pid)
            | Node::FdLink(pid, _) => Some(pid),
            _ => None,
        }
    }

    fn kind(self) -> FileType {
        match self {
            Node::Root | Node::PidDir(_) | Node::FdDir(_) => FileType::Directory,
            Node::SelfLink | Node::MountsLink | Node::PidLink(..) | Node::FdLink(..) => {
                FileType::Symlink
            }
            Node::Global(_) | Node::PidFile(..) => FileType::Regular,
        }
    }

    fn mode(self) -> u16 {
        match self {
            Node::Root | Node::PidDir(_) => 0o555,
            Node::FdDir(_) => 0o500,
            Node::FdLink(..) => 0o700,
            Node::SelfLink | Node::MountsLink | Node::PidLink(..) => 0o777,
            Node::Global(_) | Node::PidFile(..) => 0o444,
        }
    }
}

fn pid_file_name(file: PidFile) -> &'static str {
    match file {
        PidFile::Cmdline => "cmdline",
        PidFile::Comm => "comm",
        PidFile::Mounts => "mounts",
        PidFile::Stat => "stat",
        PidFile::Statm => "statm",
        PidFile::Status => "status",
    }
}

fn pid_link_name(link: PidLink) -> &'static str {
    match link {
        PidLink::Cwd => "cwd",
        PidLink::Exe => "exe",
        PidLink::Root => "root",
    }
}

/// A pid or descriptor number as `/proc` names it: decimal digits, no leading zero.
fn parse_number(name: &str) -> Option<u32> {
    if (name.len() > 1 && name.starts_with('0')) || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// If `inode` is a `/proc/PID/fd/N` link: the process and descriptor it stands for, so
/// `open` can give that description itself (as Linux does) rather than follow the text.
pub fn descriptor_link(inode: &dyn Inode) -> Option<(u32, u32)> {
    match inode.as_any().downcast_ref::<ProcInode>()?.node {
        Node::FdLink(pid, fd) => Some((pid, fd)),
        _ => None,
    }
}

fn node(shared: &Arc<Shared>, node: Node) -> Arc<dyn Inode> {
    Arc::new(ProcInode {
        shared: shared.clone(),
        node,
    })
}

/// One entry of `/proc`.
struct ProcInode {
    shared: Arc<Shared>,
    node: Node,
}

impl ProcInode {
    /// The file's text, made now.
    fn contents(&self) -> Result<Vec<u8>> {
        let source = &*self.shared.source;
        let text = match self.node {
            Node::Global(file) => match file {
                GlobalFile::Cpuinfo => source.cpuinfo(),
                GlobalFile::Filesystems => files::filesystems(),
                GlobalFile::Loadavg => files::loadavg(source),
                GlobalFile::Meminfo => files::meminfo(source),
                GlobalFile::Stat => files::global_stat(source),
                GlobalFile::Uptime => files::uptime(source),
                GlobalFile::Version => source.version(),
            },
            Node::PidFile(pid, file) => {
                let process = self.shared.process(pid)?;
                match file {
                    PidFile::Cmdline => return Ok(files::cmdline(&process)),
                    PidFile::Comm => format!("{}\n", process.comm),
                    PidFile::Mounts => files::mounts(&source.mounts()),
                    PidFile::Stat => files::stat(&process),
                    PidFile::Statm => files::statm(&process),
                    PidFile::Status => files::status(&process),
                }
            }
            _ => return Err(Errno::EISDIR),
        };
        Ok(text.into_bytes())
    }

    /// The directories' listing: every entry, with the cookie that resumes after it.
    fn entries(&self, cookie: u64) -> Result<Vec<(String, Node, u64)>> {
        let mut entries = Vec::new();
        match self.node {
            Node::Root => {
                for (index, (name, node)) in TOP.iter().enumerate() {
                    if index as u64 >= cookie {
                        entries.push((String::from(*name), *node, index as u64 + 1));
                    }
                }
                let first_pid = cookie.saturating_sub(PID_COOKIE_BASE);
                for pid in self.shared.source.pids() {
                    if u64::from(pid) >= first_pid {
                        let next = PID_COOKIE_BASE + u64::from(pid) + 1;
                        entries.push((format!("{pid}"), Node::PidDir(pid), next));
                    }
                }
            }
            Node::PidDir(pid) => {
                self.shared.process(pid)?;
                for (index, name) in PID_ENTRIES.iter().enumerate().skip(cookie as usize) {
                    if let Some(node) = Node::in_pid_dir(pid, name) {
                        entries.push((String::from(*name), node, index as u64 + 1));
                    }
                }
            }
            Node::FdDir(pid) => {
                let process = self.shared.process(pid)?;
                for (fd, _) in process.fds {
                    if u64::from(fd) >= cookie {
                        entries.push((format!("{fd}"), Node::FdLink(pid, fd), u64::from(fd) + 1));
                    }
                }
            }
            _ => return Err(Errno::ENOTDIR),
        }
        Ok(entries)
    }
}

impl Inode for ProcInode {
    fn metadata(&self) -> Result<Metadata> {
        let node = self.node;
        let (mut uid, mut gid) = (0, 0);
        if let Some(pid) = node.pid() {
            let process = self.shared.process(pid)?;
            if let Node::FdLink(_, fd) = node {
                process
                    .fds
                    .iter()
                    .find(|(open, _)| *open == fd)
                    .ok_or(Errno::ENOENT)?;
            }
            (uid, gid) = (process.uid, process.gid);
        }
        let size = match node.kind() {
            FileType::Symlink => self.readlink()?.len() as u64,
            _ => 0,
        };
        let nlink = match node {
            Node::Root => 2 + self.shared.source.pids().len() as u32,
            Node::PidDir(_) => 3,
            Node::FdDir(_) => 2,
            _ => 1,
        };
        let now = self.shared.now();
        Ok(Metadata {
            ino: node.ino(),
            dev: PROCFS_DEV,
            kind: node.kind(),
            mode: node.mode(),
            nlink,
            uid,
            gid,
            size,
            rdev: Default::default(),
            atime: now,
            mtime: now,
            ctime: now,
        })
    }

    fn set_attr(&self, _attr: &SetAttr) -> Result<()> {
        Err(Errno::EPERM)
    }

    fn lookup(&self, name: &str) -> Result<Arc<dyn Inode>> {
        let found = match self.node {
            Node::Root => match TOP.iter().find(|(entry, _)| *entry == name) {
                Some((_, node)) => *node,
                None => {
                    let pid = parse_number(name).ok_or(Errno::ENOENT)?;
                    self.shared.process(pid)?;
                    Node::PidDir(pid)
                }
            },
            Node::PidDir(pid) => {
                self.shared.process(pid)?;
                Node::in_pid_dir(pid, name).ok_or(Errno::ENOENT)?
            }
            Node::FdDir(pid) => {
                let fd = parse_number(name).ok_or(Errno::ENOENT)?;
                let process = self.shared.process(pid)?;
                if !process.fds.iter().any(|(open, _)| *open == fd) {
                    return Err(Errno::ENOENT);
                }
                Node::FdLink(pid, fd)
            }
            _ => return Err(Errno::ENOTDIR),
        };
        Ok(node(&self.shared, found))
    }

    fn create(&self, _name: &str, node: &NewNode) -> Result<Arc<dyn Inode>> {
        match self.node.kind() {
            FileType::Directory if node.kind == FileType::Regular => Err(Errno::EACCES),
            FileType::Directory => Err(Errno::EPERM),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn symlink(&self, _name: &str, _target: &str, _uid: u32, _gid: u32) -> Result<Arc<dyn Inode>> {
        Err(Errno::EPERM)
    }

    fn link(&self, _name: &str, _target: &dyn Inode) -> Result<()> {
        Err(Errno::EPERM)
    }

    fn unlink(&self, _name: &str) -> Result<()> {
        Err(Errno::EPERM)
    }

    fn rmdir(&self, _name: &str) -> Result<()> {
        Err(Errno::EPERM)
    }

    fn rename(
        &self,
        _old_name: &str,
        _new_dir: &dyn Inode,
        _new_name: &str,
        _flags: RenameFlags,
    ) -> Result<()> {
        Err(Errno::EPERM)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        match self.node.kind() {
            FileType::Directory => return Err(Errno::EISDIR),
            FileType::Symlink => return Err(Errno::EINVAL),
            _ => {}
        }
        let text = self.contents()?;
        let Some(rest) = usize::try_from(offset).ok().and_then(|at| text.get(at..)) else {
            return Ok(0);
        };
        let count = rest.len().min(buf.len());
        buf[..count].copy_from_slice(&rest[..count]);
        Ok(count)
    }

    fn write_at(&self, _offset: u64, _buf: &[u8]) -> Result<usize> {
        match self.node.kind() {
            FileType::Directory => Err(Errno::EISDIR),
            _ => Err(Errno::EIO),
        }
    }

    /// A generated file has size 0, so truncating it to 0 (`O_TRUNC`) has nothing to do.
    fn set_len(&self, len: u64) -> Result<()> {
        match self.node.kind() {
            FileType::Directory => Err(Errno::EISDIR),
            FileType::Regular if len == 0 => Ok(()),
            _ => Err(Errno::EPERM),
        }
    }

    fn readdir(&self, cookie: u64, sink: &mut dyn FnMut(DirEntry<'_>) -> bool) -> Result<()> {
        for (name, node, next_cookie) in self.entries(cookie)? {
            let entry = DirEntry {
                name: &name,
                shared_name: None,
                ino: node.ino(),
                kind: node.kind(),
                next_cookie,
            };
            if !sink(entry) {
                break;
            }
        }
        Ok(())
    }

    fn readlink(&self) -> Result<String> {
        match self.node {
            Node::SelfLink => match self.shared.self_pid() {
                0 => Err(Errno::ENOENT),
                pid => Ok(format!("{pid}")),
            },
            Node::MountsLink => Ok(String::from("self/mounts")),
            Node::PidLink(pid, link) => {
                let process = self.shared.process(pid)?;
                Ok(match link {
                    PidLink::Cwd => process.cwd,
                    PidLink::Exe => process.exe,
                    PidLink::Root => String::from("/"),
                })
            }
            Node::FdLink(pid, fd) => {
                let process = self.shared.process(pid)?;
                process
                    .fds
                    .into_iter()
                    .find(|(open, _)| *open == fd)
                    .map(|(_, described)| described)
                    .ok_or(Errno::ENOENT)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
