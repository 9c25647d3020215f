//! [`FsContext`]: a process's root, working directory and umask.

use alloc::{string::String, sync::Arc, vec::Vec};

use overlay_core::path::Location;
use overlay_core::posix::Namespace;
use overlay_core::time::Clock;
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::vfs::{Credentials, FileSystem, FileType, Inode, Metadata};
use spin::Mutex;

use crate::errno::{Errno, SysResult};

/// A process's view of the filesystem: its root (the container's union, possibly with `/proc`
/// and `/dev` mounted over it: any [`FileSystem`]), its working directory and its umask.
///
/// Cloning gives an independent copy (`fork`): a `chdir` or `umask` of one does not move the
/// other.
///
/// The working directory is a [`Location`]: the directory and the chain of directories the
/// walk went through from the root, so `..` goes back the way it came and the directory
/// stays the same one when it (or an ancestor) is renamed. Its path (`getcwd`) is found from
/// the directories themselves: the names the last `chdir` went through are checked by
/// looking each up again, and when one no longer leads to the next directory (a rename,
/// a `chdir` through a symlink) the name is found by listing the parent. A working directory
/// that was removed has no path (`ENOENT`, as on Linux).
pub struct FsContext {
    root: Arc<dyn FileSystem>,
    namespace: Namespace,
    /// The names from the root to the working directory, as last found or guessed.
    cwd_names: Mutex<Vec<String>>,
}

impl FsContext {
    /// A context rooted at `root`'s root directory, which is also the working directory, with
    /// umask 022.
    pub fn new(root: Arc<dyn FileSystem>) -> FsContext {
        FsContext {
            namespace: Namespace::with_filesystem(root.clone()),
            root,
            cwd_names: Mutex::new(Vec::new()),
        }
    }

    /// The same context, with `clock` giving the time `utimensat` sets for `UTIME_NOW` (the
    /// clock the filesystems use, so that a `touch` and a write agree).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> FsContext {
        let cwd = self.namespace.cwd().clone();
        let umask = self.namespace.umask();
        let namespace = Namespace::with_filesystem(self.root.clone())
            .with_clock(clock)
            .with_cwd(cwd);
        namespace.set_umask(umask);
        FsContext {
            namespace,
            root: self.root,
            cwd_names: self.cwd_names,
        }
    }

    /// The root filesystem.
    pub fn root(&self) -> &Arc<dyn FileSystem> {
        &self.root
    }

    /// The POSIX calls over the root, relative paths resolved from the working directory.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The same calls, relative paths resolved from `location` (an open directory's).
    pub fn namespace_at(&self, location: Location) -> Namespace {
        self.namespace.at(location)
    }

    /// The umask.
    pub fn umask(&self) -> u16 {
        self.namespace.umask()
    }

    /// Sets the umask (its `0o777` bits); returns the previous one.
    pub fn set_umask(&self, umask: u16) -> u16 {
        self.namespace.set_umask(umask)
    }

    /// The working directory.
    pub fn cwd(&self) -> &Location {
        self.namespace.cwd()
    }

    /// Makes `path` (resolved from the working directory) the working directory.
    ///
    /// # Errors
    /// `ENOENT`, `ENOTDIR`, `EACCES` (search permission on it or on the way), `ELOOP`,
    /// `ENAMETOOLONG` as the walk finds.
    pub fn chdir(&mut self, creds: &Credentials, path: &str) -> SysResult<()> {
        let guess = guess_names(&self.cwd_names.lock(), path);
        self.namespace.chdir(creds, path)?;
        *self.cwd_names.lock() = guess;
        Ok(())
    }

    /// Makes `location` the working directory (`fchdir`); `path` is where it was opened
    /// (a hint for [`FsContext::cwd_path`], which checks it).
    ///
    /// # Errors
    /// `ENOTDIR` if it is not a directory; `EACCES` without search permission on it.
    pub fn set_cwd(
        &mut self,
        creds: &Credentials,
        location: Location,
        path: &str,
    ) -> SysResult<()> {
        self.namespace.set_cwd(creds, location)?;
        *self.cwd_names.lock() = guess_names(&[], path);
        Ok(())
    }

    /// The absolute path of the working directory (`getcwd`, `/proc/self/cwd`).
    ///
    /// # Errors
    /// `ENOENT` if the working directory was removed (no name leads to it any more); what
    /// the filesystem's `lookup`, `readdir` or `metadata` return.
    pub fn cwd_path(&self) -> SysResult<String> {
        let chain: Vec<&Arc<dyn Inode>> = self.namespace.cwd().chain().collect();
        let mut names = self.cwd_names.lock();
        if !names_lead_to(&chain, &names) {
            *names = find_names(&chain)?;
        }
        Ok(path_of(&names))
    }

    /// The path of the working directory as last found, unchecked: what a relative path
    /// opened now is described as (`/proc/self/fd`), without a lookup per open.
    pub fn cwd_path_hint(&self) -> String {
        path_of(&self.cwd_names.lock())
    }
}

impl Clone for FsContext {
    fn clone(&self) -> FsContext {
        FsContext {
            root: self.root.clone(),
            namespace: self.namespace.at(self.namespace.cwd().clone()),
            cwd_names: Mutex::new(self.cwd_names.lock().clone()),
        }
    }
}

impl Default for FsContext {
    /// A context over an empty tmpfs, for a process that never touches files (and tests).
    fn default() -> FsContext {
        FsContext::new(TmpFs::new(TmpFsOptions::default()))
    }
}

impl core::fmt::Debug for FsContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FsContext")
            .field("cwd", &self.cwd_path_hint())
            .field("umask", &self.umask())
            .finish()
    }
}

/// `/` and the names joined.
fn path_of(names: &[String]) -> String {
    let mut path = String::new();
    for name in names {
        path.push('/');
        path.push_str(name);
    }
    if path.is_empty() {
        path.push('/');
    }
    path
}

/// The names from the root to where `path` leads from `cwd`, taking each component as
/// written (`..` drops a name): right unless the path went through a symlink, which
/// [`FsContext::cwd_path`] finds out.
pub(crate) fn guess_names(cwd: &[String], path: &str) -> Vec<String> {
    let mut names = if path.starts_with('/') {
        Vec::new()
    } else {
        cwd.to_vec()
    };
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                names.pop();
            }
            name => names.push(String::from(name)),
        }
    }
    names
}

/// The absolute path `path` names from the directory at `base`, taken as written (see
/// [`guess_names`]).
pub(crate) fn lexical_path(base: &str, path: &str) -> String {
    let base = guess_names(&[], base);
    path_of(&guess_names(&base, path))
}

/// Whether two metadata are of the same inode.
fn same(a: &Metadata, b: &Metadata) -> bool {
    a.dev == b.dev && a.ino == b.ino
}

/// Whether looking `names` up one after the other from the root reaches each directory of
/// `chain` in turn.
fn names_lead_to(chain: &[&Arc<dyn Inode>], names: &[String]) -> bool {
    if names.len() + 1 != chain.len() {
        return false;
    }
    names.iter().enumerate().all(|(at, name)| {
        let found = chain[at].lookup(name).and_then(|child| child.metadata());
        match (found, chain[at + 1].metadata()) {
            (Ok(found), Ok(expected)) => same(&found, &expected),
            _ => false,
        }
    })
}

/// The name of each directory of `chain` in the one before it, found by listing it.
fn find_names(chain: &[&Arc<dyn Inode>]) -> SysResult<Vec<String>> {
    let mut names = Vec::new();
    for pair in chain.windows(2) {
        names.push(name_in(pair[0], pair[1])?);
    }
    Ok(names)
}

/// The name under which `dir` lists `child`: the directories listed with `child`'s inode
/// number are looked up to confirm (a filesystem mounted over a name may list another
/// number than its root has); failing that, every directory listed is.
fn name_in(dir: &Arc<dyn Inode>, child: &Arc<dyn Inode>) -> SysResult<String> {
    let wanted = child.metadata()?;
    let mut by_ino = Vec::new();
    let mut others = Vec::new();
    let mut cookie = 0;
    loop {
        let mut listed = 0usize;
        let from = cookie;
        dir.readdir(cookie, &mut |entry| {
            listed += 1;
            cookie = entry.next_cookie;
            if entry.kind == FileType::Directory {
                if entry.ino == wanted.ino {
                    by_ino.push(String::from(entry.name));
                } else {
                    others.push(String::from(entry.name));
                }
            }
            true
        })?;
        // The end, or a listing that does not move on (which must not loop for ever).
        if listed == 0 || cookie == from {
            break;
        }
    }
    for name in by_ino.into_iter().chain(others) {
        if let Ok(found) = dir.lookup(&name).and_then(|inode| inode.metadata()) {
            if same(&found, &wanted) {
                return Ok(name);
            }
        }
    }
    Err(Errno::ENOENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_guessed_from_the_path_as_written() {
        let cwd = [String::from("a"), String::from("b")];
        assert_eq!(guess_names(&cwd, "../c/./d/"), ["a", "c", "d"]);
        assert_eq!(guess_names(&cwd, "/x//y"), ["x", "y"]);
        assert_eq!(guess_names(&cwd, "../../../.."), [""; 0]);
        assert_eq!(lexical_path("/a/b", "../f"), "/a/f");
        assert_eq!(lexical_path("/", "f"), "/f");
        assert_eq!(path_of(&[]), "/");
    }
}
