// SPDX-License-Identifier: AGPL-3.0-or-later
//! `hog`: a CPU-bound worker for the SMP test (`smp-check`). It computes work units (a fixed
//! number of xorshift steps each) for [`RUN_TIME`] of the monotonic clock, never yielding,
//! and notes the CPU it runs on after every unit.
//!
//! Output: none. Exit code: bits 0–23 the work units done (saturating), bits 24–30 the set of
//! CPUs 0–6 it ran on (bit 24 + n = CPU n); `smp-check` decodes it.
#![no_std]
#![no_main]

use core::time::Duration;

use libsys::sys;

libsys::entry!(main);

/// How long it works.
const RUN_TIME: Duration = Duration::from_millis(400);
/// Steps in one work unit.
const STEPS: u32 = 2000;
/// Largest unit count the exit code carries.
const MAX_UNITS: u32 = (1 << 24) - 1;

/// One work unit: `STEPS` xorshift steps from `x`.
fn unit(mut x: u64) -> u64 {
    for _ in 0..STEPS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

fn main() -> i32 {
    let Ok(start) = sys::time() else { return 0 };
    let mut units: u32 = 0;
    let mut cpus: u32 = 0;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    // Bounded by the clock; the unit limit only guards against a clock that stopped.
    while units < MAX_UNITS {
        x = unit(x);
        units += 1;
        let cpu = sys::cpu_id();
        if cpu < 7 {
            cpus |= 1 << cpu;
        }
        match sys::time() {
            Ok(now) if now.saturating_sub(start) < RUN_TIME => {}
            _ => break,
        }
    }
    // Keep the computation observable so it is not optimised away.
    core::hint::black_box(x);
    ((cpus << 24) | units) as i32
}
