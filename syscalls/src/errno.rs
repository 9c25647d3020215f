//! The error numbers system calls return: Linux's, from `linux-raw-sys`.
//!
//! The engine's [`overlay_core::Errno`] names only what filesystems fail with; a system call
//! can also fail with `EFAULT`, `EBADF`, `EAGAIN`, `ECHILD` and the like. [`Errno`] holds any
//! Linux error number, and every engine errno converts into it unchanged.

use linux_raw_sys::errno as linux;

/// A Linux error number (positive; a system call returns its negation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Errno(u16);

/// The result of a system call's handler.
pub type SysResult<T> = core::result::Result<T, Errno>;

macro_rules! errnos {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        impl Errno {
            $($(#[$doc])* pub const $name: Errno = Errno(linux::$name as u16);)*

            /// The POSIX name of the numbers this type names (`"EFAULT"`).
            fn own_name(self) -> Option<&'static str> {
                $(if self == Errno::$name {
                    return Some(stringify!($name));
                })*
                None
            }
        }
    };
}

errnos! {
    /// Operation not permitted.
    EPERM,
    /// No such file or directory.
    ENOENT,
    /// No such process.
    ESRCH,
    /// Interrupted system call.
    EINTR,
    /// Input/output error.
    EIO,
    /// Argument list too long.
    E2BIG,
    /// Exec format error: not an executable this machine runs.
    ENOEXEC,
    /// Bad file descriptor.
    EBADF,
    /// No child processes.
    ECHILD,
    /// Try again: the call would block (the kernel blocks the caller unless it asked not to).
    EAGAIN,
    /// Out of memory.
    ENOMEM,
    /// Permission denied.
    EACCES,
    /// Bad address: a user pointer outside the process or unmapped.
    EFAULT,
    /// Device or resource busy.
    EBUSY,
    /// File exists.
    EEXIST,
    /// Cross-device link.
    EXDEV,
    /// No such device.
    ENODEV,
    /// Not a directory.
    ENOTDIR,
    /// Is a directory.
    EISDIR,
    /// Invalid argument.
    EINVAL,
    /// Too many open files.
    EMFILE,
    /// Not a terminal.
    ENOTTY,
    /// File too large.
    EFBIG,
    /// No space left on device.
    ENOSPC,
    /// Illegal seek (on a pipe or terminal).
    ESPIPE,
    /// Read-only file system.
    EROFS,
    /// Broken pipe.
    EPIPE,
    /// Result out of range.
    ERANGE,
    /// File name too long.
    ENAMETOOLONG,
    /// Function not implemented.
    ENOSYS,
    /// Directory not empty.
    ENOTEMPTY,
    /// Too many symbolic links.
    ELOOP,
    /// No data (no such extended attribute).
    ENODATA,
    /// Value too large for its type.
    EOVERFLOW,
    /// Operation not supported.
    EOPNOTSUPP,
}

impl Errno {
    /// The Linux number.
    pub const fn code(self) -> u16 {
        self.0
    }

    /// The value a system call returns for this error: `-code`, as the `rax` bits.
    pub const fn as_return(self) -> u64 {
        (-(self.0 as i64)) as u64
    }

    /// The error for a Linux number, if it is one (1..=4095).
    pub const fn from_code(code: u16) -> Option<Errno> {
        if code >= 1 && code < 4096 {
            Some(Errno(code))
        } else {
            None
        }
    }

    /// The POSIX name of this number (`"ENOENT"`), for the numbers this type or the engine
    /// names.
    pub fn name(self) -> Option<&'static str> {
        self.own_name().or_else(|| {
            overlay_core::Errno::from_code(i32::from(self.0)).map(overlay_core::Errno::name)
        })
    }
}

impl From<overlay_core::Errno> for Errno {
    fn from(errno: overlay_core::Errno) -> Errno {
        // Engine errnos are Linux numbers between 1 and 133.
        Errno(errno.code() as u16)
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "errno {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errnos_keep_their_numbers() {
        for &errno in overlay_core::Errno::ALL {
            assert_eq!(i32::from(Errno::from(errno).code()), errno.code());
        }
        assert_eq!(Errno::EFAULT.code(), 14);
        assert_eq!(Errno::ENOENT.as_return(), (-2i64) as u64);
        assert_eq!(alloc::format!("{}", Errno::ENOEXEC), "ENOEXEC");
        assert_eq!(
            alloc::format!("{}", Errno::from_code(200).unwrap()),
            "errno 200"
        );
    }
}
