//! The differential test of BusyBox scripts: the same static BusyBox, the same image layers
//! and the same `sh -c` scripts run on Linux, in a chroot on a real `mount -t overlay` of the
//! layer directories, and in this project's kernel under QEMU; standard output, standard
//! error, exit statuses, the union's `tree /` and the container's `diff` must be identical,
//! except for the differences named and explained in [`KNOWN_DIFFERENCES`].
//!
//! Where [`crate::difftest`] compares the engine with overlayfs call by call, this compares
//! whole programs written by nobody here: every system call BusyBox makes, through the
//! kernel's system-call layer and the engine, against Linux's.
//!
//! # The pieces
//! - [`corpus`]: the scripts, one file each in `boot/tests/busybox/`.
//! - [`linux`]: the Linux side (needs root, overlayfs, util-linux `unshare`, `chroot`); see
//!   there for how the container is made.
//! - [`protocol`]: the scripts file for the kernel and the parser of its serial output.
//! - [`kernel`]: boots the kernel under QEMU to run the scripts.
//! - [`compare()`](compare::compare): the comparison and its [`Report`].
//!
//! # The container both sides run each script in
//! A fresh container of the BusyBox image (no upper-layer state kept between scripts), whose
//! root is the union of the image's layers and an empty upper layer; `/proc` (of the
//! container's own processes) and `/dev` (the nodes of [`linux::DEVICES`] and `fd ->
//! /proc/self/fd`) are mounted over the image's `/proc` and `/dev` directories. The shell is
//! started as `execve("/bin/busybox", ["/bin/busybox", "sh", "-c", SCRIPT], ENV)` with `ENV`
//! exactly [`ENVIRONMENT`], as uid 0, gid 0 with no supplementary groups, umask 0022, working
//! directory `/`, standard input `/dev/null` (reads give end of file), standard output and
//! standard error each captured on its own (pipes: not a terminal). It is the container's
//! first process (on Linux PID 1 of its own PID namespace, as in Docker), and `ps` shows only
//! the container's processes. Its status is its wait status; if it runs too long
//! it is killed and its status is `timeout`. After it ends, the union's `tree /` is taken as
//! root without `/proc` and `/dev` mounted (their mount points are the image's own empty
//! directories, and nothing of them reaches the upper layer), then the container's `diff`.
//!
//! # The protocol with the kernel
//! **The boot.** [`kernel::run`] boots the kernel with the default RAM disk, the mode
//! [`protocol::KERNEL_MODE`] (`busybox-diff` in `opt/overlay-kernel/mode`), the image layout
//! of `rootfs/fw-cfg-images` in `opt/overlay-kernel/images` (which holds the image
//! [`IMAGE_NAME`], `busybox`) and the scripts file below. In that mode the kernel runs each
//! script in a fresh container of `busybox` as described above, prints the blocks below, and
//! exits QEMU with the success code once `done` is printed, whatever the scripts did (the host
//! judges them); a kernel that cannot read the scripts file fails the boot.
//!
//! **Scripts in.** The host passes the fw_cfg file [`protocol::FW_CFG_FILE`]
//! (`opt/overlay-kernel/busybox-scripts`; `-fw_cfg name=opt/overlay-kernel/busybox-scripts,
//! file=PATH`) holding, for each script in order, `NAME` `\0` `SCRIPT` `\0`: the name is 1 to
//! 48 bytes of `[A-Za-z0-9._-]`, the script any UTF-8 text without NUL (`sh -c`'s argument
//! as is). See [`protocol::encode_scripts`] and its reference reader
//! [`protocol::decode_scripts`].
//!
//! **Results out.** For each script, in order, the kernel prints on the serial console one
//! block of lines, each starting with `busybox-diff ` at the start of a line (its own other
//! lines, such as logs of unknown system calls, may come between them but not inside one; `\r\n`
//! line ends are fine):
//!
//! ```text
//! busybox-diff begin NAME
//! busybox-diff out NAME HEX     standard output in order, at most 64 bytes a line
//! busybox-diff err NAME HEX     standard error likewise (hex in either case)
//! busybox-diff status NAME exit N | signal N | timeout
//! busybox-diff tree NAME LINE   each line of the union's `tree /`, as the shell prints it
//! busybox-diff diff NAME LINE   each line of the container's `diff` (`A /x`, `C /y`, `D /z`)
//! busybox-diff end NAME
//! ```
//!
//! and after the last script `busybox-diff done COUNT` (the number of blocks printed). A script
//! the kernel cannot run at all (no container, no `/bin/busybox`) gets `busybox-diff error NAME
//! TEXT` inside its block in place of the lines it cannot give. `status` is `exit N` when the
//! shell exited with status N (`WIFEXITED`), `signal N` when signal N ended it
//! (`WIFSIGNALED`), `timeout` when the kernel's time limit ended it. `tree` and `diff` lines
//! are printed as they are (the corpus's paths are plain words). [`protocol::block`] prints a
//! block exactly as expected (the reference), [`protocol::parse_serial`] reads them.
//!
//! **Comparing.** [`compare()`](compare::compare)`(kernel_serial_output, &linux_results)` gives
//! a [`Report`]: one line per script, `same` or `DIFFERENT` with a short diff, and
//! [`Report::is_clean`].
//!
//! # What differs between Linux and Docker here, on purpose
//! The Linux side is a container as Docker makes one, less what these scripts cannot see:
//! no network, UTS or IPC namespace, no `/sys`, no `/etc/hosts`, `/etc/hostname` or
//! `/etc/resolv.conf` mounts, no seccomp or capability limits (root has every capability),
//! and `/dev` without `pts`, `shm` and `mqueue`. Scripts must not print the host name, process
//! ids or times (other than through `ls -l`, whose times are masked).

pub mod changes;
pub mod compare;
pub mod corpus;
pub mod kernel;
pub mod linux;
pub mod protocol;
pub mod unpack;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::{anyhow, Result};

pub use compare::{compare, Report, Verdict, KNOWN_DIFFERENCES};
pub use corpus::Script;
pub use linux::{availability, LinuxSide};
pub use protocol::KernelRecord;

use crate::oci::OciImage;

/// The environment of the shell on both sides: Docker's default `PATH`, and `HOME`; nothing
/// else (no `TERM`: output is not a terminal).
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ),
    ("HOME", "/root"),
];

/// The image the scripts run in: `busybox` of the fw_cfg image list
/// ([`crate::build::FW_CFG_IMAGE_LIST`]), the layout `boot qemu` hands the kernel.
pub const IMAGE_NAME: &str = "busybox";

/// The image [`IMAGE_NAME`] built from the fw_cfg image list, with the build cache in
/// `<target>/build-cache`: the same layers, byte for byte, as the kernel gets.
///
/// # Errors
/// Whatever the build fails with (BusyBox not fetched: see [`crate::build::busybox_binary`]),
/// or the list has no such image.
pub fn default_image() -> Result<OciImage> {
    let cache = crate::build::BuildCache::new(&crate::target_dir().join("build-cache"))?;
    let mut builder = crate::build::Builder::new(Some(cache));
    let layout = builder.build_list(Path::new(crate::build::FW_CFG_IMAGE_LIST))?;
    layout
        .images()
        .iter()
        .find(|image| image.ref_name() == IMAGE_NAME)
        .cloned()
        .ok_or_else(|| {
            anyhow!(
                "{} has no image {IMAGE_NAME}",
                crate::build::FW_CFG_IMAGE_LIST
            )
        })
}

/// The image built from `build_file` alone (named [`IMAGE_NAME`]), with the build cache.
///
/// # Errors
/// Whatever the build fails with.
pub fn build_image(build_file: &Path) -> Result<OciImage> {
    let cache = crate::build::BuildCache::new(&crate::target_dir().join("build-cache"))?;
    let mut builder = crate::build::Builder::new(Some(cache));
    builder.build(IMAGE_NAME, build_file)
}

/// Linux's results of `scripts` in containers of `image` (see [`linux`]): what
/// [`compare()`](compare::compare) takes.
///
/// # Errors
/// If the Linux side cannot run (see [`availability`]) or a container cannot be made.
pub fn linux_results(image: &OciImage, scripts: &[Script]) -> Result<Vec<ScriptResult>> {
    LinuxSide::new(image)?.run_all(scripts)
}

/// How a script's shell ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// It exited with this status.
    Exit(i32),
    /// This signal ended it.
    Signal(i32),
    /// It ran past the time limit and was killed.
    Timeout,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Exit(code) => write!(f, "exit {code}"),
            Status::Signal(signal) => write!(f, "signal {signal}"),
            Status::Timeout => f.write_str("timeout"),
        }
    }
}

impl FromStr for Status {
    type Err = ();

    fn from_str(text: &str) -> std::result::Result<Status, ()> {
        let mut words = text.split(' ');
        let status = match (words.next(), words.next().map(str::parse::<i32>)) {
            (Some("exit"), Some(Ok(code))) => Status::Exit(code),
            (Some("signal"), Some(Ok(signal))) => Status::Signal(signal),
            (Some("timeout"), None) => Status::Timeout,
            _ => return Err(()),
        };
        match words.next() {
            None => Ok(status),
            Some(_) => Err(()),
        }
    }
}

/// What one run of a script gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptResult {
    /// The script's name.
    pub name: String,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
    /// How its shell ended.
    pub status: Status,
    /// The union's `tree /` afterwards (`TYPE MODE UID:GID SIZE DIGEST PATH` lines).
    pub tree: Vec<String>,
    /// The container's `diff` afterwards (`A /path`, `C /path`, `D /path`, sorted by path).
    pub diff: Vec<String>,
}

impl ScriptResult {
    /// A readable account: status, standard output and error, and the `diff` (not the tree).
    pub fn describe(&self) -> String {
        let mut text = format!("== {}: {}\n", self.name, self.status);
        for (name, bytes) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if !bytes.is_empty() {
                text.push_str(&format!("-- {name}\n{}", String::from_utf8_lossy(bytes)));
                if !bytes.ends_with(b"\n") {
                    text.push_str("\n(no newline at the end)\n");
                }
            }
        }
        if !self.diff.is_empty() {
            text.push_str(&format!("-- diff\n{}\n", self.diff.join("\n")));
        }
        text
    }
}

impl From<&ScriptResult> for KernelRecord {
    /// The record a kernel that gave exactly `result` would print.
    fn from(result: &ScriptResult) -> KernelRecord {
        KernelRecord {
            name: result.name.clone(),
            stdout: result.stdout.clone(),
            stderr: result.stderr.clone(),
            status: Some(result.status),
            tree: result.tree.clone(),
            diff: result.diff.clone(),
            errors: Vec::new(),
            ended: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_print_and_parse() {
        for status in [
            Status::Exit(0),
            Status::Exit(127),
            Status::Signal(11),
            Status::Timeout,
        ] {
            assert_eq!(status.to_string().parse(), Ok(status));
        }
        assert_eq!("exit".parse::<Status>(), Err(()));
        assert_eq!("exit 1 2".parse::<Status>(), Err(()));
        assert_eq!("timeout 3".parse::<Status>(), Err(()));
    }
}
