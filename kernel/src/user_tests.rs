//! Tests of the CPU half of user programs: tiny hand-assembled programs run in ring 3 in their
//! own address space, with the test itself answering their system calls (the real dispatcher
//! is the process layer's). They check what a program and the kernel see: the bytes a program
//! writes, registers and SSE state kept across traps, faults reported as traps (never a kernel
//! panic), the timer taking the CPU back, and user memory copies failing with `EFAULT`.

use alloc::{format, string::String, vec::Vec};

use overlay_syscalls::{
    regs::Registers,
    user::UserMemory,
    vm::{AddressSpace, Prot},
    Errno,
};

use crate::{
    arch::{self, FpuState, Trap, UserContext},
    heap, paging,
    runner::Test,
    user_space::{UserSpace, USER_END},
};

/// The suite `make qemu` runs.
pub const ALL: &[Test] = &[
    Test {
        name: "kernel_leaves_lower_half_to_user_programs",
        run: kernel_leaves_lower_half_to_user_programs,
    },
    Test {
        name: "user_program_writes_and_exits_through_syscall",
        run: user_program_writes_and_exits_through_syscall,
    },
    Test {
        name: "user_registers_survive_system_calls",
        run: user_registers_survive_system_calls,
    },
    Test {
        name: "user_invalid_opcode_is_a_trap",
        run: user_invalid_opcode_is_a_trap,
    },
    Test {
        name: "user_write_to_null_is_a_page_fault",
        run: user_write_to_null_is_a_page_fault,
    },
    Test {
        name: "user_read_of_kernel_memory_is_a_page_fault",
        run: user_read_of_kernel_memory_is_a_page_fault,
    },
    Test {
        name: "user_stack_is_not_executable",
        run: user_stack_is_not_executable,
    },
    Test {
        name: "user_breakpoint_is_a_trap",
        run: user_breakpoint_is_a_trap,
    },
    Test {
        name: "user_single_step_through_syscall_traps_in_the_program",
        run: user_single_step_through_syscall_traps_in_the_program,
    },
    Test {
        name: "user_cannot_disable_interrupts",
        run: user_cannot_disable_interrupts,
    },
    Test {
        name: "non_canonical_user_rip_is_refused",
        run: non_canonical_user_rip_is_refused,
    },
    Test {
        name: "endless_user_loop_is_stopped_by_timer",
        run: endless_user_loop_is_stopped_by_timer,
    },
    Test {
        name: "kernel_idle_wakes_at_timer_tick",
        run: kernel_idle_wakes_at_timer_tick,
    },
    Test {
        name: "user_fs_base_addresses_thread_data",
        run: user_fs_base_addresses_thread_data,
    },
    Test {
        name: "cpu_reports_sse_to_programs",
        run: cpu_reports_sse_to_programs,
    },
    Test {
        name: "user_sse_registers_survive_traps",
        run: user_sse_registers_survive_traps,
    },
    Test {
        name: "fpu_state_from_user_bytes_cannot_fault",
        run: fpu_state_from_user_bytes_cannot_fault,
    },
    Test {
        name: "user_memory_bad_addresses_are_efault",
        run: user_memory_bad_addresses_are_efault,
    },
    Test {
        name: "user_pages_follow_protect_and_unmap",
        run: user_pages_follow_protect_and_unmap,
    },
    Test {
        name: "fork_copies_pages",
        run: fork_copies_pages,
    },
    Test {
        name: "dropped_user_space_frees_its_memory",
        run: dropped_user_space_frees_its_memory,
    },
];

/// Where the test programs' code is mapped (read and execute).
const CODE: u64 = 0x40_0000;
/// Their one stack page (read and write, not executable).
const STACK_PAGE: u64 = 0x80_0000;
const STACK_TOP: u64 = STACK_PAGE + 4096;
const PAGE: u64 = 4096;

/// Linux's numbers for the two calls the programs make.
const SYS_WRITE: u64 = 1;
const SYS_EXIT: u64 = 60;

/// Traps a program may take before a test gives up on it (timer ticks included).
const MAX_TRAPS: usize = 1000;

fn check(condition: bool, reason: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(reason())
    }
}

fn errno(what: &str) -> impl FnOnce(Errno) -> String + '_ {
    move |errno| format!("{what}: {errno}")
}

/// A test program: its address space and registers.
struct Program {
    space: UserSpace,
    context: UserContext,
}

impl Program {
    /// `code` at [`CODE`], a stack page, and the registers Linux gives a new program.
    fn load(code: &[u8]) -> Result<Program, String> {
        let mut space = UserSpace::new().map_err(errno("new address space"))?;
        space
            .map(CODE, PAGE, Prot::READ | Prot::WRITE)
            .map_err(errno("map code"))?;
        space.write(CODE, code).map_err(errno("write code"))?;
        space
            .protect(CODE, PAGE, Prot::READ | Prot::EXEC)
            .map_err(errno("protect code"))?;
        space
            .map(STACK_PAGE, PAGE, Prot::READ | Prot::WRITE)
            .map_err(errno("map stack"))?;
        let mut context = UserContext::default();
        context.set_registers(&Registers::at_entry(CODE, STACK_TOP));
        Ok(Program { space, context })
    }

    /// Runs the program until its next trap.
    fn enter(&mut self) -> Trap {
        self.space.activate();
        let trap = arch::enter_user(&mut self.context);
        paging::activate_kernel_tables();
        trap
    }

    /// Runs the program until a trap other than the timer's.
    fn next_trap(&mut self) -> Result<Trap, String> {
        for _ in 0..MAX_TRAPS {
            match self.enter() {
                Trap::Timer => continue,
                trap => return Ok(trap),
            }
        }
        Err(format!("no trap but the timer's in {MAX_TRAPS} runs"))
    }
}

fn kernel_leaves_lower_half_to_user_programs() -> Result<(), String> {
    let tables = paging::kernel_tables().ok_or("the kernel's page tables are not active")?;
    check(paging::active_level_4() == tables.level_4, || {
        String::from("the active page tables are not the kernel's")
    })?;
    let used = paging::first_lower_half_entry(tables.level_4, tables.physical_memory_offset);
    check(used.is_none(), || {
        format!("level-4 entry {used:?} of the lower half is in use")
    })?;
    let kernel_code = kernel_leaves_lower_half_to_user_programs as *const () as u64;
    check(kernel_code >= 0xffff_8000_0000_0000, || {
        format!("kernel code at {kernel_code:#x} is not in the upper half")
    })?;
    // A user space shares the kernel's half and nothing else.
    let space = UserSpace::new().map_err(errno("new address space"))?;
    let shared = paging::first_lower_half_entry(space.level_4(), tables.physical_memory_offset);
    check(shared.is_none(), || {
        format!("a new user space maps level-4 entry {shared:?}")
    })?;
    let offset = tables.physical_memory_offset;
    let heap_value = alloc::boxed::Box::new(0u64);
    for (what, virt) in [
        ("kernel code", kernel_code),
        ("the heap", core::ptr::from_ref(&*heap_value) as u64),
    ] {
        let user_view = paging::translate(space.level_4(), offset, virt);
        let kernel_view = paging::translate(tables.level_4, offset, virt);
        check(user_view == kernel_view && user_view.is_some(), || {
            format!("{what} maps differently in a user space")
        })?;
    }
    Ok(())
}

fn user_program_writes_and_exits_through_syscall() -> Result<(), String> {
    const MESSAGE: &[u8] = b"hello from ring 3\n";
    #[rustfmt::skip]
    let mut code = Vec::from([
        0xb8, 0x01, 0x00, 0x00, 0x00, //       mov eax, 1 (write)
        0xbf, 0x01, 0x00, 0x00, 0x00, //       mov edi, 1
        0xbe, 0x00, 0x01, 0x40, 0x00, //       mov esi, 0x400100 (the message)
        0xba, 0x12, 0x00, 0x00, 0x00, //       mov edx, 18
        0x0f, 0x05,                   //       syscall
        0x89, 0xc7,                   //       mov edi, eax
        0x83, 0xef, 0x12,             //       sub edi, 18 (0 if all was written)
        0xb8, 0x3c, 0x00, 0x00, 0x00, //       mov eax, 60 (exit)
        0x0f, 0x05,                   //       syscall
        0x0f, 0x0b,                   //       ud2
    ]);
    code.resize(0x100, 0x90);
    code.extend_from_slice(MESSAGE);
    let mut program = Program::load(&code)?;
    let mut written = Vec::new();
    loop {
        let trap = program.next_trap()?;
        check(trap == Trap::Syscall, || {
            format!("expected a system call, got {trap:?}")
        })?;
        let regs = program.context.registers();
        let [fd, buf, len, ..] = regs.syscall_args();
        match regs.syscall_number() {
            SYS_WRITE => {
                check(fd == 1, || format!("write to fd {fd}"))?;
                let len = usize::try_from(len).map_err(|_| "length too big")?;
                let mut bytes = alloc::vec![0u8; len];
                program
                    .space
                    .read(buf, &mut bytes)
                    .map_err(errno("read the message"))?;
                written.extend_from_slice(&bytes);
                program.context.rax = len as u64;
            }
            SYS_EXIT => {
                check(written == MESSAGE, || {
                    format!("wrote {:?}", String::from_utf8_lossy(&written))
                })?;
                return check(fd == 0, || format!("exit status {fd}, expected 0"));
            }
            number => return Err(format!("unexpected system call {number}")),
        }
    }
}

fn user_registers_survive_system_calls() -> Result<(), String> {
    #[rustfmt::skip]
    let code = [
        0x0f, 0x05,                   // syscall
        0x0f, 0x05,                   // syscall
        0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60
        0x31, 0xff,                   // xor edi, edi
        0x0f, 0x05,                   // syscall
    ];
    let mut program = Program::load(&code)?;
    let mut regs = Registers::at_entry(CODE, STACK_TOP - 8);
    let values = [
        &mut regs.rbx,
        &mut regs.rcx,
        &mut regs.rdx,
        &mut regs.rsi,
        &mut regs.rdi,
        &mut regs.rbp,
        &mut regs.r8,
        &mut regs.r9,
        &mut regs.r10,
        &mut regs.r11,
        &mut regs.r12,
        &mut regs.r13,
        &mut regs.r14,
        &mut regs.r15,
    ];
    for (index, register) in values.into_iter().enumerate() {
        *register = 0x1111_1111_1111_1111 * (index as u64 % 15 + 1);
    }
    regs.rax = 1000;
    // Carry, zero and direction flags set: a program's flags survive too.
    regs.rflags |= 1 | (1 << 6) | (1 << 10);
    program.context.set_registers(&regs);
    let first = program.next_trap()?;
    check(first == Trap::Syscall, || format!("first trap {first:?}"))?;
    let at_first = program.context.registers();
    let mut expected = regs;
    expected.rflags = Registers::sanitized_rflags(regs.rflags);
    expected.rip = CODE + 2;
    expected.rcx = CODE + 2;
    expected.r11 = expected.rflags;
    expected.fs_base = at_first.fs_base;
    check(at_first == expected, || {
        format!("at the first call {at_first:#x?}, expected {expected:#x?}")
    })?;
    // The return goes through `sysretq` (rcx == rip); everything but rax must come back.
    program.context.rax = 2000;
    let second = program.next_trap()?;
    check(second == Trap::Syscall, || {
        format!("second trap {second:?}")
    })?;
    let at_second = program.context.registers();
    expected.rax = 2000;
    expected.rip = CODE + 4;
    expected.rcx = CODE + 4;
    check(at_second == expected, || {
        format!("at the second call {at_second:#x?}, expected {expected:#x?}")
    })?;
    let exit = program.next_trap()?;
    check(
        exit == Trap::Syscall && program.context.rax == SYS_EXIT,
        || format!("expected exit, got {exit:?}"),
    )
}

fn user_invalid_opcode_is_a_trap() -> Result<(), String> {
    let mut program = Program::load(&[0x90, 0x0f, 0x0b])?; // nop; ud2
    let trap = program.next_trap()?;
    check(trap == Trap::InvalidOpcode, || format!("got {trap:?}"))?;
    check(program.context.rip == CODE + 1, || {
        format!("rip {:#x} is not the ud2", program.context.rip)
    })
}

fn user_write_to_null_is_a_page_fault() -> Result<(), String> {
    // mov byte ptr [0], 1
    let mut program = Program::load(&[0xc6, 0x04, 0x25, 0, 0, 0, 0, 0x01])?;
    let trap = program.next_trap()?;
    // Error code: a write (2) from user mode (4) to a page that is not there (no 1).
    let expected = Trap::PageFault {
        address: 0,
        error_code: 0b110,
    };
    check(trap == expected, || format!("got {trap:?}"))?;
    check(program.context.rip == CODE, || {
        format!("rip {:#x}", program.context.rip)
    })
}

/// A kernel value whose address a user program tries to read.
static KERNEL_SECRET: u64 = 0x5ec2e7;

fn user_read_of_kernel_memory_is_a_page_fault() -> Result<(), String> {
    let address = (&raw const KERNEL_SECRET) as u64;
    let mut code = Vec::from([0x48, 0xa1]); // movabs rax, [address]
    code.extend_from_slice(&address.to_le_bytes());
    let mut program = Program::load(&code)?;
    let trap = program.next_trap()?;
    // Present (1), user mode (4): a protection fault, not a missing page.
    let expected = Trap::PageFault {
        address,
        error_code: 0b101,
    };
    check(trap == expected, || {
        format!("got {trap:?}, expected {expected:?}")
    })?;
    check(program.context.rax != KERNEL_SECRET, || {
        String::from("the program read the kernel's value")
    })
}

fn user_stack_is_not_executable() -> Result<(), String> {
    if !arch::no_execute_enabled() {
        return Err(String::from("this CPU has no NX bit"));
    }
    #[rustfmt::skip]
    let code = [
        0xb8, 0x00, 0x00, 0x80, 0x00, // mov eax, 0x800000 (the stack page)
        0xff, 0xe0,                   // jmp rax
    ];
    let mut program = Program::load(&code)?;
    let trap = program.next_trap()?;
    // Present (1), user (4), instruction fetch (16).
    let expected = Trap::PageFault {
        address: STACK_PAGE,
        error_code: 0b1_0101,
    };
    check(trap == expected, || format!("got {trap:?}"))
}

fn user_breakpoint_is_a_trap() -> Result<(), String> {
    let before = crate::interrupts::breakpoints_handled();
    let mut program = Program::load(&[0xcc, 0x0f, 0x0b])?; // int3; ud2
    let trap = program.next_trap()?;
    check(trap == Trap::Breakpoint, || format!("got {trap:?}"))?;
    // `int3` is a trap: the program resumes after it.
    check(program.context.rip == CODE + 1, || {
        format!("rip {:#x}", program.context.rip)
    })?;
    let trap = program.next_trap()?;
    check(trap == Trap::InvalidOpcode, || format!("then {trap:?}"))?;
    check(crate::interrupts::breakpoints_handled() == before, || {
        String::from("the kernel counted the program's breakpoint as its own")
    })
}

fn user_single_step_through_syscall_traps_in_the_program() -> Result<(), String> {
    #[rustfmt::skip]
    let code = [
        0x9c,                                     // pushfq
        0x48, 0x81, 0x0c, 0x24, 0x00, 0x01, 0x00, 0x00, // or qword ptr [rsp], 0x100 (TF)
        0x9d,                                     // popfq
        0x0f, 0x05,                               // syscall (runs with TF set)
        0x90,                                     // nop
        0x90,                                     // nop
    ];
    let mut program = Program::load(&code)?;
    // SFMASK clears TF on `syscall`, so no debug trap is taken in the kernel's entry code.
    let trap = program.next_trap()?;
    check(trap == Trap::Syscall, || format!("got {trap:?}"))?;
    check(program.context.r11 & (1 << 8) != 0, || {
        String::from("the program's TF was not saved")
    })?;
    // The return restores TF (through `iretq`): the next instruction is single-stepped.
    let trap = program.next_trap()?;
    check(
        trap == Trap::Other {
            vector: 1,
            error_code: 0,
        },
        || format!("then {trap:?}"),
    )?;
    check(program.context.rip == CODE + 0xd, || {
        format!("single step stopped at {:#x}", program.context.rip)
    })
}

fn user_cannot_disable_interrupts() -> Result<(), String> {
    let mut program = Program::load(&[0xfa])?; // cli
                                               // Asks for every flag, IOPL 3 included; the kernel keeps IOPL 0.
    program.context.rflags = u64::MAX;
    let trap = program.next_trap()?;
    check(trap == Trap::GeneralProtection { error_code: 0 }, || {
        format!("got {trap:?}")
    })?;
    let iopl = (program.context.rflags >> 12) & 3;
    check(iopl == 0, || format!("the program ran with IOPL {iopl}"))
}

fn non_canonical_user_rip_is_refused() -> Result<(), String> {
    let mut program = Program::load(&[0x0f, 0x05])?;
    let rip = 0x0000_8000_0000_0000;
    // As after a system call, so `sysretq` would be chosen if the address were not checked.
    program.context.rip = rip;
    program.context.rcx = rip;
    program.context.r11 = program.context.rflags;
    let trap = program.next_trap()?;
    check(trap == Trap::GeneralProtection { error_code: 0 }, || {
        format!("got {trap:?}")
    })
}

fn endless_user_loop_is_stopped_by_timer() -> Result<(), String> {
    let mut program = Program::load(&[0xeb, 0xfe])?; // jmp .
    let start = arch::ticks();
    for run in 0..3 {
        let trap = program.enter();
        check(trap == Trap::Timer, || format!("run {run}: got {trap:?}"))?;
        check(program.context.rip == CODE, || {
            format!("rip {:#x}", program.context.rip)
        })?;
    }
    let ticks = arch::ticks() - start;
    check(ticks == 3, || {
        format!("{ticks} ticks counted for 3 timer traps")
    })
}

fn kernel_idle_wakes_at_timer_tick() -> Result<(), String> {
    let start = arch::ticks();
    let cycles = crate::bench::cycles();
    // Two waits: the first may end at a tick already pending.
    arch::idle_until_interrupt();
    arch::idle_until_interrupt();
    let ticks = arch::ticks() - start;
    let elapsed = crate::bench::cycles() - cycles;
    check((1..=2).contains(&ticks), || {
        format!("{ticks} ticks counted over two waits")
    })?;
    check(elapsed > 0, || String::from("no time passed"))?;
    check(arch::TIMER_HZ == 100, || {
        format!("timer at {} Hz", arch::TIMER_HZ)
    })
}

fn user_fs_base_addresses_thread_data() -> Result<(), String> {
    #[rustfmt::skip]
    let code = [
        0x64, 0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00, // mov rax, fs:[0]
        0x48, 0x89, 0xc7,                                     // mov rdi, rax
        0xb8, 0x3c, 0x00, 0x00, 0x00,                         // mov eax, 60
        0x0f, 0x05,                                           // syscall
    ];
    let mut program = Program::load(&code)?;
    let thread_pointer = STACK_PAGE + 0x100;
    let value = 0x0123_4567_89ab_cdefu64;
    program
        .space
        .write(thread_pointer, &value.to_le_bytes())
        .map_err(errno("write thread data"))?;
    arch::set_fs_base(thread_pointer);
    let trap = program.next_trap();
    let base = arch::fs_base();
    let seen = program.context.registers().fs_base;
    arch::set_fs_base(0);
    let trap = trap?;
    check(trap == Trap::Syscall, || format!("got {trap:?}"))?;
    check(program.context.vector == arch::SYSCALL_VECTOR, || {
        format!("vector {:#x}", program.context.vector)
    })?;
    check(program.context.rdi == value, || {
        format!("fs:[0] read {:#x}", program.context.rdi)
    })?;
    check(base == thread_pointer && seen == thread_pointer, || {
        format!("FS base {base:#x}, registers say {seen:#x}")
    })?;
    // A kernel address is not a thread pointer: it loads 0 rather than faulting.
    arch::set_fs_base(0xffff_8000_0000_0000);
    let refused = arch::fs_base();
    arch::set_fs_base(0);
    check(refused == 0, || format!("FS base {refused:#x} accepted"))
}

fn cpu_reports_sse_to_programs() -> Result<(), String> {
    const FXSR: u64 = 1 << 24;
    const SSE: u64 = 1 << 25;
    const SSE2: u64 = 1 << 26;
    let hwcap = arch::hwcap();
    check(hwcap & (FXSR | SSE | SSE2) == FXSR | SSE | SSE2, || {
        format!("AT_HWCAP {hwcap:#x} lacks FXSR, SSE or SSE2")
    })
}

fn user_sse_registers_survive_traps() -> Result<(), String> {
    #[rustfmt::skip]
    let code = [
        0x0f, 0x28, 0x0c, 0x24,             //    movaps xmm1, [rsp]
        0x0f, 0x58, 0xc9,                   //    addps xmm1, xmm1
        0xb8, 0xe8, 0x03, 0x00, 0x00,       //    mov eax, 1000
        0x0f, 0x05,                         //    syscall
        0x80, 0x7c, 0x24, 0x20, 0x00,       // 1: cmp byte ptr [rsp + 32], 0
        0x74, 0xf9,                         //    je 1b (until the kernel saw a tick)
        0x0f, 0x29, 0x4c, 0x24, 0x10,       //    movaps [rsp + 16], xmm1
        0xb8, 0x3c, 0x00, 0x00, 0x00,       //    mov eax, 60
        0x31, 0xff,                         //    xor edi, edi
        0x0f, 0x05,                         //    syscall
    ];
    let mut program = Program::load(&code)?;
    let rsp = STACK_TOP - 64;
    program.context.rsp = rsp;
    let inputs: Vec<u8> = [1.5f32, -2.25, 1e10, 0.0]
        .iter()
        .flat_map(|x| x.to_bits().to_le_bytes())
        .collect();
    program
        .space
        .write(rsp, &inputs)
        .map_err(errno("write inputs"))?;
    FpuState::new().restore();
    // What another program switched in between would do to the registers.
    let other_program_runs = || -> Result<(), String> {
        let mut own = FpuState::new();
        own.save();
        FpuState::new().restore();
        let mut fresh = FpuState::new();
        fresh.save();
        check(fresh.xmm(1) == Some([0; 16]), || {
            String::from("a new FPU state keeps xmm1")
        })?;
        check(fresh.mxcsr() & 0xffbf == 0x1f80, || {
            format!("a new FPU state has MXCSR {:#x}", fresh.mxcsr())
        })?;
        own.restore();
        Ok(())
    };
    let mut saw_tick = false;
    for _ in 0..MAX_TRAPS {
        match program.enter() {
            Trap::Timer => {
                other_program_runs()?;
                if !saw_tick {
                    saw_tick = true;
                    program
                        .space
                        .write(rsp + 32, &[1])
                        .map_err(errno("set the flag"))?;
                }
            }
            Trap::Syscall if program.context.rax == 1000 => {
                other_program_runs()?;
                program.context.rax = 0;
            }
            Trap::Syscall if program.context.rax == SYS_EXIT => {
                let mut sums = [0u8; 16];
                program
                    .space
                    .read(rsp + 16, &mut sums)
                    .map_err(errno("read sums"))?;
                let expected: Vec<u8> = [3.0f32, -4.5, 2e10, 0.0]
                    .iter()
                    .flat_map(|x| x.to_bits().to_le_bytes())
                    .collect();
                return check(sums[..] == expected[..], || {
                    format!("xmm1 came back as {sums:02x?}, expected {expected:02x?}")
                });
            }
            trap => return Err(format!("unexpected {trap:?}")),
        }
    }
    Err(String::from("the program did not finish"))
}

fn fpu_state_from_user_bytes_cannot_fault() -> Result<(), String> {
    // A signal frame's FPU image comes from user memory: every bit set, MXCSR included.
    let mut state = FpuState::new();
    state.set_bytes(&[0xff; 512]);
    check(state.as_bytes().len() == 512, || {
        String::from("the image is not 512 bytes")
    })?;
    let mut own = FpuState::new();
    own.save();
    state.restore();
    let mut loaded = FpuState::new();
    loaded.save();
    own.restore();
    check(loaded.xmm(3) == Some([0xff; 16]), || {
        format!("xmm3 loaded as {:02x?}", loaded.xmm(3))
    })?;
    // The reserved MXCSR bits were dropped, so FXRSTOR did not fault; the others were kept.
    check(
        loaded.mxcsr() & 0xffff_0000 == 0 && loaded.mxcsr() & 0x1f80 == 0x1f80,
        || format!("MXCSR {:#x}", loaded.mxcsr()),
    )
}

fn user_memory_bad_addresses_are_efault() -> Result<(), String> {
    let mut space = UserSpace::new().map_err(errno("new address space"))?;
    space
        .map(0x1000_0000, 2 * PAGE, Prot::READ | Prot::WRITE)
        .map_err(errno("map"))?;
    space
        .map(0x2000_0000, PAGE, Prot::READ)
        .map_err(errno("map read-only"))?;
    // A copy across two mapped pages works.
    space
        .write(0x1000_0ffc, b"abcdefgh")
        .map_err(errno("write across pages"))?;
    let mut buf = [0u8; 8];
    space
        .read(0x1000_0ffc, &mut buf)
        .map_err(errno("read across pages"))?;
    check(&buf == b"abcdefgh", || format!("read back {buf:?}"))?;
    let kernel = (&raw const KERNEL_SECRET) as u64;
    let cases: [(&str, u64, usize); 6] = [
        ("unmapped", 0x3000_0000, 8),
        ("null", 0, 1),
        ("kernel", kernel, 8),
        ("running off the mapping", 0x1000_1ffc, 8),
        ("wrapping", u64::MAX - 3, 8),
        ("the last user page", USER_END - 8, 8),
    ];
    let mut buf = [0u8; 8];
    for (what, addr, len) in cases {
        let read = space.read(addr, &mut buf[..len]);
        check(read == Err(Errno::EFAULT), || {
            format!("read {what} ({addr:#x}): {read:?}")
        })?;
        let write = space.write(addr, &buf[..len]);
        check(write == Err(Errno::EFAULT), || {
            format!("write {what} ({addr:#x}): {write:?}")
        })?;
    }
    check(space.write(0x2000_0000, b"x") == Err(Errno::EFAULT), || {
        String::from("a read-only page was written")
    })?;
    check(space.read(0x2000_0000, &mut buf).is_ok(), || {
        String::from("a read-only page cannot be read")
    })?;
    check(KERNEL_SECRET == 0x5ec2e7, || {
        String::from("the kernel's value changed")
    })?;
    check(
        space.map(0x1000_0001, PAGE, Prot::READ) == Err(Errno::EINVAL),
        || String::from("an unaligned map was accepted"),
    )?;
    check(
        space.map(USER_END, PAGE, Prot::READ) == Err(Errno::EINVAL),
        || String::from("the last user page was mapped"),
    )
}

fn user_pages_follow_protect_and_unmap() -> Result<(), String> {
    let mut space = UserSpace::new().map_err(errno("new address space"))?;
    let at = 0x3000_0000;
    space
        .map(at, 2 * PAGE, Prot::READ | Prot::WRITE)
        .map_err(errno("map"))?;
    space.write(at, b"kept").map_err(errno("write"))?;
    space
        .protect(at, 2 * PAGE, Prot::empty())
        .map_err(errno("protect none"))?;
    let mut buf = [0u8; 4];
    check(space.read(at, &mut buf) == Err(Errno::EFAULT), || {
        String::from("a PROT_NONE page was readable")
    })?;
    space
        .protect(at, PAGE, Prot::READ)
        .map_err(errno("protect read"))?;
    space.read(at, &mut buf).map_err(errno("read again"))?;
    check(&buf == b"kept", || {
        format!("contents after mprotect {buf:?}")
    })?;
    space.unmap(at, PAGE);
    check(space.read(at, &mut buf) == Err(Errno::EFAULT), || {
        String::from("an unmapped page was readable")
    })?;
    check(
        space.protect(at, 2 * PAGE, Prot::READ) == Err(Errno::ENOMEM),
        || String::from("mprotect over a hole succeeded"),
    )?;
    check(space.mapped_pages() == 1, || {
        format!("{} pages mapped, expected 1", space.mapped_pages())
    })?;
    // Mapping over a page replaces it with a zeroed one.
    space
        .map(at + PAGE, PAGE, Prot::READ | Prot::WRITE)
        .map_err(errno("map again"))?;
    space.read(at + PAGE, &mut buf).map_err(errno("read new"))?;
    check(buf == [0; 4], || format!("a fresh page holds {buf:?}"))
}

fn fork_copies_pages() -> Result<(), String> {
    let mut parent = UserSpace::new().map_err(errno("new address space"))?;
    let at = 0x50_0000;
    parent
        .map(at, 3 * PAGE, Prot::READ | Prot::WRITE)
        .map_err(errno("map"))?;
    parent
        .protect(at + 2 * PAGE, PAGE, Prot::READ)
        .map_err(errno("protect"))?;
    parent.write(at, b"parent").map_err(errno("write"))?;
    let mut child = parent.fork().map_err(errno("fork"))?;
    let mut buf = [0u8; 6];
    child.read(at, &mut buf).map_err(errno("child read"))?;
    check(&buf == b"parent", || format!("the child reads {buf:?}"))?;
    child.write(at, b"child!").map_err(errno("child write"))?;
    parent.read(at, &mut buf).map_err(errno("parent read"))?;
    check(&buf == b"parent", || {
        format!("the parent sees the child's write: {buf:?}")
    })?;
    check(
        child.write(at + 2 * PAGE, b"x") == Err(Errno::EFAULT),
        || String::from("the child's copy of a read-only page is writable"),
    )?;
    check(child.mapped_pages() == 3, || {
        format!("the child has {} pages", child.mapped_pages())
    })?;
    // A forked program runs in its own copy.
    let mut program = Program::load(&[0xc6, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x2a])?; // mov byte ptr [0x600000], 42
    program
        .space
        .map(0x60_0000, PAGE, Prot::READ | Prot::WRITE)
        .map_err(errno("map data"))?;
    let forked = Program {
        space: program.space.fork().map_err(errno("fork program"))?,
        context: program.context.clone(),
    };
    let mut forked = forked;
    // The forked copy writes 42 and then runs off the end of its code into zeroes, which
    // decode as `add [rax], al` with rax 0: a page fault at 0.
    let trap = forked.next_trap()?;
    check(matches!(trap, Trap::PageFault { address: 0, .. }), || {
        format!("the forked program ended with {trap:?}")
    })?;
    let mut byte = [0u8; 1];
    forked
        .space
        .read(0x60_0000, &mut byte)
        .map_err(errno("read child data"))?;
    check(byte == [42], || format!("the child wrote {byte:?}"))?;
    program
        .space
        .read(0x60_0000, &mut byte)
        .map_err(errno("read parent data"))?;
    check(byte == [0], || format!("the parent sees {byte:?}"))
}

fn dropped_user_space_frees_its_memory() -> Result<(), String> {
    let before = heap::stats().allocated_bytes;
    {
        let mut space = UserSpace::new().map_err(errno("new address space"))?;
        for at in [0x1000, 0x40_0000, 0x7fff_0000_0000, USER_END - 16 * PAGE] {
            space
                .map(at, 16 * PAGE, Prot::READ | Prot::WRITE)
                .map_err(errno("map"))?;
        }
        let child = space.fork().map_err(errno("fork"))?;
        space.activate();
        drop(child);
        // Dropping the active space switches back to the kernel's tables first.
        drop(space);
    }
    let tables = paging::kernel_tables().ok_or("no kernel tables")?;
    check(paging::active_level_4() == tables.level_4, || {
        String::from("the kernel's tables are not active after the drop")
    })?;
    let after = heap::stats().allocated_bytes;
    check(after == before, || {
        format!("{} bytes still allocated", after as i64 - before as i64)
    })
}
