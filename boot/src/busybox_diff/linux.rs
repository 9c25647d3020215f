//! The Linux side: each script run by the image's own BusyBox, chrooted into a real
//! `mount -t overlay` of the image's layers, with `/proc` and `/dev` mounted inside as Docker
//! mounts them.
//!
//! The layers are unpacked once ([`super::unpack`]) into a private tmpfs and shared, read
//! only, by every script's mount. Each script gets a fresh upper and work directory and a
//! fresh mount (with the options of [`crate::difftest`]'s Linux side: `redirect_dir=off`,
//! `index=on`, `metacopy=off`), then:
//!
//! 1. a tmpfs on `/dev` (`nosuid`, mode 0755, as Docker's) holding [`DEVICES`] and the
//!    symlink `fd -> /proc/self/fd`;
//! 2. `unshare --pid --fork --kill-child --mount-proc=MERGED/proc chroot MERGED /bin/busybox sh
//!    -c SCRIPT` (util-linux and coreutils): the shell is PID 1 of a PID namespace of its own,
//!    as in a container, and `/proc` shows that namespace; the proc mount lives in a mount
//!    namespace of its own and goes away with it. The process has [`super::ENVIRONMENT`] and
//!    nothing else, the umask 0022, root's ids with no supplementary groups, the working
//!    directory `/`, standard input from `/dev/null`, and standard output and error on pipes of
//!    their own. After [`TIMEOUT`] it is killed (the whole namespace with it) and its status
//!    is `timeout`;
//! 3. `/dev` is unmounted, then the union's `tree /` is taken as root (the mount points show as
//!    the image's empty directories), and the upper directory's `docker diff`
//!    ([`super::changes`]).

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rustix::fs::{FileType as HostFileType, Mode, CWD};
use rustix::mount::{MountFlags, UnmountFlags};
use rustix::thread::UnshareFlags;

use super::corpus::Script;
use super::{changes, unpack, ScriptResult, Status, ENVIRONMENT};
use crate::difftest::linux::Workspace;
use crate::oci::OciImage;

/// How long one script may run on Linux before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The device nodes of the container's `/dev`: name, major, minor, mode. The kernel's set:
/// Docker's, less `pts`, `shm`, `mqueue`, `ptmx`, `core` and the `std*` links (which no script
/// here uses), and with `console` (which Docker adds only with `-t`).
pub const DEVICES: &[(&str, u32, u32, u32)] = &[
    ("console", 5, 1, 0o600),
    ("full", 1, 7, 0o666),
    ("null", 1, 3, 0o666),
    ("random", 1, 8, 0o666),
    ("tty", 5, 0, 0o666),
    ("urandom", 1, 9, 0o666),
    ("zero", 1, 5, 0o666),
];

/// The host programs the Linux side runs.
#[derive(Clone, Debug)]
struct Tools {
    unshare: PathBuf,
    chroot: PathBuf,
}

impl Tools {
    fn find() -> std::result::Result<Tools, String> {
        let find = |name: &str| {
            ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
                .iter()
                .map(|dir| Path::new(dir).join(name))
                .find(|path| path.is_file())
                .ok_or_else(|| format!("`{name}` is not installed (util-linux / coreutils)"))
        };
        Ok(Tools {
            unshare: find("unshare")?,
            chroot: find("chroot")?,
        })
    }
}

/// Whether the Linux side can run here; `Err` says why not.
pub fn availability() -> std::result::Result<(), String> {
    crate::difftest::availability()?;
    Tools::find().map(drop)
}

/// The image's layers unpacked on the host, ready to run scripts over.
#[derive(Debug)]
pub struct LinuxSide {
    /// The tmpfs holding the unpacked layers (kept mounted while the side lives).
    _layers: Workspace,
    /// The layer directories, top first (`lowerdir=` order).
    lowers: Vec<PathBuf>,
    tools: Tools,
}

impl LinuxSide {
    /// Unpacks `image`'s layers.
    ///
    /// # Errors
    /// If the tools are missing (see [`availability`]), the image has no layers, or a layer
    /// cannot be unpacked.
    pub fn new(image: &OciImage) -> Result<LinuxSide> {
        let tools = Tools::find().map_err(|reason| anyhow!(reason))?;
        if image.layers().is_empty() {
            bail!("the image has no layers");
        }
        let layers = Workspace::new()?;
        let mut lowers = Vec::new();
        for (index, layer) in image.layers().iter().enumerate().rev() {
            let dir = layers.new_dir(&format!("layer{index}"))?;
            unpack::unpack_layer(&layer.tar, &dir)
                .with_context(|| format!("unpacking layer {index} ({})", layer.diff_id))?;
            lowers.push(dir);
        }
        Ok(LinuxSide {
            _layers: layers,
            lowers,
            tools,
        })
    }

    /// The layer directories, top first.
    pub fn lowers(&self) -> &[PathBuf] {
        &self.lowers
    }

    /// Runs every script, each in a fresh container.
    ///
    /// # Errors
    /// As [`LinuxSide::run`].
    pub fn run_all(&self, scripts: &[Script]) -> Result<Vec<ScriptResult>> {
        scripts.iter().map(|script| self.run(script)).collect()
    }

    /// Runs `script` in a fresh container (see the module docs).
    ///
    /// # Errors
    /// If the container cannot be set up (mounts, `/proc` or `/dev` missing from the image,
    /// the process cannot start) or read afterwards. What the script does is not an error.
    pub fn run(&self, script: &Script) -> Result<ScriptResult> {
        let what = || format!("script {}", script.name);
        let mut workspace = Workspace::new().with_context(what)?;
        workspace
            .mount_overlay(&self.lowers, true, None)
            .with_context(what)?;
        let merged = workspace
            .merged_dir()
            .ok_or_else(|| anyhow!("the overlay is not mounted"))?;
        for mount_point in ["proc", "dev"] {
            if !merged.join(mount_point).is_dir() {
                bail!("the image has no /{mount_point} directory to mount on");
            }
        }
        let (stdout, stderr, status) = {
            let _dev = DevMount::new(&merged.join("dev")).with_context(what)?;
            self.spawn_and_wait(&merged, &script.text)
                .with_context(what)?
        };
        let tree = workspace
            .run(&[])
            .with_context(what)?
            .tree
            .map_err(|errno| anyhow!("{}: tree / failed: {errno}", script.name))?;
        let upper = workspace
            .upper_dir()
            .ok_or_else(|| anyhow!("the overlay has no upper directory"))?;
        let diff = changes::docker_diff(&upper, &self.lowers).with_context(what)?;
        Ok(ScriptResult {
            name: script.name.clone(),
            stdout,
            stderr,
            status,
            tree,
            diff,
        })
    }

    /// Starts the shell on a thread of its own whose root, working directory and umask are its
    /// own (`unshare(CLONE_FS)`; the child inherits them), and waits for it.
    fn spawn_and_wait(&self, merged: &Path, script: &str) -> Result<(Vec<u8>, Vec<u8>, Status)> {
        let mut mount_proc = OsString::from("--mount-proc=");
        mount_proc.push(merged.join("proc"));
        let mut command = Command::new(&self.tools.unshare);
        command
            .args(["--pid", "--fork", "--kill-child"])
            .arg(mount_proc)
            .arg(&self.tools.chroot)
            .arg(merged)
            .args(["/bin/busybox", "sh", "-c", script])
            .env_clear()
            .envs(ENVIRONMENT.iter().copied())
            .current_dir("/")
            .stdin(Stdio::from(
                fs::File::open("/dev/null").context("opening /dev/null")?,
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    // `unshare` is deprecated in favour of `unshare_unsafe` because
                    // `CLONE_FILES` could leave other threads' descriptors dangling; `CLONE_FS`
                    // only gives this thread its own umask (and root and working directory).
                    #[allow(deprecated)]
                    rustix::thread::unshare(UnshareFlags::FS).context("unshare(CLONE_FS)")?;
                    rustix::process::umask(Mode::from_raw_mode(0o022));
                    // Credentials are per thread in Linux; a raw setgroups acts on this one.
                    rustix::thread::set_thread_groups(&[]).context("setgroups([])")?;
                    wait_with_output(command)
                })
                .join()
                .map_err(|_| anyhow!("the thread running the script panicked"))?
        })
    }
}

/// Spawns `command`, collects its standard output and error, and waits for it at most
/// [`TIMEOUT`].
fn wait_with_output(mut command: Command) -> Result<(Vec<u8>, Vec<u8>, Status)> {
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {:?}", command.get_program()))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    std::thread::scope(|scope| {
        let stdout = scope.spawn(move || read_pipe(stdout));
        let stderr = scope.spawn(move || read_pipe(stderr));
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().context("waiting for the shell")? {
                break match (status.code(), status.signal()) {
                    (Some(code), _) => Status::Exit(code),
                    (None, Some(signal)) => Status::Signal(signal),
                    (None, None) => bail!("the shell ended with an unknown status {status:?}"),
                };
            }
            if Instant::now() >= deadline {
                // SIGKILL to `unshare`; `--kill-child` passes it on to the shell, PID 1 of its
                // namespace, whose end ends every process in it.
                let _ = child.kill();
                let _ = child.wait();
                break Status::Timeout;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let stdout = stdout
            .join()
            .map_err(|_| anyhow!("reading standard output panicked"))?;
        let stderr = stderr
            .join()
            .map_err(|_| anyhow!("reading standard error panicked"))?;
        Ok((stdout, stderr, status))
    })
}

/// Everything `pipe` gives until its end (nothing if there is no pipe or it fails).
fn read_pipe(pipe: Option<impl Read>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut bytes);
    }
    bytes
}

/// The container's `/dev`: a tmpfs with [`DEVICES`], unmounted when dropped.
struct DevMount {
    dir: PathBuf,
}

impl DevMount {
    fn new(dir: &Path) -> Result<DevMount> {
        rustix::mount::mount(
            "tmpfs",
            dir,
            "tmpfs",
            MountFlags::NOSUID,
            c"mode=0755,size=65536k",
        )
        .with_context(|| format!("mounting a tmpfs on {}", dir.display()))?;
        let mount = DevMount {
            dir: dir.to_path_buf(),
        };
        for (name, major, minor, mode) in DEVICES {
            let path = dir.join(name);
            rustix::fs::mknodat(
                CWD,
                &path,
                HostFileType::CharacterDevice,
                Mode::from_raw_mode(*mode),
                rustix::fs::makedev(*major, *minor),
            )
            .with_context(|| format!("mknod {}", path.display()))?;
            // mknod's mode went through the umask.
            rustix::fs::chmod(&path, Mode::from_raw_mode(*mode))
                .with_context(|| format!("chmod {}", path.display()))?;
        }
        std::os::unix::fs::symlink("/proc/self/fd", dir.join("fd")).context("making /dev/fd")?;
        Ok(mount)
    }
}

impl Drop for DevMount {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.dir, UnmountFlags::DETACH);
    }
}
