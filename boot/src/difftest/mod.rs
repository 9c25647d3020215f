//! Differential tests against Linux overlayfs: one script in the language of `docs/shell.md`,
//! run by the project's shell and, as system calls, on a real `mount -t overlay` of the same
//! layer directories, with every command's output compared.
//!
//! # What runs
//! A [`Case`] is a stack of layer specs (top first) and a script. The runner makes each layer
//! as a directory in a private tmpfs, then:
//! - the project's side ([`ours`]) loads those directories the way `boot shell` does
//!   ([`crate::host_layer::load_host_dir`]) under a tmpfs upper and runs the script line by
//!   line through `overlay_core::shell`;
//! - the Linux side ([`linux`]) mounts overlayfs over the same directories (upper and work
//!   directories beside them) and carries each command out as the system calls it stands for
//!   (`write` is `open(O_WRONLY|O_CREAT|O_TRUNC, 0666)` then `write`, `mv -x` is
//!   `renameat2(RENAME_EXCHANGE)`, ...), printing what the shell would print.
//!
//! Then, per command: the output must match exactly (`error: ERRNO: line` included), except
//! for inode numbers, compared by identity (see [`compare`]). At the end, the union's `tree /`
//! (as root) and the raw listing of the upper directory (whiteouts as whiteouts, opaque
//! directories marked; see [`listing`]) must match too.
//!
//! # What is not compared
//! - `layers` and `diff` have no Linux equivalent; they run on the project's side only and
//!   are counted as not compared. The upper listing covers what `diff` is made from.
//! - The `layer=` column of `stat` where the Linux side cannot tell the layer by looking at
//!   the layer directories (a path with `.` or `..`, through a symlink, or through a
//!   whiteout): both sides then show `layer=?`.
//! - Timestamps (no command prints them), xattrs other than the opaque marker in the upper
//!   listing, and the link counts and owners of whiteouts (Linux shares one whiteout inode).
//!
//! # Known differences
//! Deliberate differences of the project from Linux are listed in
//! [`compare::KNOWN_DIFFERENCES`], each with its reason, and reported by name wherever they
//! explain a difference; anything else is a divergence. Bugs found in the engine are not
//! known differences: they are in `notes/difftest-findings.md`, with the test that shows
//! each one kept but ignored until it is fixed.
//!
//! # Mount options
//! `lowerdir=` top first, `upperdir`, `workdir`, `redirect_dir=off` (the project's default),
//! `index=on` (hard links stay one file across copy-up, as in the project), `metacopy=off`,
//! and `nodev`. Without an upper layer the mount is read-only.

pub mod case;
pub mod command;
pub mod compare;
pub mod generate;
pub mod linux;
pub mod listing;
pub mod ours;

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};

pub use case::{Case, LayerSpec};
pub use compare::{Comparison, Verdict, KNOWN_DIFFERENCES};
pub use linux::availability;

/// What running one case found.
#[derive(Clone, Debug)]
pub struct Report {
    /// The case's name.
    pub name: String,
    /// One comparison per command line.
    pub commands: Vec<Comparison>,
    /// Command lines with no Linux equivalent (`layers`, `diff`).
    pub not_compared: usize,
    /// The final listings: the union's `tree /`, then the upper directory's raw listing.
    pub listings: Vec<Comparison>,
}

impl Report {
    /// Every comparison that diverged (commands and listings).
    pub fn divergences(&self) -> impl Iterator<Item = &Comparison> {
        self.commands
            .iter()
            .chain(&self.listings)
            .filter(|comparison| comparison.verdict == Verdict::Divergent)
    }

    /// Whether nothing diverged.
    pub fn is_clean(&self) -> bool {
        self.divergences().next().is_none()
    }

    /// The ids of the known differences met, one per occurrence.
    pub fn known(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.commands
            .iter()
            .chain(&self.listings)
            .flat_map(|comparison| match &comparison.verdict {
                Verdict::Known(ids) => ids.clone(),
                _ => Vec::new(),
            })
    }

    /// A readable account of the divergences (empty if there are none).
    pub fn describe_divergences(&self) -> String {
        describe(&self.name, self.divergences())
    }

    /// A readable account of every comparison, with both sides' output.
    pub fn describe_all(&self) -> String {
        describe(&self.name, self.commands.iter().chain(&self.listings))
    }
}

fn describe<'a>(name: &str, comparisons: impl Iterator<Item = &'a Comparison>) -> String {
    let mut text = String::new();
    for comparison in comparisons {
        {
            let at = if comparison.number == 0 {
                comparison.what.clone()
            } else {
                format!("line {}: {}", comparison.number, comparison.what)
            };
            let verdict = match &comparison.verdict {
                Verdict::Same => "same".to_string(),
                Verdict::Known(ids) => format!("known difference {}", ids.join(", ")),
                Verdict::Divergent => "DIVERGENT".to_string(),
            };
            let _ = writeln!(text, "{name}: {at}: {verdict}");
            let _ = writeln!(text, "  ours:\n{}", indent(&comparison.ours));
            let _ = writeln!(text, "  linux:\n{}", indent(&comparison.linux));
        }
    }
    text
}

fn indent(text: &str) -> String {
    if text.is_empty() {
        return "    (nothing)".to_string();
    }
    text.lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `case` on both sides and compares them.
///
/// # Errors
/// If Linux overlayfs cannot be mounted (see [`availability`]), a layer cannot be made or
/// loaded, or a side cannot run at all. Differences are not errors: they are in the report.
pub fn run_case(case: &Case) -> Result<Report> {
    let mut workspace = linux::Workspace::new()?;
    let mut specs = case.lowers.clone();
    if !case.upper && specs.len() == 1 {
        // Linux refuses a union of one lower layer without an upper ("at least 2 lowerdir
        // are needed"); an empty bottom layer, on both sides, changes nothing visible.
        specs.push(LayerSpec::default());
    }
    let mut lowers = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        let dir = workspace.new_dir(&format!("lower{index}"))?;
        case::materialize(spec, &dir).with_context(|| format!("{}: lower {index}", case.name))?;
        lowers.push(dir);
    }
    let upper = case.upper.then_some(case.upper_capacity_bytes);
    run_in(&mut workspace, &case.name, &lowers, upper, &case.script)
}

/// Runs `script` on both sides over existing host directories `lowers` (top first), which
/// neither side changes.
///
/// # Errors
/// As [`run_case`].
pub fn run_over_dirs(name: &str, lowers: &[PathBuf], upper: bool, script: &str) -> Result<Report> {
    let mut workspace = linux::Workspace::new()?;
    run_in(&mut workspace, name, lowers, upper.then_some(None), script)
}

fn run_in(
    workspace: &mut linux::Workspace,
    name: &str,
    lowers: &[PathBuf],
    upper: Option<Option<u64>>,
    script: &str,
) -> Result<Report> {
    let lines: Vec<&str> = script.lines().collect();
    let capacity = upper.flatten();
    // The project reads the layers before Linux mounts them; neither writes them.
    let ours =
        ours::run(lowers, upper.is_some(), capacity, &lines).context("the project's side")?;
    workspace
        .mount_overlay(lowers, upper.is_some(), capacity)
        .context("the Linux side")?;
    let linux = workspace.run(&lines).context("the Linux side")?;
    let lower_facts = listing::lower_facts(lowers)?;
    let mut ours_inos = compare::InoRenumbering::default();
    let mut linux_inos = compare::InoRenumbering::default();
    let mut report = Report {
        name: name.to_string(),
        commands: Vec::new(),
        not_compared: 0,
        listings: Vec::new(),
    };
    for (index, (line, (our_output, linux_line))) in lines
        .iter()
        .zip(ours.lines.iter().zip(&linux.lines))
        .enumerate()
    {
        if !linux_line.is_command {
            continue;
        }
        if !linux_line.comparable {
            report.not_compared += 1;
            continue;
        }
        report.commands.push(compare::compare_line(
            index + 1,
            line,
            ours_inos.apply(our_output),
            linux_inos.apply(&linux_line.output),
            &linux_line.target,
            &lower_facts,
        ));
    }
    let linux_tree = match &linux.tree {
        Ok(lines) => lines.iter().map(|line| format!("{line}\n")).collect(),
        Err(errno) => format!("error: {errno}: tree /\n"),
    };
    report.listings.push(compare::compare_listing(
        "tree",
        ours.tree,
        linux_tree,
        &lower_facts,
    ));
    if let Some(upper_dir) = workspace.upper_dir() {
        let linux_upper = listing::host_upper_tree(&upper_dir)?;
        let ours_upper = ours.upper_tree.unwrap_or_default();
        report.listings.push(compare::compare_listing(
            "upper",
            lines_text(&ours_upper),
            lines_text(&linux_upper),
            &lower_facts,
        ));
    }
    Ok(report)
}

fn lines_text(lines: &[String]) -> String {
    lines.iter().map(|line| format!("{line}\n")).collect()
}
