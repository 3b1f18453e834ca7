// SPDX-License-Identifier: AGPL-3.0-or-later
//! Kernel object tables: one physically contiguous, never-freed region sized once at boot.
//!
//! The number of process slots comes from the detected memory and the deployment tier chosen
//! at build time (cargo feature `tier1`, `tier2` or `tier3`; reference-spec section 2.5,
//! docs/adr/0004). The sizing policy is portable and host-tested in `kernel_core::tier`.
//! The region is reserved and zeroed here; the process and capability tables of the next
//! issues are laid out inside it.

use kernel_core::addr::PhysAddr;
use kernel_core::memmap::Range;
use kernel_core::tier::{TableSizing, Tier, size_tables};

use kernel_core::sync::LockClass;

use crate::error::KernelError;
use crate::layout;
use crate::sync::SpinLock;

#[cfg(any(
    all(feature = "tier1", feature = "tier2"),
    all(feature = "tier1", feature = "tier3"),
    all(feature = "tier2", feature = "tier3")
))]
compile_error!("select exactly one deployment tier feature: tier1, tier2 or tier3");
#[cfg(not(any(feature = "tier1", feature = "tier2", feature = "tier3")))]
compile_error!("select a deployment tier feature: tier1, tier2 or tier3");

/// The tier this kernel was built for.
pub const TIER: Tier = if cfg!(feature = "tier1") {
    Tier::Embedded
} else if cfg!(feature = "tier2") {
    Tier::Standard
} else {
    Tier::Full
};

/// Bytes budgeted per process slot: process descriptor, capability table and IPC
/// bookkeeping (the process and IPC issues lay these out inside the slot).
pub const SLOT_BYTES: u64 = 2048;

static SIZING: SpinLock<Option<TableSizing>> = SpinLock::new(LockClass::Frames, None);

/// Sizes the region for `usable` bytes of RAM and returns its size in bytes (called while the
/// frame allocator is built, which carves the region out).
pub fn size(usable: u64) -> Result<u64, KernelError> {
    let sizing = size_tables(&TIER.policy(), usable, SLOT_BYTES, usable)?;
    *SIZING.lock() = Some(sizing);
    Ok(sizing.bytes)
}

/// The sizing decided at boot.
pub fn sizing() -> Option<TableSizing> {
    *SIZING.lock()
}

/// Zeroes the region (through the direct map, so after paging) and returns it.
pub fn init(region: Range) -> Range {
    if !region.is_empty() {
        let ptr = layout::phys_to_virt(PhysAddr(region.start));
        // SAFETY: `region` was carved out of usable RAM by `memory::init_frames` for this
        // purpose alone, and the final direct map covers all RAM read/write.
        unsafe { core::ptr::write_bytes(ptr, 0, region.len() as usize) };
    }
    region
}
