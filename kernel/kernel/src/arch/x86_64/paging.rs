// SPDX-License-Identifier: AGPL-3.0-or-later
//! The x86_64 kernel address space (4-level paging, 48-bit virtual addresses).
//!
//! | region | address |
//! |---|---|
//! | direct map of physical memory (RW, NX) | `0xffff_8000_0000_0000` |
//! | kernel stacks (guarded) | `0xffff_ffff_0000_0000` |
//! | kernel image | `0xffff_ffff_8000_0000` + physical (`0xffff_ffff_8010_0000`) |
//!
//! `init_paging` builds the final tables with `memory::build_kernel_space` (RAM, the local
//! APIC and I/O APIC windows uncached, the kernel W^X, the boot CPU's guarded stack), switches
//! CR3 (which drops the boot identity map: the lower half is empty from here on), and turns
//! on global pages and, when the CPU has them, SMEP and SMAP. NX and WP were enabled by the
//! trampoline. CPUs without 1 GiB pages get a format that stops at 2 MiB leaves.

use kernel_boot::BootInfo;
use kernel_core::addr::{PhysAddr, VirtAddr};
use kernel_core::paging::x86_64::X86_64;
use kernel_core::paging::{MapAttrs, PageTableFormat};

use super::cpu;
use super::platform;
use crate::arch::PagingReport;
use crate::error::KernelError;
use crate::memory::{FrameAllocator, build_kernel_space};

/// Virtual minus physical address of the kernel image.
pub const KERNEL_OFFSET: u64 = 0xffff_ffff_8000_0000;
/// Physical memory below this is reachable through the direct map before `init_paging` (the
/// trampoline maps 0..4 GiB with 2 MiB pages).
pub const EARLY_MAP_LIMIT: u64 = 4 << 30;
/// Base of the direct map of physical memory.
const HHDM_BASE: u64 = 0xffff_8000_0000_0000;

const CR4_PGE: u64 = 1 << 7;
const CR4_SMEP: u64 = 1 << 20;
const CR4_SMAP: u64 = 1 << 21;

/// Base of the direct map of physical memory.
pub const fn hhdm_base() -> u64 {
    HHDM_BASE
}

/// The x86_64 4-level format without 1 GiB leaves, for CPUs lacking `PDPE1GB` (such as
/// QEMU's default `qemu64` model). Identical to [`X86_64`] otherwise.
enum X86_64NoGiB {}

impl PageTableFormat for X86_64NoGiB {
    const LEVELS: usize = X86_64::LEVELS;
    const NAME: &'static str = X86_64::NAME;

    fn leaf_allowed(level: usize) -> bool {
        level <= 1
    }
    fn is_canonical(va: VirtAddr) -> bool {
        X86_64::is_canonical(va)
    }
    fn table_entry(table: PhysAddr) -> u64 {
        X86_64::table_entry(table)
    }
    fn leaf_entry(frame: PhysAddr, attrs: MapAttrs, level: usize) -> u64 {
        X86_64::leaf_entry(frame, attrs, level)
    }
    fn is_present(entry: u64) -> bool {
        X86_64::is_present(entry)
    }
    fn is_table(entry: u64, level: usize) -> bool {
        X86_64::is_table(entry, level)
    }
    fn entry_address(entry: u64) -> PhysAddr {
        X86_64::entry_address(entry)
    }
    fn leaf_attrs(entry: u64, level: usize) -> MapAttrs {
        X86_64::leaf_attrs(entry, level)
    }
}

/// Builds the final kernel address space and switches to it.
pub fn init_paging(info: &BootInfo, frames: &mut FrameAllocator) -> Result<PagingReport, KernelError> {
    let features = cpu::features();
    let (windows, used) = platform::device_windows();
    let windows = windows.get(..used).ok_or(KernelError::AddressSpace("device windows"))?;
    let space = if features.gib_pages {
        build_kernel_space::<X86_64>(info, frames, HHDM_BASE, windows)?
    } else {
        build_kernel_space::<X86_64NoGiB>(info, frames, HHDM_BASE, windows)?
    };

    super::entry::end_early_map();
    // SAFETY: the new tables map the kernel image at its link addresses (code, the boot stack
    // and the descriptor tables in .bss), the direct map of all RAM and the device windows;
    // nothing the kernel uses from here on lives only in the boot identity map.
    unsafe { cpu::write_cr3(space.root.as_u64()) };
    super::gdt::use_guarded_ist_stacks();

    let mut cr4 = cpu::read_cr4() | CR4_PGE;
    if features.smep {
        cr4 |= CR4_SMEP;
    }
    if features.smap {
        cr4 |= CR4_SMAP;
    }
    // SAFETY: PGE is architectural on x86_64 and SMEP/SMAP are set only when CPUID reports
    // them. No page is user-accessible, so SMEP and SMAP change nothing for the kernel.
    unsafe { cpu::write_cr4(cr4) };

    let protections = match (features.smep, features.smap) {
        (true, true) => "NX, WP, SMEP, SMAP",
        (true, false) => "NX, WP, SMEP",
        (false, true) => "NX, WP, SMAP",
        (false, false) => "NX, WP",
    };
    Ok(PagingReport {
        format: if features.gib_pages { "x86_64 4-level" } else { "x86_64 4-level (no 1 GiB pages)" },
        hhdm_base: HHDM_BASE,
        table_frames: space.table_frames,
        protections,
    })
}
