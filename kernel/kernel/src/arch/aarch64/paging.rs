// SPDX-License-Identifier: AGPL-3.0-or-later
//! The aarch64 kernel address space: stage 1, 4 KiB granule, 48-bit virtual addresses.
//!
//! | region | address | translated by |
//! |---|---|---|
//! | lower half (user space) | `0x0000_0000_0000_0000`... | TTBR0_EL1: the running process's tree (`user.rs`); walks disabled (`TCR_EL1.EPD0`) after [`init_paging`] and whenever no process runs |
//! | direct map of physical memory | `0xffff_0000_0000_0000` + phys | TTBR1_EL1 |
//! | kernel stacks (guarded) | `0xffff_ffff_0000_0000` | TTBR1_EL1 |
//! | kernel image | `0xffff_ffff_8020_0000` = physical `0x4020_0000` + [`KERNEL_OFFSET`] | TTBR1_EL1 |
//!
//! The boot code (`entry.rs`) starts with early tables: TTBR0 identity-maps the first
//! 512 GiB and TTBR1 maps the same 512 GiB at the direct-map base (one shared level-1 table of
//! 1 GiB blocks: the first GiB, QEMU `virt`'s peripherals, as Device-nGnRE, the rest Normal)
//! plus the kernel window. [`init_paging`] replaces TTBR1 with the tables that
//! `memory::build_kernel_space` builds, disables lower-half walks, and turns on the extra
//! protections the CPU has.
//!
//! Replacing TTBR1 while running from TTBR1 would briefly let old 1 GiB block entries and new
//! 4 KiB entries for the same addresses coexist in the TLB (a TLB conflict on real hardware).
//! The replacement therefore runs from the identity map (`aarch64_replace_ttbr1` in `.boot`):
//! disable TTBR1 walks, invalidate the TLB, install the new root, re-enable (break before make).

use kernel_boot::{BootInfo, InterruptController};
use kernel_core::memmap::Range;
use kernel_core::paging::MapAttrs;
use kernel_core::paging::aarch64::Aarch64;

use crate::arch::PagingReport;
use crate::error::KernelError;
use crate::memory::{FrameAllocator, Window, build_kernel_space};

/// Virtual minus physical address of the kernel image.
pub const KERNEL_OFFSET: u64 = 0xffff_ffff_4000_0000;
/// Physical memory below this is reachable through the direct map before `init_paging`
/// (the early level-1 table of 512 1 GiB blocks).
pub const EARLY_MAP_LIMIT: u64 = 512 << 30;
/// Base of the direct map (the lowest TTBR1 address with T1SZ = 16).
const HHDM_BASE: u64 = 0xffff_0000_0000_0000;

/// TCR_EL1.EPD0: no translation-table walks for TTBR0 (lower-half accesses fault).
pub(super) const TCR_EPD0: u64 = 1 << 7;
/// TCR_EL1.EPD1: no translation-table walks for TTBR1.
const TCR_EPD1: u64 = 1 << 23;
/// SCTLR_EL1.WXN: writable memory is never executable (enforced by the MMU on top of W^X).
pub(super) const SCTLR_WXN: u64 = 1 << 19;
/// SCTLR_EL1.SPAN: when clear, taking an exception to EL1 sets PSTATE.PAN.
const SCTLR_SPAN: u64 = 1 << 23;
/// PSTATE.PAN as seen through the PAN system register.
pub(super) const PSTATE_PAN: u64 = 1 << 22;

// The TTBR1 replacement, run from the identity map: x0 = new TTBR1, x1 = TCR_EL1 with EPD1
// set, x2 = the final TCR_EL1. Touches no memory (the stack is in TTBR1).
core::arch::global_asm!(
    r#"
    .section .boot.text, "ax"
    .balign 4
    .global aarch64_replace_ttbr1
aarch64_replace_ttbr1:
    dsb ishst
    msr tcr_el1, x1
    isb
    tlbi vmalle1
    dsb nsh
    isb
    msr ttbr1_el1, x0
    msr tcr_el1, x2
    isb
    ret
"#
);

/// Base of the direct map of physical memory.
pub const fn hhdm_base() -> u64 {
    HHDM_BASE
}

/// TCR_EL1.
pub(super) fn read_tcr() -> u64 {
    let v: u64;
    // SAFETY: reading TCR_EL1 has no side effects.
    unsafe { core::arch::asm!("mrs {0}, tcr_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

pub(super) fn read_sctlr() -> u64 {
    let v: u64;
    // SAFETY: reading SCTLR_EL1 has no side effects.
    unsafe { core::arch::asm!("mrs {0}, sctlr_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Builds the final kernel address space and switches to it.
pub fn init_paging(info: &BootInfo, frames: &mut FrameAllocator) -> Result<PagingReport, KernelError> {
    // The direct map must end below the kernel stacks.
    if let Some(span) = info.memory.span()
        && span.end > crate::layout::KERNEL_STACKS_BASE - HHDM_BASE
    {
        return Err(KernelError::AddressSpace("RAM above 0xffff00000000 does not fit the direct map"));
    }
    let device = |range: Range| Window { range, attrs: MapAttrs::KERNEL_DEVICE };
    let mut windows =
        [device(Range::from_len(super::uart::base(), 0x1000)), device(Range::default()), device(Range::default())];
    match info.interrupt_controller {
        InterruptController::GicV3 { distributor, redistributor } => {
            windows[1] = device(distributor);
            windows[2] = device(redistributor);
        }
        InterruptController::GicV2 { distributor, cpu_interface } => {
            windows[1] = device(distributor);
            windows[2] = device(cpu_interface);
        }
        InterruptController::Unknown | InterruptController::Plic { .. } => {}
    }
    let space = build_kernel_space::<Aarch64>(info, frames, HHDM_BASE, &windows)?;

    let tcr = read_tcr() & !(TCR_EPD0 | TCR_EPD1);
    // SAFETY: `aarch64_replace_ttbr1` lives in `.boot`, which the early TTBR0 identity map
    // still maps (executable) at its physical address, the address the absolute relocation
    // yields. It touches no memory and returns through x30 to this code, which the new tables
    // map at the same virtual address (the kernel image, the boot stack in `.bss`, the direct
    // map and the device windows all keep their addresses). IRQs are masked during the boot.
    unsafe {
        core::arch::asm!(
            "movz {f}, #:abs_g3:aarch64_replace_ttbr1",
            "movk {f}, #:abs_g2_nc:aarch64_replace_ttbr1",
            "movk {f}, #:abs_g1_nc:aarch64_replace_ttbr1",
            "movk {f}, #:abs_g0_nc:aarch64_replace_ttbr1",
            "blr {f}",
            f = out(reg) _,
            in("x0") space.root.as_u64(),
            in("x1") tcr | TCR_EPD1,
            in("x2") tcr,
            out("x30") _,
            options(nostack)
        );
    }

    // The lower half is user space: empty until it exists. Disable TTBR0 walks (the early
    // identity map is gone with them), then turn on the extra protections.
    let pan = (super::cpu::id_aa64mmfr1() >> 20) & 0xf != 0;
    let mut sctlr = read_sctlr() | SCTLR_WXN;
    if pan {
        sctlr &= !SCTLR_SPAN;
    }
    // SAFETY: no code or data the kernel uses from now on lives in the lower half; WXN only
    // forbids executing writable pages, and the kernel's tables never map a page writable and
    // executable; PAN only forbids kernel access to EL0-accessible pages, of which there are
    // none. The TLB invalidation drops the identity entries and any entry cached under the old
    // WXN setting.
    unsafe {
        core::arch::asm!(
            "msr tcr_el1, {tcr}",
            "msr sctlr_el1, {sctlr}",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            tcr = in(reg) tcr | TCR_EPD0,
            sctlr = in(reg) sctlr,
            options(nostack, preserves_flags)
        );
    }
    if pan {
        // SAFETY: setting PSTATE.PAN (generic encoding of the PAN register, S3_0_C4_C2_3,
        // for assemblers without the ARMv8.1 name); see above.
        unsafe {
            core::arch::asm!("msr s3_0_c4_c2_3, {0}", "isb", in(reg) PSTATE_PAN, options(nostack, preserves_flags));
        }
    }
    Ok(PagingReport {
        format: <Aarch64 as kernel_core::paging::PageTableFormat>::NAME,
        hhdm_base: HHDM_BASE,
        table_frames: space.table_frames,
        protections: if pan {
            "PXN/UXN, WXN, PAN, lower half disabled (EPD0)"
        } else {
            "PXN/UXN, WXN, lower half disabled (EPD0); no PAN on this CPU"
        },
    })
}
