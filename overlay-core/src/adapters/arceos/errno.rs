//! `AxError` <-> [`Errno`], both ways, from one table.

use axfs_vfs::VfsError as AxError;

use crate::error::Errno;

/// Pairs of an ArceOS error and an errno. Each direction takes the first row that matches, so
/// the first row of each error is its translation and later rows only widen the other
/// direction: `EFBIG` becomes `StorageFull`, but `StorageFull` becomes `ENOSPC`. ArceOS
/// errors that no row names become `EIO`; every [`Errno`] has a row (a test checks).
const TABLE: &[(AxError, Errno)] = &[
    // One to one.
    (AxError::AlreadyExists, Errno::EEXIST),
    (AxError::ArgumentListTooLong, Errno::E2BIG),
    (AxError::BadFileDescriptor, Errno::EBADF),
    (AxError::CrossesDevices, Errno::EXDEV),
    (AxError::DirectoryNotEmpty, Errno::ENOTEMPTY),
    (AxError::FilesystemLoop, Errno::ELOOP),
    (AxError::InvalidInput, Errno::EINVAL),
    (AxError::Io, Errno::EIO),
    (AxError::IsADirectory, Errno::EISDIR),
    (AxError::NameTooLong, Errno::ENAMETOOLONG),
    (AxError::NoMemory, Errno::ENOMEM),
    (AxError::NoSuchDevice, Errno::ENODEV),
    (AxError::NotADirectory, Errno::ENOTDIR),
    (AxError::NotFound, Errno::ENOENT),
    (AxError::OperationNotPermitted, Errno::EPERM),
    (AxError::OperationNotSupported, Errno::ENOTSUP),
    (AxError::OutOfRange, Errno::ERANGE),
    (AxError::PermissionDenied, Errno::EACCES),
    (AxError::ReadOnlyFilesystem, Errno::EROFS),
    (AxError::ResourceBusy, Errno::EBUSY),
    (AxError::StorageFull, Errno::ENOSPC),
    // `Unsupported` is what a `VfsNodeOps` method a filesystem lacks returns; ArceOS
    // itself reports it as `ENOSYS`.
    (AxError::Unsupported, Errno::ENOSYS),
    // ArceOS errors with no errno of their own here.
    (AxError::InvalidData, Errno::EINVAL),
    (AxError::UnexpectedEof, Errno::EIO),
    (AxError::WriteZero, Errno::EIO),
    (AxError::BadState, Errno::EIO),
    // Errnos with no ArceOS error of their own.
    (AxError::NoSuchDevice, Errno::ENXIO),
    (AxError::StorageFull, Errno::EFBIG),
    (AxError::OutOfRange, Errno::EMLINK),
    (AxError::OutOfRange, Errno::EOVERFLOW),
    (AxError::NotFound, Errno::ENODATA),
    (AxError::NotFound, Errno::ESTALE),
];

/// The errno for an ArceOS error (`EIO` for those that name no filesystem condition, such as
/// network errors).
pub fn errno_from_ax(error: AxError) -> Errno {
    TABLE
        .iter()
        .find(|(ax, _)| *ax == error)
        .map_or(Errno::EIO, |&(_, errno)| errno)
}

/// The ArceOS error for an errno.
pub fn ax_from_errno(errno: Errno) -> AxError {
    TABLE
        .iter()
        .find(|(_, e)| *e == errno)
        .map_or(AxError::Io, |&(ax, _)| ax)
}

impl From<AxError> for Errno {
    /// As [`errno_from_ax`].
    fn from(error: AxError) -> Errno {
        errno_from_ax(error)
    }
}

impl From<Errno> for AxError {
    /// As [`ax_from_errno`].
    fn from(errno: Errno) -> AxError {
        ax_from_errno(errno)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_errno_has_an_ax_error() {
        for &errno in Errno::ALL {
            assert!(TABLE.iter().any(|&(_, e)| e == errno), "{errno} has no row");
        }
    }

    #[test]
    fn rows_first_both_ways_round_trip() {
        for &(ax, errno) in TABLE {
            let first_for_ax = TABLE.iter().find(|(a, _)| *a == ax).map(|row| row.1);
            let first_for_errno = TABLE.iter().find(|(_, e)| *e == errno).map(|row| row.0);
            if first_for_ax == Some(errno) && first_for_errno == Some(ax) {
                assert_eq!(errno_from_ax(ax), errno);
                assert_eq!(ax_from_errno(errno), ax);
            }
        }
        assert_eq!(errno_from_ax(AxError::StorageFull), Errno::ENOSPC);
        assert_eq!(ax_from_errno(Errno::EFBIG), AxError::StorageFull);
        assert_eq!(errno_from_ax(AxError::ConnectionReset), Errno::EIO);
    }
}
