//! `boot difftest`: differential tests against Linux overlayfs (see `boot::difftest`).
//!
//! Without `--script`, runs N random cases from seeds S, S+1, ...; with `--script FILE`, runs
//! case files (layer specs and a script), or plain scripts over `--lower` host directories.
//! Prints one line per case and every divergence; the exit status is 0 when nothing
//! diverged, 1 when something did, 3 when Linux overlayfs cannot be mounted here.
//!
//! With `--busybox`, the BusyBox differential test instead (see `boot::busybox_diff`): the
//! scripts of `--scripts DIR` (default `boot/tests/busybox/`) run on Linux in containers of the
//! image `busybox` of `rootfs/fw-cfg-images` (the one the kernel gets), or of the build file
//! `--image-build FILE`. `--write-scripts FILE` writes the fw_cfg file that hands the scripts
//! to the kernel; `--kernel` boots the kernel under QEMU to run them (`--uefi`, `--timeout`)
//! and `--kernel-output FILE` takes a serial log of such a run instead: either compares the
//! kernel's results with Linux's (exit status 0 when every script is the same, 1 when one
//! differs). With neither, Linux's results are printed (with `--show`, as the serial blocks
//! the kernel must print).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use boot::busybox_diff::{self, protocol};
use boot::difftest::{self, Case, Report};
use clap::Args;

#[derive(Debug, Args)]
pub struct DifftestArgs {
    /// First seed of the random cases.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many random cases to run (when no --script is given).
    #[arg(short = 'n', long = "count", default_value_t = 100)]
    count: u64,
    /// A case file to run (layers and script; see boot::difftest::case); several may be
    /// given. With --lower, a plain script run over those directories instead.
    #[arg(long, value_name = "FILE")]
    script: Vec<PathBuf>,
    /// Host directories to use as the lower layers of --script files, top first.
    #[arg(long = "lower", value_name = "DIR")]
    lowers: Vec<PathBuf>,
    /// With --lower: no upper layer (a read-only union).
    #[arg(long)]
    no_upper: bool,
    /// Print each random case's text before running it.
    #[arg(short, long)]
    verbose: bool,
    /// Print both sides' output of every command, not only of divergences (with --busybox
    /// and no --kernel-output: Linux's results as the kernel's serial blocks).
    #[arg(long)]
    show: bool,
    /// Run the BusyBox differential test instead (see boot::busybox_diff).
    #[arg(long)]
    busybox: bool,
    /// With --busybox: the directory of `*.sh` scripts (default: boot/tests/busybox).
    #[arg(long, value_name = "DIR", requires = "busybox")]
    scripts: Option<PathBuf>,
    /// With --busybox: build the image from FILE (default: `busybox` of rootfs/fw-cfg-images).
    #[arg(long, value_name = "FILE", requires = "busybox")]
    image_build: Option<PathBuf>,
    /// With --busybox: write the fw_cfg scripts file for the kernel to FILE.
    #[arg(long, value_name = "FILE", requires = "busybox")]
    write_scripts: Option<PathBuf>,
    /// With --busybox: the kernel's serial log to compare with Linux's results.
    #[arg(long, value_name = "FILE", requires = "busybox")]
    kernel_output: Option<PathBuf>,
    /// With --busybox: boot the kernel under QEMU to run the scripts, and compare.
    #[arg(long, requires = "busybox", conflicts_with = "kernel_output")]
    kernel: bool,
    /// With --kernel: boot through UEFI (OVMF) instead of BIOS.
    #[arg(long, requires = "kernel")]
    uefi: bool,
    /// With --kernel: seconds before QEMU is killed.
    #[arg(long, value_name = "SECS", default_value_t = 900, requires = "kernel")]
    timeout: u64,
}

pub fn run(args: &DifftestArgs) -> Result<ExitCode> {
    if args.busybox {
        return run_busybox(args);
    }
    if let Err(reason) = difftest::availability() {
        eprintln!("boot difftest: cannot mount Linux overlayfs here: {reason}");
        return Ok(ExitCode::from(super::STATUS_ERROR));
    }
    let mut totals = Totals::default();
    if args.script.is_empty() {
        for seed in args.seed..args.seed.saturating_add(args.count) {
            let case = difftest::generate::case(seed);
            if args.verbose {
                println!("{}", case.to_text());
            }
            let report = difftest::run_case(&case)?;
            if args.show {
                print!("{}", report.describe_all());
            }
            totals.add(&report, Some(&case));
        }
    } else {
        for path in &args.script {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let name = path.display().to_string();
            let report = if args.lowers.is_empty() {
                difftest::run_case(&Case::parse(&name, &text)?)?
            } else {
                difftest::run_over_dirs(&name, &args.lowers, !args.no_upper, &text)?
            };
            if args.show {
                print!("{}", report.describe_all());
            }
            totals.add(&report, None);
        }
    }
    totals.print();
    Ok(if totals.divergent_cases == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::STATUS_KERNEL_FAILED)
    })
}

#[derive(Default)]
struct Totals {
    cases: usize,
    commands: usize,
    not_compared: usize,
    divergences: usize,
    divergent_cases: usize,
    known: BTreeMap<&'static str, usize>,
}

impl Totals {
    fn add(&mut self, report: &Report, case: Option<&Case>) {
        self.cases += 1;
        self.commands += report.commands.len();
        self.not_compared += report.not_compared;
        for id in report.known() {
            *self.known.entry(id).or_default() += 1;
        }
        let divergences = report.divergences().count();
        self.divergences += divergences;
        if divergences == 0 {
            println!("ok   {} ({} commands)", report.name, report.commands.len());
            return;
        }
        self.divergent_cases += 1;
        println!("FAIL {} ({divergences} divergences)", report.name);
        print!("{}", report.describe_divergences());
        if let Some(case) = case {
            println!("--- case file to reproduce it:\n{}---", case.to_text());
        }
    }

    fn print(&self) {
        println!(
            "difftest: {} cases, {} commands compared with Linux overlayfs ({} not comparable), \
             {} divergences in {} cases",
            self.cases, self.commands, self.not_compared, self.divergences, self.divergent_cases
        );
        for (id, count) in &self.known {
            println!("difftest: known difference `{id}`: {count}");
        }
    }
}

/// `boot difftest --busybox`.
fn run_busybox(args: &DifftestArgs) -> Result<ExitCode> {
    let dir = args
        .scripts
        .clone()
        .unwrap_or_else(busybox_diff::corpus::default_dir);
    let scripts = busybox_diff::corpus::load_dir(&dir)?;
    if let Some(path) = &args.write_scripts {
        std::fs::write(path, protocol::encode_scripts(&scripts)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!(
            "busybox difftest: {} scripts written to {} (fw_cfg name {})",
            scripts.len(),
            path.display(),
            protocol::FW_CFG_FILE
        );
        if args.kernel_output.is_none() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    if let Err(reason) = busybox_diff::availability() {
        eprintln!("boot difftest --busybox: cannot run the Linux side here: {reason}");
        return Ok(ExitCode::from(super::STATUS_ERROR));
    }
    let image = match &args.image_build {
        Some(build_file) => busybox_diff::build_image(build_file)?,
        None => busybox_diff::default_image()?,
    };
    let linux = busybox_diff::linux_results(&image, &scripts)?;
    if args.kernel {
        let firmware = if args.uefi {
            boot::Firmware::Uefi
        } else {
            boot::Firmware::Bios
        };
        let out = boot::target_dir().join("busybox-difftest");
        let timeout = std::time::Duration::from_secs(args.timeout);
        let (outcome, log) = busybox_diff::kernel::run(&scripts, firmware, timeout, &out)?;
        let report = busybox_diff::compare(&outcome.serial, &linux);
        print!("{}", report.render());
        println!(
            "busybox difftest: kernel verdict {:?} after {:.1} s; serial log {}",
            outcome.verdict,
            outcome.elapsed.as_secs_f64(),
            log.display()
        );
        let passed = outcome.verdict == boot::Verdict::Passed && report.is_clean();
        return Ok(if passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(super::STATUS_KERNEL_FAILED)
        });
    }
    let Some(log) = &args.kernel_output else {
        for result in &linux {
            if args.show {
                print!("{}", protocol::block(result));
            } else {
                print!("{}", result.describe());
            }
        }
        if args.show {
            println!("{} done {}", protocol::LINE_PREFIX, linux.len());
        }
        return Ok(ExitCode::SUCCESS);
    };
    let serial = std::fs::read(log).with_context(|| format!("reading {}", log.display()))?;
    let report = busybox_diff::compare(&String::from_utf8_lossy(&serial), &linux);
    print!("{}", report.render());
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::STATUS_KERNEL_FAILED)
    })
}
