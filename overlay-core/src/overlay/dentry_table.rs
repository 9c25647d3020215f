//! The table a directory's dentry cache keeps its entries in: a vector of entries in the order
//! they went in, and a hash table of 4-byte positions in it.
//!
//! A warm lookup in a large directory reads three places that are not in the CPU's caches:
//! the hash table's slot, the entry and the node. A walk looks names up again in the order it
//! first did, so the entries it reads and the nodes they hold sit side by side, where the CPU
//! fetches them ahead of time; the slot is the one read it cannot see coming. `indexmap`
//! keeps the same layout with 8-byte positions; at 4 bytes the slots of a directory of 64 000
//! names take 512 KiB instead of 1 MiB, and stay in the second-level cache more often.
//! Measured on the bench's W1 (warm stats through 64 layers of 1000 files in one directory),
//! eight runs alternating with the `indexmap` build: a median of 151 ns per lookup instead of
//! 180 (through one layer, 149 against 143: the runs are noisy).

use alloc::vec::Vec;
use core::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::dentry_name::DentryName;

/// Names to values, in the order they went in (a removal moves the last entry into the gap).
pub(crate) struct DentryTable<V> {
    /// Each entry's position in `entries`, by the hash of its name.
    slots: HashTable<u32>,
    entries: Vec<(DentryName, V)>,
    hasher: DefaultHashBuilder,
}

impl<V> Default for DentryTable<V> {
    fn default() -> DentryTable<V> {
        DentryTable {
            slots: HashTable::new(),
            entries: Vec::new(),
            hasher: DefaultHashBuilder::default(),
        }
    }
}

impl<V> DentryTable<V> {
    /// Whether the table holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many entries the table holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The value kept for `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&V> {
        let name = name.as_bytes();
        let at = self.position(self.hasher.hash_one(name), name)?;
        self.entries.get(at).map(|(_, value)| value)
    }

    /// Makes room for `additional` more entries, if the memory is there.
    pub(crate) fn try_reserve(&mut self, additional: usize) -> Result<(), ()> {
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.slots
            .try_reserve(additional, |&at| hash_entry(hasher, entries, at))
            .map_err(drop)?;
        self.entries.try_reserve(additional).map_err(drop)
    }

    /// Keeps `value` for `key`. Hands back the value it replaces, or `value` itself if the
    /// table cannot count one more entry in 4 bytes (it is a cache: not keeping is allowed).
    pub(crate) fn insert(&mut self, key: DentryName, value: V) -> Option<V> {
        let hash = self.hasher.hash_one(key.as_bytes());
        if let Some(at) = self.position(hash, key.as_bytes()) {
            return self
                .entries
                .get_mut(at)
                .map(|(_, kept)| core::mem::replace(kept, value));
        }
        let Ok(at) = u32::try_from(self.entries.len()) else {
            return Some(value);
        };
        self.entries.push((key, value));
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.slots
            .insert_unique(hash, at, |&at| hash_entry(hasher, entries, at));
        None
    }

    /// Takes out the value kept for `name`, moving the last entry into its place.
    pub(crate) fn swap_remove(&mut self, name: &str) -> Option<V> {
        let name = name.as_bytes();
        let hash = self.hasher.hash_one(name);
        let entries = &self.entries;
        let slot = self
            .slots
            .find_entry(hash, |&at| named(entries, at, name))
            .ok()?;
        let (at, _) = slot.remove();
        let at = at as usize;
        if at >= self.entries.len() {
            // Unreachable: every slot holds the position of an entry. Nothing to take.
            return None;
        }
        let (_, value) = self.entries.swap_remove(at);
        // The entry that was last now sits at `at`: its slot says so.
        if let Some((moved, _)) = self.entries.get(at) {
            let was = self.entries.len();
            let hash = self.hasher.hash_one(moved.as_bytes());
            if let Some(slot) = self.slots.find_mut(hash, |&other| other as usize == was) {
                // `at` is below the old length, which fit in a `u32`.
                *slot = at as u32;
            }
        }
        Some(value)
    }

    /// Where the entry for `name`, which hashes to `hash`, sits in `entries`.
    fn position(&self, hash: u64, name: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.slots
            .find(hash, |&at| named(entries, at, name))
            .map(|&at| at as usize)
    }
}

/// Whether the entry at `at` is for `name`.
fn named<V>(entries: &[(DentryName, V)], at: u32, name: &[u8]) -> bool {
    entries
        .get(at as usize)
        .is_some_and(|(key, _)| key.as_bytes() == name)
}

/// The hash of the name of the entry at `at`, for the hash table to move its slot when it
/// grows (every slot holds the position of an entry; were one not to, it hashes as "").
fn hash_entry<V>(hasher: &DefaultHashBuilder, entries: &[(DentryName, V)], at: u32) -> u64 {
    let name = entries
        .get(at as usize)
        .map_or(&[][..], |(key, _)| key.as_bytes());
    hasher.hash_one(name)
}

#[cfg(test)]
mod tests {
    use alloc::{format, string::String, sync::Arc, vec::Vec};

    use super::*;

    fn key(name: &str) -> DentryName {
        DentryName::new(&Arc::from(name))
    }

    #[test]
    fn keeps_replaces_and_removes_by_name() {
        let mut table = DentryTable::default();
        assert!(table.is_empty());
        assert_eq!(table.insert(key("a"), 1), None);
        assert_eq!(table.insert(key("a-name-too-long-to-keep-inline"), 2), None);
        assert_eq!(table.insert(key("a"), 3), Some(1));
        assert_eq!(table.get("a"), Some(&3));
        assert_eq!(table.get("a-name-too-long-to-keep-inline"), Some(&2));
        assert_eq!(table.get("b"), None);
        assert_eq!(table.swap_remove("b"), None);
        assert_eq!(table.swap_remove("a"), Some(3));
        assert_eq!(table.get("a"), None);
        assert_eq!(table.get("a-name-too-long-to-keep-inline"), Some(&2));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn every_name_is_found_after_growth_and_removals_anywhere() {
        let names: Vec<String> = (0..2000).map(|i| format!("f{i}")).collect();
        let mut table = DentryTable::default();
        assert_eq!(table.try_reserve(10), Ok(()));
        for (i, name) in names.iter().enumerate() {
            assert_eq!(table.insert(key(name), i), None);
        }
        // Remove every third name: from the middle, the start and (the last) the end.
        for (i, name) in names.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            assert_eq!(table.swap_remove(name), Some(i), "{name}");
        }
        assert_eq!(table.swap_remove(&names[1999]), Some(1999));
        for (i, name) in names.iter().enumerate() {
            let kept = i % 3 != 0 && i != 1999;
            assert_eq!(table.get(name), kept.then_some(&i), "{name}");
        }
        assert_eq!(table.len(), 2000 - 667 - 1);
    }
}
