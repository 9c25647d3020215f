//! Debian's static BusyBox, parsed and loaded as the kernel loads it. The binary comes from
//! `make deps`, which unpacks it into `target/busybox` (`BUSYBOX_DIR`, which the Makefile
//! exports; `BUSYBOX` names the file itself); without it these tests say so and pass.

mod vm_support;

use std::path::PathBuf;

use linux_raw_sys::auxvec::{AT_PHDR, AT_PHNUM};
use overlay_syscalls::exec::{ExecArgs, Program};
use overlay_syscalls::vm::{MemoryMap, Prot, RegionKind};
use vm_support::*;

/// The binary's bytes, or `None` (with a line saying why) when it is not there.
fn busybox() -> Option<Vec<u8>> {
    let path = std::env::var_os("BUSYBOX")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("BUSYBOX_DIR").map(|dir| PathBuf::from(dir).join("bin/busybox"))
        })
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/busybox/bin/busybox"
            ))
        });
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(error) => {
            eprintln!(
                "SKIPPED: no BusyBox at {} ({error}); run `make deps` or set BUSYBOX",
                path.display()
            );
            None
        }
    }
}

#[test]
fn busybox_parses_as_a_static_executable() {
    let Some(bytes) = busybox() else { return };
    let program = Program::parse(&bytes).unwrap();
    assert_eq!(program.load_bias, 0, "Debian's busybox-static is ET_EXEC");
    assert!(program.segments.len() >= 2);
    assert!(program.segments.iter().any(|s| s.prot.contains(Prot::EXEC)));
    assert!(program
        .segments
        .iter()
        .any(|s| s.prot.contains(Prot::WRITE)));
    assert!(!program.exec_stack);
    let first = program.segments[0];
    assert!(program.phdr_addr >= first.vaddr && program.phdr_addr < first.vaddr + first.file_bytes);
}

#[test]
fn busybox_loads_with_its_headers_and_entry_in_place() {
    let Some(bytes) = busybox() else { return };
    let program = Program::parse(&bytes).unwrap();
    let mut space = FakeSpace::new();
    let mut map = MemoryMap::new();
    let args = ExecArgs {
        argv: vec![b"sh".to_vec(), b"-c".to_vec(), b"true".to_vec()],
        envp: vec![b"PATH=/bin".to_vec()],
        execfn: b"/bin/sh".to_vec(),
        ..ExecArgs::default()
    };
    let regs = program
        .load(&bytes, &mut space, &mut map, &args, &FakeHost::new())
        .unwrap();
    assert_eq!(regs.rip, program.entry);
    // The program headers are in memory where AT_PHDR says, as the file has them.
    let phdr_offset = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let table_len = 56 * program.phnum as usize;
    assert_eq!(
        space.peek(program.phdr_addr, table_len),
        &bytes[phdr_offset..phdr_offset + table_len]
    );
    // Every segment's file bytes are in place, its .bss is zero.
    for segment in &program.segments {
        let from = segment.offset as usize;
        let file_part = &bytes[from..from + segment.file_bytes as usize];
        assert_eq!(space.peek(segment.vaddr, file_part.len()), file_part);
        let bss = (segment.mem_bytes - segment.file_bytes) as usize;
        assert!(space
            .peek(segment.vaddr + segment.file_bytes, bss)
            .iter()
            .all(|&b| b == 0));
        assert!(space.prot_at(segment.vaddr).unwrap().contains(segment.prot));
    }
    // The entry point is executable and the heap starts after the last segment.
    assert!(space.prot_at(program.entry).unwrap().contains(Prot::EXEC));
    assert_eq!(map.brk(), program.end_of_segments());
    assert!(map.regions().any(|r| r.kind == RegionKind::Stack));
    // The auxiliary vector tells the same story.
    let mut at = regs.rsp + 8 * (1 + 3 + 1 + 1 + 1);
    let mut phdr = None;
    let mut phnum = None;
    loop {
        let (key, value) = (space.peek_u64(at), space.peek_u64(at + 8));
        if key == u64::from(AT_PHDR) {
            phdr = Some(value);
        }
        if key == u64::from(AT_PHNUM) {
            phnum = Some(value);
        }
        if key == 0 {
            break;
        }
        at += 16;
    }
    assert_eq!(phdr, Some(program.phdr_addr));
    assert_eq!(phnum, Some(program.phnum));
}

#[test]
fn busybox_startup_memory_calls_succeed_after_loading() {
    use linux_raw_sys::general::{__NR_brk, __NR_mprotect, PROT_READ};
    let Some(bytes) = busybox() else { return };
    let program = Program::parse(&bytes).unwrap();
    let mut space = FakeSpace::new();
    let mut process = root_process();
    let host = FakeHost::new();
    let args = ExecArgs {
        argv: vec![b"true".to_vec()],
        execfn: b"/bin/true".to_vec(),
        ..ExecArgs::default()
    };
    program
        .load(&bytes, &mut space, &mut process.memory, &args, &host)
        .unwrap();
    // glibc's static startup: find the break, take TLS space from it, then make RELRO
    // (the start of the writable segment, here up to 0x5e2000) read-only.
    let brk = call_result(&mut process, &mut space, &host, __NR_brk, [0; 6]).unwrap();
    assert_eq!(brk, program.end_of_segments());
    let grown = call_result(
        &mut process,
        &mut space,
        &host,
        __NR_brk,
        [brk + 0x21000, 0, 0, 0, 0, 0],
    );
    assert_eq!(grown, Ok(brk + 0x21000));
    let writable = program
        .segments
        .iter()
        .find(|s| s.prot.contains(Prot::WRITE))
        .unwrap();
    let relro = [writable.page_start(), 0x1000, u64::from(PROT_READ), 0, 0, 0];
    assert_eq!(
        call_result(&mut process, &mut space, &host, __NR_mprotect, relro),
        Ok(0)
    );
    assert_eq!(space.prot_at(writable.page_start()), Some(Prot::READ));
}
