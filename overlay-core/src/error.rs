//! `Errno`: the one error type of the crate, with POSIX names and Linux numbers.

use core::fmt;

/// Result of every fallible operation in this crate.
pub type Result<T> = core::result::Result<T, Errno>;

macro_rules! errnos {
    ($($(#[$doc:meta])* $name:ident = $code:literal,)*) => {
        /// A POSIX error number, numbered as on Linux (x86_64, aarch64, riscv64 share these).
        ///
        /// Every bad input, failed check or exhausted resource in this crate becomes one of these;
        /// nothing panics on input.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        #[repr(i32)]
        #[allow(clippy::upper_case_acronyms)]
        pub enum Errno {
            $($(#[$doc])* $name = $code,)*
        }

        impl Errno {
            /// Every error number this crate knows, in numeric order.
            pub const ALL: &'static [Errno] = &[$(Errno::$name,)*];

            /// The POSIX name, e.g. `"ENOENT"`. `ENOTSUP` and `EOPNOTSUPP` share Linux's number
            /// 95 and print as `ENOTSUP`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Errno::$name => stringify!($name),)*
                }
            }
        }
    };
}

errnos! {
    /// Operation not permitted (not the owner, or not allowed on this kind of entry).
    EPERM = 1,
    /// No such file or directory.
    ENOENT = 2,
    /// Input/output error (a layer's storage is unusable).
    EIO = 5,
    /// No such device or address.
    ENXIO = 6,
    /// Argument list too long (also: an xattr value larger than 64 KiB).
    E2BIG = 7,
    /// Bad file handle (e.g. writing through a handle opened read-only).
    EBADF = 9,
    /// Out of memory: an allocation failed.
    ENOMEM = 12,
    /// Permission denied by the mode bits.
    EACCES = 13,
    /// Resource busy (e.g. removing the root or a mount's work directory).
    EBUSY = 16,
    /// The name already exists.
    EEXIST = 17,
    /// Cross-device link or rename (the union cannot move a lower directory).
    EXDEV = 18,
    /// No such device.
    ENODEV = 19,
    /// A path component, or the target, is not a directory.
    ENOTDIR = 20,
    /// The target is a directory where a non-directory was needed.
    EISDIR = 21,
    /// Invalid argument.
    EINVAL = 22,
    /// File too large.
    EFBIG = 27,
    /// No space left: the filesystem's capacity is used up.
    ENOSPC = 28,
    /// Read-only filesystem.
    EROFS = 30,
    /// Too many links.
    EMLINK = 31,
    /// A result does not fit the caller's buffer (xattr value or list).
    ERANGE = 34,
    /// A name longer than 255 bytes or a path longer than 4096 bytes.
    ENAMETOOLONG = 36,
    /// Function not implemented.
    ENOSYS = 38,
    /// Directory not empty.
    ENOTEMPTY = 39,
    /// Too many symbolic links followed.
    ELOOP = 40,
    /// No such extended attribute (Linux's `ENOATTR`).
    ENODATA = 61,
    /// Value too large for its type.
    EOVERFLOW = 75,
    /// Operation not supported by this filesystem.
    ENOTSUP = 95,
    /// Stale handle: the entry behind it is gone.
    ESTALE = 116,
}

impl Errno {
    /// The Linux error number.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The error with Linux number `code`, if this crate knows it.
    pub fn from_code(code: i32) -> Option<Errno> {
        Errno::ALL.iter().copied().find(|errno| errno.code() == code)
    }

    /// The error named `name` (`"ENOENT"`), if this crate knows it. `EOPNOTSUPP` and `ENOATTR`
    /// are accepted as the aliases Linux defines them to be.
    pub fn from_name(name: &str) -> Option<Errno> {
        match name {
            "EOPNOTSUPP" => Some(Errno::ENOTSUP),
            "ENOATTR" => Some(Errno::ENODATA),
            _ => Errno::ALL.iter().copied().find(|errno| errno.name() == name),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<alloc::collections::TryReserveError> for Errno {
    fn from(_: alloc::collections::TryReserveError) -> Self {
        Errno::ENOMEM
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_linux() {
        assert_eq!(Errno::ENOENT.code(), 2);
        assert_eq!(Errno::EXDEV.code(), 18);
        assert_eq!(Errno::ENOTEMPTY.code(), 39);
        assert_eq!(Errno::ELOOP.code(), 40);
        assert_eq!(Errno::ENOTSUP.code(), 95);
    }

    #[test]
    fn names_round_trip() {
        for &errno in Errno::ALL {
            assert_eq!(Errno::from_name(errno.name()), Some(errno));
            assert_eq!(Errno::from_code(errno.code()), Some(errno));
        }
        assert_eq!(Errno::from_name("EOPNOTSUPP"), Some(Errno::ENOTSUP));
        assert_eq!(Errno::from_name("EWHATEVER"), None);
    }
}
