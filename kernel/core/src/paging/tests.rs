// SPDX-License-Identifier: AGPL-3.0-or-later
//! Host tests of the generic mapper over every format, on emulated physical memory.

use std::cell::UnsafeCell;
use std::vec::Vec;

use super::aarch64::Aarch64;
use super::riscv::{Sv39, Sv48};
use super::x86_64::X86_64;
use super::*;

/// Emulated physical memory holding page tables at `BASE + i * 4096`.
struct Emulated {
    tables: Vec<UnsafeCell<Table>>,
    next: usize,
}

const BASE: u64 = 0x8000_0000;

impl Emulated {
    fn new(n: usize) -> Self {
        Emulated { tables: (0..n).map(|_| UnsafeCell::new([0xdead_beef; 512])).collect(), next: 0 }
    }
}

struct Frames<'a>(&'a UnsafeCell<usize>, usize);

impl TableAllocator for Frames<'_> {
    fn allocate_table(&mut self) -> Option<PhysAddr> {
        // SAFETY: single-threaded test; nothing else holds the counter.
        let next = unsafe { &mut *self.0.get() };
        if *next >= self.1 {
            return None;
        }
        *next += 1;
        Some(PhysAddr(BASE + (*next as u64 - 1) * PAGE_SIZE))
    }
}

impl PhysMemory for Emulated {
    fn table_ptr(&self, frame: PhysAddr) -> *mut Table {
        let i = ((frame.as_u64() - BASE) / PAGE_SIZE) as usize;
        self.tables[i].get()
    }
}

fn with_mapper<F: PageTableFormat>(tables: usize, f: impl FnOnce(&mut Mapper<'_, F, Emulated>, &mut Frames<'_>)) {
    let mem = Emulated::new(tables);
    let counter = UnsafeCell::new(mem.next);
    let mut frames = Frames(&counter, tables);
    let mut mapper = Mapper::<F, _>::new_root(&mem, &mut frames).unwrap();
    f(&mut mapper, &mut frames);
}

fn kernel_layout<F: PageTableFormat>(high: u64) {
    with_mapper::<F>(64, |m, a| {
        let text = VirtAddr(high);
        m.map(text, PhysAddr(0x20_0000), 0x3000, MapAttrs::KERNEL_TEXT, a).unwrap();
        let data = VirtAddr(high + 0x3000);
        m.map(data, PhysAddr(0x20_3000), 0x1000, MapAttrs::KERNEL_DATA, a).unwrap();
        let t = m.translate(VirtAddr(high + 0x1234)).unwrap();
        assert_eq!(t.phys, PhysAddr(0x20_1234));
        assert_eq!(t.level, 0);
        assert_eq!(t.attrs, MapAttrs::KERNEL_TEXT);
        let d = m.translate(VirtAddr(high + 0x3008)).unwrap();
        assert_eq!(d.attrs, MapAttrs::KERNEL_DATA);
        assert!(m.translate(VirtAddr(high + 0x4000)).is_none());
        // Overlap refused.
        assert_eq!(m.map(data, PhysAddr(0), 0x1000, MapAttrs::KERNEL_DATA, a), Err(PagingError::AlreadyMapped));
        // W^X refused.
        let wx = MapAttrs { execute: true, ..MapAttrs::KERNEL_DATA };
        assert_eq!(m.map(VirtAddr(high + 0x10000), PhysAddr(0), 0x1000, wx, a), Err(PagingError::WriteAndExecute));
        // Unmap then translate.
        m.unmap(data, 0x1000).unwrap();
        assert!(m.translate(data).is_none());
        assert_eq!(m.unmap(data, 0x1000), Err(PagingError::NotMapped));
    });
}

fn huge_pages<F: PageTableFormat>(hhdm: u64) {
    with_mapper::<F>(16, |m, a| {
        // 1 GiB + 2 MiB + 4 KiB: one gigapage, one 2 MiB page, one 4 KiB page.
        let len = (1 << 30) + (2 << 20) + 4096;
        m.map(VirtAddr(hhdm), PhysAddr(0), len, MapAttrs::KERNEL_DATA, a).unwrap();
        assert_eq!(m.translate(VirtAddr(hhdm + 5)).unwrap().level, 2);
        let t = m.translate(VirtAddr(hhdm + (1 << 30) + 77)).unwrap();
        assert_eq!((t.level, t.phys), (1, PhysAddr((1 << 30) + 77)));
        assert_eq!(m.translate(VirtAddr(hhdm + (1 << 30) + (2 << 20))).unwrap().level, 0);
        // Cannot unmap 4 KiB out of a gigapage.
        assert_eq!(m.unmap(VirtAddr(hhdm), 4096), Err(PagingError::HugePageInTheWay));
        // Forced small pages.
        m.map_with_max_level(VirtAddr(hhdm + (8 << 30)), PhysAddr(0), 2 << 20, MapAttrs::KERNEL_RODATA, a, 0).unwrap();
        assert_eq!(m.translate(VirtAddr(hhdm + (8 << 30))).unwrap().level, 0);
    });
}

#[test]
fn x86_64_kernel_layout() {
    kernel_layout::<X86_64>(0xffff_ffff_8000_0000);
    huge_pages::<X86_64>(0xffff_8000_0000_0000);
}

#[test]
fn aarch64_kernel_layout() {
    kernel_layout::<Aarch64>(0xffff_ffff_8000_0000);
    huge_pages::<Aarch64>(0xffff_0000_0000_0000);
}

#[test]
fn sv48_kernel_layout() {
    kernel_layout::<Sv48>(0xffff_ffff_8000_0000);
    huge_pages::<Sv48>(0xffff_8000_0000_0000);
}

#[test]
fn sv39_kernel_layout() {
    kernel_layout::<Sv39>(0xffff_ffff_8000_0000);
    huge_pages::<Sv39>(0xffff_ffc0_0000_0000);
}

#[test]
fn argument_errors() {
    with_mapper::<X86_64>(8, |m, a| {
        let d = MapAttrs::KERNEL_DATA;
        assert_eq!(m.map(VirtAddr(0x1001), PhysAddr(0), 4096, d, a), Err(PagingError::Misaligned));
        assert_eq!(m.map(VirtAddr(0x1000), PhysAddr(1), 4096, d, a), Err(PagingError::Misaligned));
        assert_eq!(m.map(VirtAddr(0x1000), PhysAddr(0), 100, d, a), Err(PagingError::Misaligned));
        assert_eq!(m.map(VirtAddr(0x0000_8000_0000_0000), PhysAddr(0), 4096, d, a), Err(PagingError::NonCanonical));
        assert_eq!(m.map(VirtAddr(0x0000_7fff_ffff_f000), PhysAddr(0), 8192, d, a), Err(PagingError::NonCanonical));
        assert_eq!(m.map(VirtAddr(u64::MAX - 4095), PhysAddr(0), 8192, d, a), Err(PagingError::Overflow));
    });
    // Sv39 rejects an Sv48-only address.
    with_mapper::<Sv39>(8, |m, a| {
        assert_eq!(
            m.map(VirtAddr(0xffff_8000_0000_0000), PhysAddr(0), 4096, MapAttrs::KERNEL_DATA, a),
            Err(PagingError::NonCanonical)
        );
    });
}

#[test]
fn out_of_tables_is_an_error() {
    with_mapper::<X86_64>(2, |m, a| {
        assert_eq!(
            m.map(VirtAddr(0x40_0000), PhysAddr(0), 4096, MapAttrs::KERNEL_DATA, a),
            Err(PagingError::OutOfTables)
        );
    });
}

#[test]
fn encodings_match_the_architecture_manuals() {
    // x86_64: kernel data 4 KiB page = P|W|A|D|G|NX.
    let e = X86_64::leaf_entry(PhysAddr(0x1000), MapAttrs::KERNEL_DATA, 0);
    assert_eq!(e, 0x1000 | 1 | 2 | 0x20 | 0x40 | 0x100 | (1 << 63));
    // x86_64 2 MiB text page has PS, no NX, no W.
    let e = X86_64::leaf_entry(PhysAddr(0x20_0000), MapAttrs::KERNEL_TEXT, 1);
    assert_eq!(e, 0x20_0000 | 1 | 0x20 | 0x40 | 0x80 | 0x100);
    // aarch64: kernel text page = valid|page|AF|SH=inner|AP=RO(EL1)|UXN, attr idx 0.
    let e = Aarch64::leaf_entry(PhysAddr(0x4000_0000), MapAttrs::KERNEL_TEXT, 0);
    assert_eq!(e, 0x4000_0000 | 0b11 | (1 << 10) | (0b11 << 8) | (1 << 7) | (1 << 54));
    // aarch64 device block: attr idx 1, PXN|UXN, RW, no shareability bits.
    let e = Aarch64::leaf_entry(PhysAddr(0x0800_0000), MapAttrs::KERNEL_DEVICE, 1);
    assert_eq!(e, 0x0800_0000 | 0b01 | (1 << 2) | (1 << 10) | (1 << 53) | (1 << 54));
    // Sv48: kernel data = V|R|W|G|A|D with PPN at bit 10.
    let e = Sv48::leaf_entry(PhysAddr(0x8020_0000), MapAttrs::KERNEL_DATA, 0);
    assert_eq!(e, (0x80200 << 10) | 1 | 2 | 4 | 0x20 | 0x40 | 0x80);
    assert_eq!(Sv48::entry_address(e), PhysAddr(0x8020_0000));
    assert!(!Sv48::is_table(e, 1));
    assert!(Sv48::is_table(Sv48::table_entry(PhysAddr(0x1000)), 1));
}

fn teardown_returns_everything<F: PageTableFormat>() {
    with_mapper::<F>(64, |m, a| {
        let user = MapAttrs { write: true, execute: false, user: true, global: false, memory: MemoryType::Normal };
        let before = {
            // Tables allocated so far: just the root.
            1
        };
        m.map_with_max_level(VirtAddr(0x40_0000), PhysAddr(0x1000_0000), 0x3000, user, a, 0).unwrap();
        m.map_with_max_level(VirtAddr(0x3f_f000_0000), PhysAddr(0x2000_0000), 0x1000, user, a, 0).unwrap();
        let mut leaves = Vec::new();
        let mut tables = Vec::new();
        m.teardown(0..256, &mut |p, level| leaves.push((p, level)), &mut |t| tables.push(t));
        leaves.sort();
        assert_eq!(
            leaves,
            vec![
                (PhysAddr(0x1000_0000), 0),
                (PhysAddr(0x1000_1000), 0),
                (PhysAddr(0x1000_2000), 0),
                (PhysAddr(0x2000_0000), 0)
            ]
        );
        // Every intermediate table is returned once, and nothing is mapped any more.
        let mut unique = tables.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), tables.len());
        assert!(tables.len() + before >= F::LEVELS);
        assert!(m.translate(VirtAddr(0x40_0000)).is_none());
        assert!(m.translate(VirtAddr(0x3f_f000_0000)).is_none());
        // The tree is reusable.
        m.map_with_max_level(VirtAddr(0x40_0000), PhysAddr(0x1000_0000), 0x1000, user, a, 0).unwrap();
    });
}

#[test]
fn teardown_all_formats() {
    teardown_returns_everything::<X86_64>();
    teardown_returns_everything::<Aarch64>();
    teardown_returns_everything::<Sv48>();
    teardown_returns_everything::<Sv39>();
}

#[test]
fn copy_root_entries_shares_the_kernel_half() {
    let mem = Emulated::new(64);
    let counter = UnsafeCell::new(0);
    let mut frames = Frames(&counter, 64);
    let mut kernel = Mapper::<X86_64, _>::new_root(&mem, &mut frames).unwrap();
    kernel
        .map(VirtAddr(0xffff_ffff_8000_0000), PhysAddr(0x20_0000), 0x1000, MapAttrs::KERNEL_TEXT, &mut frames)
        .unwrap();
    let mut user = Mapper::<X86_64, _>::new_root(&mem, &mut frames).unwrap();
    user.copy_root_entries(kernel.root(), 256..512);
    assert_eq!(user.translate(VirtAddr(0xffff_ffff_8000_0000)).unwrap().phys, PhysAddr(0x20_0000));
    let (mut leaves, mut tables) = (0, 0);
    user.teardown(0..256, &mut |_, _| leaves += 1, &mut |_| tables += 1);
    assert_eq!((leaves, tables), (0, 0), "the kernel half is never torn down");
    assert!(user.translate(VirtAddr(0xffff_ffff_8000_0000)).is_some());
}
