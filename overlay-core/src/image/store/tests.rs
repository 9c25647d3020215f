use alloc::{string::ToString, sync::Arc, vec};

use super::*;
use crate::image::testlayout::{self, app_layer, base_layer, runtime_layer, TestImage};
use crate::image::testtar::TarBuilder;
use crate::image::Image;

fn store() -> ImageStore {
    ImageStore::from_ramdisk(Bytes::from_vec(testlayout::two_services())).unwrap()
}

fn names(store: &ImageStore) -> Vec<&str> {
    store
        .images()
        .iter()
        .map(|image| image.name.as_str())
        .collect()
}

#[test]
fn every_image_of_the_ramdisk_is_loaded_in_index_order() {
    let store = store();
    assert_eq!(names(&store), ["svc-a", "svc-b", "java:8"]);
    let a = store.image("svc-a").unwrap();
    assert_eq!(a.layers.len(), 3);
    assert_eq!(a.layers[0], sha256_digest(&base_layer()));
    assert_eq!(a.layers[2], sha256_digest(&app_layer("a")));
    let steps: Vec<_> = a.history.iter().map(|s| s.created_by.as_deref()).collect();
    assert_eq!(steps, [Some("STEP 1"), Some("STEP 2"), Some("STEP 3")]);
    assert_eq!(a.history[2].layer.as_deref(), Some(a.layers[2].as_str()));
    assert!(a.manifest_digest.as_deref().unwrap().starts_with("sha256:"));
}

#[test]
fn a_layer_shared_by_images_is_loaded_once() {
    let store = store();
    // Four distinct layers: base, runtime, and one per service.
    assert_eq!(store.layers().count(), 4);
    let base = sha256_digest(&base_layer());
    assert_eq!(store.images_using(&base), ["svc-a", "svc-b", "java:8"]);
    // `Image::parse_all` itself hands every image the same object for a shared blob.
    let images = Image::parse_all(Bytes::from_vec(testlayout::two_services())).unwrap();
    assert!(Arc::ptr_eq(
        &images[0].layers[0].fs,
        &images[1].layers[0].fs
    ));
    assert!(Arc::ptr_eq(
        &images[0].layers[1].fs,
        &images[2].layers[1].fs
    ));
    assert!(!Arc::ptr_eq(
        &images[0].layers[2].fs,
        &images[1].layers[2].fs
    ));
    // So do the unions of two images: the lowers they stack are one filesystem.
    let a = store.lowers(&store.image("svc-a").unwrap().layers).unwrap();
    let b = store.lowers(&store.image("svc-b").unwrap().layers).unwrap();
    assert!(Arc::ptr_eq(a[2].filesystem(), b[2].filesystem()));
    assert!(Arc::ptr_eq(a[1].filesystem(), b[1].filesystem()));
    assert!(!Arc::ptr_eq(a[0].filesystem(), b[0].filesystem()));
    assert_eq!(a[0].label(), short_digest(&sha256_digest(&app_layer("a"))));
}

#[test]
fn usage_counts_shared_layers_once() {
    let store = store();
    let size = |layer: Vec<u8>| layer.len() as u64;
    let (base, runtime) = (size(base_layer()), size(runtime_layer()));
    let (a, b) = (size(app_layer("a")), size(app_layer("b")));
    let usage = store.usage();
    assert_eq!(usage.layers, 4);
    assert_eq!(usage.stored_bytes, base + runtime + a + b);
    assert_eq!(usage.shared_bytes, base + runtime);
    assert_eq!(usage.unique_bytes, a + b);
    assert_eq!(usage.unused_bytes, 0);
    assert_eq!(usage.unshared_bytes, 3 * (base + runtime) + a + b);
    assert_eq!(
        usage.images[0],
        ImageUsage {
            name: "svc-a".to_string(),
            layers: 3,
            total_bytes: base + runtime + a,
            shared_bytes: base + runtime,
            unique_bytes: a,
        }
    );
    assert_eq!(usage.images[2].unique_bytes, 0);
    assert_eq!((usage.reclaimed_layers, usage.reclaimed_bytes), (0, 0));
}

#[test]
fn rmi_drops_only_the_layers_nothing_else_uses() {
    let mut store = store();
    let a_layer = sha256_digest(&app_layer("a"));
    let removal = store.remove_image("svc-a", &[]).unwrap();
    assert_eq!(removal.image, "svc-a");
    assert_eq!(
        removal.deleted,
        [(a_layer.clone(), app_layer("a").len() as u64)]
    );
    assert_eq!(removal.kept.len(), 2);
    assert_eq!(removal.kept[0].images, ["svc-b", "java:8"]);
    assert!(store.layer(&a_layer).is_none());
    assert_eq!(names(&store), ["svc-b", "java:8"]);
    let usage = store.usage();
    assert_eq!(usage.reclaimed_layers, 1);
    assert_eq!(usage.reclaimed_bytes, app_layer("a").len() as u64);
    assert_eq!(store.remove_image("svc-a", &[]), Err(Errno::ENOENT));

    // A layer a container still stacks stays, and goes with `prune` once it is free.
    let b = store.image("svc-b").unwrap().layers.clone();
    let removal = store.remove_image("svc-b", &[("c1", &b)]).unwrap();
    assert!(removal.deleted.is_empty());
    assert_eq!(removal.kept[0].containers, ["c1"]);
    assert_eq!(removal.kept[0].images, Vec::<String>::new());
    assert_eq!(store.usage().unused_bytes, app_layer("b").len() as u64);
    assert!(store.prune(&[&b]).is_empty());
    assert_eq!(
        store.prune(&[]),
        [(sha256_digest(&app_layer("b")), app_layer("b").len() as u64)]
    );
    // The base image keeps the shared layers.
    assert_eq!(store.layers().count(), 2);
    assert_eq!(store.usage().unique_bytes, store.usage().stored_bytes);
}

#[test]
fn added_images_reuse_stored_layers_by_digest() {
    let mut store = store();
    let base = store.image("java:8").unwrap().clone();
    let new_layer = TarBuilder::new().file("new", b"new\n").finish();
    let layer =
        StoredLayer::parse(Bytes::from_vec(new_layer.clone()), LayerSource::Committed).unwrap();
    assert_eq!(layer.digest, sha256_digest(&new_layer));
    let mut image = StoredImage {
        name: "java:8-new".to_string(),
        layers: base.layers.clone(),
        history: base.history.clone(),
        config: base.config.clone(),
        manifest_digest: None,
    };
    image.layers.push(layer.digest.clone());
    // Unknown layers, bad and taken names are refused, and nothing changes.
    assert_eq!(store.add_image(image.clone(), vec![]), Err(Errno::EINVAL));
    let taken = StoredImage {
        name: "svc-a".to_string(),
        ..image.clone()
    };
    assert_eq!(
        store.add_image(taken, vec![layer.clone()]),
        Err(Errno::EEXIST)
    );
    for bad in ["", "-x", "a b", "é", &"x".repeat(NAME_MAX_BYTES + 1)] {
        let bad = StoredImage {
            name: bad.to_string(),
            ..image.clone()
        };
        assert_eq!(
            store.add_image(bad, vec![layer.clone()]),
            Err(Errno::EINVAL)
        );
    }
    assert_eq!(store.layers().count(), 4);
    store.add_image(image, vec![layer.clone()]).unwrap();
    assert_eq!(store.layers().count(), 5);
    assert_eq!(
        store.layer(&layer.digest).unwrap().source,
        LayerSource::Committed
    );
    // The same bytes again are the stored layer: `dedup` hands back the stored object.
    let again = StoredLayer::parse(Bytes::from_vec(new_layer), LayerSource::Committed).unwrap();
    assert!(!Arc::ptr_eq(&again.fs, &layer.fs));
    assert!(Arc::ptr_eq(&store.dedup(again).fs, &layer.fs));
    let base_layer = store
        .dedup(StoredLayer::parse(Bytes::from_vec(base_layer()), LayerSource::Committed).unwrap());
    assert_eq!(base_layer.source, LayerSource::RamDisk);
}

#[test]
fn unnamed_images_are_named_by_digest_and_duplicate_names_refused() {
    let base = base_layer();
    let unnamed = TestImage {
        name: None,
        layers: vec![base.clone()],
        history: vec![],
    };
    let store = ImageStore::from_ramdisk(Bytes::from_vec(testlayout::ramdisk(&[unnamed]))).unwrap();
    assert!(store.images()[0].name.starts_with("sha256:"));
    assert_eq!(store.images()[0].name.len(), "sha256:".len() + 12);

    let runtime = runtime_layer();
    let twice = testlayout::ramdisk(&[
        TestImage::new("x", &[&base]),
        TestImage::new("x", &[&base, &runtime]),
    ]);
    let error = ImageStore::from_ramdisk(Bytes::from_vec(twice)).unwrap_err();
    assert_eq!((error.stage, error.errno), (Stage::Index, Errno::EINVAL));
}

#[test]
fn empty_layer_steps_stay_in_the_history() {
    let (base, app) = (base_layer(), app_layer("a"));
    let image = TestImage {
        name: Some("svc"),
        layers: vec![base, app],
        history: vec![
            ("ADD base /", false),
            ("ENV A=1", true),
            ("COPY app /", false),
        ],
    };
    let store = ImageStore::from_ramdisk(Bytes::from_vec(testlayout::ramdisk(&[image]))).unwrap();
    let history = &store.images()[0].history;
    let layers: Vec<bool> = history.iter().map(|step| step.layer.is_some()).collect();
    assert_eq!(layers, [true, false, true]);
    assert_eq!(history[1].created_by.as_deref(), Some("ENV A=1"));
}

#[test]
fn a_damaged_shared_blob_fails_the_whole_store() {
    let mut ramdisk = testlayout::two_services();
    // The base layer's file data, "NAME=Base", once in the RAM disk.
    let at = ramdisk
        .windows(9)
        .position(|window| window == b"NAME=Base")
        .unwrap();
    ramdisk[at] = b'X';
    let error = ImageStore::from_ramdisk(Bytes::from_vec(ramdisk)).unwrap_err();
    assert_eq!(error.errno, Errno::EIO);
    assert!(matches!(error.stage, Stage::Layer { number: 1, .. }));
}

#[test]
fn names_are_checked() {
    for good in ["a", "java:8", "registry.example/app@sha256:ab", "A_b-c.d"] {
        assert_eq!(check_name(good), Ok(()), "{good}");
    }
    for bad in ["", ":x", "a b", "a\n", "x\0"] {
        assert_eq!(check_name(bad), Err(Errno::EINVAL), "{bad:?}");
    }
}
