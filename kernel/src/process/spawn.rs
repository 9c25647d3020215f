//! Starting programs: a container's first task (the image's `Entrypoint` + `Cmd`, its `Env`,
//! `WorkingDir` and `User`), and `execve`, which replaces a task's program.

use alloc::{format, string::String, sync::Arc, vec::Vec};

use overlay_core::vfs::{FileSystem, Inode};
use overlay_syscalls::exec::{self, ExecArgs, Program};
use overlay_syscalls::file::{Descriptor, FdTable, OpenFile};
use overlay_syscalls::fs::FsContext;
use overlay_syscalls::process::Process;
use overlay_syscalls::regs::Registers;
use overlay_syscalls::{Errno, SysResult};

use super::capture::{Capture, EmptyInput};
use super::task::{Task, TaskState};
use crate::arch::{FpuState, UserContext};
use crate::user_space::UserSpace;

/// Interpreter lines (`#!`) followed in one `execve`, as Linux's limit.
const MAX_INTERPRETERS: usize = 4;

/// Where a first task's standard streams go.
#[derive(Clone)]
pub enum Stdio {
    /// The console terminal: input, output and errors (an interactive or `make run` program).
    Terminal(Arc<dyn OpenFile>),
    /// Input at end of file, output and errors kept in memory (the suite's scripts).
    Captured {
        /// Standard output.
        stdout: Capture,
        /// Standard error.
        stderr: Capture,
    },
}

/// What a container's first task runs, from the image's config.
#[derive(Clone, Debug)]
pub struct ProgramSpec {
    /// `Entrypoint` followed by `Cmd` (or the command that overrides `Cmd`).
    pub argv: Vec<String>,
    /// `Env`: `NAME=value`.
    pub env: Vec<String>,
    /// `WorkingDir` (`/` if unset).
    pub working_dir: String,
    /// `User`, as uid and gid.
    pub uid: u32,
    /// See `uid`.
    pub gid: u32,
}

/// The first task of a container whose root is `root`, running `spec`.
///
/// # Errors
/// A one-line reason: the program cannot be found or loaded (with its errno).
pub fn first_task(
    root: Arc<dyn FileSystem>,
    spec: &ProgramSpec,
    stdio: &Stdio,
) -> Result<Task, String> {
    let program = spec.argv.first().ok_or("the image has no command to run")?;
    let mut fs = FsContext::new(root);
    let creds = overlay_core::vfs::Credentials::user(spec.uid, spec.gid);
    fs.chdir(&creds, &spec.working_dir)
        .map_err(|errno| format!("working directory {}: {errno}", spec.working_dir))?;
    let mut fds = FdTable::new();
    let streams: [Arc<dyn OpenFile>; 3] = match stdio {
        Stdio::Terminal(terminal) => [terminal.clone(), terminal.clone(), terminal.clone()],
        Stdio::Captured { stdout, stderr } => {
            [Arc::new(EmptyInput), stdout.writer(), stderr.writer()]
        }
    };
    for file in streams {
        fds.insert(Descriptor {
            file,
            close_on_exec: false,
        })
        .map_err(|errno| format!("standard streams: {errno}"))?;
    }
    let process = Process::new(1, creds, fs, fds);
    let mut task = Task {
        process,
        context: UserContext::default(),
        space: None,
        fpu: FpuState::new(),
        fs_base: 0,
        state: TaskState::Runnable,
        ticks: 0,
        start_ticks: crate::arch::ticks(),
    };
    let path =
        find_in_path(&task, program, &spec.env).map_err(|errno| format!("{program}: {errno}"))?;
    let argv = spec
        .argv
        .iter()
        .map(|arg| arg.clone().into_bytes())
        .collect();
    let envp = spec
        .env
        .iter()
        .map(|var| var.clone().into_bytes())
        .collect();
    exec(&mut task, &path, argv, envp).map_err(|errno| format!("{program}: {errno}"))?;
    Ok(task)
}

/// The program `name` names: itself if it holds a `/`, else the first `PATH` directory (from
/// `env`, default `/usr/local/sbin:...:/bin`) holding a file of that name, as Docker
/// resolves a command.
fn find_in_path(task: &Task, name: &str, env: &[String]) -> SysResult<String> {
    if name.contains('/') {
        return Ok(String::from(name));
    }
    let path = env
        .iter()
        .find_map(|var| var.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|dir| !dir.is_empty()) {
        let candidate = format!("{}/{name}", dir.trim_end_matches('/'));
        if task
            .process
            .fs
            .namespace()
            .lookup(&task.process.creds, &candidate, true)
            .is_ok()
        {
            return Ok(candidate);
        }
    }
    Err(Errno::ENOENT)
}

/// Replaces `task`'s program with the one at `path`, started with `argv` and `envp`. On
/// success the task's registers start the new program, its close-on-exec descriptors are
/// closed and its signal handlers reset; on failure nothing of the task changed.
///
/// # Errors
/// `ENOENT`, `ENOTDIR`, `ELOOP`, `EACCES` from resolving `path` and the execute permission;
/// `ENOEXEC` for a file that is not a static x86_64 ELF program (or a `#!` script whose
/// interpreter is one); `ENOMEM` when its memory cannot be mapped.
pub fn exec(task: &mut Task, path: &str, argv: Vec<Vec<u8>>, envp: Vec<Vec<u8>>) -> SysResult<()> {
    // Linux names the process after the path `execve` was given (a script's, not its
    // interpreter's).
    let comm = overlay_syscalls::misc::prctl::comm_of_path(path.as_bytes());
    let mut path = String::from(path);
    let mut argv = argv;
    for _ in 0..=MAX_INTERPRETERS {
        let creds = &task.process.creds;
        let inode = task.process.fs.namespace().lookup(creds, &path, true)?;
        let metadata = inode.metadata()?;
        exec::check_executable(&metadata, creds)?;
        let bytes = file_bytes(&inode, metadata.size)?;
        if let Some(script) = exec::shebang(bytes.as_slice())? {
            // `#!interp arg` runs `interp [arg] path args[1..]`, as Linux does.
            argv = script.argv(path.as_bytes(), &argv);
            path = String::from_utf8(script.interpreter).map_err(|_| Errno::ENOEXEC)?;
            continue;
        }
        load(task, &path, bytes.as_slice(), argv, envp)?;
        task.process.comm = comm;
        return Ok(());
    }
    Err(Errno::ELOOP)
}

/// Loads the ELF program in `bytes` into a fresh address space and makes it `task`'s.
fn load(
    task: &mut Task,
    path: &str,
    bytes: &[u8],
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> SysResult<()> {
    let program = Program::parse(bytes)?;
    let mut space = UserSpace::new()?;
    let mut memory = Default::default();
    let creds = &task.process.creds;
    let args = ExecArgs {
        argv: argv.clone(),
        envp,
        execfn: path.as_bytes().to_vec(),
        uid: creds.uid,
        gid: creds.gid,
        euid: creds.uid,
        egid: creds.gid,
        hwcap: crate::arch::hwcap(),
    };
    let host = super::host::KernelHost::for_exec();
    let registers: Registers = program.load(bytes, &mut space, &mut memory, &args, &host)?;
    // Nothing can fail from here on: the old program is replaced.
    let exe = exe_path(task, path);
    task.space = Some(space);
    task.process.memory = memory;
    task.process.fds.close_on_exec();
    task.process.signals.reset_for_exec();
    task.process.exe = exe;
    task.process.cmdline = argv;
    task.fs_base = 0;
    task.fpu = FpuState::new();
    task.context = UserContext::default();
    task.context.set_registers(&registers);
    Ok(())
}

/// The path `/proc/PID/exe` shows for the program at `path`: absolute, with symlinks in its
/// last component followed (`/bin/sh` -> `/bin/busybox`; `/proc/self/exe` -> the program
/// already running), as Linux shows the file itself.
fn exe_path(task: &Task, path: &str) -> String {
    let namespace = task.process.fs.namespace();
    let creds = &task.process.creds;
    let mut path = absolute(&task.process.fs.cwd_path_hint(), path);
    for _ in 0..overlay_core::path::MAX_SYMLINKS {
        let Ok(target) = namespace.readlink(creds, &path) else {
            break;
        };
        let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        path = absolute(if dir.is_empty() { "/" } else { dir }, &target);
    }
    path
}

/// `path` made absolute from `dir` and normalized: no `.`, `..` or empty components.
fn absolute(dir: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let joined = if path.starts_with('/') {
        String::from(path)
    } else {
        format!("{dir}/{path}")
    };
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The whole contents of a program file: the RAM disk's bytes themselves when the file is
/// an unchanged image-layer file, else a copy.
fn file_bytes(inode: &Arc<dyn Inode>, size: u64) -> SysResult<overlay_core::vfs::Bytes> {
    if let Some(shared) = inode.shared_data() {
        return Ok(shared);
    }
    let len = usize::try_from(size).map_err(|_| Errno::ENOMEM)?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
    bytes.resize(len, 0);
    let mut filled = 0;
    while filled < len {
        let read = inode.read_at(filled as u64, &mut bytes[filled..])?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    bytes.truncate(filled);
    Ok(overlay_core::vfs::Bytes::from_vec(bytes))
}
