//! The memory calls: `brk`, `mmap`, `munmap`, `mprotect`, `mremap`, `madvise`, each a method
//! of [`MemoryMap`] that changes the [`AddressSpace`] and the record together.

use alloc::{sync::Arc, vec, vec::Vec};

use linux_raw_sys::general as linux;

use crate::dispatch::{Call, Outcome};
use crate::errno::{Errno, SysResult};
use crate::file::OpenFile;

use super::{
    page_up, AddressSpace, MemoryMap, Prot, Region, RegionKind, MMAP_MIN_ADDR, MMAP_TOP,
    PAGE_BYTES, USER_END,
};

impl MemoryMap {
    /// `brk(addr)`: moves the program break to `addr` and returns the new break; returns the
    /// old break, unchanged, if `addr` is below the heap's start, would run into another
    /// mapping, or the pages cannot be had (Linux's answer: `brk` never fails, it just does
    /// not move). `brk(0)` returns the current break. Growing maps zeroed pages, shrinking
    /// unmaps them.
    pub fn set_brk(&mut self, space: &mut dyn AddressSpace, addr: u64) -> u64 {
        if addr < self.brk_start || addr >= MMAP_TOP {
            return self.brk;
        }
        let (Some(old_end), Some(new_end)) = (page_up(self.brk), page_up(addr)) else {
            return self.brk;
        };
        if new_end > old_end {
            if self.overlaps(old_end, new_end) {
                return self.brk;
            }
            if space
                .map(old_end, new_end - old_end, Prot::READ | Prot::WRITE)
                .is_err()
            {
                space.unmap(old_end, new_end - old_end);
                return self.brk;
            }
        } else if new_end < old_end {
            space.unmap(new_end, old_end - new_end);
            self.forget(new_end, old_end);
        }
        if new_end > old_end {
            self.insert(old_end, new_end, Prot::READ | Prot::WRITE, RegionKind::Heap);
        }
        self.brk = addr;
        self.brk
    }

    /// `mmap`: maps `request` and returns its address. `file` is the description behind
    /// `request.fd` for a file mapping (`None` for an anonymous one).
    ///
    /// # Errors
    /// `EINVAL` for a zero length, an offset or `MAP_FIXED` address not page-aligned, unknown
    /// protection bits or a mapping type that is neither shared nor private; `EOPNOTSUPP` for
    /// unknown flags with `MAP_SHARED_VALIDATE`; `ENOMEM` when the range does not fit in the
    /// user half or no free range is large enough; `EPERM` for a fixed address below
    /// [`MMAP_MIN_ADDR`]; `EEXIST` for `MAP_FIXED_NOREPLACE` over an existing mapping;
    /// `EBADF` (the caller's) for a file mapping without a descriptor; `EACCES` for a file not
    /// open for reading; `ENODEV` for a file that is not regular or a writable shared file
    /// mapping (not supported); errors of [`OpenFile::pread`].
    pub fn mmap(
        &mut self,
        space: &mut dyn AddressSpace,
        request: &MmapRequest,
        file: Option<&dyn OpenFile>,
    ) -> SysResult<u64> {
        let prot = prot_from_linux(request.prot)?;
        let flags = request.flags;
        let kind = flags & linux::MAP_TYPE;
        let shared = match kind {
            linux::MAP_PRIVATE => false,
            linux::MAP_SHARED => true,
            linux::MAP_SHARED_VALIDATE => {
                if flags & !KNOWN_MAP_FLAGS != 0 {
                    return Err(Errno::EOPNOTSUPP);
                }
                true
            }
            _ => return Err(Errno::EINVAL),
        };
        if request.len == 0 || !request.offset.is_multiple_of(PAGE_BYTES) {
            return Err(Errno::EINVAL);
        }
        let len = page_up(request.len).ok_or(Errno::ENOMEM)?;
        if len > USER_END - MMAP_MIN_ADDR {
            return Err(Errno::ENOMEM);
        }
        let anonymous = flags & linux::MAP_ANONYMOUS != 0;
        if !anonymous {
            let file = file.ok_or(Errno::EBADF)?;
            let metadata = file.metadata()?;
            if metadata.kind != overlay_core::vfs::FileType::Regular {
                return Err(Errno::ENODEV);
            }
            let access = file.status_flags() & linux::O_ACCMODE;
            if access == linux::O_WRONLY {
                return Err(Errno::EACCES);
            }
            if shared && prot.contains(Prot::WRITE) {
                return Err(Errno::ENODEV);
            }
        }
        let fixed = flags & (linux::MAP_FIXED | linux::MAP_FIXED_NOREPLACE) != 0;
        let start = if fixed {
            let start = request.addr;
            if !start.is_multiple_of(PAGE_BYTES) {
                return Err(Errno::EINVAL);
            }
            if start > USER_END - len {
                return Err(Errno::ENOMEM);
            }
            if start < MMAP_MIN_ADDR {
                return Err(Errno::EPERM);
            }
            if flags & linux::MAP_FIXED_NOREPLACE != 0 && self.overlaps(start, start + len) {
                return Err(Errno::EEXIST);
            }
            start
        } else {
            self.find_free(len, request.addr).ok_or(Errno::ENOMEM)?
        };
        let end = start + len;
        if fixed {
            space.unmap(start, len);
            self.forget(start, end);
        }
        let region_kind = if anonymous {
            space.map(start, len, prot)?;
            RegionKind::Anonymous
        } else {
            // Filled while writable, then given its final permissions.
            space.map(start, len, Prot::READ | Prot::WRITE)?;
            let copied = file
                .ok_or(Errno::EBADF)
                .and_then(|file| copy_file_in(space, file, request.offset, start, len))
                .and_then(|()| space.protect(start, len, prot));
            if let Err(errno) = copied {
                space.unmap(start, len);
                return Err(errno);
            }
            RegionKind::File
        };
        self.insert(start, end, prot, region_kind);
        Ok(start)
    }

    /// `munmap(addr, len)`: unmaps every page of the range; pages not mapped are skipped.
    ///
    /// # Errors
    /// `EINVAL` for an address not page-aligned, a zero length or a range leaving the user
    /// half.
    pub fn munmap(&mut self, space: &mut dyn AddressSpace, addr: u64, len: u64) -> SysResult<()> {
        let end = user_range(addr, len)?;
        space.unmap(addr, end - addr);
        self.forget(addr, end);
        Ok(())
    }

    /// `mprotect(addr, len, prot)`: changes the permissions of the range.
    ///
    /// # Errors
    /// `EINVAL` for an address not page-aligned or unknown protection bits; `ENOMEM` if a page
    /// of the range is not mapped or it leaves the user half (Linux's answers). A zero length
    /// succeeds.
    pub fn mprotect(
        &mut self,
        space: &mut dyn AddressSpace,
        addr: u64,
        len: u64,
        prot: u32,
    ) -> SysResult<()> {
        let prot = prot_from_linux(prot)?;
        if !addr.is_multiple_of(PAGE_BYTES) {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let end = page_up(len)
            .and_then(|len| addr.checked_add(len))
            .filter(|&end| end <= USER_END)
            .ok_or(Errno::ENOMEM)?;
        if !self.covers(addr, end) {
            return Err(Errno::ENOMEM);
        }
        space.protect(addr, end - addr, prot)?;
        self.set_prot(addr, end, prot);
        Ok(())
    }

    /// `mremap(old, old_len, new_len, flags)`: shrinks in place, grows in place when the pages
    /// after are free, or else (with `MREMAP_MAYMOVE`) moves the contents to a new range.
    ///
    /// # Errors
    /// `EINVAL` for an address not page-aligned, a zero new length, unknown flags or
    /// `MREMAP_FIXED` (not supported); `EFAULT` if the old range is not one mapping; `ENOMEM`
    /// if it cannot grow in place without `MREMAP_MAYMOVE`, or no range is free.
    pub fn mremap(
        &mut self,
        space: &mut dyn AddressSpace,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u32,
    ) -> SysResult<u64> {
        if !old_addr.is_multiple_of(PAGE_BYTES) || flags & !linux::MREMAP_MAYMOVE != 0 {
            return Err(Errno::EINVAL);
        }
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).ok_or(Errno::EINVAL)?;
        if new_len == 0 {
            return Err(Errno::EINVAL);
        }
        let old_end = old_addr.checked_add(old_len).ok_or(Errno::EFAULT)?;
        let region = *self.region_at(old_addr).ok_or(Errno::EFAULT)?;
        if old_end > region.end {
            return Err(Errno::EFAULT);
        }
        if new_len <= old_len {
            if new_len < old_len {
                self.munmap(space, old_addr + new_len, old_len - new_len)?;
            }
            return Ok(old_addr);
        }
        let grown_end = old_addr.checked_add(new_len).ok_or(Errno::ENOMEM)?;
        if grown_end <= MMAP_TOP && !self.overlaps(old_end, grown_end) {
            space.map(old_end, grown_end - old_end, region.prot)?;
            self.insert(old_end, grown_end, region.prot, region.kind);
            return Ok(old_addr);
        }
        if flags & linux::MREMAP_MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        let new_addr = self.find_free(new_len, 0).ok_or(Errno::ENOMEM)?;
        space.map(new_addr, new_len, Prot::READ | Prot::WRITE)?;
        let moved = move_bytes(space, region.prot, old_addr, new_addr, old_len)
            .and_then(|()| space.protect(new_addr, new_len, region.prot));
        if let Err(errno) = moved {
            space.unmap(new_addr, new_len);
            return Err(errno);
        }
        space.unmap(old_addr, old_len);
        self.forget(old_addr, old_end);
        self.insert(new_addr, new_addr + new_len, region.prot, region.kind);
        Ok(new_addr)
    }

    /// `madvise(addr, len, advice)`: `MADV_DONTNEED` gives anonymous memory fresh zeroed
    /// pages, as Linux does; other advice changes nothing.
    ///
    /// # Errors
    /// `EINVAL` for an address not page-aligned; `ENOMEM` if a page of the range is not
    /// mapped.
    pub fn madvise(
        &mut self,
        space: &mut dyn AddressSpace,
        addr: u64,
        len: u64,
        advice: u32,
    ) -> SysResult<()> {
        if !addr.is_multiple_of(PAGE_BYTES) {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let end = page_up(len)
            .and_then(|len| addr.checked_add(len))
            .filter(|&end| end <= USER_END)
            .ok_or(Errno::EINVAL)?;
        if !self.covers(addr, end) {
            return Err(Errno::ENOMEM);
        }
        if advice == MADV_DONTNEED {
            let anonymous: Vec<Region> = self
                .regions
                .range(..end)
                .map(|(_, region)| *region)
                .filter(|region| region.end > addr)
                .filter(|region| matches!(region.kind, RegionKind::Anonymous | RegionKind::Heap))
                .collect();
            for region in anonymous {
                let start = region.start.max(addr);
                let stop = region.end.min(end);
                space.map(start, stop - start, region.prot)?;
            }
        }
        Ok(())
    }
}

/// `MADV_DONTNEED` (Linux's number; `linux-raw-sys`'s `general` does not carry the `MADV_`
/// constants).
const MADV_DONTNEED: u32 = 4;

/// The flags `mmap` knows (others are `EOPNOTSUPP` with `MAP_SHARED_VALIDATE`, ignored
/// otherwise, as Linux ignores unknown legacy flags).
const KNOWN_MAP_FLAGS: u32 = linux::MAP_TYPE
    | linux::MAP_FIXED
    | linux::MAP_ANONYMOUS
    | linux::MAP_POPULATE
    | linux::MAP_NONBLOCK
    | linux::MAP_STACK
    | linux::MAP_HUGETLB
    | linux::MAP_FIXED_NOREPLACE
    | linux::MAP_GROWSDOWN
    | linux::MAP_DENYWRITE
    | linux::MAP_EXECUTABLE
    | linux::MAP_LOCKED
    | linux::MAP_NORESERVE;

/// An `mmap` call's arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmapRequest {
    /// The address asked for (a hint, or exact with `MAP_FIXED`).
    pub addr: u64,
    /// Length in bytes (rounded up to pages).
    pub len: u64,
    /// `PROT_*` bits.
    pub prot: u32,
    /// `MAP_*` flags.
    pub flags: u32,
    /// The file's offset (page-aligned), for a file mapping.
    pub offset: u64,
}

/// Linux `PROT_*` bits as [`Prot`]; `PROT_GROWSDOWN`/`PROT_GROWSUP` are accepted and ignored.
///
/// # Errors
/// `EINVAL` for other bits.
pub fn prot_from_linux(prot: u32) -> SysResult<Prot> {
    let known = linux::PROT_READ | linux::PROT_WRITE | linux::PROT_EXEC;
    let extra = linux::PROT_GROWSDOWN | linux::PROT_GROWSUP;
    if prot & !(known | extra) != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(Prot::from_bits_truncate(prot & known))
}

/// The end of the page-aligned range `addr..addr + len` (rounded up to pages).
///
/// # Errors
/// `EINVAL` for an address not page-aligned, a zero length or a range leaving the user half
/// (`munmap`'s answers).
fn user_range(addr: u64, len: u64) -> SysResult<u64> {
    if !addr.is_multiple_of(PAGE_BYTES) || len == 0 {
        return Err(Errno::EINVAL);
    }
    page_up(len)
        .and_then(|len| addr.checked_add(len))
        .filter(|&end| end <= USER_END)
        .ok_or(Errno::EINVAL)
}

/// Bytes copied per step when filling or moving a mapping.
const CHUNK_BYTES: usize = 64 * 1024;

/// Copies `file`'s bytes from `offset` into `start..start + len` (already mapped writable and
/// zeroed); what lies past the end of the file stays zero.
fn copy_file_in(
    space: &mut dyn AddressSpace,
    file: &dyn OpenFile,
    offset: u64,
    start: u64,
    len: u64,
) -> SysResult<()> {
    let mut chunk = vec![0u8; CHUNK_BYTES];
    let mut done = 0u64;
    while done < len {
        let want = ((len - done) as usize).min(CHUNK_BYTES);
        let at = offset.checked_add(done).ok_or(Errno::EINVAL)?;
        let got = file.pread(at, &mut chunk[..want])?;
        if got == 0 {
            break;
        }
        space.write(start + done, &chunk[..got])?;
        done += got as u64;
    }
    Ok(())
}

/// Copies `len` bytes from `from` to `to` (mapped writable); `from` is made readable for the
/// copy if it was not.
fn move_bytes(
    space: &mut dyn AddressSpace,
    from_prot: Prot,
    from: u64,
    to: u64,
    len: u64,
) -> SysResult<()> {
    if !from_prot.contains(Prot::READ) {
        space.protect(from, len, from_prot | Prot::READ)?;
    }
    let mut chunk = vec![0u8; CHUNK_BYTES];
    let mut done = 0u64;
    while done < len {
        let step = ((len - done) as usize).min(CHUNK_BYTES);
        space.read(from + done, &mut chunk[..step])?;
        space.write(to + done, &chunk[..step])?;
        done += step as u64;
    }
    Ok(())
}

/// Serves the memory calls (`brk`, `mmap`, `munmap`, `mprotect`, `mremap`, `madvise`,
/// `msync`, `mlock`/`munlock`); `None` for other numbers.
pub fn dispatch(call: &mut Call<'_>, number: u64, args: [u64; 6]) -> Option<Outcome> {
    let number = u32::try_from(number).ok()?;
    let process = &mut *call.process;
    let space = &mut *call.memory;
    let result = match number {
        linux::__NR_brk => Ok(process.memory.set_brk(space, args[0])),
        linux::__NR_mmap => {
            let request = MmapRequest {
                addr: args[0],
                len: args[1],
                prot: args[2] as u32,
                flags: args[3] as u32,
                offset: args[5],
            };
            let file: Option<Arc<dyn OpenFile>> = if request.flags & linux::MAP_ANONYMOUS == 0 {
                match process.fds.file(args[4] as u32) {
                    Ok(file) => Some(file),
                    Err(errno) => return Some(Outcome::of(Err(errno))),
                }
            } else {
                None
            };
            process.memory.mmap(space, &request, file.as_deref())
        }
        linux::__NR_munmap => process.memory.munmap(space, args[0], args[1]).map(|()| 0),
        linux::__NR_mprotect => process
            .memory
            .mprotect(space, args[0], args[1], args[2] as u32)
            .map(|()| 0),
        linux::__NR_mremap => {
            process
                .memory
                .mremap(space, args[0], args[1], args[2], args[3] as u32)
        }
        linux::__NR_madvise => process
            .memory
            .madvise(space, args[0], args[1], args[2] as u32)
            .map(|()| 0),
        // Everything is mapped eagerly and private: nothing to sync or lock.
        linux::__NR_msync | linux::__NR_mlock | linux::__NR_munlock => Ok(0),
        _ => return None,
    };
    Some(Outcome::of(result))
}
