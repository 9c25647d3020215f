//! What the user boundary costs: `fork` + `execve` + `exit` + `wait4` of `busybox true`, a
//! system call that does nothing (`getpid`), and `stat` of a cached path through the
//! system-call layer against the same `stat` made inside the kernel, in TSC cycles per
//! operation. No goals are set for these: the figures are printed, not checked.
//!
//! # How the figures are taken
//! Each workload is a tiny static program (see [`super::program`]) run in a fresh container
//! of the BusyBox image. The program times itself: it reads the time-stamp counter (user mode
//! may: CR4.TSD is clear) before and after a loop of `count` operations, writes the 8-byte
//! difference to its standard output (captured), and does that [`RUNS`] times in one
//! process. The kernel drops the first run (the warm-up: the path cache filled, the pages
//! touched) and takes the median of the rest, divided by `count`.
//!
//! Timing inside the program rather than around `process::launch` leaves out what starting
//! and ending the container's first process costs (its root, `/proc`, `/dev`, loading the
//! program), which would otherwise have to be measured apart and subtracted; the loop's own
//! instructions (a decrement and a jump per operation, two counter reads per run) are noise
//! next to a system call. Timer interrupts that land in a loop are counted, as they would be
//! on any system.
//!
//! The in-kernel `stat` goes through `overlay_core::posix::Namespace` on the same
//! container, warm, timed the same way, twice: on a root built as the program's is (the union
//! under `/proc` and `/dev` mounts; empty tmpfs stand in for the mounted filesystems, whose
//! contents a lookup of `/bin/busybox` never reaches), which the ratio compares with, and on
//! the union alone.

use alloc::{format, string::String, sync::Arc, vec::Vec};

use linux_raw_sys::general::{
    __NR_execve, __NR_exit, __NR_fork, __NR_getpid, __NR_stat, __NR_wait4, __NR_write,
};
use overlay_core::containers::ContainerManager;
use overlay_core::posix::Namespace;
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::vfs::{Credentials, FileSystem, OpenFlags};
use overlay_syscalls::mounts::ContainerRoot;

use super::{cycles, ratio};
use crate::println;
use crate::process::{self, Capture, Launch, LaunchStdio, RunLimits};
use crate::rootfs;
use crate::tiny_program::{self as program, Arg, Asm, Cond, Kept, Label};

/// The image the programs run in.
const IMAGE: &str = "busybox";
/// The program BusyBox is, and the path every `stat` asks about.
const BUSYBOX: &str = "/bin/busybox";
/// Timed runs of each workload, the first of which is the warm-up.
const RUNS: u32 = 16;
/// `fork` + `execve` + `exit` + `wait4` cycles per run.
const SPAWNS: u32 = 20;
/// `getpid` calls per run.
const GETPIDS: u32 = 20_000;
/// `stat` calls per run (through the system-call layer and inside the kernel alike).
const STATS: u32 = 5_000;
/// How long one program may run (wall clock).
const LIMIT_SECONDS: u64 = 600;

/// The exit status of a program whose child did not exit 0.
const CHILD_FAILED: u32 = 255;
/// The exit status of a child whose `execve` failed (as a shell reports it).
const EXEC_FAILED: u32 = 127;
/// Stack bytes a program reserves: the `stat` buffer, or the wait status and `argv`.
const SCRATCH: u32 = 256;

/// Runs the workloads and prints their table.
pub fn run() -> Result<(), String> {
    let manager = rootfs::manager().ok_or("user boundary: no images were loaded")?;
    if !manager.with_store(|store| store.image(IMAGE).is_some()) {
        println!("bench: user boundary: skipped, no `{IMAGE}` image (`make deps` fetches it)");
        return Ok(());
    }
    let spawn = per_op(manager, "spawn", &spawn_program(), SPAWNS)?;
    let getpid = per_op(manager, "getpid", &getpid_program(), GETPIDS)?;
    let (container, syscall_stat) = timed_program(manager, "stat", &stat_program(), STATS)?;
    let union = container_union(manager, &container)?;
    let mounted = ContainerRoot::new(union.clone())
        .mount("proc", TmpFs::new(TmpFsOptions::default()))
        .mount("dev", TmpFs::new(TmpFsOptions::default()));
    let mounted_stat = kernel_stat(Arc::new(mounted))?;
    let union_stat = kernel_stat(union)?;
    let _ = manager.remove_container(&container);

    println!(
        "bench: the user boundary, TSC cycles per operation (median of {} runs after a \
         warm-up; no goals, figures only):",
        RUNS - 1
    );
    println!("bench:   {:<52} {:>12}", "WORKLOAD", "CYCLES/OP");
    let rows = [
        ("fork + execve + exit + wait4 of `busybox true`", spawn),
        ("getpid (a system call that does nothing)", getpid),
        ("stat /bin/busybox, system call (cached path)", syscall_stat),
        (
            "stat /bin/busybox, in the kernel, container root",
            mounted_stat,
        ),
        ("stat /bin/busybox, in the kernel, union alone", union_stat),
    ];
    for (name, cycles) in rows {
        println!("bench:   {name:<52} {cycles:>12}");
    }
    println!(
        "bench:   stat, system call / in the kernel on the container root: {} (what the user \
         boundary costs)",
        ratio(syscall_stat, mounted_stat)
    );
    println!(
        "bench:   under QEMU's TCG these are emulated cycles: only ratios within one run \
         mean much"
    );
    Ok(())
}

/// Runs `code` with [`timed_program`] and removes its container: cycles per operation.
fn per_op(manager: &ContainerManager, what: &str, code: &[u8], count: u32) -> Result<u64, String> {
    let (container, cycles) = timed_program(manager, what, code, count)?;
    let _ = manager.remove_container(&container);
    Ok(cycles)
}

/// Runs the timing program `code` (which does `count` operations a run, [`RUNS`] runs) as
/// `/tmp/bench` in a fresh container: the container's name and the median cycles per
/// operation.
fn timed_program(
    manager: &ContainerManager,
    what: &str,
    code: &[u8],
    count: u32,
) -> Result<(String, u64), String> {
    let container = format!("bench-{what}");
    manager
        .run(IMAGE, &container)
        .map_err(|errno| format!("{what}: container: {errno}"))?;
    put_program(manager, &container, "/tmp/bench", &program::elf(code))?;
    let stdout = Capture::new();
    let stderr = Capture::new();
    let launch = Launch {
        container: &container,
        command: alloc::vec![String::from("/tmp/bench")],
        env: None,
        stdio: LaunchStdio::Captured {
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        },
        limits: RunLimits {
            max_ticks: Some(LIMIT_SECONDS * process::TICKS_PER_SECOND),
        },
    };
    let report = process::launch(manager, &launch).map_err(|why| format!("{what}: {why}"))?;
    let status = report.shell_status();
    if report.timed_out || status != 0 {
        return Err(format!(
            "{what}: the program ended with status {status} (timed out: {}; an errno, or \
             {CHILD_FAILED} for a child that failed); stderr {:?}",
            report.timed_out,
            String::from_utf8_lossy(&stderr.bytes())
        ));
    }
    let bytes = stdout.bytes();
    if bytes.len() != RUNS as usize * 8 {
        return Err(format!(
            "{what}: the program wrote {} bytes, not {} timings",
            bytes.len(),
            RUNS
        ));
    }
    let runs: Vec<u64> = bytes
        .chunks_exact(8)
        .skip(1)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            u64::from_le_bytes(word)
        })
        .collect();
    Ok((container, median(runs) / u64::from(count.max(1))))
}

/// The middle value (the upper one of an even count); 0 for none.
fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// Writes `bytes` as the executable file `path` of `container`.
fn put_program(
    manager: &ContainerManager,
    container: &str,
    path: &str,
    bytes: &[u8],
) -> Result<(), String> {
    let namespace = container_namespace(manager, container)?;
    let root = Credentials::root();
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
    let mut file = namespace
        .open(&root, path, flags, 0o755)
        .map_err(|errno| format!("create {path}: {errno}"))?;
    file.write_all(bytes)
        .map_err(|errno| format!("write {path}: {errno}"))?;
    namespace
        .chmod(&root, path, 0o755)
        .map_err(|errno| format!("chmod {path}: {errno}"))
}

/// The union of `container`.
fn container_union(
    manager: &ContainerManager,
    container: &str,
) -> Result<Arc<dyn FileSystem>, String> {
    let union = manager
        .container(container)
        .map_err(|errno| format!("container {container}: {errno}"))?;
    Ok(union)
}

fn container_namespace(manager: &ContainerManager, container: &str) -> Result<Namespace, String> {
    Ok(Namespace::with_filesystem(container_union(
        manager, container,
    )?))
}

/// `stat` of [`BUSYBOX`] inside the kernel through a `Namespace` on `root`, timed as the
/// programs time themselves: [`RUNS`] runs of [`STATS`] calls, the first a warm-up; the
/// median cycles per call.
fn kernel_stat(root: Arc<dyn FileSystem>) -> Result<u64, String> {
    let namespace = Namespace::with_filesystem(root);
    let creds = Credentials::root();
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let start = cycles();
        for _ in 0..STATS {
            let metadata = namespace
                .stat(&creds, BUSYBOX)
                .map_err(|errno| format!("in-kernel stat {BUSYBOX}: {errno}"))?;
            core::hint::black_box(metadata);
        }
        runs.push(cycles() - start);
    }
    runs.remove(0);
    Ok(median(runs) / u64::from(STATS))
}

/// The frame of every timing program, around code already started in `asm` (labels made
/// for its data): reserve [`SCRATCH`] stack bytes, then [`RUNS`] times read the counter, do
/// `body` `count` times, read the counter again and write the difference (8 bytes) to
/// standard output; then `exit(0)`, followed by what `tail` emits (code out of the loop, data).
/// `body` may jump to the label it is given with a failed call's negative errno in `rax`:
/// the program then exits with that errno.
fn timing_program(
    mut asm: Asm,
    count: u32,
    body: impl FnOnce(&mut Asm, Label),
    tail: impl FnOnce(&mut Asm),
) -> Vec<u8> {
    let (outer, inner, timed, failed) = (asm.label(), asm.label(), asm.label(), asm.label());
    asm.reserve_stack(SCRATCH);
    asm.mov_kept(Kept::R15, RUNS);
    asm.bind(outer);
    asm.rdtsc();
    asm.mov_kept_rax(Kept::R14);
    asm.mov_kept(Kept::R13, count);
    asm.test_kept(Kept::R13);
    asm.jump_if(Cond::Zero, timed);
    asm.bind(inner);
    body(&mut asm, failed);
    asm.dec_kept(Kept::R13);
    asm.jump_if(Cond::NotZero, inner);
    asm.bind(timed);
    asm.rdtsc();
    asm.sub_rax_kept(Kept::R14);
    // write(1, the difference pushed on the stack, 8)
    asm.push_rax();
    asm.mov_arg(Arg::Rdi, 1);
    asm.mov_rsi_rsp();
    asm.mov_arg(Arg::Rdx, 8);
    asm.mov_arg(Arg::Rax, __NR_write);
    asm.syscall();
    asm.test_rax();
    asm.jump_if(Cond::Negative, failed);
    asm.pop_rax();
    asm.dec_kept(Kept::R15);
    asm.jump_if(Cond::NotZero, outer);
    asm.mov_arg(Arg::Rdi, 0);
    asm.mov_arg(Arg::Rax, __NR_exit);
    asm.syscall();
    asm.bind(failed);
    asm.errno_to_rdi();
    asm.mov_arg(Arg::Rax, __NR_exit);
    asm.syscall();
    tail(&mut asm);
    // Every label of these programs is bound: an unbound one would be a bug here, and the
    // empty program it gives fails to load, which the run reports.
    asm.finish().unwrap_or_default()
}

/// A call that does nothing, [`GETPIDS`] times a run.
fn getpid_program() -> Vec<u8> {
    let body = |asm: &mut Asm, failed: Label| {
        asm.mov_arg(Arg::Rax, __NR_getpid);
        asm.syscall();
        asm.test_rax();
        asm.jump_if(Cond::Negative, failed);
    };
    timing_program(Asm::new(), GETPIDS, body, |_| {})
}

/// `stat("/bin/busybox", buf)` into the stack, [`STATS`] times a run.
fn stat_program() -> Vec<u8> {
    let mut asm = Asm::new();
    let path = asm.label();
    let body = |asm: &mut Asm, failed: Label| {
        asm.lea(Arg::Rdi, path);
        asm.mov_rsi_rsp();
        asm.mov_arg(Arg::Rax, __NR_stat);
        asm.syscall();
        asm.test_rax();
        asm.jump_if(Cond::NotZero, failed);
    };
    let tail = |asm: &mut Asm| {
        asm.bind(path);
        asm.data(BUSYBOX.as_bytes());
        asm.data(&[0]);
    };
    timing_program(asm, STATS, body, tail)
}

/// [`SPAWNS`] times a run: `fork()`; the child runs `execve("/bin/busybox", ["true"], [])`
/// (BusyBox runs the applet `argv[0]` names); the parent waits with `wait4(-1, &status, 0,
/// NULL)` and checks that the child exited 0.
fn spawn_program() -> Vec<u8> {
    let mut asm = Asm::new();
    let (child, child_failed, path, applet) = (asm.label(), asm.label(), asm.label(), asm.label());
    let body = |asm: &mut Asm, failed: Label| {
        asm.mov_arg(Arg::Rax, __NR_fork);
        asm.syscall();
        asm.test_rax();
        asm.jump_if(Cond::Negative, failed);
        asm.jump_if(Cond::Zero, child);
        // wait4(-1, rsp, 0, NULL)
        asm.mov_arg(Arg::Rdi, u32::MAX);
        asm.mov_rsi_rsp();
        asm.mov_arg(Arg::Rdx, 0);
        asm.zero_r10();
        asm.mov_arg(Arg::Rax, __NR_wait4);
        asm.syscall();
        asm.test_rax();
        asm.jump_if(Cond::Negative, failed);
        asm.cmp_stack_zero();
        asm.jump_if(Cond::NotZero, child_failed);
    };
    let tail = |asm: &mut Asm| {
        // The child: argv = [applet, NULL] at rsp + 8, envp = [NULL] at rsp + 16.
        asm.bind(child);
        asm.lea(Arg::Rax, applet);
        asm.store_rax(8);
        asm.store_zero(16);
        asm.lea(Arg::Rdi, path);
        asm.lea_stack(Arg::Rsi, 8);
        asm.lea_stack(Arg::Rdx, 16);
        asm.mov_arg(Arg::Rax, __NR_execve);
        asm.syscall();
        asm.mov_arg(Arg::Rdi, EXEC_FAILED);
        asm.mov_arg(Arg::Rax, __NR_exit);
        asm.syscall();
        asm.bind(child_failed);
        asm.mov_arg(Arg::Rdi, CHILD_FAILED);
        asm.mov_arg(Arg::Rax, __NR_exit);
        asm.syscall();
        asm.bind(path);
        asm.data(BUSYBOX.as_bytes());
        asm.data(&[0]);
        asm.bind(applet);
        asm.data(b"true\0");
    };
    timing_program(asm, SPAWNS, body, tail)
}
