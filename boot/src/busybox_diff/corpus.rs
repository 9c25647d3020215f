//! The scripts: one file per script in a corpus directory (`boot/tests/busybox/`).
//!
//! A script file is `NAME.sh`; its whole text is the `sh -c` argument, comments included (the
//! shell skips them, on both sides alike). Its first comment line that starts with
//! `# checks:` says what it checks and is shown in reports.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The default corpus: `boot/tests/busybox/` in the repository.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/busybox")
}

/// The longest script name (fw_cfg records and serial lines carry it).
pub const MAX_NAME_BYTES: usize = 48;

/// One `sh -c` script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// Its name: the file name without `.sh` (letters, digits, `.`, `_`, `-`).
    pub name: String,
    /// The script, as `sh -c` receives it.
    pub text: String,
    /// What it checks (its `# checks:` line), or empty.
    pub checks: String,
}

impl Script {
    /// A script named `name`.
    ///
    /// # Errors
    /// A name that is not valid (see [`check_name`]) or a script holding a NUL byte, which an
    /// `execve` argument cannot carry.
    pub fn new(name: &str, text: &str) -> Result<Script> {
        check_name(name)?;
        if text.contains('\0') {
            bail!("script {name}: a NUL byte cannot be passed to sh -c");
        }
        let checks = text
            .lines()
            .find_map(|line| line.strip_prefix("# checks:"))
            .map(|rest| rest.trim().to_string())
            .unwrap_or_default();
        Ok(Script {
            name: name.to_string(),
            text: text.to_string(),
            checks,
        })
    }
}

/// Whether `name` may name a script: 1 to [`MAX_NAME_BYTES`] of ASCII letters, digits, `.`,
/// `_` and `-`, so that it is one word on a serial line and holds no NUL.
///
/// # Errors
/// Says what is wrong with it.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        bail!("script name {name:?}: 1 to {MAX_NAME_BYTES} bytes");
    }
    if !name
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
    {
        bail!("script name {name:?}: only letters, digits, '.', '_' and '-'");
    }
    Ok(())
}

/// Every `*.sh` file of `dir`, sorted by name.
///
/// # Errors
/// If the directory cannot be read, a file is not UTF-8, or a name or script is not valid.
pub fn load_dir(dir: &Path) -> Result<Vec<Script>> {
    let mut scripts = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let Some(name) = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".sh"))
        else {
            continue;
        };
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        scripts.push(Script::new(name, &text)?);
    }
    scripts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(scripts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_plain_words() {
        assert!(check_name("01-copy-up.sh").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME_BYTES + 1)).is_err());
    }

    #[test]
    fn the_checks_line_is_kept() {
        let script = Script::new("x", "# checks: copy-up\necho hi > /a\n").unwrap();
        assert_eq!(script.checks, "copy-up");
        assert!(Script::new("x", "echo \0").is_err());
    }
}
