//! Operation sequences on a union, decoded from the input bytes: never a panic, and after
//! every step every listed name can be looked up and no directory lists a name twice.

use overlay_core::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer};
use overlay_core::posix::Namespace;
use overlay_core::scenarios::fixture::build_layer;
use overlay_core::tmpfs::{TmpFs, TmpFsOptions};
use overlay_core::vfs::{Credentials, FileType, OpenFlags, RenameFlags, XattrFlags};

const PATHS: &[&str] = &[
    "/a", "/a/x", "/a/y", "/a/s", "/a/s/z", "/b", "/b/x", "/c", "/d", "/a/../c", "/b/", "/h",
];
const TARGETS: &[&str] = &["/a/x", "x", "../c", "/b", "nowhere", "s", "/h"];

/// Operations of one input: 4 bytes each, so at most 32 KiB of it is read. Each operation is
/// followed by a check of the whole tree, and the union's paths are fixed, so a longer
/// sequence only takes longer.
const MAX_OPERATIONS: usize = 8192;

/// Runs the operations `input` encodes, 4 bytes each (kind, two path choices, mode bits and
/// credentials), on a union of two small image-like lowers and a tmpfs upper, and checks the
/// whole tree after each.
pub fn run(input: &[u8]) {
    let top =
        build_layer(&["d a", "w a/y", "o b", "f b/x top", "l c /a/x", "h h b/x"]).expect("top");
    let bottom = build_layer(&[
        "d a",
        "f a/x ax",
        "f a/y ay",
        "d a/s",
        "f a/s/z z",
        "d b",
        "f b/y by",
        "f c c",
    ])
    .expect("bottom");
    let upper = TmpFs::new(TmpFsOptions {
        capacity_bytes: Some(64 * 1024),
        max_inodes: Some(64),
        ..TmpFsOptions::default()
    });
    let union = OverlayFs::new(
        vec![Layer::new(top), Layer::new(bottom)],
        Some(UpperLayer::new(upper).expect("upper")),
        OverlayOptions::default(),
    )
    .expect("union");
    let ns = Namespace::with_filesystem(union);
    let root = Credentials::root();
    let user = Credentials::user(1000, 1000);
    for op in input.chunks(4).take(MAX_OPERATIONS) {
        let [kind, a, b, c] = [
            op[0],
            *op.get(1).unwrap_or(&0),
            *op.get(2).unwrap_or(&0),
            *op.get(3).unwrap_or(&0),
        ];
        let creds = if c & 0x80 != 0 { &user } else { &root };
        let p = |byte: u8| PATHS[byte as usize % PATHS.len()];
        let _ = match kind % 14 {
            0 => ns
                .open(
                    creds,
                    p(a),
                    OpenFlags::from_bits_truncate(u32::from(b)),
                    0o644,
                )
                .map(drop),
            1 => ns
                .open(creds, p(a), OpenFlags::WRITE, 0)
                .and_then(|file| file.pwrite(u64::from(b % 32), &[c; 3]).map(drop)),
            2 => ns.truncate(creds, p(a), u64::from(b) * 97),
            3 => ns.unlink(creds, p(a)),
            4 => ns.mkdir(creds, p(a), 0o755),
            5 => ns.rmdir(creds, p(a)),
            6 => ns.rename(
                creds,
                p(a),
                p(b),
                RenameFlags::from_bits_truncate(u32::from(c & 7)),
            ),
            7 => ns.link(creds, p(a), p(b)),
            8 => ns.symlink(creds, TARGETS[b as usize % TARGETS.len()], p(a)),
            9 => ns.chmod(creds, p(a), u16::from(b) << 4 | u16::from(c & 0xf)),
            10 => ns.set_xattr(
                creds,
                p(a),
                ["user.k", "trusted.overlay.opaque", "trusted.x"][b as usize % 3],
                &[c],
                XattrFlags::empty(),
            ),
            11 => ns.remove_xattr(
                creds,
                p(a),
                ["user.k", "trusted.overlay.opaque"][b as usize % 2],
            ),
            12 => ns.chown(creds, p(a), Some(u32::from(b % 3) * 1000), None),
            _ => ns.read_dir(creds, p(a)).map(drop),
        };
        check(&ns, &root);
    }
}

/// Every directory lists each name once, and every listed name can be looked up.
fn check(ns: &Namespace, root: &Credentials) {
    let mut pending = vec!["/".to_string()];
    while let Some(dir) = pending.pop() {
        let entries = ns.read_dir(root, &dir).expect("listing a directory");
        let mut names: Vec<&str> = entries.iter().map(|entry| &*entry.name).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "{dir} lists a name twice");
        for entry in &entries {
            let path = if dir == "/" {
                format!("/{}", entry.name)
            } else {
                format!("{dir}/{}", entry.name)
            };
            let meta = ns
                .lstat(root, &path)
                .expect("a listed name can be looked up");
            if meta.kind == FileType::Directory {
                pending.push(path);
            }
        }
    }
}
