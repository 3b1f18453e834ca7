// SPDX-License-Identifier: AGPL-3.0-or-later
//! The kernel's virtual address-space layout (docs/adr/0002-address-space-layout.md).
//!
//! The same on every architecture except the direct-map base, which `arch::hhdm_base()`
//! returns (it depends on the paging mode on RISC-V).

use kernel_core::addr::PhysAddr;

use crate::arch;

/// Base of the guarded kernel-stack area (below the kernel image, inside every paging mode's
/// upper half, Sv39 included).
pub const KERNEL_STACKS_BASE: u64 = 0xffff_ffff_0000_0000;
/// Distance between two kernel-stack slots.
pub const KERNEL_STACK_SLOT: u64 = 0x2_0000;
/// Mapped size of one kernel stack; the rest of the slot below it stays unmapped (guard).
pub const KERNEL_STACK_SIZE: u64 = 0x1_0000;
/// Kernel heap size.
pub const KERNEL_HEAP_SIZE: u64 = 4 << 20;

/// Virtual address of physical address `pa` in the direct map.
pub fn phys_to_virt(pa: PhysAddr) -> *mut u8 {
    (arch::hhdm_base().wrapping_add(pa.as_u64())) as *mut u8
}

/// Virtual range of kernel stack slot `slot`: (lowest mapped byte, top).
pub const fn kernel_stack(slot: u64) -> (u64, u64) {
    let top = KERNEL_STACKS_BASE + (slot + 1) * KERNEL_STACK_SLOT;
    (top - KERNEL_STACK_SIZE, top)
}

unsafe extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __data_end: u8;
    static __kernel_phys_start: u8;
    static __kernel_phys_end: u8;
}

/// Addresses of the kernel image sections, from the linker script.
#[derive(Clone, Copy, Debug)]
pub struct ImageLayout {
    /// Code, virtual [start, end).
    pub text: (u64, u64),
    /// Read-only data, virtual.
    pub rodata: (u64, u64),
    /// Data and bss, virtual.
    pub data: (u64, u64),
    /// Whole image including boot code, physical.
    pub phys: (u64, u64),
}

/// The image layout.
pub fn image() -> ImageLayout {
    // Only the addresses of these linker-defined symbols are used, never their contents.
    ImageLayout {
        text: (&raw const __text_start as u64, &raw const __text_end as u64),
        rodata: (&raw const __rodata_start as u64, &raw const __rodata_end as u64),
        data: (&raw const __data_start as u64, &raw const __data_end as u64),
        phys: (&raw const __kernel_phys_start as u64, &raw const __kernel_phys_end as u64),
    }
}
