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
//! | `COPY SRC DST` | copies SRC (relative to the build file's directory, inside it): a directory's contents into the directory DST, a file to DST (or into DST if it ends in `/`) | one |
//! | `MKDIR PATH` | makes the directory PATH and its parents, like `mkdir -p` | one |
//! | `WRITE PATH TEXT` | writes the file PATH (mode 0644) holding TEXT | one |
//! | `RM PATH` | deletes PATH (it must exist in the image): a whiteout | one |
//! | `ENV NAME=VALUE...` | sets variables in the config's `Env` | none |
//! | `CMD ARG...` / `CMD ["ARG", ...]` | sets the config's `Cmd` | none |
//!
//! Each filesystem-changing instruction makes one layer, whose history entry's `created_by`
//! is the instruction as written; `ENV` and `CMD` make `empty_layer` history entries. Layers
//! are deterministic tars ([`crate::oci::layer_tar`]): owner 0:0, time 0, directories 0755
//! (also the parent directories an instruction names), files 0644 or 0755. In a directory
//! that `COPY` copies, a file `.wh.NAME` is the whiteout of NAME and `.wh..wh..opq` makes its
//! directory opaque, as in layer directories.
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

pub use cache::BuildCache;
pub use file::{parse_build_file, read_image_list, BuildFile, Instruction, Step};

use crate::oci::{OciImage, OciLayout};

/// The default image list: `rootfs/images` in the repository.
pub const DEFAULT_IMAGE_LIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../rootfs/images");

/// Whether a step's layer came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Reused from the cache.
    Cached,
    /// Built (and stored in the cache, if there is one).
    Built,
}

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
    /// One line, e.g. `[app:1 2/4] COPY app /app: CACHED sha256:f2252f45379d 10240 bytes`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "[{} {}/{}] {}",
            self.image, self.number, self.total, self.instruction
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

/// Builds images from build files; see the [module docs](self).
#[derive(Debug)]
pub struct Builder {
    cache: Option<BuildCache>,
    /// Build files of the images `FROM` may name.
    known: BTreeMap<String, PathBuf>,
    /// Images built so far, by name.
    built: BTreeMap<String, OciImage>,
    /// Names being built (to catch `FROM` cycles).
    building: Vec<String>,
    reports: Vec<StepReport>,
}

impl Builder {
    /// A builder that keeps its layers in `cache` (none: every step is built).
    pub fn new(cache: Option<BuildCache>) -> Builder {
        Builder {
            cache,
            known: BTreeMap::new(),
            built: BTreeMap::new(),
            building: Vec::new(),
            reports: Vec::new(),
        }
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

    /// The image `name`, built once.
    fn image(&mut self, name: &str) -> Result<OciImage> {
        if let Some(image) = self.built.get(name) {
            return Ok(image.clone());
        }
        if self.building.iter().any(|n| n == name) {
            bail!("FROM cycle: {} -> {name}", self.building.join(" -> "));
        }
        let file = self.known.get(name).cloned().ok_or_else(|| {
            anyhow!("no image {name:?} to build FROM (scratch, or an image of the list)")
        })?;
        let build_file = parse_build_file(&file)?;
        self.building.push(name.to_string());
        let result = self.run(name, &build_file);
        self.building.pop();
        let image = result.with_context(|| format!("building {name} from {}", file.display()))?;
        self.built.insert(name.to_string(), image.clone());
        Ok(image)
    }

    fn run(&mut self, name: &str, build_file: &BuildFile) -> Result<OciImage> {
        let total = build_file.steps.len() + 1;
        let mut image = match build_file.from.as_str() {
            "scratch" => OciImage::new(),
            parent => self.image(parent)?,
        };
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
            let report = self.step(&mut image, build_file, step).with_context(|| {
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

    /// Runs one step on `image`.
    fn step(
        &mut self,
        image: &mut OciImage,
        build_file: &BuildFile,
        step: &Step,
    ) -> Result<StepReport> {
        let parent = image.config_digest()?;
        let content = match &step.instruction {
            Instruction::Copy { src, .. } => {
                let source = build_file.context.join(src);
                sha256_digest(&layers::source_tar(&source)?)
            }
            _ => String::new(),
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
            instruction => {
                let tar = match cached {
                    Some(tar) => tar,
                    None => {
                        let tar = layers::layer(image, &build_file.context, instruction)?;
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
