//! A process's signal state: actions, mask, pending signals, what is delivered and how, what
//! `execve` and `fork` keep, and the wait statuses.

mod vm_support;

use linux_raw_sys::general::*;
use overlay_syscalls::dispatch::Outcome;
use overlay_syscalls::regs::Registers;
use overlay_syscalls::signal::{
    bit, exit_status, interrupted_call, killed_status, Disposition, SigAction, SigInfo,
    SignalState, SIG_IGN,
};
use overlay_syscalls::user::UserMemory;
use overlay_syscalls::vm::{AddressSpace, Prot};
use overlay_syscalls::Errno;
use vm_support::*;

const BUF: u64 = 0x10_0000;

fn setup() -> (overlay_syscalls::process::Process, FakeSpace, FakeHost) {
    let mut space = FakeSpace::new();
    space.map(BUF, 0x1000, Prot::READ | Prot::WRITE).unwrap();
    (root_process(), space, FakeHost::new())
}

fn write_action(space: &mut FakeSpace, at: u64, handler: u64, flags: u32, mask: u64) {
    let mut bytes = vec![0u8; 32];
    bytes[0..8].copy_from_slice(&handler.to_le_bytes());
    bytes[8..16].copy_from_slice(&u64::from(flags).to_le_bytes());
    bytes[16..24].copy_from_slice(&0x40_3000u64.to_le_bytes());
    bytes[24..32].copy_from_slice(&mask.to_le_bytes());
    space.write(at, &bytes).unwrap();
}

#[test]
fn sigaction_installs_and_reports_the_old_action() {
    let (mut process, mut space, host) = setup();
    write_action(
        &mut space,
        BUF,
        0x40_2000,
        SA_RESTORER | SA_RESTART,
        bit(SIGINT) | bit(SIGKILL),
    );
    let args = [u64::from(SIGTERM), BUF, BUF + 0x100, 8, 0, 0];
    assert_eq!(
        call_result(&mut process, &mut space, &host, __NR_rt_sigaction, args),
        Ok(0)
    );
    assert_eq!(
        space.peek_u64(BUF + 0x100),
        0,
        "the old action was the default"
    );
    let action = process.signals.action(SIGTERM);
    assert_eq!(action.handler, 0x40_2000);
    assert_eq!(action.restorer, 0x40_3000);
    assert_eq!(
        action.mask,
        bit(SIGINT),
        "SIGKILL is never in a handler's mask"
    );
    let query = [u64::from(SIGTERM), 0, BUF + 0x200, 8, 0, 0];
    assert_eq!(
        call_result(&mut process, &mut space, &host, __NR_rt_sigaction, query),
        Ok(0)
    );
    assert_eq!(space.peek_u64(BUF + 0x200), 0x40_2000);
    assert_eq!(
        space.peek_u64(BUF + 0x208),
        u64::from(SA_RESTORER | SA_RESTART)
    );
    assert_eq!(space.peek_u64(BUF + 0x210), 0x40_3000);
    assert_eq!(space.peek_u64(BUF + 0x218), bit(SIGINT));
}

#[test]
fn sigaction_refuses_kill_stop_bad_numbers_and_sizes() {
    let (mut process, mut space, host) = setup();
    write_action(&mut space, BUF, SIG_IGN, 0, 0);
    let mut run =
        |args: [u64; 6]| call_result(&mut process, &mut space, &host, __NR_rt_sigaction, args);
    assert_eq!(
        run([u64::from(SIGKILL), BUF, 0, 8, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        run([u64::from(SIGSTOP), BUF, 0, 8, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        run([u64::from(SIGKILL), 0, BUF + 0x100, 8, 0, 0]),
        Ok(0),
        "reading is fine"
    );
    assert_eq!(run([0, BUF, 0, 8, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(run([65, BUF, 0, 8, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(
        run([u64::from(SIGINT), BUF, 0, 16, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        run([u64::from(SIGINT), 0xdead_0000, 0, 8, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        run([u64::from(SIGINT), BUF, 0xdead_0000, 8, 0, 0]),
        Err(Errno::EFAULT)
    );
}

#[test]
fn sigprocmask_blocks_unblocks_and_sets_but_never_blocks_kill() {
    let (mut process, mut space, host) = setup();
    let mut mask = |space: &mut FakeSpace, how: u32, set: u64| {
        space.write(BUF, &set.to_le_bytes()).unwrap();
        let args = [u64::from(how), BUF, BUF + 8, 8, 0, 0];
        call_result(&mut process, space, &host, __NR_rt_sigprocmask, args)
    };
    assert_eq!(
        mask(&mut space, SIG_BLOCK, bit(SIGINT) | bit(SIGKILL)),
        Ok(0)
    );
    assert_eq!(space.peek_u64(BUF + 8), 0, "the old mask");
    assert_eq!(mask(&mut space, SIG_BLOCK, bit(SIGTERM)), Ok(0));
    assert_eq!(space.peek_u64(BUF + 8), bit(SIGINT));
    assert_eq!(mask(&mut space, SIG_UNBLOCK, bit(SIGINT)), Ok(0));
    assert_eq!(mask(&mut space, SIG_SETMASK, bit(SIGHUP)), Ok(0));
    assert_eq!(space.peek_u64(BUF + 8), bit(SIGTERM));
    assert_eq!(mask(&mut space, 7, 0), Err(Errno::EINVAL));
    let wrong_size = [0, BUF, 0, 4, 0, 0];
    assert_eq!(
        call_result(
            &mut process,
            &mut space,
            &host,
            __NR_rt_sigprocmask,
            wrong_size
        ),
        Err(Errno::EINVAL)
    );
    assert_eq!(process.signals.mask(), bit(SIGHUP));
}

#[test]
fn blocked_signal_waits_until_unblocked() {
    let mut signals = SignalState::new();
    signals.set_mask(bit(SIGUSR1));
    signals.send(SigInfo::from_process(SIGUSR1, 3, 0));
    assert_eq!(signals.next_deliverable(), None);
    assert_eq!(signals.pending(), bit(SIGUSR1));
    signals.set_mask(0);
    assert_eq!(signals.next_deliverable(), Some(SIGUSR1));
    let (info, disposition) = signals.take_deliverable().unwrap();
    assert_eq!(info, SigInfo::from_process(SIGUSR1, 3, 0));
    assert_eq!(disposition, Disposition::Terminate { core: false });
    assert_eq!(signals.pending(), 0);
}

#[test]
fn lowest_signal_is_delivered_first() {
    let mut signals = SignalState::new();
    signals.send_signal(SIGTERM);
    signals.send_signal(SIGINT);
    assert_eq!(signals.take_deliverable().unwrap().0.signo, SIGINT);
    assert_eq!(signals.take_deliverable().unwrap().0.signo, SIGTERM);
    assert_eq!(signals.take_deliverable(), None);
}

#[test]
fn default_actions_are_linux_s_with_stops_ignored() {
    let signals = SignalState::new();
    assert_eq!(
        signals.disposition(SIGSEGV),
        Disposition::Terminate { core: true }
    );
    assert_eq!(
        signals.disposition(SIGQUIT),
        Disposition::Terminate { core: true }
    );
    assert_eq!(
        signals.disposition(SIGINT),
        Disposition::Terminate { core: false }
    );
    assert_eq!(
        signals.disposition(SIGPIPE),
        Disposition::Terminate { core: false }
    );
    assert_eq!(
        signals.disposition(SIGRTMIN + 1),
        Disposition::Terminate { core: false }
    );
    assert_eq!(signals.disposition(SIGCHLD), Disposition::Ignore);
    assert_eq!(signals.disposition(SIGWINCH), Disposition::Ignore);
    assert_eq!(signals.disposition(SIGTSTP), Disposition::Ignore);
}

#[test]
fn ignored_signals_are_dropped_and_ignoring_discards_a_pending_one() {
    let (mut process, mut space, host) = setup();
    process.signals.send_signal(SIGCHLD);
    assert_eq!(
        process.signals.pending(),
        0,
        "SIGCHLD is ignored by default"
    );
    process.signals.set_mask(bit(SIGINT));
    process.signals.send_signal(SIGINT);
    write_action(&mut space, BUF, SIG_IGN, 0, 0);
    let args = [u64::from(SIGINT), BUF, 0, 8, 0, 0];
    call_result(&mut process, &mut space, &host, __NR_rt_sigaction, args).unwrap();
    assert_eq!(process.signals.pending(), 0);
}

#[test]
fn exec_resets_handlers_but_keeps_ignored_signals_and_the_mask() {
    let mut signals = SignalState::new();
    let (mut process, mut space, host) = setup();
    write_action(&mut space, BUF, 0x40_2000, SA_RESTORER, 0);
    call_result(
        &mut process,
        &mut space,
        &host,
        __NR_rt_sigaction,
        [u64::from(SIGINT), BUF, 0, 8, 0, 0],
    )
    .unwrap();
    write_action(&mut space, BUF, SIG_IGN, 0, 0);
    call_result(
        &mut process,
        &mut space,
        &host,
        __NR_rt_sigaction,
        [u64::from(SIGHUP), BUF, 0, 8, 0, 0],
    )
    .unwrap();
    process.signals.set_mask(bit(SIGUSR1));
    process.signals.reset_for_exec();
    assert_eq!(process.signals.action(SIGINT), SigAction::default());
    assert_eq!(process.signals.action(SIGHUP).handler, SIG_IGN);
    assert_eq!(process.signals.mask(), bit(SIGUSR1));
    signals.send_signal(SIGUSR1);
    let mut child = signals.clone();
    child.clear_pending();
    assert_eq!(child.pending(), 0);
    assert_eq!(signals.pending(), bit(SIGUSR1));
}

#[test]
fn raise_through_tgkill_makes_the_signal_pending() {
    let (mut process, mut space, host) = setup();
    let args = [7, 7, u64::from(SIGABRT), 0, 0, 0];
    assert_eq!(
        call_result(&mut process, &mut space, &host, __NR_tgkill, args),
        Ok(0)
    );
    assert_eq!(process.signals.next_deliverable(), Some(SIGABRT));
    let other = [7, 8, u64::from(SIGABRT), 0, 0, 0];
    assert_eq!(
        call(&mut process, &mut space, &host, __NR_tgkill, other),
        Outcome::Kernel
    );
    let bad = [7, 7, 99, 0, 0, 0];
    assert_eq!(
        call_result(&mut process, &mut space, &host, __NR_tgkill, bad),
        Err(Errno::EINVAL)
    );
}

#[test]
fn sigpending_reports_blocked_pending_signals() {
    let (mut process, mut space, host) = setup();
    process.signals.set_mask(bit(SIGTERM));
    process.signals.send_signal(SIGTERM);
    assert_eq!(
        call_result(
            &mut process,
            &mut space,
            &host,
            __NR_rt_sigpending,
            [BUF, 8, 0, 0, 0, 0]
        ),
        Ok(0)
    );
    assert_eq!(space.peek_u64(BUF), bit(SIGTERM));
}

#[test]
fn wait_statuses_are_linux_s() {
    assert_eq!(exit_status(0), 0);
    assert_eq!(exit_status(3), 0x300);
    assert_eq!(exit_status(256 + 1), 0x100);
    assert_eq!(killed_status(SIGSEGV, true), 139);
    assert_eq!(killed_status(SIGKILL, false), 9);
}

#[test]
fn blocked_call_restarts_after_an_sa_restart_handler_or_returns_eintr() {
    let regs = Registers {
        rip: 0x40_1002,
        rax: 0,
        ..Registers::default()
    };
    let restart = SigAction {
        handler: 0x40_2000,
        flags: u64::from(SA_RESTART),
        ..SigAction::default()
    };
    let read = interrupted_call(&regs, u64::from(__NR_read), &restart);
    assert_eq!((read.rip, read.rax), (0x40_1000, u64::from(__NR_read)));
    let sleep = interrupted_call(&regs, u64::from(__NR_nanosleep), &restart);
    assert_eq!(
        (sleep.rip, sleep.rax),
        (0x40_1002, Errno::EINTR.as_return())
    );
    let plain = interrupted_call(&regs, u64::from(__NR_read), &SigAction::default());
    assert_eq!(plain.rax, Errno::EINTR.as_return());
}

#[test]
fn sigsuspend_waits_with_its_mask_and_the_handler_restores_the_old_one() {
    let (mut process, mut space, host) = setup();
    space
        .map(0x7000_0000, 0x10000, Prot::READ | Prot::WRITE)
        .unwrap();
    write_action(&mut space, BUF, 0x40_2000, SA_RESTORER, 0);
    let install = [u64::from(SIGUSR1), BUF, 0, 8, 0, 0];
    call_result(&mut process, &mut space, &host, __NR_rt_sigaction, install).unwrap();
    process.signals.set_mask(bit(SIGUSR1));
    space.write(BUF + 0x100, &0u64.to_le_bytes()).unwrap();
    let suspend = [BUF + 0x100, 8, 0, 0, 0, 0];
    assert_eq!(
        call(&mut process, &mut space, &host, __NR_rt_sigsuspend, suspend),
        Outcome::Block
    );
    assert_eq!(
        process.signals.mask(),
        0,
        "the suspend's mask is in place while it waits"
    );
    process.signals.send_signal(SIGCHLD);
    assert_eq!(
        call(&mut process, &mut space, &host, __NR_rt_sigsuspend, suspend),
        Outcome::Block,
        "ignored"
    );
    process.signals.send_signal(SIGUSR1);
    assert_eq!(
        call(&mut process, &mut space, &host, __NR_rt_sigsuspend, suspend),
        Outcome::Return(Errno::EINTR.as_return())
    );
    let (info, disposition) = process.signals.take_deliverable().unwrap();
    let Disposition::Handle(action) = disposition else {
        panic!("{disposition:?}")
    };
    let regs = Registers {
        rsp: 0x7000_f000,
        ..Registers::default()
    };
    let mut handler = process
        .signals
        .deliver(&regs, &info, &action, &mut space, None)
        .unwrap();
    assert_eq!(process.signals.mask(), bit(SIGUSR1));
    handler.rsp += 8;
    let restored = process.signals.sigreturn(&handler, &space).unwrap();
    assert_eq!(
        restored.mask,
        bit(SIGUSR1),
        "the mask from before the suspend"
    );
    assert_eq!(
        call(&mut process, &mut space, &host, __NR_pause, [0; 6]),
        Outcome::Block
    );
}
