//! The `map:` lines of the boot report: which layers each image stacks, and for every container
//! which layer each of its top-level entries comes from. The rootfs stage prints the images and
//! the distinct layers, but not the edges between them; these lines give them, so the report
//! alone is enough to draw the boot (`boot diagram`, `make diagram`).
//!
//! A line per image, its layers top first (the order of Linux's `lowerdir=`):
//!
//! ```text
//! map: image greeter:1.0: sha256:f2252f45379d sha256:e12cc56f28fb sha256:ee851e16fded
//! ```
//!
//! then per container a heading and a line per top-level entry: its kind (`ls -l`'s letter),
//! its name, the layer it comes from (`upper` once written), and for a directory, after `+`,
//! the other layers whose entries it shows (the origins of its own entries, top first):
//!
//! ```text
//! map: container root of greeter:1.0: 4 top-level entries
//! map:   d etc sha256:f2252f45379d + sha256:e12cc56f28fb sha256:ee851e16fded
//! ```
//!
//! Names are printed with whitespace, backslashes and control characters as `\u{HEX}`, so a
//! line splits into words.

use alloc::{format, string::String, sync::Arc, vec::Vec};

use overlay_core::containers::ContainerManager;
use overlay_core::image::short_digest;
use overlay_core::overlay::{OverlayFs, OverlayInode};
use overlay_core::vfs::{FileType, Inode};

use crate::println;

/// Prints the `map:` lines for every image and every container of `manager`.
pub fn print(manager: &ContainerManager) {
    manager.with_store(|store| {
        for image in store.images() {
            let layers: Vec<&str> = image.layers.iter().rev().map(|d| short_digest(d)).collect();
            println!("map: image {}: {}", escape(&image.name), layers.join(" "));
        }
    });
    for container in manager.containers() {
        let entries = match top_level(&container.union) {
            Ok(entries) => entries,
            Err(why) => {
                println!(
                    "map: container {} of {}: cannot list its root: {why}",
                    escape(&container.name),
                    escape(&container.image)
                );
                continue;
            }
        };
        println!(
            "map: container {} of {}: {} top-level entries",
            escape(&container.name),
            escape(&container.image),
            entries.len()
        );
        for entry in entries {
            let below = if entry.below.is_empty() {
                String::new()
            } else {
                format!(" + {}", entry.below.join(" "))
            };
            println!(
                "map:   {} {} {}{below}",
                entry.kind.letter(),
                escape(&entry.name),
                entry.layer
            );
        }
    }
}

/// A top-level entry of a union: its kind, name, origin layer's label and, for a directory,
/// the labels of the other layers its own entries come from.
struct Entry {
    kind: FileType,
    name: String,
    layer: String,
    below: Vec<String>,
}

/// The entries of `union`'s root, in listing order.
fn top_level(union: &Arc<OverlayFs>) -> Result<Vec<Entry>, String> {
    let root: Arc<dyn Inode> = union.root_node();
    let mut entries = Vec::new();
    for (name, inode) in children(&root)? {
        let own = origin(union, &inode);
        let mut below: Vec<Option<usize>> = Vec::new();
        let kind = inode.metadata().map_err(|e| format!("{name}: {e}"))?.kind;
        if kind == FileType::Directory {
            for (_, child) in children(&inode).map_err(|why| format!("{name}: {why}"))? {
                let layer = origin(union, &child);
                if layer != own && !below.contains(&layer) {
                    below.push(layer);
                }
            }
        }
        // Top first: the upper, then the lowers by index.
        below.sort_by_key(|layer| layer.map_or(0, |index| index + 1));
        entries.push(Entry {
            kind,
            name,
            layer: label(union, own),
            below: below.into_iter().map(|l| label(union, l)).collect(),
        });
    }
    Ok(entries)
}

/// An entry of a directory and its inode.
type Named = (String, Arc<dyn Inode>);

/// The entries of directory `dir`, looked up through the union.
fn children(dir: &Arc<dyn Inode>) -> Result<Vec<Named>, String> {
    let mut names: Vec<String> = Vec::new();
    dir.readdir(0, &mut |entry| {
        names.push(String::from(entry.name));
        true
    })
    .map_err(|errno| format!("readdir: {errno}"))?;
    names
        .into_iter()
        .map(|name| {
            let inode = dir
                .lookup(&name)
                .map_err(|errno| format!("{name}: {errno}"))?;
            Ok((name, inode))
        })
        .collect()
}

/// The layer `inode` comes from: `None` for the upper, `Some(n)` for lower `n` (0 = top).
fn origin(union: &OverlayFs, inode: &Arc<dyn Inode>) -> Option<usize> {
    inode
        .as_any()
        .downcast_ref::<OverlayInode>()
        .filter(|node| union.owns(node))
        .and_then(OverlayInode::origin_layer)
}

/// How a layer is named in the report: `upper`, or the lower's label (its short digest).
fn label(union: &OverlayFs, layer: Option<usize>) -> String {
    match layer.and_then(|index| union.lowers().get(index)) {
        Some(lower) => escape(lower.label()),
        None => String::from("upper"),
    }
}

/// `text` with whitespace, backslashes and control characters written `\u{HEX}`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() || c == '\\' {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}
