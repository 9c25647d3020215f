//! Merged directory listings with stable cookies.
//!
//! A union directory's listing is built from its layers (each name once, the topmost occurrence
//! winning, whiteouts and markers hidden) and kept on the node. Every name gets an offset when
//! it first appears, from a counter that only grows, and the cookie of an entry is its offset.
//! When the directory changes through the union its listing is marked stale and rebuilt on the
//! next read, keeping the offsets of the names that survive: so a listing read in pieces while
//! entries come and go never skips or repeats a name that existed throughout, new names show up
//! after the ones already listed, and a listing from cookie 0 shows the current state.
//!
//! A directory with lower directories keeps its listing with them (in its
//! [`LowerDirs`](super::lookup::LowerDirs), which the parent's lookup cache hands to every node
//! of that directory), not on the node: so a directory opened, listed and closed again and
//! again is merged once, not once per open, even when no handle keeps its node alive between
//! the opens. The listing there is tagged with the directory's identity, so it is never used
//! for another directory that would share those lower directories (through a redirect).

use alloc::{sync::Arc, vec::Vec};

use hashbrown::{HashMap, HashSet};

use super::identity::{Identities, Key};
use super::lookup::NameIndex;
use super::node::OverlayInode;
use super::{Union, WhiteoutEncoding};
use crate::error::Result;
use crate::vfs::{FileType, Ino, Inode};

/// How many entries of a layer's directory [`read_layer`] makes room for before it reads any.
const LAYER_ENTRIES_AT_ONCE: usize = 32;

/// Vanished names a listing remembers the offset of, beyond twice its live names.
const MAX_TOMBSTONES: usize = 1024;

/// An entry handed out of a listing, with the cookie that resumes after it.
pub(crate) struct ListedEntry {
    pub(crate) name: Arc<str>,
    pub(crate) ino: Ino,
    pub(crate) kind: FileType,
    pub(crate) cookie: u64,
}

/// One entry of a merged listing. Names are shared (`Arc<str>`) between the listing and the
/// entries handed out, so a name is allocated once, when a layer lists it.
struct Listed {
    /// Its cookie; 0 (no entry's) in a merge, until [`Listing::update`] places it.
    offset: u64,
    name: Arc<str>,
    ino: Ino,
    kind: FileType,
}

impl Listed {
    /// An entry a merge shows, not placed in the listing yet.
    fn unplaced(name: Arc<str>, kind: FileType, ino: Ino) -> Listed {
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
    owner: Option<Key>,
    pub(super) built: bool,
    stale: bool,
    /// The live entries, by offset.
    entries: Vec<Listed>,
    /// The offsets of names that vanished (tombstones, see [`Listing::update`]).
    vanished: HashMap<Arc<str>, u64>,
    next_offset: u64,
}

/// What one layer of the directory holds, before merging.
pub(crate) struct LayerEntries {
    /// Real entries: name, kind, the layer's inode number.
    pub(crate) entries: Vec<(Arc<str>, FileType, Ino)>,
    /// Names deleted by whiteouts of this layer.
    pub(crate) whiteouts: Vec<Arc<str>>,
}

impl OverlayInode {
    /// Marks the listing as out of date after a change in this directory.
    pub(crate) fn invalidate_listing(&self) {
        if let Some(parts) = self.made_dir_parts() {
            parts.listing.lock().stale = true;
        }
        let lowers = self.lowers();
        if let Some(dirs) = lowers.dirs() {
            let mut kept = dirs.listing().lock();
            if kept.owner == Some(self.key) {
                kept.stale = true;
            }
        }
    }
}

impl Union {
    /// Up to `max` entries of the union directory `dir` after `cookie`, in listing order. The
    /// caller holds the namespace lock (shared or exclusive).
    pub(crate) fn list_batch(
        &self,
        dir: &OverlayInode,
        cookie: u64,
        max: usize,
    ) -> Result<Vec<ListedEntry>> {
        let lowers = dir.lowers();
        let kept_with = lowers.dirs().filter(|dirs| !dirs.is_empty());
        let mut listing = match kept_with {
            Some(dirs) => dirs.listing().lock(),
            None => dir.dir_parts().listing.lock(),
        };
        if kept_with.is_some() && listing.owner != Some(dir.key) {
            *listing = Listing {
                owner: Some(dir.key),
                ..Listing::default()
            };
        }
        if !listing.built || listing.stale {
            let merged = self.merge(dir)?;
            listing.update(merged);
            dir.dir_parts().dentries.listed(listing.entries.len());
        }
        let start = listing
            .entries
            .partition_point(|entry| entry.offset <= cookie);
        let after = listing.entries.get(start..).unwrap_or_default();
        let mut batch = Vec::new();
        batch.try_reserve(max.min(after.len()))?;
        for entry in after.iter().take(max) {
            batch.push(ListedEntry {
                name: entry.name.clone(),
                ino: entry.ino,
                kind: entry.kind,
                cookie: entry.offset,
            });
        }
        Ok(batch)
    }

    /// Every name the union directory `dir` shows, with its kind and inode number: the upper
    /// directory's names in the order it lists them, then each lower directory's, top first,
    /// as Linux lists a merged directory (and with no sort, which took a third of the time
    /// of a first listing of a large one).
    ///
    /// An entry's identity depends only on its topmost occurrence (see
    /// [`Union::key_of`]), so the inode numbers here are the ones `stat` reports.
    fn merge(&self, dir: &OverlayInode) -> Result<Vec<Listed>> {
        let (upper_dir, lowers) = dir.layers();
        let upper_layer = match (&self.upper, upper_dir) {
            (Some(upper), Some(upper_dir)) => Some(read_layer(&*upper_dir, upper.encoding)?),
            _ => None,
        };
        let mut lower_layers = Vec::with_capacity(lowers.len());
        for lower in lowers.iter() {
            let encoding = self.lowers[lower.layer].encoding;
            lower_layers.push((lower.layer, read_layer(&*lower.inode, encoding)?));
        }
        // The lower directories were read whole: note their names for lookups too, and take
        // what the lower directories show from that same pass (their topmost entries).
        let mut lower_tops = None;
        if let Some(dirs) = lowers.dirs().filter(|dirs| dirs.names_unknown()) {
            let layers: Vec<&LayerEntries> = lower_layers.iter().map(|(_, layer)| layer).collect();
            let mut tops = Vec::new();
            let index = NameIndex::of_layers_and_tops(&layers, |position, (name, kind, ino)| {
                tops.push((position, name.clone(), *kind, *ino));
            });
            dirs.install_names(index);
            lower_tops = Some(tops);
        }

        let mut identities = self.identities.lock();
        // A directory of one layer (the common case in an image) needs no merging: its
        // whiteouts hide nothing below it.
        match (upper_layer, lower_layers.len(), lower_tops) {
            (None, 1, _) => {
                // One element: index 0 is there.
                let (layer, entries) = lower_layers.swap_remove(0);
                Ok(lower_entries(&mut identities, layer, entries.entries).collect())
            }
            (Some(upper), 0, _) => Ok(upper_entries(&mut identities, upper.entries).collect()),
            (upper_layer, _, lower_tops) => {
                // The upper directory's names first; then each lower directory's that no
                // directory above holds or deletes: the tops of the pass above, or a pass
                // here that sees each name once where the topmost layer has it.
                let below = match lower_tops {
                    Some(_) => 0,
                    None => lower_layers
                        .iter()
                        .map(|(_, layer)| layer.entries.len() + layer.whiteouts.len())
                        .sum(),
                };
                let above = upper_layer
                    .as_ref()
                    .map_or(0, |layer| layer.entries.len() + layer.whiteouts.len());
                // Sized for every name it will hold, shared ones counted once per layer.
                let mut seen: HashSet<Arc<str>> = HashSet::with_capacity(above + below);
                let mut shown = Vec::new();
                if let Some(layer) = upper_layer {
                    for entry in upper_entries(&mut identities, layer.entries) {
                        seen.insert(entry.name.clone());
                        shown.push(entry);
                    }
                    seen.extend(layer.whiteouts);
                }
                match lower_tops {
                    Some(tops) => {
                        for (position, name, kind, ino) in tops {
                            let Some(&(layer, _)) = lower_layers.get(position) else {
                                continue;
                            };
                            if seen.is_empty() || !seen.contains(&name) {
                                let ino = identities.ino(Key::Lower { layer, ino });
                                shown.push(Listed::unplaced(name, kind, ino));
                            }
                        }
                    }
                    None => {
                        for (layer, entries) in lower_layers {
                            for (name, kind, ino) in entries.entries {
                                if seen.insert(name.clone()) {
                                    let ino = identities.ino(Key::Lower { layer, ino });
                                    shown.push(Listed::unplaced(name, kind, ino));
                                }
                            }
                            seen.extend(entries.whiteouts);
                        }
                    }
                }
                Ok(shown)
            }
        }
    }
}

impl Listing {
    /// Replaces the listing's contents with `entries`, keeping the offsets of surviving names;
    /// new names get theirs in the order `entries` has them (see [`Union::merge`]).
    ///
    /// Names that vanish keep their offset too, as tombstones: a name removed and made again
    /// while the directory is being listed comes back at its old place, so one pass never
    /// lists it twice (Linux gets the same from a snapshot per open directory). Tombstones
    /// are dropped when there are many more of them than live names, which bounds the memory
    /// a directory with a lot of churn can hold.
    fn update(&mut self, mut entries: Vec<Listed>) {
        // Every name this listing ever gave an offset to: the old entries and the tombstones.
        // A first listing has none, and needs no map at all.
        let mut known = core::mem::take(&mut self.vanished);
        known.extend(
            self.entries
                .drain(..)
                .map(|entry| (entry.name, entry.offset)),
        );
        for entry in &mut entries {
            // A first listing knows no names: no need to hash each one to find that out.
            let old_offset = if known.is_empty() {
                None
            } else {
                known.remove(&entry.name)
            };
            entry.offset = old_offset.unwrap_or_else(|| {
                self.next_offset += 1;
                self.next_offset
            });
        }
        entries.sort_unstable_by_key(|entry| entry.offset);
        // What is left in `known` vanished: keep it as tombstones, unless there are far more
        // of them than live names.
        if known.len() <= MAX_TOMBSTONES + entries.len() {
            self.vanished = known;
        }
        self.entries = entries;
        self.built = true;
        self.stale = false;
    }
}

/// The entries of an upper directory, with their union inode numbers.
fn upper_entries<'a>(
    identities: &'a mut Identities,
    entries: Vec<(Arc<str>, FileType, Ino)>,
) -> impl Iterator<Item = Listed> + 'a {
    entries.into_iter().map(|(name, kind, real_ino)| {
        let key = identities.key_of_upper(real_ino);
        Listed::unplaced(name, kind, identities.ino(key))
    })
}

/// The entries of a directory of lower layer `layer`, with their union inode numbers.
fn lower_entries<'a>(
    identities: &'a mut Identities,
    layer: usize,
    entries: Vec<(Arc<str>, FileType, Ino)>,
) -> impl Iterator<Item = Listed> + 'a {
    entries.into_iter().map(move |(name, kind, ino)| {
        Listed::unplaced(name, kind, identities.ino(Key::Lower { layer, ino }))
    })
}

/// Reads one layer's directory: its real entries and the names its whiteouts delete.
pub(crate) fn read_layer(dir: &dyn Inode, encoding: WhiteoutEncoding) -> Result<LayerEntries> {
    let mut layer = LayerEntries {
        // Room for a typical directory at once: the list only lives until it is merged, and
        // growing it from nothing took a few reallocations per directory.
        entries: Vec::with_capacity(LAYER_ENTRIES_AT_ONCE),
        whiteouts: Vec::new(),
    };
    // Character devices of a layer with Linux whiteouts: whether each is a whiteout takes a
    // lookup, made once the listing is read (not from inside `readdir`'s callback).
    let mut devices = Vec::new();
    let mut cookie = 0;
    let mut seen = 0usize;
    loop {
        let before = seen;
        dir.readdir(cookie, &mut |entry| {
            cookie = entry.next_cookie;
            seen += 1;
            if let Some(target) = encoding.whiteout_target(entry.name) {
                layer.whiteouts.push(Arc::from(target));
            } else if encoding.is_reserved_name(entry.name) {
                // A marker (an opaque directory's): no entry.
            } else if entry.kind == FileType::CharDevice && encoding == WhiteoutEncoding::Linux {
                devices.push((entry.name_arc(), entry.kind, entry.ino));
            } else {
                // The layer's own `Arc` where it shares one: no copy of each name per read.
                layer
                    .entries
                    .push((entry.name_arc(), entry.kind, entry.ino));
            }
            true
        })?;
        if seen == before {
            break;
        }
    }
    for (name, kind, ino) in devices {
        let whiteout = dir
            .lookup(&name)?
            .metadata()
            .is_ok_and(|meta| encoding.is_whiteout_node(&meta));
        if whiteout {
            layer.whiteouts.push(name);
        } else {
            layer.entries.push((name, kind, ino));
        }
    }
    Ok(layer)
}
