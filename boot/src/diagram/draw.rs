//! The drawing: the bootloader's memory as one bar split by use (kept, reclaimed), then four
//! columns joined by arrows: the image layouts (RAM disk, fw_cfg file), their images, every
//! distinct layer once, and the containers with the layers each top-level entry comes from.
//! Positions depend on the report only, so one report always gives the same SVG.

use super::report::{Container, Report};
use super::svg::{Font, Svg};

const WIDTH: f64 = 1280.0;
const MARGIN: f64 = 30.0;
const RIGHT: f64 = WIDTH - MARGIN;

const SOURCE_X: f64 = MARGIN;
const SOURCE_W: f64 = 150.0;
const IMAGE_X: f64 = 220.0;
const IMAGE_W: f64 = 190.0;
const IMAGE_H: f64 = 46.0;
const LAYER_X: f64 = 470.0;
const LAYER_W: f64 = 390.0;
const LAYER_H: f64 = 42.0;
const LAYER_GAP: f64 = 8.0;
const CONTAINER_X: f64 = 930.0;
const CONTAINER_W: f64 = RIGHT - CONTAINER_X;
const ROW_H: f64 = 18.0;
/// Entries listed per container; a longer root (a distribution's) ends with `... N more`.
const MAX_ENTRIES: usize = 28;

const GREY: &str = "#666";
const LINE: &str = "#999";
const KEPT: [&str; 4] = ["#2f5f8f", "#4a7fb5", "#74a3d2", "#a3c4e6"];
const RECLAIMED: [&str; 3] = ["#3d8b41", "#6aae6d", "#9fd0a1"];
/// The layers of the first container, top first.
const LAYER_COLOURS: [&str; 8] = [
    "#e07b39", "#3a9ca6", "#8e5ea2", "#c9a227", "#d05a7a", "#5b8c3a", "#6b7fd1", "#a0522d",
];
/// The arrows from each image to its layers.
const IMAGE_COLOURS: [&str; 6] = [
    "#7a5195", "#bc5090", "#3b7dd8", "#2a9d8f", "#c77c02", "#6c757d",
];

/// Draws `report` as an SVG document that keeps `kept` (the report's text) in its metadata.
pub fn draw(report: &Report, kept: &str) -> String {
    let mut svg = Svg::new();
    let title = "The boot, from bootloader to container";
    svg.text(MARGIN, 36.0, Font::BODY.size(20.0).bold(), title);
    svg.text(
        MARGIN,
        56.0,
        Font::BODY.fill(GREY),
        &format!(
            "What the kernel reported on one {} boot under QEMU, drawn by `boot diagram`; sizes as the kernel printed them.",
            report.memory.firmware
        ),
    );
    let y = draw_memory(&mut svg, report, 92.0);
    let bottom = draw_images(&mut svg, report, y + 34.0);
    let height = bottom + 46.0;
    svg.text(
        MARGIN,
        height - 18.0,
        Font::BODY.size(11.0).fill(GREY),
        "`make diagram` boots the kernel and draws this again; the report it was drawn from is kept in this file's <metadata>, and a test checks it has the shape of a boot of today's code.",
    );
    svg.finish(WIDTH, height, title, kept)
}

/// Section 1: the memory map's totals, the bootloader's memory by use, the heap. Returns the
/// section's bottom.
fn draw_memory(svg: &mut Svg, report: &Report, top: f64) -> f64 {
    let memory = &report.memory;
    svg.text(
        MARGIN,
        top,
        Font::BODY.size(15.0).bold(),
        "1. The memory the bootloader handed over, and what the kernel took back",
    );
    let kinds: Vec<String> = memory
        .kinds
        .iter()
        .map(|(name, size, count)| {
            let plural = if *count == 1 { "" } else { "s" };
            format!("{name} {} in {count} region{plural}", size.text)
        })
        .collect();
    svg.text(
        MARGIN,
        top + 22.0,
        Font::BODY,
        &format!(
            "Memory map from {}: {} regions \u{2014} {}.",
            memory.firmware,
            memory.regions,
            kinds.join(", ")
        ),
    );
    svg.text(
        MARGIN,
        top + 40.0,
        Font::BODY,
        "The usable regions become the heap at once. The bootloader's regions hold the kernel and the bootloader's own data, split by use:",
    );

    // The bar: kept uses first, then the reclaimed ones, each as wide as its share.
    let bar_y = top + 78.0;
    let bar_h = 34.0;
    let mut uses: Vec<(usize, &super::report::Use)> = memory.uses.iter().enumerate().collect();
    uses.sort_by_key(|(index, usage)| (!usage.kept, *index));
    let widths = shares(
        &uses.iter().map(|(_, u)| u.size.bytes).collect::<Vec<_>>(),
        RIGHT - MARGIN,
        5.0,
    );
    let mut x = MARGIN;
    let (mut kept_span, mut reclaimed_span) = (None::<(f64, f64)>, None::<(f64, f64)>);
    let mut legend = Vec::new();
    let (mut kept_count, mut reclaimed_count) = (0, 0);
    for ((_, usage), width) in uses.iter().zip(&widths) {
        let colour = if usage.kept {
            kept_count += 1;
            KEPT[(kept_count - 1) % KEPT.len()]
        } else {
            reclaimed_count += 1;
            RECLAIMED[(reclaimed_count - 1) % RECLAIMED.len()]
        };
        svg.rect(x, bar_y, *width, bar_h, 0.0, colour, "#fff", 1.0);
        let label = Font::BODY.size(11.0).fill("#fff").middle();
        let text = label.fit(&usage.label, width - 8.0);
        if text.chars().count() >= 6 {
            svg.text(x + width / 2.0, bar_y + 15.0, label, &text);
            svg.text(
                x + width / 2.0,
                bar_y + 28.0,
                label.bold(),
                &usage.size.text,
            );
        }
        let span = if usage.kept {
            &mut kept_span
        } else {
            &mut reclaimed_span
        };
        *span = Some((span.map_or(x, |(start, _)| start), x + width));
        legend.push((colour, usage));
        x += width;
    }
    let bracket = |svg: &mut Svg, span: Option<(f64, f64)>, colour: &str, text: &str| {
        if let Some((start, end)) = span {
            let y = bar_y - 8.0;
            svg.line((start + 1.0, y), (end - 1.0, y), colour, 2.0);
            svg.line((start + 1.0, y), (start + 1.0, y + 5.0), colour, 2.0);
            svg.line((end - 1.0, y), (end - 1.0, y + 5.0), colour, 2.0);
            // Left-aligned over the span, or right-aligned at its end when that would run
            // off the picture (a narrow span at the right, as under UEFI).
            let font = Font::BODY.bold();
            if start + 2.0 + font.width(text.chars().count()) <= RIGHT {
                svg.text(start + 2.0, y - 5.0, font, text);
            } else {
                svg.text(end - 2.0, y - 5.0, font.end(), text);
            }
        }
    };
    let kept = memory
        .kept
        .as_ref()
        .map_or(String::new(), |k| format!(": {}", k.text));
    bracket(
        svg,
        kept_span,
        KEPT[0],
        &format!("kept by the kernel{kept}"),
    );
    let reclaimed = match &memory.reclaimed {
        Some((size, ranges)) => format!(
            "reclaimed into the heap: {} in {ranges} range{}",
            size.text,
            if *ranges == 1 { "" } else { "s" }
        ),
        None => String::from("reclaimable"),
    };
    bracket(svg, reclaimed_span, RECLAIMED[0], &reclaimed);

    // The legend: every use with its size, three to a row.
    let legend_y = bar_y + bar_h + 22.0;
    let column = (RIGHT - MARGIN) / 3.0;
    for (index, (colour, usage)) in legend.iter().enumerate() {
        let x = MARGIN + column * (index % 3) as f64;
        let y = legend_y + 20.0 * (index / 3) as f64;
        svg.rect(x, y - 10.0, 12.0, 12.0, 2.0, colour, "none", 0.0);
        let action = if usage.kept { "kept" } else { "reclaimed" };
        let text = format!("{}: {}, {action}", usage.label, usage.size.text);
        svg.text(
            x + 18.0,
            y,
            Font::BODY,
            &Font::BODY.fit(&text, column - 24.0),
        );
    }
    let rows = legend.len().div_ceil(3) as f64;

    // The heap, before and after.
    let y = legend_y + 20.0 * rows + 8.0;
    let mut parts = Vec::new();
    if let Some(before) = &memory.heap_before {
        parts.push(format!("The heap starts with the usable {}", before.text));
    }
    if let Some((after, in_use)) = &memory.heap_after {
        parts.push(format!(
            "after reclaiming it has {} ({} in use)",
            after.text, in_use.text
        ));
    }
    if let Some(tables) = &memory.own_tables {
        parts.push(format!("the kernel's own page tables take {tables}"));
    }
    if !parts.is_empty() {
        let mut text = parts.join("; ");
        text.push('.');
        svg.text(MARGIN, y + 12.0, Font::BODY, &text);
    }
    y + 12.0
}

/// Widths proportional to `values` that add up to `total`, none narrower than `least`.
fn shares(values: &[f64], total: f64, least: f64) -> Vec<f64> {
    let sum: f64 = values.iter().sum();
    if values.is_empty() || sum <= 0.0 {
        return vec![total / values.len().max(1) as f64; values.len()];
    }
    let small: Vec<bool> = values.iter().map(|v| v / sum * total < least).collect();
    let fixed = least * small.iter().filter(|s| **s).count() as f64;
    let rest: f64 = values
        .iter()
        .zip(&small)
        .filter(|(_, s)| !**s)
        .map(|(v, _)| v)
        .sum();
    values
        .iter()
        .zip(&small)
        .map(|(v, s)| {
            if *s || rest <= 0.0 {
                least
            } else {
                v / rest * (total - fixed)
            }
        })
        .collect()
}

/// Where a box is: its top and height.
#[derive(Debug, Clone, Copy)]
struct Place {
    top: f64,
    height: f64,
}

impl Place {
    fn middle(&self) -> f64 {
        self.top + self.height / 2.0
    }

    fn bottom(&self) -> f64 {
        self.top + self.height
    }

    /// The `index`th of `count` points spread down the box's side.
    fn spread(&self, index: usize, count: usize) -> f64 {
        let margin = 6.0f64.min(self.height / 4.0);
        let span = self.height - 2.0 * margin;
        self.top + margin + span * (index as f64 + 1.0) / (count as f64 + 1.0)
    }
}

/// Section 2: layouts, images, layers, containers. Returns the section's bottom.
fn draw_images(svg: &mut Svg, report: &Report, top: f64) -> f64 {
    svg.text(
        MARGIN,
        top,
        Font::BODY.size(15.0).bold(),
        "2. RAM disk \u{2192} images \u{2192} shared layers \u{2192} containers",
    );
    let heading = Font::BODY.bold().fill(GREY);
    let head_y = top + 26.0;
    svg.text(SOURCE_X, head_y, heading, "image layouts");
    svg.text(IMAGE_X, head_y, heading, "images (arrows: their layers)");
    svg.text(
        LAYER_X,
        head_y,
        heading,
        "layers, each stored once, top of each image first",
    );
    svg.text(CONTAINER_X, head_y, heading, "containers");
    let content = head_y + 16.0;

    // Layers in the report's order, a gap where the next layout's begin.
    let source_of = |digest: &str| {
        report.sources.iter().position(|source| {
            source
                .images
                .iter()
                .any(|image| image.layers.iter().any(|layer| layer == digest))
        })
    };
    let mut layer_places: Vec<Place> = Vec::new();
    let mut y = content;
    let mut previous = None;
    for layer in &report.layers {
        let source = source_of(&layer.digest);
        if previous.is_some() && source != previous {
            y += 2.0 * LAYER_GAP;
        }
        previous = source;
        layer_places.push(Place {
            top: y,
            height: LAYER_H,
        });
        y += LAYER_H + LAYER_GAP;
    }
    let layers_bottom = y;
    let place_of_layer = |digest: &str| {
        report
            .layers
            .iter()
            .position(|layer| layer.digest == digest)
            .map(|index| layer_places[index])
    };

    // Images beside the middle of their layers, in that order, never overlapping.
    let mut image_places: Vec<(&super::report::Image, Place, usize)> = Vec::new();
    let mut source_places = Vec::new();
    let mut floor = content;
    for (source_index, source) in report.sources.iter().enumerate() {
        let mut wanted: Vec<(f64, usize)> = source
            .images
            .iter()
            .enumerate()
            .map(|(index, image)| {
                let middles: Vec<f64> = image
                    .layers
                    .iter()
                    .filter_map(|digest| place_of_layer(digest))
                    .map(|place| place.middle())
                    .collect();
                let middle = if middles.is_empty() {
                    floor
                } else {
                    middles.iter().sum::<f64>() / middles.len() as f64
                };
                (middle, index)
            })
            .collect();
        wanted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let first_top = floor;
        for (middle, index) in wanted {
            let place = Place {
                top: (middle - IMAGE_H / 2.0).max(floor),
                height: IMAGE_H,
            };
            floor = place.bottom() + 12.0;
            image_places.push((&source.images[index], place, source_index));
        }
        // The layout spans its images, and is tall enough for its text.
        let tops = image_places
            .iter()
            .filter(|(_, _, s)| *s == source_index)
            .map(|(_, place, _)| place.top);
        let top = tops.fold(f64::MAX, f64::min).min(floor).max(first_top);
        // The name, two lines, and two for each note.
        let notes = usize::from(source.stored.is_some()) + usize::from(source.kind == "fw_cfg");
        let least = 64.0 + 31.0 * notes as f64;
        let height = (floor - 12.0 - top).max(least);
        source_places.push(Place { top, height });
        floor = floor.max(top + height + 24.0);
    }

    // The layouts, with an arrow to each of their images.
    for (index, (source, place)) in report.sources.iter().zip(&source_places).enumerate() {
        svg.rect(
            SOURCE_X,
            place.top,
            SOURCE_W,
            place.height,
            6.0,
            "#eef2f7",
            "#5a6f8a",
            1.5,
        );
        let name = if source.kind == "fw_cfg" {
            "fw_cfg file"
        } else {
            source.kind.as_str()
        };
        let x = SOURCE_X + 10.0;
        let mut y = place.top + 20.0;
        svg.text(x, y, Font::BODY.size(13.0).bold(), name);
        y += 17.0;
        svg.text(x, y, Font::BODY, &format!("{}, one OCI", source.size.text));
        y += 15.0;
        svg.text(x, y, Font::BODY, "image layout (a tar)");
        let note = Font::BODY.size(11.0).fill(GREY);
        if let Some((stored, apart)) = &source.stored {
            y += 17.0;
            svg.text(x, y, note, &format!("layers: {} stored", stored.text));
            y += 14.0;
            svg.text(x, y, note, &format!("for {} of images", apart.text));
        }
        if source.kind == "fw_cfg" {
            y += 17.0;
            svg.text(x, y, note, "read by DMA: too big");
            y += 14.0;
            svg.text(x, y, note, "for the BIOS RAM disk");
        }
        for (_, image_place, _) in image_places.iter().filter(|(_, _, s)| *s == index) {
            let y = image_place.middle();
            svg.arrow((SOURCE_X + SOURCE_W, y), (IMAGE_X, y), "#5a6f8a", 1.5);
        }
    }

    // Images and the arrows to their layers, one colour per image.
    for (image_index, (image, place, _)) in image_places.iter().enumerate() {
        let colour = IMAGE_COLOURS[image_index % IMAGE_COLOURS.len()];
        svg.rect(
            IMAGE_X,
            place.top,
            IMAGE_W,
            place.height,
            6.0,
            "#fff",
            colour,
            2.0,
        );
        let name = Font::BODY.size(13.0).bold();
        svg.text(
            IMAGE_X + 10.0,
            place.top + 19.0,
            name,
            &name.fit(&image.name, IMAGE_W - 20.0),
        );
        let count = image.layers.len();
        let mut facts = format!("{count} layer{}", if count == 1 { "" } else { "s" });
        if let Some(size) = &image.size {
            facts.push_str(&format!(", {}", size.text));
        }
        svg.text(
            IMAGE_X + 10.0,
            place.top + 36.0,
            Font::BODY.fill(GREY),
            &facts,
        );
        for (index, digest) in image.layers.iter().enumerate() {
            let Some(layer_place) = place_of_layer(digest) else {
                continue;
            };
            let users: Vec<&str> = report
                .images()
                .filter(|other| other.layers.contains(digest))
                .map(|other| other.name.as_str())
                .collect();
            let slot = users
                .iter()
                .position(|name| *name == image.name)
                .unwrap_or(0);
            svg.arrow(
                (IMAGE_X + IMAGE_W, place.spread(index, count)),
                (LAYER_X, layer_place.spread(slot, users.len())),
                colour,
                1.3,
            );
        }
    }

    // The layers; those of the first container get its colours.
    let first = report.containers.first();
    let lowers_of = |container: &Container| -> Vec<String> {
        report
            .image(&container.image)
            .map(|image| image.layers.clone())
            .unwrap_or_default()
    };
    let first_lowers = first.map(lowers_of).unwrap_or_default();
    for (layer, place) in report.layers.iter().zip(&layer_places) {
        let users = report.users(&layer.digest);
        let fill = if users > 1 { "#fff6dc" } else { "#fafafa" };
        svg.rect(
            LAYER_X,
            place.top,
            LAYER_W,
            place.height,
            4.0,
            fill,
            "#888",
            1.0,
        );
        if let Some(index) = first_lowers.iter().position(|d| *d == layer.digest) {
            let colour = LAYER_COLOURS[index % LAYER_COLOURS.len()];
            svg.rect(
                LAYER_X,
                place.top,
                8.0,
                place.height,
                0.0,
                colour,
                "none",
                0.0,
            );
        }
        let x = LAYER_X + 16.0;
        svg.text(x, place.top + 17.0, Font::BODY.mono().bold(), &layer.digest);
        if users > 1 {
            svg.text(
                x + 150.0,
                place.top + 17.0,
                Font::BODY.size(11.0).bold().fill("#9a6700"),
                &format!("shared by {users} images"),
            );
        }
        let mut facts = Vec::new();
        if let Some(size) = &layer.size {
            facts.push(size.text.clone());
        }
        if let Some(files) = layer.files {
            facts.push(format!("{files} file{}", if files == 1 { "" } else { "s" }));
        }
        svg.text(
            LAYER_X + LAYER_W - 8.0,
            place.top + 17.0,
            Font::BODY.end(),
            &facts.join(", "),
        );
        let created = Font::BODY.size(11.0).mono().fill("#444");
        svg.text(
            x,
            place.top + 33.0,
            created,
            &created.fit(&layer.created_by, LAYER_W - 24.0),
        );
    }

    // The containers, beside their top layer.
    let mut floor = content;
    let mut bottom = layers_bottom;
    for (index, container) in report.containers.iter().enumerate() {
        let lowers = lowers_of(container);
        let near = lowers
            .first()
            .and_then(|digest| place_of_layer(digest))
            .map_or(content, |place| place.top);
        let top = near.max(floor);
        let end = draw_container(svg, container, &lowers, index == 0, top, &place_of_layer);
        floor = end + 20.0;
        bottom = bottom.max(end);
    }
    let sources_bottom = source_places.last().map_or(0.0, Place::bottom);
    bottom.max(sources_bottom)
}

/// One container: its name and image, its upper, its lowers (with arrows from the layers),
/// and its top-level entries against its lowers. Returns its bottom.
fn draw_container(
    svg: &mut Svg,
    container: &Container,
    lowers: &[String],
    coloured: bool,
    top: f64,
    place_of_layer: &dyn Fn(&str) -> Option<Place>,
) -> f64 {
    let colour_of = |index: usize| {
        if coloured {
            LAYER_COLOURS[index % LAYER_COLOURS.len()]
        } else {
            LINE
        }
    };
    let x = CONTAINER_X + 12.0;
    let shown = container.entries.len().min(MAX_ENTRIES);
    let more = container.entries.len() - shown;
    let uses_upper = container
        .entries
        .iter()
        .any(|entry| entry.layer == "upper" || entry.below.iter().any(|l| l == "upper"));
    let columns: Vec<String> = uses_upper
        .then(|| String::from("upper"))
        .into_iter()
        .chain(lowers.iter().cloned())
        .collect();
    let lowers_top = top + 80.0;
    let entries_top = lowers_top + ROW_H * lowers.len() as f64 + 26.0;
    let legend_y =
        entries_top + ROW_H * (shown as f64 + 1.0) + 8.0 + if more > 0 { ROW_H } else { 0.0 };
    let height = legend_y + 30.0 - top;
    svg.rect(
        CONTAINER_X,
        top,
        CONTAINER_W,
        height,
        8.0,
        "#f4f9f4",
        "#3d8b41",
        2.0,
    );

    svg.text(
        x,
        top + 21.0,
        Font::BODY.size(14.0).bold(),
        &format!("container {} of {}", container.name, container.image),
    );
    let upper = container
        .upper
        .as_ref()
        .map_or(String::new(), |size| format!(": a tmpfs of {}", size.text));
    svg.text(x, top + 39.0, Font::BODY, &format!("writable upper{upper}"));
    if let Some(heap) = &container.heap {
        svg.text(
            x,
            top + 55.0,
            Font::BODY.size(11.0).fill(GREY),
            &format!("{} of heap; file data stays in the layers", heap.text),
        );
    }
    svg.text(
        x,
        lowers_top - 7.0,
        Font::BODY.fill(GREY),
        "read-only lowers, top first:",
    );
    for (index, digest) in lowers.iter().enumerate() {
        let y = lowers_top + ROW_H * index as f64;
        svg.rect(x, y + 3.0, 12.0, 12.0, 2.0, colour_of(index), "none", 0.0);
        svg.text(
            x + 18.0,
            y + 13.0,
            Font::BODY.mono(),
            &format!("L{index} {digest}"),
        );
        if let Some(place) = place_of_layer(digest) {
            svg.arrow(
                (LAYER_X + LAYER_W, place.middle()),
                (CONTAINER_X, y + 9.0),
                colour_of(index),
                1.5,
            );
        }
    }

    // The entries against the layers: a full square for the layer an entry comes from, a
    // small one for each layer below whose entries a directory shows.
    let grid_x = CONTAINER_X + CONTAINER_W - 14.0 - 26.0 * columns.len() as f64;
    svg.text(
        x,
        entries_top,
        Font::BODY.fill(GREY),
        &format!("top-level entries ({}):", container.entries.len()),
    );
    for (column, name) in columns.iter().enumerate() {
        let label = match lowers.iter().position(|d| d == name) {
            Some(index) => format!("L{index}"),
            None => String::from("up"),
        };
        svg.text(
            grid_x + 26.0 * column as f64 + 9.0,
            entries_top,
            Font::BODY.size(11.0).middle().fill(GREY),
            &label,
        );
    }
    let name_font = Font::BODY.mono();
    for (row, entry) in container.entries.iter().take(shown).enumerate() {
        let y = entries_top + ROW_H * (row as f64 + 1.0);
        let suffix = match entry.kind {
            'd' => "/",
            'l' => "@",
            _ => "",
        };
        let name = format!("{}{suffix}", entry.name);
        svg.text(
            x,
            y + 4.0,
            name_font,
            &name_font.fit(&name, grid_x - x - 8.0),
        );
        for (column, layer) in columns.iter().enumerate() {
            let cell_x = grid_x + 26.0 * column as f64;
            let colour = match lowers.iter().position(|d| d == layer) {
                Some(index) => colour_of(index),
                None => "#555",
            };
            if *layer == entry.layer {
                svg.rect(cell_x, y - 8.0, 18.0, 14.0, 2.0, colour, "none", 0.0);
            } else if entry.below.contains(layer) {
                svg.rect(cell_x + 5.0, y - 4.0, 8.0, 6.0, 1.0, colour, "none", 0.0);
            } else {
                svg.rect(cell_x, y - 8.0, 18.0, 14.0, 2.0, "none", "#ccc", 0.8);
            }
        }
    }
    if more > 0 {
        let y = entries_top + ROW_H * (shown as f64 + 1.0);
        svg.text(
            x,
            y + 4.0,
            Font::BODY.fill(GREY),
            &format!("... and {more} more"),
        );
    }
    let legend = Font::BODY.size(11.0).fill(GREY);
    svg.rect(x, legend_y - 9.0, 14.0, 10.0, 2.0, "#777", "none", 0.0);
    svg.text(x + 20.0, legend_y, legend, "the layer the entry comes from");
    svg.rect(x + 4.0, legend_y + 8.0, 7.0, 5.0, 1.0, "#777", "none", 0.0);
    svg.text(
        x + 20.0,
        legend_y + 14.0,
        legend,
        "another layer whose entries the directory shows",
    );
    top + height
}
