//! The Linux side: a real `mount -t overlay` of the layer directories, and the shell language
//! carried out as system calls on it.
//!
//! Everything lives in a private tmpfs mounted for the run (tmpfs holds device nodes and
//! `trusted.*` xattrs, which Linux whiteouts and opaque markers need; `/tmp` is often ext4 or
//! an overlay itself): `lower0`, `lower1`, ... (top first), `upper`, `work` and `merged`, the
//! mount point. Both mounts are made `nodev`, so opening a device node fails with `EACCES`
//! instead of reaching a driver. [`Workspace`]'s `Drop` detaches both mounts and removes the
//! directory.
//!
//! Commands run on a thread of their own that first unshares its filesystem context
//! (`unshare(CLONE_FS)`: root directory, working directory and umask become the thread's own)
//! and `chroot`s into the mount point. Paths in a script then mean the same on both sides:
//! `/` is the union's root, `..` stops there, and an absolute symlink target points into the
//! union, not into the host. `su` sets the thread's own ids (`setresuid`/`setresgid` as raw
//! system calls act on one thread), keeping the saved uid 0 so that the thread can become
//! root again for `tree` and the digests of `ls -l`, which the shell runs as root.
//!
//! Every `open` carries `O_NONBLOCK`, so opening a fifo never waits for a peer (no effect on
//! regular files or directories).

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{anyhow, Context, Result};
use overlay_core::path::{self, join};
use overlay_core::shell::lexer::escape_bytes;
use rustix::fs::{AtFlags, FileType as HostFileType, Mode, OFlags, RenameFlags, Stat, CWD};
use rustix::mount::{MountFlags, UnmountFlags};
use rustix::thread::UnshareFlags;
use rustix::{fs::Gid, fs::Uid};

use super::command::{self, Command, MvMode, NodeKind, NotACommand};
use super::compare::Target;
use super::listing::{short_digest, type_letter};

/// An errno number.
type Errno = i32;
/// The result of one system call, or of one command.
type Sys<T> = std::result::Result<T, Errno>;

const EIO: Errno = 5;
const EISDIR: Errno = 21;
const EINVAL: Errno = 22;
const EFBIG: Errno = 27;
const ENOENT: Errno = 2;
const ENODATA: Errno = 61;

/// Whether this process can mount Linux overlayfs; `Err` says why not.
pub fn availability() -> std::result::Result<(), String> {
    if !rustix::process::geteuid().is_root() {
        return Err("not running as root: mounting overlayfs needs CAP_SYS_ADMIN".into());
    }
    let filesystems = fs::read_to_string("/proc/filesystems")
        .map_err(|error| format!("cannot read /proc/filesystems: {error}"))?;
    if !filesystems
        .lines()
        .any(|line| line.split_whitespace().last() == Some("overlay"))
    {
        return Err(
            "the kernel has no overlay filesystem (not in /proc/filesystems; \
                    try `modprobe overlay`)"
                .into(),
        );
    }
    // Mounting for real is the only sure test (a container may refuse it).
    Workspace::new()
        .map(drop)
        .map_err(|error| format!("{error:#}"))
}

/// A private tmpfs with the layer directories, and the overlay once mounted.
#[derive(Debug)]
pub struct Workspace {
    base: PathBuf,
    tmpfs_mounted: bool,
    overlay_mounted: bool,
    /// A second tmpfs, size-limited, holding `upper` and `work` (see `mount_overlay`).
    upper_tmpfs: Option<PathBuf>,
    lowers: Vec<PathBuf>,
    upper_dir: Option<PathBuf>,
}

impl Workspace {
    /// A fresh directory under the system's temporary directory with a tmpfs mounted on it.
    ///
    /// # Errors
    /// If the directory cannot be made or the tmpfs cannot be mounted.
    pub fn new() -> Result<Workspace> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir().join(format!(
            "overlay-difftest-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&base).with_context(|| format!("making {}", base.display()))?;
        let mut workspace = Workspace {
            base,
            tmpfs_mounted: false,
            overlay_mounted: false,
            upper_tmpfs: None,
            lowers: Vec::new(),
            upper_dir: None,
        };
        rustix::mount::mount(
            "difftest",
            &workspace.base,
            "tmpfs",
            MountFlags::NODEV | MountFlags::NOSUID,
            c"mode=0755",
        )
        .with_context(|| format!("mounting a tmpfs on {}", workspace.base.display()))?;
        workspace.tmpfs_mounted = true;
        Ok(workspace)
    }

    /// A new, empty directory `name` in the workspace.
    ///
    /// # Errors
    /// If it cannot be made.
    pub fn new_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.base.join(name);
        fs::create_dir(&dir).with_context(|| format!("making {}", dir.display()))?;
        Ok(dir)
    }

    /// Mounts the overlay of `lowers` (top first) on `merged`, with `upper` and `work` in the
    /// workspace if `upper` is set (on a tmpfs of their own of `upper_capacity_bytes` if
    /// given). Options: `redirect_dir=off` (the project's default), `index=on` (hard links
    /// stay together across copy-up, as the project keeps them), `metacopy=off`, and `nodev`.
    ///
    /// # Errors
    /// If the directories cannot be made or the kernel refuses the mount.
    pub fn mount_overlay(
        &mut self,
        lowers: &[PathBuf],
        upper: bool,
        upper_capacity_bytes: Option<u64>,
    ) -> Result<()> {
        let lowerdir = lowers
            .iter()
            .map(|dir| dir.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        let mut options = format!("lowerdir={lowerdir},redirect_dir=off,metacopy=off");
        let mut upper_dir_path = PathBuf::new();
        if upper {
            let (upper_dir, work_dir) = match upper_capacity_bytes {
                Some(bytes) => {
                    let upper_fs = self.new_dir("upperfs")?;
                    let options = std::ffi::CString::new(format!("size={bytes},mode=0755"))?;
                    rustix::mount::mount(
                        "difftest-upper",
                        &upper_fs,
                        "tmpfs",
                        MountFlags::NODEV | MountFlags::NOSUID,
                        options.as_c_str(),
                    )
                    .context("mounting the upper layer's tmpfs")?;
                    self.upper_tmpfs = Some(upper_fs.clone());
                    let (upper_dir, work_dir) = (upper_fs.join("upper"), upper_fs.join("work"));
                    fs::create_dir(&upper_dir)?;
                    fs::create_dir(&work_dir)?;
                    (upper_dir, work_dir)
                }
                None => (self.new_dir("upper")?, self.new_dir("work")?),
            };
            options.push_str(&format!(
                ",upperdir={},workdir={},index=on",
                upper_dir.display(),
                work_dir.display()
            ));
            upper_dir_path = upper_dir;
        }
        let merged = self.new_dir("merged")?;
        let options = std::ffi::CString::new(options)?;
        let flags = if upper {
            MountFlags::NODEV
        } else {
            MountFlags::NODEV | MountFlags::RDONLY
        };
        rustix::mount::mount("overlay", &merged, "overlay", flags, options.as_c_str())
            .with_context(|| format!("mount -t overlay -o {}", options.to_string_lossy()))?;
        self.overlay_mounted = true;
        self.lowers = lowers.to_vec();
        self.upper_dir = upper.then(|| upper_dir_path.clone());
        Ok(())
    }

    /// The overlay's upper directory on the host, if it has one.
    pub fn upper_dir(&self) -> Option<PathBuf> {
        self.upper_dir.clone()
    }

    /// The overlay's mount point on the host, once mounted.
    pub fn merged_dir(&self) -> Option<PathBuf> {
        self.overlay_mounted.then(|| self.base.join("merged"))
    }

    /// Runs `lines` on the mounted overlay, on a thread chrooted into it, then lists the union
    /// with `tree /` as root.
    ///
    /// # Errors
    /// If the thread cannot be set up (unshare, chroot, layer directories).
    pub fn run(&self, lines: &[&str]) -> Result<LinuxRun> {
        if !self.overlay_mounted {
            return Err(anyhow!("the overlay is not mounted"));
        }
        let merged = self.base.join("merged");
        let upper = self.upper_dir();
        std::thread::scope(|scope| {
            scope
                .spawn(|| run_chrooted(&merged, upper.as_deref(), &self.lowers, lines))
                .join()
                .map_err(|_| anyhow!("the Linux side's thread panicked"))?
        })
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        // Detach, so that a file still open somewhere cannot keep the directory busy.
        if self.overlay_mounted {
            let _ = rustix::mount::unmount(self.base.join("merged"), UnmountFlags::DETACH);
        }
        if let Some(upper_fs) = &self.upper_tmpfs {
            let _ = rustix::mount::unmount(upper_fs, UnmountFlags::DETACH);
        }
        if self.tmpfs_mounted {
            let _ = rustix::mount::unmount(&self.base, UnmountFlags::DETACH);
        }
        let _ = fs::remove_dir(&self.base);
    }
}

/// What the Linux side printed for each line, and the union's `tree /` at the end.
#[derive(Clone, Debug)]
pub struct LinuxRun {
    /// One entry per script line.
    pub lines: Vec<LinuxLine>,
    /// The lines of `tree /`, or the error it failed with.
    pub tree: std::result::Result<Vec<String>, String>,
}

/// One line's outcome on Linux.
#[derive(Clone, Debug, Default)]
pub struct LinuxLine {
    /// Exactly what the shell would print.
    pub output: String,
    /// Whether the line was a command (not empty, not a comment).
    pub is_command: bool,
    /// Whether the command has a Linux equivalent (`layers` and `diff` do not).
    pub comparable: bool,
    /// What the command's first path named before the command ran.
    pub target: Target,
}

fn run_chrooted(
    merged: &Path,
    upper: Option<&Path>,
    lowers: &[PathBuf],
    lines: &[&str],
) -> Result<LinuxRun> {
    let open_dir = |dir: &Path| {
        rustix::fs::open(dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
            .with_context(|| format!("opening {}", dir.display()))
    };
    let upper_fd = upper.map(open_dir).transpose()?;
    let lower_fds = lowers
        .iter()
        .map(|dir| open_dir(dir))
        .collect::<Result<_>>()?;
    // `unshare` is deprecated in favour of `unshare_unsafe` because `CLONE_FILES` could leave
    // other threads' descriptors dangling; `CLONE_FS` only gives this thread its own root,
    // working directory and umask, which is sound. This thread ends with the run.
    #[allow(deprecated)]
    rustix::thread::unshare(UnshareFlags::FS).context("unshare(CLONE_FS)")?;
    rustix::process::chroot(merged).context("chroot into the overlay")?;
    rustix::process::chdir("/").context("chdir /")?;
    rustix::process::umask(Mode::from_raw_mode(0o022));
    let mut executor = Executor {
        uid: 0,
        gid: 0,
        upper_fd,
        lower_fds,
    };
    executor
        .become_root()
        .context("setting root's credentials")?;
    let lines = lines.iter().map(|line| executor.line(line)).collect();
    executor.become_root().context("back to root")?;
    let tree = executor.tree("/").map_err(errno_name);
    Ok(LinuxRun { lines, tree })
}

struct Executor {
    uid: u32,
    gid: u32,
    upper_fd: Option<OwnedFd>,
    lower_fds: Vec<OwnedFd>,
}

impl Executor {
    fn line(&mut self, line: &str) -> LinuxLine {
        let line = line.trim_matches([' ', '\t', '\r', '\n']);
        let command = match command::parse(line) {
            Ok(command) => command,
            Err(NotACommand::Empty) => return LinuxLine::default(),
            Err(NotACommand::Malformed) => {
                return LinuxLine {
                    output: format!("error: EINVAL: {line}\n"),
                    is_command: true,
                    comparable: true,
                    target: Target::default(),
                }
            }
        };
        let comparable = !matches!(command, Command::Layers | Command::Diff);
        let first_path = command.first_path();
        let target = Target {
            kind: first_path
                .and_then(|path| self.as_root(|_| stat(path, true)).ok())
                .map(|st| type_letter(HostFileType::from_raw_mode(st.st_mode))),
            // Resolved inside the chroot: the union's own path, symlinks followed.
            path: first_path
                .and_then(|path| self.as_root(|_| canonical(path)).ok())
                .and_then(|path| path.to_str().map(String::from)),
        };
        let output = if comparable {
            match self.execute(&command) {
                Ok(output) => output,
                Err(errno) => format!("error: {}: {line}\n", errno_name(errno)),
            }
        } else {
            String::new()
        };
        LinuxLine {
            output,
            is_command: true,
            comparable,
            target,
        }
    }

    fn execute(&mut self, command: &Command) -> Sys<String> {
        let mut out = String::new();
        match command {
            Command::Ls { long, path } => {
                for line in self.ls(path, *long)? {
                    push_line(&mut out, &line);
                }
            }
            Command::Cat(path) => {
                let content = read_all(open(path, OFlags::RDONLY, 0)?)?;
                out.push_str(&String::from_utf8_lossy(&content));
                if !content.is_empty() && !content.ends_with(b"\n") {
                    out.push('\n');
                }
            }
            Command::Stat(path) => {
                let st = stat(path, false)?;
                let layer = self.as_root(|me| Ok(me.layer_of(path)))?;
                push_line(&mut out, &stat_line(&st, &layer, path));
            }
            Command::Readlink(path) => {
                let target = readlink(path)?;
                push_line(&mut out, &escape_bytes(&target));
            }
            Command::GetXattr { path, name } => {
                let value = xattr::get_deref(path, name)
                    .map_err(io_errno)?
                    .ok_or(ENODATA)?;
                push_line(&mut out, &escape_bytes(&value));
            }
            Command::ListXattr(path) => {
                let mut names: Vec<Vec<u8>> = xattr::list_deref(path)
                    .map_err(io_errno)?
                    .map(|name| name.as_bytes().to_vec())
                    .collect();
                names.sort();
                for name in names {
                    push_line(&mut out, &escape_bytes(&name));
                }
            }
            Command::Write { path, text } => {
                let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC;
                write_all(open(path, flags, 0o666)?, text)?;
            }
            Command::WriteAt { path, offset, text } => {
                let file = fs::File::from(open(path, OFlags::WRONLY, 0)?);
                let mut written = 0;
                while written < text.len() {
                    let at = offset.checked_add(written as u64).ok_or(EFBIG)?;
                    match file.write_at(&text[written..], at).map_err(io_errno)? {
                        0 => return Err(EIO),
                        count => written += count,
                    }
                }
            }
            Command::Append { path, text } => {
                write_all(open(path, OFlags::WRONLY | OFlags::APPEND, 0)?, text)?;
            }
            Command::Create(path) => {
                let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL;
                drop(open(path, flags, 0o666)?);
            }
            Command::Open { path, flags } => {
                let mut oflags = match (flags.read, flags.write) {
                    (_, false) => OFlags::RDONLY,
                    (false, true) => OFlags::WRONLY,
                    (true, true) => OFlags::RDWR,
                };
                for (set, flag) in [
                    (flags.create, OFlags::CREATE),
                    (flags.exclusive, OFlags::EXCL),
                    (flags.truncate, OFlags::TRUNC),
                    (flags.append, OFlags::APPEND),
                    (flags.directory, OFlags::DIRECTORY),
                    (flags.nofollow, OFlags::NOFOLLOW),
                ] {
                    if set {
                        oflags |= flag;
                    }
                }
                drop(open(path, oflags, 0o666)?);
            }
            Command::Truncate { path, len } => {
                // rustix has no path-based truncate(2); these are its checks in its order
                // (EISDIR, EINVAL for other non-regular files, then the write-open's EROFS
                // and EACCES), followed by ftruncate.
                let st = stat(path, true)?;
                match HostFileType::from_raw_mode(st.st_mode) {
                    HostFileType::Directory => return Err(EISDIR),
                    HostFileType::RegularFile => {}
                    _ => return Err(EINVAL),
                }
                let fd = open(path, OFlags::WRONLY, 0)?;
                rustix::fs::ftruncate(&fd, *len).map_err(sys)?;
            }
            Command::Touch(path) => match stat(path, true) {
                Ok(_) => {
                    let now = rustix::fs::Timespec {
                        tv_sec: 0,
                        tv_nsec: rustix::fs::UTIME_NOW,
                    };
                    let times = rustix::fs::Timestamps {
                        last_access: now,
                        last_modification: now,
                    };
                    rustix::fs::utimensat(CWD, path, &times, AtFlags::empty()).map_err(sys)?;
                }
                Err(ENOENT) => drop(open(path, OFlags::WRONLY | OFlags::CREATE, 0o666)?),
                Err(errno) => return Err(errno),
            },
            Command::Mkdir(path) => {
                rustix::fs::mkdirat(CWD, path, Mode::from_raw_mode(0o777)).map_err(sys)?
            }
            Command::Mknod {
                path,
                kind,
                major,
                minor,
            } => {
                let kind = match kind {
                    NodeKind::Char => HostFileType::CharacterDevice,
                    NodeKind::Block => HostFileType::BlockDevice,
                    NodeKind::Fifo => HostFileType::Fifo,
                };
                let device = rustix::fs::makedev(*major, *minor);
                rustix::fs::mknodat(CWD, path, kind, Mode::from_raw_mode(0o666), device)
                    .map_err(sys)?;
            }
            Command::Rm(path) => rustix::fs::unlinkat(CWD, path, AtFlags::empty()).map_err(sys)?,
            Command::Rmdir(path) => {
                rustix::fs::unlinkat(CWD, path, AtFlags::REMOVEDIR).map_err(sys)?
            }
            Command::Mv { old, new, mode } => {
                let flags = match mode {
                    MvMode::Replace => RenameFlags::empty(),
                    MvMode::NoReplace => RenameFlags::NOREPLACE,
                    MvMode::Exchange => RenameFlags::EXCHANGE,
                };
                rustix::fs::renameat_with(CWD, old, CWD, new, flags).map_err(sys)?;
            }
            Command::Ln { old, new } => {
                rustix::fs::linkat(CWD, old, CWD, new, AtFlags::empty()).map_err(sys)?
            }
            Command::Symlink { target, path } => {
                rustix::fs::symlinkat(target, CWD, path).map_err(sys)?
            }
            Command::Chmod { mode, path } => {
                rustix::fs::chmodat(CWD, path, Mode::from_raw_mode(*mode), AtFlags::empty())
                    .map_err(sys)?
            }
            Command::Chown { uid, gid, path } => rustix::fs::chownat(
                CWD,
                path,
                uid.map(Uid::from_raw),
                gid.map(Gid::from_raw),
                AtFlags::empty(),
            )
            .map_err(sys)?,
            Command::SetXattr { path, name, value } => {
                xattr::set_deref(path, name, value).map_err(io_errno)?
            }
            Command::RmXattr { path, name } => xattr::remove_deref(path, name).map_err(io_errno)?,
            Command::Su { uid, gid } => self.become_user(*uid, *gid).map_err(sys)?,
            Command::Tree(path) => {
                for line in self.as_root(|me| me.tree(path))? {
                    push_line(&mut out, &line);
                }
            }
            Command::Layers | Command::Diff => {}
        }
        Ok(out)
    }

    /// `ls [-l] path` as the shell does it: names sorted bytewise, or the path itself.
    fn ls(&mut self, path: &str, long: bool) -> Sys<Vec<String>> {
        let mut st = stat(path, false)?;
        if !long && HostFileType::from_raw_mode(st.st_mode) == HostFileType::Symlink {
            if let Ok(target) = stat(path, true) {
                st = target;
            }
        }
        if HostFileType::from_raw_mode(st.st_mode) != HostFileType::Directory {
            let line = if long {
                format!("{} {}", self.columns(path, &st)?, escape(path))
            } else {
                escape(path)
            };
            return Ok(vec![line]);
        }
        let names = list_dir(path)?;
        if !long {
            return Ok(names.iter().map(|name| escape(name)).collect());
        }
        names
            .into_iter()
            .map(|name| {
                let child = join(path, &name);
                let st = stat(&child, false)?;
                Ok(format!("{} {}", self.columns(&child, &st)?, escape(&name)))
            })
            .collect()
    }

    /// `TYPE MODE UID:GID SIZE DIGEST` of the entry at `path`; contents read as root.
    fn columns(&mut self, path: &str, st: &Stat) -> Sys<String> {
        let kind = HostFileType::from_raw_mode(st.st_mode);
        let (size, digest) = match kind {
            HostFileType::RegularFile => {
                let content = self.as_root(|_| read_all(open(path, OFlags::NOFOLLOW, 0)?))?;
                (st.st_size.to_string(), short_digest(&content))
            }
            HostFileType::Symlink => {
                let target = self.as_root(|_| readlink(path))?;
                (target.len().to_string(), short_digest(&target))
            }
            HostFileType::CharacterDevice | HostFileType::BlockDevice => (
                "-".to_string(),
                format!(
                    "{}:{}",
                    rustix::fs::major(st.st_rdev),
                    rustix::fs::minor(st.st_rdev)
                ),
            ),
            _ => ("-".to_string(), "-".to_string()),
        };
        Ok(format!(
            "{} {:04o} {}:{} {size} {digest}",
            type_letter(kind),
            st.st_mode & 0o7777,
            st.st_uid,
            st.st_gid
        ))
    }

    /// The lines of `tree path`, as the shell prints them (the caller is root).
    fn tree(&mut self, path: &str) -> Sys<Vec<String>> {
        let start = stat(path, false)?;
        let mut lines: Vec<(String, String)> = Vec::new();
        let mut pending = vec![(path::display(path).to_string(), start)];
        while let Some((entry_path, st)) = pending.pop() {
            if HostFileType::from_raw_mode(st.st_mode) == HostFileType::Directory {
                for name in list_dir(&entry_path)? {
                    let child = join(&entry_path, &name);
                    let child_st = stat(&child, false)?;
                    pending.push((child, child_st));
                }
            }
            let line = format!(
                "{} {}",
                self.columns(&entry_path, &st)?,
                escape(&entry_path)
            );
            lines.push((entry_path, line));
        }
        lines.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Ok(lines.into_iter().map(|(_, line)| line).collect())
    }

    /// The layer `stat` reports for `path`: the upper directory if it holds the entry, else
    /// the topmost lower that does; `?` where a plain look at the layer directories cannot
    /// tell (dot components, a symlink or non-directory on the way, a whiteout).
    fn layer_of(&self, path: &str) -> String {
        let unknown = || "?".to_string();
        let parts: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
        if parts.iter().any(|part| *part == "." || *part == "..") {
            return unknown();
        }
        for depth in 1..parts.len() {
            let prefix = format!("/{}", parts[..depth].join("/"));
            match stat(&prefix, false) {
                Ok(st) if HostFileType::from_raw_mode(st.st_mode) == HostFileType::Directory => {}
                _ => return unknown(),
            }
        }
        if path.ends_with('/') && !parts.is_empty() {
            // A trailing slash follows a final symlink; only a real directory is simple.
            let plain = format!("/{}", parts.join("/"));
            match stat(&plain, false) {
                Ok(st) if HostFileType::from_raw_mode(st.st_mode) == HostFileType::Directory => {}
                _ => return unknown(),
            }
        }
        if parts.is_empty() {
            return if self.upper_fd.is_some() {
                "upper".into()
            } else {
                "lower:0".into()
            };
        }
        let relative = parts.join("/");
        let layers = self
            .upper_fd
            .iter()
            .map(|fd| ("upper".to_string(), fd))
            .chain(
                self.lower_fds
                    .iter()
                    .enumerate()
                    .map(|(index, fd)| (format!("lower:{index}"), fd)),
            );
        for (name, fd) in layers {
            match rustix::fs::statat(fd, relative.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if is_whiteout(&st) => return unknown(),
                Ok(_) => return name,
                Err(_) => {}
            }
        }
        unknown()
    }

    /// Runs `f` with root's credentials, then restores the current ones.
    fn as_root<T>(&mut self, f: impl FnOnce(&mut Self) -> Sys<T>) -> Sys<T> {
        let (uid, gid) = (self.uid, self.gid);
        if uid == 0 && gid == 0 {
            return f(self);
        }
        self.become_root().map_err(sys)?;
        let result = f(self);
        self.become_user(uid, gid).map_err(sys)?;
        result
    }

    fn become_root(&mut self) -> rustix::io::Result<()> {
        rustix::thread::set_thread_res_uid(Uid::ROOT, Uid::ROOT, Uid::ROOT)?;
        rustix::thread::set_thread_res_gid(Gid::ROOT, Gid::ROOT, Gid::ROOT)?;
        rustix::thread::set_thread_groups(&[])?;
        (self.uid, self.gid) = (0, 0);
        Ok(())
    }

    /// `su uid gid`: the ids of the thread, no supplementary groups; the saved uid stays 0.
    fn become_user(&mut self, uid: u32, gid: u32) -> rustix::io::Result<()> {
        self.become_root()?;
        let gid_value = Gid::from_raw(gid);
        rustix::thread::set_thread_res_gid(gid_value, gid_value, gid_value)?;
        let uid_value = Uid::from_raw(uid);
        rustix::thread::set_thread_res_uid(uid_value, uid_value, Uid::ROOT)?;
        (self.uid, self.gid) = (uid, gid);
        Ok(())
    }
}

/// The `stat` line of the shell.
fn stat_line(st: &Stat, layer: &str, path: &str) -> String {
    let kind = HostFileType::from_raw_mode(st.st_mode);
    let mut line = format!(
        "{} {:04o} {}:{} size={} nlink={} ino={}",
        type_letter(kind),
        st.st_mode & 0o7777,
        st.st_uid,
        st.st_gid,
        st.st_size,
        st.st_nlink,
        st.st_ino
    );
    if matches!(
        kind,
        HostFileType::CharacterDevice | HostFileType::BlockDevice
    ) {
        line.push_str(&format!(
            " rdev={}:{}",
            rustix::fs::major(st.st_rdev),
            rustix::fs::minor(st.st_rdev)
        ));
    }
    line.push_str(&format!(" layer={layer} {}", escape(path)));
    line
}

/// Whether `st` is a Linux whiteout: a character device 0/0.
pub fn is_whiteout(st: &Stat) -> bool {
    HostFileType::from_raw_mode(st.st_mode) == HostFileType::CharacterDevice && st.st_rdev == 0
}

/// A name or path as the shell prints it: escaped as TEXT is.
fn escape(name: &str) -> String {
    escape_bytes(name.as_bytes())
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

fn sys(errno: rustix::io::Errno) -> Errno {
    errno.raw_os_error()
}

fn io_errno(error: std::io::Error) -> Errno {
    error.raw_os_error().unwrap_or(EIO)
}

/// The POSIX name the shell prints for `errno`.
pub fn errno_name(errno: Errno) -> String {
    match overlay_core::Errno::from_code(errno) {
        Some(known) => known.name().to_string(),
        None => format!("E{errno}"),
    }
}

fn stat(path: &str, follow: bool) -> Sys<Stat> {
    let flags = if follow {
        AtFlags::empty()
    } else {
        AtFlags::SYMLINK_NOFOLLOW
    };
    rustix::fs::statat(CWD, path, flags).map_err(sys)
}

/// `path` with every symlink followed and `.`/`..` resolved (`realpath`; inside the chroot,
/// a path of the union).
fn canonical(path: &str) -> Sys<PathBuf> {
    fs::canonicalize(path).map_err(io_errno)
}

fn readlink(path: &str) -> Sys<Vec<u8>> {
    rustix::fs::readlinkat(CWD, path, Vec::new())
        .map(|target| target.into_bytes())
        .map_err(sys)
}

/// `open(path, flags | O_NONBLOCK | O_CLOEXEC, mode)`.
fn open(path: &str, flags: OFlags, mode: u32) -> Sys<OwnedFd> {
    rustix::fs::open(
        path,
        flags | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
    .map_err(sys)
}

fn read_all(fd: OwnedFd) -> Sys<Vec<u8>> {
    let mut content = Vec::new();
    fs::File::from(fd)
        .read_to_end(&mut content)
        .map_err(io_errno)?;
    Ok(content)
}

fn write_all(fd: OwnedFd, bytes: &[u8]) -> Sys<()> {
    fs::File::from(fd).write_all(bytes).map_err(io_errno)
}

/// The names in directory `path`, sorted bytewise.
fn list_dir(path: &str) -> Sys<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(path).map_err(io_errno)? {
        let entry = entry.map_err(io_errno)?;
        names.push(os_string(&entry.file_name()));
    }
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

fn os_string(name: &OsStr) -> String {
    String::from_utf8_lossy(name.as_bytes()).into_owned()
}
