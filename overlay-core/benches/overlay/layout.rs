//! W6's images: an OCI image layout of uncompressed layer tars, both as one tar in memory (the
//! RAM disk this engine loads) and written out as a directory (what `tar -x` and `umoci`
//! read), with the same blobs.

use std::fs;
use std::path::Path;

use overlay_core::image::oci::{
    ANNOTATION_REF_NAME, MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER_TAR,
    MEDIA_TYPE_MANIFEST,
};
use overlay_core::image::{sha256_digest, EntryKind, NewEntry, TarWriter};
use serde_json::json;

use crate::ours::layer_tar;
use crate::spec::Tree;

/// The name of the image in `index.json` (`umoci unpack --image DIR:w6`).
pub const REF_NAME: &str = "w6";

/// One image as an OCI layout.
pub struct Layout {
    /// The layout packed as one tar: the RAM disk.
    pub ramdisk: Vec<u8>,
    /// Every blob (layers, config, manifest) as `(hex digest, bytes)`.
    pub blobs: Vec<(String, Vec<u8>)>,
    /// The layers' hex digests, base first (manifest order).
    pub layers: Vec<String>,
    /// `index.json`.
    index: Vec<u8>,
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

impl Layout {
    /// The image of `layers` (top first, as the workloads give them).
    pub fn new(layers: &[Tree]) -> Result<Layout, String> {
        let tars = layers
            .iter()
            .rev()
            .map(layer_tar)
            .collect::<Result<Vec<_>, _>>()?;
        let descriptor = |media_type: &str, bytes: &[u8]| {
            json!({
                "mediaType": media_type,
                "digest": sha256_digest(bytes),
                "size": bytes.len(),
            })
        };
        let diff_ids: Vec<String> = tars.iter().map(|tar| sha256_digest(tar)).collect();
        let history: Vec<_> = (1..=tars.len())
            .map(|n| json!({ "created_by": format!("W6 layer {n}") }))
            .collect();
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "config": { "Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"] },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "history": history,
        }))
        .map_err(|error| error.to_string())?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_MANIFEST,
            "config": descriptor(MEDIA_TYPE_CONFIG, &config),
            "layers": tars
                .iter()
                .map(|tar| descriptor(MEDIA_TYPE_LAYER_TAR, tar))
                .collect::<Vec<_>>(),
        }))
        .map_err(|error| error.to_string())?;
        let mut manifest_descriptor = descriptor(MEDIA_TYPE_MANIFEST, &manifest);
        manifest_descriptor["annotations"] = json!({ ANNOTATION_REF_NAME: REF_NAME });
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_INDEX,
            "manifests": [manifest_descriptor],
        }))
        .map_err(|error| error.to_string())?;
        let hex = |bytes: &[u8]| sha256_digest(bytes).replacen("sha256:", "", 1);
        let layers: Vec<String> = tars.iter().map(|tar| hex(tar)).collect();
        let mut blobs: Vec<(String, Vec<u8>)> = layers.iter().cloned().zip(tars).collect();
        blobs.push((hex(&config), config));
        blobs.push((hex(&manifest), manifest));
        let mut outer = TarWriter::new();
        let tar_error = |errno| format!("layout tar: {errno}");
        outer
            .append(
                &NewEntry::new("oci-layout", EntryKind::Regular, 0o644),
                OCI_LAYOUT,
            )
            .map_err(tar_error)?;
        outer
            .append(
                &NewEntry::new("index.json", EntryKind::Regular, 0o644),
                &index,
            )
            .map_err(tar_error)?;
        for dir in ["blobs", "blobs/sha256"] {
            outer
                .append(&NewEntry::new(dir, EntryKind::Directory, 0o755), &[])
                .map_err(tar_error)?;
        }
        for (hex, bytes) in &blobs {
            let path = format!("blobs/sha256/{hex}");
            outer
                .append(&NewEntry::new(&path, EntryKind::Regular, 0o644), bytes)
                .map_err(tar_error)?;
        }
        Ok(Layout {
            ramdisk: outer.finish().map_err(tar_error)?,
            blobs,
            layers,
            index,
        })
    }

    /// Bytes of the layer tars, all layers.
    pub fn layer_bytes(&self) -> usize {
        self.blobs
            .iter()
            .filter(|(hex, _)| self.layers.contains(hex))
            .map(|(_, bytes)| bytes.len())
            .sum()
    }

    /// The layer tars, base first.
    pub fn layer_tars(&self) -> impl Iterator<Item = &[u8]> {
        self.layers.iter().filter_map(|layer| {
            self.blobs
                .iter()
                .find(|(hex, _)| hex == layer)
                .map(|(_, bytes)| bytes.as_slice())
        })
    }

    /// Writes the layout as the directory `dir` (which must not exist).
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        let blobs = dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(|error| format!("{}: {error}", blobs.display()))?;
        let mut files = vec![
            (dir.join("oci-layout"), OCI_LAYOUT),
            (dir.join("index.json"), self.index.as_slice()),
        ];
        for (hex, bytes) in &self.blobs {
            files.push((blobs.join(hex), bytes.as_slice()));
        }
        for (path, bytes) in files {
            fs::write(&path, bytes).map_err(|error| format!("{}: {error}", path.display()))?;
        }
        Ok(())
    }
}
