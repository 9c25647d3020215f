//! A Debian-sized image through the path `make shell BOOT_ARGS="--oci DIR --uefi"` takes: an
//! OCI layout of two gzip layers, about 7,000 entries and 200 MiB unpacked, packed into a RAM
//! disk once and served from the RAM-disk cache after that, booted under UEFI with guest
//! memory sized for it, every digest checked by the kernel, a program run in a container; and
//! in the default 256 MiB, the bootloader's panic reported at once.
//!
//! Not timed (a shared machine's figures are not a verdict); it prints its times, and
//! `notes/boot-times.md` keeps them.

#![forbid(unsafe_code)]

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context, Result};
use boot::oci::{OciImage, OciLayout};
use boot::qemu::DEFAULT_MEMORY_MIB;
use boot::ramdisk_cache::{RamdiskCache, Source};
use boot::{Firmware, QemuRun, Verdict};
use flate2::{write::GzEncoder, Compression};
use overlay_core::image::sha256_digest;
use qemu_tests::{
    boot_with, busybox_layout, run_exit_status, test_dir, Boot, FwCfg, SUITE_TIMEOUT,
};
use serde_json::json;

/// The image's name in the kernel (its manifest's ref name).
const REF_NAME: &str = "large:1.0";

/// Changed whenever the generator changes, so an older generated layout is made again.
const GENERATION: &str = "large image 1";

/// One generated layer: how many files, in how many directories, and their sizes: every
/// `big_every`-th file is `big_bytes`, the others `small_bytes`. `deletes` files of the layer
/// below are whited out.
struct LayerSpec {
    name: &'static str,
    dirs: usize,
    files: usize,
    small_bytes: usize,
    big_every: usize,
    big_bytes: usize,
    deletes: usize,
}

/// About Debian's bookworm image and an update on it: 5,000 + 1,900 files in 140 directories,
/// 146 + 52 MiB.
const LAYERS: [LayerSpec; 2] = [
    LayerSpec {
        name: "base",
        dirs: 100,
        files: 5_000,
        small_bytes: 10 * 1024,
        big_every: 100,
        big_bytes: 2 * 1024 * 1024,
        deletes: 0,
    },
    LayerSpec {
        name: "update",
        dirs: 40,
        files: 1_900,
        small_bytes: 8 * 1024,
        big_every: 100,
        big_bytes: 2 * 1024 * 1024,
        deletes: 60,
    },
];

/// Deterministic file contents that gzip halves, as it does real files: each 4 KiB block is
/// 2 KiB of xorshift noise and 2 KiB of a repeated line.
fn contents(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let line = format!("line of file {seed}: the quick brown fox jumps over the lazy dog\n");
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        for _ in 0..256 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.extend_from_slice(&state.to_le_bytes());
        }
        while bytes.len() % 4096 != 0 {
            let room = 4096 - bytes.len() % 4096;
            bytes.extend_from_slice(&line.as_bytes()[..line.len().min(room)]);
        }
    }
    bytes.truncate(len);
    bytes
}

/// The uncompressed tar of layer `index` and its number of entries.
fn layer_tar(index: usize, spec: &LayerSpec) -> Result<(Vec<u8>, usize)> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut entries = 0;
    let mut append = |path: &str, kind: tar::EntryType, mode: u32, data: &[u8]| {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        entries += 1;
        builder.append_data(&mut header, path, data)
    };
    append("usr/", tar::EntryType::Directory, 0o755, &[])?;
    append("usr/share/", tar::EntryType::Directory, 0o755, &[])?;
    let top = format!("usr/share/{}/", spec.name);
    append(&top, tar::EntryType::Directory, 0o755, &[])?;
    for dir in 0..spec.dirs {
        append(
            &format!("{top}d{dir:03}/"),
            tar::EntryType::Directory,
            0o755,
            &[],
        )?;
    }
    for file in 0..spec.files {
        let len = if file % spec.big_every == 0 {
            spec.big_bytes
        } else {
            spec.small_bytes
        };
        let seed = (index as u64) << 32 | file as u64;
        let path = format!("{top}d{:03}/f{file:05}", file % spec.dirs);
        append(&path, tar::EntryType::Regular, 0o644, &contents(seed, len))?;
    }
    // Whiteouts of files of the base layer, as updates delete files.
    let base = &LAYERS[0];
    for deleted in (0..spec.deletes).map(|file| file * 7 + 1) {
        let path = format!(
            "usr/share/{}/d{:03}/.wh.f{deleted:05}",
            base.name,
            deleted % base.dirs
        );
        append(&path, tar::EntryType::Regular, 0o644, &[])?;
    }
    Ok((builder.into_inner()?, entries))
}

/// Writes `bytes` as a blob of the layout `dir` and returns its descriptor's digest and size.
fn write_blob(dir: &Path, bytes: &[u8]) -> Result<(String, usize)> {
    let digest = sha256_digest(bytes);
    let hex = digest.trim_start_matches("sha256:");
    fs::write(dir.join("blobs/sha256").join(hex), bytes)?;
    Ok((digest, bytes.len()))
}

/// What [`generate`] made.
#[derive(Debug, Default)]
struct Generated {
    entries: usize,
    unpacked_bytes: usize,
    gzip_bytes: usize,
}

/// Writes the OCI layout of the image into `dir` (made anew).
fn generate(dir: &Path) -> Result<Generated> {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir.join("blobs/sha256"))?;
    let mut generated = Generated::default();
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    for (index, spec) in LAYERS.iter().enumerate() {
        let (tar, entries) = layer_tar(index, spec)?;
        generated.entries += entries;
        generated.unpacked_bytes += tar.len();
        diff_ids.push(sha256_digest(&tar));
        let mut gzip = GzEncoder::new(Vec::new(), Compression::fast());
        gzip.write_all(&tar)?;
        let gzip = gzip.finish()?;
        generated.gzip_bytes += gzip.len();
        let (digest, size) = write_blob(dir, &gzip)?;
        layers.push(json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest,
            "size": size,
        }));
        history.push(json!({ "created_by": format!("generated layer {}", spec.name) }));
    }
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": history,
    });
    let (config_digest, config_size) = write_blob(dir, &serde_json::to_vec(&config)?)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": layers,
    });
    let (manifest_digest, manifest_size) = write_blob(dir, &serde_json::to_vec(&manifest)?)?;
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": { "org.opencontainers.image.ref.name": REF_NAME },
        }],
    });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(generated)
}

/// The layout under the test's directory, generated unless an earlier run of the same
/// generator left it there (it is deterministic: the same bytes, the same `index.json`).
fn large_layout(test: &Path) -> Result<PathBuf> {
    let dir = test.join("layout");
    let stamp = test.join("layout.generated");
    if fs::read_to_string(&stamp).ok().as_deref() != Some(GENERATION) {
        let started = Instant::now();
        let generated = generate(&dir).context("generating the large image")?;
        eprintln!(
            "large image: generated {} entries, {:.1} MiB of layer tars, {:.1} MiB gzip, in \
             {:.1} s",
            generated.entries,
            generated.unpacked_bytes as f64 / (1024.0 * 1024.0),
            generated.gzip_bytes as f64 / (1024.0 * 1024.0),
            started.elapsed().as_secs_f64()
        );
        fs::write(&stamp, GENERATION)?;
    }
    Ok(dir)
}

/// Packs the layout `dir` into the RAM disk `path`, as `boot` does for `--oci DIR`.
fn pack(dir: &Path, path: &Path) -> Result<()> {
    let image = OciImage::from_layout(dir, None)?;
    OciLayout::of(image).write_ramdisk(path)?;
    Ok(())
}

#[test]
fn a_debian_sized_gzip_image_is_unpacked_once_and_boots_under_uefi() {
    let name = "uefi-large-image";
    let test = test_dir(name);
    fs::create_dir_all(&test).expect("create the test directory");
    let layout = large_layout(&test).expect("generate the image");

    // A cache of the test's own, emptied: the first pack is a real one.
    let cache_dir = test.join("ramdisk-cache");
    let _ = fs::remove_dir_all(&cache_dir);
    let cache = RamdiskCache::new(&cache_dir);
    let started = Instant::now();
    let (packed, source) = cache
        .get_or_pack(&layout, None, |path| pack(&layout, path))
        .expect("pack the RAM disk");
    let pack_seconds = started.elapsed().as_secs_f64();
    assert_eq!(source, Source::Packed);
    let packed_bytes = fs::metadata(&packed).expect("the RAM disk").len();
    assert!(
        packed_bytes > 190 * 1024 * 1024,
        "a RAM disk of {packed_bytes} bytes is not Debian-sized"
    );

    // The second run finds it: nothing is unpacked or written again.
    let started = Instant::now();
    let (ramdisk, source) = cache
        .get_or_pack(&layout, None, |_| {
            panic!("the layout was packed a second time")
        })
        .expect("find the RAM disk");
    let cached_seconds = started.elapsed().as_secs_f64();
    assert_eq!(
        (source, ramdisk.as_path()),
        (Source::Cached, packed.as_path())
    );
    assert_eq!(
        fs::metadata(&ramdisk).map(|meta| meta.len()).ok(),
        Some(packed_bytes)
    );

    let busybox = busybox_layout(name)
        .expect("build the BusyBox layout")
        .expect("BusyBox is not fetched: run `make deps`");
    let booted = boot_with(
        &Boot {
            name,
            firmware: Firmware::Uefi,
            ramdisk: Some(&ramdisk),
            mode: None,
            input: None,
            timeout: SUITE_TIMEOUT,
        },
        &FwCfg {
            images: Some(&busybox),
            run: Some(("busybox", &["echo", "the large image is loaded"])),
            ..FwCfg::default()
        },
    )
    .expect("build and boot the image");
    let serial = &booted.outcome.serial;
    let context = booted.context();
    assert_eq!(booted.outcome.verdict, Verdict::Passed, "{context}");
    assert_eq!(run_exit_status(serial), Some(0), "{context}");
    assert!(serial.contains("the large image is loaded"), "{context}");
    // Every digest of the large image checked, its two layers loaded; no firmware noise.
    for line in [
        "1 images, 2 distinct layers (0 shared by several images), every digest checked",
        &format!("rootfs:   {REF_NAME:<16}      2 "),
    ] {
        assert!(serial.contains(line), "no `{line}`\n{context}");
    }
    assert!(!serial.contains("DVD-ROM"), "{context}");
    eprintln!(
        "large image: RAM disk of {:.1} MiB packed in {pack_seconds:.1} s, found in the cache \
         in {cached_seconds:.2} s; UEFI boot to the program's exit in {:.1} s",
        packed_bytes as f64 / (1024.0 * 1024.0),
        booted.outcome.elapsed.as_secs_f64()
    );

    // In the default 256 MiB the UEFI bootloader cannot hold this RAM disk: its panic is the
    // verdict as soon as it is printed, not a hang killed at the timeout.
    let image = test.join("kernel-uefi.img");
    let mut small = QemuRun::new(Firmware::Uefi, image, SUITE_TIMEOUT);
    small.memory_mib = DEFAULT_MEMORY_MIB;
    let outcome = boot::run(&small).expect("boot in 256 MiB");
    match &outcome.verdict {
        Verdict::BootloaderPanicked { message } => assert!(
            message.contains("OUT_OF_RESOURCES"),
            "{message}\n{}",
            outcome.serial
        ),
        other => panic!("{other:?} in 256 MiB\n{}", outcome.serial),
    }
    assert!(!outcome.serial.contains("overlay kernel"));
}
