//! `/proc` as BusyBox's `ps`, `free`, `uptime` and `mount` read it.

use std::sync::{Arc, Mutex};

use overlay_core::posix::Namespace;
use overlay_core::vfs::{Credentials, FileType, OpenFlags};
use overlay_core::Errno as FsErrno;
use overlay_syscalls::host::{MemoryFigures, ProcessSummary, Timespec};
use overlay_syscalls::procfs::{container_mounts, MountEntry, ProcFs, ProcSource};

/// A process table the test changes.
struct Table {
    processes: Mutex<Vec<ProcessSummary>>,
}

impl ProcSource for Table {
    fn pids(&self) -> Vec<u32> {
        self.processes
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.pid)
            .collect()
    }

    fn process(&self, pid: u32) -> Option<ProcessSummary> {
        self.processes
            .lock()
            .unwrap()
            .iter()
            .find(|p| p.pid == pid)
            .cloned()
    }

    fn memory(&self) -> MemoryFigures {
        MemoryFigures {
            total_bytes: 64 << 20,
            free_bytes: 48 << 20,
        }
    }

    fn uptime(&self) -> Timespec {
        Timespec {
            secs: 73,
            nanos: 420_000_000,
        }
    }

    fn realtime(&self) -> Timespec {
        Timespec {
            secs: 1_764_900_000,
            nanos: 0,
        }
    }

    fn mounts(&self) -> Vec<MountEntry> {
        container_mounts(&["/layers/2", "/layers/1"], "/upper", "/work")
    }
}

fn summary(pid: u32, ppid: u32, comm: &str) -> ProcessSummary {
    ProcessSummary {
        pid,
        ppid,
        pgid: pid,
        sid: 1,
        uid: 0,
        gid: 0,
        state: 'S',
        comm: comm.to_string(),
        cmdline: vec![
            comm.as_bytes().to_vec(),
            b"-c".to_vec(),
            b"echo hi".to_vec(),
        ],
        mapped_bytes: 3 << 20,
        ticks: 12,
        start_ticks: 345,
        exe: "/bin/busybox".to_string(),
        cwd: "/root".to_string(),
        fds: vec![
            (0, "/dev/console".to_string()),
            (1, "pipe:[3]".to_string()),
            (2, "/dev/console".to_string()),
        ],
    }
}

fn proc_for(pid: u32) -> (Namespace, Arc<Table>) {
    let table = Arc::new(Table {
        processes: Mutex::new(vec![summary(1, 0, "sh"), summary(7, 1, "ps")]),
    });
    let procfs = ProcFs::new(table.clone(), pid);
    (Namespace::with_filesystem(procfs), table)
}

fn root() -> Credentials {
    Credentials::root()
}

fn read(ns: &Namespace, path: &str) -> Vec<u8> {
    let mut file = ns.open(&root(), path, OpenFlags::READ, 0).unwrap();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 7]; // small reads: the text must come out whole in pieces
    loop {
        let count = file.read(&mut buf).unwrap();
        if count == 0 {
            return bytes;
        }
        bytes.extend_from_slice(&buf[..count]);
    }
}

fn read_text(ns: &Namespace, path: &str) -> String {
    String::from_utf8(read(ns, path)).unwrap()
}

#[test]
fn self_is_the_process_the_filesystem_was_made_for() {
    let (ns, _) = proc_for(7);
    assert_eq!(ns.readlink(&root(), "/self").unwrap(), "7");
    assert_eq!(read_text(&ns, "/self/comm"), "ps\n");
    assert_eq!(ns.stat(&root(), "/self").unwrap().kind, FileType::Directory);
}

#[test]
fn exe_and_cwd_link_to_paths_in_the_container() {
    let (ns, _) = proc_for(7);
    assert_eq!(ns.readlink(&root(), "/self/exe").unwrap(), "/bin/busybox");
    assert_eq!(ns.readlink(&root(), "/1/cwd").unwrap(), "/root");
    assert_eq!(ns.readlink(&root(), "/1/root").unwrap(), "/");
}

#[test]
fn fd_directory_lists_descriptors_as_links_to_their_descriptions() {
    let (ns, _) = proc_for(7);
    let names: Vec<String> = ns
        .read_dir(&root(), "/self/fd")
        .unwrap()
        .into_iter()
        .map(|entry| entry.name.to_string())
        .collect();
    assert_eq!(names, ["0", "1", "2"]);
    assert_eq!(ns.readlink(&root(), "/self/fd/1").unwrap(), "pipe:[3]");
    assert_eq!(ns.readlink(&root(), "/self/fd/0").unwrap(), "/dev/console");
    assert_eq!(ns.lstat(&root(), "/self/fd/9").err(), Some(FsErrno::ENOENT));
    assert_eq!(
        ns.lstat(&root(), "/self/fd/01").err(),
        Some(FsErrno::ENOENT)
    );
}

#[test]
fn stat_line_parses_as_ps_reads_it() {
    let (ns, _) = proc_for(7);
    let text = read_text(&ns, "/7/stat");
    assert!(text.starts_with("7 (ps) S "), "{text}");
    assert!(text.ends_with('\n'));
    // Fields after the command's closing parenthesis: state is field 3 of 52.
    let after = &text[text.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    assert_eq!(fields.len(), 50, "{text}");
    let field = |n: usize| fields[n - 3];
    assert_eq!(field(3), "S");
    assert_eq!(field(4), "1"); // ppid
    assert_eq!(field(5), "7"); // pgrp
    assert_eq!(field(14), "12"); // utime
    assert_eq!(field(20), "1"); // num_threads
    assert_eq!(field(22), "345"); // starttime
    assert_eq!(field(23), (3u64 << 20).to_string()); // vsize
    assert_eq!(field(24), "768"); // rss in pages
    assert_eq!(field(38), "17"); // exit_signal
    for f in &fields[1..] {
        f.parse::<i64>()
            .or_else(|_| f.parse::<u64>().map(|_| 0))
            .unwrap();
    }
}

#[test]
fn status_names_the_process() {
    let (ns, _) = proc_for(7);
    let text = read_text(&ns, "/7/status");
    assert!(text.contains("Name:\tps\n"), "{text}");
    assert!(text.contains("State:\tS (sleeping)\n"));
    assert!(text.contains("Pid:\t7\n"));
    assert!(text.contains("PPid:\t1\n"));
    assert!(text.contains("Uid:\t0\t0\t0\t0\n"));
    assert!(text.contains("VmRSS:\t    3072 kB\n"), "{text}");
}

#[test]
fn cmdline_separates_arguments_with_nuls() {
    let (ns, _) = proc_for(7);
    assert_eq!(read(&ns, "/1/cmdline"), b"sh\0-c\0echo hi\0");
}

#[test]
fn meminfo_has_what_free_reads() {
    let (ns, _) = proc_for(7);
    let text = read_text(&ns, "/meminfo");
    assert!(text.starts_with("MemTotal:          65536 kB\n"), "{text}");
    assert!(text.contains("\nMemFree:           49152 kB\n"));
    for name in [
        "MemAvailable:",
        "Buffers:",
        "Cached:",
        "SwapTotal:",
        "SwapFree:",
        "Shmem:",
    ] {
        assert!(text.contains(name), "{name} missing");
    }
}

#[test]
fn uptime_and_loadavg_and_stat() {
    let (ns, _) = proc_for(7);
    assert_eq!(read_text(&ns, "/uptime"), "73.42 0.00\n");
    assert_eq!(read_text(&ns, "/loadavg"), "0.00 0.00 0.00 1/2 7\n");
    let stat = read_text(&ns, "/stat");
    assert!(stat.starts_with("cpu  24 0 0 7318 "), "{stat}");
    assert!(stat.contains(&format!("\nbtime {}\n", 1_764_900_000 - 73)));
}

#[test]
fn mounts_show_the_union_proc_and_dev() {
    let (ns, _) = proc_for(7);
    let text = read_text(&ns, "/mounts");
    assert_eq!(ns.readlink(&root(), "/mounts").unwrap(), "self/mounts");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "overlay / overlay rw,relatime,lowerdir=/layers/2:/layers/1,upperdir=/upper,\
         workdir=/work 0 0"
    );
    assert!(lines[1].starts_with("proc /proc proc "));
    assert!(lines[2].starts_with("tmpfs /dev tmpfs "));
    assert_eq!(read_text(&ns, "/7/mounts"), text);
}

#[test]
fn version_cpuinfo_and_filesystems_are_there() {
    let (ns, _) = proc_for(7);
    assert!(read_text(&ns, "/version").starts_with("Linux version "));
    assert!(read_text(&ns, "/cpuinfo").starts_with("processor\t: 0\n"));
    assert!(read_text(&ns, "/filesystems").contains("nodev\tproc\n"));
}

#[test]
fn listing_shows_top_entries_and_every_pid_with_distinct_inodes() {
    let (ns, _) = proc_for(7);
    let entries = ns.read_dir(&root(), "/").unwrap();
    let names: Vec<&str> = entries.iter().map(|entry| &*entry.name).collect();
    for name in ["self", "meminfo", "uptime", "mounts", "stat", "1", "7"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let mut inos: Vec<u64> = entries.iter().map(|entry| entry.ino).collect();
    for pid in ["1", "7"] {
        for entry in ns.read_dir(&root(), &format!("/{pid}")).unwrap() {
            inos.push(entry.ino);
        }
        for entry in ns.read_dir(&root(), &format!("/{pid}/fd")).unwrap() {
            inos.push(entry.ino);
        }
    }
    let count = inos.len();
    inos.sort_unstable();
    inos.dedup();
    assert_eq!(inos.len(), count);
    // Stable: the same entry keeps its number.
    let first = ns.stat(&root(), "/7/stat").unwrap().ino;
    assert_eq!(ns.stat(&root(), "/self/stat").unwrap().ino, first);
}

#[test]
fn a_process_that_is_gone_is_not_found() {
    let (ns, table) = proc_for(7);
    let stat = ns.lookup(&root(), "/1/stat", false).unwrap();
    table.processes.lock().unwrap().retain(|p| p.pid != 1);
    assert_eq!(ns.lookup(&root(), "/1", false).err(), Some(FsErrno::ENOENT));
    assert_eq!(stat.metadata().err(), Some(FsErrno::ENOENT));
    assert!(!ns
        .read_dir(&root(), "/")
        .unwrap()
        .iter()
        .any(|e| &*e.name == "1"));
}

#[test]
fn proc_cannot_be_changed() {
    let (ns, _) = proc_for(7);
    let user = Credentials::user(1000, 1000);
    // Root may open a file for writing, as on Linux, but writing fails.
    let mut meminfo = ns.open(&root(), "/meminfo", OpenFlags::WRITE, 0).unwrap();
    assert_eq!(meminfo.write(b"x"), Err(FsErrno::EIO));
    assert_eq!(
        ns.open(&user, "/meminfo", OpenFlags::WRITE, 0).err(),
        Some(FsErrno::EACCES)
    );
    let bare = Namespace::new(ns.root().clone());
    let create = OpenFlags::WRITE | OpenFlags::CREATE;
    assert_eq!(
        bare.open(&root(), "/new", create, 0o644).err(),
        Some(FsErrno::EACCES)
    );
    assert_eq!(bare.mkdir(&root(), "/dir", 0o755), Err(FsErrno::EPERM));
    assert_eq!(bare.unlink(&root(), "/meminfo"), Err(FsErrno::EPERM));
    assert_eq!(bare.chmod(&root(), "/meminfo", 0o600), Err(FsErrno::EPERM));
}

#[test]
fn descriptor_links_tell_which_descriptor_they_stand_for() {
    let (ns, _) = proc_for(7);
    let link = ns.lookup(&root(), "/self/fd/1", false).unwrap();
    assert_eq!(
        overlay_syscalls::procfs::descriptor_link(&*link),
        Some((7, 1))
    );
    let exe = ns.lookup(&root(), "/self/exe", false).unwrap();
    assert_eq!(overlay_syscalls::procfs::descriptor_link(&*exe), None);
}

#[test]
fn one_procfs_follows_the_current_process_when_the_source_knows_it() {
    use overlay_syscalls::host::Host;
    use overlay_syscalls::procfs::HostSource;
    use std::sync::atomic::{AtomicU32, Ordering};
    struct Kernel;
    impl Host for Kernel {
        fn realtime(&self) -> Timespec {
            Timespec::default()
        }
        fn monotonic(&self) -> Timespec {
            Timespec::default()
        }
        fn random(&self, buf: &mut [u8]) {
            buf.fill(0);
        }
        fn processes(&self) -> Vec<ProcessSummary> {
            vec![summary(1, 0, "sh"), summary(7, 1, "ps")]
        }
        fn memory(&self) -> MemoryFigures {
            MemoryFigures::default()
        }
    }
    let running = Arc::new(AtomicU32::new(1));
    let now = running.clone();
    let source = HostSource::new(Arc::new(Kernel), Vec::new())
        .following(Arc::new(move || Some(now.load(Ordering::Relaxed))));
    let ns = Namespace::with_filesystem(ProcFs::new(Arc::new(source), 0));
    assert_eq!(read_text(&ns, "/self/comm"), "sh\n");
    running.store(7, Ordering::Relaxed);
    assert_eq!(read_text(&ns, "/self/comm"), "ps\n");
}
