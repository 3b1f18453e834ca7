// SPDX-License-Identifier: MPL-2.0
//! The `#[global_allocator]` (feature `heap`, on by default): a buddy allocator
//! (`buddy_system_allocator::Heap`) that grows by `map_anon`'ing chunks.
//!
//! It starts empty, so a program that never allocates maps nothing. When an allocation does
//! not fit, a chunk is mapped and added: the first is [`FIRST_CHUNK`], each later one twice the
//! previous up to [`MAX_CHUNK`], and always at least twice the request's power-of-two block size
//! (so the chunk holds an aligned block of that size wherever `map_anon` puts it), up to the
//! `map_anon` limit. Memory is never returned to the kernel. The lock is a plain spin lock:
//! processes are single-threaded today, so it is never contended.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, Ordering};

use buddy_system_allocator::Heap;
use cambios_abi::layout::PAGE_SIZE;
use cambios_abi::syscall::MAX_MAP_ANON;

use crate::sys::{self, Protection};

/// Size of the first chunk.
pub const FIRST_CHUNK: usize = 64 * 1024;
/// Largest chunk mapped when growing by doubling (bigger requests get a chunk of their own).
pub const MAX_CHUNK: usize = 4 * 1024 * 1024;
/// Buddy orders: blocks up to 2^31 bytes.
const ORDER: usize = 32;

struct State {
    heap: Heap<ORDER>,
    next_chunk: usize,
}

impl State {
    /// Maps and adds a chunk big enough for `layout`; false if that is impossible.
    fn grow(&mut self, layout: Layout) -> bool {
        let block = layout.size().max(layout.align()).max(size_of::<usize>());
        let Some(block) = block.checked_next_power_of_two() else { return false };
        let Some(want) = block.checked_mul(2).map(|w| w.max(self.next_chunk)) else { return false };
        let page = PAGE_SIZE as usize;
        let Some(len) = want.checked_next_multiple_of(page) else { return false };
        if len as u64 > MAX_MAP_ANON {
            return false;
        }
        let Ok(start) = sys::map_anon(len, Protection::ReadWrite) else { return false };
        let start = start.as_ptr() as usize;
        // SAFETY: the kernel just mapped `[start, start + len)` readable and writable for this
        // process; nothing else knows of it, and it is never unmapped.
        unsafe { self.heap.add_to_heap(start, start + len) };
        self.next_chunk = (self.next_chunk * 2).min(MAX_CHUNK);
        true
    }
}

/// The allocator type of [`ALLOCATOR`].
pub struct UserHeap {
    locked: AtomicBool,
    state: UnsafeCell<State>,
}

// SAFETY: `state` is only reached through `lock`, which gives one caller at a time access.
unsafe impl Sync for UserHeap {}

struct Guard<'a>(&'a UserHeap);

impl Deref for Guard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        // SAFETY: holding the guard means holding the lock, so no other reference exists.
        unsafe { &*self.0.state.get() }
    }
}

impl DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        // SAFETY: as in `deref`.
        unsafe { &mut *self.0.state.get() }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.0.locked.store(false, Ordering::Release);
    }
}

impl UserHeap {
    const fn new() -> UserHeap {
        UserHeap {
            locked: AtomicBool::new(false),
            state: UnsafeCell::new(State { heap: Heap::new(), next_chunk: FIRST_CHUNK }),
        }
    }

    fn lock(&self) -> Guard<'_> {
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            core::hint::spin_loop();
        }
        Guard(self)
    }

    /// Bytes currently handed out and bytes mapped for the heap.
    pub fn stats(&self) -> (usize, usize) {
        let state = self.lock();
        (state.heap.stats_alloc_actual(), state.heap.stats_total_bytes())
    }
}

// SAFETY: `alloc` returns blocks of at least `layout.size()` bytes aligned to `layout.align()`
// (the buddy allocator rounds both up to one power of two) from memory the heap owns, and
// `dealloc` gives them back; the lock serialises all access to the allocator state.
unsafe impl GlobalAlloc for UserHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut state = self.lock();
        if let Ok(block) = state.heap.alloc(layout) {
            return block.as_ptr();
        }
        if !state.grow(layout) {
            return ptr::null_mut();
        }
        state.heap.alloc(layout).map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(block) = NonNull::new(ptr) else { return };
        // SAFETY: the `GlobalAlloc` contract: `ptr` came from `alloc` with this `layout`.
        unsafe { self.lock().heap.dealloc(block, layout) };
    }
}

/// The process heap.
#[global_allocator]
pub static ALLOCATOR: UserHeap = UserHeap::new();
