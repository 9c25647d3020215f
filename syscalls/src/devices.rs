//! `/dev` as a container sees it: a small read-only filesystem of device nodes ([`DevFs`]).
//!
//! | name | kind | device | mode | does |
//! |---|---|---|---|---|
//! | `null` | char | 1:3 | `0666` | reads nothing, swallows writes |
//! | `zero` | char | 1:5 | `0666` | reads zeros, swallows writes |
//! | `full` | char | 1:7 | `0666` | reads zeros, writes fail with `ENOSPC` |
//! | `random`, `urandom` | char | 1:8, 1:9 | `0666` | reads random bytes, swallows writes |
//! | `tty` | char | 5:0 | `0666` | the console terminal |
//! | `console` | char | 5:1 | `0600` | the console terminal |
//! | `fd`, `stdin`, `stdout`, `stderr` | symlink | | | `/proc/self/fd`, `/proc/self/fd/0`.. |
//! | `pts`, `shm` | directory | | `0755`, `1777` | empty |
//!
//! The device nodes implement `read_at` and `write_at` themselves, so a plain inode-backed
//! open file serves them; `tty` and `console` need the line discipline instead, which
//! [`open_special`] gives.
//!
//! Docker mounts a tmpfs at `/dev`; this one is read-only: creating, removing or renaming an
//! entry and changing one's mode, owner or times fail with `EROFS`, the errno of a read-only
//! mount, so a program learns the truth about it. The directories are `0755` and owned by
//! root, so a user other than root is refused with `EACCES` by the permission check before
//! the filesystem is asked. Everything is owned by root; times are the filesystem's creation
//! time ([`DevFsOptions::time`]).

use alloc::{string::String, sync::Arc, vec::Vec};
use core::any::Any;

use overlay_core::vfs::{
    DeviceId, DirEntry, FileSystem, FileType, FsFeatures, Ino, Inode, Metadata, NewNode,
    RenameFlags, SetAttr, StatFs, Timespec, NAME_MAX,
};
use overlay_core::{Errno as FsErrno, Result as FsResult};

use crate::file::OpenFile;
use crate::tty::{Terminal, TerminalFile, CONSOLE_RDEV, TTY_RDEV};

/// Where random bytes come from (`getrandom`'s source in the kernel).
pub type RandomSource = Arc<dyn Fn(&mut [u8]) + Send + Sync>;

/// The device number `/dev`'s entries report by default (an anonymous filesystem, major 0).
pub const DEVFS_DEV: u64 = 0x05;

/// How to build a [`DevFs`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DevFsOptions {
    /// The device number every entry reports in `st_dev` (0: [`DEVFS_DEV`]).
    pub dev: u64,
    /// Access, change and modification time of every entry.
    pub time: Timespec,
}

/// What a device node does when read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Device {
    Null,
    Zero,
    Full,
    Random,
    Terminal,
}

/// The `/dev` filesystem. See the [module docs](self).
pub struct DevFs {
    root: Arc<DevDir>,
}

impl DevFs {
    /// `/dev` for a container whose console is `terminal`, reading random bytes from `random`.
    pub fn new(terminal: Arc<Terminal>, random: RandomSource, options: DevFsOptions) -> Arc<DevFs> {
        let common = Common {
            dev: if options.dev == 0 {
                DEVFS_DEV
            } else {
                options.dev
            },
            time: options.time,
        };
        let node = |ino, device, rdev, mode| -> Arc<dyn Inode> {
            Arc::new(DevNode {
                ino,
                device,
                rdev,
                mode,
                common,
                terminal: terminal.clone(),
                random: random.clone(),
            })
        };
        let link = |ino, target: &str| -> Arc<dyn Inode> {
            Arc::new(DevLink {
                ino,
                target: String::from(target),
                common,
            })
        };
        let dir = |ino, mode| -> Arc<dyn Inode> {
            Arc::new(DevDir {
                ino,
                mode,
                common,
                entries: Vec::new(),
            })
        };
        let dev = |major, minor| DeviceId { major, minor };
        // Sorted by name, as `ls` shows them; inode numbers follow the same order.
        let entries: Vec<(&'static str, Arc<dyn Inode>)> = alloc::vec![
            ("console", node(2, Device::Terminal, CONSOLE_RDEV, 0o600)),
            ("fd", link(3, "/proc/self/fd")),
            ("full", node(4, Device::Full, dev(1, 7), 0o666)),
            ("null", node(5, Device::Null, dev(1, 3), 0o666)),
            ("pts", dir(6, 0o755)),
            ("random", node(7, Device::Random, dev(1, 8), 0o666)),
            ("shm", dir(8, 0o1777)),
            ("stderr", link(9, "/proc/self/fd/2")),
            ("stdin", link(10, "/proc/self/fd/0")),
            ("stdout", link(11, "/proc/self/fd/1")),
            ("tty", node(12, Device::Terminal, TTY_RDEV, 0o666)),
            ("urandom", node(13, Device::Random, dev(1, 9), 0o666)),
            ("zero", node(14, Device::Zero, dev(1, 5), 0o666)),
        ];
        Arc::new(DevFs {
            root: Arc::new(DevDir {
                ino: 1,
                mode: 0o755,
                common,
                entries,
            }),
        })
    }
}

impl FileSystem for DevFs {
    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }

    fn statfs(&self) -> FsResult<StatFs> {
        Ok(StatFs {
            block_size: 4096,
            files: self.root.entries.len() as u64 + 1,
            name_max: NAME_MAX as u32,
            ..StatFs::default()
        })
    }

    fn features(&self) -> FsFeatures {
        FsFeatures::READ_ONLY | FsFeatures::DEVICE_NODES | FsFeatures::SYMLINKS
    }
}

/// The open file description for a device node that needs more than the inode's `read_at`
/// and `write_at` (the terminal), or `None` for any other inode. `flags` are `open`'s flags
/// in Linux's numbers.
pub fn open_special(inode: &Arc<dyn Inode>, flags: u32) -> Option<Arc<dyn OpenFile>> {
    let node = inode.as_any().downcast_ref::<DevNode>()?;
    if node.device != Device::Terminal {
        return None;
    }
    let name = if node.rdev == TTY_RDEV {
        "/dev/tty"
    } else {
        "/dev/console"
    };
    Some(Arc::new(TerminalFile::new(
        node.terminal.clone(),
        flags,
        Some(inode.clone()),
        name,
    )))
}

/// What every entry shares.
#[derive(Clone, Copy)]
struct Common {
    dev: u64,
    time: Timespec,
}

impl Common {
    fn metadata(&self, ino: Ino, kind: FileType, mode: u16, nlink: u32, size: u64) -> Metadata {
        Metadata {
            ino,
            dev: self.dev,
            kind,
            mode,
            nlink,
            uid: 0,
            gid: 0,
            size,
            rdev: DeviceId::default(),
            atime: self.time,
            mtime: self.time,
            ctime: self.time,
        }
    }
}

/// A directory: the root (with the entries) or one of the empty `pts` and `shm`.
struct DevDir {
    ino: Ino,
    mode: u16,
    common: Common,
    entries: Vec<(&'static str, Arc<dyn Inode>)>,
}

impl Inode for DevDir {
    fn metadata(&self) -> FsResult<Metadata> {
        let subdirs = self
            .entries
            .iter()
            .filter(|(_, inode)| inode.as_any().is::<DevDir>())
            .count() as u32;
        Ok(self
            .common
            .metadata(self.ino, FileType::Directory, self.mode, 2 + subdirs, 0))
    }

    fn set_attr(&self, _attr: &SetAttr) -> FsResult<()> {
        Err(FsErrno::EROFS)
    }

    fn lookup(&self, name: &str) -> FsResult<Arc<dyn Inode>> {
        self.entries
            .iter()
            .find(|(entry, _)| *entry == name)
            .map(|(_, inode)| inode.clone())
            .ok_or(FsErrno::ENOENT)
    }

    fn create(&self, _name: &str, _node: &NewNode) -> FsResult<Arc<dyn Inode>> {
        Err(FsErrno::EROFS)
    }

    fn symlink(
        &self,
        _name: &str,
        _target: &str,
        _uid: u32,
        _gid: u32,
    ) -> FsResult<Arc<dyn Inode>> {
        Err(FsErrno::EROFS)
    }

    fn link(&self, _name: &str, _target: &dyn Inode) -> FsResult<()> {
        Err(FsErrno::EROFS)
    }

    fn unlink(&self, _name: &str) -> FsResult<()> {
        Err(FsErrno::EROFS)
    }

    fn rmdir(&self, _name: &str) -> FsResult<()> {
        Err(FsErrno::EROFS)
    }

    fn rename(
        &self,
        _old_name: &str,
        _new_dir: &dyn Inode,
        _new_name: &str,
        _flags: RenameFlags,
    ) -> FsResult<()> {
        Err(FsErrno::EROFS)
    }

    fn readdir(&self, cookie: u64, sink: &mut dyn FnMut(DirEntry<'_>) -> bool) -> FsResult<()> {
        let start = usize::try_from(cookie).unwrap_or(usize::MAX);
        for (index, (name, inode)) in self.entries.iter().enumerate().skip(start) {
            let metadata = inode.metadata()?;
            let entry = DirEntry {
                name,
                shared_name: None,
                ino: metadata.ino,
                kind: metadata.kind,
                next_cookie: index as u64 + 1,
            };
            if !sink(entry) {
                break;
            }
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A symlink (`fd`, `stdin`, ...).
struct DevLink {
    ino: Ino,
    target: String,
    common: Common,
}

impl Inode for DevLink {
    fn metadata(&self) -> FsResult<Metadata> {
        Ok(self.common.metadata(
            self.ino,
            FileType::Symlink,
            0o777,
            1,
            self.target.len() as u64,
        ))
    }

    fn set_attr(&self, _attr: &SetAttr) -> FsResult<()> {
        Err(FsErrno::EROFS)
    }

    fn read_at(&self, _offset: u64, _buf: &mut [u8]) -> FsResult<usize> {
        Err(FsErrno::EINVAL)
    }

    fn write_at(&self, _offset: u64, _buf: &[u8]) -> FsResult<usize> {
        Err(FsErrno::EINVAL)
    }

    fn readlink(&self) -> FsResult<String> {
        Ok(self.target.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A character device node.
struct DevNode {
    ino: Ino,
    device: Device,
    rdev: DeviceId,
    mode: u16,
    common: Common,
    terminal: Arc<Terminal>,
    random: RandomSource,
}

impl Inode for DevNode {
    fn metadata(&self) -> FsResult<Metadata> {
        let mut metadata = self
            .common
            .metadata(self.ino, FileType::CharDevice, self.mode, 1, 0);
        metadata.rdev = self.rdev;
        Ok(metadata)
    }

    fn set_attr(&self, _attr: &SetAttr) -> FsResult<()> {
        Err(FsErrno::EROFS)
    }

    fn read_at(&self, _offset: u64, buf: &mut [u8]) -> FsResult<usize> {
        match self.device {
            Device::Null => Ok(0),
            Device::Zero | Device::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            Device::Random => {
                (self.random)(buf);
                Ok(buf.len())
            }
            // Reached only by a caller that did not ask `open_special` first.
            Device::Terminal => self.terminal.read(buf).map_err(to_fs_errno),
        }
    }

    fn write_at(&self, _offset: u64, buf: &[u8]) -> FsResult<usize> {
        match self.device {
            Device::Null | Device::Zero | Device::Random => Ok(buf.len()),
            Device::Full => Err(FsErrno::ENOSPC),
            Device::Terminal => {
                self.terminal.write_output(buf);
                Ok(buf.len())
            }
        }
    }

    /// `truncate` of a device node is `EINVAL`, as on Linux (`O_TRUNC` never gets here: it
    /// leaves device nodes alone).
    fn set_len(&self, _len: u64) -> FsResult<()> {
        Err(FsErrno::EINVAL)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The engine's errno for a terminal read's (`EAGAIN` is not one of them: it reads as `EIO`
/// to the rare caller that bypasses [`open_special`]).
fn to_fs_errno(errno: crate::errno::Errno) -> FsErrno {
    FsErrno::from_code(i32::from(errno.code())).unwrap_or(FsErrno::EIO)
}
