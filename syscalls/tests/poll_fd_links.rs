//! `open` of `/proc/self/fd/N`, `/dev/fd/N`, `/dev/stdin`, `/dev/stdout` and `/dev/stderr`
//! in a container's root (the union with `/proc` and `/dev` mounted), as a shell's
//! `cat /dev/stdin` and `echo x > /dev/stderr` use them.

mod vm_support;

use std::sync::Arc;

use linux_raw_sys::general::*;
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::vfs::FileSystem;
use overlay_syscalls::devices::{DevFs, DevFsOptions};
use overlay_syscalls::fs::FsContext;
use overlay_syscalls::host::ProcessSummary;
use overlay_syscalls::mounts::ContainerRoot;
use overlay_syscalls::procfs::{container_mounts, HostSource, ProcFs};
use overlay_syscalls::tty::{ConsoleOutput, Terminal};
use overlay_syscalls::user::UserMemory;
use overlay_syscalls::vm::{AddressSpace, Prot};
use overlay_syscalls::Errno;
use vm_support::*;

const BUF: u64 = 0x10_0000;
/// Where the tests put paths.
const PATH: u64 = BUF + 0x400;
/// Where reads land.
const DATA: u64 = BUF + 0x800;

struct NoScreen;

impl ConsoleOutput for NoScreen {
    fn write(&self, _bytes: &[u8]) {}
}

struct Setup {
    process: overlay_syscalls::process::Process,
    space: FakeSpace,
    host: FakeHost,
    /// What `/proc` reads the process list from.
    proc_host: Arc<FakeHost>,
}

impl Setup {
    /// Process 7 in a container root: an empty union with `/proc` (following process 7)
    /// and `/dev` mounted.
    fn new() -> Setup {
        let mut space = FakeSpace::new();
        space.map(BUF, 0x2000, Prot::READ | Prot::WRITE).unwrap();
        let proc_host = Arc::new(FakeHost::new());
        let union: Arc<dyn FileSystem> = TmpFs::new(TmpFsOptions::default());
        let mounts = container_mounts(&["/layers/0"], "/upper", "/work");
        let proc = ProcFs::new(Arc::new(HostSource::new(proc_host.clone(), mounts)), 7);
        let terminal = Terminal::new(Arc::new(NoScreen));
        let dev = DevFs::new(
            terminal,
            Arc::new(|buf: &mut [u8]| buf.fill(4)),
            DevFsOptions::default(),
        );
        let mut process = root_process();
        process.fs = FsContext::new(ContainerRoot::container(union, proc, dev));
        let mut setup = Setup {
            process,
            space,
            host: FakeHost::new(),
            proc_host,
        };
        for fd in 0..3 {
            assert_eq!(setup.open("/dev/null", O_RDWR), Ok(fd));
        }
        setup
    }

    fn call(&mut self, number: u32, args: &[u64]) -> Result<u64, Errno> {
        let mut all = [0u64; 6];
        all[..args.len()].copy_from_slice(args);
        let result = call_result(&mut self.process, &mut self.space, &self.host, number, all);
        self.publish();
        result
    }

    /// Tells `/proc` about the process's descriptors (what a kernel's process table does).
    fn publish(&self) {
        let mut processes = vec![summary(7, &self.process)];
        processes.push(ProcessSummary {
            fds: vec![(1, String::from("pipe:[999]"))],
            ..summary(8, &self.process)
        });
        *self.proc_host.processes.lock().unwrap() = processes;
    }

    fn open(&mut self, path: &str, flags: u32) -> Result<u64, Errno> {
        self.space.write(PATH, path.as_bytes()).unwrap();
        self.space.write(PATH + path.len() as u64, &[0]).unwrap();
        self.call(__NR_open, &[PATH, u64::from(flags), 0o644])
    }

    fn pipe(&mut self) -> (u64, u64) {
        assert_eq!(self.call(__NR_pipe2, &[BUF, 0]), Ok(0));
        let fds = self.space.peek(BUF, 8);
        let fd = |at: usize| u64::from(u32::from_le_bytes(fds[at..at + 4].try_into().unwrap()));
        (fd(0), fd(4))
    }

    fn write(&mut self, fd: u64, bytes: &[u8]) -> Result<u64, Errno> {
        self.space.write(BUF + 0x100, bytes).unwrap();
        self.call(__NR_write, &[fd, BUF + 0x100, bytes.len() as u64])
    }

    fn read(&mut self, fd: u64, len: u64) -> Result<Vec<u8>, Errno> {
        let count = self.call(__NR_read, &[fd, DATA, len])?;
        Ok(self.space.peek(DATA, count as usize))
    }

    /// Moves descriptor `from` to `to` (`dup2` then `close`), as a shell's redirection.
    fn redirect(&mut self, from: u64, to: u64) {
        assert_eq!(self.call(__NR_dup2, &[from, to]), Ok(to));
        assert_eq!(self.call(__NR_close, &[from]), Ok(0));
    }
}

fn summary(pid: u32, process: &overlay_syscalls::process::Process) -> ProcessSummary {
    ProcessSummary {
        pid,
        ppid: 1,
        pgid: 1,
        sid: 1,
        uid: 0,
        gid: 0,
        state: 'R',
        comm: "sh".into(),
        cmdline: vec![],
        mapped_bytes: 0,
        ticks: 0,
        start_ticks: 0,
        exe: "/bin/sh".into(),
        cwd: "/".into(),
        fds: process
            .fds
            .numbers()
            .map(|fd| (fd, process.fds.file(fd).unwrap().describe()))
            .collect(),
    }
}

#[test]
fn dev_stdout_writes_where_descriptor_1_goes() {
    let mut s = Setup::new();
    let (read_fd, write_fd) = s.pipe();
    s.redirect(write_fd, 1);
    let stdout = s.open("/dev/stdout", O_WRONLY | O_CREAT | O_TRUNC).unwrap();
    assert_eq!(s.write(stdout, b"to the pipe"), Ok(11));
    assert_eq!(s.read(read_fd, 64).unwrap(), b"to the pipe");
    // The new descriptor keeps the pipe open when descriptor 1 closes.
    assert_eq!(s.call(__NR_close, &[1]), Ok(0));
    assert_eq!(s.write(stdout, b"!"), Ok(1));
    assert_eq!(s.read(read_fd, 64).unwrap(), b"!");
}

#[test]
fn dev_stdin_and_dev_fd_read_the_pipe_a_shell_gave() {
    let mut s = Setup::new();
    let (read_fd, write_fd) = s.pipe();
    s.redirect(read_fd, 0);
    assert_eq!(s.write(write_fd, b"abc"), Ok(3));
    let stdin = s.open("/dev/stdin", O_RDONLY).unwrap();
    assert_eq!(s.read(stdin, 1).unwrap(), b"a");
    let fd0 = s.open("/dev/fd/0", O_RDONLY | O_CLOEXEC).unwrap();
    assert!(s.process.fds.get(fd0 as u32).unwrap().close_on_exec);
    assert_eq!(s.read(fd0, 1).unwrap(), b"b");
    let proc_fd = s.open("/proc/self/fd/0", O_RDONLY).unwrap();
    assert_eq!(s.read(proc_fd, 64).unwrap(), b"c");
}

#[test]
fn dev_stderr_of_a_pipe_is_not_a_directory() {
    let mut s = Setup::new();
    let (_read_fd, write_fd) = s.pipe();
    s.redirect(write_fd, 2);
    assert_eq!(
        s.open("/dev/stderr", O_RDONLY | O_DIRECTORY),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(s.open("/dev/stderr/", O_RDONLY), Err(Errno::ENOTDIR));
    assert_eq!(
        s.open("/dev/stderr", O_WRONLY | O_NOFOLLOW),
        Err(Errno::ELOOP)
    );
}

#[test]
fn a_link_to_a_file_opens_the_file_again_with_its_own_offset() {
    let mut s = Setup::new();
    let fd = s.open("/file", O_RDWR | O_CREAT).unwrap();
    assert_eq!(s.write(fd, b"hello"), Ok(5));
    let again = s.open(&format!("/proc/self/fd/{fd}"), O_RDONLY).unwrap();
    assert_eq!(s.read(again, 64).unwrap(), b"hello", "from offset 0");
    assert_eq!(s.write(again, b"x"), Err(Errno::EBADF), "opened read-only");
}

#[test]
fn another_process_s_pipe_is_not_reachable() {
    let mut s = Setup::new();
    assert_eq!(s.open("/proc/8/fd/1", O_WRONLY), Err(Errno::ENOENT));
}

#[test]
fn a_closed_descriptor_s_link_is_gone() {
    let mut s = Setup::new();
    assert_eq!(s.open("/dev/fd/5", O_RDONLY), Err(Errno::ENOENT));
}

#[test]
fn other_symlinks_open_as_before() {
    let mut s = Setup::new();
    s.space.write(BUF, b"/target\0").unwrap();
    s.space.write(BUF + 0x40, b"/link\0").unwrap();
    assert_eq!(s.call(__NR_symlink, &[BUF, BUF + 0x40]), Ok(0));
    // Through a dangling symlink, O_CREAT makes the target.
    let fd = s.open("/link", O_WRONLY | O_CREAT).unwrap();
    assert_eq!(s.write(fd, b"made"), Ok(4));
    let fd = s.open("/target", O_RDONLY).unwrap();
    assert_eq!(s.read(fd, 64).unwrap(), b"made");
    assert_eq!(s.open("/link", O_RDONLY | O_NOFOLLOW), Err(Errno::ELOOP));
    assert_eq!(s.open("/link", O_RDONLY | O_DIRECTORY), Err(Errno::ENOTDIR));
    assert_eq!(s.open("/dev/null", O_RDONLY).map(|_| ()), Ok(()));
}
