use super::report::unescape;
use super::*;

/// A real boot's serial output (BIOS, the default RAM disk and BusyBox through fw_cfg, the
/// shell left at once), as `boot diagram` records it.
const SAMPLE: &str = include_str!("sample_report.txt");

fn sample() -> Report {
    parse(SAMPLE).expect("the sample report parses")
}

#[test]
fn the_report_gives_the_memory_handed_over_and_reclaimed() {
    let memory = sample().memory;
    assert_eq!(memory.firmware, "BIOS");
    assert_eq!(memory.regions, 11);
    let kinds: Vec<(&str, &str, usize)> = memory
        .kinds
        .iter()
        .map(|(name, size, count)| (name.as_str(), size.text.as_str(), *count))
        .collect();
    assert_eq!(
        kinds,
        [
            ("usable", "247.9 MiB", 3),
            ("bootloader", "7.5 MiB", 3),
            ("firmware-reserved", "12.0 GiB", 5)
        ]
    );
    let uses: Vec<(&str, &str, bool)> = memory
        .uses
        .iter()
        .map(|u| (u.label.as_str(), u.size.text.as_str(), u.kept))
        .collect();
    assert_eq!(uses.len(), 7);
    assert_eq!(uses[0], ("kernel ELF file", "2.7 MiB", true));
    assert_eq!(uses[4], ("page tables", "4.0 MiB", false));
    assert_eq!(
        uses[6],
        ("other (GDT, context switch, scratch)", "16 KiB", false)
    );
    let (reclaimed, ranges) = memory.reclaimed.expect("the reclaimed line");
    assert_eq!((reclaimed.text.as_str(), ranges), ("4.1 MiB", 3));
    assert_eq!(memory.kept.expect("kept").text, "3.4 MiB");
    assert_eq!(memory.heap_before.expect("heap").text, "247.9 MiB");
    let (after, in_use) = memory.heap_after.expect("heap after");
    assert_eq!(
        (after.text.as_str(), in_use.text.as_str()),
        ("252.0 MiB", "65 KiB")
    );
    assert_eq!(memory.own_tables.as_deref(), Some("64 KiB in 16 frames"));
}

#[test]
fn the_report_gives_layouts_images_layers_and_their_edges() {
    let report = sample();
    let sources: Vec<(&str, Vec<&str>)> = report
        .sources
        .iter()
        .map(|s| {
            let images = s.images.iter().map(|i| i.name.as_str()).collect();
            (s.kind.as_str(), images)
        })
        .collect();
    assert_eq!(
        sources,
        [
            (
                "RAM disk",
                vec!["greeter:1.0", "counter:1.0", "runtime:1.4"]
            ),
            ("fw_cfg", vec!["busybox", "busybox-app"])
        ]
    );
    assert_eq!(report.layers.len(), 13);
    let (stored, apart) = report.sources[0].stored.clone().expect("the sharing line");
    assert_eq!(
        (stored.text.as_str(), apart.text.as_str()),
        ("55 KiB", "124 KiB")
    );
    let greeter = report.image("greeter:1.0").expect("greeter");
    assert_eq!(
        greeter.layers,
        [
            "sha256:f2252f45379d",
            "sha256:e12cc56f28fb",
            "sha256:ee851e16fded"
        ]
    );
    assert_eq!(
        greeter.size.as_ref().map(|s| s.text.as_str()),
        Some("44 KiB")
    );
    assert_eq!(report.users("sha256:ee851e16fded"), 3);
    assert_eq!(report.users("sha256:f2252f45379d"), 1);
    let symlinks = report.layer("sha256:d6be847183fb").expect("a layer");
    assert_eq!(
        symlinks.size.as_ref().map(|s| s.text.as_str()),
        Some("137 KiB")
    );
    assert_eq!(symlinks.files, Some(0));
    assert!(symlinks
        .created_by
        .starts_with("SYMLINK /bin/busybox /bin/arch "));
    let hostname = report.layer("sha256:fc613a11d29f").expect("a layer");
    assert_eq!(hostname.created_by, "WRITE /etc/hostname \"counter\\n\"");
}

#[test]
fn the_report_gives_each_top_level_entry_its_layers() {
    let report = sample();
    assert_eq!(report.containers.len(), 1);
    let root = &report.containers[0];
    assert_eq!(
        (root.name.as_str(), root.image.as_str()),
        ("root", "greeter:1.0")
    );
    assert_eq!(
        root.upper.as_ref().map(|s| s.text.as_str()),
        Some("16.0 MiB")
    );
    let etc = root.entries.iter().find(|e| e.name == "etc").expect("etc");
    assert_eq!((etc.kind, etc.layer.as_str()), ('d', "sha256:f2252f45379d"));
    assert_eq!(etc.below, ["sha256:e12cc56f28fb", "sha256:ee851e16fded"]);
    let lib64 = root
        .entries
        .iter()
        .find(|e| e.name == "lib64")
        .expect("lib64");
    assert_eq!((lib64.kind, lib64.below.len()), ('l', 0));
    assert_eq!(root.entries.len(), 8);
}

#[test]
fn a_column_added_to_the_rootfs_tables_moves_no_other() {
    let widened = SAMPLE
        .replace(
            "rootfs:   LAYER                 SIZE  FILES",
            "rootfs:   LAYER                 SIZE      HEAP  FILES",
        )
        .replace(
            "rootfs:   sha256:ee851e16fded  24 KiB     14",
            "rootfs:   sha256:ee851e16fded  24 KiB     3 KiB     14",
        );
    let report = parse(&widened).expect("parses");
    let base = report.layer("sha256:ee851e16fded").expect("the base layer");
    assert_eq!(base.files, Some(14));
    assert_eq!(base.created_by, "COPY base /");
}

#[test]
fn a_report_without_map_lines_is_refused_saying_so() {
    let old: String = SAMPLE
        .lines()
        .filter(|line| !line.starts_with("map: "))
        .map(|line| format!("{line}\n"))
        .collect();
    let error = parse(&old).expect_err("no map lines").to_string();
    assert!(error.contains("map: image greeter:1.0"), "{error}");
    let error = parse("hello\n").expect_err("no report").to_string();
    assert!(error.contains("boot report"), "{error}");
}

#[test]
fn the_same_report_draws_the_same_bytes_and_keeps_itself() {
    let svg = draw(SAMPLE).expect("draws");
    assert_eq!(svg, draw(SAMPLE).expect("draws"));
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    let kept = embedded_report(&svg).expect("the report is kept");
    assert_eq!(kept, report_lines(SAMPLE).join("\n") + "\n");
    // Drawn again from what it keeps, the drawing is the same.
    assert_eq!(draw(&kept).expect("draws"), svg);
    for text in [
        "greeter:1.0",
        "sha256:ee851e16fded",
        "shared by 3 images",
        "reclaimed into the heap: 4.1 MiB in 3 ranges",
        "container root of greeter:1.0",
        "etc/",
        "lib64@",
    ] {
        assert!(svg.contains(text), "no {text:?} in the drawing");
    }
}

#[test]
fn text_from_the_report_is_escaped_in_the_drawing() {
    let hostile = SAMPLE.replace("COPY greeter /", "COPY <script>&\"' /");
    let svg = draw(&hostile).expect("draws");
    assert!(!svg.contains("<script>"));
    assert!(svg.contains("COPY &lt;script&gt;&amp;&quot;&apos; /"));
    assert!(embedded_report(&svg)
        .expect("kept")
        .contains("COPY <script>&\"' /"));
}

#[test]
fn the_shape_ignores_sizes_and_digests_but_not_layers_or_entries() {
    let expected = shape(&sample());
    let resized = SAMPLE
        .replace("2.7 MiB", "2.9 MiB")
        .replace("65 KiB in use", "66 KiB in use")
        .replace("11 regions", "12 regions")
        .replace("sha256:32c23469e259", "sha256:0123456789ab");
    let actual = shape(&parse(&resized).expect("parses"));
    assert_eq!(differences(&expected, &actual), Vec::<String>::new());

    let moved = SAMPLE.replace(
        "map:   d var sha256:f2252f45379d",
        "map:   d var sha256:ee851e16fded",
    );
    let actual = shape(&parse(&moved).expect("parses"));
    assert_eq!(
        differences(&expected, &actual),
        ["-   d var L0", "+   d var L2"]
    );
    let renamed = SAMPLE.replace("COPY runtime /", "COPY runtime2 /");
    let actual = shape(&parse(&renamed).expect("parses"));
    assert!(differences(&expected, &actual)
        .iter()
        .any(|line| line == "+     layer COPY runtime2 / (shared by 3)"));
}

#[test]
fn escaped_names_are_read_back() {
    assert_eq!(unescape("a\\u{20}b\\u{5c}c"), "a b\\c");
    assert_eq!(unescape("plain"), "plain");
    assert_eq!(unescape("bad\\u{zz}"), "bad\\u{zz}");
}

/// `docs/boot.svg` is what this code draws from the report it keeps: a change to the drawing
/// code is a change to the picture, made with `make diagram`. (Whether its report still has
/// the shape of a boot of today's kernel is the QEMU test `qemu-tests/tests/diagram.rs`.)
#[test]
fn the_committed_diagram_is_what_this_code_draws_from_its_report() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/boot.svg");
    let committed = std::fs::read_to_string(path).expect("read docs/boot.svg");
    let report = embedded_report(&committed).expect("docs/boot.svg keeps its report");
    let drawn = draw(&report).expect("its report draws");
    assert!(
        drawn == committed,
        "docs/boot.svg is not what this code draws from its report: run `make diagram`"
    );
}
