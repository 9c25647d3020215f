//! Tests of containers running their image's own program: Debian's static BusyBox, in ring 3,
//! with the union as its root. Each test makes a fresh container of the `busybox` image, runs
//! a `sh -c` script in it with its output captured, and checks what a user would: the
//! output and exit status, then the container's `diff`, the image layers' bytes, and what
//! other containers see. The error-path tests run tiny hand-made programs (a few
//! instructions in a minimal ELF file written into the container) that fault, hang, or pass
//! bad pointers.

use alloc::{format, string::String, vec, vec::Vec};
use core::sync::atomic::{AtomicU32, Ordering};

use overlay_core::containers::ContainerManager;
use overlay_core::posix::Namespace;
use overlay_core::vfs::{Credentials, FileSystem, OpenFlags};

use crate::process::{self, Capture, Launch, LaunchStdio, RunLimits, RunReport};
use crate::rootfs;
use crate::runner::Test;
use crate::tiny_program;

/// The image the tests run (built from rootfs/busybox.build, passed through fw_cfg).
const IMAGE: &str = "busybox";

/// How long one test's program may run before it is ended (wall clock, timer ticks).
const LIMIT_SECONDS: u64 = 60;

/// The tests `make qemu` runs when the BusyBox image is there.
pub const ALL: &[Test] = &[
    Test {
        name: "busybox_echo_redirect_and_cat",
        run: busybox_echo_redirect_and_cat,
    },
    Test {
        name: "busybox_append_to_lower_file_copies_it_up",
        run: busybox_append_to_lower_file_copies_it_up,
    },
    Test {
        name: "busybox_rm_of_lower_file_leaves_whiteout",
        run: busybox_rm_of_lower_file_leaves_whiteout,
    },
    Test {
        name: "busybox_file_applets_mkdir_mv_cp_ln_chmod",
        run: busybox_file_applets_mkdir_mv_cp_ln_chmod,
    },
    Test {
        name: "busybox_pipes_and_exit_statuses",
        run: busybox_pipes_and_exit_statuses,
    },
    Test {
        name: "busybox_second_container_sees_none_of_the_first",
        run: busybox_second_container_sees_none_of_the_first,
    },
    Test {
        name: "busybox_commit_then_run_shows_the_changes",
        run: busybox_commit_then_run_shows_the_changes,
    },
    Test {
        name: "busybox_proc_and_dev_are_mounted_not_in_the_image",
        run: busybox_proc_and_dev_are_mounted_not_in_the_image,
    },
    Test {
        name: "busybox_signal_handler_runs_and_kill_ends_a_child",
        run: busybox_signal_handler_runs_and_kill_ends_a_child,
    },
    Test {
        name: "program_that_segfaults_ends_with_status_139",
        run: program_that_segfaults_ends_with_status_139,
    },
    Test {
        name: "exec_of_non_elf_file_is_enoexec",
        run: exec_of_non_elf_file_is_enoexec,
    },
    Test {
        name: "exec_of_missing_program_is_enoent",
        run: exec_of_missing_program_is_enoent,
    },
    Test {
        name: "exec_without_execute_permission_is_eacces",
        run: exec_without_execute_permission_is_eacces,
    },
    Test {
        name: "unknown_system_call_is_enosys",
        run: unknown_system_call_is_enosys,
    },
    Test {
        name: "bad_pointers_to_read_write_stat_are_efault",
        run: bad_pointers_to_read_write_stat_are_efault,
    },
    Test {
        name: "program_that_never_exits_is_ended_at_its_limit",
        run: program_that_never_exits_is_ended_at_its_limit,
    },
    Test {
        name: "image_config_user_workdir_entrypoint_are_honoured",
        run: image_config_user_workdir_entrypoint_are_honoured,
    },
    Test {
        name: "command_replaces_cmd_not_entrypoint",
        run: command_replaces_cmd_not_entrypoint,
    },
];

/// What one run of a container's program gave.
struct Ran {
    container: String,
    stdout: String,
    stderr: String,
    report: RunReport,
}

/// Whether the image the tests run is loaded.
pub fn image_present() -> bool {
    rootfs::manager()
        .is_some_and(|manager| manager.with_store(|store| store.image(IMAGE).is_some()))
}

fn manager() -> Result<&'static ContainerManager, String> {
    let manager = rootfs::manager().ok_or("no image was loaded")?;
    let has_image = manager.with_store(|store| store.image(IMAGE).is_some());
    if !has_image {
        return Err(format!(
            "no `{IMAGE}` image: boot with its fw_cfg layout (`make deps` fetches BusyBox)"
        ));
    }
    Ok(manager)
}

/// A container name no other test uses.
fn fresh_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Makes a container of `image` and runs `argv` in it to its end.
fn run_in(image: &str, argv: &[&str], limit_seconds: u64) -> Result<Ran, String> {
    let manager = manager()?;
    let container = fresh_name("t");
    manager
        .run(image, &container)
        .map_err(|errno| format!("run {image}: {errno}"))?;
    start(manager, &container, argv, limit_seconds)
}

/// Runs `argv` in the existing container `container`.
fn start(
    manager: &ContainerManager,
    container: &str,
    argv: &[&str],
    limit_seconds: u64,
) -> Result<Ran, String> {
    let stdout = Capture::new();
    let stderr = Capture::new();
    let launch = Launch {
        container,
        command: argv.iter().map(|arg| String::from(*arg)).collect(),
        env: None,
        stdio: LaunchStdio::Captured {
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        },
        limits: RunLimits {
            max_ticks: Some(limit_seconds * process::TICKS_PER_SECOND),
        },
    };
    let report = process::launch(manager, &launch)?;
    Ok(Ran {
        container: String::from(container),
        stdout: String::from_utf8_lossy(&stdout.bytes()).into_owned(),
        stderr: String::from_utf8_lossy(&stderr.bytes()).into_owned(),
        report,
    })
}

/// Runs `sh -c script` in a fresh container of the BusyBox image.
fn sh(script: &str) -> Result<Ran, String> {
    run_in(IMAGE, &["/bin/sh", "-c", script], LIMIT_SECONDS)
}

/// Checks that the script exited 0 and printed `expected`.
fn expect_output(ran: &Ran, expected: &str) -> Result<(), String> {
    if ran.report.shell_status() != 0 || ran.stdout != expected {
        return Err(format!(
            "status {} (expected 0), stdout {:?} (expected {:?}), stderr {:?}",
            ran.report.shell_status(),
            ran.stdout,
            expected,
            ran.stderr
        ));
    }
    Ok(())
}

/// The container's changes as `diff` lines (`C /etc`, `A /tmp/x`).
fn diff_of(container: &str) -> Result<Vec<String>, String> {
    let union = manager()?
        .container(container)
        .map_err(|errno| format!("container {container}: {errno}"))?;
    let changes = union.diff().map_err(|errno| format!("diff: {errno}"))?;
    Ok(changes
        .iter()
        .map(|change| format!("{} {}", change.kind.letter(), change.path))
        .collect())
}

fn expect_diff(container: &str, expected: &[&str]) -> Result<(), String> {
    let diff = diff_of(container)?;
    if diff != expected {
        return Err(format!("diff {diff:?}, expected {expected:?}"));
    }
    Ok(())
}

/// The bytes of `path` as the image's layers hold it (a container of the image with nothing
/// changed shows exactly the layers).
fn image_file(path: &str) -> Result<Vec<u8>, String> {
    let manager = manager()?;
    let container = fresh_name("look");
    let union = manager
        .run(IMAGE, &container)
        .map_err(|errno| format!("run: {errno}"))?;
    let union: alloc::sync::Arc<dyn FileSystem> = union;
    let bytes = read_file(&union, path);
    let _ = manager.remove_container(&container);
    bytes
}

fn read_file(root: &alloc::sync::Arc<dyn FileSystem>, path: &str) -> Result<Vec<u8>, String> {
    let namespace = Namespace::with_filesystem(root.clone());
    let mut file = namespace
        .open(&Credentials::root(), path, OpenFlags::READ, 0)
        .map_err(|errno| format!("open {path}: {errno}"))?;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let read = file
            .read(&mut buf)
            .map_err(|errno| format!("read {path}: {errno}"))?;
        if read == 0 {
            return Ok(bytes);
        }
        bytes.extend_from_slice(&buf[..read]);
    }
}

fn busybox_echo_redirect_and_cat() -> Result<(), String> {
    let ran = sh("echo hello > /tmp/x; echo world >> /tmp/x; cat /tmp/x")?;
    expect_output(&ran, "hello\nworld\n")?;
    expect_diff(&ran.container, &["C /tmp", "A /tmp/x"])
}

fn busybox_append_to_lower_file_copies_it_up() -> Result<(), String> {
    let before = image_file("/etc/motd")?;
    let ran = sh("echo appended >> /etc/motd; cat /etc/motd")?;
    let mut expected = String::from_utf8_lossy(&before).into_owned();
    expected.push_str("appended\n");
    expect_output(&ran, &expected)?;
    expect_diff(&ran.container, &["C /etc", "C /etc/motd"])?;
    let after = image_file("/etc/motd")?;
    if after != before {
        return Err(String::from("the image layer's /etc/motd changed"));
    }
    Ok(())
}

fn busybox_rm_of_lower_file_leaves_whiteout() -> Result<(), String> {
    let ran = sh("rm /data/a && ls /data; cat /data/a; echo status $?")?;
    let expected = "b\ndir\nstatus 1\n";
    if ran.stdout != expected || !ran.stderr.contains("No such file or directory") {
        return Err(format!(
            "stdout {:?} (expected {expected:?}), stderr {:?}",
            ran.stdout, ran.stderr
        ));
    }
    expect_diff(&ran.container, &["C /data", "D /data/a"])?;
    image_file("/data/a").map(|_| ())
}

fn busybox_file_applets_mkdir_mv_cp_ln_chmod() -> Result<(), String> {
    let ran = sh(
        "mkdir -p /x/y/z && echo one > /x/y/z/f && mv /x/y/z/f /x/g \
         && cp -a /data/b /x/b && ln -s /x/g /x/l && chmod 600 /x/g \
         && cat /x/l && stat -c '%A %u %g %n' /x/* && find /x | sort",
    )?;
    let expected = "one\n\
        -rw-r--r-- 0 0 /x/b\n\
        -rw------- 0 0 /x/g\n\
        lrwxrwxrwx 0 0 /x/l\n\
        drwxr-xr-x 0 0 /x/y\n\
        /x\n/x/b\n/x/g\n/x/l\n/x/y\n/x/y/z\n";
    expect_output(&ran, expected)?;
    expect_diff(
        &ran.container,
        &["A /x", "A /x/b", "A /x/g", "A /x/l", "A /x/y", "A /x/y/z"],
    )
}

fn busybox_pipes_and_exit_statuses() -> Result<(), String> {
    let ran = sh("printf 'b\\na\\nc\\n' | sort | head -2; \
         echo one two three | wc -w; \
         grep -c root /etc/passwd; \
         false; echo false $?; \
         sh -c 'exit 7'; echo exit $?; \
         ls /missing 2>/dev/null; echo ls $?")?;
    expect_output(&ran, "a\nb\n3\n1\nfalse 1\nexit 7\nls 1\n")?;
    expect_diff(&ran.container, &[])
}

fn busybox_second_container_sees_none_of_the_first() -> Result<(), String> {
    let first = sh("echo first > /etc/motd; rm /data/b; mkdir /new")?;
    expect_output(&first, "")?;
    let second = sh("cat /etc/motd; ls /data; ls -d /new 2>&1")?;
    let motd = String::from_utf8_lossy(&image_file("/etc/motd")?).into_owned();
    let expected = format!("{motd}a\nb\ndir\nls: /new: No such file or directory\n");
    if second.stdout != expected {
        return Err(format!(
            "second container saw {:?}, expected {expected:?}",
            second.stdout
        ));
    }
    expect_diff(&second.container, &[])
}

fn busybox_commit_then_run_shows_the_changes() -> Result<(), String> {
    let manager = manager()?;
    let first = sh("echo committed > /etc/motd && rm /data/a && mkdir -p /srv/app")?;
    expect_output(&first, "")?;
    let image = fresh_name("committed");
    manager
        .commit(&first.container, &image)
        .map_err(|errno| format!("commit: {errno}"))?;
    let ran = run_in(
        &image,
        &["/bin/sh", "-c", "cat /etc/motd; ls /data; ls -d /srv/app"],
        LIMIT_SECONDS,
    )?;
    expect_output(&ran, "committed\nb\ndir\n/srv/app\n")?;
    expect_diff(&ran.container, &[])
}

fn busybox_proc_and_dev_are_mounted_not_in_the_image() -> Result<(), String> {
    let ran = sh(
        "readlink /proc/self/exe; echo x > /dev/null; head -c 4 /dev/zero | wc -c; \
         ls /proc/self/fd | sort; cd /etc && readlink /proc/self/cwd; \
         grep -c MemTotal /proc/meminfo",
    )?;
    expect_output(&ran, "/bin/busybox\n4\n0\n1\n2\n3\n/etc\n1\n")?;
    expect_diff(&ran.container, &[])
}

fn busybox_signal_handler_runs_and_kill_ends_a_child() -> Result<(), String> {
    // The shell's handler for SIGINT runs (a frame on its stack, then rt_sigreturn); SIGTERM
    // ends a child (status 128 + 15), which `wait` reports.
    let ran = sh("trap 'echo caught INT' INT; kill -INT $$; echo after; \
         sleep 30 & kill -TERM $!; wait $!; echo child $?")?;
    expect_output(&ran, "caught INT\nafter\nchild 143\n")
}

// ---- Tiny programs for the error paths ----

/// `neg eax; mov edi, eax; mov eax, 60; syscall`: exits with the last call's errno.
const EXIT_WITH_ERRNO: &[u8] = &[0xf7, 0xd8, 0x89, 0xc7, 0xb8, 60, 0, 0, 0, 0x0f, 0x05];

/// Writes `bytes` as the file `path` (mode `mode`) in `container`.
fn put_file(container: &str, path: &str, bytes: &[u8], mode: u16) -> Result<(), String> {
    let union = manager()?
        .container(container)
        .map_err(|errno| format!("container: {errno}"))?;
    let union: alloc::sync::Arc<dyn FileSystem> = union;
    let namespace = Namespace::with_filesystem(union);
    let root = Credentials::root();
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
    let mut file = namespace
        .open(&root, path, flags, mode)
        .map_err(|errno| format!("create {path}: {errno}"))?;
    file.write_all(bytes)
        .map_err(|errno| format!("write {path}: {errno}"))?;
    namespace
        .chmod(&root, path, mode)
        .map_err(|errno| format!("chmod {path}: {errno}"))
}

/// Runs the tiny program `code` as `/tmp/prog` in a fresh BusyBox container.
fn run_tiny(code: &[u8], limit_seconds: u64) -> Result<Ran, String> {
    let manager = manager()?;
    let container = fresh_name("tiny");
    manager
        .run(IMAGE, &container)
        .map_err(|errno| format!("run: {errno}"))?;
    put_file(&container, "/tmp/prog", &tiny_program::elf(code), 0o755)?;
    start(manager, &container, &["/tmp/prog"], limit_seconds)
}

fn expect_status(ran: &Ran, status: u8, what: &str) -> Result<(), String> {
    if ran.report.shell_status() != status {
        return Err(format!(
            "{what}: status {} (expected {status}), stderr {:?}",
            ran.report.shell_status(),
            ran.stderr
        ));
    }
    Ok(())
}

fn program_that_segfaults_ends_with_status_139() -> Result<(), String> {
    // mov dword [0], 0
    let ran = run_tiny(&[0xc7, 0x04, 0x25, 0, 0, 0, 0, 0, 0, 0, 0], LIMIT_SECONDS)?;
    expect_status(&ran, 139, "a write to address 0")?;
    // The shell sees the same status and goes on.
    let manager = manager()?;
    let container = fresh_name("segv");
    manager
        .run(IMAGE, &container)
        .map_err(|errno| format!("run: {errno}"))?;
    put_file(
        &container,
        "/tmp/prog",
        &tiny_program::elf(&[0xc7, 0x04, 0x25, 0, 0, 0, 0, 0, 0, 0, 0]),
        0o755,
    )?;
    let ran = start(
        manager,
        &container,
        &["/bin/sh", "-c", "/tmp/prog; echo status $?"],
        LIMIT_SECONDS,
    )?;
    if !ran.stdout.ends_with("status 139\n") {
        return Err(format!("sh printed {:?}", ran.stdout));
    }
    Ok(())
}

/// A tiny program that calls `execve(path, NULL, NULL)` and exits with the errno it got.
fn execve_program(path: &str) -> Vec<u8> {
    let mut code = vec![0x48, 0x8d, 0x3d, 0, 0, 0, 0]; // lea rdi, [rip + path]
    code.extend_from_slice(&[0x31, 0xf6, 0x31, 0xd2, 0xb8, 59, 0, 0, 0, 0x0f, 0x05]);
    code.extend_from_slice(EXIT_WITH_ERRNO);
    let path_at = code.len() as i32 - 7;
    code[3..7].copy_from_slice(&path_at.to_le_bytes());
    code.extend_from_slice(path.as_bytes());
    code.push(0);
    code
}

/// Runs [`execve_program`] for `path` in a container where `files` were written first.
fn execve_errno(path: &str, files: &[(&str, &[u8], u16)]) -> Result<u8, String> {
    let manager = manager()?;
    let container = fresh_name("exec");
    manager
        .run(IMAGE, &container)
        .map_err(|errno| format!("run: {errno}"))?;
    for (file, bytes, mode) in files {
        put_file(&container, file, bytes, *mode)?;
    }
    put_file(
        &container,
        "/tmp/prog",
        &tiny_program::elf(&execve_program(path)),
        0o755,
    )?;
    let ran = start(manager, &container, &["/tmp/prog"], LIMIT_SECONDS)?;
    Ok(ran.report.shell_status())
}

fn exec_of_non_elf_file_is_enoexec() -> Result<(), String> {
    let not_elf: &[u8] = b"\x01\x02 not a program\n";
    let errno = execve_errno("/tmp/notelf", &[("/tmp/notelf", not_elf, 0o755)])?;
    if errno != 8 {
        return Err(format!(
            "execve of a non-ELF file: errno {errno}, expected ENOEXEC (8)"
        ));
    }
    // Nor can it be a container's own program: the launch reports ENOEXEC.
    let manager = manager()?;
    let container = fresh_name("noexec");
    manager
        .run(IMAGE, &container)
        .map_err(|errno| format!("run: {errno}"))?;
    put_file(&container, "/tmp/notelf", not_elf, 0o755)?;
    match start(manager, &container, &["/tmp/notelf"], LIMIT_SECONDS) {
        Err(why) if why.contains("ENOEXEC") => Ok(()),
        Err(why) => Err(format!("launch failed with {why:?}, expected ENOEXEC")),
        Ok(_) => Err(String::from("a non-ELF file started")),
    }
}

fn exec_of_missing_program_is_enoent() -> Result<(), String> {
    let errno = execve_errno("/no/such/program", &[])?;
    if errno != 2 {
        return Err(format!(
            "execve of a missing file: errno {errno}, expected ENOENT (2)"
        ));
    }
    match run_in(IMAGE, &["/no/such/program"], LIMIT_SECONDS) {
        Err(why) if why.contains("ENOENT") => {}
        Err(why) => return Err(format!("launch failed with {why:?}, expected ENOENT")),
        Ok(_) => return Err(String::from("a missing program started")),
    }
    let ran = sh("/no/such/program; echo status $?")?;
    if ran.stdout != "status 127\n" || !ran.stderr.contains("not found") {
        return Err(format!("stdout {:?}, stderr {:?}", ran.stdout, ran.stderr));
    }
    Ok(())
}

fn exec_without_execute_permission_is_eacces() -> Result<(), String> {
    let program = tiny_program::elf(&[0x31, 0xff, 0xb8, 60, 0, 0, 0, 0x0f, 0x05]);
    let errno = execve_errno("/tmp/noexec", &[("/tmp/noexec", &program, 0o644)])?;
    if errno != 13 {
        return Err(format!(
            "execve of a mode 0644 file: errno {errno}, expected EACCES (13)"
        ));
    }
    Ok(())
}

fn unknown_system_call_is_enosys() -> Result<(), String> {
    // mov eax, 999 (no such call on x86_64); syscall; exit(-rax)
    let mut code = vec![0xb8, 0xe7, 0x03, 0, 0, 0x0f, 0x05];
    code.extend_from_slice(EXIT_WITH_ERRNO);
    let ran = run_tiny(&code, LIMIT_SECONDS)?;
    expect_status(&ran, 38, "system call 335")
}

fn bad_pointers_to_read_write_stat_are_efault() -> Result<(), String> {
    // write(1, 0x10, 5)
    let mut write = vec![
        0xbf, 1, 0, 0, 0, 0xbe, 0x10, 0, 0, 0, 0xba, 5, 0, 0, 0, 0xb8, 1, 0, 0, 0, 0x0f, 0x05,
    ];
    write.extend_from_slice(EXIT_WITH_ERRNO);
    expect_status(&run_tiny(&write, LIMIT_SECONDS)?, 14, "write from 0x10")?;
    // stat(0x10, 0x10)
    let mut stat = vec![
        0xbf, 0x10, 0, 0, 0, 0xbe, 0x10, 0, 0, 0, 0xb8, 4, 0, 0, 0, 0x0f, 0x05,
    ];
    stat.extend_from_slice(EXIT_WITH_ERRNO);
    expect_status(&run_tiny(&stat, LIMIT_SECONDS)?, 14, "stat of path 0x10")?;
    // fd = open("/etc/passwd", O_RDONLY); read(fd, 0x10, 100)
    let mut read = vec![0x48, 0x8d, 0x3d, 0, 0, 0, 0]; // lea rdi, [rip + string]
    read.extend_from_slice(&[0x31, 0xf6, 0xb8, 2, 0, 0, 0, 0x0f, 0x05]); // xor esi; open
    read.extend_from_slice(&[
        0x89, 0xc7, 0xbe, 0x10, 0, 0, 0, 0xba, 100, 0, 0, 0, 0x31, 0xc0, 0x0f, 0x05,
    ]); // mov edi, eax; read(edi, 0x10, 100)
    read.extend_from_slice(EXIT_WITH_ERRNO);
    let string_at = read.len() as i32 - 7;
    read[3..7].copy_from_slice(&string_at.to_le_bytes());
    read.extend_from_slice(b"/etc/passwd\0");
    expect_status(&run_tiny(&read, LIMIT_SECONDS)?, 14, "read into 0x10")
}

fn program_that_never_exits_is_ended_at_its_limit() -> Result<(), String> {
    // jmp $
    let ran = run_tiny(&[0xeb, 0xfe], 1)?;
    if !ran.report.timed_out {
        return Err(String::from("the run was not cut short"));
    }
    expect_status(&ran, 128 + 9, "a program that loops")
}

/// The image with `WORKDIR /data`, `USER nobody`, `ENTRYPOINT ["/bin/sh", "-c"]` and a `CMD`
/// script (rootfs/busybox-app.build).
const APP_IMAGE: &str = "busybox-app";

fn image_config_user_workdir_entrypoint_are_honoured() -> Result<(), String> {
    // No command: the image's Cmd, a script, runs under its Entrypoint `sh -c`, as nobody
    // (65534:65534 from the image's /etc/passwd), in /data; nobody cannot write there.
    let ran = run_in(APP_IMAGE, &[], LIMIT_SECONDS)?;
    expect_output(
        &ran,
        "65534:65534 in /data\ntouch: /data/mine: Permission denied\n1\n",
    )?;
    expect_diff(&ran.container, &[])
}

fn command_replaces_cmd_not_entrypoint() -> Result<(), String> {
    // `docker run busybox-app 'echo given'`: the command is the argument of `sh -c`.
    let ran = run_in(APP_IMAGE, &["echo given; id -un; pwd"], LIMIT_SECONDS)?;
    expect_output(&ran, "given\nnobody\n/data\n")
}
