//! A container's root: the union with `/proc` and `/dev` mounted over it, through the POSIX
//! layer, as a container's program walks it.

use std::sync::{Arc, Mutex};

use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer};
use overlay_core::posix::Namespace;
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::vfs::{Credentials, FileSystem, FileType, NewNode, OpenFlags, RenameFlags};
use overlay_core::Errno as FsErrno;
use overlay_syscalls::devices::{DevFs, DevFsOptions, RandomSource, DEVFS_DEV};
use overlay_syscalls::host::{MemoryFigures, ProcessSummary, Timespec};
use overlay_syscalls::mounts::ContainerRoot;
use overlay_syscalls::procfs::{container_mounts, MountEntry, ProcFs, ProcSource, PROCFS_DEV};
use overlay_syscalls::tty::{ConsoleOutput, Terminal};

const BUSYBOX: &[u8] = b"\x7fELF pretend busybox";

struct Sink;

impl ConsoleOutput for Sink {
    fn write(&self, _bytes: &[u8]) {}
}

struct OneProcess(Mutex<ProcessSummary>);

impl ProcSource for OneProcess {
    fn pids(&self) -> Vec<u32> {
        vec![self.0.lock().unwrap().pid]
    }

    fn process(&self, pid: u32) -> Option<ProcessSummary> {
        let process = self.0.lock().unwrap();
        (process.pid == pid).then(|| process.clone())
    }

    fn memory(&self) -> MemoryFigures {
        MemoryFigures {
            total_bytes: 32 << 20,
            free_bytes: 16 << 20,
        }
    }

    fn uptime(&self) -> Timespec {
        Timespec { secs: 5, nanos: 0 }
    }

    fn realtime(&self) -> Timespec {
        Timespec {
            secs: 1_764_900_000,
            nanos: 0,
        }
    }

    fn mounts(&self) -> Vec<MountEntry> {
        container_mounts(&["/l1"], "/u", "/w")
    }
}

/// An image layer with `/bin/busybox`, `/bin/sh -> busybox`, `/etc/hostname`, `/tmp` and,
/// if `mount_points`, empty `/proc` and `/dev`.
fn image(mount_points: bool) -> Arc<TmpFs> {
    let fs = TmpFs::new(TmpFsOptions::default());
    let root = fs.root();
    let dir = |parent: &Arc<dyn overlay_core::vfs::Inode>, name: &str| {
        parent
            .create(name, &NewNode::new(FileType::Directory, 0o755, 0, 0))
            .unwrap()
    };
    let file = |parent: &Arc<dyn overlay_core::vfs::Inode>, name: &str, bytes: &[u8]| {
        let file = parent
            .create(name, &NewNode::new(FileType::Regular, 0o755, 0, 0))
            .unwrap();
        file.write_at(0, bytes).unwrap();
    };
    let bin = dir(&root, "bin");
    file(&bin, "busybox", BUSYBOX);
    bin.symlink("sh", "busybox", 0, 0).unwrap();
    let etc = dir(&root, "etc");
    file(&etc, "hostname", b"box\n");
    dir(&root, "tmp");
    if mount_points {
        dir(&root, "proc");
        dir(&root, "dev");
    }
    fs
}

struct Container {
    union: Arc<OverlayFs>,
    ns: Namespace,
}

fn container(mount_points: bool) -> Container {
    let upper = UpperLayer::new(TmpFs::new(TmpFsOptions::default())).unwrap();
    let union = OverlayFs::new(
        vec![Layer::new(image(mount_points))],
        Some(upper),
        OverlayOptions::default(),
    )
    .unwrap();
    let process = ProcessSummary {
        pid: 1,
        ppid: 0,
        pgid: 1,
        sid: 1,
        uid: 0,
        gid: 0,
        state: 'R',
        comm: "sh".into(),
        cmdline: vec![b"sh".to_vec()],
        mapped_bytes: 1 << 20,
        ticks: 0,
        start_ticks: 0,
        exe: "/bin/sh".into(),
        cwd: "/".into(),
        fds: vec![(0, "/dev/console".into())],
    };
    let procfs = ProcFs::new(Arc::new(OneProcess(Mutex::new(process))), 1);
    let random: RandomSource = Arc::new(|buf: &mut [u8]| buf.fill(1));
    let devfs = DevFs::new(
        Terminal::new(Arc::new(Sink)),
        random,
        DevFsOptions::default(),
    );
    let root = ContainerRoot::container(union.clone(), procfs, devfs);
    Container {
        union,
        ns: Namespace::with_filesystem(root),
    }
}

fn root() -> Credentials {
    Credentials::root()
}

fn read_all(ns: &Namespace, path: &str) -> Vec<u8> {
    let mut file = ns.open(&root(), path, OpenFlags::READ, 0).unwrap();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match file.read(&mut buf).unwrap() {
            0 => return bytes,
            count => bytes.extend_from_slice(&buf[..count]),
        }
    }
}

#[test]
fn dev_null_and_zero_work_through_the_container_root() {
    let c = container(true);
    let mut null =
        c.ns.open(
            &root(),
            "/dev/null",
            OpenFlags::WRITE | OpenFlags::TRUNCATE,
            0,
        )
        .unwrap();
    assert_eq!(null.write(b"discarded"), Ok(9));
    assert!(read_all(&c.ns, "/dev/null").is_empty());
    let mut zero = c.ns.open(&root(), "/dev/zero", OpenFlags::READ, 0).unwrap();
    let mut buf = [9u8; 4];
    assert_eq!(zero.read(&mut buf), Ok(4));
    assert_eq!(buf, [0; 4]);
    assert_eq!(c.ns.stat(&root(), "/dev/null").unwrap().dev, DEVFS_DEV);
}

#[test]
fn proc_self_exe_resolves_through_the_union_to_the_program() {
    let c = container(true);
    let exe = c.ns.lookup(&root(), "/proc/self/exe", true).unwrap();
    let program = c.ns.lookup(&root(), "/bin/busybox", true).unwrap();
    assert_eq!(exe.metadata().unwrap().ino, program.metadata().unwrap().ino);
    let mut bytes = vec![0u8; BUSYBOX.len()];
    assert_eq!(exe.read_at(0, &mut bytes), Ok(BUSYBOX.len()));
    assert_eq!(bytes, BUSYBOX);
    assert_eq!(
        c.ns.stat(&root(), "/proc/1/exe").unwrap().kind,
        FileType::Regular
    );
}

#[test]
fn proc_files_read_through_the_container_root() {
    let c = container(true);
    let stat = String::from_utf8(read_all(&c.ns, "/proc/self/stat")).unwrap();
    assert!(stat.starts_with("1 (sh) R 0 1 1 "), "{stat}");
    let meminfo = String::from_utf8(read_all(&c.ns, "/proc/meminfo")).unwrap();
    assert!(meminfo.starts_with("MemTotal:          32768 kB\n"));
    assert_eq!(c.ns.stat(&root(), "/proc").unwrap().dev, PROCFS_DEV);
}

#[test]
fn nothing_of_proc_or_dev_reaches_the_upper_layer() {
    let c = container(true);
    let mut null =
        c.ns.open(&root(), "/dev/null", OpenFlags::WRITE, 0)
            .unwrap();
    null.write(b"x").unwrap();
    read_all(&c.ns, "/proc/self/status");
    read_all(&c.ns, "/proc/mounts");
    c.ns.read_dir(&root(), "/proc/self/fd").unwrap();
    c.ns.read_dir(&root(), "/dev").unwrap();
    c.ns.read_dir(&root(), "/").unwrap();
    let _ = c.ns.mkdir(&root(), "/dev/new", 0o755);
    let _ = c.ns.open(
        &root(),
        "/proc/new",
        OpenFlags::WRITE | OpenFlags::CREATE,
        0o644,
    );
    assert_eq!(c.union.diff().unwrap(), vec![]);
}

#[test]
fn dot_dot_from_a_mount_returns_to_the_container_root() {
    let c = container(true);
    assert_eq!(read_all(&c.ns, "/proc/../etc/hostname"), b"box\n");
    assert_eq!(read_all(&c.ns, "/dev/../proc/../etc/hostname"), b"box\n");
    let up = c.ns.stat(&root(), "/proc/self/..").unwrap();
    assert_eq!(up.dev, PROCFS_DEV);
    let top = c.ns.stat(&root(), "/proc/..").unwrap();
    assert_eq!(top.ino, c.ns.stat(&root(), "/").unwrap().ino);
    assert_ne!(top.dev, PROCFS_DEV);
}

#[test]
fn rename_into_and_out_of_the_root_directory_works() {
    let c = container(true);
    let mut file =
        c.ns.open(
            &root(),
            "/tmp/a",
            OpenFlags::WRITE | OpenFlags::CREATE,
            0o644,
        )
        .unwrap();
    file.write(b"moved").unwrap();
    c.ns.rename(&root(), "/tmp/a", "/a", RenameFlags::empty())
        .unwrap();
    assert_eq!(read_all(&c.ns, "/a"), b"moved");
    c.ns.rename(&root(), "/a", "/tmp/b", RenameFlags::empty())
        .unwrap();
    assert_eq!(read_all(&c.ns, "/tmp/b"), b"moved");
    c.ns.rename(&root(), "/etc/hostname", "/hostname", RenameFlags::empty())
        .unwrap();
    assert_eq!(read_all(&c.ns, "/hostname"), b"box\n");
    let paths: Vec<String> = c
        .union
        .diff()
        .unwrap()
        .into_iter()
        .map(|ch| ch.path)
        .collect();
    assert!(paths.contains(&"/hostname".to_string()), "{paths:?}");
    assert!(paths.contains(&"/tmp/b".to_string()), "{paths:?}");
}

#[test]
fn mount_points_cannot_be_removed_or_replaced() {
    let c = container(true);
    assert_eq!(c.ns.rmdir(&root(), "/proc"), Err(FsErrno::EBUSY));
    assert_eq!(
        c.ns.rename(&root(), "/dev", "/olddev", RenameFlags::empty()),
        Err(FsErrno::EBUSY)
    );
    c.ns.mkdir(&root(), "/tmp/d", 0o755).unwrap();
    c.ns.mkdir(&root(), "/e", 0o755).unwrap();
    assert_eq!(
        c.ns.rename(&root(), "/e", "/proc", RenameFlags::empty()),
        Err(FsErrno::EBUSY)
    );
    assert_eq!(c.ns.mkdir(&root(), "/dev", 0o755), Err(FsErrno::EEXIST));
    // Still the mounted filesystems.
    assert_eq!(c.ns.stat(&root(), "/proc").unwrap().dev, PROCFS_DEV);
    assert_eq!(c.ns.stat(&root(), "/dev").unwrap().dev, DEVFS_DEV);
}

#[test]
fn mount_points_are_listed_only_where_the_image_has_them() {
    let with = container(true);
    let names = |ns: &Namespace| -> Vec<String> {
        ns.read_dir(&root(), "/")
            .unwrap()
            .into_iter()
            .map(|entry| entry.name.to_string())
            .collect()
    };
    assert!(names(&with.ns).contains(&"proc".to_string()));
    let without = container(false);
    assert!(!names(&without.ns).contains(&"proc".to_string()));
    // The mount is there for lookups either way.
    assert_eq!(without.ns.readlink(&root(), "/proc/self").unwrap(), "1");
    assert!(without.union.diff().unwrap().is_empty());
}

#[test]
fn container_root_reports_the_unions_figures() {
    let c = container(true);
    let root_fs = ContainerRoot::new(c.union.clone());
    assert_eq!(root_fs.features(), c.union.features());
    assert_eq!(root_fs.statfs(), c.union.statfs());
}
