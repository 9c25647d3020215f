//! The same file and path calls made through the crate, over a union, and on Linux itself
//! (through `std`, on a temporary directory holding the same tree): each call must succeed
//! or fail alike, with the same errno, the same `stat` fields that do not depend on the
//! machine (type, permission bits, size of files and symlinks, link count of files), and
//! both trees must end up holding the same names.
//!
//! Only cases a temporary directory can show are here: no permission checks (the host test
//! may not run as root), no `/`-level names.

mod fs_support;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use fs_support::World;
use linux_raw_sys::general::*;

/// One call, with paths relative to the tree's root.
#[derive(Clone, Debug)]
enum Op {
    Mkdir(&'static str, u32),
    /// `open(path, flags, 0o666)` then close.
    Open(&'static str, u32),
    /// `open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)`, write, close.
    Write(&'static str, &'static str),
    /// `open(path, O_WRONLY | O_APPEND)`, write, close.
    Append(&'static str, &'static str),
    Read(&'static str),
    Unlink(&'static str),
    Rmdir(&'static str),
    Rename(&'static str, &'static str),
    Symlink(&'static str, &'static str),
    Readlink(&'static str),
    Link(&'static str, &'static str),
    Truncate(&'static str, u64),
    Chmod(&'static str, u32),
    Stat(&'static str),
    Lstat(&'static str),
}

/// What a call gave: an errno, or what it returned that both sides can compare.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Errno(i32),
    Done,
    Bytes(Vec<u8>),
    /// `st_mode`, the size of a file or symlink (`None` for others), the link count of a
    /// file (`None` for others).
    Stat(u32, Option<u64>, Option<u64>),
}

fn script() -> Vec<Op> {
    use Op::*;
    vec![
        Stat("etc/hostname"),
        Read("etc/hostname"),
        Mkdir("etc", 0o755),
        Mkdir("new", 0o750),
        Mkdir("new/a/b", 0o755),
        Mkdir("new/", 0o755),
        Stat("new"),
        Write("new/f", "hello"),
        Stat("new/f"),
        Open("new/f", O_RDONLY | O_CREAT | O_EXCL),
        Open("new/f", O_RDONLY | O_DIRECTORY),
        Open("new/f/", O_RDONLY),
        Open("new", O_WRONLY),
        Open("new/missing", O_RDONLY),
        Open("new/missing/x", O_RDONLY | O_CREAT),
        Open("new/f/x", O_RDONLY),
        Open("new/dir/", O_WRONLY | O_CREAT),
        Append("new/f", ", world"),
        Read("new/f"),
        Append("new/none", "x"),
        Rmdir("new"),
        Unlink("new"),
        Rmdir("new/f"),
        Rmdir("new/."),
        Unlink("etc/hostname"),
        Stat("etc/hostname"),
        Unlink("etc/hostname"),
        Rename("data/a", "new/a-moved"),
        Read("new/a-moved"),
        Stat("data/a"),
        Rename("data/missing", "new/x"),
        Rename("new", "new/sub"),
        Rename("data/b", "data/sub"),
        Rename("data/sub", "data/c"),
        Rename("data/c", "data/c"),
        Symlink("../etc/motd", "data/motd"),
        Readlink("data/motd"),
        Read("data/motd"),
        Lstat("data/motd"),
        Stat("data/motd"),
        Symlink("x", "data/motd"),
        Symlink("nowhere", "data/dangling"),
        Stat("data/dangling"),
        Lstat("data/dangling"),
        Open("data/dangling", O_RDONLY),
        Open("data/motd", O_RDONLY | O_NOFOLLOW),
        Readlink("data/c"),
        Readlink("data/none"),
        Link("data/c", "data/c2"),
        Stat("data/c"),
        Link("data/sub", "data/sub2"),
        Link("data/c", "data/b"),
        Link("data/none", "data/n2"),
        Truncate("data/c", 1),
        Read("data/c2"),
        Truncate("data/sub", 0),
        Chmod("data/c", 0o600),
        Stat("data/c2"),
        Chmod("data/none", 0o600),
        Write("data/sub/../fresh", "f"),
        Read("data/./fresh"),
        Mkdir("data/sub/deeper", 0o700),
        Rmdir("data/sub/deeper/"),
        Rmdir("data/sub"),
        Unlink("data/sub/deep"),
        Rmdir("data/sub"),
        Stat("data/sub"),
        Unlink("bin/sh"),
        Stat("bin/busybox"),
    ]
}

/// Our side: the union of `fs_support::LOWER`.
fn run_ours(world: &mut World, op: &Op) -> Outcome {
    let at = |path: &str| format!("/{path}");
    let result = match op.clone() {
        Op::Mkdir(path, mode) => {
            let path = world.str(&at(path));
            world
                .call(__NR_mkdir, &[path, u64::from(mode)])
                .map(|_| Outcome::Done)
        }
        Op::Open(path, flags) => world.open(&at(path), flags, 0o666).and_then(|fd| {
            world.call(__NR_close, &[fd])?;
            Ok(Outcome::Done)
        }),
        Op::Write(path, text) => world
            .create(&at(path), text.as_bytes())
            .map(|_| Outcome::Done),
        Op::Append(path, text) => world
            .open(&at(path), O_WRONLY | O_APPEND, 0)
            .and_then(|fd| {
                world.write(fd, text.as_bytes())?;
                world.call(__NR_close, &[fd])?;
                Ok(Outcome::Done)
            }),
        Op::Read(path) => world.cat(&at(path)).map(Outcome::Bytes),
        Op::Unlink(path) => {
            let path = world.str(&at(path));
            world.call(__NR_unlink, &[path]).map(|_| Outcome::Done)
        }
        Op::Rmdir(path) => {
            let path = world.str(&at(path));
            world.call(__NR_rmdir, &[path]).map(|_| Outcome::Done)
        }
        Op::Rename(old, new) => {
            let (old, new) = (world.str(&at(old)), world.str(&at(new)));
            world.call(__NR_rename, &[old, new]).map(|_| Outcome::Done)
        }
        Op::Symlink(target, path) => {
            let (target, path) = (world.str(target), world.str(&at(path)));
            world
                .call(__NR_symlink, &[target, path])
                .map(|_| Outcome::Done)
        }
        Op::Readlink(path) => {
            let path = world.str(&at(path));
            let buf = world.alloc(256);
            world
                .call(__NR_readlink, &[path, buf, 256])
                .map(|len| Outcome::Bytes(world.peek(buf, len as usize)))
        }
        Op::Link(old, new) => {
            let (old, new) = (world.str(&at(old)), world.str(&at(new)));
            world.call(__NR_link, &[old, new]).map(|_| Outcome::Done)
        }
        Op::Truncate(path, len) => {
            let path = world.str(&at(path));
            world
                .call(__NR_truncate, &[path, len])
                .map(|_| Outcome::Done)
        }
        Op::Chmod(path, mode) => {
            let path = world.str(&at(path));
            world
                .call(__NR_chmod, &[path, u64::from(mode)])
                .map(|_| Outcome::Done)
        }
        Op::Stat(path) => world
            .stat(&at(path))
            .map(|s| stat_outcome(s.mode, s.size as u64, s.nlink)),
        Op::Lstat(path) => world
            .lstat(&at(path))
            .map(|s| stat_outcome(s.mode, s.size as u64, s.nlink)),
    };
    result.unwrap_or_else(|errno| Outcome::Errno(i32::from(errno.code())))
}

/// The fields of a `stat` both sides can compare.
fn stat_outcome(mode: u32, size: u64, nlink: u64) -> Outcome {
    let kind = mode & S_IFMT;
    let size = (kind == S_IFREG || kind == S_IFLNK).then_some(size);
    let nlink = (kind == S_IFREG).then_some(nlink);
    Outcome::Stat(mode, size, nlink)
}

/// Linux's side, on the tree under `root`.
fn run_linux(root: &Path, op: &Op) -> Outcome {
    let at = |path: &str| {
        let mut joined = root.as_os_str().to_owned();
        joined.push("/");
        joined.push(path);
        PathBuf::from(joined)
    };
    let result: std::io::Result<Outcome> = (|| match op.clone() {
        Op::Mkdir(path, mode) => {
            fs::DirBuilder::new().mode(mode).create(at(path))?;
            Ok(Outcome::Done)
        }
        Op::Open(path, flags) => {
            let mut options = fs::OpenOptions::new();
            match flags & O_ACCMODE {
                O_RDONLY => options.read(true),
                O_WRONLY => options.write(true),
                _ => options.read(true).write(true),
            };
            let writes = flags & O_ACCMODE != O_RDONLY;
            if writes && flags & O_CREAT != 0 && flags & O_EXCL != 0 {
                options.create_new(true);
            } else if writes && flags & O_CREAT != 0 {
                options.create(true);
            }
            // `std` refuses O_CREAT with read-only access itself; pass it raw instead.
            let raw =
                flags & (O_DIRECTORY | O_NOFOLLOW | O_CREAT | O_EXCL) & !options_creates(flags);
            options.custom_flags(raw as i32).mode(0o666);
            options.open(at(path))?;
            Ok(Outcome::Done)
        }
        Op::Write(path, text) => {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o644)
                .open(at(path))?;
            file.write_all(text.as_bytes())?;
            Ok(Outcome::Done)
        }
        Op::Append(path, text) => {
            let mut file = fs::OpenOptions::new().append(true).open(at(path))?;
            file.write_all(text.as_bytes())?;
            Ok(Outcome::Done)
        }
        Op::Read(path) => {
            let mut content = Vec::new();
            fs::File::open(at(path))?.read_to_end(&mut content)?;
            Ok(Outcome::Bytes(content))
        }
        Op::Unlink(path) => fs::remove_file(at(path)).map(|_| Outcome::Done),
        Op::Rmdir(path) => fs::remove_dir(at(path)).map(|_| Outcome::Done),
        Op::Rename(old, new) => fs::rename(at(old), at(new)).map(|_| Outcome::Done),
        Op::Symlink(target, path) => {
            std::os::unix::fs::symlink(target, at(path)).map(|_| Outcome::Done)
        }
        Op::Readlink(path) => {
            let target = fs::read_link(at(path))?;
            Ok(Outcome::Bytes(target.into_os_string().into_encoded_bytes()))
        }
        Op::Link(old, new) => fs::hard_link(at(old), at(new)).map(|_| Outcome::Done),
        Op::Truncate(path, len) => {
            let file = fs::OpenOptions::new().write(true).open(at(path))?;
            file.set_len(len)?;
            Ok(Outcome::Done)
        }
        Op::Chmod(path, mode) => {
            fs::set_permissions(at(path), fs::Permissions::from_mode(mode))?;
            Ok(Outcome::Done)
        }
        Op::Stat(path) => {
            let meta = fs::metadata(at(path))?;
            Ok(stat_outcome(meta.mode(), meta.size(), meta.nlink()))
        }
        Op::Lstat(path) => {
            let meta = fs::symlink_metadata(at(path))?;
            Ok(stat_outcome(meta.mode(), meta.size(), meta.nlink()))
        }
    })();
    result.unwrap_or_else(|error| Outcome::Errno(error.raw_os_error().expect("an OS error")))
}

/// The flags `OpenOptions` already sets itself for `flags` (so they are not passed twice).
fn options_creates(flags: u32) -> u32 {
    if flags & O_ACCMODE == O_RDONLY {
        // std refuses `create` without write access: O_CREAT goes raw.
        0
    } else {
        flags & (O_CREAT | O_EXCL)
    }
}

/// Builds `fs_support::LOWER` under `root`, with its modes.
fn build_tree(root: &Path) {
    for entry in fs_support::LOWER {
        let path = |p: &str| root.join(p.trim_start_matches('/'));
        if let Some(dir) = entry.strip_suffix('/') {
            fs::DirBuilder::new().create(path(dir)).unwrap();
            fs::set_permissions(path(dir), fs::Permissions::from_mode(0o755)).unwrap();
        } else if let Some((link, target)) = entry.split_once("->") {
            std::os::unix::fs::symlink(target, path(link)).unwrap();
        } else {
            let (file, content) = entry.split_once('=').unwrap();
            fs::write(path(file), content).unwrap();
            fs::set_permissions(path(file), fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

/// The host's umask, found by creating a file with mode 0777.
fn host_umask(dir: &Path) -> u32 {
    let probe = dir.join("umask-probe");
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o777)
        .open(&probe)
        .unwrap();
    let mode = fs::metadata(&probe).unwrap().mode() & 0o777;
    fs::remove_file(&probe).unwrap();
    0o777 & !mode
}

/// A fresh empty directory for this test.
fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("overlay-syscalls-diff-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every path under `dir`, with a letter for its kind, sorted.
fn linux_tree(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let kind = entry.file_type().unwrap();
        let path = format!("{prefix}/{name}");
        let letter = if kind.is_dir() {
            'd'
        } else if kind.is_symlink() {
            'l'
        } else {
            'f'
        };
        out.push(format!("{letter} {path}"));
        if kind.is_dir() {
            linux_tree(&entry.path(), &path, out);
        }
    }
}

/// The same for the union, through `getdents64`.
fn our_tree(world: &mut World, dir: &str, out: &mut Vec<String>) {
    let fd = world
        .open(
            if dir.is_empty() { "/" } else { dir },
            O_RDONLY | O_DIRECTORY,
            0,
        )
        .unwrap();
    let entries = world.list_fd(fd, 256).unwrap();
    world.call(__NR_close, &[fd]).unwrap();
    for entry in entries {
        if entry.name == "." || entry.name == ".." {
            continue;
        }
        let path = format!("{dir}/{}", entry.name);
        let letter = match u32::from(entry.kind) {
            DT_DIR => 'd',
            DT_LNK => 'l',
            _ => 'f',
        };
        out.push(format!("{letter} {path}"));
        if letter == 'd' {
            our_tree(world, &path, out);
        }
    }
}

#[test]
fn the_same_calls_give_the_same_results_as_on_linux() {
    let dir = temp_dir();
    let root = dir.join("root");
    fs::create_dir(&root).unwrap();
    build_tree(&root);
    let mut world = World::new();
    world.process.fs.set_umask(host_umask(&dir) as u16);
    let mut differences = Vec::new();
    let mut failures = 0;
    for op in script() {
        let ours = run_ours(&mut world, &op);
        let linux = run_linux(&root, &op);
        failures += usize::from(matches!(linux, Outcome::Errno(_)));
        if ours != linux {
            differences.push(format!("{op:?}: ours {ours:?}, Linux {linux:?}"));
        }
    }
    let mut ours = Vec::new();
    our_tree(&mut world, "", &mut ours);
    let mut linux = Vec::new();
    linux_tree(&root, "", &mut linux);
    ours.sort();
    linux.sort();
    let _ = fs::remove_dir_all(&dir);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert!(
        failures >= 30,
        "the script exercises errors ({failures} failed)"
    );
    assert_eq!(ours, linux);
}
