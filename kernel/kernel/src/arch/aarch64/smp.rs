// SPDX-License-Identifier: AGPL-3.0-or-later
//! Secondary CPU bring-up through PSCI `CPU_ON` (first step of SMP, docs/adr/0009).
//!
//! The boot CPU maps a guarded kernel stack for every other CPU the device tree lists (logical
//! CPU k uses kernel-stack slot `k * (1 + EXCEPTION_STACKS)`), fills in the CPU's boot record
//! (the boot CPU's final MAIR, TCR, TTBR1, SCTLR, PAN and CPACR values, the stack top and the
//! logical index), cleans it to the point of coherency (the started CPU reads it with the MMU
//! and caches off) and calls `CPU_ON` with the MPIDR affinity from the device tree's `cpu@N`
//! `reg`, the physical address of `aarch64_secondary_start` in `.boot` (`entry.rs`) and the
//! record's physical address as the context id.
//!
//! The CPU enters at EL2 or EL1 with the MMU off (EL2 under `virtualization=on`: it drops to
//! EL1 through the same `aarch64_el2_to_el1` as the boot CPU). The final kernel tables have no
//! identity map, so it turns the MMU on with TTBR0 = the early identity tables in `.boot` (never
//! changed after the boot, and inside the reserved kernel image) and TTBR1 = the kernel root,
//! with the final SCTLR minus WXN (the identity blocks are writable), then jumps to the
//! upper-half `aarch64_secondary_high`. There it disables TTBR0 walks (`TCR_EL1.EPD0`), turns
//! WXN and PAN on like the boot CPU, invalidates its TLB, takes its stack (SP_EL1), installs the
//! kernel vector table and CPACR_EL1, marks itself online and parks in a `wfi` loop with every
//! exception masked (`DAIF`).
//!
//! Secondary CPUs take no lock and never print: they only store to atomics.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel_boot::{BootInfo, MAX_CPUS};
use kernel_core::sync::spin_until;

use super::paging::{KERNEL_OFFSET, PSTATE_PAN};
use crate::error::KernelError;
use crate::memory;
use crate::{layout, time};

/// Kernel-stack slots below this belong to CPUs; threads start here (`sched.rs`).
const CPU_STACK_SLOT_LIMIT: u64 = 64;
/// How long the boot CPU waits for a started CPU to check in.
const CHECK_IN_TIMEOUT_NS: u64 = 100_000_000;
/// Upper bound on the polls of the check-in flag, in case the clock does not advance.
const CHECK_IN_SPIN_LIMIT: u32 = 50_000_000;
/// The affinity fields of MPIDR_EL1 (Aff3, Aff2, Aff1, Aff0), as the device tree's `reg`.
const MPIDR_AFFINITY: u64 = 0xff_00ff_ffff;

/// What a starting CPU reads with the MMU off (through its physical address). The field order
/// is fixed by `aarch64_secondary_start` (`entry.rs`).
#[repr(C, align(64))]
struct CpuBoot {
    /// The final TCR_EL1 (TTBR0 walks disabled; the entry clears EPD0 for the switch).
    tcr: AtomicU64,
    /// TTBR1_EL1: the kernel root.
    ttbr1: AtomicU64,
    /// MAIR_EL1.
    mair: AtomicU64,
    /// The final SCTLR_EL1 (the entry clears WXN for the switch).
    sctlr: AtomicU64,
    /// Top of the CPU's kernel stack (virtual).
    stack_top: AtomicU64,
    /// The CPU's logical index.
    index: AtomicU64,
    /// The PAN register value to set (0: the CPU has no PAN, leave it).
    pan: AtomicU64,
    /// CPACR_EL1.
    cpacr: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_RECORD: CpuBoot = CpuBoot {
    tcr: AtomicU64::new(0),
    ttbr1: AtomicU64::new(0),
    mair: AtomicU64::new(0),
    sctlr: AtomicU64::new(0),
    stack_top: AtomicU64::new(0),
    index: AtomicU64::new(0),
    pan: AtomicU64::new(0),
    cpacr: AtomicU64::new(0),
};
static RECORDS: [CpuBoot; MAX_CPUS] = [EMPTY_RECORD; MAX_CPUS];

#[allow(clippy::declare_interior_mutable_const)]
const OFFLINE: AtomicBool = AtomicBool::new(false);
/// Set by each secondary CPU (by logical index) once it is parked in the upper half.
static ONLINE: [AtomicBool; MAX_CPUS] = [OFFLINE; MAX_CPUS];

// Registers from `aarch64_secondary_start`: x20 = tcr, x21 = ttbr1, x22 = mair, x23 = sctlr,
// x24 = stack top, x25 = index, x26 = pan, x27 = cpacr. Running from TTBR1 now.
core::arch::global_asm!(
    r#"
    .section .rodata.aarch64_secondary, "a"
    .balign 8
    .global aarch64_secondary_start_phys
aarch64_secondary_start_phys:
    .quad aarch64_secondary_start

    .section .text.aarch64_secondary, "ax"
    .balign 4
    .global aarch64_secondary_high
aarch64_secondary_high:
    mov sp, x24
    msr tcr_el1, x20
    msr sctlr_el1, x23
    isb
    tlbi vmalle1
    dsb nsh
    isb
    cbz x26, 1f
    msr s3_0_c4_c2_3, x26
    isb
1:  adrp x9, aarch64_vectors
    add x9, x9, :lo12:aarch64_vectors
    msr vbar_el1, x9
    msr cpacr_el1, x27
    isb
    mov x29, xzr
    mov x30, xzr
    mov x0, x25
    bl aarch64_secondary_main
2:  msr daifset, #0xf
    wfi
    b 2b
"#
);

unsafe extern "C" {
    /// The physical address of `aarch64_secondary_start`.
    static aarch64_secondary_start_phys: u64;
}

/// A secondary CPU on its own stack in the upper half: check in, then park.
#[unsafe(no_mangle)]
extern "C" fn aarch64_secondary_main(index: u64) -> ! {
    if let Some(flag) = usize::try_from(index).ok().and_then(|i| ONLINE.get(i)) {
        flag.store(true, Ordering::Release);
    }
    super::machine::halt()
}

/// Maps the guarded kernel stack of logical CPU `index` and returns its top.
fn map_cpu_stack(index: u64) -> Result<u64, KernelError> {
    let slot = index * (1 + super::EXCEPTION_STACKS);
    if slot + super::EXCEPTION_STACKS >= CPU_STACK_SLOT_LIMIT {
        return Err(KernelError::AddressSpace("no kernel stack slot left for this CPU"));
    }
    memory::map_kernel_stack(slot)?;
    Ok(layout::kernel_stack(slot).1)
}

/// The boot CPU's translation and control registers a secondary CPU copies.
struct Registers {
    ttbr1: u64,
    mair: u64,
    sctlr: u64,
    pan: u64,
    cpacr: u64,
}

fn read_registers() -> Registers {
    let (ttbr1, mair, cpacr): (u64, u64, u64);
    // SAFETY: reading system registers has no side effects.
    unsafe {
        core::arch::asm!(
            "mrs {0}, ttbr1_el1",
            "mrs {1}, mair_el1",
            "mrs {2}, cpacr_el1",
            out(reg) ttbr1,
            out(reg) mair,
            out(reg) cpacr,
            options(nomem, nostack, preserves_flags)
        );
    }
    let pan = if (super::cpu::id_aa64mmfr1() >> 20) & 0xf != 0 {
        let v: u64;
        // SAFETY: reading PSTATE.PAN (generic encoding S3_0_C4_C2_3), present on this CPU.
        unsafe { core::arch::asm!("mrs {0}, s3_0_c4_c2_3", out(reg) v, options(nomem, nostack, preserves_flags)) };
        v & PSTATE_PAN
    } else {
        0
    };
    Registers { ttbr1, mair, sctlr: super::paging::read_sctlr(), pan, cpacr }
}

/// Cleans the data cache lines of `record` to the point of coherency, for a reader with the
/// MMU and caches off.
fn clean_to_poc(record: &CpuBoot) {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {0}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    let line = 4u64 << ((ctr >> 16) & 0xf);
    let start = record as *const CpuBoot as u64;
    let end = start + core::mem::size_of::<CpuBoot>() as u64;
    let mut addr = start & !(line - 1);
    while addr < end {
        // SAFETY: cleaning a cache line of a mapped static only writes it back to memory.
        unsafe { core::arch::asm!("dc cvac, {0}", in(reg) addr, options(nostack, preserves_flags)) };
        addr += line;
    }
    // SAFETY: a barrier only orders the cleaning before what follows (the PSCI call).
    unsafe { core::arch::asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// Why a CPU was skipped.
enum Skip {
    /// More CPUs than the kernel has records for.
    TooMany,
    /// Its kernel stack could not be mapped.
    Stack(KernelError),
    /// The firmware refused `CPU_ON` (PSCI error code).
    Psci(i64),
    /// It did not check in before the timeout.
    Timeout,
}

impl core::fmt::Display for Skip {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Skip::TooMany => f.write_str("more CPUs than the kernel supports"),
            Skip::Stack(e) => write!(f, "kernel stack: {e}"),
            Skip::Psci(code) => write!(f, "PSCI CPU_ON failed with error {code}"),
            Skip::Timeout => f.write_str("did not check in within 100 ms"),
        }
    }
}

/// Starts the CPU with affinity `mpidr` as logical CPU `index` and waits for it to check in.
fn start_cpu(mpidr: u64, index: u64, regs: &Registers) -> Result<(), Skip> {
    let i = usize::try_from(index).map_err(|_| Skip::TooMany)?;
    let (record, online) = match (RECORDS.get(i), ONLINE.get(i)) {
        (Some(r), Some(o)) => (r, o),
        _ => return Err(Skip::TooMany),
    };
    let top = map_cpu_stack(index).map_err(Skip::Stack)?;
    record.tcr.store(super::paging::read_tcr() | super::paging::TCR_EPD0, Ordering::Relaxed);
    record.ttbr1.store(regs.ttbr1, Ordering::Relaxed);
    record.mair.store(regs.mair, Ordering::Relaxed);
    record.sctlr.store(regs.sctlr, Ordering::Relaxed);
    record.stack_top.store(top, Ordering::Relaxed);
    record.index.store(index, Ordering::Relaxed);
    record.pan.store(regs.pan, Ordering::Relaxed);
    record.cpacr.store(regs.cpacr, Ordering::Relaxed);
    // The record and the page tables are complete, and the record is in memory, before the
    // CPU can read them.
    core::sync::atomic::fence(Ordering::SeqCst);
    clean_to_poc(record);
    let record_phys = (record as *const CpuBoot as u64).wrapping_sub(KERNEL_OFFSET);
    // SAFETY: a static initialised by the linker with the address of `aarch64_secondary_start`.
    let entry = unsafe { core::ptr::read_volatile(&raw const aarch64_secondary_start_phys) };
    super::machine::psci_cpu_on(mpidr, entry, record_phys).map_err(Skip::Psci)?;
    // The clock runs by now (`init_timer`); the spin limit only bounds the wait if it did not.
    let deadline = time::uptime_ns().saturating_add(CHECK_IN_TIMEOUT_NS);
    let arrived = spin_until(CHECK_IN_SPIN_LIMIT, || online.load(Ordering::Acquire) || time::uptime_ns() >= deadline);
    if arrived && online.load(Ordering::Acquire) { Ok(()) } else { Err(Skip::Timeout) }
}

/// Starts every CPU the device tree lists besides the boot CPU, parks them, prints the `[smp]`
/// line and returns the number of CPUs online (the boot CPU included).
pub fn start_secondary_cpus(info: &BootInfo) -> u32 {
    let boot = super::cpu::mpidr() & MPIDR_AFFINITY;
    let listed = info.cpu_count();
    let regs = read_registers();
    let mut online: u32 = 1;
    let mut index: u64 = 0;
    let mut cpus = CpuList::new();
    cpus.push(boot);
    for mpidr in info.cpu_id_list().map(|id| id & MPIDR_AFFINITY).filter(|&id| id != boot) {
        index += 1;
        match start_cpu(mpidr, index, &regs) {
            Ok(()) => {
                online += 1;
                cpus.push(mpidr);
            }
            Err(why) => kwarn!("[smp] CPU {mpidr:#x} skipped: {why}"),
        }
    }
    kinfo!("[smp] {online} of {listed} CPUs online (MPIDR {cpus})");
    online
}

/// The affinities of the CPUs online, printed as `0x0, 0x1, 0x2`.
struct CpuList {
    ids: [u64; MAX_CPUS],
    len: usize,
}

impl CpuList {
    fn new() -> Self {
        CpuList { ids: [0; MAX_CPUS], len: 0 }
    }

    fn push(&mut self, id: u64) {
        if let Some(slot) = self.ids.get_mut(self.len) {
            *slot = id;
            self.len += 1;
        }
    }
}

impl core::fmt::Display for CpuList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (n, id) in self.ids.iter().take(self.len).enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{id:#x}")?;
        }
        Ok(())
    }
}

/// The logical index of the running CPU (secondary CPUs do not run kernel code besides
/// parking yet, so this is the boot CPU).
pub fn cpu_index() -> usize {
    0
}

/// Sends a reschedule interrupt to CPU `cpu` (secondary CPUs do not schedule yet: nothing to do).
pub fn send_reschedule_ipi(_cpu: usize) {}

/// The firmware id of the boot CPU (its MPIDR_EL1 affinity fields).
pub fn boot_cpu_id() -> u64 {
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { core::arch::asm!("mrs {0}, mpidr_el1", out(reg) mpidr, options(nomem, nostack, preserves_flags)) };
    mpidr & MPIDR_AFFINITY
}
