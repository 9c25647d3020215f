//! What the file and path tests share: a union of a tmpfs lower layer under a tmpfs upper
//! layer, a process rooted in it, flat user memory with a bump allocator for arguments, and
//! helpers that make one system call through the crate's dispatcher.
#![allow(dead_code)]

use std::mem::{offset_of, size_of};
use std::sync::Arc;

use linux_raw_sys::general::*;
use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer};
use overlay_core::posix::Namespace;
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::vfs::{Credentials, FileSystem, OpenFlags};
use overlay_syscalls::dispatch::{dispatch, Call, Outcome};
use overlay_syscalls::file::FdTable;
use overlay_syscalls::fs::FsContext;
use overlay_syscalls::host::{Host, MemoryFigures, ProcessSummary, Timespec};
use overlay_syscalls::misc::{Limits, SavedIds};
use overlay_syscalls::process::Process;
use overlay_syscalls::signal::SignalState;
use overlay_syscalls::user::{FlatMemory, UserMemory};
use overlay_syscalls::vm::{AddressSpace, MemoryMap, Prot};
use overlay_syscalls::{Errno, SysResult};

/// Where the test's user memory starts; addresses below it (and past its end) are `EFAULT`.
pub const BASE: u64 = 0x10_0000;
/// How much user memory a test has.
pub const MEMORY_BYTES: usize = 4 << 20;
/// An address no process maps.
pub const BAD: u64 = 0xdead_0000_0000;

/// Flat user memory as an address space (mappings are the test's business, not the calls').
pub struct Space(pub FlatMemory);

impl UserMemory for Space {
    fn read(&self, addr: u64, buf: &mut [u8]) -> SysResult<()> {
        self.0.read(addr, buf)
    }

    fn write(&mut self, addr: u64, bytes: &[u8]) -> SysResult<()> {
        self.0.write(addr, bytes)
    }
}

impl AddressSpace for Space {
    fn map(&mut self, _start: u64, _len: u64, _prot: Prot) -> SysResult<()> {
        Ok(())
    }

    fn unmap(&mut self, _start: u64, _len: u64) {}

    fn protect(&mut self, _start: u64, _len: u64, _prot: Prot) -> SysResult<()> {
        Ok(())
    }
}

/// A host with a fixed clock.
pub struct TestHost;

impl Host for TestHost {
    fn realtime(&self) -> Timespec {
        Timespec {
            secs: 1_700_000_000,
            nanos: 0,
        }
    }

    fn monotonic(&self) -> Timespec {
        Timespec::default()
    }

    fn random(&self, buf: &mut [u8]) {
        buf.fill(4);
    }

    fn processes(&self) -> Vec<ProcessSummary> {
        Vec::new()
    }

    fn memory(&self) -> MemoryFigures {
        MemoryFigures::default()
    }
}

/// The lower layer's contents: directories end in `/`, files are `path=content`, symlinks
/// `path->target`.
pub const LOWER: &[&str] = &[
    "/etc/",
    "/etc/hostname=lower-host\n",
    "/etc/motd=welcome\n",
    "/data/",
    "/data/a=A",
    "/data/b=BB",
    "/data/c=CCC",
    "/data/sub/",
    "/data/sub/deep=deep",
    "/bin/",
    "/bin/sh->busybox",
    "/bin/busybox=ELF",
];

/// A tmpfs filled with `entries` (as [`LOWER`] writes them).
pub fn layer(entries: &[&str]) -> Arc<dyn FileSystem> {
    let fs: Arc<dyn FileSystem> = TmpFs::new(TmpFsOptions::default());
    let ns = Namespace::with_filesystem(fs.clone());
    let root = Credentials::root();
    for entry in entries {
        if let Some(dir) = entry.strip_suffix('/') {
            ns.mkdir(&root, dir, 0o755).unwrap();
        } else if let Some((path, target)) = entry.split_once("->") {
            ns.symlink(&root, target, path).unwrap();
        } else {
            let (path, content) = entry.split_once('=').unwrap();
            let flags = OpenFlags::WRITE | OpenFlags::CREATE;
            let mut file = ns.open(&root, path, flags, 0o644).unwrap();
            file.write_all(content.as_bytes()).unwrap();
        }
    }
    fs
}

/// A union of [`LOWER`] under an empty upper layer.
pub fn union() -> Arc<OverlayFs> {
    let lower = layer(LOWER);
    let upper = UpperLayer::new(TmpFs::new(TmpFsOptions::default())).unwrap();
    OverlayFs::new(
        vec![Layer::new(lower)],
        Some(upper),
        OverlayOptions::default(),
    )
    .unwrap()
}

/// A process of `creds` rooted at `root`.
pub fn process(root: Arc<dyn FileSystem>, creds: Credentials) -> Process {
    Process {
        pid: 7,
        ppid: 1,
        pgid: 7,
        sid: 7,
        ids: SavedIds::same_as(&creds),
        creds,
        fs: FsContext::new(root),
        fds: FdTable::new(),
        memory: MemoryMap::new(),
        signals: SignalState::new(),
        exe: "/bin/busybox".into(),
        cmdline: Vec::new(),
        comm: String::from("busybox"),
        clear_child_tid: 0,
        limits: Limits::default(),
        hostname: None,
        sleep: None,
    }
}

/// A process over the union, its memory, and a bump allocator in that memory.
pub struct World {
    pub union: Arc<OverlayFs>,
    pub process: Process,
    pub space: Space,
    next: u64,
}

impl World {
    /// A root process over a fresh [`union`].
    pub fn new() -> World {
        World::as_user(Credentials::root())
    }

    /// A process of `creds` over a fresh [`union`].
    pub fn as_user(creds: Credentials) -> World {
        let union = union();
        let process = process(union.clone(), creds);
        World::over(union, process)
    }

    /// `process` over `union`.
    pub fn over(union: Arc<OverlayFs>, process: Process) -> World {
        World {
            union,
            process,
            space: Space(FlatMemory::new(BASE, MEMORY_BYTES)),
            next: BASE,
        }
    }

    /// `len` zeroed bytes of user memory.
    pub fn alloc(&mut self, len: usize) -> u64 {
        let at = self.next;
        self.next += (len as u64).next_multiple_of(16).max(16);
        assert!(
            self.next <= BASE + MEMORY_BYTES as u64,
            "test memory exhausted"
        );
        self.space.0.write(at, &vec![0; len]).unwrap();
        at
    }

    /// `bytes` in user memory.
    pub fn put(&mut self, bytes: &[u8]) -> u64 {
        let at = self.alloc(bytes.len());
        self.space.0.write(at, bytes).unwrap();
        at
    }

    /// `text` as a NUL-terminated string in user memory.
    pub fn str(&mut self, text: &str) -> u64 {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(0);
        self.put(&bytes)
    }

    /// `len` bytes of user memory at `addr`.
    pub fn peek(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut bytes = vec![0; len];
        self.space.0.read(addr, &mut bytes).unwrap();
        bytes
    }

    /// Makes system call `number` and returns what it returned (`-errno` for an error).
    pub fn sys(&mut self, number: u32, args: &[u64]) -> i64 {
        let mut full = [0u64; 6];
        full[..args.len()].copy_from_slice(args);
        let mut call = Call {
            process: &mut self.process,
            memory: &mut self.space,
            host: &TestHost,
        };
        match dispatch(&mut call, u64::from(number), full) {
            Outcome::Return(value) => value as i64,
            other => panic!("call {number} gave {other:?}"),
        }
    }

    /// As [`World::sys`], as a result.
    pub fn call(&mut self, number: u32, args: &[u64]) -> Result<u64, Errno> {
        let value = self.sys(number, args);
        if (-4095..0).contains(&value) {
            Err(Errno::from_code((-value) as u16).unwrap())
        } else {
            Ok(value as u64)
        }
    }

    /// The errno of a call that must fail.
    pub fn errno(&mut self, number: u32, args: &[u64]) -> Errno {
        match self.call(number, args) {
            Err(errno) => errno,
            Ok(value) => panic!("call {number} succeeded with {value}"),
        }
    }

    /// `openat(AT_FDCWD, path, flags, mode)`.
    pub fn open(&mut self, path: &str, flags: u32, mode: u32) -> Result<u64, Errno> {
        let path = self.str(path);
        self.call(
            __NR_openat,
            &[AT_FDCWD as u64, path, u64::from(flags), u64::from(mode)],
        )
    }

    /// Reads up to `len` bytes from `fd`.
    pub fn read(&mut self, fd: u64, len: usize) -> Result<Vec<u8>, Errno> {
        let buf = self.alloc(len);
        let count = self.call(__NR_read, &[fd, buf, len as u64])?;
        Ok(self.peek(buf, count as usize))
    }

    /// Writes `bytes` to `fd`.
    pub fn write(&mut self, fd: u64, bytes: &[u8]) -> Result<u64, Errno> {
        let buf = self.put(bytes);
        self.call(__NR_write, &[fd, buf, bytes.len() as u64])
    }

    /// The whole content of the file at `path`.
    pub fn cat(&mut self, path: &str) -> Result<Vec<u8>, Errno> {
        let fd = self.open(path, O_RDONLY, 0)?;
        let mut content = Vec::new();
        loop {
            let chunk = self.read(fd, 7)?;
            if chunk.is_empty() {
                break;
            }
            content.extend(chunk);
        }
        self.call(__NR_close, &[fd])?;
        Ok(content)
    }

    /// Creates (or truncates) `path` with `content`.
    pub fn create(&mut self, path: &str, content: &[u8]) -> Result<(), Errno> {
        let fd = self.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)?;
        self.write(fd, content)?;
        self.call(__NR_close, &[fd])?;
        Ok(())
    }

    /// `struct stat` of `path` (following symlinks unless `nofollow`) as bytes.
    pub fn stat_bytes(&mut self, path: &str, nofollow: bool) -> Result<Vec<u8>, Errno> {
        let path = self.str(path);
        let buf = self.alloc(size_of::<stat>());
        let flags = if nofollow { AT_SYMLINK_NOFOLLOW } else { 0 };
        self.call(
            __NR_newfstatat,
            &[AT_FDCWD as u64, path, buf, u64::from(flags)],
        )?;
        Ok(self.peek(buf, size_of::<stat>()))
    }

    /// A few fields of `stat` of `path`.
    pub fn stat(&mut self, path: &str) -> Result<Stat, Errno> {
        Ok(Stat::of(&self.stat_bytes(path, false)?))
    }

    /// A few fields of `lstat` of `path`.
    pub fn lstat(&mut self, path: &str) -> Result<Stat, Errno> {
        Ok(Stat::of(&self.stat_bytes(path, true)?))
    }

    /// `getcwd` as a string.
    pub fn getcwd(&mut self) -> Result<String, Errno> {
        let buf = self.alloc(4096);
        let len = self.call(__NR_getcwd, &[buf, 4096])?;
        let bytes = self.peek(buf, len as usize);
        assert_eq!(bytes.last(), Some(&0), "getcwd's count includes the NUL");
        Ok(String::from_utf8(bytes[..bytes.len() - 1].to_vec()).unwrap())
    }

    /// Every name `getdents64` lists for the open directory `fd`, reading `buf_len` bytes at
    /// a time, with each record's `d_off`, `d_type` and `d_ino`.
    pub fn list_fd(&mut self, fd: u64, buf_len: usize) -> Result<Vec<Dirent>, Errno> {
        let buf = self.alloc(buf_len);
        let mut entries = Vec::new();
        loop {
            let count = self.call(__NR_getdents64, &[fd, buf, buf_len as u64])?;
            if count == 0 {
                return Ok(entries);
            }
            entries.extend(parse_dirents(&self.peek(buf, count as usize)));
        }
    }

    /// The names of directory `path` as `getdents64` lists them (`.` and `..` included).
    pub fn ls(&mut self, path: &str) -> Result<Vec<String>, Errno> {
        let fd = self.open(path, O_RDONLY | O_DIRECTORY, 0)?;
        let entries = self.list_fd(fd, 4096)?;
        self.call(__NR_close, &[fd])?;
        Ok(entries.into_iter().map(|e| e.name).collect())
    }

    /// The union's changes, as `letter path` lines.
    pub fn diff(&self) -> Vec<String> {
        self.union
            .diff()
            .unwrap()
            .iter()
            .map(|change| format!("{} {}", change.kind.letter(), change.path))
            .collect()
    }
}

/// The fields of `struct stat` the tests look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    pub blocks: i64,
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes[at..at + N].try_into().unwrap()
}

impl Stat {
    /// The fields of the packed `struct stat` in `bytes`.
    pub fn of(bytes: &[u8]) -> Stat {
        assert_eq!(bytes.len(), size_of::<stat>());
        let u64_at = |at| u64::from_le_bytes(field(bytes, at));
        let u32_at = |at| u32::from_le_bytes(field(bytes, at));
        Stat {
            dev: u64_at(offset_of!(stat, st_dev)),
            ino: u64_at(offset_of!(stat, st_ino)),
            nlink: u64_at(offset_of!(stat, st_nlink)),
            mode: u32_at(offset_of!(stat, st_mode)),
            uid: u32_at(offset_of!(stat, st_uid)),
            gid: u32_at(offset_of!(stat, st_gid)),
            rdev: u64_at(offset_of!(stat, st_rdev)),
            size: u64_at(offset_of!(stat, st_size)) as i64,
            blksize: u64_at(offset_of!(stat, st_blksize)) as i64,
            blocks: u64_at(offset_of!(stat, st_blocks)) as i64,
        }
    }
}

/// One `linux_dirent64` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dirent {
    pub ino: u64,
    pub off: i64,
    pub reclen: u16,
    pub kind: u8,
    pub name: String,
}

/// The records packed in `bytes`; checks each is 8-byte aligned and NUL-terminated.
pub fn parse_dirents(bytes: &[u8]) -> Vec<Dirent> {
    let mut entries = Vec::new();
    let mut at = 0;
    let name_at = offset_of!(linux_dirent64, d_name);
    while at < bytes.len() {
        let record = &bytes[at..];
        let reclen = u16::from_le_bytes(field(record, offset_of!(linux_dirent64, d_reclen)));
        assert_eq!(reclen % 8, 0, "d_reclen is 8-byte aligned");
        let name_bytes = &record[name_at..reclen as usize];
        let nul = name_bytes
            .iter()
            .position(|&b| b == 0)
            .expect("NUL after the name");
        entries.push(Dirent {
            ino: u64::from_le_bytes(field(record, offset_of!(linux_dirent64, d_ino))),
            off: i64::from_le_bytes(field(record, offset_of!(linux_dirent64, d_off))),
            reclen,
            kind: record[offset_of!(linux_dirent64, d_type)],
            name: String::from_utf8(name_bytes[..nul].to_vec()).unwrap(),
        });
        at += reclen as usize;
    }
    entries
}
