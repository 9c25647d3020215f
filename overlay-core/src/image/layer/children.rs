//! The entries of every directory of a layer in one table: each directory's entries are a
//! run of it, sorted by name (12 bytes an entry, plus 8 for the lookup below), their names
//! one after the other in one array, in the same order. A listing reads its names in
//! sequence, where names left in the layer's bytes would each be a cache miss in a
//! different tar header (that made a warm walk of a union of image layers half again as
//! slow); they cost their bytes and nothing more. While the tree is built, names are
//! [`NameRef`]s: places in the layer's bytes, never copies.
//!
//! A lookup mostly compares integers: it searches the run's slice of an array of the names'
//! first eight bytes (see `crate::name_order`), and reads name text only among the entries
//! whose first eight bytes tie with the name sought (usually one).

use alloc::vec::Vec;
use core::ops::Range;

pub(super) use crate::name_order::prefix;

/// Where an entry's name is: `length` bytes at `offset_in_block` of block `block` of the
/// layer's bytes, or, for a name the layer made (`made`, the whiteout of a device 0/0),
/// `length` bytes at `block` of the tree's made names. Names are 1 to 255 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct NameRef {
    block: u32,
    offset_in_block: u16,
    length: u8,
    made: bool,
}

impl NameRef {
    /// The name at `range` of the layer's bytes, if that is in its first 2 TiB and is a
    /// name's length.
    pub(super) fn in_layer(range: &Range<usize>, block_bytes: usize) -> Option<NameRef> {
        Some(NameRef {
            block: u32::try_from(range.start / block_bytes).ok()?,
            offset_in_block: u16::try_from(range.start % block_bytes).ok()?,
            length: u8::try_from(range.len()).ok()?,
            made: false,
        })
    }

    /// The name at `range` of the tree's made names.
    pub(super) fn made(range: &Range<usize>) -> Option<NameRef> {
        Some(NameRef {
            block: u32::try_from(range.start).ok()?,
            offset_in_block: 0,
            length: u8::try_from(range.len()).ok()?,
            made: true,
        })
    }

    /// The name's text, from the layer's bytes `layer` or the made names `made`.
    pub(super) fn text<'t>(&self, layer: &'t [u8], made: &'t [u8], block_bytes: usize) -> &'t [u8] {
        let (source, start) = if self.made {
            (made, self.block as usize)
        } else {
            (
                layer,
                self.block as usize * block_bytes + usize::from(self.offset_in_block),
            )
        };
        source
            .get(start..start + usize::from(self.length))
            .unwrap_or_default()
    }
}

/// One entry of a directory: where its name is in the table's names, and its node.
#[derive(Clone, Copy, Debug)]
pub(super) struct Child {
    name_at: u32,
    /// The node it names.
    pub(super) node: u32,
    name_length: u8,
}

impl Child {
    /// The entry naming `node` whose name is the `length` bytes at `name_at` of the table's
    /// names (1 to 255 bytes: a name's length).
    pub(super) fn new(name_at: u32, length: usize, node: u32) -> Child {
        Child {
            name_at,
            node,
            name_length: length as u8,
        }
    }
}

/// The entries of every directory, each directory's a run sorted by name.
pub(super) struct Children {
    entries: Vec<Child>,
    /// `prefix(name)` of each entry, in the same order.
    prefixes: Vec<u64>,
    /// The names of the entries, in the same order, one after the other.
    names: Vec<u8>,
}

impl Children {
    /// The table of `entries` (each directory's run sorted by name), whose names' first
    /// eight bytes are `prefixes` and whose names are in `names`.
    pub(super) fn new(entries: Vec<Child>, prefixes: Vec<u64>, names: Vec<u8>) -> Children {
        Children {
            entries,
            prefixes,
            names,
        }
    }

    /// Number of entries, of all directories.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of heap the table takes, its names included.
    pub(super) fn heap_bytes(&self) -> usize {
        self.entries.capacity() * core::mem::size_of::<Child>()
            + self.prefixes.capacity() * core::mem::size_of::<u64>()
            + self.names.capacity()
    }

    /// Bytes of heap the names take.
    pub(super) fn name_bytes(&self) -> usize {
        self.names.capacity()
    }

    /// The entries of the run `run`, in name order.
    pub(super) fn run(&self, run: Range<usize>) -> &[Child] {
        self.entries.get(run).unwrap_or_default()
    }

    /// The name of `child`.
    pub(super) fn name(&self, child: &Child) -> &[u8] {
        let start = child.name_at as usize;
        self.names
            .get(start..start + usize::from(child.name_length))
            .unwrap_or_default()
    }

    /// The position of the entry of the run `run` named `name`.
    pub(super) fn find(&self, run: Range<usize>, name: &str) -> Option<usize> {
        let prefixes = self.prefixes.get(run.clone())?;
        let key = prefix(name.as_bytes());
        let start = prefixes.partition_point(|&other| other < key);
        let tied = prefixes.get(start..).unwrap_or_default();
        let end = start + tied.partition_point(|&other| other == key);
        let candidates = self.entries.get(run.start + start..run.start + end)?;
        let found = candidates
            .binary_search_by(|child| self.name(child).cmp(name.as_bytes()))
            .ok()?;
        Some(run.start + start + found)
    }

    /// The entry at `position`.
    pub(super) fn get(&self, position: usize) -> Option<&Child> {
        self.entries.get(position)
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::String;

    use super::*;

    /// A table of one directory of `names` (sorted here), each naming its index in `names`.
    fn table(names: &[&str]) -> Children {
        let mut sorted: Vec<&str> = names.to_vec();
        sorted.sort_unstable();
        let (mut entries, mut prefixes, mut text) = (Vec::new(), Vec::new(), Vec::new());
        for name in sorted {
            let original = names.iter().position(|other| *other == name).unwrap();
            entries.push(Child::new(text.len() as u32, name.len(), original as u32));
            text.extend_from_slice(name.as_bytes());
            prefixes.push(prefix(name.as_bytes()));
        }
        Children::new(entries, prefixes, text)
    }

    fn node_of(dir: &Children, name: &str) -> Option<u32> {
        let position = dir.find(0..dir.len(), name)?;
        dir.get(position).map(|child| child.node)
    }

    #[test]
    fn every_entry_is_found_and_nothing_else() {
        let owned = crate::name_order::tests::awkward_names();
        let names: Vec<&str> = owned.iter().map(String::as_str).collect();
        let dir = table(&names);
        assert_eq!(dir.len(), names.len());
        for (index, name) in names.iter().enumerate() {
            assert_eq!(node_of(&dir, name), Some(index as u32), "{name}");
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
            assert_eq!(node_of(&dir, absent), None, "{absent}");
        }
    }

    #[test]
    fn an_empty_directory_finds_nothing() {
        let dir = Children::new(Vec::new(), Vec::new(), Vec::new());
        assert_eq!(dir.len(), 0);
        assert_eq!(node_of(&dir, "a"), None);
        assert!(dir.run(0..0).is_empty());
    }

    #[test]
    fn names_point_into_the_layer() {
        let layer = b"0123456789";
        let name = NameRef::in_layer(&(3..6), 4).unwrap();
        assert_eq!(name.text(layer, &[], 4), b"345");
        assert!(
            NameRef::in_layer(&(0..256), 512).is_none(),
            "over 255 bytes"
        );
    }
}
