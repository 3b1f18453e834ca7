// SPDX-License-Identifier: MPL-2.0
//! AArch64: the `svc #0` instruction and the process entry point.
//!
//! Number in `x8`, arguments in `x0`-`x5`, result in `x0`; nothing else is clobbered.

use core::arch::{asm, naked_asm};

/// Traps with no argument.
///
/// # Safety
/// The syscall `n` must not take arguments whose meaning makes it unsound (pointers to memory the
/// kernel will write, for example); see [`crate::raw`].
#[inline(always)]
pub unsafe fn syscall0(n: u64) -> u64 {
    let ret: u64;
    // SAFETY: `svc #0` only transfers to the kernel, which preserves every register but x0 (the
    // result) and does not use the user stack. The caller answers for the arguments.
    unsafe { asm!("svc #0", in("x8") n, lateout("x0") ret, options(nostack)) };
    ret
}

/// Traps with one argument.
///
/// # Safety
/// As [`syscall0`].
#[inline(always)]
pub unsafe fn syscall1(n: u64, a0: u64) -> u64 {
    let ret: u64;
    // SAFETY: as in `syscall0`.
    unsafe { asm!("svc #0", in("x8") n, inlateout("x0") a0 => ret, options(nostack)) };
    ret
}

/// Traps with two arguments.
///
/// # Safety
/// As [`syscall0`].
#[inline(always)]
pub unsafe fn syscall2(n: u64, a0: u64, a1: u64) -> u64 {
    let ret: u64;
    // SAFETY: as in `syscall0`.
    unsafe { asm!("svc #0", in("x8") n, inlateout("x0") a0 => ret, in("x1") a1, options(nostack)) };
    ret
}

/// Traps with three arguments.
///
/// # Safety
/// As [`syscall0`].
#[inline(always)]
pub unsafe fn syscall3(n: u64, a0: u64, a1: u64, a2: u64) -> u64 {
    let ret: u64;
    // SAFETY: as in `syscall0`.
    unsafe { asm!("svc #0", in("x8") n, inlateout("x0") a0 => ret, in("x1") a1, in("x2") a2, options(nostack)) };
    ret
}

/// Traps with four arguments.
///
/// # Safety
/// As [`syscall0`].
#[inline(always)]
pub unsafe fn syscall4(n: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    let ret: u64;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!(
            "svc #0",
            in("x8") n,
            inlateout("x0") a0 => ret,
            in("x1") a1,
            in("x2") a2,
            in("x3") a3,
            options(nostack)
        )
    };
    ret
}

/// Traps with five arguments.
///
/// # Safety
/// As [`syscall0`].
#[inline(always)]
pub unsafe fn syscall5(n: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64) -> u64 {
    let ret: u64;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!(
            "svc #0",
            in("x8") n,
            inlateout("x0") a0 => ret,
            in("x1") a1,
            in("x2") a2,
            in("x3") a3,
            in("x4") a4,
            options(nostack)
        )
    };
    ret
}

/// Traps with six arguments.
///
/// # Safety
/// As [`syscall0`].
#[inline(always)]
pub unsafe fn syscall6(n: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> u64 {
    let ret: u64;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!(
            "svc #0",
            in("x8") n,
            inlateout("x0") a0 => ret,
            in("x1") a1,
            in("x2") a2,
            in("x3") a3,
            in("x4") a4,
            in("x5") a5,
            options(nostack)
        )
    };
    ret
}

/// The process entry point. The kernel enters here with `sp` = `USER_STACK_TOP` (16-byte
/// aligned, as AAPCS64 requires at all times) and every other register zero. The frame pointer
/// (`x29`) and link register (`x30`) are zeroed again so a frame-pointer walk ends here.
#[unsafe(naked)]
#[unsafe(no_mangle)]
#[unsafe(link_section = ".text._start")]
unsafe extern "C" fn _start() -> ! {
    naked_asm!("mov x29, xzr", "mov x30, xzr", "bl {start}", "udf #0", start = sym crate::rt::start)
}
