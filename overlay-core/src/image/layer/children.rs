//! A directory's entries, sorted by name, with a lookup that mostly compares integers: the
//! search runs over an array of the names' first eight bytes (see `crate::name_order`), and
//! reads name text only among the entries whose first eight bytes tie with the name sought
//! (usually one), where a plain binary search over the names would read a different string,
//! often a cache miss, at every step.

use alloc::{sync::Arc, vec::Vec};

use crate::name_order::prefix;

/// A directory's entries: names with the index of the node each names, sorted by name.
pub(super) struct Children {
    entries: Vec<(Arc<str>, usize)>,
    /// `prefix(name)` of each entry, in the same order.
    prefixes: Vec<u64>,
}

impl Children {
    /// The entries of `sorted`, which is sorted by name (as a `BTreeMap` iterates).
    pub(super) fn from_sorted(sorted: Vec<(Arc<str>, usize)>) -> Children {
        let prefixes = sorted.iter().map(|(name, _)| prefix(name)).collect();
        Children {
            entries: sorted,
            prefixes,
        }
    }

    /// Number of entries.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries in name order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &(Arc<str>, usize)> {
        self.entries.iter()
    }

    /// The entry `name` names (the name as kept here, the node index), if there is one.
    pub(super) fn find_entry(&self, name: &str) -> Option<&(Arc<str>, usize)> {
        let key = prefix(name);
        let start = self.prefixes.partition_point(|&other| other < key);
        let tied = self.prefixes.get(start..).unwrap_or_default();
        let end = start + tied.partition_point(|&other| other == key);
        let run = self.entries.get(start..end).unwrap_or_default();
        let found = run
            .binary_search_by(|(other, _)| (**other).cmp(name))
            .ok()?;
        run.get(found)
    }
}

#[cfg(test)]
mod tests {
    use alloc::{collections::BTreeMap, string::String};

    use super::*;

    fn index_of(dir: &Children, name: &str) -> Option<usize> {
        dir.find_entry(name).map(|&(_, index)| index)
    }

    fn children(names: &[&str]) -> Children {
        let sorted: BTreeMap<Arc<str>, usize> = names
            .iter()
            .enumerate()
            .map(|(index, name)| (Arc::from(*name), index))
            .collect();
        Children::from_sorted(sorted.into_iter().collect())
    }

    #[test]
    fn every_entry_is_found_and_nothing_else() {
        let owned = crate::name_order::tests::awkward_names();
        let names: Vec<&str> = owned.iter().map(String::as_str).collect();
        let dir = children(&names);
        assert_eq!(dir.len(), names.len());
        for (index, name) in names.iter().enumerate() {
            assert_eq!(index_of(&dir, name), Some(index), "{name}");
        }
        for absent in [
            "",
            "aa",
            "abcdefg",
            "abcdefgh0",
            "abcdefgh3",
            "c",
            "f0_2",
            "zzz",
            "e",
        ] {
            assert_eq!(index_of(&dir, absent), None, "{absent}");
        }
    }

    #[test]
    fn an_empty_directory_finds_nothing() {
        let dir = Children::from_sorted(Vec::new());
        assert_eq!(dir.len(), 0);
        assert_eq!(index_of(&dir, "a"), None);
        assert_eq!(dir.iter().count(), 0);
    }
}
