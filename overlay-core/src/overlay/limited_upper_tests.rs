//! The scenarios over upper layers that lack what Linux requires of one: rename and stored
//! metadata (and, for the second setup, xattrs and device nodes too, so whiteouts are `.wh.`
//! names). The upper is a tmpfs behind a wrapper that refuses those operations.

use alloc::{string::String, sync::Arc, vec::Vec};
use core::any::Any;

use crate::error::{Errno, Result};
use crate::scenarios::fixture::{scenario_tests, Setup};
use crate::tmpfs::{TmpFs, TmpFsOptions};
use crate::vfs::{
    DirEntry, FileSystem, FileType, FsFeatures, Inode, Metadata, NewNode, RenameFlags, SetAttr,
    StatFs, XattrFlags,
};

/// A tmpfs that can do only what `features` says.
struct LimitedFs {
    inner: Arc<TmpFs>,
    features: FsFeatures,
}

struct LimitedInode {
    inner: Arc<dyn Inode>,
    features: FsFeatures,
}

/// A tmpfs upper (of `capacity_bytes`, if given) that cannot do what `without` names.
fn limited(capacity_bytes: Option<u64>, without: FsFeatures) -> Arc<dyn FileSystem> {
    let inner = TmpFs::new(TmpFsOptions {
        capacity_bytes,
        ..TmpFsOptions::default()
    });
    let features = inner.features() - without;
    Arc::new(LimitedFs { inner, features })
}

impl FileSystem for LimitedFs {
    fn root(&self) -> Arc<dyn Inode> {
        self.wrap(self.inner.root())
    }

    fn statfs(&self) -> Result<StatFs> {
        self.inner.statfs()
    }

    fn features(&self) -> FsFeatures {
        self.features
    }
}

impl LimitedFs {
    fn wrap(&self, inner: Arc<dyn Inode>) -> Arc<dyn Inode> {
        Arc::new(LimitedInode {
            inner,
            features: self.features,
        })
    }
}

impl LimitedInode {
    fn wrap(&self, inner: Arc<dyn Inode>) -> Arc<dyn Inode> {
        Arc::new(LimitedInode {
            inner,
            features: self.features,
        })
    }

    fn xattrs(&self) -> Result<()> {
        if self.features.contains(FsFeatures::XATTRS) {
            Ok(())
        } else {
            Err(Errno::ENOTSUP)
        }
    }
}

impl Inode for LimitedInode {
    fn metadata(&self) -> Result<Metadata> {
        self.inner.metadata()
    }

    fn set_attr(&self, attr: &SetAttr) -> Result<()> {
        if !self.features.contains(FsFeatures::SET_ATTR) {
            return Err(Errno::EPERM);
        }
        self.inner.set_attr(attr)
    }

    fn lookup(&self, name: &str) -> Result<Arc<dyn Inode>> {
        Ok(self.wrap(self.inner.lookup(name)?))
    }

    fn create(&self, name: &str, node: &NewNode) -> Result<Arc<dyn Inode>> {
        let plain = matches!(node.kind, FileType::Regular | FileType::Directory);
        if !plain && !self.features.contains(FsFeatures::DEVICE_NODES) {
            return Err(Errno::EPERM);
        }
        Ok(self.wrap(self.inner.create(name, node)?))
    }

    fn symlink(&self, name: &str, target: &str, uid: u32, gid: u32) -> Result<Arc<dyn Inode>> {
        Ok(self.wrap(self.inner.symlink(name, target, uid, gid)?))
    }

    fn link(&self, name: &str, target: &dyn Inode) -> Result<()> {
        match target.as_any().downcast_ref::<LimitedInode>() {
            Some(target) => self.inner.link(name, &*target.inner),
            None => Err(Errno::EXDEV),
        }
    }

    fn unlink(&self, name: &str) -> Result<()> {
        self.inner.unlink(name)
    }

    fn rmdir(&self, name: &str) -> Result<()> {
        self.inner.rmdir(name)
    }

    fn rename(&self, _: &str, _: &dyn Inode, _: &str, _: RenameFlags) -> Result<()> {
        Err(Errno::EXDEV)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.inner.read_at(offset, buf)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize> {
        self.inner.write_at(offset, buf)
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.inner.set_len(len)
    }

    fn readdir(&self, cookie: u64, sink: &mut dyn FnMut(DirEntry<'_>) -> bool) -> Result<()> {
        self.inner.readdir(cookie, sink)
    }

    fn readlink(&self) -> Result<String> {
        self.inner.readlink()
    }

    fn get_xattr(&self, name: &str) -> Result<Vec<u8>> {
        self.xattrs()?;
        self.inner.get_xattr(name)
    }

    fn set_xattr(&self, name: &str, value: &[u8], flags: XattrFlags) -> Result<()> {
        self.xattrs()?;
        self.inner.set_xattr(name, value, flags)
    }

    fn list_xattr(&self) -> Result<Vec<String>> {
        self.xattrs()?;
        self.inner.list_xattr()
    }

    fn remove_xattr(&self, name: &str) -> Result<()> {
        self.xattrs()?;
        self.inner.remove_xattr(name)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

const NO_RENAME: FsFeatures = FsFeatures::RENAME
    .union(FsFeatures::RENAME_WHITEOUT)
    .union(FsFeatures::SET_ATTR);

fn upper_without_rename(capacity_bytes: Option<u64>) -> Arc<dyn FileSystem> {
    limited(capacity_bytes, NO_RENAME)
}

fn upper_with_names_only(capacity_bytes: Option<u64>) -> Arc<dyn FileSystem> {
    let without = NO_RENAME
        .union(FsFeatures::XATTRS)
        .union(FsFeatures::DEVICE_NODES);
    limited(capacity_bytes, without)
}

#[test]
fn set_attr_without_stored_metadata_is_eperm_and_copies_nothing() {
    let upper = upper_without_rename(None);
    let lower = crate::scenarios::fixture::build_layer(&["d etc", "f etc/config x"]).unwrap();
    let union = super::OverlayFs::new(
        alloc::vec![super::Layer::new(lower)],
        Some(super::UpperLayer::new(upper).unwrap()),
        super::OverlayOptions::default(),
    )
    .unwrap();
    assert!(!union.upper().unwrap().is_atomic());
    assert!(!union
        .features()
        .contains(FsFeatures::RENAME | FsFeatures::SET_ATTR));
    let config = union
        .root()
        .lookup("etc")
        .unwrap()
        .lookup("config")
        .unwrap();
    let chmod = SetAttr {
        mode: Some(0o600),
        ..SetAttr::default()
    };
    assert_eq!(config.set_attr(&chmod), Err(Errno::EPERM));
    let upper_dir = union.upper().unwrap().upper_dir().clone();
    assert_eq!(upper_dir.lookup("etc").err(), Some(Errno::ENOENT));
}

#[test]
fn removed_hard_linked_file_copies_up_without_rename() {
    // An open handle to a lower file with two names, whose name is then removed: its first
    // write copies it to the work directory (under its index name, since the upper cannot
    // rename it there), and the group's other name keeps the lower data.
    let lower = crate::scenarios::fixture::build_layer(&["f a shared", "h b a"]).unwrap();
    let union = super::OverlayFs::new(
        alloc::vec![super::Layer::new(lower)],
        Some(super::UpperLayer::new(upper_without_rename(None)).unwrap()),
        super::OverlayOptions::default(),
    )
    .unwrap();
    let root = union.root();
    let a = root.lookup("a").unwrap();
    root.unlink("a").unwrap();
    assert_eq!(a.write_at(0, b"S"), Ok(1));
    let mut buf = [0u8; 6];
    assert_eq!(a.read_at(0, &mut buf), Ok(6));
    assert_eq!(&buf, b"Shared");
    assert_eq!(root.lookup("b").unwrap().read_at(0, &mut buf), Ok(6));
}

#[test]
fn name_based_upper_hides_and_refuses_whiteout_names() {
    let upper = upper_with_names_only(None);
    let lower = crate::scenarios::fixture::build_layer(&[
        "d etc",
        "f etc/a a",
        "f etc/b b",
        "f etc/.wh.b not a whiteout in a tmpfs layer",
    ])
    .unwrap();
    let union = super::OverlayFs::new(
        alloc::vec![super::Layer::new(lower)],
        Some(super::UpperLayer::new(upper).unwrap()),
        super::OverlayOptions::default(),
    )
    .unwrap();
    assert_eq!(
        union.upper().unwrap().encoding(),
        super::WhiteoutEncoding::Oci
    );
    let etc = union.root().lookup("etc").unwrap();
    etc.unlink("a").unwrap();
    let file = NewNode::new(FileType::Regular, 0o644, 0, 0);
    assert_eq!(etc.create(".wh.c", &file).err(), Some(Errno::EINVAL));
    assert_eq!(etc.create(".wh..wh..opq", &file).err(), Some(Errno::EINVAL));
    assert_eq!(etc.lookup(".wh.a").err(), Some(Errno::ENOENT));
    let mut names = Vec::new();
    etc.readdir(0, &mut |entry| {
        names.push(String::from(entry.name));
        true
    })
    .unwrap();
    names.sort();
    assert_eq!(names, [".wh.b", "b"]);
    // The lower's `.wh.b` is an ordinary file there, but it cannot be copied up: in the upper
    // it would delete `b`.
    let not_whiteout = etc.lookup(".wh.b").unwrap();
    assert_eq!(not_whiteout.write_at(0, b"x"), Err(Errno::EINVAL));
    assert!(etc.lookup("b").is_ok());
    let upper_etc = union.upper().unwrap().upper_dir().lookup("etc").unwrap();
    assert!(upper_etc.lookup(".wh.a").is_ok(), "the whiteout is a name");
}

/// Linux whiteouts (the upper has device nodes and xattrs), but no rename or `set_attr`.
mod without_rename {
    use super::*;

    const SETUP: Setup = Setup {
        upper: upper_without_rename,
        ..Setup::TMPFS
    };

    scenario_tests! { SETUP;
        read_lower_file: ran,
        write_lower_file_copies_up: ran,
        append_to_lower_file: ran,
        open_read_only_truncate_copies_up: ran,
        exclusive_create_of_lower_file_is_eexist: ran,
        exclusive_create_of_missing_name: ran,
        open_lower_dir_for_write_is_eisdir: ran,
        write_through_symlink_changes_target: ran,
        readlink_of_non_symlink_is_einval: ran,
        truncate_lower_file_to_every_size: ran,
        unlink_lower_file_leaves_whiteout: ran,
        unlink_symlink_and_directory: ran,
        rmdir_populated_lower_dir: ran,
        rmdir_file_or_missing: ran,
        recreated_dir_is_opaque: ran,
        remove_every_file_type: ran,
        remove_dir_with_whiteout_in_lower: ran,
        mknod_whiteout_device_is_eperm: ran,
        mkdir_over_existing_is_eexist: ran,
        link_lower_file: ran,
        rename_lower_file_and_back: skipped "rename: the upper cannot rename, so rename through the union is EXDEV",
        rename_lower_dir_is_exdev: ran,
        rename_new_dir_over_lower_dir: skipped "rename: the upper cannot rename, so rename through the union is EXDEV",
        non_root_write_open_is_eacces: ran,
        inode_number_is_stable: skipped "rename: the upper cannot rename, so rename through the union is EXDEV",
        no_upper_is_read_only: ran,
        overlay_xattrs_are_not_markers: ran,
        enospc_during_copy_up: ran,
        deep_trees_use_bounded_stack: ran,
    }
}

/// Name-based whiteouts, no rename, no `set_attr`: what an ArceOS ramfs upper offers, plus
/// symlinks and hard links.
mod names_only {
    use super::*;

    const SETUP: Setup = Setup {
        upper: upper_with_names_only,
        ..Setup::TMPFS
    };

    scenario_tests! { SETUP;
        read_lower_file: ran,
        write_lower_file_copies_up: ran,
        append_to_lower_file: ran,
        open_read_only_truncate_copies_up: ran,
        exclusive_create_of_lower_file_is_eexist: ran,
        exclusive_create_of_missing_name: ran,
        open_lower_dir_for_write_is_eisdir: ran,
        write_through_symlink_changes_target: ran,
        readlink_of_non_symlink_is_einval: ran,
        truncate_lower_file_to_every_size: ran,
        unlink_lower_file_leaves_whiteout: ran,
        unlink_symlink_and_directory: ran,
        rmdir_populated_lower_dir: ran,
        rmdir_file_or_missing: ran,
        recreated_dir_is_opaque: ran,
        remove_every_file_type: ran,
        remove_dir_with_whiteout_in_lower: ran,
        mknod_whiteout_device_is_eperm: ran,
        mkdir_over_existing_is_eexist: ran,
        link_lower_file: ran,
        rename_lower_file_and_back: skipped "rename: the upper cannot rename, so rename through the union is EXDEV",
        rename_lower_dir_is_exdev: ran,
        rename_new_dir_over_lower_dir: skipped "rename: the upper cannot rename, so rename through the union is EXDEV",
        non_root_write_open_is_eacces: ran,
        inode_number_is_stable: skipped "rename: the upper cannot rename, so rename through the union is EXDEV",
        no_upper_is_read_only: ran,
        overlay_xattrs_are_not_markers: skipped "xattrs: the upper has none, so setxattr through the union is ENOTSUP",
        enospc_during_copy_up: ran,
        deep_trees_use_bounded_stack: ran,
    }
}
