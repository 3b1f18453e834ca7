// SPDX-License-Identifier: AGPL-3.0-or-later
//! Physical and virtual addresses, and page arithmetic.

use core::fmt;

/// Size of the smallest page (and of a physical frame) on every supported architecture.
pub const PAGE_SIZE: u64 = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;

/// A physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct PhysAddr(pub u64);

/// A virtual address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct VirtAddr(pub u64);

macro_rules! addr_common {
    ($t:ident) => {
        impl $t {
            /// The raw address.
            pub const fn as_u64(self) -> u64 {
                self.0
            }
            /// True when the address is a multiple of `align` (a power of two).
            pub const fn is_aligned(self, align: u64) -> bool {
                self.0 & (align - 1) == 0
            }
            /// Rounds down to a multiple of `align` (a power of two).
            pub const fn align_down(self, align: u64) -> Self {
                $t(self.0 & !(align - 1))
            }
            /// Rounds up to a multiple of `align` (a power of two); `None` on overflow.
            pub const fn align_up(self, align: u64) -> Option<Self> {
                match self.0.checked_add(align - 1) {
                    Some(v) => Some($t(v & !(align - 1))),
                    None => None,
                }
            }
            /// Adds a byte offset; `None` on overflow.
            pub const fn checked_add(self, bytes: u64) -> Option<Self> {
                match self.0.checked_add(bytes) {
                    Some(v) => Some($t(v)),
                    None => None,
                }
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
    };
}

addr_common!(PhysAddr);
addr_common!(VirtAddr);

/// Rounds `value` up to a multiple of `align` (a power of two); `None` on overflow.
pub const fn align_up(value: u64, align: u64) -> Option<u64> {
    match value.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}

/// Rounds `value` down to a multiple of `align` (a power of two).
pub const fn align_down(value: u64, align: u64) -> u64 {
    value & !(align - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment() {
        assert_eq!(PhysAddr(0x1234).align_down(PAGE_SIZE), PhysAddr(0x1000));
        assert_eq!(PhysAddr(0x1234).align_up(PAGE_SIZE), Some(PhysAddr(0x2000)));
        assert_eq!(PhysAddr(0x2000).align_up(PAGE_SIZE), Some(PhysAddr(0x2000)));
        assert_eq!(PhysAddr(u64::MAX).align_up(PAGE_SIZE), None);
        assert!(VirtAddr(0x20_0000).is_aligned(0x20_0000));
        assert_eq!(align_up(1, 8), Some(8));
        assert_eq!(align_down(15, 8), 8);
        assert_eq!(format!("{}", PhysAddr(0xabc)), "0xabc");
    }
}
