//! What `/proc` shows, as the kernel gives it: [`ProcSource`], and [`HostSource`], a source
//! made of the crate's [`Host`] and a mount list.

use alloc::{format, string::String, sync::Arc, vec::Vec};

use crate::host::{Host, MemoryFigures, ProcessSummary, Timespec};

/// One line of `/proc/mounts`: `source target fstype options 0 0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    /// What is mounted (`overlay`, `proc`, `tmpfs`).
    pub source: String,
    /// Where, in the container (`/`, `/proc`).
    pub target: String,
    /// The filesystem type.
    pub fstype: String,
    /// The mount options, comma-separated (`rw,lowerdir=...`).
    pub options: String,
}

impl MountEntry {
    /// An entry of the four fields.
    pub fn new(source: &str, target: &str, fstype: &str, options: &str) -> MountEntry {
        MountEntry {
            source: String::from(source),
            target: String::from(target),
            fstype: String::from(fstype),
            options: String::from(options),
        }
    }
}

/// The mounts of a container as Docker's look: the union at `/` (as Linux's overlayfs shows
/// itself: `lowerdir` top first, colon-separated), `/proc`, and `/dev` (read-only here, see
/// [`crate::devices`]).
pub fn container_mounts(lowerdirs: &[&str], upperdir: &str, workdir: &str) -> Vec<MountEntry> {
    let options = format!(
        "rw,relatime,lowerdir={},upperdir={upperdir},workdir={workdir}",
        lowerdirs.join(":")
    );
    alloc::vec![
        MountEntry::new("overlay", "/", "overlay", &options),
        MountEntry::new("proc", "/proc", "proc", "rw,nosuid,nodev,noexec,relatime"),
        MountEntry::new("tmpfs", "/dev", "tmpfs", "ro,nosuid,mode=755"),
    ]
}

/// What `/proc` asks of the kernel. Each call is made when a file is read or a directory
/// listed, so it shows the state of that moment.
pub trait ProcSource: Send + Sync {
    /// The process ids of the container, ascending.
    fn pids(&self) -> Vec<u32>;

    /// The process `pid`, or `None` if there is none (it exited and was reaped).
    fn process(&self, pid: u32) -> Option<ProcessSummary>;

    /// Memory figures (`/proc/meminfo`).
    fn memory(&self) -> MemoryFigures;

    /// Time since boot (`/proc/uptime`).
    fn uptime(&self) -> Timespec;

    /// Wall-clock time (for the boot time in `/proc/stat` and the entries' times).
    fn realtime(&self) -> Timespec;

    /// The mounts (`/proc/mounts`), in mount order.
    fn mounts(&self) -> Vec<MountEntry>;

    /// The process reading `/proc` now, if the source knows it: then `/proc/self` follows
    /// it, and one [`super::ProcFs`] serves every process. `None` (the default): `/proc/self`
    /// is the pid the filesystem was made for.
    fn current_pid(&self) -> Option<u32> {
        None
    }

    /// `/proc/version` (keep it in step with `uname`).
    fn version(&self) -> String {
        String::from("Linux version 6.1.0 (overlay-kernel) #1 SMP PREEMPT_DYNAMIC\n")
    }

    /// `/proc/cpuinfo`.
    fn cpuinfo(&self) -> String {
        String::from(
            "processor\t: 0\nvendor_id\t: unknown\nmodel name\t: QEMU Virtual CPU\n\
             cpu MHz\t\t: 1000.000\ncache size\t: 0 KB\nphysical id\t: 0\nsiblings\t: 1\n\
             core id\t\t: 0\ncpu cores\t: 1\nfpu\t\t: yes\nflags\t\t: fpu tsc msr pae cx8 \
             apic sep pge cmov pat clflush mmx fxsr sse sse2 syscall nx lm\nbogomips\t: \
             2000.00\n\n",
        )
    }
}

/// A [`ProcSource`] over the crate's [`Host`] (processes, memory, clocks) and a fixed mount
/// list.
pub struct HostSource {
    host: Arc<dyn Host>,
    mounts: Vec<MountEntry>,
    current: Option<CurrentPid>,
}

/// Tells which process is running now (the caller of the system call being served).
pub type CurrentPid = Arc<dyn Fn() -> Option<u32> + Send + Sync>;

impl HostSource {
    /// A source asking `host`, with `mounts` for `/proc/mounts`.
    pub fn new(host: Arc<dyn Host>, mounts: Vec<MountEntry>) -> HostSource {
        HostSource {
            host,
            mounts,
            current: None,
        }
    }

    /// The same source, answering [`ProcSource::current_pid`] with `current`: one
    /// [`super::ProcFs`] then serves every process of the container.
    pub fn following(mut self, current: CurrentPid) -> HostSource {
        self.current = Some(current);
        self
    }
}

impl ProcSource for HostSource {
    fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.host.processes().iter().map(|p| p.pid).collect();
        pids.sort_unstable();
        pids
    }

    fn process(&self, pid: u32) -> Option<ProcessSummary> {
        self.host.processes().into_iter().find(|p| p.pid == pid)
    }

    fn memory(&self) -> MemoryFigures {
        self.host.memory()
    }

    fn uptime(&self) -> Timespec {
        self.host.monotonic()
    }

    fn realtime(&self) -> Timespec {
        self.host.realtime()
    }

    fn mounts(&self) -> Vec<MountEntry> {
        self.mounts.clone()
    }

    fn current_pid(&self) -> Option<u32> {
        self.current.as_ref().and_then(|current| current())
    }
}
