//! `boot ramdisk`: writes the RAM disk, an OCI image layout packed as one tar: images built
//! from build files (with the build cache), or one image from layer directories and/or an
//! existing OCI layout; without any of them, the default images of `rootfs/images`. Also the
//! image options `boot image` and `boot qemu` share ([`ImageSource`]).
//!
//! The RAM disk of an OCI layout alone (`--oci DIR`) is kept in `<cargo target
//! dir>/ramdisk-cache` ([`boot::ramdisk_cache`]): its gzip layers are unpacked once, not at
//! every boot.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use boot::build::{BuildCache, Builder, DEFAULT_IMAGE_LIST};
use boot::oci::{self, OciImage, OciLayout};
use boot::ramdisk_cache::{RamdiskCache, Source};
use clap::Args;
use overlay_core::image::{short_digest, Bytes, ImageStore};

/// Where the RAM disk's images come from (the default images when none is given).
#[derive(Debug, Args)]
pub struct ImageSource {
    /// An image list: `NAME BUILD-FILE` per line, every image built into one RAM disk, in
    /// order (like rootfs/images, the default).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["layers", "layer_list", "oci"])]
    images: Option<PathBuf>,
    /// A build file (FROM, COPY, MKDIR, WRITE, RM, ENV, CMD): the image named after the
    /// file (`app.build` is `app`), after those of --images; give several, in order.
    #[arg(long = "build", value_name = "FILE", conflicts_with_all = ["layers", "layer_list", "oci"])]
    builds: Vec<PathBuf>,
    /// Build without the build cache (<cargo target dir>/build-cache): every step runs; and
    /// with --oci alone, pack the layout again instead of reusing its RAM disk from
    /// <cargo target dir>/ramdisk-cache.
    #[arg(long)]
    no_cache: bool,
    /// A layer directory, on top of the others; give several, base first. In it, a file
    /// `.wh.NAME` is the whiteout of NAME and `.wh..wh..opq` makes its directory opaque.
    #[arg(long = "layer", value_name = "DIR")]
    layers: Vec<PathBuf>,
    /// A file listing layer directories (relative to it) and their `created_by`, base
    /// first: `DIR CREATED-BY...` per line.
    #[arg(long = "layer-list", value_name = "FILE")]
    layer_list: Option<PathBuf>,
    /// An OCI image layout directory (skopeo `oci:DIR`, umoci, buildah, podman) as the
    /// bottom of the image; its gzip layers are decompressed.
    #[arg(long, value_name = "DIR")]
    oci: Option<PathBuf>,
    /// With --oci: the manifest whose `org.opencontainers.image.ref.name` is NAME
    /// [default: the first in index.json].
    #[arg(long = "ref", value_name = "NAME", requires = "oci")]
    ref_name: Option<String>,
}

impl ImageSource {
    /// Whether a single image is assembled from layers (--layer, --layer-list, --oci).
    fn is_single_image(&self) -> bool {
        !self.layers.is_empty() || self.layer_list.is_some() || self.oci.is_some()
    }

    /// The images: built from --images and --build files (the default image list when no
    /// option is given), or the one image of --oci, --layer-list and --layer (in that order,
    /// base first).
    pub fn layout(&self) -> Result<OciLayout> {
        if !self.is_single_image() {
            return self.build();
        }
        let mut image = match &self.oci {
            Some(dir) => OciImage::from_layout(dir, self.ref_name.as_deref())?,
            None => OciImage::new(),
        };
        if let Some(list) = &self.layer_list {
            for spec in oci::read_layer_list(list)? {
                image.add_layer_dir(&spec.dir, &spec.created_by)?;
            }
        }
        for dir in &self.layers {
            let name = dir.file_name().unwrap_or(dir.as_os_str()).to_string_lossy();
            image.add_layer_dir(dir, &format!("COPY {name} /"))?;
        }
        Ok(OciLayout::of(image))
    }

    /// Builds the images of the build files, telling on standard error what each step did
    /// (`CACHED` or `BUILT`).
    fn build(&self) -> Result<OciLayout> {
        let cache = if self.no_cache {
            None
        } else {
            Some(BuildCache::new(&boot::target_dir().join("build-cache"))?)
        };
        let mut builder = Builder::new(cache);
        let list = match (&self.images, self.builds.is_empty()) {
            (Some(list), _) => Some(list.clone()),
            (None, true) => Some(PathBuf::from(DEFAULT_IMAGE_LIST)),
            (None, false) => None,
        };
        let mut layout = match &list {
            Some(list) => builder.build_list(list)?,
            None => OciLayout::new(),
        };
        for file in &self.builds {
            let Some(name) = file.file_stem().and_then(|stem| stem.to_str()) else {
                bail!("{}: cannot name an image after this file", file.display());
            };
            layout.push(builder.build(name, file)?)?;
        }
        for report in builder.reports() {
            eprintln!("boot: {}", report.line());
        }
        Ok(layout)
    }

    /// The RAM disk of these images, written to `<out_dir>/rootfs.tar`; for an OCI layout
    /// alone (without --no-cache), the one packed before, kept in the cache.
    pub fn ramdisk(&self, out_dir: &Path) -> Result<PathBuf> {
        let cached_layout = self
            .oci
            .as_ref()
            .filter(|_| !self.no_cache && self.layers.is_empty() && self.layer_list.is_none());
        let Some(layout) = cached_layout else {
            let path = out_dir.join("rootfs.tar");
            self.write_ramdisk(&path)?;
            return Ok(path);
        };
        let cache = RamdiskCache::in_target_dir();
        let (path, source) = cache.get_or_pack(layout, self.ref_name.as_deref(), |path| {
            self.write_ramdisk(path).map(drop)
        })?;
        if source == Source::Cached {
            let size = fs::metadata(&path).map_or(0, |meta| meta.len());
            eprintln!(
                "boot: RAM disk {} ({:.1} MiB) from the cache: packed before from this \
                 index.json (--no-cache packs it again)",
                path.display(),
                size as f64 / (1024.0 * 1024.0)
            );
        }
        Ok(path)
    }

    /// Builds the images and writes their RAM disk to `path`, telling on standard error
    /// what it holds: each image's layers, top first, and which are shared.
    pub fn write_ramdisk(&self, path: &Path) -> Result<OciLayout> {
        let layout = self.layout()?;
        let size = layout.write_ramdisk(path)?;
        let mut distinct: Vec<&str> = Vec::new();
        let mut listed = 0;
        for image in layout.images() {
            for layer in image.layers() {
                listed += 1;
                if !distinct.contains(&layer.diff_id.as_str()) {
                    distinct.push(&layer.diff_id);
                }
            }
        }
        eprintln!(
            "boot: RAM disk {}: {} images, {} layers stored once ({} used), {} bytes ({:.1} KiB)",
            path.display(),
            layout.images().len(),
            distinct.len(),
            listed,
            size,
            size as f64 / 1024.0
        );
        for image in layout.images() {
            eprintln!(
                "boot:   image {:?}, {} layers:",
                image.ref_name(),
                image.layers().len()
            );
            for layer in image.layers().iter().rev() {
                let users = layout
                    .images()
                    .iter()
                    .filter(|other| other.layers().iter().any(|l| l.diff_id == layer.diff_id))
                    .count();
                let shared = if users > 1 {
                    format!("shared by {users} images")
                } else {
                    String::from("this image only")
                };
                eprintln!(
                    "boot:     {}  {:>9} bytes  {:<20}  {}",
                    short_digest(&layer.diff_id),
                    layer.tar.len(),
                    shared,
                    layer.created_by.as_deref().unwrap_or("-")
                );
            }
        }
        Ok(layout)
    }
}

/// Reads the RAM disk `path` with the kernel's own loader (every image, every digest), so a
/// file the kernel would refuse is refused before anything boots.
pub fn check_ramdisk(path: &Path) -> Result<()> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ImageStore::from_ramdisk(Bytes::from_vec(bytes)).map_err(|error| {
        anyhow!(
            "{}: the kernel would refuse this RAM disk: {error}",
            path.display()
        )
    })?;
    Ok(())
}

/// Which RAM disk a disk image gets, as `boot image` and `boot qemu` take it.
#[derive(Debug, Args)]
pub struct RamdiskChoice {
    /// File the bootloader loads into memory next to the kernel, once the kernel's loader
    /// has read it here (an OCI layout packed as one tar, as `boot ramdisk` writes it)
    /// [default: the RAM disk of the image options below, or of the default image (rootfs/)].
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["layers", "layer_list", "oci", "images", "builds", "no_ramdisk"]
    )]
    ramdisk: Option<PathBuf>,
    /// Boot with no RAM disk at all.
    #[arg(long, conflicts_with_all = ["layers", "layer_list", "oci", "images", "builds"])]
    no_ramdisk: bool,
    #[command(flatten)]
    source: ImageSource,
}

impl RamdiskChoice {
    /// The RAM disk file: `--ramdisk FILE` as it is once checked ([`check_ramdisk`]), none
    /// with `--no-ramdisk`, else the image of the source options ([`ImageSource::ramdisk`]).
    pub fn resolve(&self, out_dir: &Path) -> Result<Option<PathBuf>> {
        if let Some(ramdisk) = &self.ramdisk {
            check_ramdisk(ramdisk)?;
            return Ok(Some(ramdisk.clone()));
        }
        if self.no_ramdisk {
            return Ok(None);
        }
        self.source.ramdisk(out_dir).map(Some)
    }
}

#[derive(Debug, Args)]
pub struct RamdiskArgs {
    #[command(flatten)]
    source: ImageSource,
    /// The RAM disk file to write [default: <cargo target dir>/images/rootfs.tar].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also write the image as an OCI layout directory (readable by skopeo and umoci).
    #[arg(long, value_name = "DIR")]
    layout: Option<PathBuf>,
}

pub fn run(args: &RamdiskArgs) -> Result<ExitCode> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| boot::default_image_dir().join("rootfs.tar"));
    let layout = args.source.write_ramdisk(&out)?;
    if let Some(dir) = &args.layout {
        layout.write_layout(dir)?;
    }
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}
