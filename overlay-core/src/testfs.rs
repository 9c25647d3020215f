//! A minimal in-memory filesystem for this crate's tests until the tmpfs lands: just enough
//! of the [`Inode`] contract for the path, POSIX and shell tests. No capacity, no timestamps.

use alloc::{
    collections::BTreeMap,
    string::String,
    sync::{Arc, Weak},
    vec::Vec,
};
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use crate::error::{Errno, Result};
use crate::vfs::*;

pub struct MemFs {
    root: Arc<Node>,
}

struct Shared {
    next_ino: AtomicU64,
}

pub struct Node {
    ino: u64,
    shared: Arc<Shared>,
    me: Weak<Node>,
    state: Mutex<State>,
}

struct State {
    meta: Metadata,
    data: Vec<u8>,
    target: String,
    children: BTreeMap<String, Arc<Node>>,
    xattrs: BTreeMap<String, Vec<u8>>,
}

impl MemFs {
    pub fn new() -> MemFs {
        let shared = Arc::new(Shared {
            next_ino: AtomicU64::new(1),
        });
        let root = Node::new(
            &shared,
            NewNode::new(FileType::Directory, 0o755, 0, 0),
            String::new(),
        );
        root.state.lock().meta.nlink = 2;
        MemFs { root }
    }
}

impl FileSystem for MemFs {
    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }
    fn features(&self) -> FsFeatures {
        FsFeatures::all() - FsFeatures::READ_ONLY
    }
}

impl Node {
    fn new(shared: &Arc<Shared>, node: NewNode, target: String) -> Arc<Node> {
        let ino = shared.next_ino.fetch_add(1, Ordering::Relaxed);
        Arc::new_cyclic(|me| Node {
            ino,
            shared: shared.clone(),
            me: me.clone(),
            state: Mutex::new(State {
                meta: Metadata {
                    ino,
                    dev: 7,
                    kind: node.kind,
                    mode: node.mode,
                    nlink: if node.kind.is_dir() { 2 } else { 1 },
                    uid: node.uid,
                    gid: node.gid,
                    size: target.len() as u64,
                    rdev: node.rdev,
                    atime: Timespec::default(),
                    mtime: Timespec::default(),
                    ctime: Timespec::default(),
                },
                data: Vec::new(),
                target,
                children: BTreeMap::new(),
                xattrs: BTreeMap::new(),
            }),
        })
    }
    fn dir(&self) -> Result<spin::MutexGuard<'_, State>> {
        let s = self.state.lock();
        if !s.meta.kind.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(s)
    }
    fn node(inode: &dyn Inode) -> Result<Arc<Node>> {
        inode
            .as_any()
            .downcast_ref::<Node>()
            .and_then(|n| n.me.upgrade())
            .ok_or(Errno::EXDEV)
    }
}

impl Inode for Node {
    fn metadata(&self) -> Result<Metadata> {
        let s = self.state.lock();
        let mut m = s.meta;
        if m.kind == FileType::Regular {
            m.size = s.data.len() as u64;
        }
        Ok(m)
    }
    fn set_attr(&self, attr: &SetAttr) -> Result<()> {
        let mut s = self.state.lock();
        if let Some(m) = attr.mode {
            s.meta.mode = m;
        }
        if let Some(m) = attr.uid {
            s.meta.uid = m;
        }
        if let Some(m) = attr.gid {
            s.meta.gid = m;
        }
        if let Some(m) = attr.atime {
            s.meta.atime = m;
        }
        if let Some(m) = attr.mtime {
            s.meta.mtime = m;
        }
        Ok(())
    }
    fn lookup(&self, name: &str) -> Result<Arc<dyn Inode>> {
        let s = self.dir()?;
        s.children
            .get(name)
            .map(|c| c.clone() as Arc<dyn Inode>)
            .ok_or(Errno::ENOENT)
    }
    fn create(&self, name: &str, node: &NewNode) -> Result<Arc<dyn Inode>> {
        check_name(name)?;
        let mut s = self.dir()?;
        if s.children.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let child = Node::new(&self.shared, *node, String::new());
        if node.kind.is_dir() {
            s.meta.nlink += 1;
        }
        s.children.insert(String::from(name), child.clone());
        Ok(child)
    }
    fn symlink(&self, name: &str, target: &str, uid: u32, gid: u32) -> Result<Arc<dyn Inode>> {
        let mut s = self.dir()?;
        if s.children.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let child = Node::new(
            &self.shared,
            NewNode::new(FileType::Symlink, 0o777, uid, gid),
            String::from(target),
        );
        s.children.insert(String::from(name), child.clone());
        Ok(child)
    }
    fn link(&self, name: &str, target: &dyn Inode) -> Result<()> {
        let target = Node::node(target)?;
        let mut s = self.dir()?;
        if s.children.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        target.state.lock().meta.nlink += 1;
        s.children.insert(String::from(name), target);
        Ok(())
    }
    fn unlink(&self, name: &str) -> Result<()> {
        let mut s = self.dir()?;
        let c = s.children.get(name).ok_or(Errno::ENOENT)?.clone();
        if c.state.lock().meta.kind.is_dir() {
            return Err(Errno::EISDIR);
        }
        c.state.lock().meta.nlink -= 1;
        s.children.remove(name);
        Ok(())
    }
    fn rmdir(&self, name: &str) -> Result<()> {
        let mut s = self.dir()?;
        let c = s.children.get(name).ok_or(Errno::ENOENT)?.clone();
        let cs = c.state.lock();
        if !cs.meta.kind.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if !cs.children.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        drop(cs);
        s.meta.nlink -= 1;
        s.children.remove(name);
        Ok(())
    }
    fn rename(
        &self,
        old_name: &str,
        new_dir: &dyn Inode,
        new_name: &str,
        flags: RenameFlags,
    ) -> Result<()> {
        let new_dir = Node::node(new_dir)?;
        let same = new_dir.ino == self.ino;
        let src = self
            .dir()?
            .children
            .get(old_name)
            .cloned()
            .ok_or(Errno::ENOENT)?;
        let dst = new_dir.dir()?.children.get(new_name).cloned();
        if flags.contains(RenameFlags::EXCHANGE) {
            let dst = dst.ok_or(Errno::ENOENT)?;
            self.state
                .lock()
                .children
                .insert(String::from(old_name), dst);
            new_dir
                .state
                .lock()
                .children
                .insert(String::from(new_name), src);
            return Ok(());
        }
        if let Some(d) = &dst {
            if flags.contains(RenameFlags::NOREPLACE) {
                return Err(Errno::EEXIST);
            }
            if d.ino == src.ino {
                return Ok(());
            }
            let sd = src.state.lock().meta.kind.is_dir();
            let ds = d.state.lock();
            if sd && !ds.meta.kind.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            if !sd && ds.meta.kind.is_dir() {
                return Err(Errno::EISDIR);
            }
            if ds.meta.kind.is_dir() && !ds.children.is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
        }
        self.state.lock().children.remove(old_name);
        let _ = same;
        new_dir
            .state
            .lock()
            .children
            .insert(String::from(new_name), src);
        Ok(())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let s = self.state.lock();
        match s.meta.kind {
            FileType::Directory => return Err(Errno::EISDIR),
            FileType::Regular => {}
            _ => return Err(Errno::EINVAL),
        }
        let off = offset as usize;
        if off >= s.data.len() {
            return Ok(0);
        }
        let n = buf.len().min(s.data.len() - off);
        buf[..n].copy_from_slice(&s.data[off..off + n]);
        Ok(n)
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize> {
        let mut s = self.state.lock();
        match s.meta.kind {
            FileType::Directory => return Err(Errno::EISDIR),
            FileType::Regular => {}
            _ => return Err(Errno::EINVAL),
        }
        let off = offset as usize;
        if s.data.len() < off + buf.len() {
            s.data.resize(off + buf.len(), 0);
        }
        s.data[off..off + buf.len()].copy_from_slice(buf);
        Ok(buf.len())
    }
    fn set_len(&self, len: u64) -> Result<()> {
        let mut s = self.state.lock();
        match s.meta.kind {
            FileType::Directory => return Err(Errno::EISDIR),
            FileType::Regular => {}
            _ => return Err(Errno::EINVAL),
        }
        s.data.resize(len as usize, 0);
        Ok(())
    }
    fn readdir(&self, cookie: u64, sink: &mut dyn FnMut(DirEntry<'_>) -> bool) -> Result<()> {
        let entries: Vec<(String, u64, FileType)> = self
            .dir()?
            .children
            .iter()
            .map(|(n, c)| (n.clone(), c.ino, c.state.lock().meta.kind))
            .collect();
        for (i, (name, ino, kind)) in entries.iter().enumerate().skip(cookie as usize) {
            if !sink(DirEntry {
                name,
                ino: *ino,
                kind: *kind,
                next_cookie: i as u64 + 1,
            }) {
                break;
            }
        }
        Ok(())
    }
    fn readlink(&self) -> Result<String> {
        let s = self.state.lock();
        if s.meta.kind != FileType::Symlink {
            return Err(Errno::EINVAL);
        }
        Ok(s.target.clone())
    }
    fn get_xattr(&self, name: &str) -> Result<Vec<u8>> {
        self.state
            .lock()
            .xattrs
            .get(name)
            .cloned()
            .ok_or(Errno::ENODATA)
    }
    fn set_xattr(&self, name: &str, value: &[u8], flags: XattrFlags) -> Result<()> {
        let mut s = self.state.lock();
        let exists = s.xattrs.contains_key(name);
        if flags.contains(XattrFlags::CREATE) && exists {
            return Err(Errno::EEXIST);
        }
        if flags.contains(XattrFlags::REPLACE) && !exists {
            return Err(Errno::ENODATA);
        }
        s.xattrs.insert(String::from(name), value.to_vec());
        Ok(())
    }
    fn list_xattr(&self) -> Result<Vec<String>> {
        Ok(self.state.lock().xattrs.keys().cloned().collect())
    }
    fn remove_xattr(&self, name: &str) -> Result<()> {
        self.state
            .lock()
            .xattrs
            .remove(name)
            .map(drop)
            .ok_or(Errno::ENODATA)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
