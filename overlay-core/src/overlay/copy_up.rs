//! Copy-up: copy-on-write of a lower entry into the upper layer.
//!
//! The copy is built in the work directory under a temporary name (data, xattrs, then owner,
//! mode and times, so the copied times are the last thing written) and renamed into place in
//! one step. If anything fails, the temporary entry is removed and the union still shows the
//! lower entry: nothing half-made ever appears under the real name. Parents are copied up
//! before their children (top first, in a loop: no recursion as deep as the layers), as directories with the same metadata.
//!
//! An upper filesystem that cannot rename gets the copy built under its real name instead,
//! removed again on failure: the union's result is the same, but the step is not atomic in
//! the upper filesystem (see [`super::UpperLayer`]).

use alloc::{sync::Arc, vec::Vec};

use super::entry::LowerEntry;
use super::identity::{index_name, Key};
use super::node::OverlayInode;
use super::whiteout::is_whiteout_device;
use super::{copy_xattrs, Union, UpperLayer, WhiteoutEncoding};
use crate::error::{Errno, Result};
use crate::vfs::{FileType, FsFeatures, Inode, Metadata, NewNode, RenameFlags, SetAttr};

/// Size of the buffer file data is copied through.
const COPY_CHUNK_BYTES: usize = 64 * 1024;

impl Union {
    /// Copies `node` up (with its data unless `with_data` is false) if it is not in the upper
    /// layer yet, parents first, and returns its upper entry. The caller holds the namespace
    /// lock exclusively.
    ///
    /// # Errors
    /// `EROFS` for a read-only union; `ENOSPC`/`ENOMEM` and the like from the upper layer, in
    /// which case nothing has changed.
    pub(crate) fn copy_up(
        &self,
        node: &Arc<OverlayInode>,
        with_data: bool,
    ) -> Result<Arc<dyn Inode>> {
        if let Some(upper) = node.upper() {
            return Ok(upper);
        }
        let upper = self.writable()?;
        // The node and every ancestor not in the upper layer yet, the node first, each
        // checked before anything is copied; then copied top first. A loop, not recursion:
        // a lower layer's directories nest as deep as its tar says.
        let mut steps: Vec<Step> = Vec::new();
        let mut next = Some(node.clone());
        while let Some(current) = next.take() {
            let step = Step::of(upper, current)?;
            next = step
                .parent
                .as_ref()
                .filter(|parent| parent.upper().is_none())
                .cloned();
            steps.push(step);
        }
        let mut copied = None;
        for (index, step) in steps.iter().enumerate().rev() {
            // Only the node itself gets its data: the others are its parent directories.
            copied = Some(self.copy_up_one(upper, step, with_data && index == 0)?);
        }
        copied.ok_or(Errno::EIO)
    }

    /// Copies up the entry of `step`, whose parent (if it has one) is in the upper layer.
    fn copy_up_one(
        &self,
        upper: &UpperLayer,
        step: &Step,
        with_data: bool,
    ) -> Result<Arc<dyn Inode>> {
        let Step {
            node,
            parent,
            name,
            lower,
            lower_meta,
        } = step;
        let (name, lower_meta) = (&**name, *lower_meta);
        let parent_upper = match parent {
            Some(parent) => Some(parent.upper().ok_or(Errno::EIO)?),
            // The root always has its upper directory, so only a removed entry gets here: it
            // is copied to the work directory and unlinked there, like Linux's O_TMPFILE
            // copy-up, so open handles go on working on a private copy.
            None => None,
        };

        // A lower file with several names gets an index link in the work directory (Linux
        // `index=on`): the group's other names link to the copy later, even once every name
        // that was copied up is gone.
        let index_name = (!lower_meta.kind.is_dir()
            && lower_meta.nlink > 1
            && upper.fs.features().contains(FsFeatures::HARD_LINKS))
        .then(|| index_name(lower.layer, lower_meta.ino));
        let staged = match (&parent_upper, upper.renames) {
            // No rename to place a staged copy: build it under its real name and remove it
            // again if that fails. The union shows nothing of it meanwhile (the caller holds
            // the namespace lock), but the upper filesystem itself may, and a crash can
            // leave it half made (see `UpperLayer`).
            (Some(parent_upper), false) => {
                let staged = create_copy(&**parent_upper, name, &*lower.inode, &lower_meta)?;
                if let Err(errno) =
                    fill_copy(upper, &*staged, &*lower.inode, &lower_meta, with_data)
                {
                    discard(&**parent_upper, name, lower_meta.kind);
                    return Err(errno);
                }
                staged
            }
            _ => {
                // A removed entry's copy with an index name, on an upper that cannot rename,
                // is built under that name directly.
                let index_in_place = parent_upper.is_none() && !upper.renames;
                let temp = match &index_name {
                    Some(index) if index_in_place => index.clone(),
                    _ => self.temp_name(),
                };
                let work = &*upper.work_dir;
                let staged = create_copy(work, &temp, &*lower.inode, &lower_meta)?;
                let placed = fill_copy(upper, &*staged, &*lower.inode, &lower_meta, with_data)
                    .and_then(|()| match &parent_upper {
                        Some(parent_upper) => {
                            work.rename(&temp, &**parent_upper, name, RenameFlags::NOREPLACE)
                        }
                        None => match &index_name {
                            Some(_) if index_in_place => Ok(()),
                            Some(index) => work.rename(&temp, work, index, RenameFlags::NOREPLACE),
                            None => work.unlink(&temp),
                        },
                    });
                if let Err(errno) = placed {
                    discard(work, &temp, lower_meta.kind);
                    return Err(errno);
                }
                staged
            }
        };

        let origin = Key::Lower {
            layer: lower.layer,
            ino: lower_meta.ino,
        };
        let staged_ino = staged.metadata()?.ino;
        {
            let mut identities = self.identities.lock();
            identities.set_origin(staged_ino, origin);
            if !lower_meta.kind.is_dir() {
                self.cover(
                    &mut identities,
                    origin,
                    lower_meta.nlink,
                    Some(staged.clone()),
                );
            }
        }
        if let Some(index) = &index_name {
            // Without the index the group still works while one of its upper names lives.
            let indexed = parent_upper.is_none() || upper.work_dir.link(index, &*staged).is_ok();
            self.identities.lock().set_indexed(origin, indexed);
        }
        node.set_upper(staged.clone());
        Ok(staged)
    }

    /// Makes sure the upper directory `parent_upper` has an entry `name` for `node` (found as
    /// `name` in `parent`): copies it up, or links the copied-up data of its hard-link group.
    pub(crate) fn copy_up_name(
        &self,
        parent_upper: &Arc<dyn Inode>,
        name: &str,
        node: &Arc<OverlayInode>,
    ) -> Result<Arc<dyn Inode>> {
        match node.upper() {
            None => self.copy_up(node, true),
            Some(upper) => {
                match parent_upper.lookup(name) {
                    Ok(_) => {}
                    Err(Errno::ENOENT) => {
                        // The group's data was copied up under another name: link this one.
                        parent_upper.link(name, &*upper)?;
                        if let Some(lower) = node.lowers().first() {
                            let lower_nlink = lower.inode.metadata()?.nlink;
                            self.cover(&mut self.identities.lock(), node.key, lower_nlink, None);
                        }
                    }
                    Err(errno) => return Err(errno),
                }
                Ok(upper)
            }
        }
    }
}

/// One entry for [`Union::copy_up`] to copy, checked.
struct Step {
    node: Arc<OverlayInode>,
    /// The directory it is copied into, unless it is a removed entry (see `copy_up_one`).
    parent: Option<Arc<OverlayInode>>,
    name: Arc<str>,
    /// The lower entry copied, and its metadata.
    lower: LowerEntry,
    lower_meta: Metadata,
}

impl Step {
    /// The step for `node`, or why it cannot be copied up.
    fn of(upper: &UpperLayer, node: Arc<OverlayInode>) -> Result<Step> {
        let (parent, name, unlinked) = node.position();
        // A lower name the upper encoding reserves (`.wh.x` from a layer with Linux
        // whiteouts) would turn into a whiteout there: it cannot be copied up.
        if parent.is_some() && !unlinked && upper.encoding.is_reserved_name(&name) {
            return Err(Errno::EINVAL);
        }
        let lower = node.lowers().first().cloned().ok_or(Errno::EIO)?;
        let lower_meta = lower.inode.metadata()?;
        if unlinked && lower_meta.kind.is_dir() {
            return Err(Errno::ENOENT);
        }
        // A character device 0/0 shown from a layer with name-based whiteouts would be a
        // whiteout in an upper with Linux ones, and the name would vanish: it cannot be
        // copied up. (Image layers never show one: they parse it as a whiteout.)
        if upper.encoding == WhiteoutEncoding::Linux
            && is_whiteout_device(lower_meta.kind, lower_meta.rdev)
        {
            return Err(Errno::EINVAL);
        }
        Ok(Step {
            node,
            parent: parent.filter(|_| !unlinked),
            name,
            lower,
            lower_meta,
        })
    }
}

/// Creates `name` in `dir` as an empty copy of the lower entry `lower` (a symlink gets its
/// target). Nothing is left behind if this fails.
fn create_copy(
    dir: &dyn Inode,
    name: &str,
    lower: &dyn Inode,
    meta: &Metadata,
) -> Result<Arc<dyn Inode>> {
    match meta.kind {
        FileType::Symlink => dir.symlink(name, &lower.readlink()?, meta.uid, meta.gid),
        kind => {
            let mut new = NewNode::new(kind, meta.mode, meta.uid, meta.gid);
            new.rdev = meta.rdev;
            dir.create(name, &new)
        }
    }
}

/// Gives the new copy `staged` the data (unless `with_data` is false), xattrs, and then owner,
/// mode and times of `lower`, so the copied times are the last thing written. Metadata the
/// upper filesystem cannot store is left as it made it.
fn fill_copy(
    upper: &UpperLayer,
    staged: &dyn Inode,
    lower: &dyn Inode,
    meta: &Metadata,
    with_data: bool,
) -> Result<()> {
    if meta.kind == FileType::Regular && with_data {
        copy_data(lower, staged, meta.size)?;
    }
    copy_xattrs(lower, staged)?;
    if !upper.stores_attrs {
        return Ok(());
    }
    let attr = SetAttr {
        mode: (meta.kind != FileType::Symlink).then_some(meta.mode),
        uid: Some(meta.uid),
        gid: Some(meta.gid),
        atime: Some(meta.atime),
        mtime: Some(meta.mtime),
    };
    staged.set_attr(&attr)
}

/// Copies `size` bytes of file data.
///
/// A lower file that can share its bytes ([`Inode::shared_data`]: an image layer's file in the
/// RAM disk) hands them to the upper file whole ([`Inode::write_shared_at`]): a tmpfs upper
/// keeps a reference and copies a page only when it is written, so copy-up costs the same for
/// any file size (the in-memory equivalent of the reflink copy-up Linux makes on XFS or
/// btrfs). Reads, sizes and `ENOSPC` stay those of a full copy (a tmpfs upper charges shared
/// pages like copied ones; runs of zeros are not looked for, as an image file has no holes).
///
/// Otherwise the data is read and written in chunks; chunks that read as zeros are not
/// written, so holes stay holes in the upper file (they read back the same).
fn copy_data(from: &dyn Inode, to: &dyn Inode, size: u64) -> Result<()> {
    if let Some(shared) = from
        .shared_data()
        .filter(|bytes| bytes.len() as u64 == size)
    {
        if !shared.is_empty() && to.write_shared_at(0, &shared)? != shared.len() {
            return Err(Errno::EIO);
        }
        return to.set_len(size);
    }
    let mut buf: Vec<u8> = Vec::new();
    buf.try_reserve_exact(COPY_CHUNK_BYTES)?;
    buf.resize(COPY_CHUNK_BYTES, 0);
    let mut offset = 0u64;
    while offset < size {
        let read = from.read_at(offset, &mut buf)?;
        if read == 0 {
            break;
        }
        let chunk = &buf[..read];
        if chunk.iter().any(|&byte| byte != 0) {
            let mut written = 0;
            while written < chunk.len() {
                let n = to.write_at(offset + written as u64, &chunk[written..])?;
                if n == 0 {
                    return Err(Errno::EIO);
                }
                written += n;
            }
        }
        offset += read as u64;
    }
    to.set_len(size)
}

/// Removes a copy that could not be completed: `name` of `dir` (the work directory, or the
/// real parent when the upper layer cannot rename). Errors are ignored: the entry may not
/// exist, and the work directory is cleared when the upper layer is next mounted anyway.
fn discard(dir: &dyn Inode, name: &str, kind: FileType) {
    let _ = if kind.is_dir() {
        dir.rmdir(name)
    } else {
        dir.unlink(name)
    };
}

/// Copy-up of files whose lower bytes can be shared (image layers in a RAM disk): every
/// result must be the one a full copy gives.
#[cfg(test)]
mod shared_data_tests;

/// A device 0/0 that a layer with name-based whiteouts shows as a device.
#[cfg(test)]
mod whiteout_device_tests {
    use alloc::vec;

    use crate::error::Errno;
    use crate::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer, WhiteoutEncoding};
    use crate::posix::Namespace;
    use crate::tmpfs::{TmpFs, TmpFsOptions};
    use crate::vfs::{Credentials, FileSystem, FileType, NewNode};

    #[test]
    fn a_device_0_0_of_an_oci_lower_is_never_copied_up_into_a_deletion() {
        let lower = TmpFs::new(TmpFsOptions::default());
        let node = NewNode::new(FileType::CharDevice, 0o644, 0, 0);
        lower.root().create("dev", &node).unwrap();
        let layer = Layer::with_encoding(lower, WhiteoutEncoding::Oci);
        let upper = UpperLayer::new(TmpFs::new(TmpFsOptions::default())).unwrap();
        let union = OverlayFs::new(vec![layer], Some(upper), OverlayOptions::default()).unwrap();
        let ns = Namespace::with_filesystem(union.clone());
        let root = Credentials::root();
        assert_eq!(ns.chmod(&root, "/dev", 0o600), Err(Errno::EINVAL));
        assert_eq!(ns.chown(&root, "/dev", Some(1), None), Err(Errno::EINVAL));
        assert_eq!(ns.lstat(&root, "/dev").unwrap().kind, FileType::CharDevice);
        assert!(union.diff().unwrap().is_empty());
    }
}
