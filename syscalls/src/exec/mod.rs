//! Starting a program: reading a static ELF executable ([`Program::parse`]), loading it into a
//! fresh address space with the initial stack Linux builds ([`Program::load`]), and what
//! `execve` checks first (its arguments, the file's execute permission, `#!` scripts).
//!
//! How the kernel serves `execve(path, argv, envp)` with this module:
//! 1. [`read_exec_args`] copies `argv` and `envp` in (`EFAULT`, `E2BIG`);
//! 2. it resolves `path` (`ENOENT`...) and calls [`check_executable`] on its metadata
//!    (`EACCES`);
//! 3. it reads the file; if [`shebang`] finds a `#!` line, it runs the interpreter instead,
//!    with the arguments [`Script::argv`] gives, at most [`MAX_INTERPRETER_DEPTH`] times
//!    (`ELOOP` past that), as Linux does;
//! 4. [`Program::parse`] checks the ELF file (`ENOEXEC`): up to here nothing has changed;
//! 5. [`Program::load`] fills a new, empty address space and returns the first registers.
//!
//! Only static programs run: a program with an interpreter (`PT_INTERP`, a dynamically
//! linked one) is `ENOEXEC`.

mod elf;
mod stack;

use alloc::vec::Vec;

use overlay_core::vfs::{Credentials, FileType, Metadata};

use crate::errno::{Errno, SysResult};
use crate::host::Host;
use crate::regs::Registers;
use crate::user::{read_string_array, UserMemory};
use crate::vm::{AddressSpace, MemoryMap, Prot, RegionKind, STACK_MAX_BYTES, STACK_TOP};

pub use elf::{Program, Segment, PIE_BASE};
pub use stack::CLOCK_TICKS_PER_SECOND;

/// Bytes of stack mapped before the program starts (at least this much, more if its
/// arguments need it); the rest, up to [`STACK_MAX_BYTES`], is mapped on demand by
/// [`MemoryMap::grow_stack`].
pub const STACK_EAGER_BYTES: u64 = 256 * 1024;

/// Longest single argument or environment string, with its NUL (Linux's `MAX_ARG_STRLEN`).
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

/// Most bytes of arguments and environment in all, strings and pointers counted (a quarter of
/// the 8 MiB stack limit, as Linux computes `ARG_MAX`).
pub const ARG_MAX: usize = (STACK_MAX_BYTES / 4) as usize;

/// Most bytes the initial stack may take: the arguments ([`ARG_MAX`]), the path, the
/// auxiliary vector and the pointers to them all fit well within it, and half of the 8 MiB
/// stack is left for the program.
const INITIAL_STACK_MAX_BYTES: u64 = STACK_MAX_BYTES / 2;

/// How many `#!` interpreters may be chained (Linux's `BINPRM_MAX_RECURSION`); one more is
/// `ELOOP`.
pub const MAX_INTERPRETER_DEPTH: u32 = 4;

/// A list of C strings without their NULs (`argv`, `envp`).
pub type Strings = Vec<Vec<u8>>;

/// What a new program is started with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecArgs {
    /// Its arguments (`argv`).
    pub argv: Strings,
    /// Its environment (`envp`), `NAME=value` strings.
    pub envp: Strings,
    /// The path it was started by (`AT_EXECFN`).
    pub execfn: Vec<u8>,
    /// Real user id (`AT_UID`).
    pub uid: u32,
    /// Effective user id (`AT_EUID`).
    pub euid: u32,
    /// Real group id (`AT_GID`).
    pub gid: u32,
    /// Effective group id (`AT_EGID`).
    pub egid: u32,
    /// `AT_HWCAP`: CPUID leaf 1's `edx`, which the kernel reads (safe code cannot).
    pub hwcap: u64,
}

impl Program {
    /// Loads the program into `space`, which must be empty (a new address space: `execve`
    /// builds the new image beside the old one and switches only on success), and records its
    /// regions in `memory_map`, which is reset.
    ///
    /// Each segment's pages are mapped writable, filled with the segment's file bytes (the
    /// rest, `.bss`, stays zero), then given the permissions of `p_flags`; a page two segments
    /// share gets both segments' permissions. A static PIE is placed at [`PIE_BASE`]. The heap
    /// (`brk`) starts at the first page past the highest segment. The stack ends at
    /// [`STACK_TOP`], with [`STACK_EAGER_BYTES`] mapped (more if the arguments need it) and
    /// room to grow to [`STACK_MAX_BYTES`]; it is executable only if `PT_GNU_STACK` asks.
    ///
    /// Returns the registers the program starts with: `rip` at the entry point, `rsp` at
    /// `argc`, everything else zero.
    ///
    /// # Errors
    /// `ENOMEM` from [`AddressSpace::map`]; `E2BIG` if the arguments do not fit in the stack;
    /// `EFAULT` if writing the new pages fails (a bug in the address space). After an error
    /// `space` holds a partial image and must be discarded.
    pub fn load(
        &self,
        bytes: &[u8],
        space: &mut dyn AddressSpace,
        memory_map: &mut MemoryMap,
        args: &ExecArgs,
        host: &dyn Host,
    ) -> SysResult<Registers> {
        *memory_map = MemoryMap::new();
        let pieces = self.page_pieces();
        for &(start, end, _) in &pieces {
            space.map(start, end - start, Prot::READ | Prot::WRITE)?;
        }
        for segment in &self.segments {
            let from = usize::try_from(segment.offset).map_err(|_| Errno::ENOEXEC)?;
            let len = usize::try_from(segment.file_bytes).map_err(|_| Errno::ENOEXEC)?;
            let file_bytes = from
                .checked_add(len)
                .and_then(|end| bytes.get(from..end))
                .ok_or(Errno::ENOEXEC)?;
            space.write(segment.vaddr, file_bytes)?;
        }
        for &(start, end, prot) in &pieces {
            space.protect(start, end - start, prot)?;
            memory_map.insert(start, end, prot, RegionKind::Program);
        }
        memory_map.set_brk_start(self.end_of_segments());

        let mut random = [0u8; 16];
        host.random(&mut random);
        let facts = stack::ProgramFacts {
            phdr: self.phdr_addr,
            phent: self.phent,
            phnum: self.phnum,
            entry: self.entry,
        };
        let initial = stack::build(STACK_TOP, INITIAL_STACK_MAX_BYTES, args, &facts, random)?;
        let used = STACK_TOP - initial.sp;
        let eager = crate::vm::page_up(used + 64 * 1024)
            .ok_or(Errno::E2BIG)?
            .max(STACK_EAGER_BYTES);
        let stack_start = STACK_TOP - eager;
        let mut stack_prot = Prot::READ | Prot::WRITE;
        if self.exec_stack {
            stack_prot |= Prot::EXEC;
        }
        space.map(stack_start, eager, stack_prot)?;
        space.write(initial.sp, &initial.bytes)?;
        memory_map.set_stack(
            stack_start,
            STACK_TOP,
            STACK_TOP - STACK_MAX_BYTES,
            stack_prot,
        );
        Ok(Registers::at_entry(self.entry, initial.sp))
    }

    /// The pages the segments cover, cut where the set of segments touching them changes,
    /// each with the union of those segments' permissions: `(start, end, prot)` in address
    /// order.
    fn page_pieces(&self) -> Vec<(u64, u64, Prot)> {
        let mut bounds: Vec<u64> = self
            .segments
            .iter()
            .flat_map(|s| [s.page_start(), s.page_end()])
            .collect();
        bounds.sort_unstable();
        bounds.dedup();
        let mut pieces: Vec<(u64, u64, Prot)> = Vec::new();
        for pair in bounds.windows(2) {
            let (start, end) = (pair[0], pair[1]);
            let touching = self
                .segments
                .iter()
                .filter(|s| s.page_start() < end && start < s.page_end());
            let mut any = false;
            let mut prot = Prot::empty();
            for segment in touching {
                any = true;
                prot |= segment.prot;
            }
            if !any {
                continue;
            }
            match pieces.last_mut() {
                Some(last) if last.1 == start && last.2 == prot => last.1 = end,
                _ => pieces.push((start, end, prot)),
            }
        }
        pieces
    }
}

/// Copies in `execve`'s `argv` and `envp` (NULL-terminated arrays of string pointers; a null
/// array is empty). An empty `argv` becomes one empty string, as Linux (since 5.18) makes it
/// so that `argv[0]` always exists.
///
/// # Errors
/// `EFAULT` for an unreadable pointer or string; `E2BIG` for a string longer than
/// [`MAX_ARG_STRLEN`] or more than [`ARG_MAX`] bytes of strings and pointers in all.
pub fn read_exec_args(
    memory: &dyn UserMemory,
    argv_ptr: u64,
    envp_ptr: u64,
) -> SysResult<(Strings, Strings)> {
    let mut argv = read_string_array(memory, argv_ptr, ARG_MAX)?;
    let argv_bytes: usize = argv.iter().map(|arg| arg.len() + 1).sum();
    let envp = read_string_array(memory, envp_ptr, ARG_MAX - argv_bytes)?;
    if argv.is_empty() {
        argv.push(Vec::new());
    }
    let strings = argv.iter().chain(envp.iter());
    let mut total = 0usize;
    for string in strings {
        if string.len() + 1 > MAX_ARG_STRLEN {
            return Err(Errno::E2BIG);
        }
        total += string.len() + 1 + 8;
    }
    if total > ARG_MAX {
        return Err(Errno::E2BIG);
    }
    Ok((argv, envp))
}

/// Whether `creds` may execute the file `metadata` describes.
///
/// # Errors
/// `EACCES` if it is not a regular file (a directory included, as Linux answers) or the caller
/// lacks execute permission: the owner's, group's or others' `x` bit as the caller is the
/// owner, in the group, or neither; root needs at least one `x` bit.
pub fn check_executable(metadata: &Metadata, creds: &Credentials) -> SysResult<()> {
    if metadata.kind != FileType::Regular {
        return Err(Errno::EACCES);
    }
    let mode = metadata.mode;
    let allowed = if creds.is_root() {
        mode & 0o111 != 0
    } else if creds.uid == metadata.uid {
        mode & 0o100 != 0
    } else if creds.in_group(metadata.gid) {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    };
    if allowed {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// How many bytes of a file Linux reads for its `#!` line (`BINPRM_BUF_SIZE`).
const SHEBANG_LINE_MAX: usize = 256;

/// A `#!` script's first line: the interpreter to run and its one optional argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The interpreter's path.
    pub interpreter: Vec<u8>,
    /// The rest of the line, trimmed: one argument, spaces included, as Linux passes it.
    pub arg: Option<Vec<u8>>,
}

impl Script {
    /// The interpreter's `argv`: its path, the line's argument if any, the script's path (what
    /// `execve` was given), then the script's own arguments after `argv[0]`.
    pub fn argv(&self, script_path: &[u8], argv: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut new_argv = Vec::with_capacity(argv.len() + 2);
        new_argv.push(self.interpreter.clone());
        if let Some(arg) = &self.arg {
            new_argv.push(arg.clone());
        }
        new_argv.push(script_path.to_vec());
        new_argv.extend(argv.iter().skip(1).cloned());
        new_argv
    }
}

/// Reads a `#!` line at the start of `bytes`, as Linux's `binfmt_script` does: `Ok(None)` for
/// a file that does not start with `#!`. Linux reads only the first 256 bytes; a line longer
/// than that keeps its interpreter name only if a blank ends the name within them (the
/// argument is then cut there).
///
/// # Errors
/// `ENOEXEC` if there is no interpreter name, or the name is not ended within the first 256
/// bytes.
pub fn shebang(bytes: &[u8]) -> SysResult<Option<Script>> {
    if !bytes.starts_with(b"#!") {
        return Ok(None);
    }
    // Linux's buffer: the first bytes of the file, zero-padded, the last byte a terminator.
    let mut buf = [0u8; SHEBANG_LINE_MAX];
    let len = bytes.len().min(SHEBANG_LINE_MAX);
    buf[..len].copy_from_slice(&bytes[..len]);
    let buf_end = SHEBANG_LINE_MAX - 1;
    let blank = |b: u8| b == b' ' || b == b'\t';
    let terminator = |b: u8| blank(b) || b == 0;
    let mut line_end = match buf.iter().position(|&b| b == b'\n') {
        Some(newline) => newline,
        None => {
            let name = (2..buf_end)
                .find(|&i| !blank(buf[i]))
                .ok_or(Errno::ENOEXEC)?;
            if !(name..buf_end).any(|i| terminator(buf[i])) {
                return Err(Errno::ENOEXEC);
            }
            buf_end
        }
    };
    while line_end > 2 && blank(buf[line_end - 1]) {
        line_end -= 1;
    }
    let name = (2..line_end)
        .find(|&i| !blank(buf[i]))
        .ok_or(Errno::ENOEXEC)?;
    let separator = (name..line_end).find(|&i| terminator(buf[i]));
    let arg = separator
        .filter(|&sep| buf[sep] != 0)
        .and_then(|sep| (sep..line_end).find(|&i| !blank(buf[i])))
        .map(|start| c_string(&buf[start..line_end]));
    let interpreter = c_string(&buf[name..separator.unwrap_or(line_end)]);
    Ok(Some(Script { interpreter, arg }))
}

/// The bytes before the first NUL.
fn c_string(bytes: &[u8]) -> Vec<u8> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    bytes[..end].to_vec()
}
