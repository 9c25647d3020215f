//! Images from build files, with a build cache: a small, `RUN`-free Dockerfile.
//!
//! # Build files
//! One instruction per line; blank lines and `#` comments are skipped; words split on blanks
//! and `"..."` quotes as in the shell language (`overlay_core::shell::lexer`), and TEXT takes
//! its escapes (`\n`, `\t`, `\\`, `\xHH`, `\"`).
//!
//! | instruction | what it does | layer |
//! | --- | --- | --- |
//! | `FROM scratch` / `FROM NAME` | the first line: start empty, or from the image NAME (an image of the same build, built first) | |
//! | `COPY [--from=CONTEXT] SRC DST` | copies SRC (relative to the build file's directory, inside it; with `--from`, inside the named build context CONTEXT): a directory's contents into the directory DST, a file to DST (or into DST if it ends in `/`) | one |
//! | `MKDIR [--chmod=MODE] PATH...` | makes the directories and their parents, like `mkdir -p`; with mode MODE (octal, e.g. `1777`), else 0755 | one |
//! | `SYMLINK TARGET PATH...` | makes each PATH a symbolic link to TARGET (and its parents), like `ln -s TARGET PATH` | one |
//! | `WRITE PATH TEXT` | writes the file PATH (mode 0644) holding TEXT | one |
//! | `RM PATH` | deletes PATH (it must exist in the image): a whiteout | one |
//! | `ENV NAME=VALUE...` | sets variables in the config's `Env` | none |
//! | `CMD ARG...` / `CMD ["ARG", ...]` | sets the config's `Cmd` | none |
//! | `ENTRYPOINT ARG...` / `ENTRYPOINT ["ARG", ...]` | sets the config's `Entrypoint` (the program; `Cmd`, or the command a run gives, are its arguments); as in Docker, it clears the `Cmd` of the base image unless a `CMD` came before it in the same file | none |
//! | `WORKDIR PATH` | sets the config's `WorkingDir`, where the program starts (a relative PATH is taken from the `WorkingDir` before); makes the directory (0755, owner 0:0, and its missing parents) if the image does not have it | one if it makes the directory, else none |
//! | `USER NAME[:GROUP]` | sets the config's `User`, whom the program runs as: a name (looked up in the image's `/etc/passwd` when it starts) or uid, then a group name (`/etc/group`) or gid | none |
//!
//! A line ending in `\` goes on on the next one (comment lines in between are skipped), as in
//! a Dockerfile; the step's text is the whole joined line.
//!
//! # Named build contexts
//! `COPY --from=CONTEXT` reads from a directory outside the build file's, for files that are
//! not in the repository, as `docker build --build-context NAME=DIR` names one. The builder
//! knows these ([`Builder::new`] sets them, [`Builder::set_context`] changes them):
//!
//! | context | directory | holds |
//! | --- | --- | --- |
//! | `busybox` | `$BUSYBOX_DIR`, else `target/busybox` of the repository | Debian's `busybox-static` unpacked (`bin/busybox`), which `make deps` fetches |
//!
//! A `COPY` from a context whose directory (or source) is missing fails, naming it.
//!
//! Each filesystem-changing instruction makes one layer, whose history entry's `created_by`
//! is the instruction as written; `ENV`, `CMD`, `ENTRYPOINT`, `USER` and a `WORKDIR` whose
//! directory is there make `empty_layer` history entries. Layers are deterministic tars
//! ([`crate::oci::layer_tar`]): owner 0:0, time 0, directories 0755 (also the parent
//! directories an instruction names), files 0644 or 0755. In a directory that `COPY` copies,
//! a file `.wh.NAME` is the whiteout of NAME and `.wh..wh..opq` makes its directory opaque,
//! as in layer directories.
//!
//! # Image lists
//! An image list (like `rootfs/images`, the default RAM disk) names the images of one RAM
//! disk: one per line, `NAME BUILD-FILE` (the file relative to the list). The images go into
//! one OCI layout in list order (the first is the one `make shell` starts a container of);
//! `FROM` may name any image of the list, which is built first.
//!
//! # The build cache
//! Like Docker's: a step is looked up by its key, the SHA-256 of the parent (the digest of
//! the config of the image before the step: the image ID Docker keys on, which covers every
//! layer and setting before it), the instruction as written and, for `COPY`, the content of
//! its sources (hashed as the deterministic tar they pack into). A hit reuses the stored
//! layer (reported `CACHED`); a miss builds it and stores it (`BUILT`). So a second build
//! with nothing changed is all `CACHED`, and changing one instruction (or a file it copies)
//! rebuilds that step and every step after it, in this image and in the images built `FROM`
//! it. The cache lives in a directory (`<target>/build-cache` by default), one file per key;
//! entries are written whole (to a temporary name, then renamed), so builds running at once
//! share it safely.

mod cache;
mod file;
mod layers;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use overlay_core::image::{sha256_digest, short_digest};
use serde_json::{json, Value};

pub use cache::BuildCache;
pub use file::{parse_build_file, read_image_list, BuildFile, Instruction, Step};

use crate::oci::{OciImage, OciLayout};

/// The default image list: `rootfs/images` in the repository.
pub const DEFAULT_IMAGE_LIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../rootfs/images");

/// The image list of the images the kernel gets through fw_cfg rather than on the RAM disk
/// (too big for BIOS to load quickly): `rootfs/fw-cfg-images`, the BusyBox image.
pub const FW_CFG_IMAGE_LIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../rootfs/fw-cfg-images");

/// The build context `busybox`: `$BUSYBOX_DIR`, else `target/busybox` of the repository, where
/// `make deps` unpacks Debian's `busybox-static`.
pub fn busybox_dir() -> PathBuf {
    std::env::var_os("BUSYBOX_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/busybox")),
        PathBuf::from,
    )
}

/// The BusyBox binary in the build context `busybox`, if `make deps` fetched it.
pub fn busybox_binary() -> Option<PathBuf> {
    let binary = busybox_dir().join("bin/busybox");
    binary.is_file().then_some(binary)
}

/// Whether a step's layer came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Reused from the cache.
    Cached,
    /// Built (and stored in the cache, if there is one).
    Built,
}

/// How much of an instruction a [`StepReport::line`] shows.
pub const REPORTED_INSTRUCTION_CHARS: usize = 80;

/// What one step of a build did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// The image being built.
    pub image: String,
    /// The step's number, from 1 (the `FROM` line).
    pub number: usize,
    /// How many steps the build file has.
    pub total: usize,
    /// The instruction as written.
    pub instruction: String,
    /// `None` for `FROM`, which builds nothing.
    pub outcome: Option<Outcome>,
    /// The layer the step made (digest, bytes), if it makes one.
    pub layer: Option<(String, u64)>,
}

impl StepReport {
    /// One line, e.g. `[app:1 2/4] COPY app /app: CACHED sha256:f2252f45379d 10240 bytes`;
    /// an instruction longer than [`REPORTED_INSTRUCTION_CHARS`] is cut there (`...`).
    pub fn line(&self) -> String {
        let instruction = match self
            .instruction
            .char_indices()
            .nth(REPORTED_INSTRUCTION_CHARS)
        {
            Some((cut, _)) => format!("{} ...", &self.instruction[..cut]),
            None => self.instruction.clone(),
        };
        let mut line = format!(
            "[{} {}/{}] {instruction}",
            self.image, self.number, self.total
        );
        if let Some(outcome) = self.outcome {
            let outcome = match outcome {
                Outcome::Cached => "CACHED",
                Outcome::Built => "BUILT",
            };
            let _ = write!(line, ": {outcome}");
            if let Some((digest, size)) = &self.layer {
                let _ = write!(line, " {} {size} bytes", short_digest(digest));
            }
        }
        line
    }
}

/// `error`, met building the last image of the `FROM` chain `chain` (the image asked for
/// first), in the context of every image of the chain, the last one innermost.
fn building(error: anyhow::Error, chain: &[(String, PathBuf, BuildFile)]) -> anyhow::Error {
    chain.iter().rev().fold(error, |error, (name, file, _)| {
        error.context(format!("building {name} from {}", file.display()))
    })
}

/// Builds images from build files; see the [module docs](self).
#[derive(Debug)]
pub struct Builder {
    cache: Option<BuildCache>,
    /// Build files of the images `FROM` may name.
    known: BTreeMap<String, PathBuf>,
    /// Images built so far, by name.
    built: BTreeMap<String, OciImage>,
    /// Named build contexts, for `COPY --from=NAME`.
    contexts: BTreeMap<String, PathBuf>,
    reports: Vec<StepReport>,
}

impl Builder {
    /// A builder that keeps its layers in `cache` (none: every step is built), with the
    /// named build contexts of the [module docs](self).
    pub fn new(cache: Option<BuildCache>) -> Builder {
        Builder {
            cache,
            known: BTreeMap::new(),
            built: BTreeMap::new(),
            contexts: BTreeMap::from([(String::from("busybox"), busybox_dir())]),
            reports: Vec::new(),
        }
    }

    /// Makes `COPY --from=name` read from `dir`.
    pub fn set_context(&mut self, name: &str, dir: &Path) {
        self.contexts.insert(name.to_string(), dir.to_path_buf());
    }

    /// Where a `COPY` of `src` from `from` (`None`: the build file's directory) reads.
    fn source(&self, build_file: &BuildFile, from: Option<&str>, src: &Path) -> Result<PathBuf> {
        let Some(name) = from else {
            return Ok(build_file.context.join(src));
        };
        let dir = self.contexts.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.contexts.keys().map(String::as_str).collect();
            anyhow!("no build context {name:?} (known: {})", known.join(", "))
        })?;
        if !dir.is_dir() {
            bail!(
                "build context {name:?} is {}, which does not exist{}",
                dir.display(),
                if name == "busybox" {
                    " (`make deps` fetches BusyBox there)"
                } else {
                    ""
                }
            );
        }
        Ok(dir.join(src))
    }

    /// What every step built so far did, in the order the steps ran.
    pub fn reports(&self) -> &[StepReport] {
        &self.reports
    }

    /// Builds every image of the image list `list`, in one layout, in list order.
    pub fn build_list(&mut self, list: &Path) -> Result<OciLayout> {
        let entries = read_image_list(list)?;
        for (name, file) in &entries {
            self.known.insert(name.clone(), file.clone());
        }
        let mut layout = OciLayout::new();
        for (name, _) in &entries {
            layout.push(self.image(name)?)?;
        }
        Ok(layout)
    }

    /// Builds the image `name` from the build file `file` (its `FROM` may name images of
    /// lists built before, or given with [`Builder::build`] before).
    pub fn build(&mut self, name: &str, file: &Path) -> Result<OciImage> {
        self.known.insert(name.to_string(), file.to_path_buf());
        self.built.remove(name);
        self.image(name)
    }

    /// The image `name`, built once. Its `FROM` chain is followed in a loop down to an image
    /// built before (or `scratch`), then built from the base up: a chain is as long as the
    /// image lists make it, so there is no recursion per image.
    fn image(&mut self, name: &str) -> Result<OciImage> {
        // The images to build, the one asked for first, with their build files.
        let mut chain: Vec<(String, PathBuf, BuildFile)> = Vec::new();
        let mut next = name.to_string();
        let mut parent = loop {
            if let Some(image) = self.built.get(&next) {
                break Some(image.clone());
            }
            let found = self.chain_link(&chain, &next);
            let (file, build_file) = found.map_err(|error| building(error, &chain))?;
            let from = build_file.from.clone();
            chain.push((next, file, build_file));
            if from == "scratch" {
                break None;
            }
            next = from;
        };
        for built in (0..chain.len()).rev() {
            let (name, _, build_file) = &chain[built];
            let result = self.run(name, build_file, parent.take());
            let image = result.map_err(|error| building(error, &chain[..=built]))?;
            self.built.insert(name.clone(), image.clone());
            parent = Some(image);
        }
        parent.ok_or_else(|| anyhow!("no image {name:?} was built"))
    }

    /// The build file of `name`, the next image of the `FROM` chain `chain`.
    fn chain_link(
        &self,
        chain: &[(String, PathBuf, BuildFile)],
        name: &str,
    ) -> Result<(PathBuf, BuildFile)> {
        if chain.iter().any(|(n, ..)| n == name) {
            let names: Vec<&str> = chain.iter().map(|(n, ..)| n.as_str()).collect();
            bail!("FROM cycle: {} -> {name}", names.join(" -> "));
        }
        let file = self.known.get(name).cloned().ok_or_else(|| {
            anyhow!("no image {name:?} to build FROM (scratch, or an image of the list)")
        })?;
        let build_file = parse_build_file(&file)?;
        Ok((file, build_file))
    }

    /// Builds the image `name` from `build_file` on `parent` (`None` for `FROM scratch`).
    fn run(
        &mut self,
        name: &str,
        build_file: &BuildFile,
        parent: Option<OciImage>,
    ) -> Result<OciImage> {
        let total = build_file.steps.len() + 1;
        let mut image = parent.unwrap_or_default();
        image.set_ref_name(name);
        self.reports.push(StepReport {
            image: name.to_string(),
            number: 1,
            total,
            instruction: format!("FROM {}", build_file.from),
            outcome: None,
            layer: None,
        });
        for (index, step) in build_file.steps.iter().enumerate() {
            let cmd_set = build_file.steps[..index]
                .iter()
                .any(|earlier| matches!(earlier.instruction, Instruction::Cmd(_)));
            let report = self
                .step(&mut image, build_file, step, cmd_set)
                .with_context(|| {
                    format!("{}:{}: {}", build_file.path.display(), step.line, step.text)
                })?;
            self.reports.push(StepReport {
                image: name.to_string(),
                number: index + 2,
                total,
                instruction: step.text.clone(),
                ..report
            });
        }
        Ok(image)
    }

    /// Runs one step on `image`; `cmd_set`: whether a `CMD` came before it in its build file.
    fn step(
        &mut self,
        image: &mut OciImage,
        build_file: &BuildFile,
        step: &Step,
        cmd_set: bool,
    ) -> Result<StepReport> {
        let parent = image.config_digest()?;
        let source = match &step.instruction {
            Instruction::Copy { from, src, .. } => {
                Some(self.source(build_file, from.as_deref(), src)?)
            }
            _ => None,
        };
        let content = match &source {
            Some(source) => sha256_digest(&layers::source_tar(source)?),
            None => String::new(),
        };
        let key = sha256_digest(format!("{parent}\n{}\n{content}\n", step.text).as_bytes());
        let cached = match &self.cache {
            Some(cache) => cache.get(&key)?,
            None => None,
        };
        let outcome = if cached.is_some() {
            Outcome::Cached
        } else {
            Outcome::Built
        };
        let mut report = StepReport {
            image: String::new(),
            number: 0,
            total: 0,
            instruction: String::new(),
            outcome: Some(outcome),
            layer: None,
        };
        match &step.instruction {
            Instruction::Env(vars) => {
                for (var, value) in vars {
                    image.set_env(var, value);
                }
                image.add_config_step(&step.text);
                self.store(&key, cached.is_none(), &[])?;
            }
            Instruction::Cmd(cmd) => {
                image.set_cmd(cmd);
                image.add_config_step(&step.text);
                self.store(&key, cached.is_none(), &[])?;
            }
            Instruction::Entrypoint(entrypoint) => {
                image.set_config_field("Entrypoint", json!(entrypoint));
                if !cmd_set {
                    // As in Docker: the base image's Cmd was arguments for its own entrypoint.
                    image.set_config_field("Cmd", Value::Null);
                }
                image.add_config_step(&step.text);
                self.store(&key, cached.is_none(), &[])?;
            }
            Instruction::User(user) => {
                image.set_config_field("User", json!(user));
                image.add_config_step(&step.text);
                self.store(&key, cached.is_none(), &[])?;
            }
            Instruction::Workdir(path) => {
                let dir = if path.starts_with('/') {
                    path.clone()
                } else {
                    let current = image.config()["config"]["WorkingDir"]
                        .as_str()
                        .unwrap_or("/");
                    file::image_path(&format!("{current}/{path}"))?
                };
                // An empty entry in the cache: the directory was there, no layer.
                let tar = match cached {
                    Some(tar) => tar,
                    None => {
                        let tar = layers::workdir(image, &dir)?;
                        self.store(&key, true, &tar)?;
                        tar
                    }
                };
                image.set_config_field("WorkingDir", json!(dir));
                if tar.is_empty() {
                    image.add_config_step(&step.text);
                } else {
                    report.layer = Some((sha256_digest(&tar), tar.len() as u64));
                    image.add_layer_tar(tar, &step.text);
                }
            }
            instruction => {
                let tar = match cached {
                    Some(tar) => tar,
                    None => {
                        let tar = layers::layer(image, source.as_deref(), instruction)?;
                        self.store(&key, true, &tar)?;
                        tar
                    }
                };
                report.layer = Some((sha256_digest(&tar), tar.len() as u64));
                image.add_layer_tar(tar, &step.text);
            }
        }
        Ok(report)
    }

    fn store(&self, key: &str, missing: bool, bytes: &[u8]) -> Result<()> {
        match &self.cache {
            Some(cache) if missing => cache.put(key, bytes),
            _ => Ok(()),
        }
    }
}

/// The images of the default image list (`rootfs/images`), built with the cache in
/// `<target>/build-cache`; returns the layout and what each step did.
pub fn default_layout() -> Result<(OciLayout, Vec<StepReport>)> {
    let cache = BuildCache::new(&crate::target_dir().join("build-cache"))?;
    let mut builder = Builder::new(Some(cache));
    let layout = builder.build_list(Path::new(DEFAULT_IMAGE_LIST))?;
    Ok((layout, builder.reports().to_vec()))
}

/// The layout of the fw_cfg images ([`FW_CFG_IMAGE_LIST`]), built with the cache in
/// `<target>/build-cache` and written to `<out_dir>/fw-cfg-images.tar`; `None` (and a word on
/// standard error) when BusyBox has not been fetched (`make deps`), so a machine without it
/// still boots, with no fw_cfg images. Returns the file and the steps' reports.
pub fn fw_cfg_layout(out_dir: &Path) -> Result<Option<(PathBuf, Vec<StepReport>)>> {
    if busybox_binary().is_none() {
        eprintln!(
            "boot: no BusyBox at {} (`make deps` fetches it): booting without the fw_cfg images",
            busybox_dir().join("bin/busybox").display()
        );
        return Ok(None);
    }
    let (path, reports) = build_list_to(Path::new(FW_CFG_IMAGE_LIST), out_dir)?;
    Ok(Some((path, reports)))
}

/// Builds the image list `list` with the cache in `<target>/build-cache` into one layout,
/// written to `<out_dir>/<list's name>.tar`; returns the file and the steps' reports.
pub fn build_list_to(list: &Path, out_dir: &Path) -> Result<(PathBuf, Vec<StepReport>)> {
    let cache = BuildCache::new(&crate::target_dir().join("build-cache"))?;
    let mut builder = Builder::new(Some(cache));
    let layout = builder.build_list(list)?;
    let name = list
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("images");
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let path = out_dir.join(format!("{name}.tar"));
    layout.write_ramdisk(&path)?;
    Ok((path, builder.reports().to_vec()))
}
