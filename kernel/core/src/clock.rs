// SPDX-License-Identifier: AGPL-3.0-or-later
//! Drift-free monotonic time from a free-running hardware counter.
//!
//! Every supported machine has a counter that ticks at a fixed rate (x86 TSC, AArch64
//! `CNTVCT_EL0`, RISC-V `time`). [`CounterClock`] turns counter values into nanoseconds from
//! the absolute count each time, in 128-bit arithmetic, so no rounding error accumulates.
//! [`PeriodicDeadline`] computes the absolute compare values for a periodic tick on one-shot
//! timers (AArch64 `CNTP_CVAL_EL0`, RISC-V SBI `set_timer`, x86 TSC deadline): each deadline
//! is the previous one plus the period, so interrupt latency never shifts the tick grid.
//! [`Calibration`] measures an unknown counter frequency against a known reference (the x86
//! PIT).

use core::fmt;

/// Nanoseconds per second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Frequency of the x86 programmable interval timer, in Hz.
pub const PIT_HZ: u64 = 1_193_182;

/// Why a clock computation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockError {
    /// A counter or reference frequency of zero (or a measured frequency that rounds to zero).
    ZeroFrequency,
    /// A tick rate of zero.
    ZeroTickRate,
    /// The tick rate is faster than the counter: the period would be under one count.
    RateTooHigh,
    /// A timer period of zero counts.
    ZeroPeriod,
    /// A timer period of 2^63 counts or more (deadlines are compared with wrapping arithmetic).
    PeriodTooLong,
    /// A calibration interval of zero reference ticks.
    ZeroInterval,
    /// The result does not fit in 64 bits.
    Overflow,
}

impl ClockError {
    /// A short human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            ClockError::ZeroFrequency => "counter frequency is zero",
            ClockError::ZeroTickRate => "tick rate is zero",
            ClockError::RateTooHigh => "tick rate faster than the counter",
            ClockError::ZeroPeriod => "timer period is zero",
            ClockError::PeriodTooLong => "timer period too long",
            ClockError::ZeroInterval => "calibration interval is zero",
            ClockError::Overflow => "clock value overflows 64 bits",
        }
    }
}

impl fmt::Display for ClockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn saturate(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// Converts counter ticks to time and back, exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterClock {
    hz: u64,
}

impl CounterClock {
    /// A clock for a counter running at `hz` ticks per second.
    pub fn new(hz: u64) -> Result<Self, ClockError> {
        if hz == 0 {
            return Err(ClockError::ZeroFrequency);
        }
        Ok(CounterClock { hz })
    }

    /// The counter frequency in Hz.
    pub fn hz(&self) -> u64 {
        self.hz
    }

    /// Nanoseconds in `ticks` counts, rounded down (saturating at `u64::MAX`, about 584 years).
    pub fn ticks_to_ns(&self, ticks: u64) -> u64 {
        saturate(ticks as u128 * NANOS_PER_SEC as u128 / self.hz as u128)
    }

    /// Counts needed to cover `ns` nanoseconds, rounded up (saturating at `u64::MAX`).
    pub fn ns_to_ticks(&self, ns: u64) -> u64 {
        saturate((ns as u128 * self.hz as u128).div_ceil(NANOS_PER_SEC as u128))
    }

    /// Nanoseconds from counter value `start` to `now`, correct across one wrap of the counter.
    pub fn elapsed_ns(&self, start: u64, now: u64) -> u64 {
        self.ticks_to_ns(now.wrapping_sub(start))
    }
}

/// Counter period of a `tick_hz` tick on a `counter_hz` counter, rounded to the nearest count.
pub fn period_ticks(counter_hz: u64, tick_hz: u32) -> Result<u64, ClockError> {
    if counter_hz == 0 {
        return Err(ClockError::ZeroFrequency);
    }
    if tick_hz == 0 {
        return Err(ClockError::ZeroTickRate);
    }
    let tick_hz = u64::from(tick_hz);
    if counter_hz < tick_hz {
        return Err(ClockError::RateTooHigh);
    }
    // counter_hz + tick_hz / 2 cannot overflow in u128; the quotient is at most counter_hz.
    Ok(saturate((counter_hz as u128 + tick_hz as u128 / 2) / tick_hz as u128))
}

/// What [`PeriodicDeadline::advance`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Advance {
    /// The compare value to program next (always after `now`).
    pub next_deadline: u64,
    /// Deadlines that were already in the past and were skipped.
    pub missed: u64,
}

/// Absolute deadlines of a periodic tick on a one-shot compare timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeriodicDeadline {
    period: u64,
    next: u64,
}

impl PeriodicDeadline {
    /// A tick every `period` counts, the first one `period` counts after `now`.
    pub fn new(now: u64, period: u64) -> Result<Self, ClockError> {
        if period == 0 {
            return Err(ClockError::ZeroPeriod);
        }
        if period > i64::MAX as u64 {
            return Err(ClockError::PeriodTooLong);
        }
        Ok(PeriodicDeadline { period, next: now.wrapping_add(period) })
    }

    /// The pending deadline (the value to program into the compare register).
    pub fn next(&self) -> u64 {
        self.next
    }

    /// The period in counts.
    pub fn period(&self) -> u64 {
        self.period
    }

    /// True when the counter value `now` has reached the pending deadline (wrap-safe: `now`
    /// is taken to be within 2^63 counts of the deadline).
    pub fn is_due(&self, now: u64) -> bool {
        (now.wrapping_sub(self.next) as i64) >= 0
    }

    /// Called from the timer interrupt at counter value `now`: moves to the next deadline on
    /// the grid `first + k * period`. Deadlines at or before `now` other than the one being
    /// serviced are skipped and counted in [`Advance::missed`], so the new deadline is always
    /// after `now`. If the pending deadline is not due yet (a spurious interrupt), nothing
    /// changes and the pending deadline is returned with `missed == 0`.
    pub fn advance(&mut self, now: u64) -> Advance {
        if !self.is_due(now) {
            return Advance { next_deadline: self.next, missed: 0 };
        }
        let late = now.wrapping_sub(self.next);
        let missed = late / self.period;
        // (missed + 1) * period <= late + period < 2^64 + 2^63: exact in u128, and the
        // deadline grid lives modulo 2^64 like the counter, so truncation is the wrap.
        let step = (missed as u128 + 1) * self.period as u128;
        self.next = self.next.wrapping_add(step as u64);
        Advance { next_deadline: self.next, missed }
    }
}

/// Measuring an unknown counter frequency against a reference clock over the same interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calibration {
    /// Reference frequency in Hz (for example [`PIT_HZ`]).
    pub ref_hz: u64,
    /// Reference ticks counted over the interval.
    pub ref_ticks: u64,
    /// Counts of the unknown counter over the same interval.
    pub measured: u64,
}

impl Calibration {
    /// The unknown frequency: `measured * ref_hz / ref_ticks`, rounded to the nearest Hz.
    pub fn frequency_from(ref_hz: u64, ref_ticks: u64, measured: u64) -> Result<u64, ClockError> {
        if ref_hz == 0 {
            return Err(ClockError::ZeroFrequency);
        }
        if ref_ticks == 0 {
            return Err(ClockError::ZeroInterval);
        }
        let scaled = measured as u128 * ref_hz as u128;
        let hz = (scaled + ref_ticks as u128 / 2) / ref_ticks as u128;
        let hz = u64::try_from(hz).map_err(|_| ClockError::Overflow)?;
        if hz == 0 {
            return Err(ClockError::ZeroFrequency);
        }
        Ok(hz)
    }

    /// [`Calibration::frequency_from`] with this measurement.
    pub fn frequency(&self) -> Result<u64, ClockError> {
        Calibration::frequency_from(self.ref_hz, self.ref_ticks, self.measured)
    }
}

/// Same as [`Calibration::frequency_from`].
pub fn frequency_from(ref_hz: u64, ref_ticks: u64, measured: u64) -> Result<u64, ClockError> {
    Calibration::frequency_from(ref_hz, ref_ticks, measured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_over_long_spans() {
        let c = CounterClock::new(10_000_000).unwrap();
        assert_eq!(c.hz(), 10_000_000);
        assert_eq!(c.ticks_to_ns(1), 100);
        assert_eq!(c.ticks_to_ns(1_000_000_000_000), 100_000_000_000_000);
        // 24 MHz: 41.666.. ns per tick. Summing rounded per-tick values would drift by
        // 0.666 ns per tick; converting the absolute count never does.
        let c = CounterClock::new(24_000_000).unwrap();
        assert_eq!(c.ticks_to_ns(1), 41);
        assert_eq!(c.ticks_to_ns(3), 125);
        assert_eq!(c.ticks_to_ns(24_000_000 * 3600 * 24 * 365), 3600 * 24 * 365 * NANOS_PER_SEC);
        let mut t = 0u64;
        for _ in 0..1000 {
            t += 7_777_777;
            assert_eq!(c.ticks_to_ns(t), (t as u128 * 1_000_000_000 / 24_000_000) as u64);
        }
    }

    #[test]
    fn qemu_and_gigahertz_counters() {
        // QEMU aarch64 virt: CNTFRQ 62.5 MHz, exactly 16 ns per tick.
        let c = CounterClock::new(62_500_000).unwrap();
        assert_eq!(c.ticks_to_ns(1), 16);
        assert_eq!(c.ticks_to_ns(62_500_000), NANOS_PER_SEC);
        assert_eq!(c.ns_to_ticks(NANOS_PER_SEC), 62_500_000);
        assert_eq!(c.ns_to_ticks(17), 2);
        assert_eq!(period_ticks(62_500_000, 100), Ok(625_000));
        // 1 GHz (x86 TSC under icount): identity.
        let c = CounterClock::new(NANOS_PER_SEC).unwrap();
        for v in [0, 1, 12_345, u64::MAX] {
            assert_eq!(c.ticks_to_ns(v), v);
            assert_eq!(c.ns_to_ticks(v), v);
        }
        // RISC-V QEMU virt timebase: 10 MHz.
        assert_eq!(period_ticks(10_000_000, 100), Ok(100_000));
        assert_eq!(period_ticks(NANOS_PER_SEC, 1000), Ok(1_000_000));
    }

    #[test]
    fn ns_to_ticks_rounds_up() {
        let c = CounterClock::new(24_000_000).unwrap();
        assert_eq!(c.ns_to_ticks(0), 0);
        assert_eq!(c.ns_to_ticks(1), 1);
        assert_eq!(c.ns_to_ticks(41), 1);
        assert_eq!(c.ns_to_ticks(42), 2);
        for ns in [1u64, 999, 1_000_001, 123_456_789_012] {
            let ticks = c.ns_to_ticks(ns);
            assert!(c.ticks_to_ns(ticks) >= ns);
            assert!(c.ticks_to_ns(ticks - 1) < ns);
        }
    }

    #[test]
    fn saturation_and_wrap() {
        let slow = CounterClock::new(1).unwrap();
        assert_eq!(slow.ticks_to_ns(u64::MAX), u64::MAX);
        let fast = CounterClock::new(u64::MAX).unwrap();
        assert_eq!(fast.ns_to_ticks(u64::MAX), u64::MAX);
        assert_eq!(fast.ticks_to_ns(u64::MAX), NANOS_PER_SEC);
        let c = CounterClock::new(NANOS_PER_SEC).unwrap();
        assert_eq!(c.elapsed_ns(u64::MAX - 5, 10), 16);
        assert_eq!(c.elapsed_ns(100, 100), 0);
        assert_eq!(CounterClock::new(0), Err(ClockError::ZeroFrequency));
    }

    #[test]
    fn period_errors_and_rounding() {
        assert_eq!(period_ticks(0, 100), Err(ClockError::ZeroFrequency));
        assert_eq!(period_ticks(1_000, 0), Err(ClockError::ZeroTickRate));
        assert_eq!(period_ticks(50, 100), Err(ClockError::RateTooHigh));
        assert_eq!(period_ticks(100, 100), Ok(1));
        // 11931.82 rounds to 11932.
        assert_eq!(period_ticks(PIT_HZ, 100), Ok(11_932));
        assert_eq!(period_ticks(u64::MAX, 1), Ok(u64::MAX));
        assert_eq!(period_ticks(u64::MAX, u32::MAX), Ok(u64::MAX / u32::MAX as u64));
    }

    #[test]
    fn deadlines_do_not_drift() {
        let mut d = PeriodicDeadline::new(1_000, 100).unwrap();
        assert_eq!(d.next(), 1_100);
        assert_eq!(d.period(), 100);
        // The interrupt arrives late each time; the grid stays put.
        for k in 1..=10_000u64 {
            let now = 1_000 + k * 100 + (k % 37);
            assert!(d.is_due(now));
            assert_eq!(d.advance(now), Advance { next_deadline: 1_000 + (k + 1) * 100, missed: 0 });
        }
    }

    #[test]
    fn deadlines_skip_ahead_after_a_stall() {
        let mut d = PeriodicDeadline::new(1_000, 100).unwrap();
        assert_eq!(d.advance(1_100), Advance { next_deadline: 1_200, missed: 0 });
        assert_eq!(d.advance(1_250), Advance { next_deadline: 1_300, missed: 0 });
        // 1400, 1500 and 1600 passed during the stall.
        assert_eq!(d.advance(1_650), Advance { next_deadline: 1_700, missed: 3 });
        // Exactly on the following deadline: it counts as missed, the next one is in the future.
        assert_eq!(d.advance(1_800), Advance { next_deadline: 1_900, missed: 1 });
        // Spurious early interrupt: nothing changes.
        assert!(!d.is_due(1_899));
        assert_eq!(d.advance(1_899), Advance { next_deadline: 1_900, missed: 0 });
        assert_eq!(d.next(), 1_900);
        // A very long stall.
        let a = d.advance(1_900 + 1_000_000_000 * 100 + 5);
        assert_eq!(a, Advance { next_deadline: 1_900 + 1_000_000_001 * 100, missed: 1_000_000_000 });
    }

    #[test]
    fn deadlines_across_counter_wrap() {
        let mut d = PeriodicDeadline::new(u64::MAX - 50, 100).unwrap();
        assert_eq!(d.next(), 49);
        assert!(!d.is_due(u64::MAX - 10));
        assert!(d.is_due(60));
        assert_eq!(d.advance(60), Advance { next_deadline: 149, missed: 0 });
        let mut d = PeriodicDeadline::new(u64::MAX - 250, 100).unwrap();
        assert_eq!(d.advance(u64::MAX - 150), Advance { next_deadline: u64::MAX - 50, missed: 0 });
        assert_eq!(d.advance(160), Advance { next_deadline: 249, missed: 2 });
        // The largest allowed period.
        let mut d = PeriodicDeadline::new(0, i64::MAX as u64).unwrap();
        let a = d.advance(u64::MAX - 1);
        assert_eq!(a.missed, 1);
        assert_eq!(a.next_deadline, (i64::MAX as u64).wrapping_mul(3));
        assert_eq!(PeriodicDeadline::new(0, 0), Err(ClockError::ZeroPeriod));
        assert_eq!(PeriodicDeadline::new(0, 1 << 63), Err(ClockError::PeriodTooLong));
    }

    #[test]
    fn calibration() {
        // One second of PIT ticks against a 2.4 GHz TSC.
        assert_eq!(Calibration::frequency_from(PIT_HZ, PIT_HZ, 2_400_000_000), Ok(2_400_000_000));
        // 10 ms window (11932 PIT ticks): 30 000 000 TSC counts -> 2 999 954 743.55 Hz, rounded.
        assert_eq!(frequency_from(PIT_HZ, 11_932, 30_000_000), Ok(2_999_954_744));
        let c = Calibration { ref_hz: PIT_HZ, ref_ticks: 59_659, measured: 50_000_000 };
        assert_eq!(c.frequency(), Ok(1_000_001_676));
        assert_eq!(Calibration::frequency_from(0, 1, 1), Err(ClockError::ZeroFrequency));
        assert_eq!(Calibration::frequency_from(PIT_HZ, 0, 1), Err(ClockError::ZeroInterval));
        assert_eq!(Calibration::frequency_from(PIT_HZ, 1_000, 0), Err(ClockError::ZeroFrequency));
        assert_eq!(Calibration::frequency_from(u64::MAX, 1, 2), Err(ClockError::Overflow));
        assert_eq!(Calibration::frequency_from(u64::MAX, u64::MAX, u64::MAX), Ok(u64::MAX));
    }

    #[test]
    fn error_strings() {
        let all = [
            ClockError::ZeroFrequency,
            ClockError::ZeroTickRate,
            ClockError::RateTooHigh,
            ClockError::ZeroPeriod,
            ClockError::PeriodTooLong,
            ClockError::ZeroInterval,
            ClockError::Overflow,
        ];
        for (i, a) in all.iter().enumerate() {
            assert_eq!(std::format!("{a}"), a.as_str());
            for b in &all[i + 1..] {
                assert_ne!(a.as_str(), b.as_str());
            }
        }
    }
}
