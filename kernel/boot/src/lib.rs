// SPDX-License-Identifier: AGPL-3.0-or-later
//! Boot information: every boot protocol CambiOS accepts, turned into one [`BootInfo`].
//!
//! * x86_64 PVH (`hvm_start_info`, QEMU `-kernel`): [`pvh`];
//! * x86_64 Multiboot2 (GRUB on real hardware): [`multiboot2`];
//! * AArch64 arm64 Image and RISC-V OpenSBI payloads: a flattened device tree, [`dtb`].
//!
//! Parsers read boot structures through a [`PhysReader`], so host tests feed them byte
//! buffers and the kernel feeds them its early direct map. Everything is copied into
//! fixed-capacity tables: no allocation, no pointers into firmware memory survive parsing.
#![cfg_attr(not(test), no_std)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod acpi;
pub mod dtb;
pub mod info;
pub mod multiboot2;
pub mod pvh;

pub use info::*;

/// Reads physical memory during boot.
pub trait PhysReader {
    /// The `len` bytes at physical address `addr`, or `None` if they are not readable.
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]>;

    /// A little-endian u32 at `addr`.
    fn u32_at(&self, addr: u64) -> Option<u32> {
        let b = self.read(addr, 4)?;
        Some(u32::from_le_bytes([*b.first()?, *b.get(1)?, *b.get(2)?, *b.get(3)?]))
    }

    /// A little-endian u64 at `addr`.
    fn u64_at(&self, addr: u64) -> Option<u64> {
        let lo = self.u32_at(addr)? as u64;
        let hi = self.u32_at(addr.checked_add(4)?)? as u64;
        Some(lo | (hi << 32))
    }
}

/// A [`PhysReader`] over one contiguous buffer that starts at physical address `base`.
pub struct SliceReader<'a> {
    /// Physical address of `bytes[0]`.
    pub base: u64,
    /// The memory.
    pub bytes: &'a [u8],
}

impl PhysReader for SliceReader<'_> {
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(addr.checked_sub(self.base)?).ok()?;
        self.bytes.get(start..start.checked_add(len)?)
    }
}

/// Why boot information could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootError {
    /// The structure's magic number is wrong.
    BadMagic,
    /// A field points at memory that cannot be read.
    Unreadable,
    /// A length or count is impossible.
    Malformed,
    /// No usable memory was reported.
    NoMemory,
    /// The device tree could not be parsed.
    BadDeviceTree,
}

impl BootError {
    /// A short human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            BootError::BadMagic => "bad magic number",
            BootError::Unreadable => "pointer to unreadable memory",
            BootError::Malformed => "malformed structure",
            BootError::NoMemory => "no usable memory reported",
            BootError::BadDeviceTree => "device tree parse error",
        }
    }
}

/// The little-endian u32 at byte `off` of `bytes`, if it fits.
pub(crate) fn le_u32(bytes: &[u8], off: usize) -> Option<u32> {
    let b = bytes.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([*b.first()?, *b.get(1)?, *b.get(2)?, *b.get(3)?]))
}

/// The little-endian u64 at byte `off` of `bytes`, if it fits.
pub(crate) fn le_u64(bytes: &[u8], off: usize) -> Option<u64> {
    let lo = u64::from(le_u32(bytes, off)?);
    let hi = u64::from(le_u32(bytes, off.checked_add(4)?)?);
    Some(lo | (hi << 32))
}
