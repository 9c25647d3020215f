//! `docker start` for the kernel: a container's first task (the image's command) run to its
//! end, with the container's union as its root and `/proc` and `/dev` mounted over it. The
//! container itself is made by `ContainerManager::run` (`docker create`), so a caller can
//! prepare it, start it, then inspect it (`diff`, `commit`) after its program ended.

use alloc::{format, string::String, sync::Arc, vec::Vec};

use overlay_core::containers::ContainerManager;
use overlay_core::image::RuntimeConfig;
use overlay_core::vfs::{Credentials, FileSystem, OpenFlags};
use overlay_syscalls::devices::{DevFs, DevFsOptions};
use overlay_syscalls::host::Host;
use overlay_syscalls::mounts::ContainerRoot;
use overlay_syscalls::procfs::{container_mounts, HostSource, ProcFs};

use super::host::KernelHost;
use super::proc_table::ProcTable;
use super::run::{Run, RunLimits, RunReport};
use super::spawn::{first_task, ProgramSpec, Stdio};
use crate::console_tty::ConsoleTerminal;

/// What to start.
#[derive(Clone)]
pub struct Launch<'a> {
    /// The container (made by `ContainerManager::run`); its name is also its host name.
    pub container: &'a str,
    /// Arguments that replace the image's `Cmd` (`docker run IMAGE CMD...`); empty keeps it.
    pub command: Vec<String>,
    /// The whole environment, replacing the image's `Env` (`None`: the image's).
    pub env: Option<Vec<String>>,
    /// Where the standard streams go.
    pub stdio: LaunchStdio,
    /// What bounds the run.
    pub limits: RunLimits,
}

/// The standard streams of a launch.
#[derive(Clone)]
pub enum LaunchStdio {
    /// The console, as a terminal.
    Console,
    /// Kept in memory (see [`super::Capture`]).
    Captured {
        /// Standard output.
        stdout: super::Capture,
        /// Standard error.
        stderr: super::Capture,
    },
}

/// Runs the container's command to the end.
///
/// # Errors
/// A one-line reason when there is no such container or its program cannot start.
pub fn launch(manager: &ContainerManager, launch: &Launch<'_>) -> Result<RunReport, String> {
    let info = manager
        .containers()
        .into_iter()
        .find(|info| info.name == launch.container)
        .ok_or_else(|| format!("no container {}", launch.container))?;
    let config = manager
        .with_store(|store| store.image(&info.image).map(|image| image.config.clone()))
        .ok_or_else(|| format!("no image {}", info.image))?;
    let union = info.union;
    let lowers: Vec<String> = union
        .lowers()
        .iter()
        .map(|layer| String::from(layer.label()))
        .collect();
    let lower_names: Vec<&str> = lowers.iter().map(String::as_str).collect();
    let union: Arc<dyn FileSystem> = union;

    let console = ConsoleTerminal::new();
    let table = ProcTable::new();
    let mut host = KernelHost {
        terminal: None,
        proc_table: Some(table.clone()),
    };
    let stdio = match &launch.stdio {
        LaunchStdio::Console => {
            host.terminal = Some(console.clone());
            let flags = linux_raw_sys::general::O_RDWR;
            Stdio::Terminal(console.terminal().open(flags))
        }
        LaunchStdio::Captured { stdout, stderr } => Stdio::Captured {
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        },
    };
    let random_host = host.clone();
    let random = Arc::new(move |buf: &mut [u8]| random_host.random(buf));
    let dev = DevFs::new(console.terminal().clone(), random, DevFsOptions::default());
    let current = table.clone();
    let source = HostSource::new(
        Arc::new(host.clone()),
        container_mounts(&lower_names, "upper", "work"),
    )
    .following(Arc::new(move || current.current()));
    let proc = ProcFs::new(Arc::new(source), 1);
    let root: Arc<dyn FileSystem> = ContainerRoot::container(union, proc, dev);

    let mut spec = program_spec(&config, &launch.command, &root)?;
    if let Some(env) = &launch.env {
        spec.env = env.clone();
    }
    let mut task = first_task(root, &spec, &stdio)?;
    task.process.hostname = Some(String::from(launch.container));
    if let Stdio::Terminal(_) = stdio {
        // The first task leads the console's session and is its foreground group, as a
        // container started with `docker run -it` is.
        console.terminal().set_session(task.process.sid);
        console.terminal().set_foreground(task.process.pgid);
    }
    table.refresh(&task);
    let mut run = Run::new(task, host);
    Ok(run.run(launch.limits))
}

/// The first task's program from the image's config: `Entrypoint` + (`command`, or `Cmd`),
/// `Env`, `WorkingDir`, `User`.
fn program_spec(
    config: &RuntimeConfig,
    command: &[String],
    root: &Arc<dyn FileSystem>,
) -> Result<ProgramSpec, String> {
    let mut argv = config.entrypoint.clone();
    if command.is_empty() {
        argv.extend(config.cmd.iter().cloned());
    } else {
        argv.extend(command.iter().cloned());
    }
    if argv.is_empty() {
        return Err(String::from(
            "the image has no Entrypoint or Cmd, and no command was given",
        ));
    }
    let mut env = config.env.clone();
    if !env.iter().any(|var| var.starts_with("PATH=")) {
        env.push(String::from(
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ));
    }
    if !env.iter().any(|var| var.starts_with("HOME=")) {
        env.push(String::from("HOME=/root"));
    }
    let (uid, gid) = match config.user.as_deref() {
        None | Some("") => (0, 0),
        Some(user) => resolve_user(user, root)?,
    };
    Ok(ProgramSpec {
        argv,
        env,
        working_dir: config
            .working_dir
            .clone()
            .filter(|dir| !dir.is_empty())
            .unwrap_or_else(|| String::from("/")),
        uid,
        gid,
    })
}

/// `User` as Docker reads it: `uid`, `uid:gid`, `name` or `name:group`, names looked up in
/// the image's `/etc/passwd` and `/etc/group`.
fn resolve_user(user: &str, root: &Arc<dyn FileSystem>) -> Result<(u32, u32), String> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (user, None),
    };
    let passwd = read_etc(root, "/etc/passwd");
    let (uid, default_gid) = match user_part.parse::<u32>() {
        Ok(uid) => (
            uid,
            passwd_entry(&passwd, |fields| fields[2] == user_part)
                .unwrap_or((uid, 0))
                .1,
        ),
        Err(_) => passwd_entry(&passwd, |fields| fields[0] == user_part)
            .ok_or_else(|| format!("user {user_part}: no such user in /etc/passwd"))?,
    };
    let gid = match group_part {
        None => default_gid,
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let groups = read_etc(root, "/etc/group");
                groups
                    .lines()
                    .map(|line| line.split(':').collect::<Vec<_>>())
                    .find(|fields| fields.len() >= 3 && fields[0] == group)
                    .and_then(|fields| fields[2].parse().ok())
                    .ok_or_else(|| format!("group {group}: no such group in /etc/group"))?
            }
        },
    };
    Ok((uid, gid))
}

/// The uid and gid of the first `/etc/passwd` line whose fields `matches`.
fn passwd_entry(passwd: &str, matches: impl Fn(&[&str]) -> bool) -> Option<(u32, u32)> {
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .filter(|fields| fields.len() >= 4)
        .find(|fields| matches(fields))
        .and_then(|fields| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
}

/// The text of a small file of the container (empty if it cannot be read).
fn read_etc(root: &Arc<dyn FileSystem>, path: &str) -> String {
    let namespace = overlay_core::posix::Namespace::with_filesystem(root.clone());
    let Ok(mut file) = namespace.open(&Credentials::root(), path, OpenFlags::READ, 0) else {
        return String::new();
    };
    let mut text = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(read) = file.read(&mut buf) {
        if read == 0 || text.len() > 1 << 20 {
            break;
        }
        text.extend_from_slice(&buf[..read]);
    }
    String::from_utf8_lossy(&text).into_owned()
}
