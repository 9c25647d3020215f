//! A RAM disk: any bytes either fail to parse as an OCI image layout with an error or give
//! images whose layers stack into a union that can be walked and read whole.

use overlay_core::image::{Bytes, Image};
use overlay_core::overlay::{OverlayFs, OverlayOptions};
use overlay_core::vfs::FileSystem;

use super::walk::{walk, Lookups};

/// Parses the RAM disk and walks the union of each image's layers.
pub fn run(input: &[u8]) {
    let Ok(images) = Image::parse_all(Bytes::from_vec(input.to_vec())) else {
        return;
    };
    for image in images {
        if let Ok(union) = OverlayFs::new(image.lowers(), None, OverlayOptions::default()) {
            walk(union.root(), Lookups::Listed);
        }
    }
}
