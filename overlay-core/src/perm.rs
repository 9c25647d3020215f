//! POSIX permission predicates over [`Metadata`], as Linux's `generic_permission` applies them.
//!
//! Filesystems never check permissions; [`crate::posix::Namespace`] and [`crate::path`] call
//! these with the caller's [`Credentials`] and the metadata the filesystem reports. Both use
//! this module, and `posix` uses `path`: imports go one way. (`posix::perm` names it too.)

use bitflags::bitflags;

use crate::error::{Errno, Result};
use crate::vfs::{Credentials, FileType, Metadata, Permissions, S_ISGID, S_ISUID, S_ISVTX};

bitflags! {
    /// What a caller wants to do with an entry, as the `rwx` bits say it.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub struct Access: u16 {
        /// Read a file, list a directory.
        const READ = 0o4;
        /// Write a file, add or remove names in a directory.
        const WRITE = 0o2;
        /// Execute a file, search (walk through) a directory.
        const EXEC = 0o1;
    }
}

/// Whether `creds` may access the entry described by `metadata` as `want` says.
///
/// One class of bits applies: the owner's if the caller owns the entry, else the group's if
/// the caller is in its group, else the others' (an owner denied by the owner bits is denied
/// even if the group bits would allow). Root passes, except that executing a non-directory
/// needs at least one `x` bit set.
pub fn permits(metadata: &Metadata, creds: &Credentials, want: Access) -> bool {
    permissions_permit(&metadata.permissions(), creds, want)
}

/// [`permits`], from the entry's [`Permissions`] alone.
pub fn permissions_permit(permissions: &Permissions, creds: &Credentials, want: Access) -> bool {
    if creds.is_root() {
        return !want.contains(Access::EXEC)
            || permissions.kind.is_dir()
            || permissions.mode & 0o111 != 0;
    }
    let shift = if creds.uid == permissions.uid {
        6
    } else if creds.in_group(permissions.gid) {
        3
    } else {
        0
    };
    let granted = (permissions.mode >> shift) & 0o7;
    granted & want.bits() == want.bits()
}

/// [`permits`] as a result.
///
/// # Errors
/// `EACCES` if the mode bits deny `want`.
pub fn check(metadata: &Metadata, creds: &Credentials, want: Access) -> Result<()> {
    check_permissions(&metadata.permissions(), creds, want)
}

/// [`check`], from the entry's [`Permissions`] alone.
///
/// # Errors
/// `EACCES` if the mode bits deny `want`.
pub fn check_permissions(
    permissions: &Permissions,
    creds: &Credentials,
    want: Access,
) -> Result<()> {
    if permissions_permit(permissions, creds, want) {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// Whether `creds` owns the entry or is root (Linux's `inode_owner_or_capable`): what `chmod`,
/// explicit `utimes` and xattrs on sticky directories require.
pub fn owns(metadata: &Metadata, creds: &Credentials) -> bool {
    creds.is_root() || creds.uid == metadata.uid
}

/// Whether the sticky bit of `dir` forbids `creds` to remove or rename `victim` from it: the
/// directory is sticky and the caller owns neither the directory nor the victim, and is not
/// root (Linux's `check_sticky`).
pub fn sticky_forbids(dir: &Metadata, victim: &Metadata, creds: &Credentials) -> bool {
    dir.mode & S_ISVTX != 0 && !owns(victim, creds) && creds.uid != dir.uid
}

/// Checks that `creds` may add a name to `dir` (Linux's `may_create`).
///
/// # Errors
/// `EACCES` without write and search permission on `dir`.
pub fn may_create(dir: &Metadata, creds: &Credentials) -> Result<()> {
    check(dir, creds, Access::WRITE | Access::EXEC)
}

/// Checks that `creds` may make a new hard link to `target`, as Linux's
/// `fs.protected_hardlinks=1` (its default) has it: the owner and root may link anything;
/// anyone else only a regular file that is neither set-user-id nor executable set-group-id
/// and that they may both read and write, so that nobody can pin a file they could not use.
///
/// # Errors
/// `EPERM` otherwise.
pub fn may_link(target: &Metadata, creds: &Credentials) -> Result<()> {
    let executable_setgid = target.mode & S_ISGID != 0 && target.mode & 0o010 != 0;
    let safe = target.kind == FileType::Regular
        && target.mode & S_ISUID == 0
        && !executable_setgid
        && permits(target, creds, Access::READ | Access::WRITE);
    if owns(target, creds) || safe {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

/// Checks that `creds` may remove `victim` from `dir` (Linux's `may_delete`), where `want_dir`
/// says whether the call removes a directory (`rmdir`, or a rename of a directory).
///
/// # Errors
/// `EACCES` without write and search permission on `dir`; `EPERM` if the sticky bit
/// forbids it; `ENOTDIR` if a directory is wanted and `victim` is not one; `EISDIR` if a
/// non-directory is wanted and `victim` is a directory.
pub fn may_delete(
    dir: &Metadata,
    victim: &Metadata,
    want_dir: bool,
    creds: &Credentials,
) -> Result<()> {
    may_create(dir, creds)?;
    if sticky_forbids(dir, victim, creds) {
        return Err(Errno::EPERM);
    }
    match (want_dir, victim.kind.is_dir()) {
        (true, false) => Err(Errno::ENOTDIR),
        (false, true) => Err(Errno::EISDIR),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::{DeviceId, FileType, Timespec};

    fn entry(kind: FileType, mode: u16, uid: u32, gid: u32) -> Metadata {
        Metadata {
            ino: 1,
            dev: 0,
            kind,
            mode,
            nlink: 1,
            uid,
            gid,
            size: 0,
            rdev: DeviceId::default(),
            atime: Timespec::default(),
            mtime: Timespec::default(),
            ctime: Timespec::default(),
        }
    }

    #[test]
    fn owner_group_and_others_use_their_own_bits() {
        let file = entry(FileType::Regular, 0o640, 10, 20);
        let owner = Credentials::user(10, 99);
        let member = Credentials {
            uid: 11,
            gid: 99,
            groups: alloc::vec![20],
        };
        let other = Credentials::user(12, 30);
        assert!(permits(&file, &owner, Access::READ | Access::WRITE));
        assert!(permits(&file, &member, Access::READ));
        assert!(!permits(&file, &member, Access::WRITE));
        assert!(!permits(&file, &other, Access::READ));
        assert_eq!(check(&file, &other, Access::READ), Err(Errno::EACCES));
    }

    #[test]
    fn owner_class_is_exclusive() {
        // The owner is denied by its own bits even though "others" may write.
        let file = entry(FileType::Regular, 0o066, 10, 20);
        assert!(!permits(&file, &Credentials::user(10, 20), Access::READ));
        assert!(permits(&file, &Credentials::user(11, 21), Access::WRITE));
    }

    #[test]
    fn root_bypasses_but_needs_an_exec_bit_for_files() {
        let root = Credentials::root();
        let file = entry(FileType::Regular, 0o000, 10, 20);
        assert!(permits(&file, &root, Access::READ | Access::WRITE));
        assert!(!permits(&file, &root, Access::EXEC));
        assert!(permits(
            &entry(FileType::Regular, 0o001, 10, 20),
            &root,
            Access::EXEC
        ));
        assert!(permits(
            &entry(FileType::Directory, 0o000, 10, 20),
            &root,
            Access::EXEC
        ));
    }

    #[test]
    fn sticky_directories_protect_other_users_entries() {
        let dir = entry(FileType::Directory, 0o1777, 0, 0);
        let victim = entry(FileType::Regular, 0o644, 10, 10);
        assert!(sticky_forbids(&dir, &victim, &Credentials::user(11, 11)));
        assert!(!sticky_forbids(&dir, &victim, &Credentials::user(10, 10)));
        assert!(!sticky_forbids(&dir, &victim, &Credentials::root()));
        let owned_dir = entry(FileType::Directory, 0o1777, 11, 11);
        assert!(!sticky_forbids(
            &owned_dir,
            &victim,
            &Credentials::user(11, 11)
        ));
        assert_eq!(
            may_delete(&dir, &victim, false, &Credentials::user(11, 11)),
            Err(Errno::EPERM)
        );
    }

    #[test]
    fn delete_checks_the_kind_last() {
        let dir = entry(FileType::Directory, 0o755, 0, 0);
        let file = entry(FileType::Regular, 0o644, 0, 0);
        let subdir = entry(FileType::Directory, 0o755, 0, 0);
        let root = Credentials::root();
        assert_eq!(may_delete(&dir, &file, true, &root), Err(Errno::ENOTDIR));
        assert_eq!(may_delete(&dir, &subdir, false, &root), Err(Errno::EISDIR));
        assert_eq!(
            may_delete(&dir, &file, false, &Credentials::user(1, 1)),
            Err(Errno::EACCES)
        );
    }
}
