//! Parsing a line's words into a [`Command`]; any mistake is `EINVAL` (a malformed line).

use alloc::{string::String, vec::Vec};

use super::lexer::decode_text;
use crate::error::{Errno, Result};
use crate::vfs::{DeviceId, FileType, OpenFlags, RenameFlags};

/// One parsed command line. Paths and names are the words as written; TEXT arguments are
/// already decoded to bytes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(super) enum Command<'a> {
    Ls {
        long: bool,
        path: &'a str,
    },
    Cat(&'a str),
    Stat(&'a str),
    Readlink(&'a str),
    GetXattr {
        path: &'a str,
        name: &'a str,
    },
    ListXattr(&'a str),
    Write {
        path: &'a str,
        text: Vec<u8>,
    },
    WriteAt {
        path: &'a str,
        offset: u64,
        text: Vec<u8>,
    },
    Append {
        path: &'a str,
        text: Vec<u8>,
    },
    Create(&'a str),
    Open {
        path: &'a str,
        flags: OpenFlags,
    },
    Truncate {
        path: &'a str,
        len: u64,
    },
    Touch(&'a str),
    Mkdir(&'a str),
    Mknod {
        path: &'a str,
        kind: FileType,
        device: DeviceId,
    },
    Rm(&'a str),
    Rmdir(&'a str),
    Mv {
        old: &'a str,
        new: &'a str,
        flags: RenameFlags,
    },
    Ln {
        old: &'a str,
        new: &'a str,
    },
    Symlink {
        target: &'a str,
        path: &'a str,
    },
    Chmod {
        mode: u16,
        path: &'a str,
    },
    Chown {
        uid: Option<u32>,
        gid: Option<u32>,
        path: &'a str,
    },
    SetXattr {
        path: &'a str,
        name: &'a str,
        value: Vec<u8>,
    },
    RmXattr {
        path: &'a str,
        name: &'a str,
    },
    Su {
        uid: u32,
        gid: u32,
    },
    Tree(&'a str),
    Layers,
    Diff,
    Images,
    History(&'a str),
    Df,
    Ps,
    Run {
        image: &'a str,
        container: &'a str,
    },
    Use(&'a str),
    Commit {
        container: &'a str,
        image: &'a str,
    },
    Rmi(&'a str),
    Rmc(&'a str),
    Help,
    Exit,
}

/// Parses the words of one non-empty line.
///
/// # Errors
/// `EINVAL` for an unknown command, a wrong number of arguments, or a bad argument.
pub(super) fn parse(words: &[String]) -> Result<Command<'_>> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let Some((&name, args)) = words.split_first() else {
        return Err(Errno::EINVAL);
    };
    Ok(match (name, args) {
        ("ls", []) => Command::Ls {
            long: false,
            path: "/",
        },
        ("ls", ["-l"]) => Command::Ls {
            long: true,
            path: "/",
        },
        ("ls", ["-l", path]) => Command::Ls { long: true, path },
        ("ls", [path]) => Command::Ls { long: false, path },
        ("cat", [path]) => Command::Cat(path),
        ("stat", [path]) => Command::Stat(path),
        ("readlink", [path]) => Command::Readlink(path),
        ("getxattr", [path, name]) => Command::GetXattr { path, name },
        ("listxattr", [path]) => Command::ListXattr(path),
        ("write", [path, text]) => Command::Write {
            path,
            text: decode_text(text)?,
        },
        ("writeat", [path, offset, text]) => Command::WriteAt {
            path,
            offset: number(offset)?,
            text: decode_text(text)?,
        },
        ("append", [path, text]) => Command::Append {
            path,
            text: decode_text(text)?,
        },
        ("create", [path]) => Command::Create(path),
        ("open", [path, flags]) => Command::Open {
            path,
            flags: open_flags(flags)?,
        },
        ("truncate", [path, len]) => Command::Truncate {
            path,
            len: number(len)?,
        },
        ("touch", [path]) => Command::Touch(path),
        ("mkdir", [path]) => Command::Mkdir(path),
        ("mknod", [path, "p"]) => Command::Mknod {
            path,
            kind: FileType::Fifo,
            device: DeviceId::default(),
        },
        ("mknod", [path, kind, major, minor]) => Command::Mknod {
            path,
            kind: match *kind {
                "c" => FileType::CharDevice,
                "b" => FileType::BlockDevice,
                "p" => FileType::Fifo,
                _ => return Err(Errno::EINVAL),
            },
            device: DeviceId {
                major: number(major)?,
                minor: number(minor)?,
            },
        },
        ("rm", [path]) => Command::Rm(path),
        ("rmdir", [path]) => Command::Rmdir(path),
        ("mv", [old, new]) => Command::Mv {
            old,
            new,
            flags: RenameFlags::empty(),
        },
        ("mv", ["-n", old, new]) => Command::Mv {
            old,
            new,
            flags: RenameFlags::NOREPLACE,
        },
        ("mv", ["-x", old, new]) => Command::Mv {
            old,
            new,
            flags: RenameFlags::EXCHANGE,
        },
        ("ln", ["-s", target, path]) => Command::Symlink { target, path },
        ("ln", [old, new]) => Command::Ln { old, new },
        ("chmod", [mode, path]) => Command::Chmod {
            mode: octal_mode(mode)?,
            path,
        },
        ("chown", [owner, path]) => {
            let (uid, gid) = owner.split_once(':').ok_or(Errno::EINVAL)?;
            Command::Chown {
                uid: optional_number(uid)?,
                gid: optional_number(gid)?,
                path,
            }
        }
        ("setxattr", [path, name, value]) => Command::SetXattr {
            path,
            name,
            value: decode_text(value)?,
        },
        ("rmxattr", [path, name]) => Command::RmXattr { path, name },
        ("su", [uid, gid]) => Command::Su {
            uid: number(uid)?,
            gid: number(gid)?,
        },
        ("tree", []) => Command::Tree("/"),
        ("tree", [path]) => Command::Tree(path),
        ("layers", []) => Command::Layers,
        ("diff", []) => Command::Diff,
        ("images", []) => Command::Images,
        ("history", [image]) => Command::History(image),
        ("df", []) => Command::Df,
        ("ps", []) => Command::Ps,
        ("run", [image, container]) => Command::Run { image, container },
        ("use", [container]) => Command::Use(container),
        ("commit", [container, image]) => Command::Commit { container, image },
        ("rmi", [image]) => Command::Rmi(image),
        ("rmc", [container]) => Command::Rmc(container),
        ("help", []) => Command::Help,
        ("exit", []) => Command::Exit,
        _ => return Err(Errno::EINVAL),
    })
}

/// A decimal number without sign.
fn number<T: core::str::FromStr>(word: &str) -> Result<T> {
    if word.is_empty() || !word.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(Errno::EINVAL);
    }
    word.parse().map_err(|_| Errno::EINVAL)
}

/// A decimal number, or nothing for an empty word (`chown 5: P` keeps the group).
fn optional_number(word: &str) -> Result<Option<u32>> {
    if word.is_empty() {
        Ok(None)
    } else {
        number(word).map(Some)
    }
}

/// An octal mode of at most `0o7777`.
fn octal_mode(word: &str) -> Result<u16> {
    if word.is_empty() || word.len() > 5 || !word.bytes().all(|byte| matches!(byte, b'0'..=b'7')) {
        return Err(Errno::EINVAL);
    }
    match u16::from_str_radix(word, 8) {
        Ok(mode) if mode <= 0o7777 => Ok(mode),
        _ => Err(Errno::EINVAL),
    }
}

/// The `open` command's comma list: `r`, `w`, `rw`, `creat`, `excl`, `trunc`, `append`,
/// `dir`, and `nofollow` (an extension). Neither `r` nor `w` means read-only.
fn open_flags(word: &str) -> Result<OpenFlags> {
    let mut flags = OpenFlags::empty();
    for item in word.split(',') {
        flags |= match item {
            "r" => OpenFlags::READ,
            "w" => OpenFlags::WRITE,
            "rw" => OpenFlags::READ | OpenFlags::WRITE,
            "creat" => OpenFlags::CREATE,
            "excl" => OpenFlags::EXCLUSIVE,
            "trunc" => OpenFlags::TRUNCATE,
            "append" => OpenFlags::APPEND,
            "dir" => OpenFlags::DIRECTORY,
            "nofollow" => OpenFlags::NOFOLLOW,
            _ => return Err(Errno::EINVAL),
        };
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::lexer::split_words;

    fn parsed(line: &str) -> Result<Command<'static>> {
        let words = split_words(line)?;
        // Leak the words so the borrowed command can outlive this helper; tests only.
        let words: &'static [String] = Vec::leak(words);
        parse(words)
    }

    #[test]
    fn commands_parse() {
        assert_eq!(
            parsed("ls -l /a"),
            Ok(Command::Ls {
                long: true,
                path: "/a"
            })
        );
        assert_eq!(
            parsed("ls /a"),
            Ok(Command::Ls {
                long: false,
                path: "/a"
            })
        );
        assert_eq!(
            parsed(r"write /a hi\n"),
            Ok(Command::Write {
                path: "/a",
                text: b"hi\n".to_vec()
            })
        );
        assert_eq!(
            parsed("writeat /a 3 q"),
            Ok(Command::WriteAt {
                path: "/a",
                offset: 3,
                text: b"q".to_vec()
            })
        );
        assert_eq!(
            parsed("open /a rw,creat,excl"),
            Ok(Command::Open {
                path: "/a",
                flags: OpenFlags::READ
                    | OpenFlags::WRITE
                    | OpenFlags::CREATE
                    | OpenFlags::EXCLUSIVE
            })
        );
        assert_eq!(
            parsed("mknod /d c 1 3"),
            Ok(Command::Mknod {
                path: "/d",
                kind: FileType::CharDevice,
                device: DeviceId { major: 1, minor: 3 }
            })
        );
        assert_eq!(
            parsed("ln -s /t /l"),
            Ok(Command::Symlink {
                target: "/t",
                path: "/l"
            })
        );
        assert_eq!(
            parsed("ln /t /l"),
            Ok(Command::Ln {
                old: "/t",
                new: "/l"
            })
        );
        assert_eq!(
            parsed("chmod 4755 /a"),
            Ok(Command::Chmod {
                mode: 0o4755,
                path: "/a"
            })
        );
        assert_eq!(
            parsed("chown 1:2 /a"),
            Ok(Command::Chown {
                uid: Some(1),
                gid: Some(2),
                path: "/a"
            })
        );
        assert_eq!(
            parsed("chown :2 /a"),
            Ok(Command::Chown {
                uid: None,
                gid: Some(2),
                path: "/a"
            })
        );
        assert_eq!(
            parsed("su 1000 100"),
            Ok(Command::Su {
                uid: 1000,
                gid: 100
            })
        );
        assert_eq!(parsed("tree"), Ok(Command::Tree("/")));
        assert_eq!(parsed("layers"), Ok(Command::Layers));
        assert_eq!(parsed("images"), Ok(Command::Images));
        assert_eq!(parsed("history java:8"), Ok(Command::History("java:8")));
        assert_eq!(parsed("df"), Ok(Command::Df));
        assert_eq!(parsed("ps"), Ok(Command::Ps));
        assert_eq!(
            parsed("run java:8 c1"),
            Ok(Command::Run {
                image: "java:8",
                container: "c1"
            })
        );
        assert_eq!(parsed("use c1"), Ok(Command::Use("c1")));
        assert_eq!(
            parsed("commit c1 app:2"),
            Ok(Command::Commit {
                container: "c1",
                image: "app:2"
            })
        );
        assert_eq!(parsed("rmi app:2"), Ok(Command::Rmi("app:2")));
        assert_eq!(parsed("rmc c1"), Ok(Command::Rmc("c1")));
        assert_eq!(parsed("rmc"), Err(Errno::EINVAL));
        assert_eq!(parsed("help"), Ok(Command::Help));
        assert_eq!(parsed("exit"), Ok(Command::Exit));
    }

    #[test]
    fn malformed_lines_are_einval() {
        for line in [
            "frobnicate /a",
            "cat",
            "cat /a /b",
            "write /a",
            r"write /a \q",
            "writeat /a -1 x",
            "writeat /a x x",
            "open /a w,bogus",
            "open /a ",
            "mknod /a x 1 2",
            "chmod 8 /a",
            "chmod 17777 /a",
            "chown 1 /a",
            "chown a:b /a",
            "su 1",
            "truncate /a 99999999999999999999999",
            "layers now",
            "images -a",
            "history",
            "df -v",
            "run java:8",
            "run java:8 c1 c2",
            "use",
            "commit c1",
            "rmi",
            "rmi a b",
            "help ls",
            "exit 1",
        ] {
            assert_eq!(parsed(line), Err(Errno::EINVAL), "{line}");
        }
    }
}
