// SPDX-License-Identifier: AGPL-3.0-or-later
//! Timer ticks and the monotonic clock.
//!
//! The monotonic clock is derived from the architecture's free-running counter (TSC,
//! CNTVCT_EL0, the `time` CSR) with exact integer arithmetic ([`CounterClock`]), so it does not
//! drift however long the system runs and however many ticks are late or lost. The tick
//! count is separate: it says how many timer interrupts this CPU has taken.

use core::sync::atomic::{AtomicU64, Ordering};

use kernel_core::clock::CounterClock;

use crate::arch;

static COUNTER_HZ: AtomicU64 = AtomicU64::new(0);
static COUNTER_AT_START: AtomicU64 = AtomicU64::new(0);
static COUNTER_AT_ENTRY: AtomicU64 = AtomicU64::new(0);

/// Records the counter when the portable boot sequence starts (for the boot-time report).
pub fn mark_kernel_entry() {
    COUNTER_AT_ENTRY.store(arch::counter(), Ordering::Relaxed);
}

/// Nanoseconds from [`mark_kernel_entry`] to now, and from the counter's zero (machine reset
/// on QEMU) to now; `None` before the clock is started.
pub fn boot_timing() -> Option<(u64, u64)> {
    let clock = CounterClock::new(COUNTER_HZ.load(Ordering::Acquire)).ok()?;
    let now = arch::counter();
    Some((clock.elapsed_ns(COUNTER_AT_ENTRY.load(Ordering::Relaxed), now), clock.ticks_to_ns(now)))
}

/// Called by the architecture's timer interrupt handler on every tick of every CPU.
pub fn on_tick() {
    crate::smp::count_tick();
    crate::sched::on_tick();
    crate::audit::drain();
}

/// Timer interrupts taken so far by this CPU (each CPU has its own timer; the clock,
/// [`uptime_ns`], does not depend on them).
pub fn ticks() -> u64 {
    crate::smp::ticks(crate::smp::current())
}

/// Records the counter frequency and the counter value that is time zero.
pub fn start_clock(counter_hz: u64) {
    COUNTER_AT_START.store(arch::counter(), Ordering::Relaxed);
    COUNTER_HZ.store(counter_hz, Ordering::Release);
}

/// Nanoseconds since [`start_clock`] (0 before it).
pub fn uptime_ns() -> u64 {
    let hz = COUNTER_HZ.load(Ordering::Acquire);
    match CounterClock::new(hz) {
        Ok(clock) => clock.elapsed_ns(COUNTER_AT_START.load(Ordering::Relaxed), arch::counter()),
        Err(_) => 0,
    }
}
