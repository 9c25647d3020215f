//! A test filesystem wrapper that records every call made to its inodes, to check what the
//! namespace calls and in which order (permission checks before anything that modifies;
//! `open` before truncation).

use alloc::{
    format,
    string::{String, ToString},
    sync::Arc,
    vec::Vec,
};
use core::any::Any;

use spin::Mutex;

use crate::error::{Errno, Result};
use crate::vfs::{DirEntry, Inode, Metadata, NewNode, OpenFlags, RenameFlags, SetAttr, XattrFlags};

/// The shared call log.
pub type CallLog = Arc<Mutex<Vec<String>>>;

/// An inode that forwards to `inner` and logs the calls that could modify something, plus
/// `open`.
pub struct Spy {
    inner: Arc<dyn Inode>,
    log: CallLog,
}

impl Spy {
    /// Wraps `inner` (and everything reached from it) with `log`.
    pub fn wrap(inner: Arc<dyn Inode>, log: &CallLog) -> Arc<dyn Inode> {
        Arc::new(Spy {
            inner,
            log: log.clone(),
        })
    }

    fn record(&self, call: String) {
        self.log.lock().push(call);
    }

    fn unwrap_arg(inode: &dyn Inode) -> Result<&dyn Inode> {
        match inode.as_any().downcast_ref::<Spy>() {
            Some(spy) => Ok(&*spy.inner),
            None => Err(Errno::EXDEV),
        }
    }
}

impl Inode for Spy {
    fn metadata(&self) -> Result<Metadata> {
        self.inner.metadata()
    }
    fn set_attr(&self, attr: &SetAttr) -> Result<()> {
        self.record(format!("set_attr {attr:?}"));
        self.inner.set_attr(attr)
    }
    fn lookup(&self, name: &str) -> Result<Arc<dyn Inode>> {
        Ok(Spy::wrap(self.inner.lookup(name)?, &self.log))
    }
    fn create(&self, name: &str, node: &NewNode) -> Result<Arc<dyn Inode>> {
        self.record(format!("create {name} {:?} {:o}", node.kind, node.mode));
        Ok(Spy::wrap(self.inner.create(name, node)?, &self.log))
    }
    fn symlink(&self, name: &str, target: &str, uid: u32, gid: u32) -> Result<Arc<dyn Inode>> {
        self.record(format!("symlink {name} {target}"));
        Ok(Spy::wrap(
            self.inner.symlink(name, target, uid, gid)?,
            &self.log,
        ))
    }
    fn link(&self, name: &str, target: &dyn Inode) -> Result<()> {
        self.record(format!("link {name}"));
        self.inner.link(name, Spy::unwrap_arg(target)?)
    }
    fn unlink(&self, name: &str) -> Result<()> {
        self.record(format!("unlink {name}"));
        self.inner.unlink(name)
    }
    fn rmdir(&self, name: &str) -> Result<()> {
        self.record(format!("rmdir {name}"));
        self.inner.rmdir(name)
    }
    fn rename(
        &self,
        old_name: &str,
        new_dir: &dyn Inode,
        new_name: &str,
        flags: RenameFlags,
    ) -> Result<()> {
        self.record(format!("rename {old_name} {new_name}"));
        self.inner
            .rename(old_name, Spy::unwrap_arg(new_dir)?, new_name, flags)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.inner.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize> {
        self.record(format!("write_at {offset} {}", buf.len()));
        self.inner.write_at(offset, buf)
    }
    fn set_len(&self, len: u64) -> Result<()> {
        self.record(format!("set_len {len}"));
        self.inner.set_len(len)
    }
    fn readdir(&self, cookie: u64, sink: &mut dyn FnMut(DirEntry<'_>) -> bool) -> Result<()> {
        self.inner.readdir(cookie, sink)
    }
    fn readlink(&self) -> Result<String> {
        self.inner.readlink()
    }
    fn get_xattr(&self, name: &str) -> Result<Vec<u8>> {
        self.inner.get_xattr(name)
    }
    fn set_xattr(&self, name: &str, value: &[u8], flags: XattrFlags) -> Result<()> {
        self.record(format!("set_xattr {name}"));
        self.inner.set_xattr(name, value, flags)
    }
    fn list_xattr(&self) -> Result<Vec<String>> {
        self.inner.list_xattr()
    }
    fn remove_xattr(&self, name: &str) -> Result<()> {
        self.record(format!("remove_xattr {name}"));
        self.inner.remove_xattr(name)
    }
    fn open(&self, flags: OpenFlags) -> Result<()> {
        self.record(format!("open {flags:?}"));
        self.inner.open(flags)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Takes the log's entries so far.
pub fn take(log: &CallLog) -> Vec<String> {
    core::mem::take(&mut *log.lock())
        .into_iter()
        .map(|call| call.to_string())
        .collect()
}
