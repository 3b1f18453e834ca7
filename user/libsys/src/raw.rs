// SPDX-License-Identifier: MPL-2.0
//! The raw syscall trap, for code that must pass arbitrary arguments (tests that send bad
//! pointers and lengths on purpose). Everything else should use [`crate::sys`].
//!
//! `syscallN(number, args...)` returns the raw result register; [`syscall`] decodes it.

use cambios_abi::error::SysError;
use cambios_abi::syscall::decode_result;

pub use crate::arch::{syscall0, syscall1, syscall2, syscall3, syscall4, syscall5, syscall6};

/// Makes syscall `number` with six argument registers and decodes the result (`>= 0` is
/// success, negative a [`SysError`]).
///
/// # Safety
/// The kernel validates every argument, so no value can hurt the kernel; but a syscall given a
/// valid pointer may write to that memory (`get_principal`, `mem_info`) or change the address
/// space (`unmap`, `exit`) behind the compiler's back. The caller must make sure that whatever
/// the syscall does to this process's memory is sound.
pub unsafe fn syscall(number: u64, args: [u64; 6]) -> Result<u64, SysError> {
    let [a0, a1, a2, a3, a4, a5] = args;
    // SAFETY: the caller guarantees the syscall's effect on this process is sound.
    decode_result(unsafe { syscall6(number, a0, a1, a2, a3, a4, a5) })
}
