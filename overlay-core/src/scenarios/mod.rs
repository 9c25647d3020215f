//! The scenarios every build must pass (`docs/semantics.md`), in one list that runs both on
//! the host (`cargo test -p overlay-core`) and in the kernel under QEMU.
//!
//! Each scenario builds its own fresh union over tmpfs layers, so they are independent and can
//! run in any order. A scenario returns `Err` with a reason instead of panicking, so a kernel can
//! report a failure and go on with the next one.
//!
//! ```
//! for scenario in overlay_core::scenarios::ALL {
//!     assert_eq!((scenario.run)(), Ok(()), "{}", scenario.name);
//! }
//! ```

mod cases;
pub mod fixture;

pub use fixture::{Fixture, Outcome};

/// One named scenario.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// What the scenario checks, as a test name.
    pub name: &'static str,
    /// Runs it on a fresh union.
    pub run: fn() -> Outcome,
}

macro_rules! scenarios {
    ($($case:ident,)*) => {
        /// Every scenario, in the order of `docs/semantics.md`.
        pub static ALL: &[Scenario] = &[
            $(Scenario { name: stringify!($case), run: cases::$case },)*
        ];

        #[cfg(test)]
        mod tests {
            $(
                #[test]
                fn $case() {
                    assert_eq!(super::cases::$case(), Ok(()));
                }
            )*
        }
    };
}

scenarios! {
    read_lower_file,
    write_lower_file_copies_up,
    append_to_lower_file,
    open_read_only_truncate_copies_up,
    exclusive_create_of_lower_file_is_eexist,
    exclusive_create_of_missing_name,
    open_lower_dir_for_write_is_eisdir,
    write_through_symlink_changes_target,
    readlink_of_non_symlink_is_einval,
    truncate_lower_file_to_every_size,
    unlink_lower_file_leaves_whiteout,
    unlink_symlink_and_directory,
    rmdir_populated_lower_dir,
    rmdir_file_or_missing,
    recreated_dir_is_opaque,
    remove_every_file_type,
    remove_dir_with_whiteout_in_lower,
    mknod_whiteout_device_is_eperm,
    mkdir_over_existing_is_eexist,
    link_lower_file,
    rename_lower_file_and_back,
    rename_lower_dir_is_exdev,
    rename_new_dir_over_lower_dir,
    non_root_write_open_is_eacces,
    inode_number_is_stable,
    no_upper_is_read_only,
    overlay_xattrs_are_not_markers,
    enospc_during_copy_up,
    deep_trees_use_bounded_stack,
}
