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

/// Number of kernel stack slots the area holds.
pub const KERNEL_STACK_SLOTS: u64 = 4096;

/// Virtual range of kernel stack slot `slot`: (lowest mapped byte, top). The
/// `KERNEL_STACK_SLOT - KERNEL_STACK_SIZE` bytes below the lowest mapped byte are never mapped:
/// they are the slot's guard region.
pub const fn kernel_stack(slot: u64) -> (u64, u64) {
    let top = KERNEL_STACKS_BASE + (slot + 1) * KERNEL_STACK_SLOT;
    (top - KERNEL_STACK_SIZE, top)
}

/// Slot of the boot CPU's kernel stack.
pub const BOOT_CPU_STACK_SLOT: u64 = 0;

/// Exception stack `n` of the boot CPU (x86_64 IST stacks, the AArch64 and RISC-V emergency
/// stack for kernel stack overflows): slots right after the kernel stack, so they have guard
/// regions too. `arch::EXCEPTION_STACKS` says how many an architecture uses.
pub const fn exception_stack(n: u64) -> (u64, u64) {
    kernel_stack(BOOT_CPU_STACK_SLOT + 1 + n)
}

/// True when `addr` lies in the guard region of some kernel stack slot, or in the guard page
/// below the boot stack.
pub fn is_stack_guard(addr: u64) -> bool {
    let boot_guard = image().boot_stack_guard;
    if (boot_guard..boot_guard + kernel_core::addr::PAGE_SIZE).contains(&addr) {
        return true;
    }
    let area = KERNEL_STACKS_BASE..KERNEL_STACKS_BASE + KERNEL_STACK_SLOTS * KERNEL_STACK_SLOT;
    area.contains(&addr) && (addr - KERNEL_STACKS_BASE) % KERNEL_STACK_SLOT < KERNEL_STACK_SLOT - KERNEL_STACK_SIZE
}

// Linker-script symbols (every `link/<arch>.ld` defines them, page-aligned). All are
// upper-half (virtual) addresses so that code in the upper half can reach them whatever the
// code model: `__kernel_image_start/__kernel_image_end` are the physical span of the whole
// image (`.boot` to the end of `.bss`) plus `arch::KERNEL_OFFSET`. `__boot_stack_guard` is
// the page right below the boot stack (inside `.bss`), which the final tables leave unmapped.
unsafe extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __data_end: u8;
    static __kernel_image_start: u8;
    static __kernel_image_end: u8;
    static __boot_stack_guard: u8;
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
    /// The unmapped page below the boot stack (virtual, inside `data`).
    pub boot_stack_guard: u64,
}

/// The image layout.
pub fn image() -> ImageLayout {
    // Only the addresses of these linker-defined symbols are used, never their contents.
    let offset = crate::arch::KERNEL_OFFSET;
    ImageLayout {
        text: (&raw const __text_start as u64, &raw const __text_end as u64),
        rodata: (&raw const __rodata_start as u64, &raw const __rodata_end as u64),
        data: (&raw const __data_start as u64, &raw const __data_end as u64),
        phys: (
            (&raw const __kernel_image_start as u64).wrapping_sub(offset),
            (&raw const __kernel_image_end as u64).wrapping_sub(offset),
        ),
        boot_stack_guard: &raw const __boot_stack_guard as u64,
    }
}

/// The physical span of the kernel image, for `BootInfo::reserve`.
pub fn image_phys_range() -> kernel_core::memmap::Range {
    let (start, end) = image().phys;
    kernel_core::memmap::Range { start, end }
}
