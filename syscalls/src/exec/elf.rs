//! Reading a static ELF64 x86_64 executable: its header and program headers, checked the way
//! Linux's `binfmt_elf` checks them before it touches the caller's memory.

use alloc::vec::Vec;
use core::mem::{offset_of, size_of};

use linux_raw_sys::elf_uapi::{self as elf, elf64_hdr, elf64_phdr};

use crate::errno::{Errno, SysResult};
use crate::vm::{page_down, page_up, Prot, PAGE_BYTES, USER_END};

/// Where a static PIE (`ET_DYN` without an interpreter) is loaded: Linux's `ELF_ET_DYN_BASE`
/// on x86_64 without randomization.
pub const PIE_BASE: u64 = 0x5555_5555_4000;

/// The lowest address a segment may use (Linux's `mmap_min_addr`).
const LOWEST_SEGMENT: u64 = 0x1_0000;

/// Most program headers Linux reads (`65536 / sizeof(Elf64_Phdr)`).
const MAX_PHNUM: usize = 65536 / size_of::<elf64_phdr>();

/// One `PT_LOAD` segment, with the load bias applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Address of its first byte.
    pub vaddr: u64,
    /// Bytes of the file it holds (the rest, up to `mem_bytes`, is zero: `.bss`).
    pub file_bytes: u64,
    /// Bytes it takes in memory.
    pub mem_bytes: u64,
    /// Where its bytes start in the file.
    pub offset: u64,
    /// What its pages allow (`p_flags`).
    pub prot: Prot,
}

impl Segment {
    /// The first page it touches.
    pub fn page_start(&self) -> u64 {
        page_down(self.vaddr)
    }

    /// The end of its last page (checked at parse time not to overflow).
    pub fn page_end(&self) -> u64 {
        page_up(self.vaddr + self.mem_bytes).unwrap_or(USER_END)
    }
}

/// A static executable, checked and ready to load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// Where execution starts (bias applied).
    pub entry: u64,
    /// The `PT_LOAD` segments in file order (bias applied).
    pub segments: Vec<Segment>,
    /// Where the program headers are in memory (`AT_PHDR`), 0 if no segment loads them.
    pub phdr_addr: u64,
    /// Size of one program header (`AT_PHENT`).
    pub phent: u64,
    /// Number of program headers (`AT_PHNUM`).
    pub phnum: u64,
    /// Whether `PT_GNU_STACK` asks for an executable stack (or is absent, which Linux takes
    /// as executable on x86_64).
    pub exec_stack: bool,
    /// What was added to every address (0 for `ET_EXEC`, [`PIE_BASE`] less the lowest page
    /// for a static PIE).
    pub load_bias: u64,
}

impl Program {
    /// Reads and checks a whole executable file.
    ///
    /// Linux's answers: `ENOEXEC` for a file that is not ELF, not 64-bit little-endian, not
    /// for x86_64, not an executable or shared object (`ET_REL`, `ET_CORE`), with an odd
    /// program header size or count, without a `PT_LOAD`, or with a segment whose file bytes
    /// exceed its memory size or whose address and offset disagree modulo the page size;
    /// `EIO` when the program headers lie past the end of the file (Linux's short read).
    ///
    /// Differences from Linux, each refused before anything is changed so that `execve` can
    /// still fail back to its caller: `ENOEXEC` for a program with an interpreter
    /// (`PT_INTERP`: a dynamically linked program; only static programs run here) and for a
    /// segment whose file bytes lie past the end of the file (Linux maps them and the program
    /// dies of `SIGBUS` when it touches them); `ENOMEM` for a segment outside the user half
    /// or below the lowest mappable address, or overlapping an earlier one (Linux fails these
    /// after the point of no return, killing the caller).
    pub fn parse(bytes: &[u8]) -> SysResult<Program> {
        let header = Header::read(bytes)?;
        let phdrs = read_phdrs(bytes, &header)?;
        if phdrs.iter().any(|p| p.p_type == elf::PT_INTERP) {
            return Err(Errno::ENOEXEC);
        }
        let loads: Vec<&RawPhdr> = phdrs.iter().filter(|p| p.p_type == elf::PT_LOAD).collect();
        if loads.is_empty() {
            return Err(Errno::ENOEXEC);
        }
        for load in &loads {
            check_segment(load, bytes.len() as u64)?;
        }
        let load_bias = if header.e_type == elf::ET_DYN as u16 {
            let lowest = loads
                .iter()
                .map(|p| page_down(p.p_vaddr))
                .min()
                .unwrap_or(0);
            PIE_BASE.checked_sub(lowest).ok_or(Errno::ENOMEM)?
        } else {
            0
        };
        let mut segments: Vec<Segment> = Vec::new();
        for load in &loads {
            let vaddr = load.p_vaddr.checked_add(load_bias).ok_or(Errno::ENOMEM)?;
            let segment = Segment {
                vaddr,
                file_bytes: load.p_filesz,
                mem_bytes: load.p_memsz,
                offset: load.p_offset,
                prot: prot_of(load.p_flags),
            };
            let end = vaddr
                .checked_add(load.p_memsz)
                .and_then(page_up)
                .ok_or(Errno::ENOMEM)?;
            if page_down(vaddr) < LOWEST_SEGMENT || end > USER_END {
                return Err(Errno::ENOMEM);
            }
            // Segments may share a page at their edges (as linkers lay them out) but not
            // overlap in bytes.
            if segments.iter().any(|earlier| {
                vaddr < earlier.vaddr + earlier.mem_bytes && earlier.vaddr < vaddr + load.p_memsz
            }) {
                return Err(Errno::ENOMEM);
            }
            segments.push(segment);
        }
        let entry = header
            .e_entry
            .checked_add(load_bias)
            .ok_or(Errno::ENOEXEC)?;
        let exec_stack = phdrs
            .iter()
            .find(|p| p.p_type == elf::PT_GNU_STACK)
            .is_none_or(|p| p.p_flags & elf::PF_X != 0);
        Ok(Program {
            entry,
            phdr_addr: phdr_address(&header, &phdrs, load_bias),
            phent: u64::from(header.e_phentsize),
            phnum: u64::from(header.e_phnum),
            segments,
            exec_stack,
            load_bias,
        })
    }

    /// The first page past the highest segment: where the `brk` heap starts.
    pub fn end_of_segments(&self) -> u64 {
        self.segments
            .iter()
            .map(Segment::page_end)
            .max()
            .unwrap_or(0)
    }
}

/// The fields of the ELF header the loader reads.
struct Header {
    e_type: u16,
    e_entry: u64,
    e_phoff: u64,
    e_phentsize: u16,
    e_phnum: u16,
}

impl Header {
    fn read(bytes: &[u8]) -> SysResult<Header> {
        let header = bytes.get(..size_of::<elf64_hdr>()).ok_or(Errno::ENOEXEC)?;
        let ident = &header[..elf::EI_NIDENT as usize];
        if ident[..4] != [0x7f, b'E', b'L', b'F']
            || u32::from(ident[elf::EI_CLASS as usize]) != elf::ELFCLASS64
            || u32::from(ident[elf::EI_DATA as usize]) != elf::ELFDATA2LSB
            || u32::from(ident[elf::EI_VERSION as usize]) != elf::EV_CURRENT
        {
            return Err(Errno::ENOEXEC);
        }
        let e_type = u16_at(header, offset_of!(elf64_hdr, e_type));
        let e_machine = u16_at(header, offset_of!(elf64_hdr, e_machine));
        if (u32::from(e_type) != elf::ET_EXEC && u32::from(e_type) != elf::ET_DYN)
            || u32::from(e_machine) != elf::EM_X86_64
        {
            return Err(Errno::ENOEXEC);
        }
        let parsed = Header {
            e_type,
            e_entry: u64_at(header, offset_of!(elf64_hdr, e_entry)),
            e_phoff: u64_at(header, offset_of!(elf64_hdr, e_phoff)),
            e_phentsize: u16_at(header, offset_of!(elf64_hdr, e_phentsize)),
            e_phnum: u16_at(header, offset_of!(elf64_hdr, e_phnum)),
        };
        if usize::from(parsed.e_phentsize) != size_of::<elf64_phdr>()
            || parsed.e_phnum == 0
            || usize::from(parsed.e_phnum) > MAX_PHNUM
        {
            return Err(Errno::ENOEXEC);
        }
        Ok(parsed)
    }
}

/// One program header as the file has it.
struct RawPhdr {
    p_type: u32,
    p_flags: u32,
    p_offset: u64,
    p_vaddr: u64,
    p_filesz: u64,
    p_memsz: u64,
}

fn read_phdrs(bytes: &[u8], header: &Header) -> SysResult<Vec<RawPhdr>> {
    let size = size_of::<elf64_phdr>();
    let table_len = size * usize::from(header.e_phnum);
    let start = usize::try_from(header.e_phoff).map_err(|_| Errno::EIO)?;
    let table = start
        .checked_add(table_len)
        .and_then(|end| bytes.get(start..end))
        .ok_or(Errno::EIO)?;
    Ok(table
        .chunks_exact(size)
        .map(|phdr| RawPhdr {
            p_type: u32_at(phdr, offset_of!(elf64_phdr, p_type)),
            p_flags: u32_at(phdr, offset_of!(elf64_phdr, p_flags)),
            p_offset: u64_at(phdr, offset_of!(elf64_phdr, p_offset)),
            p_vaddr: u64_at(phdr, offset_of!(elf64_phdr, p_vaddr)),
            p_filesz: u64_at(phdr, offset_of!(elf64_phdr, p_filesz)),
            p_memsz: u64_at(phdr, offset_of!(elf64_phdr, p_memsz)),
        })
        .collect())
}

fn check_segment(load: &RawPhdr, file_len: u64) -> SysResult<()> {
    if load.p_filesz > load.p_memsz
        || load.p_vaddr % PAGE_BYTES != load.p_offset % PAGE_BYTES
        || load
            .p_offset
            .checked_add(load.p_filesz)
            .is_none_or(|end| end > file_len)
    {
        return Err(Errno::ENOEXEC);
    }
    Ok(())
}

/// `AT_PHDR`: the address of the program headers in memory. Linux takes it from the `PT_LOAD`
/// whose file bytes hold them; failing that, `PT_PHDR`'s address; else 0.
fn phdr_address(header: &Header, phdrs: &[RawPhdr], load_bias: u64) -> u64 {
    let in_load = phdrs.iter().find(|p| {
        p.p_type == elf::PT_LOAD
            && p.p_offset <= header.e_phoff
            && header.e_phoff < p.p_offset.saturating_add(p.p_filesz)
    });
    if let Some(load) = in_load {
        return (header.e_phoff - load.p_offset)
            .wrapping_add(load.p_vaddr)
            .wrapping_add(load_bias);
    }
    phdrs
        .iter()
        .find(|p| p.p_type == elf::PT_PHDR)
        .map_or(0, |p| p.p_vaddr.wrapping_add(load_bias))
}

fn prot_of(p_flags: u32) -> Prot {
    let mut prot = Prot::empty();
    if p_flags & elf::PF_R != 0 {
        prot |= Prot::READ;
    }
    if p_flags & elf::PF_W != 0 {
        prot |= Prot::WRITE;
    }
    if p_flags & elf::PF_X != 0 {
        prot |= Prot::EXEC;
    }
    prot
}

fn u16_at(bytes: &[u8], offset: usize) -> u16 {
    let mut field = [0u8; 2];
    if let Some(src) = bytes.get(offset..offset + 2) {
        field.copy_from_slice(src);
    }
    u16::from_le_bytes(field)
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    let mut field = [0u8; 4];
    if let Some(src) = bytes.get(offset..offset + 4) {
        field.copy_from_slice(src);
    }
    u32::from_le_bytes(field)
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let mut field = [0u8; 8];
    if let Some(src) = bytes.get(offset..offset + 8) {
        field.copy_from_slice(src);
    }
    u64::from_le_bytes(field)
}
