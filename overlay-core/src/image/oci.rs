//! [`Image`]: an OCI image layout packed as one uncompressed tar (the RAM disk), parsed and
//! verified, its layers ready to stack.
//!
//! The path from the RAM disk to the layers, each step checked:
//! 1. the outer tar, read with [`TarReader`] (the layout's files, no copy);
//! 2. `oci-layout`: an image layout of version 1.x;
//! 3. `index.json` -> the manifest: the first one, or the one whose
//!    `org.opencontainers.image.ref.name` annotation is the name asked for; a nested index
//!    (a multi-platform image) is followed to its `linux`/`amd64` manifest, or its first;
//! 4. the manifest, checked against its descriptor's size and SHA-256 digest;
//! 5. the config, checked against the manifest's descriptor: `rootfs.diff_ids` (one per
//!    layer) and `history` (paired with the layers in order, `empty_layer` entries skipped);
//! 6. each layer: its media type must be an uncompressed tar (compressed layers are refused:
//!    the host decompresses them while packing, see `boot ramdisk`); its bytes must hash to
//!    the descriptor's digest and, always, to the config's `diff_id` for it; then it is
//!    parsed into an [`ImageLayerFs`] over the RAM disk bytes.
//!
//! Every failure is an [`ImageError`] naming the stage, an errno and a one-line reason, e.g.
//! `layer 2 sha256:3f0a1b2c4d5e: digest mismatch: ... (EIO)`. Errnos: `ENOENT` for a missing
//! file or blob, `EIO` for a size or digest mismatch or a corrupt tar, `EINVAL` for malformed
//! JSON or inconsistent documents, `ENOTSUP` for what this loader does not handle
//! (compressed layers, other digest algorithms, other media types).
//!
//! ```
//! # use overlay_core::image::{Bytes, Image};
//! # use overlay_core::overlay::{OverlayFs, OverlayOptions, UpperLayer};
//! # use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
//! # fn boot(ramdisk: &'static [u8]) -> Result<(), overlay_core::Errno> {
//! let image = Image::parse(Bytes::from_static(ramdisk)).map_err(|error| {
//!     // e.g. "rootfs: layer 2 sha256:3f0a1b2c4d5e: digest mismatch: ..."
//!     log::error!("rootfs: {error}");
//!     error.errno
//! })?;
//! let upper = UpperLayer::new(TmpFs::new(TmpFsOptions::default()))?;
//! let union = OverlayFs::new(image.lowers(), Some(upper), OverlayOptions::default())?;
//! # let _ = union;
//! # Ok(())
//! # }
//! ```

use alloc::{collections::BTreeMap, format, string::String, sync::Arc, vec::Vec};
use core::fmt;
use core::ops::Range;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::bytes::Bytes;
use super::clip;
use super::layer::ImageLayerFs;
use super::tar::{EntryKind, TarError, TarReader};
use crate::error::Errno;
use crate::layer_format::MAX_LOWERS;

/// Media type of an OCI image manifest.
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image config.
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of an uncompressed OCI layer tar: the only kind a RAM disk holds.
pub const MEDIA_TYPE_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// The annotation naming a manifest in `index.json` (e.g. `latest`).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Docker's manifest, as some layouts (skopeo from a Docker archive) still carry it.
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Uncompressed layer media types, OCI's and Docker's.
const UNCOMPRESSED_LAYERS: &[&str] = &[
    MEDIA_TYPE_LAYER_TAR,
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar",
];
/// How deep indexes may nest (an index of indexes of ...).
const MAX_INDEX_DEPTH: usize = 4;
/// Longest piece of input quoted in an error message.
const QUOTE_MAX: usize = 80;

/// Which step of loading an image failed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Stage {
    /// Reading the RAM disk as a tar archive.
    OuterTar,
    /// The `oci-layout` file.
    Layout,
    /// `index.json` (or an index it leads to).
    Index,
    /// The manifest with this digest.
    Manifest(String),
    /// The config with this digest.
    Config(String),
    /// A layer: `number` counts from 1 at the base (manifest order), `digest` is its
    /// descriptor's.
    Layer {
        /// 1 for the base layer, then up.
        number: usize,
        /// The layer descriptor's digest.
        digest: String,
    },
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::OuterTar => f.write_str("outer tar"),
            Stage::Layout => f.write_str("oci-layout"),
            Stage::Index => f.write_str("index.json"),
            Stage::Manifest(digest) => write!(f, "manifest {}", short_digest(digest)),
            Stage::Config(digest) => write!(f, "config {}", short_digest(digest)),
            Stage::Layer { number, digest } => {
                write!(f, "layer {number} {}", short_digest(digest))
            }
        }
    }
}

/// Why an image was refused; its `Display` is one line: `stage: detail (ERRNO)`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ImageError {
    /// The step that failed.
    pub stage: Stage,
    /// The error number (see the [module docs](self)).
    pub errno: Errno,
    /// What is wrong, in a few words (input quoted at most 80 bytes at a time).
    pub detail: String,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.stage, self.detail, self.errno)
    }
}

impl core::error::Error for ImageError {}

impl From<ImageError> for Errno {
    fn from(error: ImageError) -> Errno {
        error.errno
    }
}

/// What the config says a container of the image runs (its `config` object).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RuntimeConfig {
    /// `User`, if set.
    pub user: Option<String>,
    /// `Env`: `NAME=value` strings.
    pub env: Vec<String>,
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `WorkingDir`, if set.
    pub working_dir: Option<String>,
    /// `Labels`, sorted by name.
    pub labels: Vec<(String, String)>,
}

/// One entry of the config's `history`, as `docker history` shows it.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct HistoryEntry {
    /// When the step ran (RFC 3339), if recorded.
    pub created: Option<String>,
    /// The command that made it, e.g. `COPY app /app`.
    pub created_by: Option<String>,
    /// A free-form comment.
    pub comment: Option<String>,
    /// Whether the step made no layer (e.g. `ENV`).
    pub empty_layer: bool,
    /// The index in [`Image::layers`] of the layer it made, if any.
    pub layer: Option<usize>,
}

/// One layer of an image, verified and parsed.
#[derive(Clone, Debug)]
pub struct ImageLayer {
    /// The descriptor's digest (`sha256:<hex>`); equal to `diff_id`, as RAM disk layers are
    /// uncompressed.
    pub digest: String,
    /// The config's `diff_id`: the SHA-256 of the uncompressed tar, checked.
    pub diff_id: String,
    /// The descriptor's media type.
    pub media_type: String,
    /// Size of the layer tar in bytes.
    pub size: u64,
    /// The `created_by` of the history entry that made the layer, if recorded.
    pub created_by: Option<String>,
    /// The layer's files, served from the RAM disk.
    pub fs: Arc<ImageLayerFs>,
}

/// A verified OCI image; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct Image {
    /// The `org.opencontainers.image.ref.name` of the manifest chosen in `index.json`.
    pub ref_name: Option<String>,
    /// The digest of the manifest.
    pub manifest_digest: String,
    /// The digest of the config.
    pub config_digest: String,
    /// `architecture` from the config (e.g. `amd64`).
    pub architecture: Option<String>,
    /// `os` from the config (e.g. `linux`).
    pub os: Option<String>,
    /// `created` from the config (RFC 3339).
    pub created: Option<String>,
    /// `author` from the config.
    pub author: Option<String>,
    /// What a container of the image runs.
    pub config: RuntimeConfig,
    /// The config's whole `history`, empty layers included, oldest first.
    pub history: Vec<HistoryEntry>,
    /// The layers, base first (manifest order).
    pub layers: Vec<ImageLayer>,
    /// The RAM disk the image was read from.
    pub bytes: Bytes,
}

impl Image {
    /// Parses and verifies the image in `ramdisk` (an OCI layout packed as a tar), taking
    /// the first manifest of `index.json`.
    ///
    /// # Errors
    /// An [`ImageError`] naming the stage that failed (see the [module docs](self)).
    pub fn parse(ramdisk: Bytes) -> Result<Image, ImageError> {
        Image::parse_ref(ramdisk, None)
    }

    /// As [`Image::parse`], taking the manifest whose `org.opencontainers.image.ref.name`
    /// annotation is `ref_name`, if given.
    ///
    /// # Errors
    /// As [`Image::parse`]; `ENOENT` at `index.json` if no manifest has that name.
    pub fn parse_ref(ramdisk: Bytes, ref_name: Option<&str>) -> Result<Image, ImageError> {
        let layout = Layout::read(&ramdisk)?;
        layout.check_version()?;
        let chosen = layout.choose_manifest(ref_name)?;
        layout.load(chosen, &mut BTreeMap::new())
    }

    /// Parses and verifies every image of the layout in `ramdisk`: one per manifest of
    /// `index.json`, in index order (a nested index counts as one image, its `linux`/`amd64`
    /// manifest). A layer blob that several images use is checked and parsed once: their
    /// [`ImageLayer::fs`] are the same `Arc`, so a layer is held in memory once however many
    /// images (and containers) stack it.
    ///
    /// # Errors
    /// As [`Image::parse`], for the first image that fails; `EINVAL` at `index.json` if it
    /// lists no manifests.
    pub fn parse_all(ramdisk: Bytes) -> Result<Vec<Image>, ImageError> {
        let layout = Layout::read(&ramdisk)?;
        layout.check_version()?;
        let mut layers = BTreeMap::new();
        let mut images = Vec::new();
        for descriptor in layout.manifests()? {
            images.push(layout.load(descriptor, &mut layers)?);
        }
        Ok(images)
    }
}

/// The first 12 hex digits of a digest, with its algorithm: `sha256:3f0a1b2c4d5e`. Anything
/// that is not `algorithm:hex` is shortened to at most 19 bytes.
pub fn short_digest(digest: &str) -> &str {
    let end = match digest.find(':') {
        Some(colon) => colon + 1 + 12,
        None => 19,
    };
    clip(digest, end)
}

/// The SHA-256 digest of `bytes`, as `sha256:<lowercase hex>`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut text = String::with_capacity(7 + 64);
    text.push_str("sha256:");
    for byte in hash {
        text.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        text.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    text
}

// ---- JSON documents (only the fields used; others are ignored) ----

#[derive(Deserialize)]
struct LayoutJson {
    #[serde(rename = "imageLayoutVersion")]
    version: String,
}

#[derive(Deserialize, Clone)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize, Clone)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

impl Descriptor {
    fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

#[derive(Deserialize)]
struct IndexJson {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ManifestJson {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ConfigJson {
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    config: Option<RuntimeConfigJson>,
    rootfs: RootFsJson,
    #[serde(default)]
    history: Option<Vec<HistoryJson>>,
}

#[derive(Deserialize)]
struct RootFsJson {
    #[serde(rename = "type")]
    kind: String,
    diff_ids: Vec<String>,
}

#[derive(Deserialize)]
struct HistoryJson {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    empty_layer: Option<bool>,
}

#[derive(Deserialize, Default)]
struct RuntimeConfigJson {
    #[serde(rename = "User", default)]
    user: Option<String>,
    #[serde(rename = "Env", default)]
    env: Option<Vec<String>>,
    #[serde(rename = "Entrypoint", default)]
    entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default)]
    cmd: Option<Vec<String>>,
    #[serde(rename = "WorkingDir", default)]
    working_dir: Option<String>,
    #[serde(rename = "Labels", default)]
    labels: Option<BTreeMap<String, String>>,
}

// ---- Loading ----

/// The layout's files: paths in the outer tar and where their bytes are.
struct Layout {
    ramdisk: Bytes,
    files: BTreeMap<String, Range<usize>>,
}

/// A failure before its stage is attached.
type Fault = (Errno, String);

/// Layers already verified and parsed, by digest.
type LayerCache = BTreeMap<String, Arc<ImageLayerFs>>;

fn fault(errno: Errno, detail: &str) -> Fault {
    (errno, String::from(detail))
}

fn at(stage: Stage) -> impl FnOnce(Fault) -> ImageError {
    move |(errno, detail)| ImageError {
        stage,
        errno,
        detail,
    }
}

/// A tar error as a detail: the reason and offset (the errno is printed once, at the end).
fn tar_fault(error: TarError) -> Fault {
    (
        error.errno,
        format!("{} at byte {}", error.reason, error.offset),
    )
}

fn json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Fault> {
    serde_json::from_slice(bytes).map_err(|error| {
        let message = format!("bad JSON: {error}");
        (Errno::EINVAL, String::from(clip(&message, 2 * QUOTE_MAX)))
    })
}

impl Layout {
    fn read(ramdisk: &Bytes) -> Result<Layout, ImageError> {
        let outer = at(Stage::OuterTar);
        if ramdisk.is_empty() {
            return Err(outer(fault(Errno::EINVAL, "the RAM disk is empty")));
        }
        let mut files: BTreeMap<String, Range<usize>> = BTreeMap::new();
        for entry in TarReader::new(ramdisk.as_slice()) {
            let entry = entry.map_err(|error| at(Stage::OuterTar)(tar_fault(error)))?;
            match entry.kind {
                EntryKind::Regular => {
                    files.insert(entry.path, entry.data);
                }
                EntryKind::HardLink { target } => {
                    if let Some(data) = files.get(&target).cloned() {
                        files.insert(entry.path, data);
                    }
                }
                _ => {}
            }
        }
        Ok(Layout {
            ramdisk: ramdisk.clone(),
            files,
        })
    }

    fn file(&self, path: &str) -> Option<Bytes> {
        self.ramdisk.slice(self.files.get(path)?.clone())
    }

    fn check_version(&self) -> Result<(), ImageError> {
        let stage = || at(Stage::Layout);
        let bytes = self.file("oci-layout").ok_or_else(|| {
            stage()(fault(
                Errno::ENOENT,
                "no oci-layout file: the RAM disk is not an OCI image layout",
            ))
        })?;
        let layout: LayoutJson = json(bytes.as_slice()).map_err(stage())?;
        if !layout.version.starts_with("1.") {
            let detail = format!(
                "unsupported imageLayoutVersion {:?}",
                clip(&layout.version, QUOTE_MAX)
            );
            return Err(stage()((Errno::ENOTSUP, detail)));
        }
        Ok(())
    }

    /// The bytes of the blob `descriptor` names, checked against its size and digest.
    fn blob(&self, descriptor: &Descriptor) -> Result<Bytes, Fault> {
        let hex = digest_hex(&descriptor.digest)?;
        let bytes = self
            .file(&format!("blobs/sha256/{hex}"))
            .ok_or_else(|| fault(Errno::ENOENT, "blob missing from the layout"))?;
        check_size(descriptor, &bytes)?;
        check_digest(&descriptor.digest, &sha256_digest(bytes.as_slice()), "")?;
        Ok(bytes)
    }

    /// The descriptors `index.json` lists.
    fn index(&self) -> Result<Vec<Descriptor>, ImageError> {
        let stage = || at(Stage::Index);
        let bytes = self
            .file("index.json")
            .ok_or_else(|| stage()(fault(Errno::ENOENT, "no index.json in the layout")))?;
        let index: IndexJson = json(bytes.as_slice()).map_err(stage())?;
        check_schema(index.schema_version).map_err(stage())?;
        if index.manifests.is_empty() {
            return Err(stage()(fault(Errno::EINVAL, "no manifests")));
        }
        Ok(index.manifests)
    }

    /// The manifest descriptor to load, and the ref name it was chosen by or carries.
    fn choose_manifest(&self, ref_name: Option<&str>) -> Result<Descriptor, ImageError> {
        let manifests = self.index()?;
        let chosen = match ref_name {
            Some(name) => manifests
                .iter()
                .find(|m| m.annotation(ANNOTATION_REF_NAME) == Some(name))
                .ok_or_else(|| {
                    let detail = format!("no manifest named {:?}", clip(name, QUOTE_MAX));
                    at(Stage::Index)((Errno::ENOENT, detail))
                })?,
            None => manifests
                .first()
                .ok_or_else(|| at(Stage::Index)(fault(Errno::EINVAL, "no manifests")))?,
        };
        self.resolve(chosen.clone())
    }

    /// Every manifest of the index, nested indexes resolved.
    fn manifests(&self) -> Result<Vec<Descriptor>, ImageError> {
        self.index()?
            .into_iter()
            .map(|descriptor| self.resolve(descriptor))
            .collect()
    }

    /// Follows nested indexes (multi-platform images) from `chosen` down to a manifest,
    /// keeping the name the outer descriptor gave.
    fn resolve(&self, mut chosen: Descriptor) -> Result<Descriptor, ImageError> {
        let stage = || at(Stage::Index);
        let name = chosen.annotation(ANNOTATION_REF_NAME).map(String::from);
        for _ in 0..MAX_INDEX_DEPTH {
            if !is_index(&chosen.media_type) {
                if let Some(name) = &name {
                    chosen
                        .annotations
                        .get_or_insert_with(BTreeMap::new)
                        .insert(String::from(ANNOTATION_REF_NAME), name.clone());
                }
                return Ok(chosen);
            }
            let bytes = self.blob(&chosen).map_err(stage())?;
            let nested: IndexJson = json(bytes.as_slice()).map_err(stage())?;
            check_schema(nested.schema_version).map_err(stage())?;
            chosen = choose_platform(&nested.manifests)
                .ok_or_else(|| stage()(fault(Errno::EINVAL, "nested index has no manifests")))?
                .clone();
        }
        Err(stage()(fault(Errno::EINVAL, "indexes nested too deep")))
    }

    /// Loads the image of `manifest_descriptor`; `layers` holds the layers already verified
    /// and parsed, by digest, and gets the new ones.
    fn load(
        &self,
        manifest_descriptor: Descriptor,
        layers_by_digest: &mut LayerCache,
    ) -> Result<Image, ImageError> {
        let manifest_digest = manifest_descriptor.digest.clone();
        let stage = || at(Stage::Manifest(manifest_digest.clone()));
        if !matches!(
            manifest_descriptor.media_type.as_str(),
            MEDIA_TYPE_MANIFEST | DOCKER_MANIFEST | ""
        ) {
            return Err(stage()(unsupported(
                "manifest",
                &manifest_descriptor.media_type,
            )));
        }
        let bytes = self.blob(&manifest_descriptor).map_err(stage())?;
        let manifest: ManifestJson = json(bytes.as_slice()).map_err(stage())?;
        check_schema(manifest.schema_version).map_err(stage())?;
        if let Some(media_type) = &manifest.media_type {
            if !matches!(media_type.as_str(), MEDIA_TYPE_MANIFEST | DOCKER_MANIFEST) {
                return Err(stage()(unsupported("manifest", media_type)));
            }
        }
        if manifest.layers.is_empty() {
            return Err(stage()(fault(Errno::EINVAL, "the image has no layers")));
        }
        if manifest.layers.len() > MAX_LOWERS {
            let detail = format!("{} layers: at most {MAX_LOWERS}", manifest.layers.len());
            return Err(stage()((Errno::EINVAL, detail)));
        }

        let config_digest = manifest.config.digest.clone();
        let stage = || at(Stage::Config(config_digest.clone()));
        if !matches!(
            manifest.config.media_type.as_str(),
            MEDIA_TYPE_CONFIG | DOCKER_CONFIG
        ) {
            return Err(stage()(unsupported("config", &manifest.config.media_type)));
        }
        let bytes = self.blob(&manifest.config).map_err(stage())?;
        let config: ConfigJson = json(bytes.as_slice()).map_err(stage())?;
        if config.rootfs.kind != "layers" {
            let detail = format!("rootfs type {:?}", clip(&config.rootfs.kind, QUOTE_MAX));
            return Err(stage()((Errno::EINVAL, detail)));
        }
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != manifest.layers.len() {
            let detail = format!(
                "{} diff_ids for {} layers in the manifest",
                diff_ids.len(),
                manifest.layers.len()
            );
            return Err(stage()((Errno::EINVAL, detail)));
        }
        let history = pair_history(config.history.unwrap_or_default(), diff_ids.len());

        let mut layers = Vec::new();
        for (index, (descriptor, diff_id)) in manifest.layers.iter().zip(diff_ids).enumerate() {
            let stage = at(Stage::Layer {
                number: index + 1,
                digest: descriptor.digest.clone(),
            });
            let fs = self
                .layer(descriptor, diff_id, layers_by_digest)
                .map_err(stage)?;
            let created_by = history
                .iter()
                .find(|entry| entry.layer == Some(index))
                .and_then(|entry| entry.created_by.clone());
            layers.push(ImageLayer {
                digest: descriptor.digest.clone(),
                diff_id: diff_id.clone(),
                media_type: descriptor.media_type.clone(),
                size: descriptor.size,
                created_by,
                fs,
            });
        }

        let runtime = config.config.unwrap_or_default();
        Ok(Image {
            ref_name: manifest_descriptor
                .annotation(ANNOTATION_REF_NAME)
                .map(String::from),
            manifest_digest: manifest_descriptor.digest.clone(),
            config_digest: manifest.config.digest.clone(),
            architecture: config.architecture,
            os: config.os,
            created: config.created,
            author: config.author,
            config: RuntimeConfig {
                user: runtime.user.filter(|user| !user.is_empty()),
                env: runtime.env.unwrap_or_default(),
                entrypoint: runtime.entrypoint.unwrap_or_default(),
                cmd: runtime.cmd.unwrap_or_default(),
                working_dir: runtime.working_dir.filter(|dir| !dir.is_empty()),
                labels: runtime.labels.unwrap_or_default().into_iter().collect(),
            },
            history,
            layers,
            bytes: self.ramdisk.clone(),
        })
    }

    /// One layer, verified against its descriptor and its `diff_id`, and parsed; or the
    /// same layer from `cache`, if another image already loaded a blob of that digest.
    fn layer(
        &self,
        descriptor: &Descriptor,
        diff_id: &str,
        cache: &mut LayerCache,
    ) -> Result<Arc<ImageLayerFs>, Fault> {
        let media_type = descriptor.media_type.as_str();
        if !UNCOMPRESSED_LAYERS.contains(&media_type) {
            let compression = ["gzip", "zstd"]
                .into_iter()
                .find(|compression| media_type.contains(compression));
            return Err(match compression {
                Some(compression) => (
                    Errno::ENOTSUP,
                    format!(
                        "{compression}-compressed layer: a RAM disk holds uncompressed layers \
                         (pack it with `boot ramdisk`, which decompresses them)"
                    ),
                ),
                None => unsupported("layer", media_type),
            });
        }
        digest_hex(diff_id).map_err(|(errno, detail)| (errno, format!("diff_id: {detail}")))?;
        if let Some(fs) = cache.get(&descriptor.digest) {
            // Verified when it was first loaded: the same digest names the same bytes.
            check_size(descriptor, fs.bytes())?;
            check_digest(diff_id, &descriptor.digest, "diff_id ")?;
            return Ok(fs.clone());
        }
        let bytes = self.blob(descriptor)?;
        // The descriptor's digest was checked by `blob`; an uncompressed layer's diff_id is
        // the same hash, checked too, so a config that disagrees with its manifest is caught.
        check_digest(diff_id, &descriptor.digest, "diff_id ")?;
        let fs = ImageLayerFs::parse(bytes).map_err(tar_fault)?;
        cache.insert(descriptor.digest.clone(), fs.clone());
        Ok(fs)
    }
}

/// The `history` entries, each non-empty one paired with the next layer in order.
fn pair_history(entries: Vec<HistoryJson>, layer_count: usize) -> Vec<HistoryEntry> {
    let mut next_layer = 0;
    entries
        .into_iter()
        .map(|entry| {
            let empty_layer = entry.empty_layer.unwrap_or(false);
            let layer = if empty_layer || next_layer >= layer_count {
                None
            } else {
                next_layer += 1;
                Some(next_layer - 1)
            };
            HistoryEntry {
                created: entry.created,
                created_by: entry.created_by,
                comment: entry.comment,
                empty_layer,
                layer,
            }
        })
        .collect()
}

fn is_index(media_type: &str) -> bool {
    matches!(media_type, MEDIA_TYPE_INDEX | DOCKER_MANIFEST_LIST)
}

/// The `linux`/`amd64` manifest of a multi-platform index, or its first.
fn choose_platform(manifests: &[Descriptor]) -> Option<&Descriptor> {
    manifests
        .iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
        })
        .or(manifests.first())
}

fn check_schema(version: u32) -> Result<(), Fault> {
    if version != 2 {
        return Err((
            Errno::EINVAL,
            format!("schemaVersion {version}, expected 2"),
        ));
    }
    Ok(())
}

fn unsupported(what: &str, media_type: &str) -> Fault {
    let detail = format!(
        "unsupported {what} media type {:?}",
        clip(media_type, QUOTE_MAX)
    );
    (Errno::ENOTSUP, detail)
}

/// The hex part of a `sha256:<64 lowercase hex digits>` digest.
fn digest_hex(digest: &str) -> Result<&str, Fault> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        let detail = format!("malformed digest {:?}", clip(digest, QUOTE_MAX));
        return Err((Errno::EINVAL, detail));
    };
    if algorithm != "sha256" {
        let detail = format!(
            "unsupported digest algorithm {:?}",
            clip(algorithm, QUOTE_MAX)
        );
        return Err((Errno::ENOTSUP, detail));
    }
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        let detail = format!("malformed digest {:?}", clip(digest, QUOTE_MAX));
        return Err((Errno::EINVAL, detail));
    }
    Ok(hex)
}

fn check_size(descriptor: &Descriptor, bytes: &Bytes) -> Result<(), Fault> {
    if descriptor.size != bytes.len() as u64 {
        let detail = format!(
            "size mismatch: descriptor says {} bytes, blob has {}",
            descriptor.size,
            bytes.len()
        );
        return Err((Errno::EIO, detail));
    }
    Ok(())
}

/// `EIO` unless `actual` is the `expected` digest; `what` names what was expected.
fn check_digest(expected: &str, actual: &str, what: &str) -> Result<(), Fault> {
    if expected != actual {
        let detail = format!(
            "{what}digest mismatch: expected {}, content is {}",
            short_digest(expected),
            short_digest(actual)
        );
        return Err((Errno::EIO, detail));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
