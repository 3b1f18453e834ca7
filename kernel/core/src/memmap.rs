// SPDX-License-Identifier: AGPL-3.0-or-later
//! Physical memory ranges and fixed-capacity range lists.
//!
//! Boot protocols report RAM that still contains the kernel image, the initrd, the device tree
//! and the boot structures themselves. [`RangeList::subtract`] carves reserved ranges out of
//! the reported RAM so the frame allocator never hands them out.

use crate::addr::{PAGE_SIZE, align_down, align_up};

/// A half-open physical range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Range {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl Range {
    /// `[start, start + len)`, saturating at the top of the address space.
    pub const fn from_len(start: u64, len: u64) -> Range {
        Range { start, end: start.saturating_add(len) }
    }
    /// Length in bytes.
    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
    /// True for an empty range.
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }
    /// True when the ranges share at least one byte.
    pub const fn overlaps(&self, other: &Range) -> bool {
        self.start < other.end && other.start < self.end
    }
    /// True when `addr` is inside.
    pub const fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }
    /// The largest page-aligned range inside this one (empty if none).
    pub fn shrink_to_pages(&self) -> Range {
        let start = align_up(self.start, PAGE_SIZE).unwrap_or(u64::MAX);
        let end = align_down(self.end, PAGE_SIZE);
        if end > start { Range { start, end } } else { Range { start, end: start } }
    }
    /// The smallest page-aligned range covering this one.
    pub fn grow_to_pages(&self) -> Range {
        Range { start: align_down(self.start, PAGE_SIZE), end: align_up(self.end, PAGE_SIZE).unwrap_or(u64::MAX) }
    }
}

/// Why a range could not be recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeError {
    /// The list is full.
    Full,
}

/// An ordered list of at most `N` ranges (ordered by start once normalised).
#[derive(Clone, Copy, Debug)]
pub struct RangeList<const N: usize> {
    ranges: [Range; N],
    len: usize,
}

impl<const N: usize> Default for RangeList<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RangeList<N> {
    /// An empty list.
    pub const fn new() -> Self {
        RangeList { ranges: [Range { start: 0, end: 0 }; N], len: 0 }
    }

    /// The ranges.
    pub fn as_slice(&self) -> &[Range] {
        self.ranges.get(..self.len).unwrap_or(&[])
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no ranges.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a range; empty ranges are ignored.
    pub fn push(&mut self, range: Range) -> Result<(), RangeError> {
        if range.is_empty() {
            return Ok(());
        }
        let slot = self.ranges.get_mut(self.len).ok_or(RangeError::Full)?;
        *slot = range;
        self.len += 1;
        Ok(())
    }

    /// Sorts by start and merges overlapping or touching ranges.
    pub fn normalize(&mut self) {
        let len = self.len.min(N);
        let Some(live) = self.ranges.get_mut(..len) else { return };
        // N is small and this runs at boot only.
        live.sort_unstable_by_key(|r| r.start);
        let mut out = 0usize;
        for i in 0..live.len() {
            let Some(&r) = live.get(i) else { break };
            match out.checked_sub(1).and_then(|last| live.get_mut(last)) {
                Some(prev) if r.start <= prev.end => prev.end = prev.end.max(r.end),
                _ => {
                    if let Some(slot) = live.get_mut(out) {
                        *slot = r;
                    }
                    out += 1;
                }
            }
        }
        self.len = out;
    }

    /// Removes every byte covered by `cut` from the list (splitting ranges as needed).
    pub fn subtract(&mut self, cut: Range) -> Result<(), RangeError> {
        if cut.is_empty() {
            return Ok(());
        }
        let mut out = RangeList::<N>::new();
        for r in self.as_slice() {
            if !r.overlaps(&cut) {
                out.push(*r)?;
                continue;
            }
            out.push(Range { start: r.start, end: cut.start.max(r.start) })?;
            out.push(Range { start: cut.end.min(r.end), end: r.end })?;
        }
        *self = out;
        Ok(())
    }

    /// Total bytes covered.
    pub fn total(&self) -> u64 {
        self.as_slice().iter().map(Range::len).sum()
    }

    /// Lowest start and highest end, or `None` when empty.
    pub fn span(&self) -> Option<Range> {
        let first = self.as_slice().iter().map(|r| r.start).min()?;
        let last = self.as_slice().iter().map(|r| r.end).max()?;
        Some(Range { start: first, end: last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(rs: &[(u64, u64)]) -> RangeList<8> {
        let mut l = RangeList::new();
        for &(s, e) in rs {
            l.push(Range { start: s, end: e }).unwrap();
        }
        l
    }

    #[test]
    fn normalize_sorts_and_merges() {
        let mut l = list(&[(0x5000, 0x6000), (0x1000, 0x2000), (0x2000, 0x3000), (0x5800, 0x7000)]);
        l.normalize();
        assert_eq!(l.as_slice(), &[Range { start: 0x1000, end: 0x3000 }, Range { start: 0x5000, end: 0x7000 }]);
        assert_eq!(l.total(), 0x4000);
        assert_eq!(l.span(), Some(Range { start: 0x1000, end: 0x7000 }));
    }

    #[test]
    fn subtract_splits() {
        let mut l = list(&[(0, 0x10000)]);
        l.subtract(Range { start: 0x4000, end: 0x5000 }).unwrap();
        l.subtract(Range { start: 0xf000, end: 0x20000 }).unwrap();
        l.subtract(Range { start: 0, end: 0x1000 }).unwrap();
        assert_eq!(l.as_slice(), &[Range { start: 0x1000, end: 0x4000 }, Range { start: 0x5000, end: 0xf000 }]);
        l.subtract(Range { start: 0, end: u64::MAX }).unwrap();
        assert!(l.is_empty());
    }

    #[test]
    fn capacity_is_an_error() {
        let mut l: RangeList<2> = RangeList::new();
        l.push(Range::from_len(0, 10)).unwrap();
        l.push(Range::from_len(20, 10)).unwrap();
        assert_eq!(l.push(Range::from_len(40, 10)), Err(RangeError::Full));
        assert_eq!(l.subtract(Range::from_len(2, 2)), Err(RangeError::Full));
        // Empty ranges never take a slot.
        l.push(Range::from_len(5, 0)).unwrap();
    }

    #[test]
    fn page_rounding() {
        let r = Range { start: 0x1001, end: 0x3fff };
        assert_eq!(r.shrink_to_pages(), Range { start: 0x2000, end: 0x3000 });
        assert_eq!(r.grow_to_pages(), Range { start: 0x1000, end: 0x4000 });
        assert!(Range { start: 0x1001, end: 0x1fff }.shrink_to_pages().is_empty());
    }
}
