// SPDX-License-Identifier: MPL-2.0
//! Hosted targets (unit tests, tooling): there is no CambiOS kernel to trap into, so every raw
//! syscall fails with `UnknownSyscall`. Only the pure parts of the crate are meaningful here.

use cambios_abi::error::SysError;

const NO_KERNEL: u64 = SysError::UnknownSyscall.code() as u64;

/// Fails: no kernel.
///
/// # Safety
/// Always safe; `unsafe` only to match the bare-metal signature.
pub unsafe fn syscall0(_n: u64) -> u64 {
    NO_KERNEL
}

/// Fails: no kernel.
///
/// # Safety
/// As [`syscall0`].
pub unsafe fn syscall1(_n: u64, _a0: u64) -> u64 {
    NO_KERNEL
}

/// Fails: no kernel.
///
/// # Safety
/// As [`syscall0`].
pub unsafe fn syscall2(_n: u64, _a0: u64, _a1: u64) -> u64 {
    NO_KERNEL
}

/// Fails: no kernel.
///
/// # Safety
/// As [`syscall0`].
pub unsafe fn syscall3(_n: u64, _a0: u64, _a1: u64, _a2: u64) -> u64 {
    NO_KERNEL
}

/// Fails: no kernel.
///
/// # Safety
/// As [`syscall0`].
pub unsafe fn syscall4(_n: u64, _a0: u64, _a1: u64, _a2: u64, _a3: u64) -> u64 {
    NO_KERNEL
}

/// Fails: no kernel.
///
/// # Safety
/// As [`syscall0`].
pub unsafe fn syscall5(_n: u64, _a0: u64, _a1: u64, _a2: u64, _a3: u64, _a4: u64) -> u64 {
    NO_KERNEL
}

/// Fails: no kernel.
///
/// # Safety
/// As [`syscall0`].
pub unsafe fn syscall6(_n: u64, _a0: u64, _a1: u64, _a2: u64, _a3: u64, _a4: u64, _a5: u64) -> u64 {
    NO_KERNEL
}
