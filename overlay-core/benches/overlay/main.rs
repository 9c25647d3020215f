//! `make bench`: the workloads of issue 6 on this engine and its peers, in one run, printed as
//! one table (medians and ranges over repetitions, and the ratios between systems, which are
//! what stays meaningful on a shared, noisy machine).
//!
//! Systems: this engine (image layers in memory under a tmpfs upper, as the kernel runs it),
//! the `vfs` crate's `OverlayFS` over its `MemoryFS`, Linux overlayfs over tmpfs layers and a
//! plain tmpfs directory through system calls (when this process may mount; otherwise the
//! table says why not), and memcpy where it is the physical limit.
//!
//! Workloads (each on a fresh union per repetition, over layers built once):
//! - W1 lookup depth: L in {1, 8, 64} layers, each with `/d/f<layer>_<i>` for i < 1000; stat
//!   all L*1000 paths (cold: first time after mounting; warm: again), then 1000 names that
//!   exist nowhere.
//! - W2 merged listing: 4 layers of 5000 entries in `/big`, 25% of names shared by adjacent
//!   layers; 10% of the names removed through the union (whiteouts in the upper); list `/big`
//!   whole, first and again; the count is checked.
//! - W3 copy-up: a 64 MiB lower file opened for writing and 1 byte written at offset 0, next
//!   to a memcpy of 64 MiB.
//! - W4 churn: 10000 lower files of one directory deleted through the union, then 10000 new
//!   4 KiB files created.
//! - W5 real tree: the Rust standard library's sources (rust-src) as the base layer, a layer
//!   changing 1% of its files and one deleting another 1% on top; a full walk stating every
//!   entry (count checked), next to the same walk of the same tree in one tmpfs of this
//!   engine, and in a union whose one lower layer holds it: the first walk after
//!   mounting and a later one, each with the CPU caches cold, and one warm.
//!
//! - W6 image to mounted root (issue 21): from an OCI layout in memory to a union whose root
//!   is listed, for rust-src as W5 layers it and a generated image of ~7,000 entries and
//!   ~200 MiB, against `tar -x` of the layers plus `mount -t overlay`, and `umoci unpack`;
//!   and this engine's SHA-256 against `sha256sum` on the same bytes. Its own table: see
//!   `w6.rs`.
//!
//! Options: `--repeats N` (default 5), `--only W1,W3` (a subset of the workloads),
//! `--systems ours,vfs,overlayfs,tmpfs` (a subset of the systems), `--rust-src DIR`.

mod layout;
mod linux;
mod ours;
mod peer_vfs;
mod report;
mod spec;
mod system;
mod w6;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use report::{short, Table, Unit, COLUMNS};
use system::{Prepared, System};

struct Options {
    repeats: usize,
    only: Option<Vec<String>>,
    systems: Option<Vec<String>>,
    rust_src: Option<PathBuf>,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            repeats: 5,
            only: None,
            systems: None,
            rust_src: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                // `cargo bench` passes this to every bench target.
                "--bench" => {}
                "--repeats" => {
                    options.repeats = args
                        .next()
                        .and_then(|n| n.parse().ok())
                        .filter(|&n| n > 0)
                        .unwrap_or_else(|| usage("--repeats needs a positive number"));
                }
                "--only" => {
                    let list = args
                        .next()
                        .unwrap_or_else(|| usage("--only needs W1,W2,..."));
                    options.only = Some(list.split(',').map(str::to_uppercase).collect());
                }
                "--systems" => {
                    let list = args
                        .next()
                        .unwrap_or_else(|| usage("--systems needs ours,..."));
                    options.systems = Some(list.split(',').map(String::from).collect());
                }
                "--rust-src" => {
                    options.rust_src = Some(
                        args.next()
                            .unwrap_or_else(|| usage("--rust-src needs a directory"))
                            .into(),
                    );
                }
                other => usage(&format!("unknown argument {other}")),
            }
        }
        options
    }

    /// Whether the system called `short` (ours, vfs, overlayfs, tmpfs) is wanted.
    fn wants(&self, short: &str) -> bool {
        self.systems
            .as_ref()
            .is_none_or(|systems| systems.iter().any(|s| s == short))
    }

    fn runs(&self, workload: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|w| w == workload))
    }
}

fn usage(why: &str) -> ! {
    eprintln!("bench: {why}");
    eprintln!(
        "usage: overlay bench [--repeats N] [--only W1,W2,W3,W4,W5,W6] \\
         [--systems ours,vfs,overlayfs,tmpfs] [--rust-src DIR]"
    );
    std::process::exit(2);
}

/// Seconds `f` took.
fn time(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

/// `system`'s layers, or a note saying why it is skipped.
fn prepare(
    system: &dyn System,
    layers: &[spec::Tree],
    workload: &str,
    table: &mut Table,
) -> Option<Box<dyn Prepared>> {
    match system.prepare(layers) {
        Ok(prepared) => Some(prepared),
        Err(why) => {
            table.note(format!("{workload}: {} skipped: {why}", system.name()));
            None
        }
    }
}

/// Runs `repeat` once per repetition on a fresh mount; returns the seconds of each timed
/// step, by step.
fn repeat<const STEPS: usize>(
    system: &dyn System,
    prepared: &dyn Prepared,
    repeats: usize,
    workload: &str,
    table: &mut Table,
    mut run: impl FnMut(&dyn system::Mounted) -> [f64; STEPS],
) -> [Vec<f64>; STEPS] {
    let mut steps: [Vec<f64>; STEPS] = std::array::from_fn(|_| Vec::new());
    for _ in 0..repeats {
        match prepared.mount() {
            Ok(mounted) => {
                for (step, seconds) in run(&*mounted).into_iter().enumerate() {
                    steps[step].push(seconds);
                }
            }
            Err(why) => {
                table.note(format!("{workload}: {} skipped: {why}", system.name()));
                break;
            }
        }
    }
    steps
}

fn w1(systems: &[Box<dyn System>], table: &mut Table, repeats: usize) {
    for count in spec::W1_LAYER_COUNTS {
        let plural = if count == 1 { "" } else { "s" };
        for (step, what) in [
            ("cold", "cold"),
            ("warm", "warm"),
            ("missing", "1000 missing names"),
        ] {
            let label = format!("W1 stat, {count} layer{plural}, {what}");
            table.row(
                &format!("w1-{count}-{step}"),
                &label,
                Unit::PerItem("lookup"),
            );
        }
        let layers = spec::w1_layers(count);
        let paths = spec::w1_paths(count);
        let missing = spec::w1_missing();
        for system in systems {
            let Some(prepared) = prepare(&**system, &layers, "W1", table) else {
                continue;
            };
            let [cold, warm, absent] =
                repeat(&**system, &*prepared, repeats, "W1", table, |union| {
                    w1_passes(union, &paths, &missing)
                });
            let name = system.name();
            table.put(&format!("w1-{count}-cold"), name, &cold, paths.len());
            table.put(&format!("w1-{count}-warm"), name, &warm, paths.len());
            table.put(&format!("w1-{count}-missing"), name, &absent, missing.len());
        }
        if count == 1 || count == 64 {
            w1_one_tmpfs(systems, table, repeats, count, &layers);
        }
    }
}

/// W1's timed passes over one mount: every path (cold), every path again (warm), then the
/// names that exist nowhere.
fn w1_passes(union: &dyn system::Mounted, paths: &[String], missing: &[String]) -> [f64; 3] {
    let pass = || {
        time(|| {
            for path in paths {
                assert!(union.stat(path), "{path} missing");
            }
        })
    };
    let (cold, warm) = (pass(), pass());
    let absent = time(|| {
        for path in missing {
            assert!(!union.stat(path), "{path} found");
        }
    });
    [cold, warm, absent]
}

/// W1's files of `count` layers in one directory of one tmpfs of this engine, no union: what
/// the number of files costs by itself, to set beside what the layers cost.
fn w1_one_tmpfs(
    systems: &[Box<dyn System>],
    table: &mut Table,
    repeats: usize,
    count: usize,
    layers: &[spec::Tree],
) {
    if !systems.iter().any(|s| s.name() == COLUMNS[0]) {
        return;
    }
    let paths = spec::w1_paths(count);
    for (step, what) in [("warm", "warm"), ("missing", "missing names")] {
        table.row(
            &format!("w1-{count}-one-{step}"),
            &format!("W1 one tmpfs, {} files, {what}", paths.len()),
            Unit::PerItem("lookup"),
        );
    }
    let missing = spec::w1_missing();
    let system = ours::PlainTmpfs;
    let Some(prepared) = prepare(&system, layers, "W1", table) else {
        return;
    };
    let [_, warm, absent] = repeat(&system, &*prepared, repeats, "W1", table, |tmpfs| {
        w1_passes(tmpfs, &paths, &missing)
    });
    // A baseline of this engine: it goes in its column.
    table.put(
        &format!("w1-{count}-one-warm"),
        COLUMNS[0],
        &warm,
        paths.len(),
    );
    table.put(
        &format!("w1-{count}-one-missing"),
        COLUMNS[0],
        &absent,
        missing.len(),
    );
}

fn w2(systems: &[Box<dyn System>], table: &mut Table, repeats: usize) {
    let expected = spec::w2_expected();
    let label = format!("W2 list /big ({expected} entries), first");
    table.row("w2-first", &label, Unit::Rate("entries/s"));
    table.row("w2-again", "W2 list /big, again", Unit::Rate("entries/s"));
    let layers = spec::w2_layers();
    let removed = spec::w2_removed();
    for system in systems {
        let Some(prepared) = prepare(&**system, &layers, "W2", table) else {
            continue;
        };
        let [first, again] = repeat(&**system, &*prepared, repeats, "W2", table, |union| {
            for path in &removed {
                union.unlink(path);
            }
            let mut listed = 0;
            let first = time(|| listed = union.list(spec::W2_DIR));
            assert_eq!(listed, expected, "{}: entries of /big", system.name());
            let again = time(|| listed = union.list(spec::W2_DIR));
            assert_eq!(listed, expected, "{}: entries of /big", system.name());
            [first, again]
        });
        table.put("w2-first", system.name(), &first, expected);
        table.put("w2-again", system.name(), &again, expected);
    }
}

fn w3(systems: &[Box<dyn System>], table: &mut Table, repeats: usize) {
    table.row("w3", "W3 first 1-byte write into a 64 MiB file", Unit::Once);
    let data = spec::pattern(spec::W3_BYTES);
    let layers = spec::w3_layers(&data);
    for system in systems {
        let Some(prepared) = prepare(&**system, &layers, "W3", table) else {
            continue;
        };
        let [write] = repeat(&**system, &*prepared, repeats, "W3", table, |union| {
            [time(|| union.write_first_byte(spec::W3_PATH))]
        });
        table.put("w3", system.name(), &write, 1);
    }
    // The physical limit of a copy: memcpy of the same bytes into memory already touched.
    let mut copy = vec![1u8; spec::W3_BYTES];
    let memcpy: Vec<f64> = (0..repeats)
        .map(|_| {
            time(|| {
                copy.copy_from_slice(&data);
                black_box(&copy);
            })
        })
        .collect();
    table.put("w3", COLUMNS[4], &memcpy, 1);
    table.note(
        "W3: the memcpy column copies the same 64 MiB; Linux tmpfs writes the byte into a \
         plain file (nothing to copy)."
            .into(),
    );
}

fn w4(systems: &[Box<dyn System>], table: &mut Table, repeats: usize) {
    let files = spec::W4_FILES;
    table.row(
        "w4-delete",
        &format!("W4 delete {files} lower files"),
        Unit::Rate("ops/s"),
    );
    table.row(
        "w4-create",
        &format!("W4 create {files} new 4 KiB files"),
        Unit::Rate("ops/s"),
    );
    let layers = spec::w4_layers();
    let (deleted, created) = (spec::w4_deleted(), spec::w4_created());
    let data = spec::pattern(spec::W4_FILE_BYTES);
    for system in systems {
        let Some(prepared) = prepare(&**system, &layers, "W4", table) else {
            continue;
        };
        let [delete, create] = repeat(&**system, &*prepared, repeats, "W4", table, |union| {
            let delete = time(|| {
                for path in &deleted {
                    union.unlink(path);
                }
            });
            let create = time(|| {
                for path in &created {
                    union.create(path, &data);
                }
            });
            [delete, create]
        });
        table.put("w4-delete", system.name(), &delete, files);
        table.put("w4-create", system.name(), &create, files);
    }
}

/// Bytes written to push everything else out of the CPU's caches (several times a large L3).
const EVICTION_BYTES: usize = 256 << 20;

/// Writes and reads back all of `buffer`, so the CPU's caches hold it and nothing else.
fn evict_cpu_caches(buffer: &mut [u8]) {
    for (i, byte) in buffer.iter_mut().enumerate().step_by(64) {
        *byte = byte.wrapping_add(i as u8);
    }
    black_box(buffer.iter().step_by(64).fold(0u8, |sum, byte| sum ^ byte));
}

fn w5(systems: &[Box<dyn System>], table: &mut Table, repeats: usize, rust_src: PathBuf) {
    let tree = match spec::w5(&rust_src) {
        Ok(tree) => tree,
        Err(error) => {
            table.note(format!("W5 skipped: {}: {error}", rust_src.display()));
            return;
        }
    };
    let expected = tree.expected_entries;
    table.row(
        "w5-cold",
        &format!("W5 walk rust-src ({expected} entries), cold"),
        Unit::PerItem("entry"),
    );
    table.row("w5-warm", "W5 walk rust-src, warm", Unit::PerItem("entry"));
    table.row(
        "w5-recold",
        "W5 walk rust-src, mounted, caches cold",
        Unit::PerItem("entry"),
    );
    for (key, what) in [
        ("w5-one", "one tmpfs layer"),
        ("w5-one-union", "union of one image layer"),
    ] {
        for (step, when) in [
            ("cold", "cold"),
            ("warm", "warm"),
            ("recold", "caches cold"),
        ] {
            table.row(
                &format!("{key}-{step}"),
                &format!("W5 same walk, {what}, {when}"),
                Unit::PerItem("entry"),
            );
        }
    }
    table.note(format!(
        "W5: {} ({} files): 3 layers, {} files changed, {} deleted; the 'one tmpfs layer' \
         rows walk the merged tree in a tmpfs of this engine, no union; the 'union of one \
         image layer' rows, the merged tree as the only lower layer of a union (what the \
         layers alone cost).",
        rust_src.display(),
        tree.files,
        tree.changed,
        tree.deleted
    ));
    // Each cold walk starts with the CPU's caches holding none of the tree, whatever ran
    // before it (a mount that just wrote the whole tree, or one that wrote nothing). The
    // first walk after mounting is also the one that builds a union's nodes and caches; the
    // third walk, caches evicted again, meets them built, as every walk of a tmpfs does.
    let mut eviction = vec![0u8; EVICTION_BYTES];
    let mut walks = |union: &dyn system::Mounted, name: &str| {
        let mut walk = |evict: bool| {
            if evict {
                evict_cpu_caches(&mut eviction);
            }
            let mut entries = 0;
            let seconds = time(|| entries = union.walk());
            assert_eq!(entries, expected, "{name}: entries walked");
            seconds
        };
        [walk(true), walk(false), walk(true)]
    };
    for system in systems.iter().filter(|s| s.name() != COLUMNS[0]) {
        let Some(prepared) = prepare(&**system, &tree.layers, "W5", table) else {
            continue;
        };
        let figures = repeat(&**system, &*prepared, repeats, "W5", table, |union| {
            walks(union, system.name())
        });
        put_walks(table, "w5", system.name(), &figures, expected);
    }
    // This engine and its single-layer baselines take turns, one repetition each, so all
    // meet the same state of the process and the machine (heap, caches): their ratio is a
    // goal, and run one after the other it moved with whatever ran in between.
    let Some(ours) = systems.iter().find(|s| s.name() == COLUMNS[0]) else {
        return;
    };
    let one_layer: Box<dyn System> = Box::new(ours::PlainTmpfs);
    let one_layer_union: Box<dyn System> = Box::new(ours::OneLayerUnion);
    let turns = [
        (&**ours, "w5"),
        (&*one_layer, "w5-one"),
        (&*one_layer_union, "w5-one-union"),
    ];
    let mut prepared = Vec::new();
    for (system, key) in turns {
        if let Some(ready) = prepare(system, &tree.layers, "W5", table) {
            prepared.push((system, key, ready, [Vec::new(), Vec::new(), Vec::new()]));
        }
    }
    for _ in 0..repeats {
        for (system, _, ready, figures) in &mut prepared {
            match ready.mount() {
                Ok(union) => {
                    for (figure, seconds) in figures.iter_mut().zip(walks(&*union, system.name())) {
                        figure.push(seconds);
                    }
                }
                Err(why) => table.note(format!("W5: {} skipped: {why}", system.name())),
            }
        }
    }
    // The single-layer baseline is this engine's too: it goes in its column.
    for (_, key, _, figures) in &prepared {
        put_walks(table, key, COLUMNS[0], figures, expected);
    }
}

/// W5's three walks per mount (see `w5`), in the order they are timed: row `{key}-{step}`.
const W5_WALKS: [&str; 3] = ["cold", "warm", "recold"];

/// Puts the figures of W5's walks (in [`W5_WALKS`] order) in `column`, rows `{key}-{step}`.
fn put_walks(
    table: &mut Table,
    key: &str,
    column: &'static str,
    figures: &[Vec<f64>; 3],
    entries: u64,
) {
    for (step, figure) in W5_WALKS.iter().zip(figures) {
        table.put(&format!("{key}-{step}"), column, figure, entries as usize);
    }
}

/// Where rust-src is: `$(rustc --print sysroot)/lib/rustlib/src/rust/library`.
fn default_rust_src() -> PathBuf {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = std::process::Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|text| text.trim().to_string())
        .unwrap_or_default();
    PathBuf::from(sysroot).join("lib/rustlib/src/rust/library")
}

/// The goals of issue 6, checked against this run's figures.
fn goals(table: &Table) {
    println!();
    println!("Goals of issue 6, from the figures above:");
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    let ours = COLUMNS[0];
    if let (Some(write), Some(memcpy)) = (table.median("w3", ours), table.median("w3", COLUMNS[4]))
    {
        let percent = write / memcpy * 100.0;
        println!(
            "  W3: first write {} % of the 64 MiB memcpy (goal: under 1 %): {}",
            short(percent),
            verdict(percent < 1.0)
        );
    }
    for (step, what) in [("warm", "found"), ("missing", "missing")] {
        let one = table.median(&format!("w1-1-{step}"), ours);
        let many = table.median(&format!("w1-64-{step}"), ours);
        if let (Some(one), Some(many)) = (one, many) {
            let ratio = many / one;
            // 64 layers also mean 64 times the files: a plain directory holding them shows
            // what that costs by itself, in this engine's tmpfs and in Linux's.
            let mut floors = Vec::new();
            for (column, what, one_key, many_key) in [
                (ours, "this engine's tmpfs", "w1-1-one", "w1-64-one"),
                (COLUMNS[3], "Linux tmpfs", "w1-1", "w1-64"),
            ] {
                if let (Some(one), Some(many)) = (
                    table.median(&format!("{one_key}-{step}"), column),
                    table.median(&format!("{many_key}-{step}"), column),
                ) {
                    floors.push(format!("{what} {}x", short(many / one)));
                }
            }
            let floor = if floors.is_empty() {
                String::new()
            } else {
                format!(" (the same files in one directory: {})", floors.join(", "))
            };
            println!(
                "  W1: warm lookups, {what}: 64 layers cost {}x 1 layer{floor} (goal: at most \
                 1.5x): {}",
                short(ratio),
                verdict(ratio <= 1.5)
            );
        }
    }
    let compared: Vec<String> = table
        .rows()
        .map(|row| row.key.clone())
        .filter(|key| !key.starts_with("w3") && !key.contains("-one"))
        .collect();
    for (peer, goal, wanted) in [
        (COLUMNS[2], "faster than Linux overlayfs", 1.0),
        (COLUMNS[1], "at least 10x faster than the vfs crate", 10.0),
    ] {
        let ratios: Vec<(String, f64)> = compared
            .iter()
            .filter_map(|key| Some((key.clone(), table.speedup(key, peer)?)))
            .collect();
        if ratios.is_empty() {
            continue;
        }
        let slowest = ratios
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(key, ratio)| format!("{key} {}x", short(*ratio)))
            .unwrap_or_default();
        let missed: Vec<&str> = ratios
            .iter()
            .filter(|(_, ratio)| *ratio < wanted)
            .map(|(key, _)| key.as_str())
            .collect();
        let detail = if missed.is_empty() {
            String::new()
        } else {
            format!("; below it: {}", missed.join(", "))
        };
        println!(
            "  W1, W2, W4, W5 {goal}: {} (least: {slowest}{detail})",
            verdict(missed.is_empty()),
        );
    }
    for (step, what) in [
        ("cold", "first walk after mounting, CPU caches cold"),
        ("warm", "warm walk"),
        ("recold", "later walk, CPU caches cold"),
    ] {
        let union = table.median(&format!("w5-{step}"), ours);
        let one = table.median(&format!("w5-one-{step}"), ours);
        if let (Some(union), Some(one)) = (union, one) {
            let ratio = union / one;
            // The same tree as the one layer of a union: what the two layers on top cost,
            // without what a union costs over a plain tmpfs.
            let layers_alone = table
                .median(&format!("w5-one-union-{step}"), ours)
                .map(|one_union| {
                    format!(
                        "; a union of the tree as one image layer costs {}x it, the 3 \
                         layers {}x that",
                        short(one_union / one),
                        short(union / one_union)
                    )
                })
                .unwrap_or_default();
            println!(
                "  W5: {what}: the 3-layer union costs {}x one tmpfs layer (goal: at most \
                 1.5x): {}{layers_alone}",
                short(ratio),
                verdict(ratio <= 1.5)
            );
        }
    }
}

fn main() {
    let options = Options::parse();
    let repeats = options.repeats;
    // The load average says how much else the machine ran: on a shared machine, wall-clock
    // figures stretch with it, and only ratios within one run compare.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| {
            let mut fields = text.split_whitespace();
            Some(format!("load average {}", fields.next()?))
        })
        .unwrap_or_else(|| "load unknown".into());
    println!(
        "overlay bench: {repeats} repetitions per figure, {} CPUs, {}, {load}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|release| format!("Linux {}", release.trim()))
            .unwrap_or_else(|_| "kernel unknown".into())
    );
    let all: [(&str, Box<dyn System>); 4] = [
        ("ours", Box::new(ours::Union)),
        ("vfs", Box::new(peer_vfs::VfsCrate)),
        ("overlayfs", Box::new(linux::Overlay)),
        ("tmpfs", Box::new(linux::Tmpfs)),
    ];
    let systems: Vec<Box<dyn System>> = all
        .into_iter()
        .filter(|(short, _)| options.wants(short))
        .map(|(_, system)| system)
        .collect();
    let mut table = Table::default();
    let started = Instant::now();
    if options.runs("W1") {
        w1(&systems, &mut table, repeats);
    }
    if options.runs("W2") {
        w2(&systems, &mut table, repeats);
    }
    if options.runs("W3") {
        w3(&systems, &mut table, repeats);
    }
    if options.runs("W4") {
        w4(&systems, &mut table, repeats);
    }
    let rust_src = options.rust_src.clone().unwrap_or_else(default_rust_src);
    if options.runs("W5") {
        w5(&systems, &mut table, repeats, rust_src.clone());
    }
    let mut w6_table = Table::w6();
    let w6_sizes = if options.runs("W6") {
        w6::run(&mut w6_table, repeats, &rust_src)
    } else {
        Vec::new()
    };
    println!(
        "(measured in {:.0} s; {})",
        started.elapsed().as_secs_f64(),
        std::fs::read_to_string("/proc/loadavg")
            .map(|text| format!("load averages now {}", text.trim()))
            .unwrap_or_default()
    );
    if !table.is_empty() {
        println!();
        table.print();
        goals(&table);
    }
    if !w6_table.is_empty() {
        println!();
        w6_table.print();
        w6::goals(&w6_table, &w6_sizes);
    }
}
