// SPDX-License-Identifier: AGPL-3.0-or-later
//! `child`: exits at once with code 42, printing nothing. `spawner` starts it a thousand times.
#![no_std]
#![no_main]

libsys::entry!(main);

fn main() -> i32 {
    42
}
