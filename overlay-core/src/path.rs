//! Path resolution: walking `/`-separated paths over [`Inode`]s.
//!
//! Filesystems only know single names ([`Inode::lookup`]); this module turns a path into an
//! inode the way Linux's `namei` does, as helpers over `dyn Inode` rather than trait methods:
//!
//! - An absolute path is walked from the root; a relative one from the working directory the
//!   walk was given ([`Walker::with_cwd`], a [`Location`]), or from the root without one.
//! - It keeps the stack of directories it went through (starting with the working directory's
//!   own chain of ancestors), so `..` returns to the directory it came from (at the root it
//!   stays at the root); `.` stays where it is; empty components (`a//b`) are
//!   ignored.
//! - A symlink met on the way is followed: a relative target is resolved from the link's own
//!   directory, an absolute one from the root. More than [`MAX_SYMLINKS`] links followed in one
//!   walk give `ELOOP`; an empty target gives `ENOENT`.
//! - Search (execute) permission is checked with the caller's [`Credentials`] on every directory
//!   a component is looked up in, `.` and `..` included (`EACCES`), like Linux's `may_lookup`.
//! - Limits: an empty path is `ENOENT`; a path of more than 4095 bytes ([`PATH_MAX`] counts the
//!   terminating NUL) or a component of more than [`NAME_MAX`] bytes is `ENAMETOOLONG`; a NUL
//!   byte is `EINVAL`; a non-directory used as a directory is `ENOTDIR`.
//! - A trailing slash (`a/`) means the final component must be a directory (`ENOTDIR`
//!   otherwise) and makes a final symlink be followed even where it otherwise would not be.
//!
//! Two entry points: [`resolve`] finds an existing entry (following a final symlink or not), and
//! [`resolve_parent`] stops before the final component, for the calls that create, remove or
//! rename a name. For the rare caller that must continue a walk itself (`open` with `O_CREAT`
//! through a dangling symlink), [`Walker`] exposes the steps and keeps the symlink count.

use alloc::{string::String, sync::Arc, vec::Vec};

use crate::error::{Errno, Result};
use crate::perm::{self, Access};
use crate::vfs::{Credentials, FileType, Inode, Metadata, Permissions, NAME_MAX, PATH_MAX};

/// Most symlinks one walk may follow; one more gives `ELOOP` (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;

/// The final component of a path, as [`Walker::parent`] leaves it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Last {
    /// An ordinary name, already checked to be a valid component.
    Name(String),
    /// `.`: the directory [`Parent::dir`] itself.
    Dot,
    /// `..`: the directory [`Parent::dir`] was reached from (itself at the root).
    DotDot,
    /// No component at all: the path was `/` (or a symlink's target was), naming the root.
    Root,
}

/// Where a walk stopped before the final component: the directory holding it, the component,
/// and the directories that lead there.
#[derive(Clone)]
pub struct Parent {
    /// The directories walked through before `dir`, the root first.
    ancestors: Vec<Arc<dyn Inode>>,
    /// The directory the final component is in.
    dir: Arc<dyn Inode>,
    /// The final component.
    pub last: Last,
    /// Whether the path ended in a slash (`a/`, `a/.//`): the entry must be a directory and a
    /// final symlink is followed.
    pub trailing_slash: bool,
}

impl Parent {
    /// The directory holding the final component. Search permission on it was checked.
    pub fn dir(&self) -> &Arc<dyn Inode> {
        &self.dir
    }

    /// The final component's name, if it is an ordinary name.
    pub fn name(&self) -> Option<&str> {
        match &self.last {
            Last::Name(name) => Some(name),
            _ => None,
        }
    }

    /// The directories on the way from the root to [`Parent::dir`], both included, root first.
    /// A rename uses this to refuse moving a directory into its own subtree.
    pub fn chain(&self) -> impl Iterator<Item = &Arc<dyn Inode>> {
        self.ancestors.iter().chain(core::iter::once(&self.dir))
    }
}

impl Parent {
    /// The location of `entry`, the entry this walk's final component names (as
    /// [`Walker::lookup_last`] gave it): the chain of directories from the root to it.
    pub fn into_location(self, entry: Arc<dyn Inode>) -> Location {
        let Parent {
            mut ancestors,
            dir,
            last,
            ..
        } = self;
        match last {
            Last::Name(_) => {
                ancestors.push(dir);
                Location {
                    ancestors,
                    dir: entry,
                }
            }
            Last::Dot | Last::Root => Location { ancestors, dir },
            Last::DotDot => match ancestors.pop() {
                Some(up) => Location { ancestors, dir: up },
                None => Location { ancestors, dir },
            },
        }
    }
}

/// A directory as a walk reached it: the directory and the directories on the way from the
/// root, so that `..` from it goes back the way the walk came (a process's working
/// directory, or the directory behind a descriptor that `openat` resolves from). It holds
/// inodes, not names: the directory stays the same one when it or an ancestor is renamed.
#[derive(Clone)]
pub struct Location {
    /// The directories from the root to `dir`'s parent, the root first (empty at the root).
    ancestors: Vec<Arc<dyn Inode>>,
    /// The directory itself.
    dir: Arc<dyn Inode>,
}

impl Location {
    /// The root itself.
    pub fn root(root: Arc<dyn Inode>) -> Location {
        Location {
            ancestors: Vec::new(),
            dir: root,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Arc<dyn Inode> {
        &self.dir
    }

    /// The directory's parent as the walk came (the directory itself at the root).
    pub fn parent_dir(&self) -> &Arc<dyn Inode> {
        self.ancestors.last().unwrap_or(&self.dir)
    }

    /// The directories from the root to this one, both included, root first.
    pub fn chain(&self) -> impl Iterator<Item = &Arc<dyn Inode>> {
        self.ancestors.iter().chain(core::iter::once(&self.dir))
    }

    /// How many steps below the root the directory is (0 for the root).
    pub fn depth(&self) -> usize {
        self.ancestors.len()
    }
}

impl core::fmt::Debug for Location {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Location")
            .field("depth", &self.ancestors.len())
            .finish()
    }
}

impl core::fmt::Debug for Parent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Parent")
            .field("depth", &self.ancestors.len())
            .field("last", &self.last)
            .field("trailing_slash", &self.trailing_slash)
            .finish()
    }
}

/// One component still to walk, and whether a slash followed it.
struct Component {
    name: String,
    slash_after: bool,
}

/// A path walk in progress: the root, the working directory, the caller, and how many
/// symlinks were followed so far (the `ELOOP` limit counts across everything one walk does,
/// continuations included).
pub struct Walker<'a> {
    root: Arc<dyn Inode>,
    cwd: Option<&'a Location>,
    creds: &'a Credentials,
    links_followed: usize,
}

impl<'a> Walker<'a> {
    /// A walk from `root` on behalf of `creds`; relative paths start at the root too, unless
    /// [`Walker::with_cwd`] gives a working directory.
    pub fn new(root: Arc<dyn Inode>, creds: &'a Credentials) -> Walker<'a> {
        Walker {
            root,
            cwd: None,
            creds,
            links_followed: 0,
        }
    }

    /// The same walk, with relative paths starting at `cwd` (which must have been reached
    /// from this walk's root).
    pub fn with_cwd(mut self, cwd: &'a Location) -> Walker<'a> {
        self.cwd = Some(cwd);
        self
    }

    /// Where a walk of `path` starts: the root for an absolute path, else the working
    /// directory, and the directories above it.
    fn start(&self, path: &str) -> (Arc<dyn Inode>, Vec<Arc<dyn Inode>>) {
        match self.cwd {
            Some(cwd) if !path.starts_with('/') => (cwd.dir.clone(), cwd.ancestors.clone()),
            _ => (self.root.clone(), Vec::new()),
        }
    }

    /// The directory `path` names, following a final symlink, as a [`Location`] (what `chdir`
    /// walks).
    ///
    /// # Errors
    /// As [`Walker::resolve`]; `ENOTDIR` if the entry is not a directory.
    pub fn locate(&mut self, path: &str) -> Result<Location> {
        let mut parent = self.parent(path)?;
        loop {
            let inode = self.lookup_last(&parent)?;
            match inode.permissions()?.kind {
                FileType::Symlink => parent = self.follow(parent, &*inode)?,
                FileType::Directory => return Ok(parent.into_location(inode)),
                _ => return Err(Errno::ENOTDIR),
            }
        }
    }

    /// How many symlinks this walk has followed.
    pub fn links_followed(&self) -> usize {
        self.links_followed
    }

    /// Walks every component of `path` but the last; search permission on the directory
    /// holding the last one is checked too, and its name is validated.
    ///
    /// # Errors
    /// `ENOENT` for an empty path or a missing directory on the way; `ENAMETOOLONG` for a path
    /// over 4095 bytes or a component over 255; `EINVAL` for a NUL byte; `ENOTDIR` if a
    /// non-directory is used as a directory; `EACCES` without search permission on a directory
    /// on the way; `ELOOP` after too many symlinks; whatever the filesystem's `lookup`,
    /// `metadata` or `readlink` return.
    pub fn parent(&mut self, path: &str) -> Result<Parent> {
        if let Plain::Done(parent) = self.parent_plain(path) {
            return parent;
        }
        check_path(path)?;
        let mut queue = Vec::new();
        push_components(&mut queue, path);
        let (dir, ancestors) = self.start(path);
        self.walk(dir, ancestors, queue, false)
    }

    /// Follows the symlink `link`, which is the final component of `parent`, and walks its
    /// target up to the target's final component. A trailing slash on `parent` carries over.
    ///
    /// # Errors
    /// `ELOOP` if this is one symlink too many; `ENOENT` for an empty target; `EINVAL` if
    /// `link` is not a symlink; otherwise as [`Walker::parent`].
    pub fn follow(&mut self, parent: Parent, link: &dyn Inode) -> Result<Parent> {
        let Parent {
            mut ancestors,
            mut dir,
            trailing_slash,
            ..
        } = parent;
        let mut queue = Vec::new();
        self.enter_link(&mut dir, &mut ancestors, &mut queue, link)?;
        self.walk(dir, ancestors, queue, trailing_slash)
    }

    /// The entry `parent` names, without following it if it is a symlink and without checking
    /// the trailing slash.
    ///
    /// # Errors
    /// `ENOENT` if the name is absent; whatever the filesystem's `lookup` returns.
    pub fn lookup_last(&self, parent: &Parent) -> Result<Arc<dyn Inode>> {
        match &parent.last {
            Last::Name(name) => parent.dir.lookup(name),
            Last::Dot | Last::Root => Ok(parent.dir.clone()),
            Last::DotDot => Ok(parent.ancestors.last().unwrap_or(&parent.dir).clone()),
        }
    }

    /// The existing entry `path` names. A final symlink is followed if `follow` is set or the
    /// path ends in a slash.
    ///
    /// # Errors
    /// As [`Walker::parent`]; `ENOENT` if the entry is absent; `ENOTDIR` if the path ends in a
    /// slash and the entry is not a directory.
    pub fn resolve(&mut self, path: &str, follow: bool) -> Result<Arc<dyn Inode>> {
        self.resolve_with_metadata(path, follow)
            .map(|(inode, _)| inode)
    }

    /// As [`Walker::resolve`], also returning the entry's metadata (which the walk reads anyway).
    ///
    /// # Errors
    /// As [`Walker::resolve`].
    pub fn resolve_with_metadata(
        &mut self,
        path: &str,
        follow: bool,
    ) -> Result<(Arc<dyn Inode>, Metadata)> {
        if let Plain::Done(resolved) = self.resolve_plain(path, follow) {
            return resolved;
        }
        let mut parent = self.parent(path)?;
        loop {
            let inode = self.lookup_last(&parent)?;
            let metadata = inode.metadata()?;
            if metadata.kind == FileType::Symlink && (follow || parent.trailing_slash) {
                parent = self.follow(parent, &*inode)?;
                continue;
            }
            if parent.trailing_slash && !metadata.kind.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            return Ok((inode, metadata));
        }
    }

    /// The common case of [`Walker::resolve_with_metadata`] (see [`Walker::walk_plain`]): the
    /// final entry looked up too, unless it is a symlink to follow.
    fn resolve_plain(&self, path: &str, follow: bool) -> Plain<(Arc<dyn Inode>, Metadata)> {
        let (dir, name) = match self.walk_plain(path, None) {
            Plain::Done(Ok(reached)) => reached,
            Plain::Done(Err(errno)) => return Plain::Done(Err(errno)),
            Plain::NeedsFullWalk => return Plain::NeedsFullWalk,
        };
        let found = dir
            .lookup(name)
            .and_then(|child| child.metadata().map(|metadata| (child, metadata)));
        match found {
            Ok((_, metadata)) if follow && metadata.kind == FileType::Symlink => {
                Plain::NeedsFullWalk
            }
            found => Plain::Done(found),
        }
    }

    /// The common case of [`Walker::parent`] (see [`Walker::walk_plain`]).
    fn parent_plain(&self, path: &str) -> Plain<Parent> {
        let mut ancestors = Vec::new();
        match self.walk_plain(path, Some(&mut ancestors)) {
            Plain::Done(Ok((dir, name))) => Plain::Done(Ok(Parent {
                ancestors,
                dir,
                last: Last::Name(String::from(name)),
                trailing_slash: false,
            })),
            Plain::Done(Err(errno)) => Plain::Done(Err(errno)),
            Plain::NeedsFullWalk => Plain::NeedsFullWalk,
        }
    }

    /// A walk up to the final component of a path of ordinary names that meets no symlink on
    /// the way (the common case), with no queue of components: each directory's metadata is
    /// read once, for both its kind and its search permission, and the directories passed
    /// go to `ancestors` if given. Returns the directory holding the final component (search
    /// permission on it checked) and that component (checked). The checks come in the full
    /// walk's order, so an error here is the one it would give; anything else (`.`, `..`, a
    /// trailing slash, a symlink on the way, the root itself) is left to the full walk, which
    /// starts over (lookups change nothing).
    fn walk_plain<'p>(
        &self,
        path: &'p str,
        mut ancestors: Option<&mut Vec<Arc<dyn Inode>>>,
    ) -> Plain<(Arc<dyn Inode>, &'p str)> {
        if let Err(errno) = check_path(path) {
            return Plain::Done(Err(errno));
        }
        if path.ends_with('/') {
            return Plain::NeedsFullWalk;
        }
        let mut names = names_of(path).peekable();
        let mut dir = match self.cwd {
            Some(cwd) if !path.starts_with('/') => {
                if let Some(ancestors) = ancestors.as_deref_mut() {
                    ancestors.extend(cwd.ancestors.iter().cloned());
                }
                cwd.dir.clone()
            }
            _ => self.root.clone(),
        };
        let mut dir_permissions = match dir.permissions() {
            Ok(permissions) => permissions,
            Err(errno) => return Plain::Done(Err(errno)),
        };
        while let Some(name) = names.next() {
            if name == "." || name == ".." {
                return Plain::NeedsFullWalk;
            }
            if let Err(errno) = searchable(&dir_permissions, self.creds).and(check_component(name))
            {
                return Plain::Done(Err(errno));
            }
            if names.peek().is_none() {
                return Plain::Done(Ok((dir, name)));
            }
            let step = dir
                .lookup(name)
                .and_then(|child| child.permissions().map(|permissions| (child, permissions)));
            let (child, permissions) = match step {
                Ok(found) => found,
                Err(errno) => return Plain::Done(Err(errno)),
            };
            match permissions.kind {
                FileType::Directory => {
                    let passed = core::mem::replace(&mut dir, child);
                    if let Some(ancestors) = ancestors.as_deref_mut() {
                        ancestors.push(passed);
                    }
                    dir_permissions = permissions;
                }
                FileType::Symlink => return Plain::NeedsFullWalk,
                _ => return Plain::Done(Err(Errno::ENOTDIR)),
            }
        }
        // No component at all: the path names the root.
        Plain::NeedsFullWalk
    }

    /// Walks `queue` (components in reverse order: the next one last) from `dir`, stopping
    /// before the final component.
    fn walk(
        &mut self,
        mut dir: Arc<dyn Inode>,
        mut ancestors: Vec<Arc<dyn Inode>>,
        mut queue: Vec<Component>,
        trailing_slash: bool,
    ) -> Result<Parent> {
        loop {
            let Some(component) = queue.pop() else {
                // Only an absolute path (or target) without components ends here: `dir` is
                // the root (every relative path has a component).
                return Ok(Parent {
                    ancestors,
                    dir,
                    last: Last::Root,
                    trailing_slash,
                });
            };
            // Linux checks search permission before every component, `.` and `..` included.
            self.search(&dir)?;
            if queue.is_empty() {
                let last = match component.name.as_str() {
                    "." => Last::Dot,
                    ".." => Last::DotDot,
                    name => {
                        check_component(name)?;
                        Last::Name(component.name)
                    }
                };
                let trailing_slash = trailing_slash || component.slash_after;
                return Ok(Parent {
                    ancestors,
                    dir,
                    last,
                    trailing_slash,
                });
            }
            match component.name.as_str() {
                "." => {}
                ".." => {
                    if let Some(up) = ancestors.pop() {
                        dir = up;
                    }
                }
                name => {
                    check_component(name)?;
                    let child = dir.lookup(name)?;
                    match child.permissions()?.kind {
                        FileType::Directory => ancestors.push(core::mem::replace(&mut dir, child)),
                        FileType::Symlink => {
                            self.enter_link(&mut dir, &mut ancestors, &mut queue, &*child)?
                        }
                        _ => return Err(Errno::ENOTDIR),
                    }
                }
            }
        }
    }

    /// Counts one more symlink and puts its target's components next in `queue`, moving to the
    /// root first for an absolute target.
    fn enter_link(
        &mut self,
        dir: &mut Arc<dyn Inode>,
        ancestors: &mut Vec<Arc<dyn Inode>>,
        queue: &mut Vec<Component>,
        link: &dyn Inode,
    ) -> Result<()> {
        self.links_followed += 1;
        if self.links_followed > MAX_SYMLINKS {
            return Err(Errno::ELOOP);
        }
        let target = link.readlink()?;
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        if target.starts_with('/') {
            ancestors.clear();
            *dir = self.root.clone();
        }
        push_components(queue, &target);
        Ok(())
    }

    /// Search permission on `dir`.
    fn search(&self, dir: &Arc<dyn Inode>) -> Result<()> {
        searchable(&dir.permissions()?, self.creds)
    }
}

/// What a walk of the common case ([`Walker::walk_plain`]) made of a path.
enum Plain<T> {
    /// What the full walk would give, success or error.
    Done(Result<T>),
    /// The path needs what only the full walk does.
    NeedsFullWalk,
}

/// Search permission on the directory described by `permissions`: `ENOTDIR` if it is none,
/// `EACCES` without execute permission for `creds`.
fn searchable(permissions: &Permissions, creds: &Credentials) -> Result<()> {
    if !permissions.kind.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    perm::check_permissions(permissions, creds, Access::EXEC)
}

/// The existing entry `path` names, walked from `root` for `creds`; a final symlink is
/// followed if `follow` is set or the path ends in a slash.
///
/// # Errors
/// As [`Walker::resolve`]: `ENOENT`, `ENOTDIR`, `EACCES`, `ELOOP`, `ENAMETOOLONG`, `EINVAL`.
pub fn resolve(
    root: &Arc<dyn Inode>,
    creds: &Credentials,
    path: &str,
    follow: bool,
) -> Result<Arc<dyn Inode>> {
    Walker::new(root.clone(), creds).resolve(path, follow)
}

/// The directory that holds the final component of `path` and that component, walked from
/// `root` for `creds`, for calls that create, remove or rename it.
///
/// # Errors
/// As [`Walker::parent`]: `ENOENT`, `ENOTDIR`, `EACCES`, `ELOOP`, `ENAMETOOLONG`, `EINVAL`.
pub fn resolve_parent(root: &Arc<dyn Inode>, creds: &Credentials, path: &str) -> Result<Parent> {
    Walker::new(root.clone(), creds).parent(path)
}

/// Checks a whole path: not empty, no NUL, fits `PATH_MAX` with its NUL.
///
/// # Errors
/// `ENOENT` if empty; `EINVAL` with a NUL byte; `ENAMETOOLONG` over 4095 bytes.
pub fn check_path(path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.bytes().any(|byte| byte == 0) {
        return Err(Errno::EINVAL);
    }
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}

/// The non-empty components of `path`, found by scanning its bytes for `/`. A `/` is ASCII,
/// so the text between two of them is whole characters. Splitting the `str` instead would set
/// up a `memchr` (the `'/'` pattern) or decode each character (a `char` closure), on a path
/// that is mostly one or two short names.
fn names_of(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = path;
    core::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .bytes()
            .position(|byte| byte == b'/')
            .unwrap_or(rest.len());
        // `end` is at a `/` or the end: a character boundary either way.
        let name = rest.get(..end).unwrap_or_default();
        rest = rest.get(end + 1..).unwrap_or_default();
        if !name.is_empty() {
            return Some(name);
        }
    })
}

/// Checks one component met during a walk.
fn check_component(name: &str) -> Result<()> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.bytes().any(|byte| byte == 0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Pushes the components of `path` on `queue` so that its first component is popped next.
fn push_components(queue: &mut Vec<Component>, path: &str) {
    let start = queue.len();
    let mut rest = path;
    while !rest.is_empty() {
        let (name, slash_after, next) = match rest.find('/') {
            Some(at) => (&rest[..at], true, &rest[at + 1..]),
            None => (rest, false, ""),
        };
        if !name.is_empty() {
            queue.push(Component {
                name: String::from(name),
                slash_after,
            });
        } else if slash_after && queue.len() > start {
            // `a//`: the slash after an empty component still trails the previous name.
            if let Some(previous) = queue.last_mut() {
                previous.slash_after = true;
            }
        }
        rest = next;
    }
    queue[start..].reverse();
}

/// Splits a path into the part before its final component and that component, ignoring
/// trailing slashes: `"/a/b/"` gives `("/a", "b")`, `"b"` gives `("", "b")`, `"/"` gives
/// `("/", "")`. For display and for the shell; the walker does not use it.
pub fn split_last(path: &str) -> (&str, &str) {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return (if path.is_empty() { "" } else { "/" }, "");
    }
    match trimmed.rfind('/') {
        Some(at) => {
            let head = trimmed[..at].trim_end_matches('/');
            (if head.is_empty() { "/" } else { head }, &trimmed[at + 1..])
        }
        None => ("", trimmed),
    }
}

/// `path` as a listing (such as the shell's `tree`) shows it: without trailing slashes, and
/// `/` for the root however many slashes name it (`"/etc/"` is `"/etc"`, `"///"` is `"/"`).
/// For display; the walker does not use it.
pub fn display(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() && path.starts_with('/') {
        "/"
    } else if trimmed.is_empty() {
        path
    } else {
        trimmed
    }
}

/// Joins a directory path and a name with one slash: `join("/a", "b")` and `join("/a/", "b")`
/// are `"/a/b"`, `join("", "b")` is `"b"`.
pub fn join(dir: &str, name: &str) -> String {
    let mut joined = String::with_capacity(dir.len() + 1 + name.len());
    joined.push_str(dir);
    if !dir.is_empty() && !dir.ends_with('/') {
        joined.push('/');
    }
    joined.push_str(name);
    joined
}

#[cfg(test)]
mod tests;
