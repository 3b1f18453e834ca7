// SPDX-License-Identifier: AGPL-3.0-or-later
//! Physical memory and the kernel address space.
//!
//! [`init_frames`] turns the boot memory map into the buddy frame allocator: it removes every
//! reserved range, carves out the allocator's own metadata and the kernel object-table region,
//! and hands the rest to the allocator. Memory above `arch::EARLY_MAP_LIMIT` is not reachable
//! before the final page tables exist, so it joins the allocator in [`add_high_memory`].
//!
//! [`build_kernel_space`] builds the final kernel address space in any page-table format:
//! the direct map of all RAM (read/write, never executable), the kernel image with W^X
//! section permissions, device and firmware windows, and the boot CPU's kernel and exception
//! stacks, each with an unmapped guard region below it (and an unmapped page below the boot
//! stack in `.bss`). The architecture then switches to it.

use crate::sync::SpinLock;
use kernel_boot::{BootInfo, ReservedKind};
use kernel_core::addr::{PAGE_SIZE, PhysAddr, VirtAddr};
use kernel_core::frame::{BuddyAllocator, FrameError};
use kernel_core::memmap::{Range, RangeList};
use kernel_core::paging::{MapAttrs, Mapper, PageTableFormat, PhysMemory, Table, TableAllocator};
use kernel_core::sync::LockClass;

use crate::arch;
use crate::error::KernelError;
use crate::layout;

/// The kernel's frame allocator type.
pub type FrameAllocator = BuddyAllocator<'static>;

/// The global frame allocator (lock rank `Frames`).
pub static FRAMES: SpinLock<Option<FrameAllocator>> = SpinLock::new(LockClass::Frames, None);

/// Ranges too high for the early direct map, added after paging (and the object-table region).
static DEFERRED: SpinLock<Deferred> =
    SpinLock::new(LockClass::Frames, Deferred { high: RangeList::new(), tables: Range { start: 0, end: 0 } });

struct Deferred {
    high: RangeList<{ kernel_boot::MAX_MEMORY_RANGES }>,
    tables: Range,
}

/// What [`init_frames`] did, for the boot log.
#[derive(Clone, Copy, Debug)]
pub struct FrameReport {
    /// Usable memory after reservations, in bytes (including what joins later).
    pub usable: u64,
    /// Frames handed to the allocator now.
    pub free_now: u64,
    /// Bytes that join after paging (above the early direct map).
    pub deferred: u64,
    /// Where the allocator's metadata lives.
    pub metadata: Range,
}

/// Builds the frame allocator; `table_bytes(usable)` sizes the object-table region to carve out.
pub fn init_frames(
    info: &BootInfo,
    table_bytes: impl FnOnce(u64) -> Result<u64, KernelError>,
) -> Result<FrameReport, KernelError> {
    let mut usable = info.usable_memory()?;
    let span = usable.span().ok_or(KernelError::Boot(kernel_boot::BootError::NoMemory))?;
    let usable_total = usable.total();

    // The object-table region: physically contiguous, from the largest range.
    let tables_len = table_bytes(usable_total)?;
    let tables = carve(&usable, tables_len, u64::MAX).ok_or(KernelError::Frames(FrameError::OutOfMemory))?;
    usable.subtract(tables)?;

    // The allocator's metadata: must be reachable now, so below the early limit.
    let frames_in_span = span.len() / PAGE_SIZE;
    let words = BuddyAllocator::metadata_words(frames_in_span);
    let meta_len = kernel_core::addr::align_up((words as u64).saturating_mul(8), PAGE_SIZE)
        .ok_or(KernelError::Frames(FrameError::OutOfMemory))?;
    let metadata =
        carve(&usable, meta_len, arch::EARLY_MAP_LIMIT).ok_or(KernelError::Frames(FrameError::OutOfMemory))?;
    usable.subtract(metadata)?;

    let storage_ptr = layout::phys_to_virt(PhysAddr(metadata.start)).cast::<u64>();
    // SAFETY: `metadata` is usable RAM below EARLY_MAP_LIMIT (so mapped by the early direct map
    // and, later, by the final one), page-aligned, `words * 8` bytes long, and removed from
    // `usable`, so nothing else will ever own it; it lives for the rest of the kernel's life.
    let storage: &'static mut [u64] = unsafe {
        core::ptr::write_bytes(storage_ptr, 0, words);
        core::slice::from_raw_parts_mut(storage_ptr, words)
    };
    let mut allocator = BuddyAllocator::new(span, storage)?;

    let mut deferred = RangeList::new();
    let mut deferred_bytes = 0;
    for r in usable.as_slice() {
        let low = Range { start: r.start, end: r.end.min(arch::EARLY_MAP_LIMIT) };
        let high = Range { start: r.start.max(arch::EARLY_MAP_LIMIT), end: r.end };
        if !low.is_empty() {
            allocator.add_free(low)?;
        }
        if !high.is_empty() {
            deferred.push(high)?;
            deferred_bytes += high.len();
        }
    }
    let report =
        FrameReport { usable: usable.total(), free_now: allocator.free_frames(), deferred: deferred_bytes, metadata };
    *FRAMES.lock() = Some(allocator);
    *DEFERRED.lock() = Deferred { high: deferred, tables };
    Ok(report)
}

/// Adds the memory above the early direct map (call once, after `init_paging`). Returns the
/// frames added.
pub fn add_high_memory() -> Result<u64, KernelError> {
    let high = DEFERRED.lock().high;
    let mut frames = FRAMES.lock();
    let allocator = frames.as_mut().ok_or(KernelError::NotInitialised("frame allocator"))?;
    let mut added = 0;
    for r in high.as_slice() {
        added += allocator.add_free(*r)?;
    }
    Ok(added)
}

/// The object-table region carved out by [`init_frames`].
pub fn object_table_region() -> Range {
    DEFERRED.lock().tables
}

/// Free and total frames (0, 0 before `init_frames`).
pub fn frame_counts() -> (u64, u64) {
    FRAMES.lock().as_ref().map_or((0, 0), |a| (a.free_frames(), a.total_frames()))
}

/// The lowest page-aligned `len` bytes of `list` inside one range, ending at or below `limit`.
fn carve<const N: usize>(list: &RangeList<N>, len: u64, limit: u64) -> Option<Range> {
    if len == 0 {
        return Some(Range { start: 0, end: 0 });
    }
    // Prefer the largest range so small ranges stay available for low-memory needs.
    list.as_slice()
        .iter()
        .map(|r| Range { start: r.start, end: r.end.min(limit) })
        .filter(|r| r.len() >= len)
        .max_by_key(|r| r.len())
        .map(|r| Range::from_len(r.start, len))
}

/// Page tables reached through the direct map.
pub struct DirectMap;

impl PhysMemory for DirectMap {
    fn table_ptr(&self, frame: PhysAddr) -> *mut Table {
        layout::phys_to_virt(frame).cast()
    }
}

/// Takes page-table frames from the frame allocator and counts them.
pub struct TableFrames<'a> {
    frames: &'a mut FrameAllocator,
    /// Frames handed out so far.
    pub used: u64,
}

impl<'a> TableFrames<'a> {
    /// Wraps the allocator.
    pub fn new(frames: &'a mut FrameAllocator) -> Self {
        TableFrames { frames, used: 0 }
    }
}

impl TableAllocator for TableFrames<'_> {
    fn allocate_table(&mut self) -> Option<PhysAddr> {
        let frame = self.frames.allocate_frame().ok()?;
        self.used += 1;
        Some(frame)
    }
}

/// A physical window the kernel maps besides RAM (device registers, firmware tables).
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// The physical range (grown to whole pages when mapped).
    pub range: Range,
    /// How to map it.
    pub attrs: MapAttrs,
}

/// The result of [`build_kernel_space`].
#[derive(Clone, Copy, Debug)]
pub struct KernelSpace {
    /// Physical address of the root table.
    pub root: PhysAddr,
    /// Frames used for page tables.
    pub table_frames: u64,
}

/// Builds the kernel address space in format `F`.
///
/// Maps, at `hhdm_base + phys`, all RAM except firmware `no-map` regions (read/write, not
/// executable; the kernel image read-only) and every window (with its attributes, skipping
/// pages RAM already covers); at their link addresses, the kernel's
/// text (read + execute), rodata (read) and data/bss (read/write) except the guard page below
/// the boot stack; and the kernel and exception stack slots of the boot CPU.
/// Only upper-half addresses are touched: the lower half stays empty for user space.
pub fn build_kernel_space<F: PageTableFormat>(
    info: &BootInfo,
    frames: &mut FrameAllocator,
    hhdm_base: u64,
    windows: &[Window],
) -> Result<KernelSpace, KernelError> {
    let memory = DirectMap;
    let mut tables = TableFrames::new(frames);
    let mut mapper = Mapper::<F, DirectMap>::new_root(&memory, &mut tables)?;

    let mut ram = RangeList::<{ kernel_boot::MAX_MEMORY_RANGES }>::new();
    for r in info.memory.as_slice() {
        ram.push(r.grow_to_pages())?;
    }
    ram.normalize();
    // Device windows never map RAM, `no-map` RAM included.
    let all_ram = ram;
    // Firmware memory marked `no-map` is left out of the direct map entirely.
    for r in info.reserved_ranges().filter(|r| r.kind == ReservedKind::FirmwareNoMap) {
        ram.subtract(r.range.grow_to_pages())?;
    }
    // The kernel image appears in the direct map read-only: no writable alias of its code.
    let image_phys = layout::image_phys_range().grow_to_pages();
    let mut writable = ram;
    writable.subtract(image_phys)?;
    for (list, attrs) in
        [(writable.as_slice(), MapAttrs::KERNEL_DATA), (core::slice::from_ref(&image_phys), MapAttrs::KERNEL_RODATA)]
    {
        for r in list {
            let va = hhdm_base.checked_add(r.start).ok_or(KernelError::AddressSpace("RAM beyond the direct map"))?;
            mapper.map(VirtAddr(va), PhysAddr(r.start), r.len(), attrs, &mut tables)?;
        }
    }

    for w in windows {
        let mut pieces = RangeList::<{ kernel_boot::MAX_MEMORY_RANGES }>::new();
        pieces.push(w.range.grow_to_pages())?;
        for r in all_ram.as_slice() {
            pieces.subtract(*r)?;
        }
        for p in pieces.as_slice() {
            let va = hhdm_base.checked_add(p.start).ok_or(KernelError::AddressSpace("window beyond the direct map"))?;
            match mapper.map(VirtAddr(va), PhysAddr(p.start), p.len(), w.attrs, &mut tables) {
                // Two windows may share a page (for example two devices in one 4 KiB page).
                Ok(()) | Err(kernel_core::paging::PagingError::AlreadyMapped) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    let image = layout::image();
    let guard = image.boot_stack_guard;
    let (data_start, data_end) = image.data;
    if !(data_start..data_end).contains(&guard) || !guard.is_multiple_of(PAGE_SIZE) {
        return Err(KernelError::AddressSpace("the boot stack guard page is not a page inside .data/.bss"));
    }
    // Until now the early tables mapped the guard page, so an overflow of the boot stack would
    // have written into it: `.bss` was cleared at entry and nothing else lives there.
    // SAFETY: the guard page is a page of the kernel's `.bss` (checked above), mapped read/write
    // by the early tables that are still active; it is only read here.
    let guard_bytes = unsafe { core::slice::from_raw_parts(guard as *const u8, PAGE_SIZE as usize) };
    if guard_bytes.iter().any(|&b| b != 0) {
        return Err(KernelError::BootStackOverflow);
    }
    for ((start, end), attrs) in [
        (image.text, MapAttrs::KERNEL_TEXT),
        (image.rodata, MapAttrs::KERNEL_RODATA),
        ((data_start, guard), MapAttrs::KERNEL_DATA),
        ((guard + PAGE_SIZE, data_end), MapAttrs::KERNEL_DATA),
    ] {
        let phys = start.wrapping_sub(arch::KERNEL_OFFSET);
        let len = kernel_core::addr::align_up(end.saturating_sub(start), PAGE_SIZE)
            .ok_or(KernelError::AddressSpace("kernel section size"))?;
        mapper.map_with_max_level(VirtAddr(start), PhysAddr(phys), len, attrs, &mut tables, 0)?;
    }

    // The boot CPU's kernel stack and exception stacks, each above its unmapped guard region.
    let order = BuddyAllocator::order_for(layout::KERNEL_STACK_SIZE).ok_or(FrameError::BadOrder)?;
    for slot in layout::BOOT_CPU_STACK_SLOT..=layout::BOOT_CPU_STACK_SLOT + arch::EXCEPTION_STACKS {
        let (bottom, _top) = layout::kernel_stack(slot);
        let frames = tables.frames.allocate(order)?;
        mapper.map(VirtAddr(bottom), frames, layout::KERNEL_STACK_SIZE, MapAttrs::KERNEL_DATA, &mut tables)?;
    }

    KERNEL_ROOT.store(mapper.root().as_u64(), core::sync::atomic::Ordering::Relaxed);
    Ok(KernelSpace { root: mapper.root(), table_frames: tables.used })
}

/// Physical address of the kernel's root table (0 until `build_kernel_space` ran).
static KERNEL_ROOT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The kernel's root table: the address space of idle threads, and the source of every user
/// root's kernel half.
pub fn kernel_root() -> PhysAddr {
    PhysAddr(KERNEL_ROOT.load(core::sync::atomic::Ordering::Relaxed))
}

/// A new user root in format `F`: empty, plus the kernel root's entries `shared` (x86_64 and
/// RISC-V share the kernel half through the root; AArch64's TTBR1 needs nothing).
pub fn new_user_root<F: PageTableFormat>(
    alloc: &mut impl TableAllocator,
    shared: Option<core::ops::Range<usize>>,
) -> Result<PhysAddr, kernel_core::paging::PagingError> {
    let memory = DirectMap;
    let mut mapper = Mapper::<F, DirectMap>::new_root(&memory, alloc)?;
    if let Some(entries) = shared {
        mapper.copy_root_entries(kernel_root(), entries);
    }
    Ok(mapper.root())
}

/// Maps one 4 KiB user page in the tree at `root`.
pub fn user_map<F: PageTableFormat>(
    root: PhysAddr,
    va: VirtAddr,
    pa: PhysAddr,
    attrs: MapAttrs,
    alloc: &mut impl TableAllocator,
) -> Result<(), kernel_core::paging::PagingError> {
    let memory = DirectMap;
    Mapper::<F, DirectMap>::new(root, &memory).map_with_max_level(va, pa, PAGE_SIZE, attrs, alloc, 0)
}

/// Translates `va` in the tree at `root`.
pub fn user_translate<F: PageTableFormat>(root: PhysAddr, va: VirtAddr) -> Option<kernel_core::paging::Translation> {
    let memory = DirectMap;
    Mapper::<F, DirectMap>::new(root, &memory).translate(va)
}

/// Unmaps one 4 KiB user page in the tree at `root` (the caller flushes the TLB).
pub fn user_unmap<F: PageTableFormat>(root: PhysAddr, va: VirtAddr) -> Result<(), kernel_core::paging::PagingError> {
    let memory = DirectMap;
    Mapper::<F, DirectMap>::new(root, &memory).unmap(va, PAGE_SIZE)
}

/// Tears down root entries `entries` of the tree at `root`.
pub fn user_teardown<F: PageTableFormat>(
    root: PhysAddr,
    entries: core::ops::Range<usize>,
    leaf: &mut impl FnMut(PhysAddr, usize),
    table: &mut impl FnMut(PhysAddr),
) {
    let memory = DirectMap;
    Mapper::<F, DirectMap>::new(root, &memory).teardown(entries, leaf, table);
}

/// Maps `len` bytes of kernel memory (4 KiB pages) in the kernel root of format `F`.
pub fn kernel_map<F: PageTableFormat>(
    va: VirtAddr,
    pa: PhysAddr,
    len: u64,
    attrs: MapAttrs,
    alloc: &mut impl TableAllocator,
) -> Result<(), kernel_core::paging::PagingError> {
    let memory = DirectMap;
    Mapper::<F, DirectMap>::new(kernel_root(), &memory).map_with_max_level(va, pa, len, attrs, alloc, 0)
}

/// Unmaps `len` bytes of kernel memory in the kernel root of format `F` (the caller flushes
/// the TLB).
pub fn kernel_unmap<F: PageTableFormat>(va: VirtAddr, len: u64) -> Result<(), kernel_core::paging::PagingError> {
    let memory = DirectMap;
    Mapper::<F, DirectMap>::new(kernel_root(), &memory).unmap(va, len)
}

/// Maps a kernel stack into kernel-stack slot `slot` (`layout::kernel_stack`; the slot's
/// guard region below it stays unmapped) and returns its frames. Used for thread stacks and
/// the stacks of secondary CPUs.
pub fn map_kernel_stack(slot: u64) -> Result<PhysAddr, KernelError> {
    if slot >= layout::KERNEL_STACK_SLOTS {
        return Err(KernelError::AddressSpace("no kernel stack slot left"));
    }
    let order = kernel_stack_order()?;
    let frames = {
        let mut guard = FRAMES.lock();
        guard.as_mut().ok_or(KernelError::NotInitialised("frame allocator"))?.allocate(order)?
    };
    let (bottom, _) = layout::kernel_stack(slot);
    let mut tables = UserTableFrames { used: 0 };
    if let Err(e) =
        arch::kernel_map(VirtAddr(bottom), frames, layout::KERNEL_STACK_SIZE, MapAttrs::KERNEL_DATA, &mut tables)
    {
        if let Some(a) = FRAMES.lock().as_mut() {
            let _ = a.free(frames, order);
        }
        return Err(e.into());
    }
    Ok(frames)
}

/// Unmaps the kernel stack in `slot` (no CPU may use it any more) and frees its `frames`.
pub fn unmap_kernel_stack(slot: u64, frames: PhysAddr) -> Result<(), KernelError> {
    let (bottom, _) = layout::kernel_stack(slot);
    arch::kernel_unmap(VirtAddr(bottom), layout::KERNEL_STACK_SIZE)?;
    let order = kernel_stack_order()?;
    let mut guard = FRAMES.lock();
    guard.as_mut().ok_or(KernelError::NotInitialised("frame allocator"))?.free(frames, order)?;
    Ok(())
}

fn kernel_stack_order() -> Result<usize, KernelError> {
    BuddyAllocator::order_for(layout::KERNEL_STACK_SIZE).ok_or(KernelError::AddressSpace("kernel stack size"))
}

/// Allocates one zeroed frame.
pub fn allocate_zeroed_frame() -> Result<PhysAddr, KernelError> {
    let frame = {
        let mut frames = FRAMES.lock();
        frames.as_mut().ok_or(KernelError::NotInitialised("frame allocator"))?.allocate_frame()?
    };
    // SAFETY: the frame was just allocated, so nothing else uses it, and the direct map maps
    // all RAM read/write.
    unsafe { core::ptr::write_bytes(layout::phys_to_virt(frame), 0, PAGE_SIZE as usize) };
    Ok(frame)
}

/// Returns one frame to the allocator.
pub fn free_frame(frame: PhysAddr) -> Result<(), KernelError> {
    let mut frames = FRAMES.lock();
    frames.as_mut().ok_or(KernelError::NotInitialised("frame allocator"))?.free(frame, 0)?;
    Ok(())
}

/// Page-table frames for user address spaces, taken from (and counted against) the
/// allocator one at a time, so no lock is held across the mapper's work.
pub struct UserTableFrames {
    /// Frames handed out.
    pub used: u64,
}

impl TableAllocator for UserTableFrames {
    fn allocate_table(&mut self) -> Option<PhysAddr> {
        let frame = allocate_zeroed_frame().ok()?;
        self.used += 1;
        Some(frame)
    }
}
