//! Identity of union entries: which real inode an entry "is", and its stable inode number.
//!
//! An entry is identified by its origin: the lower inode it was copied up from, if any, else
//! its upper inode. The union's inode number is derived from that identity alone, so it stays the
//! same across copy-up and rename (Linux overlayfs does the same with `xino`: the layer's index
//! goes into the high bits of the real inode number).
//!
//! The table also keeps Linux's `index=on` bookkeeping for non-directories copied up from a lower
//! layer: the upper inode that now holds the data (so every other name of a lower hard-link group
//! finds it) and how many lower names of the group are covered by the upper layer (so `nlink`
//! stays right while the group is split between layers).

use alloc::sync::Arc;

use hashbrown::HashMap;

use crate::vfs::{Ino, Inode};

/// Bits of a real inode number kept as they are; above them sits the layer's tag.
const INO_BITS: u32 = 54;
/// First number handed out to real inode numbers that do not fit in [`INO_BITS`].
const OVERFLOW_BASE: Ino = ((1 << (64 - INO_BITS)) - 1) << INO_BITS;

/// The union's inode number for `key` when its real number fits beside the layer's tag (as
/// it nearly always does); `None` when the table must hand out one (see [`Identities::ino`]).
pub(crate) fn tagged_ino(key: Key) -> Option<Ino> {
    let (tag, ino) = match key {
        Key::Upper(ino) => (0, ino),
        // At most 500 lowers, so `layer + 1` fits in the 10 tag bits.
        Key::Lower { layer, ino } => (layer as u64 + 1, ino),
    };
    (ino < (1 << INO_BITS)).then_some((tag << INO_BITS) | ino)
}

/// The identity of an entry of the union.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Key {
    /// An entry that exists only in the upper layer (or has no recorded origin there).
    Upper(Ino),
    /// An entry that is, or was copied up from, inode `ino` of lower layer `layer` (0 = top).
    Lower { layer: usize, ino: Ino },
}

/// The name of the index link of a copied-up lower hard-link group in the work directory.
pub(crate) fn index_name(layer: usize, ino: Ino) -> alloc::string::String {
    alloc::format!("#index-{layer}-{ino}")
}

/// A copied-up lower non-directory and the names of its lower hard-link group it covers.
pub(crate) struct Group {
    /// The upper inode holding the group's data.
    pub(crate) upper: Option<Arc<dyn Inode>>,
    /// Lower names of the group that the upper layer now covers (copied up or whited out).
    pub(crate) covered: u32,
    /// Links the lower inode has (lower layers never change, so this stays true).
    pub(crate) lower_nlink: u32,
    /// Whether the work directory holds an extra link to `upper` (Linux's index entry), so
    /// the group's other names can be linked to it even after every upper name is gone.
    pub(crate) indexed: bool,
}

impl Group {
    /// The group's link count in the union, given the upper inode's own count (if the group
    /// has been copied up): upper links plus the lower names not covered by the upper layer.
    pub(crate) fn nlink(&self, upper_nlink: Option<u32>) -> u32 {
        let lower_left = self.lower_nlink.saturating_sub(self.covered);
        let upper_names = upper_nlink
            .unwrap_or(0)
            .saturating_sub(u32::from(self.indexed));
        upper_names.saturating_add(lower_left)
    }
}

/// Identity bookkeeping of one union.
#[derive(Default)]
pub(crate) struct Identities {
    /// Upper inode number -> the lower origin it was copied up from.
    origins: HashMap<Ino, Key>,
    /// Lower origin -> its copied-up state.
    groups: HashMap<Key, Group>,
    /// Inode numbers handed out to keys whose real number is too large to tag.
    overflow: HashMap<Key, Ino>,
}

impl Identities {
    /// The union's inode number for `key`.
    pub(crate) fn ino(&mut self, key: Key) -> Ino {
        if let Some(ino) = tagged_ino(key) {
            return ino;
        }
        let next = OVERFLOW_BASE + self.overflow.len() as u64;
        *self.overflow.entry(key).or_insert(next)
    }

    /// The identity of an entry whose topmost real inode is upper inode `upper_ino`.
    pub(crate) fn key_of_upper(&self, upper_ino: Ino) -> Key {
        self.origins
            .get(&upper_ino)
            .copied()
            .unwrap_or(Key::Upper(upper_ino))
    }

    /// Records that upper inode `upper_ino` was copied up from `origin`.
    pub(crate) fn set_origin(&mut self, upper_ino: Ino, origin: Key) {
        self.origins.insert(upper_ino, origin);
    }

    /// Forgets the origin of an upper inode that no longer exists.
    pub(crate) fn forget_upper(&mut self, upper_ino: Ino) {
        self.origins.remove(&upper_ino);
    }

    /// The copied-up state of lower origin `key`, if anything happened to it.
    pub(crate) fn group(&self, key: Key) -> Option<&Group> {
        self.groups.get(&key)
    }

    /// Records whether the work directory holds an index link to `key`'s copied-up inode.
    pub(crate) fn set_indexed(&mut self, key: Key, indexed: bool) {
        if let Some(group) = self.groups.get_mut(&key) {
            group.indexed = indexed;
        }
    }

    /// Records that one more lower name of `key`'s group (whose lower inode has `lower_nlink`
    /// links) is covered by the upper layer, and (when given) the upper inode that now holds
    /// the group's data.
    pub(crate) fn cover(&mut self, key: Key, lower_nlink: u32, upper: Option<Arc<dyn Inode>>) {
        let group = self.groups.entry(key).or_insert(Group {
            upper: None,
            covered: 0,
            lower_nlink,
            indexed: false,
        });
        group.covered = group.covered.saturating_add(1);
        if upper.is_some() {
            group.upper = upper;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_numbers_are_unique_across_layers() {
        let mut ids = Identities::default();
        let upper = ids.ino(Key::Upper(7));
        let top = ids.ino(Key::Lower { layer: 0, ino: 7 });
        let bottom = ids.ino(Key::Lower { layer: 499, ino: 7 });
        assert_eq!(upper, 7);
        assert_ne!(top, upper);
        assert_ne!(top, bottom);
        assert_eq!(ids.ino(Key::Lower { layer: 0, ino: 7 }), top, "stable");
    }

    #[test]
    fn huge_real_numbers_get_their_own() {
        let mut ids = Identities::default();
        let a = ids.ino(Key::Upper(u64::MAX));
        let b = ids.ino(Key::Lower {
            layer: 3,
            ino: u64::MAX,
        });
        assert_ne!(a, b);
        assert_eq!(ids.ino(Key::Upper(u64::MAX)), a);
    }

    #[test]
    fn origin_gives_the_identity() {
        let mut ids = Identities::default();
        let origin = Key::Lower { layer: 1, ino: 5 };
        assert_eq!(ids.key_of_upper(9), Key::Upper(9));
        ids.set_origin(9, origin);
        assert_eq!(ids.key_of_upper(9), origin);
        ids.forget_upper(9);
        assert_eq!(ids.key_of_upper(9), Key::Upper(9));
    }
}
