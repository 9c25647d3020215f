//! `/dev` as a container's programs see it, through the POSIX layer.

use std::sync::{Arc, Mutex};

use linux_raw_sys::general::O_RDWR;
use overlay_core::posix::Namespace;
use overlay_core::vfs::{Credentials, DeviceId, FileSystem, FileType, OpenFlags};
use overlay_core::Errno as FsErrno;
use overlay_syscalls::devices::{open_special, DevFs, DevFsOptions, RandomSource};
use overlay_syscalls::tty::{ConsoleOutput, Terminal};

#[derive(Default)]
struct Screen(Mutex<Vec<u8>>);

impl ConsoleOutput for Screen {
    fn write(&self, bytes: &[u8]) {
        self.0.lock().unwrap().extend_from_slice(bytes);
    }
}

fn devfs() -> (Arc<DevFs>, Arc<Terminal>, Arc<Screen>) {
    let screen = Arc::new(Screen::default());
    let terminal = Terminal::new(screen.clone());
    let random: RandomSource = Arc::new(|buf: &mut [u8]| buf.fill(0xa5));
    let dev = DevFs::new(terminal.clone(), random, DevFsOptions::default());
    (dev, terminal, screen)
}

fn namespace() -> (Namespace, Arc<Terminal>, Arc<Screen>) {
    let (dev, terminal, screen) = devfs();
    (Namespace::with_filesystem(dev), terminal, screen)
}

fn root() -> Credentials {
    Credentials::root()
}

#[test]
fn dev_lists_the_usual_entries() {
    let (ns, _, _) = namespace();
    let names: Vec<String> = ns
        .read_dir(&root(), "/")
        .unwrap()
        .into_iter()
        .map(|entry| entry.name.to_string())
        .collect();
    for name in [
        "console", "fd", "full", "null", "pts", "random", "shm", "stderr", "stdin", "stdout",
        "tty", "urandom", "zero",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    assert!(ns.read_dir(&root(), "/pts").unwrap().is_empty());
}

#[test]
fn device_nodes_have_linux_numbers_and_modes() {
    let (ns, _, _) = namespace();
    for (name, major, minor, mode) in [
        ("null", 1, 3, 0o666),
        ("zero", 1, 5, 0o666),
        ("full", 1, 7, 0o666),
        ("random", 1, 8, 0o666),
        ("urandom", 1, 9, 0o666),
        ("tty", 5, 0, 0o666),
        ("console", 5, 1, 0o600),
    ] {
        let metadata = ns.stat(&root(), &format!("/{name}")).unwrap();
        assert_eq!(metadata.kind, FileType::CharDevice, "{name}");
        assert_eq!(metadata.rdev, DeviceId { major, minor }, "{name}");
        assert_eq!(metadata.mode, mode, "{name}");
        assert_eq!((metadata.uid, metadata.gid), (0, 0));
    }
    let shm = ns.stat(&root(), "/shm").unwrap();
    assert_eq!(shm.mode, 0o1777);
}

#[test]
fn inode_numbers_are_distinct() {
    let (ns, _, _) = namespace();
    let entries = ns.read_dir(&root(), "/").unwrap();
    let mut inos: Vec<u64> = entries.iter().map(|entry| entry.ino).collect();
    inos.push(ns.stat(&root(), "/").unwrap().ino);
    let count = inos.len();
    inos.sort_unstable();
    inos.dedup();
    assert_eq!(inos.len(), count);
}

#[test]
fn null_reads_nothing_and_swallows_writes() {
    let (ns, _, _) = namespace();
    let user = Credentials::user(1000, 1000);
    let mut null = ns
        .open(&user, "/null", OpenFlags::READ | OpenFlags::WRITE, 0)
        .unwrap();
    assert_eq!(null.write(b"gone"), Ok(4));
    let mut buf = [1u8; 8];
    assert_eq!(null.read(&mut buf), Ok(0));
}

#[test]
fn zero_reads_zeros_and_full_refuses_writes() {
    let (ns, _, _) = namespace();
    let mut zero = ns
        .open(&root(), "/zero", OpenFlags::READ | OpenFlags::WRITE, 0)
        .unwrap();
    let mut buf = [1u8; 8];
    assert_eq!(zero.read(&mut buf), Ok(8));
    assert_eq!(buf, [0; 8]);
    assert_eq!(zero.write(b"x"), Ok(1));
    let mut full = ns
        .open(&root(), "/full", OpenFlags::READ | OpenFlags::WRITE, 0)
        .unwrap();
    assert_eq!(full.write(b"x"), Err(FsErrno::ENOSPC));
    buf = [1u8; 8];
    assert_eq!(full.read(&mut buf), Ok(8));
    assert_eq!(buf, [0; 8]);
}

#[test]
fn urandom_reads_from_the_random_source() {
    let (ns, _, _) = namespace();
    let mut urandom = ns.open(&root(), "/urandom", OpenFlags::READ, 0).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(urandom.read(&mut buf), Ok(16));
    assert_eq!(buf, [0xa5; 16]);
}

#[test]
fn fd_and_std_streams_link_to_proc_self() {
    let (ns, _, _) = namespace();
    assert_eq!(ns.readlink(&root(), "/fd").unwrap(), "/proc/self/fd");
    assert_eq!(ns.readlink(&root(), "/stdin").unwrap(), "/proc/self/fd/0");
    assert_eq!(ns.readlink(&root(), "/stdout").unwrap(), "/proc/self/fd/1");
    assert_eq!(ns.readlink(&root(), "/stderr").unwrap(), "/proc/self/fd/2");
}

#[test]
fn console_and_tty_open_the_terminal() {
    let (ns, terminal, screen) = namespace();
    let console = ns.lookup(&root(), "/console", true).unwrap();
    let file = open_special(&console, O_RDWR).expect("the console is special");
    assert_eq!(file.write(b"hi\n"), Ok(3));
    assert_eq!(&*screen.0.lock().unwrap(), b"hi\r\n");
    terminal.input(b'y');
    terminal.input(b'\r');
    let mut buf = [0u8; 8];
    assert_eq!(file.read(&mut buf), Ok(2));
    assert_eq!(file.describe(), "/dev/console");
    assert_eq!(
        file.metadata().unwrap().rdev,
        DeviceId { major: 5, minor: 1 }
    );
    let tty = ns.lookup(&root(), "/tty", true).unwrap();
    assert_eq!(open_special(&tty, O_RDWR).unwrap().describe(), "/dev/tty");
    let null = ns.lookup(&root(), "/null", true).unwrap();
    assert!(open_special(&null, O_RDWR).is_none());
}

#[test]
fn dev_is_read_only_for_root_and_closed_to_others() {
    let (ns, _, _) = namespace();
    let user = Credentials::user(1000, 1000);
    let create = OpenFlags::WRITE | OpenFlags::CREATE;
    assert_eq!(
        ns.open(&root(), "/new", create, 0o644).err(),
        Some(FsErrno::EROFS)
    );
    assert_eq!(
        ns.open(&user, "/new", create, 0o644).err(),
        Some(FsErrno::EROFS)
    );
    let (dev, _, _) = devfs();
    // Through a namespace that does not know the filesystem is read-only, the permission
    // check refuses a user first, and the filesystem refuses root.
    let bare = Namespace::new(dev.root());
    assert_eq!(
        bare.open(&user, "/new", create, 0o644).err(),
        Some(FsErrno::EACCES)
    );
    assert_eq!(
        bare.open(&root(), "/new", create, 0o644).err(),
        Some(FsErrno::EROFS)
    );
    assert_eq!(bare.unlink(&root(), "/null"), Err(FsErrno::EROFS));
    assert_eq!(bare.mkdir(&root(), "/dir", 0o755), Err(FsErrno::EROFS));
    assert_eq!(bare.chmod(&root(), "/null", 0o600), Err(FsErrno::EROFS));
}
