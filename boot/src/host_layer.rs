//! Host directories as read-only layers: a directory tree copied into a tmpfs, keeping file
//! types (device nodes and fifos included), modes, owners, times, hard links and the xattrs the
//! process can read. Linux overlayfs whiteouts (character devices 0/0) and opaque markers
//! (`trusted.overlay.opaque`) come along as they are, so a directory prepared for
//! `mount -t overlay` is the same layer here.
//!
//! The layer lives in memory, so file data is copied with its holes left out: the data
//! extents the host reports (`SEEK_DATA`/`SEEK_HOLE`) are read a chunk at a time and only
//! their pages that are not all zeros are stored (the tmpfs reads a page it lacks as zeros).
//! A sparse file costs what it holds, not its size. All files of one layer together may hold
//! at most [`MAX_LAYER_DATA_BYTES`] of such data; a tree holding more is refused with an
//! error naming the file where it went over.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::vfs::{DeviceId, FileSystem, FileType, Inode, NewNode, SetAttr, Timespec};

/// Most bytes of file data one host layer holds in memory (pages that are not all zeros,
/// all its files together): 1 GiB.
pub const MAX_LAYER_DATA_BYTES: u64 = 1 << 30;

/// Bytes read from a host file at a time.
const CHUNK_BYTES: usize = 1 << 20;

/// Size of the pages whose zeros are left out (the tmpfs page size).
const PAGE_BYTES: usize = overlay_core::tmpfs::PAGE_SIZE;

/// Loads the tree under `dir` into a new tmpfs and makes it read-only.
///
/// # Errors
/// A file that cannot be read, a name or symlink target that is not UTF-8, or more than
/// [`MAX_LAYER_DATA_BYTES`] of file data.
pub fn load_host_dir(dir: &Path) -> Result<Arc<TmpFs>> {
    load_within(dir, MAX_LAYER_DATA_BYTES)
}

/// [`load_host_dir`] with at most `max_data_bytes` of file data.
fn load_within(dir: &Path, max_data_bytes: u64) -> Result<Arc<TmpFs>> {
    let meta = fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    if !meta.is_dir() {
        return Err(anyhow!("{} is not a directory", dir.display()));
    }
    let layer = TmpFs::new(TmpFsOptions::default());
    let root = layer.root();
    let mut loader = Loader {
        hard_links: HashMap::new(),
        data_bytes: 0,
        max_data_bytes,
    };
    loader.copy_children(dir, &root)?;
    copy_attributes(dir, &meta, &*root)?;
    layer.set_read_only(true);
    Ok(layer)
}

struct Loader {
    /// Host (device, inode) of files with several links -> the first copy made of them.
    hard_links: HashMap<(u64, u64), Arc<dyn Inode>>,
    /// Bytes of file data stored so far.
    data_bytes: u64,
    /// How many `data_bytes` may reach.
    max_data_bytes: u64,
}

/// A directory [`Loader::copy_children`] is copying.
struct Level {
    /// Its host entries still to copy.
    entries: std::vec::IntoIter<fs::DirEntry>,
    /// Its copy.
    into: Arc<dyn Inode>,
    /// Its host path and metadata, whose attributes its copy gets once its entries are in
    /// (`None` for the directory `copy_children` was given).
    attributes: Option<(std::path::PathBuf, fs::Metadata)>,
}

impl Loader {
    /// Copies the tree under `dir` into `into`. An explicit stack of the directories being
    /// copied, not recursion: a host tree nests as deep as its author made it.
    fn copy_children(&mut self, dir: &Path, into: &Arc<dyn Inode>) -> Result<()> {
        let mut levels = vec![Level {
            entries: sorted_entries(dir)?.into_iter(),
            into: into.clone(),
            attributes: None,
        }];
        while let Some(level) = levels.last_mut() {
            let Some(entry) = level.entries.next() else {
                if let Some(Level {
                    into,
                    attributes: Some((path, meta)),
                    ..
                }) = levels.pop()
                {
                    // Last, so the times are not changed by the entries made in it.
                    copy_attributes(&path, &meta, &*into)
                        .with_context(|| format!("loading {}", path.display()))?;
                }
                continue;
            };
            let into = level.into.clone();
            let path = entry.path();
            let name = entry.file_name();
            let name = name
                .to_str()
                .ok_or_else(|| anyhow!("{} is not UTF-8", path.display()))?;
            let loading = || format!("loading {}", path.display());
            if let Some((created, meta)) =
                self.copy_entry(&path, name, &into).with_context(loading)?
            {
                let entries = sorted_entries(&path).with_context(loading)?;
                levels.push(Level {
                    entries: entries.into_iter(),
                    into: created,
                    attributes: Some((path, meta)),
                });
            }
        }
        Ok(())
    }

    /// Copies the entry at `path` into `into` as `name`. A directory is only created: it is
    /// returned with its metadata, for the caller to fill and then give its attributes.
    fn copy_entry(
        &mut self,
        path: &Path,
        name: &str,
        into: &Arc<dyn Inode>,
    ) -> Result<Option<(Arc<dyn Inode>, fs::Metadata)>> {
        let meta = fs::symlink_metadata(path)?;
        let kind = meta.file_type();
        if !kind.is_dir() && meta.nlink() > 1 {
            if let Some(first) = self.hard_links.get(&(meta.dev(), meta.ino())) {
                into.link(name, &**first)?;
                return Ok(None);
            }
        }
        let mode = (meta.mode() & 0o7777) as u16;
        let node = |kind| NewNode::new(kind, mode, meta.uid(), meta.gid());
        let created = if kind.is_dir() {
            let created = into.create(name, &node(FileType::Directory))?;
            return Ok(Some((created, meta)));
        } else if kind.is_symlink() {
            let target = fs::read_link(path)?;
            let target = target
                .to_str()
                .ok_or_else(|| anyhow!("symlink target is not UTF-8"))?;
            into.symlink(name, target, meta.uid(), meta.gid())?
        } else if kind.is_file() {
            let created = into.create(name, &node(FileType::Regular))?;
            self.copy_data(path, meta.len(), &*created)?;
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
        Ok(None)
    }
}

/// The entries of the host directory `dir`, sorted by name.
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    Ok(entries)
}

impl Loader {
    /// Copies the data of the host file `path` (`len` bytes) into `to`: its data extents,
    /// chunk by chunk, leaving out pages of zeros.
    fn copy_data(&mut self, path: &Path, len: u64, to: &dyn Inode) -> Result<()> {
        let file = fs::File::open(path)?;
        to.set_len(len)?;
        let mut chunk = vec![0u8; CHUNK_BYTES];
        let mut offset = 0;
        while offset < len {
            let Some((start, end)) = next_extent(&file, offset, len) else {
                break;
            };
            offset = start;
            while offset < end {
                let want =
                    usize::try_from(end - offset).map_or(CHUNK_BYTES, |n| n.min(CHUNK_BYTES));
                let read = file.read_at(&mut chunk[..want], offset)?;
                if read == 0 {
                    // The file shrank while being read: the rest reads as zeros.
                    return Ok(());
                }
                self.store_pages(&chunk[..read], offset, to)?;
                offset += read as u64;
            }
        }
        Ok(())
    }

    /// Writes the pages of `data` (read at `offset`) that are not all zeros, each run of
    /// them in one write.
    fn store_pages(&mut self, data: &[u8], offset: u64, to: &dyn Inode) -> Result<()> {
        let mut run: Option<usize> = None;
        for (index, page) in data.chunks(PAGE_BYTES).enumerate() {
            let start = index * PAGE_BYTES;
            match (page.iter().any(|&byte| byte != 0), run) {
                (true, None) => run = Some(start),
                (false, Some(run_start)) => {
                    self.store(&data[run_start..start], offset + run_start as u64, to)?;
                    run = None;
                }
                _ => {}
            }
        }
        match run {
            Some(run_start) => self.store(&data[run_start..], offset + run_start as u64, to),
            None => Ok(()),
        }
    }

    /// Writes `bytes` at `offset`, counting them against the layer's limit.
    fn store(&mut self, bytes: &[u8], offset: u64, to: &dyn Inode) -> Result<()> {
        self.data_bytes += bytes.len() as u64;
        if self.data_bytes > self.max_data_bytes {
            return Err(anyhow!(
                "the layer's files hold more than {} bytes of data \
                 (pages not all zeros), more than a host layer, kept in memory, may hold",
                self.max_data_bytes
            ));
        }
        if to.write_at(offset, bytes)? != bytes.len() {
            return Err(anyhow!("short write into the layer"));
        }
        Ok(())
    }
}

/// The next data extent of `file` at or after `offset`, as `(start, end)` clipped to `len`;
/// `None` if only a hole is left. Where the host cannot tell holes, all the rest is data.
fn next_extent(file: &fs::File, offset: u64, len: u64) -> Option<(u64, u64)> {
    use rustix::fs::{seek, SeekFrom};
    let start = match seek(file, SeekFrom::Data(offset)) {
        Ok(start) => start,
        Err(rustix::io::Errno::NXIO) => return None,
        Err(_) => return Some((offset, len)),
    };
    if start >= len {
        return None;
    }
    let end = seek(file, SeekFrom::Hole(start)).unwrap_or(len).min(len);
    Some((start, end))
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

    #[test]
    fn a_tree_1000_directories_deep_loads_on_a_small_stack_with_its_modes() {
        let dir = std::env::temp_dir().join(format!("host-layer-deep-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let deep: std::path::PathBuf = std::iter::repeat_n("d", 1000).collect();
        fs::create_dir_all(dir.join(&deep)).unwrap();
        fs::write(dir.join(&deep).join("f"), b"bottom").unwrap();
        let private = <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700);
        fs::set_permissions(dir.join(&deep), private).unwrap();
        let host = dir.clone();
        // 256 KiB: a frame per level would not fit.
        let layer = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || load_host_dir(&host).unwrap())
            .unwrap()
            .join()
            .unwrap();
        let mut node = layer.root();
        for _ in 0..1000 {
            node = node.lookup("d").unwrap();
        }
        assert_eq!(node.metadata().unwrap().mode, 0o700);
        let mut bytes = [0; 6];
        node.lookup("f").unwrap().read_at(0, &mut bytes).unwrap();
        assert_eq!(&bytes, b"bottom");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sparse_files_cost_their_data_not_their_size() {
        let dir = std::env::temp_dir().join(format!("host-layer-sparse-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let gib = 1u64 << 30;
        let file = fs::File::create(dir.join("disk.img")).unwrap();
        file.set_len(gib).unwrap();
        file.write_all_at(b"head", 0).unwrap();
        // A run of explicit zeros is stored as a hole too.
        file.write_all_at(&[0; 3 * PAGE_BYTES], 1 << 20).unwrap();
        file.write_all_at(b"tail", gib - 4).unwrap();
        drop(file);
        let layer = load_host_dir(&dir).unwrap();
        let disk = layer.root().lookup("disk.img").unwrap();
        assert_eq!(disk.metadata().unwrap().size, gib);
        assert!(
            layer.used_bytes() <= 4 * PAGE_BYTES as u64,
            "{}",
            layer.used_bytes()
        );
        let mut bytes = [0xaa; 8];
        disk.read_at(0, &mut bytes).unwrap();
        assert_eq!(&bytes, b"head\0\0\0\0");
        disk.read_at((1 << 20) - 2, &mut bytes).unwrap();
        assert_eq!(bytes, [0; 8]);
        assert_eq!(disk.read_at(gib - 8, &mut bytes).unwrap(), 8);
        assert_eq!(&bytes, b"\0\0\0\0tail");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_tree_with_more_data_than_the_limit_is_refused() {
        let dir = std::env::temp_dir().join(format!("host-layer-limit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("a"), vec![1u8; 3 * PAGE_BYTES]).unwrap();
        fs::write(dir.join("b"), vec![1u8; 2 * PAGE_BYTES]).unwrap();
        assert!(load_within(&dir, 5 * PAGE_BYTES as u64).is_ok());
        let error = format!(
            "{:#}",
            load_within(&dir, 4 * PAGE_BYTES as u64).unwrap_err()
        );
        assert!(
            error.starts_with(&format!("loading {}", dir.join("b").display())),
            "{error}"
        );
        assert!(error.ends_with(&format!("more than {} bytes of data (pages not all zeros), more than a host layer, kept in memory, may hold", 4 * PAGE_BYTES)), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
