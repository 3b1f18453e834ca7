// SPDX-License-Identifier: MPL-2.0
//! x86_64: the `syscall` instruction and the process entry point.
//!
//! Number in `rax`, arguments in `rdi rsi rdx r10 r8 r9`, result in `rax`; the CPU overwrites
//! `rcx` (return address) and `r11` (saved flags). The kernel switches to its own stack, so the
//! user stack is untouched.

use core::arch::{asm, naked_asm};

/// Traps with no argument.
///
/// # Safety
/// The syscall `n` must not take arguments whose meaning makes it unsound (pointers to memory the
/// kernel will write, for example); see [`crate::raw`].
#[inline(always)]
pub unsafe fn syscall0(n: u64) -> u64 {
    let ret: u64;
    // SAFETY: `syscall` only transfers to the kernel, which preserves every register but rax
    // (result), rcx and r11 (declared clobbered) and does not use the user stack. The caller
    // answers for what the kernel does with the arguments.
    unsafe { asm!("syscall", inlateout("rax") n => ret, out("rcx") _, out("r11") _, options(nostack)) };
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
    unsafe { asm!("syscall", inlateout("rax") n => ret, in("rdi") a0, out("rcx") _, out("r11") _, options(nostack)) };
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
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n => ret,
            in("rdi") a0,
            in("rsi") a1,
            out("rcx") _,
            out("r11") _,
            options(nostack)
        )
    };
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
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n => ret,
            in("rdi") a0,
            in("rsi") a1,
            in("rdx") a2,
            out("rcx") _,
            out("r11") _,
            options(nostack)
        )
    };
    ret
}

/// Traps with four arguments (the fourth goes in `r10`: `syscall` uses `rcx`).
///
/// # Safety
/// As [`syscall0`].
#[inline(always)]
pub unsafe fn syscall4(n: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    let ret: u64;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n => ret,
            in("rdi") a0,
            in("rsi") a1,
            in("rdx") a2,
            in("r10") a3,
            out("rcx") _,
            out("r11") _,
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
            "syscall",
            inlateout("rax") n => ret,
            in("rdi") a0,
            in("rsi") a1,
            in("rdx") a2,
            in("r10") a3,
            in("r8") a4,
            out("rcx") _,
            out("r11") _,
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
            "syscall",
            inlateout("rax") n => ret,
            in("rdi") a0,
            in("rsi") a1,
            in("rdx") a2,
            in("r10") a3,
            in("r8") a4,
            in("r9") a5,
            out("rcx") _,
            out("r11") _,
            options(nostack)
        )
    };
    ret
}

/// The process entry point. The kernel enters here with `rsp` = `USER_STACK_TOP` (16-byte
/// aligned, nothing pushed) and every other register zero. `rbp` is zeroed again to end
/// frame-pointer walks; the `call` pushes a return address, which leaves `rsp` 8 modulo 16 at
/// the callee's first instruction, exactly as the System V ABI requires.
#[unsafe(naked)]
#[unsafe(no_mangle)]
#[unsafe(link_section = ".text._start")]
unsafe extern "C" fn _start() -> ! {
    naked_asm!("xor ebp, ebp", "call {start}", "ud2", start = sym crate::rt::start)
}
