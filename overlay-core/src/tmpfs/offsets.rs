//! A directory's names in the order of their offsets, for listing.
//!
//! Offsets come from a counter that only grows, so a new name always goes at the end: the
//! names sit in a vector in offset order, found by binary search. A removed name leaves a
//! hole, and the holes are squeezed out once they outnumber the names, so a directory with
//! a lot of churn holds at most about twice its live names. Unlike a `BTreeMap` keyed by
//! offset, adding a name is a push, and a name costs 24 bytes.

use alloc::{sync::Arc, vec::Vec};

/// How many holes are let be before any squeezing (small directories never squeeze).
const HOLES_ALLOWED: usize = 32;

/// Names by offset, each offset above every one before it.
#[derive(Default)]
pub(super) struct Offsets {
    /// In increasing offset order; `None` where a name was removed.
    slots: Vec<(u64, Option<Arc<str>>)>,
    /// How many slots hold a name.
    live: usize,
}

impl Offsets {
    /// Adds `name` at `offset`, above every offset added before. Room must have been made
    /// with [`Offsets::try_reserve`].
    pub(super) fn push(&mut self, offset: u64, name: Arc<str>) {
        debug_assert!(self.slots.last().is_none_or(|&(last, _)| last < offset));
        self.slots.push((offset, Some(name)));
        self.live += 1;
    }

    /// Makes room for one more name.
    ///
    /// # Errors
    /// `ENOMEM` if the allocation fails.
    pub(super) fn try_reserve(&mut self) -> crate::Result<()> {
        self.slots.try_reserve(1)?;
        Ok(())
    }

    /// Removes the name at `offset`, if there is one.
    pub(super) fn remove(&mut self, offset: u64) {
        let Ok(at) = self
            .slots
            .binary_search_by_key(&offset, |&(offset, _)| offset)
        else {
            return;
        };
        let Some((_, slot)) = self.slots.get_mut(at) else {
            return;
        };
        if slot.take().is_some() {
            self.live -= 1;
        }
        if self.slots.len() - self.live > self.live + HOLES_ALLOWED {
            self.slots.retain(|(_, name)| name.is_some());
        }
    }

    /// The names with an offset above `cookie`, in offset order.
    pub(super) fn after(&self, cookie: u64) -> impl Iterator<Item = (u64, &Arc<str>)> {
        let start = self.slots.partition_point(|&(offset, _)| offset <= cookie);
        self.slots
            .get(start..)
            .unwrap_or_default()
            .iter()
            .filter_map(|(offset, name)| name.as_ref().map(|name| (*offset, name)))
    }

    /// Forgets every name.
    pub(super) fn clear(&mut self) {
        self.slots.clear();
        self.live = 0;
    }
}

#[cfg(test)]
mod tests {
    use alloc::{format, string::String};

    use super::*;

    fn listed(offsets: &Offsets, cookie: u64) -> Vec<(u64, String)> {
        offsets
            .after(cookie)
            .map(|(offset, name)| (offset, String::from(&**name)))
            .collect()
    }

    fn add(offsets: &mut Offsets, offset: u64, name: &str) {
        offsets.try_reserve().unwrap();
        offsets.push(offset, Arc::from(name));
    }

    #[test]
    fn lists_in_offset_order_from_a_cookie_skipping_removed_names() {
        let mut offsets = Offsets::default();
        add(&mut offsets, 1, "a");
        add(&mut offsets, 2, "b");
        add(&mut offsets, 5, "c");
        offsets.remove(2);
        offsets.remove(2);
        offsets.remove(3);
        let all = [(1, String::from("a")), (5, String::from("c"))];
        assert_eq!(listed(&offsets, 0), all);
        assert_eq!(listed(&offsets, 1), all[1..]);
        assert_eq!(listed(&offsets, 2), all[1..]);
        assert_eq!(listed(&offsets, 5), []);
        offsets.clear();
        assert_eq!(listed(&offsets, 0), []);
    }

    #[test]
    fn churn_keeps_holes_bounded_and_order_intact() {
        let mut offsets = Offsets::default();
        let mut next = 0;
        let mut kept = Vec::new();
        for round in 0..50 {
            for _ in 0..40 {
                next += 1;
                add(&mut offsets, next, &format!("n{next}"));
            }
            // Remove all but every tenth name added this round.
            for offset in next - 39..=next {
                if offset % 10 == round % 10 {
                    kept.push(offset);
                } else {
                    offsets.remove(offset);
                }
            }
            assert!(offsets.slots.len() <= 2 * offsets.live + HOLES_ALLOWED + 1);
        }
        let listed: Vec<u64> = offsets.after(0).map(|(offset, _)| offset).collect();
        assert_eq!(listed, kept);
        assert_eq!(offsets.live, kept.len());
        let middle = kept[kept.len() / 2];
        assert!(offsets.after(middle).all(|(offset, _)| offset > middle));
    }
}
