// SPDX-License-Identifier: AGPL-3.0-or-later
//! Per-CPU data, reached through `TPIDR_EL1`.
//!
//! Every CPU's `TPIDR_EL1` holds the address of its own [`PerCpu`] record in [`PER_CPU`]
//! (element k for logical CPU k), set before the CPU runs any Rust code and never changed:
//! by `aarch64_high_entry` (`entry.rs`) for the boot CPU and by `aarch64_secondary_high`
//! (`smp.rs`) for the others. [`cpu_index`] is therefore one register read and a subtraction,
//! with no memory access: `(TPIDR_EL1 - &PER_CPU) / size_of::<PerCpu>()`.
//!
//! `TPIDR_EL1` used to be the scratch register of the exception vectors; they now park x0 in
//! `TPIDRRO_EL0` instead, which user threads never see with a kernel value in it: the only way
//! back to EL0, `aarch64_trap_return`, zeroes it (`trap.rs`). The alternative, looking
//! `MPIDR_EL1` up in a table of affinities, would cost a search on every lock acquisition.
//!
//! The stack-overflow path of the vectors reads [`PerCpu`]'s `emergency_top` at a fixed offset
//! (`EMERGENCY_TOP_OFFSET`), so the emergency stack is per CPU too.

use core::sync::atomic::{AtomicU64, Ordering};

use kernel_boot::MAX_CPUS;

/// One CPU's record. Fields that other CPUs read or write are atomics.
#[repr(C, align(64))]
pub(super) struct PerCpu {
    /// Top of this CPU's emergency stack (kernel stack overflow, `trap.rs`); 0 until set.
    pub(super) emergency_top: AtomicU64,
    /// Top of the kernel stack of the thread running here, for entries from EL0 (`user.rs`).
    pub(super) kernel_stack_top: AtomicU64,
    /// The CPU's MPIDR_EL1 affinity fields (reschedule SGI target).
    pub(super) affinity: AtomicU64,
    /// Physical RD_base of the CPU's GICv3 redistributor (0 until found, `gic.rs`).
    pub(super) gicr_base: AtomicU64,
}

/// Offset of `emergency_top` (read by the vector code).
pub(super) const EMERGENCY_TOP_OFFSET: u64 = core::mem::offset_of!(PerCpu, emergency_top) as u64;
const RECORD_SIZE: u64 = core::mem::size_of::<PerCpu>() as u64;
const _: () = assert!(RECORD_SIZE.is_power_of_two());

/// The records, by logical CPU index.
pub(super) static PER_CPU: [PerCpu; MAX_CPUS] = [const {
    PerCpu {
        emergency_top: AtomicU64::new(0),
        kernel_stack_top: AtomicU64::new(0),
        affinity: AtomicU64::new(0),
        gicr_base: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// Slot of logical CPU `index`'s kernel stack; its exception stacks follow it.
pub(super) const fn stack_slot(index: u64) -> u64 {
    index * (1 + super::EXCEPTION_STACKS)
}

/// Top of logical CPU `index`'s emergency stack (its first exception-stack slot).
pub(super) const fn emergency_top(index: u64) -> u64 {
    crate::layout::kernel_stack(stack_slot(index) + 1).1
}

const _: () = assert!(emergency_top(0) == crate::layout::exception_stack(0).1);

/// TPIDR_EL1.
fn tpidr() -> u64 {
    let v: u64;
    // SAFETY: reading TPIDR_EL1 has no side effects. Not `pure`: a thread may continue on
    // another CPU after a switch, so two reads must not be merged.
    unsafe { core::arch::asm!("mrs {0}, tpidr_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// The logical index of the running CPU (0 if `TPIDR_EL1` were ever outside [`PER_CPU`],
/// which the entry code rules out).
#[inline]
pub fn cpu_index() -> usize {
    let offset = tpidr().wrapping_sub(PER_CPU.as_ptr() as u64);
    let index = offset / RECORD_SIZE;
    if index < MAX_CPUS as u64 { index as usize } else { 0 }
}

/// The running CPU's record (always `Some`: [`cpu_index`] is below `MAX_CPUS`).
pub(super) fn this_cpu() -> Option<&'static PerCpu> {
    cpu(cpu_index())
}

/// Logical CPU `index`'s record.
pub(super) fn cpu(index: usize) -> Option<&'static PerCpu> {
    PER_CPU.get(index)
}

/// Fills in logical CPU `index`'s record before the CPU starts (or, for the boot CPU, as
/// early as possible); returns the value its `TPIDR_EL1` must hold.
pub(super) fn prepare(index: usize, affinity: u64) -> Option<u64> {
    let record = cpu(index)?;
    record.emergency_top.store(emergency_top(index as u64), Ordering::Relaxed);
    record.affinity.store(affinity, Ordering::Relaxed);
    Some(record as *const PerCpu as u64)
}
