// SPDX-License-Identifier: AGPL-3.0-or-later
//! RISC-V Sv39 and Sv48 page tables.
//!
//! Leaves always carry A and D so hardware without automatic A/D updates never faults on them.
//! Base Sv39/Sv48 have no memory-type bits: device memory is ordered by the physical memory
//! attributes of the platform, so [`MemoryType`] is not encoded (it reads back as `Normal`).

use super::{MapAttrs, MemoryType, PageTableFormat, canonical};
use crate::addr::{PhysAddr, VirtAddr};

const VALID: u64 = 1 << 0;
const READ: u64 = 1 << 1;
const WRITE: u64 = 1 << 2;
const EXECUTE: u64 = 1 << 3;
const USER: u64 = 1 << 4;
const GLOBAL: u64 = 1 << 5;
const ACCESSED: u64 = 1 << 6;
const DIRTY: u64 = 1 << 7;
const PPN_MASK: u64 = ((1u64 << 44) - 1) << 10;

/// `satp.MODE` value for Sv39.
pub const SATP_MODE_SV39: u64 = 8;
/// `satp.MODE` value for Sv48.
pub const SATP_MODE_SV48: u64 = 9;

fn encode(pa: PhysAddr) -> u64 {
    ((pa.as_u64() >> 12) << 10) & PPN_MASK
}

fn leaf(frame: PhysAddr, attrs: MapAttrs) -> u64 {
    let mut e = encode(frame) | VALID | READ | ACCESSED | DIRTY;
    if attrs.write {
        e |= WRITE;
    }
    if attrs.execute {
        e |= EXECUTE;
    }
    if attrs.user {
        e |= USER;
    }
    if attrs.global {
        e |= GLOBAL;
    }
    e
}

fn attrs_of(entry: u64) -> MapAttrs {
    MapAttrs {
        write: entry & WRITE != 0,
        execute: entry & EXECUTE != 0,
        user: entry & USER != 0,
        global: entry & GLOBAL != 0,
        memory: MemoryType::Normal,
    }
}

macro_rules! riscv_format {
    ($name:ident, $levels:expr, $bits:expr, $text:expr) => {
        #[doc = concat!("RISC-V ", $text, " (", stringify!($levels), " levels).")]
        pub enum $name {}

        impl PageTableFormat for $name {
            const LEVELS: usize = $levels;
            const NAME: &'static str = $text;

            fn leaf_allowed(level: usize) -> bool {
                level <= 2
            }
            fn is_canonical(va: VirtAddr) -> bool {
                canonical(va, $bits)
            }
            fn table_entry(table: PhysAddr) -> u64 {
                encode(table) | VALID
            }
            fn leaf_entry(frame: PhysAddr, attrs: MapAttrs, _level: usize) -> u64 {
                leaf(frame, attrs)
            }
            fn is_present(entry: u64) -> bool {
                entry & VALID != 0
            }
            fn is_table(entry: u64, level: usize) -> bool {
                level > 0 && entry & VALID != 0 && entry & (READ | WRITE | EXECUTE) == 0
            }
            fn entry_address(entry: u64) -> PhysAddr {
                PhysAddr(((entry & PPN_MASK) >> 10) << 12)
            }
            fn leaf_attrs(entry: u64, _level: usize) -> MapAttrs {
                attrs_of(entry)
            }
        }
    };
}

riscv_format!(Sv39, 3, 39, "riscv Sv39");
riscv_format!(Sv48, 4, 48, "riscv Sv48");
