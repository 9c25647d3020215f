//! What each fuzz target does with one input. Every body must return normally for any input:
//! a panic, an overflowed stack or an allocation past the heap budget (see `budget.rs`) is a
//! finding.

pub mod image_oci;
pub mod image_tar;
pub mod shell;
pub mod union_ops;
mod walk;

/// One fuzz target.
pub struct Target {
    /// The `[[bin]]` of `Cargo.toml`, and the folder of its inputs under `seeds/`,
    /// `regressions/`, `findings/` and `corpus/`.
    pub name: &'static str,
    /// What it does with one input.
    pub body: fn(&[u8]),
    /// The heap it may hold per byte of input, beyond `budget::BASE_BYTES`.
    pub heap_bytes_per_input_byte: usize,
}

impl Target {
    /// Runs `input` through the body under the budgets (`budget::run`).
    pub fn run(&self, input: &[u8]) -> crate::budget::Usage {
        crate::budget::run(input, self.body, self.heap_bytes_per_input_byte)
    }
}

/// The shell language on a small union.
pub const SHELL: Target = Target {
    name: "shell",
    body: shell::run,
    heap_bytes_per_input_byte: shell::HEAP_BYTES_PER_INPUT_BYTE,
};

/// Operation sequences on a union.
pub const UNION_OPS: Target = Target {
    name: "union_ops",
    body: union_ops::run,
    heap_bytes_per_input_byte: crate::budget::DATA_BYTES_PER_INPUT_BYTE,
};

/// One layer tar.
pub const IMAGE_TAR: Target = Target {
    name: "image_tar",
    body: image_tar::run,
    heap_bytes_per_input_byte: crate::budget::DATA_BYTES_PER_INPUT_BYTE,
};

/// A RAM disk of OCI images.
pub const IMAGE_OCI: Target = Target {
    name: "image_oci",
    body: image_oci::run,
    heap_bytes_per_input_byte: crate::budget::DATA_BYTES_PER_INPUT_BYTE,
};

/// Every target.
pub const TARGETS: &[Target] = &[SHELL, UNION_OPS, IMAGE_TAR, IMAGE_OCI];
