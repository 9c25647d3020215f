//! `execve`'s checks of an ELF file: what runs, and the errno of each file that does not.

mod vm_support;

use linux_raw_sys::elf_uapi::{PT_INTERP, PT_TLS};
use overlay_syscalls::exec::{Program, PIE_BASE};
use overlay_syscalls::vm::Prot;
use overlay_syscalls::Errno;
use vm_support::*;

#[test]
fn static_executable_is_parsed_with_its_segments() {
    let program = Program::parse(&tiny_static_program()).unwrap();
    assert_eq!(program.entry, 0x401000);
    assert_eq!(program.load_bias, 0);
    assert_eq!(program.segments.len(), 2);
    assert_eq!(program.segments[0].prot, Prot::READ | Prot::EXEC);
    assert_eq!(program.segments[1].prot, Prot::READ | Prot::WRITE);
    assert_eq!(program.segments[1].mem_bytes, 0x2010);
    assert!(!program.exec_stack, "PT_GNU_STACK without PF_X");
    assert_eq!(program.phnum, 3);
    assert_eq!(program.phent, 56);
    assert_eq!(program.end_of_segments(), 0x406000);
}

#[test]
fn static_pie_is_placed_at_the_pie_base() {
    let file = tiny_elf(
        ET_DYN,
        EM_X86_64,
        0x1010,
        &[
            TinySegment::load(RX, 0x1000, &[0x90; 16], 16),
            TinySegment::load(RW, 0x3000, &[1; 8], 0x100),
        ],
    );
    let program = Program::parse(&file).unwrap();
    assert_eq!(program.load_bias, PIE_BASE - 0x1000);
    assert_eq!(program.entry, PIE_BASE + 0x10);
    assert_eq!(program.segments[0].vaddr, PIE_BASE);
    assert_eq!(program.segments[1].vaddr, PIE_BASE + 0x2000);
}

#[test]
fn tls_segment_is_loaded_as_part_of_its_load_segment() {
    let file = tiny_elf(
        ET_EXEC,
        EM_X86_64,
        0x401000,
        &[
            TinySegment::load(RX, 0x401000, &[0x90; 16], 16),
            TinySegment::other(PT_TLS, 4),
        ],
    );
    let program = Program::parse(&file).unwrap();
    assert_eq!(program.segments.len(), 1);
}

#[test]
fn file_that_is_not_elf_is_enoexec() {
    assert_eq!(Program::parse(b"#!/bin/sh\necho hi\n"), Err(Errno::ENOEXEC));
    assert_eq!(Program::parse(b""), Err(Errno::ENOEXEC));
    assert_eq!(Program::parse(&[0u8; 4096]), Err(Errno::ENOEXEC));
}

#[test]
fn header_cut_short_is_enoexec() {
    let file = tiny_static_program();
    assert_eq!(Program::parse(&file[..40]), Err(Errno::ENOEXEC));
}

#[test]
fn program_headers_past_the_end_of_the_file_are_eio_as_on_linux() {
    let file = tiny_static_program();
    assert_eq!(Program::parse(&file[..64 + 56]), Err(Errno::EIO));
}

#[test]
fn segment_bytes_past_the_end_of_the_file_are_enoexec() {
    let file = tiny_static_program();
    let cut = file.len() - 4;
    assert_eq!(Program::parse(&file[..cut]), Err(Errno::ENOEXEC));
}

#[test]
fn other_machine_or_class_is_enoexec() {
    let aarch64 = tiny_elf(
        ET_EXEC,
        183,
        0x401000,
        &[TinySegment::load(RX, 0x401000, &[0; 4], 4)],
    );
    assert_eq!(Program::parse(&aarch64), Err(Errno::ENOEXEC));
    let mut elf32 = tiny_static_program();
    elf32[4] = 1;
    assert_eq!(Program::parse(&elf32), Err(Errno::ENOEXEC));
    let mut big_endian = tiny_static_program();
    big_endian[5] = 2;
    assert_eq!(Program::parse(&big_endian), Err(Errno::ENOEXEC));
}

#[test]
fn relocatable_object_is_enoexec() {
    let object = tiny_elf(
        1,
        EM_X86_64,
        0,
        &[TinySegment::load(RX, 0x401000, &[0; 4], 4)],
    );
    assert_eq!(Program::parse(&object), Err(Errno::ENOEXEC));
}

#[test]
fn dynamically_linked_program_is_enoexec() {
    let dynamic = tiny_elf(
        ET_EXEC,
        EM_X86_64,
        0x401000,
        &[
            TinySegment::other(PT_INTERP, 4),
            TinySegment::load(RX, 0x401000, &[0; 4], 4),
        ],
    );
    assert_eq!(Program::parse(&dynamic), Err(Errno::ENOEXEC));
}

#[test]
fn program_without_load_segment_is_enoexec() {
    let empty = tiny_elf(ET_EXEC, EM_X86_64, 0, &[TinySegment::other(PT_TLS, 4)]);
    assert_eq!(Program::parse(&empty), Err(Errno::ENOEXEC));
}

#[test]
fn segment_with_more_file_bytes_than_memory_is_enoexec() {
    let file = tiny_elf(
        ET_EXEC,
        EM_X86_64,
        0x401000,
        &[TinySegment::load(RX, 0x401000, &[0; 64], 8)],
    );
    assert_eq!(Program::parse(&file), Err(Errno::ENOEXEC));
}

#[test]
fn segment_reaching_the_kernel_half_is_enomem() {
    let high = tiny_elf(
        ET_EXEC,
        EM_X86_64,
        0x7fff_ffff_f000,
        &[TinySegment::load(RX, 0x7fff_ffff_f000, &[0; 4], 0x2000)],
    );
    assert_eq!(Program::parse(&high), Err(Errno::ENOMEM));
    let wrapping = tiny_elf(
        ET_EXEC,
        EM_X86_64,
        0x401000,
        &[TinySegment::load(RX, 0x401000, &[0; 4], u64::MAX - 0x1000)],
    );
    assert_eq!(Program::parse(&wrapping), Err(Errno::ENOMEM));
}

#[test]
fn segment_at_page_zero_is_enomem() {
    let low = tiny_elf(
        ET_EXEC,
        EM_X86_64,
        0,
        &[TinySegment::load(RX, 0, &[0; 4], 4)],
    );
    assert_eq!(Program::parse(&low), Err(Errno::ENOMEM));
}

#[test]
fn overlapping_segments_are_enomem() {
    let file = tiny_elf(
        ET_EXEC,
        EM_X86_64,
        0x401000,
        &[
            TinySegment::load(RX, 0x401000, &[0; 4], 0x2000),
            TinySegment::load(RW, 0x402000, &[0; 4], 0x10),
        ],
    );
    assert_eq!(Program::parse(&file), Err(Errno::ENOMEM));
}

#[test]
fn odd_program_header_size_is_enoexec() {
    let mut file = tiny_static_program();
    file[54] = 32; // e_phentsize
    assert_eq!(Program::parse(&file), Err(Errno::ENOEXEC));
}
