//! The file and path system calls over the union. (Being written.)

/// A process's view of the filesystem: its root (the union with `/proc` and `/dev` mounted
/// over it), working directory and umask.
#[derive(Clone, Default)]
pub struct FsContext {}
