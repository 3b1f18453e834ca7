// SPDX-License-Identifier: AGPL-3.0-or-later
//! The periodic tick: SBI `set_timer` deadlines on the `time` CSR.
//!
//! Deadlines are absolute and advance by exactly one period from the previous deadline
//! (`kernel_core::clock::PeriodicDeadline`), so the tick does not drift; if interrupts were
//! blocked for several periods the missed ticks are skipped, not replayed.
//!
//! Every hart has its own timer (SBI `set_timer` programs the calling hart's) and its own
//! deadline; secondary harts arm theirs at the boot hart's period ([`start_secondary`]).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel_boot::{BootInfo, MAX_CPUS};
use kernel_core::clock::{PeriodicDeadline, period_ticks};

use super::sbi;
use crate::arch::TimerReport;
use crate::error::KernelError;
use crate::sync::SpinLock;

#[allow(clippy::declare_interior_mutable_const)]
const NO_DEADLINE: SpinLock<Option<PeriodicDeadline>> = SpinLock::new(kernel_core::sync::LockClass::Timer, None);
/// Each hart's deadline, by logical CPU index (only that hart takes its lock).
static DEADLINES: [SpinLock<Option<PeriodicDeadline>>; MAX_CPUS] = [NO_DEADLINE; MAX_CPUS];
static LEGACY: AtomicBool = AtomicBool::new(false);
/// The tick period in `time` counter ticks (0 until `init_timer`).
static PERIOD: AtomicU64 = AtomicU64::new(0);

/// This hart's deadline.
fn deadline() -> Option<&'static SpinLock<Option<PeriodicDeadline>>> {
    DEADLINES.get(super::cpu_index())
}

/// The free-running `time` counter.
pub fn counter() -> u64 {
    let t: u64;
    // SAFETY: reading the `time` CSR has no side effects.
    unsafe { core::arch::asm!("rdtime {0}", out(reg) t, options(nomem, nostack)) };
    t
}

/// Starts the periodic tick at `hz`.
pub fn init_timer(info: &BootInfo, hz: u32) -> Result<TimerReport, KernelError> {
    let counter_hz = info.timebase_hz.ok_or(KernelError::Hardware("no /cpus timebase-frequency in the device tree"))?;
    let period = period_ticks(counter_hz, hz)?;
    let legacy = !sbi::has_extension(sbi::EID_TIME);
    LEGACY.store(legacy, Ordering::Relaxed);
    PERIOD.store(period, Ordering::Relaxed);
    arm(period)?;
    Ok(TimerReport {
        source: if legacy { "SBI v0.1 set_timer" } else { "SBI TIME set_timer" },
        hz,
        counter_hz,
        counter: "time CSR",
        calibrated_against: None,
    })
}

/// Starts this hart's periodic tick at the boot hart's period (interrupts masked: the first
/// tick is taken once the hart enables them).
pub(super) fn start_secondary() -> Result<(), KernelError> {
    match PERIOD.load(Ordering::Relaxed) {
        0 => Err(KernelError::NotInitialised("timer")),
        period => arm(period),
    }
}

/// Arms this hart's first deadline one period from now and enables its timer interrupt.
fn arm(period: u64) -> Result<(), KernelError> {
    let slot = deadline().ok_or(KernelError::Hardware("CPU index out of range"))?;
    let next = PeriodicDeadline::new(counter(), period)?;
    sbi::set_timer(next.next(), LEGACY.load(Ordering::Relaxed))
        .map_err(|_| KernelError::Hardware("SBI set_timer failed"))?;
    *slot.lock() = Some(next);
    // SAFETY: enabling supervisor timer interrupts in `sie`; the handler is installed.
    unsafe { core::arch::asm!("csrs sie, {0}", in(reg) 1u64 << 5, options(nostack)) };
    Ok(())
}

/// Supervisor timer interrupt: arm the next deadline and count the tick. An interrupt that
/// arrives before the deadline (possible after a late re-arm) is re-armed, not counted.
pub fn on_interrupt() {
    let now = counter();
    let mut guard = deadline().map(|d| d.lock());
    let (next, due) = match guard.as_mut().and_then(|g| g.as_mut()) {
        Some(d) if d.is_due(now) => (d.advance(now).next_deadline, true),
        Some(d) => (d.next(), false),
        // No periodic deadline: silence the timer (u64::MAX is "never").
        None => (u64::MAX, false),
    };
    drop(guard);
    let _ = sbi::set_timer(next, LEGACY.load(Ordering::Relaxed));
    if due {
        crate::time::on_tick();
    }
}
