//! Reading build files and image lists (see the [module docs](super)).

use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Context, Result};
use overlay_core::image::store::check_name;
use overlay_core::shell::lexer::{decode_text, split_words};

/// One instruction after `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `COPY SRC DST`: SRC relative to the build file's directory.
    Copy {
        /// The source, relative, inside the build file's directory.
        src: PathBuf,
        /// The absolute destination in the image, normalised; it ends in `/` if it was
        /// written so (a file source then goes into it).
        dst: String,
    },
    /// `MKDIR PATH`.
    Mkdir(String),
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
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let where_ = || format!("{}:{line}", path.display());
        let text = raw.trim();
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

fn parse_instruction(keyword: &str, args: &[String], line: &str) -> Result<Instruction> {
    Ok(match (keyword, args) {
        ("FROM", _) => bail!("only one FROM, on the first line"),
        ("COPY", [src, dst]) => {
            // A trailing slash says "into this directory" (for a file source).
            let mut normal = image_path(dst)?;
            if dst.ends_with('/') && normal != "/" {
                normal.push('/');
            }
            Instruction::Copy {
                src: relative_source(src)?,
                dst: normal,
            }
        }
        ("MKDIR", [path]) => Instruction::Mkdir(image_path(path)?),
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
        ("CMD", args) if !args.is_empty() => {
            let rest = line[3..].trim_start();
            if rest.starts_with('[') {
                let cmd: Vec<String> = serde_json::from_str(rest).map_err(|error| {
                    anyhow!("CMD [...] must be a JSON array of strings: {error}")
                })?;
                ensure!(!cmd.is_empty(), "CMD [] is empty");
                Instruction::Cmd(cmd)
            } else {
                Instruction::Cmd(args.to_vec())
            }
        }
        ("COPY" | "MKDIR" | "WRITE" | "RM" | "ENV" | "CMD", _) => {
            bail!("wrong number of arguments (see `boot::build`)")
        }
        (other, _) => bail!("unknown instruction {other} (FROM, COPY, MKDIR, WRITE, RM, ENV, CMD)"),
    })
}

/// A `COPY` source: relative, no `..`, so it stays inside the build file's directory.
fn relative_source(src: &str) -> Result<PathBuf> {
    let path = PathBuf::from(src);
    ensure!(
        path.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
        "COPY source {src:?} must be a relative path inside the build file's directory"
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
