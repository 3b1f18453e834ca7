// SPDX-License-Identifier: AGPL-3.0-or-later
//! Host tests of the region list and the user-copy walk.

use super::*;
use crate::paging::MapAttrs;

const LO: u64 = 0x1_0000;
const HI: u64 = 1 << 38;

fn anon(start: u64, pages: u64) -> Region {
    Region { start, len: pages * PAGE_SIZE, kind: RegionKind::Anon, access: RegionAccess::ReadWrite }
}

#[test]
fn insert_keeps_order_and_rejects_overlap() {
    let mut l = RegionList::<8>::new(LO, HI);
    l.insert(anon(0x50_0000, 2)).unwrap();
    l.insert(anon(0x40_0000, 1)).unwrap();
    l.insert(anon(0x60_0000, 1)).unwrap();
    let starts: Vec<u64> = l.iter().map(|r| r.start).collect();
    assert_eq!(starts, vec![0x40_0000, 0x50_0000, 0x60_0000]);
    assert_eq!(l.insert(anon(0x50_1000, 1)), Err(RegionError::Overlap));
    assert_eq!(l.insert(anon(0x4f_f000, 2)), Err(RegionError::Overlap));
    assert_eq!(l.insert(anon(0x123, 1)), Err(RegionError::Misaligned));
    assert_eq!(l.insert(anon(0, 1)), Err(RegionError::OutOfRange));
    assert_eq!(l.insert(anon(HI - PAGE_SIZE, 2)), Err(RegionError::OutOfRange));
    assert_eq!(l.insert(anon(!0xfff, 2)), Err(RegionError::OutOfRange));
    assert_eq!(l.total_bytes(), 4 * PAGE_SIZE);
    assert_eq!(l.find(0x50_1fff).map(|r| r.start), Some(0x50_0000));
    assert_eq!(l.find(0x50_2000), None);
}

#[test]
fn remove_needs_exact_match() {
    let mut l = RegionList::<4>::new(LO, HI);
    l.insert(anon(0x40_0000, 2)).unwrap();
    l.insert(anon(0x80_0000, 1)).unwrap();
    assert_eq!(l.remove(0x40_0000, PAGE_SIZE), Err(RegionError::NotFound));
    assert_eq!(l.remove(0x40_1000, PAGE_SIZE), Err(RegionError::NotFound));
    assert_eq!(l.remove(0x40_0000, 2 * PAGE_SIZE).unwrap().start, 0x40_0000);
    assert_eq!(l.len(), 1);
    assert_eq!(l.iter().next().unwrap().start, 0x80_0000);
    l.remove(0x80_0000, PAGE_SIZE).unwrap();
    assert!(l.is_empty());
}

#[test]
fn list_fills_up() {
    let mut l = RegionList::<2>::new(LO, HI);
    l.insert(anon(0x40_0000, 1)).unwrap();
    l.insert(anon(0x50_0000, 1)).unwrap();
    assert_eq!(l.insert(anon(0x60_0000, 1)), Err(RegionError::TooManyRegions));
}

#[test]
fn find_free_leaves_guard_pages() {
    let base = 0x10_0000_0000;
    let mut l = RegionList::<8>::new(LO, HI);
    let a = l.find_free(2 * PAGE_SIZE, base, base + 0x10_0000).unwrap();
    assert_eq!(a, base);
    l.insert(anon(a, 2)).unwrap();
    let b = l.find_free(PAGE_SIZE, base, base + 0x10_0000).unwrap();
    assert_eq!(b, base + 3 * PAGE_SIZE, "one guard page after the first mapping");
    l.insert(anon(b, 1)).unwrap();
    // A hole of 3 pages between two mappings fits exactly one page with guards on both sides.
    l.remove(a, 2 * PAGE_SIZE).unwrap();
    l.insert(anon(base, 1)).unwrap();
    // now: [base,+1) free 1 page hole... b at +3: the hole [base+1, base+3) is 2 pages.
    let c = l.find_free(PAGE_SIZE, base, base + 0x10_0000).unwrap();
    assert_eq!(c, b + 2 * PAGE_SIZE, "a two-page hole cannot hold a page plus two guards");
    assert_eq!(l.find_free(0x10_0000, base, base + 0x10_0000), Err(RegionError::NoSpace));
    assert_eq!(l.find_free(0, base, base + 0x10_0000), Err(RegionError::Misaligned));
}

#[test]
fn find_free_random_never_overlaps() {
    let base = 0x10_0000_0000;
    let limit = base + 64 * PAGE_SIZE;
    let mut l = RegionList::<32>::new(LO, HI);
    let mut seed = 0x1234_5678_u64;
    for _ in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let pages = 1 + seed % 4;
        if seed.is_multiple_of(3) && !l.is_empty() {
            let victim = *l.iter().nth((seed as usize / 3) % l.len()).unwrap();
            l.remove(victim.start, victim.len).unwrap();
        } else if let Ok(at) = l.find_free(pages * PAGE_SIZE, base, limit) {
            assert!(at + pages * PAGE_SIZE <= limit);
            l.insert(anon(at, pages)).unwrap();
        }
        let regions: Vec<Region> = l.iter().copied().collect();
        for w in regions.windows(2) {
            assert!(w[0].end() + PAGE_SIZE <= w[1].start, "guard page kept: {w:?}");
        }
    }
}

/// A fake page table: pages at 0x40_0000 (user RO), 0x40_1000 (user RW), 0x40_2000 (kernel),
/// 0x40_3000 (user device).
fn fake(va: VirtAddr) -> Option<Translation> {
    let page = va.as_u64() & !0xfff;
    let offset = va.as_u64() & 0xfff;
    let user = |write| MapAttrs { write, execute: false, user: true, global: false, memory: MemoryType::Normal };
    let attrs = match page {
        0x40_0000 => user(false),
        0x40_1000 => user(true),
        0x40_2000 => MapAttrs::KERNEL_DATA,
        0x40_3000 => MapAttrs { memory: MemoryType::Device, ..user(true) },
        _ => return None,
    };
    Some(Translation { phys: PhysAddr(0x9000_0000 + (page - 0x40_0000) * 4 + offset), attrs, level: 0 })
}

fn chunks(va: u64, len: usize, access: Access) -> Result<Vec<(u64, usize, usize)>, UserAccessError> {
    let mut out = Vec::new();
    user_chunks(va, len, access, (LO, HI), fake, |p, o, n| out.push((p.as_u64(), o, n)))?;
    Ok(out)
}

#[test]
fn reads_split_at_page_boundaries() {
    let c = chunks(0x40_0ff0, 0x20, Access::Read).unwrap();
    assert_eq!(c, vec![(0x9000_0ff0, 0, 0x10), (0x9000_4000, 0x10, 0x10)]);
    assert_eq!(chunks(0x40_0000, 0, Access::Write).unwrap(), vec![]);
}

#[test]
fn refusals_copy_nothing() {
    assert_eq!(chunks(0x40_0000, 8, Access::Write), Err(UserAccessError::ReadOnly(0x40_0000)));
    // The writable page passes, the read-only one after... order: RW page then kernel page.
    assert_eq!(chunks(0x40_1ff8, 16, Access::Read), Err(UserAccessError::NotUser(0x40_2000)));
    assert_eq!(chunks(0x40_3000, 1, Access::Read), Err(UserAccessError::Device(0x40_3000)));
    assert_eq!(chunks(0x50_0000, 1, Access::Read), Err(UserAccessError::Unmapped(0x50_0000)));
    assert_eq!(chunks(0x40_1000, 0x2000, Access::Write), Err(UserAccessError::NotUser(0x40_2000)));
    assert_eq!(chunks(0x8000, 1, Access::Read), Err(UserAccessError::OutOfRange));
    assert_eq!(chunks(HI - 1, 2, Access::Read), Err(UserAccessError::OutOfRange));
    assert_eq!(chunks(u64::MAX, 2, Access::Read), Err(UserAccessError::OutOfRange));
    assert_eq!(chunks(0xffff_ffff_8000_0000, 8, Access::Read), Err(UserAccessError::OutOfRange));
    // A refused write reports no chunk at all, even for the pages that were fine.
    let mut seen = 0;
    let r = user_chunks(0x40_1000, 0x1008, Access::Write, (LO, HI), fake, |_, _, _| seen += 1);
    assert_eq!(r, Err(UserAccessError::NotUser(0x40_2000)));
    assert_eq!(seen, 0);
}
