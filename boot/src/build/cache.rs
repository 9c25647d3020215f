//! The build cache: one file per step key in a directory (see the [module docs](super)).

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

/// Source of unique temporary names within this process.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// A directory of cached steps: `<key hex>` holds the layer tar a step made (empty for a
/// step that made none).
#[derive(Debug, Clone)]
pub struct BuildCache {
    dir: PathBuf,
}

impl BuildCache {
    /// The cache in `dir`, created if needed.
    pub fn new(dir: &Path) -> Result<BuildCache> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(BuildCache {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key.strip_prefix("sha256:").unwrap_or(key))
    }

    /// What the step with `key` stored, if it ran before.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Stores `bytes` for the step with `key`: written to a temporary name, then renamed, so
    /// a reader never sees half an entry.
    pub fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(key);
        let temp = self.dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
        ));
        fs::write(&temp, bytes).with_context(|| format!("writing {}", temp.display()))?;
        fs::rename(&temp, &path).with_context(|| format!("renaming to {}", path.display()))
    }
}
