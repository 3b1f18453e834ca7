// SPDX-License-Identifier: AGPL-3.0-or-later
//! The periodic tick: SBI `set_timer` deadlines on the `time` CSR.
//!
//! Deadlines are absolute and advance by exactly one period from the previous deadline
//! (`kernel_core::clock::PeriodicDeadline`), so the tick does not drift; if interrupts were
//! blocked for several periods the missed ticks are skipped, not replayed.

use core::sync::atomic::{AtomicBool, Ordering};

use kernel_boot::BootInfo;
use kernel_core::clock::{PeriodicDeadline, period_ticks};

use super::sbi;
use crate::arch::TimerReport;
use crate::error::KernelError;
use crate::sync::SpinLock;

static DEADLINE: SpinLock<Option<PeriodicDeadline>> = SpinLock::new(kernel_core::sync::LockClass::Timer, None);
static LEGACY: AtomicBool = AtomicBool::new(false);

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
    let deadline = PeriodicDeadline::new(counter(), period)?;
    sbi::set_timer(deadline.next(), legacy).map_err(|_| KernelError::Hardware("SBI set_timer failed"))?;
    *DEADLINE.lock() = Some(deadline);
    // SAFETY: enabling supervisor timer interrupts in `sie`; the handler is installed.
    unsafe { core::arch::asm!("csrs sie, {0}", in(reg) 1u64 << 5, options(nostack)) };
    Ok(TimerReport {
        source: if legacy { "SBI v0.1 set_timer" } else { "SBI TIME set_timer" },
        hz,
        counter_hz,
        counter: "time CSR",
        calibrated_against: None,
    })
}

/// Supervisor timer interrupt: arm the next deadline and count the tick. An interrupt that
/// arrives before the deadline (possible after a late re-arm) is re-armed, not counted.
pub fn on_interrupt() {
    let now = counter();
    let (next, due) = match DEADLINE.lock().as_mut() {
        Some(d) if d.is_due(now) => (d.advance(now).next_deadline, true),
        Some(d) => (d.next(), false),
        // No periodic deadline: silence the timer (u64::MAX is "never").
        None => (u64::MAX, false),
    };
    let _ = sbi::set_timer(next, LEGACY.load(Ordering::Relaxed));
    if due {
        crate::time::on_tick();
    }
}
