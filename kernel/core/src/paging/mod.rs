// SPDX-License-Identifier: AGPL-3.0-or-later
//! Architecture-neutral page-table logic.
//!
//! A [`PageTableFormat`] describes how one architecture encodes its page-table entries
//! (x86_64 4-level, AArch64 4 KiB granule, RISC-V Sv39/Sv48; see the submodules). The generic
//! [`Mapper`] walks and edits a table tree in any of these formats: it picks the largest page
//! size that fits, refuses writable+executable mappings (W^X), refuses to overwrite an existing
//! mapping, and reports every failure as a [`PagingError`].
//!
//! The mapper never dereferences a physical address itself: it asks a [`PhysMemory`] for a
//! pointer (the kernel's direct map on a target, a buffer in host tests) and a
//! [`TableAllocator`] for fresh table frames.

pub mod aarch64;
pub mod riscv;
pub mod x86_64;

#[cfg(test)]
mod tests;

use core::marker::PhantomData;

use crate::addr::{PAGE_SIZE, PhysAddr, VirtAddr};

/// Entries per table on every supported format (4 KiB tables of 8-byte entries).
pub const ENTRIES_PER_TABLE: usize = 512;

/// One page table: 512 entries of 8 bytes.
pub type Table = [u64; ENTRIES_PER_TABLE];

/// Cacheability of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryType {
    /// Ordinary write-back cached RAM.
    Normal,
    /// Device registers: uncached, no speculation, no merging.
    Device,
}

/// Who may use a mapping and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapAttrs {
    /// Writable. Never together with `execute`.
    pub write: bool,
    /// Executable. Never together with `write`.
    pub execute: bool,
    /// Accessible from user mode (the kernel reaches user pages only through checked copies).
    pub user: bool,
    /// Shared by every address space (kernel mappings); not flushed on address-space switch.
    pub global: bool,
    /// Cacheability.
    pub memory: MemoryType,
}

impl MapAttrs {
    /// Kernel code: read + execute.
    pub const KERNEL_TEXT: MapAttrs =
        MapAttrs { write: false, execute: true, user: false, global: true, memory: MemoryType::Normal };
    /// Kernel read-only data.
    pub const KERNEL_RODATA: MapAttrs =
        MapAttrs { write: false, execute: false, user: false, global: true, memory: MemoryType::Normal };
    /// Kernel data, bss, heap, stacks and the direct map: read + write, never executable.
    pub const KERNEL_DATA: MapAttrs =
        MapAttrs { write: true, execute: false, user: false, global: true, memory: MemoryType::Normal };
    /// Device registers mapped for the kernel.
    pub const KERNEL_DEVICE: MapAttrs =
        MapAttrs { write: true, execute: false, user: false, global: true, memory: MemoryType::Device };
}

/// Why a paging operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagingError {
    /// An address or length is not a multiple of the page size.
    Misaligned,
    /// The request asked for a page that is both writable and executable.
    WriteAndExecute,
    /// The virtual address is not canonical / outside what the format can translate.
    NonCanonical,
    /// The range wraps around the end of the address space.
    Overflow,
    /// Some page in the range is already mapped.
    AlreadyMapped,
    /// Some page in the range is not mapped.
    NotMapped,
    /// The operation would need to split a large page, which the mapper does not do.
    HugePageInTheWay,
    /// No frame was available for a new page table.
    OutOfTables,
    /// The entries are gone, but another CPU did not confirm it dropped its cached
    /// translations: the memory behind them must not be reused.
    ShootdownIncomplete,
}

impl PagingError {
    /// A short human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            PagingError::Misaligned => "address or length not page-aligned",
            PagingError::WriteAndExecute => "writable and executable mapping refused (W^X)",
            PagingError::NonCanonical => "non-canonical virtual address",
            PagingError::Overflow => "range wraps the address space",
            PagingError::AlreadyMapped => "page already mapped",
            PagingError::NotMapped => "page not mapped",
            PagingError::HugePageInTheWay => "range splits a large page",
            PagingError::OutOfTables => "out of memory for page tables",
            PagingError::ShootdownIncomplete => "TLB shootdown not confirmed by every CPU (memory kept out of use)",
        }
    }
}

/// How an architecture encodes page-table entries.
///
/// Levels are numbered from the leaf: level 0 maps 4 KiB pages, level 1 2 MiB, level 2 1 GiB,
/// level 3 512 GiB. The root table is at level `LEVELS - 1`.
pub trait PageTableFormat {
    /// Number of translation levels (3 for Sv39, 4 otherwise).
    const LEVELS: usize;
    /// Name printed in the boot log.
    const NAME: &'static str;

    /// True when a leaf (page or block) may be placed at `level`.
    fn leaf_allowed(level: usize) -> bool;
    /// True when `va` is translatable by this format.
    fn is_canonical(va: VirtAddr) -> bool;
    /// Entry pointing at a next-level table.
    fn table_entry(table: PhysAddr) -> u64;
    /// Leaf entry mapping `frame` at `level` with `attrs`.
    fn leaf_entry(frame: PhysAddr, attrs: MapAttrs, level: usize) -> u64;
    /// True when the entry is valid (points somewhere).
    fn is_present(entry: u64) -> bool;
    /// True when a present entry at `level` points at a next-level table (not a leaf).
    fn is_table(entry: u64, level: usize) -> bool;
    /// Physical address held by a present entry.
    fn entry_address(entry: u64) -> PhysAddr;
    /// Attributes of a present leaf entry.
    fn leaf_attrs(entry: u64, level: usize) -> MapAttrs;

    /// Index into the table at `level` for `va`.
    fn index(va: VirtAddr, level: usize) -> usize {
        ((va.as_u64() >> (12 + 9 * level as u64)) & 0x1ff) as usize
    }
}

/// Bytes mapped by one leaf at `level`.
pub const fn level_size(level: usize) -> u64 {
    PAGE_SIZE << (9 * level as u64)
}

/// Access to page-table memory by physical address.
pub trait PhysMemory {
    /// A pointer to the table stored in the frame at `frame`.
    ///
    /// Implementations guarantee the pointer is valid for reads and writes of one [`Table`]
    /// for as long as the mapper uses it, and that no other code accesses it concurrently.
    fn table_ptr(&self, frame: PhysAddr) -> *mut Table;
}

/// A source of frames for new page tables.
pub trait TableAllocator {
    /// One 4 KiB frame (contents need not be zero: the mapper clears it).
    fn allocate_table(&mut self) -> Option<PhysAddr>;
}

/// What a virtual address translates to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Physical address of the byte at the translated virtual address.
    pub phys: PhysAddr,
    /// Attributes of the leaf.
    pub attrs: MapAttrs,
    /// Level of the leaf (0 = 4 KiB page).
    pub level: usize,
}

/// Walks and edits one page-table tree in format `F`.
pub struct Mapper<'m, F: PageTableFormat, M: PhysMemory> {
    root: PhysAddr,
    memory: &'m M,
    format: PhantomData<F>,
}

impl<'m, F: PageTableFormat, M: PhysMemory> Mapper<'m, F, M> {
    /// A mapper for the tree whose root table is at `root`.
    ///
    /// The caller guarantees `root` holds a valid (possibly empty) table in format `F` that
    /// nothing else edits while this mapper exists.
    pub fn new(root: PhysAddr, memory: &'m M) -> Self {
        Mapper { root, memory, format: PhantomData }
    }

    /// Allocates and clears a new root table.
    pub fn new_root<A: TableAllocator>(memory: &'m M, alloc: &mut A) -> Result<Self, PagingError> {
        let root = alloc.allocate_table().ok_or(PagingError::OutOfTables)?;
        clear_table(memory, root);
        Ok(Mapper::new(root, memory))
    }

    /// Physical address of the root table.
    pub fn root(&self) -> PhysAddr {
        self.root
    }

    fn read(&self, table: PhysAddr, index: usize) -> u64 {
        let ptr = self.memory.table_ptr(table);
        // SAFETY: `PhysMemory::table_ptr` promises a valid, exclusively-used table; `index` is
        // masked to 0..512 by `PageTableFormat::index`, so the element is in bounds.
        unsafe { core::ptr::read_volatile(ptr.cast::<u64>().add(index % ENTRIES_PER_TABLE)) }
    }

    fn write(&self, table: PhysAddr, index: usize, value: u64) {
        let ptr = self.memory.table_ptr(table);
        // SAFETY: as in `read`; volatile so the hardware walker sees every store in order.
        unsafe { core::ptr::write_volatile(ptr.cast::<u64>().add(index % ENTRIES_PER_TABLE), value) }
    }

    /// Maps `len` bytes at `va` to `pa` with `attrs`, using the largest pages that fit.
    ///
    /// On error nothing already mapped by this call is undone (callers map into fresh trees
    /// or treat failure as fatal for the address space).
    pub fn map<A: TableAllocator>(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        len: u64,
        attrs: MapAttrs,
        alloc: &mut A,
    ) -> Result<(), PagingError> {
        self.map_with_max_level(va, pa, len, attrs, alloc, F::LEVELS - 1)
    }

    /// Like [`Mapper::map`], but never uses leaves above `max_level` (0 forces 4 KiB pages,
    /// which later `unmap` calls can remove one at a time).
    pub fn map_with_max_level<A: TableAllocator>(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        len: u64,
        attrs: MapAttrs,
        alloc: &mut A,
        max_level: usize,
    ) -> Result<(), PagingError> {
        check_range::<F>(va, len)?;
        if !pa.is_aligned(PAGE_SIZE) {
            return Err(PagingError::Misaligned);
        }
        if attrs.write && attrs.execute {
            return Err(PagingError::WriteAndExecute);
        }
        pa.checked_add(len).ok_or(PagingError::Overflow)?;
        let mut offset = 0u64;
        // Bounded: every iteration maps at least one 4 KiB page.
        while offset < len {
            let v = VirtAddr(va.as_u64() + offset);
            let p = PhysAddr(pa.as_u64() + offset);
            let remaining = len - offset;
            let mut level = max_level.min(F::LEVELS - 1);
            while level > 0 {
                let size = level_size(level);
                if F::leaf_allowed(level) && v.is_aligned(size) && p.is_aligned(size) && remaining >= size {
                    break;
                }
                level -= 1;
            }
            self.map_one(v, p, attrs, level, alloc)?;
            offset += level_size(level);
        }
        Ok(())
    }

    fn map_one<A: TableAllocator>(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        attrs: MapAttrs,
        leaf_level: usize,
        alloc: &mut A,
    ) -> Result<(), PagingError> {
        let mut table = self.root;
        let mut level = F::LEVELS - 1;
        while level > leaf_level {
            let index = F::index(va, level);
            let entry = self.read(table, index);
            if !F::is_present(entry) {
                let next = alloc.allocate_table().ok_or(PagingError::OutOfTables)?;
                clear_table(self.memory, next);
                self.write(table, index, F::table_entry(next));
                table = next;
            } else if F::is_table(entry, level) {
                table = F::entry_address(entry);
            } else {
                return Err(PagingError::AlreadyMapped);
            }
            level -= 1;
        }
        let index = F::index(va, leaf_level);
        if F::is_present(self.read(table, index)) {
            return Err(PagingError::AlreadyMapped);
        }
        self.write(table, index, F::leaf_entry(pa, attrs, leaf_level));
        Ok(())
    }

    /// Finds the leaf entry for `va`: (table, index, level), or `None` when unmapped.
    fn find_leaf(&self, va: VirtAddr) -> Option<(PhysAddr, usize, usize)> {
        if !F::is_canonical(va) {
            return None;
        }
        let mut table = self.root;
        let mut level = F::LEVELS - 1;
        loop {
            let index = F::index(va, level);
            let entry = self.read(table, index);
            if !F::is_present(entry) {
                return None;
            }
            if level == 0 || !F::is_table(entry, level) {
                return Some((table, index, level));
            }
            table = F::entry_address(entry);
            level -= 1;
        }
    }

    /// Translates `va`, or `None` when it is not mapped.
    pub fn translate(&self, va: VirtAddr) -> Option<Translation> {
        let (table, index, level) = self.find_leaf(va)?;
        let entry = self.read(table, index);
        let offset = va.as_u64() & (level_size(level) - 1);
        Some(Translation {
            phys: PhysAddr(F::entry_address(entry).as_u64() + offset),
            attrs: F::leaf_attrs(entry, level),
            level,
        })
    }

    /// Removes the mappings of `len` bytes at `va`. Every page must be mapped, and a large
    /// page must be removed whole. Page-table frames are kept. The caller flushes the TLB.
    pub fn unmap(&mut self, va: VirtAddr, len: u64) -> Result<(), PagingError> {
        check_range::<F>(va, len)?;
        let mut offset = 0u64;
        while offset < len {
            let v = VirtAddr(va.as_u64() + offset);
            let (table, index, level) = self.find_leaf(v).ok_or(PagingError::NotMapped)?;
            let size = level_size(level);
            if !v.is_aligned(size) || len - offset < size {
                return Err(PagingError::HugePageInTheWay);
            }
            self.write(table, index, 0);
            offset += size;
        }
        Ok(())
    }
}

impl<'m, F: PageTableFormat, M: PhysMemory> Mapper<'m, F, M> {
    /// Tears down everything reachable from root entries `root_entries` (the user half):
    /// calls `leaf(frame, level)` for every mapped leaf and `table(frame)` for every
    /// intermediate table below the root, clears those root entries, and keeps the root.
    /// The caller frees the frames (after switching away from this tree and flushing the TLB).
    pub fn teardown(
        &mut self,
        root_entries: core::ops::Range<usize>,
        leaf: &mut impl FnMut(PhysAddr, usize),
        table: &mut impl FnMut(PhysAddr),
    ) {
        let end = root_entries.end.min(ENTRIES_PER_TABLE);
        for index in root_entries.start..end {
            let entry = self.read(self.root, index);
            if F::is_present(entry) {
                self.teardown_entry(entry, F::LEVELS - 1, leaf, table);
                self.write(self.root, index, 0);
            }
        }
    }

    /// Releases what `entry` (found at `level`) points to. Recursion depth is at most
    /// `F::LEVELS`.
    fn teardown_entry(
        &self,
        entry: u64,
        level: usize,
        leaf: &mut impl FnMut(PhysAddr, usize),
        table: &mut impl FnMut(PhysAddr),
    ) {
        if level == 0 || !F::is_table(entry, level) {
            leaf(F::entry_address(entry), level);
            return;
        }
        let next = F::entry_address(entry);
        for index in 0..ENTRIES_PER_TABLE {
            let child = self.read(next, index);
            if F::is_present(child) {
                self.teardown_entry(child, level - 1, leaf, table);
            }
        }
        table(next);
    }

    /// Copies root entries `entries` from the root table at `source` (sharing the tables below
    /// them: how every user address space shares the kernel half).
    pub fn copy_root_entries(&mut self, source: PhysAddr, entries: core::ops::Range<usize>) {
        let end = entries.end.min(ENTRIES_PER_TABLE);
        for index in entries.start..end {
            let value = self.read(source, index);
            self.write(self.root, index, value);
        }
    }
}

fn check_range<F: PageTableFormat>(va: VirtAddr, len: u64) -> Result<(), PagingError> {
    if !va.is_aligned(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
        return Err(PagingError::Misaligned);
    }
    let last = match len {
        0 => va.as_u64(),
        _ => va.as_u64().checked_add(len - 1).ok_or(PagingError::Overflow)?,
    };
    if !F::is_canonical(va) || !F::is_canonical(VirtAddr(last)) {
        return Err(PagingError::NonCanonical);
    }
    // Both ends canonical but the range crosses the hole between the halves.
    if (va.as_u64() ^ last) >> 63 != 0 {
        return Err(PagingError::NonCanonical);
    }
    Ok(())
}

fn clear_table<M: PhysMemory>(memory: &M, frame: PhysAddr) {
    let ptr = memory.table_ptr(frame);
    for i in 0..ENTRIES_PER_TABLE {
        // SAFETY: `table_ptr` promises a valid, exclusively-used table of 512 entries.
        unsafe { core::ptr::write_volatile(ptr.cast::<u64>().add(i), 0) };
    }
}

/// Sign-extension check for a `bits`-wide virtual address space.
pub(crate) const fn canonical(va: VirtAddr, bits: u32) -> bool {
    let v = va.as_u64() as i64;
    ((v << (64 - bits)) >> (64 - bits)) == v
}
