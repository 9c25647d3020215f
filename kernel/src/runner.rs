//! The test runner: runs named tests in order and prints one line each, then the totals, in the
//! format the host side parses:
//!
//! ```text
//! test heap_small_blocks ... ok
//! test ramdisk_readable ... FAILED: length 0, expected 4096
//! 5 passed, 1 failed
//! ```
//!
//! A test is any `(name, fn() -> Result<(), String>)` pair, so suites from other crates plug in
//! with a `map`: `run(tests::ALL.iter().map(Test::entry).chain(other.iter().map(...)))`.
//! A test that panics ends the run through the panic handler, after its `test NAME ... ` prefix.
//! A test that prints lines of its own gets its result on a new `test NAME ... RESULT` line
//! after them (the host keeps the last line of each name).

use alloc::string::String;

use crate::{print, println, serial};

/// A test body: `Ok(())` on success, `Err(reason)` on failure.
pub type TestFn = fn() -> Result<(), String>;

/// A named kernel test.
#[derive(Debug, Clone, Copy)]
pub struct Test {
    pub name: &'static str,
    pub run: TestFn,
}

impl Test {
    /// The `(name, function)` pair [`run`] takes.
    pub fn entry(&self) -> (&'static str, TestFn) {
        (self.name, self.run)
    }
}

/// Totals of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
}

/// Runs every test in order and prints the per-test lines and the closing totals line.
pub fn run(tests: impl IntoIterator<Item = (&'static str, TestFn)>) -> Summary {
    let mut summary = Summary::default();
    for (name, test) in tests {
        print!("test {name} ... ");
        let writes = serial::writes();
        let result = test();
        if serial::writes() != writes {
            // The test printed lines of its own (a program's fault report, a log line): the
            // result gets a line of its own, with the test's name again.
            serial::start_line();
            print!("test {name} ... ");
        }
        match result {
            Ok(()) => {
                summary.passed += 1;
                println!("ok");
            }
            Err(reason) => {
                summary.failed += 1;
                println!("FAILED: {reason}");
            }
        }
    }
    println!("{} passed, {} failed", summary.passed, summary.failed);
    summary
}
