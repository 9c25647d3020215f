//! [`Builder`]: a layer's tree while its entries are added, as `tar -x` would extract them
//! (see the layer's module docs), and [`Builder::freeze`], which makes the compact tree.
//!
//! Every name is one record (parent, name, node) of a single list, found through a hash
//! table of positions in it, with no map per directory; [`Builder::freeze`] sorts the list
//! once, by parent and name, and that order is each directory's run of the tree's table of
//! entries. Everything whose size the archive decides is allocated fallibly: an archive
//! that needs more memory than there is is refused with `ENOMEM`, never a panic.

use alloc::{string::String, vec::Vec};
use core::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::children::{prefix, Child, Children, NameRef};
use super::node::{Node, DEVICE_WHITEOUT, HAS_XATTRS, NO_NODE};
use super::LayerStats;
use crate::error::Errno;
use crate::image::tar::{EntryKind, TarEntry, BLOCK_SIZE};
use crate::layer_format::{OCI_OPAQUE_MARKER, OCI_WHITEOUT_PREFIX};
use crate::vfs::{DeviceId, FileType, NAME_MAX};

/// A failure while building, before the entry's offset is attached.
pub(super) type Fault = (Errno, &'static str);

/// What [`Builder`] returns when an allocation fails.
pub(super) const OUT_OF_MEMORY: Fault = (Errno::ENOMEM, "out of memory for the layer's tree");
const TOO_LARGE: Fault = (
    Errno::EFBIG,
    "a name, file or link past the layer's first 2 TiB",
);
const NOT_A_DIRECTORY: Fault = (Errno::EINVAL, "a parent is not a directory");
const ROOT_NOT_A_DIRECTORY: Fault = (Errno::EINVAL, "the root is not a directory");

/// A node's extended attributes, sorted by name.
pub(super) type Xattrs = Vec<(String, Vec<u8>)>;

/// Room for one more item in `list`, or `ENOMEM`.
fn reserve<T>(list: &mut Vec<T>, additional: usize) -> Result<(), Fault> {
    list.try_reserve(additional).map_err(|_| OUT_OF_MEMORY)
}

/// One name of a directory: `child` in the directory node `parent`.
#[derive(Clone, Copy)]
struct Record {
    parent: u32,
    name: NameRef,
    /// The node the name names.
    node: u32,
}

/// The text of names, from the layer's bytes or the names the builder made.
#[derive(Clone, Copy)]
struct Texts<'t> {
    layer: &'t [u8],
    made: &'t [u8],
}

impl<'t> Texts<'t> {
    fn of(&self, name: &NameRef) -> &'t [u8] {
        name.text(self.layer, self.made, BLOCK_SIZE)
    }
}

/// The tree while entries are added; see the [module docs](self).
pub(super) struct Builder<'a> {
    layer: &'a [u8],
    /// Every node made, replaced ones included (unreachable until [`Builder::freeze`] drops
    /// them); the root is node 0.
    nodes: Vec<Node>,
    /// Every name given; a name since removed names [`NO_NODE`].
    records: Vec<Record>,
    /// Positions in `records`, by parent and name text.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// Names not in the layer's bytes (the whiteouts of devices 0/0), one after the other.
    made_names: Vec<u8>,
    /// Extended attributes, by node, sorted by node.
    xattrs: Vec<(u32, Xattrs)>,
    /// Where the current entry's components are.
    components: Vec<NameRef>,
}

/// The tree [`Builder::freeze`] makes.
pub(super) struct Frozen {
    /// Reachable nodes, breadth-first from the root.
    pub(super) nodes: Vec<Node>,
    pub(super) children: Children,
    /// Extended attributes, by node, sorted by node.
    pub(super) xattrs: Vec<(u32, Xattrs)>,
    pub(super) stats: LayerStats,
}

impl<'a> Builder<'a> {
    /// A builder of the tree of `layer`, with an implied root.
    pub(super) fn new(layer: &'a [u8]) -> Result<Builder<'a>, Fault> {
        let mut nodes = Vec::new();
        reserve(&mut nodes, 1)?;
        nodes.push(Node::implied_dir());
        Ok(Builder {
            layer,
            nodes,
            records: Vec::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            made_names: Vec::new(),
            xattrs: Vec::new(),
            components: Vec::new(),
        })
    }

    fn texts(&self) -> Texts<'_> {
        Texts {
            layer: self.layer,
            made: &self.made_names,
        }
    }

    /// The position in `records` of `name` in the directory `parent`, removed or not.
    fn position(&self, parent: u32, name: &[u8]) -> Option<usize> {
        let texts = self.texts();
        let hash = self.hasher.hash_one((parent, name));
        let records = &self.records;
        self.index
            .find(hash, |&position| {
                let record = &records[position as usize];
                record.parent == parent && texts.of(&record.name) == name
            })
            .map(|&position| position as usize)
    }

    /// The node `name` names in the directory `parent`.
    fn child(&self, parent: u32, name: &[u8]) -> Option<u32> {
        let position = self.position(parent, name)?;
        Some(self.records[position].node).filter(|&node| node != NO_NODE)
    }

    fn is_dir(&self, node: u32) -> bool {
        self.nodes[node as usize].kind.is_dir()
    }

    /// Makes `name` of the directory `parent` name `node` (replacing what it named).
    fn set_child(&mut self, parent: u32, name: NameRef, node: u32) -> Result<(), Fault> {
        let text = self.texts().of(&name);
        let hash = self.hasher.hash_one((parent, text));
        if let Some(position) = self.position(parent, text) {
            self.records[position].node = node;
            return Ok(());
        }
        let position = u32::try_from(self.records.len()).map_err(|_| OUT_OF_MEMORY)?;
        reserve(&mut self.records, 1)?;
        let texts = Texts {
            layer: self.layer,
            made: &self.made_names,
        };
        let (hasher, records) = (&self.hasher, &self.records);
        let rehash = |&position: &u32| {
            let record = &records[position as usize];
            hasher.hash_one((record.parent, texts.of(&record.name)))
        };
        self.index
            .try_reserve(1, rehash)
            .map_err(|_| OUT_OF_MEMORY)?;
        self.index.insert_unique(hash, position, rehash);
        self.records.push(Record { parent, name, node });
        Ok(())
    }

    /// Removes `name` from the directory `parent`, if it is there.
    fn remove_child(&mut self, parent: u32, name: &[u8]) {
        if let Some(position) = self.position(parent, name) {
            self.records[position].node = NO_NODE;
        }
    }

    /// Adds `node`, with `xattrs`; returns its index.
    fn push_node(&mut self, mut node: Node, xattrs: Xattrs) -> Result<u32, Fault> {
        let index = u32::try_from(self.nodes.len())
            .ok()
            .filter(|&index| index != NO_NODE)
            .ok_or(OUT_OF_MEMORY)?;
        reserve(&mut self.nodes, 1)?;
        if !xattrs.is_empty() {
            reserve(&mut self.xattrs, 1)?;
            node.flags |= HAS_XATTRS;
            self.xattrs.push((index, xattrs));
        }
        self.nodes.push(node);
        Ok(index)
    }

    /// The directory the components `path` name from the root, made with any missing
    /// parents.
    fn directory(&mut self, path: &[NameRef]) -> Result<u32, Fault> {
        let mut current = 0;
        for &component in path {
            if !self.is_dir(current) {
                return Err(NOT_A_DIRECTORY);
            }
            let text = self.texts().of(&component);
            current = match self.child(current, text) {
                Some(child) => child,
                None => {
                    let made = self.push_node(Node::implied_dir(), Vec::new())?;
                    self.insert(current, component, made)?;
                    made
                }
            };
        }
        if !self.is_dir(current) {
            return Err(NOT_A_DIRECTORY);
        }
        Ok(current)
    }

    /// The node at `path` (normalised, not the root), if there is one.
    fn find(&self, path: &str) -> Option<u32> {
        let mut current = 0;
        for component in path.split('/') {
            if !self.is_dir(current) {
                return None;
            }
            current = self.child(current, component.as_bytes())?;
        }
        Some(current)
    }

    /// Adds one entry of the archive.
    pub(super) fn add(&mut self, entry: TarEntry) -> Result<(), Fault> {
        let mut components = core::mem::take(&mut self.components);
        let result = self
            .locate(&entry, &mut components)
            .and_then(|()| self.add_at(entry, &components));
        self.components = components;
        result
    }

    /// Puts in `components` where the components of `entry`'s path are in the layer.
    fn locate(&self, entry: &TarEntry, components: &mut Vec<NameRef>) -> Result<(), Fault> {
        const MISPLACED: Fault = (Errno::EINVAL, "a name is not where its header says");
        components.clear();
        let mut expected = entry.path.split('/').filter(|text| !text.is_empty());
        for range in entry.path_components(self.layer) {
            let text = self.layer.get(range.clone()).unwrap_or_default();
            if expected.next().map(str::as_bytes) != Some(text) {
                return Err(MISPLACED);
            }
            reserve(components, 1)?;
            components.push(NameRef::in_layer(&range, BLOCK_SIZE).ok_or(TOO_LARGE)?);
        }
        if expected.next().is_some() {
            return Err(MISPLACED);
        }
        Ok(())
    }

    fn add_at(&mut self, entry: TarEntry, components: &[NameRef]) -> Result<(), Fault> {
        let TarEntry {
            kind,
            mode,
            uid,
            gid,
            mtime,
            data,
            mut xattrs,
            link_bytes,
            ..
        } = entry;
        xattrs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let file_type = match &kind {
            EntryKind::HardLink { target } => return self.add_hard_link(components, target),
            EntryKind::CharDevice(rdev) if *rdev == DeviceId::default() => {
                if let Some((parent, name)) = self.device_whiteout_place(components)? {
                    return self.add_device_whiteout(parent, name);
                }
                FileType::CharDevice
            }
            EntryKind::Regular => FileType::Regular,
            EntryKind::Directory => FileType::Directory,
            EntryKind::Symlink { .. } => FileType::Symlink,
            EntryKind::CharDevice(_) => FileType::CharDevice,
            EntryKind::BlockDevice(_) => FileType::BlockDevice,
            EntryKind::Fifo => FileType::Fifo,
        };
        let mut node = Node::new(file_type, mode, uid, gid, mtime);
        match &kind {
            EntryKind::Regular => node.set_file(&data).ok_or(TOO_LARGE)?,
            EntryKind::Symlink { target } => {
                if self.layer.get(link_bytes.clone()) != Some(target.as_bytes()) {
                    return Err((Errno::EINVAL, "a link is not where its header says"));
                }
                node.set_symlink(&link_bytes).ok_or(TOO_LARGE)?;
            }
            EntryKind::CharDevice(rdev) | EntryKind::BlockDevice(rdev) => node.set_device(*rdev),
            _ => {}
        }
        let Some((&name, parents)) = components.split_last() else {
            if !node.kind.is_dir() {
                return Err(ROOT_NOT_A_DIRECTORY);
            }
            return self.update_dir(0, node, xattrs);
        };
        let parent = self.directory(parents)?;
        let existing = self.child(parent, self.texts().of(&name));
        match existing {
            // A directory entry over a directory: new metadata, same contents.
            Some(old) if node.kind.is_dir() && self.is_dir(old) => {
                self.update_dir(old, node, xattrs)?;
            }
            _ => {
                let index = self.push_node(node, xattrs)?;
                self.insert(parent, name, index)?;
            }
        }
        Ok(())
    }

    /// Makes `name` of the directory `parent` the node `index` (replacing what it was), and
    /// drops the whiteout a character device 0/0 of that name left (see the module docs).
    fn insert(&mut self, parent: u32, name: NameRef, index: u32) -> Result<(), Fault> {
        let mut whiteout = WhiteoutName::new();
        if let Some(whiteout) = whiteout.of(self.texts().of(&name)) {
            if let Some(old) = self.child(parent, whiteout) {
                if self.nodes[old as usize].flags & DEVICE_WHITEOUT != 0 {
                    self.remove_child(parent, whiteout);
                }
            }
        }
        self.set_child(parent, name, index)
    }

    /// Where a character device 0/0 at `path` puts its whiteout: the parent directory and
    /// the name it deletes; `None` for a name that is already a whiteout (`.wh.x`), which
    /// stays the device it is.
    fn device_whiteout_place(&mut self, path: &[NameRef]) -> Result<Option<(u32, NameRef)>, Fault> {
        let Some((&name, parents)) = path.split_last() else {
            return Err(ROOT_NOT_A_DIRECTORY);
        };
        let text = self.texts().of(&name);
        if text.starts_with(OCI_WHITEOUT_PREFIX.as_bytes()) {
            return Ok(None);
        }
        if text.len() + OCI_WHITEOUT_PREFIX.len() > NAME_MAX {
            return Err((
                Errno::EINVAL,
                "a character device 0/0 (a whiteout) whose name is too long to delete",
            ));
        }
        Ok(Some((self.directory(parents)?, name)))
    }

    /// A character device 0/0 named `name` in the directory `parent`: the name goes (as a
    /// tar entry replaces what was there), and the whiteout `.wh.name` deletes it from the
    /// layers below.
    fn add_device_whiteout(&mut self, parent: u32, name: NameRef) -> Result<(), Fault> {
        let mut whiteout = WhiteoutName::new();
        let whiteout = whiteout.of(self.texts().of(&name)).ok_or(TOO_LARGE)?;
        let text = &whiteout[OCI_WHITEOUT_PREFIX.len()..];
        let mut node = Node::new(FileType::Regular, 0, 0, 0, Default::default());
        node.flags |= DEVICE_WHITEOUT;
        let index = self.push_node(node, Vec::new())?;
        self.remove_child(parent, text);
        let made = match self.position(parent, whiteout) {
            Some(position) => self.records[position].name,
            None => {
                reserve(&mut self.made_names, whiteout.len())?;
                let start = self.made_names.len();
                self.made_names.extend_from_slice(whiteout);
                NameRef::made(&(start..self.made_names.len())).ok_or(OUT_OF_MEMORY)?
            }
        };
        self.set_child(parent, made, index)
    }

    fn update_dir(&mut self, dir: u32, node: Node, xattrs: Xattrs) -> Result<(), Fault> {
        let old = &mut self.nodes[dir as usize];
        old.mode = node.mode;
        old.uid = node.uid;
        old.gid = node.gid;
        old.mtime_sec = node.mtime_sec;
        old.mtime_nsec = node.mtime_nsec;
        let found = self.xattrs.binary_search_by_key(&dir, |(node, _)| *node);
        match (found, xattrs.is_empty()) {
            (Ok(at), true) => {
                self.xattrs.remove(at);
                old.flags &= !HAS_XATTRS;
            }
            (Ok(at), false) => self.xattrs[at].1 = xattrs,
            (Err(_), true) => {}
            (Err(at), false) => {
                old.flags |= HAS_XATTRS;
                reserve(&mut self.xattrs, 1)?;
                self.xattrs.insert(at, (dir, xattrs));
            }
        }
        Ok(())
    }

    fn add_hard_link(&mut self, path: &[NameRef], target: &str) -> Result<(), Fault> {
        let Some(linked) = self.find(target) else {
            // A link to a character device 0/0 is one more: one more whiteout.
            if self.is_device_whiteout(target) {
                if let Some((parent, name)) = self.device_whiteout_place(path)? {
                    return self.add_device_whiteout(parent, name);
                }
            }
            return Err((Errno::EINVAL, "hard link to a missing entry"));
        };
        if self.is_dir(linked) {
            return Err((Errno::EINVAL, "hard link to a directory"));
        }
        let Some((&name, parents)) = path.split_last() else {
            return Err(ROOT_NOT_A_DIRECTORY);
        };
        let parent = self.directory(parents)?;
        self.insert(parent, name, linked)
    }

    /// Whether `path` names a character device 0/0 that became a whiteout.
    fn is_device_whiteout(&self, path: &str) -> bool {
        let (parent_path, name) = path.rsplit_once('/').unwrap_or(("", path));
        let parent = match parent_path {
            "" => Some(0),
            _ => self.find(parent_path),
        };
        let mut whiteout = WhiteoutName::new();
        let (Some(parent), Some(whiteout)) = (parent, whiteout.of(name.as_bytes())) else {
            return false;
        };
        self.child(parent, whiteout)
            .is_some_and(|node| self.nodes[node as usize].flags & DEVICE_WHITEOUT != 0)
    }

    /// The final tree: reachable nodes only, numbered breadth-first from the root, each
    /// directory's entries a run of one table sorted by name, with link counts and figures.
    ///
    /// # Errors
    /// `ENOMEM` when the tables do not fit in memory.
    pub(super) fn freeze(self) -> Result<Frozen, Fault> {
        let Builder {
            layer,
            nodes: built,
            mut records,
            index,
            made_names,
            xattrs,
            ..
        } = self;
        drop(index);
        let texts = Texts {
            layer,
            made: &made_names,
        };
        records.retain(|record| record.node != NO_NODE);
        records.sort_unstable_by(|a, b| {
            (a.parent.cmp(&b.parent)).then_with(|| texts.of(&a.name).cmp(texts.of(&b.name)))
        });
        // New index of each built node reached so far.
        let mut renumbered: Vec<u32> = Vec::new();
        reserve(&mut renumbered, built.len())?;
        renumbered.resize(built.len(), NO_NODE);
        // At most one push per built node and one per record: no reallocation below.
        let mut nodes: Vec<Node> = Vec::new();
        reserve(&mut nodes, built.len())?;
        let mut entries: Vec<Child> = Vec::new();
        reserve(&mut entries, records.len())?;
        let mut prefixes: Vec<u64> = Vec::new();
        reserve(&mut prefixes, records.len())?;
        // The entries' names, each directory's one after the other in name order: a
        // listing reads them in sequence, and a lookup from a few cache lines.
        let name_bytes: usize = records
            .iter()
            .map(|record| texts.of(&record.name).len())
            .sum();
        let mut names: Vec<u8> = Vec::new();
        reserve(&mut names, name_bytes)?;
        let mut stats = LayerStats::default();
        let mut root = built[0];
        // Until a directory's entries are set, its built index.
        root.set_scratch(0);
        nodes.push(root);
        renumbered[0] = 0;
        let mut next = 0;
        while next < nodes.len() {
            let dir = next;
            next += 1;
            if !nodes[dir].kind.is_dir() {
                continue;
            }
            let old = nodes[dir].scratch();
            let first = records.partition_point(|record| record.parent < old);
            let run = &records[first..];
            let run = &run[..run.partition_point(|record| record.parent == old)];
            let start = entries.len();
            let mut subdirectories = 0;
            for record in run {
                let built_index = record.node as usize;
                let child = built[built_index];
                let first_visit = renumbered[built_index] == NO_NODE;
                if first_visit {
                    renumbered[built_index] = nodes.len() as u32;
                    let mut copy = child;
                    copy.nlink = 0;
                    if copy.kind.is_dir() {
                        copy.set_scratch(built_index as u32);
                    }
                    nodes.push(copy);
                }
                let new = renumbered[built_index];
                nodes[new as usize].nlink += 1;
                count(&mut stats, &child, texts.of(&record.name), first_visit);
                if child.kind.is_dir() {
                    subdirectories += 1;
                }
                let text = texts.of(&record.name);
                let name_at = u32::try_from(names.len()).map_err(|_| OUT_OF_MEMORY)?;
                names.extend_from_slice(text);
                prefixes.push(prefix(text));
                entries.push(Child::new(name_at, text.len(), new));
            }
            // A directory's link count: its name, its `.`, and each subdirectory's `..`.
            nodes[dir].nlink = 2 + subdirectories;
            nodes[dir].set_entries(start as u32, run.len() as u32);
        }
        stats.directories += 1; // the root
        drop(records);
        drop(built);
        nodes.shrink_to_fit();
        entries.shrink_to_fit();
        prefixes.shrink_to_fit();
        names.shrink_to_fit();
        let mut kept_xattrs = Vec::new();
        reserve(&mut kept_xattrs, xattrs.len())?;
        for (old, list) in xattrs {
            let new = renumbered[old as usize];
            if new != NO_NODE {
                kept_xattrs.push((new, list));
            }
        }
        kept_xattrs.sort_unstable_by_key(|(node, _)| *node);
        drop(renumbered);
        Ok(Frozen {
            nodes,
            children: Children::new(entries, prefixes, names),
            xattrs: kept_xattrs,
            stats,
        })
    }
}

/// Adds the entry `name` (of `node`) to `stats`.
fn count(stats: &mut LayerStats, node: &Node, name: &[u8], first_visit: bool) {
    let size = |node: &Node| match node.content() {
        super::node::Content::File(range) => range.len() as u64,
        _ => 0,
    };
    match node.kind {
        FileType::Regular if name == OCI_OPAQUE_MARKER.as_bytes() => stats.opaque_dirs += 1,
        FileType::Regular if name.starts_with(OCI_WHITEOUT_PREFIX.as_bytes()) => {
            stats.whiteouts += 1;
        }
        FileType::Regular if first_visit => {
            stats.files += 1;
            stats.data_bytes += size(node);
        }
        FileType::Regular => {}
        FileType::Directory => stats.directories += 1,
        FileType::Symlink if first_visit => stats.symlinks += 1,
        FileType::Symlink => {}
        _ if first_visit => stats.special_files += 1,
        _ => {}
    }
}

/// Room for a whiteout name, `.wh.` and a name, on the stack.
struct WhiteoutName {
    bytes: [u8; OCI_WHITEOUT_PREFIX.len() + NAME_MAX],
}

impl WhiteoutName {
    fn new() -> WhiteoutName {
        WhiteoutName {
            bytes: [0; OCI_WHITEOUT_PREFIX.len() + NAME_MAX],
        }
    }

    /// `.wh.` then `name`, if `name` is at most [`NAME_MAX`] bytes.
    fn of(&mut self, name: &[u8]) -> Option<&[u8]> {
        let prefix = OCI_WHITEOUT_PREFIX.as_bytes();
        let length = prefix.len() + name.len();
        let room = self.bytes.get_mut(..length)?;
        room[..prefix.len()].copy_from_slice(prefix);
        room[prefix.len()..].copy_from_slice(name);
        Some(room)
    }
}
