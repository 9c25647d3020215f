//! A reference model of the merged view: what a union of layers must look like to a root
//! caller, as a plain map from path to node, with the POSIX rules (and the overlay's one
//! addition, `EXDEV` for renaming a directory with lower contents) written out directly.
//!
//! The model knows nothing of copy-up, whiteouts or opaque markers: it is what the union must
//! be indistinguishable from.

use std::collections::{BTreeMap, BTreeSet};

use overlay_core::Errno;

/// Most symlinks one path walk follows (Linux's limit).
const MAX_SYMLINKS: usize = 40;

/// What a node is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
}

/// One inode of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    pub mode: u16,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// For a directory: whether some lower layer contributes to it (renaming it is `EXDEV`).
    pub lower_backed: bool,
}

/// The merged view: paths (`/a/x`; the root `/` is implicit) to node ids.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub entries: BTreeMap<String, usize>,
    pub nodes: BTreeMap<usize, Node>,
    next_id: usize,
}

/// One entry of a layer spec, as `overlay_core::scenarios::fixture::build_layer` reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerEntry {
    Dir { opaque: bool },
    File(Vec<u8>),
    Symlink(String),
    HardLink(String),
    Whiteout,
}

/// A layer: its entries by path (parents before children in iteration order of the spec).
pub type LayerSpec = Vec<(String, LayerEntry)>;

/// The spec lines `build_layer` reads.
pub fn spec_lines(layer: &LayerSpec) -> Vec<String> {
    layer
        .iter()
        .map(|(path, entry)| {
            let path = path.trim_start_matches('/');
            match entry {
                LayerEntry::Dir { opaque: false } => format!("d {path}"),
                LayerEntry::Dir { opaque: true } => format!("o {path}"),
                LayerEntry::File(content) => {
                    format!("f {path} {}", String::from_utf8_lossy(content))
                }
                LayerEntry::Symlink(target) => format!("l {path} {target}"),
                LayerEntry::HardLink(existing) => {
                    format!("h {path} {}", existing.trim_start_matches('/'))
                }
                LayerEntry::Whiteout => format!("w {path}"),
            }
        })
        .collect()
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(index) => &path[..index],
    }
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl Model {
    /// The merged view of `lowers` (top first) by the lookup rules of `docs/semantics.md`.
    pub fn from_layers(lowers: &[LayerSpec]) -> Model {
        let mut model = Model::default();
        // Layer entries by (layer, path) -> node id, so hard links share a node.
        let mut layer_nodes: BTreeMap<(usize, String), usize> = BTreeMap::new();
        let layer_maps: Vec<BTreeMap<String, LayerEntry>> = lowers
            .iter()
            .map(|layer| layer.iter().cloned().collect())
            .collect();
        let all_layers: Vec<usize> = (0..lowers.len()).collect();
        model.merge_dir("/", &all_layers, &layer_maps, &mut layer_nodes);
        model
    }

    fn merge_dir(
        &mut self,
        dir: &str,
        layers: &[usize],
        maps: &[BTreeMap<String, LayerEntry>],
        layer_nodes: &mut BTreeMap<(usize, String), usize>,
    ) {
        let mut names = BTreeSet::new();
        for &layer in layers {
            for path in maps[layer].keys() {
                if parent_of(path) == dir {
                    names.insert(name_of(path).to_string());
                }
            }
        }
        for name in names {
            let path = join(dir, &name);
            let mut dir_layers = Vec::new();
            for &layer in layers {
                let Some(entry) = maps[layer].get(&path) else {
                    continue;
                };
                match entry {
                    LayerEntry::Whiteout => break,
                    LayerEntry::Dir { opaque } => {
                        dir_layers.push(layer);
                        if *opaque {
                            break;
                        }
                    }
                    _ if !dir_layers.is_empty() => break,
                    LayerEntry::HardLink(existing) => {
                        let key = (layer, existing.clone());
                        let id = match layer_nodes.get(&key) {
                            Some(&id) => id,
                            None => {
                                // The link's target may not be visible itself; make its node.
                                let content = match maps[layer].get(existing) {
                                    Some(LayerEntry::File(content)) => content.clone(),
                                    _ => Vec::new(),
                                };
                                let id = self.new_node(Kind::File(content), 0o644, false);
                                layer_nodes.insert(key, id);
                                id
                            }
                        };
                        layer_nodes.insert((layer, path.clone()), id);
                        self.entries.insert(path.clone(), id);
                        break;
                    }
                    LayerEntry::File(content) => {
                        let key = (layer, path.clone());
                        let id = match layer_nodes.get(&key) {
                            Some(&id) => id,
                            None => {
                                let id = self.new_node(Kind::File(content.clone()), 0o644, false);
                                layer_nodes.insert(key, id);
                                id
                            }
                        };
                        self.entries.insert(path.clone(), id);
                        break;
                    }
                    LayerEntry::Symlink(target) => {
                        let id = self.new_node(Kind::Symlink(target.clone()), 0o777, false);
                        self.entries.insert(path.clone(), id);
                        break;
                    }
                }
            }
            if !dir_layers.is_empty() {
                let id = self.new_node(Kind::Dir, 0o755, true);
                self.entries.insert(path.clone(), id);
                self.merge_dir(&path, &dir_layers, maps, layer_nodes);
            }
        }
        // Hard-link nodes are made when first met; files met first through a link already
        // have one, so make sure a file that is its own layer entry maps to the same node.
    }

    fn new_node(&mut self, kind: Kind, mode: u16, lower_backed: bool) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        self.nodes.insert(
            id,
            Node {
                kind,
                mode,
                xattrs: BTreeMap::new(),
                lower_backed,
            },
        );
        id
    }

    fn kind_at(&self, path: &str) -> Option<&Kind> {
        if path == "/" {
            return Some(&Kind::Dir);
        }
        self.entries.get(path).map(|id| &self.nodes[id].kind)
    }

    fn is_dir(&self, path: &str) -> bool {
        matches!(self.kind_at(path), Some(Kind::Dir))
    }

    /// Resolves `path` (absolute) like the path walker: symlinks in the middle are followed,
    /// the last one only if `follow`. Returns the canonical path of the entry, which may not
    /// exist (its parent does, and is a directory).
    pub fn resolve(&self, path: &str, follow: bool) -> Result<String, Errno> {
        let mut links = 0;
        self.resolve_from("/", path, follow, &mut links)
    }

    fn resolve_from(
        &self,
        start: &str,
        path: &str,
        follow: bool,
        links: &mut usize,
    ) -> Result<String, Errno> {
        let mut current = if path.starts_with('/') {
            "/".to_string()
        } else {
            start.to_string()
        };
        let parts: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
        for (index, part) in parts.iter().enumerate() {
            let last = index + 1 == parts.len();
            if !self.is_dir(&current) {
                return Err(if self.kind_at(&current).is_some() {
                    Errno::ENOTDIR
                } else {
                    Errno::ENOENT
                });
            }
            match *part {
                "." => continue,
                ".." => {
                    current = parent_of(&current).to_string();
                    continue;
                }
                _ => {}
            }
            let next = join(&current, part);
            match self.kind_at(&next) {
                Some(Kind::Symlink(target)) if !last || follow => {
                    *links += 1;
                    if *links > MAX_SYMLINKS {
                        return Err(Errno::ELOOP);
                    }
                    let target = target.clone();
                    current = self.resolve_from(&current, &target, true, links)?;
                }
                None if !last => return Err(Errno::ENOENT),
                _ => current = next,
            }
        }
        Ok(current)
    }

    /// The parent directory and name of `path` for a call that makes or removes the name.
    fn parent_and_name(&self, path: &str) -> Result<String, Errno> {
        // The walker resolves everything but the last component, which must then be a
        // plain name; the pool of paths the tests use has no `.`/`..` at the end.
        let parent = self.resolve(parent_of(path), true)?;
        if !self.is_dir(&parent) {
            return Err(if self.kind_at(&parent).is_some() {
                Errno::ENOTDIR
            } else {
                Errno::ENOENT
            });
        }
        Ok(join(&parent, name_of(path)))
    }

    /// The existing node that `path` names, following a final symlink if `follow`.
    fn existing(&self, path: &str, follow: bool) -> Result<String, Errno> {
        let resolved = self.resolve(path, follow)?;
        if self.kind_at(&resolved).is_none() {
            return Err(Errno::ENOENT);
        }
        Ok(resolved)
    }

    /// `open(O_WRONLY|O_CREAT|O_EXCL)`, mode 0666 & ~022.
    pub fn create(&mut self, path: &str) -> Result<(), Errno> {
        let target = self.parent_and_name(path)?;
        if self.kind_at(&target).is_some() {
            return Err(Errno::EEXIST);
        }
        let id = self.new_node(Kind::File(Vec::new()), 0o644, false);
        self.entries.insert(target, id);
        Ok(())
    }

    /// `open(O_WRONLY)` and `pwrite(offset, data)`.
    pub fn write(&mut self, path: &str, offset: u64, data: &[u8]) -> Result<(), Errno> {
        let target = self.existing(path, true)?;
        let id = self.entries[&target];
        match &mut self.nodes.get_mut(&id).expect("live node").kind {
            Kind::File(_) if data.is_empty() => Ok(()),
            Kind::File(content) => {
                let end = offset as usize + data.len();
                if content.len() < end {
                    content.resize(end, 0);
                }
                content[offset as usize..end].copy_from_slice(data);
                Ok(())
            }
            Kind::Dir => Err(Errno::EISDIR),
            Kind::Symlink(_) => Err(Errno::ELOOP),
        }
    }

    /// `truncate(path, len)`.
    pub fn truncate(&mut self, path: &str, len: u64) -> Result<(), Errno> {
        let target = self.existing(path, true)?;
        let id = self.entries[&target];
        match &mut self.nodes.get_mut(&id).expect("live node").kind {
            Kind::File(content) => {
                content.resize(len as usize, 0);
                Ok(())
            }
            Kind::Dir => Err(Errno::EISDIR),
            Kind::Symlink(_) => Err(Errno::EINVAL),
        }
    }

    /// `unlink(path)`.
    pub fn unlink(&mut self, path: &str) -> Result<(), Errno> {
        let target = self.parent_and_name(path)?;
        match self.kind_at(&target) {
            None => Err(Errno::ENOENT),
            Some(Kind::Dir) => Err(Errno::EISDIR),
            Some(_) => {
                self.remove_name(&target);
                Ok(())
            }
        }
    }

    fn remove_name(&mut self, path: &str) {
        if let Some(id) = self.entries.remove(path) {
            if !self.entries.values().any(|other| *other == id) {
                self.nodes.remove(&id);
            }
        }
    }

    fn children(&self, dir: &str) -> Vec<String> {
        self.entries
            .keys()
            .filter(|path| parent_of(path) == dir && path.as_str() != "/")
            .cloned()
            .collect()
    }

    /// `mkdir(path, 0777)` with umask 022.
    pub fn mkdir(&mut self, path: &str) -> Result<(), Errno> {
        let target = self.parent_and_name(path)?;
        if self.kind_at(&target).is_some() {
            return Err(Errno::EEXIST);
        }
        let id = self.new_node(Kind::Dir, 0o755, false);
        self.entries.insert(target, id);
        Ok(())
    }

    /// `rmdir(path)`.
    pub fn rmdir(&mut self, path: &str) -> Result<(), Errno> {
        let target = self.parent_and_name(path)?;
        match self.kind_at(&target) {
            None => Err(Errno::ENOENT),
            Some(Kind::Dir) if !self.children(&target).is_empty() => Err(Errno::ENOTEMPTY),
            Some(Kind::Dir) => {
                self.remove_name(&target);
                Ok(())
            }
            Some(_) => Err(Errno::ENOTDIR),
        }
    }

    /// `rename(old, new)` (no flags).
    pub fn rename(&mut self, old: &str, new: &str) -> Result<(), Errno> {
        let from = self.parent_and_name(old)?;
        let to = self.parent_and_name(new)?;
        let Some(from_kind) = self.kind_at(&from).cloned() else {
            return Err(Errno::ENOENT);
        };
        let from_is_dir = from_kind == Kind::Dir;
        // The source may not be an ancestor of the target (EINVAL), nor the target of the
        // source (ENOTEMPTY).
        if from != to && to.starts_with(&format!("{from}/")) {
            return Err(Errno::EINVAL);
        }
        if from != to && from.starts_with(&format!("{to}/")) {
            return Err(Errno::ENOTEMPTY);
        }
        let to_kind = self.kind_at(&to).cloned();
        if let Some(to_kind) = &to_kind {
            if self.entries.get(&from) == self.entries.get(&to) {
                return Ok(());
            }
            let to_is_dir = *to_kind == Kind::Dir;
            if from_is_dir && !to_is_dir {
                return Err(Errno::ENOTDIR);
            }
            if !from_is_dir && to_is_dir {
                return Err(Errno::EISDIR);
            }
        }
        if from_is_dir && self.nodes[&self.entries[&from]].lower_backed {
            return Err(Errno::EXDEV);
        }
        if to_kind == Some(Kind::Dir) && !self.children(&to).is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        if to_kind.is_some() {
            self.remove_name(&to);
        }
        let moved: Vec<(String, usize)> = self
            .entries
            .iter()
            .filter(|(path, _)| **path == from || path.starts_with(&format!("{from}/")))
            .map(|(path, id)| (path.clone(), *id))
            .collect();
        for (path, id) in moved {
            self.entries.remove(&path);
            self.entries
                .insert(format!("{to}{}", &path[from.len()..]), id);
        }
        Ok(())
    }

    /// `link(old, new)`.
    pub fn link(&mut self, old: &str, new: &str) -> Result<(), Errno> {
        let from = self.existing(old, false)?;
        let to = self.parent_and_name(new)?;
        if self.kind_at(&to).is_some() {
            return Err(Errno::EEXIST);
        }
        if self.is_dir(&from) {
            return Err(Errno::EPERM);
        }
        let id = self.entries[&from];
        self.entries.insert(to, id);
        Ok(())
    }

    /// `symlink(target, path)`.
    pub fn symlink(&mut self, target: &str, path: &str) -> Result<(), Errno> {
        let at = self.parent_and_name(path)?;
        if self.kind_at(&at).is_some() {
            return Err(Errno::EEXIST);
        }
        let id = self.new_node(Kind::Symlink(target.to_string()), 0o777, false);
        self.entries.insert(at, id);
        Ok(())
    }

    fn node_at_mut(&mut self, path: &str) -> Result<&mut Node, Errno> {
        let target = self.existing(path, true)?;
        if target == "/" {
            // The tests never change the root's attributes.
            return Err(Errno::EPERM);
        }
        let id = self.entries[&target];
        Ok(self.nodes.get_mut(&id).expect("live node"))
    }

    /// `chmod(path, mode)`.
    pub fn chmod(&mut self, path: &str, mode: u16) -> Result<(), Errno> {
        self.node_at_mut(path)?.mode = mode & 0o7777;
        Ok(())
    }

    /// `setxattr(path, name, value, 0)`.
    pub fn set_xattr(&mut self, path: &str, name: &str, value: &[u8]) -> Result<(), Errno> {
        self.node_at_mut(path)?
            .xattrs
            .insert(name.to_string(), value.to_vec());
        Ok(())
    }

    /// The sorted names of directory `path`.
    pub fn read_dir(&self, path: &str) -> Result<Vec<String>, Errno> {
        let target = self.existing(path, true)?;
        if !self.is_dir(&target) {
            return Err(Errno::ENOTDIR);
        }
        Ok(self
            .children(&target)
            .iter()
            .map(|child| name_of(child).to_string())
            .collect())
    }
}
