//! The initial stack of a new program, laid out as Linux's `create_elf_tables` lays it out.
//!
//! From the top of the stack down:
//!
//! ```text
//! STACK_TOP      ┐
//!   8 zero bytes │ end marker
//!   strings      │ argv[0]\0 ... argv[n-1]\0 envp[0]\0 ... envp[m-1]\0 execfn\0
//!   (align 16)   │
//!   "x86_64\0"   │ AT_PLATFORM
//!   16 bytes     │ AT_RANDOM
//!   (align 16)   │
//!   auxv pairs   │ (type, value) ..., (AT_NULL, 0)
//!   envp[], NULL │
//!   argv[], NULL │
//! rsp → argc     ┘ 16-byte aligned
//! ```

use alloc::{vec, vec::Vec};

use linux_raw_sys::auxvec as aux;

use crate::errno::{Errno, SysResult};

use super::ExecArgs;

/// What `AT_PLATFORM` names.
const PLATFORM: &[u8] = b"x86_64\0";

/// `AT_CLKTCK`: clock ticks per second (`USER_HZ`).
pub const CLOCK_TICKS_PER_SECOND: u64 = 100;

/// The page size `AT_PAGESZ` reports.
const PAGE_SIZE: u64 = 4096;

/// What the loader knows of the program for the auxiliary vector.
pub(super) struct ProgramFacts {
    /// `AT_PHDR`.
    pub phdr: u64,
    /// `AT_PHENT`.
    pub phent: u64,
    /// `AT_PHNUM`.
    pub phnum: u64,
    /// `AT_ENTRY`.
    pub entry: u64,
}

/// A built initial stack: the bytes of `sp..top`, ready to be copied to `sp`.
pub(super) struct InitialStack {
    /// The stack pointer at entry (where `argc` is).
    pub sp: u64,
    /// The bytes from `sp` to the top of the stack.
    pub bytes: Vec<u8>,
}

/// Lays out the initial stack below `top` for `args`, with `random` as `AT_RANDOM`'s bytes.
///
/// # Errors
/// `E2BIG` if the stack would need more than `max_bytes`.
pub(super) fn build(
    top: u64,
    max_bytes: u64,
    args: &ExecArgs,
    facts: &ProgramFacts,
    random: [u8; 16],
) -> SysResult<InitialStack> {
    let mut strings: Vec<u8> = Vec::new();
    let mut argv_offsets = Vec::with_capacity(args.argv.len());
    let mut envp_offsets = Vec::with_capacity(args.envp.len());
    for arg in &args.argv {
        argv_offsets.push(strings.len() as u64);
        strings.extend_from_slice(arg);
        strings.push(0);
    }
    for var in &args.envp {
        envp_offsets.push(strings.len() as u64);
        strings.extend_from_slice(var);
        strings.push(0);
    }
    let execfn_offset = strings.len() as u64;
    strings.extend_from_slice(&args.execfn);
    strings.push(0);

    let strings_len = strings.len() as u64;
    if strings_len > max_bytes {
        return Err(Errno::E2BIG);
    }
    let strings_at = top - 8 - strings_len;
    let platform_at = (strings_at & !15) - PLATFORM.len() as u64;
    let random_at = platform_at - 16;

    let auxv: [(u32, u64); 19] = [
        (aux::AT_HWCAP, args.hwcap),
        (aux::AT_PAGESZ, PAGE_SIZE),
        (aux::AT_CLKTCK, CLOCK_TICKS_PER_SECOND),
        (aux::AT_PHDR, facts.phdr),
        (aux::AT_PHENT, facts.phent),
        (aux::AT_PHNUM, facts.phnum),
        (aux::AT_BASE, 0),
        (aux::AT_FLAGS, 0),
        (aux::AT_ENTRY, facts.entry),
        (aux::AT_UID, u64::from(args.uid)),
        (aux::AT_EUID, u64::from(args.euid)),
        (aux::AT_GID, u64::from(args.gid)),
        (aux::AT_EGID, u64::from(args.egid)),
        (aux::AT_SECURE, 0),
        (aux::AT_RANDOM, random_at),
        (aux::AT_HWCAP2, 0),
        (aux::AT_EXECFN, strings_at + execfn_offset),
        (aux::AT_PLATFORM, platform_at),
        (aux::AT_NULL, 0),
    ];
    let words = 1 + (args.argv.len() + 1) + (args.envp.len() + 1) + 2 * auxv.len();
    let table_bytes = (words as u64) * 8;
    let sp = random_at
        .checked_sub(table_bytes)
        .map(|sp| sp & !15)
        .ok_or(Errno::E2BIG)?;
    if top - sp > max_bytes {
        return Err(Errno::E2BIG);
    }

    let mut bytes = vec![0u8; (top - sp) as usize];
    let mut put = |addr: u64, value: &[u8]| {
        let at = (addr - sp) as usize;
        bytes[at..at + value.len()].copy_from_slice(value);
    };
    put(strings_at, &strings);
    put(platform_at, PLATFORM);
    put(random_at, &random);
    let mut at = sp;
    let mut push = |value: u64| {
        put(at, &value.to_le_bytes());
        at += 8;
    };
    push(args.argv.len() as u64);
    for offset in argv_offsets {
        push(strings_at + offset);
    }
    push(0);
    for offset in envp_offsets {
        push(strings_at + offset);
    }
    push(0);
    for (key, value) in auxv {
        push(u64::from(key));
        push(value);
    }
    Ok(InitialStack { sp, bytes })
}
