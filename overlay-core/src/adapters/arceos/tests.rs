//! The scenarios through the ArceOS adapters in both directions, and the adapters' own
//! contracts.

use alloc::{string::String, sync::Arc, vec, vec::Vec};
use core::any::Any;

use axfs_ramfs::RamFileSystem;
use axfs_vfs::{
    VfsDirEntry, VfsError, VfsNodeAttr, VfsNodeOps, VfsNodeRef, VfsNodeType, VfsOps, VfsResult,
};
use hashbrown::HashMap;
use spin::Mutex;

use super::*;
use crate::error::Errno;
use crate::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer, WhiteoutEncoding};
use crate::scenarios::fixture::{build_layer, fill_layer, scenario_tests, Setup};
use crate::tmpfs::{TmpFs, TmpFsOptions};
use crate::vfs::{FileSystem, FileType, FsFeatures, Inode, NewNode, RenameFlags};

// ---------------------------------------------------------------------------------------
// Setups

fn ramfs() -> Arc<dyn FileSystem> {
    ArceosLayer::new(Arc::new(RamFileSystem::new()))
}

fn ramfs_upper(capacity_bytes: Option<u64>) -> Arc<dyn FileSystem> {
    match capacity_bytes {
        None => ramfs(),
        Some(max_file_bytes) => ArceosLayer::new(CappedRamFs::new(max_file_bytes)),
    }
}

/// The union exported as an ArceOS filesystem and imported back: every call crosses
/// `VfsNodeOps` on its way to the union. ArceOS cannot say a filesystem is read-only, so the
/// importer is told, as a kernel mounting it would know.
fn exported(union: &Arc<OverlayFs>) -> Arc<dyn FileSystem> {
    let options = ArceosLayerOptions {
        read_only: union.features().contains(FsFeatures::READ_ONLY),
        ..ArceosLayerOptions::default()
    };
    ArceosLayer::with_options(ArceosUnion::new(union.clone()), options)
}

const RAMFS_LAYERS: Setup = Setup {
    lower: ramfs,
    upper: ramfs_upper,
    ..Setup::TMPFS
};

const RAMFS_UPPER: Setup = Setup {
    upper: ramfs_upper,
    ..Setup::TMPFS
};

const EXPORTED: Setup = Setup {
    view: exported,
    ..Setup::TMPFS
};

/// An `axfs_ramfs` whose files hold at most `max_file_bytes`: writes past it fail with
/// `StorageFull`, as a full ArceOS filesystem's would. Nodes are wrapped once each (and kept),
/// so a node is the same `Arc` at every lookup, as in ramfs itself.
struct CappedRamFs {
    inner: RamFileSystem,
    shared: Arc<Capped>,
}

struct Capped {
    max_file_bytes: u64,
    nodes: Mutex<HashMap<usize, Arc<CappedNode>>>,
}

struct CappedNode {
    inner: VfsNodeRef,
    shared: Arc<Capped>,
}

impl CappedRamFs {
    fn new(max_file_bytes: u64) -> Arc<CappedRamFs> {
        Arc::new(CappedRamFs {
            inner: RamFileSystem::new(),
            shared: Arc::new(Capped {
                max_file_bytes,
                nodes: Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl Capped {
    fn wrap(self: &Arc<Self>, inner: VfsNodeRef) -> VfsNodeRef {
        let address = Arc::as_ptr(&inner).cast::<()>().addr();
        self.nodes
            .lock()
            .entry(address)
            .or_insert_with(|| {
                Arc::new(CappedNode {
                    inner,
                    shared: self.clone(),
                })
            })
            .clone()
    }
}

impl VfsOps for CappedRamFs {
    fn root_dir(&self) -> VfsNodeRef {
        self.shared.wrap(self.inner.root_dir())
    }
}

impl VfsNodeOps for CappedNode {
    fn get_attr(&self) -> VfsResult<VfsNodeAttr> {
        self.inner.get_attr()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> VfsResult<usize> {
        self.inner.read_at(offset, buf)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> VfsResult<usize> {
        if offset + buf.len() as u64 > self.shared.max_file_bytes {
            return Err(VfsError::StorageFull);
        }
        self.inner.write_at(offset, buf)
    }

    fn truncate(&self, size: u64) -> VfsResult {
        if size > self.shared.max_file_bytes {
            return Err(VfsError::StorageFull);
        }
        self.inner.truncate(size)
    }

    fn parent(&self) -> Option<VfsNodeRef> {
        self.inner.parent().map(|parent| self.shared.wrap(parent))
    }

    fn lookup(self: Arc<Self>, path: &str) -> VfsResult<VfsNodeRef> {
        let node = self.inner.clone().lookup(path)?;
        Ok(self.shared.wrap(node))
    }

    fn create(&self, path: &str, ty: VfsNodeType) -> VfsResult {
        self.inner.create(path, ty)
    }

    fn remove(&self, path: &str) -> VfsResult {
        self.inner.remove(path)
    }

    fn read_dir(&self, start_idx: usize, dirents: &mut [VfsDirEntry]) -> VfsResult<usize> {
        self.inner.read_dir(start_idx, dirents)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

// ---------------------------------------------------------------------------------------
// The scenarios, in each setup. The reasons are the table's in the module documentation
// (`docs_table_matches_the_tests` compares them).

mod ramfs_layers {
    use super::*;

    scenario_tests! { RAMFS_LAYERS;
        read_lower_file: ran,
        write_lower_file_copies_up: ran,
        append_to_lower_file: ran,
        open_read_only_truncate_copies_up: ran,
        exclusive_create_of_lower_file_is_eexist: ran,
        exclusive_create_of_missing_name: ran,
        open_lower_dir_for_write_is_eisdir: ran,
        write_through_symlink_changes_target: skipped "symlinks: axfs_vfs has none, so the ramfs layer cannot hold the scenario's symlink",
        readlink_of_non_symlink_is_einval: skipped "symlinks: axfs_vfs has none, so the ramfs layer cannot hold the scenario's symlink",
        truncate_lower_file_to_every_size: ran,
        unlink_lower_file_leaves_whiteout: ran,
        unlink_symlink_and_directory: skipped "symlinks: axfs_vfs has none, so the ramfs layer cannot hold the scenario's symlink",
        rmdir_populated_lower_dir: ran,
        rmdir_file_or_missing: ran,
        recreated_dir_is_opaque: ran,
        remove_every_file_type: skipped "file types: axfs_vfs has no symlinks, hard links, device nodes or fifos, so the ramfs layer holds only the regular file",
        remove_dir_with_whiteout_in_lower: ran,
        mknod_whiteout_device_is_eperm: ran,
        mkdir_over_existing_is_eexist: skipped "symlinks: axfs_vfs has none, so the ramfs layer cannot hold the scenario's symlink",
        link_lower_file: skipped "hard links: axfs_vfs has none, so link fails with EPERM",
        rename_lower_file_and_back: skipped "rename: axfs_ramfs cannot rename, so rename through the union is EXDEV",
        rename_lower_dir_is_exdev: skipped "symlinks: axfs_vfs has none, so the ramfs layer cannot hold the scenario's symlink",
        rename_new_dir_over_lower_dir: skipped "rename: axfs_ramfs cannot rename, so rename through the union is EXDEV",
        non_root_write_open_is_eacces: skipped "owners: axfs_ramfs stores no owner or mode (every file is root's, mode 0666), so any user may write",
        inode_number_is_stable: skipped "rename: axfs_ramfs cannot rename, so rename through the union is EXDEV",
        no_upper_is_read_only: ran,
        overlay_xattrs_are_not_markers: skipped "xattrs: axfs_vfs has none, so setxattr through the union is ENOTSUP",
        enospc_during_copy_up: ran,
        deep_trees_use_bounded_stack: ran,
    }
}

mod ramfs_upper {
    use super::*;

    scenario_tests! { RAMFS_UPPER;
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
        link_lower_file: skipped "hard links: axfs_vfs has none, so link fails with EPERM",
        rename_lower_file_and_back: skipped "rename: axfs_ramfs cannot rename, so rename through the union is EXDEV",
        rename_lower_dir_is_exdev: ran,
        rename_new_dir_over_lower_dir: skipped "rename: axfs_ramfs cannot rename, so rename through the union is EXDEV",
        non_root_write_open_is_eacces: ran,
        inode_number_is_stable: skipped "rename: axfs_ramfs cannot rename, so rename through the union is EXDEV",
        no_upper_is_read_only: ran,
        overlay_xattrs_are_not_markers: skipped "xattrs: axfs_vfs has none, so setxattr through the union is ENOTSUP",
        enospc_during_copy_up: ran,
        deep_trees_use_bounded_stack: ran,
    }
}

mod exported {
    use super::*;

    scenario_tests! { EXPORTED;
        read_lower_file: ran,
        write_lower_file_copies_up: ran,
        append_to_lower_file: ran,
        open_read_only_truncate_copies_up: ran,
        exclusive_create_of_lower_file_is_eexist: ran,
        exclusive_create_of_missing_name: ran,
        open_lower_dir_for_write_is_eisdir: ran,
        write_through_symlink_changes_target: skipped "readlink: axfs_vfs cannot read a symlink's target, so symlinks cannot be followed",
        readlink_of_non_symlink_is_einval: skipped "readlink: axfs_vfs cannot read a symlink's target, so symlinks cannot be followed",
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
        link_lower_file: skipped "hard links: axfs_vfs has none, so link fails with EPERM",
        rename_lower_file_and_back: ran,
        rename_lower_dir_is_exdev: ran,
        rename_new_dir_over_lower_dir: ran,
        non_root_write_open_is_eacces: ran,
        inode_number_is_stable: skipped "inode numbers: axfs_vfs carries none, and the re-imported layer numbers nodes the export makes per lookup",
        no_upper_is_read_only: ran,
        overlay_xattrs_are_not_markers: skipped "xattrs: axfs_vfs has none, so setxattr through the union is ENOTSUP",
        enospc_during_copy_up: ran,
        deep_trees_use_bounded_stack: ran,
    }
}

/// The module documentation's table says what the tests do: a row per scenario, in order,
/// and for each setup `ran` or `skipped: <the reason the test is ignored with>`.
#[test]
fn docs_table_matches_the_tests() {
    let docs = include_str!("mod.rs");
    let rows: Vec<Vec<&str>> = docs
        .lines()
        .filter_map(|line| line.strip_prefix("//! | "))
        .filter(|row| row.starts_with(|c: char| c.is_ascii_digit()))
        .map(|row| row.trim_end_matches(" |").split(" | ").collect())
        .collect();
    let setups = [
        ramfs_layers::VERDICTS,
        ramfs_upper::VERDICTS,
        exported::VERDICTS,
    ];
    assert_eq!(
        rows.len(),
        crate::scenarios::ALL.len(),
        "one row per scenario"
    );
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 2 + setups.len(), "row {row:?}");
        assert_eq!(row[0], alloc::format!("{}", index + 1));
        for (column, verdicts) in setups.iter().enumerate() {
            let (name, reason) = verdicts[index];
            assert_eq!(row[1], alloc::format!("`{name}`"));
            let cell = row[2 + column];
            match reason {
                None => assert!(cell.starts_with("ran"), "{name}, column {column}: {cell}"),
                Some(reason) => assert_eq!(
                    cell.strip_prefix("skipped: "),
                    Some(reason),
                    "{name}, column {column}"
                ),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Name-based whiteouts on an ArceOS upper

fn ramfs_union(lower_lines: &[&str]) -> (Arc<OverlayFs>, Arc<dyn FileSystem>) {
    let lower = ramfs();
    fill_layer(&*lower, lower_lines).unwrap();
    let upper_fs = ramfs();
    let upper = UpperLayer::new(upper_fs.clone()).unwrap();
    let union = OverlayFs::new(
        vec![Layer::new(lower)],
        Some(upper),
        OverlayOptions::default(),
    )
    .unwrap();
    (union, upper_fs)
}

fn names(dir: &dyn Inode) -> Vec<String> {
    let mut names = Vec::new();
    dir.readdir(0, &mut |entry| {
        names.push(String::from(entry.name));
        true
    })
    .unwrap();
    names.sort();
    names
}

#[test]
fn ramfs_layers_use_name_based_whiteouts() {
    let layer = ramfs();
    assert_eq!(layer.features(), FsFeatures::empty());
    assert_eq!(
        WhiteoutEncoding::for_features(layer.features()),
        WhiteoutEncoding::Oci
    );
    let (union, _) = ramfs_union(&["d etc", "f etc/a a"]);
    assert_eq!(union.upper().unwrap().encoding(), WhiteoutEncoding::Oci);
    assert!(!union.upper().unwrap().is_atomic());
}

#[test]
fn whiteout_names_never_show_and_cannot_be_created() {
    // A ramfs lower with its own `.wh.` whiteout and opaque marker.
    let (union, upper_fs) = ramfs_union(&[
        "d etc",
        "f etc/kept k",
        "f etc/gone g",
        "o opaque",
        "f opaque/inside i",
    ]);
    let root = union.root();
    let etc = root.lookup("etc").unwrap();
    etc.unlink("gone").unwrap();
    etc.create("new", &NewNode::new(FileType::Regular, 0o644, 0, 0))
        .unwrap();
    assert_eq!(names(&*etc), ["kept", "new"]);
    assert_eq!(names(&*root.lookup("opaque").unwrap()), ["inside"]);
    // The upper ramfs holds the whiteout as a name, which the union never shows.
    let upper_etc = upper_fs
        .root()
        .lookup("upper")
        .unwrap()
        .lookup("etc")
        .unwrap();
    assert!(names(&*upper_etc).contains(&String::from(".wh.gone")));
    for name in [".wh.gone", ".wh.kept", ".wh..wh..opq", ".wh.x"] {
        assert_eq!(etc.lookup(name).err(), Some(Errno::ENOENT), "{name}");
        let file = NewNode::new(FileType::Regular, 0o644, 0, 0);
        assert_eq!(etc.create(name, &file).err(), Some(Errno::EINVAL), "{name}");
        let dir = NewNode::new(FileType::Directory, 0o755, 0, 0);
        assert_eq!(etc.create(name, &dir).err(), Some(Errno::EINVAL), "{name}");
    }
    // Through the exported VfsOps too.
    let exported = ArceosUnion::new(union.clone());
    let etc = exported.root_dir().lookup("etc").unwrap();
    assert_eq!(
        etc.create(".wh.y", VfsNodeType::File),
        Err(VfsError::InvalidInput)
    );
    let listed = list(&etc);
    // The upper directory's names first, then the lower one's (Linux's order).
    assert_eq!(listed, [".", "..", "new", "kept"]);
}

#[test]
fn a_failed_copy_up_into_ramfs_leaves_nothing() {
    let big = alloc::format!("f data/big {}", "z".repeat(10_000));
    let lower = ramfs();
    fill_layer(&*lower, &["d data", &big]).unwrap();
    let upper_fs = ramfs_upper(Some(4096));
    let union = OverlayFs::new(
        vec![Layer::new(lower)],
        Some(UpperLayer::new(upper_fs.clone()).unwrap()),
        OverlayOptions::default(),
    )
    .unwrap();
    let file = union.root().lookup("data").unwrap().lookup("big").unwrap();
    assert_eq!(file.write_at(0, b"x"), Err(Errno::ENOSPC));
    let upper_data = upper_fs
        .root()
        .lookup("upper")
        .unwrap()
        .lookup("data")
        .unwrap();
    assert_eq!(names(&*upper_data), Vec::<String>::new());
    assert_eq!(
        names(&*upper_fs.root().lookup("work").unwrap()),
        Vec::<String>::new()
    );
    let mut byte = [0u8; 1];
    file.read_at(0, &mut byte).unwrap();
    assert_eq!(&byte, b"z");
}

// ---------------------------------------------------------------------------------------
// ArceosLayer over axfs_ramfs

#[test]
fn layer_inode_numbers_are_stable_and_unique() {
    let layer = ramfs();
    let root = layer.root();
    let a = root
        .create("a", &NewNode::new(FileType::Regular, 0o644, 0, 0))
        .unwrap();
    let b = root
        .create("b", &NewNode::new(FileType::Directory, 0o755, 0, 0))
        .unwrap();
    let a_ino = a.metadata().unwrap().ino;
    drop(a);
    assert_eq!(root.lookup("a").unwrap().metadata().unwrap().ino, a_ino);
    assert_ne!(b.metadata().unwrap().ino, a_ino);
    assert_ne!(root.metadata().unwrap().ino, a_ino);
    let mut listed = Vec::new();
    root.readdir(0, &mut |entry| {
        listed.push((String::from(entry.name), entry.ino, entry.kind));
        true
    })
    .unwrap();
    assert_eq!(
        listed,
        [
            (String::from("a"), a_ino, FileType::Regular),
            (
                String::from("b"),
                b.metadata().unwrap().ino,
                FileType::Directory
            ),
        ]
    );
    // A removed entry's number is never handed out again.
    root.unlink("a").unwrap();
    let again = root
        .create("a", &NewNode::new(FileType::Regular, 0o644, 0, 0))
        .unwrap();
    assert_ne!(again.metadata().unwrap().ino, a_ino);
}

#[test]
fn layer_readdir_resumes_at_each_cookie() {
    let layer = ramfs();
    let root = layer.root();
    let names: Vec<String> = (0..40).map(|i| alloc::format!("n{i:02}")).collect();
    for name in &names {
        root.create(name, &NewNode::new(FileType::Regular, 0o644, 0, 0))
            .unwrap();
    }
    let mut listed = Vec::new();
    let mut cookie = 0;
    loop {
        let mut got = None;
        root.readdir(cookie, &mut |entry| {
            got = Some((String::from(entry.name), entry.next_cookie));
            false
        })
        .unwrap();
        let Some((name, next)) = got else { break };
        listed.push(name);
        cookie = next;
    }
    assert_eq!(listed, names);
}

#[test]
fn layer_errors_follow_the_inode_contract() {
    let layer = ramfs();
    let root = layer.root();
    let file = NewNode::new(FileType::Regular, 0o644, 0, 0);
    let dir = NewNode::new(FileType::Directory, 0o755, 0, 0);
    let f = root.create("f", &file).unwrap();
    let d = root.create("d", &dir).unwrap();
    d.create("inner", &file).unwrap();
    assert_eq!(root.create("f", &file).err(), Some(Errno::EEXIST));
    assert_eq!(f.create("x", &file).err(), Some(Errno::ENOTDIR));
    assert_eq!(f.lookup("x").err(), Some(Errno::ENOTDIR));
    assert_eq!(root.lookup("missing").err(), Some(Errno::ENOENT));
    let device = NewNode::new(FileType::CharDevice, 0o644, 0, 0);
    assert_eq!(root.create("dev", &device).err(), Some(Errno::EPERM));
    let symlink = NewNode::new(FileType::Symlink, 0o777, 0, 0);
    assert_eq!(root.create("l", &symlink).err(), Some(Errno::EINVAL));
    assert_eq!(root.symlink("l", "f", 0, 0).err(), Some(Errno::EPERM));
    assert_eq!(root.link("h", &*f).err(), Some(Errno::EPERM));
    assert_eq!(root.unlink("d"), Err(Errno::EISDIR));
    assert_eq!(root.rmdir("f"), Err(Errno::ENOTDIR));
    assert_eq!(root.rmdir("d"), Err(Errno::ENOTEMPTY));
    assert_eq!(root.unlink("missing"), Err(Errno::ENOENT));
    // Names a path-taking ArceOS call would misread never reach it.
    for bad in ["a/b", "..", ".", ""] {
        assert_eq!(root.lookup(bad).err(), Some(Errno::EINVAL), "{bad:?}");
        assert_eq!(
            root.create(bad, &file).err(),
            Some(Errno::EINVAL),
            "{bad:?}"
        );
        assert_eq!(root.unlink(bad), Err(Errno::EINVAL), "{bad:?}");
    }
    // An ArceOS directory entry holds 63 bytes of name.
    let long = "x".repeat(DIRENT_NAME_MAX + 1);
    assert_eq!(root.create(&long, &file).err(), Some(Errno::ENAMETOOLONG));
    assert_eq!(root.lookup(&long).err(), Some(Errno::ENOENT));
    root.create(&"y".repeat(DIRENT_NAME_MAX), &file).unwrap();
    // ramfs cannot rename: within a directory that is EXDEV (callers copy instead), between
    // directories too.
    assert_eq!(
        root.rename("f", &*root, "g", RenameFlags::empty()),
        Err(Errno::EXDEV)
    );
    assert_eq!(
        root.rename("f", &*d, "g", RenameFlags::empty()),
        Err(Errno::EXDEV)
    );
    assert_eq!(
        root.rename("f", &*root, "g", RenameFlags::EXCHANGE),
        Err(Errno::EINVAL)
    );
    assert_eq!(root.rename("f", &*root, "f", RenameFlags::empty()), Ok(()));
    // No metadata changes, no xattrs.
    assert_eq!(f.set_attr(&Default::default()), Err(Errno::EPERM));
    assert_eq!(f.get_xattr("user.a").err(), Some(Errno::ENOTSUP));
    assert_eq!(f.readlink().err(), Some(Errno::EINVAL));
    let meta = f.metadata().unwrap();
    assert_eq!(
        (meta.kind, meta.mode, meta.uid, meta.nlink),
        (FileType::Regular, 0o666, 0, 1)
    );
}

#[test]
fn layer_sizes_are_bounded_and_never_panic() {
    let options = ArceosLayerOptions {
        max_file_bytes: 1000,
        ..ArceosLayerOptions::default()
    };
    let layer = ArceosLayer::with_options(Arc::new(RamFileSystem::new()), options);
    let f = layer
        .root()
        .create("f", &NewNode::new(FileType::Regular, 0o644, 0, 0))
        .unwrap();
    assert_eq!(f.write_at(0, b"hello"), Ok(5));
    assert_eq!(f.write_at(998, b"abc"), Err(Errno::EFBIG));
    assert_eq!(f.write_at(u64::MAX, b"a"), Err(Errno::EFBIG));
    assert_eq!(f.set_len(1001), Err(Errno::EFBIG));
    let mut buf = [0u8; 8];
    assert_eq!(f.read_at(u64::MAX, &mut buf), Ok(0));
    assert_eq!(f.read_at(u64::MAX - 3, &mut buf), Ok(0));
    assert_eq!(f.read_at(1, &mut buf), Ok(4));
    let unlimited = ramfs();
    let g = unlimited
        .root()
        .create("g", &NewNode::new(FileType::Regular, 0o644, 0, 0))
        .unwrap();
    assert_eq!(g.write_at(u64::MAX - 1, b"ab"), Err(Errno::EFBIG));
}

#[test]
fn read_only_layers_refuse_changes() {
    let fs = Arc::new(RamFileSystem::new());
    fs.root_dir().create("f", VfsNodeType::File).unwrap();
    let options = ArceosLayerOptions {
        read_only: true,
        ..ArceosLayerOptions::default()
    };
    let layer = ArceosLayer::with_options(fs, options);
    assert!(layer.features().contains(FsFeatures::READ_ONLY));
    let root = layer.root();
    let file = NewNode::new(FileType::Regular, 0o644, 0, 0);
    assert_eq!(root.create("g", &file).err(), Some(Errno::EROFS));
    assert_eq!(root.unlink("f"), Err(Errno::EROFS));
    assert_eq!(
        root.lookup("f").unwrap().write_at(0, b"x"),
        Err(Errno::EROFS)
    );
    assert_eq!(UpperLayer::new(layer).err(), Some(Errno::EROFS));
}

// ---------------------------------------------------------------------------------------
// ArceosUnion as an ArceOS filesystem

fn list(dir: &VfsNodeRef) -> Vec<String> {
    let mut names = Vec::new();
    let mut entries: [VfsDirEntry; 3] = core::array::from_fn(|_| VfsDirEntry::default());
    let mut index = 0;
    loop {
        let count = dir.read_dir(index, &mut entries).unwrap();
        for entry in entries.iter().take(count) {
            names.push(String::from_utf8(entry.name_as_bytes().to_vec()).unwrap());
        }
        index += count;
        if count < entries.len() {
            return names;
        }
    }
}

fn tmpfs_union() -> Arc<OverlayFs> {
    let lower = build_layer(&[
        "d etc",
        "f etc/config cfg",
        "f etc/os-release base",
        "d etc/sub",
        "l etc/link config",
    ])
    .unwrap();
    OverlayFs::new(
        vec![Layer::new(lower)],
        Some(UpperLayer::new(TmpFs::new(TmpFsOptions::default())).unwrap()),
        OverlayOptions::default(),
    )
    .unwrap()
}

#[test]
fn exported_paths_resolve_like_ramfs() {
    let exported = ArceosUnion::new(tmpfs_union());
    let root = exported.root_dir();
    let config = root.clone().lookup("/etc//./sub/../config").unwrap();
    assert_eq!(config.get_attr().unwrap().size(), 3);
    assert_eq!(config.get_attr().unwrap().perm().bits(), 0o644);
    assert!(
        config.parent().is_none(),
        "files have no parent, as in ramfs"
    );
    assert_eq!(
        root.clone().lookup("etc/config/").err(),
        Some(VfsError::NotADirectory)
    );
    assert_eq!(
        root.clone().lookup("etc/missing").err(),
        Some(VfsError::NotFound)
    );
    let sub = root.clone().lookup("etc/sub").unwrap();
    let etc = sub.parent().unwrap();
    // In the order the tmpfs layer lists them: the order they were made.
    assert_eq!(
        list(&etc),
        [".", "..", "config", "os-release", "sub", "link"]
    );
    // Before a mount, `..` of the root is the root; after it, the mount point's parent.
    assert!(root.parent().is_none());
    let up = root.clone().lookup("..").unwrap();
    assert!(Arc::ptr_eq(&up, &root));
    let host = Arc::new(RamFileSystem::new());
    host.root_dir().create("mnt", VfsNodeType::Dir).unwrap();
    let mount_point = host.root_dir().lookup("mnt").unwrap();
    exported.mount("/mnt", mount_point).unwrap();
    let above = root.clone().lookup("..").unwrap();
    assert!(Arc::ptr_eq(&above, &host.root_dir()));
    assert!(root.clone().lookup("../mnt").is_ok());
    // The symlink shows as one, and reads as nothing else.
    let link = root.lookup("etc/link").unwrap();
    assert_eq!(link.get_attr().unwrap().file_type(), VfsNodeType::SymLink);
}

#[test]
fn exported_changes_go_through_the_union() {
    let union = tmpfs_union();
    let exported = ArceosUnion::new(union.clone());
    let root = exported.root_dir();
    // Write copies up; the lower keeps its bytes.
    let config = root.clone().lookup("etc/config").unwrap();
    assert_eq!(config.write_at(0, b"CFG!"), Ok(4));
    assert_eq!(union.diff().unwrap().len(), 2);
    config.truncate(2).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(config.read_at(0, &mut buf), Ok(2));
    assert_eq!(&buf[..2], b"CF");
    // Create: files, directories, fifos; an existing name is AlreadyExists, like ramfs.
    root.create("etc/new", VfsNodeType::File).unwrap();
    root.create("etc/dir/", VfsNodeType::Dir).unwrap_err();
    root.create("etc/dir", VfsNodeType::Dir).unwrap();
    root.create("etc/dir/fifo", VfsNodeType::Fifo).unwrap();
    assert_eq!(
        root.create("etc/new", VfsNodeType::File),
        Err(VfsError::AlreadyExists)
    );
    assert_eq!(
        root.create("etc", VfsNodeType::Dir),
        Err(VfsError::AlreadyExists)
    );
    assert_eq!(root.create("etc/.", VfsNodeType::Dir), Ok(()));
    assert_eq!(
        root.create("etc/dev", VfsNodeType::CharDevice),
        Err(VfsError::Unsupported)
    );
    assert_eq!(
        root.clone()
            .lookup("etc/new")
            .unwrap()
            .get_attr()
            .unwrap()
            .perm()
            .bits(),
        NEW_FILE_MODE
    );
    // Remove files and empty directories, whichever the name is.
    assert_eq!(root.remove("etc/dir"), Err(VfsError::DirectoryNotEmpty));
    root.remove("etc/dir/fifo").unwrap();
    root.remove("etc/dir").unwrap();
    root.remove("etc/os-release").unwrap();
    assert_eq!(root.remove("etc/os-release"), Err(VfsError::NotFound));
    assert_eq!(root.remove("etc/.."), Err(VfsError::InvalidInput));
    // Rename between directories, through the union.
    root.rename("etc/new", "etc/sub/moved").unwrap();
    assert!(root.clone().lookup("etc/sub/moved").is_ok());
    assert_eq!(
        root.clone().lookup("etc/new").err(),
        Some(VfsError::NotFound)
    );
    assert_eq!(
        root.rename("etc/sub", "/sub2"),
        Err(VfsError::CrossesDevices),
        "a lower directory cannot move without redirects"
    );
    let etc = root.clone().lookup("etc").unwrap();
    assert_eq!(list(&etc), [".", "..", "config", "sub", "link"]);
    let changes: Vec<String> = union
        .diff()
        .unwrap()
        .iter()
        .map(|change| alloc::format!("{} {}", change.kind.letter(), change.path))
        .collect();
    assert_eq!(
        changes,
        [
            "C /etc",
            "C /etc/config",
            "D /etc/os-release",
            "C /etc/sub",
            "A /etc/sub/moved"
        ]
    );
}

#[test]
fn exported_listing_resumes_while_the_directory_changes() {
    let exported = ArceosUnion::new(tmpfs_union());
    let root = exported.root_dir();
    let etc = root.clone().lookup("etc").unwrap();
    let mut entries: [VfsDirEntry; 3] = core::array::from_fn(|_| VfsDirEntry::default());
    assert_eq!(etc.read_dir(0, &mut entries), Ok(3));
    let first: Vec<&[u8]> = entries.iter().map(VfsDirEntry::name_as_bytes).collect();
    assert_eq!(first, [b".".as_slice(), b"..", b"config"]);
    // A name removed before the cursor and one added: the rest is neither skipped nor
    // repeated.
    root.remove("etc/config").unwrap();
    root.create("etc/zz", VfsNodeType::File).unwrap();
    let mut rest = Vec::new();
    let mut index = 3;
    loop {
        let count = etc.read_dir(index, &mut entries).unwrap();
        rest.extend(
            entries
                .iter()
                .take(count)
                .map(|e| e.name_as_bytes().to_vec()),
        );
        index += count;
        if count < entries.len() {
            break;
        }
    }
    assert_eq!(
        rest,
        [
            b"os-release".to_vec(),
            b"sub".to_vec(),
            b"link".to_vec(),
            b"zz".to_vec()
        ]
    );
    // From index 0 a fresh listing shows the new state.
    let again = list(&etc);
    assert_eq!(again, [".", "..", "os-release", "sub", "link", "zz"]);
}

#[test]
fn exported_long_names_are_left_out_of_listings_only() {
    let exported = ArceosUnion::new(tmpfs_union());
    let root = exported.root_dir();
    let long = "l".repeat(DIRENT_NAME_MAX + 10);
    root.create(&alloc::format!("etc/{long}"), VfsNodeType::File)
        .unwrap();
    let etc = root.clone().lookup("etc").unwrap();
    assert_eq!(
        list(&etc),
        [".", "..", "config", "os-release", "sub", "link"]
    );
    assert!(root.clone().lookup(&alloc::format!("etc/{long}")).is_ok());
    let too_long = "x".repeat(300);
    assert_eq!(
        root.create(&too_long, VfsNodeType::File),
        Err(VfsError::NameTooLong)
    );
    assert_eq!(
        root.clone().lookup("a\0b").err(),
        Some(VfsError::InvalidInput)
    );
}

#[test]
fn read_only_union_exports_read_only_errors() {
    let lower = build_layer(&["d etc", "f etc/config cfg"]).unwrap();
    let union = OverlayFs::new(vec![Layer::new(lower)], None, OverlayOptions::default()).unwrap();
    let exported = ArceosUnion::new(union);
    let root = exported.root_dir();
    assert_eq!(
        root.create("etc/new", VfsNodeType::File),
        Err(VfsError::ReadOnlyFilesystem)
    );
    let config = root.lookup("etc/config").unwrap();
    assert_eq!(config.write_at(0, b"x"), Err(VfsError::ReadOnlyFilesystem));
}
