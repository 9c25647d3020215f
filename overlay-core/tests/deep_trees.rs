//! Trees as deep as the input makes them. Every walk whose depth the layers decide (`diff`,
//! copy-up of a file's parents, `tree`, `commit`, the rename checks, path resolution, removing
//! a container, dropping a union) must use bounded stack: each test runs on a thread with a
//! 256 KiB stack, half the kernel's, where one frame per directory level would overflow long
//! before the depths used here.

use std::sync::{Arc, Weak};
use std::time::Instant;

use overlay_core::containers::{ContainerManager, ContainerOptions};
use overlay_core::image::{
    Bytes, EntryKind, HistoryStep, ImageStore, LayerSource, NewEntry, StoredImage, StoredLayer,
    TarWriter,
};
use overlay_core::overlay::{ChangeKind, OverlayFs};
use overlay_core::posix::Namespace;
use overlay_core::shell::Shell;
use overlay_core::vfs::{
    Credentials, FileSystem, FileType, Inode, NewNode, OpenFlags, RenameFlags,
};
use overlay_core::Errno;

/// The stack each test's body runs on.
const SMALL_STACK_BYTES: usize = 256 * 1024;

/// Levels of the deepest tree: what made the host tool overflow its stack in `diff`.
const VERY_DEEP: usize = 20_000;

/// Levels of the trees whose every path is listed: the deepest whose paths (`/d` per level)
/// still fit in `PATH_MAX`, with a file name at the bottom.
const LISTED_DEEP: usize = 2_040;

/// Runs `body` on a thread with a [`SMALL_STACK_BYTES`] stack, passing on its panic.
fn on_small_stack(body: impl FnOnce() + Send + 'static) {
    let thread = std::thread::Builder::new()
        .stack_size(SMALL_STACK_BYTES)
        .spawn(body)
        .expect("spawning the test thread");
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `script` in `shell`, returning its output.
fn run(shell: &mut Shell, script: &str) -> String {
    let mut out = String::new();
    shell.run_script(script, &mut out).expect("output");
    out
}

/// The shell lines that nest `/d` `levels` directories deep with `mkdir` and `mv` only, each
/// line a short path: a new `/n` takes the tree in, then takes its name.
fn nest_with_mkdir_and_mv(levels: usize) -> String {
    let mut script = String::from("mkdir /d\n");
    for _ in 1..levels {
        script.push_str("mkdir /n\nmv /d /n/d\nmv /n /d\n");
    }
    script
}

/// The path of `levels` nested `d` directories.
fn deep_path(levels: usize) -> String {
    "/d".repeat(levels)
}

/// A layer tar of `d` directories nested `levels` deep with the file `f` holding `content` at
/// the bottom.
fn deep_layer(levels: usize, content: &[u8]) -> Vec<u8> {
    let mut tar = TarWriter::new();
    let mut path = String::from("d");
    for level in 0..levels {
        if level > 0 {
            path.push_str("/d");
        }
        tar.append(&NewEntry::new(&path, EntryKind::Directory, 0o755), &[])
            .expect("directory entry");
    }
    path.push_str("/f");
    tar.append(&NewEntry::new(&path, EntryKind::Regular, 0o644), content)
        .expect("file entry");
    tar.finish().expect("tar")
}

/// A layer tar holding only `/etc`.
fn base_layer() -> Vec<u8> {
    let mut tar = TarWriter::new();
    tar.append(&NewEntry::new("etc", EntryKind::Directory, 0o755), &[])
        .expect("directory entry");
    tar.finish().expect("tar")
}

/// A container manager whose store holds the image `name` of the one layer `tar`.
fn manager_with_image(name: &str, tar: Vec<u8>) -> Arc<ContainerManager> {
    let layer = StoredLayer::parse(Bytes::from_vec(tar), LayerSource::RamDisk).expect("layer");
    let digest = layer.digest.clone();
    let image = StoredImage {
        name: String::from(name),
        layers: vec![digest.clone()],
        history: vec![HistoryStep {
            layer: Some(digest),
            ..HistoryStep::default()
        }],
        config: Default::default(),
        manifest_digest: None,
    };
    let mut store = ImageStore::new();
    store.add_image(image, vec![layer]).expect("image");
    ContainerManager::new(store, ContainerOptions::default())
}

/// The whole content of `path`.
fn read(ns: &Namespace, path: &str) -> Vec<u8> {
    let mut file = ns
        .open(&Credentials::root(), path, OpenFlags::READ, 0)
        .expect("open");
    let mut content = Vec::new();
    let mut chunk = [0u8; 64];
    loop {
        let count = file.read(&mut chunk).expect("read");
        if count == 0 {
            return content;
        }
        content.extend_from_slice(&chunk[..count]);
    }
}

/// The union's directory `levels` `d` directories below its root, found one lookup at a time
/// (a path that long is over `PATH_MAX`).
fn descend(union: &OverlayFs, levels: usize) -> Arc<dyn Inode> {
    let mut dir = union.root();
    for _ in 0..levels {
        dir = dir.lookup("d").expect("lookup");
    }
    dir
}

#[test]
fn an_upper_20000_directories_deep_is_checked_walked_and_removed() {
    on_small_stack(|| {
        let manager = manager_with_image("base", base_layer());
        let union = manager.run("base", "deep").expect("run");
        let mut shell = Shell::with_engine(manager.clone(), "deep").expect("shell");
        let started = Instant::now();
        assert_eq!(run(&mut shell, &nest_with_mkdir_and_mv(VERY_DEEP)), "");
        eprintln!("{VERY_DEEP} levels with mkdir+mv: {:?}", started.elapsed());

        // Moving a directory into its own subtree: the check walks up from the target.
        assert_eq!(
            run(&mut shell, "mv /d /d/d/d/x"),
            "error: EINVAL: mv /d /d/d/d/x\n"
        );
        let started = Instant::now();
        let deepest = descend(&union, VERY_DEEP);
        assert_eq!(
            union
                .root()
                .rename("d", &*deepest, "x", RenameFlags::empty()),
            Err(Errno::EINVAL)
        );
        eprintln!(
            "a rename into a directory {VERY_DEEP} levels down refused: {:?}",
            started.elapsed()
        );
        // The bottom is an ordinary directory.
        deepest
            .create("f", &NewNode::new(FileType::Regular, 0o644, 0, 0))
            .expect("create at the bottom");
        drop(deepest);

        // `tree` names every entry by its path: past `PATH_MAX` that is a clean error, after
        // the lines of the levels above (it prints as it walks).
        let tree = run(&mut shell, "tree /d");
        assert_eq!(tree.lines().last(), Some("error: ENAMETOOLONG: tree /d"));
        assert_eq!(tree.matches("error:").count(), 1);
        assert!(tree.starts_with("d 0755 0:0 - - /d\n"), "{}", &tree[..80]);
        assert_eq!(shell.last_error(), Some(Errno::ENAMETOOLONG));

        // Removing the container drops the union, its nodes and its upper layer.
        let weak: Weak<OverlayFs> = Arc::downgrade(&union);
        drop((shell, union));
        let started = Instant::now();
        manager.remove_container("deep").expect("rmc");
        eprintln!("rmc of {VERY_DEEP} levels: {:?}", started.elapsed());
        assert!(weak.upgrade().is_none(), "the union is gone");
    });
}

#[test]
fn diff_and_tree_of_a_deep_upper_list_every_level_in_order() {
    on_small_stack(|| {
        let manager = manager_with_image("base", base_layer());
        manager.run("base", "c").expect("run");
        let mut shell = Shell::with_engine(manager.clone(), "c").expect("shell");
        assert_eq!(run(&mut shell, &nest_with_mkdir_and_mv(LISTED_DEEP)), "");

        let started = Instant::now();
        let diff = run(&mut shell, "diff");
        eprintln!("diff of {LISTED_DEEP} levels: {:?}", started.elapsed());
        let expected: Vec<String> = (1..=LISTED_DEEP)
            .map(|levels| format!("A {}", deep_path(levels)))
            .collect();
        assert_eq!(diff.lines().collect::<Vec<_>>(), expected);

        let started = Instant::now();
        let tree = run(&mut shell, "tree /d");
        eprintln!("tree of {LISTED_DEEP} levels: {:?}", started.elapsed());
        let lines: Vec<&str> = tree.lines().collect();
        assert_eq!(lines.len(), LISTED_DEEP);
        for (index, line) in lines.iter().enumerate() {
            let path = deep_path(index + 1);
            assert_eq!(*line, format!("d 0755 0:0 - - {path}"));
        }
        drop(shell);
        manager.remove_container("c").expect("rmc");
    });
}

#[test]
fn a_file_2040_directories_down_in_an_image_is_copied_up_diffed_committed_and_run() {
    on_small_stack(|| {
        let manager = manager_with_image("deep", deep_layer(LISTED_DEEP, b"lower"));
        let union = manager.run("deep", "c1").expect("run");
        let ns = Namespace::with_filesystem(union.clone());
        let root = Credentials::root();
        let file = format!("{}/f", deep_path(LISTED_DEEP));
        assert_eq!(read(&ns, &file), b"lower");

        // The first write copies the file and every one of its parents up.
        let started = Instant::now();
        let mut handle = ns
            .open(&root, &file, OpenFlags::WRITE | OpenFlags::TRUNCATE, 0)
            .expect("open for writing");
        handle.write_all(b"upper").expect("write");
        drop(handle);
        eprintln!(
            "copy-up of a file {LISTED_DEEP} levels down: {:?}",
            started.elapsed()
        );
        assert_eq!(read(&ns, &file), b"upper");

        let changes = union.diff().expect("diff");
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        let mut expected: Vec<String> = (1..=LISTED_DEEP).map(deep_path).collect();
        expected.push(file.clone());
        assert_eq!(paths, expected);
        assert!(changes.iter().all(|c| c.kind == ChangeKind::Changed));

        let mut shell = Shell::with_engine(manager.clone(), "c1").expect("shell");
        let tree = run(&mut shell, "tree /");
        let lines: Vec<&str> = tree.lines().collect();
        assert_eq!(
            lines.len(),
            LISTED_DEEP + 2,
            "the root, the directories, the file"
        );
        assert!(
            lines[LISTED_DEEP + 1].starts_with("f 0644 0:0 5 ")
                && lines[LISTED_DEEP + 1].ends_with(&file),
            "{}",
            lines[LISTED_DEEP + 1]
        );

        // The committed image shows the new content; so does a container of it.
        let started = Instant::now();
        manager.commit("c1", "deep:v2").expect("commit");
        eprintln!("commit of {LISTED_DEEP} levels: {:?}", started.elapsed());
        let second = manager.run("deep:v2", "c2").expect("run the commit");
        assert_eq!(
            read(&Namespace::with_filesystem(second.clone()), &file),
            b"upper"
        );

        let unions: Vec<Weak<OverlayFs>> = [&union, &second].map(Arc::downgrade).to_vec();
        drop((shell, ns, union, second));
        let started = Instant::now();
        manager.remove_container("c1").expect("rmc c1");
        manager.remove_container("c2").expect("rmc c2");
        eprintln!("rmc of two containers: {:?}", started.elapsed());
        assert!(unions.iter().all(|union| union.upgrade().is_none()));
        drop(manager);
    });
}
