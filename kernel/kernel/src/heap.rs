// SPDX-License-Identifier: AGPL-3.0-or-later
//! The kernel heap: `buddy_system_allocator::Heap` behind the interrupt-safe lock.
//!
//! The heap is one 4 MiB block of physically contiguous frames, used through the direct map
//! (read/write, never executable). Allocation failure returns null to the caller of
//! `GlobalAlloc`, which the `alloc` crate turns into an allocation-error panic: kernel code that
//! can run out of memory uses the frame allocator's `Result`s instead of the heap.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};

use crate::sync::SpinLock;
use buddy_system_allocator::Heap;
use kernel_core::addr::PhysAddr;
use kernel_core::frame::BuddyAllocator;
use kernel_core::sync::LockClass;

use crate::error::KernelError;
use crate::layout::{self, KERNEL_HEAP_SIZE};
use crate::memory::FRAMES;

/// Largest block order the heap tracks (blocks up to 2^31 bytes).
const HEAP_ORDER: usize = 32;

/// The global allocator.
pub struct KernelHeap(SpinLock<Heap<HEAP_ORDER>>);

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(SpinLock::new(LockClass::Heap, Heap::new()));

// SAFETY: `alloc` hands out blocks the buddy heap owns exclusively and `dealloc` returns them
// with the same layout; the lock serialises every access to the heap's free lists.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0.lock().alloc(layout).map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(ptr) = NonNull::new(ptr) {
            // SAFETY: the caller passes a pointer this allocator returned for `layout`.
            unsafe { self.0.lock().dealloc(ptr, layout) };
        }
    }
}

/// Where the heap lives, for the boot log.
#[derive(Clone, Copy, Debug)]
pub struct HeapReport {
    /// Physical base of the heap block.
    pub phys: PhysAddr,
    /// Virtual base (in the direct map).
    pub virt: u64,
    /// Size in bytes.
    pub size: u64,
}

/// Takes the heap's block from the frame allocator and hands it to the heap.
pub fn init() -> Result<HeapReport, KernelError> {
    let order = BuddyAllocator::order_for(KERNEL_HEAP_SIZE).ok_or(kernel_core::frame::FrameError::BadOrder)?;
    let phys = FRAMES.lock().as_mut().ok_or(KernelError::NotInitialised("frame allocator"))?.allocate(order)?;
    let virt = layout::phys_to_virt(phys) as usize;
    // SAFETY: the block was just taken from the frame allocator (so nothing else owns it), is
    // mapped read/write in the direct map, and is never returned: the heap owns it for good.
    unsafe { HEAP.0.lock().init(virt, KERNEL_HEAP_SIZE as usize) };
    Ok(HeapReport { phys, virt: virt as u64, size: KERNEL_HEAP_SIZE })
}

/// Bytes handed out and bytes managed.
pub fn usage() -> (usize, usize) {
    let heap = HEAP.0.lock();
    (heap.stats_alloc_actual(), heap.stats_total_bytes())
}
