//! The names the dentry cache is keyed by: short ones kept in the entry itself.
//!
//! A cache hit compares the name looked up with the name stored. Stored as the layer's
//! `Arc<str>`, that compare reads the name's bytes from wherever the layer allocated them:
//! in a directory of 64 000 names, one cache miss more per lookup. Most names are short, so a
//! name of up to [`INLINE_BYTES`] bytes is copied into the entry, where the probe already is.

use alloc::sync::Arc;

use crate::name_table::Name;

/// The longest name kept inline: with its length and the variant's tag, as large as the
/// `Arc<str>` it stands in for plus its padding (24 bytes).
const INLINE_BYTES: usize = 22;

/// A name in the dentry cache.
pub(crate) enum DentryName {
    /// A short name's bytes (the first `len`).
    Inline { len: u8, bytes: [u8; INLINE_BYTES] },
    /// A longer name, shared with the layer that holds it.
    Shared(Arc<str>),
}

impl DentryName {
    /// The key for `name`: its bytes if it is short enough, else another reference to it.
    pub(crate) fn new(name: &Arc<str>) -> DentryName {
        let text = name.as_bytes();
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE_BYTES => {
                let mut bytes = [0; INLINE_BYTES];
                bytes[..text.len()].copy_from_slice(text);
                DentryName::Inline { len, bytes }
            }
            _ => DentryName::Shared(name.clone()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            DentryName::Inline { len, bytes } => &bytes[..usize::from(*len)],
            DentryName::Shared(name) => name.as_bytes(),
        }
    }
}

impl Name for DentryName {
    fn bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::String;

    use super::*;

    #[test]
    fn short_names_go_inline_and_keep_their_bytes() {
        for len in [0, 1, INLINE_BYTES - 1, INLINE_BYTES, INLINE_BYTES + 1, 255] {
            let text: String = core::iter::repeat_n('é', len / 2)
                .chain(core::iter::repeat_n('x', len % 2))
                .collect();
            let name: Arc<str> = Arc::from(text.as_str());
            let key = DentryName::new(&name);
            assert_eq!(
                matches!(key, DentryName::Inline { .. }),
                text.len() <= INLINE_BYTES,
                "{len} bytes"
            );
            assert_eq!(key.as_bytes(), text.as_bytes());
        }
    }
}
