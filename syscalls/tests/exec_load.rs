//! Loading a program: its pages and permissions, the heap and stack regions, and the initial
//! stack checked byte by byte against Linux's layout.

mod vm_support;

use linux_raw_sys::auxvec::*;
use overlay_syscalls::exec::{ExecArgs, Program, STACK_EAGER_BYTES};
use overlay_syscalls::regs::RFLAGS_IF;
use overlay_syscalls::vm::{MemoryMap, Prot, RegionKind, STACK_MAX_BYTES, STACK_TOP};
use overlay_syscalls::Errno;
use vm_support::*;

fn args() -> ExecArgs {
    ExecArgs {
        argv: vec![
            b"busybox".to_vec(),
            b"sh".to_vec(),
            b"-c".to_vec(),
            b"echo hi".to_vec(),
        ],
        envp: vec![b"PATH=/bin".to_vec(), b"HOME=/root".to_vec()],
        execfn: b"/bin/busybox".to_vec(),
        uid: 1000,
        euid: 1001,
        gid: 100,
        egid: 101,
        hwcap: 0x178b_fbff,
    }
}

fn load_tiny() -> (
    Program,
    FakeSpace,
    MemoryMap,
    overlay_syscalls::regs::Registers,
) {
    let file = tiny_static_program();
    let program = Program::parse(&file).unwrap();
    let mut space = FakeSpace::new();
    let mut map = MemoryMap::new();
    let regs = program
        .load(&file, &mut space, &mut map, &args(), &FakeHost::new())
        .unwrap();
    (program, space, map, regs)
}

#[test]
fn segments_are_mapped_with_their_bytes_and_permissions() {
    let (_, space, _, _) = load_tiny();
    assert_eq!(space.peek(0x401000, 32), vec![0xcc; 32]);
    assert_eq!(space.prot_at(0x401000), Some(Prot::READ | Prot::EXEC));
    assert_eq!(space.peek(0x403000, 16), b"data-bytes-16-by");
    assert_eq!(space.prot_at(0x403000), Some(Prot::READ | Prot::WRITE));
    // .bss: zero, writable, up to the end of the segment's last page.
    assert_eq!(space.peek(0x403010, 0x2000), vec![0; 0x2000]);
    assert_eq!(space.prot_at(0x405000), Some(Prot::READ | Prot::WRITE));
    assert_eq!(space.prot_at(0x406000), None);
    assert_eq!(
        space.prot_at(0x402000),
        None,
        "the gap between segments stays unmapped"
    );
}

#[test]
fn code_pages_refuse_user_writes_after_loading() {
    use overlay_syscalls::user::UserMemory;
    let (_, mut space, _, _) = load_tiny();
    assert_eq!(space.write(0x401000, &[0]), Err(Errno::EFAULT));
    assert_eq!(space.write(0x403000, b"D"), Ok(()));
}

#[test]
fn regions_record_program_heap_and_stack() {
    let (_, _, map, _) = load_tiny();
    let regions: Vec<_> = map.regions().copied().collect();
    assert_eq!(regions[0].start, 0x401000);
    assert_eq!(regions[0].end, 0x402000);
    assert_eq!(regions[0].kind, RegionKind::Program);
    assert_eq!(regions[1].start, 0x403000);
    assert_eq!(regions[1].end, 0x406000);
    assert_eq!(map.brk_start(), 0x406000);
    assert_eq!(map.brk(), 0x406000);
    let stack = regions.last().unwrap();
    assert_eq!(stack.kind, RegionKind::Stack);
    assert_eq!(stack.end, STACK_TOP);
    assert_eq!(stack.len(), STACK_EAGER_BYTES);
    assert_eq!(
        stack.prot,
        Prot::READ | Prot::WRITE,
        "PT_GNU_STACK without PF_X"
    );
    assert_eq!(map.mapped_bytes(), 0x1000 + 0x3000 + STACK_EAGER_BYTES);
}

#[test]
fn registers_start_at_entry_with_everything_else_zero() {
    let (_, _, _, regs) = load_tiny();
    assert_eq!(regs.rip, 0x401000);
    assert_eq!(regs.rflags, RFLAGS_IF);
    assert_eq!(
        (regs.rax, regs.rdx, regs.rdi, regs.rsi, regs.rbp),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(regs.rsp % 16, 0, "rsp is 16-byte aligned at argc");
}

/// Reads the stack as the program's startup code does: argc, argv, envp, auxv.
struct InitialStack {
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    auxv: Vec<(u64, u64)>,
    argv_pointers: Vec<u64>,
}

fn read_initial_stack(space: &FakeSpace, rsp: u64) -> InitialStack {
    let argc = space.peek_u64(rsp);
    let mut at = rsp + 8;
    let mut argv_pointers = Vec::new();
    for _ in 0..argc {
        argv_pointers.push(space.peek_u64(at));
        at += 8;
    }
    assert_eq!(space.peek_u64(at), 0, "argv ends with NULL");
    at += 8;
    let mut envp = Vec::new();
    while space.peek_u64(at) != 0 {
        envp.push(space.peek_c_string(space.peek_u64(at)));
        at += 8;
    }
    at += 8;
    let mut auxv = Vec::new();
    loop {
        let pair = (space.peek_u64(at), space.peek_u64(at + 8));
        auxv.push(pair);
        at += 16;
        if pair.0 == u64::from(AT_NULL) {
            break;
        }
    }
    InitialStack {
        argv: argv_pointers
            .iter()
            .map(|&p| space.peek_c_string(p))
            .collect(),
        envp,
        auxv,
        argv_pointers,
    }
}

fn aux(stack: &InitialStack, key: u32) -> Option<u64> {
    stack
        .auxv
        .iter()
        .find(|(k, _)| *k == u64::from(key))
        .map(|(_, v)| *v)
}

#[test]
fn initial_stack_holds_argc_argv_envp_as_linux_lays_them_out() {
    let (_, space, _, regs) = load_tiny();
    assert_eq!(space.peek_u64(regs.rsp), 4, "argc");
    let stack = read_initial_stack(&space, regs.rsp);
    assert_eq!(stack.argv, args().argv);
    assert_eq!(stack.envp, args().envp);
    // The strings sit together near the top, argv first, each right after the previous.
    let first = stack.argv_pointers[0];
    assert_eq!(stack.argv_pointers[1], first + 8);
    assert_eq!(stack.argv_pointers[2], first + 11);
    assert_eq!(space.peek(first, 8), b"busybox\0");
    // The last 8 bytes of the stack are Linux's zero end marker, just after execfn.
    assert_eq!(space.peek(STACK_TOP - 8, 8), vec![0; 8]);
    let execfn = aux(&stack, AT_EXECFN).unwrap();
    assert_eq!(execfn + b"/bin/busybox\0".len() as u64, STACK_TOP - 8);
}

#[test]
fn auxiliary_vector_carries_what_glibc_reads() {
    let (program, space, _, regs) = load_tiny();
    let stack = read_initial_stack(&space, regs.rsp);
    assert_eq!(aux(&stack, AT_PAGESZ), Some(4096));
    assert_eq!(aux(&stack, AT_PHENT), Some(56));
    assert_eq!(aux(&stack, AT_PHNUM), Some(3));
    assert_eq!(aux(&stack, AT_PHDR), Some(program.phdr_addr));
    assert_eq!(aux(&stack, AT_ENTRY), Some(0x401000));
    assert_eq!(aux(&stack, AT_BASE), Some(0));
    assert_eq!(aux(&stack, AT_FLAGS), Some(0));
    assert_eq!(aux(&stack, AT_UID), Some(1000));
    assert_eq!(aux(&stack, AT_EUID), Some(1001));
    assert_eq!(aux(&stack, AT_GID), Some(100));
    assert_eq!(aux(&stack, AT_EGID), Some(101));
    assert_eq!(aux(&stack, AT_SECURE), Some(0));
    assert_eq!(aux(&stack, AT_HWCAP), Some(0x178b_fbff));
    assert_eq!(aux(&stack, AT_HWCAP2), Some(0));
    assert_eq!(aux(&stack, AT_CLKTCK), Some(100));
    let platform = aux(&stack, AT_PLATFORM).unwrap();
    assert_eq!(space.peek_c_string(platform), b"x86_64");
    let execfn = aux(&stack, AT_EXECFN).unwrap();
    assert_eq!(space.peek_c_string(execfn), b"/bin/busybox");
    assert_eq!(stack.auxv.last(), Some(&(u64::from(AT_NULL), 0)));
}

#[test]
fn at_random_points_at_sixteen_bytes_from_the_host() {
    let (_, space, _, regs) = load_tiny();
    let stack = read_initial_stack(&space, regs.rsp);
    let random = aux(&stack, AT_RANDOM).unwrap();
    let expected: Vec<u8> = (1..=16).collect();
    assert_eq!(space.peek(random, 16), expected);
    let platform = aux(&stack, AT_PLATFORM).unwrap();
    assert_eq!(
        random + 16,
        platform,
        "the random bytes sit just below the platform string"
    );
    let auxv_end = regs.rsp + 8 * (1 + 5 + 3) + 16 * stack.auxv.len() as u64;
    assert!(random >= auxv_end, "the random bytes are above the tables");
}

#[test]
fn stack_layout_is_the_same_byte_for_byte_as_computed_by_hand() {
    let (_, space, _, regs) = load_tiny();
    // Strings: argv, envp, execfn, ending 8 bytes below the top.
    let strings: &[u8] = b"busybox\0sh\0-c\0echo hi\0PATH=/bin\0HOME=/root\0/bin/busybox\0";
    let strings_at = STACK_TOP - 8 - strings.len() as u64;
    assert_eq!(space.peek(strings_at, strings.len()), strings);
    let platform_at = (strings_at & !15) - 7;
    assert_eq!(space.peek(platform_at, 7), b"x86_64\0");
    let random_at = platform_at - 16;
    // 1 argc + 5 argv slots + 3 envp slots + 19 auxv pairs, aligned down to 16.
    let table_bytes = 8 * (1 + 5 + 3) + 16 * 19;
    assert_eq!(regs.rsp, (random_at - table_bytes) & !15);
}

#[test]
fn arguments_larger_than_the_eager_stack_get_more_stack() {
    let file = tiny_static_program();
    let program = Program::parse(&file).unwrap();
    let mut space = FakeSpace::new();
    let mut map = MemoryMap::new();
    let mut big = args();
    big.envp = vec![vec![b'x'; 100_000]; 5];
    let regs = program
        .load(&file, &mut space, &mut map, &big, &FakeHost::new())
        .unwrap();
    let stack = read_initial_stack(&space, regs.rsp);
    assert_eq!(stack.envp.len(), 5);
    let region = map.regions().last().unwrap();
    assert!(region.start < regs.rsp && region.len() > STACK_EAGER_BYTES);
    assert!(region.len() <= STACK_MAX_BYTES);
}

#[test]
fn out_of_memory_while_loading_is_enomem() {
    let file = tiny_static_program();
    let program = Program::parse(&file).unwrap();
    let mut space = FakeSpace::new();
    space.page_budget = Some(3);
    let mut map = MemoryMap::new();
    let result = program.load(&file, &mut space, &mut map, &args(), &FakeHost::new());
    assert_eq!(result, Err(Errno::ENOMEM));
}

#[test]
fn stack_grows_down_on_a_fault_just_below_it() {
    let (_, mut space, mut map, _) = load_tiny();
    let low = STACK_TOP - STACK_EAGER_BYTES;
    map.grow_stack(&mut space, low - 100).unwrap();
    assert_eq!(space.prot_at(low - 100), Some(Prot::READ | Prot::WRITE));
    assert_eq!(map.regions().last().unwrap().start, low - 4096);
    assert_eq!(
        map.grow_stack(&mut space, STACK_TOP - STACK_MAX_BYTES - 1),
        Err(Errno::EFAULT),
        "past the 8 MiB limit is a segmentation fault"
    );
    assert_eq!(map.grow_stack(&mut space, 0x1000), Err(Errno::EFAULT));
}

#[test]
fn pages_two_segments_share_get_both_permissions() {
    let file = tiny_elf(
        ET_EXEC,
        EM_X86_64,
        0x401000,
        &[
            TinySegment::load(RX, 0x401000, &[0xcc; 0x100], 0x100),
            TinySegment::load(RW, 0x401800, b"shared", 0x10),
        ],
    );
    let program = Program::parse(&file).unwrap();
    let mut space = FakeSpace::new();
    let mut map = MemoryMap::new();
    program
        .load(&file, &mut space, &mut map, &args(), &FakeHost::new())
        .unwrap();
    assert_eq!(space.prot_at(0x401000), Some(Prot::all()));
    assert_eq!(space.peek(0x401000, 4), vec![0xcc; 4]);
    assert_eq!(space.peek(0x401800, 6), b"shared");
}

#[test]
fn static_pie_is_loaded_at_the_pie_base() {
    use overlay_syscalls::exec::PIE_BASE;
    let file = tiny_elf(
        ET_DYN,
        EM_X86_64,
        0x1010,
        &[
            TinySegment::load(RX, 0x1000, &[0x90; 16], 16),
            TinySegment::load(RW, 0x3000, b"pie data", 0x100),
        ],
    );
    let program = Program::parse(&file).unwrap();
    let mut space = FakeSpace::new();
    let mut map = MemoryMap::new();
    let regs = program
        .load(&file, &mut space, &mut map, &args(), &FakeHost::new())
        .unwrap();
    assert_eq!(regs.rip, PIE_BASE + 0x10);
    assert_eq!(space.peek(PIE_BASE, 16), vec![0x90; 16]);
    assert_eq!(space.peek(PIE_BASE + 0x2000, 8), b"pie data");
    assert_eq!(map.brk(), PIE_BASE + 0x3000);
    let stack = read_initial_stack(&space, regs.rsp);
    assert_eq!(aux(&stack, AT_ENTRY), Some(PIE_BASE + 0x10));
    assert_eq!(aux(&stack, AT_BASE), Some(0));
}
