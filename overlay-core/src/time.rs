//! Clocks: where filesystems get the time for `atime`, `mtime` and `ctime`.
//!
//! A bare-metal kernel may have no wall clock at all, so the time source is a trait the kernel
//! supplies; [`TickClock`] is the default, a counter that still orders events correctly.

use core::sync::atomic::{AtomicI64, Ordering};

use crate::vfs::Timespec;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timespec;
}

/// A clock without a time source: each reading is one second after the previous one, so
/// timestamps still tell which change came last.
#[derive(Debug, Default)]
pub struct TickClock {
    ticks: AtomicI64,
}

impl TickClock {
    /// A clock whose first reading is 1 second after the epoch.
    pub const fn new() -> TickClock {
        TickClock {
            ticks: AtomicI64::new(0),
        }
    }
}

impl Clock for TickClock {
    fn now(&self) -> Timespec {
        Timespec {
            sec: self.ticks.fetch_add(1, Ordering::Relaxed) + 1,
            nsec: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_clock_moves_forward() {
        let clock = TickClock::new();
        let first = clock.now();
        assert!(clock.now() > first);
    }
}
