//! One layer tar: any bytes either fail to parse with an error or give a filesystem that can
//! be walked and read whole, whose lookups find exactly the names its listings show, never a
//! panic.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use overlay_core::image::{Bytes, ImageLayerFs, TarReader};
use overlay_core::vfs::{FileSystem, FileType, Inode};

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::from_vec(data.to_vec());
    for entry in TarReader::new(bytes.as_slice()) {
        if entry.is_err() {
            break;
        }
    }
    if let Ok(layer) = ImageLayerFs::parse(bytes) {
        walk(&layer.root(), 0);
    }
});

fn walk(inode: &Arc<dyn Inode>, depth: usize) {
    let Ok(meta) = inode.metadata() else { return };
    match meta.kind {
        FileType::Directory if depth < 32 => {
            let mut names = Vec::new();
            let _ = inode.readdir(0, &mut |entry| {
                names.push(entry.name.to_string());
                true
            });
            // Lookups agree with the listing: every listed name is found, and a name next
            // to it in the directory's order (one character longer, or one shorter) only if
            // it is listed too.
            for name in &names {
                let mut shorter = name.clone();
                shorter.pop();
                for near in [format!("{name}\u{1}"), shorter] {
                    if !near.is_empty() && !names.contains(&near) {
                        assert!(inode.lookup(&near).is_err(), "{near:?} is not listed");
                    }
                }
            }
            for name in names {
                let child = inode.lookup(&name).expect("a listed name is found");
                walk(&child, depth + 1);
            }
        }
        FileType::Regular => {
            let mut buf = [0u8; 4096];
            let mut offset = 0u64;
            while let Ok(count) = inode.read_at(offset, &mut buf) {
                if count == 0 {
                    break;
                }
                offset += count as u64;
            }
        }
        FileType::Symlink => {
            let _ = inode.readlink();
        }
        _ => {}
    }
    let _ = inode.list_xattr();
}
