//! `OverlayFs`: a union of read-only lower layers under an optional writable upper layer.
//!
//! The union follows Linux overlayfs (`Documentation/filesystems/overlayfs.rst`), errno
//! included; the rules are summarised in the crate docs and tested by [`crate::scenarios`].
//! The work is split by responsibility:
//! - [`whiteout`]: how each layer records deletions and opaque directories;
//! - `identity`: which real inode an entry is, and its stable inode number;
//! - `entry`: the lower entries a node is made of, and the caches kept with a directory's
//!   lower directories (shared by `lookup`, `readdir` and `node`);
//! - `layer_list`: reading one layer's directory whole;
//! - `lookup`: resolving one name through the layers, with a cache of what the lower layers
//!   hold by name, so a lookup costs the same however many layers there are;
//! - `dentries`: the entries each directory keeps from lookups, so a repeated lookup costs
//!   one hash probe;
//! - `copy_up`: copy-on-write of entries (and their parents) into the upper layer;
//! - `dir_ops`: the directory operations create, link, unlink, rmdir (Linux's `dir.c`);
//! - `rename`: moving entries;
//! - `readdir`: merged listings with stable cookies;
//! - `node`: the union's inode type, which dispatches to all of the above.
//!
//! Imports go one way, from the operations down to the data: `whiteout`, `identity`,
//! `lower_stat` and `dentry_name` use none of the others; `layer_list` uses `whiteout`;
//! `entry` uses `layer_list` and `identity`; `node` uses `entry`; the operations (`lookup`,
//! `readdir`, `dentries`, `copy_up`, `dir_ops`, `rename`, `diff`) use those and never each
//! other, except that `dir_ops` and `rename` start from a `lookup`.
//!
//! # Locking
//! One reader-writer lock per union orders changes to its namespace: lookups and listings hold
//! it shared; copy-up, create, link, unlink, rmdir and rename hold it exclusively, so a
//! multi-step change (stage in the work directory, then rename into place) is never seen half
//! done through the union. Reads and writes of file data take only the node's state lock (and
//! the namespace lock once, to copy the file up on its first write).
//!
//! The lock order, outermost first; a lock is only ever taken while holding locks above it:
//! 1. the union's namespace lock;
//! 2. one directory's listing lock (on its node, or kept with its lower directories: see
//!    `readdir`), held while that directory's layers are read;
//! 3. the node cache, then one directory's dentry cache (see `dentries`; nothing is taken and
//!    no node dropped while it is held), or one node's state lock (never two nodes' state at
//!    once);
//! 4. the identity table (inode numbers, origins), innermost.
//!
//! The cache of what the lower layers hold by name (see `lookup`) has one leaf lock per set
//! of lower directories, held only to read or insert an entry: nothing is taken under it, and
//! the layers are read before it is taken.
//!
//! Calls into the layers' filesystems are made with at most the first two held, never with a
//! node's state or the tables locked, so a layer's own locks come after them; a layer must
//! not call back into the union that stacks it.
//!
//! Two rules a kernel can rely on when it puts its own locks around the union:
//! - **parent before child**: a directory is copied up before anything in it (the parent
//!   chain top-down), and no call holds anything of a child while it waits for its parent;
//! - **one copy-up at a time per inode**: a copy-up runs under the exclusive namespace lock
//!   and looks for the upper copy again once it holds it, so two writers racing on the same
//!   lower file copy it once, and both then write to the copy.
//!
//! The locks are `spin` locks, which need nothing from the kernel. They are not replaceable:
//! a lock type parameter (such as `lock_api::RawMutex`) would run through every type of the
//! union for a choice few kernels need; a kernel that must not spin can serialise calls into
//! the union with its own sleeping lock, outside all of the above.

mod copy_up;
mod dentries;
mod dentry_name;
mod diff;
mod dir_ops;
mod entry;
mod identity;
mod layer_list;
mod lookup;
mod lower_stat;
mod node;
mod readdir;
mod rename;
pub mod whiteout;

use alloc::{string::String, sync::Arc, sync::Weak, vec::Vec};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hashbrown::hash_map::Entry;
use hashbrown::HashMap;
use spin::{Mutex, RwLock};

use crate::error::{Errno, Result};
use crate::vfs::{
    check_name, FileSystem, FileType, FsFeatures, Ino, Inode, Metadata, NewNode, StatFs, XattrFlags,
};
pub use diff::{Change, ChangeKind};
use entry::{LowerDirs, LowerEntry, Lowers};
use identity::{Identities, Key};
use node::NodeState;
pub use node::OverlayInode;
pub use whiteout::WhiteoutEncoding;

pub use crate::layer_format::MAX_LOWERS;

/// Name of the upper directory that [`UpperLayer::new`] creates in its filesystem's root.
pub const UPPER_DIR_NAME: &str = "upper";
/// Name of the work directory that [`UpperLayer::new`] creates in its filesystem's root.
pub const WORK_DIR_NAME: &str = "work";

/// A read-only layer: a filesystem and the whiteout encoding its contents use.
#[derive(Clone)]
pub struct Layer {
    fs: Arc<dyn FileSystem>,
    root: Arc<dyn Inode>,
    encoding: WhiteoutEncoding,
    label: String,
}

impl Layer {
    /// A layer over `fs`, with the whiteout encoding its features can hold (Linux's where it
    /// has device nodes and xattrs, else the name-based OCI one).
    pub fn new(fs: Arc<dyn FileSystem>) -> Layer {
        let encoding = WhiteoutEncoding::for_features(fs.features());
        Layer::with_encoding(fs, encoding)
    }

    /// A layer over `fs` whose contents use `encoding` (e.g. an image layer, always OCI).
    pub fn with_encoding(fs: Arc<dyn FileSystem>, encoding: WhiteoutEncoding) -> Layer {
        let root = fs.root();
        Layer {
            fs,
            root,
            encoding,
            label: String::new(),
        }
    }

    /// The same layer, described by `label` (a digest, a host directory...) where the union
    /// lists its layers.
    pub fn with_label(mut self, label: &str) -> Layer {
        self.label = String::from(label);
        self
    }

    /// The layer's description, empty if it was given none.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The layer's filesystem.
    pub fn filesystem(&self) -> &Arc<dyn FileSystem> {
        &self.fs
    }

    /// The layer's whiteout encoding.
    pub fn encoding(&self) -> WhiteoutEncoding {
        self.encoding
    }
}

/// The writable layer: an upper directory and a work directory on one filesystem.
///
/// Copy-ups and whiteout replacements are built in the work directory and renamed into the
/// upper directory, so nothing half-made ever appears under its real name.
///
/// What the upper filesystem cannot do, the union does without (its [`FsFeatures`] say which):
/// - without [`FsFeatures::RENAME`], copy-ups are built in place under their real name and
///   removed again if they fail, and whiteouts replace entries (and entries whiteouts) in
///   place. The union still never shows a half-made entry (it holds its namespace lock
///   meanwhile), but the steps are no longer atomic in the upper filesystem itself: a crash
///   or a failed clean-up can leave a partial copy there. Linux refuses such uppers
///   altogether. Rename through the union fails with `EXDEV` (callers such as `mv` copy
///   instead);
/// - without [`FsFeatures::SET_ATTR`], copies keep the mode, owner and times the upper
///   filesystem gives new entries, and changing them through the union fails with `EPERM`;
/// - without xattrs or device nodes, whiteouts use the name-based `.wh.` encoding (see
///   [`whiteout`]), and such names cannot be created through the union (`EINVAL`).
#[derive(Clone)]
pub struct UpperLayer {
    fs: Arc<dyn FileSystem>,
    upper_dir: Arc<dyn Inode>,
    work_dir: Arc<dyn Inode>,
    encoding: WhiteoutEncoding,
    /// Whether entries can be staged in the work directory and renamed into place.
    renames: bool,
    /// Whether copies can be given the mode, owner and times of their origin.
    stores_attrs: bool,
}

impl UpperLayer {
    /// An upper layer on `fs`, using (and creating if needed) the directories
    /// [`UPPER_DIR_NAME`] and [`WORK_DIR_NAME`] in its root.
    ///
    /// # Errors
    /// `EROFS` if `fs` is read-only; whatever creating the directories fails with.
    pub fn new(fs: Arc<dyn FileSystem>) -> Result<UpperLayer> {
        if fs.features().contains(FsFeatures::READ_ONLY) {
            return Err(Errno::EROFS);
        }
        let root = fs.root();
        let upper_dir = ensure_dir(&*root, UPPER_DIR_NAME)?;
        let work_dir = ensure_dir(&*root, WORK_DIR_NAME)?;
        UpperLayer::from_dirs(fs, upper_dir, work_dir)
    }

    /// An upper layer made of two existing directories of `fs`. Whatever the work directory
    /// holds is removed: it can only be the leftovers of interrupted copy-ups.
    ///
    /// # Errors
    /// `EROFS` if `fs` is read-only; `ENOTDIR` if either is not a directory; `EINVAL` if they
    /// are the same directory or on different devices.
    pub fn from_dirs(
        fs: Arc<dyn FileSystem>,
        upper_dir: Arc<dyn Inode>,
        work_dir: Arc<dyn Inode>,
    ) -> Result<UpperLayer> {
        if fs.features().contains(FsFeatures::READ_ONLY) {
            return Err(Errno::EROFS);
        }
        let upper_meta = upper_dir.metadata()?;
        let work_meta = work_dir.metadata()?;
        if !upper_meta.kind.is_dir() || !work_meta.kind.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if upper_meta.dev != work_meta.dev || upper_meta.ino == work_meta.ino {
            return Err(Errno::EINVAL);
        }
        clear_dir(&*work_dir)?;
        let features = fs.features();
        Ok(UpperLayer {
            fs,
            upper_dir,
            work_dir,
            encoding: WhiteoutEncoding::for_features(features),
            renames: features.contains(FsFeatures::RENAME),
            stores_attrs: features.contains(FsFeatures::SET_ATTR),
        })
    }

    /// The same layer with whiteouts written in `encoding` (it must be one `fs` can hold).
    pub fn with_encoding(mut self, encoding: WhiteoutEncoding) -> UpperLayer {
        self.encoding = encoding;
        self
    }

    /// The upper layer's filesystem.
    pub fn filesystem(&self) -> &Arc<dyn FileSystem> {
        &self.fs
    }

    /// The upper directory: the union's changes, as a tree of its own.
    pub fn upper_dir(&self) -> &Arc<dyn Inode> {
        &self.upper_dir
    }

    /// The whiteout encoding of the upper layer.
    pub fn encoding(&self) -> WhiteoutEncoding {
        self.encoding
    }

    /// Whether changes are staged in the work directory and renamed into place, so each is
    /// atomic in the upper filesystem (it has [`FsFeatures::RENAME`]).
    pub fn is_atomic(&self) -> bool {
        self.renames
    }
}

/// Options of a union.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct OverlayOptions {
    /// The device number the union reports for its entries.
    pub dev: u64,
    /// Let directories with lower contents be renamed (Linux `redirect_dir=on`): the moved
    /// upper directory records where its lower contents live, in the xattr
    /// `trusted.overlay.redirect`. Off (the Linux default), such renames fail with `EXDEV`.
    /// Redirects already recorded in the upper layer are always followed. Needs an upper
    /// filesystem with xattrs.
    pub redirect_dir: bool,
}

/// A union filesystem: lower layers (top first) under an optional upper layer.
///
/// This is the handle the union's user holds. The union's entries hold the union inside it,
/// so an inode stays usable after the handle is gone. While the handle lives, each directory
/// also keeps the entries looked up in it, as Linux's dentry cache does (a repeated lookup is
/// one hash probe; removing or renaming a name drops its entry at once): dropping the handle,
/// or [`OverlayFs::drop_caches`], lets them go.
pub struct OverlayFs {
    union: Arc<Union>,
}

/// The union itself, shared by the [`OverlayFs`] handle and every node.
pub(crate) struct Union {
    this: Weak<Union>,
    lowers: Vec<Layer>,
    upper: Option<UpperLayer>,
    options: OverlayOptions,
    /// The lower roots merged at the union's root (up to the first opaque one), with the
    /// cache of their names, which lives as long as the union.
    root_lowers: Arc<LowerDirs>,
    /// No lower entries, shared by every entry of the upper layer alone.
    no_lowers: Arc<LowerDirs>,
    /// Shared by lookups and listings, exclusive for every change of the namespace.
    namespace: RwLock<()>,
    /// Live nodes by identity, so every handle to an entry shares one state (a copy-up is seen
    /// by handles opened before it). Keyed by the union's inode number, which stands for the
    /// identity one to one (see `identity::tagged_ino`) in half the room of a [`Key`].
    nodes: Mutex<HashMap<Ino, Weak<OverlayInode>>>,
    /// Inode numbers, origins and copied-up hard-link groups.
    identities: Mutex<Identities>,
    /// Whether a hard-link group was ever recorded in `identities` (none is ever removed):
    /// until then `stat` and lookups of non-directories need not take its lock.
    groups_recorded: AtomicBool,
    /// Source of unique names in the work directory.
    next_temp: AtomicU64,
    /// Bumped by every change of the namespace that can make a cached lookup wrong (see
    /// `dentries`).
    generation: AtomicU64,
    /// Whether directories keep the entries looked up in them: until the [`OverlayFs`]
    /// handle is dropped (cached nodes hold the union, so the handle breaks that cycle).
    caching: AtomicBool,
}

impl OverlayFs {
    /// A union of `lowers` (top first, like Linux `lowerdir=top:...:bottom`) under `upper`.
    /// Without an upper layer the union is read-only.
    ///
    /// # Errors
    /// `EINVAL` with no lower layer or more than [`MAX_LOWERS`]; whatever reading a layer's
    /// root fails with.
    pub fn new(
        lowers: Vec<Layer>,
        upper: Option<UpperLayer>,
        options: OverlayOptions,
    ) -> Result<Arc<OverlayFs>> {
        Ok(Arc::new(OverlayFs {
            union: Union::new(lowers, upper, options)?,
        }))
    }

    /// The lower layers, top first.
    pub fn lowers(&self) -> &[Layer] {
        &self.union.lowers
    }

    /// The upper layer, if the union is writable.
    pub fn upper(&self) -> Option<&UpperLayer> {
        self.union.upper.as_ref()
    }

    /// The union's root directory as its own node type.
    pub fn root_node(&self) -> Arc<OverlayInode> {
        self.union.root_node()
    }

    /// Every path the upper layer adds, changes or deletes, sorted by path bytewise. A
    /// directory the upper layer holds a copy of counts as changed (as in `docker diff`).
    /// A read-only union has no changes.
    ///
    /// # Errors
    /// Whatever reading the layers fails with.
    pub fn diff(&self) -> Result<Vec<Change>> {
        self.union.diff()
    }

    /// Hands the changes of [`OverlayFs::diff`] to `visit` one by one, in the same order, as
    /// the walk finds them, without collecting them. `visit` must not change the union.
    ///
    /// # Errors
    /// Whatever reading the layers fails with, or the first error of `visit`.
    pub fn for_each_change(
        &self,
        visit: &mut dyn FnMut(ChangeKind, &str) -> Result<()>,
    ) -> Result<()> {
        self.union.for_each_change(visit)
    }

    /// Whether `node` is an entry of this union.
    pub fn owns(&self, node: &OverlayInode) -> bool {
        Arc::ptr_eq(&node.fs, &self.union)
    }

    /// Lets go of the entries directories keep from lookups (the dentry cache), as Linux's
    /// `drop_caches` does; they are looked up again when next used. Entries still in use
    /// stay alive through their users.
    pub fn drop_caches(&self) {
        self.union.drop_dentries();
    }
}

impl Drop for OverlayFs {
    fn drop(&mut self) {
        // Cached nodes hold the union and their parents: without the handle nobody would
        // ever drop them, so caching stops here and what is cached goes.
        self.union.caching.store(false, Ordering::Release);
        self.union.drop_dentries();
    }
}

impl FileSystem for OverlayFs {
    fn root(&self) -> Arc<dyn Inode> {
        self.union.root_node()
    }

    fn statfs(&self) -> Result<StatFs> {
        match &self.union.upper {
            Some(upper) => upper.fs.statfs(),
            None => self.union.lowers[0].fs.statfs(),
        }
    }

    fn features(&self) -> FsFeatures {
        let union = &self.union;
        match &union.upper {
            Some(upper) => upper.fs.features() - FsFeatures::RENAME_WHITEOUT,
            None => {
                (union.lowers[0].fs.features() - FsFeatures::RENAME_WHITEOUT)
                    | FsFeatures::READ_ONLY
            }
        }
    }
}

impl Union {
    /// The union of `lowers` under `upper` (see [`OverlayFs::new`]).
    fn new(
        lowers: Vec<Layer>,
        upper: Option<UpperLayer>,
        options: OverlayOptions,
    ) -> Result<Arc<Union>> {
        if lowers.is_empty() || lowers.len() > MAX_LOWERS {
            return Err(Errno::EINVAL);
        }
        for layer in &lowers {
            if !layer.root.metadata()?.kind.is_dir() {
                return Err(Errno::ENOTDIR);
            }
        }
        let upper_root_opaque = match &upper {
            Some(upper) => upper.encoding.is_opaque(&*upper.upper_dir)?,
            None => false,
        };
        let mut root_lowers = Vec::new();
        if !upper_root_opaque {
            for (index, layer) in lowers.iter().enumerate() {
                root_lowers.push(LowerEntry {
                    layer: index,
                    inode: layer.root.clone(),
                });
                if layer.encoding.is_opaque(&*layer.root)? {
                    break;
                }
            }
        }
        Ok(Arc::new_cyclic(|this| Union {
            this: this.clone(),
            lowers,
            upper,
            options,
            root_lowers: LowerDirs::new(root_lowers),
            no_lowers: LowerDirs::new(Vec::new()),
            namespace: RwLock::new(()),
            nodes: Mutex::new(HashMap::new()),
            identities: Mutex::new(Identities::default()),
            groups_recorded: AtomicBool::new(false),
            next_temp: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            caching: AtomicBool::new(true),
        }))
    }

    /// The union's root directory as its own node type.
    pub(crate) fn root_node(&self) -> Arc<OverlayInode> {
        let upper = self.upper.as_ref().map(|upper| upper.upper_dir.clone());
        let key = match &upper {
            Some(dir) => dir
                .metadata()
                .map(|meta| Key::Upper(meta.ino))
                .unwrap_or(Key::Upper(0)),
            None => Key::Lower {
                layer: 0,
                ino: self.lowers[0].root.metadata().map_or(0, |m| m.ino),
            },
        };
        let state = NodeState {
            upper,
            lowers: Lowers::Dirs(self.root_lowers.clone()),
            parent: None,
            name: Arc::from(""),
            unlinked: false,
        };
        self.node(key, FileType::Directory, state, None)
    }

    /// The union's inode number for `key`: its tagged number, without the identity table's
    /// lock, unless the real number is too large to tag.
    pub(crate) fn ino_of(&self, key: Key) -> Ino {
        identity::tagged_ino(key).unwrap_or_else(|| self.identities.lock().ino(key))
    }

    /// The live node for `key`, refreshed with `state`, or a new one (which answers `stat`
    /// from `lower_meta`, the top lower entry's metadata, while it has no upper entry).
    fn node(
        &self,
        key: Key,
        kind: FileType,
        state: NodeState,
        lower_meta: Option<Metadata>,
    ) -> Arc<OverlayInode> {
        let ino = self.ino_of(key);
        let mut nodes = self.nodes.lock();
        let mut replaced = None;
        // One search of the table, whether the node is found or a new one goes in.
        let slot = nodes.entry(ino);
        if let Entry::Occupied(found) = &slot {
            if let Some(node) = found.get().upgrade() {
                if node.kind() == kind {
                    node.refresh(state);
                    return node;
                }
                // The entry was replaced (its real inode number reused): the old node leaves
                // the table, so it must not keep a dentry cache only `drop_dentries` could
                // empty.
                replaced = node.made_dir_parts().map(|parts| parts.dentries.take());
            }
        }
        // A `Union` only exists inside the `Arc` that `new` returns, and its methods run
        // through that `Arc` (or a node's clone of it), so `this` upgrades here.
        let Some(fs) = self.this.upgrade() else {
            unreachable!("a Union method ran after its last Arc was dropped")
        };
        let node = Arc::new_cyclic(|me| {
            OverlayInode::new(fs, me.clone(), key, ino, kind, state, lower_meta)
        });
        slot.insert(Arc::downgrade(&node));
        // Drop entries of nodes that are gone now and then, so the table does not only grow.
        if nodes.len() > 1024 && (nodes.len() - 1).is_power_of_two() {
            nodes.retain(|_, node| node.strong_count() > 0);
        }
        drop(nodes);
        drop(replaced);
        node
    }

    /// Records in `identities` (this union's table, locked by the caller) that one more lower
    /// name of `key`'s hard-link group is covered by the upper layer (see
    /// `Identities::cover`).
    fn cover(
        &self,
        identities: &mut Identities,
        key: Key,
        lower_nlink: u32,
        upper: Option<Arc<dyn Inode>>,
    ) {
        self.groups_recorded.store(true, Ordering::Release);
        identities.cover(key, lower_nlink, upper);
    }

    /// Whether a hard-link group may exist (see `groups_recorded`).
    fn may_have_groups(&self) -> bool {
        self.groups_recorded.load(Ordering::Acquire)
    }

    /// A name for a new entry of the work directory, unique for the life of the union.
    fn temp_name(&self) -> String {
        alloc::format!("#{:x}", self.next_temp.fetch_add(1, Ordering::Relaxed))
    }

    /// The upper layer, or `EROFS` for a read-only union.
    fn writable(&self) -> Result<&UpperLayer> {
        self.upper.as_ref().ok_or(Errno::EROFS)
    }
}

/// The directory `name` of `parent`, created (mode 0755) if absent.
fn ensure_dir(parent: &dyn Inode, name: &str) -> Result<Arc<dyn Inode>> {
    match parent.lookup(name) {
        Ok(dir) => Ok(dir),
        Err(Errno::ENOENT) => parent.create(name, &NewNode::new(FileType::Directory, 0o755, 0, 0)),
        Err(errno) => Err(errno),
    }
}

/// Removes everything in `dir`, depth first, in the order each directory lists its entries.
/// An explicit stack of the directories being emptied, not recursion: a tree left in the work
/// directory can be as deep as the union was.
fn clear_dir(dir: &dyn Inode) -> Result<()> {
    let mut levels = Vec::from([ClearLevel {
        dir: None,
        name: String::new(),
        left: entries_to_clear(dir)?,
    }]);
    while let Some(level) = levels.last_mut() {
        let here = level.dir.as_deref().unwrap_or(dir);
        match level.left.pop() {
            Some((name, kind)) if kind.is_dir() => {
                let child = here.lookup(&name)?;
                let left = entries_to_clear(&*child)?;
                levels.push(ClearLevel {
                    dir: Some(child),
                    name,
                    left,
                });
            }
            Some((name, _)) => here.unlink(&name)?,
            None => {
                let Some(done) = levels.pop() else { break };
                if let Some(parent) = levels.last() {
                    parent.dir.as_deref().unwrap_or(dir).rmdir(&done.name)?;
                }
            }
        }
    }
    Ok(())
}

/// A directory [`clear_dir`] is emptying.
struct ClearLevel {
    /// The directory; `None` for the one `clear_dir` was given.
    dir: Option<Arc<dyn Inode>>,
    /// Its name in the level above.
    name: String,
    /// Its entries still to remove, the next one last.
    left: Vec<(String, FileType)>,
}

/// The entries of `dir`, the first one listed last.
fn entries_to_clear(dir: &dyn Inode) -> Result<Vec<(String, FileType)>> {
    let mut entries: Vec<(String, FileType)> = Vec::new();
    dir.readdir(0, &mut |entry| {
        entries.push((String::from(entry.name), entry.kind));
        true
    })?;
    entries.reverse();
    Ok(entries)
}

/// The xattr namespace the union keeps for itself in its layers.
const PRIVATE_XATTR_PREFIX: &str = "trusted.overlay.";
/// Where an xattr of the private namespace set through the union is stored (Linux 6.7+).
const ESCAPED_XATTR_PREFIX: &str = "trusted.overlay.overlay.";

/// The name under which xattr `name`, as the union's user sees it, is stored in a layer.
fn stored_xattr_name(name: &str) -> String {
    match name.strip_prefix(PRIVATE_XATTR_PREFIX) {
        Some(rest) => alloc::format!("{ESCAPED_XATTR_PREFIX}{rest}"),
        None => String::from(name),
    }
}

/// The name under which stored xattr `stored` is shown through the union, or `None` for the
/// union's own markers.
fn visible_xattr_name(stored: &str) -> Option<String> {
    match stored.strip_prefix(ESCAPED_XATTR_PREFIX) {
        Some(rest) => Some(alloc::format!("{PRIVATE_XATTR_PREFIX}{rest}")),
        None if stored.starts_with(PRIVATE_XATTR_PREFIX) => None,
        None => Some(String::from(stored)),
    }
}

/// Checks a name to be created in the upper layer.
fn check_new_name(upper: &UpperLayer, name: &str) -> Result<()> {
    check_name(name)?;
    if upper.encoding.is_reserved_name(name) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Copies every user-visible xattr of `from` to `to` (the union's own markers stay behind).
/// An upper filesystem without xattrs simply gets none.
fn copy_xattrs(from: &dyn Inode, to: &dyn Inode) -> Result<()> {
    let names = match from.list_xattr() {
        Ok(names) => names,
        Err(Errno::ENOTSUP) => return Ok(()),
        Err(errno) => return Err(errno),
    };
    for name in names {
        if visible_xattr_name(&name).is_none() {
            continue;
        }
        let value = match from.get_xattr(&name) {
            Ok(value) => value,
            Err(Errno::ENODATA) => continue,
            Err(errno) => return Err(errno),
        };
        match to.set_xattr(&name, &value, XattrFlags::empty()) {
            Ok(()) => {}
            Err(Errno::ENOTSUP) => return Ok(()),
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}

#[cfg(test)]
mod limited_upper_tests;
#[cfg(test)]
mod tests;
