//! The tables: one row per measurement, one column per system, each cell the median of the
//! repetitions with their range; then the ratios the goals of issues 6 and 21 are about. The
//! main table has the columns [`COLUMNS`]; W6 (image to mounted root) has its own,
//! [`W6_COLUMNS`], as its peers are extraction tools, not filesystems.

use std::collections::HashMap;

/// The systems' columns, in order.
pub const COLUMNS: [&str; 5] = [
    "this engine",
    "vfs OverlayFS",
    "Linux overlayfs",
    "Linux tmpfs",
    "memcpy",
];

/// W6's columns, in order: this engine from the OCI layout to a listed root (its store checks
/// every digest), the same without the digest check, then the extraction peers, and
/// `sha256sum` for the digest-checking rows.
pub const W6_COLUMNS: [&str; 5] = [
    "this engine",
    "engine, no digest check",
    "tar -x + overlayfs",
    "umoci unpack",
    "sha256sum",
];

/// A ratio column: how many times better the column `ours` is than the column `peer`.
pub struct Ratio {
    /// The column's header, e.g. `ovl/ours`.
    pub header: &'static str,
    pub ours: &'static str,
    pub peer: &'static str,
}

const MAIN_RATIOS: [Ratio; 2] = [
    Ratio {
        header: "ovl/ours",
        ours: COLUMNS[0],
        peer: COLUMNS[2],
    },
    Ratio {
        header: "vfs/ours",
        ours: COLUMNS[0],
        peer: COLUMNS[1],
    },
];

const W6_RATIOS: [Ratio; 4] = [
    Ratio {
        header: "ext/ours",
        ours: W6_COLUMNS[0],
        peer: W6_COLUMNS[2],
    },
    Ratio {
        header: "ext/nochk",
        ours: W6_COLUMNS[1],
        peer: W6_COLUMNS[2],
    },
    Ratio {
        header: "umoci/ours",
        ours: W6_COLUMNS[0],
        peer: W6_COLUMNS[3],
    },
    Ratio {
        header: "ours/sha",
        ours: W6_COLUMNS[0],
        peer: W6_COLUMNS[4],
    },
];

const MAIN_LEGEND: &str =
    "Each cell: the median of the repetitions (min-max in brackets). ovl/ours and
vfs/ours: how many times faster this engine is than Linux overlayfs and the vfs
crate in that row (their time / ours, or our rate / theirs).";

const W6_LEGEND: &str = "Each cell: the median of the repetitions (min-max in brackets). ext/ours:
extraction's time / this engine's (digests checked); ext/nochk: the same against this
engine without the digest check; umoci/ours: umoci's time / this engine's; ours/sha:
this engine's SHA-256 rate / sha256sum's on the same bytes (the fraction of its speed).";

/// What a row's figures are.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Time per item (lookup, entry): shown as a duration; lower is better.
    PerItem(&'static str),
    /// Items per second: higher is better.
    Rate(&'static str),
    /// The time of one operation: lower is better.
    Once,
    /// Megabytes (10^6 bytes) per second: higher is better; `put`'s items are bytes.
    Megabytes,
}

/// One row's figures from one system: a value per repetition, in the row's unit (seconds per
/// item, items per second, seconds).
struct Cell {
    values: Vec<f64>,
}

impl Cell {
    fn sorted(&self) -> Vec<f64> {
        let mut values = self.values.clone();
        values.sort_by(f64::total_cmp);
        values
    }

    fn median(&self) -> f64 {
        let values = self.sorted();
        let middle = values.len() / 2;
        if values.len() % 2 == 1 {
            values[middle]
        } else {
            (values[middle - 1] + values[middle]) / 2.0
        }
    }
}

pub struct Row {
    pub key: String,
    label: String,
    unit: Unit,
    cells: HashMap<&'static str, Cell>,
}

pub struct Table {
    columns: &'static [&'static str],
    ratios: &'static [Ratio],
    legend: &'static str,
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Default for Table {
    /// The main table: [`COLUMNS`], this engine against Linux overlayfs and the vfs crate.
    fn default() -> Table {
        Table {
            columns: &COLUMNS,
            ratios: &MAIN_RATIOS,
            legend: MAIN_LEGEND,
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }
}

impl Table {
    /// W6's table: [`W6_COLUMNS`], this engine against extraction and `sha256sum`.
    pub fn w6() -> Table {
        Table {
            columns: &W6_COLUMNS,
            ratios: &W6_RATIOS,
            legend: W6_LEGEND,
            ..Table::default()
        }
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Adds a row (its cells come later, from [`Table::put`]).
    pub fn row(&mut self, key: &str, label: &str, unit: Unit) {
        self.rows.push(Row {
            key: key.into(),
            label: label.into(),
            unit,
            cells: HashMap::new(),
        });
    }

    /// Records `system`'s repetitions of row `key`: each took `seconds` for `items` items.
    pub fn put(&mut self, key: &str, system: &'static str, seconds: &[f64], items: usize) {
        let Some(row) = self.rows.iter_mut().find(|row| row.key == key) else {
            panic!("no row {key}");
        };
        if seconds.is_empty() {
            return;
        }
        let values = seconds
            .iter()
            .map(|&s| match row.unit {
                Unit::PerItem(_) => s / items as f64,
                Unit::Rate(_) => items as f64 / s,
                Unit::Once => s,
                Unit::Megabytes => items as f64 / 1e6 / s,
            })
            .collect();
        row.cells.insert(system, Cell { values });
    }

    /// A line printed under the table (why a system was skipped, what a row means).
    pub fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// The median of `system` in row `key`, in the row's unit.
    pub fn median(&self, key: &str, system: &str) -> Option<f64> {
        let row = self.rows.iter().find(|row| row.key == key)?;
        row.cells.get(system).map(Cell::median)
    }

    /// How many times faster this engine is than `system` in row `key`.
    pub fn speedup(&self, key: &str, system: &str) -> Option<f64> {
        self.speedup_of(key, COLUMNS[0], system)
    }

    /// How many times faster the column `ours` is than the column `peer` in row `key`
    /// (their time / ours, or our rate / theirs).
    pub fn speedup_of(&self, key: &str, ours: &str, peer: &str) -> Option<f64> {
        let row = self.rows.iter().find(|row| row.key == key)?;
        let ours = row.cells.get(ours)?.median();
        let theirs = row.cells.get(peer)?.median();
        Some(match row.unit {
            Unit::Rate(_) | Unit::Megabytes => ours / theirs,
            Unit::PerItem(_) | Unit::Once => theirs / ours,
        })
    }

    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter()
    }

    pub fn print(&self) {
        const LABEL: usize = 44;
        const WIDTH: usize = 23;
        let mut header = format!("{:<LABEL$}", "workload");
        for column in self.columns {
            header.push_str(&format!(" {column:>WIDTH$}"));
        }
        for ratio in self.ratios {
            header.push_str(&format!(" {:>10}", ratio.header));
        }
        println!("{header}");
        println!("{}", "-".repeat(header.len()));
        for row in &self.rows {
            let unit = match row.unit {
                Unit::PerItem(item) => format!("per {item}"),
                Unit::Rate(items) => items.to_string(),
                Unit::Once => "time".into(),
                Unit::Megabytes => "MB/s".into(),
            };
            let mut line = format!("{:<LABEL$}", format!("{} [{unit}]", row.label));
            for column in self.columns {
                let text = match row.cells.get(column) {
                    Some(cell) => format_cell(cell, row.unit),
                    None => "-".into(),
                };
                line.push_str(&format!(" {text:>WIDTH$}"));
            }
            for ratio in self.ratios {
                let text = match self.speedup_of(&row.key, ratio.ours, ratio.peer) {
                    Some(ratio) => format!("{}x", short(ratio)),
                    None => "-".into(),
                };
                line.push_str(&format!(" {text:>10}"));
            }
            println!("{line}");
        }
        println!();
        println!("{}", self.legend);
        for note in &self.notes {
            println!("{note}");
        }
    }
}

fn format_cell(cell: &Cell, unit: Unit) -> String {
    let values = cell.sorted();
    let (min, max) = (values[0], values[values.len() - 1]);
    let median = cell.median();
    match unit {
        Unit::PerItem(_) | Unit::Once => {
            let (scale, suffix) = time_scale(median);
            format!(
                "{} {suffix} ({}-{})",
                short(median * scale),
                short(min * scale),
                short(max * scale)
            )
        }
        Unit::Megabytes => format!("{} ({}-{})", short(median), short(min), short(max)),
        Unit::Rate(_) => {
            let (scale, suffix) = rate_scale(median);
            format!(
                "{}{suffix} ({}-{})",
                short(median * scale),
                short(min * scale),
                short(max * scale)
            )
        }
    }
}

/// A duration in seconds shown in ns, µs, ms or s.
fn time_scale(seconds: f64) -> (f64, &'static str) {
    if seconds < 1e-6 {
        (1e9, "ns")
    } else if seconds < 1e-3 {
        (1e6, "us")
    } else if seconds < 1.0 {
        (1e3, "ms")
    } else {
        (1.0, "s")
    }
}

fn rate_scale(rate: f64) -> (f64, &'static str) {
    if rate >= 1e6 {
        (1e-6, "M")
    } else if rate >= 1e3 {
        (1e-3, "k")
    } else {
        (1.0, "")
    }
}

/// Three significant digits, no more decimals than that needs.
pub fn short(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}
