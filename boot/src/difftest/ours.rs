//! The project's side: the same layer directories loaded as `boot shell` loads them
//! ([`crate::host_layer::load_host_dir`], each a read-only tmpfs layer), a tmpfs upper layer,
//! and `overlay_core::shell` running the script line by line.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer};
use overlay_core::posix::Namespace;
use overlay_core::shell::Shell;
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};

use super::listing::our_upper_tree;

/// What the project's shell printed for each line, and the final listings.
#[derive(Clone, Debug, Default)]
pub struct OursRun {
    /// The output of each script line (its `error:` line if it failed).
    pub lines: Vec<String>,
    /// The output of `tree /`, run as root after the script.
    pub tree: String,
    /// The raw listing of the upper directory (see [`super::listing`]), if there is one.
    pub upper_tree: Option<Vec<String>>,
}

/// Runs `lines` on a union of `lowers` (top first) with a tmpfs upper layer if `upper`,
/// holding at most `upper_capacity_bytes` if given.
///
/// # Errors
/// If a layer cannot be loaded or the union cannot be made.
pub fn run(
    lowers: &[PathBuf],
    upper: bool,
    upper_capacity_bytes: Option<u64>,
    lines: &[&str],
) -> Result<OursRun> {
    let mut layers = Vec::new();
    for dir in lowers {
        let layer = crate::host_layer::load_host_dir(dir)?;
        layers.push(Layer::new(layer).with_label(&dir.display().to_string()));
    }
    let upper = if upper {
        let fs = TmpFs::new(TmpFsOptions {
            capacity_bytes: upper_capacity_bytes,
            ..TmpFsOptions::default()
        });
        Some(UpperLayer::new(fs).context("making the upper layer")?)
    } else {
        None
    };
    let union = OverlayFs::new(layers, upper, OverlayOptions::default())
        .map_err(|errno| anyhow::anyhow!("making the union: {errno}"))?;
    let mut shell = Shell::new(
        Namespace::with_filesystem(union.clone()),
        Some(union.clone() as Arc<_>),
    );
    let mut run = OursRun::default();
    for line in lines {
        let mut output = String::new();
        shell.run_line(line, &mut output)?;
        run.lines.push(output);
    }
    shell.run_line("tree /", &mut run.tree)?;
    run.upper_tree = match union.upper() {
        Some(upper) => Some(
            our_upper_tree(upper.upper_dir())
                .map_err(|errno| anyhow::anyhow!("listing the upper layer: {errno}"))?,
        ),
        None => None,
    };
    Ok(run)
}
