//! The subcommands, one module each (`boot qemu` and `boot run` share `qemu`). Exit statuses
//! shared by all of them: 0 success, 1 the kernel reported failure, 2 bad arguments (clap), 3
//! any other error (missing QEMU or OVMF, image build failed), 124 the kernel hung and was
//! killed. `boot run` exits with the program's status instead, 125 when the kernel could
//! not report one (see `qemu::run_container`).

pub mod diagram;
pub mod difftest;
pub mod image;
pub mod qemu;
pub mod ramdisk;
pub mod shell;

/// The kernel reported a failed test or panicked, or the bootloader panicked before it.
pub const STATUS_KERNEL_FAILED: u8 = 1;
/// The tool could not do its job (QEMU or OVMF missing, an image could not be written, ...).
pub const STATUS_ERROR: u8 = 3;
/// The kernel did not finish before the timeout (the same status as coreutils' `timeout`).
pub const STATUS_HUNG: u8 = 124;
