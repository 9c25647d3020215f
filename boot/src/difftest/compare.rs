//! Comparing the two sides, line by line and listing by listing, and the known differences.
//!
//! Before comparing, `stat` lines of each side have their `ino=` values replaced by the order
//! in which that side first printed them (`ino=#1`, `ino=#2`...): the numbers themselves are
//! each implementation's choice, but which entries share a number, and that a number stays
//! the same across copy-up and rename, is behaviour, and that is what is compared.
//!
//! A difference that remains is either one of [`KNOWN_DIFFERENCES`], each a deliberate choice
//! of the project with its reason, reported by name, or a divergence.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::command::{self, Command};

/// What a comparison found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Both sides printed the same.
    Same,
    /// The sides differ only in ways listed in [`KNOWN_DIFFERENCES`] (their ids).
    Known(Vec<&'static str>),
    /// The sides differ.
    Divergent,
}

/// What both sides showed for one line of the script, or for one final listing.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The script line (1-based) it belongs to; 0 for the final listings.
    pub number: usize,
    /// The command line, or the name of the listing.
    pub what: String,
    /// The project's output.
    pub ours: String,
    /// Linux's output.
    pub linux: String,
    /// What the comparison found.
    pub verdict: Verdict,
}

/// Facts about the lower layers that known differences depend on, as union paths
/// (`/a/x`).
#[derive(Clone, Debug, Default)]
pub struct LowerFacts {
    /// The type letter of the entry the lower layers alone show at each path (`w` for a
    /// whiteout that ends the lookup there), by the lookup rules (opaque directories
    /// included). Paths the lowers do not show are absent.
    pub top_types: BTreeMap<String, char>,
    /// Paths where some lower layer has a whiteout.
    pub whiteouts: BTreeSet<String>,
    /// Paths of regular files with more than one link in their lower layer.
    pub hard_links: BTreeSet<String>,
}

/// The entry a command's first path named on Linux before the command ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// Its type letter (symlinks followed); `None` if it did not exist or could not be seen.
    pub kind: Option<char>,
    /// Its path in the union with every symlink followed, as Linux resolved it.
    pub path: Option<String>,
}

impl Target {
    /// A target of type `kind` at an unknown path.
    pub fn of_kind(kind: char) -> Target {
        Target {
            kind: Some(kind),
            path: None,
        }
    }
}

/// What a known difference looks at.
pub struct Context<'a> {
    /// The command, if the line was one (`None` for a final listing).
    pub command: Option<&'a Command>,
    /// What the command's first path named on Linux before it ran.
    pub target: &'a Target,
    /// Which final listing this is: `tree` or `upper` (empty for a command).
    pub listing: &'a str,
    /// The lower layers.
    pub lowers: &'a LowerFacts,
}

/// One way in which the project deliberately differs from Linux, recognised by the runner.
pub struct KnownDifference {
    /// A short name, used in reports.
    pub id: &'static str,
    /// What differs and why.
    pub reason: &'static str,
    /// Takes out of the two outputs (ours, Linux's) exactly the part this difference
    /// explains; returns whether it changed anything. The comparison is then made again.
    pub reconcile: fn(&Context<'_>, &mut String, &mut String) -> bool,
}

/// Every difference between the project and Linux overlayfs that the runner knows, each
/// with its reason. A divergence that none of them explains is a failure.
pub static KNOWN_DIFFERENCES: &[KnownDifference] = &[
    KnownDifference {
        id: "device-open",
        reason: "opening a device node or fifo: the project has no drivers and no pipes, so \
                 the open succeeds (and reads and writes fail or do nothing), while on Linux \
                 the runner's nodev mount refuses devices with EACCES and a fifo opened for \
                 writing without a reader is ENXIO (the runner opens with O_NONBLOCK so as \
                 never to block)",
        reconcile: |context, ours, linux| {
            let opens = matches!(
                context.command,
                Some(
                    Command::Cat(_)
                        | Command::Write { .. }
                        | Command::WriteAt { .. }
                        | Command::Append { .. }
                        | Command::Open { .. }
                        | Command::Touch(_)
                        | Command::Truncate { .. }
                )
            );
            if opens && matches!(context.target.kind, Some('c' | 'b' | 'p')) {
                *linux = ours.clone();
                return true;
            }
            false
        },
    },
    KnownDifference {
        id: "new-dir-opaque",
        reason: "Linux marks a directory it creates opaque also where the opaque marker \
                 changes nothing: inside a merged directory when no lower layer has the name \
                 (`ovl_create_upper`: \"just an optimization\", it saves lookups in the lower \
                 layers), and where the topmost lower entry of that name is a whiteout or a \
                 non-directory (lookup stops there anyway). The project marks a new directory \
                 opaque only where it replaces a whiteout of the upper layer or a lower \
                 directory. The union shows the same either way; only the raw upper listing \
                 differs",
        reconcile: |context, ours, linux| {
            if context.listing != "upper" {
                return false;
            }
            let ours_lines: BTreeSet<&str> = ours.lines().collect();
            let mut changed = false;
            let rewritten: String = linux
                .lines()
                .map(|line| {
                    let path = line.rsplit(' ').next().unwrap_or("");
                    if let Some(rest) = line.strip_prefix("o ") {
                        let as_plain = format!("d {rest}");
                        let below = context.lowers.top_types.get(path).copied();
                        if below != Some('d') && ours_lines.contains(as_plain.as_str()) {
                            changed = true;
                            return format!("{as_plain}\n");
                        }
                    }
                    format!("{line}\n")
                })
                .collect();
            *linux = rewritten;
            changed
        },
    },
    KnownDifference {
        id: "whiteout-in-unmerged-lower-dir",
        reason: "a whiteout in a lower directory that is not merged with any other layer: \
                 Linux lists such a directory straight from the layer, so the whiteout shows \
                 up as a name that `stat` then reports as ENOENT (and `ls -l` or `tree` over \
                 it fail with ENOENT); the project never shows whiteouts, as docs/semantics.md \
                 requires",
        reconcile: |context, ours, linux| {
            let listed = match (context.command, context.listing) {
                (Some(Command::Ls { path, .. } | Command::Tree(path)), _) => path.clone(),
                (None, "tree") => "/".to_string(),
                _ => return false,
            };
            // A symlink listed is its target's listing.
            let under = context
                .target
                .path
                .clone()
                .unwrap_or_else(|| union_path(&listed));
            let whiteouts_below = context
                .lowers
                .whiteouts
                .iter()
                .any(|whiteout| whiteout.starts_with(&under) && whiteout.len() > under.len());
            if !whiteouts_below {
                return false;
            }
            if linux.starts_with("error: ENOENT: ") && !ours.starts_with("error: ") {
                *linux = ours.clone();
                return true;
            }
            if let Some(Command::Ls { long: false, .. }) = context.command {
                let prefix = if under == "/" {
                    String::new()
                } else {
                    under.clone()
                };
                // A name ours lists too is a real entry here, even if a whiteout of that path
                // sits in some other layer.
                let kept: String = linux
                    .lines()
                    .filter(|name| {
                        ours.lines().any(|listed| listed == *name)
                            || !context
                                .lowers
                                .whiteouts
                                .contains(&format!("{prefix}/{name}"))
                    })
                    .map(|name| format!("{name}\n"))
                    .collect();
                let changed = kept != *linux;
                *linux = kept;
                return changed;
            }
            false
        },
    },
    KnownDifference {
        id: "hard-link-copy-up-in-memory",
        reason: "after one name of a lower hard-link group is copied up, the project serves \
                 the group's other names from that copy through its in-memory identity table \
                 (the crate docs: identities are not stored in the upper layer), while Linux \
                 (`index=on`) keeps the group's data in its index (in the work directory) \
                 and links a name into the upper directory when that name is changed (but \
                 not for a metadata change once the group is in its index). The union shows \
                 the same; the raw upper listing lacks those names, `stat` of such a name \
                 shows the layer `upper` where Linux still shows the lower one, and the \
                 directory holding it may be upper on one side and lower on the other",
        reconcile: |context, ours, linux| {
            if let Some(Command::Stat(path)) = context.command {
                let under = format!("{}/", union_path(path));
                let holds_link = context
                    .lowers
                    .hard_links
                    .iter()
                    .any(|p| p.starts_with(&under));
                if holds_link && ours.starts_with("d ") && linux.starts_with("d ") {
                    // The upper directory's size counts its entries; Linux's holds the names
                    // it linked, the project's does not. Linking a name in copies the
                    // directory up on Linux, so there it may be upper (and merged: nlink 1)
                    // where the project still shows it from its lower layer. And the other
                    // way round: once Linux keeps a group in its index (a rename over one
                    // of its names copies it there), a change to another name's metadata
                    // goes to the index with no name linked in, where the project copies
                    // that name, and so its directory, up.
                    let placed_apart = (linux.contains(" layer=upper ")
                        && ours.contains(" layer=lower:"))
                        || (ours.contains(" layer=upper ") && linux.contains(" layer=lower:"));
                    let masked: &[&str] = if placed_apart {
                        &["size=", "nlink=", "layer="]
                    } else {
                        &["size="]
                    };
                    let (a, b) = (masked_words(ours, masked), masked_words(linux, masked));
                    let changed = a != *ours;
                    (*ours, *linux) = (a, b);
                    return changed;
                }
                // Linux's name is still the lower one until it is changed itself; the
                // project's is served from the group's copy in the upper layer.
                let linked = context.lowers.hard_links.contains(&union_path(path));
                if linked && ours.contains(" layer=upper ") && linux.contains(" layer=lower:") {
                    *ours = ours.replacen(" layer=upper ", " layer=lower ", 1);
                    let start = linux.find(" layer=lower:").unwrap_or(0);
                    let end = linux[start + 1..]
                        .find(' ')
                        .map_or(linux.len(), |i| start + 1 + i);
                    linux.replace_range(start..end, " layer=lower");
                    return true;
                }
                return false;
            }
            if context.listing != "upper" {
                return false;
            }
            let paths = |text: &str| -> BTreeSet<String> {
                text.lines().map(|line| path_of(line).to_string()).collect()
            };
            let (ours_paths, linux_paths) = (paths(ours), paths(linux));
            // Names of a lower hard-link group that only one side's upper directory holds:
            // Linux links a name in when it is changed (and keeps the group's data in its
            // index, in the work directory, meanwhile); the project keeps the data under the
            // first name copied up.
            let one_sided: BTreeSet<String> = ours_paths
                .symmetric_difference(&linux_paths)
                .filter(|path| context.lowers.hard_links.contains(*path))
                .cloned()
                .collect();
            if one_sided.is_empty() {
                return false;
            }
            let holds_one_sided = |dir: &str| {
                one_sided
                    .iter()
                    .any(|path| path.starts_with(dir) && path[dir.len()..].starts_with('/'))
            };
            let keep = |text: &str, other: &BTreeSet<String>| -> String {
                text.lines()
                    .filter(|line| {
                        let path = path_of(line);
                        let extra_dir = line.starts_with("d ")
                            && !other.contains(path)
                            && holds_one_sided(path);
                        let linked_file = line.starts_with("f ") && one_sided.contains(path);
                        !linked_file && !extra_dir
                    })
                    .map(|line| format!("{line}\n"))
                    .collect()
            };
            let (new_ours, new_linux) = (keep(ours, &linux_paths), keep(linux, &ours_paths));
            (*ours, *linux) = (new_ours, new_linux);
            true
        },
    },
];

/// The path at the end of a listing line.
fn path_of(line: &str) -> &str {
    line.rsplit(' ').next().unwrap_or("")
}

/// A `stat` line with its `size=` value replaced by `?`.
/// `line` with the value of each `key=value` word whose key `masked` names replaced by `?`.
fn masked_words(line: &str, masked: &[&str]) -> String {
    line.split(' ')
        .map(
            |word| match masked.iter().find(|key| word.starts_with(*key)) {
                Some(key) => format!("{key}?"),
                None => word.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join(" ")
}

/// `path` as a union path: absolute, no trailing slash, no `.` or empty components (`..` is
/// kept as it is; such paths match nothing in [`LowerFacts`]).
pub fn union_path(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// Replaces the `ino=N` values of `stat` lines by their order of first appearance.
#[derive(Default)]
pub struct InoRenumbering {
    seen: HashMap<String, usize>,
}

impl InoRenumbering {
    /// `output` with each `ino=N` word replaced by `ino=#K`.
    pub fn apply(&mut self, output: &str) -> String {
        let mut result = String::with_capacity(output.len());
        for line in output.split_inclusive('\n') {
            if line.starts_with("error: ") {
                result.push_str(line);
                continue;
            }
            let mut words = Vec::new();
            for word in line.split(' ') {
                match word.strip_prefix("ino=") {
                    Some(number) if !number.is_empty() => {
                        let next = self.seen.len() + 1;
                        let index = *self.seen.entry(number.to_string()).or_insert(next);
                        words.push(format!("ino=#{index}"));
                    }
                    _ => words.push(word.to_string()),
                }
            }
            result.push_str(&words.join(" "));
        }
        result
    }
}

/// Compares one command line's outputs (already renumbered).
pub fn compare_line(
    number: usize,
    line: &str,
    ours: String,
    linux: String,
    target: &Target,
    lowers: &LowerFacts,
) -> Comparison {
    let parsed = command::parse(line.trim_matches([' ', '\t', '\r', '\n'])).ok();
    let ours = unknown_layers_as_linux(&ours, &linux);
    let context = Context {
        command: parsed.as_ref(),
        target,
        listing: "",
        lowers,
    };
    let verdict = verdict(&context, &ours, &linux);
    Comparison {
        number,
        what: line.trim().to_string(),
        ours,
        linux,
        verdict,
    }
}

/// Compares a final listing (`tree` of the union, or `upper`, the raw upper listing).
pub fn compare_listing(
    listing: &'static str,
    ours: String,
    linux: String,
    lowers: &LowerFacts,
) -> Comparison {
    let context = Context {
        command: None,
        target: &Target::default(),
        listing,
        lowers,
    };
    let verdict = verdict(&context, &ours, &linux);
    Comparison {
        number: 0,
        what: listing.to_string(),
        ours,
        linux,
        verdict,
    }
}

/// Same, or known if reconciling with the known differences (each once, in order) leaves
/// equal outputs, else divergent.
fn verdict(context: &Context<'_>, ours: &str, linux: &str) -> Verdict {
    if ours == linux {
        return Verdict::Same;
    }
    let (mut ours, mut linux) = (ours.to_string(), linux.to_string());
    let mut ids = Vec::new();
    for known in KNOWN_DIFFERENCES {
        if (known.reconcile)(context, &mut ours, &mut linux) {
            ids.push(known.id);
        }
    }
    if ours == linux && !ids.is_empty() {
        Verdict::Known(ids)
    } else {
        Verdict::Divergent
    }
}

/// Where the Linux side could not tell the layer of a `stat` (`layer=?`), the project's
/// answer is not compared either: the line is rewritten with `layer=?` on both sides.
fn unknown_layers_as_linux(ours: &str, linux: &str) -> String {
    if !linux.contains(" layer=? ") || !ours.contains(" layer=") {
        return ours.to_string();
    }
    ours.split_inclusive('\n')
        .map(|line| match (line.find(" layer="), line.rfind(' ')) {
            (Some(start), Some(end)) if start < end => {
                format!("{} layer=?{}", &line[..start], &line[end..])
            }
            _ => line.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_numbers_compare_by_identity() {
        let mut ours = InoRenumbering::default();
        let mut linux = InoRenumbering::default();
        let a = ours.apply("f 0644 0:0 size=1 nlink=1 ino=17 layer=upper /a\n");
        let b = linux.apply("f 0644 0:0 size=1 nlink=1 ino=9001 layer=upper /a\n");
        assert_eq!(a, b);
        assert_eq!(ours.apply("x ino=18 /b\n"), "x ino=#2 /b\n");
        assert_eq!(ours.apply("x ino=17 /c\n"), "x ino=#1 /c\n");
        assert_eq!(linux.apply("x ino=9001 /b\n"), "x ino=#1 /b\n");
    }

    #[test]
    fn unknown_layers_are_not_compared() {
        let ours = "d 0755 0:0 size=0 nlink=1 ino=#1 layer=lower:0 /a/../b\n";
        let linux = "d 0755 0:0 size=0 nlink=1 ino=#1 layer=? /a/../b\n";
        assert_eq!(unknown_layers_as_linux(ours, linux), linux);
    }

    #[test]
    fn differences_are_known_or_divergent() {
        let lowers = LowerFacts::default();
        let line = |n, text, ours: &str, linux: &str, target: Target| {
            compare_line(n, text, ours.into(), linux.into(), &target, &lowers).verdict
        };
        assert_eq!(
            line(1, "cat /x", "a\n", "a\n", Target::default()),
            Verdict::Same
        );
        assert_eq!(
            line(2, "cat /x", "a\n", "b\n", Target::of_kind('f')),
            Verdict::Divergent
        );
        let denied = "error: EACCES: cat /p\n";
        assert_eq!(
            line(3, "cat /p", "", denied, Target::of_kind('c')),
            Verdict::Known(vec!["device-open"])
        );
        assert_eq!(
            line(4, "cat /p", "", denied, Target::of_kind('f')),
            Verdict::Divergent
        );
    }

    #[test]
    fn whiteouts_in_unmerged_lower_dirs_are_known() {
        let mut lowers = LowerFacts::default();
        lowers.whiteouts.insert("/a/s".into());
        let ls_a = |ours: &str, linux: &str, lowers: &LowerFacts| {
            compare_line(
                1,
                "ls /a",
                ours.into(),
                linux.into(),
                &Target::of_kind('d'),
                lowers,
            )
            .verdict
        };
        let known = Verdict::Known(vec!["whiteout-in-unmerged-lower-dir"]);
        assert_eq!(ls_a("x\n", "s\nx\n", &lowers), known);
        assert_eq!(ls_a("x\n", "t\nx\n", &lowers), Verdict::Divergent);
        // A whiteout of /a/x in another layer neither excuses Linux leaving x out nor
        // stops a listing that has it from being known.
        lowers.whiteouts.insert("/a/x".into());
        assert_eq!(ls_a("x\n", "s\n", &lowers), Verdict::Divergent);
        assert_eq!(ls_a("x\n", "s\nx\n", &lowers), known);
        let tree = compare_listing(
            "tree",
            "d 0755 0:0 - - /\n".into(),
            "error: ENOENT: tree /\n".into(),
            &lowers,
        );
        assert_eq!(
            tree.verdict,
            Verdict::Known(vec!["whiteout-in-unmerged-lower-dir"])
        );
    }

    #[test]
    fn whiteouts_listed_through_a_symlink_are_known() {
        let mut lowers = LowerFacts::default();
        lowers.whiteouts.insert("/b/x".into());
        let through = |path: Option<&str>| {
            let target = Target {
                kind: Some('d'),
                path: path.map(String::from),
            };
            compare_line(7, "ls /c/", String::new(), "x\n".into(), &target, &lowers).verdict
        };
        // `/c` is a symlink to `/b`, which Linux lists with its whiteout.
        assert_eq!(
            through(Some("/b")),
            Verdict::Known(vec!["whiteout-in-unmerged-lower-dir"])
        );
        assert_eq!(through(None), Verdict::Divergent);
        assert_eq!(through(Some("/a")), Verdict::Divergent);
    }

    #[test]
    fn a_directory_linux_copied_up_to_link_a_name_into_is_known() {
        let mut lowers = LowerFacts::default();
        lowers.hard_links.insert("/a/s/z".into());
        let stat = |ours: &str, linux: &str| {
            compare_line(
                3,
                "stat /a/s",
                ours.into(),
                linux.into(),
                &Target::of_kind('d'),
                &lowers,
            )
            .verdict
        };
        let ours = "d 0755 0:0 size=60 nlink=2 ino=#1 layer=lower:2 /a/s\n";
        let linux = "d 0755 0:0 size=80 nlink=1 ino=#1 layer=upper /a/s\n";
        assert_eq!(
            stat(ours, linux),
            Verdict::Known(vec!["hard-link-copy-up-in-memory"])
        );
        // The other way round: Linux changed the group in its index, the project copied
        // the name and its directory up.
        assert_eq!(
            stat(linux, ours),
            Verdict::Known(vec!["hard-link-copy-up-in-memory"])
        );
        let other_mode = "d 0700 0:0 size=80 nlink=1 ino=#1 layer=upper /a/s\n";
        assert_eq!(stat(ours, other_mode), Verdict::Divergent);
    }

    #[test]
    fn upper_listing_differences_are_known_only_where_they_apply() {
        let mut lowers = LowerFacts::default();
        lowers.top_types.insert("/old".into(), 'd');
        lowers.top_types.insert("/gone".into(), 'w');
        lowers.hard_links.insert("/c".into());
        let ours = "d 0755 0:0 - - /gone\nd 0755 0:0 - - /new\nd 0755 0:0 - - /old\n";
        let new_opaque = "o 0755 0:0 - - /gone\no 0755 0:0 - - /new\nd 0755 0:0 - - /old\n";
        let known = compare_listing("upper", ours.into(), new_opaque.into(), &lowers);
        assert_eq!(known.verdict, Verdict::Known(vec!["new-dir-opaque"]));
        let old_opaque = "d 0755 0:0 - - /gone\nd 0755 0:0 - - /new\no 0755 0:0 - - /old\n";
        let wrong = compare_listing("upper", ours.into(), old_opaque.into(), &lowers);
        assert_eq!(wrong.verdict, Verdict::Divergent);
        let linked = format!("f 0644 0:0 1 x /c\n{ours}");
        let known = compare_listing("upper", ours.into(), linked, &lowers);
        assert_eq!(
            known.verdict,
            Verdict::Known(vec!["hard-link-copy-up-in-memory"])
        );
    }
}
