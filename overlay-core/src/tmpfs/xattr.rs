//! Extended attributes: a sorted map from name to value, with Linux's naming rules and limits.

use alloc::{collections::BTreeMap, string::String, vec::Vec};

use crate::error::{Errno, Result};
use crate::vfs::XattrFlags;

/// Longest attribute name, in bytes (Linux `XATTR_NAME_MAX`).
pub(super) const XATTR_NAME_MAX: usize = 255;
/// Largest attribute value, in bytes (Linux `XATTR_SIZE_MAX`).
pub(super) const XATTR_SIZE_MAX: usize = 65536;

/// The namespaces an attribute name may start with.
const NAMESPACES: [&str; 4] = ["user.", "trusted.", "security.", "system."];

/// Checks an attribute name the way Linux does: `ERANGE` if empty or longer than
/// [`XATTR_NAME_MAX`]; `ENOTSUP` outside the known namespaces; `EINVAL` for a bare namespace
/// prefix such as `user.`.
pub(super) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > XATTR_NAME_MAX {
        return Err(Errno::ERANGE);
    }
    // A C string ends at its first NUL, so Linux could never be given one.
    if name.bytes().any(|b| b == 0) {
        return Err(Errno::EINVAL);
    }
    let prefix =
        NAMESPACES.iter().find(|prefix| name.starts_with(**prefix)).ok_or(Errno::ENOTSUP)?;
    if name.len() == prefix.len() {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The bytes an attribute is charged for: its name and its value.
fn cost(name: &str, value: &[u8]) -> u64 {
    (name.len() + value.len()) as u64
}

/// The extended attributes of one inode.
#[derive(Default)]
pub(super) struct Xattrs {
    by_name: BTreeMap<String, Vec<u8>>,
}

/// A change to make with [`Xattrs::commit`], prepared (checked and allocated) by
/// [`Xattrs::prepare_set`] so that capacity can be reserved in between.
pub(super) struct PendingSet {
    name: String,
    value: Vec<u8>,
    /// Bytes charged after the change minus bytes charged before.
    delta_bytes: i64,
}

impl PendingSet {
    /// How the bytes charged for the attributes change: reserve this much if positive, give
    /// back its magnitude if negative.
    pub(super) fn delta_bytes(&self) -> i64 {
        self.delta_bytes
    }
}

impl Xattrs {
    /// The value of `name`: `ENODATA` if it is not set; `ENOMEM` if the copy cannot be made.
    pub(super) fn get(&self, name: &str) -> Result<Vec<u8>> {
        check_name(name)?;
        let value = self.by_name.get(name).ok_or(Errno::ENODATA)?;
        let mut copy = Vec::new();
        copy.try_reserve_exact(value.len())?;
        copy.extend_from_slice(value);
        Ok(copy)
    }

    /// Checks a `set` of `name` to `value` with `flags` and copies its bytes: `E2BIG` for a value
    /// past [`XATTR_SIZE_MAX`], `EEXIST`/`ENODATA` as `flags` demand, `ENOMEM`.
    pub(super) fn prepare_set(
        &self,
        name: &str,
        value: &[u8],
        flags: XattrFlags,
    ) -> Result<PendingSet> {
        if !XattrFlags::all().contains(flags) {
            return Err(Errno::EINVAL);
        }
        check_name(name)?;
        if value.len() > XATTR_SIZE_MAX {
            return Err(Errno::E2BIG);
        }
        let old = self.by_name.get(name);
        if flags.contains(XattrFlags::CREATE) && old.is_some() {
            return Err(Errno::EEXIST);
        }
        if flags.contains(XattrFlags::REPLACE) && old.is_none() {
            return Err(Errno::ENODATA);
        }
        let old_cost = old.map_or(0, |old| cost(name, old));
        let mut owned_name = String::new();
        owned_name.try_reserve_exact(name.len())?;
        owned_name.push_str(name);
        let mut owned_value = Vec::new();
        owned_value.try_reserve_exact(value.len())?;
        owned_value.extend_from_slice(value);
        // Both costs are below 2^17, so the difference fits easily.
        let delta_bytes = cost(name, value) as i64 - old_cost as i64;
        Ok(PendingSet { name: owned_name, value: owned_value, delta_bytes })
    }

    /// Makes a prepared change.
    pub(super) fn commit(&mut self, pending: PendingSet) {
        self.by_name.insert(pending.name, pending.value);
    }

    /// All names, sorted; `ENOMEM` if the list cannot be made.
    pub(super) fn list(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        names.try_reserve_exact(self.by_name.len())?;
        for name in self.by_name.keys() {
            let mut copy = String::new();
            copy.try_reserve_exact(name.len())?;
            copy.push_str(name);
            names.push(copy);
        }
        Ok(names)
    }

    /// Removes `name`: `ENODATA` if it is not set. Returns the bytes it was charged for.
    pub(super) fn remove(&mut self, name: &str) -> Result<u64> {
        check_name(name)?;
        let value = self.by_name.remove(name).ok_or(Errno::ENODATA)?;
        Ok(cost(name, &value))
    }

    /// Bytes charged for all attributes.
    #[cfg(test)]
    pub(super) fn charged_bytes(&self) -> u64 {
        self.by_name.iter().map(|(name, value)| cost(name, value)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(xattrs: &mut Xattrs, name: &str, value: &[u8], flags: XattrFlags) -> Result<i64> {
        let pending = xattrs.prepare_set(name, value, flags)?;
        let delta = pending.delta_bytes();
        xattrs.commit(pending);
        Ok(delta)
    }

    #[test]
    fn names_follow_linux_rules() {
        assert_eq!(check_name("user.a"), Ok(()));
        assert_eq!(check_name("trusted.overlay.opaque"), Ok(()));
        assert_eq!(check_name("security.selinux"), Ok(()));
        assert_eq!(check_name("system.posix_acl_access"), Ok(()));
        assert_eq!(check_name(""), Err(Errno::ERANGE));
        assert_eq!(check_name(&"user.".repeat(52)), Err(Errno::ERANGE));
        assert_eq!(check_name(&alloc::format!("user.{}", "x".repeat(250))), Ok(()));
        assert_eq!(check_name("user."), Err(Errno::EINVAL));
        assert_eq!(check_name("user.a\0b"), Err(Errno::EINVAL));
        assert_eq!(check_name("other.a"), Err(Errno::ENOTSUP));
        assert_eq!(check_name("user"), Err(Errno::ENOTSUP));
        assert_eq!(check_name("USER.a"), Err(Errno::ENOTSUP));
    }

    #[test]
    fn set_get_list_remove() {
        let mut xattrs = Xattrs::default();
        assert_eq!(xattrs.get("user.b"), Err(Errno::ENODATA));
        assert_eq!(set(&mut xattrs, "user.b", b"12", XattrFlags::empty()), Ok(8));
        assert_eq!(set(&mut xattrs, "trusted.a", b"", XattrFlags::CREATE), Ok(9));
        assert_eq!(xattrs.get("user.b").unwrap(), b"12");
        assert_eq!(xattrs.get("trusted.a").unwrap(), b"");
        assert_eq!(xattrs.list().unwrap(), ["trusted.a", "user.b"]);
        // Replacing charges only the difference.
        assert_eq!(set(&mut xattrs, "user.b", b"1", XattrFlags::REPLACE), Ok(-1));
        assert_eq!(xattrs.charged_bytes(), 7 + 9);
        assert_eq!(xattrs.remove("user.b"), Ok(7));
        assert_eq!(xattrs.remove("user.b"), Err(Errno::ENODATA));
        assert_eq!(xattrs.list().unwrap(), ["trusted.a"]);
    }

    #[test]
    fn flags_and_limits() {
        let mut xattrs = Xattrs::default();
        assert_eq!(set(&mut xattrs, "user.a", b"x", XattrFlags::REPLACE), Err(Errno::ENODATA));
        set(&mut xattrs, "user.a", b"x", XattrFlags::CREATE).unwrap();
        assert_eq!(set(&mut xattrs, "user.a", b"y", XattrFlags::CREATE), Err(Errno::EEXIST));
        assert_eq!(xattrs.get("user.a").unwrap(), b"x");
        let big = vec![0; XATTR_SIZE_MAX + 1];
        assert_eq!(set(&mut xattrs, "user.big", &big, XattrFlags::empty()), Err(Errno::E2BIG));
        assert!(set(&mut xattrs, "user.big", &big[1..], XattrFlags::empty()).is_ok());
        assert_eq!(set(&mut xattrs, "bogus.a", b"", XattrFlags::empty()), Err(Errno::ENOTSUP));
        assert_eq!(xattrs.get(""), Err(Errno::ERANGE));
        assert_eq!(xattrs.remove("user."), Err(Errno::EINVAL));
    }
}
