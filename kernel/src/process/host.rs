//! The kernel's services to the system calls (`overlay_syscalls::host::Host`): clocks from
//! the RTC and the timer, pseudo-random bytes, the run's processes and the heap's figures; and
//! the console terminal the run's tasks may share.

use alloc::{sync::Arc, vec::Vec};
use core::sync::atomic::{AtomicU64, Ordering};

use overlay_syscalls::host::{Host, MemoryFigures, ProcessSummary, Timespec};

use crate::arch;

/// The state of the pseudo-random generator (xorshift64*, seeded from the time-stamp
/// counter at first use). Not cryptographic: AT_RANDOM and /dev/urandom need unpredictable
/// bytes for stack protectors and hashing, not keys.
static RANDOM_STATE: AtomicU64 = AtomicU64::new(0);

fn next_random() -> u64 {
    let mut state = RANDOM_STATE.load(Ordering::Relaxed);
    if state == 0 {
        state = crate::bench::cycles() | 1;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    RANDOM_STATE.store(state, Ordering::Relaxed);
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// The kernel as the system calls' host.
#[derive(Clone, Default)]
pub struct KernelHost {
    /// The console, if the run's tasks use it.
    pub terminal: Option<Arc<crate::console_tty::ConsoleTerminal>>,
    /// The run's `/proc` table, refreshed as tasks change.
    pub proc_table: Option<Arc<super::proc_table::ProcTable>>,
}

impl KernelHost {
    /// A host with no processes and no terminal (for loading a program).
    pub fn for_exec() -> KernelHost {
        KernelHost::default()
    }

    /// Feeds typed bytes to the terminal; whether any arrived.
    pub fn poll_console(&self) -> bool {
        self.terminal
            .as_ref()
            .is_some_and(|terminal| terminal.poll_input())
    }

    /// The signals the terminal produced (Ctrl-C), with the process group they go to.
    pub fn take_terminal_signals(&self) -> Vec<(u32, u32)> {
        self.terminal
            .as_ref()
            .map(|terminal| terminal.take_signals())
            .unwrap_or_default()
    }
}

fn ticks_to_timespec(ticks: u64) -> Timespec {
    let nanos_per_tick = 1_000_000_000 / arch::TIMER_HZ;
    let nanos = ticks.saturating_mul(nanos_per_tick);
    Timespec {
        secs: (nanos / 1_000_000_000) as i64,
        nanos: (nanos % 1_000_000_000) as u32,
    }
}

impl Host for KernelHost {
    fn realtime(&self) -> Timespec {
        let since_boot = self.monotonic();
        Timespec {
            secs: crate::rtc::boot_epoch_seconds() + since_boot.secs,
            nanos: since_boot.nanos,
        }
    }

    fn monotonic(&self) -> Timespec {
        ticks_to_timespec(arch::ticks())
    }

    fn random(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = next_random().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn processes(&self) -> Vec<ProcessSummary> {
        self.proc_table
            .as_ref()
            .map(|table| table.all())
            .unwrap_or_default()
    }

    fn memory(&self) -> MemoryFigures {
        let heap = crate::heap::stats();
        MemoryFigures {
            total_bytes: heap.claimed_bytes,
            free_bytes: heap.claimed_bytes.saturating_sub(heap.allocated_bytes),
        }
    }
}
