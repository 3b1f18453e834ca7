// SPDX-License-Identifier: AGPL-3.0-or-later
//! Checked copies between kernel buffers and user memory.
//!
//! The kernel never dereferences a user address: SMAP (x86_64), PAN (AArch64) and a clear
//! `sstatus.SUM` (RISC-V) stay on all the time, so any direct access would fault. Instead these
//! routines look every page of the user range up in the process's page table
//! (`kernel_core::uspace::user_chunks`), refuse unmapped, kernel, device and — for writes —
//! read-only pages, and copy through the kernel's direct map of physical memory. A bad pointer
//! is a [`SysError::BadAddress`], never a kernel fault, and nothing is copied unless the whole
//! range passes. The caller holds the process-table lock, so the page table cannot change
//! between the check and the copy.

use cambios_abi::error::SysError;
use cambios_abi::layout::{USER_END, USER_START};
use kernel_core::addr::PhysAddr;
use kernel_core::uspace::{Access, user_chunks};

use crate::{arch, layout};

/// Copies `dst.len()` bytes from user address `va` of the address space `root`.
pub fn copy_from(root: PhysAddr, va: u64, dst: &mut [u8]) -> Result<(), SysError> {
    let len = dst.len();
    let base = dst.as_mut_ptr();
    user_chunks(
        va,
        len,
        Access::Read,
        (USER_START, USER_END),
        |v| arch::user_translate(root, v),
        |phys, offset, n| {
            // SAFETY: `user_chunks` checked that `phys..phys + n` is user RAM of this address
            // space (mapped by the direct map), and `offset + n <= len`, so both ranges are in
            // bounds; kernel buffers and user frames never overlap.
            unsafe { core::ptr::copy_nonoverlapping(layout::phys_to_virt(phys), base.add(offset), n) };
        },
    )
    .map_err(|_| SysError::BadAddress)
}

/// Copies `src` to user address `va` of the address space `root`; every page must be
/// user-writable.
pub fn copy_to(root: PhysAddr, va: u64, src: &[u8]) -> Result<(), SysError> {
    user_chunks(
        va,
        src.len(),
        Access::Write,
        (USER_START, USER_END),
        |v| arch::user_translate(root, v),
        |phys, offset, n| {
            // SAFETY: as in `copy_from`, and the page is writable by the process.
            unsafe { core::ptr::copy_nonoverlapping(src.as_ptr().add(offset), layout::phys_to_virt(phys), n) };
        },
    )
    .map_err(|_| SysError::BadAddress)
}
