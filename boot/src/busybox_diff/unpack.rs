//! An OCI layer tar unpacked into a host directory that Linux overlayfs takes as a `lowerdir`:
//! the OCI whiteout encoding turned into overlayfs's own, as Docker's overlay2 driver applies a
//! layer.
//!
//! - a file `DIR/.wh.NAME` becomes `DIR/NAME`, a character device 0/0 with mode 0 (the Linux
//!   whiteout);
//! - a file `DIR/.wh..wh..opq` becomes the xattr `trusted.overlay.opaque=y` on `DIR`;
//! - everything else keeps its type, permission bits (the umask does not apply), owner and
//!   modification time; hard links stay one file.
//!
//! Paths must stay inside the layer: an absolute path is taken relative to the layer's root,
//! a `..` component is refused. Device nodes and `trusted.*` xattrs need root.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use overlay_core::overlay::whiteout::OCI_WHITEOUT_PREFIX;
use rustix::fs::{AtFlags, FileType as HostFileType, Mode, Timespec, Timestamps, CWD};

use crate::difftest::case::OPAQUE_XATTR;

/// The name OCI gives to the marker of an opaque directory.
const OCI_OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Unpacks the uncompressed layer `tar` into the existing, empty directory `dir`.
///
/// # Errors
/// A malformed tar, a path that leaves the layer, an entry type that is not a file,
/// directory, symlink, hard link, device node or fifo, or whatever the host refuses.
pub fn unpack_layer(tar: &[u8], dir: &Path) -> Result<()> {
    let mut archive = tar::Archive::new(tar);
    // Modification times are set last, children before parents, since making an entry
    // changes its directory's time.
    let mut times: Vec<(PathBuf, i64)> = Vec::new();
    for entry in archive.entries().context("reading the layer tar")? {
        let mut entry = entry.context("reading the layer tar")?;
        let raw_path = entry.path().context("an entry's path")?.into_owned();
        let relative = inside(&raw_path)?;
        if relative.as_os_str().is_empty() {
            // The layer's root itself (`./`): its metadata is the image's, not the layer's.
            continue;
        }
        let path = dir.join(&relative);
        let name = relative
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| anyhow!("{}: the name is not UTF-8", raw_path.display()))?
            .to_string();
        let parent = path.parent().unwrap_or(dir).to_path_buf();
        fs::create_dir_all(&parent).with_context(|| format!("making {}", parent.display()))?;
        if name == OCI_OPAQUE_MARKER {
            xattr::set(&parent, OPAQUE_XATTR, b"y")
                .with_context(|| format!("marking {} opaque", parent.display()))?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(OCI_WHITEOUT_PREFIX) {
            let whiteout = parent.join(hidden);
            remove_existing(&whiteout)?;
            node(&whiteout, HostFileType::CharacterDevice, 0, 0, 0)?;
            continue;
        }
        let header = entry.header().clone();
        let mode = header.mode().context("an entry's mode")? & 0o7777;
        let kind = header.entry_type();
        if !kind.is_dir() {
            remove_existing(&path)?;
        }
        match kind {
            tar::EntryType::Directory => {
                if !path.is_dir() {
                    fs::create_dir(&path).with_context(|| format!("making {}", path.display()))?;
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut file = fs::File::create(&path)
                    .with_context(|| format!("making {}", path.display()))?;
                std::io::copy(&mut entry, &mut file)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .context("a symlink's target")?
                    .ok_or_else(|| anyhow!("{}: a symlink without a target", raw_path.display()))?;
                std::os::unix::fs::symlink(&target, &path)
                    .with_context(|| format!("making the symlink {}", path.display()))?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .context("a hard link's target")?
                    .ok_or_else(|| {
                        anyhow!("{}: a hard link without a target", raw_path.display())
                    })?;
                let existing = dir.join(inside(&target)?);
                fs::hard_link(&existing, &path).with_context(|| {
                    format!("linking {} to {}", path.display(), existing.display())
                })?;
                // The link shares the first name's metadata, set when that name was made.
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let host_kind = match kind {
                    tar::EntryType::Char => HostFileType::CharacterDevice,
                    tar::EntryType::Block => HostFileType::BlockDevice,
                    _ => HostFileType::Fifo,
                };
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                node(&path, host_kind, mode, major, minor)?;
            }
            other => bail!(
                "{}: unsupported tar entry type {other:?}",
                raw_path.display()
            ),
        }
        let uid = u32::try_from(header.uid().context("an entry's uid")?)
            .map_err(|_| anyhow!("{}: uid out of range", raw_path.display()))?;
        let gid = u32::try_from(header.gid().context("an entry's gid")?)
            .map_err(|_| anyhow!("{}: gid out of range", raw_path.display()))?;
        std::os::unix::fs::lchown(&path, Some(uid), Some(gid))
            .with_context(|| format!("chown {}", path.display()))?;
        if kind != tar::EntryType::Symlink {
            // After chown, which clears the set-id bits.
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .with_context(|| format!("chmod {}", path.display()))?;
        }
        let mtime = i64::try_from(header.mtime().unwrap_or(0)).unwrap_or(0);
        times.push((path, mtime));
    }
    for (path, seconds) in times.iter().rev() {
        let time = Timespec {
            tv_sec: *seconds,
            tv_nsec: 0,
        };
        let stamps = Timestamps {
            last_access: time,
            last_modification: time,
        };
        rustix::fs::utimensat(CWD, path, &stamps, AtFlags::SYMLINK_NOFOLLOW)
            .with_context(|| format!("setting the time of {}", path.display()))?;
    }
    Ok(())
}

/// `path` (from a tar) relative to the layer's root, refused if it could leave the layer.
fn inside(path: &Path) -> Result<PathBuf> {
    let mut relative = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                bail!("{}: the path leaves the layer", path.display())
            }
        }
    }
    Ok(relative)
}

/// Removes what a later entry of the same layer replaces (not a directory).
fn remove_existing(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            fs::remove_dir_all(path).with_context(|| format!("replacing {}", path.display()))
        }
        Ok(_) => fs::remove_file(path).with_context(|| format!("replacing {}", path.display())),
        Err(_) => Ok(()),
    }
}

/// A device node or fifo at `path` with exactly `mode`.
fn node(path: &Path, kind: HostFileType, mode: u32, major: u32, minor: u32) -> Result<()> {
    let device = rustix::fs::makedev(major, minor);
    rustix::fs::mknodat(CWD, path, kind, Mode::from_raw_mode(mode), device)
        .with_context(|| format!("mknod {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_layer() {
        assert_eq!(inside(Path::new("./a/b")).unwrap(), Path::new("a/b"));
        assert_eq!(
            inside(Path::new("/etc/motd")).unwrap(),
            Path::new("etc/motd")
        );
        assert!(inside(Path::new("a/../../b")).is_err());
        assert_eq!(inside(Path::new("./")).unwrap(), Path::new(""));
    }
}
