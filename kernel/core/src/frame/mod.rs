// SPDX-License-Identifier: AGPL-3.0-or-later
//! Buddy allocator for physical frames.
//!
//! [`BuddyAllocator`] hands out naturally aligned blocks of `2^order` 4 KiB frames, for orders
//! `0..=`[`MAX_ORDER`] (4 KiB … 4 MiB). It is pure bookkeeping: it never reads or writes the
//! memory it manages. Its state lives in a caller-provided word slice (the kernel carves it
//! from RAM at boot; [`BuddyAllocator::metadata_words`] says how big it must be).
//!
//! The managed region is a *span* of physical addresses. Nothing in it is free until
//! [`BuddyAllocator::add_free`] says so, so holes and reserved ranges are simply never added.
//!
//! Per order, the metadata holds three bitmaps over the blocks of that order:
//!
//! * *free*: the block is free and is not part of a larger free block;
//! * *allocated*: the block was handed out by [`BuddyAllocator::allocate`] with this order;
//! * *summary*: one bit per word of the free bitmap, set when that word is non-zero, so the
//!   search for a free block skips 4096 blocks per word read.
//!
//! Every managed frame lies in exactly one free or allocated block; unmanaged frames lie in
//! none. That makes double frees, frees with the wrong order and frees of frames that were
//! never handed out detectable, and [`BuddyAllocator::add_free`] can refuse ranges that are
//! already managed. The metadata costs a little over 4 bits per frame (258 KiB for 2 GiB).

#[cfg(test)]
mod tests;

use core::fmt;

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, PhysAddr};
use crate::memmap::Range;

/// Largest block order: blocks of `2^MAX_ORDER` frames (4 MiB).
pub const MAX_ORDER: usize = 10;

/// Number of orders.
const ORDERS: usize = MAX_ORDER + 1;

/// Frames in a block of [`MAX_ORDER`].
const MAX_BLOCK_FRAMES: u64 = 1 << MAX_ORDER;

/// Bits in a metadata word.
const WORD_BITS: usize = 64;

/// Why a frame operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// No free block of the requested order (or larger) is left.
    OutOfMemory,
    /// The order is above [`MAX_ORDER`].
    BadOrder,
    /// An address is not page-aligned, or not aligned to the block size of its order.
    Misaligned,
    /// An address or range lies outside the allocator's span.
    OutOfRange,
    /// The block being freed is already free.
    DoubleFree,
    /// The frame was handed out, but as part of a block of another order or with another base.
    WrongOrder,
    /// The frame was never added or is reserved: it was not handed out by this allocator.
    NotAllocated,
    /// Part of the range is already managed (free or allocated).
    AlreadyAdded,
    /// The metadata slice is smaller than [`BuddyAllocator::metadata_words`] requires.
    MetadataTooSmall,
    /// The span is empty, or too large to track on this machine.
    BadSpan,
}

impl FrameError {
    /// A short human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            FrameError::OutOfMemory => "out of physical memory",
            FrameError::BadOrder => "block order above MAX_ORDER",
            FrameError::Misaligned => "address not aligned to the block size",
            FrameError::OutOfRange => "address outside the managed span",
            FrameError::DoubleFree => "block is already free",
            FrameError::WrongOrder => "freed with a different order or base than allocated",
            FrameError::NotAllocated => "frame was never handed out (reserved or not RAM)",
            FrameError::AlreadyAdded => "range overlaps frames already managed",
            FrameError::MetadataTooSmall => "frame allocator metadata too small",
            FrameError::BadSpan => "empty or untrackable span",
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `ceil(bits / 64)`, in words.
const fn words_for(bits: u64) -> u64 {
    bits / WORD_BITS as u64 + if bits.is_multiple_of(WORD_BITS as u64) { 0 } else { 1 }
}

/// Metadata words for a tracked region of `tracked` frames (a multiple of [`MAX_BLOCK_FRAMES`]).
const fn words_for_tracked(tracked: u64) -> u64 {
    let mut total: u64 = 0;
    let mut order = 0;
    while order <= MAX_ORDER {
        let map = words_for(tracked >> order);
        let level = map.saturating_mul(2).saturating_add(words_for(map));
        total = total.saturating_add(level);
        order += 1;
    }
    total
}

/// Where one order's bitmaps live in the metadata, and its free-block bookkeeping.
#[derive(Clone, Copy, Debug, Default)]
struct Level {
    /// Offset of the free bitmap (one bit per block of this order).
    free_at: usize,
    /// Offset of the allocated bitmap (one bit per block of this order).
    alloc_at: usize,
    /// Offset of the summary bitmap (one bit per word of the free bitmap).
    summary_at: usize,
    /// Words in the summary bitmap.
    summary_words: usize,
    /// Free blocks of this order.
    count: u64,
    /// Summary word where the search starts: every summary word below it is zero.
    hint: usize,
}

fn get_bit(words: &[u64], at: usize, bit: usize) -> bool {
    words.get(at + bit / WORD_BITS).is_some_and(|w| (w >> (bit % WORD_BITS)) & 1 == 1)
}

/// Sets a bit; returns true when its word was zero before.
fn set_bit(words: &mut [u64], at: usize, bit: usize) -> bool {
    match words.get_mut(at + bit / WORD_BITS) {
        Some(w) => {
            let was_zero = *w == 0;
            *w |= 1 << (bit % WORD_BITS);
            was_zero
        }
        None => false,
    }
}

/// Clears a bit; returns true when its word is zero afterwards.
fn clear_bit(words: &mut [u64], at: usize, bit: usize) -> bool {
    match words.get_mut(at + bit / WORD_BITS) {
        Some(w) => {
            *w &= !(1 << (bit % WORD_BITS));
            *w == 0
        }
        None => false,
    }
}

/// True when any bit in `[start, end)` is set.
fn any_bit(words: &[u64], at: usize, start: usize, end: usize) -> bool {
    let mut bit = start;
    while bit < end {
        let offset = bit % WORD_BITS;
        let take = (WORD_BITS - offset).min(end - bit);
        let mask = if take == WORD_BITS { u64::MAX } else { ((1u64 << take) - 1) << offset };
        if words.get(at + bit / WORD_BITS).is_some_and(|w| w & mask != 0) {
            return true;
        }
        bit += take;
    }
    false
}

/// A buddy allocator over the frames of one physical span.
pub struct BuddyAllocator<'a> {
    meta: &'a mut [u64],
    span: Range,
    /// First tracked frame number: the span start rounded down to a [`MAX_ORDER`] block, so
    /// block alignment relative to it is physical alignment.
    base: u64,
    /// Tracked frames (a multiple of [`MAX_BLOCK_FRAMES`]).
    tracked: u64,
    levels: [Level; ORDERS],
    free_frames: u64,
    total_frames: u64,
}

impl fmt::Debug for BuddyAllocator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuddyAllocator")
            .field("span", &self.span)
            .field("free_frames", &self.free_frames)
            .field("total_frames", &self.total_frames)
            .finish_non_exhaustive()
    }
}

impl<'a> BuddyAllocator<'a> {
    /// Metadata words that [`BuddyAllocator::new`] needs for a span of `span_frames` frames,
    /// whatever the span's alignment (saturates at `usize::MAX` for absurd sizes).
    pub const fn metadata_words(span_frames: u64) -> usize {
        // The tracked region is the span widened to whole MAX_ORDER blocks: at most
        // `span_frames + MAX_BLOCK_FRAMES - 1` frames rounded up to a block.
        if span_frames == 0 {
            return 0;
        }
        let widened = span_frames.saturating_add(2 * MAX_BLOCK_FRAMES - 2);
        let tracked = widened / MAX_BLOCK_FRAMES * MAX_BLOCK_FRAMES;
        let words = words_for_tracked(tracked);
        if words > usize::MAX as u64 { usize::MAX } else { words as usize }
    }

    /// An allocator for `span` (page-aligned; the lowest to highest physical address it may
    /// ever manage) keeping its state in `storage`. Nothing is free until
    /// [`BuddyAllocator::add_free`] is called.
    ///
    /// `storage` must hold the words this span needs: [`BuddyAllocator::metadata_words`] of
    /// its frame count always suffices (a span aligned to [`MAX_ORDER`] blocks needs up to
    /// one block's worth less). The words used are zeroed; any beyond them are left alone.
    pub fn new(span: Range, storage: &'a mut [u64]) -> Result<Self, FrameError> {
        if !span.start.is_multiple_of(PAGE_SIZE) || !span.end.is_multiple_of(PAGE_SIZE) {
            return Err(FrameError::Misaligned);
        }
        if span.is_empty() {
            return Err(FrameError::BadSpan);
        }
        let first = span.start >> PAGE_SHIFT;
        let end = span.end >> PAGE_SHIFT;
        let base = first / MAX_BLOCK_FRAMES * MAX_BLOCK_FRAMES;
        // Frame numbers are below 2^52, so rounding up cannot overflow.
        let top = end.div_ceil(MAX_BLOCK_FRAMES) * MAX_BLOCK_FRAMES;
        let tracked = top - base;
        if usize::try_from(tracked).is_err() {
            return Err(FrameError::BadSpan);
        }
        let needed = words_for_tracked(tracked);
        let needed = usize::try_from(needed).map_err(|_| FrameError::MetadataTooSmall)?;
        let meta = storage.get_mut(..needed).ok_or(FrameError::MetadataTooSmall)?;
        meta.fill(0);

        let mut levels = [Level::default(); ORDERS];
        let mut at = 0usize;
        for (order, level) in levels.iter_mut().enumerate() {
            // Each value is at most `needed`, which fits in usize.
            let map = words_for(tracked >> order) as usize;
            let summary = words_for(map as u64) as usize;
            *level = Level {
                free_at: at,
                alloc_at: at + map,
                summary_at: at + 2 * map,
                summary_words: summary,
                count: 0,
                hint: 0,
            };
            at += 2 * map + summary;
        }
        Ok(BuddyAllocator { meta, span, base, tracked, levels, free_frames: 0, total_frames: 0 })
    }

    /// Makes the frames of `range` (page-aligned, inside the span) free, merging them with
    /// free neighbours. Returns the number of frames added. Nothing changes on error; adding
    /// a frame that is already managed (free or allocated) is [`FrameError::AlreadyAdded`].
    pub fn add_free(&mut self, range: Range) -> Result<u64, FrameError> {
        if !range.start.is_multiple_of(PAGE_SIZE) || !range.end.is_multiple_of(PAGE_SIZE) {
            return Err(FrameError::Misaligned);
        }
        if range.is_empty() {
            return Ok(0);
        }
        if range.start < self.span.start || range.end > self.span.end {
            return Err(FrameError::OutOfRange);
        }
        let start = self.relative(range.start)?;
        let end = self.relative(range.end)?;
        // Validate everything first so a refused range leaves the allocator untouched.
        let mut frame = start;
        while frame < end {
            let order = block_order(frame, end);
            if self.is_managed(order, frame >> order) {
                return Err(FrameError::AlreadyAdded);
            }
            frame += 1 << order;
        }
        let mut frame = start;
        while frame < end {
            let order = block_order(frame, end);
            self.release(order, frame >> order);
            frame += 1 << order;
        }
        let added = (end - start) as u64;
        self.total_frames += added;
        self.free_frames += added;
        Ok(added)
    }

    /// Allocates `2^order` contiguous frames aligned to their size, splitting a larger block
    /// when no block of this order is free.
    pub fn allocate(&mut self, order: usize) -> Result<PhysAddr, FrameError> {
        if order > MAX_ORDER {
            return Err(FrameError::BadOrder);
        }
        let mut from = order;
        while self.levels.get(from).is_some_and(|l| l.count == 0) {
            from += 1;
        }
        let mut block = self.pop_free(from).ok_or(FrameError::OutOfMemory)?;
        while from > order {
            from -= 1;
            block <<= 1;
            self.push_free(from, block | 1);
        }
        let level = self.levels.get(order).ok_or(FrameError::BadOrder)?;
        set_bit(self.meta, level.alloc_at, block);
        self.free_frames = self.free_frames.saturating_sub(1 << order);
        Ok(self.address(block << order))
    }

    /// Allocates one frame.
    pub fn allocate_frame(&mut self) -> Result<PhysAddr, FrameError> {
        self.allocate(0)
    }

    /// Frees a block returned by [`BuddyAllocator::allocate`] with the same `order`,
    /// coalescing it with free buddies up to [`MAX_ORDER`]. Double frees, frees with another
    /// order and frees of frames never handed out are refused and change nothing.
    pub fn free(&mut self, addr: PhysAddr, order: usize) -> Result<(), FrameError> {
        if order > MAX_ORDER {
            return Err(FrameError::BadOrder);
        }
        let addr = addr.as_u64();
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(FrameError::Misaligned);
        }
        if !self.span.contains(addr) {
            return Err(FrameError::OutOfRange);
        }
        let frame = self.relative(addr)?;
        if !frame.is_multiple_of(1 << order) {
            return Err(FrameError::Misaligned);
        }
        let block = frame >> order;
        let level = self.levels.get(order).ok_or(FrameError::BadOrder)?;
        if !get_bit(self.meta, level.alloc_at, block) {
            return Err(self.diagnose(frame));
        }
        clear_bit(self.meta, level.alloc_at, block);
        self.release(order, block);
        self.free_frames += 1 << order;
        Ok(())
    }

    /// Free frames.
    pub fn free_frames(&self) -> u64 {
        self.free_frames
    }

    /// Frames ever added with [`BuddyAllocator::add_free`] (free or allocated now).
    pub fn total_frames(&self) -> u64 {
        self.total_frames
    }

    /// The span given to [`BuddyAllocator::new`].
    pub fn span(&self) -> Range {
        self.span
    }

    /// Free blocks of `order` (0 for orders above [`MAX_ORDER`]).
    pub fn free_blocks(&self, order: usize) -> u64 {
        self.levels.get(order).map_or(0, |l| l.count)
    }

    /// The smallest order whose block holds `bytes` (0 for 0 bytes), or `None` above
    /// [`MAX_ORDER`].
    pub const fn order_for(bytes: u64) -> Option<usize> {
        let mut order = 0;
        while order <= MAX_ORDER {
            if bytes <= PAGE_SIZE << order {
                return Some(order);
            }
            order += 1;
        }
        None
    }

    /// Frame index relative to `base` of a page-aligned address inside the tracked region.
    fn relative(&self, addr: u64) -> Result<usize, FrameError> {
        let frame = (addr >> PAGE_SHIFT).checked_sub(self.base).ok_or(FrameError::OutOfRange)?;
        if frame > self.tracked {
            return Err(FrameError::OutOfRange);
        }
        // `tracked` fits in usize (checked in `new`).
        usize::try_from(frame).map_err(|_| FrameError::OutOfRange)
    }

    /// Physical address of a relative frame index.
    fn address(&self, frame: usize) -> PhysAddr {
        PhysAddr((self.base + frame as u64) << PAGE_SHIFT)
    }

    /// True when any frame of block `block` of `order` is managed: the block, one of its
    /// ancestors or one of its descendants is free or allocated.
    fn is_managed(&self, order: usize, block: usize) -> bool {
        for (above, level) in self.levels.iter().enumerate().skip(order) {
            let index = block >> (above - order);
            if get_bit(self.meta, level.free_at, index) || get_bit(self.meta, level.alloc_at, index) {
                return true;
            }
        }
        for (below, level) in self.levels.iter().enumerate().take(order) {
            let shift = order - below;
            let (start, end) = (block << shift, (block + 1) << shift);
            if any_bit(self.meta, level.free_at, start, end) || any_bit(self.meta, level.alloc_at, start, end) {
                return true;
            }
        }
        false
    }

    /// Why freeing a block starting at relative `frame` was refused.
    fn diagnose(&self, frame: usize) -> FrameError {
        for (order, level) in self.levels.iter().enumerate() {
            if get_bit(self.meta, level.free_at, frame >> order) {
                return FrameError::DoubleFree;
            }
            if get_bit(self.meta, level.alloc_at, frame >> order) {
                return FrameError::WrongOrder;
            }
        }
        FrameError::NotAllocated
    }

    /// Returns block `block` of `order` to the free sets, merging it with free buddies.
    fn release(&mut self, order: usize, block: usize) {
        let (mut order, mut block) = (order, block);
        while order < MAX_ORDER && self.take_free(order, block ^ 1) {
            order += 1;
            block >>= 1;
        }
        self.push_free(order, block);
    }

    /// Marks a block free.
    fn push_free(&mut self, order: usize, block: usize) {
        let Some(level) = self.levels.get_mut(order) else { return };
        if get_bit(self.meta, level.free_at, block) {
            return;
        }
        let word = block / WORD_BITS;
        if set_bit(self.meta, level.free_at, block) {
            set_bit(self.meta, level.summary_at, word);
            level.hint = level.hint.min(word / WORD_BITS);
        }
        level.count += 1;
    }

    /// Removes a block from the free set if it is there; true when it was.
    fn take_free(&mut self, order: usize, block: usize) -> bool {
        let Some(level) = self.levels.get_mut(order) else { return false };
        if !get_bit(self.meta, level.free_at, block) {
            return false;
        }
        if clear_bit(self.meta, level.free_at, block) {
            clear_bit(self.meta, level.summary_at, block / WORD_BITS);
        }
        level.count = level.count.saturating_sub(1);
        true
    }

    /// Removes and returns the lowest free block of `order`.
    fn pop_free(&mut self, order: usize) -> Option<usize> {
        let level = self.levels.get_mut(order)?;
        let mut index = level.hint;
        while index < level.summary_words {
            let summary = self.meta.get(level.summary_at + index).copied().unwrap_or(0);
            if summary != 0 {
                level.hint = index;
                let word = index * WORD_BITS + summary.trailing_zeros() as usize;
                let bits = self.meta.get(level.free_at + word).copied().unwrap_or(0);
                if bits == 0 {
                    // A stale summary bit cannot happen; repair it rather than loop on it.
                    clear_bit(self.meta, level.summary_at, word);
                    continue;
                }
                let block = word * WORD_BITS + bits.trailing_zeros() as usize;
                if clear_bit(self.meta, level.free_at, block) {
                    clear_bit(self.meta, level.summary_at, word);
                }
                level.count = level.count.saturating_sub(1);
                return Some(block);
            }
            index += 1;
        }
        level.hint = level.summary_words;
        None
    }
}

/// The largest order of an aligned block starting at relative frame `frame` that ends at or
/// before `end`.
fn block_order(frame: usize, end: usize) -> usize {
    let mut order = (frame.trailing_zeros() as usize).min(MAX_ORDER);
    while order > 0 && frame + (1 << order) > end {
        order -= 1;
    }
    order
}
