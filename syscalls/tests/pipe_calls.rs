//! `pipe` and `pipe2` through the dispatcher, and the pipe's ends through `read`, `write`
//! and `close` as a shell's `a | b` uses them.

mod vm_support;

use linux_raw_sys::general::*;
use overlay_syscalls::dispatch::Outcome;
use overlay_syscalls::vm::{AddressSpace, Prot};
use overlay_syscalls::Errno;
use vm_support::*;

const BUF: u64 = 0x10_0000;

struct Setup {
    process: overlay_syscalls::process::Process,
    space: FakeSpace,
    host: FakeHost,
}

impl Setup {
    fn new() -> Setup {
        let mut space = FakeSpace::new();
        space.map(BUF, 0x2000, Prot::READ | Prot::WRITE).unwrap();
        Setup {
            process: root_process(),
            space,
            host: FakeHost::new(),
        }
    }

    fn outcome(&mut self, number: u32, args: &[u64]) -> Outcome {
        let mut all = [0u64; 6];
        all[..args.len()].copy_from_slice(args);
        call(&mut self.process, &mut self.space, &self.host, number, all)
    }

    fn call(&mut self, number: u32, args: &[u64]) -> Result<u64, Errno> {
        let mut all = [0u64; 6];
        all[..args.len()].copy_from_slice(args);
        call_result(&mut self.process, &mut self.space, &self.host, number, all)
    }

    /// A pipe's two descriptors, made by `pipe2` with `flags`.
    fn pipe(&mut self, flags: u32) -> (u64, u64) {
        assert_eq!(self.call(__NR_pipe2, &[BUF, u64::from(flags)]), Ok(0));
        let fds = self.space.peek(BUF, 8);
        let fd = |at: usize| u64::from(u32::from_le_bytes(fds[at..at + 4].try_into().unwrap()));
        (fd(0), fd(4))
    }

    fn write(&mut self, fd: u64, bytes: &[u8]) -> Result<u64, Errno> {
        use overlay_syscalls::user::UserMemory;
        self.space.write(BUF + 0x100, bytes).unwrap();
        self.call(__NR_write, &[fd, BUF + 0x100, bytes.len() as u64])
    }
}

#[test]
fn pipe_writes_both_descriptors() {
    let mut s = Setup::new();
    assert_eq!(s.call(__NR_pipe, &[BUF]), Ok(0));
    let fds = s.space.peek(BUF, 8);
    assert_eq!(fds, [0, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(s.process.fds.numbers().collect::<Vec<_>>(), [0, 1]);
}

#[test]
fn bytes_go_through_and_a_closed_writer_is_end_of_file() {
    let mut s = Setup::new();
    let (read_fd, write_fd) = s.pipe(0);
    assert_eq!(s.write(write_fd, b"hello"), Ok(5));
    assert_eq!(s.call(__NR_read, &[read_fd, BUF + 0x800, 64]), Ok(5));
    assert_eq!(s.space.peek(BUF + 0x800, 5), b"hello");
    // Empty with a writer: the caller blocks.
    assert_eq!(
        s.outcome(__NR_read, &[read_fd, BUF + 0x800, 64]),
        Outcome::Block
    );
    assert_eq!(s.call(__NR_close, &[write_fd]), Ok(0));
    assert_eq!(s.call(__NR_read, &[read_fd, BUF + 0x800, 64]), Ok(0));
}

#[test]
fn nonblocking_pipe_answers_eagain_instead_of_blocking() {
    let mut s = Setup::new();
    let (read_fd, _write_fd) = s.pipe(O_NONBLOCK);
    assert_eq!(
        s.call(__NR_read, &[read_fd, BUF + 0x800, 64]),
        Err(Errno::EAGAIN)
    );
}

#[test]
fn writing_after_the_reader_closed_is_epipe() {
    let mut s = Setup::new();
    let (read_fd, write_fd) = s.pipe(0);
    assert_eq!(s.call(__NR_close, &[read_fd]), Ok(0));
    assert_eq!(s.write(write_fd, b"x"), Err(Errno::EPIPE));
}

#[test]
fn bad_flags_and_bad_addresses_leave_no_descriptor() {
    let mut s = Setup::new();
    assert_eq!(s.call(__NR_pipe2, &[BUF, 0x4]), Err(Errno::EINVAL));
    assert_eq!(s.call(__NR_pipe2, &[0x9999_0000, 0]), Err(Errno::EFAULT));
    assert_eq!(s.call(__NR_pipe, &[0]), Err(Errno::EFAULT));
    assert_eq!(s.process.fds.numbers().count(), 0);
}
