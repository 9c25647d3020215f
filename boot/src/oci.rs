//! OCI images for the RAM disk: built from layer directories and/or read from an existing OCI
//! image layout, then written as a layout (`oci-layout`, `index.json`, `blobs/sha256/...`)
//! packed into one uncompressed tar, the RAM disk the kernel reads with
//! `overlay_core::image::Image::parse`.
//!
//! - Layer directories ([`OciImage::add_layer_dir`]) become deterministic layer tars: names
//!   sorted, mtime 0, owner 0:0, directories `0755`, files `0755` if any execute bit is set
//!   and `0644` otherwise. A file named `.wh.NAME` is the OCI whiteout of `NAME` (an empty
//!   file), and `.wh..wh..opq` marks its directory opaque, so layer directories carry
//!   deletions as plain files. See [`layer_tar`].
//! - Existing layouts ([`OciImage::from_layout`], as skopeo, umoci, buildah or podman write
//!   them) are read with every blob checked against its digest; gzip layers are decompressed,
//!   and each uncompressed tar must hash to the config's `diff_id` for it. The config is kept
//!   byte for byte (so its digest stays the one the input gave); the manifest is rewritten to
//!   describe the uncompressed layers, whose digests are their `diff_id`s.
//! - [`OciLayout`] holds several images in one layout, each blob once.
//! - The default RAM disk holds the images `rootfs/images` lists, built from their build
//!   files with the build cache ([`default_layout`], [`crate::build`]).

mod import;
pub mod layer_tar;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use overlay_core::image::oci::{
    ANNOTATION_REF_NAME, MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER_TAR,
    MEDIA_TYPE_MANIFEST,
};
use overlay_core::image::{sha256_digest, Bytes, ImageStore};
use serde_json::{json, Value};

/// The ref name given to images built here, unless they came with one.
pub const DEFAULT_REF_NAME: &str = "latest";

/// One layer: its uncompressed tar and where it came from.
#[derive(Debug, Clone)]
pub struct OciLayer {
    /// `sha256:<hex>` of `tar`: the config's `diff_id`, and the descriptor's digest in the
    /// layouts written here.
    pub diff_id: String,
    /// The uncompressed layer tar.
    pub tar: Vec<u8>,
    /// The `created_by` of its history entry, if any.
    pub created_by: Option<String>,
}

/// An image being assembled: a config and layers, base first.
#[derive(Debug, Clone)]
pub struct OciImage {
    /// The config document.
    config: Value,
    /// The config's bytes as an imported layout gave them, while nothing changed it.
    original_config: Option<(Vec<u8>, String)>,
    layers: Vec<OciLayer>,
    ref_name: String,
    /// Annotations of an imported manifest, kept.
    manifest_annotations: Option<Value>,
}

impl Default for OciImage {
    fn default() -> Self {
        OciImage::new()
    }
}

impl OciImage {
    /// An image with no layers: an `amd64`/`linux` config with a `PATH`.
    pub fn new() -> OciImage {
        OciImage {
            config: json!({
                "architecture": "amd64",
                "os": "linux",
                "config": {
                    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
                },
                "rootfs": { "type": "layers", "diff_ids": [] },
                "history": []
            }),
            original_config: None,
            layers: Vec::new(),
            ref_name: DEFAULT_REF_NAME.to_string(),
            manifest_annotations: None,
        }
    }

    /// The image in the OCI layout at `dir`: the manifest named `ref_name` in its
    /// `index.json`, or the first (a multi-platform index leads to `linux`/`amd64`).
    pub fn from_layout(dir: &Path, ref_name: Option<&str>) -> Result<OciImage> {
        import::read_layout(dir, ref_name)
            .with_context(|| format!("reading the OCI layout {}", dir.display()))
    }

    /// Adds the directory `dir` as a layer on top, made by `created_by` (as `docker
    /// history` shows it, e.g. `COPY app /app`).
    pub fn add_layer_dir(&mut self, dir: &Path, created_by: &str) -> Result<()> {
        let tar = layer_tar::layer_dir_tar(dir)
            .with_context(|| format!("packing the layer directory {}", dir.display()))?;
        self.add_layer_tar(tar, created_by);
        Ok(())
    }

    /// Adds an uncompressed layer tar on top, made by `created_by`.
    pub fn add_layer_tar(&mut self, tar: Vec<u8>, created_by: &str) {
        let diff_id = sha256_digest(&tar);
        // The config changes, so it is written anew (a new image, with a new digest).
        self.original_config = None;
        if !self.config["rootfs"]["diff_ids"].is_array() {
            self.config["rootfs"]["diff_ids"] = json!([]);
        }
        if let Some(diff_ids) = self.config["rootfs"]["diff_ids"].as_array_mut() {
            diff_ids.push(json!(diff_id));
        }
        if !self.config["history"].is_array() {
            self.config["history"] = json!([]);
        }
        if let Some(history) = self.config["history"].as_array_mut() {
            history.push(json!({ "created_by": created_by }));
        }
        self.layers.push(OciLayer {
            diff_id,
            tar,
            created_by: Some(created_by.to_string()),
        });
    }

    /// Names the image (the `org.opencontainers.image.ref.name` of its manifest in
    /// `index.json`).
    pub fn set_ref_name(&mut self, ref_name: &str) {
        self.ref_name = ref_name.to_string();
    }

    /// The image's ref name.
    pub fn ref_name(&self) -> &str {
        &self.ref_name
    }

    /// The layers, base first.
    pub fn layers(&self) -> &[OciLayer] {
        &self.layers
    }

    /// The config's bytes and media type.
    fn config_blob(&self) -> Result<(Vec<u8>, String)> {
        if let Some(original) = &self.original_config {
            return Ok(original.clone());
        }
        Ok((
            serde_json::to_vec(&self.config)?,
            MEDIA_TYPE_CONFIG.to_string(),
        ))
    }

    /// The image's blobs (layers, config, manifest: each once) and its manifest's descriptor
    /// for `index.json`, named by the image's ref name.
    fn manifest(&self) -> Result<(Value, Vec<Vec<u8>>)> {
        if self.layers.is_empty() {
            bail!("the image {:?} has no layers", self.ref_name);
        }
        let (config, config_media_type) = self.config_blob()?;
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_MANIFEST,
            "config": descriptor(&config_media_type, &config),
            "layers": self
                .layers
                .iter()
                .map(|layer| descriptor(MEDIA_TYPE_LAYER_TAR, &layer.tar))
                .collect::<Vec<_>>(),
        });
        if let Some(annotations) = &self.manifest_annotations {
            manifest["annotations"] = annotations.clone();
        }
        let manifest = serde_json::to_vec(&manifest)?;
        let mut manifest_descriptor = descriptor(MEDIA_TYPE_MANIFEST, &manifest);
        manifest_descriptor["annotations"] = json!({ ANNOTATION_REF_NAME: self.ref_name });
        let blobs = self
            .layers
            .iter()
            .map(|layer| layer.tar.clone())
            .chain([config, manifest])
            .collect();
        Ok((manifest_descriptor, blobs))
    }

    /// The digest of the image's config (what Docker calls the image ID).
    pub fn config_digest(&self) -> Result<String> {
        Ok(sha256_digest(&self.config_blob()?.0))
    }

    /// Records a step that changed only the config (`ENV`, `CMD`, `USER`...): a history entry
    /// with `empty_layer`, as `docker history` shows them.
    pub fn add_config_step(&mut self, created_by: &str) {
        self.original_config = None;
        if !self.config["history"].is_array() {
            self.config["history"] = json!([]);
        }
        if let Some(history) = self.config["history"].as_array_mut() {
            history.push(json!({ "created_by": created_by, "empty_layer": true }));
        }
    }

    /// Sets the environment variable `name` to `value` in the config's `Env`.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.original_config = None;
        if !self.config["config"].is_object() {
            self.config["config"] = json!({});
        }
        let env = &mut self.config["config"]["Env"];
        if !env.is_array() {
            *env = json!([]);
        }
        if let Some(env) = env.as_array_mut() {
            let prefix = format!("{name}=");
            env.retain(|entry| !entry.as_str().is_some_and(|e| e.starts_with(&prefix)));
            env.push(json!(format!("{name}={value}")));
        }
    }

    /// Sets the config's `Cmd`.
    pub fn set_cmd(&mut self, cmd: &[String]) {
        self.set_config_field("Cmd", json!(cmd));
    }

    /// Sets the field `name` of the config's `config` (the runtime settings: `Entrypoint`,
    /// `WorkingDir`, `User`...) to `value`; `null` is what Docker writes for a cleared `Cmd`.
    pub fn set_config_field(&mut self, name: &str, value: Value) {
        self.original_config = None;
        if !self.config["config"].is_object() {
            self.config["config"] = json!({});
        }
        self.config["config"][name] = value;
    }

    /// The config document (as it will be written).
    pub fn config(&self) -> &Value {
        &self.config
    }

    /// The files of the image's OCI layout, by path: `oci-layout`, `index.json` and every
    /// blob under `blobs/sha256/`, sorted by path.
    pub fn layout_files(&self) -> Result<Vec<(String, Vec<u8>)>> {
        OciLayout::of(self.clone()).layout_files()
    }

    /// Writes the image as an OCI layout directory at `dir` (created if needed), which
    /// skopeo (`oci:DIR`) and umoci read.
    pub fn write_layout(&self, dir: &Path) -> Result<()> {
        OciLayout::of(self.clone()).write_layout(dir)
    }

    /// The RAM disk: the image's layout packed as one uncompressed tar (deterministic: the
    /// same image always gives the same bytes). skopeo reads it as `oci-archive:FILE`.
    pub fn ramdisk(&self) -> Result<Vec<u8>> {
        pack_layout(&self.layout_files()?)
    }

    /// Writes the RAM disk to `path` (see [`OciLayout::write_ramdisk`]) and returns its size
    /// in bytes.
    pub fn write_ramdisk(&self, path: &Path) -> Result<u64> {
        OciLayout::of(self.clone()).write_ramdisk(path)
    }
}

/// Several images in one OCI layout: one manifest per image in `index.json` (named by its
/// `org.opencontainers.image.ref.name`), every blob stored once however many images use it,
/// so images built `FROM` one base share its layers in the RAM disk.
#[derive(Debug, Clone, Default)]
pub struct OciLayout {
    images: Vec<OciImage>,
}

impl OciLayout {
    /// A layout with no image.
    pub fn new() -> OciLayout {
        OciLayout::default()
    }

    /// A layout of `image` alone.
    pub fn of(image: OciImage) -> OciLayout {
        OciLayout {
            images: vec![image],
        }
    }

    /// Adds `image` after the others (the first image is the one the kernel's shell starts
    /// a container of).
    pub fn push(&mut self, image: OciImage) -> Result<()> {
        if self.images.iter().any(|i| i.ref_name == image.ref_name) {
            bail!("two images named {:?} in one layout", image.ref_name);
        }
        self.images.push(image);
        Ok(())
    }

    /// The images, in index order.
    pub fn images(&self) -> &[OciImage] {
        &self.images
    }

    /// The files of the layout, by path: `oci-layout`, `index.json` and every blob once
    /// under `blobs/sha256/`, sorted by path.
    pub fn layout_files(&self) -> Result<Vec<(String, Vec<u8>)>> {
        if self.images.is_empty() {
            bail!("the layout has no images");
        }
        let mut manifests = Vec::new();
        let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
        for image in &self.images {
            let (manifest, image_blobs) = image.manifest()?;
            manifests.push(manifest);
            for blob in image_blobs {
                let path = blob_path(&sha256_digest(&blob));
                if !blobs.iter().any(|(existing, _)| *existing == path) {
                    blobs.push((path, blob));
                }
            }
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_INDEX,
            "manifests": manifests,
        });
        let mut files = vec![
            (
                "oci-layout".to_string(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            ("index.json".to_string(), serde_json::to_vec(&index)?),
        ];
        files.extend(blobs);
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(files)
    }

    /// Writes the layout as a directory at `dir` (created if needed), which skopeo
    /// (`oci:DIR:NAME`) and umoci read.
    pub fn write_layout(&self, dir: &Path) -> Result<()> {
        for (path, bytes) in self.layout_files()? {
            let path = dir.join(path);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }

    /// The RAM disk: the layout packed as one uncompressed tar (deterministic).
    pub fn ramdisk(&self) -> Result<Vec<u8>> {
        pack_layout(&self.layout_files()?)
    }

    /// Writes the RAM disk to `path` (unless it already holds exactly those bytes, so its
    /// time stays as it was) and returns its size in bytes. The RAM disk is first read back
    /// with the kernel's own loader (every image, every digest), so a RAM disk the kernel
    /// would refuse is refused here.
    pub fn write_ramdisk(&self, path: &Path) -> Result<u64> {
        let bytes = self.ramdisk()?;
        ImageStore::from_ramdisk(Bytes::from_vec(bytes.clone()))
            .map_err(|error| anyhow!("the kernel would refuse this image: {error}"))?;
        if fs::read(path).ok().as_deref() != Some(bytes.as_slice()) {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(bytes.len() as u64)
    }
}

/// Packs layout files (paths relative to the layout's root, as
/// [`OciImage::layout_files`] gives them) into one uncompressed tar, the way RAM disks are
/// packed: the `blobs/` directories first, then the files in the order given, owner 0:0,
/// mtime 0. Tests use it to make broken RAM disks (a file left out, a blob changed).
pub fn pack_layout(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut header = layer_tar::header(tar::EntryType::Directory, 0o755, 0);
        builder.append_data(&mut header, dir, std::io::empty())?;
    }
    for (path, bytes) in files {
        let mut header = layer_tar::header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
        builder.append_data(&mut header, path, bytes.as_slice())?;
    }
    Ok(builder.into_inner()?)
}

/// Writes the default RAM disk (the images of `rootfs/images`, see [`default_layout`]) to
/// `<dir>/rootfs.tar` (see [`OciLayout::write_ramdisk`]) and returns its path.
pub fn default_ramdisk(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("rootfs.tar");
    default_layout()?.write_ramdisk(&path)?;
    Ok(path)
}

/// The default RAM disk's layout: the images `rootfs/images` lists, built from their build
/// files with the build cache in `<target>/build-cache` (see [`crate::build`]).
pub fn default_layout() -> Result<OciLayout> {
    Ok(crate::build::default_layout()?.0)
}

/// A content descriptor of `bytes`.
fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({
        "mediaType": media_type,
        "digest": sha256_digest(bytes),
        "size": bytes.len(),
    })
}

/// `blobs/sha256/<hex>` for a `sha256:<hex>` digest.
fn blob_path(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

/// One line of a layer list: a layer directory and the command that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSpec {
    /// The layer directory.
    pub dir: PathBuf,
    /// Its `created_by`, e.g. `COPY app /app`.
    pub created_by: String,
}

/// Reads a layer list: one layer per line, base first, as `DIR CREATED_BY...` with `DIR`
/// relative to the list's own directory; blank lines and `#` comments are skipped. A line
/// with only `DIR` gets `COPY DIR /`.
pub fn read_layer_list(file: &Path) -> Result<Vec<LayerSpec>> {
    let text = fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let base = file.parent().unwrap_or(Path::new("."));
    let mut specs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (dir, created_by) = match line.split_once(char::is_whitespace) {
            Some((dir, rest)) => (dir, rest.trim().to_string()),
            None => (line, format!("COPY {line} /")),
        };
        let dir = base.join(dir);
        if !dir.is_dir() {
            bail!(
                "{}:{}: {} is not a directory",
                file.display(),
                number + 1,
                dir.display()
            );
        }
        specs.push(LayerSpec { dir, created_by });
    }
    if specs.is_empty() {
        bail!("{} lists no layers", file.display());
    }
    Ok(specs)
}

/// The image of a layer list (see [`read_layer_list`]).
pub fn image_from_layer_list(file: &Path) -> Result<OciImage> {
    let mut image = OciImage::new();
    for spec in read_layer_list(file)? {
        image.add_layer_dir(&spec.dir, &spec.created_by)?;
    }
    Ok(image)
}

#[cfg(test)]
mod tests;
