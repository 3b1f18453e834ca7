// SPDX-License-Identifier: AGPL-3.0-or-later
//! Supervisor Binary Interface calls into OpenSBI (SBI specification v2.0).
//!
//! Calling convention: extension id in a7, function id in a6, arguments in a0..a5; the
//! firmware returns an error code in a0 and a value in a1.

/// Base extension (probing).
const EID_BASE: usize = 0x10;
/// Timer extension ("TIME").
pub const EID_TIME: usize = 0x5449_4D45;
/// System reset extension ("SRST").
pub const EID_SRST: usize = 0x5352_5354;
/// Hart state management extension ("HSM").
pub const EID_HSM: usize = 0x0048_534D;
/// Supervisor IPI extension ("sPI").
pub const EID_IPI: usize = 0x0073_5049;
/// Remote fence extension ("RFNC").
pub const EID_RFENCE: usize = 0x5246_4E43;
/// Legacy set_timer (SBI v0.1), used when the TIME extension is missing.
const EID_LEGACY_SET_TIMER: usize = 0x00;
/// Legacy shutdown (SBI v0.1).
const EID_LEGACY_SHUTDOWN: usize = 0x08;

/// An SBI error code (negative values of the specification).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SbiError(pub isize);

fn call(eid: usize, fid: usize, a0: usize, a1: usize) -> Result<usize, SbiError> {
    call4(eid, fid, a0, a1, 0, 0)
}

fn call3(eid: usize, fid: usize, a0: usize, a1: usize, a2: usize) -> Result<usize, SbiError> {
    call4(eid, fid, a0, a1, a2, 0)
}

fn call4(eid: usize, fid: usize, a0: usize, a1: usize, a2: usize, a3: usize) -> Result<usize, SbiError> {
    let error: isize;
    let value: usize;
    // SAFETY: `ecall` from S-mode traps into the SBI firmware, which follows the SBI calling
    // convention: it clobbers only a0/a1 (results) and preserves every other register.
    unsafe {
        core::arch::asm!(
            "ecall",
            inlateout("a0") a0 => error,
            inlateout("a1") a1 => value,
            in("a2") a2,
            in("a3") a3,
            in("a6") fid,
            in("a7") eid,
            options(nostack)
        );
    }
    if error == 0 { Ok(value) } else { Err(SbiError(error)) }
}

/// True when the firmware implements extension `eid`.
pub fn has_extension(eid: usize) -> bool {
    matches!(call(EID_BASE, 3, eid, 0), Ok(v) if v != 0)
}

/// Programs the next timer interrupt at absolute `time` counter value (clears the pending one).
pub fn set_timer(time: u64, use_legacy: bool) -> Result<(), SbiError> {
    if use_legacy {
        // The legacy call returns nothing meaningful in a0.
        let _ = call(EID_LEGACY_SET_TIMER, 0, time as usize, 0);
        Ok(())
    } else {
        call(EID_TIME, 0, time as usize, 0).map(|_| ())
    }
}

/// Starts the stopped hart `hart` in S-mode at physical address `start` with the MMU off,
/// a0 = its hart id and a1 = `opaque` (HSM `hart_start`).
pub fn hart_start(hart: u64, start: u64, opaque: u64) -> Result<(), SbiError> {
    call3(EID_HSM, 0, hart as usize, start as usize, opaque as usize).map(|_| ())
}

/// A set of harts in the SBI encoding: bit `i` of `mask` names hart `base + i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HartMask {
    /// The harts, relative to `base`.
    pub mask: u64,
    /// The hart id of bit 0.
    pub base: u64,
}

/// Sends a supervisor software interrupt to the harts in `harts` (IPI extension `send_ipi`).
pub fn send_ipi(harts: HartMask) -> Result<(), SbiError> {
    call(EID_IPI, 0, harts.mask as usize, harts.base as usize).map(|_| ())
}

/// Makes the harts in `harts` execute `sfence.vma` for `[start, start + size)` (RFENCE
/// `remote_sfence_vma`; `start` = `size` = 0 is the whole address space). OpenSBI returns only
/// after every target hart has executed the fence (see `user.rs` for the ordering rule).
pub fn remote_sfence_vma(harts: HartMask, start: u64, size: u64) -> Result<(), SbiError> {
    call4(EID_RFENCE, 1, harts.mask as usize, harts.base as usize, start as usize, size as usize).map(|_| ())
}

/// Why the system is being reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetReason {
    /// Normal shutdown.
    None = 0,
    /// Shutdown after a failure.
    Failure = 1,
}

/// Resets the machine (SRST cold reboot). Returns only if the firmware refused.
pub fn reboot() {
    let _ = call(EID_SRST, 0, 1, ResetReason::None as usize);
}

/// Powers the machine off. Returns only if the firmware refused.
pub fn shutdown(reason: ResetReason) {
    let _ = call(EID_SRST, 0, 0, reason as usize);
    let _ = call(EID_LEGACY_SHUTDOWN, 0, 0, 0);
}
