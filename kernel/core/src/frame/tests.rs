// SPDX-License-Identifier: AGPL-3.0-or-later
//! Host tests of the buddy frame allocator, including a randomized run against a shadow model.

use crate::testing::Rng;
use std::vec;
use std::vec::Vec;

use super::*;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

fn range(start: u64, end: u64) -> Range {
    Range { start, end }
}

fn storage_for(span: Range) -> Vec<u64> {
    vec![0xdead_beef_u64; BuddyAllocator::metadata_words(span.len() / PAGE_SIZE)]
}

/// Checks every internal invariant by brute force.
fn check(b: &BuddyAllocator<'_>) {
    let tracked = b.tracked as usize;
    let mut free_frames = 0u64;
    let mut used_frames = 0u64;
    let mut cover = vec![0u8; tracked];
    for (order, level) in b.levels.iter().enumerate() {
        let blocks = tracked >> order;
        let map_words = blocks.div_ceil(64);
        let mut count = 0u64;
        for word in 0..map_words {
            let bits = b.meta[level.free_at + word];
            let summary = get_bit(b.meta, level.summary_at, word);
            assert_eq!(summary, bits != 0, "order {order} word {word}: summary out of sync");
            if bits != 0 {
                assert!(word / 64 >= level.hint, "order {order}: free block below the search hint");
            }
        }
        for block in 0..blocks {
            let free = get_bit(b.meta, level.free_at, block);
            let used = get_bit(b.meta, level.alloc_at, block);
            assert!(!(free && used), "order {order} block {block} both free and allocated");
            if free || used {
                for c in &mut cover[block << order..(block + 1) << order] {
                    *c += 1;
                }
                let frame = b.base + (block << order) as u64;
                let addr = frame * PAGE_SIZE;
                assert!(b.span.contains(addr), "block outside the span");
                assert!(addr + (PAGE_SIZE << order) <= b.span.end, "block crosses the span end");
            }
            if free {
                count += 1;
                free_frames += 1 << order;
            }
            if used {
                used_frames += 1 << order;
            }
            if free && order < MAX_ORDER {
                assert!(!get_bit(b.meta, level.free_at, block ^ 1), "free buddies not merged");
            }
        }
        assert_eq!(count, level.count, "order {order}: free count");
        // No bits beyond the last block.
        for block in blocks..map_words * 64 {
            assert!(!get_bit(b.meta, level.free_at, block));
            assert!(!get_bit(b.meta, level.alloc_at, block));
        }
    }
    assert!(cover.iter().all(|&c| c <= 1), "a frame lies in two blocks");
    assert_eq!(free_frames, b.free_frames());
    assert_eq!(free_frames + used_frames, b.total_frames());
}

/// Free-block counts per order that a fully coalesced allocator holds when exactly the frames
/// with `free[f]` (relative to `base`) are free.
fn expected_blocks(free: &[bool]) -> [u64; ORDERS] {
    let mut out = [0u64; ORDERS];
    let all_free = |order: usize, block: usize| free[block << order..(block + 1) << order].iter().all(|&f| f);
    for (order, slot) in out.iter_mut().enumerate() {
        for block in 0..free.len() >> order {
            if all_free(order, block) && (order == MAX_ORDER || !all_free(order + 1, block >> 1)) {
                *slot += 1;
            }
        }
    }
    out
}

fn blocks(b: &BuddyAllocator<'_>) -> [u64; ORDERS] {
    core::array::from_fn(|order| b.free_blocks(order))
}

/// Relative free-frame map of `b`'s tracked region, from the frames listed as free.
fn free_map(b: &BuddyAllocator<'_>, free_ranges: &[Range]) -> Vec<bool> {
    let mut map = vec![false; b.tracked as usize];
    for r in free_ranges {
        for frame in r.start / PAGE_SIZE..r.end / PAGE_SIZE {
            map[(frame - b.base) as usize] = true;
        }
    }
    map
}

#[test]
fn order_for_sizes() {
    assert_eq!(BuddyAllocator::order_for(0), Some(0));
    assert_eq!(BuddyAllocator::order_for(1), Some(0));
    assert_eq!(BuddyAllocator::order_for(4096), Some(0));
    assert_eq!(BuddyAllocator::order_for(4097), Some(1));
    assert_eq!(BuddyAllocator::order_for(64 * KIB), Some(4));
    assert_eq!(BuddyAllocator::order_for(4 * MIB), Some(MAX_ORDER));
    assert_eq!(BuddyAllocator::order_for(4 * MIB + 1), None);
    assert_eq!(BuddyAllocator::order_for(u64::MAX), None);
}

#[test]
fn error_strings() {
    let all = [
        FrameError::OutOfMemory,
        FrameError::BadOrder,
        FrameError::Misaligned,
        FrameError::OutOfRange,
        FrameError::DoubleFree,
        FrameError::WrongOrder,
        FrameError::NotAllocated,
        FrameError::AlreadyAdded,
        FrameError::MetadataTooSmall,
        FrameError::BadSpan,
    ];
    for (i, a) in all.iter().enumerate() {
        assert!(!a.as_str().is_empty());
        assert_eq!(std::format!("{a}"), a.as_str());
        for b in &all[i + 1..] {
            assert_ne!(a.as_str(), b.as_str());
        }
    }
}

#[test]
fn metadata_sizes() {
    // 128 MiB aligned span: 32768 frames need 2070 words; the alignment-independent bound
    // adds one max-order block.
    let frames = 128 * MIB / PAGE_SIZE;
    assert_eq!(words_for_tracked(frames), 2070);
    assert_eq!(BuddyAllocator::metadata_words(frames), 2146);
    // 2 GiB: 524288 frames, 33010 words (258 KiB) exactly, 33092 words bound.
    let frames = 2 * GIB / PAGE_SIZE;
    assert_eq!(words_for_tracked(frames), 33010);
    assert_eq!(BuddyAllocator::metadata_words(frames), 33092);
    assert_eq!(BuddyAllocator::metadata_words(0), 0);
    // No overflow for absurd sizes: still about four bits per frame.
    assert!(BuddyAllocator::metadata_words(u64::MAX) as u64 >= u64::MAX / 16);
    // Under five bits per frame (counting the padding to whole 4 MiB blocks).
    for frames in [1u64, 1000, 4096, 1 << 20, 1 << 22] {
        let words = BuddyAllocator::metadata_words(frames) as u64;
        assert!(words * 64 <= (frames + 2048) * 5, "{frames} frames: {words} words");
    }
}

#[test]
fn metadata_bound_holds_for_every_alignment() {
    for frames in [1u64, 2, 3, 1023, 1024, 1025, 2048, 5000] {
        for offset in [0u64, 1, 512, 1023] {
            let start = 0x4000_0000 + offset * PAGE_SIZE;
            let span = range(start, start + frames * PAGE_SIZE);
            let words = BuddyAllocator::metadata_words(frames);
            let mut meta = vec![0u64; words];
            assert!(BuddyAllocator::new(span, &mut meta).is_ok(), "{frames} frames at +{offset}");
            // Exactly what this span needs, and one word less.
            let first = start / PAGE_SIZE;
            let tracked = (first + frames).div_ceil(1024) * 1024 - first / 1024 * 1024;
            let exact = words_for_tracked(tracked) as usize;
            assert!(exact <= words);
            let mut meta = vec![0u64; exact];
            assert!(BuddyAllocator::new(span, &mut meta).is_ok());
            let mut meta = vec![0u64; exact - 1];
            assert_eq!(BuddyAllocator::new(span, &mut meta).err(), Some(FrameError::MetadataTooSmall));
        }
    }
}

#[test]
fn new_rejects_bad_spans() {
    let mut meta = vec![0u64; 4096];
    assert_eq!(BuddyAllocator::new(range(0x1001, 0x10000), &mut meta).err(), Some(FrameError::Misaligned));
    assert_eq!(BuddyAllocator::new(range(0x1000, 0x10800), &mut meta).err(), Some(FrameError::Misaligned));
    assert_eq!(BuddyAllocator::new(range(0x2000, 0x2000), &mut meta).err(), Some(FrameError::BadSpan));
    assert_eq!(BuddyAllocator::new(range(0x3000, 0x2000), &mut meta).err(), Some(FrameError::BadSpan));
    assert_eq!(BuddyAllocator::new(range(0, 1 << 60), &mut meta).err(), Some(FrameError::MetadataTooSmall));
    assert_eq!(BuddyAllocator::new(range(0, 16 * MIB), &mut []).err(), Some(FrameError::MetadataTooSmall));
}

#[test]
fn nothing_is_free_until_added() {
    let span = range(0, 16 * MIB);
    let mut meta = storage_for(span);
    let mut b = BuddyAllocator::new(span, &mut meta).unwrap();
    assert_eq!(b.span(), span);
    assert_eq!(b.free_frames(), 0);
    assert_eq!(b.total_frames(), 0);
    assert_eq!(b.allocate_frame(), Err(FrameError::OutOfMemory));
    assert_eq!(b.allocate(MAX_ORDER), Err(FrameError::OutOfMemory));
    assert_eq!(b.allocate(MAX_ORDER + 1), Err(FrameError::BadOrder));
    assert_eq!(b.free(PhysAddr(0x5000), 0), Err(FrameError::NotAllocated));
    check(&b);
}

#[test]
fn split_and_coalesce() {
    let span = range(0x8000_0000, 0x8000_0000 + 8 * MIB);
    let mut meta = storage_for(span);
    let mut b = BuddyAllocator::new(span, &mut meta).unwrap();
    assert_eq!(b.add_free(span), Ok(2048));
    assert_eq!(blocks(&b), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);

    let a = b.allocate_frame().unwrap();
    assert_eq!(a, PhysAddr(0x8000_0000));
    // The first 4 MiB block was split down to order 0: one free block of every order below.
    assert_eq!(blocks(&b), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert_eq!(b.free_frames(), 2047);
    check(&b);

    let c = b.allocate_frame().unwrap();
    assert_eq!(c, PhysAddr(0x8000_1000));
    let d = b.allocate(3).unwrap();
    assert_eq!(d, PhysAddr(0x8000_8000));
    assert_eq!(blocks(&b), [0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1]);
    check(&b);

    b.free(a, 0).unwrap();
    b.free(d, 3).unwrap();
    check(&b);
    b.free(c, 0).unwrap();
    assert_eq!(blocks(&b), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    assert_eq!(b.free_frames(), 2048);
    assert_eq!(b.total_frames(), 2048);
    check(&b);
}

#[test]
fn blocks_are_naturally_aligned_and_disjoint() {
    let span = range(0x10_0000, 0x10_0000 + 64 * MIB);
    let mut meta = storage_for(span);
    let mut b = BuddyAllocator::new(span, &mut meta).unwrap();
    b.add_free(span).unwrap();
    let mut got: Vec<(u64, u64)> = Vec::new();
    for i in 0..200usize {
        let order = (i * 7) % (MAX_ORDER + 1);
        let Ok(addr) = b.allocate(order) else { continue };
        let size = PAGE_SIZE << order;
        assert!(addr.is_aligned(size), "{addr} not aligned for order {order}");
        assert!(span.contains(addr.as_u64()) && addr.as_u64() + size <= span.end);
        got.push((addr.as_u64(), addr.as_u64() + size));
    }
    got.sort_unstable();
    for pair in got.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "overlap {:x?}", pair);
    }
    check(&b);
}

#[test]
fn holes_and_reserved_ranges_are_never_returned() {
    let span = range(0, 64 * MIB);
    let mut meta = storage_for(span);
    let mut b = BuddyAllocator::new(span, &mut meta).unwrap();
    // RAM with holes: the first 1 MiB, a kernel image and an odd-sized reserved range.
    let usable = [range(MIB, 10 * MIB), range(10 * MIB + 0x5000, 33 * MIB + 0x3000), range(40 * MIB, 64 * MIB)];
    let mut added = 0;
    for r in usable {
        added += b.add_free(r).unwrap();
    }
    assert_eq!(added, usable.iter().map(|r| r.len() / PAGE_SIZE).sum::<u64>());
    assert_eq!(b.total_frames(), added);
    check(&b);
    assert_eq!(blocks(&b), expected_blocks(&free_map(&b, &usable)));

    let mut all = Vec::new();
    while let Ok(a) = b.allocate_frame() {
        assert!(usable.iter().any(|r| r.contains(a.as_u64())), "{a} is not usable RAM");
        all.push(a);
    }
    assert_eq!(all.len() as u64, added);
    assert_eq!(b.free_frames(), 0);
    let mut sorted = all.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), all.len());
    check(&b);

    // Reserved frames cannot be freed into the allocator.
    assert_eq!(b.free(PhysAddr(0), 0), Err(FrameError::NotAllocated));
    assert_eq!(b.free(PhysAddr(10 * MIB), 0), Err(FrameError::NotAllocated));
    assert_eq!(b.free(PhysAddr(35 * MIB), 2), Err(FrameError::NotAllocated));
    assert_eq!(b.free_frames(), 0);

    for a in all.iter().rev() {
        b.free(*a, 0).unwrap();
    }
    assert_eq!(b.free_frames(), added);
    assert_eq!(blocks(&b), expected_blocks(&free_map(&b, &usable)));
    check(&b);
}

#[test]
fn span_not_aligned_to_max_order() {
    let span = range(0x8000_3000, 0x8123_4000);
    let mut meta = storage_for(span);
    let mut b = BuddyAllocator::new(span, &mut meta).unwrap();
    let frames = b.add_free(span).unwrap();
    assert_eq!(frames, span.len() / PAGE_SIZE);
    assert_eq!(blocks(&b), expected_blocks(&free_map(&b, &[span])));
    check(&b);
    // The 4 MiB blocks are physically 4 MiB-aligned, and only 4 fit inside the span.
    let mut big = Vec::new();
    while let Ok(a) = b.allocate(MAX_ORDER) {
        assert!(a.is_aligned(4 * MIB));
        assert!(a.as_u64() >= span.start && a.as_u64() + 4 * MIB <= span.end);
        big.push(a);
    }
    assert_eq!(big, [PhysAddr(0x8040_0000), PhysAddr(0x8080_0000), PhysAddr(0x80c0_0000)]);
    // The rest is still there in smaller pieces.
    assert_eq!(b.free_frames(), frames - 3 * 1024);
    let mut n = 0;
    while let Ok(a) = b.allocate_frame() {
        assert!(span.contains(a.as_u64()));
        n += 1;
    }
    assert_eq!(n, frames - 3 * 1024);
    check(&b);
}

#[test]
fn span_at_the_top_of_the_address_space() {
    let span = range(0xffff_ffff_ff80_0000, 0xffff_ffff_ffff_f000);
    let mut meta = storage_for(span);
    let mut b = BuddyAllocator::new(span, &mut meta).unwrap();
    let frames = b.add_free(span).unwrap();
    assert_eq!(frames, 2047);
    assert_eq!(b.allocate(MAX_ORDER), Ok(PhysAddr(0xffff_ffff_ff80_0000)));
    assert_eq!(b.allocate(MAX_ORDER), Err(FrameError::OutOfMemory));
    assert_eq!(b.allocate(9), Ok(PhysAddr(0xffff_ffff_ffc0_0000)));
    let mut last = PhysAddr(0);
    let mut n = 1024 + 512;
    while let Ok(a) = b.allocate_frame() {
        last = last.max(a);
        n += 1;
    }
    assert_eq!(n, frames);
    assert_eq!(last, PhysAddr(0xffff_ffff_ffff_e000));
    assert_eq!(b.free_frames(), 0);
    b.free(last, 0).unwrap();
    assert_eq!(b.free(PhysAddr(0xffff_ffff_ffff_f000), 0), Err(FrameError::OutOfRange));
    check(&b);
}

#[test]
fn span_starting_at_zero() {
    let span = range(0, 4 * MIB);
    let mut meta = storage_for(span);
    let mut b = BuddyAllocator::new(span, &mut meta).unwrap();
    b.add_free(span).unwrap();
    assert_eq!(b.allocate(MAX_ORDER), Ok(PhysAddr(0)));
    b.free(PhysAddr(0), MAX_ORDER).unwrap();
    assert_eq!(b.allocate_frame(), Ok(PhysAddr(0)));
    check(&b);
}

#[test]
fn exhaustion_of_large_blocks() {
    let span = range(0, 8 * MIB);
    let mut meta = storage_for(span);
    let mut b = BuddyAllocator::new(span, &mut meta).unwrap();
    b.add_free(span).unwrap();
    // Pin one frame in each 4 MiB block: no 4 MiB block is left, 2 MiB blocks are.
    let a = b.allocate_frame().unwrap();
    let first_half = b.allocate(9).unwrap();
    let big = b.allocate(MAX_ORDER).unwrap();
    assert_eq!(big, PhysAddr(4 * MIB));
    assert_eq!(b.allocate(MAX_ORDER), Err(FrameError::OutOfMemory));
    assert_eq!(b.allocate(9), Err(FrameError::OutOfMemory));
    assert!(b.free_frames() > 0);
    assert_eq!(b.free_frames(), 511);
    b.free(big, MAX_ORDER).unwrap();
    b.free(first_half, 9).unwrap();
    b.free(a, 0).unwrap();
    assert_eq!(blocks(&b)[MAX_ORDER], 2);
    check(&b);
}

#[test]
fn bad_frees_are_refused_without_damage() {
    let span = range(0x4000_0000, 0x4000_0000 + 16 * MIB);
    let mut meta = storage_for(span);
    let mut b = BuddyAllocator::new(span, &mut meta).unwrap();
    b.add_free(range(0x4000_0000, 0x4000_0000 + 12 * MIB)).unwrap();
    let small = b.allocate(0).unwrap();
    let mid = b.allocate(2).unwrap();
    let big = b.allocate(5).unwrap();
    let gone = b.allocate(1).unwrap();
    b.free(gone, 1).unwrap();

    let snapshot = (b.meta.to_vec(), b.levels.map(|l| (l.count, l.hint)), b.free_frames(), b.total_frames());
    let cases = [
        (gone, 1, FrameError::DoubleFree),
        (gone, 0, FrameError::DoubleFree),
        (PhysAddr(0x4000_0000 + 15 * MIB), 0, FrameError::NotAllocated),
        (mid, 1, FrameError::WrongOrder),
        (mid, 3, FrameError::Misaligned),
        (PhysAddr(mid.as_u64() + PAGE_SIZE), 0, FrameError::WrongOrder),
        (big, 4, FrameError::WrongOrder),
        (big, 6, FrameError::Misaligned),
        (small, 1, FrameError::WrongOrder),
        (PhysAddr(small.as_u64() + 0x10), 0, FrameError::Misaligned),
        (small, MAX_ORDER + 1, FrameError::BadOrder),
        (PhysAddr(0x1000), 0, FrameError::OutOfRange),
        (PhysAddr(span.end), 0, FrameError::OutOfRange),
        (PhysAddr(!0xfff), 0, FrameError::OutOfRange),
    ];
    for (addr, order, err) in cases {
        assert_eq!(b.free(addr, order), Err(err), "free({addr}, {order})");
        let now = (b.meta.to_vec(), b.levels.map(|l| (l.count, l.hint)), b.free_frames(), b.total_frames());
        assert!(now == snapshot, "free({addr}, {order}) changed the state");
    }
    check(&b);
    b.free(small, 0).unwrap();
    assert_eq!(b.free(small, 0), Err(FrameError::DoubleFree));
    b.free(mid, 2).unwrap();
    b.free(big, 5).unwrap();
    assert_eq!(blocks(&b)[MAX_ORDER], 3);
    check(&b);
}

#[test]
fn add_free_validates_and_is_all_or_nothing() {
    let span = range(0, 32 * MIB);
    let mut meta = storage_for(span);
    let mut b = BuddyAllocator::new(span, &mut meta).unwrap();
    assert_eq!(b.add_free(range(0x1800, 0x4000)), Err(FrameError::Misaligned));
    assert_eq!(b.add_free(range(0x1000, 0x4100)), Err(FrameError::Misaligned));
    assert_eq!(b.add_free(range(30 * MIB, 33 * MIB)), Err(FrameError::OutOfRange));
    assert_eq!(b.add_free(range(0x5000, 0x5000)), Ok(0));
    assert_eq!(b.add_free(range(4 * MIB, 8 * MIB)), Ok(1024));
    let taken = b.allocate(3).unwrap();
    let snapshot = b.meta.to_vec();
    // Overlapping a free range, an allocated block, or a single free frame is refused and
    // leaves the non-overlapping part unadded.
    assert_eq!(b.add_free(range(2 * MIB, 5 * MIB)), Err(FrameError::AlreadyAdded));
    assert_eq!(b.add_free(range(7 * MIB, 9 * MIB)), Err(FrameError::AlreadyAdded));
    assert_eq!(b.add_free(range(taken.as_u64(), taken.as_u64() + PAGE_SIZE)), Err(FrameError::AlreadyAdded));
    assert_eq!(b.add_free(range(6 * MIB + PAGE_SIZE, 6 * MIB + 2 * PAGE_SIZE)), Err(FrameError::AlreadyAdded));
    assert!(b.meta.to_vec() == snapshot);
    assert_eq!(b.total_frames(), 1024);
    assert_eq!(b.free_frames(), 1016);
    check(&b);
    // Adjacent ranges added separately merge into whole blocks.
    b.free(taken, 3).unwrap();
    b.add_free(range(8 * MIB, 10 * MIB)).unwrap();
    b.add_free(range(10 * MIB, 12 * MIB)).unwrap();
    assert_eq!(blocks(&b), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    b.add_free(range(PAGE_SIZE, 4 * MIB)).unwrap();
    b.add_free(range(0, PAGE_SIZE)).unwrap();
    assert_eq!(blocks(&b), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]);
    assert_eq!(b.total_frames(), 3 * 1024);
    check(&b);
}

#[test]
fn two_gib_span() {
    let span = range(0x4000_0000, 0x4000_0000 + 2 * GIB);
    let frames = span.len() / PAGE_SIZE;
    assert_eq!(frames, 524_288);
    let mut meta = storage_for(span);
    assert_eq!(meta.len(), 33_092);
    let mut b = BuddyAllocator::new(span, &mut meta).unwrap();
    assert_eq!(b.add_free(span), Ok(frames));
    assert_eq!(blocks(&b)[MAX_ORDER], 512);
    let mut got = Vec::new();
    for _ in 0..10_000 {
        got.push(b.allocate_frame().unwrap());
    }
    // Lowest addresses first.
    assert_eq!(got[0], PhysAddr(0x4000_0000));
    assert_eq!(got[9_999], PhysAddr(0x4000_0000 + 9_999 * PAGE_SIZE));
    for a in &got {
        b.free(*a, 0).unwrap();
    }
    assert_eq!(b.free_frames(), frames);
    assert_eq!(blocks(&b)[MAX_ORDER], 512);
    // Take every 4 MiB block, then give them back.
    let mut big = Vec::new();
    while let Ok(a) = b.allocate(MAX_ORDER) {
        big.push(a);
    }
    assert_eq!(big.len(), 512);
    assert_eq!(b.allocate_frame(), Err(FrameError::OutOfMemory));
    for a in big {
        b.free(a, MAX_ORDER).unwrap();
    }
    assert_eq!(b.free_frames(), frames);
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shadow {
    Hole,
    Free,
    Used,
}

fn stress(seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    // A span not aligned to 4 MiB, with holes.
    let span = range(0x20_3000, 0x20_3000 + 3000 * PAGE_SIZE);
    let usable = [
        range(0x20_3000, 0x20_3000 + 700 * PAGE_SIZE),
        range(0x20_3000 + 713 * PAGE_SIZE, 0x20_3000 + 2100 * PAGE_SIZE),
        range(0x20_3000 + 2101 * PAGE_SIZE, 0x20_3000 + 2999 * PAGE_SIZE),
    ];
    let mut meta = storage_for(span);
    let mut b = BuddyAllocator::new(span, &mut meta).unwrap();
    let first = span.start / PAGE_SIZE;
    let mut shadow = vec![Shadow::Hole; 3000];
    for r in usable {
        b.add_free(r).unwrap();
        for f in r.start / PAGE_SIZE..r.end / PAGE_SIZE {
            shadow[(f - first) as usize] = Shadow::Free;
        }
    }
    let mut live: Vec<(PhysAddr, usize)> = Vec::new();
    let mut freed: Vec<(PhysAddr, usize)> = Vec::new();
    for step in 0..steps {
        let op = rng.below(100);
        if op < 55 {
            let order = if rng.below(8) == 0 { rng.below(MAX_ORDER as u64 + 1) } else { rng.below(4) } as usize;
            let n = 1usize << order;
            match b.allocate(order) {
                Ok(a) => {
                    assert!(a.is_aligned(PAGE_SIZE << order));
                    let at = (a.as_u64() / PAGE_SIZE - first) as usize;
                    for s in &mut shadow[at..at + n] {
                        assert_eq!(*s, Shadow::Free, "step {step}: handed out a non-free frame");
                        *s = Shadow::Used;
                    }
                    live.push((a, order));
                }
                Err(e) => {
                    assert_eq!(e, FrameError::OutOfMemory);
                    // No naturally aligned run of free frames of this size may exist.
                    for frame in (first.div_ceil(n as u64) * n as u64..first + 3000).step_by(n) {
                        let at = (frame - first) as usize;
                        let run = shadow.get(at..at + n);
                        assert!(
                            !run.is_some_and(|r| r.iter().all(|&s| s == Shadow::Free)),
                            "step {step}: OutOfMemory with a free order-{order} block at frame {frame:#x}"
                        );
                    }
                }
            }
        } else if op < 95 {
            if live.is_empty() {
                continue;
            }
            let i = rng.below(live.len() as u64) as usize;
            let (a, order) = live.swap_remove(i);
            b.free(a, order).unwrap();
            let at = (a.as_u64() / PAGE_SIZE - first) as usize;
            for s in &mut shadow[at..at + (1 << order)] {
                *s = Shadow::Free;
            }
            freed.push((a, order));
        } else {
            // A bad free: stale, wrong order, or a hole. Must be refused and change nothing.
            let before = b.free_frames();
            let (addr, order) = match rng.below(3) {
                0 if !freed.is_empty() => freed[rng.below(freed.len() as u64) as usize],
                1 if !live.is_empty() => {
                    let (a, o) = live[rng.below(live.len() as u64) as usize];
                    (a, if o == 0 { 1 } else { o - 1 })
                }
                _ => (PhysAddr(0x20_3000 + 705 * PAGE_SIZE), 0),
            };
            let still_live = live.contains(&(addr, order));
            if !still_live {
                assert!(b.free(addr, order).is_err(), "step {step}: bad free({addr}, {order}) accepted");
                assert_eq!(b.free_frames(), before);
            }
        }
        assert_eq!(b.free_frames(), shadow.iter().filter(|&&s| s == Shadow::Free).count() as u64);
        if step % 500 == 0 {
            check(&b);
        }
    }
    check(&b);
    for (a, order) in live.drain(..) {
        b.free(a, order).unwrap();
    }
    assert_eq!(b.free_frames(), b.total_frames());
    assert_eq!(blocks(&b), expected_blocks(&free_map(&b, &usable)));
    check(&b);
}

#[test]
fn randomized_against_shadow_model() {
    for seed in [1u64, 0x9e37_79b9_7f4a_7c15, 42, 0xdead_beef, 7] {
        stress(seed, 6_000);
    }
}
