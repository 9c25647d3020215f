//! A RAM disk: any bytes either fail to parse as an OCI image layout with an error or give
//! images whose layers stack into a union, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use overlay_core::image::{Bytes, Image};
use overlay_core::overlay::{OverlayFs, OverlayOptions};
use overlay_core::vfs::FileSystem;

fuzz_target!(|data: &[u8]| {
    let Ok(images) = Image::parse_all(Bytes::from_vec(data.to_vec())) else {
        return;
    };
    for image in images {
        if let Ok(union) = OverlayFs::new(image.lowers(), None, OverlayOptions::default()) {
            let root = union.root();
            let _ = root.readdir(0, &mut |_| true);
        }
    }
});
