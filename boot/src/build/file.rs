//! Reading build files and image lists (see the [module docs](super)).

use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Context, Result};
use overlay_core::image::store::check_name;
use overlay_core::shell::lexer::{decode_text, split_words};

/// One instruction after `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `COPY [--from=CONTEXT] SRC DST`: SRC relative to the build file's directory, or to
    /// the named build context CONTEXT.
    Copy {
        /// The named build context SRC is in; `None`: the build file's directory.
        from: Option<String>,
        /// The source, relative, inside its context.
        src: PathBuf,
        /// The absolute destination in the image, normalised; it ends in `/` if it was
        /// written so (a file source then goes into it).
        dst: String,
    },
    /// `MKDIR [--chmod=MODE] PATH...`.
    Mkdir {
        /// The directories, absolute, normalised.
        paths: Vec<String>,
        /// Their permission bits (0755 unless `--chmod` says otherwise, e.g. 1777 for `/tmp`).
        mode: u32,
    },
    /// `SYMLINK TARGET PATH...`.
    Symlink {
        /// What the links point to, as written.
        target: String,
        /// The links, absolute, normalised.
        paths: Vec<String>,
    },
    /// `WRITE PATH TEXT`.
    Write {
        /// The absolute path of the file.
        path: String,
        /// Its content, escapes decoded.
        text: Vec<u8>,
    },
    /// `RM PATH`.
    Rm(String),
    /// `ENV NAME=VALUE...`.
    Env(Vec<(String, String)>),
    /// `CMD ...`.
    Cmd(Vec<String>),
    /// `ENTRYPOINT ...`.
    Entrypoint(Vec<String>),
    /// `WORKDIR PATH`: absolute and normalised, or relative (to the `WorkingDir` before it)
    /// as written.
    Workdir(String),
    /// `USER NAME[:GROUP]`, as written (a name or uid, then a group name or gid).
    User(String),
}

/// One line of a build file after `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its line number, from 1.
    pub line: usize,
    /// The line as written, trimmed: the history's `created_by` and part of the cache key.
    pub text: String,
    /// What it does.
    pub instruction: Instruction,
}

/// A parsed build file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The directory `COPY` sources are relative to (the file's own).
    pub context: PathBuf,
    /// `scratch` or the name of the parent image.
    pub from: String,
    /// The steps after `FROM`, in order.
    pub steps: Vec<Step>,
}

/// Reads and parses the build file at `path`.
pub fn parse_build_file(path: &Path) -> Result<BuildFile> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let context = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    parse_build_text(&text, path, &context)
}

/// Parses `text`, the build file at `path` whose `COPY` sources are relative to `context`.
pub fn parse_build_text(text: &str, path: &Path, context: &Path) -> Result<BuildFile> {
    let mut from = None;
    let mut steps = Vec::new();
    for (line, joined) in logical_lines(text) {
        let where_ = || format!("{}:{line}", path.display());
        let text = joined.trim();
        let words = split_words(text).map_err(|_| anyhow!("{}: unclosed quote", where_()))?;
        let Some((keyword, args)) = words.split_first() else {
            continue;
        };
        let keyword = keyword.to_ascii_uppercase();
        if from.is_none() {
            ensure!(
                keyword == "FROM",
                "{}: a build file starts with FROM, not {keyword}",
                where_()
            );
            let [parent] = args else {
                bail!("{}: FROM takes one image name (or scratch)", where_());
            };
            if parent != "scratch" {
                check_name(parent)
                    .map_err(|_| anyhow!("{}: bad image name {parent:?}", where_()))?;
            }
            from = Some(parent.clone());
            continue;
        }
        let instruction = parse_instruction(&keyword, args, text)
            .with_context(|| format!("{}: {text}", where_()))?;
        steps.push(Step {
            line,
            text: text.to_string(),
            instruction,
        });
    }
    let from = from.ok_or_else(|| anyhow!("{}: no FROM line", path.display()))?;
    Ok(BuildFile {
        path: path.to_path_buf(),
        context: context.to_path_buf(),
        from,
        steps,
    })
}

/// The lines of `text` with continuations joined: a line ending in `\` goes on on the next
/// line (as in a Dockerfile), and comment lines inside a continued line are skipped. Each
/// comes with the number of its first line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if pending.is_some() && trimmed.starts_with('#') {
            continue;
        }
        let (start, mut joined) = pending.take().unwrap_or((index + 1, String::new()));
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head.trim_end());
                joined.push(' ');
                pending = Some((start, joined));
            }
            None => {
                joined.push_str(trimmed);
                lines.push((start, joined));
            }
        }
    }
    lines.extend(pending);
    lines
}

/// Splits the leading `--NAME=VALUE` options off `args`.
fn options(args: &[String]) -> (Vec<(&str, &str)>, &[String]) {
    let count = args.iter().take_while(|arg| arg.starts_with("--")).count();
    let options = args[..count]
        .iter()
        .map(|arg| arg[2..].split_once('=').unwrap_or((&arg[2..], "")))
        .collect();
    (options, &args[count..])
}

fn parse_instruction(keyword: &str, args: &[String], line: &str) -> Result<Instruction> {
    let (flags, args) = match keyword {
        "COPY" | "MKDIR" => options(args),
        _ => (Vec::new(), args),
    };
    Ok(match (keyword, args) {
        ("FROM", _) => bail!("only one FROM, on the first line"),
        ("COPY", [src, dst]) => {
            let mut from = None;
            for (flag, value) in flags {
                match flag {
                    "from" => {
                        ensure!(!value.is_empty(), "COPY --from= names no build context");
                        from = Some(value.to_string());
                    }
                    _ => bail!("COPY takes --from=CONTEXT, not --{flag}"),
                }
            }
            // A trailing slash says "into this directory" (for a file source).
            let mut normal = image_path(dst)?;
            if dst.ends_with('/') && normal != "/" {
                normal.push('/');
            }
            Instruction::Copy {
                from,
                src: relative_source(src)?,
                dst: normal,
            }
        }
        ("MKDIR", paths) if !paths.is_empty() => {
            let mut mode = 0o755;
            for (flag, value) in flags {
                match flag {
                    "chmod" => {
                        mode = u32::from_str_radix(value, 8)
                            .ok()
                            .filter(|mode| *mode <= 0o7777)
                            .ok_or_else(|| anyhow!("--chmod={value}: not an octal mode"))?;
                    }
                    _ => bail!("MKDIR takes --chmod=MODE, not --{flag}"),
                }
            }
            Instruction::Mkdir {
                paths: paths.iter().map(|p| image_path(p)).collect::<Result<_>>()?,
                mode,
            }
        }
        ("SYMLINK", [target, paths @ ..]) if !paths.is_empty() => {
            ensure!(!target.is_empty(), "SYMLINK needs a target");
            let paths: Vec<String> = paths.iter().map(|p| image_path(p)).collect::<Result<_>>()?;
            ensure!(!paths.iter().any(|p| p == "/"), "SYMLINK cannot replace /");
            Instruction::Symlink {
                target: target.clone(),
                paths,
            }
        }
        ("WRITE", [path, text]) => Instruction::Write {
            path: image_path(path)?,
            text: decode_text(text).map_err(|_| anyhow!("bad escape in TEXT"))?,
        },
        ("RM", [path]) => Instruction::Rm(image_path(path)?),
        ("ENV", vars) if !vars.is_empty() => {
            let mut pairs = Vec::new();
            for var in vars {
                let (name, value) = var
                    .split_once('=')
                    .ok_or_else(|| anyhow!("ENV takes NAME=VALUE, not {var:?}"))?;
                ensure!(
                    !name.is_empty()
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                    "bad variable name {name:?}"
                );
                let value = decode_text(value).map_err(|_| anyhow!("bad escape in {var:?}"))?;
                let value =
                    String::from_utf8(value).map_err(|_| anyhow!("{var:?} is not UTF-8"))?;
                pairs.push((name.to_string(), value));
            }
            Instruction::Env(pairs)
        }
        ("CMD", args) if !args.is_empty() => Instruction::Cmd(command(keyword, args, line)?),
        ("ENTRYPOINT", args) if !args.is_empty() => {
            Instruction::Entrypoint(command(keyword, args, line)?)
        }
        ("WORKDIR", [path]) => {
            ensure!(!path.is_empty(), "WORKDIR needs a path");
            // A relative path is resolved against the `WorkingDir` it follows when it runs;
            // its components are checked here.
            let normal = image_path(&format!("/{path}"))?;
            Instruction::Workdir(if path.starts_with('/') {
                normal
            } else {
                normal[1..].to_string()
            })
        }
        ("USER", [user]) => {
            let (name, group) = user.split_once(':').unwrap_or((user, "-"));
            ensure!(
                !name.is_empty() && !group.is_empty() && !group.contains(':'),
                "USER takes NAME[:GROUP] (names or numbers), not {user:?}"
            );
            Instruction::User(user.clone())
        }
        (
            "COPY" | "MKDIR" | "SYMLINK" | "WRITE" | "RM" | "ENV" | "CMD" | "ENTRYPOINT"
            | "WORKDIR" | "USER",
            _,
        ) => {
            bail!("wrong number of arguments (see `boot::build`)")
        }
        (other, _) => bail!(
            "unknown instruction {other} (FROM, COPY, MKDIR, SYMLINK, WRITE, RM, ENV, CMD, \
             ENTRYPOINT, WORKDIR, USER)"
        ),
    })
}

/// The arguments of `CMD` or `ENTRYPOINT` (`keyword`) in `line`: a JSON array of strings
/// (`["ARG", ...]`), else the words `args`.
fn command(keyword: &str, args: &[String], line: &str) -> Result<Vec<String>> {
    let rest = line[keyword.len()..].trim_start();
    if !rest.starts_with('[') {
        return Ok(args.to_vec());
    }
    let command: Vec<String> = serde_json::from_str(rest)
        .map_err(|error| anyhow!("{keyword} [...] must be a JSON array of strings: {error}"))?;
    ensure!(!command.is_empty(), "{keyword} [] is empty");
    Ok(command)
}

/// A `COPY` source: relative, no `..`, so it stays inside its context directory.
fn relative_source(src: &str) -> Result<PathBuf> {
    let path = PathBuf::from(src);
    ensure!(
        path.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
        "COPY source {src:?} must be a relative path inside its context directory"
    );
    Ok(path)
}

/// An absolute path in the image, normalised: `/a//b/./c/` is `/a/b/c`; no `..`.
pub(super) fn image_path(path: &str) -> Result<String> {
    ensure!(path.starts_with('/'), "{path:?} is not an absolute path");
    let mut normal = String::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => bail!("{path:?}: `..` is not allowed"),
            _ if component.starts_with(".wh.") => {
                bail!("{path:?}: names starting with .wh. are whiteouts")
            }
            _ => {
                normal.push('/');
                normal.push_str(component);
            }
        }
    }
    if normal.is_empty() {
        normal.push('/');
    }
    Ok(normal)
}

/// Reads an image list: `NAME BUILD-FILE` per line (the file relative to the list); blank
/// lines and `#` comments skipped.
pub fn read_image_list(list: &Path) -> Result<Vec<(String, PathBuf)>> {
    let text = fs::read_to_string(list).with_context(|| format!("reading {}", list.display()))?;
    let base = list.parent().unwrap_or(Path::new("."));
    let mut entries: Vec<(String, PathBuf)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let words = split_words(line.trim())
            .map_err(|_| anyhow!("{}:{}: unclosed quote", list.display(), index + 1))?;
        match words.as_slice() {
            [] => {}
            [name, file] => {
                check_name(name).map_err(|_| {
                    anyhow!("{}:{}: bad image name {name:?}", list.display(), index + 1)
                })?;
                ensure!(
                    !entries.iter().any(|(existing, _)| existing == name),
                    "{}:{}: {name} is listed twice",
                    list.display(),
                    index + 1
                );
                entries.push((name.clone(), base.join(file)));
            }
            _ => bail!(
                "{}:{}: expected `NAME BUILD-FILE`",
                list.display(),
                index + 1
            ),
        }
    }
    ensure!(!entries.is_empty(), "{} lists no images", list.display());
    Ok(entries)
}
