// SPDX-License-Identifier: AGPL-3.0-or-later
//! x86_64 4-level paging (48-bit virtual addresses) with NX.

use super::{MapAttrs, MemoryType, PageTableFormat, canonical};
use crate::addr::{PhysAddr, VirtAddr};

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const WRITE_THROUGH: u64 = 1 << 3;
const CACHE_DISABLE: u64 = 1 << 4;
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
const HUGE: u64 = 1 << 7;
const GLOBAL: u64 = 1 << 8;
const NO_EXECUTE: u64 = 1 << 63;
const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;

/// The x86_64 long-mode format (requires `EFER.NXE` for the NX bit).
pub enum X86_64 {}

impl PageTableFormat for X86_64 {
    const LEVELS: usize = 4;
    const NAME: &'static str = "x86_64 4-level";

    fn leaf_allowed(level: usize) -> bool {
        level <= 2
    }

    fn is_canonical(va: VirtAddr) -> bool {
        canonical(va, 48)
    }

    fn table_entry(table: PhysAddr) -> u64 {
        // Intermediate levels are permissive; leaves decide.
        (table.as_u64() & ADDRESS_MASK) | PRESENT | WRITABLE | USER
    }

    fn leaf_entry(frame: PhysAddr, attrs: MapAttrs, level: usize) -> u64 {
        let mut e = (frame.as_u64() & ADDRESS_MASK) | PRESENT | ACCESSED | DIRTY;
        if level > 0 {
            e |= HUGE;
        }
        if attrs.write {
            e |= WRITABLE;
        }
        if !attrs.execute {
            e |= NO_EXECUTE;
        }
        if attrs.user {
            e |= USER;
        }
        if attrs.global {
            e |= GLOBAL;
        }
        if attrs.memory == MemoryType::Device {
            e |= CACHE_DISABLE | WRITE_THROUGH;
        }
        e
    }

    fn is_present(entry: u64) -> bool {
        entry & PRESENT != 0
    }

    fn is_table(entry: u64, level: usize) -> bool {
        level > 0 && entry & PRESENT != 0 && entry & HUGE == 0
    }

    fn entry_address(entry: u64) -> PhysAddr {
        PhysAddr(entry & ADDRESS_MASK)
    }

    fn leaf_attrs(entry: u64, _level: usize) -> MapAttrs {
        MapAttrs {
            write: entry & WRITABLE != 0,
            execute: entry & NO_EXECUTE == 0,
            user: entry & USER != 0,
            global: entry & GLOBAL != 0,
            memory: if entry & CACHE_DISABLE != 0 { MemoryType::Device } else { MemoryType::Normal },
        }
    }
}
