//! Bytewise name order, decided mostly by integer comparisons.
//!
//! Sorting or searching names compares them again and again, and comparing two `str`s reads
//! both through their pointers (often a cache miss each) and calls `memcmp`. A name's first
//! eight bytes read as one big-endian integer, zero-padded, are ordered as the names are, as
//! far as eight bytes tell: no name holds a NUL byte, so a name padded with zeros sorts
//! before every longer name it begins, as it does bytewise. Comparing those integers first,
//! and the text only when they tie, gives exactly the bytewise order, with an integer
//! comparison in most steps.

use alloc::vec::Vec;

/// The first eight bytes of `name` as a big-endian integer, zero-padded.
pub(crate) fn prefix(name: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let head = &name.as_bytes()[..name.len().min(8)];
    bytes[..head.len()].copy_from_slice(head);
    u64::from_be_bytes(bytes)
}

/// Sorts `items` by the name `name_of` gives each, bytewise (as `str`'s `Ord` does).
///
/// What moves while sorting is a 16-byte (prefix, position) pair per item, not the item;
/// the items are put in order once at the end.
pub(crate) fn sort_by_name<T>(items: &mut Vec<T>, name_of: impl Fn(&T) -> &str) {
    // A directory of one layer usually comes sorted already (an image layer lists its names
    // in order): seen in one pass, which stops at the first name out of order otherwise.
    if items.is_sorted_by(|a, b| name_of(a) <= name_of(b)) {
        return;
    }
    let mut order: Vec<(u64, usize)> = items
        .iter()
        .enumerate()
        .map(|(position, item)| (prefix(name_of(item)), position))
        .collect();
    order.sort_unstable_by(|(a_prefix, a), (b_prefix, b)| {
        a_prefix
            .cmp(b_prefix)
            .then_with(|| name_of(&items[*a]).cmp(name_of(&items[*b])))
    });
    let mut unsorted: Vec<Option<T>> = items.drain(..).map(Some).collect();
    // Each position appears once in `order`, so every item is taken exactly once.
    items.extend(
        order
            .iter()
            .filter_map(|&(_, position)| unsorted.get_mut(position).and_then(Option::take)),
    );
}

#[cfg(test)]
pub(crate) mod tests {
    use alloc::{borrow::ToOwned, format, string::String, vec};

    use super::*;

    /// Names whose order is easy to get wrong, for the tests of whatever orders names.
    pub(crate) fn awkward_names() -> Vec<String> {
        // Ties on the first eight bytes, names shorter than eight bytes that begin others,
        // bytes above 0x7f (UTF-8), a control byte.
        let mut names: Vec<String> = [
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
            "x",
            "x\u{1}",
            "xa",
        ]
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
        names.extend((0..300).map(|i| format!("{}", i * 7919 % 1000)));
        names
    }

    #[test]
    fn the_integer_order_agrees_with_the_bytewise_order() {
        let mut names = awkward_names();
        names.sort();
        for pair in names.windows(2) {
            assert!(prefix(&pair[0]) <= prefix(&pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn sorting_by_name_sorts_bytewise() {
        let mut expected = awkward_names();
        expected.sort();
        let mut items: Vec<(String, usize)> = awkward_names()
            .into_iter()
            .rev()
            .enumerate()
            .map(|(index, name)| (name, index))
            .collect();
        sort_by_name(&mut items, |(name, _)| name);
        let sorted: Vec<String> = items.into_iter().map(|(name, _)| name).collect();
        assert_eq!(sorted, expected);
        let mut empty: Vec<String> = vec![];
        sort_by_name(&mut empty, |name| name);
        assert!(empty.is_empty());
        // Sorted already, and sorted but for the last two.
        let mut sorted = expected.clone();
        sort_by_name(&mut sorted, |name| name);
        assert_eq!(sorted, expected);
        let mut late = expected.clone();
        let last = late.len() - 1;
        late.swap(last - 1, last);
        sort_by_name(&mut late, |name| name);
        assert_eq!(late, expected);
    }
}
