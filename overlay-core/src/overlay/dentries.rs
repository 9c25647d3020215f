//! The dentry cache: each union directory keeps the nodes looked up in it, so looking a name
//! up again costs one hash probe, with no layer asked and nothing allocated.
//!
//! Linux keeps dentries the same way. A cached entry is used only while nothing has changed
//! it since it was cached:
//! - removing or renaming a name drops its entry (`forget`), which also lets the node go, so
//!   a deleted file's data is freed as soon as its last user closes it;
//! - every other change that can alter what a lookup finds elsewhere (a copy-up, which a hard
//!   link's other names see; a link; a rename, which moves a whole subtree) bumps the union's
//!   generation, and entries cached before it are looked up afresh. Creating a name changes
//!   no cached entry (only names that exist are cached), and removing one changes only its
//!   own, so neither bumps it;
//! - an entry is used only if the node still sits under that name in this directory (its
//!   position count has not moved since): a node with several names (hard links) records the
//!   one it was last found under, and a lookup of another name goes through the layers and
//!   records that one.
//!
//! The cache's types ([`Dentries`], one per directory node) sit with the node they are part
//! of; this module is what the union does with them.
//!
//! Cached nodes hold their parent and the union, so the cache lives only while the
//! [`OverlayFs`](super::OverlayFs) handle does: dropping the handle (or calling
//! [`drop_caches`](super::OverlayFs::drop_caches)) empties every directory's cache. Until
//! then it holds each entry looked up and not removed since, like Linux's dcache with no
//! memory pressure: at most the entries of the union's layers.

use alloc::{sync::Arc, vec::Vec};
use core::sync::atomic::Ordering;

use super::node::{Cached, Dentries, OverlayInode, Table};
use super::Union;

impl Cached {
    /// Whether the entry is still what a lookup in `union` would find: nothing that could
    /// change a lookup happened since it was cached, and the node still sits under its name.
    fn current(&self, union: &Union) -> bool {
        self.generation == union.generation.load(Ordering::Acquire)
            && self.node.still_at(self.position)
    }
}

impl Dentries {
    /// Notes that the directory's listing shows `count` names.
    pub(crate) fn listed(&self, count: usize) {
        self.listed.store(count, Ordering::Relaxed);
    }

    /// Forgets everything, handing it to the caller to drop (with no lock held).
    pub(crate) fn take(&self) -> Table {
        core::mem::take(&mut *self.map.lock())
    }

    /// Moves the cached nodes of a directory being dropped onto `nodes`, so the caller can
    /// drop them one at a time (see `OverlayInode`'s `Drop`).
    pub(crate) fn take_nodes(&mut self, nodes: &mut Vec<Arc<OverlayInode>>) {
        nodes.extend(self.map.get_mut().take_values().map(|cached| cached.node));
    }
}

impl Union {
    /// The node cached for `name` in `dir`, if it is still what a lookup would find. The
    /// caller holds the namespace lock (shared).
    pub(crate) fn cached_child(&self, dir: &OverlayInode, name: &str) -> Option<Arc<OverlayInode>> {
        if !self.caching.load(Ordering::Acquire) {
            return None;
        }
        let map = dir.made_dir_parts()?.dentries.map.lock();
        let cached = map.get(name)?;
        cached.current(self).then(|| cached.node.clone())
    }

    /// Caches `node`, just looked up as `name` in `dir`. The caller holds the namespace lock
    /// (shared), so the generation read here is the one the lookup saw.
    pub(crate) fn cache_child(&self, dir: &OverlayInode, name: &str, node: &Arc<OverlayInode>) {
        // A node found as `name` records that name, unless a racing lookup of another of
        // its names got in first; then it is not worth caching here.
        let Some((key, position)) = node.name_in(dir, name) else {
            return;
        };
        let cached = Cached {
            node: node.clone(),
            position,
            generation: self.generation.load(Ordering::Acquire),
        };
        let replaced = {
            let mut map = dir.dir_parts().dentries.map.lock();
            // Checked under the lock: `drop_dentries` turns caching off before it empties
            // the maps, so nothing is cached after it has passed.
            if !self.caching.load(Ordering::Acquire) {
                return;
            }
            if map.is_empty() {
                // Only a hint: without the room the insert below grows the table as needed.
                let _ = map.try_reserve(dir.dir_parts().dentries.listed.load(Ordering::Relaxed));
            }
            map.insert(key, cached)
        };
        drop(replaced);
    }

    /// Drops the entry cached for `name` in `dir`: the name was removed or renamed.
    pub(crate) fn forget(&self, dir: &OverlayInode, name: &str) {
        drop(self.take_child(dir, name));
    }

    /// Drops the entry cached for `name` in `dir`, as [`Union::forget`] does, and hands back
    /// its node if it was still what a lookup would find. The caller holds the namespace lock
    /// exclusively, so it stays so until the caller lets go.
    pub(crate) fn take_child(&self, dir: &OverlayInode, name: &str) -> Option<Arc<OverlayInode>> {
        let cached = dir.made_dir_parts()?.dentries.map.lock().remove(name)?;
        let valid = self.caching.load(Ordering::Acquire) && cached.current(self);
        valid.then_some(cached.node)
    }

    /// Notes a change that may make cached lookups wrong: they are all looked up afresh.
    /// The caller holds the namespace lock exclusively.
    pub(crate) fn invalidate_dentries(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Empties every live directory's cache.
    pub(crate) fn drop_dentries(&self) {
        let live: Vec<Arc<OverlayInode>> = self
            .nodes
            .lock()
            .values()
            .filter_map(alloc::sync::Weak::upgrade)
            .collect();
        // Taken first and dropped after, so no node is dropped while a cache is locked.
        let taken: Vec<_> = live
            .iter()
            .filter_map(|node| node.made_dir_parts())
            .map(|parts| parts.dentries.take())
            .collect();
        drop(taken);
        drop(live);
    }
}

#[cfg(test)]
mod tests {
    use alloc::{sync::Arc, vec};

    use crate::error::Errno;
    use crate::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer};
    use crate::tmpfs::{TmpFs, TmpFsOptions};
    use crate::vfs::{FileSystem, FileType, Inode, NewNode};

    /// A union of one tmpfs lower holding `d/f` ("lower") and `d/g`, a hard link to it.
    fn union() -> Arc<OverlayFs> {
        let lower = TmpFs::new(TmpFsOptions::default());
        let root = lower.root();
        let dir = root
            .create("d", &NewNode::new(FileType::Directory, 0o755, 0, 0))
            .unwrap();
        let file = dir
            .create("f", &NewNode::new(FileType::Regular, 0o644, 0, 0))
            .unwrap();
        file.write_at(0, b"lower").unwrap();
        dir.link("g", &*file).unwrap();
        let upper = UpperLayer::new(TmpFs::new(TmpFsOptions::default())).unwrap();
        OverlayFs::new(
            vec![Layer::new(lower)],
            Some(upper),
            OverlayOptions::default(),
        )
        .unwrap()
    }

    fn read(inode: &dyn Inode) -> alloc::string::String {
        let mut buf = [0; 16];
        let len = inode.read_at(0, &mut buf).unwrap();
        alloc::string::String::from_utf8(buf[..len].to_vec()).unwrap()
    }

    #[test]
    fn a_directory_keeps_what_was_looked_up_in_it() {
        let fs = union();
        let dir = fs.root().lookup("d").unwrap();
        let file = dir.lookup("f").unwrap();
        let kept = Arc::downgrade(&file);
        drop(file);
        let again = dir.lookup("f").unwrap();
        assert!(kept
            .upgrade()
            .is_some_and(|node| Arc::ptr_eq(&node, &again)));
        drop(again);
        fs.drop_caches();
        assert!(kept.upgrade().is_none(), "drop_caches lets it go");
    }

    #[test]
    fn removed_names_are_forgotten_and_freed() {
        let fs = union();
        let dir = fs.root().lookup("d").unwrap();
        let kept = Arc::downgrade(&dir.lookup("f").unwrap());
        dir.unlink("f").unwrap();
        assert!(
            kept.upgrade().is_none(),
            "the cache let the removed node go"
        );
        assert_eq!(dir.lookup("f").err(), Some(Errno::ENOENT));
        dir.rename("g", &*dir, "h", Default::default()).unwrap();
        assert_eq!(dir.lookup("g").err(), Some(Errno::ENOENT));
        assert_eq!(read(&*dir.lookup("h").unwrap()), "lower");
    }

    #[test]
    fn a_copy_up_is_seen_through_every_cached_name() {
        let fs = union();
        let dir = fs.root().lookup("d").unwrap();
        let f = dir.lookup("f").unwrap();
        assert_eq!(read(&*dir.lookup("g").unwrap()), "lower");
        f.write_at(0, b"UP").unwrap();
        assert_eq!(read(&*dir.lookup("g").unwrap()), "UPwer");
        assert_eq!(read(&*dir.lookup("f").unwrap()), "UPwer");
    }

    #[test]
    fn dropping_the_handle_frees_the_union_once_its_entries_are_gone() {
        let fs = union();
        let union = Arc::downgrade(&fs.union);
        let file = fs.root().lookup("d").unwrap().lookup("f").unwrap();
        drop(fs);
        // The entry still works (its first write copies it and its parent up)...
        file.write_at(0, b"U").unwrap();
        assert_eq!(read(&*file), "Uower");
        assert!(union.upgrade().is_some());
        // ...and nothing cached keeps the union alive after it.
        drop(file);
        assert!(union.upgrade().is_none());
    }
}
