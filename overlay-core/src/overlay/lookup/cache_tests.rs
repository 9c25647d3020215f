use alloc::{format, string::String, sync::Arc, vec, vec::Vec};

use crate::error::Errno;
use crate::image::{Bytes, EntryKind, ImageLayerFs, NewEntry, TarWriter};
use crate::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer, WhiteoutEncoding};
use crate::scenarios::fixture::build_layer;
use crate::tmpfs::{TmpFs, TmpFsOptions};
use crate::vfs::{FileSystem, FileType, Inode, NewNode, RenameFlags};

/// Bottom layer first, as `build_layer` lines.
const LAYERS: [&[&str]; 3] = [
    &[
        "d d",
        "f d/a bottom-a",
        "f d/b bottom-b",
        "d d/sub",
        "f d/sub/x x",
        "d e",
        "f e/old old",
        "f f file-f",
        "d g",
        "f g/in in",
    ],
    &["d d", "f d/c middle-c", "w d/b", "o e", "f e/new new"],
    &["d d", "f d/a top-a", "d f", "f f/inner inner"],
];

const PROBES: &[&str] = &[
    "d",
    "d/a",
    "d/b",
    "d/c",
    "d/sub",
    "d/sub/x",
    "d/zz",
    "d/new",
    "d/link",
    "e",
    "e/old",
    "e/new",
    "f",
    "f/inner",
    "g",
    "g/in",
    "g/c2",
    "moved",
    "moved/a",
    "moved/sub",
    "nowhere",
];

fn regular(path: &str) -> NewEntry<'_> {
    NewEntry::new(path, EntryKind::Regular, 0o644)
}

/// A layer of the OCI encoding, as an image layer (a tar): `w` is a `.wh.` file, `o` a
/// directory with `.wh..wh..opq` in it.
fn image_layer(lines: &[&str]) -> Layer {
    let mut tar = TarWriter::new();
    for line in lines {
        let mut words = line.splitn(3, ' ');
        let (op, path) = (words.next().unwrap(), words.next().unwrap());
        let text = words.next().unwrap_or("");
        match op {
            "d" => tar.append(&NewEntry::new(path, EntryKind::Directory, 0o755), &[]),
            "o" => tar
                .append(&NewEntry::new(path, EntryKind::Directory, 0o755), &[])
                .and_then(|()| tar.append(&regular(&format!("{path}/.wh..wh..opq")), &[])),
            "f" => tar.append(&regular(path), text.as_bytes()),
            "w" => {
                let whiteout = match path.rsplit_once('/') {
                    Some((dir, name)) => format!("{dir}/.wh.{name}"),
                    None => format!(".wh.{path}"),
                };
                tar.append(&regular(&whiteout), &[])
            }
            _ => unreachable!("no such line in LAYERS"),
        }
        .unwrap();
    }
    let fs = ImageLayerFs::parse(Bytes::from_vec(tar.finish().unwrap())).unwrap();
    Layer::with_encoding(fs, WhiteoutEncoding::Oci)
}

fn lowers(oci: bool) -> Vec<Layer> {
    let mut layers: Vec<Layer> = LAYERS
        .iter()
        .map(|lines| match oci {
            true => image_layer(lines),
            false => {
                let fs = build_layer(lines).unwrap();
                fs.set_read_only(true);
                Layer::new(fs)
            }
        })
        .collect();
    layers.reverse();
    layers
}

fn union(lowers: &[Layer], upper: &Arc<TmpFs>, redirect_dir: bool) -> Arc<OverlayFs> {
    let options = OverlayOptions {
        redirect_dir,
        ..OverlayOptions::default()
    };
    let upper = UpperLayer::new(upper.clone()).unwrap();
    OverlayFs::new(lowers.to_vec(), Some(upper), options).unwrap()
}

fn walk(union: &OverlayFs, path: &str) -> crate::Result<Arc<dyn Inode>> {
    let mut node = union.root();
    for part in path.split('/') {
        node = node.lookup(part)?;
    }
    Ok(node)
}

/// What `path` shows: its kind and content (a file's bytes, a directory's names).
fn describe(union: &OverlayFs, path: &str) -> String {
    let node = match walk(union, path) {
        Ok(node) => node,
        Err(errno) => return format!("{path}: {errno:?}"),
    };
    let meta = node.metadata().unwrap();
    match meta.kind {
        FileType::Directory => {
            let mut names = Vec::new();
            node.readdir(0, &mut |entry| {
                names.push(String::from(entry.name));
                true
            })
            .unwrap();
            names.sort();
            format!("{path}: dir {names:?}")
        }
        kind => {
            let mut buf = vec![0; meta.size as usize];
            node.read_at(0, &mut buf).unwrap();
            let text = String::from_utf8(buf).unwrap();
            format!("{path}: {kind:?} {text}")
        }
    }
}

/// Every probe of the long-lived (warm) union against a fresh one (cold caches).
fn check(warm: &OverlayFs, lowers: &[Layer], upper: &Arc<TmpFs>, step: &str) {
    let cold = union(lowers, upper, warm.union.options.redirect_dir);
    for path in PROBES {
        let (warm, cold) = (describe(warm, path), describe(&cold, path));
        assert_eq!(warm, cold, "after {step}");
    }
}

fn file(dir: &Arc<dyn Inode>, name: &str, text: &str) {
    let new = NewNode::new(FileType::Regular, 0o644, 0, 0);
    dir.create(name, &new)
        .unwrap()
        .write_at(0, text.as_bytes())
        .unwrap();
}

fn lookups_follow_every_change(oci: bool) {
    let lowers = lowers(oci);
    let upper = TmpFs::new(TmpFsOptions::default());
    let warm = union(&lowers, &upper, false);
    // The merged view, as the cache first learns it (positive and negative lookups).
    assert_eq!(describe(&warm, "d"), r#"d: dir ["a", "c", "sub"]"#);
    assert_eq!(describe(&warm, "d/a"), "d/a: Regular top-a");
    assert_eq!(describe(&warm, "d/b"), "d/b: ENOENT");
    assert_eq!(describe(&warm, "e"), r#"e: dir ["new"]"#);
    assert_eq!(describe(&warm, "f"), r#"f: dir ["inner"]"#);
    check(&warm, &lowers, &upper, "nothing");
    let root = warm.root();
    let d = walk(&warm, "d").unwrap();
    let g = walk(&warm, "g").unwrap();

    file(&d, "new", "created");
    check(&warm, &lowers, &upper, "create");
    d.unlink("a").unwrap();
    assert_eq!(
        describe(&warm, "d/a"),
        "d/a: ENOENT",
        "bottom-a must not show"
    );
    check(&warm, &lowers, &upper, "unlink of a lower file");
    file(&d, "a", "again");
    assert_eq!(describe(&warm, "d/a"), "d/a: Regular again");
    check(&warm, &lowers, &upper, "create over a whiteout");
    walk(&warm, "d/c").unwrap().write_at(0, b"C").unwrap();
    assert_eq!(describe(&warm, "d/c"), "d/c: Regular Ciddle-c");
    check(&warm, &lowers, &upper, "copy-up");
    let sub = walk(&warm, "d/sub").unwrap();
    sub.unlink("x").unwrap();
    d.rmdir("sub").unwrap();
    assert_eq!(describe(&warm, "d/sub"), "d/sub: ENOENT");
    check(&warm, &lowers, &upper, "rmdir of a lower directory");
    d.create("sub", &NewNode::new(FileType::Directory, 0o755, 0, 0))
        .unwrap();
    assert_eq!(describe(&warm, "d/sub/x"), "d/sub/x: ENOENT", "opaque");
    assert_eq!(describe(&warm, "d/sub"), "d/sub: dir []");
    check(&warm, &lowers, &upper, "mkdir over a whiteout");
    d.rename("c", &*g, "c2", RenameFlags::empty()).unwrap();
    assert_eq!(describe(&warm, "d/c"), "d/c: ENOENT");
    assert_eq!(describe(&warm, "g/c2"), "g/c2: Regular Ciddle-c");
    check(&warm, &lowers, &upper, "rename between directories");
    let inner = walk(&warm, "g/in").unwrap();
    d.link("link", &*inner).unwrap();
    assert_eq!(describe(&warm, "d/link"), "d/link: Regular in");
    check(&warm, &lowers, &upper, "link");
    g.rename("c2", &*d, "a", RenameFlags::empty()).unwrap();
    assert_eq!(describe(&warm, "d/a"), "d/a: Regular Ciddle-c");
    check(&warm, &lowers, &upper, "rename over an upper file");
    assert_eq!(
        root.rename("f", &*root, "moved", RenameFlags::empty()),
        Err(Errno::EXDEV)
    );
    let e = walk(&warm, "e").unwrap();
    e.unlink("new").unwrap();
    root.rmdir("e").unwrap();
    root.create("e", &NewNode::new(FileType::Directory, 0o755, 0, 0))
        .unwrap();
    assert_eq!(describe(&warm, "e/old"), "e/old: ENOENT");
    assert_eq!(describe(&warm, "e"), "e: dir []");
    check(
        &warm,
        &lowers,
        &upper,
        "rmdir and mkdir of an opaque lower directory",
    );
    root.unlink("f").unwrap_err();
    let f = walk(&warm, "f").unwrap();
    f.unlink("inner").unwrap();
    root.rmdir("f").unwrap();
    assert_eq!(
        describe(&warm, "f"),
        "f: ENOENT",
        "the lower file f stays hidden"
    );
    check(
        &warm,
        &lowers,
        &upper,
        "rmdir of a directory over a lower file",
    );
    file(&root, "f", "file again");
    check(&warm, &lowers, &upper, "a file where the directory was");
}

#[test]
fn lookups_follow_every_change_linux_encoding() {
    lookups_follow_every_change(false);
}

#[test]
fn lookups_follow_every_change_oci_encoding() {
    lookups_follow_every_change(true);
}

#[test]
fn renamed_merged_directory_keeps_its_contents_with_redirects() {
    let lowers = lowers(false);
    let upper = TmpFs::new(TmpFsOptions::default());
    let warm = union(&lowers, &upper, true);
    assert_eq!(describe(&warm, "d/sub/x"), "d/sub/x: Regular x");
    let root = warm.root();
    root.rename("d", &*root, "moved", RenameFlags::empty())
        .unwrap();
    assert_eq!(describe(&warm, "d"), "d: ENOENT");
    assert_eq!(describe(&warm, "moved"), r#"moved: dir ["a", "c", "sub"]"#);
    assert_eq!(describe(&warm, "moved/a"), "moved/a: Regular top-a");
    check(&warm, &lowers, &upper, "rename with a redirect");
    root.create("d", &NewNode::new(FileType::Directory, 0o755, 0, 0))
        .unwrap();
    assert_eq!(describe(&warm, "d"), "d: dir []");
    check(
        &warm,
        &lowers,
        &upper,
        "mkdir where the moved directory was",
    );
}

#[test]
fn a_directory_of_one_layer_keeps_only_its_subdirectories() {
    let lowers = [image_layer(&["d g", "d g/h", "f g/h/x x", "f g/y y"])];
    let upper = TmpFs::new(TmpFsOptions::default());
    let union = union(&lowers, &upper, false);
    let g = walk(&union, "g").unwrap();
    let dirs = lowers_of(&*g);
    assert_eq!(dirs.len(), 1);
    g.lookup("y").unwrap();
    assert_eq!(g.lookup("zz").err(), Some(Errno::ENOENT));
    let h = walk(&union, "g/h").unwrap();
    assert_eq!(names_of(&*g, 0, 10).len(), 2);
    {
        let names = dirs.cache.names.lock();
        let names = names.as_ref().unwrap();
        assert_eq!(names.len(), 1, "only the subdirectory is kept");
        assert!(matches!(names.get("h"), Some(super::Slot::Known(Some(_)))));
    }
    // Found again after every node is gone, `h` brings the same lower directories (and
    // their cache and listing).
    let h_dirs = lowers_of(&*h);
    drop((h, g));
    union.drop_caches();
    let again = walk(&union, "g/h").unwrap();
    assert!(Arc::ptr_eq(&lowers_of(&*again), &h_dirs));
    assert_eq!(names_of(&*again, 0, 10).len(), 1);
}

fn lowers_of(dir: &dyn Inode) -> Arc<super::LowerDirs> {
    let node = dir.as_any().downcast_ref::<super::OverlayInode>().unwrap();
    node.lowers().dirs().unwrap().clone()
}

#[test]
fn a_directory_is_listed_once_and_each_name_searched_once() {
    let lowers = lowers(true);
    let upper = TmpFs::new(TmpFsOptions::default());
    let warm = union(&lowers, &upper, false);
    let d = walk(&warm, "d").unwrap();
    let dirs = lowers_of(&*d);
    assert_eq!(dirs.len(), 3);
    assert!(
        dirs.cache.names.lock().is_none(),
        "nothing looked up in d yet"
    );
    d.lookup("a").unwrap();
    d.lookup("sub").unwrap();
    assert_eq!(d.lookup("zz").err(), Some(Errno::ENOENT));
    let names = dirs.cache.names.lock();
    let names = names.as_ref().unwrap();
    // a, b (and its whiteout's name), c, sub: each noted once; the directory sub's merge
    // kept, the file a's one-layer search not.
    assert!(matches!(
        names.get("sub"),
        Some(super::Slot::Known(Some(_)))
    ));
    assert!(matches!(names.get("a"), Some(super::Slot::From(0))));
    assert!(matches!(names.get("c"), Some(super::Slot::From(1))));
    assert!(matches!(names.get("b"), Some(super::Slot::From(1))));
    assert!(!names.contains_key("zz"));
    // The same directory found again brings the same cache.
    let again = walk(&warm, "d").unwrap();
    assert!(Arc::ptr_eq(&lowers_of(&*again), &dirs));
}

fn names_of(dir: &dyn Inode, cookie: u64, max: usize) -> Vec<(String, u64)> {
    let mut names = Vec::new();
    dir.readdir(cookie, &mut |entry| {
        names.push((String::from(entry.name), entry.next_cookie));
        names.len() < max
    })
    .unwrap();
    names
}

#[test]
fn a_listing_outlives_the_nodes_of_its_directory_and_follows_changes() {
    let lowers = lowers(true);
    let upper = TmpFs::new(TmpFsOptions::default());
    let warm = union(&lowers, &upper, false);
    let listed = |warm: &OverlayFs| -> Vec<String> {
        let d = walk(warm, "d").unwrap();
        let mut names: Vec<String> = names_of(&*d, 0, usize::MAX)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        // New names are listed after the ones a listing already had; compare as sets.
        names.sort();
        names
    };
    assert_eq!(listed(&warm), ["a", "c", "sub"]);
    // No node of `d` is alive now; its listing is kept with its lower directories.
    let d = walk(&warm, "d").unwrap();
    let node = d.as_any().downcast_ref::<super::OverlayInode>().unwrap();
    let dirs = node.lowers().dirs().unwrap().clone();
    assert!(dirs.listing().lock().built);
    drop(d);
    file(&walk(&warm, "d").unwrap(), "new", "n");
    assert_eq!(listed(&warm), ["a", "c", "new", "sub"]);
    walk(&warm, "d").unwrap().unlink("c").unwrap();
    assert_eq!(listed(&warm), ["a", "new", "sub"]);
    // Read in pieces across nodes: a name added in between comes after the ones listed,
    // none is skipped or repeated.
    let first = names_of(&*walk(&warm, "d").unwrap(), 0, 2);
    assert_eq!(first[0].0, "a");
    file(&walk(&warm, "d").unwrap(), "0-early-name", "e");
    let rest = names_of(&*walk(&warm, "d").unwrap(), first[1].1, usize::MAX);
    let mut all: Vec<String> = first.into_iter().chain(rest).map(|(n, _)| n).collect();
    all.sort();
    assert_eq!(all, ["0-early-name", "a", "new", "sub"]);
    check(
        &warm,
        &lowers,
        &upper,
        "listings after changes through other nodes",
    );
}
