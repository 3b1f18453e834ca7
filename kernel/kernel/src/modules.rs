// SPDX-License-Identifier: AGPL-3.0-or-later
//! Boot modules: the initrd archive (CAMBINIT format, `cambios_abi::initrd`) the boot loader
//! placed in memory. This issue lists what it holds; the verified-load issue checks each
//! module's signature and starts it.

use cambios_abi::initrd;
use kernel_boot::BootInfo;
use kernel_core::addr::PhysAddr;

use crate::layout;

/// Prints the `[modules]` milestone: what the initrd holds, or that there is none.
pub fn report(info: &BootInfo) {
    let mut any = false;
    for module in info.module_list() {
        any = true;
        if !info.is_mapped_ram(module.range) {
            kinfo!(
                "[modules] initrd at {:#x}-{:#x} is not in RAM the kernel maps: ignored",
                module.range.start,
                module.range.end
            );
            continue;
        }
        let len = module.range.len() as usize;
        let ptr = layout::phys_to_virt(PhysAddr(module.range.start));
        // SAFETY: `is_mapped_ram` checked that the module lies in RAM the direct map covers
        // (read/write, no `no-map` firmware page); it is reserved, so the frame allocator never
        // hands it out, and nothing writes it.
        let bytes = unsafe { core::slice::from_raw_parts(ptr.cast_const(), len) };
        match initrd::parse(bytes) {
            Ok(archive) => {
                let noun = if archive.len() == 1 { "entry" } else { "entries" };
                kinfo!("[modules] initrd at {:#x}, {} bytes, {} {noun}", module.range.start, len, archive.len());
                for entry in archive.entries() {
                    kinfo!("[modules]   {} ({} bytes)", entry.name, entry.data.len());
                }
            }
            Err(e) => kinfo!(
                "[modules] initrd at {:#x}, {} bytes: not a CambiOS initrd ({}), ignored",
                module.range.start,
                len,
                e
            ),
        }
    }
    if !any {
        kinfo!("[modules] no initrd: no boot modules");
    }
}
