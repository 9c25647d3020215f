//! [`Node`]: one entry of a layer's tree in 40 bytes. What only some entries have lives
//! elsewhere: names in the layer's bytes (see `children`), file data and symlink targets as
//! places in those bytes, extended attributes in a side table of the tree.

use core::ops::Range;

use crate::image::tar::BLOCK_SIZE;
use crate::vfs::{DeviceId, FileType, Timespec};

/// A node index meaning "none" (a removed name, a node not renumbered).
pub(super) const NO_NODE: u32 = u32::MAX;

/// The node has extended attributes (in the tree's side table).
pub(super) const HAS_XATTRS: u8 = 1;
/// The node is a whiteout made of a character device 0/0 (see the layer's module docs).
pub(super) const DEVICE_WHITEOUT: u8 = 2;

/// One entry: metadata, and where its content is.
#[derive(Clone, Copy, Debug)]
pub(super) struct Node {
    pub(super) mtime_sec: i64,
    /// By kind: a file's size in bytes; a directory's number of entries; a symlink target's
    /// offset in the layer's bytes (shifted left 16) and length; a device's number (major
    /// shifted left 32, and minor).
    wide: u64,
    pub(super) mtime_nsec: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) nlink: u32,
    /// By kind: the block of the layer's bytes a file's data starts at; the position of a
    /// directory's first entry in the tree's table of entries.
    at: u32,
    pub(super) mode: u16,
    pub(super) kind: FileType,
    /// [`HAS_XATTRS`], [`DEVICE_WHITEOUT`].
    pub(super) flags: u8,
}

/// What a node holds beyond its metadata.
pub(super) enum Content {
    /// Device nodes and fifos.
    Nothing,
    /// A regular file's bytes, as a range of the layer's bytes.
    File(Range<usize>),
    /// A symlink's target, as a range of the layer's bytes.
    Symlink(Range<usize>),
    /// The positions of a directory's entries in the tree's table of entries.
    Directory(Range<usize>),
}

impl Node {
    /// A node of `kind` with no content yet (an empty directory, an empty file at block 0).
    pub(super) fn new(kind: FileType, mode: u16, uid: u32, gid: u32, mtime: Timespec) -> Node {
        Node {
            mtime_sec: mtime.sec,
            wide: 0,
            mtime_nsec: mtime.nsec,
            uid,
            gid,
            nlink: 0,
            at: 0,
            mode,
            kind,
            flags: 0,
        }
    }

    /// A directory a path implies: mode `0755`, owned by `0:0`, time 0.
    pub(super) fn implied_dir() -> Node {
        Node::new(FileType::Directory, 0o755, 0, 0, Timespec::default())
    }

    pub(super) fn mtime(&self) -> Timespec {
        Timespec {
            sec: self.mtime_sec,
            nsec: self.mtime_nsec,
        }
    }

    /// Sets a file's data, which starts on a block boundary of the layer's bytes (as every
    /// tar member's data does) in its first 2 TiB.
    pub(super) fn set_file(&mut self, data: &Range<usize>) -> Option<()> {
        if !data.start.is_multiple_of(BLOCK_SIZE) {
            return None;
        }
        self.at = u32::try_from(data.start / BLOCK_SIZE).ok()?;
        self.wide = data.len() as u64;
        Some(())
    }

    /// Sets a symlink's target, at `target` of the layer's bytes (below 2^48, under 64 KiB).
    pub(super) fn set_symlink(&mut self, target: &Range<usize>) -> Option<()> {
        let length = u16::try_from(target.len()).ok()?;
        let start = target.start as u64;
        if start >> 48 != 0 {
            return None;
        }
        self.wide = start << 16 | u64::from(length);
        Some(())
    }

    pub(super) fn set_device(&mut self, rdev: DeviceId) {
        self.wide = u64::from(rdev.major) << 32 | u64::from(rdev.minor);
    }

    /// Sets a directory's entries: `count` of them from position `first`.
    pub(super) fn set_entries(&mut self, first: u32, count: u32) {
        self.at = first;
        self.wide = u64::from(count);
    }

    /// The field a directory's entries are set in, used by the builder before they are: the
    /// node's index in the builder's list.
    pub(super) fn scratch(&self) -> u32 {
        self.at
    }

    pub(super) fn set_scratch(&mut self, value: u32) {
        self.at = value;
    }

    pub(super) fn rdev(&self) -> DeviceId {
        match self.kind {
            FileType::CharDevice | FileType::BlockDevice => DeviceId {
                major: (self.wide >> 32) as u32,
                minor: self.wide as u32,
            },
            _ => DeviceId::default(),
        }
    }

    pub(super) fn content(&self) -> Content {
        match self.kind {
            FileType::Regular => {
                let start = self.at as usize * BLOCK_SIZE;
                Content::File(start..start.saturating_add(self.wide as usize))
            }
            FileType::Symlink => {
                let start = (self.wide >> 16) as usize;
                Content::Symlink(start..start + (self.wide & 0xffff) as usize)
            }
            FileType::Directory => {
                let first = self.at as usize;
                Content::Directory(first..first + self.wide as usize)
            }
            _ => Content::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_takes_40_bytes() {
        assert_eq!(core::mem::size_of::<Node>(), 40);
    }

    #[test]
    fn content_reads_back_as_set() {
        let mut file = Node::new(FileType::Regular, 0o644, 1, 2, Timespec::default());
        file.set_file(&(1536..1600)).unwrap();
        assert!(matches!(file.content(), Content::File(r) if r == (1536..1600)));
        assert!(file.set_file(&(100..200)).is_none(), "not on a block");
        let mut link = Node::new(FileType::Symlink, 0o777, 0, 0, Timespec::default());
        link.set_symlink(&(5_000_000_157..5_000_000_180)).unwrap();
        assert!(
            matches!(link.content(), Content::Symlink(r) if r == (5_000_000_157..5_000_000_180))
        );
        let mut dev = Node::new(FileType::CharDevice, 0o666, 0, 0, Timespec::default());
        let rdev = DeviceId {
            major: u32::MAX,
            minor: 7,
        };
        dev.set_device(rdev);
        assert_eq!(dev.rdev(), rdev);
        let mut dir = Node::implied_dir();
        dir.set_entries(10, 3);
        assert!(matches!(dir.content(), Content::Directory(r) if r == (10..13)));
    }
}
