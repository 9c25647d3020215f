//! Container images in memory: an OCI image layout packed as one uncompressed tar (the RAM
//! disk a bootloader hands over), verified, each layer a read-only filesystem whose file data
//! stays in the RAM disk.
//!
//! - [`bytes`]: [`Bytes`], a shared view of the RAM disk; slicing never copies.
//! - [`tar`]: [`TarReader`], a tar parser (ustar, GNU, PAX) over a byte slice that turns any
//!   malformed input into an errno, never a panic.
//! - [`tar_writer`]: [`TarWriter`], its counterpart: ustar + PAX archives written in memory
//!   (what `commit` freezes a container's upper layer into).
//! - [`layer`]: [`ImageLayerFs`], one layer tar as a read-only [`FileSystem`]; OCI whiteouts
//!   are kept as entries for the overlay's OCI encoding to interpret.
//! - [`oci`]: [`Image`], the layout (`index.json` -> manifest -> config -> layers) with every
//!   blob checked against its SHA-256 digest, and [`Image::lowers`] for
//!   [`OverlayFs::new`](crate::overlay::OverlayFs::new); [`Image::parse_all`] for a layout
//!   of several images.
//! - [`store`]: [`ImageStore`], the images of a RAM disk (and those committed since), each
//!   layer held once per digest however many images share it; history and disk usage.
//!
//! ```
//! use overlay_core::image::{Bytes, Image};
//! use overlay_core::overlay::{OverlayFs, OverlayOptions, UpperLayer};
//! use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
//!
//! fn container(ramdisk: Bytes) -> Result<(), overlay_core::Errno> {
//!     let image = Image::parse(ramdisk)?; // an `ImageError` converts to its errno
//!     for layer in &image.layers {
//!         let stats = layer.fs.stats();
//!         let created_by = layer.created_by.as_deref().unwrap_or("-");
//!         log::info!("{} {} files {created_by}", layer.digest, stats.files);
//!     }
//!     let upper = UpperLayer::new(TmpFs::new(TmpFsOptions::default()))?;
//!     let union = OverlayFs::new(image.lowers(), Some(upper), OverlayOptions::default())?;
//!     # let _ = union;
//!     Ok(())
//! }
//! ```
//!
//! [`FileSystem`]: crate::vfs::FileSystem

pub mod bytes;
#[cfg(test)]
mod fuzz_seeds;
pub mod layer;
pub mod oci;
pub mod store;
pub mod tar;
pub mod tar_writer;
#[cfg(test)]
#[allow(missing_docs, clippy::all)]
pub(crate) mod testlayout;
#[cfg(test)]
#[allow(missing_docs, clippy::all)]
pub(crate) mod testtar;

pub use bytes::Bytes;
pub use layer::{ImageInode, ImageLayerFs, LayerStats};
pub use oci::{
    sha256_digest, short_digest, HistoryEntry, Image, ImageError, ImageLayer, RuntimeConfig, Stage,
};
pub use store::{
    HistoryStep, ImageStore, ImageUsage, KeptLayer, LayerSource, Removal, StoreUsage, StoredImage,
    StoredLayer,
};
pub use tar::{EntryKind, TarEntry, TarError, TarReader};
pub use tar_writer::{NewEntry, Refusal, TarWriter};

/// `text` cut to at most `max` bytes, at a character boundary: what error messages quote of
/// a text read from an image, and what a tar header field keeps of a long name.
fn clip(text: &str, max: usize) -> &str {
    &text[..text.floor_char_boundary(max)]
}
