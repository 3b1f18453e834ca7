// SPDX-License-Identifier: AGPL-3.0-or-later
//! User address-space bookkeeping: the region list and the checked user-copy walk.
//!
//! Every process owns a [`RegionList`]: the ELF segments, the stack and each `map_anon`
//! mapping, with their permissions. It rejects overlaps, keeps an unmapped guard page between
//! anonymous mappings, and finds free space for new ones (first fit, lowest address).
//!
//! The kernel never dereferences a user pointer. [`user_chunks`] checks a user range against
//! the process's page table (through a translate callback) page by page and hands out
//! physical chunks that the kernel copies through its direct map. A page that is unmapped,
//! not user-accessible, device memory, or read-only when the kernel would write is refused
//! with a typed [`UserAccessError`]: a bad pointer is an error, never a kernel fault, and the
//! kernel never writes through a read-only user mapping on a process's behalf.

#[cfg(test)]
mod tests;

use crate::addr::{PAGE_SIZE, PhysAddr, VirtAddr};
use crate::paging::{MemoryType, Translation};

/// What a region holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// A loadable segment of the program image.
    Image,
    /// The main thread's stack.
    Stack,
    /// Anonymous zeroed memory from `map_anon`.
    Anon,
}

/// Access rights of a region (always readable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionAccess {
    /// Read only.
    Read,
    /// Read and write.
    ReadWrite,
    /// Read and execute.
    ReadExecute,
}

impl RegionAccess {
    /// True when writes are allowed.
    pub const fn write(self) -> bool {
        matches!(self, RegionAccess::ReadWrite)
    }

    /// True when instruction fetches are allowed.
    pub const fn execute(self) -> bool {
        matches!(self, RegionAccess::ReadExecute)
    }
}

/// One page-aligned range of user address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First byte (page-aligned).
    pub start: u64,
    /// Length in bytes (a non-zero multiple of the page size).
    pub len: u64,
    /// What it holds.
    pub kind: RegionKind,
    /// Its permissions.
    pub access: RegionAccess,
}

impl Region {
    /// One past the last byte.
    pub const fn end(&self) -> u64 {
        self.start + self.len
    }

    /// Number of pages.
    pub const fn pages(&self) -> u64 {
        self.len / PAGE_SIZE
    }
}

/// Why a region operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionError {
    /// Start or length not page-aligned, or zero length.
    Misaligned,
    /// The range leaves the user part of the address space or wraps.
    OutOfRange,
    /// The range overlaps an existing region.
    Overlap,
    /// The list is full.
    TooManyRegions,
    /// No free gap is large enough.
    NoSpace,
    /// No region starts at that address with that length.
    NotFound,
}

impl RegionError {
    /// A human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            RegionError::Misaligned => "range not page-aligned or empty",
            RegionError::OutOfRange => "range outside user space",
            RegionError::Overlap => "range overlaps an existing mapping",
            RegionError::TooManyRegions => "too many mappings in one process",
            RegionError::NoSpace => "no free address range large enough",
            RegionError::NotFound => "no mapping at that address with that length",
        }
    }
}

impl core::fmt::Display for RegionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The regions of one address space, sorted by start, at most `N`.
#[derive(Clone, Debug)]
pub struct RegionList<const N: usize> {
    regions: [Option<Region>; N],
    count: usize,
    /// The user range: `[lo, hi)`.
    lo: u64,
    hi: u64,
}

impl<const N: usize> RegionList<N> {
    /// An empty list for user space `[lo, hi)`.
    pub const fn new(lo: u64, hi: u64) -> Self {
        RegionList { regions: [None; N], count: 0, lo, hi }
    }

    /// Number of regions.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when there are no regions.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The regions in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.regions.iter().take(self.count).flatten()
    }

    /// Total mapped bytes.
    pub fn total_bytes(&self) -> u64 {
        self.iter().map(|r| r.len).sum()
    }

    fn check(&self, start: u64, len: u64) -> Result<u64, RegionError> {
        if len == 0 || !start.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(RegionError::Misaligned);
        }
        let end = start.checked_add(len).ok_or(RegionError::OutOfRange)?;
        if start < self.lo || end > self.hi {
            return Err(RegionError::OutOfRange);
        }
        Ok(end)
    }

    /// Adds a region; it must not overlap any other.
    pub fn insert(&mut self, region: Region) -> Result<(), RegionError> {
        let end = self.check(region.start, region.len)?;
        if self.iter().any(|r| region.start < r.end() && r.start < end) {
            return Err(RegionError::Overlap);
        }
        if self.count >= N {
            return Err(RegionError::TooManyRegions);
        }
        // Insertion position keeps the list sorted.
        let pos = self.iter().take_while(|r| r.start < region.start).count();
        let mut i = self.count;
        while i > pos {
            let prev = self.regions.get(i - 1).copied().flatten();
            if let Some(slot) = self.regions.get_mut(i) {
                *slot = prev;
            }
            i -= 1;
        }
        if let Some(slot) = self.regions.get_mut(pos) {
            *slot = Some(region);
        }
        self.count += 1;
        Ok(())
    }

    /// Removes the region that starts at `start` and is exactly `len` bytes long.
    pub fn remove(&mut self, start: u64, len: u64) -> Result<Region, RegionError> {
        self.check(start, len)?;
        let pos = self.iter().position(|r| r.start == start && r.len == len).ok_or(RegionError::NotFound)?;
        let removed = self.regions.get(pos).copied().flatten().ok_or(RegionError::NotFound)?;
        for i in pos..self.count.saturating_sub(1) {
            let next = self.regions.get(i + 1).copied().flatten();
            if let Some(slot) = self.regions.get_mut(i) {
                *slot = next;
            }
        }
        if let Some(slot) = self.regions.get_mut(self.count - 1) {
            *slot = None;
        }
        self.count -= 1;
        Ok(removed)
    }

    /// The region containing `addr`.
    pub fn find(&self, addr: u64) -> Option<&Region> {
        self.iter().find(|r| (r.start..r.end()).contains(&addr))
    }

    /// The lowest address in `[lo, hi)` where `len` bytes fit with at least one unmapped
    /// guard page on each side of the new range (so two anonymous mappings never touch).
    pub fn find_free(&self, len: u64, lo: u64, hi: u64) -> Result<u64, RegionError> {
        if len == 0 || !len.is_multiple_of(PAGE_SIZE) || !lo.is_multiple_of(PAGE_SIZE) {
            return Err(RegionError::Misaligned);
        }
        let lo = lo.max(self.lo);
        let hi = hi.min(self.hi);
        let mut candidate = lo;
        for r in self.iter() {
            if r.end() + PAGE_SIZE <= candidate {
                continue;
            }
            // Does [candidate - guard, candidate + len + guard) stay clear of r?
            let needed_end = candidate.checked_add(len).and_then(|e| e.checked_add(PAGE_SIZE));
            match needed_end {
                Some(e) if e <= r.start => break,
                Some(_) => candidate = candidate.max(r.end() + PAGE_SIZE),
                None => return Err(RegionError::NoSpace),
            }
        }
        match candidate.checked_add(len) {
            Some(end) if end <= hi && candidate >= lo => Ok(candidate),
            _ => Err(RegionError::NoSpace),
        }
    }
}

/// Direction of a user-memory access by the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The kernel reads user memory (`copy_from_user`).
    Read,
    /// The kernel writes user memory (`copy_to_user`).
    Write,
}

/// Why a user-memory access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserAccessError {
    /// The range leaves user space or wraps around.
    OutOfRange,
    /// A page of the range is not mapped.
    Unmapped(u64),
    /// A page is mapped but not accessible from user mode (the kernel half).
    NotUser(u64),
    /// The kernel would write through a read-only user page.
    ReadOnly(u64),
    /// A page is device memory, which the kernel never copies through.
    Device(u64),
}

impl UserAccessError {
    /// A human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            UserAccessError::OutOfRange => "range outside user space",
            UserAccessError::Unmapped(_) => "unmapped user page",
            UserAccessError::NotUser(_) => "page not accessible from user mode",
            UserAccessError::ReadOnly(_) => "write to a read-only user page",
            UserAccessError::Device(_) => "device memory",
        }
    }
}

/// Walks the user range `[va, va + len)` page by page and calls `chunk(phys, offset, n)` for
/// each piece: `n` bytes at physical address `phys` correspond to bytes `offset..offset + n`
/// of the range. Every page is checked before any chunk is reported, so a refused access
/// copies nothing. `translate` answers for one virtual address (the process's page table);
/// `user` is the user range `[start, end)`.
pub fn user_chunks(
    va: u64,
    len: usize,
    access: Access,
    user: (u64, u64),
    mut translate: impl FnMut(VirtAddr) -> Option<Translation>,
    mut chunk: impl FnMut(PhysAddr, usize, usize),
) -> Result<(), UserAccessError> {
    if len == 0 {
        return Ok(());
    }
    let end = va.checked_add(len as u64).ok_or(UserAccessError::OutOfRange)?;
    if va < user.0 || end > user.1 {
        return Err(UserAccessError::OutOfRange);
    }
    // Pass 1 checks every page, pass 2 reports the chunks (the caller holds the lock that
    // keeps the page table unchanged between the two passes).
    for pass in 0..2 {
        let mut offset = 0usize;
        // Bounded: each iteration advances by at least one byte and at most to a page end.
        while offset < len {
            let addr = va + offset as u64;
            let t = translate(VirtAddr(addr)).ok_or(UserAccessError::Unmapped(addr))?;
            if !t.attrs.user {
                return Err(UserAccessError::NotUser(addr));
            }
            if t.attrs.memory == MemoryType::Device {
                return Err(UserAccessError::Device(addr));
            }
            if access == Access::Write && !t.attrs.write {
                return Err(UserAccessError::ReadOnly(addr));
            }
            let page_left = (PAGE_SIZE - (addr % PAGE_SIZE)) as usize;
            let n = page_left.min(len - offset);
            if pass == 1 {
                chunk(t.phys, offset, n);
            }
            offset += n;
        }
    }
    Ok(())
}
