//! The seed inputs of the image fuzz targets (`overlay-core/fuzz/seeds/`), kept here so that
//! they stay valid inputs.
//!
//! A fuzzer that starts from nothing rarely gets a tar header's checksum right, so without
//! seeds it hardly ever reaches the tree builder or the OCI layout parser behind it. The
//! seeds are small archives of every entry kind the parsers handle (directories, files,
//! symlinks, hard links, devices, OCI whiteouts and opaque markers, PAX xattrs and long
//! names) and a RAM disk of three images sharing layers. The test below checks that the
//! committed files are exactly what these builders make and that each parses; run it with
//! `UPDATE_FUZZ_SEEDS=1` to write them after changing a builder.

extern crate std;

use alloc::{format, string::String, vec::Vec};
use std::{fs, path::PathBuf};

use super::testlayout::{self, TestImage};
use super::testtar::{long, TarBuilder};
use super::{Bytes, Image, ImageLayerFs};
use crate::vfs::FileSystem;

/// The seeds of one fuzz target: file name and content.
fn seeds(target: &str) -> Vec<(&'static str, Vec<u8>)> {
    match target {
        "image_tar" => alloc::vec![
            ("base.tar", testlayout::base_layer()),
            ("app.tar", testlayout::app_layer("a")),
            ("kinds.tar", every_kind()),
        ],
        "image_oci" => alloc::vec![
            ("two-services.ramdisk", testlayout::two_services()),
            ("named-and-unnamed.ramdisk", named_and_unnamed()),
        ],
        _ => Vec::new(),
    }
}

/// One archive of every kind of entry and header the layer parser reads.
fn every_kind() -> Vec<u8> {
    TarBuilder::new()
        .dir("./")
        .dir("etc/")
        .file("etc/config", b"debug=1\n")
        .hard_link("etc/config.link", "etc/config")
        .symlink("etc/current", "config")
        .device("dev-null", b'3', 1, 3)
        .device("fifo", b'6', 0, 0)
        .file("etc/.wh.motd", b"")
        .dir("var/")
        .file("var/.wh..wh..opq", b"")
        .pax(&[
            ("SCHILY.xattr.user.note", b"kept"),
            ("mtime", b"1700000000"),
        ])
        .file("var/noted", b"with an xattr\n")
        .gnu_long_name(&format!("var/{}", long('n', 120)))
        .file("var/long", b"a long name\n")
        .finish()
}

/// A RAM disk with an image that has a name and one that has none.
fn named_and_unnamed() -> Vec<u8> {
    let (base, app) = (testlayout::base_layer(), testlayout::app_layer("x"));
    let mut unnamed = TestImage::new("unused", &[&base]);
    unnamed.name = None;
    testlayout::ramdisk(&[TestImage::new("app:1", &[&base, &app]), unnamed])
}

fn seed_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target)
}

#[test]
fn the_committed_fuzz_seeds_are_valid_and_current() {
    let update = std::env::var_os("UPDATE_FUZZ_SEEDS").is_some();
    for target in ["image_tar", "image_oci"] {
        let dir = seed_dir(target);
        for (name, bytes) in seeds(target) {
            match target {
                "image_tar" => {
                    let layer = ImageLayerFs::parse(Bytes::from_vec(bytes.clone()));
                    let layer = layer.unwrap_or_else(|error| panic!("{name}: {error}"));
                    let mut names = Vec::new();
                    layer
                        .root()
                        .readdir(0, &mut |entry| {
                            names.push(String::from(entry.name));
                            true
                        })
                        .unwrap();
                    assert!(!names.is_empty(), "{name}: an empty layer");
                }
                _ => {
                    let images = Image::parse_all(Bytes::from_vec(bytes.clone()));
                    let images = images.unwrap_or_else(|error| panic!("{name}: {error}"));
                    assert!(images.len() >= 2, "{name}");
                }
            }
            let path = dir.join(name);
            if update {
                fs::create_dir_all(&dir).unwrap();
                fs::write(&path, &bytes).unwrap();
            }
            let committed = fs::read(&path).unwrap_or_else(|error| {
                panic!(
                    "{}: {error} (UPDATE_FUZZ_SEEDS=1 writes it)",
                    path.display()
                )
            });
            assert!(
                committed == bytes,
                "{} differs from what its builder makes (UPDATE_FUZZ_SEEDS=1 rewrites it)",
                path.display()
            );
        }
    }
}
