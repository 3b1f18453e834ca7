// SPDX-License-Identifier: AGPL-3.0-or-later
//! AArch64 stage-1 translation, 4 KiB granule, 48-bit virtual addresses, 4 levels.
//!
//! Memory attributes index into MAIR_EL1, which the architecture code must program as
//! [`MAIR_VALUE`]: index 0 is Normal write-back, index 1 is Device-nGnRE.

use super::{MapAttrs, MemoryType, PageTableFormat};
use crate::addr::{PhysAddr, VirtAddr};

/// The MAIR_EL1 value the attribute indices below assume.
pub const MAIR_VALUE: u64 = 0xff | (0x04 << 8);

const VALID: u64 = 1 << 0;
/// Bit 1: table (levels 1-3) or page (level 0); clear means block.
const TABLE_OR_PAGE: u64 = 1 << 1;
const ATTR_NORMAL: u64 = 0 << 2;
const ATTR_DEVICE: u64 = 1 << 2;
const ATTR_MASK: u64 = 0b111 << 2;
const AP_EL0: u64 = 1 << 6;
const AP_READ_ONLY: u64 = 1 << 7;
const INNER_SHAREABLE: u64 = 0b11 << 8;
const ACCESS_FLAG: u64 = 1 << 10;
const NOT_GLOBAL: u64 = 1 << 11;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

/// The AArch64 4 KiB-granule format (one tree per TTBR).
pub enum Aarch64 {}

impl PageTableFormat for Aarch64 {
    const LEVELS: usize = 4;
    const NAME: &'static str = "aarch64 4K granule, 48-bit";

    fn leaf_allowed(level: usize) -> bool {
        level <= 2
    }

    fn is_canonical(va: VirtAddr) -> bool {
        // TTBR0 covers addresses whose top 16 bits are all zero, TTBR1 (T1SZ = 16) those whose
        // top 16 bits are all one: unlike x86_64, bit 47 does not have to match them.
        matches!(va.as_u64() >> 48, 0 | 0xffff)
    }

    fn table_entry(table: PhysAddr) -> u64 {
        (table.as_u64() & ADDRESS_MASK) | VALID | TABLE_OR_PAGE
    }

    fn leaf_entry(frame: PhysAddr, attrs: MapAttrs, level: usize) -> u64 {
        let mut e = (frame.as_u64() & ADDRESS_MASK) | VALID | ACCESS_FLAG;
        if level == 0 {
            e |= TABLE_OR_PAGE;
        }
        e |= match attrs.memory {
            MemoryType::Normal => ATTR_NORMAL | INNER_SHAREABLE,
            MemoryType::Device => ATTR_DEVICE,
        };
        if !attrs.write {
            e |= AP_READ_ONLY;
        }
        if attrs.user {
            // The kernel never executes user pages.
            e |= AP_EL0 | PXN;
            if !attrs.execute {
                e |= UXN;
            }
        } else {
            e |= UXN;
            if !attrs.execute {
                e |= PXN;
            }
        }
        if !attrs.global {
            e |= NOT_GLOBAL;
        }
        e
    }

    fn is_present(entry: u64) -> bool {
        entry & VALID != 0
    }

    fn is_table(entry: u64, level: usize) -> bool {
        level > 0 && entry & VALID != 0 && entry & TABLE_OR_PAGE != 0
    }

    fn entry_address(entry: u64) -> PhysAddr {
        PhysAddr(entry & ADDRESS_MASK)
    }

    fn leaf_attrs(entry: u64, _level: usize) -> MapAttrs {
        let user = entry & AP_EL0 != 0;
        MapAttrs {
            write: entry & AP_READ_ONLY == 0,
            execute: if user { entry & UXN == 0 } else { entry & PXN == 0 },
            user,
            global: entry & NOT_GLOBAL == 0,
            memory: if entry & ATTR_MASK == ATTR_DEVICE { MemoryType::Device } else { MemoryType::Normal },
        }
    }
}
