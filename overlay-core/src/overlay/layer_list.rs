//! Reading one layer's directory whole: its real entries and the names its whiteouts delete,
//! what a merged listing and the lower-name cache are both built from.

use alloc::{sync::Arc, vec::Vec};

use super::whiteout::WhiteoutEncoding;
use crate::error::Result;
use crate::vfs::{DirEntry, FileType, Ino, Inode};

/// How many entries of a layer's directory [`list_layer`] makes room for before it reads any.
const LAYER_ENTRIES_AT_ONCE: usize = 32;

/// A directory entry kept after its listing handed it out: its name (shared, not copied),
/// kind, inode number and the cookie that resumes the listing after it, all as the
/// filesystem that listed it numbers them (a layer, for what `list_layer` reads; the union,
/// for what `list_batch` hands out).
pub(crate) struct ListedEntry {
    pub(crate) name: Arc<str>,
    pub(crate) kind: FileType,
    pub(crate) ino: Ino,
    pub(crate) cookie: u64,
}

impl ListedEntry {
    /// The entry a listing handed out, with the filesystem's own `Arc` of its name where it
    /// shares one (no copy of each name per read).
    fn of(entry: &DirEntry<'_>) -> ListedEntry {
        ListedEntry {
            name: entry.name_arc(),
            kind: entry.kind,
            ino: entry.ino,
            cookie: entry.next_cookie,
        }
    }
}

/// What one layer of the directory holds, before merging.
pub(crate) struct LayerListing {
    /// Real entries, in the layer's order, with its inode numbers and cookies.
    pub(crate) entries: Vec<ListedEntry>,
    /// Names deleted by whiteouts of this layer.
    pub(crate) whiteouts: Vec<Arc<str>>,
}

/// Reads one layer's directory: its real entries and the names its whiteouts delete.
pub(crate) fn list_layer(dir: &dyn Inode, encoding: WhiteoutEncoding) -> Result<LayerListing> {
    let mut layer = LayerListing {
        // Room for a typical directory at once: the list only lives until it is merged, and
        // growing it from nothing would reallocate it a few times per directory.
        entries: Vec::with_capacity(LAYER_ENTRIES_AT_ONCE),
        whiteouts: Vec::new(),
    };
    // Character devices of a layer with Linux whiteouts: whether each is a whiteout takes a
    // lookup, made once the listing is read (not from inside `readdir`'s callback).
    let mut devices = Vec::new();
    let mut cookie = 0;
    let mut seen = 0usize;
    loop {
        let before = seen;
        dir.readdir(cookie, &mut |entry| {
            cookie = entry.next_cookie;
            seen += 1;
            if let Some(target) = encoding.whiteout_target(entry.name) {
                layer.whiteouts.push(Arc::from(target));
            } else if encoding.is_reserved_name(entry.name) {
                // A marker (an opaque directory's): no entry.
            } else if entry.kind == FileType::CharDevice && encoding == WhiteoutEncoding::Linux {
                devices.push(ListedEntry::of(&entry));
            } else {
                layer.entries.push(ListedEntry::of(&entry));
            }
            true
        })?;
        if seen == before {
            break;
        }
    }
    for device in devices {
        let whiteout = dir
            .lookup(&device.name)?
            .metadata()
            .is_ok_and(|meta| encoding.is_whiteout_node(&meta));
        if whiteout {
            layer.whiteouts.push(device.name);
        } else {
            layer.entries.push(device);
        }
    }
    Ok(layer)
}
