//! Host directories as read-only layers: a directory tree copied into a tmpfs, keeping file
//! types (device nodes and fifos included), modes, owners, times, hard links and the xattrs the
//! process can read. Linux overlayfs whiteouts (character devices 0/0) and opaque markers
//! (`trusted.overlay.opaque`) come along as they are, so a directory prepared for
//! `mount -t overlay` is the same layer here.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::vfs::{DeviceId, FileSystem, FileType, Inode, NewNode, SetAttr, Timespec};

/// Loads the tree under `dir` into a new tmpfs and makes it read-only.
pub fn load_host_dir(dir: &Path) -> Result<Arc<TmpFs>> {
    let meta = fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    if !meta.is_dir() {
        return Err(anyhow!("{} is not a directory", dir.display()));
    }
    let layer = TmpFs::new(TmpFsOptions::default());
    let root = layer.root();
    let mut loader = Loader {
        hard_links: HashMap::new(),
    };
    loader.copy_children(dir, &root)?;
    copy_attributes(dir, &meta, &*root)?;
    layer.set_read_only(true);
    Ok(layer)
}

struct Loader {
    /// Host (device, inode) of files with several links -> the first copy made of them.
    hard_links: HashMap<(u64, u64), Arc<dyn Inode>>,
}

impl Loader {
    fn copy_children(&mut self, dir: &Path, into: &Arc<dyn Inode>) -> Result<()> {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name();
            let name = name
                .to_str()
                .ok_or_else(|| anyhow!("{} is not UTF-8", path.display()))?;
            self.copy_entry(&path, name, into)
                .with_context(|| format!("loading {}", path.display()))?;
        }
        Ok(())
    }

    fn copy_entry(&mut self, path: &Path, name: &str, into: &Arc<dyn Inode>) -> Result<()> {
        let meta = fs::symlink_metadata(path)?;
        let kind = meta.file_type();
        if !kind.is_dir() && meta.nlink() > 1 {
            if let Some(first) = self.hard_links.get(&(meta.dev(), meta.ino())) {
                into.link(name, &**first)?;
                return Ok(());
            }
        }
        let mode = (meta.mode() & 0o7777) as u16;
        let node = |kind| NewNode::new(kind, mode, meta.uid(), meta.gid());
        let created = if kind.is_dir() {
            let created = into.create(name, &node(FileType::Directory))?;
            self.copy_children(path, &created)?;
            created
        } else if kind.is_symlink() {
            let target = fs::read_link(path)?;
            let target = target
                .to_str()
                .ok_or_else(|| anyhow!("symlink target is not UTF-8"))?;
            into.symlink(name, target, meta.uid(), meta.gid())?
        } else if kind.is_file() {
            let created = into.create(name, &node(FileType::Regular))?;
            let content = fs::read(path)?;
            let written = created.write_at(0, &content)?;
            if written != content.len() {
                return Err(anyhow!("short write into the layer"));
            }
            created
        } else {
            let file_type = if kind.is_char_device() {
                FileType::CharDevice
            } else if kind.is_block_device() {
                FileType::BlockDevice
            } else if kind.is_fifo() {
                FileType::Fifo
            } else {
                FileType::Socket
            };
            let mut new = node(file_type);
            new.rdev = device_id(meta.rdev());
            into.create(name, &new)?
        };
        copy_attributes(path, &meta, &*created)?;
        if !kind.is_dir() && meta.nlink() > 1 {
            self.hard_links.insert((meta.dev(), meta.ino()), created);
        }
        Ok(())
    }
}

/// Copies the xattrs the process can read, then the times (last, so nothing changes them).
fn copy_attributes(path: &Path, meta: &fs::Metadata, to: &dyn Inode) -> Result<()> {
    if !meta.file_type().is_symlink() {
        // Attributes the process may not read (another user's `trusted.*`) are skipped.
        if let Ok(names) = xattr::list(path) {
            for name in names {
                let Some(name) = name.to_str() else { continue };
                if let Ok(Some(value)) = xattr::get(path, name) {
                    to.set_xattr(name, &value, Default::default())?;
                }
            }
        }
    }
    let time = |sec: i64, nsec: i64| Timespec {
        sec,
        nsec: nsec as u32,
    };
    to.set_attr(&SetAttr {
        atime: Some(time(meta.atime(), meta.atime_nsec())),
        mtime: Some(time(meta.mtime(), meta.mtime_nsec())),
        ..SetAttr::default()
    })?;
    Ok(())
}

/// Splits a Linux `dev_t` into major and minor numbers (glibc's `major()`/`minor()`).
fn device_id(rdev: u64) -> DeviceId {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & 0xffff_f000);
    let minor = (rdev & 0xff) | ((rdev >> 12) & 0xffff_ff00);
    DeviceId {
        major: major as u32,
        minor: minor as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_split_like_glibc() {
        assert_eq!(device_id(0x0103), DeviceId { major: 1, minor: 3 });
        assert_eq!(device_id(0), DeviceId { major: 0, minor: 0 });
        // glibc's makedev(0xabc123, 0x67845).
        let (major, minor) = (0xabc123u64, 0x67845u64);
        let dev = ((major & 0xffff_f000) << 32)
            | ((major & 0xfff) << 8)
            | ((minor & 0xffff_ff00) << 12)
            | (minor & 0xff);
        let expected = DeviceId {
            major: 0xabc123,
            minor: 0x67845,
        };
        assert_eq!(device_id(dev), expected);
    }

    #[test]
    fn loads_types_modes_links_and_markers() {
        let dir = std::env::temp_dir().join(format!("host-layer-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("etc")).unwrap();
        fs::write(dir.join("etc/config"), b"x=1\n").unwrap();
        fs::hard_link(dir.join("etc/config"), dir.join("etc/alias")).unwrap();
        std::os::unix::fs::symlink("config", dir.join("etc/link")).unwrap();
        let private = <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
        fs::set_permissions(dir.join("etc/config"), private).unwrap();
        let layer = load_host_dir(&dir).unwrap();
        let etc = layer.root().lookup("etc").unwrap();
        let config = etc.lookup("config").unwrap().metadata().unwrap();
        let alias = etc.lookup("alias").unwrap().metadata().unwrap();
        assert_eq!((config.mode, config.size, config.nlink), (0o600, 4, 2));
        assert_eq!(config.ino, alias.ino);
        assert_eq!(etc.lookup("link").unwrap().readlink().unwrap(), "config");
        assert!(layer
            .features()
            .contains(overlay_core::vfs::FsFeatures::READ_ONLY));
        fs::remove_dir_all(&dir).unwrap();
    }
}
