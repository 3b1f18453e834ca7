// SPDX-License-Identifier: MPL-2.0
//! RISC-V (RV64GC): the `ecall` instruction and the process entry point.
//!
//! Number in `a7`, arguments in `a0`-`a5`, result in `a0`; nothing else is clobbered.

use core::arch::{asm, naked_asm};

/// Traps with no argument.
///
/// # Safety
/// The syscall `n` must not take arguments whose meaning makes it unsound (pointers to memory the
/// kernel will write, for example); see [`crate::raw`].
#[inline(always)]
pub unsafe fn syscall0(n: u64) -> u64 {
    let ret: u64;
    // SAFETY: `ecall` only transfers to the kernel, which preserves every register but a0 (the
    // result) and does not use the user stack. The caller answers for the arguments.
    unsafe { asm!("ecall", in("a7") n, lateout("a0") ret, options(nostack)) };
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
    unsafe { asm!("ecall", in("a7") n, inlateout("a0") a0 => ret, options(nostack)) };
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
    unsafe { asm!("ecall", in("a7") n, inlateout("a0") a0 => ret, in("a1") a1, options(nostack)) };
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
    unsafe { asm!("ecall", in("a7") n, inlateout("a0") a0 => ret, in("a1") a1, in("a2") a2, options(nostack)) };
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
            "ecall",
            in("a7") n,
            inlateout("a0") a0 => ret,
            in("a1") a1,
            in("a2") a2,
            in("a3") a3,
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
            "ecall",
            in("a7") n,
            inlateout("a0") a0 => ret,
            in("a1") a1,
            in("a2") a2,
            in("a3") a3,
            in("a4") a4,
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
            "ecall",
            in("a7") n,
            inlateout("a0") a0 => ret,
            in("a1") a1,
            in("a2") a2,
            in("a3") a3,
            in("a4") a4,
            in("a5") a5,
            options(nostack)
        )
    };
    ret
}

/// The process entry point. The kernel enters here with `sp` = `USER_STACK_TOP` (16-byte
/// aligned, as the psABI requires) and every other register zero. The frame pointer (`s0`) and
/// return address are zeroed again so a frame-pointer walk ends here. `gp` is not used: the
/// linker script defines no `__global_pointer$`, so nothing is relaxed against it.
#[unsafe(naked)]
#[unsafe(no_mangle)]
#[unsafe(link_section = ".text._start")]
unsafe extern "C" fn _start() -> ! {
    naked_asm!("mv s0, zero", "mv ra, zero", "call {start}", "unimp", start = sym crate::rt::start)
}
