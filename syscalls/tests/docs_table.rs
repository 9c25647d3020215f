//! `docs/syscalls.md` lists every system call the kernel serves, with the family that serves
//! it. This test reads that table and checks each call marked with one of this crate's
//! families: the dispatcher serves its number (it does not fall through to the "unknown call"
//! answer). Calls marked `kernel` are served by the kernel's own code.

mod fs_support;

use fs_support::{TestHost, World};
use overlay_syscalls::dispatch::{dispatch_known, Call};
use overlay_syscalls::syscall_name;

const FAMILIES: &[&str] = &["fs", "pipe", "poll", "vm", "signal", "misc"];

/// The (call, family) rows of the table.
fn rows() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/syscalls.md");
    let text = std::fs::read_to_string(path).expect("docs/syscalls.md is readable");
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_string(), cells.get(2)?.to_string()))
        })
        .collect()
}

fn number_of(name: &str) -> Option<u64> {
    (0..600).find(|&number| syscall_name(number) == Some(name))
}

#[test]
fn every_call_the_docs_list_is_served_by_its_family() {
    let rows = rows();
    assert!(
        rows.len() > 100,
        "only {} rows in docs/syscalls.md",
        rows.len()
    );
    for (name, family) in rows {
        let number = number_of(&name).unwrap_or_else(|| panic!("`{name}` is not a system call"));
        if family == "kernel" {
            continue;
        }
        assert!(
            FAMILIES.contains(&family.as_str()),
            "`{name}`: unknown family {family}"
        );
        // A fresh process each time: some calls (`setsid`, `setuid`) change it.
        let mut world = World::new();
        let mut call = Call {
            process: &mut world.process,
            memory: &mut world.space,
            host: &TestHost,
        };
        assert!(
            dispatch_known(&mut call, number, [0; 6]).is_some(),
            "`{name}` ({number}) is listed as served by {family} but nothing serves it"
        );
    }
}
