//! The text of each `/proc` file, in the formats Linux writes and BusyBox's `ps`, `free`,
//! `uptime`, `mount` and `top` parse (`proc(5)`).

use alloc::{format, string::String, vec::Vec};
use core::fmt::Write;

use super::source::{MountEntry, ProcSource};
use crate::host::{ProcessSummary, Timespec};
use crate::vm::PAGE_BYTES;

/// Clock ticks a second in `/proc` (`USER_HZ`, what `AT_CLKTCK` tells programs).
pub const USER_HZ: u64 = 100;

/// `/proc/PID/stat`: one line of 52 fields.
pub fn stat(process: &ProcessSummary) -> String {
    let pages = process.mapped_bytes / PAGE_BYTES;
    let mut line = format!(
        "{pid} ({comm}) {state} {ppid} {pgrp} {session} 0 -1 4194304 0 0 0 0 {utime} 0 0 0 \
         20 0 1 0 {start} {vsize} {rss} 18446744073709551615",
        pid = process.pid,
        comm = process.comm,
        state = process.state,
        ppid = process.ppid,
        pgrp = process.pgid,
        session = process.sid,
        utime = process.ticks,
        start = process.start_ticks,
        vsize = process.mapped_bytes,
        rss = pages,
    );
    // startcode .. cnswap (12 fields), exit_signal (SIGCHLD), processor .. exit_code (14).
    line.push_str(&" 0".repeat(12));
    line.push_str(" 17");
    line.push_str(&" 0".repeat(14));
    line.push('\n');
    line
}

/// The name `/proc/PID/status` gives a state letter.
fn state_name(state: char) -> &'static str {
    match state {
        'R' => "R (running)",
        'S' => "S (sleeping)",
        'D' => "D (disk sleep)",
        'T' => "T (stopped)",
        't' => "t (tracing stop)",
        'Z' => "Z (zombie)",
        'X' => "X (dead)",
        'I' => "I (idle)",
        _ => "S (sleeping)",
    }
}

/// `/proc/PID/status`: `Name:\tvalue` lines.
pub fn status(process: &ProcessSummary) -> String {
    let kb = process.mapped_bytes / 1024;
    let (uid, gid) = (process.uid, process.gid);
    format!(
        "Name:\t{comm}\nState:\t{state}\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\nPPid:\t{ppid}\n\
         TracerPid:\t0\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{gid}\t{gid}\t{gid}\t{gid}\n\
         FDSize:\t64\nGroups:\t\nNSpgid:\t{pgid}\nNSsid:\t{sid}\nVmPeak:\t{kb:8} kB\n\
         VmSize:\t{kb:8} kB\nVmRSS:\t{kb:8} kB\nThreads:\t1\n",
        comm = process.comm,
        state = state_name(process.state),
        pid = process.pid,
        ppid = process.ppid,
        pgid = process.pgid,
        sid = process.sid,
    )
}

/// `/proc/PID/statm`: sizes in pages.
pub fn statm(process: &ProcessSummary) -> String {
    let pages = process.mapped_bytes / PAGE_BYTES;
    format!("{pages} {pages} 0 0 0 {pages} 0\n")
}

/// `/proc/PID/cmdline`: each argument followed by a NUL.
pub fn cmdline(process: &ProcessSummary) -> Vec<u8> {
    let mut bytes = Vec::new();
    for arg in &process.cmdline {
        bytes.extend_from_slice(arg);
        bytes.push(0);
    }
    bytes
}

/// `/proc/meminfo`, in kB, padded as Linux pads it.
pub fn meminfo(source: &dyn ProcSource) -> String {
    let memory = source.memory();
    let total = memory.total_bytes / 1024;
    let free = memory.free_bytes.min(memory.total_bytes) / 1024;
    let rows = [
        ("MemTotal", total),
        ("MemFree", free),
        ("MemAvailable", free),
        ("Buffers", 0),
        ("Cached", 0),
        ("SwapCached", 0),
        ("Active", 0),
        ("Inactive", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", total - free),
        ("Mapped", 0),
        ("Shmem", 0),
        ("Slab", 0),
        ("SReclaimable", 0),
        ("SUnreclaim", 0),
        ("CommitLimit", total),
        ("Committed_AS", total - free),
    ];
    let mut text = String::new();
    for (name, kb) in rows {
        let _ = writeln!(text, "{:<16}{kb:>8} kB", format!("{name}:"));
    }
    text
}

/// Seconds with two decimals, as `/proc/uptime` writes them.
fn centiseconds(time: Timespec) -> String {
    format!("{}.{:02}", time.secs.max(0), time.nanos / 10_000_000)
}

/// `/proc/uptime`: seconds since boot and idle seconds (idle time is not counted: 0).
pub fn uptime(source: &dyn ProcSource) -> String {
    format!("{} 0.00\n", centiseconds(source.uptime()))
}

/// `/proc/loadavg`: no load averages are kept (zeros); running/total processes, last pid.
pub fn loadavg(source: &dyn ProcSource) -> String {
    let pids = source.pids();
    let running = pids
        .iter()
        .filter_map(|&pid| source.process(pid))
        .filter(|process| process.state == 'R')
        .count()
        .max(1);
    let last = pids.iter().copied().max().unwrap_or(0);
    format!("0.00 0.00 0.00 {running}/{} {last}\n", pids.len())
}

/// `/proc/stat`: the CPU's ticks (the processes' as user time, the rest idle), boot time,
/// process counts.
pub fn global_stat(source: &dyn ProcSource) -> String {
    let uptime = source.uptime();
    let total = (uptime.secs.max(0) as u64) * USER_HZ + u64::from(uptime.nanos) / 10_000_000;
    let processes: Vec<ProcessSummary> = source
        .pids()
        .into_iter()
        .filter_map(|pid| source.process(pid))
        .collect();
    let user: u64 = processes.iter().map(|p| p.ticks).sum();
    let idle = total.saturating_sub(user);
    let running = processes.iter().filter(|p| p.state == 'R').count().max(1);
    let btime = (source.realtime().secs - uptime.secs).max(0);
    let last = processes.iter().map(|p| p.pid).max().unwrap_or(0);
    let cpu = format!("{user} 0 0 {idle} 0 0 0 0 0 0");
    format!(
        "cpu  {cpu}\ncpu0 {cpu}\nintr 0\nctxt 0\nbtime {btime}\nprocesses {last}\n\
         procs_running {running}\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n"
    )
}

/// `/proc/filesystems`: the filesystem types this kernel mounts.
pub fn filesystems() -> String {
    String::from("nodev\tproc\nnodev\ttmpfs\nnodev\tdevtmpfs\nnodev\toverlay\n")
}

/// `/proc/mounts`: one line per mount, with space, tab, newline and backslash escaped as
/// octal (`\040`), as Linux writes them.
pub fn mounts(entries: &[MountEntry]) -> String {
    let mut text = String::new();
    for entry in entries {
        for (index, field) in [&entry.source, &entry.target, &entry.fstype, &entry.options]
            .into_iter()
            .enumerate()
        {
            if index > 0 {
                text.push(' ');
            }
            escape_into(&mut text, field);
        }
        text.push_str(" 0 0\n");
    }
    text
}

fn escape_into(text: &mut String, field: &str) {
    for c in field.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => {
                let _ = write!(text, "\\{:03o}", c as u32);
            }
            c => text.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_fields_escape_blanks_as_linux_does() {
        let entries = [MountEntry::new("a b", "/x\\y", "tmpfs", "rw")];
        assert_eq!(mounts(&entries), "a\\040b /x\\134y tmpfs rw 0 0\n");
    }

    #[test]
    fn uptime_has_two_decimals() {
        let time = Timespec {
            secs: 12,
            nanos: 50_000_000,
        };
        assert_eq!(centiseconds(time), "12.05");
    }
}
