// SPDX-License-Identifier: AGPL-3.0-or-later
//! Exceptions: the `VBAR_EL1` vector table, the saved register frame, fault reports,
//! interrupt dispatch and the entries from user mode (EL0).
//!
//! The table has the architecture's 16 entries of 128 bytes (current EL with SP_EL0, current
//! EL with SP_ELx, lower EL AArch64, lower EL AArch32; each sync, IRQ, FIQ, SError). Every
//! entry saves x0-x30, the interrupted SP, `ELR_EL1`, `SPSR_EL1`, `ESR_EL1` and `FAR_EL1` in a
//! [`TrapFrame`] on the current stack and calls [`aarch64_trap_handler`] with the entry number;
//! everything goes back through one path, `aarch64_trap_return` (which also starts new user
//! threads, see `user.rs`), ending in `eret`.
//!
//! * **From the kernel** (entries 0-7): IRQs go to the GIC, then to the scheduler's preemption
//!   point, and return; everything else is a bug and ends in a [`FaultReport`] and
//!   [`kernel_fault`]. The interrupted SP is SP_EL1 above the frame.
//! * **From EL0** (entries 8-11): the CPU switches to SP_EL1, which holds the top of the
//!   running thread's kernel stack (`user.rs`), so the frame lands at the top of that stack.
//!   The interrupted SP is the user's `SP_EL0`; the return path reloads `SP_EL0` from the frame
//!   whenever it returns to EL0 (the frame may belong to another thread than the one that
//!   entered last). `SVC` (`ESR_EL1.EC` 0x15) is a syscall: number in x8, arguments in x0-x5,
//!   result in x0 (`crate::syscall::dispatch`), with IRQs masked throughout. IRQs are handled
//!   as in the kernel. Any other synchronous exception ends the process through
//!   `crate::trap::user_fault`; an SError is fatal. AArch32 EL0 (entries 12-15) is never
//!   entered (no thread starts in AArch32 state), so those entries are fatal too.
//!
//! Kernel stack overflow: the kernel runs on SP_EL1. Before a kernel entry stores anything it
//! checks whether the frame would land in the guard region of a kernel stack slot (the slots
//! are 128 KiB apart inside a 512 MiB area; the lower 64 KiB of each slot is never mapped, see
//! `layout.rs`). That check needs only x0, parked in `TPIDRRO_EL0`: the area test is an
//! arithmetic shift of SP compared with a small constant, the guard test is bit 16 of SP. On
//! overflow the entry moves to the running CPU's emergency stack (its first exception-stack
//! slot, with its own guard region; `percpu.rs` keeps its top, found through `TPIDR_EL1`),
//! parking the entry number in `SP_EL0` on the way; SP and x0 are then exchanged with
//! arithmetic alone, so no further register is needed. `SP_EL0` is the user stack pointer,
//! which this path (it never returns to any thread) may clobber. Entries from EL0 need no
//! check: they start at the top of the thread's kernel stack.
//!
//! `TPIDRRO_EL0` is the user's read-only thread pointer, which CambiOS keeps zero for every
//! thread: it is the vectors' scratch register, and the only path back to EL0
//! (`aarch64_trap_return`) zeroes it, so user code never sees a kernel value in it.
//! `TPIDR_EL1` is left to the per-CPU pointer (`percpu.rs`).
//!
//! A fault while the report is being printed is not reported again (that could recurse
//! without end): a fixed line is written and the machine stops.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::arch::TrapReport;
use crate::error::KernelError;
use crate::layout::{KERNEL_STACK_SIZE, KERNEL_STACK_SLOT, KERNEL_STACK_SLOTS, KERNEL_STACKS_BASE};
use crate::trap::{FaultReport, kernel_fault};
use cambios_abi::syscall::FaultKind;

/// The saved state of the interrupted code. A new user thread starts from one
/// ([`TrapFrame::user_entry`]).
#[repr(C)]
pub struct TrapFrame {
    /// x0-x30 (x29 is the frame pointer, x30 the link register).
    x: [u64; 31],
    /// The interrupted stack pointer (`SP_EL0` for entries from EL0).
    sp: u64,
    /// `ELR_EL1`: where the exception was taken.
    elr: u64,
    /// `SPSR_EL1`: the interrupted PSTATE.
    spsr: u64,
    /// `ESR_EL1`: the exception syndrome.
    esr: u64,
    /// `FAR_EL1`: the faulting address (aborts, alignment faults, watchpoints).
    far: u64,
}

impl TrapFrame {
    /// The frame a new user thread leaves the kernel with: every general register zero.
    pub(super) const fn user_entry(pc: u64, sp: u64, spsr: u64) -> TrapFrame {
        TrapFrame { x: [0; 31], sp, elr: pc, spsr, esr: 0, far: 0 }
    }
}

const FRAME_SIZE: u64 = core::mem::size_of::<TrapFrame>() as u64;
const SP_OFFSET: u64 = core::mem::offset_of!(TrapFrame, sp) as u64;
const ELR_OFFSET: u64 = core::mem::offset_of!(TrapFrame, elr) as u64;
const ESR_OFFSET: u64 = core::mem::offset_of!(TrapFrame, esr) as u64;

// Geometry the entry's overflow check relies on.
const AREA_SIZE: u64 = KERNEL_STACK_SLOTS * KERNEL_STACK_SLOT;
const AREA_SHIFT: u32 = AREA_SIZE.trailing_zeros();
/// `(KERNEL_STACKS_BASE as i64) >> AREA_SHIFT`, negated: `cmn` compares with its negation.
const AREA_TAG: i64 = -((KERNEL_STACKS_BASE as i64) >> AREA_SHIFT);
const STACK_BIT: u32 = KERNEL_STACK_SIZE.trailing_zeros();
const _: () = assert!(FRAME_SIZE.is_multiple_of(16) && FRAME_SIZE < 4096);
const _: () = assert!(SP_OFFSET == 31 * 8 && ELR_OFFSET == SP_OFFSET + 8 && ESR_OFFSET == ELR_OFFSET + 16);
const _: () = assert!(KERNEL_STACK_SIZE.is_power_of_two() && KERNEL_STACK_SLOT == 2 * KERNEL_STACK_SIZE);
const _: () = assert!(AREA_SIZE.is_power_of_two() && KERNEL_STACKS_BASE.is_multiple_of(AREA_SIZE));
const _: () = assert!(AREA_TAG > 0 && AREA_TAG < 4096);

/// Set in the entry number when the trap arrived through the stack-overflow path.
const OVERFLOW: u64 = 0x100;

core::arch::global_asm!(
    r#"
    .macro aarch64_ventry kind
    .balign 0x80
    sub sp, sp, #{frame}
    msr tpidrro_el0, x0
    mov x0, sp
    asr x0, x0, #{area_shift}
    cmn x0, #{area_tag}
    b.ne 1f
    mov x0, sp
    tbz x0, #{stack_bit}, 2f
1:  add x0, sp, #{frame}
    str x0, [sp, #{sp_off}]
    mrs x0, tpidrro_el0
    stp x0, x1, [sp]
    mov x1, #\kind
    b aarch64_trap_save
2:  mov x0, #\kind
    b aarch64_trap_overflow
    .endm

    /* Entries from EL0: SP is SP_EL1 = the top of the thread's kernel stack. */
    .macro aarch64_ventry_user kind
    .balign 0x80
    sub sp, sp, #{frame}
    stp x0, x1, [sp]
    mrs x0, sp_el0
    str x0, [sp, #{sp_off}]
    mov x1, #\kind
    b aarch64_trap_save
    .endm

    .section .text, "ax"
    .balign 2048
    .global aarch64_vectors
aarch64_vectors:
    aarch64_ventry 0
    aarch64_ventry 1
    aarch64_ventry 2
    aarch64_ventry 3
    aarch64_ventry 4
    aarch64_ventry 5
    aarch64_ventry 6
    aarch64_ventry 7
    aarch64_ventry_user 8
    aarch64_ventry_user 9
    aarch64_ventry_user 10
    aarch64_ventry_user 11
    aarch64_ventry_user 12
    aarch64_ventry_user 13
    aarch64_ventry_user 14
    aarch64_ventry_user 15

    /* x0 = entry number, TPIDRRO_EL0 = interrupted x0, SP = interrupted SP - frame (in a
       guard region). Park the entry number in SP_EL0, find this CPU's emergency stack through
       TPIDR_EL1 (percpu.rs), then exchange SP and x0 arithmetically (no third register):
       SP = S + E, x0 = (S + E) - E = S, SP = (S + E) - S = E. */
aarch64_trap_overflow:
    msr sp_el0, x0
    mrs x0, tpidr_el1
    ldr x0, [x0, #{emergency_off}]
    sub x0, x0, #{frame}
    add sp, sp, x0
    sub x0, sp, x0
    sub sp, sp, x0
    add x0, x0, #{frame}
    str x0, [sp, #{sp_off}]
    mrs x0, tpidrro_el0
    stp x0, x1, [sp]
    mrs x1, sp_el0
    orr x1, x1, #{overflow}
    /* fall through */

    /* x0, x1 and SP are saved; x1 = entry number. */
aarch64_trap_save:
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    stp x10, x11, [sp, #80]
    stp x12, x13, [sp, #96]
    stp x14, x15, [sp, #112]
    stp x16, x17, [sp, #128]
    stp x18, x19, [sp, #144]
    stp x20, x21, [sp, #160]
    stp x22, x23, [sp, #176]
    stp x24, x25, [sp, #192]
    stp x26, x27, [sp, #208]
    stp x28, x29, [sp, #224]
    str x30, [sp, #240]
    mrs x2, elr_el1
    mrs x3, spsr_el1
    stp x2, x3, [sp, #{elr_off}]
    mrs x2, esr_el1
    mrs x3, far_el1
    stp x2, x3, [sp, #{esr_off}]
    mov x0, sp
    bl {handler}
    /* SP points at a frame: return to the code it describes. */
    .global aarch64_trap_return
aarch64_trap_return:
    ldp x2, x3, [sp, #{elr_off}]
    msr elr_el1, x2
    msr spsr_el1, x3
    /* Back to EL0 (SPSR.M[3:0] = 0): reload the user stack pointer. */
    tst x3, #0xf
    b.ne 3f
    ldr x2, [sp, #{sp_off}]
    msr sp_el0, x2
    /* TPIDRRO_EL0 is the vectors' scratch register: EL0 only ever sees it zero. */
    msr tpidrro_el0, xzr
3:  ldp x0, x1, [sp]
    ldp x2, x3, [sp, #16]
    ldp x4, x5, [sp, #32]
    ldp x6, x7, [sp, #48]
    ldp x8, x9, [sp, #64]
    ldp x10, x11, [sp, #80]
    ldp x12, x13, [sp, #96]
    ldp x14, x15, [sp, #112]
    ldp x16, x17, [sp, #128]
    ldp x18, x19, [sp, #144]
    ldp x20, x21, [sp, #160]
    ldp x22, x23, [sp, #176]
    ldp x24, x25, [sp, #192]
    ldp x26, x27, [sp, #208]
    ldp x28, x29, [sp, #224]
    ldr x30, [sp, #240]
    add sp, sp, #{frame}
    eret

"#,
    emergency_off = const super::percpu::EMERGENCY_TOP_OFFSET,
    frame = const FRAME_SIZE,
    sp_off = const SP_OFFSET,
    elr_off = const ELR_OFFSET,
    esr_off = const ESR_OFFSET,
    area_shift = const AREA_SHIFT,
    area_tag = const AREA_TAG,
    stack_bit = const STACK_BIT,
    overflow = const OVERFLOW,
    handler = sym aarch64_trap_handler,
);

unsafe extern "C" {
    /// The vector table above (2 KiB aligned).
    static aarch64_vectors: u8;
}

#[allow(clippy::declare_interior_mutable_const)]
const NOT_REPORTING: AtomicU32 = AtomicU32::new(0);
/// Fatal traps being reported, per CPU (a fault inside a CPU's own report is not reported
/// again in full; another CPU's fault meanwhile is).
static FATAL_DEPTH: [AtomicU32; kernel_boot::MAX_CPUS] = [NOT_REPORTING; kernel_boot::MAX_CPUS];

/// Installs the vector table (the boot code already did; this makes it explicit) and
/// describes it.
pub fn init_traps() -> Result<TrapReport, KernelError> {
    let vectors = &raw const aarch64_vectors as u64;
    if !vectors.is_multiple_of(2048) {
        return Err(KernelError::Hardware("exception vector table not 2 KiB aligned"));
    }
    // SAFETY: `aarch64_vectors` is the complete, 2 KiB-aligned table defined above, in the
    // kernel's text, mapped executable in every address space the kernel uses.
    unsafe { core::arch::asm!("msr vbar_el1, {0}", "isb", in(reg) vectors, options(nostack, preserves_flags)) };
    Ok(TrapReport {
        detail: if super::entry::entry_el() == 2 {
            "VBAR_EL1, 16 vectors, full register frame, guarded 64 KiB emergency stack per CPU for kernel stack overflow (entered at EL2, running at EL1)"
        } else {
            "VBAR_EL1, 16 vectors, full register frame, guarded 64 KiB emergency stack per CPU for kernel stack overflow (entered at EL1)"
        },
    })
}

/// Exception classes (`ESR_EL1.EC`) by name.
fn exception_name(ec: u64) -> &'static str {
    match ec {
        0x00 => "unknown reason (undefined instruction)",
        0x01 => "trapped WFI/WFE",
        0x07 => "trapped SIMD/FP access",
        0x0e => "illegal execution state",
        0x15 => "SVC from AArch64",
        0x18 => "trapped MSR/MRS/system instruction",
        0x19 => "trapped SVE access",
        0x20 => "instruction abort (lower EL)",
        0x21 => "instruction abort (current EL)",
        0x22 => "PC alignment fault",
        0x24 => "data abort (lower EL)",
        0x25 => "data abort (current EL)",
        0x26 => "SP alignment fault",
        0x2c => "trapped floating-point exception",
        0x2f => "SError interrupt",
        0x30 => "breakpoint (lower EL)",
        0x31 => "breakpoint (current EL)",
        0x32 => "software step (lower EL)",
        0x33 => "software step (current EL)",
        0x34 => "watchpoint (lower EL)",
        0x35 => "watchpoint (current EL)",
        0x3c => "BRK instruction",
        _ => "unexpected exception class",
    }
}

/// Names of aborts by class (instruction/data, lower/current EL) and fault-status kind.
const ABORT_NAMES: [[&str; 7]; 4] = [
    [
        "instruction abort (lower EL): address size fault",
        "instruction abort (lower EL): translation fault",
        "instruction abort (lower EL): access flag fault",
        "instruction abort (lower EL): permission fault",
        "instruction abort (lower EL): synchronous external abort",
        "instruction abort (lower EL): TLB conflict",
        "instruction abort (lower EL)",
    ],
    [
        "instruction abort (current EL): address size fault",
        "instruction abort (current EL): translation fault",
        "instruction abort (current EL): access flag fault",
        "instruction abort (current EL): permission fault",
        "instruction abort (current EL): synchronous external abort",
        "instruction abort (current EL): TLB conflict",
        "instruction abort (current EL)",
    ],
    [
        "data abort (lower EL): address size fault",
        "data abort (lower EL): translation fault",
        "data abort (lower EL): access flag fault",
        "data abort (lower EL): permission fault",
        "data abort (lower EL): synchronous external abort",
        "data abort (lower EL): alignment fault",
        "data abort (lower EL)",
    ],
    [
        "data abort (current EL): address size fault",
        "data abort (current EL): translation fault",
        "data abort (current EL): access flag fault",
        "data abort (current EL): permission fault",
        "data abort (current EL): synchronous external abort",
        "data abort (current EL): alignment fault",
        "data abort (current EL)",
    ],
];

/// Name of a synchronous exception, refined by the fault status code for aborts.
fn sync_name(esr: u64) -> &'static str {
    let ec = (esr >> 26) & 0x3f;
    let class = match ec {
        0x20 => 0,
        0x21 => 1,
        0x24 => 2,
        0x25 => 3,
        _ => return exception_name(ec),
    };
    let fsc = esr & 0x3f;
    let kind = match fsc >> 2 {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => 3,
        _ => match fsc {
            0x10 => 4,
            0x21 if class >= 2 => 5,
            0x30 if class < 2 => 5,
            _ => 6,
        },
    };
    ABORT_NAMES.get(class).and_then(|row| row.get(kind)).copied().unwrap_or("abort")
}

/// Whether `FAR_EL1` holds the faulting address for this syndrome.
fn far_valid(esr: u64) -> bool {
    let ec = (esr >> 26) & 0x3f;
    match ec {
        // Aborts: FAR is valid unless ISS.FnV (bit 10) says otherwise.
        0x20 | 0x21 | 0x24 | 0x25 => esr & (1 << 10) == 0,
        0x22 | 0x34 | 0x35 => true,
        _ => false,
    }
}

const REGISTER_NAMES: [&str; 31] = [
    "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17",
    "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "fp", "lr",
];

/// `ESR_EL1.EC` of an `SVC` instruction executed in AArch64 state.
const EC_SVC64: u64 = 0x15;

/// Called by the vector entries with the saved frame and the entry number (0-15, plus
/// [`OVERFLOW`] when the trap arrived on the emergency stack).
extern "C" fn aarch64_trap_handler(frame: &mut TrapFrame, entry: u64) {
    let overflow = entry & OVERFLOW != 0;
    let source = (entry >> 2) & 3;
    let kind = entry & 3;
    if overflow {
        fatal(frame, entry, overflow, source, kind, None)
    }
    if source == 2 && (frame as *const TrapFrame as u64).wrapping_add(FRAME_SIZE) != super::user::kernel_stack_top() {
        fatal(frame, entry, overflow, source, kind, Some("entry from EL0 not at the top of the thread's kernel stack"))
    }
    // Current EL (SP_EL0 or SP_ELx) or EL0 in AArch64 state.
    match (source, kind) {
        (0..=2, 1) => {
            super::gic::on_interrupt();
            // Every interrupt is completed: the next one can arrive after a switch.
            crate::sched::preempt_point();
        }
        (0..=2, 2) => {
            // FIQs stay masked; count one that arrives anyway.
            super::gic::count_unexpected();
        }
        (2, 0) => lower_el_sync(frame),
        _ => fatal(frame, entry, overflow, source, kind, None),
    }
}

/// A synchronous exception from EL0: a syscall, or a fault that ends the process.
fn lower_el_sync(frame: &mut TrapFrame) {
    let ec = (frame.esr >> 26) & 0x3f;
    if ec == EC_SVC64 {
        let [a0, a1, a2, a3, a4, a5, _, _, number, ..] = frame.x;
        let result = crate::syscall::dispatch(number, [a0, a1, a2, a3, a4, a5]);
        if let Some(x0) = frame.x.first_mut() {
            *x0 = result;
        }
        return;
    }
    let kind = match ec {
        // Data abort with an alignment fault status.
        0x24 if frame.esr & 0x3f == 0x21 => FaultKind::Alignment,
        0x20 | 0x24 => FaultKind::PageFault,
        0x22 | 0x26 => FaultKind::Alignment,
        // Undefined, illegal-state, trapped system-register/instruction (WFI/WFE, cache
        // maintenance, CTR_EL0, DAIF) and SVE accesses.
        0x00 | 0x01 | 0x0e | 0x18 | 0x19 => FaultKind::IllegalInstruction,
        0x2c => FaultKind::Arithmetic,
        0x30 | 0x3c => FaultKind::Breakpoint,
        _ => FaultKind::Other,
    };
    crate::trap::user_fault(
        kind,
        &FaultReport {
            vector: ec,
            name: sync_name(frame.esr),
            addr: far_valid(frame.esr).then_some(frame.far),
            code: Some(frame.esr),
            pc: frame.elr,
            sp: frame.sp,
            registers: &[],
        },
    )
}

fn fatal(frame: &TrapFrame, entry: u64, overflow: bool, source: u64, kind: u64, why: Option<&'static str>) -> ! {
    let depth = FATAL_DEPTH.get(super::percpu::cpu_index()).map_or(0, |d| d.fetch_add(1, Ordering::Relaxed));
    if depth > 0 {
        // A fault while reporting a fault: say so without formatting, then stop.
        super::uart::console_write(b"\r\n[fault] fault inside the fault report; stopping\r\n");
        crate::trap::stop()
    }
    let (vector, name) = match (source, kind) {
        (0 | 1, 0) => ((frame.esr >> 26) & 0x3f, sync_name(frame.esr)),
        (_, 3) => ((frame.esr >> 26) & 0x3f, "SError interrupt"),
        (3, 0) => ((frame.esr >> 26) & 0x3f, "synchronous exception from AArch32 EL0 (never entered)"),
        (3, _) => (entry & 0xf, "interrupt from AArch32 EL0 (never entered)"),
        _ => (entry & 0xf, "exception"),
    };
    let name = why.unwrap_or(name);
    let name = if overflow { "kernel stack overflow: exception taken with SP in a stack guard region" } else { name };
    let mut registers = [("", 0u64); 32];
    for (slot, (name, value)) in registers.iter_mut().zip(REGISTER_NAMES.iter().zip(frame.x.iter())) {
        *slot = (name, *value);
    }
    if let Some(last) = registers.last_mut() {
        *last = ("spsr", frame.spsr);
    }
    kernel_fault(&FaultReport {
        vector,
        name,
        addr: (kind == 0 && far_valid(frame.esr)).then_some(frame.far),
        code: Some(frame.esr),
        pc: frame.elr,
        sp: frame.sp,
        registers: &registers,
    })
}
