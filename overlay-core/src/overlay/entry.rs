//! The entries a union node is made of, shared by lookup, listing and the node itself (as
//! Linux keeps `ovl_entry.h` apart from `namei.c` and `readdir.c`): the lower entries behind a
//! node ([`Lowers`]), the lower directories merged into a directory with the caches kept with
//! them ([`LowerDirs`]: the names they hold, filled by `lookup`, and the merged [`Listing`],
//! filled by `readdir`).

use alloc::{sync::Arc, vec::Vec};
use core::ops::Deref;

use hashbrown::hash_map::Entry;
use hashbrown::HashMap;
use spin::Mutex;

use super::identity::Key;
use super::layer_list::{LayerListing, ListedEntry};
use crate::vfs::{FileType, Ino, Inode, Metadata};

/// A directory or entry of a lower layer that a union node is made of.
#[derive(Clone)]
pub(crate) struct LowerEntry {
    /// Index of the lower layer, 0 = top.
    pub(crate) layer: usize,
    /// The entry in that layer.
    pub(crate) inode: Arc<dyn Inode>,
}

/// What the lower layers alone hold under a name.
#[derive(Clone)]
pub(crate) struct LowerHit {
    pub(crate) kind: FileType,
    pub(crate) top: Metadata,
    pub(crate) lowers: Lowers,
    /// The name as the lower-name cache or the layer keeps it (the `Arc` the listing shows).
    pub(crate) name: Option<Arc<str>>,
}

/// The lower entries a union node is made of (top first).
#[derive(Clone)]
pub(crate) enum Lowers {
    /// A directory's: the lower directories merged into it, shared with their caches. An
    /// entry of the upper layer alone, directory or not, holds the union's one empty set.
    Dirs(Arc<LowerDirs>),
    /// The one lower entry of anything else, held in place: a file's node costs no
    /// allocation for it (a cold walk makes one such node per file).
    Entry(LowerEntry),
}

impl Lowers {
    /// The lower directories with their caches; `None` for a non-directory's entry.
    pub(crate) fn dirs(&self) -> Option<&Arc<LowerDirs>> {
        match self {
            Lowers::Dirs(dirs) => Some(dirs),
            Lowers::Entry(_) => None,
        }
    }
}

impl Deref for Lowers {
    type Target = [LowerEntry];

    fn deref(&self) -> &[LowerEntry] {
        match self {
            Lowers::Dirs(dirs) => dirs,
            Lowers::Entry(entry) => core::slice::from_ref(entry),
        }
    }
}

/// The lower directories merged into a union directory (top first), with the cache of what
/// they hold by name (see the [module docs](self)) and the directory's listing. Never changed
/// once made.
pub(crate) struct LowerDirs {
    entries: Entries,
    /// The caches, held in place: a directory that is found is nearly always looked into or
    /// listed next, and a box made on first use would cost a walk one more allocation per
    /// directory.
    pub(super) cache: DirCache,
}

/// Lower directories, a single one (the common case) kept without an allocation.
enum Entries {
    One([LowerEntry; 1]),
    Many(Vec<LowerEntry>),
}

/// The caches of one set of lower directories.
pub(super) struct DirCache {
    /// Built on the first lookup; a leaf lock, never held while a layer is called. For a
    /// single lower directory, only the subdirectories found (see the [module docs](self)).
    pub(super) names: Mutex<Option<HashMap<Arc<str>, Slot>>>,
    /// The merged listing of the directory these are the lower directories of (see
    /// `readdir`), kept here so that it outlives the directory's nodes.
    listing: Mutex<Listing>,
}

/// A name cache being built: every name some lower directory lists, with the position of
/// the topmost directory listing it (or a whiteout for it).
pub(crate) struct NameIndex {
    pub(super) names: HashMap<Arc<str>, Slot>,
}

impl NameIndex {
    /// The index of lower directories read whole, top first: every name each of them holds
    /// or deletes, with the position of the topmost one that does.
    pub(crate) fn of_layers(layers: &[&LayerListing]) -> NameIndex {
        NameIndex::of_layers_and_tops(layers, |_, _| {})
    }

    /// [`NameIndex::of_layers`], handing `top` each entry that is the topmost of its name
    /// (no whiteout or entry of a directory above has the name), with the position of its
    /// directory: what a listing of the lower directories shows, from the same pass.
    pub(crate) fn of_layers_and_tops<'a>(
        layers: &[&'a LayerListing],
        mut top: impl FnMut(usize, &'a ListedEntry),
    ) -> NameIndex {
        let count = layers
            .iter()
            .map(|layer| layer.entries.len() + layer.whiteouts.len())
            .sum();
        let mut names = HashMap::with_capacity(count);
        for (position, layer) in layers.iter().enumerate() {
            for entry in &layer.entries {
                if let Entry::Vacant(free) = names.entry(entry.name.clone()) {
                    free.insert(Slot::From(position));
                    top(position, entry);
                }
            }
            for name in &layer.whiteouts {
                names.entry(name.clone()).or_insert(Slot::From(position));
            }
        }
        NameIndex { names }
    }
}

/// What the cache knows of one name.
#[derive(Clone)]
pub(super) enum Slot {
    /// The topmost of the lower directories (by position) that has the name or a whiteout
    /// for it; not searched yet.
    From(usize),
    /// Searched: the entry, or `None` if a whiteout hides the name.
    Known(Option<Arc<LowerHit>>),
}

impl LowerDirs {
    /// Lower entries with an empty cache.
    pub(crate) fn new(entries: Vec<LowerEntry>) -> Arc<LowerDirs> {
        LowerDirs::from_entries(Entries::Many(entries))
    }

    /// One lower directory.
    pub(super) fn one(entry: LowerEntry) -> Arc<LowerDirs> {
        LowerDirs::from_entries(Entries::One([entry]))
    }

    fn from_entries(entries: Entries) -> Arc<LowerDirs> {
        Arc::new(LowerDirs {
            entries,
            cache: DirCache {
                names: Mutex::new(None),
                listing: Mutex::new(Listing::default()),
            },
        })
    }

    /// The merged listing kept with these lower directories (see `readdir`; empty and owned
    /// by no directory until one is listed).
    pub(crate) fn listing(&self) -> &Mutex<Listing> {
        &self.cache.listing
    }

    /// Whether the name cache is still to be built (by the first lookup or listing); never
    /// for a single directory, which keeps none.
    pub(crate) fn names_unknown(&self) -> bool {
        self.len() > 1 && self.cache.names.lock().is_none()
    }

    /// Installs `index` as the name cache, unless one was built meanwhile. A listing that
    /// reads every lower directory anyway hands its names over this way, so the first lookup
    /// after it does not read them all again.
    pub(crate) fn install_names(&self, index: NameIndex) {
        let mut names = self.cache.names.lock();
        if names.is_none() {
            *names = Some(index.names);
        }
    }
}

impl Drop for LowerDirs {
    /// Lets go of the lower directories the name cache found, one at a time: each one's own
    /// cache holds the next level's, so dropped in place a chain of them would be dropped
    /// recursively, one stack frame per directory level of the image.
    fn drop(&mut self) {
        let mut orphans = Vec::new();
        self.cache.take_subdirs(&mut orphans);
        while let Some(dirs) = orphans.pop() {
            if let Some(mut dirs) = Arc::into_inner(dirs) {
                dirs.cache.take_subdirs(&mut orphans);
                // `dirs` is dropped here with an empty cache.
            }
        }
    }
}

impl DirCache {
    /// Empties the name cache, moving the lower directories of the subdirectories it found
    /// (those no one else holds the entry of) onto `orphans`.
    fn take_subdirs(&mut self, orphans: &mut Vec<Arc<LowerDirs>>) {
        let Some(names) = self.names.get_mut().take() else {
            return;
        };
        for slot in names.into_values() {
            if let Slot::Known(Some(found)) = slot {
                if let Some(LowerHit {
                    lowers: Lowers::Dirs(dirs),
                    ..
                }) = Arc::into_inner(found)
                {
                    orphans.push(dirs);
                }
            }
        }
    }
}

impl Deref for LowerDirs {
    type Target = [LowerEntry];

    fn deref(&self) -> &[LowerEntry] {
        match &self.entries {
            Entries::One(one) => one,
            Entries::Many(many) => many,
        }
    }
}

/// One entry of a merged listing. Names are shared (`Arc<str>`) between the listing and the
/// entries handed out, so a name is allocated once, when a layer lists it.
pub(super) struct Listed {
    /// Its cookie; 0 (no entry's) in a merge, until [`Listing::update`] places it.
    pub(super) offset: u64,
    pub(super) name: Arc<str>,
    pub(super) ino: Ino,
    pub(super) kind: FileType,
}

impl Listed {
    /// An entry a merge shows, not placed in the listing yet.
    pub(super) fn unplaced(name: Arc<str>, kind: FileType, ino: Ino) -> Listed {
        Listed {
            offset: 0,
            name,
            ino,
            kind,
        }
    }
}

/// The merged listing of a union directory.
#[derive(Default)]
pub(crate) struct Listing {
    /// The directory it lists, when kept with its lower directories.
    pub(super) owner: Option<Key>,
    pub(super) built: bool,
    pub(super) stale: bool,
    /// The live entries, by offset.
    pub(super) entries: Vec<Listed>,
    /// The offsets of names that vanished (tombstones, see [`Listing::update`]).
    pub(super) vanished: HashMap<Arc<str>, u64>,
    pub(super) next_offset: u64,
}
