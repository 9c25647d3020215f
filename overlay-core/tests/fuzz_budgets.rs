//! The fuzz targets' inputs kept as regression tests, run through the targets' own bodies under
//! the budgets the fuzzers give them (`overlay-core/fuzz/src/budget.rs`): a thread with the
//! kernel's 512 KiB stack, and a heap of 512 KiB plus k bytes per input byte (32 for the
//! targets whose input is data, 128 for the shell's commands).
//!
//! The inputs: every file of `overlay-core/fuzz/seeds/<target>/` (where the fuzzers start), of
//! `overlay-core/fuzz/regressions/<target>/` (inputs that broke a budget once, and the deep and
//! amplifying shapes the fuzzers are meant to reach) and of `overlay-core/fuzz/findings/`
//! (inputs that break a budget now, in code still to be fixed). An input past the stack or the heap
//! budget aborts its process, as it aborts the fuzzer, so each input runs in a child process
//! of this test binary (the ignored test [`one_input_named_by_the_environment`]); a failure
//! names the input and quotes what the child printed.

#[path = "../fuzz/src/bodies/mod.rs"]
mod bodies;
#[path = "../fuzz/src/budget.rs"]
mod budget;

use std::path::{Path, PathBuf};
use std::process::Command;

#[global_allocator]
static HEAP: budget::BudgetedHeap = budget::BudgetedHeap;

/// Names the target whose body the child process runs.
const TARGET_VARIABLE: &str = "FUZZ_BUDGETS_TARGET";
/// Names the input file the child process runs.
const INPUT_VARIABLE: &str = "FUZZ_BUDGETS_INPUT";

/// The files of `dir`, sorted by name; none if it does not exist.
fn inputs_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("listing an input folder").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// The last few lines of `text`.
fn tail(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(6)..].join("\n")
}

/// Runs every input of the folders `dirs` (under `overlay-core/fuzz/`) in a child process, a
/// folder of each per target; prints each one's heap figure, returns the failures.
fn run_inputs(dirs: &[&str]) -> Vec<String> {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let this_test = std::env::current_exe().expect("the test binary");
    let mut failures = Vec::new();
    for target in bodies::TARGETS {
        let target = target.name;
        let inputs = dirs
            .iter()
            .flat_map(|dir| inputs_in(&fuzz_dir.join(dir).join(target)));
        for path in inputs {
            let name = path.strip_prefix(&fuzz_dir).unwrap_or(&path).display();
            let child = Command::new(&this_test)
                .args(["--exact", "one_input_named_by_the_environment"])
                .args(["--ignored", "--nocapture", "--test-threads=1"])
                .env(TARGET_VARIABLE, target)
                .env(INPUT_VARIABLE, &path)
                .env("RUST_BACKTRACE", "0")
                .output()
                .expect("running the test binary");
            // libtest prints the test's name on the line the figure starts.
            let said = String::from_utf8_lossy(&child.stdout);
            let figure = said.find("heap peak").map(|at| said[at..].lines().next());
            match figure.flatten() {
                Some(figure) if child.status.success() => println!("{target} {name}: {figure}"),
                _ => failures.push(format!(
                    "{target} {name}: {}\n{}",
                    child.status,
                    tail(&child.stderr)
                )),
            }
        }
    }
    failures
}

#[test]
fn every_fuzz_seed_and_regression_input_runs_on_the_kernels_stack_within_its_heap_budget() {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for target in bodies::TARGETS {
        let target = target.name;
        let seeds = inputs_in(&fuzz_dir.join("seeds").join(target));
        assert!(!seeds.is_empty(), "no seeds for the {target} target");
    }
    let failures = run_inputs(&["seeds", "regressions"]);
    assert!(
        failures.is_empty(),
        "inputs over a budget or failing:\n{}",
        failures.join("\n")
    );
}

/// Inputs of `overlay-core/fuzz/findings/` go over a budget in code this crate has not fixed
/// yet; each file's name says what it does. Once fixed, they move to `regressions/`.
#[test]
fn the_open_fuzz_findings_run_within_the_budgets() {
    let failures = run_inputs(&["findings"]);
    assert!(
        failures.is_empty(),
        "inputs over a budget or failing:\n{}",
        failures.join("\n")
    );
}

/// The child process: runs the input `FUZZ_BUDGETS_INPUT` through the body of the target
/// `FUZZ_BUDGETS_TARGET` under the budgets and prints its heap peak; does nothing without them.
#[test]
#[ignore = "run by the test above, one input per process"]
fn one_input_named_by_the_environment() {
    let (Some(target), Some(path)) = (
        std::env::var_os(TARGET_VARIABLE),
        std::env::var_os(INPUT_VARIABLE),
    ) else {
        return;
    };
    let target = bodies::TARGETS
        .iter()
        .find(|known| target == known.name)
        .expect("a known target");
    let input = std::fs::read(path).expect("reading the input");
    let usage = target.run(&input);
    println!(
        "heap peak {} of {} bytes ({} bytes of input)",
        usage.peak_heap_bytes,
        usage.heap_budget_bytes,
        input.len()
    );
}

#[test]
fn the_heap_budget_refuses_what_would_pass_it_and_counts_what_is_freed() {
    let input = [0u8; 1000];
    let budget = budget::heap_budget(input.len(), 32);
    assert_eq!(budget, budget::BASE_BYTES + 32 * 1000);
    let body = |input: &[u8]| {
        let budget = budget::heap_budget(input.len(), 32);
        let mut too_much: Vec<u8> = Vec::new();
        assert!(too_much.try_reserve_exact(budget + 1).is_err());
        // Freed bytes are given back: two halves one after the other both fit.
        for _ in 0..2 {
            let mut half: Vec<u8> = Vec::new();
            assert!(half.try_reserve_exact(budget / 2).is_ok());
        }
        let mut first: Vec<u8> = Vec::new();
        assert!(first.try_reserve_exact(budget / 2).is_ok());
        let mut second: Vec<u8> = Vec::new();
        assert!(second.try_reserve_exact(budget / 2 + 1).is_err());
    };
    let usage = budget::run(&input, body, 32);
    assert!(usage.peak_heap_bytes >= budget / 2);
    assert!(usage.peak_heap_bytes <= budget);
    // Outside a body nothing is limited.
    let mut unlimited: Vec<u8> = Vec::new();
    assert!(unlimited.try_reserve_exact(budget * 4).is_ok());
}

#[test]
fn a_body_runs_on_a_stack_of_the_kernels_size() {
    let body = |_: &[u8]| {
        // A frame of three quarters of the kernel's stack fits (a second would not, and
        // would abort); a test thread's 2 MiB would hide a stack twice the kernel's.
        let frame = [1u8; budget::STACK_BYTES * 3 / 4];
        assert_eq!(std::hint::black_box(&frame)[budget::STACK_BYTES / 2], 1);
    };
    budget::run(&[], body, 0);
}
