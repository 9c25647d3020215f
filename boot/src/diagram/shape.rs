//! The shape of a boot: what a drawing must share with the boot of today's code to still be
//! true, as lines of text (so a mismatch shows as the lines that differ).
//!
//! What must match: the firmware; the uses of the bootloader's memory, and which are kept and
//! which reclaimed; the image layouts and their images, in order; each image's layers, top
//! first, named by the instruction that made them; which layers several images share; the
//! containers and their images; each container's top-level entries with their kind, the
//! layer they come from and the layers below that a directory shows (as positions in the
//! container's stack, `L0` the top, or `upper`).
//!
//! What may differ: every size, count of regions, ranges, frames or files, address, digest
//! and cycle count. Sizes move with the heap and the compiler, region counts with the
//! machine's memory, and digests with the BusyBox that `make deps` fetched; none of them
//! changes what the picture shows.

use super::report::{Container, Report};

/// The shape of `report`, one fact per line: the firmware, the bootloader memory's uses and
/// which are kept, the layouts and their images, each image's layers (by the instruction that
/// made them) and which are shared, the containers and their top-level entries with their
/// kinds and layers. Sizes, counts, addresses and digests are left out (see the module doc).
pub fn shape(report: &Report) -> Vec<String> {
    let mut lines = vec![format!("firmware {}", report.memory.firmware)];
    for usage in &report.memory.uses {
        let action = if usage.kept { "kept" } else { "reclaimed" };
        lines.push(format!("bootloader memory: {} {action}", usage.label));
    }
    let instruction = |digest: &str| {
        report
            .layer(digest)
            .map_or_else(|| format!("? {digest}"), |layer| layer.created_by.clone())
    };
    for source in &report.sources {
        lines.push(format!("layout {}", source.kind));
        for image in &source.images {
            lines.push(format!("  image {}", image.name));
            for digest in &image.layers {
                let users = report.users(digest);
                let shared = if users > 1 {
                    format!(" (shared by {users})")
                } else {
                    String::new()
                };
                lines.push(format!("    layer {}{shared}", instruction(digest)));
            }
        }
    }
    for container in &report.containers {
        lines.extend(container_shape(report, container));
    }
    lines
}

fn container_shape(report: &Report, container: &Container) -> Vec<String> {
    let lowers: Vec<String> = report
        .image(&container.image)
        .map(|image| image.layers.clone())
        .unwrap_or_default();
    let position = |layer: &str| match lowers.iter().position(|d| d == layer) {
        Some(index) => format!("L{index}"),
        None if layer == "upper" => String::from("upper"),
        None => format!("? {layer}"),
    };
    let mut lines = vec![format!(
        "container {} of {}",
        container.name, container.image
    )];
    for entry in &container.entries {
        let below: Vec<String> = entry.below.iter().map(|layer| position(layer)).collect();
        let below = if below.is_empty() {
            String::new()
        } else {
            format!(" + {}", below.join(" "))
        };
        lines.push(format!(
            "  {} {} {}{below}",
            entry.kind,
            entry.name,
            position(&entry.layer)
        ));
    }
    lines
}

/// The lines of `expected` and `actual` that differ, `-` for those only in `expected` and `+`
/// for those only in `actual`, in order; empty when the shapes are the same.
pub fn differences(expected: &[String], actual: &[String]) -> Vec<String> {
    if expected == actual {
        return Vec::new();
    }
    let mut out: Vec<String> = expected
        .iter()
        .filter(|line| !actual.contains(line))
        .map(|line| format!("- {line}"))
        .collect();
    out.extend(
        actual
            .iter()
            .filter(|line| !expected.contains(line))
            .map(|line| format!("+ {line}")),
    );
    if out.is_empty() {
        out.push(String::from("the same lines in another order"));
    }
    out
}
