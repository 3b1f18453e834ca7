// SPDX-License-Identifier: AGPL-3.0-or-later
//! CPU control: interrupt masking through `DAIF`, idling, stack switching, and the few
//! identification registers the other modules read.
//!
//! The kernel keeps FIQs and debug exceptions masked for good (it configures no group-0
//! interrupts and no debug events) and unmasks SError once the vector table is installed; only
//! the IRQ bit (`DAIF.I`) changes at run time.

/// Saved interrupt state: whether IRQs were unmasked (`DAIF.I` clear).
pub type IrqState = bool;

/// `DAIF.I`, the IRQ mask bit, as read through `mrs daif`.
const DAIF_I: u64 = 1 << 7;

/// Masks IRQs and returns whether they were unmasked.
pub fn irq_save() -> IrqState {
    let daif: u64;
    // SAFETY: reading DAIF and setting its I bit only masks IRQs on this CPU; no memory is
    // touched. The compiler must not move memory accesses across it (no `nomem`).
    unsafe { core::arch::asm!("mrs {0}, daif", "msr daifset, #2", out(reg) daif, options(nostack, preserves_flags)) };
    daif & DAIF_I == 0
}

/// Restores a state returned by [`irq_save`].
pub fn irq_restore(state: IrqState) {
    if state {
        enable_interrupts();
    }
}

/// Unmasks IRQs on this CPU.
pub fn enable_interrupts() {
    // SAFETY: clearing DAIF.I; the vector table is installed before any Rust code runs, and
    // the GIC only signals interrupts the kernel configured.
    unsafe { core::arch::asm!("msr daifclr, #2", "isb", options(nostack, preserves_flags)) };
}

/// Masks IRQs on this CPU.
pub fn disable_interrupts() {
    // SAFETY: setting DAIF.I only masks IRQs.
    unsafe { core::arch::asm!("msr daifset, #2", options(nostack, preserves_flags)) };
}

/// Called with IRQs masked, after the caller has checked that there is no work: sleeps until
/// an interrupt is pending, takes it, and returns with IRQs masked again.
///
/// A pending interrupt wakes `wfi` even while IRQs are masked, so one that arrived after the
/// caller's check is not lost; the `isb` after unmasking makes the CPU take it before IRQs are
/// masked again.
pub fn wait_for_interrupt() {
    // SAFETY: waiting, then unmasking and re-masking IRQs; the instructions touch no memory,
    // but the interrupt handler runs in between, so memory is not declared untouched.
    unsafe { core::arch::asm!("dsb sy", "wfi", "msr daifclr, #2", "isb", "msr daifset, #2", options(nostack)) };
}

/// Switches to the stack whose top is `top` and calls `entry` there.
pub fn switch_stack(top: u64, entry: extern "C" fn() -> !) -> ! {
    // SAFETY: `top` is the top of a mapped, unused kernel stack (16-byte aligned: slot
    // tops are 128 KiB aligned); `entry` never returns, so nothing runs on the old stack
    // again. The frame pointer and link register are cleared to end backtraces there.
    unsafe {
        core::arch::asm!(
            "mov sp, {top}",
            "mov x29, xzr",
            "mov x30, xzr",
            "br {entry}",
            top = in(reg) top,
            entry = in(reg) entry,
            options(noreturn)
        );
    }
}

/// MPIDR_EL1: this CPU's affinity (Aff3 in bits 39:32, Aff2..Aff0 in bits 23:0).
pub fn mpidr() -> u64 {
    let v: u64;
    // SAFETY: reading an identification register has no side effects.
    unsafe { core::arch::asm!("mrs {0}, mpidr_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// ID_AA64MMFR1_EL1 (memory-model features: PAN, VHE, ...).
pub fn id_aa64mmfr1() -> u64 {
    let v: u64;
    // SAFETY: reading an identification register has no side effects.
    unsafe { core::arch::asm!("mrs {0}, id_aa64mmfr1_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// ID_AA64PFR0_EL1 (processor features: GIC system registers, EL2/EL3 support, ...).
pub fn id_aa64pfr0() -> u64 {
    let v: u64;
    // SAFETY: reading an identification register has no side effects.
    unsafe { core::arch::asm!("mrs {0}, id_aa64pfr0_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}
