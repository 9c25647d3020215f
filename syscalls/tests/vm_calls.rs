//! The memory calls through the dispatcher: `brk`, `mmap`, `munmap`, `mprotect`, `mremap`,
//! `madvise`, with the regions they leave and the pages the address space holds.

mod vm_support;

use std::any::Any;
use std::sync::Arc;

use linux_raw_sys::general::*;
use overlay_core::vfs::{DeviceId, FileType, Metadata, Timespec};
use overlay_syscalls::file::{Descriptor, OpenFile};
use overlay_syscalls::process::Process;
use overlay_syscalls::user::UserMemory;
use overlay_syscalls::vm::{MemoryMap, Prot, RegionKind, MMAP_TOP, PAGE_BYTES};
use overlay_syscalls::{Errno, SysResult};
use vm_support::*;

const ANON: u64 = (MAP_PRIVATE | MAP_ANONYMOUS) as u64;
const RW_PROT: u64 = (PROT_READ | PROT_WRITE) as u64;

struct Setup {
    process: Process,
    space: FakeSpace,
    host: FakeHost,
}

impl Setup {
    fn new() -> Setup {
        let mut process = root_process();
        process.memory.set_brk_start(0x60_0000);
        Setup {
            process,
            space: FakeSpace::new(),
            host: FakeHost::new(),
        }
    }

    fn call(&mut self, number: u32, args: [u64; 6]) -> SysResult<u64> {
        call_result(&mut self.process, &mut self.space, &self.host, number, args)
    }

    fn mmap(
        &mut self,
        addr: u64,
        len: u64,
        prot: u64,
        flags: u64,
        fd: u64,
        offset: u64,
    ) -> SysResult<u64> {
        self.call(__NR_mmap, [addr, len, prot, flags, fd, offset])
    }

    fn map(&self) -> &MemoryMap {
        &self.process.memory
    }
}

#[test]
fn brk_zero_returns_the_current_break() {
    let mut s = Setup::new();
    assert_eq!(s.call(__NR_brk, [0; 6]), Ok(0x60_0000));
}

#[test]
fn brk_grows_with_zeroed_writable_pages_and_shrinks_by_unmapping() {
    let mut s = Setup::new();
    assert_eq!(s.call(__NR_brk, [0x60_2100, 0, 0, 0, 0, 0]), Ok(0x60_2100));
    assert_eq!(s.space.prot_at(0x60_2000), Some(Prot::READ | Prot::WRITE));
    assert_eq!(s.space.peek(0x60_0000, 0x3000), vec![0; 0x3000]);
    s.space.write(0x60_2fff, b"x").unwrap();
    assert_eq!(s.map().regions().next().unwrap().kind, RegionKind::Heap);
    assert_eq!(s.call(__NR_brk, [0x60_1000, 0, 0, 0, 0, 0]), Ok(0x60_1000));
    assert_eq!(s.space.prot_at(0x60_1000), None);
    assert_eq!(s.space.prot_at(0x60_0000), Some(Prot::READ | Prot::WRITE));
    assert_eq!(s.call(__NR_brk, [0x60_0000, 0, 0, 0, 0, 0]), Ok(0x60_0000));
    assert_eq!(s.map().regions().count(), 0);
    // Growing again gives zeroed pages, not the old bytes.
    s.call(__NR_brk, [0x60_3000, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(s.space.peek(0x60_2fff, 1), [0]);
}

#[test]
fn brk_that_cannot_move_returns_the_old_break() {
    let mut s = Setup::new();
    assert_eq!(
        s.call(__NR_brk, [0x10_0000, 0, 0, 0, 0, 0]),
        Ok(0x60_0000),
        "below the heap"
    );
    s.mmap(0x60_4000, 0x1000, RW_PROT, ANON | MAP_FIXED as u64, 0, 0)
        .unwrap();
    assert_eq!(
        s.call(__NR_brk, [0x60_8000, 0, 0, 0, 0, 0]),
        Ok(0x60_0000),
        "into a mapping"
    );
    s.space.page_budget = Some(s.space.pages.len() + 1);
    assert_eq!(
        s.call(__NR_brk, [0x60_3000, 0, 0, 0, 0, 0]),
        Ok(0x60_0000),
        "out of memory"
    );
    assert_eq!(
        s.space.prot_at(0x60_0000),
        None,
        "nothing half-mapped is left"
    );
}

#[test]
fn anonymous_mappings_are_placed_top_down_zeroed_and_writable() {
    let mut s = Setup::new();
    let first = s.mmap(0, 0x2000, RW_PROT, ANON, u64::MAX, 0).unwrap();
    let second = s.mmap(0, 100, RW_PROT, ANON, u64::MAX, 0).unwrap();
    assert_eq!(first, MMAP_TOP - 0x2000);
    assert_eq!(
        second,
        first - PAGE_BYTES,
        "below the first, rounded up to a page"
    );
    assert_eq!(s.space.peek(first, 0x2000), vec![0; 0x2000]);
    s.space.write(second + 4095, b"z").unwrap();
    assert_eq!(s.map().mapped_bytes(), 0x3000);
}

#[test]
fn mapping_without_write_permission_refuses_writes() {
    let mut s = Setup::new();
    let addr = s.mmap(0, 0x1000, PROT_READ as u64, ANON, 0, 0).unwrap();
    assert_eq!(s.space.write(addr, b"no"), Err(Errno::EFAULT));
    assert_eq!(s.space.peek(addr, 2), [0, 0]);
}

#[test]
fn mmap_rejects_bad_arguments_as_linux() {
    let mut s = Setup::new();
    assert_eq!(
        s.mmap(0, 0, RW_PROT, ANON, 0, 0),
        Err(Errno::EINVAL),
        "zero length"
    );
    assert_eq!(
        s.mmap(0, 4096, RW_PROT, MAP_ANONYMOUS as u64, 0, 0),
        Err(Errno::EINVAL),
        "no type"
    );
    assert_eq!(
        s.mmap(0, 4096, 0x100, ANON, 0, 0),
        Err(Errno::EINVAL),
        "unknown prot"
    );
    assert_eq!(
        s.mmap(0, 4096, RW_PROT, ANON, 0, 12),
        Err(Errno::EINVAL),
        "odd offset"
    );
    assert_eq!(
        s.mmap(0x40_0800, 4096, RW_PROT, ANON | MAP_FIXED as u64, 0, 0),
        Err(Errno::EINVAL),
        "unaligned fixed address"
    );
    assert_eq!(
        s.mmap(0x1000, 4096, RW_PROT, ANON | MAP_FIXED as u64, 0, 0),
        Err(Errno::EPERM)
    );
    assert_eq!(
        s.mmap(
            0x7fff_ffff_f000,
            0x2000,
            RW_PROT,
            ANON | MAP_FIXED as u64,
            0,
            0
        ),
        Err(Errno::ENOMEM),
        "past the user half"
    );
    assert_eq!(
        s.mmap(0, u64::MAX - 10, RW_PROT, ANON, 0, 0),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        s.mmap(
            0,
            4096,
            RW_PROT,
            (MAP_SHARED_VALIDATE | MAP_ANONYMOUS) as u64 | 1 << 30,
            0,
            0
        ),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(s.map().regions().count(), 0);
}

#[test]
fn fixed_mapping_replaces_what_was_there() {
    let mut s = Setup::new();
    let addr = s.mmap(0, 0x3000, RW_PROT, ANON, 0, 0).unwrap();
    s.space.write(addr + 0x1000, b"old").unwrap();
    let fixed = s.mmap(
        addr + 0x1000,
        0x1000,
        PROT_READ as u64,
        ANON | MAP_FIXED as u64,
        0,
        0,
    );
    assert_eq!(fixed, Ok(addr + 0x1000));
    assert_eq!(s.space.peek(addr + 0x1000, 3), [0, 0, 0]);
    assert_eq!(s.space.prot_at(addr + 0x1000), Some(Prot::READ));
    let regions: Vec<_> = s.map().regions().copied().collect();
    assert_eq!(regions.len(), 3, "split around the fixed mapping");
    assert_eq!(s.map().mapped_bytes(), 0x3000);
}

#[test]
fn fixed_noreplace_over_a_mapping_is_eexist() {
    let mut s = Setup::new();
    let addr = s.mmap(0, 0x2000, RW_PROT, ANON, 0, 0).unwrap();
    let flags = ANON | MAP_FIXED_NOREPLACE as u64;
    assert_eq!(
        s.mmap(addr + 0x1000, 0x1000, RW_PROT, flags, 0, 0),
        Err(Errno::EEXIST)
    );
    let both = flags | MAP_FIXED as u64;
    assert_eq!(
        s.mmap(addr, 0x1000, RW_PROT, both, 0, 0),
        Err(Errno::EEXIST),
        "noreplace wins"
    );
    assert_eq!(
        s.mmap(addr - 0x1000, 0x1000, RW_PROT, flags, 0, 0),
        Ok(addr - 0x1000)
    );
}

#[test]
fn free_hint_is_used_and_a_taken_one_is_not() {
    let mut s = Setup::new();
    assert_eq!(
        s.mmap(0x1000_0000, 0x1000, RW_PROT, ANON, 0, 0),
        Ok(0x1000_0000)
    );
    let other = s.mmap(0x1000_0000, 0x1000, RW_PROT, ANON, 0, 0).unwrap();
    assert_ne!(other, 0x1000_0000);
}

#[test]
fn munmap_of_the_middle_splits_the_region() {
    let mut s = Setup::new();
    let addr = s.mmap(0, 0x3000, RW_PROT, ANON, 0, 0).unwrap();
    assert_eq!(
        s.call(__NR_munmap, [addr + 0x1000, 0x1000, 0, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(s.space.prot_at(addr + 0x1000), None);
    assert_eq!(s.space.write(addr + 0x1000, b"x"), Err(Errno::EFAULT));
    let regions: Vec<_> = s.map().regions().map(|r| (r.start, r.end)).collect();
    assert_eq!(
        regions,
        vec![(addr, addr + 0x1000), (addr + 0x2000, addr + 0x3000)]
    );
    assert_eq!(
        s.call(__NR_munmap, [addr + 0x1000, 0x1000, 0, 0, 0, 0]),
        Ok(0),
        "unmapped again: fine"
    );
    assert_eq!(
        s.call(__NR_munmap, [addr + 1, 0x1000, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        s.call(__NR_munmap, [addr, 0, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
}

#[test]
fn mprotect_changes_permissions_and_refuses_unmapped_ranges() {
    let mut s = Setup::new();
    let addr = s.mmap(0, 0x2000, RW_PROT, ANON, 0, 0).unwrap();
    assert_eq!(
        s.call(__NR_mprotect, [addr, 0x1000, PROT_READ as u64, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(s.space.write(addr, b"x"), Err(Errno::EFAULT));
    s.space.write(addr + 0x1000, b"x").unwrap();
    let prots: Vec<_> = s.map().regions().map(|r| r.prot).collect();
    assert_eq!(prots, vec![Prot::READ, Prot::READ | Prot::WRITE]);
    assert_eq!(
        s.call(__NR_mprotect, [addr, 0x3000, PROT_READ as u64, 0, 0, 0]),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        s.call(__NR_mprotect, [addr + 8, 0x1000, PROT_READ as u64, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        s.call(__NR_mprotect, [addr, 0, PROT_READ as u64, 0, 0, 0]),
        Ok(0)
    );
}

#[test]
fn mremap_grows_in_place_or_moves_the_contents() {
    let mut s = Setup::new();
    let low = s.mmap(0, 0x1000, RW_PROT, ANON, 0, 0).unwrap();
    let high = s.mmap(0, 0x1000, RW_PROT, ANON, 0, 0).unwrap();
    assert_eq!(
        high + 0x1000,
        low,
        "the second mapping sits just below the first"
    );
    s.space.write(high, b"keep me").unwrap();
    assert_eq!(
        s.call(__NR_mremap, [high, 0x1000, 0x2000, 0, 0, 0]),
        Err(Errno::ENOMEM)
    );
    let moved = s
        .call(
            __NR_mremap,
            [high, 0x1000, 0x3000, MREMAP_MAYMOVE as u64, 0, 0],
        )
        .unwrap();
    assert_ne!(moved, high);
    assert_eq!(s.space.peek(moved, 7), b"keep me");
    assert_eq!(s.space.prot_at(high), None);
    s.space.write(moved + 0x2fff, b"!").unwrap();
    // Growing into free pages stays in place; shrinking unmaps the tail.
    let spot = s.mmap(0x1000_0000, 0x1000, RW_PROT, ANON, 0, 0).unwrap();
    assert_eq!(
        s.call(__NR_mremap, [spot, 0x1000, 0x2000, 0, 0, 0]),
        Ok(spot)
    );
    s.space.write(spot + 0x1fff, b"!").unwrap();
    assert_eq!(
        s.call(__NR_mremap, [spot, 0x2000, 0x1000, 0, 0, 0]),
        Ok(spot)
    );
    assert_eq!(s.space.prot_at(spot + 0x1000), None);
    assert_eq!(s.space.prot_at(low), Some(Prot::READ | Prot::WRITE));
    assert_eq!(
        s.call(__NR_mremap, [0x2000_0000, 0x1000, 0x2000, 1, 0, 0]),
        Err(Errno::EFAULT)
    );
}

#[test]
fn madvise_dontneed_zeroes_anonymous_memory() {
    let mut s = Setup::new();
    let addr = s.mmap(0, 0x2000, RW_PROT, ANON, 0, 0).unwrap();
    s.space.write(addr, b"gone").unwrap();
    assert_eq!(s.call(__NR_madvise, [addr, 0x1000, 4, 0, 0, 0]), Ok(0));
    assert_eq!(s.space.peek(addr, 4), [0; 4]);
    assert_eq!(s.call(__NR_madvise, [addr, 0x1000, 0, 0, 0, 0]), Ok(0));
}

/// A regular file of fixed bytes.
struct BytesFile {
    bytes: Vec<u8>,
    flags: u32,
    kind: FileType,
}

impl OpenFile for BytesFile {
    fn read(&self, _buf: &mut [u8]) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }
    fn write(&self, _buf: &[u8]) -> SysResult<usize> {
        Err(Errno::EBADF)
    }
    fn pread(&self, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        let start = (offset as usize).min(self.bytes.len());
        let n = buf.len().min(self.bytes.len() - start);
        buf[..n].copy_from_slice(&self.bytes[start..start + n]);
        Ok(n)
    }
    fn metadata(&self) -> SysResult<Metadata> {
        Ok(Metadata {
            ino: 9,
            dev: 1,
            kind: self.kind,
            mode: 0o644,
            nlink: 1,
            uid: 0,
            gid: 0,
            size: self.bytes.len() as u64,
            rdev: DeviceId { major: 0, minor: 0 },
            atime: Timespec::default(),
            mtime: Timespec::default(),
            ctime: Timespec::default(),
        })
    }
    fn status_flags(&self) -> u32 {
        self.flags
    }
    fn set_status_flags(&self, _flags: u32) {}
    fn describe(&self) -> String {
        "/file".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn open_file(s: &mut Setup, bytes: Vec<u8>, flags: u32, kind: FileType) -> u64 {
    let file = Arc::new(BytesFile { bytes, flags, kind });
    let fd = s
        .process
        .fds
        .insert(Descriptor {
            file,
            close_on_exec: false,
        })
        .unwrap();
    u64::from(fd)
}

#[test]
fn file_mapping_copies_the_file_from_its_offset() {
    let mut s = Setup::new();
    let mut bytes = vec![b'a'; 4096];
    bytes.extend_from_slice(b"second page");
    let fd = open_file(&mut s, bytes, O_RDONLY, FileType::Regular);
    let addr = s
        .mmap(0, 0x2000, PROT_READ as u64, MAP_PRIVATE as u64, fd, 0x1000)
        .unwrap();
    assert_eq!(s.space.peek(addr, 11), b"second page");
    assert_eq!(
        s.space.peek(addr + 11, 0x2000 - 11),
        vec![0; 0x2000 - 11],
        "past the end: zero"
    );
    assert_eq!(s.space.prot_at(addr), Some(Prot::READ));
    assert_eq!(s.map().regions().next().unwrap().kind, RegionKind::File);
    // A private writable copy can be changed.
    let copy = s
        .mmap(0, 0x1000, RW_PROT, MAP_PRIVATE as u64, fd, 0)
        .unwrap();
    s.space.write(copy, b"b").unwrap();
    // Shared and read-only is served as a copy.
    assert!(s
        .mmap(0, 0x1000, PROT_READ as u64, MAP_SHARED as u64, fd, 0)
        .is_ok());
}

#[test]
fn file_mappings_that_are_not_supported_or_allowed_fail() {
    let mut s = Setup::new();
    let fd = open_file(&mut s, vec![1; 10], O_RDONLY, FileType::Regular);
    assert_eq!(
        s.mmap(0, 0x1000, RW_PROT, MAP_SHARED as u64, fd, 0),
        Err(Errno::ENODEV)
    );
    let write_only = open_file(&mut s, vec![1; 10], O_WRONLY, FileType::Regular);
    assert_eq!(
        s.mmap(
            0,
            0x1000,
            PROT_READ as u64,
            MAP_PRIVATE as u64,
            write_only,
            0
        ),
        Err(Errno::EACCES)
    );
    let fifo = open_file(&mut s, vec![], O_RDONLY, FileType::Fifo);
    assert_eq!(
        s.mmap(0, 0x1000, PROT_READ as u64, MAP_PRIVATE as u64, fifo, 0),
        Err(Errno::ENODEV)
    );
    assert_eq!(
        s.mmap(0, 0x1000, PROT_READ as u64, MAP_PRIVATE as u64, 99, 0),
        Err(Errno::EBADF)
    );
    assert_eq!(s.map().regions().count(), 0);
}

#[test]
fn forked_memory_map_is_independent() {
    let mut s = Setup::new();
    s.mmap(0, 0x1000, RW_PROT, ANON, 0, 0).unwrap();
    let child = s.process.memory.clone();
    s.mmap(0, 0x1000, RW_PROT, ANON, 0, 0).unwrap();
    assert_eq!(child.mapped_bytes(), 0x1000);
    assert_eq!(s.map().mapped_bytes(), 0x2000);
}

#[test]
fn growing_brk_keeps_a_fixed_mapping_inside_the_heap() {
    let mut s = Setup::new();
    s.call(__NR_brk, [0x60_2000, 0, 0, 0, 0, 0]).unwrap();
    let fixed = ANON | MAP_FIXED as u64;
    s.mmap(0x60_1000, 0x1000, PROT_READ as u64, fixed, 0, 0)
        .unwrap();
    assert_eq!(s.call(__NR_brk, [0x60_4000, 0, 0, 0, 0, 0]), Ok(0x60_4000));
    let kinds: Vec<_> = s.map().regions().map(|r| (r.start, r.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (0x60_0000, RegionKind::Heap),
            (0x60_1000, RegionKind::Anonymous),
            (0x60_2000, RegionKind::Heap)
        ]
    );
    assert_eq!(s.space.prot_at(0x60_1000), Some(Prot::READ));
}
