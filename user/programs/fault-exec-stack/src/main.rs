// SPDX-License-Identifier: AGPL-3.0-or-later
//! `fault-exec-stack`: copies a return instruction into a stack buffer and calls it. The stack
//! is never executable, so the kernel must end the process with a page fault; if the call
//! returns it prints `[fault-exec-stack] SURVIVED` and exits with code 1.
#![no_std]
#![no_main]

use libsys::println;

libsys::entry!(main);

/// One return instruction, little-endian, padded with more returns.
#[cfg(target_arch = "x86_64")]
const RET: u32 = 0xc3c3_c3c3; // ret
#[cfg(target_arch = "aarch64")]
const RET: u32 = 0xd65f_03c0; // ret
#[cfg(target_arch = "riscv64")]
const RET: u32 = 0x0000_8067; // jalr zero, 0(ra)

fn main() -> i32 {
    println!("[fault-exec-stack] calling code on the stack");
    let code = [RET; 4];
    let ptr = core::hint::black_box(code.as_ptr());
    // SAFETY: not safe at all: the point of the program is that this call must fault. `code`
    // holds a valid `ret` for this architecture, so on a kernel that (wrongly) allows it the
    // call just returns.
    let f = unsafe { core::mem::transmute::<*const u32, extern "C" fn()>(ptr) };
    f();
    core::hint::black_box(&code);
    println!("[fault-exec-stack] SURVIVED");
    1
}
