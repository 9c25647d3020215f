//! The shell end to end: scripts over a tmpfs, their output compared exactly.

use alloc::{string::String, sync::Arc, vec, vec::Vec};

use super::*;
use crate::posix::Namespace;
use crate::tmpfs::{TmpFs, TmpFsOptions};
use crate::vfs::FileSystem;

fn shell(union: Option<Arc<dyn UnionView>>) -> Shell {
    let filesystem: Arc<dyn FileSystem> = TmpFs::new(TmpFsOptions::default());
    Shell::new(Namespace::with_filesystem(filesystem), union)
}

fn run(shell: &mut Shell, script: &str) -> String {
    let mut out = String::new();
    shell.run_script(script, &mut out).unwrap();
    out
}

fn lines(text: &str) -> String {
    let mut joined = String::new();
    for line in text
        .lines()
        .map(str::trim_start)
        .filter(|line| !line.is_empty())
    {
        joined.push_str(line);
        joined.push('\n');
    }
    joined
}

#[test]
fn tree_prints_every_entry_sorted_with_digests() {
    let mut shell = shell(None);
    let out = run(
        &mut shell,
        r#"
        # a small tree with every kind of entry
        mkdir /etc
        write /etc/config "key=value\n"
        ln -s config /etc/link
        mkdir /dev
        mknod /dev/null c 1 3
        mknod /dev/sda b 8 0
        mknod /run p
        create /etc/empty
        chmod 4755 /etc/empty
        mkdir /etc-old
        tree
        "#,
    );
    assert_eq!(
        out,
        lines(
            "d 0755 0:0 - - /
             d 0755 0:0 - - /dev
             c 0644 0:0 - 1:3 /dev/null
             b 0644 0:0 - 8:0 /dev/sda
             d 0755 0:0 - - /etc
             d 0755 0:0 - - /etc-old
             f 0644 0:0 10 d5c5f09b69f25bf5 /etc/config
             f 4755 0:0 0 e3b0c44298fc1c14 /etc/empty
             l 0777 0:0 6 b79606fb3afea5bd /etc/link
             p 0644 0:0 - - /run
             "
        )
    );
    assert_eq!(
        run(&mut shell, "tree /etc/\ntree /etc/link"),
        lines(
            "d 0755 0:0 - - /etc
             f 0644 0:0 10 d5c5f09b69f25bf5 /etc/config
             f 4755 0:0 0 e3b0c44298fc1c14 /etc/empty
             l 0777 0:0 6 b79606fb3afea5bd /etc/link
             l 0777 0:0 6 b79606fb3afea5bd /etc/link
             "
        )
    );
    assert_eq!(shell.failures(), 0);
}

#[test]
fn ls_lists_names_sorted_or_the_path_itself() {
    let mut shell = shell(None);
    let out = run(
        &mut shell,
        "mkdir /d
         write /d/b hello
         write /d/a \"\"
         mkdir /d/C
         ln -s /d /link
         ls /d
         ls /d/b
         ls /link
         ls -l /d
         ls -l /link
         ls -l /d/b",
    );
    assert_eq!(
        out,
        lines(
            "C
             a
             b
             /d/b
             C
             a
             b
             d 0755 0:0 - - C
             f 0644 0:0 0 e3b0c44298fc1c14 a
             f 0644 0:0 5 2cf24dba5fb0a30e b
             l 0777 0:0 2 4823e769dbaf8fb9 /link
             f 0644 0:0 5 2cf24dba5fb0a30e /d/b
             "
        )
    );
}

#[test]
fn cat_write_append_writeat_and_escapes() {
    let mut shell = shell(None);
    let out = run(
        &mut shell,
        r#"write /f ":xxx:yyy:zzz"
           writeat /f 0 q
           cat /f
           append /f "\tend\n"
           cat /f
           write /g "a\x41\\b"
           cat /g
           write /f ""
           cat /f
           writeat /f 3 x
           stat /f
           "#,
    );
    assert_eq!(
        out,
        String::from("qxxx:yyy:zzz\nqxxx:yyy:zzz\tend\naA\\b\n") + &stat_of(&mut shell, "/f")
    );
    assert_eq!(run(&mut shell, "cat /f"), "\0\0\0x\n");
}

fn stat_of(shell: &mut Shell, path: &str) -> String {
    let metadata = shell.namespace().lstat(&Credentials::root(), path).unwrap();
    alloc::format!(
        "f 0644 0:0 size={} nlink=1 ino={} layer=- {path}\n",
        metadata.size,
        metadata.ino
    )
}

#[test]
fn stat_prints_one_line_without_following() {
    let mut shell = shell(None);
    run(
        &mut shell,
        "mkdir /d\nln -s /d /l\nmknod /null c 1 3\nwrite /f 12345",
    );
    let ino = |path: &str| {
        shell
            .namespace()
            .lstat(&Credentials::root(), path)
            .unwrap()
            .ino
    };
    let (d, l, null, f) = (ino("/d"), ino("/l"), ino("/null"), ino("/f"));
    let out = run(&mut shell, "stat /d\nstat /l\nstat /null\nstat /f");
    assert_eq!(
        out,
        alloc::format!(
            "d 0755 0:0 size={} nlink=2 ino={d} layer=- /d\n\
             l 0777 0:0 size=2 nlink=1 ino={l} layer=- /l\n\
             c 0644 0:0 size=0 nlink=1 ino={null} rdev=1:3 layer=- /null\n\
             f 0644 0:0 size=5 nlink=1 ino={f} layer=- /f\n",
            shell
                .namespace()
                .lstat(&Credentials::root(), "/d")
                .unwrap()
                .size
        )
    );
}

#[test]
fn errors_print_one_line_and_the_shell_goes_on() {
    let mut shell = shell(None);
    let out = run(
        &mut shell,
        "cat /missing
         frobnicate
         write /f \"unterminated
         write /f \\q
           mkdir /d   
         mkdir /d
         rm /d
         rmdir /
         append /nope x
         layers
         diff
         readlink /d
         chmod 9 /d
         ln /d /e
         write /d/f ok
         cat /d/f",
    );
    assert_eq!(
        out,
        lines(
            "error: ENOENT: cat /missing
             error: EINVAL: frobnicate
             error: EINVAL: write /f \"unterminated
             error: EINVAL: write /f \\q
             error: EEXIST: mkdir /d
             error: EISDIR: rm /d
             error: EBUSY: rmdir /
             error: ENOENT: append /nope x
             error: ENOTSUP: layers
             error: ENOTSUP: diff
             error: EINVAL: readlink /d
             error: EINVAL: chmod 9 /d
             error: EPERM: ln /d /e
             ok
             "
        )
    );
    assert_eq!(shell.failures(), 13);
    assert_eq!(shell.last_error(), Some(Errno::EPERM));
}

#[test]
fn su_switches_credentials_but_tree_runs_as_root() {
    let mut shell = shell(None);
    let out = run(
        &mut shell,
        "mkdir /secret
         chmod 700 /secret
         write /secret/f x
         write /public root
         chmod 777 /
         su 1000 100
         write /mine data
         ls /secret
         cat /secret/f
         write /public user
         chmod 777 /public
         mkdir /secret/x
         tree /secret
         su 0 0
         chown 5:6 /mine
         stat /mine",
    );
    let ino = shell
        .namespace()
        .lstat(&Credentials::root(), "/mine")
        .unwrap()
        .ino;
    assert_eq!(
        out,
        lines(&alloc::format!(
            "error: EACCES: ls /secret
             error: EACCES: cat /secret/f
             error: EACCES: write /public user
             error: EPERM: chmod 777 /public
             error: EACCES: mkdir /secret/x
             d 0700 0:0 - - /secret
             f 0644 0:0 1 2d711642b726b044 /secret/f
             f 0644 5:6 size=4 nlink=1 ino={ino} layer=- /mine
             "
        ))
    );
}

#[test]
fn xattr_commands() {
    let mut shell = shell(None);
    let out = run(
        &mut shell,
        r#"write /f x
           setxattr /f user.b "two\nlines"
           setxattr /f user.a "\x00\xff"
           listxattr /f
           getxattr /f user.b
           getxattr /f user.a
           rmxattr /f user.b
           getxattr /f user.b
           listxattr /f"#,
    );
    assert_eq!(
        out,
        lines(
            r"user.a
              user.b
              two\nlines
              \x00\xff
              error: ENODATA: getxattr /f user.b
              user.a
              "
        )
    );
}

#[test]
fn files_directories_and_links() {
    let mut shell = shell(None);
    let out = run(
        &mut shell,
        "create /a
         create /a
         open /a w,creat,excl
         open /b rw,creat
         open /b dir
         open /c r
         mkdir /d
         open /d w
         open /d r,dir
         truncate /a 3
         ln /a /h
         mv /h /d/h
         ln -s /d/h /s
         readlink /s
         touch /s
         touch /new
         rm /s
         rmdir /d
         rm /d/h
         rmdir /d
         ls /",
    );
    assert_eq!(
        out,
        lines(
            "error: EEXIST: create /a
             error: EEXIST: open /a w,creat,excl
             error: ENOTDIR: open /b dir
             error: ENOENT: open /c r
             error: EISDIR: open /d w
             /d/h
             error: ENOTEMPTY: rmdir /d
             a
             b
             new
             "
        )
    );
}

/// A union stand-in: every inode is `lower:1` except the root, which is `upper`.
struct FakeUnion {
    root_ino: u64,
}

impl UnionView for FakeUnion {
    fn layers(&self) -> Vec<LayerSummary> {
        vec![
            LayerSummary {
                origin: Origin::Lower(1),
                read_only: true,
                label: String::from("base"),
            },
            LayerSummary {
                origin: Origin::Upper,
                read_only: false,
                label: String::from("tmpfs"),
            },
            LayerSummary {
                origin: Origin::Lower(0),
                read_only: true,
                label: String::new(),
            },
        ]
    }

    fn origin_of(&self, inode: &dyn Inode) -> Option<Origin> {
        match inode.metadata() {
            Ok(metadata) if metadata.ino == self.root_ino => Some(Origin::Upper),
            Ok(_) => Some(Origin::Lower(1)),
            Err(_) => None,
        }
    }

    fn diff(&self) -> Result<Vec<Change>> {
        Ok(vec![
            Change {
                kind: ChangeKind::Deleted,
                path: String::from("/etc/old"),
            },
            Change {
                kind: ChangeKind::Added,
                path: String::from("/app"),
            },
            Change {
                kind: ChangeKind::Changed,
                path: String::from("/etc"),
            },
            Change {
                kind: ChangeKind::Added,
                path: String::from("/app/run"),
            },
        ])
    }
}

#[test]
fn union_commands_use_the_union_view() {
    let filesystem: Arc<dyn FileSystem> = TmpFs::new(TmpFsOptions::default());
    let root_ino = filesystem.root().metadata().unwrap().ino;
    let union: Arc<dyn UnionView> = Arc::new(FakeUnion { root_ino });
    let mut shell = Shell::new(Namespace::with_filesystem(filesystem), Some(union));
    run(&mut shell, "write /f x");
    let f = shell
        .namespace()
        .lstat(&Credentials::root(), "/f")
        .unwrap()
        .ino;
    let out = run(&mut shell, "su 1000 1000\nlayers\ndiff\nstat /\nstat /f");
    let root_stat = shell.namespace().lstat(&Credentials::root(), "/").unwrap();
    assert_eq!(
        out,
        lines(&alloc::format!(
            "upper rw tmpfs
             lower:0 ro -
             lower:1 ro base
             A /app
             A /app/run
             C /etc
             D /etc/old
             d 0755 0:0 size={} nlink={} ino={root_ino} layer=upper /
             f 0644 0:0 size=1 nlink=1 ino={f} layer=lower:1 /f
             ",
            root_stat.size,
            root_stat.nlink
        ))
    );
}

/// A small deterministic generator, so the fuzz test needs no extra crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % below as u64) as usize
    }
}

#[test]
fn random_lines_never_panic() {
    const WORDS: &[&str] = &[
        "ls",
        "-l",
        "cat",
        "stat",
        "readlink",
        "getxattr",
        "listxattr",
        "write",
        "writeat",
        "append",
        "create",
        "open",
        "truncate",
        "touch",
        "mkdir",
        "mknod",
        "rm",
        "rmdir",
        "mv",
        "-n",
        "-x",
        "ln",
        "-s",
        "chmod",
        "chown",
        "setxattr",
        "rmxattr",
        "su",
        "tree",
        "layers",
        "diff",
        "/",
        "/a",
        "/a/b",
        "/a/../b",
        "a/./b/",
        "/l",
        "/loop",
        "//",
        ".",
        "..",
        "\"",
        "\"x y\"",
        "#",
        "\\",
        "\\x4",
        "\\n",
        "r,w",
        "rw,creat,trunc",
        "dir,excl",
        "append",
        "0",
        "1",
        "18446744073709551615",
        "4294967296",
        "777",
        "7777",
        "1000:1000",
        ":0",
        "c",
        "b",
        "p",
        "user.x",
        "trusted.overlay.opaque",
        "x\u{e9}",
        "\u{0}",
        "1000",
        "0 0",
    ];
    let mut shell = shell(None);
    run(
        &mut shell,
        "mkdir /a\nln -s /a /l\nln -s /loop /loop\nln -s ../a/b /a/up",
    );
    let mut random = Lcg(0x5eed);
    let mut out = String::new();
    for _ in 0..5000 {
        let mut line = String::new();
        for _ in 0..random.next(6) {
            line.push_str(WORDS[random.next(WORDS.len())]);
            line.push(if random.next(4) == 0 { '/' } else { ' ' });
        }
        out.clear();
        shell.run_line(&line, &mut out).unwrap();
        // Every failure is exactly one line, and the shell always comes back to root-able
        // state for the next line.
        if out.starts_with("error: ") {
            assert_eq!(out.lines().count(), 1, "{line:?} printed {out:?}");
        }
        if random.next(50) == 0 {
            run(&mut shell, "su 0 0");
        }
    }
}

#[test]
fn cat_writes_the_bytes_of_the_file_unchanged() {
    let mut shell = shell(None);
    let mut out = Vec::new();
    let script = "write /bin \\x80\\xff\\x00\\x1b\ncat /bin\nwrite /text \\xc3\\xa9\\n\ncat /text";
    shell.run_script(script, &mut out).unwrap();
    // The bytes, then the newline that ends the output of a file that does not end one.
    assert_eq!(out, b"\x80\xff\x00\x1b\n\xc3\xa9\n");
    // A String holds only UTF-8: what is not becomes U+FFFD there.
    assert_eq!(run(&mut shell, "cat /bin"), "\u{fffd}\u{fffd}\0\x1b\n");
}

#[test]
fn names_are_printed_escaped_so_that_none_forges_a_line() {
    let mut shell = shell(None);
    let root = Credentials::root();
    let namespace = shell.namespace();
    // As a tar entry `a\nf 0644 0:0 1 x /etc/shadow` makes it: a directory whose name ends a
    // line and starts a forged one, holding etc/shadow.
    let forged = "/a\nf 0644 0:0 1 x ";
    for dir in [forged, &alloc::format!("{forged}/etc")] {
        namespace.mkdir(&root, dir, 0o755).unwrap();
    }
    let flags = OpenFlags::WRITE | OpenFlags::CREATE;
    for path in [&alloc::format!("{forged}/etc/shadow"), "/\x1b[2Jb\\c\t"] {
        namespace.open(&root, path, flags, 0o644).unwrap();
    }
    namespace
        .symlink(&root, "x\nl 0777 0:0 1 y /etc/passwd", "/link")
        .unwrap();
    namespace
        .set_xattr(
            &root,
            "/\x1b[2Jb\\c\t",
            "user.a\nuser.b",
            b"v",
            XattrFlags::empty(),
        )
        .unwrap();
    let empty = "e3b0c44298fc1c14";
    assert_eq!(
        run(&mut shell, "tree /"),
        alloc::format!(
            "d 0755 0:0 - - /\n\
             f 0644 0:0 0 {empty} /\\x1b[2Jb\\\\c\\t\n\
             d 0755 0:0 - - /a\\nf 0644 0:0 1 x \n\
             d 0755 0:0 - - /a\\nf 0644 0:0 1 x /etc\n\
             f 0644 0:0 0 {empty} /a\\nf 0644 0:0 1 x /etc/shadow\n\
             l 0777 0:0 28 0b68b3bddf282347 /link\n"
        )
    );
    assert_eq!(
        run(&mut shell, "ls /"),
        "\\x1b[2Jb\\\\c\\t\na\\nf 0644 0:0 1 x \nlink\n"
    );
    let long = run(&mut shell, "ls -l /");
    assert_eq!(long.lines().count(), 3, "{long}");
    assert!(
        long.contains("\nd 0755 0:0 - - a\\nf 0644 0:0 1 x \n"),
        "{long}"
    );
    assert_eq!(
        run(&mut shell, "readlink /link\nlistxattr \"/\x1b[2Jb\\c\t\""),
        "x\\nl 0777 0:0 1 y /etc/passwd\nuser.a\\nuser.b\n"
    );
}

#[test]
fn exit_ends_the_script_and_prints_nothing() {
    let mut shell = shell(None);
    let out = run(&mut shell, "write /a one\nexit\nwrite /a two\ncat /a");
    assert_eq!(out, "");
    assert!(shell.exited());
    assert_eq!(shell.failures(), 0);
    let mut fresh = self::shell(None);
    assert_eq!(run(&mut fresh, "write /a one\ncat /a"), "one\n");
    assert!(!fresh.exited());
}

#[test]
fn help_lists_every_command_one_per_line() {
    let mut shell = shell(None);
    let out = run(&mut shell, "help");
    assert_eq!(out.lines().count(), usage::COMMANDS.len(), "{out}");
    for (name, _) in usage::COMMANDS {
        assert!(
            out.lines()
                .any(|line| line.starts_with(&alloc::format!("{name} ")) || line == *name),
            "{name} is not listed:\n{out}"
        );
    }
    assert!(out.contains("\nmv [-n|-x] A B\n"), "{out}");
}

#[test]
fn malformed_lines_keep_the_error_line_and_give_a_usage_hint() {
    let mut shell = shell(None);
    let cases = [
        ("mv /a", "usage: mv [-n|-x] A B"),
        (
            "frob /a",
            "unknown command `frob`; `help` lists the commands",
        ),
        ("write /a \"open", "a quote is not closed"),
        (
            r"write /a \q",
            "usage: write P TEXT  (TEXT escapes: \\n \\t \\\\ \\\" \\xHH)",
        ),
        ("exit now", "usage: exit"),
    ];
    for (line, hint) in cases {
        assert_eq!(
            run(&mut shell, line),
            alloc::format!("error: EINVAL: {line}\n")
        );
        assert_eq!(shell.usage_hint(), Some(hint), "{line}");
    }
    // A well-formed line that fails is not malformed: no hint, and the next line clears it.
    assert_eq!(run(&mut shell, "cat /none"), "error: ENOENT: cat /none\n");
    assert_eq!(shell.usage_hint(), None);
    run(&mut shell, "mv /a");
    run(&mut shell, "write /a x");
    assert_eq!(shell.usage_hint(), None);
}
