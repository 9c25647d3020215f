//! `boot shell`: the shell language of `overlay_core::shell` on the host, over host directories
//! loaded as read-only layers under an in-memory tmpfs upper layer, or (`--ramdisk`) in a
//! container of the first image of a RAM disk, with the image commands, as `make shell` has
//! them in the kernel.
//!
//! Standard output is the shell's, as the contract in `docs/shell.md` has it (with `--echo`,
//! each command too); standard error gets a one-line usage hint after each malformed line.
//! `exit` ends the script, as it leaves the kernel's shell.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use overlay_core::containers::{ContainerManager, ContainerOptions};
use overlay_core::image::{Bytes, ImageStore};
use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer};
use overlay_core::posix::Namespace;
use overlay_core::shell::{Output, Shell};
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// A host directory to use as a read-only layer; give several, top first (like Linux
    /// `lowerdir=`). It is loaded into memory, holes and pages of zeros left out: at most
    /// 1 GiB of file data per directory.
    #[arg(
        long = "lower",
        value_name = "DIR",
        required_unless_present = "ramdisk"
    )]
    lowers: Vec<PathBuf>,
    /// A RAM disk (as `boot ramdisk` writes it): its images are loaded as the kernel loads
    /// them, and the shell starts in container `root` of the first, with the image commands
    /// (images, history, df, ps, run, use, commit, rmi).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["lowers", "no_upper", "redirect_dir"])]
    ramdisk: Option<PathBuf>,
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
    /// Write each command before its output, after the kernel's prompt (`overlay# ls /`), so
    /// the output reads as a transcript of a session on the serial console.
    #[arg(long)]
    echo: bool,
}

/// What `--echo` writes before each command: the prompt of the kernel's shell.
const ECHO_PROMPT: &str = "overlay# ";

pub fn run(args: &ShellArgs) -> Result<ExitCode> {
    let mut shell = match &args.ramdisk {
        Some(ramdisk) => container_shell(ramdisk, args.upper_size)?,
        None => union_shell(args)?,
    };
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    let lines: Box<dyn Iterator<Item = std::io::Result<String>>> = match &args.script {
        Some(path) => {
            let mut text = String::new();
            std::fs::File::open(path)
                .and_then(|mut file| file.read_to_string(&mut text))
                .with_context(|| format!("reading {}", path.display()))?;
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            Box::new(lines.into_iter().map(Ok))
        }
        None => Box::new(std::io::stdin().lock().lines()),
    };
    for line in lines {
        let line = line?;
        if args.echo && !line.trim().is_empty() {
            writeln!(stdout, "{ECHO_PROMPT}{}", line.trim())?;
        }
        run_line(&mut shell, &line, &mut stdout)?;
        if let Some(hint) = shell.usage_hint() {
            eprintln!("boot shell: {hint}");
        }
        if shell.exited() {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A shell in container `root` of the first image of the RAM disk `path`.
fn container_shell(path: &std::path::Path, upper_size: Option<u64>) -> Result<Shell> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let store = ImageStore::from_ramdisk(Bytes::from_vec(bytes))
        .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
    let first = store
        .images()
        .first()
        .map(|image| image.name.clone())
        .context("the RAM disk holds no image")?;
    let options = ContainerOptions {
        upper_capacity_bytes: upper_size,
    };
    let manager = ContainerManager::new(store, options);
    manager
        .run(&first, "root")
        .context("making the container")?;
    Shell::with_engine(manager, "root").context("entering the container")
}

fn union_shell(args: &ShellArgs) -> Result<Shell> {
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
    Ok(Shell::new(
        Namespace::with_filesystem(union.clone()),
        Some(union as Arc<_>),
    ))
}

/// Runs `line` and writes its output to `out` line by line as the shell makes it (a `tree`
/// of a deep union is not held whole): `cat`'s bytes unchanged.
fn run_line(shell: &mut Shell, line: &str, out: &mut impl Write) -> Result<()> {
    let mut writer = WriteOutput { out, error: None };
    let printed = shell.run_line(line, &mut writer);
    if let Some(error) = writer.error {
        return Err(error.into());
    }
    printed?;
    out.flush()?;
    Ok(())
}

/// The shell's [`Output`] on an `io::Write`, keeping the I/O error the shell's
/// `fmt::Error` cannot carry.
struct WriteOutput<'a, W: Write> {
    out: &'a mut W,
    error: Option<std::io::Error>,
}

impl<W: Write> Output for WriteOutput<'_, W> {
    fn write_bytes(&mut self, bytes: &[u8]) -> std::fmt::Result {
        self.out.write_all(bytes).map_err(|error| {
            self.error = Some(error);
            std::fmt::Error
        })
    }
}
