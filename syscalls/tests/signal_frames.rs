//! Signal delivery to a handler and back: the frame on the user stack, the handler's
//! registers, and `rt_sigreturn` restoring what was interrupted.

mod vm_support;

use linux_raw_sys::general::*;
use overlay_syscalls::regs::Registers;
use overlay_syscalls::signal::{bit, SigAction, SigInfo, SignalState, FXSAVE_BYTES};
use overlay_syscalls::user::UserMemory;
use overlay_syscalls::vm::{AddressSpace, Prot};
use overlay_syscalls::Errno;
use vm_support::*;

const STACK_LOW: u64 = 0x7000_0000;
const STACK_HIGH: u64 = 0x7001_0000;

fn stack_space() -> FakeSpace {
    let mut space = FakeSpace::new();
    space
        .map(STACK_LOW, STACK_HIGH - STACK_LOW, Prot::READ | Prot::WRITE)
        .unwrap();
    space
}

fn interrupted() -> Registers {
    Registers {
        rax: 1,
        rbx: 2,
        rcx: 3,
        rdx: 4,
        rsi: 5,
        rdi: 6,
        rbp: 7,
        rsp: STACK_HIGH - 0x1003,
        r8: 8,
        r9: 9,
        r10: 10,
        r11: 11,
        r12: 12,
        r13: 13,
        r14: 14,
        r15: 15,
        rip: 0x40_1234,
        rflags: 0x246,
        fs_base: 0x5000,
    }
}

fn handler_action(flags: u32) -> SigAction {
    SigAction {
        handler: 0x40_2000,
        flags: u64::from(flags | SA_RESTORER),
        restorer: 0x40_3000,
        mask: bit(SIGUSR2),
    }
}

#[test]
fn handler_starts_with_signal_siginfo_and_ucontext_in_its_arguments() {
    let mut space = stack_space();
    let mut signals = SignalState::new();
    signals.set_mask(bit(SIGHUP));
    let action = handler_action(SA_SIGINFO);
    let regs = interrupted();
    let info = SigInfo::from_process(SIGUSR1, 42, 1000);
    let handler = signals
        .deliver(&regs, &info, &action, &mut space, None)
        .unwrap();
    assert_eq!(handler.rip, 0x40_2000);
    assert_eq!(handler.rdi, u64::from(SIGUSR1));
    assert_eq!(handler.rax, 0);
    assert_eq!((handler.rsp + 8) % 16, 0, "as just after a call");
    assert!(handler.rsp + 440 <= regs.rsp - 128, "below the red zone");
    assert_eq!(
        space.peek_u64(handler.rsp),
        0x40_3000,
        "returns into sa_restorer"
    );
    // siginfo: signo, errno, code, then the sender's pid and uid.
    let info_bytes = space.peek(handler.rsi, 24);
    assert_eq!(&info_bytes[0..4], &(SIGUSR1 as i32).to_le_bytes());
    assert_eq!(&info_bytes[8..12], &(SI_USER as i32).to_le_bytes());
    assert_eq!(&info_bytes[16..20], &42u32.to_le_bytes());
    assert_eq!(&info_bytes[20..24], &1000u32.to_le_bytes());
    // ucontext: the saved rip in uc_mcontext, the mask before delivery in uc_sigmask.
    assert_eq!(space.peek_u64(handler.rdx + 40 + 16 * 8), 0x40_1234);
    assert_eq!(space.peek_u64(handler.rdx + 296), bit(SIGHUP));
    assert_eq!(
        handler.rsi,
        handler.rsp + 8 + 304,
        "siginfo follows the ucontext"
    );
    assert_eq!(handler.rdx, handler.rsp + 8);
}

#[test]
fn handler_runs_with_its_mask_and_the_signal_blocked() {
    let mut space = stack_space();
    let mut signals = SignalState::new();
    let info = SigInfo::from_kernel(SIGUSR1);
    signals
        .deliver(&interrupted(), &info, &handler_action(0), &mut space, None)
        .unwrap();
    assert_eq!(signals.mask(), bit(SIGUSR1) | bit(SIGUSR2));
    let mut nodefer = SignalState::new();
    nodefer
        .deliver(
            &interrupted(),
            &info,
            &handler_action(SA_NODEFER),
            &mut space,
            None,
        )
        .unwrap();
    assert_eq!(nodefer.mask(), bit(SIGUSR2));
}

#[test]
fn sigreturn_gives_back_the_interrupted_registers_mask_and_fpu_state() {
    let mut space = stack_space();
    let mut signals = SignalState::new();
    signals.set_mask(bit(SIGHUP) | bit(SIGTERM));
    let regs = interrupted();
    let fpu: Vec<u8> = (0..FXSAVE_BYTES).map(|i| i as u8).collect();
    let info = SigInfo::from_kernel(SIGINT);
    let mut handler = signals
        .deliver(
            &regs,
            &info,
            &handler_action(SA_SIGINFO),
            &mut space,
            Some(&fpu),
        )
        .unwrap();
    // The handler clobbers registers, then `ret` pops the restorer address.
    handler.rbx = 0xdead;
    handler.rip = 0x40_3000;
    handler.rsp += 8;
    let restored = signals.sigreturn(&handler, &space).unwrap();
    assert_eq!(restored.regs, regs);
    assert_eq!(restored.mask, bit(SIGHUP) | bit(SIGTERM));
    assert_eq!(signals.mask(), bit(SIGHUP) | bit(SIGTERM));
    assert_eq!(restored.fpu_bytes.as_deref(), Some(fpu.as_slice()));
}

#[test]
fn sigreturn_keeps_user_flags_only_and_never_restores_kill_to_the_mask() {
    let mut space = stack_space();
    let mut signals = SignalState::new();
    let mut regs = interrupted();
    regs.rflags = 0x246 | (3 << 12); // IOPL 3: not the user's to set
    let info = SigInfo::from_kernel(SIGINT);
    let mut handler = signals
        .deliver(&regs, &info, &handler_action(0), &mut space, None)
        .unwrap();
    handler.rsp += 8;
    // The handler edits its saved mask to block SIGKILL.
    space
        .write(handler.rsp - 8 + 8 + 296, &u64::MAX.to_le_bytes())
        .unwrap();
    let restored = signals.sigreturn(&handler, &space).unwrap();
    assert_eq!(restored.regs.rflags, 0x246);
    assert_eq!(restored.mask & bit(SIGKILL), 0);
    assert_eq!(restored.mask & bit(SIGSTOP), 0);
    assert_eq!(restored.fpu_bytes, None);
}

#[test]
fn frame_on_an_unmapped_stack_is_efault() {
    let mut space = FakeSpace::new();
    let mut signals = SignalState::new();
    let info = SigInfo::from_kernel(SIGINT);
    let result = signals.deliver(&interrupted(), &info, &handler_action(0), &mut space, None);
    assert_eq!(result, Err(Errno::EFAULT));
    assert_eq!(
        signals.mask(),
        0,
        "nothing changes when the frame cannot be built"
    );
    assert_eq!(
        signals.sigreturn(&interrupted(), &space).map(|_| ()),
        Err(Errno::EFAULT)
    );
}

#[test]
fn resethand_handler_runs_once() {
    let mut space = stack_space();
    let mut process = root_process();
    let host = FakeHost::new();
    let act = 0x7000_1000;
    let mut writer = vec![0u8; 32];
    writer[0..8].copy_from_slice(&0x40_2000u64.to_le_bytes());
    writer[8..16].copy_from_slice(&u64::from(SA_RESETHAND | SA_RESTORER).to_le_bytes());
    space.write(act, &writer).unwrap();
    let sigaction = [u64::from(SIGUSR1), act, 0, 8, 0, 0];
    assert_eq!(
        call_result(
            &mut process,
            &mut space,
            &host,
            __NR_rt_sigaction,
            sigaction
        ),
        Ok(0)
    );
    let action = process.signals.action(SIGUSR1);
    assert_eq!(action.handler, 0x40_2000);
    let info = SigInfo::from_kernel(SIGUSR1);
    process
        .signals
        .deliver(&interrupted(), &info, &action, &mut space, None)
        .unwrap();
    assert_eq!(process.signals.action(SIGUSR1).handler, 0);
}

#[test]
fn handler_with_sa_onstack_runs_on_the_alternate_stack() {
    let mut space = stack_space();
    let mut process = root_process();
    let host = FakeHost::new();
    let alt = STACK_LOW;
    let ss = STACK_LOW + 0x8000;
    // stack_t: ss_sp, ss_flags, ss_size.
    let mut stack_t = vec![0u8; 24];
    stack_t[0..8].copy_from_slice(&alt.to_le_bytes());
    stack_t[16..24].copy_from_slice(&0x4000u64.to_le_bytes());
    space.write(ss, &stack_t).unwrap();
    let args = [ss, 0, 0, 0, 0, 0];
    assert_eq!(
        call_result(&mut process, &mut space, &host, __NR_sigaltstack, args),
        Ok(0)
    );
    let action = handler_action(SA_ONSTACK);
    let info = SigInfo::from_kernel(SIGSEGV);
    let handler = process
        .signals
        .deliver(&interrupted(), &info, &action, &mut space, None)
        .unwrap();
    assert!(handler.rsp > alt && handler.rsp < alt + 0x4000);
    // While on it, sigaltstack reports SS_ONSTACK and refuses a change.
    let old = STACK_LOW + 0x9000;
    let query = [0, old, 0, 0, 0, 0];
    assert_eq!(
        call_result(&mut process, &mut space, &host, __NR_sigaltstack, query),
        Ok(0)
    );
    assert_eq!(space.peek(old + 8, 4), (SS_ONSTACK as i32).to_le_bytes());
    assert_eq!(
        call_result(&mut process, &mut space, &host, __NR_sigaltstack, args),
        Err(Errno::EPERM)
    );
    // A stack smaller than MINSIGSTKSZ is refused.
    let mut small = stack_t.clone();
    small[16..24].copy_from_slice(&100u64.to_le_bytes());
    let mut fresh = root_process();
    space.write(ss, &small).unwrap();
    assert_eq!(
        call_result(&mut fresh, &mut space, &host, __NR_sigaltstack, args),
        Err(Errno::ENOMEM)
    );
}
