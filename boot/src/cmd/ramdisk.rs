//! `boot ramdisk`: writes the RAM disk, an OCI image layout packed as one tar, from layer
//! directories and/or an existing OCI layout; without either, the default image of
//! `rootfs/`. Also the image options `boot image` and `boot qemu` share ([`ImageSource`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use boot::oci::{self, OciImage};
use clap::Args;

/// Where the RAM disk's image comes from (the default image when none is given).
#[derive(Debug, Args)]
pub struct ImageSource {
    /// A layer directory, on top of the others; give several, base first. In it, a file
    /// `.wh.NAME` is the whiteout of NAME and `.wh..wh..opq` makes its directory opaque.
    #[arg(long = "layer", value_name = "DIR")]
    layers: Vec<PathBuf>,
    /// A file listing layer directories (relative to it) and their `created_by`, base
    /// first, like rootfs/layers (the default image).
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
    /// Whether any image option was given.
    pub fn is_given(&self) -> bool {
        !self.layers.is_empty() || self.layer_list.is_some() || self.oci.is_some()
    }

    /// The image: the OCI layout (if any) at the bottom, then the layer list's layers, then
    /// each `--layer`; the default image if none of them is given.
    pub fn image(&self) -> Result<OciImage> {
        if !self.is_given() {
            return oci::default_image();
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
        Ok(image)
    }

    /// Builds the image and writes its RAM disk to `path`, telling on standard error what
    /// it holds.
    pub fn write_ramdisk(&self, path: &Path) -> Result<OciImage> {
        let image = self.image()?;
        let size = image.write_ramdisk(path)?;
        eprintln!(
            "boot: RAM disk {}: image {:?}, {} layers, {} bytes ({:.1} KiB)",
            path.display(),
            image.ref_name(),
            image.layers().len(),
            size,
            size as f64 / 1024.0
        );
        for layer in image.layers().iter().rev() {
            eprintln!(
                "boot:   {}  {:>9} bytes  {}",
                overlay_core::image::short_digest(&layer.diff_id),
                layer.tar.len(),
                layer.created_by.as_deref().unwrap_or("-")
            );
        }
        Ok(image)
    }
}

/// The RAM disk a disk image gets: `--ramdisk FILE` as it is, none with `--no-ramdisk`,
/// else the image of `source` written to `<out_dir>/rootfs.tar`.
pub fn ramdisk_for(
    source: &ImageSource,
    ramdisk: Option<&Path>,
    no_ramdisk: bool,
    out_dir: &Path,
) -> Result<Option<PathBuf>> {
    if let Some(ramdisk) = ramdisk {
        return Ok(Some(ramdisk.to_path_buf()));
    }
    if no_ramdisk {
        return Ok(None);
    }
    let path = out_dir.join("rootfs.tar");
    source.write_ramdisk(&path)?;
    Ok(Some(path))
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
    let image = args.source.write_ramdisk(&out)?;
    if let Some(layout) = &args.layout {
        image.write_layout(layout)?;
    }
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}
