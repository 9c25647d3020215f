//! One layer tar: any bytes either fail to parse with an error or give a filesystem that can
//! be walked and read whole, whose lookups find exactly the names its listings show.

use overlay_core::image::{Bytes, ImageLayerFs, TarReader};
use overlay_core::vfs::FileSystem;

use super::walk::{walk, Lookups};

/// Reads every entry of the tar, then parses it as a layer and walks the layer.
pub fn run(input: &[u8]) {
    let bytes = Bytes::from_vec(input.to_vec());
    for entry in TarReader::new(bytes.as_slice()) {
        if entry.is_err() {
            break;
        }
    }
    if let Ok(layer) = ImageLayerFs::parse(bytes) {
        walk(layer.root(), Lookups::ListedAndNeighbours);
    }
}
