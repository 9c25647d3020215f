//! Linux, through system calls: overlayfs over tmpfs layers, and a plain tmpfs directory (the
//! floor: the same workload with no union at all). Everything lives in a private tmpfs
//! mounted for the run under the temporary directory and detached when done.
//!
//! Operations go through a directory descriptor of the union's root and relative paths (`*at`
//! calls), so no path is built in a timed loop; the walk is `getdents64` and `fstatat` on
//! each entry, as `find` does.

use std::cell::Cell;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

// rustix is used without its `std` feature (which would turn on `bitflags/std` for the
// kernel's bare-metal build of this crate's dependencies as well): its own descriptor types,
// and paths as C strings.
use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;
use rustix::mount::{MountFlags, UnmountFlags};

/// `path` as the C string system calls take.
pub fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("a path without NUL")
}

use crate::spec::{merge, Node, Tree};
use crate::system::{Mounted, Prepared, System};

/// Linux overlayfs over tmpfs layers.
pub struct Overlay;
/// A plain tmpfs directory holding what the union shows.
pub struct Tmpfs;

impl System for Overlay {
    fn name(&self) -> &'static str {
        "Linux overlayfs"
    }

    fn prepare(&self, layers: &[Tree]) -> Result<Box<dyn Prepared>, String> {
        overlay_available()?;
        let scratch = Scratch::new()?;
        let mut lowers = Vec::new();
        for (index, tree) in layers.iter().enumerate() {
            let dir = scratch.path.join(format!("l{index}"));
            write_tree(&dir, tree)?;
            lowers.push(dir);
        }
        Ok(Box::new(PreparedOverlay {
            scratch: Arc::new(scratch),
            lowers,
            mounts: Cell::new(0),
        }))
    }
}

impl System for Tmpfs {
    fn name(&self) -> &'static str {
        "Linux tmpfs"
    }

    fn prepare(&self, layers: &[Tree]) -> Result<Box<dyn Prepared>, String> {
        Ok(Box::new(PreparedTmpfs {
            scratch: Arc::new(Scratch::new()?),
            tree: merge(layers),
            copies: Cell::new(0),
        }))
    }
}

/// Mounts Linux overlayfs at `merged`: `lowers` top first (as `lowerdir=` lists them), `upper`
/// and `work` its upper and work directories.
pub fn mount_overlay(
    lowers: &[String],
    upper: &Path,
    work: &Path,
    merged: &Path,
) -> Result<(), String> {
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    let options = CString::new(options).map_err(|error| error.to_string())?;
    rustix::mount::mount(
        c"overlay",
        &*c_path(merged),
        c"overlay",
        MountFlags::empty(),
        &*options,
    )
    .map_err(|errno| format!("mount -t overlay: {errno}"))
}

/// Why Linux overlayfs cannot be mounted here, if it cannot.
pub fn overlay_available() -> Result<(), String> {
    let filesystems = fs::read_to_string("/proc/filesystems")
        .map_err(|error| format!("cannot read /proc/filesystems: {error}"))?;
    if !filesystems
        .lines()
        .any(|line| line.split_whitespace().last() == Some("overlay"))
    {
        return Err("the kernel has no overlay filesystem (`modprobe overlay`)".into());
    }
    Ok(())
}

/// A private tmpfs for one workload's layers and unions.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new() -> Result<Scratch, String> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        if !rustix::process::geteuid().is_root() {
            return Err("not root: mounting tmpfs and overlayfs needs CAP_SYS_ADMIN".into());
        }
        let path = std::env::temp_dir().join(format!(
            "overlay-bench-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&path).map_err(|error| format!("mkdir {}: {error}", path.display()))?;
        let flags = MountFlags::NOSUID | MountFlags::NODEV;
        let target = c_path(&path);
        if let Err(errno) = rustix::mount::mount(c"overlay-bench", &*target, c"tmpfs", flags, c"") {
            let _ = fs::remove_dir(&path);
            return Err(format!("mount -t tmpfs: {errno}"));
        }
        Ok(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&*c_path(&self.path), UnmountFlags::DETACH);
        let _ = fs::remove_dir(&self.path);
    }
}

/// Writes `tree` below the new directory `dir`; whiteouts are character devices 0/0.
fn write_tree(dir: &Path, tree: &Tree) -> Result<(), String> {
    fs::create_dir(dir).map_err(|error| format!("mkdir {}: {error}", dir.display()))?;
    for node in &tree.nodes {
        let path = dir.join(node.path());
        let made = match node {
            Node::Dir(_) => fs::create_dir(&path),
            Node::File(_, data) => fs::write(&path, data),
            Node::Whiteout(_) => rustix::fs::mknodat(
                CWD,
                &*c_path(&path),
                FileType::CharacterDevice,
                Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .map_err(|errno| std::io::Error::from_raw_os_error(errno.raw_os_error())),
        };
        made.map_err(|error| format!("{}: {error}", path.display()))?;
    }
    Ok(())
}

fn open_dir(path: &Path) -> Result<OwnedFd, String> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::open(&*c_path(path), flags, Mode::empty())
        .map_err(|errno| format!("open {}: {errno}", path.display()))
}

struct PreparedOverlay {
    scratch: Arc<Scratch>,
    lowers: Vec<PathBuf>,
    mounts: Cell<usize>,
}

impl Prepared for PreparedOverlay {
    fn mount(&self) -> Result<Box<dyn Mounted>, String> {
        let n = self.mounts.get();
        self.mounts.set(n + 1);
        let base = &self.scratch.path;
        let (upper, work, merged) = (
            base.join(format!("u{n}")),
            base.join(format!("w{n}")),
            base.join(format!("m{n}")),
        );
        for dir in [&upper, &work, &merged] {
            fs::create_dir(dir).map_err(|error| format!("mkdir: {error}"))?;
        }
        // Short relative names keep 64 lowers well inside the one page of mount options.
        let lowerdir: Vec<String> = self
            .lowers
            .iter()
            .map(|l| l.display().to_string())
            .collect();
        mount_overlay(&lowerdir, &upper, &work, &merged)?;
        let root = open_dir(&merged)?;
        Ok(Box::new(Syscalls {
            root,
            cleanup: Cleanup {
                mount: Some(merged),
                dirs: vec![upper, work],
                _scratch: self.scratch.clone(),
            },
        }))
    }
}

struct PreparedTmpfs {
    scratch: Arc<Scratch>,
    tree: Tree,
    copies: Cell<usize>,
}

impl Prepared for PreparedTmpfs {
    fn mount(&self) -> Result<Box<dyn Mounted>, String> {
        let n = self.copies.get();
        self.copies.set(n + 1);
        let dir = self.scratch.path.join(format!("p{n}"));
        write_tree(&dir, &self.tree)?;
        Ok(Box::new(Syscalls {
            root: open_dir(&dir)?,
            cleanup: Cleanup {
                mount: None,
                dirs: vec![dir],
                _scratch: self.scratch.clone(),
            },
        }))
    }
}

/// What a mount leaves behind: the overlay to detach, directories to remove.
struct Cleanup {
    mount: Option<PathBuf>,
    dirs: Vec<PathBuf>,
    _scratch: Arc<Scratch>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mount) = &self.mount {
            let _ = rustix::mount::unmount(&*c_path(mount), UnmountFlags::DETACH);
        }
        for dir in &self.dirs {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// A directory tree driven through `*at` system calls on a descriptor of its root.
struct Syscalls {
    // Declared first: the descriptor is closed before the overlay is detached.
    root: OwnedFd,
    #[allow(dead_code)]
    cleanup: Cleanup,
}

fn relative(path: &str) -> &str {
    match path.trim_start_matches('/') {
        "" => ".",
        rest => rest,
    }
}

impl Mounted for Syscalls {
    fn stat(&self, path: &str) -> bool {
        match rustix::fs::statat(&self.root, relative(path), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => true,
            Err(Errno::NOENT) => false,
            Err(errno) => panic!("stat {path}: {errno}"),
        }
    }

    fn list(&self, path: &str) -> usize {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.root, relative(path), flags, Mode::empty())
            .expect("open directory");
        let dir = Dir::new(fd).expect("directory");
        dir.map(|entry| entry.expect("getdents"))
            .filter(|entry| !matches!(entry.file_name().to_bytes(), b"." | b".."))
            .count()
    }

    fn write_first_byte(&self, path: &str) {
        let flags = OFlags::WRONLY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.root, relative(path), flags, Mode::empty())
            .expect("open for writing");
        assert_eq!(rustix::io::pwrite(&fd, b"x", 0), Ok(1));
    }

    fn unlink(&self, path: &str) {
        rustix::fs::unlinkat(&self.root, relative(path), AtFlags::empty()).expect("unlink");
    }

    fn create(&self, path: &str, data: &[u8]) {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.root, relative(path), flags, Mode::from(0o644))
            .expect("create");
        let mut written = 0;
        while written < data.len() {
            written += rustix::io::write(&fd, &data[written..]).expect("write");
        }
    }

    fn walk(&self) -> u64 {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        walk(rustix::fs::openat(&self.root, ".", flags, Mode::empty()).expect("open root"))
    }
}

/// Lists the directory `fd` and stats each entry, going down into directories.
fn walk(fd: OwnedFd) -> u64 {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut listing = Dir::new(fd).expect("directory");
    let mut count = 0;
    while let Some(entry) = listing.read() {
        let entry = entry.expect("getdents");
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        let dir = listing.fd().expect("descriptor");
        let stat = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).expect("stat");
        count += 1;
        if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
            count += walk(rustix::fs::openat(dir, name, flags, Mode::empty()).expect("open"));
        }
    }
    count
}
