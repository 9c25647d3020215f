//! Images as the lower layers of a union: each layer of an [`Image`] or an [`ImageStore`]
//! as an overlay [`Layer`] with OCI whiteouts, labelled with its short digest. The layer
//! filesystems are shared, so any number of unions can stack one image.
//!
//! These are methods of the image types, kept here so that `image` does not depend on
//! `overlay`: what stacks images into unions is the containers' part.

use alloc::{string::String, vec::Vec};

use crate::error::{Errno, Result};
use crate::image::{short_digest, Image, ImageLayer, ImageStore, StoredLayer};
use crate::overlay::{Layer, WhiteoutEncoding};

impl ImageLayer {
    /// The layer as an overlay lower: OCI whiteouts, labelled with its short digest. Each
    /// call shares the same [`ImageLayerFs`](crate::image::ImageLayerFs), so any number of
    /// unions can stack one image.
    pub fn lower(&self) -> Layer {
        Layer::with_encoding(self.fs.clone(), WhiteoutEncoding::Oci)
            .with_label(short_digest(&self.digest))
    }
}

impl Image {
    /// The layers as overlay lowers, top first (the order [`OverlayFs::new`] takes): the
    /// last manifest layer first. Each call shares the same layer filesystems.
    ///
    /// [`OverlayFs::new`]: crate::overlay::OverlayFs::new
    pub fn lowers(&self) -> Vec<Layer> {
        self.layers.iter().rev().map(ImageLayer::lower).collect()
    }
}

impl StoredLayer {
    /// The layer as an overlay lower: OCI whiteouts, labelled with its short digest. Every
    /// call shares the same filesystem object.
    pub fn lower(&self) -> Layer {
        Layer::with_encoding(self.fs.clone(), WhiteoutEncoding::Oci)
            .with_label(short_digest(&self.digest))
    }
}

impl ImageStore {
    /// The layers with `digests` (base first) as overlay lowers, top first.
    ///
    /// # Errors
    /// `ENOENT` if a digest is not in the store.
    pub fn lowers(&self, digests: &[String]) -> Result<Vec<Layer>> {
        digests
            .iter()
            .rev()
            .map(|digest| {
                self.layer(digest)
                    .map(StoredLayer::lower)
                    .ok_or(Errno::ENOENT)
            })
            .collect()
    }
}
