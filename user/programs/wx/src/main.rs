// SPDX-License-Identifier: AGPL-3.0-or-later
//! `wx`: linked by `link.ld` into one segment that is readable, writable and executable. The
//! kernel's image verifier must refuse it, so this never runs; if it does, it says so and exits
//! with code 1.
#![no_std]
#![no_main]

libsys::entry!(main);

fn main() -> i32 {
    libsys::println!("[wx] SHOULD NOT RUN");
    1
}
