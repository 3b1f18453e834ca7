// SPDX-License-Identifier: AGPL-3.0-or-later
//! Traps: the `stvec` entry, the saved register frame, exception reports and interrupt
//! dispatch.
//!
//! `riscv64_trap_entry` saves every register in a [`TrapFrame`] on the current kernel stack
//! and calls [`riscv64_trap_handler`]. Before it pushes anything it checks whether the frame
//! would land in the guard region below a kernel stack (see `layout::is_stack_guard`); if so
//! it switches to a dedicated emergency stack (exception stack slot 0, itself guarded), so a
//! kernel stack overflow produces a fault
//! report instead of an endless cascade of faults. `t0` is parked in `sscratch` and `t1` in a
//! scratch word while the check runs.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::TrapReport;
use crate::error::KernelError;
use crate::layout::{KERNEL_STACK_SIZE, KERNEL_STACK_SLOT, KERNEL_STACK_SLOTS, KERNEL_STACKS_BASE};
use crate::trap::{FaultReport, kernel_fault};

/// The saved state of the interrupted code: `x[i]` is register xi (`x[0]` is unused and
/// `x[2]` holds the interrupted stack pointer), then the trap CSRs.
#[repr(C)]
pub struct TrapFrame {
    x: [u64; 32],
    sepc: u64,
    sstatus: u64,
    scause: u64,
    stval: u64,
}

const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(FRAME_SIZE.is_multiple_of(16));
const _: () = assert!(KERNEL_STACK_SLOT.is_power_of_two() && KERNEL_STACK_SIZE.is_power_of_two());
const _: () = assert!(KERNEL_STACK_SLOT == 2 * KERNEL_STACK_SIZE);
const _: () = assert!((KERNEL_STACK_SLOTS * KERNEL_STACK_SLOT).is_power_of_two());

core::arch::global_asm!(
    r#"
    .section .text, "ax"
    .balign 4
    .global riscv64_trap_entry
riscv64_trap_entry:
    csrw sscratch, t0
    lla t0, riscv64_trap_scratch
    sd t1, 0(t0)
    /* Would the frame land in a stack guard region? */
    addi t1, sp, -{frame}
    li t0, {stacks_base}
    sub t1, t1, t0
    srli t0, t1, {area_shift}
    bnez t0, 1f
    slli t1, t1, 64 - {slot_shift}
    srli t1, t1, 64 - {slot_shift}
    srli t1, t1, {stack_shift}
    bnez t1, 1f
    /* Overflow: continue on the emergency stack. */
    lla t0, riscv64_trap_scratch
    ld t1, 0(t0)
    csrr t0, sscratch
    csrw sscratch, sp
    li sp, {emergency_top}
    j 2f
1:  lla t0, riscv64_trap_scratch
    ld t1, 0(t0)
    csrr t0, sscratch
    csrw sscratch, sp
2:  addi sp, sp, -{frame}
    sd x1, 1*8(sp)
    sd x3, 3*8(sp)
    sd x4, 4*8(sp)
    sd x5, 5*8(sp)
    sd x6, 6*8(sp)
    sd x7, 7*8(sp)
    sd x8, 8*8(sp)
    sd x9, 9*8(sp)
    sd x10, 10*8(sp)
    sd x11, 11*8(sp)
    sd x12, 12*8(sp)
    sd x13, 13*8(sp)
    sd x14, 14*8(sp)
    sd x15, 15*8(sp)
    sd x16, 16*8(sp)
    sd x17, 17*8(sp)
    sd x18, 18*8(sp)
    sd x19, 19*8(sp)
    sd x20, 20*8(sp)
    sd x21, 21*8(sp)
    sd x22, 22*8(sp)
    sd x23, 23*8(sp)
    sd x24, 24*8(sp)
    sd x25, 25*8(sp)
    sd x26, 26*8(sp)
    sd x27, 27*8(sp)
    sd x28, 28*8(sp)
    sd x29, 29*8(sp)
    sd x30, 30*8(sp)
    sd x31, 31*8(sp)
    csrr t0, sscratch
    sd t0, 2*8(sp)
    csrr t0, sepc
    sd t0, 32*8(sp)
    csrr t0, sstatus
    sd t0, 33*8(sp)
    csrr t0, scause
    sd t0, 34*8(sp)
    csrr t0, stval
    sd t0, 35*8(sp)
    mv a0, sp
    call {handler}
    ld t0, 32*8(sp)
    csrw sepc, t0
    ld t0, 33*8(sp)
    csrw sstatus, t0
    ld x1, 1*8(sp)
    ld x3, 3*8(sp)
    ld x4, 4*8(sp)
    ld x5, 5*8(sp)
    ld x6, 6*8(sp)
    ld x7, 7*8(sp)
    ld x8, 8*8(sp)
    ld x9, 9*8(sp)
    ld x10, 10*8(sp)
    ld x11, 11*8(sp)
    ld x12, 12*8(sp)
    ld x13, 13*8(sp)
    ld x14, 14*8(sp)
    ld x15, 15*8(sp)
    ld x16, 16*8(sp)
    ld x17, 17*8(sp)
    ld x18, 18*8(sp)
    ld x19, 19*8(sp)
    ld x20, 20*8(sp)
    ld x21, 21*8(sp)
    ld x22, 22*8(sp)
    ld x23, 23*8(sp)
    ld x24, 24*8(sp)
    ld x25, 25*8(sp)
    ld x26, 26*8(sp)
    ld x27, 27*8(sp)
    ld x28, 28*8(sp)
    ld x29, 29*8(sp)
    ld x30, 30*8(sp)
    ld x31, 31*8(sp)
    ld x2, 2*8(sp)
    sret

    .section .bss.trap, "aw", @nobits
    .balign 16
riscv64_trap_scratch:
    .space 16
"#,
    emergency_top = const crate::layout::exception_stack(0).1 as i64,
    handler = sym riscv64_trap_handler,
    frame = const FRAME_SIZE,
    stacks_base = const KERNEL_STACKS_BASE as i64,
    area_shift = const (KERNEL_STACK_SLOTS * KERNEL_STACK_SLOT).trailing_zeros(),
    slot_shift = const KERNEL_STACK_SLOT.trailing_zeros(),
    stack_shift = const KERNEL_STACK_SIZE.trailing_zeros(),
);

/// Interrupts that arrived with no handler (counted, not fatal).
static SPURIOUS: AtomicU64 = AtomicU64::new(0);

const INTERRUPT_BIT: u64 = 1 << 63;
const IRQ_SUPERVISOR_SOFTWARE: u64 = 1;
const IRQ_SUPERVISOR_TIMER: u64 = 5;
const IRQ_SUPERVISOR_EXTERNAL: u64 = 9;

/// The trap vector is installed by the boot code before Rust runs; this only reports it.
pub fn init_traps() -> Result<TrapReport, KernelError> {
    Ok(TrapReport {
        detail: "stvec direct mode, full register frame, guarded emergency stack for kernel stack overflow",
    })
}

/// Interrupts that had no handler so far (reported by the monitor).
pub fn unexpected_interrupts() -> u64 {
    SPURIOUS.load(Ordering::Relaxed)
}

fn exception_name(cause: u64) -> &'static str {
    match cause {
        0 => "instruction address misaligned",
        1 => "instruction access fault",
        2 => "illegal instruction",
        3 => "breakpoint",
        4 => "load address misaligned",
        5 => "load access fault",
        6 => "store address misaligned",
        7 => "store access fault",
        8 => "environment call from U-mode",
        9 => "environment call from S-mode",
        12 => "instruction page fault",
        13 => "load page fault",
        15 => "store page fault",
        18 => "software check",
        19 => "hardware error",
        _ => "unknown exception",
    }
}

/// Whether `stval` holds a faulting address for this exception.
fn has_address(cause: u64) -> bool {
    matches!(cause, 0 | 1 | 4 | 5 | 6 | 7 | 12 | 13 | 15)
}

const REGISTER_NAMES: [&str; 32] = [
    "x0", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "s2",
    "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
];

/// Called by `riscv64_trap_entry` with the saved frame.
#[unsafe(no_mangle)]
extern "C" fn riscv64_trap_handler(frame: &mut TrapFrame) {
    if frame.scause & INTERRUPT_BIT != 0 {
        match frame.scause & !INTERRUPT_BIT {
            IRQ_SUPERVISOR_TIMER => super::timer::on_interrupt(),
            IRQ_SUPERVISOR_EXTERNAL => super::plic::on_interrupt(),
            IRQ_SUPERVISOR_SOFTWARE => {
                // SAFETY: clearing sip.SSIP acknowledges the software interrupt; nothing else.
                unsafe { core::arch::asm!("csrci sip, 2", options(nostack)) };
                SPURIOUS.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                SPURIOUS.fetch_add(1, Ordering::Relaxed);
            }
        }
        return;
    }
    let mut registers = [("", 0u64); 31];
    for (slot, (name, value)) in registers.iter_mut().zip(REGISTER_NAMES.iter().zip(frame.x.iter()).skip(1)) {
        *slot = (name, *value);
    }
    let cause = frame.scause;
    kernel_fault(&FaultReport {
        vector: cause,
        name: exception_name(cause),
        addr: has_address(cause).then_some(frame.stval),
        code: None,
        pc: frame.sepc,
        sp: frame.x[2],
        registers: &registers,
    })
}
