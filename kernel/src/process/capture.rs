//! Standard streams for programs the kernel runs without a terminal (the suite's scripts):
//! output kept in memory for the caller to read afterwards, input at end of file.

use alloc::{string::String, sync::Arc, vec::Vec};
use core::any::Any;

use overlay_core::vfs::{FileType, Metadata};
use overlay_syscalls::file::OpenFile;
use overlay_syscalls::SysResult;
use spin::Mutex;

/// Most bytes one capture keeps; later output is counted but dropped, so a runaway program
/// cannot take the kernel's memory.
const MAX_CAPTURE_BYTES: usize = 4 << 20;

/// An output stream whose bytes the kernel keeps (a pipe nobody reads until the end).
#[derive(Clone, Default)]
pub struct Capture {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl Capture {
    /// An empty capture.
    pub fn new() -> Capture {
        Capture::default()
    }

    /// The bytes written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.lock().clone()
    }

    /// A write-only description that appends to this capture.
    pub fn writer(&self) -> Arc<dyn OpenFile> {
        Arc::new(CaptureWriter {
            bytes: self.bytes.clone(),
        })
    }
}

struct CaptureWriter {
    bytes: Arc<Mutex<Vec<u8>>>,
}

/// A character device's metadata for the streams (as a pipe or `/dev/null` would show).
fn stream_metadata(kind: FileType, mode: u16) -> Metadata {
    Metadata {
        ino: 1,
        dev: 0,
        kind,
        mode,
        nlink: 1,
        uid: 0,
        gid: 0,
        size: 0,
        rdev: Default::default(),
        atime: Default::default(),
        mtime: Default::default(),
        ctime: Default::default(),
    }
}

impl OpenFile for CaptureWriter {
    fn read(&self, _buf: &mut [u8]) -> SysResult<usize> {
        Err(overlay_syscalls::Errno::EBADF)
    }

    fn write(&self, buf: &[u8]) -> SysResult<usize> {
        let mut bytes = self.bytes.lock();
        let room = MAX_CAPTURE_BYTES.saturating_sub(bytes.len());
        bytes.extend_from_slice(&buf[..buf.len().min(room)]);
        Ok(buf.len())
    }

    fn metadata(&self) -> SysResult<Metadata> {
        Ok(stream_metadata(FileType::Fifo, 0o600))
    }

    fn status_flags(&self) -> u32 {
        linux_raw_sys::general::O_WRONLY
    }

    fn set_status_flags(&self, _flags: u32) {}

    fn describe(&self) -> String {
        String::from("pipe:[capture]")
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An input stream at end of file (as `/dev/null` reads).
pub struct EmptyInput;

impl OpenFile for EmptyInput {
    fn read(&self, _buf: &mut [u8]) -> SysResult<usize> {
        Ok(0)
    }

    fn write(&self, _buf: &[u8]) -> SysResult<usize> {
        Err(overlay_syscalls::Errno::EBADF)
    }

    fn metadata(&self) -> SysResult<Metadata> {
        Ok(stream_metadata(FileType::CharDevice, 0o666))
    }

    fn status_flags(&self) -> u32 {
        linux_raw_sys::general::O_RDONLY
    }

    fn set_status_flags(&self, _flags: u32) {}

    fn describe(&self) -> String {
        String::from("/dev/null")
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
