//! The shell: the line-based command language of `docs/shell.md`, run
//! against a [`Namespace`], for the host front end and the kernel's serial console alike.
//!
//! # Lines
//! One command per line; blanks separate words; `"..."` quotes; `#` at the start of a word
//! begins a comment; TEXT arguments take the escapes `\n`, `\t`, `\\`, `\xHH` (and `\"`).
//! See [`lexer`] for the details. A command that succeeds and has nothing to show prints
//! nothing; one that fails prints exactly one line `error: ERRNO: <the line>` (the line without
//! its surrounding blanks), followed by ` (DETAIL)` where the failure has more to say
//! (`commit` names the entry a layer cannot hold, escaped as names are:
//! `error: EINVAL: commit c img (/etc/.wh.x: ...)`); a malformed line (unknown command,
//! wrong arguments, bad escape, open quote) prints `error: EINVAL: <the line>`, and
//! [`Shell::usage_hint`] says why in one line for a front end to show elsewhere. The shell
//! then goes on (after `exit` too, if the front end calls it again). `tree` and `diff` write
//! each line to the [`Output`] as their walk finds it (nothing holds their whole output), so
//! one that fails partway (a path past `PATH_MAX` deep in the tree) ends with its `error:`
//! line after the lines printed so far.
//!
//! # Commands
//! Reading: `ls [-l] P`, `cat P`, `stat P`, `readlink P`, `getxattr P NAME`, `listxattr P`.
//! Writing: `write P TEXT`, `writeat P OFFSET TEXT`, `append P TEXT`, `create P`,
//! `open P FLAGS`, `truncate P N`, `touch P`, `mkdir P`, `mknod P TYPE MAJOR MINOR`, `rm P`,
//! `rmdir P`, `mv A B`, `ln A B`, `ln -s TARGET P`, `chmod OCTAL P`, `chown UID:GID P`,
//! `setxattr P NAME VALUE`, `rmxattr P NAME`, `su UID GID`. Whole view: `tree [P]`, `layers`,
//! `diff`. Images and containers (with a [`ContainerEngine`], see [`Shell::with_engine`]):
//! `images`, `history IMAGE`, `df`, `ps`, `run IMAGE NAME`, `use NAME`, `commit NAME IMAGE`,
//! `rmi IMAGE`, `rmc NAME`. The shell's own: `help` prints every command's synopsis, one per
//! line ([`usage::COMMANDS`]); `exit` prints nothing and ends the script ([`Shell::exited`]:
//! [`Shell::run_script`] stops there, and so do the front ends). Extensions: `ls`/`ls -l`
//! without P list `/`; `mv -n A B` (no replace) and `mv -x A B` (exchange); `mknod P p` without
//! numbers; `chown UID: P` / `chown :GID P` change one id; the `open` flag `nofollow`.
//!
//! # Output formats
//! Every name the shell prints (file names and paths in `ls`, `tree`, `stat` and `diff`,
//! symlink targets in `readlink`, xattr names in `listxattr`, layer labels in `layers`, and
//! the image and container names, references and `CREATED BY` texts of the image commands)
//! is escaped as TEXT is: `\\` for a backslash, `\n` and `\t`, and `\xHH` for every other
//! control character and every byte that is not UTF-8; nothing else is changed. So each
//! entry stays on its line, a name cannot forge another line, and decoding what is printed
//! as TEXT gives the name back (a `tree` path with a newline shows as `/etc/a\nb`). Contents
//! are the opposite: `cat` writes the file's bytes exactly as they are.
//! - `ls P`: the names in directory P, one per line, sorted bytewise (a symlink to a directory
//!   lists the directory); for anything else, P itself.
//! - `ls -l P`: one line per entry, `TYPE MODE UID:GID SIZE DIGEST NAME`, the columns of
//!   `tree` with the bare name; P itself if it is not a directory (a symlink is shown as
//!   itself).
//! - `tree [P]` (P defaults to `/`): one line per entry, sorted by path bytewise, P included:
//!   `TYPE MODE UID:GID SIZE DIGEST PATH`. TYPE is one of `d f l c b p s`; MODE the 4-digit
//!   octal permission bits; SIZE the byte size for `f`, the target length for `l`, `-`
//!   otherwise; DIGEST the first 16 hex digits of the SHA-256 of the content for `f` or the
//!   target for `l`, `MAJOR:MINOR` for `c` and `b`, `-` otherwise. Example:
//!   `f 0644 0:0 12 3a5f9c0e1d2b4a68 /etc/config`.
//! - `stat P` (a final symlink is not followed), one line:
//!   `TYPE MODE UID:GID size=SIZE nlink=NLINK ino=INO [rdev=MAJOR:MINOR ]layer=LAYER P`, where
//!   `rdev=` appears for `c` and `b` only and LAYER is `upper`, `lower:N` (N counts the lowers
//!   from the top, 0 first) or `-` without a union. Example:
//!   `f 0644 0:0 size=12 nlink=1 ino=17 layer=lower:1 /etc/config`.
//! - `cat P`: the content byte for byte (whatever bytes it holds, control bytes and invalid
//!   UTF-8 included), then a newline unless it is empty or ends with one. A front end that
//!   writes the output to a byte stream (a terminal, the serial console) writes those bytes;
//!   see [`Output`].
//! - `readlink P`: the target. `getxattr P NAME`: the value on one line, escaped as TEXT is
//!   (`\n`, `\t`, `\\`, `\xHH` for other control bytes and invalid UTF-8). `listxattr P`: the
//!   names, one per line, sorted.
//! - `layers`: one line per layer, top first: `upper rw LABEL`, then `lower:N ro LABEL`
//!   (`rw`/`ro` as the layer is writable; LABEL as the union describes the layer, `-` if it
//!   gives none).
//! - `diff`: the upper layer's changes, `A PATH` (added), `C PATH` (changed), `D PATH`
//!   (deleted), one per line, sorted by path bytewise, like `docker diff`. Of a lower
//!   hard-link group copied up through one name (`write /a` where `/a` and `/b` are one
//!   file), only the names in the upper layer are listed (`C /a`), though every name of the
//!   group shows the new data (and `commit` keeps it so).
//!
//!
//! # Images and containers
//! These commands go to the shell's [`ContainerEngine`] (without one they fail with
//! `ENOTSUP`); they mirror Docker's, on the images of a RAM disk and those committed since.
//! Sizes are in bytes. Tables are aligned in columns separated by at least two blanks, with a
//! header line.
//! - `images`: `IMAGE LAYERS SIZE`, one row per image, SIZE the bytes of its layers.
//! - `history IMAGE`: `LAYER SIZE CREATED BY`, one row per step of the image's history, the
//!   newest first, like `docker image history`: the layer's short digest (`sha256:` and 12 hex
//!   digits) and size, or `-` and `0` for a step that made no layer (`ENV`, `CMD`).
//! - `df`: `IMAGE LAYERS SIZE SHARED UNIQUE` per image (SHARED: bytes in layers another image
//!   uses too; UNIQUE: bytes in layers only this image uses), a `total` row (the layers
//!   stored, each once however many images share it), then the lines
//!   `stored: N bytes in L layers, each once; without sharing: M bytes`,
//!   `held for containers only: N bytes (no image uses them)` (only when there are such),
//!   `reclaimed by rmi and rmc: N bytes in L layers` (the layers dropped so far) and
//!   `containers: C, writable layers N bytes`.
//! - `ps`: `CONTAINER IMAGE LAYERS UPPER`, one row per container, the one the shell is in
//!   marked `*` in a first column; UPPER is the bytes its writable layer holds.
//! - `run IMAGE NAME`: makes container NAME: the image's layers (the same objects every
//!   container of any image stacks) under its own new tmpfs upper. Prints nothing; the shell
//!   stays where it is.
//! - `use NAME`: the shell's root becomes container NAME's (the credentials stay). Prints
//!   nothing.
//! - `commit NAME IMAGE`: freezes container NAME's upper layer into a new read-only layer (an
//!   uncompressed tar with OCI whiteouts, `.wh.NAME` and `.wh..wh..opq`, as image layers
//!   have) and registers IMAGE = the container's layers + that one; the container goes on
//!   over IMAGE with an empty upper (the shell follows it if it is in it). Prints the new
//!   layer's digest, `sha256:<64 hex digits>`. `EEXIST` if IMAGE exists. A container of
//!   IMAGE shows exactly what NAME showed, hard links included (sockets aside, which no
//!   layer holds); where an OCI layer cannot say that, the commit fails, registers nothing
//!   and names the entry: `EINVAL` for a name starting with `.wh.` (a plain name in a
//!   container, but in an OCI layer `.wh.x` deletes `x` and `.wh..wh..opq` empties its
//!   directory) or for an entry a tar cannot hold (xattrs over the 1 MiB of one entry's
//!   extended header).
//! - `rmi IMAGE`: removes the image: `Untagged: IMAGE`, then, top first, `Deleted: LAYER SIZE`
//!   for each of its layers nothing else uses (its memory is freed) and
//!   `Kept: LAYER SIZE (used by IMAGE..., container NAME...)` for each that another image or a
//!   container still uses.
//! - `rmc NAME`: removes container NAME and its writable layer (`docker rm`): `Removed: NAME`,
//!   then `Deleted: LAYER SIZE` for each layer that only it still used (an image removed
//!   while the container ran kept them). `EBUSY` for the container the shell is in (`use`
//!   another first).
//!
//! Names of images and containers are 1 to 128 ASCII letters, digits and `._-:/@`, starting
//! with a letter or digit (`EINVAL` otherwise); a missing image or container is `ENOENT`, a
//! name in use `EEXIST`.
//!
//! `tree`, `layers` and `diff` run with root's credentials (so do the content reads behind
//! `ls -l` digests), and so do the image and container commands; everything else with the
//! credentials `su` set, root at first. New files get mode 0666 and new directories 0777,
//! masked by the namespace's umask (022: 0644, 0755).

pub mod lexer;
pub mod usage;

mod command;
mod engine;
#[cfg(test)]
mod tests;
mod tree;
mod union;

use alloc::{string::String, sync::Arc, vec::Vec};
use core::fmt;

use self::command::Command;
pub use self::engine::{
    CommitSummary, ContainerEngine, ContainerRoot, ContainerSummary, HistoryLine, ImageSummary,
};
use crate::error::{Errno, Result};
use crate::posix::{Namespace, SetTime};
use crate::vfs::{Credentials, Inode, OpenFlags, XattrFlags};

/// Which layer of a union an entry comes from.
///
/// Ordered as `layers` prints them: the upper first, then the lowers from the top.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Origin {
    /// The writable upper layer.
    Upper,
    /// Lower layer `N`, counted from the top (0 is the topmost lower, the first of Linux's
    /// `lowerdir=` list).
    Lower(usize),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Upper => f.write_str("upper"),
            Origin::Lower(index) => write!(f, "lower:{index}"),
        }
    }
}

/// One layer of a union, as `layers` shows it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LayerSummary {
    /// Which layer this is.
    pub origin: Origin,
    /// Whether the layer is read-only (every lower is; an upper normally is not).
    pub read_only: bool,
    /// A short description chosen by the union, without newlines: e.g. the filesystem kind,
    /// the layer's digest or the host directory it was loaded from, the whiteout encoding.
    pub label: String,
}

pub use crate::overlay::{Change, ChangeKind};

/// What the shell needs to know about a union beyond the VFS traits: implemented by the
/// overlay for `layers`, `diff` and the layer column of `stat`.
///
/// The methods take no credentials and check no permissions: the shell runs `layers` and
/// `diff` on root's behalf, and calls `origin_of` on an inode it already resolved with the
/// current credentials. None of them may modify the union (in particular, nothing may be
/// copied up).
///
/// An implementation for `OverlayFs` keeps a handle to the union (e.g. an `Arc` of it) and
/// recognises its own inodes in `origin_of` through [`Inode::as_any`].
pub trait UnionView: Send + Sync {
    /// The layers, upper first (if there is one), then the lowers from the top. The shell
    /// prints them sorted by [`Origin`], so the order returned does not matter.
    fn layers(&self) -> Vec<LayerSummary>;

    /// The layer `inode` (an inode reached through the union's root) takes its metadata from:
    /// `Upper` if the upper holds it (created there or copied up), else the topmost lower that
    /// holds it (for a merged directory, the topmost layer holding the directory). `None` if
    /// `inode` does not belong to this union.
    fn origin_of(&self, inode: &dyn Inode) -> Option<Origin>;

    /// The upper layer's changes against the lowers, like `docker diff`: one [`Change`] per
    /// path, in any order (the shell sorts). Inside an added directory every entry is `A`; a
    /// deleted directory is one `D` line; a directory whose contents changed is `C`.
    ///
    /// # Errors
    /// Whatever reading the layers returns (`EIO`, `ENOMEM`); `ENOTSUP` if the union cannot
    /// tell.
    fn diff(&self) -> Result<Vec<Change>>;

    /// Hands the changes of [`UnionView::diff`] to `visit` one by one, sorted by path
    /// bytewise. The shell prints `diff` through this, a line at a time; an implementation
    /// that walks its layers in that order overrides it so that nothing holds every changed
    /// path at once (this default collects and sorts them).
    ///
    /// # Errors
    /// Those of [`UnionView::diff`], or the first error of `visit` (nothing more is handed
    /// over after it).
    fn for_each_change(&self, visit: &mut dyn FnMut(ChangeKind, &str) -> Result<()>) -> Result<()> {
        let mut changes = self.diff()?;
        changes.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        for change in changes {
            visit(change.kind, &change.path)?;
        }
        Ok(())
    }
}

/// The shell: a namespace, an optional union view, an optional container engine (and the
/// container the shell is in), and the current credentials.
pub struct Shell {
    namespace: Namespace,
    union: Option<Arc<dyn UnionView>>,
    engine: Option<Arc<dyn ContainerEngine>>,
    container: Option<String>,
    creds: Credentials,
    failures: usize,
    last_error: Option<Errno>,
    /// The usage hint for the last line, if it was malformed.
    last_hint: Option<String>,
    exited: bool,
}

/// Modes `write`, `create`, `touch`, `open` and `mknod` create files with (before the umask).
const NEW_FILE_MODE: u16 = 0o666;
/// Mode `mkdir` creates directories with (before the umask).
const NEW_DIR_MODE: u16 = 0o777;

impl Shell {
    /// A shell over `namespace`, running as root. `union` answers `layers`, `diff` and the
    /// layer column of `stat`; without it `layers` and `diff` fail with `ENOTSUP` and the
    /// column shows `-`.
    pub fn new(namespace: Namespace, union: Option<Arc<dyn UnionView>>) -> Shell {
        Shell {
            namespace,
            union,
            engine: None,
            container: None,
            creds: Credentials::root(),
            failures: 0,
            last_error: None,
            last_hint: None,
            exited: false,
        }
    }

    /// A shell in container `container` of `engine`, running as root; the image commands
    /// (`images`, `history`, `df`, `ps`, `run`, `use`, `commit`, `rmi`) go to `engine`.
    ///
    /// # Errors
    /// What [`ContainerEngine::root`] returns for `container` (`ENOENT` if there is none).
    pub fn with_engine(engine: Arc<dyn ContainerEngine>, container: &str) -> Result<Shell> {
        let root = engine.root(container)?;
        let mut shell = Shell::new(
            Namespace::with_filesystem(root.filesystem),
            Some(root.union),
        );
        shell.engine = Some(engine);
        shell.container = Some(String::from(container));
        Ok(shell)
    }

    /// The container the shell is in, if it has an engine.
    pub fn container(&self) -> Option<&str> {
        self.container.as_deref()
    }

    /// The namespace the shell runs against.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The credentials commands run with.
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// Sets the credentials the following commands run with (as `su` does, but with
    /// supplementary groups if `creds` has them).
    pub fn set_credentials(&mut self, creds: Credentials) {
        self.creds = creds;
    }

    /// How many lines failed so far (each printed an `error:` line).
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// The errno of the last line that failed, if any did.
    pub fn last_error(&self) -> Option<Errno> {
        self.last_error
    }

    /// Whether a line was `exit`: the script ends there.
    pub fn exited(&self) -> bool {
        self.exited
    }

    /// For the last line, if it was malformed (its `error:` line is `EINVAL` because of the line
    /// itself, not of what it did): one line saying why, e.g. `usage: mv [-n|-x] A B` or
    /// ``unknown command `frob`; `help` lists the commands``. The contract's output holds only
    /// the `error:` line; a front end may show this beside it (`boot shell` on standard error).
    pub fn usage_hint(&self) -> Option<&str> {
        self.last_hint.as_deref()
    }

    /// Runs the lines of `text` up to its end or its first `exit`, writing all output to `out`.
    ///
    /// # Errors
    /// Only an error of `out` itself; failed commands print their `error:` line instead.
    pub fn run_script(&mut self, text: &str, out: &mut dyn Output) -> fmt::Result {
        for line in text.lines() {
            if self.exited {
                break;
            }
            self.run_line(line, out)?;
        }
        Ok(())
    }

    /// Runs one line, writing its output (or its one `error:` line) to `out`.
    ///
    /// # Errors
    /// Only an error of `out` itself; a failed command prints its `error:` line instead.
    pub fn run_line(&mut self, line: &str, out: &mut dyn Output) -> fmt::Result {
        let line = line.trim_matches([' ', '\t', '\r', '\n']);
        let mut printer = Printer {
            out: &mut *out,
            line: Vec::new(),
            broken: false,
        };
        self.last_hint = None;
        let result = self.execute(line, &mut printer);
        if printer.broken {
            return Err(fmt::Error);
        }
        match result {
            Ok(()) => Ok(()),
            Err(Failure { errno, detail }) => {
                self.failures += 1;
                self.last_error = Some(errno);
                let error = match detail {
                    Some(detail) => {
                        alloc::format!("error: {errno}: {line} ({})\n", escape(&detail))
                    }
                    None => alloc::format!("error: {errno}: {line}\n"),
                };
                out.write_bytes(error.as_bytes())
            }
        }
    }

    /// Parses and runs `line`, printing its output as it goes.
    fn execute(
        &mut self,
        line: &str,
        output: &mut Printer<'_>,
    ) -> core::result::Result<(), Failure> {
        let words = lexer::split_words(line).map_err(|errno| self.malformed(line, errno))?;
        if words.is_empty() {
            return Ok(());
        }
        let command = command::parse(&words).map_err(|errno| self.malformed(line, errno))?;
        self.run(command, output)
    }

    /// A malformed `line`'s failure, keeping its usage hint for [`Shell::usage_hint`].
    fn malformed(&mut self, line: &str, errno: Errno) -> Failure {
        self.last_hint = Some(usage::hint(line));
        errno.into()
    }

    fn run(
        &mut self,
        command: Command<'_>,
        output: &mut Printer<'_>,
    ) -> core::result::Result<(), Failure> {
        let namespace = &self.namespace;
        let creds = &self.creds;
        match command {
            Command::Ls { long, path } => output.lines(tree::ls(namespace, creds, path, long)?)?,
            Command::Cat(path) => output.bytes(&self.cat(path)?)?,
            Command::Stat(path) => {
                let inode = namespace.lookup(creds, path, false)?;
                let metadata = inode.metadata()?;
                let layer = match self
                    .union
                    .as_ref()
                    .and_then(|union| union.origin_of(&*inode))
                {
                    Some(origin) => alloc::format!("{origin}"),
                    None => String::from("-"),
                };
                output.line(&tree::stat_line(&metadata, &layer, &escape(path)))?;
            }
            Command::Readlink(path) => output.line(&escape(&namespace.readlink(creds, path)?))?,
            Command::GetXattr { path, name } => {
                let value = namespace.get_xattr(creds, path, name)?;
                output.line(&lexer::escape_bytes(&value))?;
            }
            Command::ListXattr(path) => {
                let names = namespace.list_xattr(creds, path)?;
                output.lines(names.iter().map(|name| escape(name)).collect())?;
            }
            Command::Write { path, text } => {
                let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
                namespace
                    .open(creds, path, flags, NEW_FILE_MODE)?
                    .write_all(&text)?;
            }
            Command::WriteAt { path, offset, text } => {
                let file = namespace.open(creds, path, OpenFlags::WRITE, 0)?;
                let mut written = 0;
                while let Some(rest) = text.get(written..).filter(|rest| !rest.is_empty()) {
                    let at = offset.checked_add(written as u64).ok_or(Errno::EFBIG)?;
                    match file.pwrite(at, rest)? {
                        0 => return Err(Errno::EIO.into()),
                        count => written += count,
                    }
                }
            }
            Command::Append { path, text } => {
                let flags = OpenFlags::WRITE | OpenFlags::APPEND;
                namespace.open(creds, path, flags, 0)?.write_all(&text)?;
            }
            Command::Create(path) => {
                let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
                namespace.open(creds, path, flags, NEW_FILE_MODE)?;
            }
            Command::Open { path, flags } => {
                namespace.open(creds, path, flags, NEW_FILE_MODE)?;
            }
            Command::Truncate { path, len } => namespace.truncate(creds, path, len)?,
            Command::Touch(path) => match namespace.stat(creds, path) {
                Ok(_) => namespace.utimes(creds, path, SetTime::Now, SetTime::Now)?,
                Err(Errno::ENOENT) => {
                    let flags = OpenFlags::WRITE | OpenFlags::CREATE;
                    namespace.open(creds, path, flags, NEW_FILE_MODE)?;
                }
                Err(errno) => return Err(errno.into()),
            },
            Command::Mkdir(path) => namespace.mkdir(creds, path, NEW_DIR_MODE)?,
            Command::Mknod { path, kind, device } => {
                namespace.mknod(creds, path, kind, NEW_FILE_MODE, device)?
            }
            Command::Rm(path) => namespace.unlink(creds, path)?,
            Command::Rmdir(path) => namespace.rmdir(creds, path)?,
            Command::Mv { old, new, flags } => namespace.rename(creds, old, new, flags)?,
            Command::Ln { old, new } => namespace.link(creds, old, new)?,
            Command::Symlink { target, path } => namespace.symlink(creds, target, path)?,
            Command::Chmod { mode, path } => namespace.chmod(creds, path, mode)?,
            Command::Chown { uid, gid, path } => namespace.chown(creds, path, uid, gid)?,
            Command::SetXattr { path, name, value } => {
                namespace.set_xattr(creds, path, name, &value, XattrFlags::empty())?
            }
            Command::RmXattr { path, name } => namespace.remove_xattr(creds, path, name)?,
            Command::Su { uid, gid } => self.creds = Credentials::user(uid, gid),
            Command::Help => {
                for (_, synopsis) in usage::COMMANDS {
                    output.line(synopsis)?;
                }
            }
            Command::Exit => self.exited = true,
            Command::Tree(path) => tree::tree(namespace, path, &mut |line| output.line(line))?,
            Command::Layers => {
                let mut layers = self.union()?.layers();
                layers.sort_by_key(|layer| layer.origin);
                for layer in layers {
                    let mode = if layer.read_only { "ro" } else { "rw" };
                    let label = if layer.label.is_empty() {
                        String::from("-")
                    } else {
                        escape(&layer.label)
                    };
                    output.line(&alloc::format!("{} {mode} {label}", layer.origin))?;
                }
            }
            Command::Diff => self.union()?.for_each_change(&mut |kind, path| {
                output.line(&alloc::format!("{} {}", kind.letter(), escape(path)))
            })?,
            Command::Images => output.lines(engine::images_lines(&self.engine()?.images()))?,
            Command::History(image) => {
                let history = self.engine()?.history(image)?;
                output.lines(engine::history_lines(&history))?;
            }
            Command::Df => {
                let engine = self.engine()?;
                let lines = engine::df_lines(&engine.disk_usage(), &engine.containers());
                output.lines(lines)?;
            }
            Command::Ps => {
                let containers = self.engine()?.containers();
                output.lines(engine::ps_lines(&containers, self.container()))?;
            }
            Command::Run { image, container } => self.engine()?.run(image, container)?,
            Command::Use(container) => self.enter(container)?,
            Command::Commit { container, image } => {
                let commit = self
                    .engine()?
                    .commit(container, image)
                    .map_err(|error| Failure {
                        errno: error.errno,
                        detail: error.detail(),
                    })?;
                // The container goes on over the new image: follow it if the shell is in it.
                if self.container() == Some(container) {
                    self.enter(container)?;
                }
                output.line(&commit.layer)?;
            }
            Command::Rmi(image) => {
                let removal = self.engine()?.remove_image(image)?;
                output.lines(engine::removal_lines(&removal))?;
            }
            Command::Rmc(container) => {
                let engine = self.engine()?;
                // Like `docker rm` of a running container: the shell works in it.
                if self.container() == Some(container) {
                    return Err(Errno::EBUSY.into());
                }
                let deleted = engine.remove_container(container)?;
                output.lines(engine::container_removal_lines(container, &deleted))?;
            }
        }
        Ok(())
    }

    fn engine(&self) -> Result<&Arc<dyn ContainerEngine>> {
        self.engine.as_ref().ok_or(Errno::ENOTSUP)
    }

    /// Makes container `name`'s root the shell's (the credentials stay as they are).
    fn enter(&mut self, name: &str) -> Result<()> {
        let root = self.engine()?.root(name)?;
        self.namespace = Namespace::with_filesystem(root.filesystem);
        self.union = Some(root.union);
        self.container = Some(String::from(name));
        Ok(())
    }

    fn union(&self) -> Result<&Arc<dyn UnionView>> {
        self.union.as_ref().ok_or(Errno::ENOTSUP)
    }

    /// `cat`: the content as it is, read in chunks, and a newline if it does not end a line.
    /// Printed once read whole, so that a failed read prints only its `error:` line.
    fn cat(&self, path: &str) -> Result<Vec<u8>> {
        let mut file = self.namespace.open(&self.creds, path, OpenFlags::READ, 0)?;
        let mut output = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let count = file.read(&mut chunk)?;
            match chunk.get(..count) {
                Some(read) if !read.is_empty() => output.extend_from_slice(read),
                _ => break,
            }
        }
        if !output.is_empty() && !output.ends_with(b"\n") {
            output.push(b'\n');
        }
        Ok(output)
    }
}

/// Why a line failed: the errno, and what the engine said about it (a `commit` names the
/// entry at fault), printed after the line.
struct Failure {
    errno: Errno,
    detail: Option<String>,
}

impl From<Errno> for Failure {
    fn from(errno: Errno) -> Failure {
        Failure {
            errno,
            detail: None,
        }
    }
}

impl fmt::Debug for Shell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shell")
            .field("creds", &self.creds)
            .field("union", &self.union.is_some())
            .field("engine", &self.engine.is_some())
            .field("container", &self.container)
            .field("failures", &self.failures)
            .finish()
    }
}

/// Where the shell writes: every command's output and `error:` lines, and the content `cat`
/// prints, byte for byte.
///
/// `Vec<u8>` takes everything as it is. `String` holds only UTF-8, so it takes `cat`'s bytes
/// with U+FFFD for invalid sequences (all other output is UTF-8 already); use it where the
/// output is read as text.
pub trait Output {
    /// Writes `bytes`, one or more whole lines of output.
    ///
    /// # Errors
    /// When the output cannot take them; the shell stops there and returns the error.
    fn write_bytes(&mut self, bytes: &[u8]) -> fmt::Result;
}

impl Output for Vec<u8> {
    fn write_bytes(&mut self, bytes: &[u8]) -> fmt::Result {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

impl Output for String {
    fn write_bytes(&mut self, bytes: &[u8]) -> fmt::Result {
        self.push_str(&String::from_utf8_lossy(bytes));
        Ok(())
    }
}

/// A name, path, link target or label as the shell prints it: escaped as TEXT is (see
/// [`lexer::escape_bytes`]), so that it stays on its line and means what it shows.
fn escape(text: &str) -> String {
    lexer::escape_bytes(text.as_bytes())
}

/// A command's output on its way to the front end's [`Output`]: each line is written as soon
/// as it is made, so nothing holds a command's whole output (the `tree` or `diff` of a deep
/// union is far bigger than the union: every line repeats the path of its directory). A
/// command that fails after printing lines (a `tree` walk that meets a path over `PATH_MAX`)
/// prints its `error:` line after them.
struct Printer<'a> {
    out: &'a mut dyn Output,
    /// The line being written, with its newline: one buffer for all of them.
    line: Vec<u8>,
    /// Whether `out` failed: that ends the command, and [`Shell::run_line`] returns the error
    /// instead of printing an `error:` line.
    broken: bool,
}

impl Printer<'_> {
    /// Writes `bytes` (whole lines) as they are.
    fn bytes(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.out.write_bytes(bytes).map_err(|fmt::Error| {
            self.broken = true;
            Errno::EIO
        })
    }

    /// Writes `line` and a newline.
    fn line(&mut self, line: &str) -> Result<()> {
        let mut buffer = core::mem::take(&mut self.line);
        buffer.clear();
        buffer.extend_from_slice(line.as_bytes());
        buffer.push(b'\n');
        let written = self.bytes(&buffer);
        self.line = buffer;
        written
    }

    /// Writes each of `lines`.
    fn lines(&mut self, lines: Vec<String>) -> Result<()> {
        lines.iter().try_for_each(|line| self.line(line))
    }
}
