// SPDX-License-Identifier: AGPL-3.0-or-later
//! `fault-kernel-read`: reads the boot CPU's kernel stack, which is mapped (kernel only) in
//! every address space. The kernel must end the process with a protection fault; if
//! the read succeeds it prints `[fault-kernel-read] SURVIVED` and exits with code 1.
#![no_std]
#![no_main]

use libsys::println;

libsys::entry!(main);

/// The lowest byte of the boot CPU's kernel stack (kernel-stack slot 0, the same address on
/// every architecture; docs/adr/0002).
const KERNEL_ADDRESS: usize = 0xffff_ffff_0001_0000;

fn main() -> i32 {
    println!("[fault-kernel-read] reading kernel memory");
    let ptr = core::hint::black_box(KERNEL_ADDRESS as *const u64);
    // SAFETY: not safe at all: the point of the program is that this read must fault. Volatile,
    // so the compiler keeps it.
    let value = unsafe { ptr.read_volatile() };
    println!("[fault-kernel-read] SURVIVED (read {value:#x})");
    1
}
