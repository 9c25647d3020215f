//! A layer directory as a layer tar, the same bytes on every machine.
//!
//! Git keeps neither owners, times, nor modes beyond the execute bit, so the tar keeps only
//! what a checkout reproduces: names (sorted bytewise, parents before children), file types,
//! contents, symlink targets, hard links, and modes normalised to `0755` (directories, and
//! files with any execute bit) or `0644` (other files); owner `0:0` and mtime 0 throughout.
//! Device nodes and fifos (which git cannot hold, but a layer directory on disk may) keep
//! their permission bits and device numbers.
//!
//! Whiteouts are written as they are found: a file `.wh.NAME` in the directory is the OCI
//! whiteout of `NAME`, and `.wh..wh..opq` marks its directory opaque. Both must be empty.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context, Result};
use overlay_core::overlay::whiteout::OCI_WHITEOUT_PREFIX;

use crate::host_layer::sorted_entries;

/// A GNU header with mode, size, owner 0:0 and mtime 0; GNU so that long names and link
/// targets get `L`/`K` entries.
pub(crate) fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

/// The layer tar of the tree under `dir` (not including `dir` itself).
pub fn layer_dir_tar(dir: &Path) -> Result<Vec<u8>> {
    layer_dir_tar_at(dir, "/")
}

/// The layer tar of the tree under `dir`, placed at the absolute path `dst` of the image:
/// a directory entry (0755) for each component of `dst`, then the tree under it. With `dst`
/// `/`, the same bytes as [`layer_dir_tar`].
pub fn layer_dir_tar_at(dir: &Path, dst: &str) -> Result<Vec<u8>> {
    let meta = fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let mut packer = Packer {
        builder: tar::Builder::new(Vec::new()),
        hard_links: HashMap::new(),
    };
    let mut prefix = String::new();
    for component in dst.split('/').filter(|c| !c.is_empty()) {
        prefix.push_str(component);
        prefix.push('/');
        let mut header = header(tar::EntryType::Directory, 0o755, 0);
        packer
            .builder
            .append_data(&mut header, &prefix, std::io::empty())?;
    }
    packer.add_children(dir, &prefix)?;
    Ok(packer.builder.into_inner()?)
}

struct Packer {
    builder: tar::Builder<Vec<u8>>,
    /// Host (device, inode) of files with several links -> the first path written.
    hard_links: HashMap<(u64, u64), String>,
}

impl Packer {
    /// Packs the tree under `dir` at the archive paths under `prefix`: parents before
    /// children, each directory's names sorted bytewise. An explicit stack of the directories
    /// being packed (each with the entries it has left), not recursion: a layer directory
    /// nests as deep as its author made it.
    fn add_children(&mut self, dir: &Path, prefix: &str) -> Result<()> {
        let mut levels = vec![(sorted_entries(dir)?.into_iter(), prefix.to_string())];
        while let Some((entries, prefix)) = levels.last_mut() {
            let Some(entry) = entries.next() else {
                levels.pop();
                continue;
            };
            let path = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                bail!("{}: the name is not UTF-8", path.display());
            };
            let archive_path = format!("{prefix}{name}");
            let packing = || format!("packing {}", path.display());
            if let Some(dir_prefix) = self.add(&path, name, &archive_path).with_context(packing)? {
                let entries = sorted_entries(&path).with_context(packing)?;
                levels.push((entries.into_iter(), dir_prefix));
            }
        }
        Ok(())
    }

    /// Writes the entry at `path` as `archive_path`; for a directory, returns the prefix of
    /// its entries' archive paths (its entries are the caller's to add).
    fn add(&mut self, path: &Path, name: &str, archive_path: &str) -> Result<Option<String>> {
        let meta = fs::symlink_metadata(path)?;
        let kind = meta.file_type();
        if name.starts_with(OCI_WHITEOUT_PREFIX) && !(kind.is_file() && meta.len() == 0) {
            bail!("a whiteout ({name}) must be an empty file");
        }
        if !kind.is_dir() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.hard_links.get(&key) {
                let mut header = header(tar::EntryType::Link, 0o644, 0);
                self.builder.append_link(&mut header, archive_path, first)?;
                return Ok(None);
            }
            self.hard_links.insert(key, archive_path.to_string());
        }
        let permissions = meta.permissions().mode();
        if kind.is_dir() {
            let mut header = header(tar::EntryType::Directory, 0o755, 0);
            let dir_path = format!("{archive_path}/");
            self.builder
                .append_data(&mut header, &dir_path, std::io::empty())?;
            return Ok(Some(dir_path));
        } else if kind.is_file() {
            let mode = if permissions & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            let content = fs::read(path)?;
            let mut header = header(tar::EntryType::Regular, mode, content.len() as u64);
            self.builder
                .append_data(&mut header, archive_path, content.as_slice())?;
        } else if kind.is_symlink() {
            let target = fs::read_link(path)?;
            let mut header = header(tar::EntryType::Symlink, 0o777, 0);
            self.builder
                .append_link(&mut header, archive_path, target)?;
        } else if kind.is_char_device() || kind.is_block_device() || kind.is_fifo() {
            let entry_type = if kind.is_char_device() {
                tar::EntryType::Char
            } else if kind.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            };
            let mut header = header(entry_type, permissions & 0o7777, 0);
            if !kind.is_fifo() {
                let (major, minor) = device_numbers(meta.rdev());
                header.set_device_major(major)?;
                header.set_device_minor(minor)?;
            }
            self.builder
                .append_data(&mut header, archive_path, std::io::empty())?;
        } else {
            bail!("a socket cannot be stored in a tar");
        }
        Ok(None)
    }
}

/// Splits a Linux `dev_t` into major and minor numbers (glibc's `major()`/`minor()`).
fn device_numbers(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & 0xffff_f000);
    let minor = (rdev & 0xff) | ((rdev >> 12) & 0xffff_ff00);
    (major as u32, minor as u32)
}
