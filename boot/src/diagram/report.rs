//! Reading the kernel's boot report (its serial output) into the facts the diagram draws. Each
//! stage's lines are read by their prefix (`boot:`, `bootfs:`, `heap:`, `rootfs:`, `union:`,
//! `map:`); the rootfs tables are read by their header's column names, so a column added to
//! them does not move the others. Text the diagram does not use is skipped.

use anyhow::{bail, Result};

/// A size as the kernel prints it (`512 B`, `124 KiB`, `2.7 MiB`), with its value in bytes
/// (as near as the one decimal allows).
#[derive(Debug, Clone, PartialEq)]
pub struct Size {
    /// The text, as printed.
    pub text: String,
    /// The value it stands for.
    pub bytes: f64,
}

impl Size {
    /// Reads `number unit` (`unit` one of `B`, `KiB`, `MiB`, `GiB`, `TiB`).
    pub fn parse(number: &str, unit: &str) -> Option<Size> {
        let scale = match unit {
            "B" | "bytes" => 1.0,
            "KiB" => 1024.0,
            "MiB" => 1024.0 * 1024.0,
            "GiB" => 1024.0 * 1024.0 * 1024.0,
            "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            _ => return None,
        };
        let value: f64 = number.parse().ok()?;
        Some(Size {
            text: format!("{number} {unit}"),
            bytes: value * scale,
        })
    }

    /// The first size in `text` (two words, a number and a unit).
    fn find(text: &str) -> Option<Size> {
        let words: Vec<&str> = text.split_whitespace().collect();
        words.windows(2).find_map(|pair| {
            let number = pair[0].trim_start_matches('(');
            let unit = pair[1].trim_end_matches([',', ';', ')', ':']);
            Size::parse(number, unit)
        })
    }
}

/// What the bootloader handed over and what the kernel did with its memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    /// `BIOS` or `UEFI`.
    pub firmware: String,
    /// Regions in the memory map.
    pub regions: usize,
    /// The `usable`, `bootloader` and `firmware-reserved` totals, with their region counts.
    pub kinds: Vec<(String, Size, usize)>,
    /// What the bootloader's memory holds, in the report's order: label, size, kept.
    pub uses: Vec<Use>,
    /// The kernel's own page tables, as the report words it (`64 KiB in 16 frames`).
    pub own_tables: Option<String>,
    /// Bootloader memory given to the heap, and in how many ranges.
    pub reclaimed: Option<(Size, usize)>,
    /// Bootloader memory the kernel keeps.
    pub kept: Option<Size>,
    /// The heap before the bootloader's memory was reclaimed (the usable regions).
    pub heap_before: Option<Size>,
    /// The heap after it, and how much of it was in use then.
    pub heap_after: Option<(Size, Size)>,
}

/// One use of the bootloader's memory (`bootfs:   page tables   4.0 MiB  reclaimable`).
#[derive(Debug, Clone, PartialEq)]
pub struct Use {
    /// What the frames hold.
    pub label: String,
    /// How much.
    pub size: Size,
    /// Whether the kernel keeps them (else they were reclaimed into the heap).
    pub kept: bool,
}

/// Where images came from: the RAM disk or the fw_cfg file.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// `RAM disk` or `fw_cfg`.
    pub kind: String,
    /// The layout's size.
    pub size: Size,
    /// Its images, in the report's order.
    pub images: Vec<Image>,
    /// The bytes its layers take, each stored once, and what its images would take apart.
    pub stored: Option<(Size, Size)>,
}

/// A row of the rootfs stage's image table, with its layers from the `map:` lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Its name (`greeter:1.0`).
    pub name: String,
    /// Its size, every layer counted.
    pub size: Option<Size>,
    /// Its layers' short digests, top first (empty until the `map:` lines are read).
    pub layers: Vec<String>,
}

/// A row of the rootfs stage's layer table.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Its short digest (`sha256:` and 12 hex digits).
    pub digest: String,
    /// Its size.
    pub size: Option<Size>,
    /// How many files it holds.
    pub files: Option<u64>,
    /// The instruction that made it.
    pub created_by: String,
}

/// A container and its top-level entries (the `map:` lines).
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    /// Its name.
    pub name: String,
    /// The image it runs.
    pub image: String,
    /// Its writable layer's capacity, if the union stage printed it.
    pub upper: Option<Size>,
    /// The heap it took, if the union stage printed it.
    pub heap: Option<Size>,
    /// The entries of its root directory.
    pub entries: Vec<Entry>,
}

/// A top-level entry of a container.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `ls -l`'s letter for its kind (`d`, `f`, `l`, ...).
    pub kind: char,
    /// Its name.
    pub name: String,
    /// The layer it comes from: a short digest, or `upper`.
    pub layer: String,
    /// For a directory, the other layers whose entries it shows, top first.
    pub below: Vec<String>,
}

/// Everything the diagram draws.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The memory the bootloader handed over and what was reclaimed.
    pub memory: Memory,
    /// The image layouts, RAM disk first.
    pub sources: Vec<Source>,
    /// Every distinct layer, in the report's order.
    pub layers: Vec<Layer>,
    /// The containers at the end of the boot.
    pub containers: Vec<Container>,
}

impl Report {
    /// The image called `name`.
    pub fn image(&self, name: &str) -> Option<&Image> {
        self.sources
            .iter()
            .flat_map(|source| &source.images)
            .find(|image| image.name == name)
    }

    /// Every image, in the report's order.
    pub fn images(&self) -> impl Iterator<Item = &Image> {
        self.sources.iter().flat_map(|source| &source.images)
    }

    /// The layer whose short digest is `digest`.
    pub fn layer(&self, digest: &str) -> Option<&Layer> {
        self.layers.iter().find(|layer| layer.digest == digest)
    }

    /// How many images stack the layer `digest`.
    pub fn users(&self, digest: &str) -> usize {
        self.images()
            .filter(|image| image.layers.iter().any(|layer| layer == digest))
            .count()
    }
}

/// The lines of `serial` that make up the boot report: those with a stage prefix, from the
/// kernel's last `overlay kernel ... starting` line (so `boot qemu`'s own lines before it and
/// an earlier boot are skipped) to the first line of what the boot goes on to run.
pub fn report_lines(serial: &str) -> Vec<&str> {
    let lines: Vec<&str> = serial.lines().map(|line| line.trim_end()).collect();
    let start = lines
        .iter()
        .rposition(|line| line.starts_with("overlay kernel ") && line.ends_with(" starting"))
        .map_or(0, |index| index + 1);
    lines[start..]
        .iter()
        .take_while(|line| !is_after_report(line))
        .filter(|line| STAGES.iter().any(|stage| line.starts_with(stage)))
        .copied()
        .collect()
}

/// The prefixes of the report's stages.
const STAGES: [&str; 6] = [
    "boot: ", "heap: ", "bootfs: ", "rootfs: ", "union: ", "map: ",
];

/// Whether `line` is past the report: the test suite, the shell, a program.
fn is_after_report(line: &str) -> bool {
    [
        "running ",
        "shell: ",
        "run: ",
        "test ",
        "overlay# ",
        "kernel: fatal: ",
    ]
    .iter()
    .any(|start| line.starts_with(start))
}

/// Reads a boot report (or a whole serial log holding one).
///
/// # Errors
/// When a stage the diagram needs is missing: the memory map, the bootloader's memory, the
/// images, or the `map:` lines of a kernel that prints them.
pub fn parse(serial: &str) -> Result<Report> {
    let mut report = Report::default();
    let mut table = Table::None;
    let mut stacks: Vec<(String, Vec<String>)> = Vec::new();
    for line in report_lines(serial) {
        if let Some(rest) = line.strip_prefix("boot: memory map from ") {
            read_memory_map(&mut report.memory, rest);
        } else if let Some(rest) = line.strip_prefix("bootfs:   ") {
            if let Some(usage) = read_use(rest) {
                report.memory.uses.push(usage);
            }
        } else if let Some(rest) =
            line.strip_prefix("bootfs: switched to the kernel's own page tables (")
        {
            report.memory.own_tables = Some(rest.trim_end_matches(')').to_owned());
        } else if let Some(rest) = line.strip_prefix("bootfs: reclaimed ") {
            let ranges = number_before(rest, " ranges");
            report.memory.reclaimed = Size::find(rest).map(|size| (size, ranges.unwrap_or(0)));
            report.memory.kept = rest
                .split_once("; kept ")
                .and_then(|(_, kept)| Size::find(kept));
        } else if let Some(rest) = line.strip_prefix("heap: ") {
            read_heap(&mut report.memory, rest);
        } else if let Some(rest) = line.strip_prefix("rootfs: RAM disk of ") {
            push_source(&mut report, "RAM disk", rest);
            table = Table::None;
        } else if let Some(rest) = line.strip_prefix("rootfs: fw_cfg image layout of ") {
            push_source(&mut report, "fw_cfg", rest);
            table = Table::None;
        } else if let Some(rest) = line.strip_prefix("rootfs: each layer is loaded once") {
            let stored = rest
                .split_once(" of layers stored for ")
                .and_then(|(stored, images)| Some((Size::find(stored)?, Size::find(images)?)));
            if let Some(source) = report.sources.last_mut() {
                source.stored = stored;
            }
        } else if let Some(rest) = line.strip_prefix("rootfs:   ") {
            table = read_table_line(&mut report, table, rest);
        } else if let Some(rest) = line.strip_prefix("rootfs: ") {
            if !rest.starts_with(' ') {
                table = Table::None;
            }
        } else if let Some(rest) = line.strip_prefix("union: container ") {
            read_union(&mut report, rest);
        } else if let Some(rest) = line.strip_prefix("union: the container took ") {
            if let Some(container) = report.containers.last_mut() {
                container.heap = Size::find(rest);
            }
        } else if let Some(rest) = line.strip_prefix("map: image ") {
            if let Some((name, layers)) = rest.split_once(": ") {
                let layers = layers.split_whitespace().map(unescape).collect();
                stacks.push((unescape(name), layers));
            }
        } else if let Some(rest) = line.strip_prefix("map: container ") {
            read_container(&mut report, rest);
        } else if let Some(rest) = line.strip_prefix("map:   ") {
            if let (Some(entry), Some(container)) = (read_entry(rest), report.containers.last_mut())
            {
                container.entries.push(entry);
            }
        }
    }
    for (name, layers) in stacks {
        for source in &mut report.sources {
            for image in source.images.iter_mut().filter(|image| image.name == name) {
                image.layers.clone_from(&layers);
            }
        }
    }
    // The `union:` line names a container the `map:` lines may not have (an older kernel).
    report
        .containers
        .retain(|container| !container.image.is_empty());
    check(&report)?;
    Ok(report)
}

/// Refuses a report the diagram cannot be drawn from.
fn check(report: &Report) -> Result<()> {
    if report.memory.firmware.is_empty() {
        bail!("no `boot: memory map from ...` line: is this the kernel's boot report?");
    }
    if report.memory.uses.is_empty() {
        bail!("no `bootfs:` lines on the bootloader's memory");
    }
    if report.sources.iter().all(|source| source.images.is_empty()) {
        bail!("no images: the boot had no RAM disk (`rootfs:` lines)");
    }
    if let Some(image) = report.images().find(|image| image.layers.is_empty()) {
        bail!(
            "no `map: image {}: ...` line: the kernel does not print which layers each image stacks",
            image.name
        );
    }
    if report.containers.is_empty() {
        bail!("no `map: container ...` lines: the kernel does not print its containers' entries");
    }
    Ok(())
}

/// `BIOS: 11 regions; usable 247.9 MiB in 3, bootloader 7.5 MiB in 3, firmware-reserved ...`
fn read_memory_map(memory: &mut Memory, rest: &str) {
    let Some((firmware, rest)) = rest.split_once(": ") else {
        return;
    };
    memory.firmware = firmware.to_owned();
    let (regions, kinds) = rest.split_once("; ").unwrap_or(("", rest));
    memory.regions = number_before(regions, " regions").unwrap_or(0);
    for kind in kinds.split(", ") {
        let Some((name, rest)) = kind.split_once(' ') else {
            continue;
        };
        if let Some(size) = Size::find(rest) {
            let count = rest
                .rsplit_once(" in ")
                .and_then(|(_, count)| count.trim().parse().ok())
                .unwrap_or(0);
            memory.kinds.push((name.to_owned(), size, count));
        }
    }
}

/// `kernel ELF file      2.7 MiB  kept` (a row of the bootloader's memory).
fn read_use(rest: &str) -> Option<Use> {
    let (rest, action) = rest.trim_end().rsplit_once(' ')?;
    let kept = match action {
        "kept" => true,
        "reclaimable" | "reclaimed" => false,
        _ => return None,
    };
    let (rest, unit) = rest.trim_end().rsplit_once(' ')?;
    let (label, number) = rest.trim_end().rsplit_once(' ')?;
    Some(Use {
        label: label.trim().to_owned(),
        size: Size::parse(number, unit)?,
        kept,
    })
}

/// `247.9 MiB in 3 usable regions`, `252.0 MiB in 6 spans after reclaiming, 65 KiB in use`.
fn read_heap(memory: &mut Memory, rest: &str) {
    let Some(size) = Size::find(rest) else {
        return;
    };
    if rest.contains("after reclaiming") {
        let in_use = rest
            .rsplit_once(", ")
            .and_then(|(_, tail)| Size::find(tail))
            .unwrap_or(Size {
                text: String::from("?"),
                bytes: 0.0,
            });
        memory.heap_after = Some((size, in_use));
    } else {
        memory.heap_before = Some(size);
    }
}

fn push_source(report: &mut Report, kind: &str, rest: &str) {
    report.sources.push(Source {
        kind: kind.to_owned(),
        size: Size::find(rest).unwrap_or(Size {
            text: String::from("?"),
            bytes: 0.0,
        }),
        images: Vec::new(),
        stored: None,
    });
}

/// Which rootfs table the lines are in, with its column names.
enum Table {
    None,
    Images(Vec<String>),
    Layers(Vec<String>),
}

/// A header or row of the rootfs stage's tables (after `rootfs:   `).
fn read_table_line(report: &mut Report, table: Table, rest: &str) -> Table {
    let header: Vec<String> = rest
        .split("  ")
        .map(str::trim)
        .filter(|column| !column.is_empty())
        .map(str::to_owned)
        .collect();
    match header.first().map(String::as_str) {
        Some("IMAGE") => return Table::Images(header),
        Some("LAYER") => return Table::Layers(header),
        _ => {}
    }
    match &table {
        Table::Images(columns) => {
            let row = read_row(columns, rest);
            if let (Some(source), Some(name)) = (report.sources.last_mut(), row.get("IMAGE")) {
                source.images.push(Image {
                    name: name.to_owned(),
                    size: row.size("SIZE"),
                    layers: Vec::new(),
                });
            }
        }
        Table::Layers(columns) => {
            let row = read_row(columns, rest);
            if let Some(digest) = row.get("LAYER") {
                if report.layer(digest).is_none() {
                    report.layers.push(Layer {
                        digest: digest.to_owned(),
                        size: row.size("SIZE"),
                        files: row.get("FILES").and_then(|files| files.parse().ok()),
                        created_by: row.get("CREATED BY").unwrap_or("-").to_owned(),
                    });
                }
            }
        }
        Table::None => {}
    }
    table
}

/// A table row split into its columns.
struct Row<'a> {
    cells: Vec<(&'a str, String)>,
}

impl Row<'_> {
    fn get(&self, column: &str) -> Option<&str> {
        self.cells
            .iter()
            .find(|(name, _)| *name == column)
            .map(|(_, value)| value.as_str())
    }

    fn size(&self, column: &str) -> Option<Size> {
        let (number, unit) = self.get(column)?.split_once(' ')?;
        Size::parse(number, unit)
    }
}

/// Splits `line` into the columns of `header`: a size (`44 KiB`) or a count of images
/// (`3 images`) is two words, the last column the rest of the line, any other one word.
fn read_row<'a>(header: &'a [String], line: &str) -> Row<'a> {
    let mut cells = Vec::new();
    let mut rest = line.trim_start();
    for (index, column) in header.iter().enumerate() {
        if index + 1 == header.len() {
            cells.push((column.as_str(), rest.trim().to_owned()));
            break;
        }
        let (first, after) = split_word(rest);
        let (second, after_second) = split_word(after);
        let two = Size::parse(first, second).is_some()
            || (first.parse::<u64>().is_ok() && second.starts_with("image"));
        if two {
            cells.push((column.as_str(), format!("{first} {second}")));
            rest = after_second;
        } else {
            cells.push((column.as_str(), first.to_owned()));
            rest = after;
        }
    }
    Row { cells }
}

fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.split_once(' ') {
        Some((word, rest)) => (word, rest.trim_start()),
        None => (text, ""),
    }
}

/// `root of greeter:1.0: 3 read-only lowers (...), upper tmpfs of 16.0 MiB with ...`
fn read_union(report: &mut Report, rest: &str) {
    let Some((name, rest)) = rest.split_once(" of ") else {
        return;
    };
    let Some((_, rest)) = rest.split_once(": ") else {
        return;
    };
    let upper = rest
        .split_once("upper tmpfs of ")
        .and_then(|(_, tail)| Size::find(tail));
    match report.containers.iter_mut().find(|c| c.name == name) {
        Some(container) => container.upper = upper,
        None => report.containers.push(Container {
            name: name.to_owned(),
            image: String::new(),
            upper,
            heap: None,
            entries: Vec::new(),
        }),
    }
}

/// `root of greeter:1.0: 6 top-level entries`.
fn read_container(report: &mut Report, rest: &str) {
    let Some((name, rest)) = rest.split_once(" of ") else {
        return;
    };
    let Some((image, _)) = rest.rsplit_once(": ") else {
        return;
    };
    let (name, image) = (unescape(name), unescape(image));
    match report.containers.iter().position(|c| c.name == name) {
        Some(index) => {
            // Listed again at the end, after the containers the union stage named.
            let mut container = report.containers.remove(index);
            container.image = image;
            report.containers.push(container);
        }
        None => report.containers.push(Container {
            name,
            image,
            upper: None,
            heap: None,
            entries: Vec::new(),
        }),
    }
}

/// `d etc sha256:f2252f45379d + sha256:e12cc56f28fb sha256:ee851e16fded`.
fn read_entry(rest: &str) -> Option<Entry> {
    let mut words = rest.split_whitespace();
    let kind = words.next()?;
    let mut kind_chars = kind.chars();
    let (Some(kind), None) = (kind_chars.next(), kind_chars.next()) else {
        return None;
    };
    let name = unescape(words.next()?);
    let layer = unescape(words.next()?);
    let below = match words.next() {
        Some("+") => words.map(unescape).collect(),
        _ => Vec::new(),
    };
    Some(Entry {
        kind,
        name,
        layer,
        below,
    })
}

/// The number just before `suffix` in `text` (`3` in `... (3 ranges)`).
fn number_before(text: &str, suffix: &str) -> Option<usize> {
    let (head, _) = text.split_once(suffix)?;
    let start = head
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |index| index + 1);
    head[start..].parse().ok()
}

/// Undoes the kernel's `\u{HEX}` escapes of names (see `kernel/src/layer_map.rs`).
pub fn unescape(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(start) = rest.find("\\u{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let decoded = after.split_once('}').and_then(|(hex, tail)| {
            let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
            Some((c, tail))
        });
        match decoded {
            Some((c, tail)) => {
                out.push(c);
                rest = tail;
            }
            None => {
                out.push_str("\\u{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
