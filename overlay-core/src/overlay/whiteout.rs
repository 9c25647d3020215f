//! Whiteout and opaque-directory encodings, one per layer.
//!
//! Linux overlayfs marks a deleted name with a character device 0/0 and an opaque directory with
//! the xattr `trusted.overlay.opaque=y`. Image layers (OCI, AUFS) use names instead: an empty
//! file `.wh.<name>` deletes `<name>` from the layers below, and `.wh..wh..opq` in a directory
//! hides everything below it. A filesystem without device nodes or xattrs can only hold the
//! name-based form, so each layer says which one it uses.
//!
//! A character device 0/0 in an image layer is a whiteout too, as Docker's `overlay2` driver
//! shows it (it unpacks layers into directories that Linux overlayfs stacks): the image layer
//! turns it into a `.wh.` whiteout when it is parsed (see [`crate::image::layer`]), so the
//! union never shows it as a device that a copy-up would turn into a deletion; another layer
//! with name-based whiteouts that shows one as a device keeps it, but a change that would copy
//! it up into an upper with Linux whiteouts fails with `EINVAL`. The other way
//! round, a name starting with `.wh.` is a plain name in an upper layer with Linux whiteouts,
//! which no OCI layer can hold: `commit` refuses it (see [`crate::containers::freeze()`]).

use alloc::{format, string::String, sync::Arc};

use crate::error::{Errno, Result};
use crate::vfs::{DeviceId, FileType, FsFeatures, Inode, Metadata, NewNode, XattrFlags};

pub use crate::layer_format::{
    OCI_OPAQUE_MARKER, OCI_WHITEOUT_PREFIX, OPAQUE_XATTR, REDIRECT_XATTR,
};

/// How a layer records deleted names and opaque directories.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum WhiteoutEncoding {
    /// Linux overlayfs: whiteout = character device 0/0, opaque = `trusted.overlay.opaque=y`.
    Linux,
    /// OCI image layers and AUFS: whiteout = empty file `.wh.<name>`, opaque = `.wh..wh..opq`.
    /// Names starting with `.wh.` are reserved: never shown, never creatable.
    Oci,
}

/// What one layer holds under a name.
pub(crate) enum LayerLookup {
    /// Nothing: look further down.
    Absent,
    /// A whiteout: the name is deleted for every layer below.
    Whiteout,
    /// A real entry, with its metadata and, if the layer shares it, its name as the layer
    /// keeps it (see [`Inode::lookup_shared`]).
    Found(Arc<dyn Inode>, Metadata, Option<Arc<str>>),
}

impl WhiteoutEncoding {
    /// The encoding a filesystem with `features` can store: Linux's where it has device nodes
    /// and xattrs, the name-based one otherwise.
    pub fn for_features(features: FsFeatures) -> WhiteoutEncoding {
        if features.contains(FsFeatures::DEVICE_NODES | FsFeatures::XATTRS) {
            WhiteoutEncoding::Linux
        } else {
            WhiteoutEncoding::Oci
        }
    }

    /// Whether `name` is reserved by this encoding (never listed, never creatable).
    pub fn is_reserved_name(self, name: &str) -> bool {
        self == WhiteoutEncoding::Oci && name.starts_with(OCI_WHITEOUT_PREFIX)
    }

    /// If `name` is this encoding's whiteout for another name, that name.
    pub(crate) fn whiteout_target(self, name: &str) -> Option<&str> {
        match self {
            WhiteoutEncoding::Oci if name != OCI_OPAQUE_MARKER => name
                .strip_prefix(OCI_WHITEOUT_PREFIX)
                .filter(|target| !target.is_empty()),
            _ => None,
        }
    }

    /// Whether a real entry with `meta` is a whiteout in this encoding.
    pub(crate) fn is_whiteout_node(self, meta: &Metadata) -> bool {
        self == WhiteoutEncoding::Linux && is_whiteout_device(meta.kind, meta.rdev)
    }

    /// What `dir` holds under `name` in this encoding.
    pub(crate) fn lookup(self, dir: &dyn Inode, name: &str) -> Result<LayerLookup> {
        self.lookup_in(dir, name, true)
    }

    /// [`WhiteoutEncoding::lookup`] in a directory that nothing lies below (the last of a
    /// merge): a whiteout there would hide nothing, so a name it does not hold is
    /// [`LayerLookup::Absent`] without a search for its whiteout.
    pub(crate) fn lookup_bottom(self, dir: &dyn Inode, name: &str) -> Result<LayerLookup> {
        self.lookup_in(dir, name, false)
    }

    /// `anything_below`: whether a whiteout in `dir` can hide something.
    fn lookup_in(self, dir: &dyn Inode, name: &str, anything_below: bool) -> Result<LayerLookup> {
        if self.is_reserved_name(name) {
            return Ok(LayerLookup::Absent);
        }
        match dir.lookup_shared(name) {
            Ok((inode, shared_name)) => {
                let meta = inode.metadata()?;
                if self.is_whiteout_node(&meta) {
                    Ok(LayerLookup::Whiteout)
                } else {
                    Ok(LayerLookup::Found(inode, meta, shared_name))
                }
            }
            Err(Errno::ENOENT) => match self {
                WhiteoutEncoding::Linux => Ok(LayerLookup::Absent),
                WhiteoutEncoding::Oci if !anything_below => Ok(LayerLookup::Absent),
                // A whiteout name that cannot exist (too long) means there is no whiteout.
                WhiteoutEncoding::Oci => match dir.lookup(&oci_whiteout_name(name)) {
                    Ok(_) => Ok(LayerLookup::Whiteout),
                    Err(Errno::ENOENT | Errno::ENAMETOOLONG) => Ok(LayerLookup::Absent),
                    Err(errno) => Err(errno),
                },
            },
            Err(errno) => Err(errno),
        }
    }

    /// Whether `dir` hides the layers below it.
    pub(crate) fn is_opaque(self, dir: &dyn Inode) -> Result<bool> {
        match self {
            WhiteoutEncoding::Linux => match dir.get_xattr(OPAQUE_XATTR) {
                Ok(value) => Ok(value == b"y"),
                Err(Errno::ENODATA | Errno::ENOTSUP) => Ok(false),
                Err(errno) => Err(errno),
            },
            WhiteoutEncoding::Oci => match dir.lookup(OCI_OPAQUE_MARKER) {
                Ok(_) => Ok(true),
                Err(Errno::ENOENT) => Ok(false),
                Err(errno) => Err(errno),
            },
        }
    }

    /// Marks `dir` (a writable directory) opaque.
    pub(crate) fn set_opaque(self, dir: &dyn Inode) -> Result<()> {
        match self {
            WhiteoutEncoding::Linux => dir.set_xattr(OPAQUE_XATTR, b"y", XattrFlags::empty()),
            WhiteoutEncoding::Oci => {
                dir.create(OCI_OPAQUE_MARKER, &NewNode::new(FileType::Regular, 0, 0, 0))?;
                Ok(())
            }
        }
    }

    /// Creates a whiteout for `name` in the writable directory `dir`, where `name` itself is
    /// absent. In the Linux encoding the whiteout takes the name; in the OCI encoding it is
    /// a separate marker file.
    pub(crate) fn create_whiteout(self, dir: &dyn Inode, name: &str) -> Result<()> {
        match self {
            WhiteoutEncoding::Linux => {
                dir.create(name, &whiteout_device())?;
            }
            WhiteoutEncoding::Oci => {
                dir.create(
                    &oci_whiteout_name(name),
                    &NewNode::new(FileType::Regular, 0, 0, 0),
                )?;
            }
        }
        Ok(())
    }

    /// Removes the whiteout for `name` from the writable directory `dir`, if there is one.
    pub(crate) fn remove_whiteout(self, dir: &dyn Inode, name: &str) -> Result<()> {
        let marker = match self {
            WhiteoutEncoding::Linux => String::from(name),
            WhiteoutEncoding::Oci => oci_whiteout_name(name),
        };
        match dir.unlink(&marker) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(errno) => Err(errno),
        }
    }
}

/// The node Linux uses as a whiteout: a character device 0/0 with no permissions.
pub(crate) fn whiteout_device() -> NewNode {
    NewNode::new(FileType::CharDevice, 0, 0, 0)
}

/// Whether an entry of `kind` with device number `rdev` is Linux's whiteout device.
pub(crate) fn is_whiteout_device(kind: FileType, rdev: DeviceId) -> bool {
    kind == FileType::CharDevice && rdev == DeviceId::default()
}

fn oci_whiteout_name(name: &str) -> String {
    format!("{OCI_WHITEOUT_PREFIX}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_follows_capabilities() {
        let full = FsFeatures::DEVICE_NODES | FsFeatures::XATTRS | FsFeatures::SYMLINKS;
        assert_eq!(
            WhiteoutEncoding::for_features(full),
            WhiteoutEncoding::Linux
        );
        assert_eq!(
            WhiteoutEncoding::for_features(FsFeatures::XATTRS),
            WhiteoutEncoding::Oci
        );
        assert_eq!(
            WhiteoutEncoding::for_features(FsFeatures::empty()),
            WhiteoutEncoding::Oci
        );
    }

    #[test]
    fn oci_names_are_reserved_and_decoded() {
        let oci = WhiteoutEncoding::Oci;
        assert!(oci.is_reserved_name(".wh.foo"));
        assert!(!oci.is_reserved_name(".whatever"));
        assert_eq!(oci.whiteout_target(".wh.foo"), Some("foo"));
        assert_eq!(oci.whiteout_target(OCI_OPAQUE_MARKER), None);
        assert_eq!(oci.whiteout_target(".wh."), None);
        assert!(!WhiteoutEncoding::Linux.is_reserved_name(".wh.foo"));
    }
}
