// SPDX-License-Identifier: AGPL-3.0-or-later
//! The periodic tick: the EL1 physical generic timer (`CNTP_*_EL0`) with absolute deadlines in
//! `CNTP_CVAL_EL0`, and the free-running counter `CNTPCT_EL0` as the monotonic clock.
//!
//! Deadlines advance by exactly one period from the previous deadline
//! (`kernel_core::clock::PeriodicDeadline`), so the tick does not drift; when interrupts were
//! blocked for several periods the missed ticks are skipped, not replayed. The counter's
//! frequency is `CNTFRQ_EL0`, which the firmware programs (62.5 MHz on QEMU `virt` with a
//! Cortex-A72): no calibration needed.
//!
//! Every CPU has its own timer and its own deadline grid (one [`PeriodicDeadline`] per
//! logical CPU, touched only by that CPU with IRQs masked): the boot CPU starts it in
//! [`init_timer`], each secondary CPU in [`init_secondary`] with the same period and PPI
//! (the counter itself is shared by all CPUs).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use kernel_boot::{BootInfo, MAX_CPUS};
use kernel_core::clock::{PeriodicDeadline, period_ticks};
use kernel_core::sync::LockClass;

use crate::arch::TimerReport;
use crate::error::KernelError;
use crate::sync::SpinLock;

/// The non-secure EL1 physical timer's private interrupt (PPI 14) on systems following the
/// Server Base System Architecture, QEMU `virt` included; used when the device tree has no
/// `arm,armv8-timer` node.
const DEFAULT_TIMER_INTID: u32 = 30;
/// CNTP_CTL_EL0.ENABLE.
const CTL_ENABLE: u64 = 1 << 0;
/// CNTP_CTL_EL0.IMASK.
const CTL_IMASK: u64 = 1 << 1;

/// Each CPU's deadlines, by logical index.
static DEADLINES: [SpinLock<Option<PeriodicDeadline>>; MAX_CPUS] =
    [const { SpinLock::new(LockClass::Timer, None) }; MAX_CPUS];
/// The tick period in counter ticks (0 until [`init_timer`]).
static PERIOD: AtomicU64 = AtomicU64::new(0);
/// The timer's private interrupt (u32::MAX until [`init_timer`]).
static INTID: AtomicU32 = AtomicU32::new(u32::MAX);

/// The free-running physical counter.
pub fn counter() -> u64 {
    let t: u64;
    // SAFETY: reading CNTPCT_EL0 has no side effects (EL1 access is allowed: the boot code
    // sets CNTHCTL_EL2 when it enters at EL2); the `isb` keeps the read from being hoisted.
    unsafe { core::arch::asm!("isb", "mrs {0}, cntpct_el0", out(reg) t, options(nomem, nostack, preserves_flags)) };
    t
}

fn frequency() -> u64 {
    let f: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {0}, cntfrq_el0", out(reg) f, options(nomem, nostack, preserves_flags)) };
    f & 0xffff_ffff
}

fn arm(deadline: u64) {
    // SAFETY: programming this CPU's physical timer: compare value, then enabled and unmasked.
    // The interrupt it raises is handled by `on_interrupt`.
    unsafe {
        core::arch::asm!(
            "msr cntp_cval_el0, {cval}",
            "msr cntp_ctl_el0, {ctl}",
            "isb",
            cval = in(reg) deadline,
            ctl = in(reg) CTL_ENABLE,
            options(nostack, preserves_flags)
        );
    }
}

fn silence() {
    // SAFETY: masking this CPU's physical timer output; nothing else changes.
    unsafe { core::arch::asm!("msr cntp_ctl_el0, {0}", "isb", in(reg) CTL_IMASK, options(nostack, preserves_flags)) };
}

/// Starts the running CPU's tick: the first deadline one `period` from now, then its PPI.
fn start(period: u64, intid: u32) -> Result<(), KernelError> {
    let deadline = PeriodicDeadline::new(counter(), period)?;
    let slot = DEADLINES.get(super::percpu::cpu_index()).ok_or(KernelError::NotInitialised("per-CPU timer"))?;
    {
        let mut slot = slot.lock();
        arm(deadline.next());
        *slot = Some(deadline);
    }
    super::gic::enable_timer_ppi(intid)
}

/// Starts the periodic tick at `hz` on the boot CPU.
pub fn init_timer(info: &BootInfo, hz: u32) -> Result<TimerReport, KernelError> {
    let counter_hz = frequency();
    if counter_hz == 0 {
        return Err(KernelError::Hardware("CNTFRQ_EL0 is zero: the firmware did not set the counter frequency"));
    }
    let period = period_ticks(counter_hz, hz)?;
    let intid = info.arm_timer.map_or(DEFAULT_TIMER_INTID, |t| t.phys_el1);
    start(period, intid)?;
    PERIOD.store(period, Ordering::Relaxed);
    INTID.store(intid, Ordering::Relaxed);
    Ok(TimerReport {
        source: match (intid, info.arm_timer.is_some()) {
            (DEFAULT_TIMER_INTID, true) => {
                "EL1 physical timer (CNTP_CVAL_EL0 deadlines, INTID 30 from the device tree)"
            }
            (DEFAULT_TIMER_INTID, false) => "EL1 physical timer (CNTP_CVAL_EL0 deadlines, default INTID 30)",
            _ => "EL1 physical timer (CNTP_CVAL_EL0 deadlines, INTID from the device tree)",
        },
        hz,
        counter_hz,
        counter: "CNTPCT_EL0",
        calibrated_against: None,
    })
}

/// Stops the running CPU's timer (a CPU that failed to start parks without ticks).
pub fn stop() {
    silence();
}

/// Starts the tick of a secondary CPU at the boot CPU's rate (IRQs masked; the first tick is
/// taken once the CPU unmasks them).
pub fn init_secondary() -> Result<(), KernelError> {
    let (period, intid) = (PERIOD.load(Ordering::Relaxed), INTID.load(Ordering::Relaxed));
    if period == 0 {
        return Err(KernelError::NotInitialised("timer"));
    }
    start(period, intid)
}

/// Timer interrupt: arm the next deadline (which lowers the level-triggered line) and count
/// the tick (an interrupt that arrives before the deadline re-arms it and is not a tick).
pub fn on_interrupt() {
    let Some(slot) = DEADLINES.get(super::percpu::cpu_index()) else {
        silence();
        return;
    };
    let next = slot.lock().as_mut().map(|d| {
        let now = counter();
        (d.is_due(now), d.advance(now).next_deadline)
    });
    match next {
        Some((due, next)) => {
            arm(next);
            if due {
                crate::time::on_tick();
            }
        }
        None => silence(),
    }
}
