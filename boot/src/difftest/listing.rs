//! Listing formats shared by both sides: digests, type letters, and the raw listing of an
//! upper layer, in which whiteouts and opaque directories are shown as such.
//!
//! A raw line is the shell's `tree` line (`TYPE MODE UID:GID SIZE DIGEST PATH`), except that a
//! whiteout is `w PATH` (its mode, owner and link count are the filesystem's business: Linux
//! shares one whiteout inode between many names) and an opaque directory has the type `o`.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use overlay_core::path::join;
use overlay_core::vfs::{DeviceId, FileType, Inode};
use rustix::fs::FileType as HostFileType;
use sha2::{Digest, Sha256};

use super::case::OPAQUE_XATTR;
use super::compare::LowerFacts;

/// The first 16 hex digits of the SHA-256 of `bytes`, as `tree` prints them.
pub fn short_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The shell's one-letter type code of a host file type.
pub fn type_letter(kind: HostFileType) -> char {
    match kind {
        HostFileType::RegularFile => 'f',
        HostFileType::Directory => 'd',
        HostFileType::Symlink => 'l',
        HostFileType::CharacterDevice => 'c',
        HostFileType::BlockDevice => 'b',
        HostFileType::Fifo => 'p',
        HostFileType::Socket => 's',
        HostFileType::Unknown => '?',
    }
}

/// One entry of a raw listing.
struct RawEntry {
    letter: char,
    mode: u32,
    uid: u32,
    gid: u32,
    /// Size and digest columns.
    size: String,
    digest: String,
}

impl RawEntry {
    fn line(&self, path: &str) -> String {
        if self.letter == 'w' {
            return format!("w {path}");
        }
        format!(
            "{} {:04o} {}:{} {} {} {path}",
            self.letter, self.mode, self.uid, self.gid, self.size, self.digest
        )
    }
}

fn sorted(mut lines: Vec<(String, String)>) -> Vec<String> {
    lines.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    lines.into_iter().map(|(_, line)| line).collect()
}

/// The raw listing of a host directory used as an upper layer.
///
/// # Errors
/// Whatever reading the directory fails with.
pub fn host_upper_tree(dir: &Path) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    let mut pending = vec![("/".to_string(), dir.to_path_buf())];
    while let Some((path, host_path)) = pending.pop() {
        let meta = fs::symlink_metadata(&host_path)
            .with_context(|| format!("reading {}", host_path.display()))?;
        let kind = meta.file_type();
        let none = || "-".to_string();
        let (letter, size, digest) = if kind.is_dir() {
            let mut names = Vec::new();
            for entry in fs::read_dir(&host_path)? {
                names.push(entry?.file_name());
            }
            for name in names {
                let name_text = name.to_string_lossy().into_owned();
                pending.push((join(&path, &name_text), host_path.join(&name)));
            }
            let opaque =
                matches!(xattr::get(&host_path, OPAQUE_XATTR), Ok(Some(value)) if value == b"y");
            (if opaque { 'o' } else { 'd' }, none(), none())
        } else if kind.is_file() {
            let content = fs::read(&host_path)?;
            ('f', meta.len().to_string(), short_digest(&content))
        } else if kind.is_symlink() {
            let target = fs::read_link(&host_path)?;
            let target = target.as_os_str().as_encoded_bytes().to_vec();
            ('l', target.len().to_string(), short_digest(&target))
        } else if kind.is_char_device() || kind.is_block_device() {
            let (major, minor) = (
                rustix::fs::major(meta.rdev()),
                rustix::fs::minor(meta.rdev()),
            );
            if kind.is_char_device() && meta.rdev() == 0 {
                ('w', none(), none())
            } else {
                let letter = if kind.is_char_device() { 'c' } else { 'b' };
                (letter, none(), format!("{major}:{minor}"))
            }
        } else if kind.is_fifo() {
            ('p', none(), none())
        } else {
            ('s', none(), none())
        };
        let entry = RawEntry {
            letter,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            size,
            digest,
        };
        lines.push((path.clone(), entry.line(&path)));
    }
    Ok(sorted(lines))
}

/// What known differences need to know about the lower layers (see
/// [`super::compare::LowerFacts`]), read from their host directories.
///
/// # Errors
/// Whatever reading a directory fails with.
pub fn lower_facts(lowers: &[std::path::PathBuf]) -> Result<LowerFacts> {
    let mut facts = LowerFacts::default();
    for dir in lowers {
        let mut pending = vec![(String::new(), dir.clone())];
        while let Some((path, host_path)) = pending.pop() {
            for entry in fs::read_dir(&host_path)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let child = format!("{path}/{name}");
                let meta = fs::symlink_metadata(entry.path())?;
                let kind = meta.file_type();
                if kind.is_dir() {
                    pending.push((child.clone(), entry.path()));
                } else if kind.is_char_device() && meta.rdev() == 0 {
                    facts.whiteouts.insert(child.clone());
                } else if kind.is_file() && meta.nlink() > 1 {
                    facts.hard_links.insert(child.clone());
                }
            }
        }
    }
    // What the lowers alone show, by the lookup rules: top first, a whiteout or a
    // non-directory ends the search, directories merge down to the first opaque one.
    let roots: Vec<std::path::PathBuf> = lowers.to_vec();
    merge_lower_dirs(String::new(), &roots, &mut facts.top_types)?;
    Ok(facts)
}

/// Records the type of each entry visible in the merged lower directory `path`, made of
/// `dirs` (top first), and of every merged subdirectory below it: an explicit stack of the
/// directories still to read, as deep as the layers nest them.
fn merge_lower_dirs(
    path: String,
    dirs: &[std::path::PathBuf],
    top_types: &mut std::collections::BTreeMap<String, char>,
) -> Result<()> {
    let mut pending = vec![(path, dirs.to_vec())];
    while let Some((path, dirs)) = pending.pop() {
        let mut names = std::collections::BTreeSet::new();
        for dir in &dirs {
            for entry in fs::read_dir(dir)? {
                names.insert(entry?.file_name());
            }
        }
        for name in names {
            let child = format!("{path}/{}", name.to_string_lossy());
            let mut subdirs = Vec::new();
            for dir in &dirs {
                let Ok(meta) = fs::symlink_metadata(dir.join(&name)) else {
                    continue;
                };
                let kind = meta.file_type();
                if kind.is_dir() {
                    top_types.entry(child.clone()).or_insert('d');
                    subdirs.push(dir.join(&name));
                    if matches!(xattr::get(dir.join(&name), OPAQUE_XATTR), Ok(Some(value)) if value == b"y")
                    {
                        break;
                    }
                    continue;
                }
                if subdirs.is_empty() {
                    let letter = if kind.is_char_device() && meta.rdev() == 0 {
                        'w'
                    } else {
                        type_letter(HostFileType::from_raw_mode(meta.mode()))
                    };
                    top_types.insert(child.clone(), letter);
                }
                break;
            }
            if !subdirs.is_empty() {
                pending.push((child, subdirs));
            }
        }
    }
    Ok(())
}

/// The raw listing of the project's upper directory, read through the VFS interface.
///
/// # Errors
/// Whatever the upper filesystem returns.
pub fn our_upper_tree(dir: &Arc<dyn Inode>) -> Result<Vec<String>, overlay_core::Errno> {
    let mut lines = Vec::new();
    let mut pending = vec![("/".to_string(), dir.clone())];
    while let Some((path, inode)) = pending.pop() {
        let meta = inode.metadata()?;
        let none = || "-".to_string();
        let (letter, size, digest) = match meta.kind {
            FileType::Directory => {
                let mut names = Vec::new();
                inode.readdir(0, &mut |entry| {
                    names.push(entry.name.to_string());
                    true
                })?;
                for name in names {
                    pending.push((join(&path, &name), inode.lookup(&name)?));
                }
                let opaque = matches!(inode.get_xattr(OPAQUE_XATTR), Ok(value) if value == b"y");
                (if opaque { 'o' } else { 'd' }, none(), none())
            }
            FileType::Regular => {
                let mut content = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let count = inode.read_at(content.len() as u64, &mut chunk)?;
                    if count == 0 {
                        break;
                    }
                    content.extend_from_slice(&chunk[..count]);
                }
                ('f', meta.size.to_string(), short_digest(&content))
            }
            FileType::Symlink => {
                let target = inode.readlink()?;
                (
                    'l',
                    target.len().to_string(),
                    short_digest(target.as_bytes()),
                )
            }
            FileType::CharDevice if meta.rdev == DeviceId::default() => ('w', none(), none()),
            FileType::CharDevice | FileType::BlockDevice => (
                meta.kind.letter(),
                none(),
                format!("{}:{}", meta.rdev.major, meta.rdev.minor),
            ),
            FileType::Fifo | FileType::Socket => (meta.kind.letter(), none(), none()),
        };
        let entry = RawEntry {
            letter,
            mode: u32::from(meta.mode & 0o7777),
            uid: meta.uid,
            gid: meta.gid,
            size,
            digest,
        };
        lines.push((path.clone(), entry.line(&path)));
    }
    Ok(sorted(lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_the_shell() {
        // SHA-256("abc") = ba7816bf8f01cfea...
        assert_eq!(short_digest(b"abc"), "ba7816bf8f01cfea");
    }

    #[test]
    fn lower_layers_1000_directories_deep_are_merged_on_a_small_stack() {
        let scratch = std::env::temp_dir().join(format!("difftest-listing-{}", std::process::id()));
        let (top, bottom) = (scratch.join("top"), scratch.join("bottom"));
        let deep: std::path::PathBuf = std::iter::repeat_n("d", 1000).collect();
        fs::create_dir_all(top.join(&deep)).unwrap();
        fs::create_dir_all(bottom.join(&deep)).unwrap();
        fs::write(bottom.join(&deep).join("f"), b"bottom").unwrap();
        let lowers = vec![top, bottom];
        // 256 KiB: a frame per level would not fit.
        let facts = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || lower_facts(&lowers).unwrap())
            .unwrap()
            .join()
            .unwrap();
        let _ = fs::remove_dir_all(&scratch);
        let mut expected = std::collections::BTreeMap::new();
        let mut path = String::new();
        for _ in 0..1000 {
            path.push_str("/d");
            expected.insert(path.clone(), 'd');
        }
        expected.insert(format!("{path}/f"), 'f');
        assert_eq!(facts.top_types, expected);
    }
}
