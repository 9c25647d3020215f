//! Pipes as a program sees them: end of file, `EPIPE`, `EAGAIN`, atomic small writes, and
//! `pipe2`'s descriptors.

use linux_raw_sys::general::{O_CLOEXEC, O_DIRECT, O_NONBLOCK, O_RDONLY, O_WRONLY};
use overlay_core::vfs::FileType;
use overlay_syscalls::file::FdTable;
use overlay_syscalls::pipe::{new_pipe, pipe2, PIPE_BUF, PIPE_CAPACITY};
use overlay_syscalls::user::{read_u32, FlatMemory};
use overlay_syscalls::Errno;

#[test]
fn bytes_written_are_read_in_order() {
    let (read_end, write_end) = new_pipe();
    assert_eq!(write_end.write(b"hello "), Ok(6));
    assert_eq!(write_end.write(b"world"), Ok(5));
    let mut buf = [0u8; 8];
    assert_eq!(read_end.read(&mut buf), Ok(8));
    assert_eq!(&buf, b"hello wo");
    assert_eq!(read_end.read(&mut buf), Ok(3));
    assert_eq!(&buf[..3], b"rld");
}

#[test]
fn empty_pipe_blocks_while_a_writer_is_open_then_reads_end_of_file() {
    let (read_end, write_end) = new_pipe();
    let mut buf = [0u8; 4];
    assert_eq!(read_end.read(&mut buf), Err(Errno::EAGAIN));
    write_end.write(b"ab").unwrap();
    drop(write_end);
    // What was written before the close is still read, then end of file.
    assert_eq!(read_end.read(&mut buf), Ok(2));
    assert_eq!(read_end.read(&mut buf), Ok(0));
}

#[test]
fn a_shared_write_end_closes_when_its_last_holder_goes() {
    let (read_end, write_end) = new_pipe();
    // dup and fork share the description: one more reference, not one more end.
    let duplicate = write_end.clone();
    drop(write_end);
    let mut buf = [0u8; 1];
    assert_eq!(read_end.read(&mut buf), Err(Errno::EAGAIN));
    drop(duplicate);
    assert_eq!(read_end.read(&mut buf), Ok(0));
}

#[test]
fn writing_without_a_reader_is_epipe() {
    let (read_end, write_end) = new_pipe();
    drop(read_end);
    assert_eq!(write_end.write(b"x"), Err(Errno::EPIPE));
    assert_eq!(write_end.write(b""), Err(Errno::EPIPE));
}

#[test]
fn full_pipe_blocks_the_writer_and_long_writes_are_partial() {
    let (read_end, write_end) = new_pipe();
    let big = vec![7u8; PIPE_CAPACITY + 100];
    // A write longer than PIPE_BUF takes what fits.
    assert_eq!(write_end.write(&big), Ok(PIPE_CAPACITY));
    assert_eq!(write_end.write(b"x"), Err(Errno::EAGAIN));
    let mut buf = vec![0u8; 10];
    assert_eq!(read_end.read(&mut buf), Ok(10));
    assert_eq!(write_end.write(&big), Ok(10));
}

#[test]
fn writes_up_to_pipe_buf_are_all_or_nothing() {
    let (read_end, write_end) = new_pipe();
    let filler = vec![1u8; PIPE_CAPACITY - 100];
    assert_eq!(write_end.write(&filler), Ok(filler.len()));
    // 101 bytes do not fit in the 100 free: nothing is written.
    assert_eq!(write_end.write(&[2u8; 101]), Err(Errno::EAGAIN));
    assert_eq!(write_end.write(&[2u8; 100]), Ok(100));
    let mut buf = vec![0u8; PIPE_BUF];
    assert_eq!(read_end.read(&mut buf), Ok(PIPE_BUF));
    // A write of exactly PIPE_BUF fits now, whole.
    assert_eq!(write_end.write(&vec![3u8; PIPE_BUF]), Ok(PIPE_BUF));
    assert_eq!(write_end.write(&[4u8; 1]), Err(Errno::EAGAIN));
}

#[test]
fn pipe_looks_like_a_fifo_named_by_its_inode() {
    let (read_end, write_end) = new_pipe();
    let metadata = read_end.metadata().unwrap();
    assert_eq!(metadata.kind, FileType::Fifo);
    assert_eq!(metadata.unix_mode(), 0o010600);
    assert_eq!(write_end.metadata().unwrap().ino, metadata.ino);
    assert_eq!(read_end.describe(), format!("pipe:[{}]", metadata.ino));
    assert_eq!(read_end.describe(), write_end.describe());
    let (other, _) = new_pipe();
    assert_ne!(other.describe(), read_end.describe());
    assert_eq!(
        read_end.seek(0, overlay_syscalls::file::Whence::Set),
        Err(Errno::ESPIPE)
    );
}

#[test]
fn pipe2_installs_both_ends_at_the_lowest_free_descriptors() {
    let mut table = FdTable::new();
    let mut memory = FlatMemory::new(0x1000, 64);
    assert_eq!(pipe2(&mut table, &mut memory, 0x1000, 0), Ok(0));
    assert_eq!(read_u32(&memory, 0x1000), Ok(0));
    assert_eq!(read_u32(&memory, 0x1004), Ok(1));
    assert_eq!(table.file(0).unwrap().status_flags(), O_RDONLY);
    assert_eq!(table.file(1).unwrap().status_flags(), O_WRONLY);
    assert!(!table.get(0).unwrap().close_on_exec);
    table.file(1).unwrap().write(b"z").unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(table.file(0).unwrap().read(&mut buf), Ok(1));
    // Closing the write end's only descriptor is end of file for the reader.
    table.remove(1).unwrap();
    assert_eq!(table.file(0).unwrap().read(&mut buf), Ok(0));
}

#[test]
fn pipe2_flags_set_nonblocking_and_close_on_exec() {
    let mut table = FdTable::new();
    let mut memory = FlatMemory::new(0x1000, 64);
    let flags = u64::from(O_NONBLOCK | O_CLOEXEC);
    assert_eq!(pipe2(&mut table, &mut memory, 0x1000, flags), Ok(0));
    assert!(table.get(0).unwrap().close_on_exec);
    assert_eq!(table.file(0).unwrap().status_flags(), O_RDONLY | O_NONBLOCK);
    assert_eq!(table.file(1).unwrap().status_flags(), O_WRONLY | O_NONBLOCK);
    assert_eq!(
        pipe2(&mut table, &mut memory, 0x1000, u64::from(O_DIRECT)),
        Err(Errno::EINVAL)
    );
    assert_eq!(table.numbers().count(), 2);
}

#[test]
fn pipe2_with_a_bad_address_leaves_no_descriptor() {
    let mut table = FdTable::new();
    let mut memory = FlatMemory::new(0x1000, 64);
    assert_eq!(
        pipe2(&mut table, &mut memory, 0x9000, 0),
        Err(Errno::EFAULT)
    );
    // Half inside, half outside.
    assert_eq!(
        pipe2(&mut table, &mut memory, 0x103c, 0),
        Err(Errno::EFAULT)
    );
    assert_eq!(table.numbers().count(), 0);
}

#[test]
fn readiness_follows_data_and_closed_ends() {
    let (read_end, write_end) = new_pipe();
    let reader = read_end
        .as_any()
        .downcast_ref::<overlay_syscalls::pipe::PipeEnd>()
        .unwrap();
    let writer = write_end
        .as_any()
        .downcast_ref::<overlay_syscalls::pipe::PipeEnd>()
        .unwrap();
    assert!(!reader.readable());
    assert!(writer.writable());
    write_end
        .write(&vec![0u8; PIPE_CAPACITY - PIPE_BUF + 1])
        .unwrap();
    assert!(reader.readable());
    assert!(!writer.writable());
    let (read_end, write_end) = new_pipe();
    drop(write_end);
    let reader = read_end
        .as_any()
        .downcast_ref::<overlay_syscalls::pipe::PipeEnd>()
        .unwrap();
    assert!(reader.readable());
}

#[test]
fn poll_events_are_linux_bits() {
    use linux_raw_sys::general::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
    use overlay_syscalls::pipe::PipeEnd;
    let (read_end, write_end) = new_pipe();
    let events = |file: &std::sync::Arc<dyn overlay_syscalls::file::OpenFile>| {
        file.as_any()
            .downcast_ref::<PipeEnd>()
            .unwrap()
            .poll_events()
    };
    assert_eq!(events(&read_end), 0);
    assert_eq!(events(&write_end), POLLOUT | POLLWRNORM);
    write_end.write(b"x").unwrap();
    assert_eq!(events(&read_end), POLLIN | POLLRDNORM);
    drop(write_end);
    assert_eq!(events(&read_end), POLLIN | POLLRDNORM | POLLHUP);
    let (read_end, write_end) = new_pipe();
    drop(read_end);
    assert_eq!(events(&write_end), POLLOUT | POLLWRNORM | POLLERR);
}
