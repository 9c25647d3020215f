//! The shell language of `docs/shell.md`, parsed again for the Linux side.
//!
//! This is written from docs/shell.md, not shared with `overlay_core::shell`, so that a parsing
//! mistake on either side shows up as a difference instead of being made twice. Any
//! malformed line is `EINVAL`, as in the shell.

use overlay_core::shell::lexer::{decode_text, split_words};

/// The `open` command's flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenFlags {
    pub read: bool,
    pub write: bool,
    pub create: bool,
    pub exclusive: bool,
    pub truncate: bool,
    pub append: bool,
    pub directory: bool,
    pub nofollow: bool,
}

/// What `mknod` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Char,
    Block,
    Fifo,
}

/// How `mv` renames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MvMode {
    Replace,
    NoReplace,
    Exchange,
}

/// One command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Ls {
        long: bool,
        path: String,
    },
    Cat(String),
    Stat(String),
    Readlink(String),
    GetXattr {
        path: String,
        name: String,
    },
    ListXattr(String),
    Write {
        path: String,
        text: Vec<u8>,
    },
    WriteAt {
        path: String,
        offset: u64,
        text: Vec<u8>,
    },
    Append {
        path: String,
        text: Vec<u8>,
    },
    Create(String),
    Open {
        path: String,
        flags: OpenFlags,
    },
    Truncate {
        path: String,
        len: u64,
    },
    Touch(String),
    Mkdir(String),
    Mknod {
        path: String,
        kind: NodeKind,
        major: u32,
        minor: u32,
    },
    Rm(String),
    Rmdir(String),
    Mv {
        old: String,
        new: String,
        mode: MvMode,
    },
    Ln {
        old: String,
        new: String,
    },
    Symlink {
        target: String,
        path: String,
    },
    Chmod {
        mode: u32,
        path: String,
    },
    Chown {
        uid: Option<u32>,
        gid: Option<u32>,
        path: String,
    },
    SetXattr {
        path: String,
        name: String,
        value: Vec<u8>,
    },
    RmXattr {
        path: String,
        name: String,
    },
    Su {
        uid: u32,
        gid: u32,
    },
    Tree(String),
    Layers,
    Diff,
}

impl Command {
    /// The path a command acts on first, if it has one (the source of `mv` and `ln`).
    pub fn first_path(&self) -> Option<&str> {
        Some(match self {
            Command::Ls { path, .. }
            | Command::Cat(path)
            | Command::Stat(path)
            | Command::Readlink(path)
            | Command::GetXattr { path, .. }
            | Command::ListXattr(path)
            | Command::Write { path, .. }
            | Command::WriteAt { path, .. }
            | Command::Append { path, .. }
            | Command::Create(path)
            | Command::Open { path, .. }
            | Command::Truncate { path, .. }
            | Command::Touch(path)
            | Command::Mkdir(path)
            | Command::Mknod { path, .. }
            | Command::Rm(path)
            | Command::Rmdir(path)
            | Command::Symlink { path, .. }
            | Command::Chmod { path, .. }
            | Command::Chown { path, .. }
            | Command::SetXattr { path, .. }
            | Command::RmXattr { path, .. }
            | Command::Tree(path) => path,
            Command::Mv { old, .. } | Command::Ln { old, .. } => old,
            Command::Su { .. } | Command::Layers | Command::Diff => return None,
        })
    }
}

/// Why a line is not run: empty (or a comment), or malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotACommand {
    Empty,
    Malformed,
}

/// Parses one line.
pub fn parse(line: &str) -> Result<Command, NotACommand> {
    let words = split_words(line).map_err(|_| NotACommand::Malformed)?;
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let Some((&name, args)) = words.split_first() else {
        return Err(NotACommand::Empty);
    };
    parse_words(name, args).ok_or(NotACommand::Malformed)
}

fn parse_words(name: &str, args: &[&str]) -> Option<Command> {
    let s = |word: &str| word.to_string();
    let text = |word: &str| decode_text(word).ok();
    Some(match (name, args) {
        ("ls", []) => Command::Ls {
            long: false,
            path: s("/"),
        },
        ("ls", ["-l"]) => Command::Ls {
            long: true,
            path: s("/"),
        },
        ("ls", ["-l", path]) => Command::Ls {
            long: true,
            path: s(path),
        },
        ("ls", [path]) => Command::Ls {
            long: false,
            path: s(path),
        },
        ("cat", [path]) => Command::Cat(s(path)),
        ("stat", [path]) => Command::Stat(s(path)),
        ("readlink", [path]) => Command::Readlink(s(path)),
        ("getxattr", [path, name]) => Command::GetXattr {
            path: s(path),
            name: s(name),
        },
        ("listxattr", [path]) => Command::ListXattr(s(path)),
        ("write", [path, value]) => Command::Write {
            path: s(path),
            text: text(value)?,
        },
        ("writeat", [path, offset, value]) => Command::WriteAt {
            path: s(path),
            offset: number(offset)?,
            text: text(value)?,
        },
        ("append", [path, value]) => Command::Append {
            path: s(path),
            text: text(value)?,
        },
        ("create", [path]) => Command::Create(s(path)),
        ("open", [path, flags]) => Command::Open {
            path: s(path),
            flags: open_flags(flags)?,
        },
        ("truncate", [path, len]) => Command::Truncate {
            path: s(path),
            len: number(len)?,
        },
        ("touch", [path]) => Command::Touch(s(path)),
        ("mkdir", [path]) => Command::Mkdir(s(path)),
        ("mknod", [path, "p"]) => Command::Mknod {
            path: s(path),
            kind: NodeKind::Fifo,
            major: 0,
            minor: 0,
        },
        ("mknod", [path, kind, major, minor]) => Command::Mknod {
            path: s(path),
            kind: match *kind {
                "c" => NodeKind::Char,
                "b" => NodeKind::Block,
                "p" => NodeKind::Fifo,
                _ => return None,
            },
            major: number(major)?,
            minor: number(minor)?,
        },
        ("rm", [path]) => Command::Rm(s(path)),
        ("rmdir", [path]) => Command::Rmdir(s(path)),
        ("mv", [old, new]) => Command::Mv {
            old: s(old),
            new: s(new),
            mode: MvMode::Replace,
        },
        ("mv", ["-n", old, new]) => Command::Mv {
            old: s(old),
            new: s(new),
            mode: MvMode::NoReplace,
        },
        ("mv", ["-x", old, new]) => Command::Mv {
            old: s(old),
            new: s(new),
            mode: MvMode::Exchange,
        },
        ("ln", ["-s", target, path]) => Command::Symlink {
            target: s(target),
            path: s(path),
        },
        ("ln", [old, new]) => Command::Ln {
            old: s(old),
            new: s(new),
        },
        ("chmod", [mode, path]) => Command::Chmod {
            mode: octal(mode)?,
            path: s(path),
        },
        ("chown", [owner, path]) => {
            let (uid, gid) = owner.split_once(':')?;
            Command::Chown {
                uid: optional_number(uid)?,
                gid: optional_number(gid)?,
                path: s(path),
            }
        }
        ("setxattr", [path, name, value]) => Command::SetXattr {
            path: s(path),
            name: s(name),
            value: text(value)?,
        },
        ("rmxattr", [path, name]) => Command::RmXattr {
            path: s(path),
            name: s(name),
        },
        ("su", [uid, gid]) => Command::Su {
            uid: number(uid)?,
            gid: number(gid)?,
        },
        ("tree", []) => Command::Tree(s("/")),
        ("tree", [path]) => Command::Tree(s(path)),
        ("layers", []) => Command::Layers,
        ("diff", []) => Command::Diff,
        _ => return None,
    })
}

fn number<T: std::str::FromStr>(word: &str) -> Option<T> {
    if word.is_empty() || !word.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    word.parse().ok()
}

/// `Some(None)` for an empty word (the id is kept), `None` if malformed.
fn optional_number(word: &str) -> Option<Option<u32>> {
    if word.is_empty() {
        Some(None)
    } else {
        number(word).map(Some)
    }
}

fn octal(word: &str) -> Option<u32> {
    if word.is_empty() || word.len() > 5 || !word.bytes().all(|b| matches!(b, b'0'..=b'7')) {
        return None;
    }
    u32::from_str_radix(word, 8)
        .ok()
        .filter(|mode| *mode <= 0o7777)
}

fn open_flags(word: &str) -> Option<OpenFlags> {
    let mut flags = OpenFlags::default();
    for item in word.split(',') {
        match item {
            "r" => flags.read = true,
            "w" => flags.write = true,
            "rw" => (flags.read, flags.write) = (true, true),
            "creat" => flags.create = true,
            "excl" => flags.exclusive = true,
            "trunc" => flags.truncate = true,
            "append" => flags.append = true,
            "dir" => flags.directory = true,
            "nofollow" => flags.nofollow = true,
            _ => return None,
        }
    }
    Some(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_like_the_shell() {
        assert_eq!(parse("  # comment"), Err(NotACommand::Empty));
        assert_eq!(parse("frob /a"), Err(NotACommand::Malformed));
        assert_eq!(parse("chmod 8 /a"), Err(NotACommand::Malformed));
        assert_eq!(
            parse(r"writeat /a 3 q\n"),
            Ok(Command::WriteAt {
                path: "/a".into(),
                offset: 3,
                text: b"q\n".to_vec()
            })
        );
        assert_eq!(
            parse("chown :7 /a"),
            Ok(Command::Chown {
                uid: None,
                gid: Some(7),
                path: "/a".into()
            })
        );
        let Ok(Command::Open { flags, .. }) = parse("open /a rw,trunc,nofollow") else {
            panic!("open did not parse");
        };
        assert!(flags.read && flags.write && flags.truncate && flags.nofollow);
        assert!(!flags.create);
    }
}
