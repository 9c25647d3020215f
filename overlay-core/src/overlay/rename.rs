//! Rename through the union.
//!
//! A non-directory from a lower layer is copied up and renamed in the upper layer, and a
//! whiteout is left at the old name when a lower layer still has it. A directory that has
//! lower contents cannot be moved (`EXDEV`), as in Linux without `redirect_dir`: callers such
//! as `mv` then copy it instead. With the `redirect_dir` option it is copied up and moved, and
//! records where its lower contents are (an absolute path in the lower layers). Any other
//! directory moved onto a name that lower layers hold is made opaque, so their contents do not
//! show through it. On an upper filesystem that cannot rename (no [`FsFeatures::RENAME`]),
//! every rename through the union is `EXDEV`, after the checks that would fail anyway.

use alloc::sync::Arc;

use super::lookup::{lower_path, Lookup};
use super::node::OverlayInode;
use super::whiteout::REDIRECT_XATTR;
use super::{check_new_name, Union};
use crate::error::{Errno, Result};
use crate::vfs::{FsFeatures, Inode, RenameFlags, XattrFlags};

impl Union {
    /// Moves `old_name` of `old_dir` to `new_name` of `new_dir`, as [`Inode::rename`] says.
    pub(crate) fn rename(
        &self,
        old_dir: &Arc<OverlayInode>,
        old_name: &str,
        new_dir: &Arc<OverlayInode>,
        new_name: &str,
        flags: RenameFlags,
    ) -> Result<()> {
        let upper = self.writable()?;
        if !(RenameFlags::NOREPLACE | RenameFlags::EXCHANGE).contains(flags)
            || flags.contains(RenameFlags::NOREPLACE | RenameFlags::EXCHANGE)
        {
            return Err(Errno::EINVAL);
        }
        let exchange = flags.contains(RenameFlags::EXCHANGE);
        let source = match self.resolve(old_dir, old_name)? {
            Lookup::Found(found) => found,
            Lookup::Missing { .. } => return Err(Errno::ENOENT),
        };
        check_new_name(upper, new_name)?;
        let (target, target_whiteout) = match self.resolve(new_dir, new_name)? {
            Lookup::Found(found) => (Some(found), false),
            Lookup::Missing { upper_whiteout } => (None, upper_whiteout),
        };
        let source_node = self.node_for(old_dir, old_name, source);
        let target_node = target.map(|found| self.node_for(new_dir, new_name, found));

        if let Some(target_node) = &target_node {
            // Two names of one entry: POSIX says rename does nothing.
            if Arc::ptr_eq(&source_node, target_node) {
                return Ok(());
            }
            if flags.contains(RenameFlags::NOREPLACE) {
                return Err(Errno::EEXIST);
            }
        } else if exchange {
            return Err(Errno::ENOENT);
        }
        if let (true, Some(target_node)) = (exchange, &target_node) {
            return self.exchange(
                old_dir,
                old_name,
                &source_node,
                new_dir,
                new_name,
                target_node,
            );
        }

        let source_is_dir = source_node.kind().is_dir();
        // A directory with lower contents can only move by recording where they are.
        let redirect = source_is_dir && !source_node.lowers().is_empty();
        if source_is_dir {
            if redirect && !self.can_redirect() {
                return Err(Errno::EXDEV);
            }
            if is_within(new_dir, &source_node) {
                return Err(Errno::EINVAL);
            }
        }
        if let Some(target_node) = &target_node {
            match (source_is_dir, target_node.kind().is_dir()) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !self.is_empty_dir(target_node)? => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
        }
        // Every rename through the union ends in a rename in the upper layer.
        if !upper.renames {
            return Err(Errno::EXDEV);
        }

        let old_upper_dir = self.copy_up(old_dir, false)?;
        let new_upper_dir = self.copy_up(new_dir, false)?;
        let source_upper = self.copy_up_name(&old_upper_dir, old_name, &source_node)?;
        if redirect {
            let path = lower_path(&source_node)?;
            source_upper.set_xattr(REDIRECT_XATTR, path.as_bytes(), XattrFlags::empty())?;
        }
        let old_lower_has = self
            .lookup_lower(&old_dir.lowers(), old_name, false)?
            .is_some();
        let new_lower_has = self
            .lookup_lower(&new_dir.lowers(), new_name, false)?
            .is_some();
        let target_in_upper = target_node.as_ref().and_then(|node| node.upper()).is_some()
            && new_upper_dir.lookup(new_name).is_ok()
            && !target_whiteout;

        // Clear the way at the new name: a whiteout or an (empty) upper directory there would
        // stop the rename; a non-directory is simply replaced by it.
        if target_whiteout || (target_in_upper && source_is_dir) {
            self.whiteout_free(upper, &new_upper_dir, new_name, target_whiteout)?;
        }
        // Where the old name still has a lower entry it needs a whiteout. Like Linux, let the
        // upper filesystem leave it in the same step when it can (`RENAME_WHITEOUT` makes the
        // whiteout's inode before anything moves); otherwise it is made right after, and the
        // move is undone if that fails, so a failed call changes nothing (difftest finding 5).
        let atomic_whiteout = old_lower_has
            && upper.encoding == super::WhiteoutEncoding::Linux
            && upper.fs.features().contains(FsFeatures::RENAME_WHITEOUT);
        let move_flags = if atomic_whiteout {
            RenameFlags::WHITEOUT
        } else {
            RenameFlags::empty()
        };
        if let Err(errno) = old_upper_dir.rename(old_name, &*new_upper_dir, new_name, move_flags) {
            if target_whiteout {
                let _ = upper.encoding.create_whiteout(&*new_upper_dir, new_name);
            }
            return Err(errno);
        }
        if old_lower_has && !atomic_whiteout {
            if let Err(errno) = self.whiteout(upper, &old_upper_dir, old_name, false, false) {
                let _ = new_upper_dir.rename(
                    new_name,
                    &*old_upper_dir,
                    old_name,
                    RenameFlags::NOREPLACE,
                );
                return Err(errno);
            }
        }
        // A redirected directory finds its lower contents through the redirect, not its new
        // name; any other directory must not merge with what lower layers hold there.
        if source_is_dir && new_lower_has && !redirect {
            upper.encoding.set_opaque(&*source_upper)?;
        }
        if upper.encoding == super::WhiteoutEncoding::Oci && new_lower_has {
            // A name-based whiteout for the new name would now only hide lower entries,
            // which the new entry hides anyway; drop it so the layer stays tidy.
            upper.encoding.remove_whiteout(&*new_upper_dir, new_name)?;
        }

        if let Some(target_node) = &target_node {
            // A name of a lower hard-link group whose data was copied up through another name
            // has the group's upper inode without being in the upper directory: replacing it
            // covers one more lower name (difftest seed 1912055), as removing it does.
            let replaced_upper = target_node.upper().filter(|_| target_in_upper);
            if let Some(replaced) = replaced_upper {
                if let Ok(meta) = replaced.metadata() {
                    if meta.nlink == 0 {
                        self.identities.lock().forget_upper(meta.ino);
                    }
                }
            } else if let Some(lower) = target_node.lowers().first() {
                let lower_nlink = lower.inode.metadata()?.nlink;
                if lower_nlink > 1 {
                    let mut identities = self.identities.lock();
                    self.cover(&mut identities, target_node.key, lower_nlink, None);
                }
            }
            target_node.mark_unlinked();
        }
        source_node.moved(new_dir.clone(), new_name);
        old_dir.invalidate_listing();
        new_dir.invalidate_listing();
        Ok(())
    }

    /// Whether directories with lower contents may be renamed (see
    /// [`super::OverlayOptions::redirect_dir`]).
    fn can_redirect(&self) -> bool {
        self.options.redirect_dir
            && self.upper.as_ref().is_some_and(|upper| {
                upper.encoding == super::WhiteoutEncoding::Linux
                    && upper.fs.features().contains(FsFeatures::XATTRS)
            })
    }

    /// Swaps two existing entries (`RENAME_EXCHANGE`). Both names stay occupied, so no
    /// whiteout is needed; a directory that lands on a name lower layers hold is made opaque.
    fn exchange(
        &self,
        old_dir: &Arc<OverlayInode>,
        old_name: &str,
        source: &Arc<OverlayInode>,
        new_dir: &Arc<OverlayInode>,
        new_name: &str,
        target: &Arc<OverlayInode>,
    ) -> Result<()> {
        let upper = self.writable()?;
        for node in [source, target] {
            if node.kind().is_dir() && !node.lowers().is_empty() {
                return Err(Errno::EXDEV);
            }
        }
        if (source.kind().is_dir() && is_within(new_dir, source))
            || (target.kind().is_dir() && is_within(old_dir, target))
        {
            return Err(Errno::EINVAL);
        }
        if !upper.renames {
            return Err(Errno::EXDEV);
        }
        let old_upper_dir = self.copy_up(old_dir, false)?;
        let new_upper_dir = self.copy_up(new_dir, false)?;
        let source_upper = self.copy_up_name(&old_upper_dir, old_name, source)?;
        let target_upper = self.copy_up_name(&new_upper_dir, new_name, target)?;
        old_upper_dir.rename(old_name, &*new_upper_dir, new_name, RenameFlags::EXCHANGE)?;
        if source.kind().is_dir()
            && self
                .lookup_lower(&new_dir.lowers(), new_name, false)?
                .is_some()
        {
            upper.encoding.set_opaque(&*source_upper)?;
        }
        if target.kind().is_dir()
            && self
                .lookup_lower(&old_dir.lowers(), old_name, false)?
                .is_some()
        {
            upper.encoding.set_opaque(&*target_upper)?;
        }
        source.moved(new_dir.clone(), new_name);
        target.moved(old_dir.clone(), old_name);
        old_dir.invalidate_listing();
        new_dir.invalidate_listing();
        Ok(())
    }

    /// Removes what stands at `name` of the upper directory `dir` so a rename can take the
    /// name: the whiteout (`is_whiteout`) or the empty upper directory there.
    fn whiteout_free(
        &self,
        upper: &super::UpperLayer,
        dir: &Arc<dyn Inode>,
        name: &str,
        is_whiteout: bool,
    ) -> Result<()> {
        if is_whiteout {
            return upper.encoding.remove_whiteout(&**dir, name);
        }
        let aside = self.temp_name();
        dir.rename(name, &*upper.work_dir, &aside, RenameFlags::NOREPLACE)?;
        if let Ok(staged) = upper.work_dir.lookup(&aside) {
            let _ = super::clear_dir(&*staged);
        }
        let _ = upper.work_dir.rmdir(&aside);
        Ok(())
    }
}

/// Whether `dir` is `ancestor` or lies below it.
fn is_within(dir: &Arc<OverlayInode>, ancestor: &Arc<OverlayInode>) -> bool {
    let mut current = Some(dir.clone());
    while let Some(node) = current {
        if Arc::ptr_eq(&node, ancestor) {
            return true;
        }
        current = node.position().0;
    }
    false
}
