//! Lookup: resolving one name of a union directory through the layers.
//!
//! Layers are searched top-down. In each: nothing -> go on; a whiteout -> the name does not
//! exist; a non-directory -> that is the entry (unless a directory was already found above, in
//! which case the search stops there); a directory -> it joins the merged directory, and the
//! search goes on below unless it is opaque.
//!
//! # The lower-name cache
//! What the lower layers say about a name never changes (they are read-only, and like Linux
//! the union does not support changing them underneath it), so it is learned once per merged
//! directory and kept in the directory's [`LowerDirs`]: the first lookup in a directory lists
//! each of its lower directories once and notes, for every name, the topmost layer that has
//! it or a whiteout for it; the first lookup of a name then searches from that layer down and
//! keeps the answer under the name when it was worth a search: a directory (merged from every
//! layer below that has it) or nothing (a whiteout). A file costs one lookup in the layer its
//! slot points at. So a lookup costs one hash lookup and at most one layer's lookup, whatever
//! the number of layers, and a name that no layer has costs one hash lookup.
//!
//! A merged directory of a single lower directory (most of an image's directories: each is in
//! one layer only) keeps no such index: the layer's own lookup is that one search, and a name
//! it does not have is absent (a whiteout there hides nothing, as nothing lies below it). Its
//! cache holds only the subdirectories found, so that every node of one of them shares one
//! [`LowerDirs`]. Listing it or looking a name up in it builds no table of its names.
//!
//! Everything a change through the union makes (an entry created, copied up, renamed or
//! removed, a whiteout, an opaque directory, a redirect) is in the upper layer, which every
//! lookup still asks first, before the cache: so no change can leave the cache wrong, and none
//! needs to clear it. A directory's [`LowerDirs`] is shared by every lookup that finds it (the
//! parent's cache hands out the same `Arc`), so its own cache lives as long as the parent's
//! does, even when no node of the directory is alive; the cache holds at most one entry per
//! name of the lower layers, so it is bounded by the size of the image.

use alloc::{string::String, sync::Arc, vec::Vec};

use hashbrown::HashMap;

use super::entry::{LowerDirs, LowerEntry, LowerHit, Lowers, NameIndex, Slot};
use super::identity::Key;
use super::layer_list::list_layer;
use super::node::{NodeState, OverlayInode};
use super::whiteout::{LayerLookup, REDIRECT_XATTR};
use super::Union;
use crate::error::{Errno, Result};
use crate::vfs::{check_name, FileType, Inode, Metadata};

/// What a name resolves to in a union directory.
pub(crate) enum Lookup {
    /// An entry.
    Found(Hit),
    /// No entry; `upper_whiteout` tells whether the upper layer holds a whiteout for it.
    Missing { upper_whiteout: bool },
}

/// The layers' entries behind one name.
pub(crate) struct Hit {
    pub(crate) kind: FileType,
    pub(crate) upper: Option<Arc<dyn Inode>>,
    /// Metadata of the topmost entry.
    pub(crate) top: Metadata,
    /// Merged lower directories, or the one lower non-directory.
    pub(crate) lowers: Lowers,
    /// The name as an `Arc` the lower-name cache or the layer keeps (the node shares it), if
    /// one of them does.
    pub(crate) name: Option<Arc<str>>,
}

impl Union {
    /// Resolves `name` in the union directory `dir`.
    pub(crate) fn resolve(&self, dir: &OverlayInode, name: &str) -> Result<Lookup> {
        if !dir.kind().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        check_name(name)?;
        let (upper_dir, dir_lowers) = dir.layers();
        let mut upper_dir_found = None;
        if let (Some(upper), Some(upper_dir)) = (&self.upper, upper_dir) {
            match upper.encoding.lookup(&*upper_dir, name)? {
                LayerLookup::Whiteout => {
                    return Ok(Lookup::Missing {
                        upper_whiteout: true,
                    })
                }
                LayerLookup::Absent => {}
                LayerLookup::Found(inode, meta, shared_name) => {
                    let opaque = meta.kind.is_dir() && upper.encoding.is_opaque(&*inode)?;
                    if !meta.kind.is_dir() || opaque {
                        return Ok(Lookup::Found(Hit {
                            kind: meta.kind,
                            upper: Some(inode),
                            top: meta,
                            lowers: Lowers::Dirs(self.no_lowers.clone()),
                            name: shared_name,
                        }));
                    }
                    upper_dir_found = Some((inode, meta, shared_name));
                }
            }
        }
        let below_dir = upper_dir_found.is_some();
        let redirect = match &upper_dir_found {
            Some((inode, _, _)) => read_redirect(&**inode)?,
            None => None,
        };
        let lower = match redirect {
            Some(path) => self.lookup_lower_path(&path)?,
            None => self.lookup_lower(&dir_lowers, name, below_dir)?,
        };
        Ok(match (upper_dir_found, lower) {
            (Some((inode, meta, shared_name)), lower) => Lookup::Found(Hit {
                kind: FileType::Directory,
                upper: Some(inode),
                top: meta,
                lowers: lower.map_or_else(
                    || Lowers::Dirs(self.no_lowers.clone()),
                    |found| found.lowers,
                ),
                name: shared_name,
            }),
            (None, Some(found)) => Lookup::Found(Hit {
                kind: found.kind,
                upper: None,
                top: found.top,
                lowers: found.lowers,
                name: found.name,
            }),
            (None, None) => Lookup::Missing {
                upper_whiteout: false,
            },
        })
    }

    /// What the lower directories `dir_lowers` (top first) hold under `name`, from their
    /// cache. With `below_dir`, a directory was already found above, so only directories can
    /// join it.
    pub(crate) fn lookup_lower(
        &self,
        dir_lowers: &Lowers,
        name: &str,
        below_dir: bool,
    ) -> Result<Option<LowerHit>> {
        // A non-directory's lower entry holds no names.
        let Some(dirs) = dir_lowers.dirs().filter(|dirs| !dirs.is_empty()) else {
            return Ok(None);
        };
        let found = self.cached_lower(dirs, name)?;
        // Below a directory, a non-directory ends the search with nothing; from a directory
        // on, the search is the same either way.
        Ok(found.filter(|found| !below_dir || found.kind.is_dir()))
    }

    /// What `dirs` hold under `name`, searched as if nothing had been found above: from the
    /// cache, filling it as needed.
    ///
    /// The name is not checked here: it comes from `resolve`, which checks it, or from a
    /// lookup or listing that did; a part of a redirect's path that no layer could hold
    /// (`..`, a name too long) is simply not found. A single directory's own lookup checks it
    /// again (`Inode::lookup`'s contract).
    fn cached_lower(&self, dirs: &Arc<LowerDirs>, name: &str) -> Result<Option<LowerHit>> {
        if dirs.len() == 1 {
            return self.cached_single_dir(dirs, name);
        }
        let cached = dirs.cache.names.lock().as_ref().map(|names| {
            names
                .get_key_value(name)
                .map(|(key, slot)| (key.clone(), slot.clone()))
        });
        let slot = match cached {
            Some(slot) => slot,
            None => {
                // Listed with no lock held; two lookups racing here both list, one keeps it.
                let built = self.index_names(dirs)?;
                let slot = built
                    .names
                    .get_key_value(name)
                    .map(|(key, slot)| (key.clone(), slot.clone()));
                dirs.install_names(built);
                slot
            }
        };
        let Some((key, slot)) = slot else {
            return Ok(None);
        };
        match slot {
            Slot::Known(found) => Ok(found.as_deref().cloned()),
            Slot::From(position) => {
                let below = dirs.get(position..).unwrap_or_default();
                let found = self.search_layers(below, name)?.map(|found| LowerHit {
                    name: Some(key),
                    ..found
                });
                // A non-directory costs one lookup in the layer the slot points at: not worth
                // keeping. A directory's merge (and its `LowerDirs`, which its listing and
                // names are kept with) is, and so is a whiteout's nothing.
                if found.as_ref().is_some_and(|found| !found.kind.is_dir()) {
                    return Ok(found);
                }
                let found = found.map(Arc::new);
                let mut names = dirs.cache.names.lock();
                match names.as_mut().and_then(|names| names.get_mut(name)) {
                    // A lookup racing this one got there first: keep its answer, so every
                    // node of a directory shares one `LowerDirs` (and one listing).
                    Some(Slot::Known(known)) => Ok(known.as_deref().cloned()),
                    Some(slot) => {
                        *slot = Slot::Known(found.clone());
                        Ok(found.as_deref().cloned())
                    }
                    None => Ok(found.as_deref().cloned()),
                }
            }
        }
    }

    /// What the single lower directory `dirs` holds under `name`: its own lookup, and for a
    /// subdirectory the one found before, if any (kept, so its nodes share one
    /// [`LowerDirs`]).
    fn cached_single_dir(&self, dirs: &Arc<LowerDirs>, name: &str) -> Result<Option<LowerHit>> {
        // The layer is asked first: most names are files, which the cache does not hold (a
        // probe of it for each cost more than the layer's search it saves a directory).
        let found = match self.search_layers(dirs, name)? {
            Some(found) if found.kind.is_dir() => found,
            // A non-directory costs this one search again, nothing costs nothing.
            other => return Ok(other),
        };
        let key = found.name.clone().unwrap_or_else(|| Arc::from(name));
        let found = Arc::new(LowerHit {
            name: Some(key.clone()),
            ..found
        });
        let mut names = dirs.cache.names.lock();
        let names = names.get_or_insert_with(HashMap::new);
        // A lookup racing this one may have kept its own: use that one, as `cached_lower` does.
        let kept = names
            .entry(key)
            .or_insert_with(|| Slot::Known(Some(found.clone())));
        Ok(match kept {
            Slot::Known(Some(kept)) => Some((**kept).clone()),
            _ => Some((*found).clone()),
        })
    }

    /// Every name the directories `dirs` hold (and every name one of their whiteouts hides),
    /// with the position of the topmost directory that has it.
    fn index_names(&self, dirs: &LowerDirs) -> Result<NameIndex> {
        let layers = dirs
            .iter()
            .map(|dir| list_layer(&*dir.inode, self.lowers[dir.layer].encoding))
            .collect::<Result<Vec<_>>>()?;
        Ok(NameIndex::of_layers(&layers.iter().collect::<Vec<_>>()))
    }

    /// The search itself: what the lower directories `dirs` (top first) hold under `name`,
    /// as if nothing had been found above.
    fn search_layers(&self, dirs: &[LowerEntry], name: &str) -> Result<Option<LowerHit>> {
        if let [dir] = dirs {
            return self.search_one(dir, name);
        }
        // The first entry found (kind, metadata, shared name, entry), and the directories
        // merged with it below.
        let mut found: Option<(FileType, Metadata, Option<Arc<str>>, LowerEntry)> = None;
        let mut below = Vec::new();
        for (position, dir) in dirs.iter().enumerate() {
            let encoding = self.lowers[dir.layer].encoding;
            let bottom = position + 1 == dirs.len();
            let entry = if bottom {
                encoding.lookup_bottom(&*dir.inode, name)?
            } else {
                encoding.lookup(&*dir.inode, name)?
            };
            match entry {
                LayerLookup::Absent => continue,
                LayerLookup::Whiteout => break,
                LayerLookup::Found(inode, meta, shared_name) => {
                    let is_dir = meta.kind.is_dir();
                    if found.is_some() && !is_dir {
                        break;
                    }
                    // Opacity hides the directories below; the bottom one has none, so it is not
                    // asked (most directories an image walk finds: each saves a look for the
                    // marker).
                    let opaque = is_dir && !bottom && encoding.is_opaque(&*inode)?;
                    let entry = LowerEntry {
                        layer: dir.layer,
                        inode,
                    };
                    match found {
                        Some(_) => below.push(entry),
                        None => found = Some((meta.kind, meta, shared_name, entry)),
                    }
                    if !is_dir || opaque {
                        break;
                    }
                }
            }
        }
        Ok(found.map(|(kind, top, name, first)| LowerHit {
            kind,
            top,
            name,
            lowers: if !kind.is_dir() {
                // Only a directory has entries below it.
                Lowers::Entry(first)
            } else if below.is_empty() {
                Lowers::Dirs(LowerDirs::one(first))
            } else {
                let mut all = Vec::with_capacity(below.len() + 1);
                all.push(first);
                all.extend(below);
                Lowers::Dirs(LowerDirs::new(all))
            },
        }))
    }

    /// [`Union::search_layers`] of one directory (most searches: a directory of one layer,
    /// or a name only the bottom one of several has): that directory's lookup, with no
    /// directory below it to merge with or to hide by opacity.
    fn search_one(&self, dir: &LowerEntry, name: &str) -> Result<Option<LowerHit>> {
        let encoding = self.lowers[dir.layer].encoding;
        let LayerLookup::Found(inode, top, name) = encoding.lookup_bottom(&*dir.inode, name)?
        else {
            return Ok(None);
        };
        let kind = top.kind;
        let entry = LowerEntry {
            layer: dir.layer,
            inode,
        };
        let lowers = match kind.is_dir() {
            true => Lowers::Dirs(LowerDirs::one(entry)),
            false => Lowers::Entry(entry),
        };
        Ok(Some(LowerHit {
            kind,
            top,
            lowers,
            name,
        }))
    }

    /// What the lower layers hold as directories at the absolute `path` (a redirect), merged
    /// as a lookup from the root would merge them.
    pub(crate) fn lookup_lower_path(&self, path: &str) -> Result<Option<LowerHit>> {
        let mut current: Option<LowerHit> = None;
        for part in path.split('/').filter(|part| !part.is_empty()) {
            let dirs = match &current {
                Some(found) => found.lowers.clone(),
                None => Lowers::Dirs(self.root_lowers.clone()),
            };
            match self.lookup_lower(&dirs, part, true)? {
                Some(found) if found.kind.is_dir() => current = Some(found),
                _ => return Ok(None),
            }
        }
        Ok(current)
    }

    /// The identity of an entry found by [`Union::resolve`].
    pub(crate) fn key_of(&self, found: &Hit) -> Key {
        match (&found.upper, found.lowers.first()) {
            (Some(_), _) | (None, None) => self.identities.lock().key_of_upper(found.top.ino),
            (None, Some(lower)) => Key::Lower {
                layer: lower.layer,
                ino: found.top.ino,
            },
        }
    }

    /// The node for `name` in `dir`.
    ///
    /// # Errors
    /// `ENOENT` if there is no such entry; `ENOTDIR` if `dir` is not a directory.
    pub(crate) fn lookup_node(
        &self,
        dir: &Arc<OverlayInode>,
        name: &str,
    ) -> Result<Arc<OverlayInode>> {
        match self.resolve(dir, name)? {
            Lookup::Found(found) => Ok(self.node_for(dir, name, found)),
            Lookup::Missing { .. } => Err(Errno::ENOENT),
        }
    }

    /// The node for an entry that [`Union::resolve`] found as `name` in `dir`.
    pub(crate) fn node_for(
        &self,
        dir: &Arc<OverlayInode>,
        name: &str,
        found: Hit,
    ) -> Arc<OverlayInode> {
        let key = self.key_of(&found);
        let mut upper = found.upper;
        if upper.is_none() && !found.kind.is_dir() && self.may_have_groups() {
            // Another name of this lower hard-link group was copied up: its data is there.
            upper = self
                .identities
                .lock()
                .group(key)
                .and_then(|group| group.upper.clone());
        }
        let lower_meta = upper.is_none().then_some(found.top);
        let state = NodeState {
            upper,
            lowers: found.lowers,
            parent: Some(dir.clone()),
            name: found.name.unwrap_or_else(|| Arc::from(name)),
            unlinked: false,
        };
        self.node(key, found.kind, state, lower_meta)
    }

    /// `nlink` of the non-directory `node`, whose real entry (in the upper layer if
    /// `in_upper`) reports `real_nlink`.
    pub(crate) fn nlink(&self, node: &OverlayInode, real_nlink: u32, in_upper: bool) -> u32 {
        if !self.may_have_groups() {
            return real_nlink;
        }
        let upper_nlink = in_upper.then_some(real_nlink);
        match self.identities.lock().group(node.key) {
            Some(group) => group.nlink(upper_nlink),
            None => real_nlink,
        }
    }
}

/// The redirect recorded on an upper directory, if any.
fn read_redirect(dir: &dyn Inode) -> Result<Option<String>> {
    match dir.get_xattr(REDIRECT_XATTR) {
        Ok(value) => String::from_utf8(value).map(Some).map_err(|_| Errno::EIO),
        Err(Errno::ENODATA | Errno::ENOTSUP) => Ok(None),
        Err(errno) => Err(errno),
    }
}

/// Where the lower contents of the union directory `node` live, as an absolute path: its
/// redirect if it has one, else its parent's path and its name. Found walking up, in a loop:
/// the union can be as deep as its layers make it.
pub(crate) fn lower_path(node: &Arc<OverlayInode>) -> Result<String> {
    let mut names: Vec<Arc<str>> = Vec::new();
    let mut current = node.clone();
    let mut path = loop {
        if let Some(upper) = current.upper() {
            if let Some(path) = read_redirect(&*upper)? {
                break path;
            }
        }
        let (parent, name, _) = current.position();
        match parent {
            Some(parent) => {
                names.push(name);
                current = parent;
            }
            None => break String::new(),
        }
    };
    for name in names.iter().rev() {
        path.push('/');
        path.push_str(name);
    }
    Ok(path)
}

/// The lower-name cache: lookups after every kind of change through the union give what a
/// union with a cold cache (a fresh union over the same layers) gives.
#[cfg(test)]
mod cache_tests;
