//! [`UnionView`] for [`OverlayFs`]: what `layers`, `diff` and `stat` show of a union.

use alloc::{format, string::String, vec::Vec};

use super::{Change, ChangeKind, LayerSummary, Origin, UnionView};
use crate::error::Result;
use crate::overlay::{OverlayFs, OverlayInode, WhiteoutEncoding};
use crate::vfs::Inode;

impl UnionView for OverlayFs {
    fn layers(&self) -> Vec<LayerSummary> {
        let mut layers = Vec::new();
        if let Some(upper) = self.upper() {
            layers.push(LayerSummary {
                origin: Origin::Upper,
                read_only: false,
                label: describe("", upper.encoding()),
            });
        }
        for (index, lower) in self.lowers().iter().enumerate() {
            layers.push(LayerSummary {
                origin: Origin::Lower(index),
                read_only: true,
                label: describe(lower.label(), lower.encoding()),
            });
        }
        layers
    }

    fn origin_of(&self, inode: &dyn Inode) -> Option<Origin> {
        let node = inode.as_any().downcast_ref::<OverlayInode>()?;
        if !self.owns(node) {
            return None;
        }
        Some(match node.origin_layer() {
            Some(index) => Origin::Lower(index),
            None => Origin::Upper,
        })
    }

    fn diff(&self) -> Result<Vec<Change>> {
        OverlayFs::diff(self)
    }

    fn for_each_change(&self, visit: &mut dyn FnMut(ChangeKind, &str) -> Result<()>) -> Result<()> {
        OverlayFs::for_each_change(self, visit)
    }
}

/// A layer's label followed by its whiteout encoding, e.g. `rootfs/base whiteouts=oci`.
fn describe(label: &str, encoding: WhiteoutEncoding) -> String {
    let encoding = match encoding {
        WhiteoutEncoding::Linux => "linux",
        WhiteoutEncoding::Oci => "oci",
    };
    if label.is_empty() {
        format!("whiteouts={encoding}")
    } else {
        format!("{label} whiteouts={encoding}")
    }
}

#[cfg(test)]
mod tests {
    use alloc::{string::String, sync::Arc};

    use super::super::Shell;
    use crate::overlay::{Layer, OverlayFs, OverlayOptions, UpperLayer};
    use crate::posix::Namespace;
    use crate::scenarios::fixture::build_layer;
    use crate::tmpfs::{TmpFs, TmpFsOptions};

    fn shell() -> Shell {
        let app = build_layer(&["d app", "f app/main hello", "d etc", "w etc/motd"]).unwrap();
        let base = build_layer(&["d etc", "f etc/config :xxx:yyy:zzz", "f etc/motd hi"]).unwrap();
        let union = OverlayFs::new(
            vec![
                Layer::new(app).with_label("app"),
                Layer::new(base).with_label("base"),
            ],
            Some(UpperLayer::new(TmpFs::new(TmpFsOptions::default())).unwrap()),
            OverlayOptions::default(),
        )
        .unwrap();
        Shell::new(
            Namespace::with_filesystem(union.clone()),
            Some(union as Arc<_>),
        )
    }

    fn run(shell: &mut Shell, script: &str) -> String {
        let mut out = String::new();
        shell.run_script(script, &mut out).unwrap();
        out
    }

    #[test]
    fn layers_stat_and_diff_through_a_union() {
        let mut shell = shell();
        assert_eq!(
            run(&mut shell, "layers"),
            "upper rw whiteouts=linux\nlower:0 ro app whiteouts=linux\nlower:1 ro base whiteouts=linux\n"
        );
        let stat = run(&mut shell, "stat /etc/config");
        assert!(stat.starts_with("f 0644 0:0 size=12 nlink=1 "), "{stat}");
        assert!(stat.ends_with(" layer=lower:1 /etc/config\n"), "{stat}");
        let script = "writeat /etc/config 0 q\nrm /app/main\nmkdir /new\nwrite /new/f x\ncat /etc/config\ndiff";
        assert_eq!(
            run(&mut shell, script),
            "qxxx:yyy:zzz\nC /app\nD /app/main\nC /etc\nC /etc/config\nA /new\nA /new/f\n"
        );
        let stat = run(&mut shell, "stat /etc/config");
        assert!(stat.ends_with(" layer=upper /etc/config\n"), "{stat}");
        assert_eq!(
            run(&mut shell, "cat /etc/motd"),
            "error: ENOENT: cat /etc/motd\n"
        );
    }

    #[test]
    fn diff_prints_paths_escaped() {
        let mut shell = shell();
        let root = crate::vfs::Credentials::root();
        let flags = crate::vfs::OpenFlags::WRITE | crate::vfs::OpenFlags::CREATE;
        let forged = "/etc/a\nD ";
        shell.namespace().mkdir(&root, forged, 0o755).unwrap();
        let shadow = alloc::format!("{forged}/shadow");
        shell
            .namespace()
            .open(&root, &shadow, flags, 0o644)
            .unwrap();
        assert_eq!(
            run(&mut shell, "diff"),
            "C /etc\nA /etc/a\\nD \nA /etc/a\\nD /shadow\n"
        );
    }

    #[test]
    fn tree_and_diff_sort_whole_paths_where_a_name_extends_a_directory_name() {
        // `-` and `.` sort before `/`: `/d-x` and `/d.x` come between `/d` and `/d/f`.
        let mut shell = shell();
        let script =
            "mkdir /d\nwrite /d/f x\nwrite /d.x y\nmkdir /d-x\nwrite /d0 z\nrm /etc/config";
        assert_eq!(run(&mut shell, script), "");
        let diff = run(&mut shell, "diff");
        assert_eq!(
            diff,
            "A /d\nA /d-x\nA /d.x\nA /d/f\nA /d0\nC /etc\nD /etc/config\n"
        );
        let tree = run(&mut shell, "tree /");
        let paths: alloc::vec::Vec<&str> = tree
            .lines()
            .map(|line| line.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "/",
                "/app",
                "/app/main",
                "/d",
                "/d-x",
                "/d.x",
                "/d/f",
                "/d0",
                "/etc"
            ]
        );
        let tree = run(&mut shell, "tree /d/");
        assert!(
            tree.ends_with(" /d\nf 0644 0:0 1 2d711642b726b044 /d/f\n"),
            "{tree}"
        );
    }
}
