//! The system calls that make, replace or end tasks, served by the kernel itself because they
//! need the task table or the CPU state: `fork`, `vfork`, `clone`, `execve`, `wait4`,
//! `exit`, `exit_group`, `kill`, `tkill`, `tgkill`, `rt_sigreturn`, `arch_prctl`,
//! `sched_yield`.

use linux_raw_sys::general as linux;
use overlay_syscalls::dispatch::Outcome;
use overlay_syscalls::exec;
use overlay_syscalls::user::{self, UserMemory};
use overlay_syscalls::{Errno, SysResult};

use super::run::Run;
use super::signals;
use super::spawn;
use super::task::{Task, TaskState};

/// `arch_prctl` codes (`asm/prctl.h`, which `linux-raw-sys` does not carry).
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;

/// Serves `number` if it is one of this module's calls.
pub fn serve(run: &mut Run, task: &mut Task, number: u64, args: [u64; 6]) -> Option<Outcome> {
    let number = u32::try_from(number).ok()?;
    let outcome = match number {
        linux::__NR_fork | linux::__NR_vfork => Outcome::of(fork(run, task, 0, 0, 0, 0)),
        linux::__NR_clone => Outcome::of(fork(run, task, args[0], args[1], args[2], args[4])),
        linux::__NR_execve => match execve(task, args) {
            // The task now runs the new program: its registers are set; nothing to return.
            Ok(()) => {
                run.generation += 1;
                Outcome::Kernel
            }
            Err(errno) => Outcome::of(Err(errno)),
        },
        linux::__NR_wait4 => wait4(run, task, args),
        linux::__NR_exit | linux::__NR_exit_group => Outcome::Exit(args[0] as u8),
        linux::__NR_kill => Outcome::of(kill(run, task, args[0] as i32, args[1])),
        linux::__NR_tkill => Outcome::of(kill(run, task, args[0] as i32, args[1])),
        linux::__NR_tgkill => Outcome::of(kill(run, task, args[1] as i32, args[2])),
        linux::__NR_rt_sigreturn => match signals::sigreturn(task) {
            Ok(()) => Outcome::Kernel,
            Err(_) => {
                // A frame that cannot be read back leaves nothing to return to: Linux
                // ends the task with SIGSEGV.
                let status = signals::killed_status_core(11);
                run.end_task(task, status);
                Outcome::Kernel
            }
        },
        linux::__NR_arch_prctl => Outcome::of(arch_prctl(task, args[0], args[1])),
        linux::__NR_sched_yield => Outcome::Return(0),
        linux::__NR_setpgid => Outcome::of(setpgid(run, task, args[0] as i32, args[1] as i32)),
        _ => return None,
    };
    Some(outcome)
}

/// `fork`, `vfork` and `clone` without `CLONE_VM`/`CLONE_THREAD`: a new task with a copy of
/// the caller's memory, descriptors (sharing their descriptions), working directory and
/// signal actions. `vfork` and `CLONE_VFORK` copy too: the parent is not suspended, which a
/// program cannot tell from a fast child. Returns the child's pid to the parent; the child
/// returns 0.
///
/// # Errors
/// `EINVAL` for `CLONE_THREAD`, `CLONE_SIGHAND` or `CLONE_VM` without `CLONE_VFORK` (threads
/// are not supported); `ENOMEM` when the memory cannot be copied; `EFAULT` for a bad
/// `parent_tid` pointer.
fn fork(
    run: &mut Run,
    parent: &mut Task,
    flags: u64,
    stack: u64,
    parent_tid: u64,
    tls: u64,
) -> SysResult<u64> {
    let flags = flags as u32;
    let threads = linux::CLONE_THREAD | linux::CLONE_SIGHAND;
    if flags & threads != 0 || (flags & linux::CLONE_VM != 0 && flags & linux::CLONE_VFORK == 0) {
        return Err(Errno::EINVAL);
    }
    let Some(parent_space) = parent.space.as_ref() else {
        return Err(Errno::ESRCH);
    };
    let mut space = parent_space.fork()?;
    run.save_fpu_of(parent);
    let pid = run.next_pid;
    let mut process = parent.process.clone();
    process.pid = pid;
    process.ppid = parent.process.pid;
    process.signals.clear_pending();
    let mut context = parent.context.clone();
    let mut regs = context.registers();
    regs.rax = 0;
    if stack != 0 {
        regs.rsp = stack;
    }
    let mut fs_base = parent.fs_base;
    if flags & linux::CLONE_SETTLS != 0 {
        fs_base = tls;
    }
    context.set_registers(&regs);
    if flags & linux::CLONE_PARENT_SETTID != 0 {
        user::write_u32(parent_space_mut(parent)?, parent_tid, pid)?;
    }
    if flags & linux::CLONE_CHILD_SETTID != 0 {
        // glibc's fork passes the child's tid slot as the fourth argument (`ctid`).
        let child_tid = regs.r10;
        user::write_u32(&mut space, child_tid, pid)?;
    }
    if flags & linux::CLONE_CHILD_CLEARTID != 0 {
        process.clear_child_tid = regs.r10;
    }
    let child = Task {
        process,
        context,
        space: Some(space),
        fpu: parent.fpu.clone(),
        fs_base,
        state: TaskState::Runnable,
        ticks: 0,
        start_ticks: crate::arch::ticks(),
    };
    run.refresh(&child);
    run.next_pid += 1;
    run.tasks_made += 1;
    run.tasks.insert(pid, child);
    Ok(u64::from(pid))
}

fn parent_space_mut(task: &mut Task) -> SysResult<&mut dyn UserMemory> {
    match task.space.as_mut() {
        Some(space) => Ok(space),
        None => Err(Errno::ESRCH),
    }
}

/// `execve(path, argv, envp)`: replaces the task's program. On success the task's registers
/// start the new program and nothing is returned to the old one.
///
/// # Errors
/// `EFAULT` for bad pointers; `E2BIG` for too many argument bytes; what resolving and
/// loading the program fails with (see [`spawn::exec`]).
fn execve(task: &mut Task, args: [u64; 6]) -> SysResult<()> {
    let space = task.space.as_ref().ok_or(Errno::ESRCH)?;
    let path = user::read_path(space, args[0])?;
    let (argv, envp) = exec::read_exec_args(space, args[1], args[2])?;
    spawn::exec(task, &path, argv, envp)
}

/// `wait4(pid, wstatus, options, rusage)`: reaps an ended child. `pid` > 0 waits for that
/// child, -1 for any, 0 for one in the caller's process group, < -1 for one in group -pid.
/// With `WNOHANG`, returns 0 if children exist but none has ended; otherwise the caller
/// waits. `rusage` is filled with zeros.
///
/// # Errors
/// `ECHILD` if no child matches; `EINVAL` for unknown options; `EFAULT` for a bad pointer.
fn wait4(run: &mut Run, task: &mut Task, args: [u64; 6]) -> Outcome {
    let wanted = args[0] as i32;
    let options = args[2] as u32;
    let known = linux::WNOHANG
        | linux::WUNTRACED
        | linux::WCONTINUED
        | linux::__WALL
        | linux::__WCLONE
        | linux::__WNOTHREAD;
    if options & !known != 0 {
        return Outcome::of(Err(Errno::EINVAL));
    }
    let me = task.process.pid;
    let my_group = task.process.pgid;
    let matches = |child: &Task| {
        child.process.ppid == me
            && match wanted {
                -1 => true,
                0 => child.process.pgid == my_group,
                pid if pid > 0 => child.process.pid == pid as u32,
                group => child.process.pgid == group.unsigned_abs(),
            }
    };
    let mut any_child = false;
    let mut ended = None;
    for child in run.tasks.values().filter(|child| matches(child)) {
        any_child = true;
        if let TaskState::Zombie { wait_status } = child.state {
            ended = Some((child.process.pid, wait_status));
            break;
        }
    }
    let Some((pid, wait_status)) = ended else {
        return if !any_child {
            Outcome::of(Err(Errno::ECHILD))
        } else if options & linux::WNOHANG != 0 {
            Outcome::Return(0)
        } else {
            Outcome::Block
        };
    };
    let Some(space) = task.space.as_mut() else {
        return Outcome::of(Err(Errno::ESRCH));
    };
    if args[1] != 0 {
        if let Err(errno) = user::write_u32(space, args[1], wait_status) {
            return Outcome::of(Err(errno));
        }
    }
    if args[3] != 0 {
        let rusage = alloc::vec![0u8; core::mem::size_of::<linux::rusage>()];
        if let Err(errno) = space.write(args[3], &rusage) {
            return Outcome::of(Err(errno));
        }
    }
    run.forget(pid);
    Outcome::Return(u64::from(pid))
}

/// `kill(pid, signal)`: to one task, the caller's group (0), every task but the first (-1)
/// or a group (< -1). Signal 0 only checks that the target exists.
///
/// # Errors
/// `EINVAL` for a signal number out of range; `ESRCH` if no task matches; `EPERM` if the
/// caller may not signal any of them (not root and not the same user).
fn kill(run: &mut Run, task: &mut Task, target: i32, signal: u64) -> SysResult<u64> {
    let signal = u32::try_from(signal).map_err(|_| Errno::EINVAL)?;
    if signal > signals::MAX_SIGNAL {
        return Err(Errno::EINVAL);
    }
    let me = task.process.pid;
    let my_group = task.process.pgid;
    let uid = task.process.creds.uid;
    let first = run.first_pid;
    let selects = |pid: u32, pgid: u32| match target {
        0 => pgid == my_group,
        -1 => pid != first,
        t if t > 0 => pid == t as u32,
        group => pgid == group.unsigned_abs(),
    };
    let mut found = false;
    let mut permitted = false;
    if selects(me, my_group) {
        found = true;
        permitted = true;
        if signal != 0 {
            signals::send(task, signal);
        }
    }
    for other in run.tasks.values_mut() {
        if other.is_zombie() || !selects(other.process.pid, other.process.pgid) {
            continue;
        }
        found = true;
        if uid != 0 && other.process.creds.uid != uid {
            continue;
        }
        permitted = true;
        if signal != 0 {
            signals::send(other, signal);
        }
    }
    match (found, permitted) {
        (false, _) => Err(Errno::ESRCH),
        (true, false) => Err(Errno::EPERM),
        (true, true) => Ok(0),
    }
}

/// `setpgid(pid, pgid)`: moves the caller (`pid` 0 or its own) or one of its children into
/// process group `pgid` (0: the process's own id), within the caller's session.
///
/// # Errors
/// `EINVAL` for a negative `pgid`; `ESRCH` if `pid` is neither the caller nor one of its
/// children; `EPERM` if the target leads a session, is in another session, or `pgid` names a
/// group of another session.
fn setpgid(run: &mut Run, task: &mut Task, pid: i32, pgid: i32) -> SysResult<u64> {
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    let me = task.process.pid;
    let session = task.process.sid;
    let target_pid = if pid == 0 { me } else { pid as u32 };
    let new_group = if pgid == 0 { target_pid } else { pgid as u32 };
    let group_ok = new_group == target_pid
        || task.process.pgid == new_group
        || run
            .tasks
            .values()
            .any(|other| other.process.pgid == new_group && other.process.sid == session);
    let target = if target_pid == me {
        &mut task.process
    } else {
        match run.tasks.get_mut(&target_pid) {
            Some(child) if child.process.ppid == me && !child.is_zombie() => &mut child.process,
            _ => return Err(Errno::ESRCH),
        }
    };
    if target.sid == target.pid || target.sid != session || !group_ok {
        return Err(Errno::EPERM);
    }
    target.pgid = new_group;
    Ok(0)
}

/// `arch_prctl`: `ARCH_SET_FS` (glibc's thread pointer) and `ARCH_GET_FS`.
///
/// # Errors
/// `EPERM` for a non-canonical or kernel-half address; `EFAULT` for a bad pointer; `EINVAL`
/// for other codes (`ARCH_SET_GS` and the CPUID controls are not supported).
fn arch_prctl(task: &mut Task, code: u64, addr: u64) -> SysResult<u64> {
    match code {
        ARCH_SET_FS => {
            if addr >= crate::user_space::USER_END {
                return Err(Errno::EPERM);
            }
            task.fs_base = addr;
            Ok(0)
        }
        ARCH_GET_FS => {
            let base = task.fs_base;
            user::write_u64(parent_space_mut(task)?, addr, base)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}
