//! Packed RAM disks of OCI layouts, kept between runs. Packing a layout unpacks its gzip layers
//! and checks every digest, seconds for an image of a few hundred MiB; the layout is
//! content-addressed, so its `index.json` (with the ref asked for) names the image exactly, and
//! the RAM disk packed from it once serves every later boot.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use overlay_core::image::sha256_digest;

/// Changed whenever the way a layout is packed changes, so older RAM disks are not reused.
const FORMAT: &str = "boot ramdisk cache 1";

/// How many packed RAM disks a cache keeps unless told otherwise: the most recently used.
pub const DEFAULT_ENTRIES: usize = 3;

/// A directory of packed RAM disks, `<key>.tar` each.
#[derive(Debug, Clone)]
pub struct RamdiskCache {
    dir: PathBuf,
    entries: usize,
}

/// Where a RAM disk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Packed before: the file was used as it was.
    Cached,
    /// Packed now, and kept.
    Packed,
}

impl RamdiskCache {
    /// The cache in `dir`, keeping the [`DEFAULT_ENTRIES`] most recently used RAM disks.
    pub fn new(dir: &Path) -> RamdiskCache {
        RamdiskCache {
            dir: dir.to_path_buf(),
            entries: DEFAULT_ENTRIES,
        }
    }

    /// `<cargo target dir>/ramdisk-cache`.
    pub fn in_target_dir() -> RamdiskCache {
        RamdiskCache::new(&crate::target_dir().join("ramdisk-cache"))
    }

    /// Where the RAM disk of the layout `layout_dir` (the image `ref_name`, or the first) is
    /// kept: named after the SHA-256 of its `index.json`, the ref and the packing format.
    ///
    /// # Errors
    /// When `index.json` cannot be read.
    pub fn path_for(&self, layout_dir: &Path, ref_name: Option<&str>) -> Result<PathBuf> {
        let index_path = layout_dir.join("index.json");
        let index =
            fs::read(&index_path).with_context(|| format!("reading {}", index_path.display()))?;
        let mut key = Vec::from(FORMAT.as_bytes());
        key.push(0);
        key.extend_from_slice(ref_name.unwrap_or("").as_bytes());
        key.push(0);
        key.extend_from_slice(&index);
        let digest = sha256_digest(&key);
        let hex = digest.strip_prefix("sha256:").unwrap_or(&digest);
        Ok(self.dir.join(format!("{hex}.tar")))
    }

    /// The RAM disk of the layout `layout_dir`: the kept one if there is one, else the file
    /// `pack` writes (to the path it is given), then kept. Older RAM disks beyond the number
    /// this cache keeps are removed.
    ///
    /// # Errors
    /// What `pack` returns; when `index.json` cannot be read or the packed file not kept.
    pub fn get_or_pack(
        &self,
        layout_dir: &Path,
        ref_name: Option<&str>,
        pack: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<(PathBuf, Source)> {
        let path = self.path_for(layout_dir, ref_name)?;
        if path.is_file() {
            // Marks it as used now, for the eviction; a failure only makes it look older.
            let _ = fs::File::options()
                .append(true)
                .open(&path)
                .and_then(|file| file.set_modified(SystemTime::now()));
            return Ok((path, Source::Cached));
        }
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let partial = path.with_extension("tar.partial");
        pack(&partial)?;
        fs::rename(&partial, &path)
            .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;
        self.evict();
        Ok((path, Source::Packed))
    }

    /// Removes all but the most recently used RAM disks; what cannot be removed stays (the
    /// cache only saves time).
    fn evict(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut packed: Vec<(SystemTime, PathBuf)> = entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let modified = entry.metadata().ok()?.modified().ok()?;
                let path = entry.path();
                (path.extension()? == "tar").then_some((modified, path))
            })
            .collect();
        packed.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
        for (_, path) in packed.into_iter().skip(self.entries) {
            let _ = fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ramdisk-cache-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_layout_is_packed_once_then_served_from_the_cache() {
        let dir = scratch("once");
        let layout = dir.join("layout");
        fs::create_dir_all(&layout).unwrap();
        fs::write(layout.join("index.json"), "{\"manifests\":[]}").unwrap();
        let cache = RamdiskCache::new(&dir.join("cache"));
        let pack = |path: &Path| Ok(fs::write(path, b"packed")?);
        let (first, source) = cache.get_or_pack(&layout, None, pack).unwrap();
        assert_eq!(source, Source::Packed);
        let (second, source) = cache
            .get_or_pack(&layout, None, |_| panic!("packed twice"))
            .unwrap();
        assert_eq!(
            (second.as_path(), source),
            (first.as_path(), Source::Cached)
        );
        assert_eq!(fs::read(&second).unwrap(), b"packed");
        // Another ref, or a changed index, is another image.
        let (other, source) = cache.get_or_pack(&layout, Some("v2"), pack).unwrap();
        assert_eq!(source, Source::Packed);
        assert_ne!(other, first);
        fs::write(layout.join("index.json"), "{\"manifests\":[{}]}").unwrap();
        assert_ne!(cache.path_for(&layout, None).unwrap(), first);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_the_most_recently_used_ram_disks_are_kept() {
        let dir = scratch("evict");
        let mut cache = RamdiskCache::new(&dir.join("cache"));
        cache.entries = 2;
        let mut kept = Vec::new();
        for index in 0..3 {
            let layout = dir.join(format!("layout{index}"));
            fs::create_dir_all(&layout).unwrap();
            fs::write(layout.join("index.json"), format!("{index}")).unwrap();
            let (path, _) = cache
                .get_or_pack(&layout, None, |path| Ok(fs::write(path, b"x")?))
                .unwrap();
            // Modification times may be coarse: the newest must be clearly newest.
            let newer = SystemTime::now() + std::time::Duration::from_secs(index);
            fs::File::options()
                .append(true)
                .open(&path)
                .unwrap()
                .set_modified(newer)
                .unwrap();
            kept.push(path);
        }
        cache.evict();
        assert!(!kept[0].exists());
        assert!(kept[1].exists() && kept[2].exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
