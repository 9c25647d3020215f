//! Test stand-ins for the kernel: an address space over pages in a map that enforces each
//! page's permissions on user reads and writes, a host with a settable clock and predictable
//! random bytes, a process, and a builder of tiny ELF files.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::sync::Mutex;

use linux_raw_sys::elf_uapi::{elf64_hdr, elf64_phdr};
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::vfs::Credentials;
use overlay_syscalls::dispatch::{dispatch, Call, Outcome};
use overlay_syscalls::file::FdTable;
use overlay_syscalls::fs::FsContext;
use overlay_syscalls::host::{Host, MemoryFigures, ProcessSummary, Timespec};
use overlay_syscalls::misc::{Limits, SavedIds};
use overlay_syscalls::process::Process;
use overlay_syscalls::signal::SignalState;
use overlay_syscalls::user::UserMemory;
use overlay_syscalls::vm::{AddressSpace, MemoryMap, Prot, PAGE_BYTES, USER_END};
use overlay_syscalls::{Errno, SysResult};

/// One page of the fake address space.
#[derive(Clone)]
pub struct Page {
    pub bytes: Vec<u8>,
    pub prot: Prot,
}

/// An address space over pages in a map. User reads need `READ`, user writes `WRITE`, as the
/// CPU would enforce them.
#[derive(Clone, Default)]
pub struct FakeSpace {
    pub pages: BTreeMap<u64, Page>,
    /// Most pages it may hold (`ENOMEM` past it); `None` for no limit.
    pub page_budget: Option<usize>,
}

impl FakeSpace {
    pub fn new() -> FakeSpace {
        FakeSpace::default()
    }

    /// The permissions of the page holding `addr`, `None` if unmapped.
    pub fn prot_at(&self, addr: u64) -> Option<Prot> {
        self.pages.get(&(addr & !(PAGE_BYTES - 1))).map(|p| p.prot)
    }

    /// Reads bytes whatever the pages' permissions (what the test inspects, not the user).
    pub fn peek(&self, addr: u64, len: usize) -> Vec<u8> {
        (0..len as u64)
            .map(|i| {
                let at = addr + i;
                let page = self
                    .pages
                    .get(&(at & !(PAGE_BYTES - 1)))
                    .expect("peek of unmapped page");
                page.bytes[(at % PAGE_BYTES) as usize]
            })
            .collect()
    }

    pub fn peek_u64(&self, addr: u64) -> u64 {
        u64::from_le_bytes(self.peek(addr, 8).try_into().unwrap())
    }

    /// The NUL-terminated string at `addr`.
    pub fn peek_c_string(&self, addr: u64) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut at = addr;
        loop {
            let byte = self.peek(at, 1)[0];
            if byte == 0 {
                return bytes;
            }
            bytes.push(byte);
            at += 1;
        }
    }

    fn each_page(&self, addr: u64, len: usize, need: Prot) -> SysResult<Vec<(u64, usize, usize)>> {
        let end = addr.checked_add(len as u64).ok_or(Errno::EFAULT)?;
        if end > USER_END {
            return Err(Errno::EFAULT);
        }
        let mut pieces = Vec::new();
        let mut at = addr;
        while at < end {
            let page = at & !(PAGE_BYTES - 1);
            let in_page = (at - page) as usize;
            let step = ((page + PAGE_BYTES).min(end) - at) as usize;
            match self.pages.get(&page) {
                Some(p) if p.prot.contains(need) => pieces.push((page, in_page, step)),
                _ => return Err(Errno::EFAULT),
            }
            at += step as u64;
        }
        Ok(pieces)
    }
}

impl UserMemory for FakeSpace {
    fn read(&self, addr: u64, buf: &mut [u8]) -> SysResult<()> {
        let mut done = 0;
        for (page, in_page, step) in self.each_page(addr, buf.len(), Prot::READ)? {
            buf[done..done + step]
                .copy_from_slice(&self.pages[&page].bytes[in_page..in_page + step]);
            done += step;
        }
        Ok(())
    }

    fn write(&mut self, addr: u64, bytes: &[u8]) -> SysResult<()> {
        let mut done = 0;
        for (page, in_page, step) in self.each_page(addr, bytes.len(), Prot::WRITE)? {
            let page = self.pages.get_mut(&page).unwrap();
            page.bytes[in_page..in_page + step].copy_from_slice(&bytes[done..done + step]);
            done += step;
        }
        Ok(())
    }
}

impl AddressSpace for FakeSpace {
    fn map(&mut self, start: u64, len: u64, prot: Prot) -> SysResult<()> {
        if !start.is_multiple_of(PAGE_BYTES)
            || !len.is_multiple_of(PAGE_BYTES)
            || start.checked_add(len).is_none_or(|e| e > USER_END)
        {
            return Err(Errno::EINVAL);
        }
        let new_pages = (start..start + len)
            .step_by(PAGE_BYTES as usize)
            .filter(|page| !self.pages.contains_key(page))
            .count();
        if let Some(budget) = self.page_budget {
            if self.pages.len() + new_pages > budget {
                return Err(Errno::ENOMEM);
            }
        }
        for page in (start..start + len).step_by(PAGE_BYTES as usize) {
            self.pages.insert(
                page,
                Page {
                    bytes: vec![0; PAGE_BYTES as usize],
                    prot,
                },
            );
        }
        Ok(())
    }

    fn unmap(&mut self, start: u64, len: u64) {
        let end = start.saturating_add(len);
        self.pages.retain(|&page, _| page < start || page >= end);
    }

    fn protect(&mut self, start: u64, len: u64, prot: Prot) -> SysResult<()> {
        let pages: Vec<u64> = (start..start + len).step_by(PAGE_BYTES as usize).collect();
        if pages.iter().any(|page| !self.pages.contains_key(page)) {
            return Err(Errno::ENOMEM);
        }
        for page in pages {
            self.pages.get_mut(&page).unwrap().prot = prot;
        }
        Ok(())
    }
}

/// A host whose clocks the test sets and whose random bytes count up from 1.
pub struct FakeHost {
    pub realtime: Mutex<Timespec>,
    pub monotonic: Mutex<Timespec>,
    pub processes: Mutex<Vec<ProcessSummary>>,
    next_random: Mutex<u8>,
}

impl FakeHost {
    pub fn new() -> FakeHost {
        FakeHost {
            realtime: Mutex::new(Timespec {
                secs: 1_764_900_000,
                nanos: 500_000_000,
            }),
            monotonic: Mutex::new(Timespec { secs: 10, nanos: 0 }),
            processes: Mutex::new(Vec::new()),
            next_random: Mutex::new(1),
        }
    }

    /// Moves both clocks on by `nanos`.
    pub fn advance(&self, nanos: u64) {
        for clock in [&self.realtime, &self.monotonic] {
            let mut time = clock.lock().unwrap();
            let total = time.nanos as u64 + nanos;
            time.secs += (total / 1_000_000_000) as i64;
            time.nanos = (total % 1_000_000_000) as u32;
        }
    }
}

impl Host for FakeHost {
    fn realtime(&self) -> Timespec {
        *self.realtime.lock().unwrap()
    }

    fn monotonic(&self) -> Timespec {
        *self.monotonic.lock().unwrap()
    }

    fn random(&self, buf: &mut [u8]) {
        let mut next = self.next_random.lock().unwrap();
        for byte in buf {
            *byte = *next;
            *next = next.wrapping_add(1);
        }
    }

    fn processes(&self) -> Vec<ProcessSummary> {
        self.processes.lock().unwrap().clone()
    }

    fn memory(&self) -> MemoryFigures {
        MemoryFigures {
            total_bytes: 64 << 20,
            free_bytes: 48 << 20,
        }
    }
}

/// A process 7 (child of 1) with `creds`, rooted in an empty tmpfs.
pub fn process_with(creds: Credentials) -> Process {
    Process {
        pid: 7,
        ppid: 1,
        pgid: 1,
        sid: 1,
        ids: SavedIds::same_as(&creds),
        creds,
        fs: FsContext::new(TmpFs::new(TmpFsOptions::default())),
        fds: FdTable::new(),
        memory: MemoryMap::new(),
        signals: SignalState::new(),
        exe: "/bin/busybox".into(),
        cmdline: Vec::new(),
        comm: String::from("busybox"),
        clear_child_tid: 0,
        limits: Limits::default(),
        hostname: None,
        sleep: None,
    }
}

/// A root process 7.
pub fn root_process() -> Process {
    process_with(Credentials::root())
}

/// Runs system call `number` through the crate's dispatcher.
pub fn call(
    process: &mut Process,
    space: &mut FakeSpace,
    host: &FakeHost,
    number: u32,
    args: [u64; 6],
) -> Outcome {
    let mut call = Call {
        process,
        memory: space,
        host,
    };
    dispatch(&mut call, u64::from(number), args)
}

/// As [`call`], expecting a value: the result as `Ok(value)` or `Err(errno)`.
pub fn call_result(
    process: &mut Process,
    space: &mut FakeSpace,
    host: &FakeHost,
    number: u32,
    args: [u64; 6],
) -> SysResult<u64> {
    match call(process, space, host, number, args) {
        Outcome::Return(value) if value > (-4096i64) as u64 => {
            Err(Errno::from_code((value as i64).unsigned_abs() as u16).unwrap())
        }
        Outcome::Return(value) => Ok(value),
        other => panic!("expected a return value, got {other:?}"),
    }
}

/// One program header of a tiny ELF file: its type, `p_flags`, address, file bytes and
/// memory size.
pub struct TinySegment {
    pub p_type: u32,
    pub flags: u32,
    pub vaddr: u64,
    pub data: Vec<u8>,
    pub mem_bytes: u64,
}

impl TinySegment {
    pub fn load(flags: u32, vaddr: u64, data: &[u8], mem_bytes: u64) -> TinySegment {
        TinySegment {
            p_type: linux_raw_sys::elf_uapi::PT_LOAD,
            flags,
            vaddr,
            data: data.to_vec(),
            mem_bytes,
        }
    }

    pub fn other(p_type: u32, flags: u32) -> TinySegment {
        TinySegment {
            p_type,
            flags,
            vaddr: 0,
            data: Vec::new(),
            mem_bytes: 0,
        }
    }
}

pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
pub const EM_X86_64: u16 = 62;

/// A little-endian ELF64 file of type `e_type` for `machine`: the header, the program
/// headers right after it, then each segment's bytes on their own page at the offset their
/// address needs (address and offset equal modulo the page size).
pub fn tiny_elf(e_type: u16, machine: u16, entry: u64, segments: &[TinySegment]) -> Vec<u8> {
    let header_bytes = size_of::<elf64_hdr>();
    let phdr_bytes = size_of::<elf64_phdr>();
    let mut file = vec![0u8; header_bytes + phdr_bytes * segments.len()];
    file[..4].copy_from_slice(b"\x7fELF");
    file[4] = 2; // ELFCLASS64
    file[5] = 1; // ELFDATA2LSB
    file[6] = 1; // EV_CURRENT
    let put16 =
        |file: &mut Vec<u8>, at: usize, v: u16| file[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |file: &mut Vec<u8>, at: usize, v: u32| file[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put64 =
        |file: &mut Vec<u8>, at: usize, v: u64| file[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put16(&mut file, offset_of!(elf64_hdr, e_type), e_type);
    put16(&mut file, offset_of!(elf64_hdr, e_machine), machine);
    put32(&mut file, offset_of!(elf64_hdr, e_version), 1);
    put64(&mut file, offset_of!(elf64_hdr, e_entry), entry);
    put64(
        &mut file,
        offset_of!(elf64_hdr, e_phoff),
        header_bytes as u64,
    );
    put16(
        &mut file,
        offset_of!(elf64_hdr, e_ehsize),
        header_bytes as u16,
    );
    put16(
        &mut file,
        offset_of!(elf64_hdr, e_phentsize),
        phdr_bytes as u16,
    );
    put16(
        &mut file,
        offset_of!(elf64_hdr, e_phnum),
        segments.len() as u16,
    );
    for (index, segment) in segments.iter().enumerate() {
        let offset = if segment.data.is_empty() {
            0
        } else {
            let page_start = (file.len() as u64).div_ceil(PAGE_BYTES) * PAGE_BYTES;
            let offset = page_start + segment.vaddr % PAGE_BYTES;
            file.resize(offset as usize, 0);
            file.extend_from_slice(&segment.data);
            offset
        };
        let at = header_bytes + index * phdr_bytes;
        put32(
            &mut file,
            at + offset_of!(elf64_phdr, p_type),
            segment.p_type,
        );
        put32(
            &mut file,
            at + offset_of!(elf64_phdr, p_flags),
            segment.flags,
        );
        put64(&mut file, at + offset_of!(elf64_phdr, p_offset), offset);
        put64(
            &mut file,
            at + offset_of!(elf64_phdr, p_vaddr),
            segment.vaddr,
        );
        put64(
            &mut file,
            at + offset_of!(elf64_phdr, p_paddr),
            segment.vaddr,
        );
        put64(
            &mut file,
            at + offset_of!(elf64_phdr, p_filesz),
            segment.data.len() as u64,
        );
        put64(
            &mut file,
            at + offset_of!(elf64_phdr, p_memsz),
            segment.mem_bytes,
        );
        put64(&mut file, at + offset_of!(elf64_phdr, p_align), PAGE_BYTES);
    }
    file
}

/// `PF_R | PF_X`.
pub const RX: u32 = 5;
/// `PF_R | PF_W`.
pub const RW: u32 = 6;

/// A static executable: code at 0x401000 (entry there), data at 0x403000 with 0x2000 bytes
/// of `.bss` after 16 bytes of data.
pub fn tiny_static_program() -> Vec<u8> {
    tiny_elf(
        ET_EXEC,
        EM_X86_64,
        0x401000,
        &[
            TinySegment::load(RX, 0x401000, &[0xcc; 32], 32),
            TinySegment::load(RW, 0x403000, b"data-bytes-16-by", 0x2010),
            TinySegment::other(linux_raw_sys::elf_uapi::PT_GNU_STACK, RW),
        ],
    )
}
