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
mod cache_tests {
    use alloc::{format, string::String, sync::Arc, vec, vec::Vec};

    use crate::error::Errno;
    use crate::image::{Bytes, EntryKind, ImageLayerFs, NewEntry, TarWriter};
    use crate::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer, WhiteoutEncoding};
    use crate::scenarios::fixture::build_layer;
    use crate::tmpfs::{TmpFs, TmpFsOptions};
    use crate::vfs::{FileSystem, FileType, Inode, NewNode, RenameFlags};

    /// Bottom layer first, as `build_layer` lines.
    const LAYERS: [&[&str]; 3] = [
        &[
            "d d",
            "f d/a bottom-a",
            "f d/b bottom-b",
            "d d/sub",
            "f d/sub/x x",
            "d e",
            "f e/old old",
            "f f file-f",
            "d g",
            "f g/in in",
        ],
        &["d d", "f d/c middle-c", "w d/b", "o e", "f e/new new"],
        &["d d", "f d/a top-a", "d f", "f f/inner inner"],
    ];

    const PROBES: &[&str] = &[
        "d",
        "d/a",
        "d/b",
        "d/c",
        "d/sub",
        "d/sub/x",
        "d/zz",
        "d/new",
        "d/link",
        "e",
        "e/old",
        "e/new",
        "f",
        "f/inner",
        "g",
        "g/in",
        "g/c2",
        "moved",
        "moved/a",
        "moved/sub",
        "nowhere",
    ];

    fn regular(path: &str) -> NewEntry<'_> {
        NewEntry::new(path, EntryKind::Regular, 0o644)
    }

    /// A layer of the OCI encoding, as an image layer (a tar): `w` is a `.wh.` file, `o` a
    /// directory with `.wh..wh..opq` in it.
    fn image_layer(lines: &[&str]) -> Layer {
        let mut tar = TarWriter::new();
        for line in lines {
            let mut words = line.splitn(3, ' ');
            let (op, path) = (words.next().unwrap(), words.next().unwrap());
            let text = words.next().unwrap_or("");
            match op {
                "d" => tar.append(&NewEntry::new(path, EntryKind::Directory, 0o755), &[]),
                "o" => tar
                    .append(&NewEntry::new(path, EntryKind::Directory, 0o755), &[])
                    .and_then(|()| tar.append(&regular(&format!("{path}/.wh..wh..opq")), &[])),
                "f" => tar.append(&regular(path), text.as_bytes()),
                "w" => {
                    let whiteout = match path.rsplit_once('/') {
                        Some((dir, name)) => format!("{dir}/.wh.{name}"),
                        None => format!(".wh.{path}"),
                    };
                    tar.append(&regular(&whiteout), &[])
                }
                _ => unreachable!("no such line in LAYERS"),
            }
            .unwrap();
        }
        let fs = ImageLayerFs::parse(Bytes::from_vec(tar.finish().unwrap())).unwrap();
        Layer::with_encoding(fs, WhiteoutEncoding::Oci)
    }

    fn lowers(oci: bool) -> Vec<Layer> {
        let mut layers: Vec<Layer> = LAYERS
            .iter()
            .map(|lines| match oci {
                true => image_layer(lines),
                false => {
                    let fs = build_layer(lines).unwrap();
                    fs.set_read_only(true);
                    Layer::new(fs)
                }
            })
            .collect();
        layers.reverse();
        layers
    }

    fn union(lowers: &[Layer], upper: &Arc<TmpFs>, redirect_dir: bool) -> Arc<OverlayFs> {
        let options = OverlayOptions {
            redirect_dir,
            ..OverlayOptions::default()
        };
        let upper = UpperLayer::new(upper.clone()).unwrap();
        OverlayFs::new(lowers.to_vec(), Some(upper), options).unwrap()
    }

    fn walk(union: &OverlayFs, path: &str) -> crate::Result<Arc<dyn Inode>> {
        let mut node = union.root();
        for part in path.split('/') {
            node = node.lookup(part)?;
        }
        Ok(node)
    }

    /// What `path` shows: its kind and content (a file's bytes, a directory's names).
    fn describe(union: &OverlayFs, path: &str) -> String {
        let node = match walk(union, path) {
            Ok(node) => node,
            Err(errno) => return format!("{path}: {errno:?}"),
        };
        let meta = node.metadata().unwrap();
        match meta.kind {
            FileType::Directory => {
                let mut names = Vec::new();
                node.readdir(0, &mut |entry| {
                    names.push(String::from(entry.name));
                    true
                })
                .unwrap();
                names.sort();
                format!("{path}: dir {names:?}")
            }
            kind => {
                let mut buf = vec![0; meta.size as usize];
                node.read_at(0, &mut buf).unwrap();
                let text = String::from_utf8(buf).unwrap();
                format!("{path}: {kind:?} {text}")
            }
        }
    }

    /// Every probe of the long-lived (warm) union against a fresh one (cold caches).
    fn check(warm: &OverlayFs, lowers: &[Layer], upper: &Arc<TmpFs>, step: &str) {
        let cold = union(lowers, upper, warm.union.options.redirect_dir);
        for path in PROBES {
            let (warm, cold) = (describe(warm, path), describe(&cold, path));
            assert_eq!(warm, cold, "after {step}");
        }
    }

    fn file(dir: &Arc<dyn Inode>, name: &str, text: &str) {
        let new = NewNode::new(FileType::Regular, 0o644, 0, 0);
        dir.create(name, &new)
            .unwrap()
            .write_at(0, text.as_bytes())
            .unwrap();
    }

    fn lookups_follow_every_change(oci: bool) {
        let lowers = lowers(oci);
        let upper = TmpFs::new(TmpFsOptions::default());
        let warm = union(&lowers, &upper, false);
        // The merged view, as the cache first learns it (positive and negative lookups).
        assert_eq!(describe(&warm, "d"), r#"d: dir ["a", "c", "sub"]"#);
        assert_eq!(describe(&warm, "d/a"), "d/a: Regular top-a");
        assert_eq!(describe(&warm, "d/b"), "d/b: ENOENT");
        assert_eq!(describe(&warm, "e"), r#"e: dir ["new"]"#);
        assert_eq!(describe(&warm, "f"), r#"f: dir ["inner"]"#);
        check(&warm, &lowers, &upper, "nothing");
        let root = warm.root();
        let d = walk(&warm, "d").unwrap();
        let g = walk(&warm, "g").unwrap();

        file(&d, "new", "created");
        check(&warm, &lowers, &upper, "create");
        d.unlink("a").unwrap();
        assert_eq!(
            describe(&warm, "d/a"),
            "d/a: ENOENT",
            "bottom-a must not show"
        );
        check(&warm, &lowers, &upper, "unlink of a lower file");
        file(&d, "a", "again");
        assert_eq!(describe(&warm, "d/a"), "d/a: Regular again");
        check(&warm, &lowers, &upper, "create over a whiteout");
        walk(&warm, "d/c").unwrap().write_at(0, b"C").unwrap();
        assert_eq!(describe(&warm, "d/c"), "d/c: Regular Ciddle-c");
        check(&warm, &lowers, &upper, "copy-up");
        let sub = walk(&warm, "d/sub").unwrap();
        sub.unlink("x").unwrap();
        d.rmdir("sub").unwrap();
        assert_eq!(describe(&warm, "d/sub"), "d/sub: ENOENT");
        check(&warm, &lowers, &upper, "rmdir of a lower directory");
        d.create("sub", &NewNode::new(FileType::Directory, 0o755, 0, 0))
            .unwrap();
        assert_eq!(describe(&warm, "d/sub/x"), "d/sub/x: ENOENT", "opaque");
        assert_eq!(describe(&warm, "d/sub"), "d/sub: dir []");
        check(&warm, &lowers, &upper, "mkdir over a whiteout");
        d.rename("c", &*g, "c2", RenameFlags::empty()).unwrap();
        assert_eq!(describe(&warm, "d/c"), "d/c: ENOENT");
        assert_eq!(describe(&warm, "g/c2"), "g/c2: Regular Ciddle-c");
        check(&warm, &lowers, &upper, "rename between directories");
        let inner = walk(&warm, "g/in").unwrap();
        d.link("link", &*inner).unwrap();
        assert_eq!(describe(&warm, "d/link"), "d/link: Regular in");
        check(&warm, &lowers, &upper, "link");
        g.rename("c2", &*d, "a", RenameFlags::empty()).unwrap();
        assert_eq!(describe(&warm, "d/a"), "d/a: Regular Ciddle-c");
        check(&warm, &lowers, &upper, "rename over an upper file");
        assert_eq!(
            root.rename("f", &*root, "moved", RenameFlags::empty()),
            Err(Errno::EXDEV)
        );
        let e = walk(&warm, "e").unwrap();
        e.unlink("new").unwrap();
        root.rmdir("e").unwrap();
        root.create("e", &NewNode::new(FileType::Directory, 0o755, 0, 0))
            .unwrap();
        assert_eq!(describe(&warm, "e/old"), "e/old: ENOENT");
        assert_eq!(describe(&warm, "e"), "e: dir []");
        check(
            &warm,
            &lowers,
            &upper,
            "rmdir and mkdir of an opaque lower directory",
        );
        root.unlink("f").unwrap_err();
        let f = walk(&warm, "f").unwrap();
        f.unlink("inner").unwrap();
        root.rmdir("f").unwrap();
        assert_eq!(
            describe(&warm, "f"),
            "f: ENOENT",
            "the lower file f stays hidden"
        );
        check(
            &warm,
            &lowers,
            &upper,
            "rmdir of a directory over a lower file",
        );
        file(&root, "f", "file again");
        check(&warm, &lowers, &upper, "a file where the directory was");
    }

    #[test]
    fn lookups_follow_every_change_linux_encoding() {
        lookups_follow_every_change(false);
    }

    #[test]
    fn lookups_follow_every_change_oci_encoding() {
        lookups_follow_every_change(true);
    }

    #[test]
    fn renamed_merged_directory_keeps_its_contents_with_redirects() {
        let lowers = lowers(false);
        let upper = TmpFs::new(TmpFsOptions::default());
        let warm = union(&lowers, &upper, true);
        assert_eq!(describe(&warm, "d/sub/x"), "d/sub/x: Regular x");
        let root = warm.root();
        root.rename("d", &*root, "moved", RenameFlags::empty())
            .unwrap();
        assert_eq!(describe(&warm, "d"), "d: ENOENT");
        assert_eq!(describe(&warm, "moved"), r#"moved: dir ["a", "c", "sub"]"#);
        assert_eq!(describe(&warm, "moved/a"), "moved/a: Regular top-a");
        check(&warm, &lowers, &upper, "rename with a redirect");
        root.create("d", &NewNode::new(FileType::Directory, 0o755, 0, 0))
            .unwrap();
        assert_eq!(describe(&warm, "d"), "d: dir []");
        check(
            &warm,
            &lowers,
            &upper,
            "mkdir where the moved directory was",
        );
    }

    #[test]
    fn a_directory_of_one_layer_keeps_only_its_subdirectories() {
        let lowers = [image_layer(&["d g", "d g/h", "f g/h/x x", "f g/y y"])];
        let upper = TmpFs::new(TmpFsOptions::default());
        let union = union(&lowers, &upper, false);
        let g = walk(&union, "g").unwrap();
        let dirs = lowers_of(&*g);
        assert_eq!(dirs.len(), 1);
        g.lookup("y").unwrap();
        assert_eq!(g.lookup("zz").err(), Some(Errno::ENOENT));
        let h = walk(&union, "g/h").unwrap();
        assert_eq!(names_of(&*g, 0, 10).len(), 2);
        {
            let names = dirs.cache.names.lock();
            let names = names.as_ref().unwrap();
            assert_eq!(names.len(), 1, "only the subdirectory is kept");
            assert!(matches!(names.get("h"), Some(super::Slot::Known(Some(_)))));
        }
        // Found again after every node is gone, `h` brings the same lower directories (and
        // their cache and listing).
        let h_dirs = lowers_of(&*h);
        drop((h, g));
        union.drop_caches();
        let again = walk(&union, "g/h").unwrap();
        assert!(Arc::ptr_eq(&lowers_of(&*again), &h_dirs));
        assert_eq!(names_of(&*again, 0, 10).len(), 1);
    }

    fn lowers_of(dir: &dyn Inode) -> Arc<super::LowerDirs> {
        let node = dir.as_any().downcast_ref::<super::OverlayInode>().unwrap();
        node.lowers().dirs().unwrap().clone()
    }

    #[test]
    fn a_directory_is_listed_once_and_each_name_searched_once() {
        let lowers = lowers(true);
        let upper = TmpFs::new(TmpFsOptions::default());
        let warm = union(&lowers, &upper, false);
        let d = walk(&warm, "d").unwrap();
        let dirs = lowers_of(&*d);
        assert_eq!(dirs.len(), 3);
        assert!(
            dirs.cache.names.lock().is_none(),
            "nothing looked up in d yet"
        );
        d.lookup("a").unwrap();
        d.lookup("sub").unwrap();
        assert_eq!(d.lookup("zz").err(), Some(Errno::ENOENT));
        let names = dirs.cache.names.lock();
        let names = names.as_ref().unwrap();
        // a, b (and its whiteout's name), c, sub: each noted once; the directory sub's merge
        // kept, the file a's one-layer search not.
        assert!(matches!(
            names.get("sub"),
            Some(super::Slot::Known(Some(_)))
        ));
        assert!(matches!(names.get("a"), Some(super::Slot::From(0))));
        assert!(matches!(names.get("c"), Some(super::Slot::From(1))));
        assert!(matches!(names.get("b"), Some(super::Slot::From(1))));
        assert!(!names.contains_key("zz"));
        // The same directory found again brings the same cache.
        let again = walk(&warm, "d").unwrap();
        assert!(Arc::ptr_eq(&lowers_of(&*again), &dirs));
    }

    fn names_of(dir: &dyn Inode, cookie: u64, max: usize) -> Vec<(String, u64)> {
        let mut names = Vec::new();
        dir.readdir(cookie, &mut |entry| {
            names.push((String::from(entry.name), entry.next_cookie));
            names.len() < max
        })
        .unwrap();
        names
    }

    #[test]
    fn a_listing_outlives_the_nodes_of_its_directory_and_follows_changes() {
        let lowers = lowers(true);
        let upper = TmpFs::new(TmpFsOptions::default());
        let warm = union(&lowers, &upper, false);
        let listed = |warm: &OverlayFs| -> Vec<String> {
            let d = walk(warm, "d").unwrap();
            let mut names: Vec<String> = names_of(&*d, 0, usize::MAX)
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            // New names are listed after the ones a listing already had; compare as sets.
            names.sort();
            names
        };
        assert_eq!(listed(&warm), ["a", "c", "sub"]);
        // No node of `d` is alive now; its listing is kept with its lower directories.
        let d = walk(&warm, "d").unwrap();
        let node = d.as_any().downcast_ref::<super::OverlayInode>().unwrap();
        let dirs = node.lowers().dirs().unwrap().clone();
        assert!(dirs.listing().lock().built);
        drop(d);
        file(&walk(&warm, "d").unwrap(), "new", "n");
        assert_eq!(listed(&warm), ["a", "c", "new", "sub"]);
        walk(&warm, "d").unwrap().unlink("c").unwrap();
        assert_eq!(listed(&warm), ["a", "new", "sub"]);
        // Read in pieces across nodes: a name added in between comes after the ones listed,
        // none is skipped or repeated.
        let first = names_of(&*walk(&warm, "d").unwrap(), 0, 2);
        assert_eq!(first[0].0, "a");
        file(&walk(&warm, "d").unwrap(), "0-early-name", "e");
        let rest = names_of(&*walk(&warm, "d").unwrap(), first[1].1, usize::MAX);
        let mut all: Vec<String> = first.into_iter().chain(rest).map(|(n, _)| n).collect();
        all.sort();
        assert_eq!(all, ["0-early-name", "a", "new", "sub"]);
        check(
            &warm,
            &lowers,
            &upper,
            "listings after changes through other nodes",
        );
    }
}
