use alloc::{string::ToString, vec};

use serde_json::{json, Value};

use super::*;
use crate::image::tar::tests::XorShift;
use crate::image::testtar::TarBuilder;
use crate::overlay::{OverlayFs, OverlayOptions, UpperLayer, WhiteoutEncoding};
use crate::posix::Namespace;
use crate::tmpfs::{TmpFs, TmpFsOptions};
use crate::vfs::{Credentials, FileSystem, OpenFlags};

fn base_layer() -> Vec<u8> {
    TarBuilder::new()
        .dir("etc/")
        .file("etc/os-release", b"NAME=Base\n")
        .file("etc/config", b"debug=0\n")
        .file("etc/motd", b"welcome\n")
        .finish()
}

fn app_layer() -> Vec<u8> {
    TarBuilder::new()
        .file("etc/config", b"debug=1\n")
        .file("etc/.wh.motd", b"")
        .file("app/main", b"app\n")
        .finish()
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap()
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({ "mediaType": media_type, "digest": sha256_digest(bytes), "size": bytes.len() })
}

type Edit<T> = Option<alloc::boxed::Box<dyn FnOnce(&mut T)>>;

/// The edits a test makes to a layout before it is packed.
#[derive(Default)]
struct Edits {
    config: Edit<Value>,
    manifest: Edit<Value>,
    index: Edit<Value>,
    files: Edit<BTreeMap<String, Vec<u8>>>,
}

impl Edits {
    fn config(mut self, edit: impl FnOnce(&mut Value) + 'static) -> Edits {
        self.config = Some(alloc::boxed::Box::new(edit));
        self
    }

    fn manifest(mut self, edit: impl FnOnce(&mut Value) + 'static) -> Edits {
        self.manifest = Some(alloc::boxed::Box::new(edit));
        self
    }

    fn index(mut self, edit: impl FnOnce(&mut Value) + 'static) -> Edits {
        self.index = Some(alloc::boxed::Box::new(edit));
        self
    }

    fn files(mut self, edit: impl FnOnce(&mut BTreeMap<String, Vec<u8>>) + 'static) -> Edits {
        self.files = Some(alloc::boxed::Box::new(edit));
        self
    }
}

/// A RAM disk: an OCI layout of `layers` (base first) packed as a tar, with `edits` made
/// to each document before its digest is taken.
fn ramdisk(layers: &[Vec<u8>], edits: Edits) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256_digest(l)).collect();
    let mut config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "author": "tests",
        "config": {
            "Env": ["PATH=/usr/bin:/bin"],
            "Cmd": ["/app/main"],
            "Entrypoint": null,
            "WorkingDir": "/app",
            "Labels": { "b": "2", "a": "1" }
        },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": [
            { "created_by": "ADD base.tar /" },
            { "created_by": "ENV DEBUG=1", "empty_layer": true },
            { "created_by": "COPY app /app", "comment": "the app" }
        ]
    });
    if let Some(edit) = edits.config {
        edit(&mut config);
    }
    let config = serde_json::to_vec(&config).unwrap();
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "config": descriptor(MEDIA_TYPE_CONFIG, &config),
        "layers": layers.iter().map(|l| descriptor(MEDIA_TYPE_LAYER_TAR, l)).collect::<Vec<_>>(),
    });
    if let Some(edit) = edits.manifest {
        edit(&mut manifest);
    }
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let mut manifest_descriptor = descriptor(MEDIA_TYPE_MANIFEST, &manifest);
    manifest_descriptor["annotations"] = json!({ ANNOTATION_REF_NAME: "latest" });
    let mut index = json!({ "schemaVersion": 2, "manifests": [manifest_descriptor] });
    if let Some(edit) = edits.index {
        edit(&mut index);
    }
    let mut files = BTreeMap::new();
    files.insert(
        "oci-layout".to_string(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    );
    files.insert(
        "index.json".to_string(),
        serde_json::to_vec(&index).unwrap(),
    );
    for blob in layers.iter().chain([&config, &manifest]) {
        let path = format!("blobs/sha256/{}", hex(&sha256_digest(blob)));
        files.insert(path, blob.clone());
    }
    if let Some(edit) = edits.files {
        edit(&mut files);
    }
    pack(&files)
}

fn pack(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut tar = TarBuilder::new();
    tar.dir("./").dir("./blobs/").dir("./blobs/sha256/");
    for (path, bytes) in files {
        tar.file(&format!("./{path}"), bytes);
    }
    tar.finish()
}

fn good() -> Vec<u8> {
    ramdisk(&[base_layer(), app_layer()], Edits::default())
}

fn parse(ramdisk: Vec<u8>) -> Result<Image, ImageError> {
    Image::parse(Bytes::from_vec(ramdisk))
}

/// Where and why `ramdisk` is refused.
fn refusal(ramdisk: Vec<u8>) -> (Stage, Errno, String) {
    let error = parse(ramdisk).expect_err("the image should be refused");
    (error.stage, error.errno, error.detail)
}

fn stage_errno(ramdisk: Vec<u8>) -> (Stage, Errno) {
    let (stage, errno, _) = refusal(ramdisk);
    (stage, errno)
}

fn layer_stage(number: usize, layer: &[u8]) -> Stage {
    Stage::Layer {
        number,
        digest: sha256_digest(layer),
    }
}

#[test]
fn reads_a_whole_image() {
    let image = parse(good()).unwrap();
    assert_eq!(image.ref_name.as_deref(), Some("latest"));
    assert_eq!(image.architecture.as_deref(), Some("amd64"));
    assert_eq!(image.os.as_deref(), Some("linux"));
    assert_eq!(image.created.as_deref(), Some("2024-01-01T00:00:00Z"));
    assert_eq!(image.author.as_deref(), Some("tests"));
    assert_eq!(image.config.env, ["PATH=/usr/bin:/bin"]);
    assert_eq!(image.config.cmd, ["/app/main"]);
    assert!(image.config.entrypoint.is_empty());
    assert_eq!(image.config.working_dir.as_deref(), Some("/app"));
    assert_eq!(
        image.config.labels,
        [
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string())
        ]
    );
    assert_eq!(image.layers.len(), 2);
    let (base, app) = (&image.layers[0], &image.layers[1]);
    assert_eq!(base.digest, sha256_digest(&base_layer()));
    assert_eq!(base.diff_id, base.digest);
    assert_eq!(base.size, base_layer().len() as u64);
    assert_eq!(base.media_type, MEDIA_TYPE_LAYER_TAR);
    // History pairs with layers, the empty layer skipped.
    assert_eq!(base.created_by.as_deref(), Some("ADD base.tar /"));
    assert_eq!(app.created_by.as_deref(), Some("COPY app /app"));
    let layers_of_history: Vec<Option<usize>> = image.history.iter().map(|h| h.layer).collect();
    assert_eq!(layers_of_history, [Some(0), None, Some(1)]);
    assert!(image.history[1].empty_layer);
    assert_eq!(image.history[2].comment.as_deref(), Some("the app"));
    assert_eq!(base.fs.stats().files, 3);
    assert_eq!((app.fs.stats().files, app.fs.stats().whiteouts), (2, 1));
    // Lowers come top first, labelled with short digests.
    let lowers = image.lowers();
    assert_eq!(lowers[0].label(), short_digest(&app.digest));
    assert_eq!(lowers[1].label(), short_digest(&base.digest));
    assert_eq!(lowers[0].encoding(), WhiteoutEncoding::Oci);
}

#[test]
fn the_image_stacks_into_a_container() {
    let image = parse(good()).unwrap();
    let upper = UpperLayer::new(TmpFs::new(TmpFsOptions::default())).unwrap();
    let union = OverlayFs::new(image.lowers(), Some(upper), OverlayOptions::default()).unwrap();
    let ns = Namespace::with_filesystem(union.clone());
    let root = Credentials::root();
    let read = |path: &str| {
        let file = ns.open(&root, path, OpenFlags::READ, 0)?;
        let mut buf = vec![0; 64];
        let count = file.pread(0, &mut buf)?;
        buf.truncate(count);
        Ok::<_, Errno>(buf)
    };
    assert_eq!(read("/etc/config").unwrap(), b"debug=1\n");
    assert_eq!(read("/etc/os-release").unwrap(), b"NAME=Base\n");
    assert_eq!(read("/etc/motd").err(), Some(Errno::ENOENT));
    assert_eq!(read("/app/main").unwrap(), b"app\n");
    let mut names: Vec<String> = ns
        .read_dir(&root, "/etc")
        .unwrap()
        .into_iter()
        .map(|e| String::from(&*e.name))
        .collect();
    names.sort();
    assert_eq!(names, ["config", "os-release"]);
    // The layers are shared, not copied: a second union holds the same filesystems.
    let again = image.lowers();
    assert!(Arc::ptr_eq(
        again[0].filesystem(),
        union.lowers()[0].filesystem()
    ));
}

#[test]
fn file_data_points_into_the_ramdisk() {
    let bytes = Bytes::from_vec(good());
    let image = Image::parse(bytes.clone()).unwrap();
    let ramdisk = bytes.as_slice().as_ptr_range();
    let etc = image.layers[0].fs.root().lookup("etc").unwrap();
    let config = etc.lookup("os-release").unwrap();
    let data = config
        .as_any()
        .downcast_ref::<crate::image::ImageInode>()
        .unwrap()
        .data()
        .unwrap();
    assert_eq!(data, b"NAME=Base\n");
    let range = data.as_ptr_range();
    assert!(ramdisk.start <= range.start && range.end <= ramdisk.end);
    assert!(image.layers[1].fs.bytes().same_buffer(&bytes));
    assert!(image.bytes.same_buffer(&bytes));
}

#[test]
fn manifests_are_chosen_by_ref_name() {
    let ramdisk = ramdisk(
        &[base_layer(), app_layer()],
        Edits::default().index(|index| {
                let mut first = index["manifests"][0].clone();
                first["annotations"] = json!({ ANNOTATION_REF_NAME: "v2" });
                let manifests = index["manifests"].as_array_mut().unwrap();
                manifests.insert(0, json!({
                    "mediaType": MEDIA_TYPE_MANIFEST,
                    "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                    "size": 2,
                    "annotations": { ANNOTATION_REF_NAME: "broken" }
                }));
                manifests.push(first);
            }),
    );
    let bytes = Bytes::from_vec(ramdisk);
    let image = Image::parse_ref(bytes.clone(), Some("v2")).unwrap();
    assert_eq!(image.ref_name.as_deref(), Some("v2"));
    assert_eq!(image.layers.len(), 2);
    assert_eq!(
        Image::parse_ref(bytes.clone(), Some("latest"))
            .unwrap()
            .layers
            .len(),
        2
    );
    // The first manifest is the default: here, one whose blob is missing.
    let error = Image::parse(bytes.clone()).unwrap_err();
    assert_eq!(
        (error.errno, error.detail.as_str()),
        (Errno::ENOENT, "blob missing from the layout")
    );
    let error = Image::parse_ref(bytes, Some("v3")).unwrap_err();
    assert_eq!(
        (error.stage, error.errno, error.detail.as_str()),
        (Stage::Index, Errno::ENOENT, "no manifest named \"v3\"")
    );
}

#[test]
fn nested_indexes_lead_to_the_amd64_manifest() {
    let ramdisk = ramdisk(
        &[base_layer(), app_layer()],
        Edits::default().files(|files| {
            let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
            let mut amd64 = index["manifests"][0].clone();
            amd64["platform"] = json!({ "architecture": "amd64", "os": "linux" });
            let arm64 = json!({
                "mediaType": MEDIA_TYPE_MANIFEST,
                "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
                "size": 10,
                "platform": { "architecture": "arm64", "os": "linux" }
            });
            let nested = json!({
                "schemaVersion": 2,
                "mediaType": MEDIA_TYPE_INDEX,
                "manifests": [arm64, amd64]
            });
            let nested = serde_json::to_vec(&nested).unwrap();
            let mut outer = descriptor(MEDIA_TYPE_INDEX, &nested);
            outer["annotations"] = json!({ ANNOTATION_REF_NAME: "multi" });
            let top = json!({ "schemaVersion": 2, "manifests": [outer] });
            files.insert("index.json".to_string(), serde_json::to_vec(&top).unwrap());
            let path = format!("blobs/sha256/{}", hex(&sha256_digest(&nested)));
            files.insert(path, nested);
        }),
    );
    let image = parse(ramdisk).unwrap();
    assert_eq!(image.ref_name.as_deref(), Some("multi"));
    assert_eq!(image.layers.len(), 2);
}

#[test]
fn outer_tar_and_layout_errors() {
    assert_eq!(
        refusal(Vec::new()),
        (
            Stage::OuterTar,
            Errno::EINVAL,
            "the RAM disk is empty".to_string()
        )
    );
    assert_eq!(stage_errno(vec![0x55; 3000]), (Stage::OuterTar, Errno::EIO));
    assert_eq!(
        parse(vec![0x55; 3000]).unwrap_err().to_string(),
        "outer tar: bad checksum field at byte 0 (EIO)"
    );
    let mut cut = good();
    cut.truncate(cut.len() - 1024 - 700);
    assert_eq!(stage_errno(cut).0, Stage::OuterTar);
    let no_layout = ramdisk(
        &[base_layer()],
        Edits::default().files(|files| {
            files.remove("oci-layout");
        }),
    );
    assert_eq!(stage_errno(no_layout), (Stage::Layout, Errno::ENOENT));
    let new_version = ramdisk(
        &[base_layer()],
        Edits::default().files(|files| {
            files.insert(
                "oci-layout".into(),
                br#"{"imageLayoutVersion":"2.0.0"}"#.to_vec(),
            );
        }),
    );
    assert_eq!(
        refusal(new_version),
        (
            Stage::Layout,
            Errno::ENOTSUP,
            "unsupported imageLayoutVersion \"2.0.0\"".to_string()
        )
    );
    let bad_json = ramdisk(
        &[base_layer()],
        Edits::default().files(|files| {
            files.insert("oci-layout".into(), b"{imageLayoutVersion".to_vec());
        }),
    );
    let (stage, errno, detail) = refusal(bad_json);
    assert_eq!((stage, errno), (Stage::Layout, Errno::EINVAL));
    assert!(detail.starts_with("bad JSON: "), "{detail}");
}

#[test]
fn index_errors() {
    let no_index = ramdisk(
        &[base_layer()],
        Edits::default().files(|files| {
            files.remove("index.json");
        }),
    );
    assert_eq!(stage_errno(no_index), (Stage::Index, Errno::ENOENT));
    let empty = ramdisk(
        &[base_layer()],
        Edits::default().index(|index| index["manifests"] = json!([])),
    );
    assert_eq!(
        refusal(empty),
        (Stage::Index, Errno::EINVAL, "no manifests".to_string())
    );
    let old = ramdisk(
        &[base_layer()],
        Edits::default().index(|index| index["schemaVersion"] = json!(1)),
    );
    assert_eq!(
        refusal(old),
        (
            Stage::Index,
            Errno::EINVAL,
            "schemaVersion 1, expected 2".to_string()
        )
    );
    let wrong_type = ramdisk(
        &[base_layer()],
        Edits::default().index(|index| index["manifests"] = json!("none")),
    );
    assert_eq!(stage_errno(wrong_type), (Stage::Index, Errno::EINVAL));
    let negative_size = ramdisk(
        &[base_layer()],
        Edits::default().index(|index| index["manifests"][0]["size"] = json!(-1)),
    );
    assert_eq!(stage_errno(negative_size), (Stage::Index, Errno::EINVAL));
}

/// The stage of the manifest `good()` would have, for images whose manifest is fine.
fn manifest_stage(ramdisk: &[u8]) -> Stage {
    let layout = Layout::read(&Bytes::from_vec(ramdisk.to_vec())).unwrap();
    Stage::Manifest(layout.choose_manifest(None).unwrap().digest)
}

#[test]
fn manifest_blob_errors() {
    let edit_descriptor =
        |edit: fn(&mut Value)| refusal(ramdisk(&[base_layer()], Edits::default().index(edit)));
    let (stage, errno, detail) = edit_descriptor(|index| index["manifests"][0]["size"] = json!(3));
    assert!(matches!(stage, Stage::Manifest(_)));
    assert_eq!(errno, Errno::EIO);
    assert!(
        detail.starts_with("size mismatch: descriptor says 3 bytes, blob has "),
        "{detail}"
    );
    let (_, errno, detail) = edit_descriptor(|index| {
        index["manifests"][0]["digest"] = json!("sha512:abcd");
    });
    assert_eq!(
        (errno, detail.as_str()),
        (Errno::ENOTSUP, "unsupported digest algorithm \"sha512\"")
    );
    for digest in [
        "sha256:ABC",
        "nocolon",
        "sha256:",
        &format!("sha256:{}", "A".repeat(64)),
    ] {
        let layout = Layout::read(&Bytes::from_vec(good())).unwrap();
        let descriptor = Descriptor {
            media_type: MEDIA_TYPE_MANIFEST.to_string(),
            digest: digest.to_string(),
            size: 1,
            annotations: None,
            platform: None,
        };
        assert_eq!(
            layout.blob(&descriptor).unwrap_err().0,
            Errno::EINVAL,
            "{digest}"
        );
    }
    let (_, errno, _) = edit_descriptor(|index| {
        index["manifests"][0]["mediaType"] = json!("application/vnd.oci.artifact.manifest.v1+json");
    });
    assert_eq!(errno, Errno::ENOTSUP);
    // Same size, other bytes: the digest catches it.
    let tampered = ramdisk(
        &[base_layer()],
        Edits::default().files(|files| {
            let manifest = files
                .values_mut()
                .find(|blob| blob.starts_with(b"{\"config\""))
                .unwrap();
            let at = manifest.iter().position(|&b| b == b'2').unwrap();
            manifest[at] = b'3';
        }),
    );
    let stage = manifest_stage(&tampered);
    let (found_stage, errno, detail) = refusal(tampered);
    assert_eq!((found_stage, errno), (stage, Errno::EIO));
    assert!(
        detail.starts_with("digest mismatch: expected sha256:"),
        "{detail}"
    );
}

#[test]
fn manifest_content_errors() {
    let no_layers = ramdisk(&[], Edits::default());
    let (stage, errno, detail) = refusal(no_layers);
    assert!(matches!(stage, Stage::Manifest(_)));
    assert_eq!(
        (errno, detail.as_str()),
        (Errno::EINVAL, "the image has no layers")
    );
    let docker_list = ramdisk(
        &[base_layer()],
        Edits::default().manifest(|m| m["mediaType"] = json!(MEDIA_TYPE_INDEX)),
    );
    assert_eq!(stage_errno(docker_list).1, Errno::ENOTSUP);
    let old = ramdisk(
        &[base_layer()],
        Edits::default().manifest(|m| m["schemaVersion"] = json!(1)),
    );
    assert_eq!(stage_errno(old).1, Errno::EINVAL);
    let no_config = ramdisk(
        &[base_layer()],
        Edits::default().manifest(|m| {
            m.as_object_mut().unwrap().remove("config");
        }),
    );
    assert_eq!(stage_errno(no_config).1, Errno::EINVAL);
    // Docker's media types are accepted as they are.
    let docker = ramdisk(
        &[base_layer()],
        Edits::default()
            .manifest(|m| {
                m["mediaType"] = json!(DOCKER_MANIFEST);
                m["config"]["mediaType"] = json!(DOCKER_CONFIG);
                m["layers"][0]["mediaType"] = json!("application/vnd.docker.image.rootfs.diff.tar");
            })
            .index(|index| index["manifests"][0]["mediaType"] = json!(DOCKER_MANIFEST)),
    );
    assert_eq!(parse(docker).unwrap().layers.len(), 1);
}

#[test]
fn config_errors() {
    let config_stage = |ramdisk: Vec<u8>| {
        let (stage, errno, detail) = refusal(ramdisk);
        assert!(matches!(stage, Stage::Config(_)), "{stage:?}");
        (errno, detail)
    };
    let count = ramdisk(
        &[base_layer(), app_layer()],
        Edits::default().config(|c| {
            c["rootfs"]["diff_ids"].as_array_mut().unwrap().pop();
        }),
    );
    assert_eq!(
        config_stage(count),
        (
            Errno::EINVAL,
            "1 diff_ids for 2 layers in the manifest".to_string()
        )
    );
    let kind = ramdisk(
        &[base_layer()],
        Edits::default().config(|c| c["rootfs"]["type"] = json!("tarballs")),
    );
    assert_eq!(
        config_stage(kind),
        (Errno::EINVAL, "rootfs type \"tarballs\"".to_string())
    );
    let no_rootfs = ramdisk(
        &[base_layer()],
        Edits::default().config(|c| {
            c.as_object_mut().unwrap().remove("rootfs");
        }),
    );
    assert_eq!(config_stage(no_rootfs).0, Errno::EINVAL);
    let media_type = ramdisk(
        &[base_layer()],
        Edits::default().manifest(|m| {
            m["config"]["mediaType"] = json!("application/vnd.cncf.helm.config.v1+json")
        }),
    );
    assert_eq!(config_stage(media_type).0, Errno::ENOTSUP);
    let missing = ramdisk(
        &[base_layer()],
        Edits::default()
            .manifest(|m| m["config"]["digest"] = json!(format!("sha256:{}", "0".repeat(64)))),
    );
    assert_eq!(config_stage(missing).0, Errno::ENOENT);
    // Minimal configs are fine: no history, no runtime config.
    let minimal = ramdisk(
        &[base_layer()],
        Edits::default().config(|c| {
            let rootfs = c["rootfs"].clone();
            *c = json!({ "rootfs": rootfs, "history": null });
        }),
    );
    let image = parse(minimal).unwrap();
    assert_eq!(image.layers[0].created_by, None);
    assert!(image.history.is_empty() && image.config == RuntimeConfig::default());
}

#[test]
fn a_flipped_byte_in_a_layer_is_a_digest_mismatch() {
    let mut ramdisk = good();
    let at = ramdisk.windows(8).position(|w| w == b"debug=1\n").unwrap();
    ramdisk[at + 6] = b'2';
    let error = parse(ramdisk).unwrap_err();
    assert_eq!(error.stage, layer_stage(2, &app_layer()));
    assert_eq!(error.errno, Errno::EIO);
    let app = sha256_digest(&app_layer());
    let message = error.to_string();
    let expected = format!(
        "layer 2 {}: digest mismatch: expected {}, content is sha256:",
        &app[..19],
        &app[..19]
    );
    assert!(message.starts_with(&expected), "{message}");
    assert!(message.ends_with(" (EIO)"), "{message}");
    assert_eq!(Errno::from(error), Errno::EIO);
}

#[test]
fn layers_are_checked_against_their_diff_ids() {
    let other = ramdisk(
        &[base_layer(), app_layer()],
        Edits::default()
            .config(|c| c["rootfs"]["diff_ids"][0] = json!(format!("sha256:{}", "ab".repeat(32)))),
    );
    let (stage, errno, detail) = refusal(other);
    assert_eq!((stage, errno), (layer_stage(1, &base_layer()), Errno::EIO));
    assert!(detail.starts_with("diff_id digest mismatch: expected sha256:abababababab, content is"));
    let malformed = ramdisk(
        &[base_layer()],
        Edits::default().config(|c| c["rootfs"]["diff_ids"][0] = json!("sha256:xyz")),
    );
    let (_, errno, detail) = refusal(malformed);
    assert_eq!(
        (errno, detail.as_str()),
        (Errno::EINVAL, "diff_id: malformed digest \"sha256:xyz\"")
    );
}

#[test]
fn compressed_and_unknown_layers_are_refused() {
    for (media_type, expected) in [
        (
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "gzip-compressed layer",
        ),
        (
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "gzip-compressed layer",
        ),
        (
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "zstd-compressed layer",
        ),
        ("application/x-whatever", "unsupported layer media type"),
    ] {
        let edits =
            Edits::default().manifest(move |m| m["layers"][0]["mediaType"] = json!(media_type));
        let (stage, errno, detail) = refusal(ramdisk(&[base_layer()], edits));
        assert_eq!(
            (stage, errno),
            (layer_stage(1, &base_layer()), Errno::ENOTSUP)
        );
        assert!(detail.starts_with(expected), "{media_type}: {detail}");
    }
}

#[test]
fn a_layer_that_is_not_a_tar_is_refused() {
    let junk = b"this is not a tar archive".to_vec();
    let (stage, errno, detail) = refusal(ramdisk(&[base_layer(), junk.clone()], Edits::default()));
    assert_eq!((stage, errno), (layer_stage(2, &junk), Errno::EIO));
    assert_eq!(
        detail,
        "archive ends without an end-of-archive marker at byte 0"
    );
}

#[test]
fn errors_print_on_one_line() {
    let error = ImageError {
        stage: Stage::Layer {
            number: 2,
            digest: format!("sha256:{}", "ab12".repeat(16)),
        },
        errno: Errno::EIO,
        detail: "digest mismatch".to_string(),
    };
    assert_eq!(
        error.to_string(),
        "layer 2 sha256:ab12ab12ab12: digest mismatch (EIO)"
    );
    assert_eq!(Stage::OuterTar.to_string(), "outer tar");
    assert_eq!(
        Stage::Manifest("weird".to_string()).to_string(),
        "manifest weird"
    );
    assert_eq!(
        short_digest("\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"),
        "\u{e9}".repeat(9)
    );
    assert_eq!(
        short_digest("x:\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"),
        "x:\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"
    );
    // Long input is quoted only in part.
    let long_type = ramdisk(
        &[base_layer()],
        Edits::default().manifest(|m| m["layers"][0]["mediaType"] = json!("x".repeat(1000))),
    );
    let detail = refusal(long_type).2;
    assert!(detail.len() < 150, "{detail}");
}

#[test]
fn every_truncation_of_the_ramdisk_is_refused_or_whole() {
    let ramdisk = good();
    let whole = parse(ramdisk.clone()).unwrap();
    for length in 0..ramdisk.len() {
        if let Ok(image) = parse(ramdisk[..length].to_vec()) {
            assert_eq!(
                image.manifest_digest, whole.manifest_digest,
                "cut at {length}"
            );
            assert_eq!(image.layers.len(), 2);
        }
    }
}

#[test]
fn random_ramdisks_never_panic() {
    let mut random = XorShift(0x5eed);
    for _ in 0..300 {
        let length = random.below(8192);
        let garbage: Vec<u8> = (0..length).map(|_| random.next() as u8).collect();
        assert!(parse(garbage).is_err());
    }
    let good = good();
    for _ in 0..1500 {
        let mut damaged = good.clone();
        let at = random.below(damaged.len());
        damaged[at] ^= 1 << random.below(8);
        // Either the damage lands where nothing is read (padding, unused header bytes
        // covered by the checksum are still checked), or it is refused.
        let _ = parse(damaged);
    }
}

#[test]
fn the_filesystem_figures_of_a_layer() {
    let image = parse(good()).unwrap();
    let statfs = image.layers[0].fs.statfs().unwrap();
    assert_eq!((statfs.blocks, statfs.files), (1, 5));
}
