use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use overlay_core::containers::{ContainerManager, ContainerOptions};
use overlay_core::image::{Bytes, ImageStore};
use overlay_core::posix::Namespace;
use overlay_core::vfs::{Credentials, FileType, OpenFlags};
use overlay_core::Errno;

use super::*;

/// A fresh scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "boot-build-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, path: &str, content: &str) -> PathBuf {
        let path = self.0.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        path
    }

    fn cache(&self) -> BuildCache {
        BuildCache::new(&self.0.join("cache")).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const BASE: &str = "\
# a base image
FROM scratch
COPY base /
WRITE /etc/motd \"welcome\\n\"
ENV LANG=C.UTF-8
";

const APP: &str = "\
FROM base:1
COPY app /app
COPY app/main.sh /usr/bin/
RM /etc/motd
MKDIR /var/lib/app
ENV LANG=en_US.UTF-8 MODE=\"fast mode\"
CMD [\"/app/main.sh\", \"--serve\"]
";

/// Two images, `app:1` FROM `base:1`, from a list.
fn project() -> Scratch {
    let scratch = Scratch::new();
    scratch.write("base/etc/os-release", "NAME=Base\n");
    scratch.write("base/etc/config", "debug=0\n");
    scratch.write("app/main.sh", "#!/bin/sh\necho app\n");
    scratch.write("app/data/greeting", "hello\n");
    scratch.write("base.build", BASE);
    scratch.write("app.build", APP);
    scratch.write("images", "app:1 app.build\nbase:1 base.build\n");
    scratch
}

/// Builds the list with the project's cache; returns the RAM disk and each step's outcome
/// as `IMAGE N/M OUTCOME` (`-` for FROM).
fn build(scratch: &Scratch, cache: bool) -> (Vec<u8>, Vec<String>) {
    let mut builder = Builder::new(cache.then(|| scratch.cache()));
    let layout = builder.build_list(&scratch.0.join("images")).unwrap();
    let outcomes = builder
        .reports()
        .iter()
        .map(|report| {
            let outcome = match report.outcome {
                None => "-",
                Some(Outcome::Cached) => "CACHED",
                Some(Outcome::Built) => "BUILT",
            };
            format!(
                "{} {}/{} {outcome}",
                report.image, report.number, report.total
            )
        })
        .collect();
    (layout.ramdisk().unwrap(), outcomes)
}

fn all(outcome: &str) -> Vec<String> {
    let mut lines = vec!["base:1 1/4 -".to_string()];
    lines.extend((2..=4).map(|n| format!("base:1 {n}/4 {outcome}")));
    lines.push("app:1 1/7 -".to_string());
    lines.extend((2..=7).map(|n| format!("app:1 {n}/7 {outcome}")));
    lines
}

#[test]
fn a_second_build_with_nothing_changed_reuses_every_step() {
    let scratch = project();
    let (first, outcomes) = build(&scratch, true);
    assert_eq!(outcomes, all("BUILT"));
    let (second, outcomes) = build(&scratch, true);
    assert_eq!(outcomes, all("CACHED"));
    assert_eq!(
        first, second,
        "the cached build must give the same RAM disk"
    );
    // Without the cache every step runs, and the result is the same.
    let (third, outcomes) = build(&scratch, false);
    assert_eq!(outcomes, all("BUILT"));
    assert_eq!(first, third);
}

#[test]
fn changing_one_instruction_rebuilds_it_and_the_steps_after_it() {
    let scratch = project();
    build(&scratch, true);
    // Step 5 of app:1 (MKDIR) changes: 2-4 stay cached, 5-7 are built.
    scratch.write(
        "app.build",
        &APP.replace("MKDIR /var/lib/app", "MKDIR /var/lib/app2"),
    );
    let (_, outcomes) = build(&scratch, true);
    let mut expected = all("CACHED");
    for n in 5..=7 {
        expected[4 + n - 1] = format!("app:1 {n}/7 BUILT");
    }
    assert_eq!(outcomes, expected);
    // Back as it was: every step is in the cache again.
    scratch.write("app.build", APP);
    assert_eq!(build(&scratch, true).1, all("CACHED"));
}

#[test]
fn changing_a_copied_file_rebuilds_that_copy_and_what_follows() {
    let scratch = project();
    build(&scratch, true);
    scratch.write("app/data/greeting", "hello again\n");
    let (_, outcomes) = build(&scratch, true);
    let mut expected = all("CACHED");
    for n in 2..=7 {
        expected[4 + n - 1] = format!("app:1 {n}/7 BUILT");
    }
    assert_eq!(outcomes, expected);
}

#[test]
fn changing_the_base_image_rebuilds_every_image_built_from_it() {
    let scratch = project();
    build(&scratch, true);
    // Only the ENV of the base changes: no layer of the base differs, but its config does,
    // and the config digest is the parent of the app's first step.
    scratch.write("base.build", &BASE.replace("C.UTF-8", "POSIX"));
    let (_, outcomes) = build(&scratch, true);
    let mut expected = all("BUILT");
    expected[1] = "base:1 2/4 CACHED".to_string();
    expected[2] = "base:1 3/4 CACHED".to_string();
    assert_eq!(outcomes, expected);
}

fn cat(ns: &Namespace, path: &str) -> Result<String, Errno> {
    let file = ns.open(&Credentials::root(), path, OpenFlags::READ, 0)?;
    let mut buf = vec![0; 4096];
    let count = file.pread(0, &mut buf)?;
    buf.truncate(count);
    Ok(String::from_utf8(buf).unwrap())
}

#[test]
fn instructions_make_the_files_a_dockerfile_would() {
    let scratch = project();
    let (ramdisk, _) = build(&scratch, false);
    let store = ImageStore::from_ramdisk(Bytes::from_vec(ramdisk)).unwrap();
    let names: Vec<&str> = store.images().iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["app:1", "base:1"]);
    let app = store.image("app:1").unwrap();
    // Two base layers, four app layers; ENV and CMD are history entries without a layer.
    assert_eq!(app.layers.len(), 6);
    assert_eq!(app.layers[..2], store.image("base:1").unwrap().layers[..]);
    let steps: Vec<(Option<&str>, bool)> = app
        .history
        .iter()
        .map(|step| (step.created_by.as_deref(), step.layer.is_some()))
        .collect();
    assert_eq!(
        steps,
        [
            (Some("COPY base /"), true),
            (Some("WRITE /etc/motd \"welcome\\n\""), true),
            (Some("ENV LANG=C.UTF-8"), false),
            (Some("COPY app /app"), true),
            (Some("COPY app/main.sh /usr/bin/"), true),
            (Some("RM /etc/motd"), true),
            (Some("MKDIR /var/lib/app"), true),
            (Some("ENV LANG=en_US.UTF-8 MODE=\"fast mode\""), false),
            (Some("CMD [\"/app/main.sh\", \"--serve\"]"), false),
        ]
    );
    assert_eq!(app.config.cmd, ["/app/main.sh", "--serve"]);
    assert!(app.config.env.contains(&"LANG=en_US.UTF-8".to_string()));
    assert!(app.config.env.contains(&"MODE=fast mode".to_string()));
    assert!(!app.config.env.iter().any(|e| e == "LANG=C.UTF-8"));

    let manager = ContainerManager::new(store, ContainerOptions::default());
    let base = Namespace::with_filesystem(manager.run("base:1", "b").unwrap());
    let app = Namespace::with_filesystem(manager.run("app:1", "a").unwrap());
    assert_eq!(cat(&base, "/etc/motd").unwrap(), "welcome\n");
    assert_eq!(cat(&app, "/etc/motd"), Err(Errno::ENOENT));
    assert_eq!(cat(&app, "/etc/os-release").unwrap(), "NAME=Base\n");
    assert_eq!(cat(&app, "/app/data/greeting").unwrap(), "hello\n");
    let root = Credentials::root();
    let tool = app.stat(&root, "/usr/bin/main.sh").unwrap();
    assert_eq!((tool.kind, tool.mode), (FileType::Regular, 0o644));
    assert_eq!(
        app.stat(&root, "/var/lib/app").unwrap().kind,
        FileType::Directory
    );
}

#[test]
fn bad_build_files_are_refused_with_their_line() {
    let scratch = project();
    let cases = [
        ("COPY a /b\n", "starts with FROM"),
        ("FROM scratch\nFROM scratch\n", "only one FROM"),
        ("FROM scratch\nRUN make\n", "unknown instruction RUN"),
        (
            "FROM scratch\nCOPY ../x /\n",
            "inside its context directory",
        ),
        (
            "FROM scratch\nCOPY --from=nowhere x /\n",
            "no build context \"nowhere\"",
        ),
        (
            "FROM scratch\nCOPY --chown=1 x /\n",
            "COPY takes --from=CONTEXT",
        ),
        ("FROM scratch\nMKDIR --chmod=9 /a\n", "not an octal mode"),
        (
            "FROM scratch\nSYMLINK /bin/busybox\n",
            "wrong number of arguments",
        ),
        ("FROM scratch\nSYMLINK x /\n", "cannot replace /"),
        ("FROM scratch\nCOPY base etc\n", "not an absolute path"),
        ("FROM scratch\nWRITE /a\n", "wrong number of arguments"),
        ("FROM scratch\nWRITE /a \"x\n", "unclosed quote"),
        ("FROM scratch\nENV 1X\n", "NAME=VALUE"),
        ("FROM scratch\nCMD [1]\n", "JSON array of strings"),
        ("FROM scratch\nMKDIR /a/../b\n", "`..`"),
        (
            "FROM scratch\nRM /etc\n",
            "no such file or directory in the image",
        ),
        ("FROM nowhere:1\n", "no image \"nowhere:1\""),
        ("FROM scratch\nCOPY missing /\n", "COPY source"),
        ("FROM scratch\nENTRYPOINT []\n", "ENTRYPOINT [] is empty"),
        (
            "FROM scratch\nENTRYPOINT [\"sh\", 1]\n",
            "JSON array of strings",
        ),
        ("FROM scratch\nUSER\n", "wrong number of arguments"),
        ("FROM scratch\nUSER app:\n", "NAME[:GROUP]"),
        ("FROM scratch\nUSER a:b:c\n", "NAME[:GROUP]"),
        ("FROM scratch\nWORKDIR /a /b\n", "wrong number of arguments"),
        ("FROM scratch\nWORKDIR ../a\n", "`..`"),
        (
            "FROM scratch\nWRITE /f x\nWORKDIR /f/g\n",
            "/f is not a directory",
        ),
        ("FROM scratch\nWRITE /f x\nWORKDIR /f\n", "not a directory"),
    ];
    for (text, expected) in cases {
        scratch.write("bad.build", text);
        let mut builder = Builder::new(None);
        let error = builder
            .build("bad", &scratch.0.join("bad.build"))
            .unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains(expected), "{text:?}: {message}");
        assert!(message.contains("bad.build:"), "{text:?}: {message}");
    }
    scratch.write("a.build", "FROM b\n");
    scratch.write("b.build", "FROM a\n");
    scratch.write("cycle", "a a.build\nb b.build\n");
    let error = Builder::new(None)
        .build_list(&scratch.0.join("cycle"))
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("FROM cycle: a -> b -> a"),
        "{error:#}"
    );
}

#[test]
fn the_default_images_share_their_base_layers() {
    let mut builder = Builder::new(None);
    let layout = builder
        .build_list(std::path::Path::new(DEFAULT_IMAGE_LIST))
        .unwrap();
    let names: Vec<&str> = layout.images().iter().map(|i| i.ref_name()).collect();
    assert_eq!(names, ["greeter:1.0", "counter:1.0", "runtime:1.4"]);
    let base = &layout.images()[2].layers();
    for image in &layout.images()[..2] {
        let layers = image.layers();
        assert_eq!(layers[0].diff_id, base[0].diff_id);
        assert_eq!(layers[1].diff_id, base[1].diff_id);
    }
    let ramdisk = layout.ramdisk().unwrap();
    // BIOS loads the RAM disk at about 10 s per MiB under TCG: keep it small.
    assert!(ramdisk.len() < 128 * 1024, "{} bytes", ramdisk.len());
    // Each shared blob is in the RAM disk once.
    let base_tar = &base[0].tar;
    let copies = ramdisk
        .windows(base_tar.len())
        .filter(|window| window == &base_tar.as_slice())
        .count();
    assert_eq!(copies, 1);
}

#[test]
fn symlinks_modes_contexts_and_continued_lines_make_the_layers_they_say() {
    let scratch = project();
    let outside = Scratch::new();
    outside.write("bin/tool", "#!/bin/sh\n");
    fs::set_permissions(
        outside.0.join("bin/tool"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    scratch.write(
        "tools.build",
        "FROM scratch\n\
         COPY --from=tools bin/tool /bin/tool\n\
         SYMLINK /bin/tool \\\n\
         # a comment inside the continued line\n\
         \x20   /bin/sh /usr/bin/env \\\n\
         \x20   /usr/bin/[\n\
         MKDIR --chmod=1777 /tmp /var/tmp\n\
         MKDIR /proc\n",
    );
    let mut builder = Builder::new(None);
    builder.set_context("tools", &outside.0);
    let image = builder
        .build("tools:1", &scratch.0.join("tools.build"))
        .unwrap();
    let created_by: Vec<&str> = image
        .layers()
        .iter()
        .map(|layer| layer.created_by.as_deref().unwrap())
        .collect();
    assert_eq!(
        created_by[1],
        "SYMLINK /bin/tool /bin/sh /usr/bin/env /usr/bin/["
    );
    assert_eq!(image.layers().len(), 4);
    let ramdisk = crate::oci::OciLayout::of(image).ramdisk().unwrap();
    let store = ImageStore::from_ramdisk(Bytes::from_vec(ramdisk)).unwrap();
    let manager = ContainerManager::new(store, ContainerOptions::default());
    let ns = Namespace::with_filesystem(manager.run("tools:1", "t").unwrap());
    let root = Credentials::root();
    let tool = ns.stat(&root, "/bin/tool").unwrap();
    assert_eq!((tool.kind, tool.mode), (FileType::Regular, 0o755));
    for link in ["/bin/sh", "/usr/bin/env", "/usr/bin/["] {
        assert_eq!(ns.lstat(&root, link).unwrap().kind, FileType::Symlink);
        assert_eq!(ns.readlink(&root, link).unwrap(), "/bin/tool");
        assert_eq!(cat(&ns, link).unwrap(), "#!/bin/sh\n");
    }
    for dir in ["/tmp", "/var/tmp"] {
        let tmp = ns.stat(&root, dir).unwrap();
        assert_eq!((tmp.kind, tmp.mode), (FileType::Directory, 0o1777), "{dir}");
    }
    assert_eq!(ns.stat(&root, "/var").unwrap().mode, 0o755);
    assert_eq!(ns.stat(&root, "/proc").unwrap().mode, 0o755);
}

#[test]
fn a_copy_from_a_missing_context_directory_says_where_it_looked() {
    let scratch = project();
    scratch.write(
        "bb.build",
        "FROM scratch\nCOPY --from=busybox bin/busybox /bin/\n",
    );
    let mut builder = Builder::new(None);
    builder.set_context("busybox", &scratch.0.join("not-fetched"));
    let error = builder
        .build("bb", &scratch.0.join("bb.build"))
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("not-fetched"), "{message}");
    assert!(message.contains("make deps"), "{message}");
}

#[test]
fn the_busybox_image_links_every_applet_to_the_binary() {
    let entries = read_image_list(std::path::Path::new(FW_CFG_IMAGE_LIST)).unwrap();
    let names: Vec<&str> = entries.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["busybox", "busybox-app"]);
    let build_file = parse_build_file(&entries[0].1).unwrap();
    let links = build_file
        .steps
        .iter()
        .find_map(|step| match &step.instruction {
            Instruction::Symlink { target, paths } => Some((target.clone(), paths.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(links.0, "/bin/busybox");
    for applet in [
        "/bin/sh",
        "/bin/echo",
        "/bin/cat",
        "/bin/ls",
        "/bin/rm",
        "/bin/mkdir",
        "/bin/mv",
        "/bin/cp",
        "/bin/ln",
        "/bin/chmod",
        "/usr/bin/find",
        "/usr/bin/wc",
        "/usr/bin/sort",
        "/bin/grep",
        "/bin/true",
        "/bin/false",
        "/usr/bin/env",
        "/bin/ps",
        "/usr/bin/free",
        "/usr/bin/uptime",
        "/bin/mount",
        "/bin/touch",
        "/usr/bin/head",
        "/usr/bin/tail",
        "/bin/stat",
        "/usr/bin/id",
        "/bin/pwd",
        "/bin/sleep",
        "/usr/bin/test",
        "/usr/bin/[",
    ] {
        assert!(links.1.iter().any(|link| link == applet), "{applet}");
    }
    assert!(!links.1.iter().any(|link| link == "/bin/busybox"));
}

fn diff_ids(image: &crate::oci::OciImage) -> Vec<String> {
    image.layers().iter().map(|l| l.diff_id.clone()).collect()
}

/// The image the kernel reads: its `Entrypoint`, `Cmd`, `WorkingDir` and `User`.
fn runtime_config(image: crate::oci::OciImage) -> overlay_core::image::RuntimeConfig {
    let name = image.ref_name().to_string();
    let ramdisk = crate::oci::OciLayout::of(image).ramdisk().unwrap();
    let store = ImageStore::from_ramdisk(Bytes::from_vec(ramdisk)).unwrap();
    store.image(&name).unwrap().config.clone()
}

#[test]
fn entrypoint_workdir_and_user_set_the_config_without_a_layer() {
    let scratch = project();
    scratch.write(
        "svc.build",
        "FROM app:1\n\
         WORKDIR /var/lib/app\n\
         USER nobody:nogroup\n\
         ENTRYPOINT [\"/app/main.sh\", \"--config=/etc/config\"]\n\
         CMD --verbose\n",
    );
    let mut builder = Builder::new(None);
    builder.build_list(&scratch.0.join("images")).unwrap();
    let svc = builder
        .build("svc:1", &scratch.0.join("svc.build"))
        .unwrap();
    let app_layers = builder
        .build("app:1", &scratch.0.join("app.build"))
        .unwrap();
    assert_eq!(diff_ids(&svc), diff_ids(&app_layers), "no layer of its own");
    let history: Vec<(&str, bool)> = svc.config()["history"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .take(4)
        .map(|entry| {
            (
                entry["created_by"].as_str().unwrap(),
                entry["empty_layer"] == true,
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            ("CMD --verbose", true),
            (
                "ENTRYPOINT [\"/app/main.sh\", \"--config=/etc/config\"]",
                true
            ),
            ("USER nobody:nogroup", true),
            ("WORKDIR /var/lib/app", true),
        ]
    );
    let config = runtime_config(svc);
    assert_eq!(config.entrypoint, ["/app/main.sh", "--config=/etc/config"]);
    assert_eq!(config.cmd, ["--verbose"]);
    assert_eq!(config.working_dir.as_deref(), Some("/var/lib/app"));
    assert_eq!(config.user.as_deref(), Some("nobody:nogroup"));
}

#[test]
fn entrypoint_clears_the_base_cmd_unless_a_cmd_came_before_it() {
    let scratch = project();
    scratch.write("wrap.build", "FROM app:1\nENTRYPOINT /bin/wrap\n");
    scratch.write(
        "keep.build",
        "FROM app:1\nCMD [\"--once\"]\nENTRYPOINT [\"/bin/wrap\"]\n",
    );
    let mut builder = Builder::new(None);
    builder.build_list(&scratch.0.join("images")).unwrap();
    let wrap = runtime_config(
        builder
            .build("wrap:1", &scratch.0.join("wrap.build"))
            .unwrap(),
    );
    assert_eq!(wrap.entrypoint, ["/bin/wrap"]);
    assert!(wrap.cmd.is_empty(), "app's Cmd was kept: {:?}", wrap.cmd);
    let keep = runtime_config(
        builder
            .build("keep:1", &scratch.0.join("keep.build"))
            .unwrap(),
    );
    assert_eq!(keep.entrypoint, ["/bin/wrap"]);
    assert_eq!(keep.cmd, ["--once"]);
}

#[test]
fn workdir_makes_a_missing_directory_and_takes_relative_paths_from_the_last() {
    let scratch = project();
    scratch.write(
        "work.build",
        "FROM scratch\n\
         MKDIR --chmod=1777 /tmp\n\
         WORKDIR /tmp/build/out\n\
         WORKDIR logs\n\
         WORKDIR /tmp\n\
         WORKDIR ./build\n",
    );
    let mut builder = Builder::new(Some(scratch.cache()));
    let image = builder
        .build("work:1", &scratch.0.join("work.build"))
        .unwrap();
    let outcomes: Vec<(Option<Outcome>, bool)> = builder
        .reports()
        .iter()
        .map(|report| (report.outcome, report.layer.is_some()))
        .collect();
    let built = Some(Outcome::Built);
    assert_eq!(
        outcomes,
        [
            (None, false),
            (built, true),
            (built, true),
            (built, true),
            (built, false),
            (built, false),
        ]
    );
    let name = image.ref_name().to_string();
    let ramdisk = crate::oci::OciLayout::of(image).ramdisk().unwrap();
    let store = ImageStore::from_ramdisk(Bytes::from_vec(ramdisk)).unwrap();
    assert_eq!(
        store.image(&name).unwrap().config.working_dir.as_deref(),
        Some("/tmp/build")
    );
    let manager = ContainerManager::new(store, ContainerOptions::default());
    let ns = Namespace::with_filesystem(manager.run(&name, "w").unwrap());
    let root = Credentials::root();
    let logs = ns.stat(&root, "/tmp/build/out/logs").unwrap();
    assert_eq!(
        (logs.kind, logs.mode, logs.uid),
        (FileType::Directory, 0o755, 0)
    );
    assert_eq!(ns.stat(&root, "/tmp/build").unwrap().mode, 0o755);
    // The layers that made directories under /tmp kept its mode.
    assert_eq!(ns.stat(&root, "/tmp").unwrap().mode, 0o1777);

    // A second build finds every step in the cache, layer or none.
    let mut again = Builder::new(Some(scratch.cache()));
    let second = again
        .build("work:1", &scratch.0.join("work.build"))
        .unwrap();
    assert!(again.reports()[1..]
        .iter()
        .all(|report| report.outcome == Some(Outcome::Cached)));
    assert_eq!(second.layers().len(), 3);
}

#[test]
fn the_busybox_app_image_shares_every_layer_of_busybox() {
    let fake = Scratch::new();
    fake.write("bin/busybox", "not really busybox\n");
    let mut builder = Builder::new(None);
    builder.set_context("busybox", &fake.0);
    let layout = builder
        .build_list(std::path::Path::new(FW_CFG_IMAGE_LIST))
        .unwrap();
    let [busybox, app] = layout.images() else {
        panic!("two images expected");
    };
    assert_eq!(app.ref_name(), "busybox-app");
    assert_eq!(diff_ids(app), diff_ids(busybox));
    let config = runtime_config(app.clone());
    assert_eq!(config.entrypoint, ["/bin/sh", "-c"]);
    assert_eq!(config.cmd.len(), 1);
    assert_eq!(config.working_dir.as_deref(), Some("/data"));
    assert_eq!(config.user.as_deref(), Some("nobody"));
    assert!(config.env.iter().any(|var| var.starts_with("PATH=")));
}

#[test]
fn a_from_chain_of_1000_images_builds_on_a_small_stack() {
    let scratch = Scratch::new();
    let mut builder = Builder::new(None);
    scratch.write("i0.build", "FROM scratch\nWRITE /base \"base\\n\"\n");
    builder
        .known
        .insert(String::from("i0"), scratch.0.join("i0.build"));
    for index in 1..1000 {
        let file = scratch.write(
            &format!("i{index}.build"),
            &format!("FROM i{}\n", index - 1),
        );
        builder.known.insert(format!("i{index}"), file);
    }
    let top = scratch.write("top.build", "FROM i999\nWRITE /top \"top\\n\"\n");
    // 256 KiB: a frame per image of the chain would not fit.
    let (image, reports) = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let image = builder.build("top", &top).unwrap();
            (image, builder.reports().len())
        })
        .unwrap()
        .join()
        .unwrap();
    // Every image's FROM, and the two WRITEs.
    assert_eq!(reports, 1001 + 2);
    assert_eq!(image.layers().len(), 2);
}
