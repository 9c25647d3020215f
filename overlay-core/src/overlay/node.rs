//! The union's inode: one per entry identity, shared by every handle to that entry.

use alloc::{
    boxed::Box,
    string::String,
    sync::{Arc, Weak},
    vec::Vec,
};
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use spin::{Mutex, Once};

use super::dentry_name::DentryName;
use super::entry::{Listing, Lowers};
use super::identity::Key;
use super::lower_stat::LowerStat;
use super::{stored_xattr_name, visible_xattr_name, Union};
use crate::error::{Errno, Result};
use crate::name_table::NameTable;
use crate::vfs::{
    DirEntry, FileType, Ino, Inode, Metadata, NewNode, OpenFlags, Permissions, RenameFlags,
    SetAttr, XattrFlags,
};

/// How many entries `readdir` takes from a listing at a time.
const READDIR_BATCH: usize = 64;

/// What a node is made of and where it sits; replaced as a whole when a lookup finds it again.
pub(crate) struct NodeState {
    /// The entry in the upper layer, once there is one.
    pub(crate) upper: Option<Arc<dyn Inode>>,
    /// For a directory, the lower directories merged into it, top first (with their cache of
    /// names, see `lookup`); for anything else, the lower entry it shows (or was copied up
    /// from), if any.
    pub(crate) lowers: Lowers,
    /// The directory the node was last found in (`None` for the root).
    pub(crate) parent: Option<Arc<OverlayInode>>,
    /// The name it was last found under (the listing's and the lower-name cache's own `Arc`
    /// when it came from them, so it costs no allocation).
    pub(crate) name: Arc<str>,
    /// Whether that name has been removed since.
    pub(crate) unlinked: bool,
}

/// An entry of an [`OverlayFs`](super::OverlayFs). Every lookup of the same entry returns the
/// same node while a handle to it is alive, so a copy-up made through one handle is seen
/// through all of them.
// Laid out in this order (`repr(C)`) so that all a cached lookup and `stat` of an image file
// read, the first six fields, follows the `Arc`'s counts in 110 bytes: two cache lines, or
// three when the allocation straddles one more (a cache miss each in a large directory).
#[repr(C)]
pub struct OverlayInode {
    /// Bumped, under the state lock, whenever the node's parent, name or unlinked flag
    /// changes: a dentry cache hit compares it instead of taking the lock.
    position: AtomicU64,
    pub(crate) fs: Arc<Union>,
    ino: Ino,
    /// What `stat` answers while the node has no upper entry: the top lower entry's metadata,
    /// read when the node was made, with the directory link count the union reports (the
    /// inode number and device are the node's and the union's). Lower layers never change,
    /// so `stat` of an image file takes no lock at all.
    lower_stat: Option<LowerStat>,
    /// Set once the node has an upper entry (it never loses it): from then on `stat` asks it.
    in_upper: AtomicBool,
    kind: FileType,
    pub(crate) key: Key,
    /// The node itself, for operations that hand it on (copy-up needs the parent chain).
    me: Weak<OverlayInode>,
    state: Mutex<NodeState>,
    /// What only a directory needs, made on first use (so never for a file: nodes stay
    /// small, and more of them fit in the CPU's caches).
    dir: Once<Box<DirParts>>,
    /// Unused room that keeps a node's allocation off a power of two. Nodes made one after
    /// another (by a walk, a listing) sit side by side, and at a stride of 256 bytes (a
    /// 240-byte node with its counts, as glibc's malloc rounds it) the two lines each one's
    /// `stat` reads would fall in half the cache's sets; at 272 bytes the stride is 288. See
    /// the test `a_node_is_not_a_power_of_two_apart_from_the_next`.
    _stride: [u64; 4],
}

/// The parts of a directory node.
#[derive(Default)]
pub(crate) struct DirParts {
    /// The merged listing, when the directory has no lower directories to keep it with
    /// (see `readdir`).
    pub(crate) listing: Mutex<Listing>,
    /// The entries looked up in the directory (see `dentries`).
    pub(crate) dentries: Dentries,
}

/// A directory's cached lookups, in the order they were cached (see `crate::name_table`): in a
/// large directory the entry a probe finds sits next to the ones looked up before and after
/// it, as a walk looks names up again in the order it first did (in the hash table itself,
/// each probe would read an entry at random). Names up to 22 bytes are kept in the entry (see
/// `dentry_name`).
pub(crate) type Table = NameTable<DentryName, Cached>;

/// The nodes a directory keeps from lookups, by name.
#[derive(Default)]
pub(crate) struct Dentries {
    /// A leaf lock: nothing else is taken while it is held, and nodes it lets go are dropped
    /// after it is released.
    pub(super) map: Mutex<Table>,
    /// How many names the directory's latest listing showed: the table is made that large
    /// when its first entry goes in, since a walk looks up every name it lists (grown one
    /// doubling at a time, it would be rehashed at every doubling).
    pub(super) listed: AtomicUsize,
}

/// One cached lookup.
pub(crate) struct Cached {
    pub(super) node: Arc<OverlayInode>,
    /// The node's position count when it was cached under this name (see
    /// [`OverlayInode::still_at`]).
    pub(super) position: u64,
    /// The union's generation when it was looked up.
    pub(super) generation: u64,
}

impl OverlayInode {
    pub(crate) fn new(
        fs: Arc<Union>,
        me: Weak<OverlayInode>,
        key: Key,
        ino: Ino,
        kind: FileType,
        state: NodeState,
        lower_meta: Option<Metadata>,
    ) -> OverlayInode {
        let in_upper = state.upper.is_some();
        let lower_stat = lower_meta.filter(|_| !in_upper).map(|mut meta| {
            // Linux reports 1 for a directory that shows several layers at once.
            if kind.is_dir() && state.lowers.len() > 1 {
                meta.nlink = 1;
            }
            LowerStat::new(&meta)
        });
        OverlayInode {
            position: AtomicU64::new(0),
            in_upper: AtomicBool::new(in_upper),
            lower_stat,
            kind,
            ino,
            key,
            fs,
            me,
            state: Mutex::new(state),
            dir: Once::new(),
            _stride: [0; 4],
        }
    }

    /// The directory parts, made now if they were not yet.
    pub(crate) fn dir_parts(&self) -> &DirParts {
        self.dir.call_once(Box::default)
    }

    /// The directory parts, if they were ever made.
    pub(crate) fn made_dir_parts(&self) -> Option<&DirParts> {
        self.dir.get().map(|parts| &**parts)
    }

    /// The entry's kind.
    pub fn kind(&self) -> FileType {
        self.kind
    }

    /// Where the entry's content comes from now: `None` for the upper layer, `Some(n)` for
    /// lower layer `n` (0 = top).
    pub fn origin_layer(&self) -> Option<usize> {
        let state = self.state.lock();
        match (&state.upper, state.lowers.first()) {
            (Some(_), _) | (None, None) => None,
            (None, Some(lower)) => Some(lower.layer),
        }
    }

    /// The entry in the upper layer, if it has been copied up or created there.
    pub(crate) fn upper(&self) -> Option<Arc<dyn Inode>> {
        self.state.lock().upper.clone()
    }

    /// The link count of the top lower entry, as read when the node was made, if the node
    /// was made without an upper entry.
    pub(crate) fn lower_nlink(&self) -> Option<u32> {
        self.lower_stat.map(|stat| stat.nlink())
    }

    /// What `stat` answers while the node has no upper entry (see `lower_stat`), read
    /// without a lock; `None` once it has one.
    fn image_stat(&self) -> Option<&LowerStat> {
        self.lower_stat
            .as_ref()
            .filter(|_| !self.in_upper.load(Ordering::Acquire))
    }

    /// The lower entries (see [`NodeState::lowers`]).
    pub(crate) fn lowers(&self) -> Lowers {
        self.state.lock().lowers.clone()
    }

    /// The upper entry and the lower entries, in one look at the state.
    pub(crate) fn layers(&self) -> (Option<Arc<dyn Inode>>, Lowers) {
        let state = self.state.lock();
        (state.upper.clone(), state.lowers.clone())
    }

    /// The node's name, as the dentry cache keys it, and its position count, if it was last
    /// found as `name` in `dir` and that name still stands.
    pub(crate) fn name_in(&self, dir: &OverlayInode, name: &str) -> Option<(DentryName, u64)> {
        let state = self.state.lock();
        let here = !state.unlinked
            && &*state.name == name
            && state
                .parent
                .as_ref()
                .is_some_and(|parent| core::ptr::eq(&**parent, dir));
        here.then(|| {
            let key = DentryName::new(&state.name);
            (key, self.position.load(Ordering::Acquire))
        })
    }

    /// Whether the node's parent, name and unlinked flag are what they were when
    /// [`OverlayInode::name_in`] returned `position`.
    pub(crate) fn still_at(&self, position: u64) -> bool {
        self.position.load(Ordering::Acquire) == position
    }

    /// Notes a change of the node's parent, name or unlinked flag; the caller holds the
    /// state lock.
    fn moved_on(&self) {
        self.position.fetch_add(1, Ordering::AcqRel);
    }

    /// The directory the node was last found in, and the name.
    pub(crate) fn position(&self) -> (Option<Arc<OverlayInode>>, Arc<str>, bool) {
        let state = self.state.lock();
        (state.parent.clone(), state.name.clone(), state.unlinked)
    }

    /// The entry that answers reads: the upper one if any, else the top lower one.
    pub(crate) fn real(&self) -> Result<Arc<dyn Inode>> {
        let state = self.state.lock();
        match (&state.upper, state.lowers.first()) {
            (Some(upper), _) => Ok(upper.clone()),
            (None, Some(lower)) => Ok(lower.inode.clone()),
            // A node is only made from a lookup that found an entry in some layer.
            (None, None) => Err(Errno::EIO),
        }
    }

    pub(crate) fn refresh(&self, state: NodeState) {
        let mut current = self.state.lock();
        if state.upper.is_some() {
            self.in_upper.store(true, Ordering::Release);
        }
        *current = state;
        self.moved_on();
    }

    pub(crate) fn set_upper(&self, upper: Arc<dyn Inode>) {
        let mut state = self.state.lock();
        state.upper = Some(upper);
        self.in_upper.store(true, Ordering::Release);
    }

    pub(crate) fn moved(&self, parent: Arc<OverlayInode>, name: &str) {
        let mut state = self.state.lock();
        state.parent = Some(parent);
        state.name = Arc::from(name);
        state.unlinked = false;
        self.moved_on();
    }

    pub(crate) fn mark_unlinked(&self) {
        let mut state = self.state.lock();
        state.unlinked = true;
        self.moved_on();
    }

    /// Copies the entry up (with its data unless `with_data` is false) if it is not yet in
    /// the upper layer, and returns the upper entry.
    fn ensure_upper(self: &Arc<Self>, with_data: bool) -> Result<Arc<dyn Inode>> {
        if let Some(upper) = self.upper() {
            return Ok(upper);
        }
        self.fs.writable()?;
        let _namespace = self.fs.namespace.write();
        // Other names of a hard-linked file find the copy too (see `dentries`).
        self.fs.invalidate_dentries();
        self.fs.copy_up(self, with_data)
    }

    /// `self` as an `Arc`. Nodes only exist inside the `Arc` they were made in and methods
    /// run through it, so this fails only for a caller holding a node being dropped.
    fn this(&self) -> Result<Arc<OverlayInode>> {
        self.me.upgrade().ok_or(Errno::ESTALE)
    }

    /// The node behind `inode`, which must belong to the same union.
    pub(crate) fn same_union<'a>(&self, inode: &'a dyn Inode) -> Result<&'a OverlayInode> {
        match inode.as_any().downcast_ref::<OverlayInode>() {
            Some(node) if Arc::ptr_eq(&node.fs, &self.fs) => Ok(node),
            _ => Err(Errno::EXDEV),
        }
    }
}

impl Drop for OverlayInode {
    /// Lets go of the parent, and of the nodes the dentry cache kept, one node at a time:
    /// dropped in place, the last handle to a node 20,000 directories down would drop its
    /// ancestors recursively, one stack frame per level.
    fn drop(&mut self) {
        let mut parent = self.state.get_mut().parent.take();
        let mut others = Vec::new();
        if let Some(parts) = self.dir.get_mut() {
            parts.dentries.take_nodes(&mut others);
        }
        while let Some(node) = parent.take().or_else(|| others.pop()) {
            // Only the last handle takes the node apart; `node` is then dropped here with
            // nothing left in it that holds another node.
            if let Some(mut node) = Arc::into_inner(node) {
                parent = node.state.get_mut().parent.take();
                if let Some(parts) = node.dir.get_mut() {
                    parts.dentries.take_nodes(&mut others);
                }
            }
        }
    }
}

impl Inode for OverlayInode {
    fn metadata(&self) -> Result<Metadata> {
        // Stat is the hottest call there is: an entry of the lower layers alone answers from
        // what the node was made with.
        if let Some(stat) = self.image_stat() {
            let mut meta = stat.metadata(self.ino, self.fs.options.dev);
            if !self.kind.is_dir() {
                meta.nlink = self.fs.nlink(self, meta.nlink, false);
            }
            return Ok(meta);
        }
        // One look at the state: the entry that answers, whether it is in the upper layer,
        // and how many layers a directory shows.
        let (real, in_upper, layers) = {
            let state = self.state.lock();
            let in_upper = state.upper.is_some();
            let real = match (&state.upper, state.lowers.first()) {
                (Some(upper), _) => upper.clone(),
                (None, Some(lower)) => lower.inode.clone(),
                // A node is only made from a lookup that found an entry in some layer.
                (None, None) => return Err(Errno::EIO),
            };
            (real, in_upper, state.lowers.len() + usize::from(in_upper))
        };
        let mut meta = real.metadata()?;
        meta.ino = self.ino;
        meta.dev = self.fs.options.dev;
        if self.kind.is_dir() {
            // Linux reports 1 for a directory that shows several layers at once.
            if layers > 1 {
                meta.nlink = 1;
            }
        } else {
            meta.nlink = self.fs.nlink(self, meta.nlink, in_upper);
        }
        Ok(meta)
    }

    fn permissions(&self) -> Result<Permissions> {
        // What a path walk asks of every directory it passes: of an image directory, read
        // from the node without a lock. Nothing the union changes in `metadata` is here.
        match self.image_stat() {
            Some(stat) => Ok(stat.permissions()),
            None => self.real()?.permissions(),
        }
    }

    fn set_attr(&self, attr: &SetAttr) -> Result<()> {
        // An upper filesystem that cannot store the change gets no useless copy-up first.
        if self
            .fs
            .upper
            .as_ref()
            .is_some_and(|upper| !upper.stores_attrs)
        {
            return Err(Errno::EPERM);
        }
        let this = self.this()?;
        let upper = this.ensure_upper(true)?;
        upper.set_attr(attr)
    }

    fn lookup(&self, name: &str) -> Result<Arc<dyn Inode>> {
        let _namespace = self.fs.namespace.read();
        if let Some(node) = self.fs.cached_child(self, name) {
            return Ok(node);
        }
        let this = self.this()?;
        let node = self.fs.lookup_node(&this, name)?;
        self.fs.cache_child(self, name, &node);
        Ok(node)
    }

    fn create(&self, name: &str, node: &NewNode) -> Result<Arc<dyn Inode>> {
        let this = self.this()?;
        let _namespace = self.fs.namespace.write();
        let created: Arc<dyn Inode> = self.fs.create_node(&this, name, node)?;
        Ok(created)
    }

    fn symlink(&self, name: &str, target: &str, uid: u32, gid: u32) -> Result<Arc<dyn Inode>> {
        let this = self.this()?;
        let _namespace = self.fs.namespace.write();
        let created: Arc<dyn Inode> = self.fs.create_symlink(&this, name, target, uid, gid)?;
        Ok(created)
    }

    fn link(&self, name: &str, target: &dyn Inode) -> Result<()> {
        let this = self.this()?;
        let target = self.same_union(target)?.this()?;
        let _namespace = self.fs.namespace.write();
        self.fs.invalidate_dentries();
        self.fs.link(&this, name, &target)
    }

    fn unlink(&self, name: &str) -> Result<()> {
        let this = self.this()?;
        let _namespace = self.fs.namespace.write();
        let cached = self.fs.take_child(self, name);
        self.fs.remove(&this, name, false, cached)
    }

    fn rmdir(&self, name: &str) -> Result<()> {
        let this = self.this()?;
        let _namespace = self.fs.namespace.write();
        let cached = self.fs.take_child(self, name);
        self.fs.remove(&this, name, true, cached)
    }

    fn rename(
        &self,
        old_name: &str,
        new_dir: &dyn Inode,
        new_name: &str,
        flags: RenameFlags,
    ) -> Result<()> {
        let this = self.this()?;
        let new_dir = self.same_union(new_dir)?.this()?;
        let _namespace = self.fs.namespace.write();
        self.fs.invalidate_dentries();
        self.fs.forget(self, old_name);
        self.fs.forget(&new_dir, new_name);
        self.fs.rename(&this, old_name, &new_dir, new_name, flags)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.real()?.read_at(offset, buf)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize> {
        if self.kind != FileType::Regular {
            return self.real()?.write_at(offset, buf);
        }
        let upper = self.this()?.ensure_upper(true)?;
        upper.write_at(offset, buf)
    }

    fn set_len(&self, len: u64) -> Result<()> {
        if self.kind != FileType::Regular {
            return self.real()?.set_len(len);
        }
        // Like Linux's `ovl_setattr`, a truncate copies the data up first, even to size 0
        // (only an open with O_TRUNC skips the data: see `open`).
        let upper = self.this()?.ensure_upper(true)?;
        upper.set_len(len)
    }

    fn readdir(&self, cookie: u64, sink: &mut dyn FnMut(DirEntry<'_>) -> bool) -> Result<()> {
        if !self.kind.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        // A directory of one lower directory alone is listed straight from it, with no lock
        // held (the layer never changes).
        let lone = {
            let _namespace = self.fs.namespace.read();
            self.fs.streamed_lower(self)
        };
        if let Some(lower) = lone {
            return self.fs.stream_lone(self, &lower, cookie, sink);
        }
        // Entries go to `sink` in batches with no lock held, so it may call back into the
        // union (even change this directory: the listing stays correct, see `readdir.rs`).
        let mut cookie = cookie;
        loop {
            let batch = {
                let _namespace = self.fs.namespace.read();
                self.fs.list_batch(self, cookie, READDIR_BATCH)?
            };
            if batch.is_empty() {
                return Ok(());
            }
            for entry in &batch {
                let entry = DirEntry {
                    name: &entry.name,
                    shared_name: Some(&entry.name),
                    ino: entry.ino,
                    kind: entry.kind,
                    next_cookie: entry.cookie,
                };
                if !sink(entry) {
                    return Ok(());
                }
                cookie = entry.next_cookie;
            }
        }
    }

    fn readlink(&self) -> Result<String> {
        self.real()?.readlink()
    }

    fn get_xattr(&self, name: &str) -> Result<Vec<u8>> {
        self.real()?.get_xattr(&stored_xattr_name(name))
    }

    fn set_xattr(&self, name: &str, value: &[u8], flags: XattrFlags) -> Result<()> {
        let upper = self.this()?.ensure_upper(true)?;
        upper.set_xattr(&stored_xattr_name(name), value, flags)
    }

    fn list_xattr(&self) -> Result<Vec<String>> {
        let names = self.real()?.list_xattr()?;
        let mut visible: Vec<String> = names.iter().filter_map(|n| visible_xattr_name(n)).collect();
        visible.sort_unstable();
        Ok(visible)
    }

    fn remove_xattr(&self, name: &str) -> Result<()> {
        let stored = stored_xattr_name(name);
        // Removing what is not there changes nothing, so it copies nothing up.
        self.real()?.get_xattr(&stored)?;
        let upper = self.this()?.ensure_upper(true)?;
        upper.remove_xattr(&stored)
    }

    fn open(&self, flags: OpenFlags) -> Result<()> {
        if self.kind == FileType::Regular && flags.modifies_data() {
            // An open that truncates needs none of the old data.
            self.this()?
                .ensure_upper(!flags.contains(OpenFlags::TRUNCATE))?;
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use core::mem::{offset_of, size_of};

    use super::*;

    #[test]
    fn a_node_is_not_a_power_of_two_apart_from_the_next() {
        // An `Arc`'s allocation holds its two counts, then the node.
        let counts = 2 * size_of::<usize>();
        let allocation = counts + size_of::<OverlayInode>();
        assert_eq!(
            allocation, 272,
            "measure W1 through 64 layers again before the node changes size"
        );
        // glibc's malloc adds an 8-byte header and rounds to 16: nodes 288 bytes apart.
        assert!(!(allocation + 8).next_multiple_of(16).is_power_of_two());
        // What a cached lookup and `stat` of an image file read ends within two lines of
        // the allocation's start (three when it starts past a line's first 16 bytes).
        assert!(counts + offset_of!(OverlayInode, kind) + size_of::<FileType>() <= 112);
    }
}
