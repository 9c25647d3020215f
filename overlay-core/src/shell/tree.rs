//! The listing formats: `tree`, `ls`, `ls -l` and `stat` lines.

use alloc::{format, string::String, vec, vec::Vec};
use core::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::escape;
use crate::error::Result;
use crate::path::{self, join};
use crate::posix::Namespace;
use crate::vfs::{Credentials, FileType, Metadata, OpenFlags, MODE_PERMISSIONS};

/// How many bytes a digest read asks for at a time.
const DIGEST_CHUNK_BYTES: usize = 4096;

/// The `tree` / `ls -l` columns of the entry at `path` before its name:
/// `TYPE MODE UID:GID SIZE DIGEST`. Contents are read with root's credentials.
pub(super) fn columns(namespace: &Namespace, path: &str, metadata: &Metadata) -> Result<String> {
    let root = Credentials::root();
    let (size, digest) = match metadata.kind {
        FileType::Regular => (
            format!("{}", metadata.size),
            content_digest(namespace, &root, path)?,
        ),
        FileType::Symlink => {
            let target = namespace.readlink(&root, path)?;
            (
                format!("{}", target.len()),
                short_digest(&Sha256::digest(target.as_bytes())),
            )
        }
        FileType::CharDevice | FileType::BlockDevice => (
            String::from("-"),
            format!("{}:{}", metadata.rdev.major, metadata.rdev.minor),
        ),
        _ => (String::from("-"), String::from("-")),
    };
    Ok(format!(
        "{} {:04o} {}:{} {} {}",
        metadata.kind.letter(),
        metadata.mode & MODE_PERMISSIONS,
        metadata.uid,
        metadata.gid,
        size,
        digest
    ))
}

/// Hands the lines of `tree path` to `emit`, sorted by path bytewise, the starting entry
/// included, each path escaped (see [`escape`]). Symlinks are not followed, except a starting
/// path that ends in a slash.
///
/// Each line goes out as soon as it is made, and the walk keeps one path (the deepest so far)
/// and the names of the directories it is in: its memory grows with the depth and the width
/// of those directories, not with the total length of every path (a deep tree's lines repeat
/// the path of their directory over and over).
pub(super) fn tree(
    namespace: &Namespace,
    path: &str,
    emit: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<()> {
    let root = Credentials::root();
    let start = namespace.lstat(&root, path)?;
    let mut path = String::from(path::display(path));
    emit(&line(namespace, &path, &start)?)?;
    if !start.kind.is_dir() {
        return Ok(());
    }
    // An explicit stack of the directories being walked, not recursion: a tree can be as
    // deep as a user makes it, deeper than any kernel stack allows.
    let mut walking = Vec::from([tree_dir(namespace, &path)?]);
    while let Some(dir) = walking.last_mut() {
        let Some(step) = dir.steps.next() else {
            walking.pop();
            continue;
        };
        path.truncate(dir.path_len);
        if !path.is_empty() && !path.ends_with('/') {
            path.push('/');
        }
        path.push_str(&step.name);
        match step.metadata {
            Some(metadata) => emit(&line(namespace, &path, &metadata)?)?,
            None => {
                let subdir = tree_dir(namespace, &path)?;
                walking.push(subdir);
            }
        }
    }
    Ok(())
}

/// The `tree` line of the entry at `path`.
fn line(namespace: &Namespace, path: &str, metadata: &Metadata) -> Result<String> {
    Ok(format!(
        "{} {}",
        columns(namespace, path, metadata)?,
        escape(path)
    ))
}

/// The steps of the walk through the directory at `path`, sorted.
fn tree_dir(namespace: &Namespace, path: &str) -> Result<TreeDir> {
    let root = Credentials::root();
    let mut steps = Vec::new();
    for entry in namespace.read_dir(&root, path)? {
        let metadata = namespace.lstat(&root, &join(path, &entry.name))?;
        let name = String::from(&*entry.name);
        if metadata.kind.is_dir() {
            steps.push(TreeStep {
                name: name.clone(),
                metadata: None,
            });
        }
        steps.push(TreeStep {
            name,
            metadata: Some(metadata),
        });
    }
    steps.sort_unstable_by(|a, b| a.sort_key().cmp(b.sort_key()));
    Ok(TreeDir {
        path_len: path.len(),
        steps: steps.into_iter(),
    })
}

/// A directory that `tree` is walking.
struct TreeDir {
    /// How long its path is (the walk's path buffer is cut back to it for each step).
    path_len: usize,
    /// What is left to do in it, in the order of the output.
    steps: vec::IntoIter<TreeStep>,
}

/// One step of the walk through a directory: an entry's line, or the walk through a
/// subdirectory.
struct TreeStep {
    name: String,
    /// The entry's metadata for its line, or `None` for the walk through the directory.
    metadata: Option<Metadata>,
}

impl TreeStep {
    /// What orders the steps as their paths are ordered: the name, and a slash after it for
    /// the walk through a directory. Every path under `a` sorts where `a/` does among the
    /// names of its directory: after `a` itself and after `a-b` or `a.b` (`-` and `.` come
    /// before `/`), as sorting the whole paths would put them.
    fn sort_key(&self) -> impl Iterator<Item = u8> + '_ {
        let slash = self.metadata.is_none().then_some(b'/');
        self.name.bytes().chain(slash)
    }
}

/// The lines of `ls [-l] path` for `creds`: the names in a directory sorted bytewise, or the
/// path itself for anything else, escaped (see [`escape`]). Without `-l` a symlink to a directory is listed as the
/// directory; with `-l` it is shown as itself.
pub(super) fn ls(
    namespace: &Namespace,
    creds: &Credentials,
    path: &str,
    long: bool,
) -> Result<Vec<String>> {
    let mut metadata = namespace.lstat(creds, path)?;
    if !long && metadata.kind == FileType::Symlink {
        if let Ok(target) = namespace.stat(creds, path) {
            metadata = target;
        }
    }
    if !metadata.kind.is_dir() {
        let line = if long {
            format!("{} {}", columns(namespace, path, &metadata)?, escape(path))
        } else {
            escape(path)
        };
        return Ok(Vec::from([line]));
    }
    let mut names: Vec<String> = namespace
        .read_dir(creds, path)?
        .into_iter()
        .map(|entry| String::from(&*entry.name))
        .collect();
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    if !long {
        return Ok(names.iter().map(|name| escape(name)).collect());
    }
    names
        .into_iter()
        .map(|name| {
            let child = join(path, &name);
            let child_metadata = namespace.lstat(creds, &child)?;
            Ok(format!(
                "{} {}",
                columns(namespace, &child, &child_metadata)?,
                escape(&name)
            ))
        })
        .collect()
}

/// The `stat` line (see the module documentation of [`crate::shell`]).
pub(super) fn stat_line(metadata: &Metadata, layer: &str, path: &str) -> String {
    let mut line = format!(
        "{} {:04o} {}:{} size={} nlink={} ino={}",
        metadata.kind.letter(),
        metadata.mode & MODE_PERMISSIONS,
        metadata.uid,
        metadata.gid,
        metadata.size,
        metadata.nlink,
        metadata.ino
    );
    if matches!(metadata.kind, FileType::CharDevice | FileType::BlockDevice) {
        // Writing to a String cannot fail.
        let _ = write!(
            line,
            " rdev={}:{}",
            metadata.rdev.major, metadata.rdev.minor
        );
    }
    let _ = write!(line, " layer={layer} {path}");
    line
}

/// The short digest of the regular file at `path`, read in chunks.
fn content_digest(namespace: &Namespace, creds: &Credentials, path: &str) -> Result<String> {
    let mut file = namespace.open(creds, path, OpenFlags::READ | OpenFlags::NOFOLLOW, 0)?;
    let mut hasher = Sha256::new();
    let mut chunk = [0u8; DIGEST_CHUNK_BYTES];
    loop {
        let count = file.read(&mut chunk)?;
        let Some(read) = chunk.get(..count).filter(|read| !read.is_empty()) else {
            break;
        };
        hasher.update(read);
    }
    Ok(short_digest(&hasher.finalize()))
}

/// The first 16 hex digits (8 bytes) of a SHA-256 digest.
fn short_digest(digest: &[u8]) -> String {
    let mut hex = String::with_capacity(16);
    for byte in digest.iter().take(8) {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_16_hex_digits_of_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea...
        assert_eq!(short_digest(&Sha256::digest(b"abc")), "ba7816bf8f01cfea");
        // SHA-256("") = e3b0c44298fc1c14...
        assert_eq!(short_digest(&Sha256::digest(b"")), "e3b0c44298fc1c14");
    }
}
