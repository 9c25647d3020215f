//! A table of names, in the order they went in, found by a hash table of 4-byte positions:
//! a directory's dentry cache (`overlay::dentries`) and a tmpfs directory's entries
//! (`tmpfs::dir`) are both kept in one.
//!
//! A lookup of a name in a large directory reads three places that are not in the CPU's
//! caches: the hash table's slot, the entry and the inode. A walk looks names up in the
//! order they were made or first looked up, so the entries it reads and the inodes they
//! hold sit side by side, where the CPU fetches them ahead of time; the slot is the one read
//! it cannot see coming. A hash map of the entries themselves would make every read of an
//! entry a random one. `indexmap` keeps the same layout with 8-byte positions; at 4 bytes
//! the slots of a directory of 64 000 names take 512 KiB instead of 1 MiB, and stay in the
//! second-level cache more often.

use alloc::{sync::Arc, vec::Vec};
use core::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// What a [`NameTable`] can be keyed by: a name, as bytes.
pub(crate) trait Name {
    /// The name's bytes.
    fn bytes(&self) -> &[u8];
}

impl Name for Arc<str> {
    fn bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// Names to values, in the order they went in (a removal moves the last entry into the gap).
pub(crate) struct NameTable<K, V> {
    /// Each entry's position in `entries`, by the hash of its name.
    slots: HashTable<u32>,
    entries: Vec<(K, V)>,
    hasher: DefaultHashBuilder,
}

/// Why [`NameTable::insert_new`] kept nothing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The name is there already.
    Taken,
    /// The table holds as many entries as 4 bytes count.
    Full,
}

impl<K, V> Default for NameTable<K, V> {
    fn default() -> NameTable<K, V> {
        NameTable {
            slots: HashTable::new(),
            entries: Vec::new(),
            hasher: DefaultHashBuilder::default(),
        }
    }
}

impl<K: Name, V> NameTable<K, V> {
    /// Whether the table holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many entries the table holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The value kept for `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&V> {
        self.get_key_value(name).map(|(_, value)| value)
    }

    /// The key and value kept for `name`.
    pub(crate) fn get_key_value(&self, name: &str) -> Option<(&K, &V)> {
        let at = self.find(name)?;
        self.entries.get(at).map(|(key, value)| (key, value))
    }

    /// The value kept for `name`, to change.
    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut V> {
        let at = self.find(name)?;
        self.entries.get_mut(at).map(|(_, value)| value)
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
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let hash = self.hasher.hash_one(key.bytes());
        if let Some(at) = self.position(hash, key.bytes()) {
            return self
                .entries
                .get_mut(at)
                .map(|(_, kept)| core::mem::replace(kept, value));
        }
        match self.push(hash, key, value) {
            Ok(()) => None,
            Err((_, value)) => Some(value),
        }
    }

    /// Keeps `value` for the key `make` gives, unless `name` (the key's name) is there
    /// already or the table is full; `make` is called only if the entry goes in.
    pub(crate) fn insert_new(
        &mut self,
        name: &str,
        make: impl FnOnce() -> (K, V),
    ) -> Result<&K, Refused> {
        let hash = self.hasher.hash_one(name.as_bytes());
        if self.position(hash, name.as_bytes()).is_some() {
            return Err(Refused::Taken);
        }
        let (key, value) = make();
        self.push(hash, key, value).map_err(|_| Refused::Full)?;
        // Just pushed, so there is a last entry.
        self.entries.last().map(|(key, _)| key).ok_or(Refused::Full)
    }

    /// Takes every value out, leaving the table empty.
    pub(crate) fn take_values(&mut self) -> impl Iterator<Item = V> {
        self.slots.clear();
        core::mem::take(&mut self.entries)
            .into_iter()
            .map(|(_, value)| value)
    }

    /// Takes out the value kept for `name`, moving the last entry into its place.
    pub(crate) fn remove(&mut self, name: &str) -> Option<V> {
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
            let hash = self.hasher.hash_one(moved.bytes());
            if let Some(slot) = self.slots.find_mut(hash, |&other| other as usize == was) {
                // `at` is below the old length, which fit in a `u32`.
                *slot = at as u32;
            }
        }
        Some(value)
    }

    /// Appends an entry whose name, hashing to `hash`, is not in the table; hands it back if
    /// the table cannot count one more entry in 4 bytes.
    fn push(&mut self, hash: u64, key: K, value: V) -> Result<(), (K, V)> {
        let Ok(at) = u32::try_from(self.entries.len()) else {
            return Err((key, value));
        };
        self.entries.push((key, value));
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.slots
            .insert_unique(hash, at, |&at| hash_entry(hasher, entries, at));
        Ok(())
    }

    /// Where the entry for `name` sits in `entries`.
    fn find(&self, name: &str) -> Option<usize> {
        let name = name.as_bytes();
        self.position(self.hasher.hash_one(name), name)
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
fn named<K: Name, V>(entries: &[(K, V)], at: u32, name: &[u8]) -> bool {
    entries
        .get(at as usize)
        .is_some_and(|(key, _)| key.bytes() == name)
}

/// The hash of the name of the entry at `at`, for the hash table to move its slot when it
/// grows (every slot holds the position of an entry; were one not to, it hashes as "").
fn hash_entry<K: Name, V>(hasher: &DefaultHashBuilder, entries: &[(K, V)], at: u32) -> u64 {
    let name = entries
        .get(at as usize)
        .map_or(&[][..], |(key, _)| key.bytes());
    hasher.hash_one(name)
}

#[cfg(test)]
mod tests {
    use alloc::{format, string::String, vec::Vec};

    use super::*;

    fn key(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    #[test]
    fn keeps_replaces_and_removes_by_name() {
        let mut table = NameTable::default();
        assert!(table.is_empty());
        assert_eq!(table.insert(key("a"), 1), None);
        assert_eq!(table.insert(key("b"), 2), None);
        assert_eq!(table.insert(key("a"), 3), Some(1));
        assert_eq!(table.get("a"), Some(&3));
        assert_eq!(
            table.get_key_value("b").map(|(k, v)| (&**k, *v)),
            Some(("b", 2))
        );
        assert_eq!(table.get("c"), None);
        if let Some(value) = table.get_mut("b") {
            *value = 4;
        }
        assert_eq!(table.get("b"), Some(&4));
        assert_eq!(table.remove("c"), None);
        assert_eq!(table.remove("a"), Some(3));
        assert_eq!(table.get("a"), None);
        assert_eq!(table.get("b"), Some(&4));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn insert_new_refuses_a_name_that_is_there_and_makes_nothing() {
        let mut table = NameTable::default();
        let made = table.insert_new("a", || (key("a"), 1)).cloned();
        assert_eq!(made.as_deref(), Ok("a"));
        let refused = table.insert_new("a", || unreachable!("made for a name that is there"));
        assert_eq!(refused.err(), Some(Refused::Taken));
        assert_eq!(table.get("a"), Some(&1));
    }

    #[test]
    fn every_name_is_found_after_growth_and_removals_anywhere() {
        let names: Vec<String> = (0..2000).map(|i| format!("f{i}")).collect();
        let mut table = NameTable::default();
        assert_eq!(table.try_reserve(10), Ok(()));
        for (i, name) in names.iter().enumerate() {
            assert_eq!(table.insert(key(name), i), None);
        }
        // Remove every third name: from the middle, the start and (the last) the end.
        for (i, name) in names.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            assert_eq!(table.remove(name), Some(i), "{name}");
        }
        assert_eq!(table.remove(&names[1999]), Some(1999));
        for (i, name) in names.iter().enumerate() {
            let kept = i % 3 != 0 && i != 1999;
            assert_eq!(table.get(name), kept.then_some(&i), "{name}");
        }
        assert_eq!(table.len(), 2000 - 667 - 1);
        let mut rest: Vec<usize> = table.take_values().collect();
        rest.sort_unstable();
        assert_eq!(rest.len(), 1332);
        assert!(table.is_empty() && table.get("f1").is_none());
    }
}
