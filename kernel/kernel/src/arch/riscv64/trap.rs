// SPDX-License-Identifier: AGPL-3.0-or-later
//! Traps: the `stvec` entry, the saved register frame, exception reports, syscalls and
//! interrupt dispatch, for traps from both S-mode and U-mode.
//!
//! `sscratch` says where a trap came from: it holds the running hart's per-CPU block address
//! (`percpu.rs`) while the hart is in U-mode and zero while it is in S-mode.
//! `riscv64_trap_entry` swaps it with `tp` first. Non-zero means a trap from U-mode: `tp` is
//! now the kernel's (the block) and `sscratch` the user's `tp`; the entry parks the user `sp`
//! in the block's scratch word and takes the thread's (empty) kernel stack from the block's
//! kernel-stack-top word (`set_kernel_stack`). Zero means a trap from S-mode: the entry takes
//! `tp` back and, before it pushes anything, checks whether the frame would land in the guard
//! region below a kernel stack (see `layout::is_stack_guard`); if so it switches to the
//! hart's own emergency stack (its exception stack slot, itself guarded, top in the block),
//! so a kernel stack overflow produces a fault report instead of an endless cascade of
//! faults. `t0` is parked in `sscratch` and `t1` in the block's scratch word while the check
//! runs. Every piece of state the entry uses is per hart.
//!
//! Both origins then save every register in a [`TrapFrame`], set `sscratch` back to zero,
//! switch the FP unit off (`sstatus.FS = Off`: the kernel is soft-float, docs/adr/0005; the
//! frame keeps the user's FS) and call [`riscv64_trap_handler`]. There is one way back,
//! `riscv64_trap_return`, also used by new threads: it reloads `sepc` and `sstatus` from the
//! frame, and when the frame returns to U-mode (`sstatus.SPP = 0`) puts the block address
//! (the kernel `tp`) into `sscratch` and restores the user's `tp` from the frame; a return to
//! S-mode keeps `tp` (the kernel never changes it, and an interrupted kernel thread may resume
//! on another hart). Then it restores the other registers and `sret`s.
//!
//! From U-mode, `ecall` (scause 8) is a syscall: number in `a7`, arguments in `a0`-`a5`,
//! result in `a0`, `sepc` advanced past the `ecall`; it runs with interrupts masked. Any other
//! exception from U-mode ends the process (`crate::trap::user_fault`). The timer, external and
//! software (reschedule IPI, `smp.rs`) interrupt handlers end with
//! `crate::sched::preempt_point`, whichever mode was interrupted.

use core::sync::atomic::{AtomicU64, Ordering};

use super::percpu::{OFFSET_EMERGENCY_TOP, OFFSET_KERNEL_STACK_TOP, OFFSET_SCRATCH};
use crate::arch::TrapReport;
use crate::error::KernelError;
use crate::layout::{KERNEL_STACK_SIZE, KERNEL_STACK_SLOT, KERNEL_STACK_SLOTS, KERNEL_STACKS_BASE};
use crate::trap::{FaultReport, kernel_fault};
use cambios_abi::syscall::FaultKind;

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

impl TrapFrame {
    /// The frame a new user thread leaves the kernel with: `pc` in `sepc`, `sp` in `x2`,
    /// `sstatus` as given, every other register zero.
    pub(super) fn user_entry(pc: u64, sp: u64, sstatus: u64) -> TrapFrame {
        let mut x = [0u64; 32];
        if let Some(slot) = x.get_mut(2) {
            *slot = sp;
        }
        TrapFrame { x, sepc: pc, sstatus, scause: 0, stval: 0 }
    }

    /// Register `xi` (zero for an index out of range).
    fn reg(&self, i: usize) -> u64 {
        self.x.get(i).copied().unwrap_or(0)
    }

    fn came_from_user(&self) -> bool {
        self.sstatus & SSTATUS_SPP == 0
    }
}

/// `sstatus.SPP`: the trap came from S-mode.
pub(super) const SSTATUS_SPP: u64 = 1 << 8;
/// `sstatus.FS` (two bits).
pub(super) const SSTATUS_FS: u64 = 3 << 13;

pub(super) const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
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
    /* sscratch: this hart's per-CPU block in U-mode, zero in S-mode. */
    csrrw tp, sscratch, tp
    /* From U-mode: tp = the per-CPU block, sscratch = the user's tp. */
    bnez tp, 4f
    /* From S-mode: take tp back (the kernel never changes it); sscratch is zero again. */
    csrrw tp, sscratch, zero
    csrw sscratch, t0
    sd t1, {scratch}(tp)
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
    /* Overflow: continue on this hart's emergency stack. */
    ld t1, {scratch}(tp)
    csrr t0, sscratch
    csrw sscratch, sp
    ld sp, {emergency_top}(tp)
    j 2f
1:  ld t1, {scratch}(tp)
    csrr t0, sscratch
    csrw sscratch, sp
    /* sscratch = the interrupted sp; every other register is the interrupted code's. */
2:  addi sp, sp, -{frame}
    sd t0, 5*8(sp)
    csrrw t0, sscratch, zero
    sd t0, 2*8(sp)
    sd x4, 4*8(sp)
    j 5f
4:  /* The thread's kernel stack is empty while it runs in U-mode. */
    sd sp, {scratch}(tp)
    ld sp, {kernel_stack_top}(tp)
    addi sp, sp, -{frame}
    sd t0, 5*8(sp)
    csrrw t0, sscratch, zero
    sd t0, 4*8(sp)
    ld t0, {scratch}(tp)
    sd t0, 2*8(sp)
    /* Both origins: x2, x4 and x5 are saved, tp is the kernel's, sscratch is zero. */
5:  sd x1, 1*8(sp)
    sd x3, 3*8(sp)
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
    csrr t0, sepc
    sd t0, 32*8(sp)
    csrr t0, sstatus
    sd t0, 33*8(sp)
    /* The kernel is soft-float: FP off until the trap returns (the frame keeps the user's FS). */
    li t1, {fs}
    csrc sstatus, t1
    csrr t0, scause
    sd t0, 34*8(sp)
    csrr t0, stval
    sd t0, 35*8(sp)
    mv a0, sp
    call {handler}
    .global riscv64_trap_return
    /* The one way back to the interrupted code, and into user mode (sp = the frame). */
riscv64_trap_return:
    ld t0, 32*8(sp)
    csrw sepc, t0
    ld t0, 33*8(sp)
    csrw sstatus, t0
    andi t0, t0, {spp}
    bnez t0, 3f
    /* Back to U-mode: the next trap from there finds this hart's block in sscratch (and the
       thread's kernel stack top in it, from set_kernel_stack); the user's tp comes back.
       Back to S-mode, tp stays: the thread may have moved to another hart meanwhile. */
    csrw sscratch, tp
    ld x4, 4*8(sp)
3:
    ld x1, 1*8(sp)
    ld x3, 3*8(sp)
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
"#,
    handler = sym riscv64_trap_handler,
    scratch = const OFFSET_SCRATCH,
    emergency_top = const OFFSET_EMERGENCY_TOP,
    kernel_stack_top = const OFFSET_KERNEL_STACK_TOP,
    spp = const SSTATUS_SPP,
    fs = const SSTATUS_FS,
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
/// `scause` of an `ecall` from U-mode.
const ECALL_FROM_U: u64 = 8;

/// The trap vector is installed by the boot code before Rust runs; this only reports it.
pub fn init_traps() -> Result<TrapReport, KernelError> {
    Ok(TrapReport {
        detail: "stvec direct mode, sscratch/tp per-CPU block swap from U-mode, full register frame, guarded per-hart emergency stack",
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
            IRQ_SUPERVISOR_TIMER => {
                super::timer::on_interrupt();
                crate::sched::preempt_point();
            }
            IRQ_SUPERVISOR_EXTERNAL => {
                super::plic::on_interrupt();
                crate::sched::preempt_point();
            }
            IRQ_SUPERVISOR_SOFTWARE => {
                // The reschedule IPI (SBI `send_ipi`). Acknowledged first, so one sent while
                // the request is handled raises the interrupt again.
                // SAFETY: clearing sip.SSIP acknowledges the software interrupt; nothing else.
                unsafe { core::arch::asm!("csrci sip, 2", options(nostack)) };
                crate::smp::on_reschedule_ipi();
                crate::sched::preempt_point();
            }
            _ => {
                SPURIOUS.fetch_add(1, Ordering::Relaxed);
            }
        }
        return;
    }
    if frame.came_from_user() {
        if frame.scause == ECALL_FROM_U {
            syscall(frame);
            return;
        }
        user_fault(frame);
    }
    if matches!(frame.scause, 12 | 13 | 15) && super::user::catch_up_kernel_maps() {
        // Possibly a kernel mapping this hart's page walks had not seen yet: retry once
        // (a real fault faults again, with nothing left to catch up on).
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
        sp: frame.reg(2),
        registers: &registers,
    })
}

/// `ecall` from U-mode: number in a7 (x17), arguments in a0-a5 (x10-x15), result in a0.
fn syscall(frame: &mut TrapFrame) {
    // Resume after the 4-byte `ecall` (also when the syscall blocks and returns later).
    frame.sepc = frame.sepc.wrapping_add(4);
    let args = [frame.reg(10), frame.reg(11), frame.reg(12), frame.reg(13), frame.reg(14), frame.reg(15)];
    let result = crate::syscall::dispatch(frame.reg(17), args);
    if let Some(a0) = frame.x.get_mut(10) {
        *a0 = result;
    }
}

/// An exception in U-mode ends the process (never returns).
fn user_fault(frame: &TrapFrame) -> ! {
    let cause = frame.scause;
    let kind = match cause {
        1 | 5 | 7 | 12 | 13 | 15 => FaultKind::PageFault,
        2 => FaultKind::IllegalInstruction,
        0 | 4 | 6 => FaultKind::Alignment,
        3 => FaultKind::Breakpoint,
        _ => FaultKind::Other,
    };
    crate::trap::user_fault(
        kind,
        &FaultReport {
            vector: cause,
            name: exception_name(cause),
            addr: has_address(cause).then_some(frame.stval),
            // For an illegal instruction, `stval` holds the instruction bits (or zero).
            code: (cause == 2).then_some(frame.stval),
            pc: frame.sepc,
            sp: frame.reg(2),
            registers: &[],
        },
    )
}
