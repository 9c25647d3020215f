//! `boot shell`: the shell language of `overlay_core::shell` on the host, over host directories
//! loaded as read-only layers under an in-memory tmpfs upper layer.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer};
use overlay_core::posix::Namespace;
use overlay_core::shell::Shell;
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// A host directory to use as a read-only layer; give several, top first (like Linux
    /// `lowerdir=`).
    #[arg(long = "lower", value_name = "DIR", required = true)]
    lowers: Vec<PathBuf>,
    /// No upper layer: the union is read-only and every change fails with EROFS.
    #[arg(long)]
    no_upper: bool,
    /// Capacity of the upper tmpfs in bytes (unlimited if not given).
    #[arg(long, value_name = "BYTES")]
    upper_size: Option<u64>,
    /// Allow renaming directories with lower contents (Linux `redirect_dir=on`).
    #[arg(long)]
    redirect_dir: bool,
    /// Read commands from FILE instead of standard input.
    #[arg(long, value_name = "FILE")]
    script: Option<PathBuf>,
}

pub fn run(args: &ShellArgs) -> Result<ExitCode> {
    let mut lowers = Vec::new();
    for dir in &args.lowers {
        let layer = boot::host_layer::load_host_dir(dir)?;
        lowers.push(Layer::new(layer).with_label(&dir.display().to_string()));
    }
    let upper = if args.no_upper {
        None
    } else {
        let options = TmpFsOptions {
            capacity_bytes: args.upper_size,
            ..TmpFsOptions::default()
        };
        Some(UpperLayer::new(TmpFs::new(options)).context("making the upper layer")?)
    };
    let options = OverlayOptions {
        redirect_dir: args.redirect_dir,
        ..OverlayOptions::default()
    };
    let union = OverlayFs::new(lowers, upper, options).context("making the union")?;
    let mut shell = Shell::new(
        Namespace::with_filesystem(union.clone()),
        Some(union as Arc<_>),
    );

    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    match &args.script {
        Some(path) => {
            let mut text = String::new();
            std::fs::File::open(path)
                .and_then(|mut file| file.read_to_string(&mut text))
                .with_context(|| format!("reading {}", path.display()))?;
            for line in text.lines() {
                run_line(&mut shell, line, &mut stdout)?;
            }
        }
        None => {
            for line in std::io::stdin().lock().lines() {
                run_line(&mut shell, &line?, &mut stdout)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_line(shell: &mut Shell, line: &str, out: &mut impl Write) -> Result<()> {
    let mut printed = String::new();
    shell.run_line(line, &mut printed)?;
    out.write_all(printed.as_bytes())?;
    out.flush()?;
    Ok(())
}
