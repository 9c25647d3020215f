//! Fresh unions for the scenarios: lower layers built from a small text description, an
//! upper layer, and the POSIX calls over the union.
//!
//! Every build uses tmpfs layers and works on the union itself. Tests of this crate can run
//! the same scenarios over other filesystems (e.g. the ArceOS adapters): `with_setup` swaps
//! how layers are made and what the namespace sees, for the calling thread only, and exists
//! in test builds only, so the crate keeps no global state.

use alloc::{format, string::String, sync::Arc, vec::Vec};

use crate::error::Errno;
use crate::overlay::{whiteout, Layer, OverlayFs, OverlayOptions, UpperLayer, WhiteoutEncoding};
use crate::posix::Namespace;
use crate::tmpfs::{TmpFs, TmpFsOptions};
use crate::vfs::{
    Credentials, DeviceId, FileSystem, FileType, FsFeatures, Inode, Metadata, NewNode, OpenFlags,
};

/// What a scenario step returns: `Err` carries the reason it failed.
pub type Outcome<T = ()> = core::result::Result<T, String>;

/// How a fixture makes its layers, and what its namespace works on.
#[derive(Clone, Copy)]
pub(crate) struct Setup {
    /// A new, empty filesystem for one lower layer (the fixture fills it).
    pub(crate) lower: fn() -> Arc<dyn FileSystem>,
    /// A new, empty filesystem for the upper layer; given a capacity, writes past it fail
    /// with `ENOSPC`.
    pub(crate) upper: fn(Option<u64>) -> Arc<dyn FileSystem>,
    /// The filesystem the POSIX calls go to, given the union: the union itself, or a view
    /// of it through some adapter.
    pub(crate) view: fn(&Arc<OverlayFs>) -> Arc<dyn FileSystem>,
}

impl Setup {
    /// Tmpfs layers, calls straight to the union: what every build runs.
    pub(crate) const TMPFS: Setup = Setup {
        lower: tmpfs_lower,
        upper: tmpfs_upper,
        view: union_itself,
    };
}

fn tmpfs_lower() -> Arc<dyn FileSystem> {
    TmpFs::new(TmpFsOptions::default())
}

fn tmpfs_upper(capacity_bytes: Option<u64>) -> Arc<dyn FileSystem> {
    TmpFs::new(TmpFsOptions {
        capacity_bytes,
        ..TmpFsOptions::default()
    })
}

fn union_itself(fs: &Arc<OverlayFs>) -> Arc<dyn FileSystem> {
    fs.clone()
}

#[cfg(test)]
std::thread_local! {
    static SETUP: core::cell::Cell<Setup> = const { core::cell::Cell::new(Setup::TMPFS) };
}

/// Runs `run` with fixtures made by `setup` on this thread, then restores the previous setup.
#[cfg(test)]
pub(crate) fn with_setup<T>(setup: Setup, run: impl FnOnce() -> T) -> T {
    struct Restore(Setup);
    impl Drop for Restore {
        fn drop(&mut self) {
            SETUP.with(|cell| cell.set(self.0));
        }
    }
    let _restore = Restore(SETUP.with(|cell| cell.replace(setup)));
    run()
}

/// Runs the scenario `name` of [`super::ALL`] with `setup`, and fails the test unless it
/// passes.
#[cfg(test)]
pub(crate) fn run_scenario(setup: Setup, name: &str) {
    assert_eq!(with_setup(setup, scenario(name).run), Ok(()), "{name}");
}

/// Runs the scenario `name` with `setup`, and fails the test if it passes: a scenario marked
/// as one that cannot apply must really fail there, or the mark is stale.
#[cfg(test)]
pub(crate) fn run_skipped_scenario(setup: Setup, name: &str) {
    let outcome = with_setup(setup, scenario(name).run);
    assert!(
        outcome.is_err(),
        "{name} is marked as skipped but passes: mark it as run"
    );
}

#[cfg(test)]
fn scenario(name: &str) -> super::Scenario {
    match super::ALL.iter().find(|scenario| scenario.name == name) {
        Some(scenario) => *scenario,
        None => panic!("no scenario is named {name}"),
    }
}

/// Checks that `verdicts` names every scenario of [`super::ALL`], in order.
#[cfg(test)]
pub(crate) fn check_verdicts(verdicts: &[(&str, Option<&str>)]) {
    let names: Vec<&str> = verdicts.iter().map(|(name, _)| *name).collect();
    let all: Vec<&str> = super::ALL.iter().map(|scenario| scenario.name).collect();
    assert_eq!(
        names, all,
        "every scenario needs a verdict, in the order of docs/semantics.md"
    );
}

/// Declares, for the setup `$setup`, one test per scenario of [`super::ALL`], each marked
/// `ran` (the scenario must pass) or `skipped "reason"` (the test is `#[ignore]`d with that
/// reason, so `cargo test` prints it; run with `--ignored`, it checks the scenario fails).
/// Also declares `VERDICTS` (name, skip reason), a test that every scenario has a verdict, in
/// order, and a test that every skipped scenario really fails with this setup.
#[cfg(test)]
macro_rules! scenario_tests {
    ($setup:expr; $($name:ident: $verdict:ident $($reason:literal)?,)*) => {
        /// Each scenario's verdict with this setup: `None` if it runs, else why it is skipped.
        #[allow(dead_code)]
        pub(crate) const VERDICTS: &[(&str, Option<&str>)] = &[
            $((
                stringify!($name),
                $crate::scenarios::fixture::scenario_tests!(@reason $($reason)?),
            ),)*
        ];

        $($crate::scenarios::fixture::scenario_tests!(@test $setup; $name $verdict $($reason)?);)*

        #[test]
        fn every_scenario_has_a_verdict() {
            $crate::scenarios::fixture::check_verdicts(VERDICTS);
        }

        #[test]
        fn skipped_scenarios_fail_here() {
            for (name, reason) in VERDICTS {
                if reason.is_some() {
                    $crate::scenarios::fixture::run_skipped_scenario($setup, name);
                }
            }
        }
    };
    (@reason) => { None };
    (@reason $reason:literal) => { Some($reason) };
    (@test $setup:expr; $name:ident ran) => {
        #[test]
        fn $name() {
            $crate::scenarios::fixture::run_scenario($setup, stringify!($name));
        }
    };
    (@test $setup:expr; $name:ident skipped $reason:literal) => {
        #[test]
        #[ignore = $reason]
        fn $name() {
            $crate::scenarios::fixture::run_skipped_scenario($setup, stringify!($name));
        }
    };
}
#[cfg(test)]
pub(crate) use scenario_tests;

fn current_setup() -> Setup {
    #[cfg(test)]
    return SETUP.with(core::cell::Cell::get);
    #[cfg(not(test))]
    Setup::TMPFS
}

/// Builds a tmpfs layer from lines, one entry each, parents before children:
/// `d PATH` (directory 0755), `o PATH` (opaque directory), `f PATH TEXT` (file 0644),
/// `l PATH TARGET` (symlink), `h PATH EXISTING` (hard link), `w PATH` (whiteout),
/// `c|b PATH MAJOR MINOR` (device), `p PATH` (fifo). Everything is owned by root.
pub fn build_layer(lines: &[&str]) -> Outcome<Arc<TmpFs>> {
    let fs = TmpFs::new(TmpFsOptions::default());
    fill_layer(&*fs, lines)?;
    Ok(fs)
}

/// Adds the entries of `lines` (as [`build_layer`] reads them) to the empty filesystem `fs`.
/// Whiteouts and opaque directories use the encoding `fs` can hold; entries of a kind it
/// cannot hold (symlinks, hard links, device nodes and fifos, as its features say) are left
/// out, so the scenarios that need them cannot apply there.
pub fn fill_layer(fs: &dyn FileSystem, lines: &[&str]) -> Outcome {
    let features = fs.features();
    let root = fs.root();
    for line in lines {
        let needs = match line.split(' ').next() {
            Some("l") => FsFeatures::SYMLINKS,
            Some("h") => FsFeatures::HARD_LINKS,
            Some("c" | "b" | "p") => FsFeatures::DEVICE_NODES,
            _ => FsFeatures::empty(),
        };
        if !features.contains(needs) {
            continue;
        }
        add_entry(&root, WhiteoutEncoding::for_features(features), line)
            .map_err(|errno| format!("building layer line `{line}`: {errno}"))?;
    }
    Ok(())
}

fn add_entry(root: &Arc<dyn Inode>, encoding: WhiteoutEncoding, line: &str) -> crate::Result<()> {
    let mut words = line.splitn(3, ' ');
    let op = words.next().unwrap_or("");
    let path = words.next().ok_or(Errno::EINVAL)?;
    let rest = words.next().unwrap_or("");
    let (dir, name) = match path.rsplit_once('/') {
        Some((dir, name)) => (walk(root, dir)?, name),
        None => (root.clone(), path),
    };
    let node = |kind, mode| NewNode::new(kind, mode, 0, 0);
    match op {
        "d" => {
            dir.create(name, &node(FileType::Directory, 0o755))?;
        }
        "o" => {
            let opaque = dir.create(name, &node(FileType::Directory, 0o755))?;
            encoding.set_opaque(&*opaque)?;
        }
        "f" => {
            let file = dir.create(name, &node(FileType::Regular, 0o644))?;
            file.write_at(0, rest.as_bytes())?;
        }
        "l" => {
            dir.symlink(name, rest, 0, 0)?;
        }
        "h" => {
            let target = walk(root, rest)?;
            dir.link(name, &*target)?;
        }
        "w" => {
            encoding.create_whiteout(&*dir, name)?;
        }
        "c" | "b" => {
            let mut numbers = rest.split(' ').map(str::parse::<u32>);
            let (Some(Ok(major)), Some(Ok(minor))) = (numbers.next(), numbers.next()) else {
                return Err(Errno::EINVAL);
            };
            let kind = if op == "c" {
                FileType::CharDevice
            } else {
                FileType::BlockDevice
            };
            let mut device = node(kind, 0o644);
            device.rdev = DeviceId { major, minor };
            dir.create(name, &device)?;
        }
        "p" => {
            dir.create(name, &node(FileType::Fifo, 0o644))?;
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(())
}

/// The entry at `path` below `root`, without permission checks or symlinks.
pub fn walk(root: &Arc<dyn Inode>, path: &str) -> crate::Result<Arc<dyn Inode>> {
    let mut node = root.clone();
    for part in path.split('/').filter(|part| !part.is_empty()) {
        node = node.lookup(part)?;
    }
    Ok(node)
}

/// A fresh union (over tmpfs layers unless a test chose others), and the calls scenarios
/// make on it.
pub struct Fixture {
    /// The union.
    pub fs: Arc<OverlayFs>,
    /// POSIX calls over the union.
    pub ns: Namespace,
    /// The lower layers, top first.
    pub lowers: Vec<Arc<dyn FileSystem>>,
    /// Root's credentials.
    pub root: Credentials,
}

impl Fixture {
    /// A union of `lowers` (top first, each as [`build_layer`] reads it) under an empty upper.
    pub fn new(lowers: &[&[&str]]) -> Outcome<Fixture> {
        Fixture::build(lowers, Some(None))
    }

    /// A union whose upper layer holds at most `capacity_bytes`.
    pub fn with_upper_capacity(lowers: &[&[&str]], capacity_bytes: u64) -> Outcome<Fixture> {
        Fixture::build(lowers, Some(Some(capacity_bytes)))
    }

    /// A read-only union: no upper layer.
    pub fn without_upper(lowers: &[&[&str]]) -> Outcome<Fixture> {
        Fixture::build(lowers, None)
    }

    /// `upper`: `None` for no upper layer, else its capacity, if limited.
    fn build(lowers: &[&[&str]], upper: Option<Option<u64>>) -> Outcome<Fixture> {
        let setup = current_setup();
        let lower_fs = lowers
            .iter()
            .map(|lines| {
                let fs = (setup.lower)();
                fill_layer(&*fs, lines)?;
                Ok(fs)
            })
            .collect::<Outcome<Vec<_>>>()?;
        let layers = lower_fs.iter().map(|fs| Layer::new(fs.clone())).collect();
        let upper = match upper {
            Some(capacity_bytes) => Some(
                UpperLayer::new((setup.upper)(capacity_bytes))
                    .map_err(|errno| format!("making the upper layer: {errno}"))?,
            ),
            None => None,
        };
        let fs = OverlayFs::new(layers, upper, OverlayOptions::default())
            .map_err(|errno| format!("making the union: {errno}"))?;
        let ns = Namespace::with_filesystem((setup.view)(&fs));
        Ok(Fixture {
            fs,
            ns,
            lowers: lower_fs,
            root: Credentials::root(),
        })
    }

    /// The whole content of `path`, read through the union.
    pub fn read(&self, path: &str) -> crate::Result<Vec<u8>> {
        let mut file = self.ns.open(&self.root, path, OpenFlags::READ, 0)?;
        read_all(|buf| file.read(buf))
    }

    /// Writes `bytes` at `offset` of `path` through the union (no create, no truncate).
    pub fn write_at(&self, path: &str, offset: u64, bytes: &[u8]) -> crate::Result<()> {
        let file = self.ns.open(&self.root, path, OpenFlags::WRITE, 0)?;
        let written = file.pwrite(offset, bytes)?;
        if written == bytes.len() {
            Ok(())
        } else {
            Err(Errno::EIO)
        }
    }

    /// `stat` (not following a final symlink) through the union.
    pub fn lstat(&self, path: &str) -> crate::Result<Metadata> {
        self.ns.lstat(&self.root, path)
    }

    /// The sorted names of directory `path`, listed through the union.
    pub fn names(&self, path: &str) -> crate::Result<Vec<String>> {
        let mut names: Vec<String> = self
            .ns
            .read_dir(&self.root, path)?
            .into_iter()
            .map(|entry| String::from(&*entry.name))
            .collect();
        names.sort_unstable();
        Ok(names)
    }

    /// What the upper directory holds at `path` (raw: whiteouts included), if anything.
    pub fn upper_entry(&self, path: &str) -> Option<Metadata> {
        let upper = self.fs.upper()?;
        walk(upper.upper_dir(), path)
            .and_then(|node| node.metadata())
            .ok()
    }

    /// Whether the upper directory holds a whiteout for `path`, in the upper layer's encoding
    /// (a character device 0/0 at `path`, or a `.wh.` file beside it).
    pub fn upper_has_whiteout(&self, path: &str) -> bool {
        let Some(upper) = self.fs.upper() else {
            return false;
        };
        match upper.encoding() {
            WhiteoutEncoding::Linux => self.upper_entry(path).is_some_and(|meta| {
                meta.kind == FileType::CharDevice && meta.rdev == DeviceId::default()
            }),
            WhiteoutEncoding::Oci => {
                let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
                let marker = format!("{dir}/{}{name}", whiteout::OCI_WHITEOUT_PREFIX);
                self.upper_entry(&marker)
                    .is_some_and(|meta| meta.kind == FileType::Regular)
            }
        }
    }

    /// The whole content of `path` in lower layer `layer`, read directly from it.
    pub fn lower_bytes(&self, layer: usize, path: &str) -> crate::Result<Vec<u8>> {
        let fs = self.lowers.get(layer).ok_or(Errno::EINVAL)?;
        let node = walk(&fs.root(), path)?;
        let mut offset = 0u64;
        read_all(|buf| {
            let n = node.read_at(offset, buf)?;
            offset += n as u64;
            Ok(n)
        })
    }
}

fn read_all(mut read: impl FnMut(&mut [u8]) -> crate::Result<usize>) -> crate::Result<Vec<u8>> {
    let mut content = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = read(&mut buf)?;
        if n == 0 {
            return Ok(content);
        }
        content.extend_from_slice(&buf[..n]);
    }
}

/// `Ok` if `value` is what was expected, else a message naming `what`.
pub fn expect_eq<T: PartialEq + core::fmt::Debug>(what: &str, value: T, expected: T) -> Outcome {
    if value == expected {
        Ok(())
    } else {
        Err(format!("{what}: got {value:?}, expected {expected:?}"))
    }
}

/// `Ok` if `result` failed with `errno`.
pub fn expect_errno<T: core::fmt::Debug>(
    what: &str,
    result: crate::Result<T>,
    errno: Errno,
) -> Outcome {
    match result {
        Err(got) if got == errno => Ok(()),
        other => Err(format!("{what}: got {other:?}, expected {errno}")),
    }
}

/// `Ok(value)` if `result` succeeded, else a message naming `what`.
pub fn expect_ok<T>(what: &str, result: crate::Result<T>) -> Outcome<T> {
    result.map_err(|errno| format!("{what}: failed with {errno}"))
}

/// `Ok` if `condition` holds, else `message`.
pub fn ensure(condition: bool, message: &str) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(String::from(message))
    }
}
