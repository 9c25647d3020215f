//! [`Bytes`]: a cheap, shared, immutable view of part of a byte buffer (a RAM disk, a file's
//! data handed from one filesystem to another without a copy).

use alloc::{sync::Arc, vec::Vec};
use core::fmt;
use core::ops::Range;

/// A shared, read-only window into a byte buffer.
///
/// Cloning and slicing never copy the bytes: every `Bytes` made from one buffer holds the
/// same `Arc`, so an image's layers and files all point into the one RAM disk. The buffer is
/// any `AsRef<[u8]>`: a `&'static [u8]` (a kernel's RAM disk), a `Vec<u8>` (tests, the host).
///
/// **The bytes never change.** A view shows the same bytes for as long as it lives: nothing
/// can write through it, and the buffer it holds (kept alive by the `Arc`) must answer
/// `as_ref` with the same bytes every time, which `Vec<u8>`, `Box<[u8]>` and `&'static [u8]`
/// do. This is what lets a filesystem keep a `Bytes` it was given instead of copying it (see
/// [`Inode::shared_data`](super::Inode::shared_data)). A buffer that broke the rule could
/// make such a file read back wrong bytes, but never make this type panic.
#[derive(Clone)]
pub struct Bytes {
    source: Arc<dyn AsRef<[u8]> + Send + Sync>,
    start: usize,
    len: usize,
}

impl Bytes {
    /// All of `source`.
    pub fn new(source: Arc<dyn AsRef<[u8]> + Send + Sync>) -> Bytes {
        let len = (*source).as_ref().len();
        Bytes {
            source,
            start: 0,
            len,
        }
    }

    /// Bytes that live for the whole run, e.g. a RAM disk the bootloader loaded.
    pub fn from_static(bytes: &'static [u8]) -> Bytes {
        Bytes::new(Arc::new(bytes))
    }

    /// The bytes of `vec`, moved (not copied) behind an `Arc`.
    pub fn from_vec(vec: Vec<u8>) -> Bytes {
        Bytes::new(Arc::new(vec))
    }

    /// The bytes, as a slice of the shared buffer.
    pub fn as_slice(&self) -> &[u8] {
        // `start..start + len` was checked against the buffer when this view was made, and
        // the buffer behind an `Arc<dyn AsRef<[u8]>>` cannot change length; `get` keeps even a
        // misbehaving `AsRef` from panicking here.
        (*self.source)
            .as_ref()
            .get(self.start..self.start + self.len)
            .unwrap_or_default()
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The part `range` of these bytes (offsets relative to this view), sharing the buffer;
    /// `None` if `range` is reversed or reaches past the end.
    pub fn slice(&self, range: Range<usize>) -> Option<Bytes> {
        if range.start > range.end || range.end > self.len {
            return None;
        }
        Some(Bytes {
            source: self.source.clone(),
            start: self.start + range.start,
            len: range.end - range.start,
        })
    }

    /// The part of `range` that lies within these bytes, sharing the buffer: both ends are
    /// clamped to the length, and a reversed range gives an empty view. Never fails.
    pub fn slice_within(&self, range: Range<usize>) -> Bytes {
        let end = range.end.min(self.len);
        let start = range.start.min(end);
        Bytes {
            source: self.source.clone(),
            start: self.start + start,
            len: end - start,
        }
    }

    /// Whether `self` and `other` are views of the same buffer.
    pub fn same_buffer(&self, other: &Bytes) -> bool {
        Arc::ptr_eq(&self.source, &other.source)
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bytes")
            .field("start", &self.start)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_share_the_buffer() {
        let bytes = Bytes::from_vec(b"hello, world".to_vec());
        let world = bytes.slice(7..12).unwrap();
        assert_eq!(world.as_slice(), b"world");
        assert_eq!(world.as_slice().as_ptr(), bytes.as_slice()[7..].as_ptr());
        assert!(world.same_buffer(&bytes));
        let or = world.slice(1..3).unwrap();
        assert_eq!(or.as_slice(), b"or");
        assert!(bytes.slice(5..13).is_none());
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = bytes.slice(3..2);
        assert!(reversed.is_none());
        assert!(bytes.slice(12..12).unwrap().is_empty());
        assert!(!Bytes::from_static(b"x").same_buffer(&bytes));
    }

    #[test]
    fn slice_within_clamps() {
        let bytes = Bytes::from_vec(b"hello, world".to_vec());
        assert_eq!(bytes.slice_within(7..100).as_slice(), b"world");
        assert_eq!(bytes.slice_within(0..5).as_slice(), b"hello");
        assert!(bytes.slice_within(20..30).is_empty());
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = bytes.slice_within(5..2);
        assert!(reversed.is_empty());
        let world = bytes.slice_within(7..12);
        assert_eq!(world.slice_within(1..3).as_slice(), b"or");
        assert!(world.same_buffer(&bytes));
    }
}
