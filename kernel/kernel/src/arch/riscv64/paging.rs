// SPDX-License-Identifier: AGPL-3.0-or-later
//! The riscv64 kernel address space: Sv48 when the hart has it, Sv39 otherwise.
//!
//! | region | Sv48 | Sv39 |
//! |---|---|---|
//! | direct map of physical memory | `0xffff_8000_0000_0000` | `0xffff_ffc0_0000_0000` (at most 252 GiB) |
//! | kernel stacks (guarded) | `0xffff_ffff_0000_0000` | same |
//! | kernel image | `0xffff_ffff_8020_0000` = physical `0x8020_0000` + `KERNEL_OFFSET` | same |
//!
//! The supervisor may not touch user pages while `sstatus.SUM` is clear, which it always is:
//! user memory is copied through the direct map (`crate::usercopy`). User roots share the
//! kernel half by copying root entries 256..512 (`user.rs`).

use core::sync::atomic::{AtomicU8, Ordering};

use kernel_boot::{BootInfo, InterruptController};
use kernel_core::memmap::Range;
use kernel_core::paging::MapAttrs;
use kernel_core::paging::riscv::{SATP_MODE_SV39, SATP_MODE_SV48, Sv39, Sv48};

use crate::arch::PagingReport;
use crate::error::KernelError;
use crate::memory::{FrameAllocator, Window, build_kernel_space};

/// Virtual minus physical address of the kernel image.
pub const KERNEL_OFFSET: u64 = 0xffff_ffff_0000_0000;
/// Physical memory below this is reachable through the direct map before `init_paging`
/// (the early tables map 252 GiB in Sv39, 512 GiB in Sv48; in Sv39 the kernel stacks start right above 252 GiB of direct map).
pub const EARLY_MAP_LIMIT: u64 = 252 << 30;

const HHDM_SV48: u64 = 0xffff_8000_0000_0000;
const HHDM_SV39: u64 = 0xffff_ffc0_0000_0000;

/// The paging mode the boot code selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagingMode {
    /// 48-bit virtual addresses, four levels.
    Sv48,
    /// 39-bit virtual addresses, three levels.
    Sv39,
}

static MODE: AtomicU8 = AtomicU8::new(0);

/// Records the mode `_start` enabled.
pub fn set_mode(mode: PagingMode) {
    MODE.store(mode as u8, Ordering::Relaxed);
}

/// The mode `_start` enabled (user address spaces use the same format).
pub(super) fn mode() -> PagingMode {
    if MODE.load(Ordering::Relaxed) == PagingMode::Sv39 as u8 { PagingMode::Sv39 } else { PagingMode::Sv48 }
}

/// Base of the direct map of physical memory.
pub fn hhdm_base() -> u64 {
    match mode() {
        PagingMode::Sv48 => HHDM_SV48,
        PagingMode::Sv39 => HHDM_SV39,
    }
}

/// Builds the final kernel address space and switches to it.
pub fn init_paging(info: &BootInfo, frames: &mut FrameAllocator) -> Result<PagingReport, KernelError> {
    let mut windows = [Window { range: Range::default(), attrs: MapAttrs::KERNEL_DEVICE }; 2];
    if let Some(w) = windows.get_mut(0) {
        w.range = Range::from_len(super::uart::window(), 0x1000);
    }
    if let (Some(w), InterruptController::Plic { regs, .. }) = (windows.get_mut(1), info.interrupt_controller) {
        w.range = regs;
    }
    if let Some(top) = info.memory.span().map(|s| s.end)
        && mode() == PagingMode::Sv39
        && top > EARLY_MAP_LIMIT
    {
        return Err(KernelError::AddressSpace("Sv39 direct map holds at most 252 GiB of physical addresses"));
    }
    let (space, satp_mode, format) = match mode() {
        PagingMode::Sv48 => {
            (build_kernel_space::<Sv48>(info, frames, HHDM_SV48, &windows)?, SATP_MODE_SV48, "riscv Sv48")
        }
        PagingMode::Sv39 => {
            (build_kernel_space::<Sv39>(info, frames, HHDM_SV39, &windows)?, SATP_MODE_SV39, "riscv Sv39")
        }
    };
    let satp = (satp_mode << 60) | (space.root.as_u64() >> 12);
    // SAFETY: the new tables map everything the kernel touches from here on (its image at the
    // same virtual addresses, the direct map, the device windows, the boot stack inside
    // `.bss`); the boot code's identity map is intentionally dropped.
    unsafe {
        core::arch::asm!("sfence.vma", "csrw satp, {0}", "sfence.vma", in(reg) satp, options(nostack));
    }
    Ok(PagingReport {
        format,
        hhdm_base: hhdm_base(),
        table_frames: space.table_frames,
        protections: "no-execute on data, SUM clear",
    })
}
