//! What the shell says about its own language: the synopsis of each command (`help` prints
//! them) and, for a malformed line, a one-line hint a front end may show beside the contract's
//! `error: EINVAL` line (`boot shell` writes it to standard error).

use alloc::{format, string::String};

use super::lexer;

/// Every command with its synopsis, in the order `help` lists them: reading, writing, the whole
/// view, images and containers, then the shell's own.
pub const COMMANDS: &[(&str, &str)] = &[
    ("ls", "ls [-l] [P]"),
    ("cat", "cat P"),
    ("stat", "stat P"),
    ("readlink", "readlink P"),
    ("getxattr", "getxattr P NAME"),
    ("listxattr", "listxattr P"),
    ("write", "write P TEXT"),
    ("writeat", "writeat P OFFSET TEXT"),
    ("append", "append P TEXT"),
    ("create", "create P"),
    (
        "open",
        "open P FLAGS  (FLAGS: r,w,rw,creat,excl,trunc,append,dir,nofollow)",
    ),
    ("truncate", "truncate P N"),
    ("touch", "touch P"),
    ("mkdir", "mkdir P"),
    ("mknod", "mknod P c|b MAJOR MINOR  or  mknod P p"),
    ("rm", "rm P"),
    ("rmdir", "rmdir P"),
    ("mv", "mv [-n|-x] A B"),
    ("ln", "ln A B  or  ln -s TARGET P"),
    ("chmod", "chmod OCTAL P"),
    ("chown", "chown UID:GID P  (UID: or :GID changes one)"),
    ("setxattr", "setxattr P NAME VALUE"),
    ("rmxattr", "rmxattr P NAME"),
    ("su", "su UID GID"),
    ("tree", "tree [P]"),
    ("layers", "layers"),
    ("diff", "diff"),
    ("images", "images"),
    ("history", "history IMAGE"),
    ("df", "df"),
    ("ps", "ps"),
    ("run", "run IMAGE NAME"),
    ("use", "use NAME"),
    ("commit", "commit NAME IMAGE"),
    ("rmi", "rmi IMAGE"),
    ("rmc", "rmc NAME"),
    ("help", "help"),
    ("exit", "exit"),
];

/// The synopsis of command `name`, if the shell has such a command.
pub fn synopsis(name: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .find(|(command, _)| *command == name)
        .map(|(_, synopsis)| *synopsis)
}

/// Why `line` (a line the shell refused as malformed) is malformed, in one line: the usage of
/// its command, that the command is unknown, or that its quotes or escapes are wrong.
pub fn hint(line: &str) -> String {
    let Ok(words) = lexer::split_words(line) else {
        return String::from("a quote is not closed");
    };
    let Some(name) = words.first() else {
        return String::from("an empty line does nothing");
    };
    match synopsis(name) {
        Some(synopsis) if synopsis.contains("TEXT") || synopsis.contains("VALUE") => {
            format!("usage: {synopsis}  (TEXT escapes: \\n \\t \\\\ \\\" \\xHH)")
        }
        Some(synopsis) => format!("usage: {synopsis}"),
        None => format!(
            "unknown command `{}`; `help` lists the commands",
            lexer::escape_bytes(name.as_bytes())
        ),
    }
}
