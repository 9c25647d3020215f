//! The layer tar each filesystem-changing instruction makes (see the [module docs](super)).

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use overlay_core::image::{Bytes, ImageLayerFs};
use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, WhiteoutEncoding};
use overlay_core::posix::Namespace;
use overlay_core::vfs::{Credentials, FileType, Metadata};
use overlay_core::Errno;

use super::file::Instruction;
use crate::oci::layer_tar::{self, header};
use crate::oci::OciImage;

/// The layer `instruction` (one that changes files, not only the config) makes on top of `image`; a `COPY` reads its
/// source from `source` (resolved in its context).
pub(super) fn layer(
    image: &OciImage,
    source: Option<&Path>,
    instruction: &Instruction,
) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    match instruction {
        Instruction::Copy { dst, .. } => {
            let source = source.ok_or_else(|| anyhow!("COPY without its source"))?;
            let meta = fs::metadata(source)
                .with_context(|| format!("COPY source {}", source.display()))?;
            if meta.is_dir() {
                let dst = dst.trim_end_matches('/');
                return layer_tar::layer_dir_tar_at(source, if dst.is_empty() { "/" } else { dst });
            }
            let name = source
                .file_name()
                .and_then(|name| name.to_str())
                .ok_or_else(|| anyhow!("{}: the name is not UTF-8", source.display()))?;
            let target = if dst.ends_with('/') {
                format!("{dst}{name}")
            } else {
                dst.clone()
            };
            if target == "/" {
                bail!("COPY of a file to /: name the file");
            }
            let content =
                fs::read(source).with_context(|| format!("reading {}", source.display()))?;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            parents(&mut tar, &target)?;
            file(&mut tar, &target, mode, &content)?;
        }
        Instruction::Mkdir { paths, mode } => {
            for parent in parents_of(paths) {
                dir(&mut tar, &parent)?;
            }
            for path in paths.iter().filter(|path| *path != "/") {
                dir_with_mode(&mut tar, path, *mode)?;
            }
        }
        Instruction::Symlink { target, paths } => {
            for parent in parents_of(paths) {
                dir(&mut tar, &parent)?;
            }
            for path in paths {
                let mut header = header(tar::EntryType::Symlink, 0o777, 0);
                tar.append_link(&mut header, path.trim_start_matches('/'), target)?;
            }
        }
        Instruction::Write { path, text } => {
            if path == "/" {
                bail!("WRITE needs a file name");
            }
            parents(&mut tar, path)?;
            file(&mut tar, path, 0o644, text)?;
        }
        Instruction::Rm(path) => {
            if path == "/" {
                bail!("RM / is not possible");
            }
            if !exists(image, path)? {
                bail!("RM {path}: no such file or directory in the image");
            }
            parents(&mut tar, path)?;
            let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
            file(&mut tar, &format!("{parent}/.wh.{name}"), 0o644, &[])?;
        }
        Instruction::Env(_)
        | Instruction::Cmd(_)
        | Instruction::Entrypoint(_)
        | Instruction::Workdir(_)
        | Instruction::User(_) => bail!("{instruction:?} changes only the config: no layer"),
    }
    Ok(tar.into_inner()?)
}

/// What `COPY` hashes of its source for the cache key: a directory as the deterministic tar
/// its contents pack into, a file as a tar of itself (content and mode).
pub(super) fn source_tar(source: &Path) -> Result<Vec<u8>> {
    let meta = fs::metadata(source).with_context(|| format!("COPY source {}", source.display()))?;
    if meta.is_dir() {
        return layer_tar::layer_dir_tar(source);
    }
    let content = fs::read(source).with_context(|| format!("reading {}", source.display()))?;
    let mode = if meta.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    };
    let mut tar = tar::Builder::new(Vec::new());
    file(&mut tar, "/file", mode, &content)?;
    Ok(tar.into_inner()?)
}

/// Directory entries (0755) for every parent of the absolute `path`, top down.
fn parents(tar: &mut tar::Builder<Vec<u8>>, path: &str) -> Result<()> {
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    for end in 1..components.len() {
        dir(tar, &format!("/{}", components[..end].join("/")))?;
    }
    Ok(())
}

/// The parents of the absolute `paths` that are not among them, each once, top down.
fn parents_of(paths: &[String]) -> BTreeSet<String> {
    let mut parents = BTreeSet::new();
    for path in paths {
        let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        for end in 1..components.len() {
            parents.insert(format!("/{}", components[..end].join("/")));
        }
    }
    parents.retain(|parent| !paths.contains(parent));
    parents
}

fn dir(tar: &mut tar::Builder<Vec<u8>>, path: &str) -> Result<()> {
    dir_with_mode(tar, path, 0o755)
}

fn dir_with_mode(tar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32) -> Result<()> {
    let mut header = header(tar::EntryType::Directory, mode, 0);
    let path = format!("{}/", path.trim_start_matches('/'));
    tar.append_data(&mut header, path, std::io::empty())?;
    Ok(())
}

fn file(tar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, content: &[u8]) -> Result<()> {
    let mut header = header(tar::EntryType::Regular, mode, content.len() as u64);
    tar.append_data(&mut header, path.trim_start_matches('/'), content)?;
    Ok(())
}

/// The layer `WORKDIR dir` makes on `image`: none (empty) when `dir` is a directory of the
/// image (or a link to one), else one with `dir` and its missing parents (0755, owner 0:0),
/// and the parents that are there as they are (so their modes stay).
pub(super) fn workdir(image: &OciImage, dir: &str) -> Result<Vec<u8>> {
    let namespace = stacked(image)?;
    let look = |path: &str, follow: bool| -> Result<Option<Metadata>> {
        let Some(namespace) = &namespace else {
            return Ok(None);
        };
        let root = Credentials::root();
        let found = if follow {
            namespace.stat(&root, path)
        } else {
            namespace.lstat(&root, path)
        };
        match found {
            Ok(meta) => Ok(Some(meta)),
            Err(Errno::ENOENT | Errno::ENOTDIR) => Ok(None),
            Err(errno) => Err(anyhow!("looking up {path}: {errno}")),
        }
    };
    match look(dir, true)? {
        _ if dir == "/" => return Ok(Vec::new()),
        Some(meta) if meta.kind == FileType::Directory => return Ok(Vec::new()),
        Some(_) => bail!("WORKDIR {dir}: not a directory in the image"),
        None => {}
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut path = String::new();
    for component in dir.split('/').filter(|c| !c.is_empty()) {
        path.push('/');
        path.push_str(component);
        match look(&path, false)? {
            Some(meta) if meta.kind == FileType::Directory => {
                let mut header = header(tar::EntryType::Directory, u32::from(meta.mode), 0);
                header.set_uid(u64::from(meta.uid));
                header.set_gid(u64::from(meta.gid));
                tar.append_data(&mut header, format!("{}/", &path[1..]), std::io::empty())?;
            }
            Some(_) => bail!("WORKDIR {dir}: {path} is not a directory in the image"),
            None => dir_with_mode(&mut tar, &path, 0o755)?,
        }
    }
    Ok(tar.into_inner()?)
}

/// Whether `path` exists in `image` (its layers stacked as the kernel stacks them).
fn exists(image: &OciImage, path: &str) -> Result<bool> {
    let Some(namespace) = stacked(image)? else {
        return Ok(false);
    };
    match namespace.lstat(&Credentials::root(), path) {
        Ok(_) => Ok(true),
        Err(Errno::ENOENT | Errno::ENOTDIR) => Ok(false),
        Err(errno) => Err(anyhow!("looking up {path}: {errno}")),
    }
}

/// The layers of `image` stacked as the kernel stacks them (`None`: it has none).
fn stacked(image: &OciImage) -> Result<Option<Namespace>> {
    if image.layers().is_empty() {
        return Ok(None);
    }
    let mut lowers = Vec::new();
    for layer in image.layers().iter().rev() {
        let fs = ImageLayerFs::parse(Bytes::from_vec(layer.tar.clone()))
            .map_err(|error| anyhow!("reading layer {}: {error}", layer.diff_id))?;
        lowers.push(Layer::with_encoding(fs, WhiteoutEncoding::Oci));
    }
    let union = OverlayFs::new(lowers, None, OverlayOptions::default())
        .map_err(|errno| anyhow!("stacking the layers: {errno}"))?;
    Ok(Some(Namespace::with_filesystem(union)))
}
