use alloc::{format, string::String, sync::Arc, vec::Vec};

use super::super::Shell;
use crate::containers::{ContainerManager, ContainerOptions};
use crate::image::testlayout::{self, app_layer, base_layer, runtime_layer, TestImage};
use crate::image::{sha256_digest, short_digest, Bytes, ImageStore};
use crate::posix::Namespace;
use crate::scenarios::fixture::build_layer;

fn shell() -> (Arc<ContainerManager>, Shell) {
    let store = ImageStore::from_ramdisk(Bytes::from_vec(testlayout::two_services())).unwrap();
    let manager = ContainerManager::new(store, ContainerOptions::default());
    manager.run("svc-a", "root").unwrap();
    let shell = Shell::with_engine(manager.clone(), "root").unwrap();
    (manager, shell)
}

fn run(shell: &mut Shell, script: &str) -> String {
    let mut out = String::new();
    shell.run_script(script, &mut out).unwrap();
    out
}

fn size(layer: Vec<u8>) -> u64 {
    layer.len() as u64
}

#[test]
fn images_history_and_df_show_the_store() {
    let (_, mut shell) = shell();
    let (base, runtime) = (size(base_layer()), size(runtime_layer()));
    let (a, b) = (size(app_layer("a")), size(app_layer("b")));
    let images = run(&mut shell, "images");
    let expected = format!(
        "IMAGE   LAYERS   SIZE\nsvc-a        3  {}\nsvc-b        3  {}\njava:8       2  {}\n",
        base + runtime + a,
        base + runtime + b,
        base + runtime
    );
    assert_eq!(images, expected);

    let history = run(&mut shell, "history svc-a");
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines[0], "LAYER                SIZE  CREATED BY");
    let app = short_digest(&sha256_digest(&app_layer("a"))).to_owned();
    assert_eq!(lines[1], format!("{app}  {a:>4}  STEP 3"));
    assert!(lines[3].ends_with("  STEP 1"));
    assert_eq!(lines.len(), 4);

    let df = run(&mut shell, "df");
    let lines: Vec<&str> = df.lines().collect();
    let words = |line: &str| {
        line.split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        words(lines[0]),
        ["IMAGE", "LAYERS", "SIZE", "SHARED", "UNIQUE"]
    );
    let shared = base + runtime;
    assert_eq!(
        words(lines[1]),
        [
            "svc-a",
            "3",
            &format!("{}", shared + a),
            &format!("{shared}"),
            &format!("{a}")
        ]
    );
    assert_eq!(words(lines[3])[4], "0");
    assert_eq!(
        words(lines[4]),
        [
            "total",
            "4",
            &format!("{}", shared + a + b),
            &format!("{shared}"),
            &format!("{}", a + b)
        ]
    );
    assert_eq!(
        lines[5],
        format!(
            "stored: {} bytes in 4 layers, each once; without sharing: {} bytes",
            shared + a + b,
            3 * shared + a + b
        )
    );
    assert_eq!(lines[6], "reclaimed by rmi and rmc: 0 bytes in 0 layers");
    assert!(
        lines[7].starts_with("layer trees: 23 entries, "),
        "{}",
        lines[7]
    );
    assert!(
        lines[7].ends_with(" per entry besides its name"),
        "{}",
        lines[7]
    );
    assert_eq!(lines[8], "containers: 1, writable layers 0 bytes");
    assert_eq!(lines.len(), 9);
}

#[test]
fn the_seeds_story_run_change_diff_commit_run_df_rmi() {
    let (manager, mut shell) = shell();
    assert_eq!(run(&mut shell, "run svc-b other\nps"), "   CONTAINER  IMAGE  LAYERS  UPPER\n*  root       svc-a       3      0\n   other      svc-b       3      0\n");
    // A change in `root`, invisible in `other`.
    let out = run(
        &mut shell,
        "write /etc/config changed\nrm /etc/motd\nmkdir /data\ndiff",
    );
    assert_eq!(out, "A /data\nC /etc\nC /etc/config\nD /etc/motd\n");
    assert_eq!(
        run(&mut shell, "use other\ncat /etc/config\ndiff"),
        "app=b\n"
    );
    // Commit `root` while in `other`: the shell stays in `other`.
    let out = run(&mut shell, "commit root svc-a:2");
    let layer = out.trim_end().to_owned();
    assert!(layer.starts_with("sha256:") && layer.len() == 71, "{out}");
    assert_eq!(shell.container(), Some("other"));
    assert_eq!(run(&mut shell, "cat /etc/config"), "app=b\n");
    // In `root` again: the changes are there, read from the new layer; its upper is empty.
    let out = run(
        &mut shell,
        "use root\ndiff\ncat /etc/config\ncat /etc/motd\nstat /data",
    );
    assert!(
        out.starts_with("changed\nerror: ENOENT: cat /etc/motd\nd 0755 0:0 "),
        "{out}"
    );
    assert!(out.ends_with(" layer=lower:0 /data\n"), "{out}");
    // A container of the committed image shows them too.
    let out = run(
        &mut shell,
        "run svc-a:2 second\nuse second\ncat /etc/config\ncat /etc/motd",
    );
    assert_eq!(out, "changed\nerror: ENOENT: cat /etc/motd\n");
    let history = run(&mut shell, "history svc-a:2");
    assert!(
        history.lines().nth(1).unwrap().ends_with("  commit root"),
        "{history}"
    );
    // Committing the container the shell is in follows it onto the new image.
    let out = run(
        &mut shell,
        "write /more x\ncommit second svc-a:3\ndiff\ncat /more\nps",
    );
    assert!(out.contains("\nx\n"), "{out}");
    assert!(
        out.contains("*  second     svc-a:3       5      0\n"),
        "{out}"
    );

    // rmi: svc-a:3's own layer stays for the container `second`; svc-b's for `other`.
    let out = run(&mut shell, "rmi svc-a:3");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Untagged: svc-a:3");
    assert!(
        lines[1].starts_with("Kept: sha256:") && lines[1].ends_with("(used by container second)"),
        "{out}"
    );
    assert!(
        lines[2].ends_with("(used by svc-a:2, container root, container second)"),
        "{out}"
    );
    assert!(
        lines.iter().all(|line| !line.starts_with("Deleted")),
        "{out}"
    );
    // The app layer of svc-b goes once nothing uses it: remove its container first. The
    // image still holds every layer of it, so none goes with the container.
    assert_eq!(
        run(&mut shell, "rmc other\nps").lines().next(),
        Some("Removed: other")
    );
    assert!(manager.containers().iter().all(|c| c.name != "other"));
    let out = run(&mut shell, "rmi svc-b");
    let app_b = short_digest(&sha256_digest(&app_layer("b"))).to_owned();
    assert!(
        out.contains(&format!("\nDeleted: {app_b} {}\n", size(app_layer("b")))),
        "{out}"
    );
    assert!(
        out.contains("(used by svc-a, java:8, svc-a:2, container root, container second)"),
        "{out}"
    );
    let df = run(&mut shell, "df");
    let reclaimed = format!(
        "reclaimed by rmi and rmc: {} bytes in 1 layers",
        size(app_layer("b"))
    );
    assert!(df.contains(&reclaimed), "{df}");
    assert!(df.contains("\nheld for containers only: "), "{df}");
    assert!(
        df.contains("\ncontainers: 2, writable layers 0 bytes\n"),
        "{df}"
    );
    // svc-a:3 is gone, so its own layer goes with `second`, the last container using it
    // (not while the shell is in it: from `root`).
    let kept_for_second = lines[1]
        .strip_prefix("Kept: ")
        .and_then(|kept| kept.split(' ').next())
        .unwrap()
        .to_owned();
    assert_eq!(run(&mut shell, "rmc second"), "error: EBUSY: rmc second\n");
    let out = run(&mut shell, "use root\nrmc second");
    let removed: Vec<&str> = out.lines().collect();
    assert_eq!(removed[0], "Removed: second", "{out}");
    assert_eq!(removed.len(), 2, "{out}");
    assert!(
        removed[1].starts_with(&format!("Deleted: {kept_for_second} ")),
        "{out}"
    );
    assert_eq!(
        run(&mut shell, "ps"),
        "   CONTAINER  IMAGE    LAYERS  UPPER\n*  root       svc-a:2       4      0\n"
    );
}

#[test]
fn mistakes_print_one_error_line() {
    let (_, mut shell) = shell();
    let script = "use nope\nrun nope x\nrun svc-a root\nrun svc-a \"a b\"\nhistory nope\n\
                  commit nope x\ncommit root svc-b\nrmi nope\nimages extra\nrmc nope\nrmc root";
    let expected = "error: ENOENT: use nope\nerror: ENOENT: run nope x\n\
                    error: EEXIST: run svc-a root\nerror: EINVAL: run svc-a \"a b\"\n\
                    error: ENOENT: history nope\nerror: ENOENT: commit nope x\n\
                    error: EEXIST: commit root svc-b\nerror: ENOENT: rmi nope\n\
                    error: EINVAL: images extra\nerror: ENOENT: rmc nope\n\
                    error: EBUSY: rmc root\n";
    assert_eq!(run(&mut shell, script), expected);
    assert_eq!(shell.container(), Some("root"));
    assert_eq!(shell.failures(), 11);
}

#[test]
fn use_keeps_the_credentials() {
    let (_, mut shell) = shell();
    let out = run(
        &mut shell,
        "run java:8 j\nsu 1000 1000\nuse j\nwrite /etc/motd x\nsu 0 0\nwrite /etc/motd x",
    );
    assert_eq!(out, "error: EACCES: write /etc/motd x\n");
}

#[test]
fn image_references_are_printed_escaped() {
    let (base, runtime) = (base_layer(), runtime_layer());
    let forged = "evil\x1b[2J\nsvc-a        3  1";
    let ramdisk = testlayout::ramdisk(&[
        TestImage::new(forged, &[&base]),
        TestImage::new("svc-b", &[&base, &runtime]),
    ]);
    let store = ImageStore::from_ramdisk(Bytes::from_vec(ramdisk)).unwrap();
    let manager = ContainerManager::new(store, ContainerOptions::default());
    manager.run(forged, "root").unwrap();
    let mut shell = Shell::with_engine(manager.clone(), "root").unwrap();
    let escaped = "evil\\x1b[2J\\nsvc-a        3  1";
    let images = run(&mut shell, "images");
    assert_eq!(images.lines().count(), 3, "{images}");
    assert!(images.contains(&format!("\n{escaped}  ")), "{images}");
    let ps = run(&mut shell, "ps");
    assert_eq!(ps.lines().count(), 2, "{ps}");
    assert!(ps.contains(&format!("root       {escaped}  ")), "{ps}");
    let df = run(&mut shell, "df");
    assert!(df.contains(&format!("\n{escaped}  ")), "{df}");
}

#[test]
fn without_an_engine_the_image_commands_are_enotsup() {
    let layer = build_layer(&["d etc"]).unwrap();
    let mut shell = Shell::new(Namespace::with_filesystem(layer), None);
    for command in [
        "images",
        "history x",
        "df",
        "ps",
        "run x y",
        "use x",
        "commit x y",
        "rmi x",
        "rmc x",
    ] {
        assert_eq!(
            run(&mut shell, command),
            format!("error: ENOTSUP: {command}\n")
        );
    }
    assert_eq!(shell.container(), None);
}

#[test]
fn random_image_commands_never_panic_and_keep_the_store_consistent() {
    let (manager, mut shell) = shell();
    let words = [
        "svc-a", "svc-b", "java:8", "root", "c1", "c2", "img:1", "img:2", "bad name", "",
    ];
    let commands = [
        "images", "history", "df", "ps", "run", "use", "commit", "rmi", "rmc", "write", "rm",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for _ in 0..600 {
        let command = commands[next(commands.len())];
        let (a, b) = (words[next(words.len())], words[next(words.len())]);
        let line = match command {
            "history" | "use" | "rmi" | "rmc" => format!("{command} \"{a}\""),
            "run" | "commit" => format!("{command} \"{a}\" \"{b}\""),
            "write" => format!("write /f{} x", next(3)),
            "rm" => format!("rm /f{}", next(3)),
            _ => String::from(command),
        };
        let out = run(&mut shell, &line);
        if let Some(error) = out.strip_prefix("error: ") {
            assert_eq!(out.lines().count(), 1, "{line}: {out}");
            assert!(error.ends_with(&format!(": {}\n", line)), "{line}: {out}");
        }
        // Every layer an image or a container uses is stored; df adds up.
        let usage = manager.usage();
        assert_eq!(
            usage.stored_bytes,
            usage.shared_bytes + usage.unique_bytes + usage.unused_bytes
        );
        manager.with_store(|store| {
            for image in store.images() {
                assert!(image
                    .layers
                    .iter()
                    .all(|digest| store.layer(digest).is_some()));
            }
        });
        for container in manager.containers() {
            assert!(container.union.lowers().len() >= 2);
        }
    }
}

#[test]
fn images_of_50000_manifests_list_in_well_under_a_second() {
    let base = base_layer();
    let names: Vec<String> = (0..50_000).map(|n| format!("img-{n}")).collect();
    let images: Vec<TestImage<'_>> = names
        .iter()
        .map(|name| TestImage::new(name, &[&base]))
        .collect();
    let ramdisk = testlayout::ramdisk(&images);
    let store = ImageStore::from_ramdisk(Bytes::from_vec(ramdisk)).unwrap();
    let manager = ContainerManager::new(store, ContainerOptions::default());
    manager.run("img-0", "root").unwrap();
    let mut shell = Shell::with_engine(manager, "root").unwrap();
    // Quadratic (each image's layers looked up among all images), this took minutes.
    for command in ["images", "df"] {
        let start = std::time::Instant::now();
        let out = run(&mut shell, command);
        let elapsed = start.elapsed();
        assert!(elapsed.as_millis() < 1000, "{command}: {elapsed:?}");
        let last = out.lines().find(|line| line.starts_with("img-49999 "));
        let words: Vec<&str> = last.unwrap_or_default().split_whitespace().collect();
        assert_eq!(words[..3], ["img-49999", "1", &format!("{}", base.len())]);
    }
}

#[test]
fn a_commit_that_fails_on_an_entry_says_which_and_why() {
    let (manager, mut shell) = shell();
    // 20 xattrs of 60 KB: more than the 1 MiB one tar entry's extended header holds.
    let value = "v".repeat(60 * 1024);
    let mut script = String::from("write /big x\n");
    for n in 0..20 {
        script.push_str(&format!("setxattr /big user.x{n} {value}\n"));
    }
    assert_eq!(run(&mut shell, &script), "");
    assert_eq!(
        run(&mut shell, "commit root big"),
        "error: EINVAL: commit root big (/big: xattrs and names over the 1 MiB a tar \
         entry's extended header may hold)\n"
    );
    assert!(manager.with_store(|store| store.image("big").is_none()));
}
