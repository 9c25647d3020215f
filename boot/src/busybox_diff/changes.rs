//! `docker diff` of a Linux overlayfs upper directory: `A PATH` (only the upper layer has it),
//! `C PATH` (the upper layer holds a new version of a path the lower layers show, directories
//! included) and `D PATH` (a whiteout of a path the lower layers show), sorted by path
//! bytewise: the lines the project's `diff` prints.
//!
//! The lower layers are looked at as overlayfs looks them up: top first, a whiteout or a
//! non-directory ends the search, directories merge down to the first opaque one. Below an
//! opaque upper directory nothing of the lowers shows.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::difftest::case::OPAQUE_XATTR;

/// The `docker diff` lines of `upper` over `lowers` (top first).
///
/// # Errors
/// Whatever reading the directories fails with.
pub fn docker_diff(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<String>> {
    let mut changes: Vec<(String, char)> = Vec::new();
    walk(upper, "", lowers, &mut changes)?;
    changes.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(changes
        .into_iter()
        .map(|(path, letter)| format!("{letter} {path}"))
        .collect())
}

/// What the lower directories `dirs` (top first, one merged directory) show at `name`.
enum LowerEntry {
    /// Nothing (absent, or whited out).
    Absent,
    /// A non-directory.
    Other,
    /// A directory, merged from these directories, top first.
    Dir(Vec<PathBuf>),
}

fn lookup(dirs: &[PathBuf], name: &std::ffi::OsStr) -> Result<LowerEntry> {
    let mut merged = Vec::new();
    for dir in dirs {
        let path = dir.join(name);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            let opaque = is_opaque(&path);
            merged.push(path);
            if opaque {
                break;
            }
            continue;
        }
        if !merged.is_empty() {
            // A non-directory below a directory is hidden by it.
            break;
        }
        if is_whiteout(&meta) {
            return Ok(LowerEntry::Absent);
        }
        return Ok(LowerEntry::Other);
    }
    Ok(if merged.is_empty() {
        LowerEntry::Absent
    } else {
        LowerEntry::Dir(merged)
    })
}

/// Adds the changes below the upper directory `upper_dir` (at `path`, over the merged lower
/// directories `lower_dirs`) to `changes`: an explicit stack of the directories still to read,
/// as deep as the upper layer nests them.
fn walk(
    upper_dir: &Path,
    path: &str,
    lower_dirs: &[PathBuf],
    changes: &mut Vec<(String, char)>,
) -> Result<()> {
    let mut pending = vec![(
        upper_dir.to_path_buf(),
        path.to_string(),
        lower_dirs.to_vec(),
    )];
    while let Some((upper_dir, path, lower_dirs)) = pending.pop() {
        for entry in
            fs::read_dir(&upper_dir).with_context(|| format!("reading {}", upper_dir.display()))?
        {
            let entry = entry?;
            let name = entry.file_name();
            let child = format!("{path}/{}", name.to_string_lossy());
            let meta = fs::symlink_metadata(entry.path())?;
            let below = lookup(&lower_dirs, &name)?;
            let in_lowers = !matches!(below, LowerEntry::Absent);
            if is_whiteout(&meta) {
                if in_lowers {
                    changes.push((child, 'D'));
                }
                continue;
            }
            changes.push((child.clone(), if in_lowers { 'C' } else { 'A' }));
            if meta.is_dir() {
                let child_lowers = match below {
                    LowerEntry::Dir(dirs) if !is_opaque(&entry.path()) => dirs,
                    _ => Vec::new(),
                };
                pending.push((entry.path(), child, child_lowers));
            }
        }
    }
    Ok(())
}

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    matches!(xattr::get(dir, OPAQUE_XATTR), Ok(Some(value)) if value == b"y")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory under the system's temporary directory, removed when dropped.
    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn an_upper_1000_directories_deep_is_diffed_on_a_small_stack() {
        let scratch = Scratch(
            std::env::temp_dir().join(format!("busybox-diff-changes-{}", std::process::id())),
        );
        let (upper, lower) = (scratch.0.join("upper"), scratch.0.join("lower"));
        fs::create_dir_all(lower.join("a")).unwrap();
        fs::write(lower.join("a/x"), b"lower").unwrap();
        let deep: PathBuf = std::iter::repeat_n("d", 1000).collect();
        fs::create_dir_all(upper.join("a").join(&deep)).unwrap();
        fs::write(upper.join("a/x"), b"upper").unwrap();
        let lowers = vec![lower];
        // 256 KiB: a frame per level would not fit.
        let diff = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || docker_diff(&upper, &lowers).unwrap())
            .unwrap()
            .join()
            .unwrap();
        let mut expected = vec![String::from("C /a")];
        let mut path = String::from("/a");
        for _ in 0..1000 {
            path.push_str("/d");
            expected.push(format!("A {path}"));
        }
        expected.push(String::from("C /a/x"));
        assert_eq!(diff, expected);
    }
}
