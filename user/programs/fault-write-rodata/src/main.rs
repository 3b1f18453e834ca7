// SPDX-License-Identifier: AGPL-3.0-or-later
//! `fault-write-rodata`: writes to a `static` in `.rodata`, which is mapped read-only. The
//! kernel must end the process with a page fault; if the write succeeds it prints
//! `[fault-write-rodata] SURVIVED` and exits with code 1.
#![no_std]
#![no_main]

use libsys::println;

libsys::entry!(main);

/// Immutable, without interior mutability: the compiler puts it in `.rodata`.
static READ_ONLY: [u8; 16] = *b"cambios-rodata!!";

fn main() -> i32 {
    let ptr = core::hint::black_box(READ_ONLY.as_ptr() as *mut u8);
    println!("[fault-write-rodata] writing to read-only data at {ptr:p}");
    // SAFETY: not safe at all: the point of the program is that this write must fault.
    unsafe { ptr.write_volatile(b'X') };
    println!("[fault-write-rodata] SURVIVED");
    1
}
