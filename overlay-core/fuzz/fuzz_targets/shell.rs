//! The shell language: any text, run line by line on a small union, must never panic; every
//! line prints its output or exactly one `error:` line.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer};
use overlay_core::posix::Namespace;
use overlay_core::scenarios::fixture::build_layer;
use overlay_core::shell::Shell;
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Keep each input small: the union is rebuilt for every input.
    if text.lines().count() > 64 {
        return;
    }
    let lower = build_layer(&[
        "d etc",
        "f etc/config :xxx:",
        "l etc/link config",
        "w gone",
        "o opaque",
    ])
    .expect("layer");
    let upper = TmpFs::new(TmpFsOptions {
        capacity_bytes: Some(1 << 20),
        max_inodes: Some(256),
        ..TmpFsOptions::default()
    });
    let union = OverlayFs::new(
        vec![Layer::new(lower)],
        Some(UpperLayer::new(upper).expect("upper")),
        OverlayOptions::default(),
    )
    .expect("union");
    let mut shell = Shell::new(
        Namespace::with_filesystem(union.clone()),
        Some(union as Arc<_>),
    );
    for line in text.lines() {
        let mut out = String::new();
        let failures_before = shell.failures();
        shell.run_line(line, &mut out).expect("writing to a String");
        if shell.failures() > failures_before {
            assert!(out.starts_with("error: "), "a failed line printed {out:?}");
            assert_eq!(
                out.matches('\n').count(),
                1,
                "a failed line printed more: {out:?}"
            );
        }
    }
});
