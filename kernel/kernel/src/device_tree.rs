// SPDX-License-Identifier: AGPL-3.0-or-later
//! The flattened device tree the boot loader left in memory (AArch64 and RISC-V boots):
//! bounds-check it through the early direct map, parse it into a `BootInfo`, and reserve the
//! kernel image.

use kernel_boot::{BootError, BootInfo, BootProtocol, ReservedKind};
use kernel_core::addr::PhysAddr;
use kernel_core::memmap::Range;

use crate::{arch, layout};

/// Largest device tree accepted (QEMU's are 1 MiB: `totalsize` covers its work buffer).
pub const MAX_DTB_SIZE: u32 = 2 << 20;

/// Reads the device tree at physical `dtb_phys` into a `BootInfo` for `protocol`.
#[allow(dead_code, reason = "x86_64 boots without a device tree")]
pub fn boot_info(dtb_phys: u64, protocol: BootProtocol) -> Result<BootInfo, BootError> {
    let in_early_map = dtb_phys.checked_add(u64::from(MAX_DTB_SIZE)).is_some_and(|end| end <= arch::EARLY_MAP_LIMIT);
    if dtb_phys == 0 || !dtb_phys.is_multiple_of(8) || !in_early_map {
        return Err(BootError::Unreadable);
    }
    let base = layout::phys_to_virt(PhysAddr(dtb_phys)).cast_const();
    // SAFETY: the early direct map covers physical 0..EARLY_MAP_LIMIT (checked above with room
    // for the largest accepted tree), and the boot loader passes the address of a device tree
    // it placed in RAM; the first 8 bytes are the magic and the total size.
    let header = unsafe { core::slice::from_raw_parts(base, 8) };
    let size = kernel_boot::dtb::total_size(header)?;
    if size > MAX_DTB_SIZE {
        return Err(BootError::BadDeviceTree);
    }
    // SAFETY: as above; `size` is the tree's own length, within the bound checked above, and the
    // tree stays in place while the parser copies what it needs out of it.
    let bytes = unsafe { core::slice::from_raw_parts(base, size as usize) };
    let mut info = kernel_boot::dtb::parse(dtb_phys, bytes, protocol)?;
    info.reserve(layout::image_phys_range(), ReservedKind::KernelImage);
    if !info.reserved_ranges().any(|r| r.kind == ReservedKind::DeviceTree) {
        info.reserve(Range::from_len(dtb_phys, u64::from(size)), ReservedKind::DeviceTree);
    }
    Ok(info)
}
