// SPDX-License-Identifier: AGPL-3.0-or-later
//! `yielder`: yields [`ROUNDS`] times, then exits with code 0. `bench` runs it beside itself to
//! measure the cost of a yield that switches to another process and back.
#![no_std]
#![no_main]

use libsys::sys;

libsys::entry!(main);

/// Yields before exiting (more than `bench` makes, so it is still there when `bench` stops).
pub const ROUNDS: u32 = 12_000;

fn main() -> i32 {
    for _ in 0..ROUNDS {
        if sys::yield_now().is_err() {
            return 1;
        }
    }
    0
}
