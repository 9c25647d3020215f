//! `poll`, `ppoll`, `select` and `pselect6` through the dispatcher, on pipes, a file and the
//! terminal, as a shell and its programs use them.

mod vm_support;

use core::mem::{offset_of, size_of};
use std::sync::Arc;

use linux_raw_sys::general::*;
use overlay_syscalls::dispatch::Outcome;
use overlay_syscalls::file::Descriptor;
use overlay_syscalls::tty::{ConsoleOutput, Terminal};
use overlay_syscalls::user::UserMemory;
use overlay_syscalls::vm::{AddressSpace, Prot};
use overlay_syscalls::Errno;
use vm_support::*;

const BUF: u64 = 0x10_0000;
/// Where the tests put `struct pollfd` arrays and fd sets.
const FDS: u64 = BUF + 0x400;
/// Where the tests put timeouts.
const TIME: u64 = BUF + 0x800;
/// An address nothing is mapped at.
const UNMAPPED: u64 = 0xdead_0000;

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

    /// A pipe's read and write descriptors.
    fn pipe(&mut self) -> (u64, u64) {
        assert_eq!(self.call(__NR_pipe2, &[BUF, 0]), Ok(0));
        let fds = self.space.peek(BUF, 8);
        let fd = |at: usize| u64::from(u32::from_le_bytes(fds[at..at + 4].try_into().unwrap()));
        (fd(0), fd(4))
    }

    fn write(&mut self, fd: u64, bytes: &[u8]) {
        self.space.write(BUF + 0x100, bytes).unwrap();
        let written = self.call(__NR_write, &[fd, BUF + 0x100, bytes.len() as u64]);
        assert_eq!(written, Ok(bytes.len() as u64));
    }

    /// Puts `struct pollfd` entries `(fd, events)` at [`FDS`], each `revents` set to a
    /// value the call must overwrite.
    fn put_pollfds(&mut self, entries: &[(i32, u32)]) {
        for (index, &(fd, events)) in entries.iter().enumerate() {
            let at = FDS + (index * size_of::<pollfd>()) as u64;
            let mut entry = [0u8; 8];
            entry[offset_of!(pollfd, fd)..][..4].copy_from_slice(&fd.to_le_bytes());
            entry[offset_of!(pollfd, events)..][..2]
                .copy_from_slice(&(events as u16).to_le_bytes());
            entry[offset_of!(pollfd, revents)..][..2].copy_from_slice(&0x5555u16.to_le_bytes());
            self.space.write(at, &entry).unwrap();
        }
    }

    /// The `revents` of entry `index` at [`FDS`].
    fn revents(&self, index: usize) -> u32 {
        let at = FDS + (index * size_of::<pollfd>() + offset_of!(pollfd, revents)) as u64;
        let bytes = self.space.peek(at, 2);
        u32::from(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    /// `poll` of the entries at [`FDS`].
    fn poll(&mut self, count: u64, timeout_ms: i32) -> Outcome {
        self.outcome(__NR_poll, &[FDS, count, timeout_ms as u32 as u64])
    }

    fn put_timespec(&mut self, at: u64, secs: i64, nanos: i64) {
        self.space.write(at, &secs.to_le_bytes()).unwrap();
        self.space.write(at + 8, &nanos.to_le_bytes()).unwrap();
    }

    fn timespec(&self, at: u64) -> (u64, u64) {
        (self.space.peek_u64(at), self.space.peek_u64(at + 8))
    }

    /// Puts an `fd_set` of one long with `fds` at `at`.
    fn put_set(&mut self, at: u64, fds: &[u64]) {
        let bits = fds.iter().fold(0u64, |bits, fd| bits | 1 << fd);
        self.space.write(at, &bits.to_le_bytes()).unwrap();
    }

    fn set(&self, at: u64) -> u64 {
        self.space.peek_u64(at)
    }
}

#[test]
fn poll_of_an_empty_pipe_with_no_timeout_returns_zero() {
    let mut s = Setup::new();
    let (read_fd, _write_fd) = s.pipe();
    s.put_pollfds(&[(read_fd as i32, POLLIN)]);
    assert_eq!(s.poll(1, 0), Outcome::Return(0));
    assert_eq!(
        s.revents(0),
        0,
        "revents is written even when nothing is ready"
    );
}

#[test]
fn poll_reports_data_in_a_pipe_as_pollin() {
    let mut s = Setup::new();
    let (read_fd, write_fd) = s.pipe();
    s.write(write_fd, b"x");
    s.put_pollfds(&[
        (read_fd as i32, POLLIN),
        (write_fd as i32, POLLOUT | POLLIN),
    ]);
    assert_eq!(s.poll(2, -1), Outcome::Return(2));
    assert_eq!(s.revents(0), POLLIN, "only what was asked for");
    assert_eq!(s.revents(1), POLLOUT, "a write end is never readable");
}

#[test]
fn poll_reports_a_closed_write_end_as_pollhup_unasked() {
    let mut s = Setup::new();
    let (read_fd, write_fd) = s.pipe();
    assert_eq!(s.call(__NR_close, &[write_fd]), Ok(0));
    s.put_pollfds(&[(read_fd as i32, POLLIN)]);
    assert_eq!(s.poll(1, 0), Outcome::Return(1));
    assert_eq!(s.revents(0), POLLHUP);
    // The write end of a pipe without readers is an error.
    let (read_fd, write_fd) = s.pipe();
    assert_eq!(s.call(__NR_close, &[read_fd]), Ok(0));
    s.put_pollfds(&[(write_fd as i32, 0)]);
    assert_eq!(s.poll(1, 0), Outcome::Return(1));
    assert_eq!(s.revents(0), POLLERR);
}

#[test]
fn poll_without_a_timeout_blocks_until_data_comes() {
    let mut s = Setup::new();
    let (read_fd, write_fd) = s.pipe();
    s.put_pollfds(&[(read_fd as i32, POLLIN)]);
    assert_eq!(s.poll(1, -1), Outcome::Block);
    s.host.advance(3_600_000_000_000);
    assert_eq!(s.poll(1, -1), Outcome::Block, "no deadline");
    s.write(write_fd, b"x");
    assert_eq!(s.poll(1, -1), Outcome::Return(1));
    assert_eq!(s.revents(0), POLLIN);
}

#[test]
fn poll_with_a_timeout_blocks_then_returns_zero_after_the_deadline() {
    let mut s = Setup::new();
    let (read_fd, _write_fd) = s.pipe();
    s.put_pollfds(&[(read_fd as i32, POLLIN)]);
    assert_eq!(s.poll(1, 1500), Outcome::Block);
    assert!(s.process.sleep.is_some(), "the deadline is kept");
    s.host.advance(1_000_000_000);
    assert_eq!(s.poll(1, 1500), Outcome::Block, "re-run: same deadline");
    s.host.advance(500_000_000);
    assert_eq!(s.poll(1, 1500), Outcome::Return(0));
    assert_eq!(s.revents(0), 0);
    assert_eq!(s.process.sleep, None);
    // A new call waits its whole timeout again.
    assert_eq!(s.poll(1, 1500), Outcome::Block);
}

#[test]
fn poll_with_a_timeout_returns_as_soon_as_data_comes() {
    let mut s = Setup::new();
    let (read_fd, write_fd) = s.pipe();
    s.put_pollfds(&[(read_fd as i32, POLLIN)]);
    assert_eq!(s.poll(1, 5000), Outcome::Block);
    s.host.advance(1_000_000_000);
    s.write(write_fd, b"x");
    assert_eq!(s.poll(1, 5000), Outcome::Return(1));
    assert_eq!(s.process.sleep, None);
}

#[test]
fn poll_marks_descriptors_that_are_not_open_pollnval_and_skips_negative_ones() {
    let mut s = Setup::new();
    let (read_fd, _write_fd) = s.pipe();
    s.put_pollfds(&[
        (-1, POLLIN),
        (9, POLLIN),
        (read_fd as i32, POLLIN),
        (5000, 0),
    ]);
    assert_eq!(s.poll(4, 0), Outcome::Return(2));
    assert_eq!(
        [s.revents(0), s.revents(1), s.revents(2), s.revents(3)],
        [0, POLLNVAL, 0, POLLNVAL]
    );
    // Only negative descriptors: nothing to wait for but the time.
    s.put_pollfds(&[(-1, POLLIN)]);
    assert_eq!(s.poll(1, 10), Outcome::Block);
    s.host.advance(10_000_000);
    assert_eq!(s.poll(1, 10), Outcome::Return(0));
}

#[test]
fn poll_of_bad_memory_is_efault() {
    let mut s = Setup::new();
    let (read_fd, write_fd) = s.pipe();
    assert_eq!(s.call(__NR_poll, &[UNMAPPED, 1, 0]), Err(Errno::EFAULT));
    // An array running off the end of the mapping.
    assert_eq!(
        s.call(__NR_poll, &[BUF + 0x2000 - 4, 1, 0]),
        Err(Errno::EFAULT)
    );
    // Readable but not writable: revents cannot be stored.
    s.write(write_fd, b"x");
    s.put_pollfds(&[(read_fd as i32, POLLIN)]);
    s.space.protect(BUF, 0x2000, Prot::READ).unwrap();
    assert_eq!(s.call(__NR_poll, &[FDS, 1, 0]), Err(Errno::EFAULT));
    // No entries: the pointer is not read.
    assert_eq!(s.call(__NR_poll, &[UNMAPPED, 0, 0]), Ok(0));
}

#[test]
fn poll_of_more_entries_than_rlimit_nofile_is_einval() {
    let mut s = Setup::new();
    assert_eq!(s.call(__NR_poll, &[FDS, 1025, 0]), Err(Errno::EINVAL));
    assert_eq!(
        s.call(__NR_poll, &[FDS, u64::from(u32::MAX), 0]),
        Err(Errno::EINVAL)
    );
}

#[test]
fn regular_files_are_always_readable_and_writable() {
    let mut s = Setup::new();
    s.space.write(BUF, b"/file\0").unwrap();
    let fd = s
        .call(__NR_open, &[BUF, u64::from(O_CREAT | O_RDWR), 0o644])
        .unwrap();
    s.put_pollfds(&[(
        fd as i32,
        POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM | POLLPRI,
    )]);
    assert_eq!(s.poll(1, -1), Outcome::Return(1));
    assert_eq!(s.revents(0), POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
}

struct NoScreen;

impl ConsoleOutput for NoScreen {
    fn write(&self, _bytes: &[u8]) {}
}

#[test]
fn poll_on_the_terminal_waits_for_a_key_in_raw_mode() {
    let mut s = Setup::new();
    let terminal = Terminal::new(Arc::new(NoScreen));
    let mut raw = terminal.termios();
    raw.lflag &= !(ICANON | ECHO);
    raw.cc[VMIN as usize] = 1;
    terminal.set_termios(raw);
    s.process
        .fds
        .replace(
            0,
            Descriptor {
                file: terminal.open(O_RDWR),
                close_on_exec: false,
            },
        )
        .unwrap();
    // What BusyBox's line editing does before each key: poll fd 0 for POLLIN.
    s.put_pollfds(&[(0, POLLIN)]);
    assert_eq!(s.poll(1, -1), Outcome::Block);
    terminal.input(b'l');
    assert_eq!(s.poll(1, -1), Outcome::Return(1));
    assert_eq!(s.revents(0), POLLIN);
}

#[test]
fn ppoll_writes_back_the_time_left() {
    let mut s = Setup::new();
    let (read_fd, write_fd) = s.pipe();
    s.put_pollfds(&[(read_fd as i32, POLLIN)]);
    s.put_timespec(TIME, 2, 0);
    let args = [FDS, 1, TIME, 0, 0];
    assert_eq!(s.outcome(__NR_ppoll, &args), Outcome::Block);
    s.host.advance(500_000_000);
    s.write(write_fd, b"x");
    assert_eq!(s.outcome(__NR_ppoll, &args), Outcome::Return(1));
    assert_eq!(s.timespec(TIME), (1, 500_000_000));
    // No timeout: nothing is written.
    assert_eq!(
        s.outcome(__NR_ppoll, &[FDS, 1, 0, 0, 0]),
        Outcome::Return(1)
    );
}

#[test]
fn ppoll_times_out_and_leaves_zero() {
    let mut s = Setup::new();
    let (read_fd, _write_fd) = s.pipe();
    s.put_pollfds(&[(read_fd as i32, POLLIN)]);
    s.put_timespec(TIME, 0, 20_000_000);
    let args = [FDS, 1, TIME, 0, 0];
    assert_eq!(s.outcome(__NR_ppoll, &args), Outcome::Block);
    s.host.advance(30_000_000);
    assert_eq!(s.outcome(__NR_ppoll, &args), Outcome::Return(0));
    assert_eq!(s.timespec(TIME), (0, 0));
}

#[test]
fn ppoll_checks_its_timeout_and_signal_mask() {
    let mut s = Setup::new();
    s.put_pollfds(&[(-1, 0)]);
    s.put_timespec(TIME, 0, 1_000_000_000);
    assert_eq!(
        s.call(__NR_ppoll, &[FDS, 1, TIME, 0, 0]),
        Err(Errno::EINVAL)
    );
    s.put_timespec(TIME, -1, 0);
    assert_eq!(
        s.call(__NR_ppoll, &[FDS, 1, TIME, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        s.call(__NR_ppoll, &[FDS, 1, UNMAPPED, 0, 0]),
        Err(Errno::EFAULT)
    );
    s.put_timespec(TIME, 0, 0);
    assert_eq!(
        s.call(__NR_ppoll, &[FDS, 1, TIME, BUF, 4]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        s.call(__NR_ppoll, &[FDS, 1, TIME, UNMAPPED, 8]),
        Err(Errno::EFAULT)
    );
    assert_eq!(s.call(__NR_ppoll, &[FDS, 1, TIME, BUF, 8]), Ok(0));
}

#[test]
fn select_overwrites_the_sets_with_what_is_ready() {
    let mut s = Setup::new();
    let (read_fd, write_fd) = s.pipe();
    let (read_set, write_set) = (FDS, FDS + 8);
    s.put_set(read_set, &[read_fd]);
    s.put_set(write_set, &[read_fd, write_fd]);
    let nfds = write_fd + 1;
    assert_eq!(
        s.call(__NR_select, &[nfds, read_set, write_set, 0, 0]),
        Ok(1)
    );
    assert_eq!(s.set(read_set), 0);
    assert_eq!(s.set(write_set), 1 << write_fd);
    s.write(write_fd, b"x");
    s.put_set(read_set, &[read_fd]);
    s.put_set(write_set, &[write_fd]);
    assert_eq!(
        s.call(__NR_select, &[nfds, read_set, write_set, 0, 0]),
        Ok(2)
    );
    assert_eq!(
        (s.set(read_set), s.set(write_set)),
        (1 << read_fd, 1 << write_fd)
    );
}

#[test]
fn select_ignores_bits_at_or_above_nfds() {
    let mut s = Setup::new();
    let (read_fd, write_fd) = s.pipe();
    s.write(write_fd, b"x");
    s.put_set(FDS, &[read_fd, 40]);
    assert_eq!(s.call(__NR_select, &[read_fd + 1, FDS, 0, 0, 0]), Ok(1));
    assert_eq!(s.set(FDS), 1 << read_fd, "bit 40 cleared, not EBADF");
}

#[test]
fn select_of_a_descriptor_that_is_not_open_is_ebadf() {
    let mut s = Setup::new();
    s.put_set(FDS, &[5]);
    assert_eq!(s.call(__NR_select, &[6, FDS, 0, 0, 0]), Err(Errno::EBADF));
    assert_eq!(s.set(FDS), 1 << 5, "sets unchanged on an error");
    assert_eq!(
        s.call(__NR_select, &[u64::MAX, 0, 0, 0, 0]),
        Err(Errno::EINVAL),
        "negative nfds"
    );
    assert_eq!(
        s.call(__NR_select, &[6, UNMAPPED, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
}

#[test]
fn select_with_a_timeval_blocks_then_times_out_with_empty_sets() {
    let mut s = Setup::new();
    let (read_fd, _write_fd) = s.pipe();
    s.put_set(FDS, &[read_fd]);
    // 1 s as 0 s and 1_000_000 µs: microseconds carry into seconds.
    s.put_timespec(TIME, 0, 1_000_000);
    let args = [read_fd + 1, FDS, 0, 0, TIME];
    assert_eq!(s.outcome(__NR_select, &args), Outcome::Block);
    s.host.advance(999_000_000);
    assert_eq!(s.outcome(__NR_select, &args), Outcome::Block);
    s.host.advance(1_000_000);
    assert_eq!(s.outcome(__NR_select, &args), Outcome::Return(0));
    assert_eq!(s.set(FDS), 0);
    assert_eq!(s.timespec(TIME), (0, 0), "time left: none");
    // A zero timeout returns at once; a negative one is EINVAL.
    s.put_set(FDS, &[read_fd]);
    s.put_timespec(TIME, 0, 0);
    assert_eq!(s.outcome(__NR_select, &args), Outcome::Return(0));
    s.put_timespec(TIME, 0, -1);
    assert_eq!(s.call(__NR_select, &args), Err(Errno::EINVAL));
}

#[test]
fn select_without_sets_is_a_sleep() {
    let mut s = Setup::new();
    s.put_timespec(TIME, 0, 250_000);
    let args = [0, 0, 0, 0, TIME];
    assert_eq!(s.outcome(__NR_select, &args), Outcome::Block);
    s.host.advance(250_000_000);
    assert_eq!(s.outcome(__NR_select, &args), Outcome::Return(0));
}

#[test]
fn pselect6_takes_a_timespec_and_checks_its_mask_pair() {
    let mut s = Setup::new();
    let (read_fd, write_fd) = s.pipe();
    s.write(write_fd, b"x");
    s.put_set(FDS, &[read_fd]);
    s.put_timespec(TIME, 3, 0);
    // The `{ sigset_t *, size_t }` pair at BUF + 0x200, the mask at BUF + 0x300.
    let pair = BUF + 0x200;
    s.put_timespec(pair, (BUF + 0x300) as i64, 8);
    let args = [read_fd + 1, FDS, 0, 0, TIME, pair];
    assert_eq!(s.call(__NR_pselect6, &args), Ok(1));
    assert_eq!(s.set(FDS), 1 << read_fd);
    assert_eq!(
        s.timespec(TIME),
        (3, 0),
        "ready at once: all the time is left"
    );
    s.put_timespec(pair, (BUF + 0x300) as i64, 16);
    assert_eq!(s.call(__NR_pselect6, &args), Err(Errno::EINVAL));
    // The timeout is read before the mask is checked, as on Linux.
    let args = [read_fd + 1, FDS, 0, 0, UNMAPPED, pair];
    assert_eq!(s.call(__NR_pselect6, &args), Err(Errno::EFAULT));
    let args = [read_fd + 1, FDS, 0, 0, TIME, UNMAPPED];
    assert_eq!(s.call(__NR_pselect6, &args), Err(Errno::EFAULT));
}

#[test]
fn an_interrupted_ppoll_returns_eintr_and_writes_nothing() {
    let mut s = Setup::new();
    let (read_fd, _write_fd) = s.pipe();
    s.put_pollfds(&[(read_fd as i32, POLLIN), (-1, 0)]);
    s.put_timespec(TIME, 5, 0);
    let mask = BUF + 0x300;
    s.space.write(mask, &[0xaa; 16]).unwrap();
    let args = [FDS, 2, TIME, mask, 8];
    assert_eq!(s.outcome(__NR_ppoll, &args), Outcome::Block);
    s.host.advance(1_000_000_000);
    let result = overlay_syscalls::misc::sleep_interrupted(&mut s.process, &s.host, &mut s.space);
    assert_eq!(result, Some(Errno::EINTR.as_return()));
    assert_eq!(s.space.peek(mask, 16), [0xaa; 16]);
    assert_eq!(s.timespec(TIME), (5, 0));
    assert_eq!(s.process.sleep, None);
}
