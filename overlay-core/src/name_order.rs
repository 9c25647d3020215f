//! Bytewise name order, decided mostly by integer comparisons.
//!
//! Sorting or searching names compares them again and again, and comparing two `str`s reads
//! both through their pointers (often a cache miss each) and calls `memcmp`. A name's first
//! eight bytes read as one big-endian integer, zero-padded, are ordered as the names are, as
//! far as eight bytes tell: no name holds a NUL byte, so a name padded with zeros sorts
//! before every longer name it begins, as it does bytewise. Comparing those integers first,
//! and the text only when they tie, gives exactly the bytewise order, with an integer
//! comparison in most steps.

/// The first eight bytes of `name` as a big-endian integer, zero-padded.
pub(crate) fn prefix(name: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let head = &name[..name.len().min(8)];
    bytes[..head.len()].copy_from_slice(head);
    u64::from_be_bytes(bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use alloc::{borrow::ToOwned, format, string::String};

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
            assert!(
                prefix(pair[0].as_bytes()) <= prefix(pair[1].as_bytes()),
                "{pair:?}"
            );
        }
    }
}
