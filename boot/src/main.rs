//! `boot`: builds the kernel's disk images and runs them under QEMU. One subcommand per module
//! in `cmd/`.

#![forbid(unsafe_code)]

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Build and boot the overlay kernel.
#[derive(Debug, Parser)]
#[command(name = "boot", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write BIOS and/or UEFI disk images of the kernel.
    Image(cmd::image::ImageArgs),
    /// Build an image and boot it under QEMU; the exit status is the kernel's verdict.
    Qemu(cmd::qemu::QemuArgs),
    /// Boot, run a container of IMAGE with its command (or ARGs instead of its Cmd), and exit
    /// with the program's exit status, like `docker run`.
    Run(cmd::qemu::RunArgs),
    /// Write the RAM disk: an OCI image (layer directories, an OCI layout, or the default
    /// image of rootfs/) packed as one tar.
    Ramdisk(cmd::ramdisk::RamdiskArgs),
    /// Run shell commands on a union of host directories (read-only) under a tmpfs upper.
    Shell(cmd::shell::ShellArgs),
    /// Run shell scripts on the project's union and on Linux overlayfs, and compare them.
    Difftest(cmd::difftest::DifftestArgs),
    /// Draw the boot (memory, images, layers, containers) as an SVG from a boot report.
    Diagram(cmd::diagram::DiagramArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Image(args) => cmd::image::run(&args),
        Command::Qemu(args) => cmd::qemu::run(&args),
        Command::Run(args) => cmd::qemu::run_container(&args),
        Command::Ramdisk(args) => cmd::ramdisk::run(&args),
        Command::Shell(args) => cmd::shell::run(&args),
        Command::Difftest(args) => cmd::difftest::run(&args),
        Command::Diagram(args) => cmd::diagram::run(&args),
    };
    result.unwrap_or_else(|error| {
        eprintln!("boot: error: {error:#}");
        ExitCode::from(cmd::STATUS_ERROR)
    })
}
