use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use flate2::write::GzEncoder;
use overlay_core::image::{Bytes, EntryKind, Image, ImageLayerFs, TarReader};
use overlay_core::vfs::{FileSystem, FileType};

use super::*;

/// A fresh scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "boot-oci-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, path: &str, content: &[u8]) -> PathBuf {
        let path = self.0.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A small layer directory: files, an executable, a symlink, a hard link, a whiteout.
fn sample_layer(scratch: &Scratch, private_modes: bool) {
    let config = scratch.write("etc/config", b"debug=1\n");
    let tool = scratch.write("bin/tool", b"#!/bin/sh\n");
    scratch.write("etc/.wh.motd", b"");
    let long_name = format!("deep/{}/{}", "d".repeat(120), "f".repeat(120));
    scratch.write(&long_name, b"far down\n");
    symlink("tool", scratch.0.join("bin/alias")).unwrap();
    fs::hard_link(&config, scratch.0.join("etc/config.bak")).unwrap();
    if private_modes {
        set_mode(&config, 0o600);
        set_mode(&tool, 0o700);
    } else {
        set_mode(&config, 0o664);
        set_mode(&tool, 0o755);
    }
}

#[test]
fn layer_tars_are_deterministic() {
    let (one, two) = (Scratch::new(), Scratch::new());
    sample_layer(&one, false);
    sample_layer(&two, true);
    let first = layer_tar::layer_dir_tar(&one.0).unwrap();
    assert_eq!(first, layer_tar::layer_dir_tar(&two.0).unwrap());
    let entries: Vec<_> = TarReader::new(&first).collect::<Result<_, _>>().unwrap();
    let summary: Vec<(String, u16, u32, i64)> = entries
        .iter()
        .map(|e| (e.path.clone(), e.mode, e.uid, e.mtime.sec))
        .collect();
    let long_name = format!("deep/{}/{}", "d".repeat(120), "f".repeat(120));
    assert_eq!(
        summary,
        [
            ("bin".to_string(), 0o755, 0, 0),
            ("bin/alias".to_string(), 0o777, 0, 0),
            ("bin/tool".to_string(), 0o755, 0, 0),
            ("deep".to_string(), 0o755, 0, 0),
            (format!("deep/{}", "d".repeat(120)), 0o755, 0, 0),
            (long_name, 0o644, 0, 0),
            ("etc".to_string(), 0o755, 0, 0),
            ("etc/.wh.motd".to_string(), 0o644, 0, 0),
            ("etc/config".to_string(), 0o644, 0, 0),
            ("etc/config.bak".to_string(), 0o644, 0, 0),
        ]
    );
    assert_eq!(
        entries[9].kind,
        EntryKind::HardLink {
            target: "etc/config".to_string()
        }
    );
    assert_eq!(
        entries[1].kind,
        EntryKind::Symlink {
            target: "tool".to_string()
        }
    );
}

#[test]
fn whiteouts_must_be_empty_files() {
    let scratch = Scratch::new();
    scratch.write("etc/.wh.motd", b"not empty");
    let error = layer_tar::layer_dir_tar(&scratch.0).unwrap_err();
    assert!(
        format!("{error:#}").contains("must be an empty file"),
        "{error:#}"
    );
}

#[test]
fn layer_lists_name_directories_and_commands() {
    let scratch = Scratch::new();
    scratch.write("base/etc/os-release", b"NAME=x\n");
    scratch.write("app/app/main", b"main\n");
    let list = scratch.write("layers", b"# comment\n\nbase   ADD base.tar /\napp\n");
    let specs = read_layer_list(&list).unwrap();
    assert_eq!(
        specs,
        [
            LayerSpec {
                dir: scratch.0.join("base"),
                created_by: "ADD base.tar /".to_string()
            },
            LayerSpec {
                dir: scratch.0.join("app"),
                created_by: "COPY app /".to_string()
            },
        ]
    );
    let missing = scratch.write("bad", b"nothere  RUN x\n");
    let error = read_layer_list(&missing).unwrap_err().to_string();
    assert!(
        error.contains("bad:1:") && error.contains("is not a directory"),
        "{error}"
    );
    let empty = scratch.write("empty", b"# nothing\n");
    assert!(read_layer_list(&empty).is_err());
}

fn two_layer_image(scratch: &Scratch) -> OciImage {
    scratch.write("base/etc/config", b"debug=0\n");
    scratch.write("base/etc/motd", b"hello\n");
    scratch.write("app/etc/config", b"debug=1\n");
    scratch.write("app/etc/.wh.motd", b"");
    let mut image = OciImage::new();
    image
        .add_layer_dir(&scratch.0.join("base"), "ADD base.tar /")
        .unwrap();
    image
        .add_layer_dir(&scratch.0.join("app"), "COPY app /")
        .unwrap();
    image
}

#[test]
fn ramdisks_parse_in_overlay_core() {
    let scratch = Scratch::new();
    let image = two_layer_image(&scratch);
    let ramdisk = image.ramdisk().unwrap();
    assert_eq!(ramdisk, image.ramdisk().unwrap());
    let parsed = Image::parse(Bytes::from_vec(ramdisk)).unwrap();
    assert_eq!(parsed.ref_name.as_deref(), Some(DEFAULT_REF_NAME));
    let created_by: Vec<_> = parsed.layers.iter().map(|l| l.created_by.clone()).collect();
    assert_eq!(
        created_by,
        [
            Some("ADD base.tar /".to_string()),
            Some("COPY app /".to_string())
        ]
    );
    assert_eq!(parsed.layers[1].diff_id, image.layers()[1].diff_id);
    assert_eq!(parsed.layers[1].fs.stats().whiteouts, 1);
    assert!(OciImage::new().ramdisk().is_err());
}

/// Rewrites the layout at `dir` with gzip layers, as skopeo and umoci write them, and
/// returns the digests of the compressed blobs.
fn gzip_layers(dir: &Path, replace_first_with: Option<&[u8]>) -> Vec<String> {
    let index: Value = serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let manifest_path = dir.join(blob_path(&manifest_digest));
    let mut manifest: Value = serde_json::from_slice(&fs::read(&manifest_path).unwrap()).unwrap();
    let mut digests = Vec::new();
    for (number, layer) in manifest["layers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        let path = dir.join(blob_path(layer["digest"].as_str().unwrap()));
        let mut tar = fs::read(&path).unwrap();
        if let (0, Some(other)) = (number, replace_first_with) {
            tar = other.to_vec();
        }
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&tar).unwrap();
        let gzip = encoder.finish().unwrap();
        let digest = sha256_digest(&gzip);
        fs::write(dir.join(blob_path(&digest)), &gzip).unwrap();
        *layer = descriptor("application/vnd.oci.image.layer.v1.tar+gzip", &gzip);
        digests.push(digest);
    }
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let digest = sha256_digest(&manifest);
    fs::write(dir.join(blob_path(&digest)), &manifest).unwrap();
    let mut descriptor = descriptor(MEDIA_TYPE_MANIFEST, &manifest);
    descriptor["annotations"] = json!({ ANNOTATION_REF_NAME: "v1.2" });
    let index = json!({ "schemaVersion": 2, "manifests": [descriptor] });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    digests
}

#[test]
fn gzip_layouts_are_decompressed_and_keep_their_config() {
    let scratch = Scratch::new();
    let image = two_layer_image(&scratch);
    let layout = scratch.0.join("layout");
    image.write_layout(&layout).unwrap();
    let compressed = gzip_layers(&layout, None);
    let imported = OciImage::from_layout(&layout, None).unwrap();
    assert_eq!(imported.ref_name(), "v1.2");
    assert_eq!(imported.layers().len(), 2);
    for (original, imported) in image.layers().iter().zip(imported.layers()) {
        assert_eq!(original.tar, imported.tar);
        assert_eq!(original.diff_id, imported.diff_id);
        assert_eq!(original.created_by, imported.created_by);
    }
    // The config is the input's, byte for byte; the layers are now uncompressed.
    let parsed = Image::parse(Bytes::from_vec(imported.ramdisk().unwrap())).unwrap();
    let original = Image::parse(Bytes::from_vec(image.ramdisk().unwrap())).unwrap();
    assert_eq!(parsed.config_digest, original.config_digest);
    assert_eq!(parsed.layers[0].digest, image.layers()[0].diff_id);
    assert!(!compressed.contains(&parsed.layers[0].digest));
    assert_eq!(parsed.ref_name.as_deref(), Some("v1.2"));
    // By name, too.
    assert!(OciImage::from_layout(&layout, Some("v1.2")).is_ok());
    let error = OciImage::from_layout(&layout, Some("v9")).unwrap_err();
    assert!(
        format!("{error:#}").contains("no manifest named \"v9\""),
        "{error:#}"
    );
}

#[test]
fn layers_added_on_an_imported_image_make_a_new_config() {
    let scratch = Scratch::new();
    let image = two_layer_image(&scratch);
    let layout = scratch.0.join("layout");
    image.write_layout(&layout).unwrap();
    gzip_layers(&layout, None);
    let mut stacked = OciImage::from_layout(&layout, None).unwrap();
    scratch.write("extra/extra.txt", b"more\n");
    stacked
        .add_layer_dir(&scratch.0.join("extra"), "COPY extra /")
        .unwrap();
    let parsed = Image::parse(Bytes::from_vec(stacked.ramdisk().unwrap())).unwrap();
    assert_eq!(parsed.layers.len(), 3);
    assert_eq!(parsed.layers[2].created_by.as_deref(), Some("COPY extra /"));
    assert_eq!(
        parsed.layers[0].created_by.as_deref(),
        Some("ADD base.tar /")
    );
}

#[test]
fn a_layer_that_does_not_match_its_diff_id_is_refused() {
    let scratch = Scratch::new();
    let image = two_layer_image(&scratch);
    let layout = scratch.0.join("layout");
    image.write_layout(&layout).unwrap();
    let other = image.layers()[1].tar.clone();
    gzip_layers(&layout, Some(&other));
    let error = format!("{:#}", OciImage::from_layout(&layout, None).unwrap_err());
    assert!(
        error.contains("layer 1") && error.contains("diff_id"),
        "{error}"
    );
}

#[test]
fn corrupt_blobs_and_unsupported_layers_are_refused() {
    let scratch = Scratch::new();
    let image = two_layer_image(&scratch);
    let layout = scratch.0.join("layout");
    image.write_layout(&layout).unwrap();
    let blob = layout.join(blob_path(&image.layers()[0].diff_id));
    let mut bytes = fs::read(&blob).unwrap();
    bytes[600] ^= 1;
    fs::write(&blob, &bytes).unwrap();
    let error = format!("{:#}", OciImage::from_layout(&layout, None).unwrap_err());
    assert!(error.contains("is corrupt"), "{error}");
    bytes[600] ^= 1;
    fs::write(&blob, &bytes).unwrap();

    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_path = layout.join(blob_path(index["manifests"][0]["digest"].as_str().unwrap()));
    let mut manifest: Value = serde_json::from_slice(&fs::read(&manifest_path).unwrap()).unwrap();
    manifest["layers"][0]["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+zstd");
    let manifest = serde_json::to_vec(&manifest).unwrap();
    fs::write(layout.join(blob_path(&sha256_digest(&manifest))), &manifest).unwrap();
    let index =
        json!({ "schemaVersion": 2, "manifests": [descriptor(MEDIA_TYPE_MANIFEST, &manifest)] });
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let error = format!("{:#}", OciImage::from_layout(&layout, None).unwrap_err());
    assert!(
        error.contains("zstd-compressed layers are not supported"),
        "{error}"
    );

    fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"2.0.0"}"#,
    )
    .unwrap();
    let error = format!("{:#}", OciImage::from_layout(&layout, None).unwrap_err());
    assert!(error.contains("imageLayoutVersion"), "{error}");
}

#[test]
fn write_ramdisk_keeps_an_identical_file() {
    let scratch = Scratch::new();
    let image = two_layer_image(&scratch);
    let path = scratch.0.join("out/rootfs.tar");
    let size = image.write_ramdisk(&path).unwrap();
    assert_eq!(size, fs::metadata(&path).unwrap().len());
    let old = filetime_of(&path);
    std::thread::sleep(std::time::Duration::from_millis(20));
    image.write_ramdisk(&path).unwrap();
    assert_eq!(filetime_of(&path), old);
}

fn filetime_of(path: &Path) -> std::time::SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn device_nodes_in_layer_tars() {
    // Only root can make device nodes; a fifo needs no privilege.
    let scratch = Scratch::new();
    let fifo = scratch.0.join("run/pipe");
    fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    let status = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !matches!(status, Ok(status) if status.success()) {
        return;
    }
    let tar = layer_tar::layer_dir_tar(&scratch.0).unwrap();
    let fs = ImageLayerFs::parse(Bytes::from_vec(tar)).unwrap();
    let pipe = fs.root().lookup("run").unwrap().lookup("pipe").unwrap();
    assert_eq!(pipe.metadata().unwrap().kind, FileType::Fifo);
}

#[test]
fn broken_layouts_can_be_packed_for_tests() {
    let scratch = Scratch::new();
    let image = two_layer_image(&scratch);
    let mut files = image.layout_files().unwrap();
    assert_eq!(pack_layout(&files).unwrap(), image.ramdisk().unwrap());
    files.retain(|(path, _)| path != "index.json");
    let error = Image::parse(Bytes::from_vec(pack_layout(&files).unwrap())).unwrap_err();
    assert_eq!(
        error.to_string(),
        "index.json: no index.json in the layout (ENOENT)"
    );
    let path = default_ramdisk(&scratch.0).unwrap();
    assert_eq!(path, scratch.0.join("rootfs.tar"));
    assert!(Image::parse(Bytes::from_vec(fs::read(&path).unwrap())).is_ok());
}
