//! What `execve` checks before loading: its arguments, the file's execute permission, and
//! `#!` scripts.

mod vm_support;

use overlay_core::vfs::{Credentials, DeviceId, FileType, Metadata, Timespec};
use overlay_syscalls::exec::{
    check_executable, read_exec_args, shebang, Script, ARG_MAX, MAX_ARG_STRLEN,
};
use overlay_syscalls::user::{write_u64, FlatMemory, UserMemory};
use overlay_syscalls::Errno;

fn metadata(kind: FileType, mode: u16, uid: u32, gid: u32) -> Metadata {
    Metadata {
        ino: 1,
        dev: 1,
        kind,
        mode,
        nlink: 1,
        uid,
        gid,
        size: 0,
        rdev: DeviceId { major: 0, minor: 0 },
        atime: Timespec::default(),
        mtime: Timespec::default(),
        ctime: Timespec::default(),
    }
}

#[test]
fn owner_group_and_others_need_their_own_execute_bit() {
    let file = metadata(FileType::Regular, 0o710, 1000, 100);
    assert_eq!(check_executable(&file, &Credentials::user(1000, 5)), Ok(()));
    assert_eq!(
        check_executable(&file, &Credentials::user(2000, 100)),
        Ok(())
    );
    assert_eq!(
        check_executable(&file, &Credentials::user(2000, 5)),
        Err(Errno::EACCES)
    );
    let others_only = metadata(FileType::Regular, 0o001, 1000, 100);
    assert_eq!(
        check_executable(&others_only, &Credentials::user(1000, 100)),
        Err(Errno::EACCES),
        "the owner's bits apply to the owner even when others may"
    );
}

#[test]
fn root_needs_at_least_one_execute_bit() {
    let root = Credentials::root();
    assert_eq!(
        check_executable(&metadata(FileType::Regular, 0o001, 5, 5), &root),
        Ok(())
    );
    assert_eq!(
        check_executable(&metadata(FileType::Regular, 0o644, 0, 0), &root),
        Err(Errno::EACCES)
    );
}

#[test]
fn directory_or_device_is_eacces() {
    let root = Credentials::root();
    assert_eq!(
        check_executable(&metadata(FileType::Directory, 0o755, 0, 0), &root),
        Err(Errno::EACCES)
    );
    assert_eq!(
        check_executable(&metadata(FileType::CharDevice, 0o777, 0, 0), &root),
        Err(Errno::EACCES)
    );
}

#[test]
fn shebang_line_gives_interpreter_and_one_argument() {
    assert_eq!(shebang(b"\x7fELF"), Ok(None));
    assert_eq!(
        shebang(b"#!/bin/sh\necho hi\n"),
        Ok(Some(Script {
            interpreter: b"/bin/sh".to_vec(),
            arg: None
        }))
    );
    assert_eq!(
        shebang(b"#! /bin/busybox  sh -e  \t\nexit 0\n"),
        Ok(Some(Script {
            interpreter: b"/bin/busybox".to_vec(),
            arg: Some(b"sh -e".to_vec())
        }))
    );
    assert_eq!(
        shebang(b"#!/bin/sh"),
        Ok(Some(Script {
            interpreter: b"/bin/sh".to_vec(),
            arg: None
        })),
        "a line without newline at the end of the file"
    );
}

#[test]
fn shebang_without_interpreter_is_enoexec() {
    assert_eq!(shebang(b"#!\n"), Err(Errno::ENOEXEC));
    assert_eq!(shebang(b"#!   \t \nls\n"), Err(Errno::ENOEXEC));
}

#[test]
fn shebang_with_interpreter_name_cut_by_the_line_limit_is_enoexec() {
    let mut long = b"#!/".to_vec();
    long.extend(std::iter::repeat_n(b'a', 300));
    assert_eq!(shebang(&long), Err(Errno::ENOEXEC));
    let mut long_arg = b"#!/bin/sh ".to_vec();
    long_arg.extend(std::iter::repeat_n(b'x', 300));
    let script = shebang(&long_arg).unwrap().unwrap();
    assert_eq!(script.interpreter, b"/bin/sh");
    assert_eq!(
        script.arg.unwrap().len(),
        255 - 10,
        "the argument is cut at the limit"
    );
}

#[test]
fn script_arguments_put_interpreter_and_script_path_first() {
    let script = Script {
        interpreter: b"/bin/sh".to_vec(),
        arg: Some(b"-e".to_vec()),
    };
    let argv = script.argv(b"/usr/bin/run", &[b"run".to_vec(), b"one".to_vec()]);
    assert_eq!(
        argv,
        vec![
            b"/bin/sh".to_vec(),
            b"-e".to_vec(),
            b"/usr/bin/run".to_vec(),
            b"one".to_vec()
        ]
    );
}

fn put_strings(memory: &mut FlatMemory, table: u64, strings_at: u64, strings: &[&[u8]]) {
    let mut at = strings_at;
    for (index, string) in strings.iter().enumerate() {
        memory.write(at, string).unwrap();
        memory.write(at + string.len() as u64, &[0]).unwrap();
        write_u64(memory, table + 8 * index as u64, at).unwrap();
        at += string.len() as u64 + 1;
    }
    write_u64(memory, table + 8 * strings.len() as u64, 0).unwrap();
}

#[test]
fn exec_arguments_are_copied_in() {
    let mut memory = FlatMemory::new(0x10000, 0x4000);
    put_strings(&mut memory, 0x10000, 0x11000, &[b"ls", b"-l"]);
    put_strings(&mut memory, 0x10100, 0x12000, &[b"A=1"]);
    let (argv, envp) = read_exec_args(&memory, 0x10000, 0x10100).unwrap();
    assert_eq!(argv, vec![b"ls".to_vec(), b"-l".to_vec()]);
    assert_eq!(envp, vec![b"A=1".to_vec()]);
}

#[test]
fn empty_argv_becomes_one_empty_string_as_on_linux() {
    let memory = FlatMemory::new(0x10000, 0x1000);
    let (argv, envp) = read_exec_args(&memory, 0, 0).unwrap();
    assert_eq!(argv, vec![Vec::<u8>::new()]);
    assert!(envp.is_empty());
}

#[test]
fn bad_argument_pointer_is_efault() {
    let mut memory = FlatMemory::new(0x10000, 0x1000);
    write_u64(&mut memory, 0x10000, 0xdead_0000).unwrap();
    assert_eq!(read_exec_args(&memory, 0x10000, 0), Err(Errno::EFAULT));
    assert_eq!(read_exec_args(&memory, 0x90000, 0), Err(Errno::EFAULT));
}

#[test]
fn argument_longer_than_max_arg_strlen_is_e2big() {
    let mut memory = FlatMemory::new(0x10000, 0x30000);
    let long = vec![b'a'; MAX_ARG_STRLEN];
    put_strings(&mut memory, 0x10000, 0x11000, &[&long]);
    assert_eq!(read_exec_args(&memory, 0x10000, 0), Err(Errno::E2BIG));
}

#[test]
fn arguments_past_arg_max_are_e2big() {
    let count = ARG_MAX / 100_000 + 1;
    let mut memory = FlatMemory::new(0x10000, 0x10000 + count * 100_001 + 4096);
    let one = vec![b'b'; 100_000];
    let strings: Vec<&[u8]> = (0..count).map(|_| one.as_slice()).collect();
    put_strings(&mut memory, 0x10000, 0x20000, &strings);
    assert_eq!(read_exec_args(&memory, 0x10000, 0), Err(Errno::E2BIG));
}
