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
//!
//! A directory that is one lower directory alone (no upper directory, one lower directory
//! of a layer that marks whiteouts with names: most directories of an image) has no listing
//! to build or keep: it is listed straight from that directory, at its cookies, as Linux
//! lists a directory that is not merged. Once it gets an upper directory its listing is
//! merged, and keeps those cookies for the lower directory's names (see [`LOWER_OFFSETS`]),
//! so a listing read in pieces across the change still never skips or repeats a name.

use alloc::{sync::Arc, vec::Vec};

use hashbrown::{HashMap, HashSet};

use super::entry::{Listed, Listing, LowerEntry, Lowers, NameIndex};
use super::identity::{Identities, Key};
use super::layer_list::{list_layer, LayerListing, ListedEntry};
use super::node::OverlayInode;
use super::{Union, WhiteoutEncoding};
use crate::error::{Errno, Result};
use crate::vfs::DirEntry;

/// Vanished names a listing remembers the offset of, beyond twice its live names.
const MAX_TOMBSTONES: usize = 1024;

/// Offsets of a directory listed straight from its lone lower directory (see
/// [`Union::stream_lone`]): a name of that directory at `LOWER_OFFSETS` plus its cookie
/// there. Below them sit the names that only the upper directory had when a listing was
/// first merged (Linux lists an upper directory's names first); every name given an offset
/// later gets one from [`LATER_OFFSETS`] on, after all of them. No listing counts offsets
/// into the range between.
const LOWER_OFFSETS: u64 = 1 << 32;

/// See [`LOWER_OFFSETS`]: past every lower directory's name.
const LATER_OFFSETS: u64 = 1 << 62;

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
            let lone = self.lone_lower(&lowers).is_some();
            listing.update(merged, lone);
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

    /// The lower directory of `dir` if `dir` is listed straight from it (see
    /// [`Union::stream_lone`]): `dir` has no upper directory and that one lower directory.
    pub(crate) fn streamed_lower(&self, dir: &OverlayInode) -> Option<LowerEntry> {
        let (upper, lowers) = dir.layers();
        match upper {
            Some(_) => None,
            None => self.lone_lower(&lowers).cloned(),
        }
    }

    /// The one lower directory in `lowers`, if there is one and its layer marks whiteouts
    /// with names (OCI): a listing of it alone needs nothing but its names.
    fn lone_lower<'l>(&self, lowers: &'l Lowers) -> Option<&'l LowerEntry> {
        match lowers.dirs().map(|dirs| &***dirs) {
            Some([lower]) if self.lowers[lower.layer].encoding == WhiteoutEncoding::Oci => {
                Some(lower)
            }
            _ => None,
        }
    }

    /// Lists the union directory `dir` from `cookie` straight from `lower`, its one lower
    /// directory (see [`Union::streamed_lower`]), as Linux lists a directory that is not
    /// merged: the layer's entries but its whiteouts and markers (which hide nothing when
    /// nothing lies below), with their union inode numbers, at the layer's cookies. No
    /// listing is built or kept. The caller holds no lock: the layer never changes.
    ///
    /// The listing that `dir` gets once it is merged with an upper directory keeps those
    /// cookies for the lower directory's names (see [`Union::merge`]), so a listing read in
    /// pieces across that change still never skips or repeats a name.
    ///
    /// # Errors
    /// What the layer's `readdir` returns; `EIO` for a cookie of it that no listing could
    /// keep.
    pub(crate) fn stream_lone(
        &self,
        dir: &OverlayInode,
        lower: &LowerEntry,
        cookie: u64,
        sink: &mut dyn FnMut(DirEntry<'_>) -> bool,
    ) -> Result<()> {
        if cookie >= LATER_OFFSETS {
            // Past every name of the lower directory.
            return Ok(());
        }
        // Before them come only names of an upper directory (which this one no longer has).
        let cookie = cookie.saturating_sub(LOWER_OFFSETS);
        let encoding = self.lowers[lower.layer].encoding;
        let mut listed = 0;
        let mut ended = true;
        let mut bad_cookie = None;
        lower.inode.readdir(cookie, &mut |entry| {
            let next_cookie = match kept_cookie(entry.next_cookie) {
                Ok(kept) => kept,
                Err(errno) => {
                    bad_cookie = Some(errno);
                    return false;
                }
            };
            if encoding.is_reserved_name(entry.name) {
                return true;
            }
            listed += 1;
            let ino = self.ino_of(Key::Lower {
                layer: lower.layer,
                ino: entry.ino,
            });
            ended = sink(DirEntry {
                ino,
                next_cookie,
                ..entry
            });
            ended
        })?;
        if let Some(errno) = bad_cookie {
            return Err(errno);
        }
        if cookie == 0 && ended {
            // A walk looks up every name it lists: size the directory's lookup cache for it.
            dir.dir_parts().dentries.listed(listed);
        }
        Ok(())
    }

    /// Every name the union directory `dir` shows, with its kind and inode number: the upper
    /// directory's names in the order it lists them, then each lower directory's, top first,
    /// as Linux lists a merged directory (and, like it, with no sort: a sort would be the
    /// costliest step of a large directory's first listing).
    ///
    /// An entry's identity depends only on its topmost occurrence (see
    /// [`Union::key_of`]), so the inode numbers here are the ones `stat` reports.
    ///
    /// A directory listed straight from its lone lower directory (see [`Union::stream_lone`])
    /// keeps that directory's cookies: every name the lower directory has is placed at its
    /// cookie there (see [`LOWER_OFFSETS`]), whichever layer shows it; the names only the
    /// upper directory has come first.
    fn merge(&self, dir: &OverlayInode) -> Result<Vec<Listed>> {
        let (upper_dir, lowers) = dir.layers();
        let lone = self.lone_lower(&lowers).is_some();
        let upper_layer = match (&self.upper, upper_dir) {
            (Some(upper), Some(upper_dir)) => Some(list_layer(&*upper_dir, upper.encoding)?),
            _ => None,
        };
        let mut lower_layers = Vec::with_capacity(lowers.len());
        for lower in lowers.iter() {
            let encoding = self.lowers[lower.layer].encoding;
            lower_layers.push((lower.layer, list_layer(&*lower.inode, encoding)?));
        }
        // The lower directories were read whole: note their names for lookups too, and take
        // what the lower directories show from that same pass (their topmost entries).
        let mut lower_tops = None;
        if let Some(dirs) = lowers.dirs().filter(|dirs| dirs.names_unknown()) {
            let layers: Vec<&LayerListing> = lower_layers.iter().map(|(_, layer)| layer).collect();
            let mut tops = Vec::new();
            let index = NameIndex::of_layers_and_tops(&layers, |position, entry| {
                tops.push((position, entry.name.clone(), entry.kind, entry.ino));
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
                lower_entries(&mut identities, layer, entries.entries, lone).collect()
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
                    // A name a lone lower directory has keeps its place there (copied up, it
                    // is still a name a listing in progress may have yet to show).
                    let kept: HashMap<&str, u64> = match (lone, lower_layers.first()) {
                        (true, Some((_, lower))) => lower
                            .entries
                            .iter()
                            .map(|entry| (&*entry.name, entry.cookie))
                            .collect(),
                        _ => HashMap::new(),
                    };
                    for mut entry in upper_entries(&mut identities, layer.entries) {
                        if let Some(&cookie) = kept.get(&*entry.name) {
                            entry.offset = kept_cookie(cookie)?;
                        }
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
                            for entry in entries.entries {
                                if seen.insert(entry.name.clone()) {
                                    shown.push(lower_listed(&mut identities, layer, entry, lone)?);
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
    ///
    /// Entries the merge placed already (at their lower directory's cookie) keep that offset;
    /// the others count on from the last offset given, skipping the range of lower cookies
    /// (see [`LOWER_OFFSETS`]). A `lone` listing (one kept with a lone lower directory) counts
    /// from [`LATER_OFFSETS`] once it has been built.
    fn update(&mut self, mut entries: Vec<Listed>, lone: bool) {
        // Every name this listing ever gave an offset to: the old entries and the tombstones.
        // A first listing has none, and needs no map at all.
        let mut known = core::mem::take(&mut self.vanished);
        known.extend(
            self.entries
                .drain(..)
                .map(|entry| (entry.name, entry.offset)),
        );
        if lone && self.built {
            self.next_offset = self.next_offset.max(LATER_OFFSETS - 1);
        }
        for entry in &mut entries {
            if entry.offset != 0 {
                if !known.is_empty() {
                    known.remove(&entry.name);
                }
                continue;
            }
            // A first listing knows no names: no need to hash each one to find that out.
            let old_offset = if known.is_empty() {
                None
            } else {
                known.remove(&entry.name)
            };
            entry.offset = old_offset.unwrap_or_else(|| {
                self.next_offset += 1;
                if self.next_offset == LOWER_OFFSETS {
                    self.next_offset = LATER_OFFSETS;
                }
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
    entries: Vec<ListedEntry>,
) -> impl Iterator<Item = Listed> + 'a {
    entries.into_iter().map(|entry| {
        let key = identities.key_of_upper(entry.ino);
        Listed::unplaced(entry.name, entry.kind, identities.ino(key))
    })
}

/// The entries of a directory of lower layer `layer` (see [`lower_listed`]).
fn lower_entries<'a>(
    identities: &'a mut Identities,
    layer: usize,
    entries: Vec<ListedEntry>,
    keep_cookies: bool,
) -> impl Iterator<Item = Result<Listed>> + 'a {
    entries
        .into_iter()
        .map(move |entry| lower_listed(identities, layer, entry, keep_cookies))
}

/// The listing's entry for `entry` of a directory of lower layer `layer`, with its union
/// inode number; placed at its cookie in `layer` with `keep_cookies` (`EIO` for a cookie no
/// listing can keep), else not placed yet.
fn lower_listed(
    identities: &mut Identities,
    layer: usize,
    entry: ListedEntry,
    keep_cookies: bool,
) -> Result<Listed> {
    let ino = identities.ino(Key::Lower {
        layer,
        ino: entry.ino,
    });
    let mut listed = Listed::unplaced(entry.name, entry.kind, ino);
    if keep_cookies {
        listed.offset = kept_cookie(entry.cookie)?;
    }
    Ok(listed)
}

/// A lone lower directory's cookie as the offset of its entry in the union's listing (see
/// [`LOWER_OFFSETS`]): `EIO` for one that could not be (0 resumes from the start, and the
/// range is that of a layer's positions).
fn kept_cookie(cookie: u64) -> Result<u64> {
    match LOWER_OFFSETS.checked_add(cookie) {
        Some(offset) if cookie != 0 && offset < LATER_OFFSETS => Ok(offset),
        _ => Err(Errno::EIO),
    }
}
