//! Changes to directories: create, link, unlink and rmdir.
//!
//! A change inside a directory first copies the directory (and its parents) up. A name that a
//! lower layer still provides is removed by leaving a whiteout; a name created over a whiteout
//! replaces it, and a directory created there is made opaque, so the lower contents it replaces
//! never reappear. Each multi-step change is staged in the work directory so that any failure
//! leaves the union as it was; on an upper filesystem that cannot rename, the steps are made
//! in place and undone on failure as far as possible (see [`super::UpperLayer`]).

use alloc::sync::Arc;

use super::entry::Lowers;
use super::identity::{index_name, Key};
use super::lookup::Hit;
use super::node::OverlayInode;
use super::whiteout::{is_whiteout_device, whiteout_device, WhiteoutEncoding};
use super::{check_new_name, clear_dir, Union, UpperLayer};
use crate::error::{Errno, Result};
use crate::vfs::{FileType, Inode, NewNode, RenameFlags};

impl Union {
    /// Creates `name` in `dir` as described by `new`.
    pub(crate) fn create_node(
        &self,
        dir: &Arc<OverlayInode>,
        name: &str,
        new: &NewNode,
    ) -> Result<Arc<OverlayInode>> {
        if new.kind == FileType::Symlink {
            return Err(Errno::EINVAL);
        }
        // A 0/0 character device would read back as a whiteout.
        if is_whiteout_device(new.kind, new.rdev) {
            return Err(Errno::EPERM);
        }
        self.create_with(dir, name, new.kind, |parent, name| parent.create(name, new))
    }

    /// Creates `name` in `dir` as a symlink to `target`.
    pub(crate) fn create_symlink(
        &self,
        dir: &Arc<OverlayInode>,
        name: &str,
        target: &str,
        uid: u32,
        gid: u32,
    ) -> Result<Arc<OverlayInode>> {
        self.create_with(dir, name, FileType::Symlink, |parent, name| {
            parent.symlink(name, target, uid, gid)
        })
    }

    /// Creates `name` in `dir` with `make(upper directory, name)`.
    fn create_with(
        &self,
        dir: &Arc<OverlayInode>,
        name: &str,
        kind: FileType,
        make: impl Fn(&dyn Inode, &str) -> Result<Arc<dyn Inode>>,
    ) -> Result<Arc<OverlayInode>> {
        let upper = self.writable()?;
        check_new_name(upper, name)?;
        let replaces_whiteout = match self.resolve(dir, name)? {
            super::lookup::Lookup::Found(_) => return Err(Errno::EEXIST),
            super::lookup::Lookup::Missing { upper_whiteout } => upper_whiteout,
        };
        let parent_upper = self.copy_up(dir, false)?;
        if replaces_whiteout {
            self.make_over_whiteout(upper, &parent_upper, name, kind, make)?;
            dir.invalidate_listing();
            return self.lookup_node(dir, name);
        }
        let made = make(&*parent_upper, name)?;
        dir.invalidate_listing();
        // What a lookup would find now, without one: the new upper entry, with nothing of
        // the lower layers under it (the search above found nothing there, and no whiteout
        // hid anything).
        let top = made.metadata()?;
        let found = Hit {
            kind: top.kind,
            upper: Some(made),
            top,
            lowers: Lowers::Dirs(self.no_lowers.clone()),
            name: None,
        };
        Ok(self.node_for(dir, name, found))
    }

    /// Makes `name` of `parent_upper`, where the upper layer holds a whiteout for it, with
    /// `make(directory, name)`; a new directory is made opaque. Staged in the work directory
    /// and moved into place, or (an upper filesystem that cannot rename) made in place.
    fn make_over_whiteout(
        &self,
        upper: &UpperLayer,
        parent_upper: &Arc<dyn Inode>,
        name: &str,
        kind: FileType,
        make: impl Fn(&dyn Inode, &str) -> Result<Arc<dyn Inode>>,
    ) -> Result<()> {
        if !upper.renames {
            return make_over_whiteout_in_place(upper, parent_upper, name, kind, make);
        }
        let temp = self.temp_name();
        let staged = make(&*upper.work_dir, &temp)?;
        let result = (|| {
            if kind.is_dir() {
                upper.encoding.set_opaque(&*staged)?;
            }
            self.replace_whiteout(upper, parent_upper, name, &temp)
        })();
        if let Err(errno) = result {
            remove_staged(upper, &temp);
            return Err(errno);
        }
        Ok(())
    }

    /// Moves the staged entry `temp` of the work directory to `name` of `parent_upper`, where a
    /// whiteout is now.
    fn replace_whiteout(
        &self,
        upper: &UpperLayer,
        parent_upper: &Arc<dyn Inode>,
        name: &str,
        temp: &str,
    ) -> Result<()> {
        match upper.encoding {
            WhiteoutEncoding::Linux => {
                // The whiteout holds the name: move it aside, then put the new entry there.
                let aside = self.temp_name();
                parent_upper.rename(name, &*upper.work_dir, &aside, RenameFlags::NOREPLACE)?;
                if let Err(errno) =
                    upper
                        .work_dir
                        .rename(temp, &**parent_upper, name, RenameFlags::NOREPLACE)
                {
                    let _ = upper.work_dir.rename(
                        &aside,
                        &**parent_upper,
                        name,
                        RenameFlags::NOREPLACE,
                    );
                    return Err(errno);
                }
                let _ = upper.work_dir.unlink(&aside);
                Ok(())
            }
            WhiteoutEncoding::Oci => {
                // The whiteout is a marker beside the name: place the entry, then drop the
                // marker (while both exist, the entry of the same layer wins).
                upper
                    .work_dir
                    .rename(temp, &**parent_upper, name, RenameFlags::NOREPLACE)?;
                upper.encoding.remove_whiteout(&**parent_upper, name)
            }
        }
    }

    /// Adds `name` in `dir` as a hard link to `target`.
    pub(crate) fn link(
        &self,
        dir: &Arc<OverlayInode>,
        name: &str,
        target: &Arc<OverlayInode>,
    ) -> Result<()> {
        let upper = self.writable()?;
        if target.kind().is_dir() {
            return Err(Errno::EPERM);
        }
        check_new_name(upper, name)?;
        let replaces_whiteout = match self.resolve(dir, name)? {
            super::lookup::Lookup::Found(_) => return Err(Errno::EEXIST),
            super::lookup::Lookup::Missing { upper_whiteout } => upper_whiteout,
        };
        let (_, _, unlinked) = target.position();
        if unlinked && target.metadata()?.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        let parent_upper = self.copy_up(dir, false)?;
        let target_upper = self.copy_up(target, true)?;
        if replaces_whiteout {
            self.make_over_whiteout(upper, &parent_upper, name, target.kind(), |dir, name| {
                dir.link(name, &*target_upper)?;
                dir.lookup(name)
            })?;
        } else {
            parent_upper.link(name, &*target_upper)?;
        }
        dir.invalidate_listing();
        Ok(())
    }

    /// Removes `name` from `dir`: a directory if `want_dir`, else anything but a directory.
    /// `cached` is the node the dentry cache held for the name, if it was still valid.
    pub(crate) fn remove(
        &self,
        dir: &Arc<OverlayInode>,
        name: &str,
        want_dir: bool,
        cached: Option<Arc<OverlayInode>>,
    ) -> Result<()> {
        let upper = self.writable()?;
        let (child, in_upper, lower_nlink) = match cached.filter(|node| node.upper().is_none()) {
            // A valid cached node is what a lookup would find now (see `dentries`), and one
            // with no upper entry was found in the lower layers alone: no layer need be asked
            // again (the common case: a name looked up just before it is removed).
            Some(child) => {
                let lower_nlink = child.lower_nlink();
                (child, false, lower_nlink)
            }
            None => {
                let found = match self.resolve(dir, name)? {
                    super::lookup::Lookup::Found(found) => found,
                    super::lookup::Lookup::Missing { .. } => return Err(Errno::ENOENT),
                };
                let lower_nlink = found.lowers.first().map(|_| found.top.nlink);
                let in_upper = found.upper.is_some();
                (self.node_for(dir, name, found), in_upper, lower_nlink)
            }
        };
        match (want_dir, child.kind().is_dir()) {
            (true, false) => return Err(Errno::ENOTDIR),
            (false, true) => return Err(Errno::EISDIR),
            _ => {}
        }
        // An entry of the lower layers alone was found under this name in them.
        let lower_only = !in_upper && lower_nlink.is_some();
        if want_dir && !self.is_empty_dir(&child)? {
            return Err(Errno::ENOTEMPTY);
        }
        let parent_upper = self.copy_up(dir, false)?;
        let lower_has_name = lower_only || self.lookup_lower(&dir.lowers(), name, false)?.is_some();
        let removed_upper = if in_upper { child.upper() } else { None };

        if lower_has_name {
            self.whiteout(upper, &parent_upper, name, in_upper, want_dir)?;
            if !in_upper && !want_dir {
                // One more lower name of this file is covered by the upper layer.
                if let Some(nlink) = lower_nlink.filter(|&nlink| nlink > 1) {
                    self.cover(&mut self.identities.lock(), child.key, nlink, None);
                }
            }
        } else if want_dir {
            remove_upper_dir(upper, &parent_upper, name, self)?;
        } else {
            parent_upper.unlink(name)?;
        }

        if let Some(removed) = removed_upper {
            if let Ok(meta) = removed.metadata() {
                if meta.nlink == 0 || want_dir {
                    self.identities.lock().forget_upper(meta.ino);
                }
            }
        }
        if !want_dir {
            self.drop_index_if_unused(upper, &child);
        }
        child.mark_unlinked();
        dir.invalidate_listing();
        Ok(())
    }

    /// Removes the index link of `node`'s hard-link group once no name of the group is left
    /// in the union, so the copy's space goes back to the upper layer.
    fn drop_index_if_unused(&self, upper: &UpperLayer, node: &OverlayInode) {
        let Some(copy) = node.upper() else { return };
        let Ok(meta) = copy.metadata() else { return };
        let unused = self
            .identities
            .lock()
            .group(node.key)
            .is_some_and(|group| group.indexed && group.nlink(Some(meta.nlink)) == 0);
        // The upper layer is called with the identity table unlocked (the lock order in
        // `overlay`'s docs); the exclusive namespace lock keeps the group as it was.
        if let (true, Key::Lower { layer, ino }) = (unused, node.key) {
            if upper.work_dir.unlink(&index_name(layer, ino)).is_ok() {
                self.identities.lock().set_indexed(node.key, false);
            }
        }
    }

    /// Puts a whiteout at `name` of `parent_upper`, removing what the upper layer holds there
    /// (`in_upper`) first. The upper entry, if a directory, is empty but for whiteouts.
    pub(crate) fn whiteout(
        &self,
        upper: &UpperLayer,
        parent_upper: &Arc<dyn Inode>,
        name: &str,
        in_upper: bool,
        is_dir: bool,
    ) -> Result<()> {
        match upper.encoding {
            WhiteoutEncoding::Linux if !upper.renames => {
                // The entry holds the name the whiteout needs: remove it first. If the
                // whiteout then cannot be made, the lower entry shows again (not atomic).
                if in_upper {
                    remove_in_place(&**parent_upper, name, is_dir)?;
                }
                upper.encoding.create_whiteout(&**parent_upper, name)
            }
            WhiteoutEncoding::Linux if !in_upper => {
                // Nothing holds the name in the upper layer: making the whiteout there is one
                // step, as atomic as renaming a staged one into place would be.
                upper.encoding.create_whiteout(&**parent_upper, name)
            }
            WhiteoutEncoding::Linux => {
                // Stage the whiteout first: if that fails, nothing has changed.
                let temp = self.temp_name();
                upper.work_dir.create(&temp, &whiteout_device())?;
                let aside = self.temp_name();
                if in_upper {
                    if let Err(errno) =
                        parent_upper.rename(name, &*upper.work_dir, &aside, RenameFlags::NOREPLACE)
                    {
                        let _ = upper.work_dir.unlink(&temp);
                        return Err(errno);
                    }
                }
                if let Err(errno) =
                    upper
                        .work_dir
                        .rename(&temp, &**parent_upper, name, RenameFlags::NOREPLACE)
                {
                    if in_upper {
                        let _ = upper.work_dir.rename(
                            &aside,
                            &**parent_upper,
                            name,
                            RenameFlags::NOREPLACE,
                        );
                    }
                    let _ = upper.work_dir.unlink(&temp);
                    return Err(errno);
                }
                if in_upper {
                    remove_staged_kind(upper, &aside, is_dir);
                }
                Ok(())
            }
            WhiteoutEncoding::Oci => {
                upper
                    .encoding
                    .create_whiteout(&**parent_upper, name)
                    .or_else(|errno| {
                        if errno == Errno::EEXIST {
                            Ok(())
                        } else {
                            Err(errno)
                        }
                    })?;
                if in_upper {
                    if is_dir {
                        remove_upper_dir(upper, parent_upper, name, self)?;
                    } else {
                        parent_upper.unlink(name)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether the union directory `dir` shows no entries.
    pub(crate) fn is_empty_dir(&self, dir: &OverlayInode) -> Result<bool> {
        Ok(self.list_batch(dir, 0, 1)?.is_empty())
    }
}

/// Makes `name` over the whiteout for it in `parent_upper` without a rename: the entry is
/// made under its real name (after removing a Linux whiteout, which holds that name), then
/// made opaque and freed of a name-based whiteout. On failure the entry goes and the whiteout
/// comes back, as far as the upper filesystem lets it.
fn make_over_whiteout_in_place(
    upper: &UpperLayer,
    parent_upper: &Arc<dyn Inode>,
    name: &str,
    kind: FileType,
    make: impl Fn(&dyn Inode, &str) -> Result<Arc<dyn Inode>>,
) -> Result<()> {
    let encoding = upper.encoding;
    if encoding == WhiteoutEncoding::Linux {
        parent_upper.unlink(name)?;
    }
    let made = match make(&**parent_upper, name) {
        Ok(made) => made,
        Err(errno) => {
            if encoding == WhiteoutEncoding::Linux {
                let _ = encoding.create_whiteout(&**parent_upper, name);
            }
            return Err(errno);
        }
    };
    let finished = (|| {
        if kind.is_dir() {
            encoding.set_opaque(&*made)?;
        }
        match encoding {
            WhiteoutEncoding::Oci => encoding.remove_whiteout(&**parent_upper, name),
            WhiteoutEncoding::Linux => Ok(()),
        }
    })();
    if let Err(errno) = finished {
        let _ = remove_in_place(&**parent_upper, name, kind.is_dir());
        if encoding == WhiteoutEncoding::Linux {
            let _ = encoding.create_whiteout(&**parent_upper, name);
        }
        return Err(errno);
    }
    Ok(())
}

/// Removes `name` of the upper directory `dir` where it is, with whatever a directory still
/// holds (only whiteouts and markers, or it would not be removed through the union).
fn remove_in_place(dir: &dyn Inode, name: &str, is_dir: bool) -> Result<()> {
    if is_dir {
        clear_dir(&*dir.lookup(name)?)?;
        dir.rmdir(name)
    } else {
        dir.unlink(name)
    }
}

/// Removes the upper directory `name` of `parent_upper`, which holds nothing but whiteouts and
/// markers: it is moved to the work directory first, so the name goes in one step (or, on an
/// upper filesystem that cannot rename, emptied and removed where it is).
fn remove_upper_dir(
    upper: &UpperLayer,
    parent_upper: &Arc<dyn Inode>,
    name: &str,
    fs: &Union,
) -> Result<()> {
    if !upper.renames {
        return remove_in_place(&**parent_upper, name, true);
    }
    let aside = fs.temp_name();
    parent_upper.rename(name, &*upper.work_dir, &aside, RenameFlags::NOREPLACE)?;
    remove_staged_kind(upper, &aside, true);
    Ok(())
}

/// Removes a staged entry of the work directory of unknown kind.
fn remove_staged(upper: &UpperLayer, temp: &str) {
    let is_dir = upper
        .work_dir
        .lookup(temp)
        .and_then(|e| e.metadata())
        .is_ok_and(|m| m.kind.is_dir());
    remove_staged_kind(upper, temp, is_dir);
}

/// Removes `temp` from the work directory, with whatever a directory still holds. Errors are
/// ignored: the work directory is cleared when the upper layer is next mounted.
fn remove_staged_kind(upper: &UpperLayer, temp: &str, is_dir: bool) {
    if is_dir {
        if let Ok(dir) = upper.work_dir.lookup(temp) {
            let _ = clear_dir(&*dir);
        }
        let _ = upper.work_dir.rmdir(temp);
    } else {
        let _ = upper.work_dir.unlink(temp);
    }
}
