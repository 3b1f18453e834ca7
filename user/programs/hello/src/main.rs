// SPDX-License-Identifier: AGPL-3.0-or-later
//! `hello`: the first user program. Prints its pid, Principal (as a did:key and short hex) and
//! the uptime, then proves the heap works with a `Vec`, a `String` and a 1 MiB allocation.
//!
//! Output: `[hello] pid <n>, principal <did:key>`, `[hello] principal <hex8>, uptime <ms> ms`,
//! `[hello] heap ok` (or `[hello] heap BROKEN` and exit code 1).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use libsys::{SysError, println, sys};

libsys::entry!(main);

fn main() -> Result<(), SysError> {
    let pid = sys::pid()?;
    let principal = sys::principal()?;
    println!("[hello] pid {pid}, principal {principal}");
    let uptime = sys::time()?;
    println!("[hello] principal {}, uptime {} ms", principal.short_hex(), uptime.as_millis());
    if heap_works(pid.0) {
        println!("[hello] heap ok");
        Ok(())
    } else {
        println!("[hello] heap BROKEN");
        sys::exit(1)
    }
}

/// Small and large allocations, growth, and freeing; true if every value reads back.
fn heap_works(seed: u32) -> bool {
    let squares: Vec<u64> = (0..4096u64).map(|i| i * i + u64::from(seed)).collect();
    let sum_ok = squares.iter().sum::<u64>() == (0..4096u64).map(|i| i * i).sum::<u64>() + 4096 * u64::from(seed);
    let mut text = String::new();
    for i in 0..100 {
        let _ = write!(text, "{i},");
    }
    let text_ok = text.len() == 290 && text.starts_with("0,1,2,") && text.ends_with("98,99,");
    // Bigger than the first heap chunk: forces the heap to map more.
    let mut big = vec![0u8; 1 << 20];
    for (i, b) in big.iter_mut().enumerate().step_by(4096) {
        *b = (i >> 12) as u8;
    }
    let big_ok = big.iter().step_by(4096).enumerate().all(|(i, b)| *b == i as u8);
    drop(big);
    let again: Vec<u32> = vec![seed; 1 << 16];
    sum_ok && text_ok && big_ok && again.iter().all(|v| *v == seed)
}
