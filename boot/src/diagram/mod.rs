//! `boot diagram`: the boot as one SVG picture for students, drawn from the kernel's own boot
//! report (its serial output): the memory the bootloader handed over and what the kernel took
//! back, then the RAM disk's images, their layers (each stored once, shared between images)
//! and the containers, with the layer each of a container's top-level entries comes from.
//!
//! Every fact comes from the report. The kernel prints what the stages did not say for this
//! (which layers each image stacks, the layers of each container's top-level entries) in its
//! `map:` lines (`kernel/src/layer_map.rs`); nothing is recomputed on the host.
//!
//! The drawing keeps the report it was drawn from in its `<metadata>` element, so that it can
//! be checked: [`embedded_report`] gives it back, drawing it again must give the same bytes
//! (the drawing code has not changed since), and its [`shape()`] must be the shape of a boot of
//! today's kernel (the QEMU test `qemu-tests/tests/diagram.rs`): see [`shape()`] for what must
//! match and what may differ.

mod draw;
mod record;
mod report;
mod shape;
mod svg;

#[cfg(test)]
mod tests;

use anyhow::{Context, Result};

pub use record::{record, Recording};
pub use report::{parse, report_lines, Report};
pub use shape::{differences, shape};

/// Draws the boot report in `serial` (a serial log, or the report alone) as an SVG document.
///
/// # Errors
/// When the report lacks a stage the drawing needs (see [`parse`]).
pub fn draw(serial: &str) -> Result<String> {
    let report = parse(serial)?;
    let mut kept = report_lines(serial).join("\n");
    kept.push('\n');
    Ok(draw::draw(&report, &kept))
}

/// The boot report kept in an SVG drawn by [`draw()`].
///
/// # Errors
/// When `svg` holds no report (it was not drawn by [`draw()`]).
pub fn embedded_report(svg: &str) -> Result<String> {
    let start = "<metadata id=\"boot-report\">\n";
    let (_, rest) = svg
        .split_once(start)
        .context("no <metadata id=\"boot-report\"> element: not drawn by `boot diagram`")?;
    let (text, _) = rest
        .split_once("</metadata>")
        .context("the <metadata> element is not closed")?;
    Ok(svg::unescape(text))
}
