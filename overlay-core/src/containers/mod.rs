//! Containers of the images in an [`ImageStore`]: [`ContainerManager`] runs named containers
//! (each a union of an image's shared layers under its own tmpfs upper), commits a
//! container's changes as a new image, and removes images, keeping every layer that another
//! image or a container still uses. It is what the shell's image commands (`images`,
//! `history`, `df`, `ps`, `run`, `use`, `commit`, `rmi`) call, through
//! [`ContainerEngine`](crate::shell::ContainerEngine); the kernel and the host front end share
//! it.
//!
//! ```
//! use overlay_core::containers::{ContainerManager, ContainerOptions};
//! use overlay_core::image::{Bytes, ImageStore};
//! use overlay_core::posix::Namespace;
//! use overlay_core::vfs::{Credentials, OpenFlags};
//!
//! # fn story(ramdisk: &'static [u8]) -> Result<(), overlay_core::Errno> {
//! let store = ImageStore::from_ramdisk(Bytes::from_static(ramdisk))?;
//! let manager = ContainerManager::new(store, ContainerOptions::default());
//! // A container of the first image, a change in it, then the change as a new image.
//! let first = manager.images()[0].name.clone();
//! let union = manager.run(&first, "web")?;
//! let ns = Namespace::with_filesystem(union);
//! let root = Credentials::root();
//! ns.open(&root, "/note", OpenFlags::WRITE | OpenFlags::CREATE, 0o644)?.write_all(b"hi")?;
//! let commit = manager.commit("web", "web:v2")?;
//! log::info!("layer {} of {} bytes", commit.layer, commit.size);
//! manager.run("web:v2", "web2")?; // shows /note
//! # Ok(())
//! # }
//! ```
//!
//! # Locking
//! One `spin` mutex guards the store and the container table. It is never held while the
//! caller's code runs, and the unions it hands out (`Arc<OverlayFs>`) are used without it;
//! `commit` holds it while it reads the container's upper layer, so nothing else may change
//! that container meanwhile (the shell runs one command at a time).

#[cfg(feature = "shell")]
mod engine;
pub mod freeze;
mod stack;
#[cfg(test)]
mod tests;

pub use freeze::freeze;

use alloc::{format, string::String, sync::Arc, vec::Vec};
use core::fmt;

use spin::Mutex;

use crate::error::{Errno, Result};
use crate::image::store::check_name;
use crate::image::{
    Bytes, HistoryStep, ImageStore, LayerSource, Removal, RuntimeConfig, StoreUsage, StoredImage,
    StoredLayer,
};
use crate::overlay::{OverlayFs, OverlayOptions, UpperLayer};
use crate::tmpfs::{TmpFs, TmpFsOptions};
use crate::vfs::{SetAttr, XattrFlags};

/// How containers are made.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ContainerOptions {
    /// Capacity of each container's upper tmpfs in bytes; `None`: no limit but memory.
    pub upper_capacity_bytes: Option<u64>,
}

/// What [`ContainerManager::commit`] made.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Commit {
    /// The new image's name.
    pub image: String,
    /// The new layer's digest (`sha256:<hex>`).
    pub layer: String,
    /// The new layer's size in bytes.
    pub size: u64,
    /// Whether an identical layer was already stored (then it is shared, not stored twice).
    pub shared: bool,
}

/// Why [`ContainerManager::commit`] failed: the errno, and, when one entry of the container
/// is at fault, its path and what about it a layer cannot hold. Displayed as
/// `EINVAL: /etc/.wh.hostname: a name starting with .wh. (...)`, control characters of the
/// path escaped.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CommitError {
    /// The error number.
    pub errno: Errno,
    /// The entry at fault, as an absolute path in the container (`/etc/.wh.hostname`).
    pub path: Option<String>,
    /// What about it a layer cannot hold.
    pub reason: Option<&'static str>,
}

impl CommitError {
    /// What the error says beyond its errno: `PATH: REASON`, `PATH` or nothing (the path
    /// as it is, unescaped).
    pub fn detail(&self) -> Option<String> {
        match (&self.path, self.reason) {
            (Some(path), Some(reason)) => Some(format!("{path}: {reason}")),
            (Some(path), None) => Some(path.clone()),
            (None, Some(reason)) => Some(String::from(reason)),
            (None, None) => None,
        }
    }
}

impl From<Errno> for CommitError {
    fn from(errno: Errno) -> CommitError {
        CommitError {
            errno,
            path: None,
            reason: None,
        }
    }
}

/// The errno alone (the path and reason are dropped).
impl From<CommitError> for Errno {
    fn from(error: CommitError) -> Errno {
        error.errno
    }
}

impl fmt::Display for CommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.errno)?;
        if let Some(path) = &self.path {
            f.write_str(": ")?;
            for c in path.chars() {
                if c.is_control() {
                    write!(f, "{}", c.escape_default())?;
                } else {
                    write!(f, "{c}")?;
                }
            }
        }
        if let Some(reason) = self.reason {
            write!(f, ": {reason}")?;
        }
        Ok(())
    }
}

impl core::error::Error for CommitError {}

/// One container, as [`ContainerManager::containers`] lists it.
#[derive(Clone)]
pub struct ContainerInfo {
    /// Its name.
    pub name: String,
    /// The image it runs (its name when the container was made or last committed).
    pub image: String,
    /// How many read-only layers it stacks.
    pub layers: usize,
    /// Bytes its upper layer holds (as tmpfs counts them against its capacity).
    pub upper_bytes: u64,
    /// The union itself.
    pub union: Arc<OverlayFs>,
}

impl core::fmt::Debug for ContainerInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ContainerInfo")
            .field("name", &self.name)
            .field("image", &self.image)
            .field("layers", &self.layers)
            .field("upper_bytes", &self.upper_bytes)
            .finish_non_exhaustive()
    }
}

/// Runs containers of the images of a store; see the [module docs](self).
pub struct ContainerManager {
    options: ContainerOptions,
    state: Mutex<State>,
}

struct State {
    store: ImageStore,
    /// In the order they were made.
    containers: Vec<Container>,
}

struct Container {
    name: String,
    image: String,
    /// The digests it stacks, base first, with the history and config they came with (the
    /// image may be removed while the container lives on).
    layers: Vec<String>,
    history: Vec<HistoryStep>,
    config: RuntimeConfig,
    union: Arc<OverlayFs>,
    upper: Arc<TmpFs>,
}

impl State {
    fn container(&self, name: &str) -> Result<&Container> {
        self.containers
            .iter()
            .find(|container| container.name == name)
            .ok_or(Errno::ENOENT)
    }
}

impl ContainerManager {
    /// A manager of the images in `store`, with no container yet.
    pub fn new(store: ImageStore, options: ContainerOptions) -> Arc<ContainerManager> {
        Arc::new(ContainerManager {
            options,
            state: Mutex::new(State {
                store,
                containers: Vec::new(),
            }),
        })
    }

    /// Calls `f` with the store (under the manager's lock: `f` must not call the manager).
    pub fn with_store<R>(&self, f: impl FnOnce(&ImageStore) -> R) -> R {
        f(&self.state.lock().store)
    }

    /// The images, in store order.
    pub fn images(&self) -> Vec<StoredImage> {
        self.state.lock().store.images().to_vec()
    }

    /// What the layers take (see [`StoreUsage`]).
    pub fn usage(&self) -> StoreUsage {
        self.state.lock().store.usage()
    }

    /// A new container `name` of `image`: its layers (shared, never copied) under a fresh
    /// tmpfs upper. Returns the union.
    ///
    /// # Errors
    /// `EINVAL` for a name that is not valid (see [`check_name`]); `EEXIST` if a container has
    /// the name; `ENOENT` if there is no such image; what making the union fails with.
    pub fn run(&self, image: &str, name: &str) -> Result<Arc<OverlayFs>> {
        check_name(name)?;
        let mut state = self.state.lock();
        if state.container(name).is_ok() {
            return Err(Errno::EEXIST);
        }
        let stored = state.store.image(image).ok_or(Errno::ENOENT)?.clone();
        let (union, upper) = self.union(&state.store, &stored.layers)?;
        state.containers.push(Container {
            name: String::from(name),
            image: stored.name,
            layers: stored.layers,
            history: stored.history,
            config: stored.config,
            union: union.clone(),
            upper,
        });
        Ok(union)
    }

    /// The union of container `name`.
    ///
    /// # Errors
    /// `ENOENT` if there is no such container.
    pub fn container(&self, name: &str) -> Result<Arc<OverlayFs>> {
        Ok(self.state.lock().container(name)?.union.clone())
    }

    /// Every container, in the order they were made.
    pub fn containers(&self) -> Vec<ContainerInfo> {
        self.state
            .lock()
            .containers
            .iter()
            .map(|container| ContainerInfo {
                name: container.name.clone(),
                image: container.image.clone(),
                layers: container.layers.len(),
                upper_bytes: container.upper.used_bytes(),
                union: container.union.clone(),
            })
            .collect()
    }

    /// Freezes container `name`'s changes into a new read-only layer (a tar in the OCI
    /// layer format, whiteouts, opaque directories and hard links included: see [`freeze()`])
    /// and registers the image `image` = the container's layers + that one. A container of
    /// the new image shows exactly what this one showed (sockets aside: no layer holds
    /// them); where the OCI format cannot say what the container shows, the commit fails
    /// instead, naming the entry. The container goes on as a container of the new image: the
    /// same changes, now read from the new layer, under a fresh, empty upper. A layer
    /// identical to a stored one is shared, not stored twice.
    ///
    /// Names starting with `.wh.` are ordinary names in a container (its upper layer marks
    /// deletions with Linux whiteouts), but OCI layers reserve them: `.wh.x` deletes `x`,
    /// `.wh..wh..opq` empties its directory. So a container holding such a name cannot be
    /// committed (`EINVAL`, with the name's path): rename or remove it first.
    ///
    /// # Errors
    /// Nothing changes on error. `EINVAL` for an image name that is not valid, or if the
    /// container already stacks the most layers a union may have; `EEXIST` if an image has
    /// the name; `ENOENT` if there is no such container; from freezing the changes (with the
    /// path of the entry at fault and why, see [`CommitError`]): `EINVAL` for a name
    /// starting with `.wh.` or an entry a tar cannot hold (xattrs over the 1 MiB of one
    /// entry's extended header), `ENAMETOOLONG` for a path of 4096 bytes or more, `ENOTSUP`
    /// for a directory moved with `redirect_dir`, `ENOMEM`, or a read error.
    pub fn commit(&self, name: &str, image: &str) -> core::result::Result<Commit, CommitError> {
        check_name(image)?;
        let mut state = self.state.lock();
        if state.store.image(image).is_some() {
            return Err(Errno::EEXIST.into());
        }
        let container = state.container(name)?;
        let tar = freeze(&container.union)?;
        let parsed = StoredLayer::parse(Bytes::from_vec(tar), LayerSource::Committed)?;
        let layer = state.store.dedup(parsed);
        let shared = state.store.layer(&layer.digest).is_some();
        let mut layers = container.layers.clone();
        layers.push(layer.digest.clone());
        let mut history = container.history.clone();
        history.push(HistoryStep {
            layer: Some(layer.digest.clone()),
            created_by: Some(format!("commit {name}")),
            comment: None,
        });
        let config = container.config.clone();
        // The new union first: if it cannot be made, nothing has changed yet.
        let mut lowers = state.store.lowers(&container.layers)?;
        lowers.insert(0, layer.lower());
        let (union, upper) = self.union_of(lowers)?;
        let commit = Commit {
            image: String::from(image),
            layer: layer.digest.clone(),
            size: layer.size,
            shared,
        };
        state.store.add_image(
            StoredImage {
                name: String::from(image),
                layers: layers.clone(),
                history: history.clone(),
                config: config.clone(),
                manifest_digest: None,
            },
            alloc::vec![layer],
        )?;
        let container = state
            .containers
            .iter_mut()
            .find(|container| container.name == name)
            .ok_or(Errno::ENOENT)?;
        container.image = String::from(image);
        container.layers = layers;
        container.history = history;
        container.union = union;
        container.upper = upper;
        Ok(commit)
    }

    /// Removes the image `image`; its layers that another image or a container still uses
    /// stay (see [`ImageStore::remove_image`]).
    ///
    /// # Errors
    /// `ENOENT` if there is no such image.
    pub fn remove_image(&self, image: &str) -> Result<Removal> {
        let mut state = self.state.lock();
        let State { store, containers } = &mut *state;
        let holders: Vec<(&str, &[String])> = containers
            .iter()
            .map(|container| (container.name.as_str(), container.layers.as_slice()))
            .collect();
        store.remove_image(image, &holders)
    }

    /// Removes container `name` (its upper layer goes with it), then every layer that
    /// neither an image nor another container uses; returns those layers' digests and sizes.
    ///
    /// # Errors
    /// `ENOENT` if there is no such container.
    pub fn remove_container(&self, name: &str) -> Result<Vec<(String, u64)>> {
        let mut state = self.state.lock();
        let position = state
            .containers
            .iter()
            .position(|container| container.name == name)
            .ok_or(Errno::ENOENT)?;
        state.containers.remove(position);
        let State { store, containers } = &mut *state;
        let in_use: Vec<&[String]> = containers.iter().map(|c| c.layers.as_slice()).collect();
        Ok(store.prune(&in_use))
    }

    fn union(&self, store: &ImageStore, layers: &[String]) -> Result<(Arc<OverlayFs>, Arc<TmpFs>)> {
        self.union_of(store.lowers(layers)?)
    }

    /// A union of `lowers` under a fresh tmpfs upper whose root starts as the image's: the
    /// top layer's root metadata and xattrs (the union's root is the upper directory, so a
    /// container of a committed image shows the root the committed container showed).
    fn union_of(&self, lowers: Vec<crate::overlay::Layer>) -> Result<(Arc<OverlayFs>, Arc<TmpFs>)> {
        let upper = TmpFs::new(TmpFsOptions {
            capacity_bytes: self.options.upper_capacity_bytes,
            ..TmpFsOptions::default()
        });
        let upper_layer = UpperLayer::new(upper.clone())?;
        if let Some(top) = lowers.first() {
            let image_root = top.filesystem().root();
            let meta = image_root.metadata()?;
            let upper_root = upper_layer.upper_dir();
            for (name, value) in freeze::visible_xattrs(&*image_root)? {
                upper_root.set_xattr(&name, &value, XattrFlags::empty())?;
            }
            upper_root.set_attr(&SetAttr {
                mode: Some(meta.mode),
                uid: Some(meta.uid),
                gid: Some(meta.gid),
                atime: Some(meta.atime),
                mtime: Some(meta.mtime),
            })?;
        }
        let union = OverlayFs::new(lowers, Some(upper_layer), OverlayOptions::default())?;
        Ok((union, upper))
    }
}

impl core::fmt::Debug for ContainerManager {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = self.state.lock();
        let names: Vec<&str> = state.containers.iter().map(|c| c.name.as_str()).collect();
        f.debug_struct("ContainerManager")
            .field("options", &self.options)
            .field("images", &state.store.images().len())
            .field("layers", &state.store.layers().count())
            .field("containers", &names)
            .finish()
    }
}
