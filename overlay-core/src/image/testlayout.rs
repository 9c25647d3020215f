//! Test helper: RAM disks holding several images (one OCI layout, one manifest per image),
//! each blob stored once, as `boot` packs them.

use alloc::{collections::BTreeMap, format, string::String, vec::Vec};

use serde_json::json;

use super::oci::{
    sha256_digest, ANNOTATION_REF_NAME, MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER_TAR,
    MEDIA_TYPE_MANIFEST,
};
use super::testtar::TarBuilder;

/// One image of a test layout: a name (or none), its layers base first, and the
/// `created_by` of each history entry (`None`: an empty-layer step such as `ENV`).
pub struct TestImage<'a> {
    pub name: Option<&'a str>,
    pub layers: Vec<Vec<u8>>,
    pub history: Vec<(&'a str, bool)>,
}

impl<'a> TestImage<'a> {
    /// An image named `name` of `layers`, one history entry per layer, `created_by`
    /// `STEP n`.
    pub fn new(name: &'a str, layers: &[&Vec<u8>]) -> TestImage<'a> {
        TestImage {
            name: Some(name),
            layers: layers.iter().map(|layer| (*layer).clone()).collect(),
            history: Vec::new(),
        }
    }
}

fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    json!({ "mediaType": media_type, "digest": sha256_digest(bytes), "size": bytes.len() })
}

/// The RAM disk of `images`: every blob once under `blobs/sha256/`, one manifest per image
/// in `index.json`, in order.
pub fn ramdisk(images: &[TestImage<'_>]) -> Vec<u8> {
    let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut manifests = Vec::new();
    for image in images {
        let diff_ids: Vec<String> = image.layers.iter().map(|l| sha256_digest(l)).collect();
        let history: Vec<serde_json::Value> = if image.history.is_empty() {
            (1..=image.layers.len())
                .map(|n| json!({ "created_by": format!("STEP {n}") }))
                .collect()
        } else {
            image
                .history
                .iter()
                .map(
                    |(created_by, empty)| json!({ "created_by": created_by, "empty_layer": empty }),
                )
                .collect()
        };
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "config": { "Env": ["PATH=/bin"] },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "history": history,
        });
        let config = serde_json::to_vec(&config).unwrap();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_MANIFEST,
            "config": descriptor(MEDIA_TYPE_CONFIG, &config),
            "layers": image.layers.iter().map(|l| descriptor(MEDIA_TYPE_LAYER_TAR, l)).collect::<Vec<_>>(),
        });
        let manifest = serde_json::to_vec(&manifest).unwrap();
        let mut manifest_descriptor = descriptor(MEDIA_TYPE_MANIFEST, &manifest);
        if let Some(name) = image.name {
            manifest_descriptor["annotations"] = json!({ ANNOTATION_REF_NAME: name });
        }
        manifests.push(manifest_descriptor);
        for blob in image.layers.iter().chain([&config, &manifest]) {
            let hex = sha256_digest(blob).replacen("sha256:", "", 1);
            blobs.insert(format!("blobs/sha256/{hex}"), blob.clone());
        }
    }
    let index = json!({ "schemaVersion": 2, "manifests": manifests });
    let mut tar = TarBuilder::new();
    tar.dir("./").dir("blobs/").dir("blobs/sha256/");
    tar.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    tar.file("index.json", &serde_json::to_vec(&index).unwrap());
    for (path, bytes) in &blobs {
        tar.file(path, bytes);
    }
    tar.finish()
}

/// A base layer: `/etc` with `os-release`, `config` and `motd`, and `/var/cache/base`.
pub fn base_layer() -> Vec<u8> {
    TarBuilder::new()
        .dir("etc/")
        .file("etc/os-release", b"NAME=Base\n")
        .file("etc/config", b"debug=0\n")
        .file("etc/motd", b"welcome\n")
        .dir("var/")
        .dir("var/cache/")
        .dir("var/cache/base/")
        .file("var/cache/base/index", b"base cache\n")
        .finish()
}

/// A runtime layer on the base.
pub fn runtime_layer() -> Vec<u8> {
    TarBuilder::new()
        .dir("usr/")
        .dir("usr/lib/")
        .file("usr/lib/runtime", b"runtime 8\n")
        .finish()
}

/// An application layer: `/app/NAME`, and `/etc/config` changed.
pub fn app_layer(name: &str) -> Vec<u8> {
    TarBuilder::new()
        .dir("app/")
        .file(&format!("app/{name}"), format!("{name}\n").as_bytes())
        .file("etc/config", format!("app={name}\n").as_bytes())
        .finish()
}

/// Two services on one base, and the base itself: `svc-a` and `svc-b` share the base and
/// runtime layers with `java:8`.
pub fn two_services() -> Vec<u8> {
    let (base, runtime) = (base_layer(), runtime_layer());
    let (a, b) = (app_layer("a"), app_layer("b"));
    ramdisk(&[
        TestImage::new("svc-a", &[&base, &runtime, &a]),
        TestImage::new("svc-b", &[&base, &runtime, &b]),
        TestImage::new("java:8", &[&base, &runtime]),
    ])
}
