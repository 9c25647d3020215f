//! `boot difftest`: differential tests against Linux overlayfs (see `boot::difftest`).
//!
//! Without `--script`, runs N random cases from seeds S, S+1, ...; with `--script FILE`, runs
//! case files (layer specs and a script), or plain scripts over `--lower` host directories.
//! Prints one line per case and every divergence; the exit status is 0 when nothing
//! diverged, 1 when something did, 3 when Linux overlayfs cannot be mounted here.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
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
    /// Print both sides' output of every command, not only of divergences.
    #[arg(long)]
    show: bool,
}

pub fn run(args: &DifftestArgs) -> Result<ExitCode> {
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
