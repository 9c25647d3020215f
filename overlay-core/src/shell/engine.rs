//! [`ContainerEngine`]: what the shell's image and container commands call (`images`,
//! `history`, `df`, `ps`, `run`, `use`, `commit`, `rmi`, `rmc`), and how they print.
//!
//! The shell knows nothing of image stores or RAM disks: an engine answers in these plain
//! types, and the shell formats them. [`crate::containers::ContainerManager`] is the engine
//! of this crate; the kernel and the host front end both use it.

use alloc::{format, string::String, sync::Arc, vec, vec::Vec};

use super::{escape, UnionView};
use crate::containers::CommitError;
use crate::error::Result;
use crate::image::{short_digest, Removal, StoreUsage};
use crate::vfs::FileSystem;

/// One image, as `images` shows it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ImageSummary {
    /// Its name.
    pub name: String,
    /// How many layers it stacks.
    pub layers: usize,
    /// Bytes of its layers (each distinct layer once).
    pub size_bytes: u64,
}

/// One step of an image's history, as `history` shows it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HistoryLine {
    /// The digest of the layer the step made; `None` for a step that made none (`ENV`).
    pub layer: Option<String>,
    /// The layer's size in bytes (0 without a layer).
    pub size_bytes: u64,
    /// The command that made it (empty if unknown).
    pub created_by: String,
}

/// One container, as `ps` and `df` show it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ContainerSummary {
    /// Its name.
    pub name: String,
    /// The image it runs.
    pub image: String,
    /// How many read-only layers it stacks.
    pub layers: usize,
    /// Bytes its writable layer holds.
    pub upper_bytes: u64,
}

/// What `commit` made.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CommitSummary {
    /// The new image.
    pub image: String,
    /// The new layer's digest.
    pub layer: String,
    /// The new layer's size in bytes.
    pub size_bytes: u64,
}

/// A container's root for the shell: the filesystem to walk and its union view.
#[derive(Clone)]
pub struct ContainerRoot {
    /// The filesystem the shell's namespace is rooted at.
    pub filesystem: Arc<dyn FileSystem>,
    /// What `layers`, `diff` and `stat` ask about it.
    pub union: Arc<dyn UnionView>,
}

/// The images and containers behind the shell's image commands.
///
/// Like [`UnionView`], methods take no credentials: the shell runs these commands on root's
/// behalf. They take `&self`; an implementation locks what it changes.
pub trait ContainerEngine: Send + Sync {
    /// Every image, in the engine's order.
    fn images(&self) -> Vec<ImageSummary>;

    /// The history of `image`, top (newest) step first, like `docker image history`.
    ///
    /// # Errors
    /// `ENOENT` if there is no such image.
    fn history(&self, image: &str) -> Result<Vec<HistoryLine>>;

    /// What the layers take, like `docker system df`.
    fn disk_usage(&self) -> StoreUsage;

    /// Every container, in the order they were made.
    fn containers(&self) -> Vec<ContainerSummary>;

    /// Makes container `container` of `image`: the image's layers under a new writable layer.
    ///
    /// # Errors
    /// `ENOENT` if there is no such image; `EEXIST` if the name is taken; `EINVAL` for a bad
    /// name.
    fn run(&self, image: &str, container: &str) -> Result<()>;

    /// The root of container `container`, for the shell to work in (`use`, and after
    /// `commit` of the container it is in).
    ///
    /// # Errors
    /// `ENOENT` if there is no such container.
    fn root(&self, container: &str) -> Result<ContainerRoot>;

    /// Freezes `container`'s writable layer into a new layer and registers `image` = its
    /// layers + that one; the container goes on over the new image, with an empty writable
    /// layer.
    ///
    /// # Errors
    /// `ENOENT` if there is no such container; `EEXIST` if the image name is taken; `EINVAL`
    /// for a bad name; `EINVAL`, `ENAMETOOLONG`, `ENOTSUP`, `ENOMEM` if the layer cannot be
    /// made, with the path of the entry at fault and why (the shell prints them). Nothing
    /// changes.
    fn commit(
        &self,
        container: &str,
        image: &str,
    ) -> core::result::Result<CommitSummary, CommitError>;

    /// Removes `image`; layers another image or a container uses stay.
    ///
    /// # Errors
    /// `ENOENT` if there is no such image.
    fn remove_image(&self, image: &str) -> Result<Removal>;

    /// Removes `container` and its writable layer, then every layer that no image and no
    /// other container uses any more; returns those layers' digests and bytes, in the
    /// engine's order.
    ///
    /// # Errors
    /// `ENOENT` if there is no such container.
    fn remove_container(&self, container: &str) -> Result<Vec<(String, u64)>>;
}

/// A table: one row per line, each column as wide as its widest cell plus two blanks; cells
/// of the columns in `right` are aligned right. The last column is not padded.
pub(super) fn table(rows: &[Vec<String>], right: &[usize]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (column, cell) in row.iter().enumerate() {
                let width = widths.get(column).copied().unwrap_or(0);
                let pad = width.saturating_sub(cell.chars().count());
                let last = column + 1 == row.len();
                if column > 0 {
                    line.push_str("  ");
                }
                if right.contains(&column) {
                    line.extend(core::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if !last {
                        line.extend(core::iter::repeat_n(' ', pad));
                    }
                }
            }
            line.truncate(line.trim_end().len());
            line
        })
        .collect()
}

/// `images`: `IMAGE LAYERS SIZE`, one row per image.
pub(super) fn images_lines(images: &[ImageSummary]) -> Vec<String> {
    let mut rows = vec![cells(&["IMAGE", "LAYERS", "SIZE"])];
    for image in images {
        rows.push(vec![
            escape(&image.name),
            format!("{}", image.layers),
            format!("{}", image.size_bytes),
        ]);
    }
    table(&rows, &[1, 2])
}

/// `history IMAGE`: `LAYER SIZE CREATED BY`, top first; `-` for a step without a layer.
pub(super) fn history_lines(history: &[HistoryLine]) -> Vec<String> {
    let mut rows = vec![cells(&["LAYER", "SIZE", "CREATED BY"])];
    for step in history {
        let layer = step.layer.as_deref().map_or("-", short_digest);
        rows.push(vec![
            String::from(layer),
            format!("{}", step.size_bytes),
            escape(&step.created_by),
        ]);
    }
    table(&rows, &[1])
}

/// `df`: one row per image (`IMAGE LAYERS SIZE SHARED UNIQUE`), a `total` row (the layers
/// stored, each once), then the saving, what `rmi` reclaimed, the heap of the layers' trees
/// per entry, and the containers.
pub(super) fn df_lines(usage: &StoreUsage, containers: &[ContainerSummary]) -> Vec<String> {
    let mut rows = vec![cells(&["IMAGE", "LAYERS", "SIZE", "SHARED", "UNIQUE"])];
    for image in &usage.images {
        rows.push(vec![
            escape(&image.name),
            format!("{}", image.layers),
            format!("{}", image.total_bytes),
            format!("{}", image.shared_bytes),
            format!("{}", image.unique_bytes),
        ]);
    }
    rows.push(vec![
        String::from("total"),
        format!("{}", usage.layers),
        format!("{}", usage.stored_bytes),
        format!("{}", usage.shared_bytes),
        format!("{}", usage.unique_bytes),
    ]);
    let mut lines = table(&rows, &[1, 2, 3, 4]);
    lines.push(format!(
        "stored: {} bytes in {} layers, each once; without sharing: {} bytes",
        usage.stored_bytes,
        usage.layers,
        usage.unshared_bytes.max(usage.stored_bytes)
    ));
    if usage.unused_bytes > 0 {
        lines.push(format!(
            "held for containers only: {} bytes (no image uses them)",
            usage.unused_bytes
        ));
    }
    lines.push(format!(
        "reclaimed by rmi and rmc: {} bytes in {} layers",
        usage.reclaimed_bytes, usage.reclaimed_layers
    ));
    lines.push(format!(
        "layer trees: {} entries, {} bytes of heap ({} of names), {} per entry besides its name",
        usage.entries,
        usage.tree_heap_bytes,
        usage.tree_name_bytes,
        (usage.tree_heap_bytes - usage.tree_name_bytes) / usage.entries.max(1)
    ));
    let upper_bytes: u64 = containers.iter().map(|c| c.upper_bytes).sum();
    lines.push(format!(
        "containers: {}, writable layers {} bytes",
        containers.len(),
        upper_bytes
    ));
    lines
}

/// `ps`: `CONTAINER IMAGE LAYERS UPPER`, the container the shell is in marked `*`.
pub(super) fn ps_lines(containers: &[ContainerSummary], current: Option<&str>) -> Vec<String> {
    let mut rows = vec![cells(&["", "CONTAINER", "IMAGE", "LAYERS", "UPPER"])];
    for container in containers {
        let mark = if current == Some(container.name.as_str()) {
            "*"
        } else {
            ""
        };
        rows.push(vec![
            String::from(mark),
            escape(&container.name),
            escape(&container.image),
            format!("{}", container.layers),
            format!("{}", container.upper_bytes),
        ]);
    }
    table(&rows, &[3, 4])
}

/// `rmi`: `Untagged: IMAGE`, then `Deleted: LAYER SIZE` for each layer dropped and
/// `Kept: LAYER SIZE (used by ...)` for each that stays, top first.
pub(super) fn removal_lines(removal: &Removal) -> Vec<String> {
    let mut lines = vec![format!("Untagged: {}", escape(&removal.image))];
    for (digest, size) in &removal.deleted {
        lines.push(format!("Deleted: {} {size}", short_digest(digest)));
    }
    for kept in &removal.kept {
        let mut users: Vec<String> = kept.images.iter().map(|image| escape(image)).collect();
        users.extend(
            kept.containers
                .iter()
                .map(|c| format!("container {}", escape(c))),
        );
        lines.push(format!(
            "Kept: {} {} (used by {})",
            short_digest(&kept.digest),
            kept.size,
            users.join(", ")
        ));
    }
    lines
}

/// `rmc`'s lines: `Removed: NAME`, then `Deleted: LAYER SIZE` for each layer that went with
/// the container.
pub(super) fn container_removal_lines(name: &str, deleted: &[(String, u64)]) -> Vec<String> {
    let mut lines = vec![format!("Removed: {}", escape(name))];
    for (digest, size) in deleted {
        lines.push(format!("Deleted: {} {size}", short_digest(digest)));
    }
    lines
}

fn cells(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|text| String::from(*text)).collect()
}

#[cfg(test)]
mod tests;
