//! Tiny user programs for the container tests and the benchmarks: a minimal static ELF
//! executable around a few x86_64 instructions, put together with labels so that jumps and
//! `rip`-relative addresses are computed, not counted by hand.
//!
//! Only the instructions the benchmarks need are here (the tests give machine code bytes); each method says which instruction it
//! emits. The code registers are the ones a `syscall` leaves alone (`rbx`, `rbp`, `r12` to
//! `r15`), so a loop's state survives its system calls.

use alloc::vec::Vec;

/// Where the programs are loaded.
const BASE: u64 = 0x40_0000;
/// Bytes of the ELF header and the one program header before the code.
const HEADERS: usize = 64 + 56;

/// A place in the code, bound once with [`Asm::bind`].
#[derive(Debug, Clone, Copy)]
pub struct Label(usize);

/// A register the loops keep their state in (one that `syscall` preserves).
#[derive(Debug, Clone, Copy)]
pub enum Kept {
    /// `r13`.
    R13,
    /// `r14`.
    R14,
    /// `r15`.
    R15,
}

impl Kept {
    /// The register's number in the ModRM and opcode fields (without the REX.B bit).
    fn low_bits(self) -> u8 {
        match self {
            Kept::R13 => 5,
            Kept::R14 => 6,
            Kept::R15 => 7,
        }
    }
}

/// An argument register, for `rip`-relative addresses and small constants.
#[derive(Debug, Clone, Copy)]
pub enum Arg {
    /// `rax` (the call number and result).
    Rax,
    /// `rdi` (first argument).
    Rdi,
    /// `rsi` (second argument).
    Rsi,
    /// `rdx` (third argument).
    Rdx,
}

impl Arg {
    fn low_bits(self) -> u8 {
        match self {
            Arg::Rax => 0,
            Arg::Rdx => 2,
            Arg::Rsi => 6,
            Arg::Rdi => 7,
        }
    }
}

/// A conditional jump's condition (after `test`, `dec` or `cmp`).
#[derive(Debug, Clone, Copy)]
pub enum Cond {
    /// Zero / equal.
    Zero,
    /// Not zero / not equal.
    NotZero,
    /// Negative (sign set).
    Negative,
}

/// Machine code being put together.
#[derive(Default)]
pub struct Asm {
    code: Vec<u8>,
    /// Bound offsets, by label.
    labels: Vec<Option<usize>>,
    /// 32-bit displacements to fill in: where, and the label they reach (relative to the end
    /// of the displacement, as jumps and `rip`-relative operands count).
    fixups: Vec<(usize, Label)>,
}

impl Asm {
    /// An empty program.
    pub fn new() -> Asm {
        Asm::default()
    }

    /// A label to bind later.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `label` to the next instruction.
    pub fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.code.len());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.code.extend_from_slice(bytes);
    }

    fn displacement_to(&mut self, label: Label) {
        self.fixups.push((self.code.len(), label));
        self.bytes(&[0; 4]);
    }

    /// Raw data (strings the program points at), placed where the code is.
    pub fn data(&mut self, bytes: &[u8]) {
        self.bytes(bytes);
    }

    /// `mov e<arg>, imm32` (zero-extended to 64 bits).
    pub fn mov_arg(&mut self, arg: Arg, value: u32) {
        self.bytes(&[0xb8 + arg.low_bits()]);
        self.bytes(&value.to_le_bytes());
    }

    /// `mov r<kept>d, imm32`.
    pub fn mov_kept(&mut self, kept: Kept, value: u32) {
        self.bytes(&[0x41, 0xb8 + kept.low_bits()]);
        self.bytes(&value.to_le_bytes());
    }

    /// `lea <arg>, [rip + label]`.
    pub fn lea(&mut self, arg: Arg, label: Label) {
        self.bytes(&[0x48, 0x8d, 0x05 | arg.low_bits() << 3]);
        self.displacement_to(label);
    }

    /// `lea <arg>, [rsp + offset]`.
    pub fn lea_stack(&mut self, arg: Arg, offset: u8) {
        self.bytes(&[0x48, 0x8d, 0x44 | arg.low_bits() << 3, 0x24, offset]);
    }

    /// `mov [rsp + offset], rax`.
    pub fn store_rax(&mut self, offset: u8) {
        self.bytes(&[0x48, 0x89, 0x44, 0x24, offset]);
    }

    /// `mov qword [rsp + offset], 0`.
    pub fn store_zero(&mut self, offset: u8) {
        self.bytes(&[0x48, 0xc7, 0x44, 0x24, offset, 0, 0, 0, 0]);
    }

    /// `cmp dword [rsp], 0`.
    pub fn cmp_stack_zero(&mut self) {
        self.bytes(&[0x83, 0x3c, 0x24, 0x00]);
    }

    /// `sub rsp, imm32`.
    pub fn reserve_stack(&mut self, bytes: u32) {
        self.bytes(&[0x48, 0x81, 0xec]);
        self.bytes(&bytes.to_le_bytes());
    }

    /// `xor r10d, r10d` (the fourth system-call argument).
    pub fn zero_r10(&mut self) {
        self.bytes(&[0x45, 0x31, 0xd2]);
    }

    /// `test rax, rax`.
    pub fn test_rax(&mut self) {
        self.bytes(&[0x48, 0x85, 0xc0]);
    }

    /// `test r<kept>d, r<kept>d`.
    pub fn test_kept(&mut self, kept: Kept) {
        self.bytes(&[0x45, 0x85, 0xc0 | kept.low_bits() << 3 | kept.low_bits()]);
    }

    /// `dec r<kept>d`.
    pub fn dec_kept(&mut self, kept: Kept) {
        self.bytes(&[0x41, 0xff, 0xc8 | kept.low_bits()]);
    }

    /// `rdtsc; shl rdx, 32; or rax, rdx`: the time-stamp counter in `rax`.
    pub fn rdtsc(&mut self) {
        self.bytes(&[0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0]);
    }

    /// `mov r<kept>, rax`.
    pub fn mov_kept_rax(&mut self, kept: Kept) {
        self.bytes(&[0x49, 0x89, 0xc0 | kept.low_bits()]);
    }

    /// `sub rax, r<kept>`.
    pub fn sub_rax_kept(&mut self, kept: Kept) {
        self.bytes(&[0x4c, 0x29, 0xc0 | kept.low_bits() << 3]);
    }

    /// `push rax`.
    pub fn push_rax(&mut self) {
        self.bytes(&[0x50]);
    }

    /// `pop rax`.
    pub fn pop_rax(&mut self) {
        self.bytes(&[0x58]);
    }

    /// `mov rsi, rsp`.
    pub fn mov_rsi_rsp(&mut self) {
        self.bytes(&[0x48, 0x89, 0xe6]);
    }

    /// `neg eax; mov edi, eax`: the errno of a failed call (`-rax`) as the exit status.
    pub fn errno_to_rdi(&mut self) {
        self.bytes(&[0xf7, 0xd8, 0x89, 0xc7]);
    }

    /// `syscall`.
    pub fn syscall(&mut self) {
        self.bytes(&[0x0f, 0x05]);
    }

    /// `jcc rel32`.
    pub fn jump_if(&mut self, cond: Cond, label: Label) {
        let opcode = match cond {
            Cond::Zero => 0x84,
            Cond::NotZero => 0x85,
            Cond::Negative => 0x88,
        };
        self.bytes(&[0x0f, opcode]);
        self.displacement_to(label);
    }

    /// The code with every displacement filled in, or `None` if a label was used but never
    /// bound.
    pub fn finish(mut self) -> Option<Vec<u8>> {
        for &(at, label) in &self.fixups {
            let target = self.labels.get(label.0).copied().flatten()?;
            let from = at + 4;
            let displacement = i32::try_from(target as i64 - from as i64).ok()?;
            self.code[at..from].copy_from_slice(&displacement.to_le_bytes());
        }
        Some(self.code)
    }
}

/// A static ELF executable of one read-and-execute segment holding `code`, entered at its
/// first byte. The program's writable memory is its stack.
pub fn elf(code: &[u8]) -> Vec<u8> {
    let total = (HEADERS + code.len()) as u64;
    let mut elf = Vec::new();
    elf.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    elf.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
    elf.extend_from_slice(&(BASE + HEADERS as u64).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // program headers
    elf.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    elf.extend_from_slice(&0u32.to_le_bytes()); // flags
    elf.extend_from_slice(&64u16.to_le_bytes()); // header size
    elf.extend_from_slice(&56u16.to_le_bytes()); // program header size
    elf.extend_from_slice(&1u16.to_le_bytes()); // one program header
    elf.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // section header size, count, names
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // PF_R | PF_X
    elf.extend_from_slice(&0u64.to_le_bytes()); // file offset
    elf.extend_from_slice(&BASE.to_le_bytes()); // vaddr
    elf.extend_from_slice(&BASE.to_le_bytes()); // paddr
    elf.extend_from_slice(&total.to_le_bytes()); // file size
    elf.extend_from_slice(&total.to_le_bytes()); // memory size
    elf.extend_from_slice(&0x1000u64.to_le_bytes()); // alignment
    elf.extend_from_slice(code);
    elf
}
