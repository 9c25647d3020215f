//! `prctl`: the few process controls a static program asks for. BusyBox names each applet's
//! process after the applet (`PR_SET_NAME`), which is what `ps` and `/proc/PID/comm` show.

use linux_raw_sys::prctl as pr;

use crate::errno::{Errno, SysResult};
use crate::process::Process;
use crate::user::{read_c_bytes, UserMemory};

/// Bytes of a process name with its NUL (Linux's `TASK_COMM_LEN`).
pub const COMM_BYTES: usize = 16;

/// The name Linux gives a process at `execve`: the last component of the path it was given,
/// cut to 15 bytes.
pub fn comm_of_path(path: &[u8]) -> alloc::string::String {
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let name = &name[..name.len().min(COMM_BYTES - 1)];
    alloc::string::String::from_utf8_lossy(name).into_owned()
}

/// `prctl(option, arg2, ...)`: `PR_SET_NAME` (the first 15 bytes of the string at `arg2`),
/// `PR_GET_NAME` (16 bytes, NUL-padded, to `arg2`), `PR_SET_PDEATHSIG` (accepted, never
/// sent: a parent's death does not signal here), `PR_GET_PDEATHSIG` (0), `PR_GET_DUMPABLE`
/// (1), `PR_SET_DUMPABLE` (0 or 1 accepted).
///
/// # Errors
/// `EFAULT` for a bad `arg2`; `EINVAL` for any other option or a bad value.
pub fn prctl(process: &mut Process, memory: &mut dyn UserMemory, args: [u64; 6]) -> SysResult<u64> {
    let Ok(option) = u32::try_from(args[0]) else {
        return Err(Errno::EINVAL);
    };
    match option {
        pr::PR_SET_NAME => {
            let name = match read_c_bytes(memory, args[1], COMM_BYTES) {
                Ok(name) => name,
                // A name with no NUL in its first 16 bytes is cut, as Linux cuts it.
                Err(Errno::ENAMETOOLONG) => {
                    let mut name = alloc::vec![0u8; COMM_BYTES];
                    memory.read(args[1], &mut name)?;
                    name
                }
                Err(errno) => return Err(errno),
            };
            let name = &name[..name.len().min(COMM_BYTES - 1)];
            process.comm = alloc::string::String::from_utf8_lossy(name).into_owned();
            Ok(0)
        }
        pr::PR_GET_NAME => {
            let mut name = [0u8; COMM_BYTES];
            let bytes = process.comm.as_bytes();
            let len = bytes.len().min(COMM_BYTES - 1);
            name[..len].copy_from_slice(&bytes[..len]);
            memory.write(args[1], &name)?;
            Ok(0)
        }
        pr::PR_SET_PDEATHSIG if args[1] <= u64::from(crate::signal::MAX_SIGNAL) => Ok(0),
        pr::PR_GET_PDEATHSIG => {
            crate::user::write_u32(memory, args[1], 0)?;
            Ok(0)
        }
        pr::PR_GET_DUMPABLE => Ok(1),
        pr::PR_SET_DUMPABLE if args[1] <= 1 => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_is_the_last_component_cut_to_15_bytes() {
        assert_eq!(comm_of_path(b"/bin/busybox"), "busybox");
        assert_eq!(comm_of_path(b"/proc/self/exe"), "exe");
        assert_eq!(comm_of_path(b"a-very-long-program-name"), "a-very-long-pro");
    }
}
