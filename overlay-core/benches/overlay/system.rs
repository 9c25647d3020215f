//! What every system under test offers the workloads: layers prepared once, then mounted
//! afresh (a new union with an empty writable layer) for each repetition.

/// A filesystem implementation under test.
pub trait System {
    /// The name in the table's header.
    fn name(&self) -> &'static str;

    /// Builds the read-only layers (top first), or says why this system cannot run here.
    fn prepare(&self, layers: &[crate::spec::Tree]) -> Result<Box<dyn Prepared>, String>;
}

/// Layers ready to be mounted.
pub trait Prepared {
    /// A fresh union of the layers under an empty writable layer (or, for a plain directory,
    /// a fresh copy of what the union would show).
    fn mount(&self) -> Result<Box<dyn Mounted>, String>;
}

/// One mounted union: the operations the workloads time. Paths are absolute (`/d/f0_1`).
/// They panic on unexpected errors: a benchmark that silently measures failures is worse
/// than one that stops.
pub trait Mounted {
    /// Whether `path` exists (`stat`, not following a final symlink).
    fn stat(&self, path: &str) -> bool;
    /// Lists the directory `path` whole; returns the number of entries.
    fn list(&self, path: &str) -> usize;
    /// Opens `path` for writing (no truncation) and writes one byte at offset 0.
    fn write_first_byte(&self, path: &str);
    /// Removes the file `path`.
    fn unlink(&self, path: &str);
    /// Creates the file `path` with `data`.
    fn create(&self, path: &str, data: &[u8]);
    /// Walks the whole tree, listing every directory and stating every entry; returns how
    /// many entries it saw (the root not included).
    fn walk(&self) -> u64;
}
