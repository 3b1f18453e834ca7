// SPDX-License-Identifier: AGPL-3.0-or-later
//! The periodic tick (local APIC timer) and the monotonic counter (TSC), both calibrated
//! against the 8254 PIT.
//!
//! Calibration: PIT channel 2 (gate on through port 0x61, speaker off) counts down from
//! 0xffff in mode 0 while the local APIC timer counts down from its maximum (divide by 16).
//! At the start and at the end of a window of about 20 ms the kernel samples the PIT count
//! (latched), the APIC timer and the TSC, bracketing each sample with two TSC reads and
//! keeping the tightest of several tries. Each endpoint therefore carries its own PIT time,
//! so a late poll (the emulator thread or a firmware SMI stealing time) lengthens the window
//! but does not skew the result. `kernel_core::clock::frequency_from` turns the counts into
//! frequencies. Every wait is bounded. The APIC timer then runs in periodic mode at the
//! requested rate: the hardware reloads it, so the tick does not drift and needs no re-arming.
//!
//! Only the boot CPU calibrates; every secondary CPU runs its own local APIC timer with the
//! boot CPU's period ([`start_secondary`]): the APIC timers of one machine share one clock.

use core::sync::atomic::{AtomicU32, Ordering};

use kernel_boot::BootInfo;
use kernel_core::clock::{PIT_HZ, frequency_from, period_ticks};
use kernel_core::sync::spin_until;

use super::apic::{self, LVT_MASKED, REG_LVT_TIMER, REG_TIMER_CURRENT, REG_TIMER_DIVIDE, REG_TIMER_INITIAL};
use super::cpu::{self, inb, outb};
use super::trap::TIMER_VECTOR;
use crate::arch::TimerReport;
use crate::error::KernelError;

/// PIT ticks the calibration window lasts at least: 23864 / 1193182 Hz = 20 ms.
const CALIBRATION_PIT_TICKS: u16 = 23_864;
/// PIT reads before calibration gives up (far more than 20 ms even under emulation).
const CALIBRATION_SPINS: u32 = 5_000_000;
/// Samples taken at each end of the window; the one with the shortest TSC bracket is kept.
const SAMPLE_TRIES: u32 = 5;
/// Whole measurements attempted before giving up (a window is discarded if the PIT wrapped).
const CALIBRATION_ATTEMPTS: u32 = 3;
/// APIC timer divide configuration: divide by 16.
const DIVIDE_BY_16: u32 = 0b0011;
/// LVT timer mode bit: periodic.
const LVT_PERIODIC: u32 = 1 << 17;

const PORT_61: u16 = 0x61;
const PORT_61_GATE2: u8 = 1 << 0;
const PORT_61_SPEAKER: u8 = 1 << 1;
const PORT_61_OUT2: u8 = 1 << 5;
const PIT_CHANNEL2: u16 = 0x42;
const PIT_COMMAND: u16 = 0x43;
/// Channel 2, low then high byte, mode 0 (interrupt on terminal count), binary.
const PIT_CH2_MODE0: u8 = 0b1011_0000;
/// Channel 2 counter latch.
const PIT_CH2_LATCH: u8 = 0b1000_0000;

/// The calibrated tick period in local APIC timer counts (divide by 16); 0 before `init_timer`.
static PERIOD: AtomicU32 = AtomicU32::new(0);

/// The free-running time-stamp counter.
pub fn counter() -> u64 {
    cpu::rdtsc()
}

/// PIT channel 2's current count.
fn pit_count() -> u16 {
    // SAFETY: PIT channel 2 belongs to the timer driver; latching and reading its count
    // (low byte, then high byte, as programmed) has no other effect.
    let (low, high) = unsafe {
        outb(PIT_COMMAND, PIT_CH2_LATCH);
        (inb(PIT_CHANNEL2), inb(PIT_CHANNEL2))
    };
    u16::from_le_bytes([low, high])
}

fn out2_high() -> bool {
    // SAFETY: reading port 0x61 only samples the speaker gate and channel-2 output bits.
    unsafe { inb(PORT_61) & PORT_61_OUT2 != 0 }
}

/// One simultaneous reading of the three clocks.
#[derive(Clone, Copy)]
struct Sample {
    /// TSC at the middle of the bracket.
    tsc: u64,
    /// PIT channel 2 count.
    pit: u16,
    /// APIC timer current count.
    apic: u32,
    /// TSC ticks between the two reads around the sample (its uncertainty).
    bracket: u64,
}

fn sample_once() -> Sample {
    let before = cpu::rdtsc();
    let pit = pit_count();
    let apic = apic::read(REG_TIMER_CURRENT);
    let after = cpu::rdtsc();
    let bracket = after.wrapping_sub(before);
    Sample { tsc: before.wrapping_add(bracket / 2), pit, apic, bracket }
}

/// The tightest of `SAMPLE_TRIES` samples.
fn sample() -> Sample {
    let mut best = sample_once();
    for _ in 1..SAMPLE_TRIES {
        let s = sample_once();
        if s.bracket < best.bracket {
            best = s;
        }
    }
    best
}

/// What one calibration window measured.
#[derive(Clone, Copy)]
struct Measurement {
    /// PIT ticks elapsed.
    pit: u64,
    /// TSC ticks elapsed.
    tsc: u64,
    /// APIC timer ticks elapsed.
    apic: u64,
}

/// Measures one window; `Ok(None)` when the window must be discarded (the PIT count wrapped).
fn measure() -> Result<Option<Measurement>, KernelError> {
    apic::write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    apic::write(REG_LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    apic::write(REG_TIMER_INITIAL, u32::MAX);
    // SAFETY: port 0x61 and PIT channel 2 belong to the timer driver (nothing else uses the
    // PC speaker): set gate 2, silence the speaker, and start a mode-0 count from 0xffff.
    let saved = unsafe {
        let saved = inb(PORT_61);
        outb(PORT_61, (saved & !PORT_61_SPEAKER) | PORT_61_GATE2);
        outb(PIT_COMMAND, PIT_CH2_MODE0);
        outb(PIT_CHANNEL2, 0xff);
        outb(PIT_CHANNEL2, 0xff);
        saved
    };
    // In mode 0 the output stays low until the count passes zero; if it reads high already,
    // port 0x61 does not report it and wrap detection relies on the count alone.
    let out2_works = !out2_high();
    let start = sample();

    let reached = spin_until(CALIBRATION_SPINS, || start.pit.wrapping_sub(pit_count()) >= CALIBRATION_PIT_TICKS);
    let end = sample();
    let wrapped = out2_works && out2_high();
    apic::write(REG_TIMER_INITIAL, 0);
    // SAFETY: restores the gate and speaker bits found at entry.
    unsafe { outb(PORT_61, saved) };

    if !reached {
        return Err(KernelError::Hardware("PIT calibration timed out (channel 2 count did not advance)"));
    }
    let Some(pit) = start.pit.checked_sub(end.pit).filter(|_| !wrapped) else { return Ok(None) };
    let tsc = end.tsc.wrapping_sub(start.tsc);
    let apic_ticks = u64::from(start.apic.saturating_sub(end.apic));
    if tsc == 0 || apic_ticks == 0 {
        return Err(KernelError::Hardware("TSC or local APIC timer did not advance during PIT calibration"));
    }
    Ok(Some(Measurement { pit: u64::from(pit), tsc, apic: apic_ticks }))
}

/// Calibrates the TSC and the local APIC timer, then starts the periodic tick at `hz`.
pub fn init_timer(_info: &BootInfo, hz: u32) -> Result<TimerReport, KernelError> {
    let mut measured = None;
    for _ in 0..CALIBRATION_ATTEMPTS {
        measured = measure()?;
        if measured.is_some() {
            break;
        }
    }
    let m = measured.ok_or(KernelError::Hardware("PIT calibration: the count wrapped in every attempt"))?;
    let tsc_hz = frequency_from(PIT_HZ, m.pit, m.tsc)?;
    let apic_hz = frequency_from(PIT_HZ, m.pit, m.apic)?;
    let period = u32::try_from(period_ticks(apic_hz, hz)?)
        .map_err(|_| KernelError::Hardware("timer period does not fit the local APIC timer's 32-bit count"))?;
    kdebug!(
        "[timer] calibration over {} PIT ticks: TSC +{} ({} Hz), APIC timer +{} ({} Hz after divide by 16), period {}",
        m.pit,
        m.tsc,
        tsc_hz,
        m.apic,
        apic_hz,
        period
    );
    PERIOD.store(period, Ordering::Relaxed);
    start_periodic(period);
    Ok(TimerReport {
        source: "local APIC timer (periodic)",
        hz,
        counter_hz: tsc_hz,
        counter: if cpu::features().invariant_tsc { "TSC (invariant)" } else { "TSC" },
        calibrated_against: Some("PIT"),
    })
}

/// Starts the running CPU's local APIC timer in periodic mode with `period` counts.
fn start_periodic(period: u32) {
    apic::write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    apic::write(REG_LVT_TIMER, LVT_PERIODIC | u32::from(TIMER_VECTOR));
    apic::write(REG_TIMER_INITIAL, period);
}

/// Starts the running secondary CPU's tick at the boot CPU's calibrated rate (interrupts stay
/// masked until the CPU enables them).
pub fn start_secondary() -> Result<(), KernelError> {
    match PERIOD.load(Ordering::Relaxed) {
        0 => Err(KernelError::NotInitialised("timer calibration")),
        period => {
            start_periodic(period);
            Ok(())
        }
    }
}

/// The timer interrupt: count the tick (the APIC reloads the period by itself).
pub fn on_interrupt() {
    crate::time::on_tick();
}
