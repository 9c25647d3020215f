//! Identity, time, limits and randomness calls through the dispatcher.

mod vm_support;

use linux_raw_sys::general::*;
use overlay_core::vfs::Credentials;
use overlay_syscalls::dispatch::Outcome;
use overlay_syscalls::host::ProcessSummary;
use overlay_syscalls::misc::sleep_interrupted;
use overlay_syscalls::process::Process;
use overlay_syscalls::vm::{AddressSpace, Prot};
use overlay_syscalls::{Errno, SysResult};
use vm_support::*;

const BUF: u64 = 0x10_0000;

struct Setup {
    process: Process,
    space: FakeSpace,
    host: FakeHost,
}

impl Setup {
    fn new(creds: Credentials) -> Setup {
        let mut space = FakeSpace::new();
        space.map(BUF, 0x2000, Prot::READ | Prot::WRITE).unwrap();
        Setup {
            process: process_with(creds),
            space,
            host: FakeHost::new(),
        }
    }

    fn call(&mut self, number: u32, args: &[u64]) -> SysResult<u64> {
        let mut all = [0u64; 6];
        all[..args.len()].copy_from_slice(args);
        call_result(&mut self.process, &mut self.space, &self.host, number, all)
    }

    fn outcome(&mut self, number: u32, args: &[u64]) -> Outcome {
        let mut all = [0u64; 6];
        all[..args.len()].copy_from_slice(args);
        call(&mut self.process, &mut self.space, &self.host, number, all)
    }

    fn string_at(&self, addr: u64) -> String {
        String::from_utf8(self.space.peek_c_string(addr)).unwrap()
    }
}

const MINUS_ONE: u64 = u32::MAX as u64;

#[test]
fn process_ids_are_the_process_s() {
    let mut s = Setup::new(Credentials::user(1000, 100));
    assert_eq!(s.call(__NR_getpid, &[]), Ok(7));
    assert_eq!(s.call(__NR_gettid, &[]), Ok(7));
    assert_eq!(s.call(__NR_getppid, &[]), Ok(1));
    assert_eq!(s.call(__NR_getuid, &[]), Ok(1000));
    assert_eq!(s.call(__NR_geteuid, &[]), Ok(1000));
    assert_eq!(s.call(__NR_getgid, &[]), Ok(100));
    assert_eq!(s.call(__NR_getegid, &[]), Ok(100));
    assert_eq!(s.call(__NR_set_tid_address, &[0x1234]), Ok(7));
    assert_eq!(s.process.clear_child_tid, 0x1234);
}

#[test]
fn root_may_become_anyone_and_then_cannot_come_back() {
    let mut s = Setup::new(Credentials::root());
    assert_eq!(s.call(__NR_setgid, &[100]), Ok(0));
    assert_eq!(s.call(__NR_setuid, &[1000]), Ok(0));
    assert_eq!(s.call(__NR_getuid, &[]), Ok(1000));
    assert_eq!(s.call(__NR_geteuid, &[]), Ok(1000));
    assert_eq!(s.call(__NR_setuid, &[0]), Err(Errno::EPERM));
    assert_eq!(
        s.call(__NR_setuid, &[1000]),
        Ok(0),
        "to its own id is allowed"
    );
    assert_eq!(s.call(__NR_setgid, &[0]), Err(Errno::EPERM));
    assert_eq!(s.call(__NR_setuid, &[MINUS_ONE]), Err(Errno::EINVAL));
}

#[test]
fn setresuid_moves_between_the_three_ids() {
    let mut s = Setup::new(Credentials::root());
    assert_eq!(s.call(__NR_setresuid, &[1000, 2000, 0]), Ok(0));
    assert_eq!(s.call(__NR_getresuid, &[BUF, BUF + 4, BUF + 8]), Ok(0));
    let ids: Vec<u8> = [1000u32, 2000, 0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(s.space.peek(BUF, 12), ids);
    // Now unprivileged (effective 2000), it may take back its saved 0.
    assert_eq!(s.call(__NR_setresuid, &[MINUS_ONE, 0, MINUS_ONE]), Ok(0));
    assert_eq!(s.call(__NR_geteuid, &[]), Ok(0));
    let mut user = Setup::new(Credentials::user(1000, 100));
    assert_eq!(
        user.call(__NR_setresuid, &[MINUS_ONE, 0, MINUS_ONE]),
        Err(Errno::EPERM)
    );
    assert_eq!(user.call(__NR_setresgid, &[100, 100, 100]), Ok(0));
    assert_eq!(
        user.call(__NR_getresgid, &[BUF, BUF + 4, 0xdead_0000]),
        Err(Errno::EFAULT)
    );
}

#[test]
fn groups_are_read_and_set_by_root_only() {
    let mut s = Setup::new(Credentials::root());
    let groups: Vec<u8> = [10u32, 20].iter().flat_map(|v| v.to_le_bytes()).collect();
    use overlay_syscalls::user::UserMemory;
    s.space.write(BUF, &groups).unwrap();
    assert_eq!(s.call(__NR_setgroups, &[2, BUF]), Ok(0));
    assert_eq!(s.call(__NR_getgroups, &[0, 0]), Ok(2));
    assert_eq!(
        s.call(__NR_getgroups, &[1, BUF + 0x100]),
        Err(Errno::EINVAL)
    );
    assert_eq!(s.call(__NR_getgroups, &[8, BUF + 0x100]), Ok(2));
    assert_eq!(s.space.peek(BUF + 0x100, 8), groups);
    let mut user = Setup::new(Credentials::user(5, 5));
    assert_eq!(user.call(__NR_setgroups, &[0, 0]), Err(Errno::EPERM));
}

#[test]
fn process_groups_and_sessions() {
    let mut s = Setup::new(Credentials::root());
    assert_eq!(s.call(__NR_getpgrp, &[]), Ok(1));
    assert_eq!(s.call(__NR_getpgid, &[0]), Ok(1));
    assert_eq!(s.call(__NR_getsid, &[7]), Ok(1));
    assert_eq!(s.call(__NR_setpgid, &[0, 0]), Ok(0));
    assert_eq!(s.call(__NR_getpgid, &[0]), Ok(7));
    assert_eq!(
        s.call(__NR_setsid, &[]),
        Err(Errno::EPERM),
        "a group leader cannot"
    );
    assert_eq!(s.call(__NR_setpgid, &[0, 1]), Ok(0));
    assert_eq!(s.call(__NR_setsid, &[]), Ok(7));
    assert_eq!(s.call(__NR_getsid, &[0]), Ok(7));
    assert_eq!(s.call(__NR_getpgid, &[99]), Err(Errno::ESRCH));
    assert_eq!(s.outcome(__NR_setpgid, &[12, 12]), Outcome::Kernel);
}

#[test]
fn uname_reports_linux_x86_64_and_the_container_name() {
    let mut s = Setup::new(Credentials::root());
    assert_eq!(s.call(__NR_uname, &[BUF]), Ok(0));
    assert_eq!(s.string_at(BUF), "Linux");
    assert_eq!(s.string_at(BUF + 65), "overlay");
    assert!(s.string_at(BUF + 130).starts_with("6."));
    assert_eq!(s.string_at(BUF + 4 * 65), "x86_64");
    s.process.hostname = Some("web-1".into());
    s.call(__NR_uname, &[BUF]).unwrap();
    assert_eq!(s.string_at(BUF + 65), "web-1");
    assert_eq!(s.call(__NR_uname, &[0xdead_0000]), Err(Errno::EFAULT));
}

#[test]
fn clocks_read_the_host() {
    let mut s = Setup::new(Credentials::root());
    assert_eq!(
        s.call(__NR_clock_gettime, &[CLOCK_REALTIME as u64, BUF]),
        Ok(0)
    );
    assert_eq!(s.space.peek_u64(BUF), 1_764_900_000);
    assert_eq!(s.space.peek_u64(BUF + 8), 500_000_000);
    assert_eq!(
        s.call(__NR_clock_gettime, &[CLOCK_MONOTONIC_COARSE as u64, BUF]),
        Ok(0)
    );
    assert_eq!(s.space.peek_u64(BUF), 10);
    assert_eq!(
        s.call(__NR_clock_gettime, &[CLOCK_BOOTTIME as u64, BUF]),
        Ok(0)
    );
    assert_eq!(s.call(__NR_clock_gettime, &[99, BUF]), Err(Errno::EINVAL));
    assert_eq!(
        s.call(__NR_clock_gettime, &[0, 0xdead_0000]),
        Err(Errno::EFAULT)
    );
    s.host.processes.lock().unwrap().push(summary(7, 250));
    assert_eq!(
        s.call(__NR_clock_gettime, &[CLOCK_PROCESS_CPUTIME_ID as u64, BUF]),
        Ok(0)
    );
    assert_eq!(
        (s.space.peek_u64(BUF), s.space.peek_u64(BUF + 8)),
        (2, 500_000_000)
    );
    assert_eq!(
        s.call(__NR_clock_getres, &[CLOCK_MONOTONIC as u64, BUF]),
        Ok(0)
    );
    assert_eq!(s.space.peek_u64(BUF + 8), 1);
    assert_eq!(
        s.call(__NR_clock_getres, &[CLOCK_MONOTONIC as u64, 0]),
        Ok(0)
    );
    assert_eq!(s.call(__NR_gettimeofday, &[BUF, BUF + 16]), Ok(0));
    assert_eq!(
        (s.space.peek_u64(BUF), s.space.peek_u64(BUF + 8)),
        (1_764_900_000, 500_000)
    );
    assert_eq!(s.call(__NR_time, &[BUF]), Ok(1_764_900_000));
    assert_eq!(s.space.peek_u64(BUF), 1_764_900_000);
}

fn summary(pid: u32, ticks: u64) -> ProcessSummary {
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
        ticks,
        start_ticks: 0,
        exe: "/bin/sh".into(),
        cwd: "/".into(),
        fds: vec![],
    }
}

fn write_timespec(s: &mut Setup, at: u64, secs: i64, nanos: i64) {
    use overlay_syscalls::user::UserMemory;
    s.space.write(at, &secs.to_le_bytes()).unwrap();
    s.space.write(at + 8, &nanos.to_le_bytes()).unwrap();
}

#[test]
fn nanosleep_blocks_until_the_time_has_passed() {
    let mut s = Setup::new(Credentials::root());
    write_timespec(&mut s, BUF, 1, 500_000_000);
    assert_eq!(s.outcome(__NR_nanosleep, &[BUF, 0]), Outcome::Block);
    s.host.advance(1_000_000_000);
    assert_eq!(
        s.outcome(__NR_nanosleep, &[BUF, 0]),
        Outcome::Block,
        "re-run: same deadline"
    );
    s.host.advance(500_000_000);
    assert_eq!(s.outcome(__NR_nanosleep, &[BUF, 0]), Outcome::Return(0));
    assert_eq!(s.process.sleep, None);
    // A new sleep starts a new deadline.
    assert_eq!(s.outcome(__NR_nanosleep, &[BUF, 0]), Outcome::Block);
    write_timespec(&mut s, BUF, 0, 0);
    assert_eq!(
        s.outcome(__NR_nanosleep, &[BUF, 0]),
        Outcome::Block,
        "same call, old deadline"
    );
}

#[test]
fn interrupted_sleep_reports_the_time_left() {
    let mut s = Setup::new(Credentials::root());
    write_timespec(&mut s, BUF, 5, 0);
    assert_eq!(s.outcome(__NR_nanosleep, &[BUF, BUF + 16]), Outcome::Block);
    s.host.advance(2_000_000_000);
    let result = sleep_interrupted(&mut s.process, &s.host, &mut s.space);
    assert_eq!(result, Some(Errno::EINTR.as_return()));
    assert_eq!(
        (s.space.peek_u64(BUF + 16), s.space.peek_u64(BUF + 24)),
        (3, 0)
    );
    assert_eq!(s.process.sleep, None);
    assert_eq!(
        sleep_interrupted(&mut s.process, &s.host, &mut s.space),
        None
    );
}

#[test]
fn clock_nanosleep_until_an_absolute_time() {
    let mut s = Setup::new(Credentials::root());
    write_timespec(&mut s, BUF, 11, 0);
    let args = [CLOCK_MONOTONIC as u64, TIMER_ABSTIME as u64, BUF, 0];
    assert_eq!(s.outcome(__NR_clock_nanosleep, &args), Outcome::Block);
    s.host.advance(1_000_000_000);
    assert_eq!(s.outcome(__NR_clock_nanosleep, &args), Outcome::Return(0));
    write_timespec(&mut s, BUF, 0, 2_000_000_000);
    assert_eq!(s.call(__NR_nanosleep, &[BUF, 0]), Err(Errno::EINVAL));
    write_timespec(&mut s, BUF, -1, 0);
    assert_eq!(s.call(__NR_nanosleep, &[BUF, 0]), Err(Errno::EINVAL));
    assert_eq!(
        s.call(__NR_nanosleep, &[0xdead_0000, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        s.call(__NR_clock_nanosleep, &[99, 0, BUF, 0]),
        Err(Errno::EINVAL)
    );
}

#[test]
fn getrandom_fills_the_buffer_from_the_host() {
    let mut s = Setup::new(Credentials::root());
    assert_eq!(
        s.call(__NR_getrandom, &[BUF, 8, GRND_NONBLOCK as u64]),
        Ok(8)
    );
    assert_eq!(s.space.peek(BUF, 8), (1..=8).collect::<Vec<u8>>());
    assert_eq!(s.call(__NR_getrandom, &[BUF, 8, 0x80]), Err(Errno::EINVAL));
    assert_eq!(
        s.call(__NR_getrandom, &[0xdead_0000, 8, 0]),
        Err(Errno::EFAULT)
    );
}

#[test]
fn threads_calls_glibc_tolerates_are_enosys() {
    let mut s = Setup::new(Credentials::root());
    assert_eq!(s.call(__NR_set_robust_list, &[BUF, 24]), Err(Errno::ENOSYS));
    assert_eq!(s.call(__NR_rseq, &[BUF, 32, 0, 0]), Err(Errno::ENOSYS));
}

#[test]
fn limits_have_linux_defaults_and_can_be_lowered() {
    let mut s = Setup::new(Credentials::user(1000, 100));
    assert_eq!(
        s.call(__NR_prlimit64, &[0, RLIMIT_STACK as u64, 0, BUF]),
        Ok(0)
    );
    assert_eq!(
        (s.space.peek_u64(BUF), s.space.peek_u64(BUF + 8)),
        (8 << 20, u64::MAX)
    );
    assert_eq!(s.call(__NR_getrlimit, &[RLIMIT_NOFILE as u64, BUF]), Ok(0));
    assert_eq!(s.space.peek_u64(BUF), 1024);
    write_timespec(&mut s, BUF, 256, 512);
    assert_eq!(s.call(__NR_setrlimit, &[RLIMIT_NOFILE as u64, BUF]), Ok(0));
    assert_eq!(
        s.call(__NR_getrlimit, &[RLIMIT_NOFILE as u64, BUF + 16]),
        Ok(0)
    );
    assert_eq!(
        (s.space.peek_u64(BUF + 16), s.space.peek_u64(BUF + 24)),
        (256, 512)
    );
    write_timespec(&mut s, BUF, 256, 4096);
    assert_eq!(
        s.call(__NR_setrlimit, &[RLIMIT_NOFILE as u64, BUF]),
        Err(Errno::EPERM)
    );
    write_timespec(&mut s, BUF, 600, 512);
    assert_eq!(
        s.call(__NR_setrlimit, &[RLIMIT_NOFILE as u64, BUF]),
        Err(Errno::EINVAL)
    );
    assert_eq!(s.call(__NR_getrlimit, &[99, BUF]), Err(Errno::EINVAL));
    assert_eq!(s.call(__NR_prlimit64, &[55, 0, 0, BUF]), Err(Errno::ESRCH));
}

#[test]
fn usage_and_system_figures() {
    let mut s = Setup::new(Credentials::root());
    s.host.processes.lock().unwrap().push(summary(7, 150));
    assert_eq!(s.call(__NR_getrusage, &[0, BUF]), Ok(0));
    assert_eq!(
        (s.space.peek_u64(BUF), s.space.peek_u64(BUF + 8)),
        (1, 500_000)
    );
    assert_eq!(s.call(__NR_getrusage, &[5, BUF]), Err(Errno::EINVAL));
    assert_eq!(
        s.call(__NR_times, &[BUF]),
        Ok(1000),
        "10 s of uptime in ticks"
    );
    assert_eq!(s.space.peek_u64(BUF), 150);
    assert_eq!(s.call(__NR_sysinfo, &[BUF]), Ok(0));
    assert_eq!(s.space.peek_u64(BUF), 10, "uptime");
    assert_eq!(s.space.peek_u64(BUF + 32), 64 << 20, "totalram");
    assert_eq!(s.call(__NR_sched_getaffinity, &[0, 128, BUF]), Ok(8));
    assert_eq!(s.space.peek_u64(BUF), 1);
    assert_eq!(
        s.call(__NR_sched_getaffinity, &[0, 4, BUF]),
        Err(Errno::EINVAL)
    );
}
