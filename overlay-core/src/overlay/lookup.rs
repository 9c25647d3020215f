//! Lookup: resolving one name of a union directory through the layers.
//!
//! Layers are searched top-down. In each: nothing -> go on; a whiteout -> the name does not
//! exist; a non-directory -> that is the entry (unless a directory was already found above, in
//! which case the search stops there); a directory -> it joins the merged directory, and the
//! search goes on below unless it is opaque.

use alloc::{string::String, sync::Arc, vec, vec::Vec};

use super::identity::Key;
use super::node::{LowerEntry, NodeState, OverlayInode};
use super::whiteout::{LayerEntry, REDIRECT_XATTR};
use super::OverlayFs;
use crate::error::{Errno, Result};
use crate::vfs::{check_name, FileType, Inode, Metadata};

/// What a name resolves to in a union directory.
pub(crate) enum Resolved {
    /// An entry.
    Found(Found),
    /// No entry; `upper_whiteout` tells whether the upper layer holds a whiteout for it.
    Missing { upper_whiteout: bool },
}

/// The layers' entries behind one name.
pub(crate) struct Found {
    pub(crate) kind: FileType,
    pub(crate) upper: Option<Arc<dyn Inode>>,
    /// Metadata of the topmost entry.
    pub(crate) top: Metadata,
    /// Merged lower directories, or the one lower non-directory.
    pub(crate) lowers: Vec<LowerEntry>,
}

/// What the lower layers alone hold under a name.
pub(crate) struct LowerFound {
    pub(crate) kind: FileType,
    pub(crate) top: Metadata,
    pub(crate) lowers: Vec<LowerEntry>,
}

impl OverlayFs {
    /// Resolves `name` in the union directory `dir`.
    pub(crate) fn resolve(&self, dir: &OverlayInode, name: &str) -> Result<Resolved> {
        if !dir.kind().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        check_name(name)?;
        let dir_lowers = dir.lowers();
        let mut upper_dir_found = None;
        if let (Some(upper), Some(upper_dir)) = (&self.upper, dir.upper()) {
            match upper.encoding.lookup(&*upper_dir, name)? {
                LayerEntry::Whiteout => {
                    return Ok(Resolved::Missing {
                        upper_whiteout: true,
                    })
                }
                LayerEntry::Absent => {}
                LayerEntry::Found(inode, meta) => {
                    let opaque = meta.kind.is_dir() && upper.encoding.is_opaque(&*inode)?;
                    if !meta.kind.is_dir() || opaque {
                        return Ok(Resolved::Found(Found {
                            kind: meta.kind,
                            upper: Some(inode),
                            top: meta,
                            lowers: Vec::new(),
                        }));
                    }
                    upper_dir_found = Some((inode, meta));
                }
            }
        }
        let below_dir = upper_dir_found.is_some();
        let redirect = match &upper_dir_found {
            Some((inode, _)) => read_redirect(&**inode)?,
            None => None,
        };
        let lower = match redirect {
            Some(path) => self.search_lower_path(&path)?,
            None => self.search_lowers(&dir_lowers, name, below_dir)?,
        };
        Ok(match (upper_dir_found, lower) {
            (Some((inode, meta)), lower) => Resolved::Found(Found {
                kind: FileType::Directory,
                upper: Some(inode),
                top: meta,
                lowers: lower.map(|found| found.lowers).unwrap_or_default(),
            }),
            (None, Some(found)) => Resolved::Found(Found {
                kind: found.kind,
                upper: None,
                top: found.top,
                lowers: found.lowers,
            }),
            (None, None) => Resolved::Missing {
                upper_whiteout: false,
            },
        })
    }

    /// What the lower directories `dir_lowers` (top first) hold under `name`. With
    /// `below_dir`, a directory was already found above, so only directories can join it.
    pub(crate) fn search_lowers(
        &self,
        dir_lowers: &[LowerEntry],
        name: &str,
        below_dir: bool,
    ) -> Result<Option<LowerFound>> {
        let mut found: Option<LowerFound> = None;
        for dir in dir_lowers {
            let encoding = self.lowers[dir.layer].encoding;
            match encoding.lookup(&*dir.inode, name)? {
                LayerEntry::Absent => continue,
                LayerEntry::Whiteout => break,
                LayerEntry::Found(inode, meta) => {
                    let is_dir = meta.kind.is_dir();
                    let above_is_dir = below_dir || found.is_some();
                    if above_is_dir && !is_dir {
                        break;
                    }
                    let opaque = is_dir && encoding.is_opaque(&*inode)?;
                    let entry = LowerEntry {
                        layer: dir.layer,
                        inode,
                    };
                    match &mut found {
                        Some(found) => found.lowers.push(entry),
                        None => {
                            found = Some(LowerFound {
                                kind: meta.kind,
                                top: meta,
                                lowers: vec![entry],
                            })
                        }
                    }
                    if !is_dir || opaque {
                        break;
                    }
                }
            }
        }
        Ok(found)
    }

    /// What the lower layers hold as directories at the absolute `path` (a redirect), merged
    /// as a lookup from the root would merge them.
    pub(crate) fn search_lower_path(&self, path: &str) -> Result<Option<LowerFound>> {
        let mut current: Option<LowerFound> = None;
        for part in path.split('/').filter(|part| !part.is_empty()) {
            let dirs = match &current {
                Some(found) => found.lowers.clone(),
                None => self.root_lowers.clone(),
            };
            match self.search_lowers(&dirs, part, true)? {
                Some(found) if found.kind.is_dir() => current = Some(found),
                _ => return Ok(None),
            }
        }
        Ok(current)
    }

    /// The identity of an entry found by [`OverlayFs::resolve`].
    pub(crate) fn key_of(&self, found: &Found) -> Key {
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
            Resolved::Found(found) => Ok(self.node_for(dir, name, found)),
            Resolved::Missing { .. } => Err(Errno::ENOENT),
        }
    }

    /// The node for an entry that [`OverlayFs::resolve`] found as `name` in `dir`.
    pub(crate) fn node_for(
        &self,
        dir: &Arc<OverlayInode>,
        name: &str,
        found: Found,
    ) -> Arc<OverlayInode> {
        let key = self.key_of(&found);
        let mut upper = found.upper;
        if upper.is_none() && !found.kind.is_dir() {
            // Another name of this lower hard-link group was copied up: its data is there.
            upper = self
                .identities
                .lock()
                .group(key)
                .and_then(|group| group.upper.clone());
        }
        let state = NodeState {
            upper,
            lowers: found.lowers,
            parent: Some(dir.clone()),
            name: String::from(name),
            unlinked: false,
        };
        self.node(key, found.kind, state)
    }

    /// `nlink` of the non-directory `node`, whose real entry reports `real_nlink`.
    pub(crate) fn nlink(&self, node: &OverlayInode, real_nlink: u32) -> u32 {
        let upper_nlink = node.upper().map(|_| real_nlink);
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
/// redirect if it has one, else its parent's path and its name.
pub(crate) fn lower_path(node: &OverlayInode) -> Result<String> {
    if let Some(upper) = node.upper() {
        if let Some(path) = read_redirect(&*upper)? {
            return Ok(path);
        }
    }
    let (parent, name, _) = node.position();
    match parent {
        Some(parent) => Ok(alloc::format!("{}/{name}", lower_path(&parent)?)),
        None => Ok(String::new()),
    }
}
