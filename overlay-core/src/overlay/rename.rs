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
use super::{check_new_name, Union, UpperLayer, WhiteoutEncoding};
use crate::error::{Errno, Result};
use crate::vfs::{FsFeatures, Inode, RenameFlags, XattrFlags};

/// A rename of one entry onto a name that is free or holds another entry, once the names
/// are resolved: what each phase of [`Union::rename`] works on.
struct Move<'a> {
    old_dir: &'a Arc<OverlayInode>,
    old_name: &'a str,
    new_dir: &'a Arc<OverlayInode>,
    new_name: &'a str,
    source: Arc<OverlayInode>,
    /// The entry the new name holds, which the move replaces.
    target: Option<Arc<OverlayInode>>,
    /// Whether the upper layer holds a whiteout at the new name.
    target_whiteout: bool,
    /// The source is a directory with lower contents: it moves by recording where they are.
    redirect: bool,
}

/// The upper layer's side of a [`Move`], once both directories and the source are copied up.
struct UpperMove {
    old_dir: Arc<dyn Inode>,
    new_dir: Arc<dyn Inode>,
    source: Arc<dyn Inode>,
    /// Whether the lower layers hold the old name (it then needs a whiteout).
    old_lower_has: bool,
    /// Whether the lower layers hold the new name.
    new_lower_has: bool,
    /// Whether the entry the move replaces is in the upper directory itself.
    target_in_upper: bool,
}

impl Union {
    /// Moves `old_name` of `old_dir` to `new_name` of `new_dir`, as [`Inode::rename`] says:
    /// the names are resolved and checked, then the entries copied up, the upper entry moved
    /// (with a whiteout left behind where lower layers still show the old name), the layers
    /// tidied, and the nodes told.
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
        let source = self.node_for(old_dir, old_name, source);
        let target = target.map(|found| self.node_for(new_dir, new_name, found));

        if let Some(target) = &target {
            // Two names of one entry: POSIX says rename does nothing.
            if Arc::ptr_eq(&source, target) {
                return Ok(());
            }
            if flags.contains(RenameFlags::NOREPLACE) {
                return Err(Errno::EEXIST);
            }
            if exchange {
                return self.exchange(old_dir, old_name, &source, new_dir, new_name, target);
            }
        } else if exchange {
            return Err(Errno::ENOENT);
        }

        // A directory with lower contents can only move by recording where they are.
        let redirect = source.kind().is_dir() && !source.lowers().is_empty();
        let plan = Move {
            old_dir,
            old_name,
            new_dir,
            new_name,
            source,
            target,
            target_whiteout,
            redirect,
        };
        self.check_move(&plan)?;
        // Every rename through the union ends in a rename in the upper layer.
        if !upper.renames {
            return Err(Errno::EXDEV);
        }
        let staged = self.copy_up_move(&plan)?;
        self.move_upper(upper, &plan, &staged)?;
        self.tidy_after_move(upper, &plan, &staged)?;
        self.note_move(&plan, &staged)
    }

    /// The checks a move must pass before anything is copied up: a directory may not move
    /// into itself, nor with lower contents unless redirects are on; the kinds of the source
    /// and the entry it replaces must agree, and a replaced directory must be empty.
    fn check_move(&self, plan: &Move<'_>) -> Result<()> {
        let source_is_dir = plan.source.kind().is_dir();
        if source_is_dir {
            if plan.redirect && !self.can_redirect() {
                return Err(Errno::EXDEV);
            }
            if is_within(plan.new_dir, &plan.source) {
                return Err(Errno::EINVAL);
            }
        }
        if let Some(target) = &plan.target {
            match (source_is_dir, target.kind().is_dir()) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !self.is_empty_dir(target)? => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
        }
        Ok(())
    }

    /// Copies both directories and the source up (recording a redirected directory's lower
    /// path), and notes what the lower layers and the upper directory hold at both names.
    fn copy_up_move(&self, plan: &Move<'_>) -> Result<UpperMove> {
        let old_dir = self.copy_up(plan.old_dir, false)?;
        let new_dir = self.copy_up(plan.new_dir, false)?;
        let source = self.copy_up_name(&old_dir, plan.old_name, &plan.source)?;
        if plan.redirect {
            let path = lower_path(&plan.source)?;
            source.set_xattr(REDIRECT_XATTR, path.as_bytes(), XattrFlags::empty())?;
        }
        let old_lower_has = self
            .lookup_lower(&plan.old_dir.lowers(), plan.old_name, false)?
            .is_some();
        let new_lower_has = self
            .lookup_lower(&plan.new_dir.lowers(), plan.new_name, false)?
            .is_some();
        let target_in_upper = plan.target.as_ref().and_then(|node| node.upper()).is_some()
            && new_dir.lookup(plan.new_name).is_ok()
            && !plan.target_whiteout;
        Ok(UpperMove {
            old_dir,
            new_dir,
            source,
            old_lower_has,
            new_lower_has,
            target_in_upper,
        })
    }

    /// The move in the upper layer, with a whiteout left at the old name where lower layers
    /// still show it. A failed call changes nothing: what was done is undone.
    fn move_upper(&self, upper: &UpperLayer, plan: &Move<'_>, staged: &UpperMove) -> Result<()> {
        let (old_name, new_name) = (plan.old_name, plan.new_name);
        let source_is_dir = plan.source.kind().is_dir();
        // Clear the way at the new name: a whiteout or an (empty) upper directory there would
        // stop the rename; a non-directory is simply replaced by it.
        if plan.target_whiteout || (staged.target_in_upper && source_is_dir) {
            self.whiteout_free(upper, &staged.new_dir, new_name, plan.target_whiteout)?;
        }
        // Where the old name still has a lower entry it needs a whiteout. Like Linux, let the
        // upper filesystem leave it in the same step when it can (`RENAME_WHITEOUT` makes the
        // whiteout's inode before anything moves); otherwise it is made right after, and the
        // move is undone if that fails.
        let atomic_whiteout = staged.old_lower_has
            && upper.encoding == WhiteoutEncoding::Linux
            && upper.fs.features().contains(FsFeatures::RENAME_WHITEOUT);
        let move_flags = if atomic_whiteout {
            RenameFlags::WHITEOUT
        } else {
            RenameFlags::empty()
        };
        let moved = staged
            .old_dir
            .rename(old_name, &*staged.new_dir, new_name, move_flags);
        if let Err(errno) = moved {
            if plan.target_whiteout {
                let _ = upper.encoding.create_whiteout(&*staged.new_dir, new_name);
            }
            return Err(errno);
        }
        if staged.old_lower_has && !atomic_whiteout {
            if let Err(errno) = self.whiteout(upper, &staged.old_dir, old_name, false, false) {
                let _ = staged.new_dir.rename(
                    new_name,
                    &*staged.old_dir,
                    old_name,
                    RenameFlags::NOREPLACE,
                );
                return Err(errno);
            }
        }
        Ok(())
    }

    /// After the move: a directory that now stands over lower entries is made opaque (unless
    /// redirected, when it finds its own lower contents through the redirect), and a
    /// name-based whiteout the new entry makes useless is dropped.
    fn tidy_after_move(
        &self,
        upper: &UpperLayer,
        plan: &Move<'_>,
        staged: &UpperMove,
    ) -> Result<()> {
        if plan.source.kind().is_dir() && staged.new_lower_has && !plan.redirect {
            upper.encoding.set_opaque(&*staged.source)?;
        }
        if upper.encoding == WhiteoutEncoding::Oci && staged.new_lower_has {
            // A name-based whiteout for the new name would now only hide lower entries,
            // which the new entry hides anyway; drop it so the layer stays tidy.
            upper
                .encoding
                .remove_whiteout(&*staged.new_dir, plan.new_name)?;
        }
        Ok(())
    }

    /// Tells the nodes and the identity table what the move did: the replaced entry is
    /// unlinked (one more name of its hard-link group covered), the source sits at its new
    /// name, and both directories list afresh.
    fn note_move(&self, plan: &Move<'_>, staged: &UpperMove) -> Result<()> {
        if let Some(target) = &plan.target {
            // A name of a lower hard-link group whose data was copied up through another name
            // has the group's upper inode without being in the upper directory: replacing it
            // covers one more lower name, as removing it does.
            let replaced_upper = target.upper().filter(|_| staged.target_in_upper);
            if let Some(replaced) = replaced_upper {
                if let Ok(meta) = replaced.metadata() {
                    if meta.nlink == 0 {
                        self.identities.lock().forget_upper(meta.ino);
                    }
                }
            } else if let Some(lower) = target.lowers().first() {
                let lower_nlink = lower.inode.metadata()?.nlink;
                if lower_nlink > 1 {
                    let mut identities = self.identities.lock();
                    self.cover(&mut identities, target.key, lower_nlink, None);
                }
            }
            target.mark_unlinked();
        }
        plan.source.moved(plan.new_dir.clone(), plan.new_name);
        plan.old_dir.invalidate_listing();
        plan.new_dir.invalidate_listing();
        Ok(())
    }

    /// Whether directories with lower contents may be renamed (see
    /// [`super::OverlayOptions::redirect_dir`]).
    fn can_redirect(&self) -> bool {
        self.options.redirect_dir
            && self.upper.as_ref().is_some_and(|upper| {
                upper.encoding == WhiteoutEncoding::Linux
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
        upper: &UpperLayer,
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
