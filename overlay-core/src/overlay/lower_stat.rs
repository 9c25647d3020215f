//! What a node of the lower layers alone answers `stat` with, packed small.
//!
//! A warm `stat` of a file in a large directory reads the node from memory, not from the CPU's
//! caches, one 64-byte line at a time: every line the answer spans is a miss. A [`Metadata`]
//! takes 96 bytes, of which the inode number and device are the node's and the union's own,
//! and each timestamp pads 12 bytes to 16. Kept without them, the answer takes 68 bytes, and
//! with the fields a cached lookup reads it fits in two lines more often than in three.

use crate::vfs::{DeviceId, FileType, Ino, Metadata, Permissions, Timespec};

/// [`Metadata`] without its inode number and device, timestamps split in seconds and
/// nanoseconds. Aligned to 4 bytes, not 8, so that it ends on the 68th byte and the node's
/// two flags after it fit in the padding that 8 would have added.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(C, packed(4))]
pub(crate) struct LowerStat {
    size: u64,
    seconds: [i64; 3],
    nanoseconds: [u32; 3],
    nlink: u32,
    uid: u32,
    gid: u32,
    rdev: DeviceId,
    mode: u16,
    kind: FileType,
}

impl LowerStat {
    /// Everything of `meta` but its inode number and device.
    pub(crate) fn new(meta: &Metadata) -> LowerStat {
        let times = [meta.atime, meta.mtime, meta.ctime];
        LowerStat {
            size: meta.size,
            seconds: times.map(|time| time.sec),
            nanoseconds: times.map(|time| time.nsec),
            nlink: meta.nlink,
            uid: meta.uid,
            gid: meta.gid,
            rdev: meta.rdev,
            mode: meta.mode,
            kind: meta.kind,
        }
    }

    /// The link count.
    pub(crate) fn nlink(&self) -> u32 {
        self.nlink
    }

    /// The kind, permission bits and owner.
    pub(crate) fn permissions(&self) -> Permissions {
        Permissions {
            kind: self.kind,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
        }
    }

    /// The whole metadata, with inode number `ino` on device `dev`.
    pub(crate) fn metadata(&self, ino: Ino, dev: u64) -> Metadata {
        let [atime, mtime, ctime] = [0, 1, 2].map(|at| Timespec {
            sec: self.seconds[at],
            nsec: self.nanoseconds[at],
        });
        Metadata {
            ino,
            dev,
            kind: self.kind,
            mode: self.mode,
            nlink: self.nlink,
            uid: self.uid,
            gid: self.gid,
            size: self.size,
            rdev: self.rdev,
            atime,
            mtime,
            ctime,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_back_what_it_was_made_of() {
        let meta = Metadata {
            ino: 77,
            dev: 9,
            kind: FileType::CharDevice,
            mode: 0o4755,
            nlink: 3,
            uid: 1000,
            gid: 100,
            size: u64::MAX,
            rdev: DeviceId {
                major: 4,
                minor: 64,
            },
            atime: Timespec {
                sec: -1,
                nsec: 999_999_999,
            },
            mtime: Timespec { sec: 1, nsec: 2 },
            ctime: Timespec {
                sec: i64::MAX,
                nsec: 0,
            },
        };
        let packed = LowerStat::new(&meta);
        assert_eq!(packed.metadata(77, 9), meta);
        assert_eq!(packed.permissions(), meta.permissions());
        assert_eq!(packed.nlink(), 3);
        let moved = packed.metadata(5, 6);
        assert_eq!((moved.ino, moved.dev), (5, 6));
        assert_eq!(core::mem::size_of::<LowerStat>(), 68);
    }
}
