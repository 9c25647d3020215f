use super::*;

fn components(path: &str) -> Vec<(String, bool)> {
    let mut queue = Vec::new();
    push_components(&mut queue, path);
    queue
        .into_iter()
        .rev()
        .map(|c| (c.name, c.slash_after))
        .collect()
}

fn owned(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter()
        .map(|(name, slash)| (String::from(*name), *slash))
        .collect()
}

#[test]
fn plain_walks_split_on_slashes_between_whole_characters() {
    let names = |path| names_of(path).collect::<Vec<_>>();
    assert_eq!(names("/a/b"), ["a", "b"]);
    assert_eq!(names("a//bc/"), ["a", "bc"]);
    assert_eq!(names("/é/ü/日本"), ["é", "ü", "日本"]);
    assert!(names("").is_empty());
    assert!(names("///").is_empty());
}

#[test]
fn components_split_on_slashes() {
    assert_eq!(components("/a/b"), owned(&[("a", true), ("b", false)]));
    assert_eq!(components("a//b/"), owned(&[("a", true), ("b", true)]));
    assert_eq!(
        components("/a/./..//"),
        owned(&[("a", true), (".", true), ("..", true)])
    );
    assert_eq!(components("/"), owned(&[]));
    assert_eq!(components("///"), owned(&[]));
}

#[test]
fn components_go_before_what_is_queued() {
    let mut queue = Vec::new();
    push_components(&mut queue, "x/y");
    queue.pop();
    push_components(&mut queue, "l1/l2");
    let order: Vec<String> = queue.into_iter().rev().map(|c| c.name).collect();
    assert_eq!(order, ["l1", "l2", "y"]);
}

#[test]
fn whole_paths_are_checked() {
    assert_eq!(check_path(""), Err(Errno::ENOENT));
    assert_eq!(check_path("a\0b"), Err(Errno::EINVAL));
    assert_eq!(check_path(&"a".repeat(4095)), Ok(()));
    assert_eq!(check_path(&"a".repeat(4096)), Err(Errno::ENAMETOOLONG));
    assert_eq!(check_component(&"a".repeat(255)), Ok(()));
    assert_eq!(check_component(&"a".repeat(256)), Err(Errno::ENAMETOOLONG));
}

fn tree() -> (Arc<dyn Inode>, Credentials) {
    use crate::vfs::{FileSystem, NewNode};
    let root = crate::tmpfs::TmpFs::new(crate::tmpfs::TmpFsOptions::default()).root();
    let dir = root
        .create("a", &NewNode::new(FileType::Directory, 0o755, 0, 0))
        .unwrap();
    dir.create("f", &NewNode::new(FileType::Regular, 0o644, 0, 0))
        .unwrap();
    dir.symlink("up", "..", 0, 0).unwrap();
    (root, Credentials::root())
}

/// The walk without a queue (`walk_plain`) gives what the full walk gives, error for
/// error: each path is resolved as written and with a `./` inserted, which sends it
/// through the full walk.
#[test]
fn the_plain_walk_agrees_with_the_full_walk() {
    use crate::vfs::NewNode;
    let (root, _) = tree();
    let a = root.lookup("a").unwrap();
    let locked = a
        .create("locked", &NewNode::new(FileType::Directory, 0o700, 0, 0))
        .unwrap();
    locked
        .create("inside", &NewNode::new(FileType::Regular, 0o644, 0, 0))
        .unwrap();
    a.create("dir", &NewNode::new(FileType::Directory, 0o755, 0, 0))
        .unwrap();
    a.symlink("link", "f", 0, 0).unwrap();
    let long = "n".repeat(NAME_MAX + 1);
    let paths = [
        "/a/f",
        "a/f",
        "/a//f",
        "/a/dir",
        "/a/missing",
        "/missing/f",
        "/a/f/x",
        "/a/locked/inside",
        "/a/link",
        "/a/up/a/f",
        "/a/up/missing",
    ];
    let user = Credentials::user(1000, 1000);
    for creds in [Credentials::root(), user] {
        for follow in [false, true] {
            let mut paths: Vec<String> = paths.iter().map(|p| String::from(*p)).collect();
            paths.push(alloc::format!("/a/{long}"));
            for path in paths {
                let full = match path.split_once("a/") {
                    Some((head, tail)) => alloc::format!("{head}a/./{tail}"),
                    None => path.clone(),
                };
                let walk = |path: &str| {
                    Walker::new(root.clone(), &creds)
                        .resolve_with_metadata(path, follow)
                        .map(|(_, meta)| (meta.ino, meta.kind))
                };
                assert_eq!(walk(&path), walk(&full), "{path} ({creds:?}, {follow})");
            }
        }
    }
    let walk_parent = |path: &str| {
        let parent = resolve_parent(&root, &Credentials::user(1000, 1000), path)?;
        let depth = parent.chain().count();
        Ok::<_, Errno>((parent.dir().metadata()?.ino, parent.last, depth))
    };
    for path in ["/a/f", "/a/dir/new", "/a/locked/x", "/a/f/x", "/a/up/a/f"] {
        let full = path.replacen("a/", "a/./", 1);
        assert_eq!(walk_parent(path), walk_parent(&full), "{path}");
    }
}

/// From a working directory, the plain walk and the full walk agree too, and `..`
/// climbs the working directory's own chain.
#[test]
fn walks_from_a_working_directory_agree_and_climb_its_chain() {
    let (root, creds) = tree();
    let cwd = Walker::new(root.clone(), &creds).locate("/a").unwrap();
    assert_eq!(cwd.depth(), 1);
    let walk = |path: &str| {
        Walker::new(root.clone(), &creds)
            .with_cwd(&cwd)
            .resolve_with_metadata(path, true)
            .map(|(_, meta)| (meta.ino, meta.kind))
    };
    let ino = |path: &str| {
        resolve(&root, &creds, path, true)
            .unwrap()
            .metadata()
            .unwrap()
            .ino
    };
    for (relative, absolute) in [
        ("f", "/a/f"),
        ("up/a/f", "/a/f"),
        ("..", "/"),
        ("../a", "/a"),
    ] {
        assert_eq!(walk(relative).unwrap().0, ino(absolute), "{relative}");
        assert_eq!(
            walk(relative),
            walk(&alloc::format!("./{relative}")),
            "{relative}"
        );
    }
    assert_eq!(walk("/a/f"), walk("f"));
    assert_eq!(walk("missing").unwrap_err(), Errno::ENOENT);
    assert_eq!(walk("f/x").unwrap_err(), Errno::ENOTDIR);
    // The parent walk of a relative path carries the working directory's chain.
    let parent = Walker::new(root.clone(), &creds)
        .with_cwd(&cwd)
        .parent("new")
        .unwrap();
    assert_eq!(parent.chain().count(), 2);
    let located = Walker::new(root.clone(), &creds)
        .with_cwd(&cwd)
        .locate("up")
        .unwrap();
    assert_eq!(located.depth(), 0, "a symlink to .. leads back to the root");
    assert_eq!(
        Walker::new(root.clone(), &creds)
            .with_cwd(&cwd)
            .locate("f")
            .unwrap_err(),
        Errno::ENOTDIR
    );
}

#[test]
fn parent_reports_the_final_component() {
    let (root, creds) = tree();
    let parent = resolve_parent(&root, &creds, "/a/new/").unwrap();
    assert_eq!(parent.last, Last::Name(String::from("new")));
    assert!(parent.trailing_slash);
    assert_eq!(
        parent.dir().metadata().unwrap().ino,
        root.lookup("a").unwrap().metadata().unwrap().ino
    );
    assert_eq!(parent.chain().count(), 2);
    assert_eq!(resolve_parent(&root, &creds, "/").unwrap().last, Last::Root);
    assert_eq!(
        resolve_parent(&root, &creds, "//").unwrap().last,
        Last::Root
    );
    assert_eq!(
        resolve_parent(&root, &creds, "/a/.").unwrap().last,
        Last::Dot
    );
    assert_eq!(
        resolve_parent(&root, &creds, "a/..").unwrap().last,
        Last::DotDot
    );
    // The parent walk needs every directory but not the final entry.
    assert!(resolve_parent(&root, &creds, "/a/missing").is_ok());
    assert_eq!(
        resolve_parent(&root, &creds, "/missing/x").unwrap_err(),
        Errno::ENOENT
    );
    assert_eq!(
        resolve_parent(&root, &creds, "/a/f/x").unwrap_err(),
        Errno::ENOTDIR
    );
}

#[test]
fn walker_continues_through_a_final_symlink() {
    let (root, creds) = tree();
    let mut walker = Walker::new(root.clone(), &creds);
    let parent = walker.parent("/a/up").unwrap();
    let link = walker.lookup_last(&parent).unwrap();
    let target = walker.follow(parent, &*link).unwrap();
    assert_eq!(target.last, Last::DotDot);
    assert_eq!(walker.links_followed(), 1);
    let reached = walker.lookup_last(&target).unwrap();
    assert_eq!(
        reached.metadata().unwrap().ino,
        root.metadata().unwrap().ino
    );
    assert_eq!(
        resolve(&root, &creds, "/a/up/a/up/a/f", true)
            .unwrap()
            .metadata()
            .unwrap()
            .kind,
        FileType::Regular
    );
    // Following a non-symlink is EINVAL, from its readlink.
    let parent = walker.parent("/a/f").unwrap();
    let file = walker.lookup_last(&parent).unwrap();
    assert_eq!(walker.follow(parent, &*file).unwrap_err(), Errno::EINVAL);
}

#[test]
fn displayed_paths_drop_trailing_slashes() {
    assert_eq!(display("/"), "/");
    assert_eq!(display("///"), "/");
    assert_eq!(display("/etc/"), "/etc");
    assert_eq!(display("etc"), "etc");
    assert_eq!(display(""), "");
}

#[test]
fn split_and_join() {
    assert_eq!(split_last("/a/b/"), ("/a", "b"));
    assert_eq!(split_last("/a"), ("/", "a"));
    assert_eq!(split_last("//a//b"), ("//a", "b"));
    assert_eq!(split_last("b"), ("", "b"));
    assert_eq!(split_last("/"), ("/", ""));
    assert_eq!(join("/a", "b"), "/a/b");
    assert_eq!(join("/", "b"), "/b");
    assert_eq!(join("", "b"), "b");
}
