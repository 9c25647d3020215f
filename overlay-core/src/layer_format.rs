//! What a layer holds besides its files, as Linux overlayfs and the OCI image format write it:
//! the names and xattrs that mark deletions, opaque directories and moved directories, and
//! how many layers one stack may have.
//!
//! [`image`](crate::image) reads these from the archives of image layers and
//! [`overlay`](crate::overlay) reads and writes them in its layers; neither module uses the
//! other, both use this one (the union's encodings of them are in
//! [`overlay::whiteout`](crate::overlay::whiteout)).

/// Most lower layers a union may have (Linux's limit); more is `EINVAL`. An image with more
/// layers than this could never be stacked, so the image loader refuses it too.
pub const MAX_LOWERS: usize = 500;

/// The xattr that marks a directory opaque in the Linux encoding.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The xattr on a moved upper directory naming, as an absolute path, where its lower
/// contents live (Linux `redirect_dir`).
pub const REDIRECT_XATTR: &str = "trusted.overlay.redirect";
/// The prefix of every whiteout name in the OCI encoding.
pub const OCI_WHITEOUT_PREFIX: &str = ".wh.";
/// The name of the opaque marker in the OCI encoding.
pub const OCI_OPAQUE_MARKER: &str = ".wh..wh..opq";
