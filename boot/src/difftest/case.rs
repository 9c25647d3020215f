//! Cases: a stack of layer specs and a shell script, and the layer specs turned into host
//! directories.
//!
//! # Case files
//! A case file holds sections, each opened by a line of its own: `[lower]` starts a lower layer
//! (give them top first, like Linux `lowerdir=`), `[options]` holds words (`no-upper`: a
//! read-only union; `upper-size=BYTES`: an upper filesystem of that capacity), `[script]`
//! starts the script, which runs to the end of the file. Lines starting with `#` before
//! `[script]` are comments; inside the script the shell's own comment rule applies.
//!
//! ```text
//! # Scenario 2: writing at offset 0 of a lower file copies it up.
//! [lower]
//! d etc
//! f etc/config :xxx:yyy:zzz
//! [script]
//! writeat /etc/config 0 q
//! cat /etc/config
//! ```
//!
//! # Layer specs
//! One entry per line, parents before children, paths relative to the layer's root:
//! - `d PATH`: a directory, mode 0755; `o PATH`: an opaque one (`trusted.overlay.opaque=y`);
//! - `f PATH [TEXT]`: a file, mode 0644, holding TEXT (the shell's escapes: `\n`, `\xHH`...);
//!   `r PATH BYTES`: a file of BYTES bytes, the letters `a` to `z` over and over;
//! - `l PATH TARGET`: a symlink; `h PATH EXISTING`: a hard link to an entry made before;
//! - `w PATH`: a whiteout (character device 0/0);
//! - `c PATH MAJOR MINOR`, `b PATH MAJOR MINOR`: device nodes; `p PATH`: a fifo (mode 0644);
//! - `m PATH OCTAL`: change the mode; `u PATH UID:GID`: change the owner (not following a
//!   symlink); `x PATH NAME VALUE`: set an xattr (VALUE with the shell's escapes).
//!
//! Everything is owned by root unless a `u` line says otherwise.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use overlay_core::shell::lexer::decode_text;
use rustix::fs::{FileType as HostFileType, Mode, CWD};

/// The xattr that marks an opaque directory in Linux's whiteout encoding.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// The entries of one layer, as spec lines (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerSpec {
    /// The spec lines, in order.
    pub lines: Vec<String>,
}

/// A differential test case: lower layers (top first), whether there is an upper layer, and
/// the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// A name for reports (the file name for corpus cases, the seed for generated ones).
    pub name: String,
    /// The lower layers, top first.
    pub lowers: Vec<LayerSpec>,
    /// Whether the union has an upper layer (else it is read-only).
    pub upper: bool,
    /// The capacity of the upper filesystem, if limited.
    pub upper_capacity_bytes: Option<u64>,
    /// The script, in the shell language of `docs/shell.md`.
    pub script: String,
}

impl Case {
    /// Reads a case file's text (see the module docs).
    ///
    /// # Errors
    /// A line outside any section, an unknown section or option, no `[lower]` section, or no
    /// `[script]` section.
    pub fn parse(name: &str, text: &str) -> Result<Case> {
        let mut lowers: Vec<LayerSpec> = Vec::new();
        let mut upper = true;
        let mut upper_capacity_bytes = None;
        let mut script = None;
        let mut section = "";
        let mut lines = text.lines();
        for (number, line) in lines.by_ref().enumerate() {
            let trimmed = line.trim();
            match trimmed {
                "[lower]" => {
                    lowers.push(LayerSpec::default());
                    section = "lower";
                    continue;
                }
                "[options]" => {
                    section = "options";
                    continue;
                }
                "[script]" => {
                    script = Some(String::new());
                    break;
                }
                _ => {}
            }
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            match section {
                "lower" => {
                    if let Some(layer) = lowers.last_mut() {
                        layer.lines.push(trimmed.to_string());
                    }
                }
                "options" => {
                    for word in trimmed.split_whitespace() {
                        match word {
                            "no-upper" => upper = false,
                            _ if word.starts_with("upper-size=") => {
                                let bytes =
                                    word["upper-size=".len()..].parse().with_context(|| {
                                        format!("{name}:{}: bad upper-size", number + 1)
                                    })?;
                                upper_capacity_bytes = Some(bytes);
                            }
                            _ => bail!("{name}:{}: unknown option `{word}`", number + 1),
                        }
                    }
                }
                _ => bail!("{name}:{}: a line outside any section", number + 1),
            }
        }
        let Some(mut script) = script else {
            bail!("{name}: no [script] section");
        };
        for line in lines {
            script.push_str(line);
            script.push('\n');
        }
        if lowers.is_empty() {
            bail!("{name}: no [lower] section");
        }
        Ok(Case {
            name: name.to_string(),
            lowers,
            upper,
            upper_capacity_bytes,
            script,
        })
    }

    /// The case as a case file's text, which [`Case::parse`] reads back.
    pub fn to_text(&self) -> String {
        let mut text = format!("# {}\n", self.name);
        if !self.upper {
            text.push_str("[options]\nno-upper\n");
        } else if let Some(bytes) = self.upper_capacity_bytes {
            text.push_str(&format!("[options]\nupper-size={bytes}\n"));
        }
        for layer in &self.lowers {
            text.push_str("[lower]\n");
            for line in &layer.lines {
                text.push_str(line);
                text.push('\n');
            }
        }
        text.push_str("[script]\n");
        text.push_str(&self.script);
        text
    }
}

/// Makes the entries of `spec` in the existing, empty directory `dir`.
///
/// # Errors
/// A malformed line, a path that leaves the layer, or whatever the host refuses (making device
/// nodes and setting `trusted.*` xattrs needs root).
pub fn materialize(spec: &LayerSpec, dir: &Path) -> Result<()> {
    for line in &spec.lines {
        add_entry(dir, line).with_context(|| format!("layer line `{line}`"))?;
    }
    Ok(())
}

fn add_entry(dir: &Path, line: &str) -> Result<()> {
    let mut words = line.splitn(3, ' ');
    let op = words.next().unwrap_or("");
    let relative = words.next().ok_or_else(|| anyhow!("no path"))?;
    let rest = words.next().unwrap_or("");
    let path = inside(dir, relative)?;
    match op {
        "d" | "o" => {
            fs::create_dir(&path)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
            if op == "o" {
                xattr::set(&path, OPAQUE_XATTR, b"y")?;
            }
        }
        "f" => {
            let text = decode_text(rest).map_err(|errno| anyhow!("bad TEXT: {errno}"))?;
            fs::write(&path, text)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        }
        "r" => {
            let len: usize = rest.parse().context("bad BYTES")?;
            let content: Vec<u8> = (b'a'..=b'z').cycle().take(len).collect();
            fs::write(&path, content)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        }
        "l" => std::os::unix::fs::symlink(rest, &path)?,
        "h" => fs::hard_link(inside(dir, rest)?, &path)?,
        "w" => node(&path, HostFileType::CharacterDevice, 0, 0, 0)?,
        "c" | "b" => {
            let mut numbers = rest.split(' ').map(str::parse::<u32>);
            let (Some(Ok(major)), Some(Ok(minor)), None) =
                (numbers.next(), numbers.next(), numbers.next())
            else {
                bail!("expected MAJOR MINOR");
            };
            let kind = if op == "c" {
                HostFileType::CharacterDevice
            } else {
                HostFileType::BlockDevice
            };
            node(&path, kind, 0o644, major, minor)?;
        }
        "p" => node(&path, HostFileType::Fifo, 0o644, 0, 0)?,
        "m" => {
            let mode = u32::from_str_radix(rest, 8).context("bad mode")?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        }
        "u" => {
            let (uid, gid) = rest
                .split_once(':')
                .ok_or_else(|| anyhow!("expected UID:GID"))?;
            std::os::unix::fs::lchown(&path, Some(uid.parse()?), Some(gid.parse()?))?;
        }
        "x" => {
            let (name, value) = rest
                .split_once(' ')
                .ok_or_else(|| anyhow!("expected NAME VALUE"))?;
            let value = decode_text(value).map_err(|errno| anyhow!("bad VALUE: {errno}"))?;
            xattr::set(&path, name, &value)?;
        }
        _ => bail!("unknown entry kind `{op}`"),
    }
    Ok(())
}

/// `relative` under `dir`, refused if it could leave `dir`.
fn inside(dir: &Path, relative: &str) -> Result<PathBuf> {
    let path = Path::new(relative);
    if path
        .components()
        .any(|part| !matches!(part, Component::Normal(_)))
    {
        bail!("`{relative}` is not a plain relative path");
    }
    Ok(dir.join(path))
}

/// A device node or fifo at `path`, with exactly `mode` (the umask does not apply).
fn node(path: &Path, kind: HostFileType, mode: u32, major: u32, minor: u32) -> Result<()> {
    let device = rustix::fs::makedev(major, minor);
    rustix::fs::mknodat(CWD, path, kind, Mode::from_raw_mode(mode), device)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_files_round_trip() {
        let text = "# demo\n[lower]\nd etc\nf etc/a x\n[lower]\nd etc\n[script]\ncat /etc/a\n";
        let case = Case::parse("demo", text).unwrap();
        assert_eq!(case.lowers.len(), 2);
        assert_eq!(case.lowers[0].lines, ["d etc", "f etc/a x"]);
        assert!(case.upper);
        assert_eq!(case.script, "cat /etc/a\n");
        assert_eq!(Case::parse("demo", &case.to_text()).unwrap(), case);
    }

    #[test]
    fn bad_case_files_are_refused() {
        assert!(Case::parse("x", "[script]\nls\n").is_err());
        assert!(Case::parse("x", "[lower]\nd a\n").is_err());
        assert!(Case::parse("x", "d a\n[script]\n").is_err());
        assert!(Case::parse("x", "[options]\nbogus\n[lower]\n[script]\n").is_err());
        let read_only = Case::parse("x", "[options]\nno-upper\n[lower]\n[script]\n").unwrap();
        assert!(!read_only.upper);
        let small = Case::parse("x", "[options]\nupper-size=4096\n[lower]\n[script]\n").unwrap();
        assert_eq!(small.upper_capacity_bytes, Some(4096));
        assert_eq!(Case::parse("x", &small.to_text()).unwrap(), small);
    }

    #[test]
    fn paths_stay_inside_the_layer() {
        let dir = Path::new("/nonexistent");
        assert!(inside(dir, "../x").is_err());
        assert!(inside(dir, "/etc").is_err());
        // `Path::components` drops inner `.` components, so this one stays inside.
        assert_eq!(inside(dir, "a/./b").unwrap(), Path::new("/nonexistent/a/b"));
        assert_eq!(inside(dir, "a/b").unwrap(), Path::new("/nonexistent/a/b"));
    }
}
