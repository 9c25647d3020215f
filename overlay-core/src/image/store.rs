//! [`ImageStore`]: the images a machine holds, their layers kept once per digest.
//!
//! A RAM disk may hold several images (one OCI layout, one manifest per image in
//! `index.json`, named by `org.opencontainers.image.ref.name`). Images built `FROM` one base
//! share its layers; the layout stores each blob once, and the store loads each once: one
//! [`ImageLayerFs`] per digest, which every image using the layer (and every container of
//! those images) stacks. So a layer costs its memory once, however many images use it, the
//! way `docker pull` fetches only the layers it lacks.
//!
//! Besides the images of the RAM disk, the store takes images made at run time (a container's
//! upper layer frozen by `commit`: see [`crate::containers`]) and drops images (`rmi`): a
//! layer goes when no image and no container uses it any more. [`ImageStore::usage`] says
//! what the layers take, like `docker system df`: per image its total size, the part it
//! shares with other images and the part only it uses, and overall what is stored (each layer
//! once) against what the images would take as separate copies.
//!
//! Layers that come from the RAM disk serve their files from the RAM disk's bytes: removing
//! them frees their parsed tree, not the RAM disk (the kernel keeps it whole). A committed
//! layer owns its tar, which is freed with it.
//!
//! ```
//! # use overlay_core::image::{Bytes, ImageStore};
//! # fn boot(ramdisk: &'static [u8]) -> Result<(), overlay_core::Errno> {
//! let store = ImageStore::from_ramdisk(Bytes::from_static(ramdisk))?;
//! for image in store.images() {
//!     log::info!("{} {} layers", image.name, image.layers.len());
//! }
//! let usage = store.usage();
//! log::info!("{} bytes stored, {} shared", usage.stored_bytes, usage.shared_bytes);
//! # Ok(())
//! # }
//! ```

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::Arc;
use alloc::{format, string::String, vec::Vec};

use super::bytes::Bytes;
use super::layer::ImageLayerFs;
use super::oci::{sha256_digest, short_digest, Image, ImageError, RuntimeConfig, Stage};
use crate::error::{Errno, Result};
use crate::layer_format::MAX_LOWERS;

/// Longest image or container name, in bytes.
pub const NAME_MAX_BYTES: usize = 128;

/// Where a layer's bytes come from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LayerSource {
    /// A blob of the RAM disk: files are served from the RAM disk's bytes.
    RamDisk,
    /// Made at run time (`commit`): the layer owns its tar.
    Committed,
}

/// One layer of the store.
#[derive(Clone, Debug)]
pub struct StoredLayer {
    /// `sha256:<hex>` of the uncompressed tar.
    pub digest: String,
    /// Size of the tar in bytes.
    pub size: u64,
    /// The layer's files; the one object every image and container stacks.
    pub fs: Arc<ImageLayerFs>,
    /// Where its bytes come from.
    pub source: LayerSource,
}

impl StoredLayer {
    /// Parses the layer tar `bytes` into a layer made at run time.
    ///
    /// # Errors
    /// Whatever the tar reader finds wrong (`EIO`, `EINVAL`, `ENAMETOOLONG`, `ENOTSUP`), and
    /// `ENOMEM` when the layer's tree does not fit in memory.
    pub fn parse(bytes: Bytes, source: LayerSource) -> Result<StoredLayer> {
        let digest = sha256_digest(bytes.as_slice());
        let size = bytes.len() as u64;
        let fs = ImageLayerFs::parse(bytes)?;
        Ok(StoredLayer {
            digest,
            size,
            fs,
            source,
        })
    }
}

/// One step of an image's history, as `docker history` shows it.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct HistoryStep {
    /// The digest of the layer the step made; `None` for a step that changed only the
    /// config (`ENV`, `CMD`: an empty layer).
    pub layer: Option<String>,
    /// The command that made it, e.g. `COPY app /app`.
    pub created_by: Option<String>,
    /// A free-form comment.
    pub comment: Option<String>,
}

/// One image of the store.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredImage {
    /// Its name: the manifest's `org.opencontainers.image.ref.name`, or the short manifest
    /// digest of an unnamed one; the name given to `commit`.
    pub name: String,
    /// Its layers' digests, base first (manifest order).
    pub layers: Vec<String>,
    /// Its history, oldest first; every layer has its step.
    pub history: Vec<HistoryStep>,
    /// What a container of the image runs.
    pub config: RuntimeConfig,
    /// The manifest's digest, for an image of the RAM disk.
    pub manifest_digest: Option<String>,
}

/// What one image's layers take, like a row of `docker system df -v`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ImageUsage {
    /// The image.
    pub name: String,
    /// How many layers it stacks.
    pub layers: usize,
    /// Bytes of its layers, each distinct layer once.
    pub total_bytes: u64,
    /// The part of `total_bytes` in layers another image uses too.
    pub shared_bytes: u64,
    /// The part of `total_bytes` in layers no other image uses: what `rmi` of this image
    /// alone would reclaim, unless a container still uses them.
    pub unique_bytes: u64,
}

/// What the store's layers take, like `docker system df`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoreUsage {
    /// One row per image, in the store's order.
    pub images: Vec<ImageUsage>,
    /// Distinct layers stored.
    pub layers: usize,
    /// Bytes of all layers stored, each once: `shared + unique + unused`.
    pub stored_bytes: u64,
    /// Bytes of layers used by more than one image, each counted once.
    pub shared_bytes: u64,
    /// Bytes of layers used by exactly one image.
    pub unique_bytes: u64,
    /// Bytes of layers no image uses (kept because a container still stacks them).
    pub unused_bytes: u64,
    /// What the images would take as separate copies: the sum of their `total_bytes`.
    pub unshared_bytes: u64,
    /// Layers dropped so far (by `remove_image`, and by `prune` once the last container
    /// stacking them went away), and their bytes.
    pub reclaimed_layers: usize,
    /// See `reclaimed_layers`.
    pub reclaimed_bytes: u64,
    /// Entries of the stored layers' trees (the roots included), each layer once.
    pub entries: u64,
    /// Heap the stored layers' trees take, each layer once, names included (file data stays
    /// in the layers' bytes): see [`ImageLayerFs::heap_bytes`].
    pub tree_heap_bytes: u64,
    /// Of `tree_heap_bytes`, the bytes of the entries' names.
    pub tree_name_bytes: u64,
}

/// What [`ImageStore::remove_image`] did.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Removal {
    /// The image removed.
    pub image: String,
    /// The layers dropped (no image or container uses them any more): digest and bytes,
    /// top first.
    pub deleted: Vec<(String, u64)>,
    /// The image's layers that stay, top first, with who still uses them.
    pub kept: Vec<KeptLayer>,
}

/// A layer [`ImageStore::remove_image`] kept, and why.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeptLayer {
    /// The layer's digest.
    pub digest: String,
    /// Its bytes.
    pub size: u64,
    /// The images still using it.
    pub images: Vec<String>,
    /// The containers still using it.
    pub containers: Vec<String>,
}

/// The images and their layers; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct ImageStore {
    images: Vec<StoredImage>,
    layers: BTreeMap<String, StoredLayer>,
    reclaimed_layers: usize,
    reclaimed_bytes: u64,
}

impl ImageStore {
    /// An empty store.
    pub fn new() -> ImageStore {
        ImageStore::default()
    }

    /// Every image of the OCI layout in `ramdisk`, verified (see [`Image::parse_all`]), each
    /// layer loaded once.
    ///
    /// # Errors
    /// An [`ImageError`] for the first image that fails to load; `EINVAL` at `index.json` if
    /// two manifests carry the same name.
    pub fn from_ramdisk(ramdisk: Bytes) -> core::result::Result<ImageStore, ImageError> {
        ImageStore::from_images(Image::parse_all(ramdisk)?)
    }

    /// A store of `images` (as [`Image::parse_all`] gives them): one layer per digest.
    ///
    /// # Errors
    /// `EINVAL` at `index.json` if two images have the same name.
    pub fn from_images(images: Vec<Image>) -> core::result::Result<ImageStore, ImageError> {
        let mut store = ImageStore::new();
        let mut names = BTreeSet::new();
        for image in images {
            let name = match &image.ref_name {
                Some(name) => name.clone(),
                None => String::from(short_digest(&image.manifest_digest)),
            };
            if !names.insert(name.clone()) {
                return Err(ImageError {
                    stage: Stage::Index,
                    errno: Errno::EINVAL,
                    detail: format!("two manifests named {name:?}"),
                });
            }
            for layer in &image.layers {
                store
                    .layers
                    .entry(layer.digest.clone())
                    .or_insert_with(|| StoredLayer {
                        digest: layer.digest.clone(),
                        size: layer.size,
                        fs: layer.fs.clone(),
                        source: LayerSource::RamDisk,
                    });
            }
            store.images.push(StoredImage {
                history: history_of(&image),
                name,
                layers: image.layers.iter().map(|l| l.digest.clone()).collect(),
                config: image.config.clone(),
                manifest_digest: Some(image.manifest_digest.clone()),
            });
        }
        Ok(store)
    }

    /// The images, in the order of the RAM disk's index, then as added.
    pub fn images(&self) -> &[StoredImage] {
        &self.images
    }

    /// The image named `name`.
    pub fn image(&self, name: &str) -> Option<&StoredImage> {
        self.images.iter().find(|image| image.name == name)
    }

    /// The layer with `digest`.
    pub fn layer(&self, digest: &str) -> Option<&StoredLayer> {
        self.layers.get(digest)
    }

    /// Every layer, by digest.
    pub fn layers(&self) -> impl Iterator<Item = &StoredLayer> {
        self.layers.values()
    }

    /// The names of the images using the layer `digest`, in store order.
    pub fn images_using(&self, digest: &str) -> Vec<&str> {
        self.images
            .iter()
            .filter(|image| image.layers.iter().any(|layer| layer == digest))
            .map(|image| image.name.as_str())
            .collect()
    }

    /// The stored layer with `layer`'s digest if there is one (the same bytes, already
    /// loaded), else `layer` itself.
    pub fn dedup(&self, layer: StoredLayer) -> StoredLayer {
        match self.layers.get(&layer.digest) {
            Some(stored) => stored.clone(),
            None => layer,
        }
    }

    /// Adds `image`, with `new_layers` for the digests it uses that the store lacks.
    ///
    /// # Errors
    /// Nothing changes on error: `EINVAL` if the name is not a valid name (see
    /// [`check_name`]), the image has no layer or more than [`MAX_LOWERS`], or a layer is
    /// neither stored nor among `new_layers`; `EEXIST` if an image has the name.
    pub fn add_image(&mut self, image: StoredImage, new_layers: Vec<StoredLayer>) -> Result<()> {
        check_name(&image.name)?;
        if self.image(&image.name).is_some() {
            return Err(Errno::EEXIST);
        }
        if image.layers.is_empty() || image.layers.len() > MAX_LOWERS {
            return Err(Errno::EINVAL);
        }
        let known = |digest: &String| {
            self.layers.contains_key(digest) || new_layers.iter().any(|l| &l.digest == digest)
        };
        if !image.layers.iter().all(known) {
            return Err(Errno::EINVAL);
        }
        for layer in new_layers {
            if image.layers.contains(&layer.digest) {
                self.layers.entry(layer.digest.clone()).or_insert(layer);
            }
        }
        self.images.push(image);
        Ok(())
    }

    /// Removes the image `name`, and every layer of it that no other image and none of
    /// `containers` (each a name and the digests it stacks) uses.
    ///
    /// # Errors
    /// `ENOENT` if there is no such image.
    pub fn remove_image(
        &mut self,
        name: &str,
        containers: &[(&str, &[String])],
    ) -> Result<Removal> {
        let position = self
            .images
            .iter()
            .position(|image| image.name == name)
            .ok_or(Errno::ENOENT)?;
        let image = self.images.remove(position);
        let mut removal = Removal {
            image: image.name.clone(),
            deleted: Vec::new(),
            kept: Vec::new(),
        };
        for digest in image.layers.iter().rev() {
            if removal.deleted.iter().any(|(d, _)| d == digest)
                || removal.kept.iter().any(|k| &k.digest == digest)
            {
                continue;
            }
            let images: Vec<String> = self
                .images_using(digest)
                .into_iter()
                .map(String::from)
                .collect();
            let users: Vec<String> = containers
                .iter()
                .filter(|(_, layers)| layers.contains(digest))
                .map(|(container, _)| String::from(*container))
                .collect();
            let size = self.layers.get(digest).map_or(0, |layer| layer.size);
            if images.is_empty() && users.is_empty() {
                if self.layers.remove(digest).is_some() {
                    self.reclaimed_layers += 1;
                    self.reclaimed_bytes += size;
                    removal.deleted.push((digest.clone(), size));
                }
            } else {
                removal.kept.push(KeptLayer {
                    digest: digest.clone(),
                    size,
                    images,
                    containers: users,
                });
            }
        }
        Ok(removal)
    }

    /// How many images use each layer (an image using a layer twice counts once); layers no
    /// image uses are absent. One pass over the images' layer lists.
    fn users_by_layer(&self) -> BTreeMap<&str, usize> {
        let mut users = BTreeMap::new();
        for image in &self.images {
            let distinct: BTreeSet<&str> = image.layers.iter().map(String::as_str).collect();
            for digest in distinct {
                *users.entry(digest).or_insert(0) += 1;
            }
        }
        users
    }

    /// Drops every layer that no image and none of `in_use` uses (after the last container
    /// of a removed image went away); returns the digests and sizes dropped.
    pub fn prune(&mut self, in_use: &[&[String]]) -> Vec<(String, u64)> {
        let used: BTreeSet<&str> = self
            .users_by_layer()
            .into_keys()
            .chain(
                in_use
                    .iter()
                    .flat_map(|layers| layers.iter().map(String::as_str)),
            )
            .collect();
        let unused: Vec<String> = self
            .layers
            .keys()
            .filter(|digest| !used.contains(digest.as_str()))
            .cloned()
            .collect();
        let mut dropped = Vec::new();
        for digest in unused {
            if let Some(layer) = self.layers.remove(&digest) {
                self.reclaimed_layers += 1;
                self.reclaimed_bytes += layer.size;
                dropped.push((digest, layer.size));
            }
        }
        dropped
    }

    /// What the layers take; see [`StoreUsage`]. Takes time in proportion to the images'
    /// layers (times the logarithm of the layers stored), however many images there are.
    pub fn usage(&self) -> StoreUsage {
        let users_by_layer = self.users_by_layer();
        let users = |digest: &str| users_by_layer.get(digest).copied().unwrap_or(0);
        let mut usage = StoreUsage {
            images: Vec::new(),
            layers: self.layers.len(),
            stored_bytes: 0,
            shared_bytes: 0,
            unique_bytes: 0,
            unused_bytes: 0,
            unshared_bytes: 0,
            reclaimed_layers: self.reclaimed_layers,
            reclaimed_bytes: self.reclaimed_bytes,
            entries: 0,
            tree_heap_bytes: 0,
            tree_name_bytes: 0,
        };
        for layer in self.layers.values() {
            usage.stored_bytes += layer.size;
            usage.entries += layer.fs.entries();
            usage.tree_heap_bytes += layer.fs.heap_bytes();
            usage.tree_name_bytes += layer.fs.name_bytes();
            match users(&layer.digest) {
                0 => usage.unused_bytes += layer.size,
                1 => usage.unique_bytes += layer.size,
                _ => usage.shared_bytes += layer.size,
            }
        }
        for image in &self.images {
            let mut row = ImageUsage {
                name: image.name.clone(),
                layers: image.layers.len(),
                total_bytes: 0,
                shared_bytes: 0,
                unique_bytes: 0,
            };
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            for digest in &image.layers {
                if !seen.insert(digest) {
                    continue;
                }
                let size = self.layers.get(digest).map_or(0, |layer| layer.size);
                row.total_bytes += size;
                if users(digest) > 1 {
                    row.shared_bytes += size;
                } else {
                    row.unique_bytes += size;
                }
            }
            usage.unshared_bytes += row.total_bytes;
            usage.images.push(row);
        }
        usage
    }
}

/// Checks an image or container name: 1 to [`NAME_MAX_BYTES`] bytes of ASCII letters,
/// digits and `.`, `_`, `-`, `:`, `/`, `@`, starting with a letter or digit (what a Docker
/// reference may hold, roughly). `sha256:...` names are those of unnamed images.
///
/// # Errors
/// `EINVAL` for anything else.
pub fn check_name(name: &str) -> Result<()> {
    let valid_byte = |b: u8| b.is_ascii_alphanumeric() || b"._-:/@".contains(&b);
    let starts_well = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if !starts_well || name.len() > NAME_MAX_BYTES || !name.bytes().all(valid_byte) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The history of `image` as steps: its history entries in order, each with the digest of the
/// layer it made; layers the history does not cover get a step of their own after it.
fn history_of(image: &Image) -> Vec<HistoryStep> {
    let mut steps: Vec<HistoryStep> = image
        .history
        .iter()
        .map(|entry| HistoryStep {
            layer: entry
                .layer
                .and_then(|index| image.layers.get(index))
                .map(|layer| layer.digest.clone()),
            created_by: entry.created_by.clone(),
            comment: entry.comment.clone(),
        })
        .collect();
    for (index, layer) in image.layers.iter().enumerate() {
        if !image.history.iter().any(|entry| entry.layer == Some(index)) {
            steps.push(HistoryStep {
                layer: Some(layer.digest.clone()),
                created_by: None,
                comment: None,
            });
        }
    }
    steps
}

#[cfg(test)]
mod tests;
