//! A directory's entries, sorted by name, with a lookup that mostly compares integers.
//!
//! A plain binary search over the names reads a different string (a pointer chase, often a
//! cache miss) at every step. Here each name's first eight bytes are also kept as one
//! big-endian integer, zero-padded, in an array of their own: the search runs over that
//! array, and reads name text only among the entries whose first eight bytes tie with the
//! name sought (usually one). Padding with zero keeps the integers in the names' order, as
//! no name holds a NUL byte, so the two orders never disagree.

use alloc::{string::String, vec::Vec};

/// A directory's entries: names with the index of the node each names, sorted by name.
pub(super) struct Children {
    entries: Vec<(String, usize)>,
    /// `prefix(name)` of each entry, in the same order.
    prefixes: Vec<u64>,
}

/// The first eight bytes of `name` as a big-endian integer, zero-padded.
fn prefix(name: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let head = &name.as_bytes()[..name.len().min(8)];
    bytes[..head.len()].copy_from_slice(head);
    u64::from_be_bytes(bytes)
}

impl Children {
    /// The entries of `sorted`, which is sorted by name (as a `BTreeMap` iterates).
    pub(super) fn from_sorted(sorted: Vec<(String, usize)>) -> Children {
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
    pub(super) fn iter(&self) -> impl Iterator<Item = &(String, usize)> {
        self.entries.iter()
    }

    /// The node index `name` names, if it is an entry.
    pub(super) fn find(&self, name: &str) -> Option<usize> {
        let key = prefix(name);
        let start = self.prefixes.partition_point(|&other| other < key);
        let tied = self.prefixes.get(start..).unwrap_or_default();
        let end = start + tied.partition_point(|&other| other == key);
        let run = self.entries.get(start..end).unwrap_or_default();
        let found = run
            .binary_search_by(|(other, _)| other.as_str().cmp(name))
            .ok()?;
        run.get(found).map(|&(_, index)| index)
    }
}

#[cfg(test)]
mod tests {
    use alloc::{borrow::ToOwned, collections::BTreeMap, format, string::ToString};

    use super::*;

    fn children(names: &[&str]) -> Children {
        let sorted: BTreeMap<String, usize> = names
            .iter()
            .enumerate()
            .map(|(index, name)| (name.to_string(), index))
            .collect();
        Children::from_sorted(sorted.into_iter().collect())
    }

    #[test]
    fn every_entry_is_found_and_nothing_else() {
        // Names that tie on their first eight bytes, names shorter than eight bytes that are
        // prefixes of others, and bytes above 0x7f (UTF-8), whose order must hold too.
        let names = [
            "a",
            "ab",
            "abcdefgh",
            "abcdefgh1",
            "abcdefgh2",
            "abcdefghij",
            "abcdefgi",
            "b",
            "f0_1",
            "f0_10",
            "f0_100",
            "zz",
            "é",
            "ée",
            "\u{7f}",
        ];
        let dir = children(&names);
        assert_eq!(dir.len(), names.len());
        for (index, name) in names.iter().enumerate() {
            assert_eq!(dir.find(name), Some(index), "{name}");
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
            assert_eq!(dir.find(absent), None, "{absent}");
        }
    }

    #[test]
    fn the_integer_order_is_the_name_order() {
        let mut names: Vec<String> = (0..300).map(|i| format!("{}", i * 7919 % 1000)).collect();
        names.extend(["x".to_owned(), "x\u{1}".to_owned(), "xa".to_owned()]);
        names.sort();
        for pair in names.windows(2) {
            assert!(prefix(&pair[0]) <= prefix(&pair[1]), "{pair:?}");
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let dir = children(&refs);
        for name in &names {
            let index = dir.find(name).expect("present");
            assert_eq!(refs[index], name);
        }
        assert_eq!(dir.find("y"), None);
    }

    #[test]
    fn an_empty_directory_finds_nothing() {
        let dir = Children::from_sorted(Vec::new());
        assert_eq!(dir.len(), 0);
        assert_eq!(dir.find("a"), None);
        assert_eq!(dir.iter().count(), 0);
    }
}
