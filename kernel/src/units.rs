//! Human-readable sizes for the boot report.

use alloc::format;
use core::fmt;

/// A byte count shown as `512 B`, `768 KiB` or `4.3 MiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * KIB;
        const GIB: u64 = 1024 * MIB;
        let bytes = self.0;
        // Whole KiB below 1 MiB; one decimal above, so that small differences stay visible.
        let text = if bytes < KIB {
            format!("{bytes} B")
        } else if bytes < MIB {
            format!("{} KiB", bytes.div_ceil(KIB))
        } else if bytes < GIB {
            format!("{}.{} MiB", bytes / MIB, (bytes % MIB) * 10 / MIB)
        } else {
            format!("{}.{} GiB", bytes / GIB, (bytes % GIB) * 10 / GIB)
        };
        // `pad` honours width and alignment, so the report's columns line up.
        f.pad(&text)
    }
}
