//! Reading an existing OCI image layout directory (skopeo's `oci:DIR`, umoci, buildah,
//! podman): every blob is checked against its descriptor, gzip layers are decompressed, and
//! each uncompressed layer must hash to the config's `diff_id` for it.

use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, bail, ensure, Context, Result};
use overlay_core::image::oci::{ANNOTATION_REF_NAME, MEDIA_TYPE_INDEX};
use overlay_core::image::sha256_digest;
use serde_json::Value;

use super::{OciImage, OciLayer, DEFAULT_REF_NAME};

const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Largest decompressed layer accepted (a bound against decompression bombs).
const MAX_LAYER_BYTES: u64 = 4 << 30;

/// How a layer blob is stored.
enum Compression {
    None,
    Gzip,
}

fn compression(media_type: &str) -> Result<Compression> {
    match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => Ok(Compression::None),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Ok(Compression::Gzip),
        _ if media_type.contains("zstd") => bail!(
            "zstd-compressed layers are not supported: convert the image to gzip layers \
             (e.g. `skopeo copy --dest-compress-format gzip`)"
        ),
        _ => bail!("unsupported layer media type {media_type:?}"),
    }
}

pub(super) fn read_layout(dir: &Path, ref_name: Option<&str>) -> Result<OciImage> {
    let layout: Value = read_json(&dir.join("oci-layout"))?;
    let version = layout["imageLayoutVersion"].as_str().unwrap_or("");
    ensure!(
        version.starts_with("1."),
        "unsupported imageLayoutVersion {version:?}"
    );
    let index: Value = read_json(&dir.join("index.json"))?;
    let manifests = index["manifests"]
        .as_array()
        .ok_or_else(|| anyhow!("index.json has no manifests"))?;
    let mut chosen = match ref_name {
        Some(name) => manifests
            .iter()
            .find(|m| m["annotations"][ANNOTATION_REF_NAME].as_str() == Some(name))
            .ok_or_else(|| anyhow!("index.json has no manifest named {name:?}"))?,
        None => manifests
            .first()
            .ok_or_else(|| anyhow!("index.json has no manifests"))?,
    }
    .clone();
    let chosen_name = chosen["annotations"][ANNOTATION_REF_NAME]
        .as_str()
        .map(String::from);
    // A multi-platform image: follow its index to the linux/amd64 manifest.
    for _ in 0..4 {
        let media_type = chosen["mediaType"].as_str().unwrap_or("");
        if media_type != MEDIA_TYPE_INDEX && media_type != DOCKER_MANIFEST_LIST {
            break;
        }
        let nested: Value = serde_json::from_slice(&read_blob(dir, &chosen)?)?;
        let manifests = nested["manifests"]
            .as_array()
            .ok_or_else(|| anyhow!("a nested index has no manifests"))?;
        chosen = manifests
            .iter()
            .find(|m| {
                m["platform"]["os"].as_str() == Some("linux")
                    && m["platform"]["architecture"].as_str() == Some("amd64")
            })
            .or(manifests.first())
            .ok_or_else(|| anyhow!("a nested index has no manifests"))?
            .clone();
    }

    let manifest: Value =
        serde_json::from_slice(&read_blob(dir, &chosen)?).context("parsing the manifest")?;
    let config_descriptor = &manifest["config"];
    let config_bytes = read_blob(dir, config_descriptor).context("reading the config")?;
    let config_media_type = config_descriptor["mediaType"]
        .as_str()
        .ok_or_else(|| anyhow!("the config descriptor has no mediaType"))?
        .to_string();
    let config: Value = serde_json::from_slice(&config_bytes).context("parsing the config")?;
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| anyhow!("the config has no rootfs.diff_ids"))?
        .iter()
        .map(|id| id.as_str().unwrap_or(""))
        .collect();
    let descriptors = manifest["layers"]
        .as_array()
        .ok_or_else(|| anyhow!("the manifest has no layers"))?;
    ensure!(
        descriptors.len() == diff_ids.len(),
        "the manifest has {} layers but the config {} diff_ids",
        descriptors.len(),
        diff_ids.len()
    );
    let created_by = layer_history(&config, descriptors.len());

    let mut layers = Vec::new();
    for (index, (descriptor, diff_id)) in descriptors.iter().zip(&diff_ids).enumerate() {
        let layer = read_layer(dir, descriptor, diff_id).with_context(|| {
            let digest = descriptor["digest"].as_str().unwrap_or("?");
            format!("layer {} ({digest})", index + 1)
        })?;
        layers.push(OciLayer {
            diff_id: diff_id.to_string(),
            tar: layer,
            created_by: created_by[index].clone(),
        });
    }
    Ok(OciImage {
        config,
        original_config: Some((config_bytes, config_media_type)),
        layers,
        ref_name: chosen_name.unwrap_or_else(|| DEFAULT_REF_NAME.to_string()),
        manifest_annotations: manifest.get("annotations").cloned(),
    })
}

/// The uncompressed tar of a layer, checked against its descriptor and its `diff_id`.
fn read_layer(dir: &Path, descriptor: &Value, diff_id: &str) -> Result<Vec<u8>> {
    let media_type = descriptor["mediaType"].as_str().unwrap_or("");
    let compression = compression(media_type)?;
    let blob = read_blob(dir, descriptor)?;
    let tar = match compression {
        Compression::None => blob,
        Compression::Gzip => {
            let mut tar = Vec::new();
            flate2::read::MultiGzDecoder::new(blob.as_slice())
                .take(MAX_LAYER_BYTES + 1)
                .read_to_end(&mut tar)
                .context("decompressing the layer")?;
            ensure!(
                tar.len() as u64 <= MAX_LAYER_BYTES,
                "the layer decompresses to more than {MAX_LAYER_BYTES} bytes"
            );
            tar
        }
    };
    let actual = sha256_digest(&tar);
    ensure!(
        actual == diff_id,
        "the uncompressed layer hashes to {actual}, but the config's diff_id is {diff_id}"
    );
    Ok(tar)
}

/// The `created_by` of each layer, from the config's history (empty layers skipped).
fn layer_history(config: &Value, layer_count: usize) -> Vec<Option<String>> {
    let mut created_by: Vec<Option<String>> = config["history"]
        .as_array()
        .map(|history| {
            history
                .iter()
                .filter(|entry| !entry["empty_layer"].as_bool().unwrap_or(false))
                .map(|entry| entry["created_by"].as_str().map(String::from))
                .take(layer_count)
                .collect()
        })
        .unwrap_or_default();
    created_by.resize(layer_count, None);
    created_by
}

/// The bytes of the blob `descriptor` names, checked against its size and digest.
fn read_blob(dir: &Path, descriptor: &Value) -> Result<Vec<u8>> {
    let digest = descriptor["digest"]
        .as_str()
        .ok_or_else(|| anyhow!("a descriptor has no digest"))?;
    let Some(hex) = digest.strip_prefix("sha256:") else {
        bail!("unsupported digest {digest:?}: only sha256 is");
    };
    ensure!(
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "malformed digest {digest:?}"
    );
    let path = dir.join("blobs/sha256").join(hex);
    let bytes = fs::read(&path).with_context(|| format!("reading the blob {}", path.display()))?;
    if let Some(size) = descriptor["size"].as_u64() {
        ensure!(
            size == bytes.len() as u64,
            "blob {digest}: the descriptor says {size} bytes, the blob has {}",
            bytes.len()
        );
    }
    let actual = sha256_digest(&bytes);
    ensure!(
        actual == digest,
        "blob {digest} is corrupt: its content hashes to {actual}"
    );
    Ok(bytes)
}

fn read_json(path: &Path) -> Result<Value> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}
