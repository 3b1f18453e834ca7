// SPDX-License-Identifier: AGPL-3.0-or-later
//! CPU control: interrupt masking (`sstatus.SIE`), idling, stack switching and power-off.

use cambios_abi::exit::ExitCode;

use super::sbi;

/// Saved interrupt state: whether `sstatus.SIE` was set.
pub type IrqState = bool;

const SSTATUS_SIE: u64 = 1 << 1;

/// Disables interrupts and returns whether they were enabled.
pub fn irq_save() -> IrqState {
    let old: u64;
    // SAFETY: clearing sstatus.SIE only masks interrupts on this hart.
    unsafe { core::arch::asm!("csrrci {0}, sstatus, 2", out(reg) old, options(nostack)) };
    old & SSTATUS_SIE != 0
}

/// Restores a state returned by [`irq_save`].
pub fn irq_restore(state: IrqState) {
    if state {
        enable_interrupts();
    }
}

/// Enables interrupts on this hart.
pub fn enable_interrupts() {
    // SAFETY: setting sstatus.SIE; the trap vector is installed before Rust code runs.
    unsafe { core::arch::asm!("csrsi sstatus, 2", options(nostack)) };
}

/// Disables interrupts on this hart.
pub fn disable_interrupts() {
    // SAFETY: clearing sstatus.SIE only masks interrupts.
    unsafe { core::arch::asm!("csrci sstatus, 2", options(nostack)) };
}

/// Called with interrupts masked, after the caller has checked that there is no work: sleeps
/// until an interrupt is pending, takes it, and returns with interrupts masked again. `wfi`
/// wakes on a pending enabled interrupt even while `sstatus.SIE` is clear, so one that
/// arrived after the caller's check is not lost.
pub fn wait_for_interrupt() {
    // SAFETY: waiting, then unmasking (the pending interrupt is taken here) and re-masking;
    // the handler may change memory, so memory is not declared untouched.
    unsafe { core::arch::asm!("wfi", "csrsi sstatus, 2", "csrci sstatus, 2", options(nostack)) };
}

/// Stops this hart for good.
pub fn halt() -> ! {
    disable_interrupts();
    loop {
        // SAFETY: waiting for an interrupt that, with SIE clear, is never taken.
        unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
    }
}

/// Powers the machine off through SBI system reset, reporting a failure reason when `code`
/// is not success. Halts if the firmware refuses.
pub fn exit(code: ExitCode) -> ! {
    let reason = match code {
        ExitCode::Success => sbi::ResetReason::None,
        ExitCode::Failure => sbi::ResetReason::Failure,
    };
    sbi::shutdown(reason);
    halt()
}

/// Reboots the machine through SBI SRST (QEMU with `-no-reboot` exits instead); halts if the
/// firmware refuses.
pub fn reboot() -> ! {
    disable_interrupts();
    sbi::reboot();
    halt()
}

/// Switches to the stack whose top is `top` and calls `entry` there.
pub fn switch_stack(top: u64, entry: extern "C" fn() -> !) -> ! {
    // SAFETY: `top` is the top of a mapped, unused kernel stack (16-byte aligned); `entry`
    // never returns, so nothing ever runs on the old stack again.
    unsafe {
        core::arch::asm!("mv sp, {0}", "li ra, 0", "jr {1}", in(reg) top, in(reg) entry, options(noreturn));
    }
}

/// Loads from `addr` (the fault self-test uses an address that is never mapped).
#[cfg(feature = "selftest")]
pub fn trigger_test_fault(addr: u64) {
    // SAFETY: a deliberate load from an unmapped address: the trap handler reports the fault
    // and stops the machine; no memory is changed.
    unsafe { core::arch::asm!("ld {0}, 0({0})", inout(reg) addr => _, options(nostack, readonly)) };
}

/// Stores a zero byte at `addr` (the W^X self-test aims it at read-only kernel text).
#[cfg(feature = "selftest")]
pub fn trigger_test_store(addr: u64) {
    // SAFETY: a deliberate store to a page mapped without W: the store page fault is reported
    // and the machine stops, so the byte is never written.
    unsafe { core::arch::asm!("sb zero, 0({0})", in(reg) addr, options(nostack)) };
}

/// Calls the code at `addr` (the W^X self-test aims it at non-executable data).
#[cfg(feature = "selftest")]
pub fn trigger_test_execute(addr: u64) {
    // SAFETY: a deliberate call into a page mapped without X: the instruction page fault is
    // reported and the machine stops. Should that fail, the page holds `RETURN_INSTRUCTION`,
    // so the call returns; `ra` and every caller-saved register are declared clobbered.
    unsafe { core::arch::asm!("jalr ra, 0({0})", in(reg) addr, clobber_abi("C"), options(nostack)) };
}

/// A return instruction (`ret` = `jalr x0, 0(ra)`, little-endian), for the execute probe.
#[cfg(feature = "selftest")]
pub const RETURN_INSTRUCTION: &[u8] = &[0x67, 0x80, 0x00, 0x00];
