// SPDX-License-Identifier: AGPL-3.0-or-later
//! Secondary CPUs: bring-up through PSCI `CPU_ON`, per-CPU setup, the reschedule IPI
//! (docs/adr/0009).
//!
//! The boot CPU fills in the per-CPU record of every other CPU the device tree lists
//! (`percpu.rs`: emergency stack top, MPIDR affinity), maps its guarded kernel stack and its
//! exception (emergency) stack (logical CPU k uses kernel-stack slot `k * (1 + EXCEPTION_STACKS)`
//! and the slots after it), fills in the CPU's boot record (the boot CPU's final MAIR, TCR,
//! TTBR1, SCTLR, PAN and CPACR values, the stack top and the address of its per-CPU record),
//! cleans it to the point of coherency (the started CPU reads it with the MMU and caches off)
//! and calls `CPU_ON` with the MPIDR affinity from the device tree's `cpu@N` `reg`, the
//! physical address of `aarch64_secondary_start` in `.boot` (`entry.rs`) and the record's
//! physical address as the context id. Logical indices follow the device tree's order (the
//! boot CPU is 0); a CPU that fails keeps its index, which is not reused.
//!
//! The CPU enters at EL2 or EL1 with the MMU off (EL2 under `virtualization=on`: it drops to
//! EL1 through the same `aarch64_el2_to_el1` as the boot CPU). The final kernel tables have no
//! identity map, so it turns the MMU on with TTBR0 = the early identity tables in `.boot` (never
//! changed after the boot, and inside the reserved kernel image) and TTBR1 = the kernel root,
//! with the final SCTLR minus WXN (the identity blocks are writable), then jumps to the
//! upper-half `aarch64_secondary_high`. There it points `TPIDR_EL1` at its per-CPU record
//! (from then on `cpu_index` is its logical index), disables TTBR0 walks (`TCR_EL1.EPD0`),
//! turns WXN and PAN on like the boot CPU, invalidates its TLB, takes its stack (SP_EL1),
//! installs the kernel vector table and CPACR_EL1 and unmasks SErrors. In Rust
//! (`aarch64_secondary_main`) it then claims its start against the boot CPU's timeout, sets up
//! EL0 access control (`user::init_user_mode`), its GICv3 redistributor and CPU interface
//! (`gic::init_secondary`: timer PPI and reschedule SGI enabled) and its timer at the boot
//! CPU's rate (`timer::init_secondary`), and calls `crate::smp::secondary_main` with IRQs
//! still masked: that registers its idle thread, marks it online and, once the boot CPU has
//! printed the ready line, unmasks IRQs and runs threads.
//!
//! The boot CPU waits for each CPU in turn (`crate::smp::is_online`, 100 ms). Secondary CPUs
//! do not print during the bring-up (only a kernel fault would): a failure in their setup is a
//! code in [`START`] that the boot CPU reports. A CPU that has not claimed its start when the timeout expires is
//! abandoned (the claim fails and it parks); one that has claimed it gets a second timeout.
//!
//! The reschedule IPI is GICv3 SGI `gic::RESCHEDULE_SGI`, sent to the affinity in the target's
//! per-CPU record; its handler (`gic::on_interrupt`) completes it, calls
//! `crate::smp::on_reschedule_ipi`, and the trap handler then calls `crate::sched::preempt_point`.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

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
    /// Address of the CPU's per-CPU record (`percpu.rs`), its TPIDR_EL1.
    per_cpu: AtomicU64,
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
    per_cpu: AtomicU64::new(0),
    pan: AtomicU64::new(0),
    cpacr: AtomicU64::new(0),
};
static RECORDS: [CpuBoot; MAX_CPUS] = [EMPTY_RECORD; MAX_CPUS];

/// The CPU has not reached Rust code yet (or was never started).
const STARTING: u8 = 0;
/// The CPU claimed its start and is setting itself up.
const JOINING: u8 = 1;
/// The boot CPU gave up waiting before the CPU claimed its start: the CPU parks.
const ABANDONED: u8 = 2;
/// Set by the CPU: its GIC redistributor or CPU interface could not be set up.
const FAILED_GIC: u8 = 3;
/// Set by the CPU: its timer could not be started.
const FAILED_TIMER: u8 = 4;
/// Each secondary CPU's start, by logical index (changed by compare-and-swap only).
static START: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(STARTING) }; MAX_CPUS];

// Registers from `aarch64_secondary_start`: x20 = tcr, x21 = ttbr1, x22 = mair, x23 = sctlr,
// x24 = stack top, x25 = per-CPU record, x26 = pan, x27 = cpacr. Running from TTBR1 now.
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
    msr tpidr_el1, x25
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
    msr daifclr, #4
    mov x29, xzr
    mov x30, xzr
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

/// A secondary CPU on its own stack in the upper half, `TPIDR_EL1` set, IRQs masked: set up
/// what is local to it and join the scheduler.
#[unsafe(no_mangle)]
extern "C" fn aarch64_secondary_main() -> ! {
    let index = super::percpu::cpu_index();
    let Some(start) = START.get(index) else { super::machine::halt() };
    if start.compare_exchange(STARTING, JOINING, Ordering::AcqRel, Ordering::Acquire).is_err() {
        // The boot CPU gave up on this CPU.
        super::machine::halt()
    }
    super::user::init_user_mode();
    let failed = if super::gic::init_secondary().is_err() {
        Some(FAILED_GIC)
    } else if super::timer::init_secondary().is_err() {
        Some(FAILED_TIMER)
    } else {
        None
    };
    if let Some(code) = failed {
        super::timer::stop();
        start.store(code, Ordering::Release);
        super::machine::halt()
    }
    crate::smp::secondary_main(index, super::cpu::mpidr() & MPIDR_AFFINITY)
}

/// Maps the guarded kernel stack and exception stacks of logical CPU `index` and returns the
/// kernel stack's top.
fn map_cpu_stacks(index: u64) -> Result<u64, KernelError> {
    let slot = super::percpu::stack_slot(index);
    if slot + super::EXCEPTION_STACKS >= CPU_STACK_SLOT_LIMIT {
        return Err(KernelError::AddressSpace("no kernel stack slot left for this CPU"));
    }
    for s in slot..=slot + super::EXCEPTION_STACKS {
        memory::map_kernel_stack(s)?;
    }
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
    /// Its affinity cannot be named as an SGI target (no reschedule IPI possible).
    Unreachable,
    /// Its GIC redistributor or CPU interface could not be set up.
    Gic,
    /// Its timer could not be started.
    Timer,
    /// It did not check in before the timeout.
    Timeout,
}

impl core::fmt::Display for Skip {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Skip::TooMany => f.write_str("more CPUs than the kernel supports"),
            Skip::Stack(e) => write!(f, "kernel stack: {e}"),
            Skip::Psci(code) => write!(f, "PSCI CPU_ON failed with error {code}"),
            Skip::Unreachable => {
                f.write_str("its affinity cannot be targeted by an SGI (Aff0 > 15 without range selectors)")
            }
            Skip::Gic => f.write_str("its GICv3 redistributor or CPU interface could not be set up"),
            Skip::Timer => f.write_str("its timer could not be started"),
            Skip::Timeout => f.write_str("did not check in within 100 ms"),
        }
    }
}

/// Starts the CPU with affinity `mpidr` as logical CPU `index` and waits for it to check in.
fn start_cpu(mpidr: u64, index: u64, regs: &Registers) -> Result<(), Skip> {
    let i = usize::try_from(index).map_err(|_| Skip::TooMany)?;
    let (record, start) = match (RECORDS.get(i), START.get(i)) {
        (Some(r), Some(s)) => (r, s),
        _ => return Err(Skip::TooMany),
    };
    if !super::gic::sgi_can_target(mpidr) {
        return Err(Skip::Unreachable);
    }
    let per_cpu = super::percpu::prepare(i, mpidr).ok_or(Skip::TooMany)?;
    let top = map_cpu_stacks(index).map_err(Skip::Stack)?;
    record.tcr.store(super::paging::read_tcr() | super::paging::TCR_EPD0, Ordering::Relaxed);
    record.ttbr1.store(regs.ttbr1, Ordering::Relaxed);
    record.mair.store(regs.mair, Ordering::Relaxed);
    record.sctlr.store(regs.sctlr, Ordering::Relaxed);
    record.stack_top.store(top, Ordering::Relaxed);
    record.per_cpu.store(per_cpu, Ordering::Relaxed);
    record.pan.store(regs.pan, Ordering::Relaxed);
    record.cpacr.store(regs.cpacr, Ordering::Relaxed);
    // The record, the per-CPU record and the page tables are complete, and the record is in
    // memory, before the CPU can read them.
    core::sync::atomic::fence(Ordering::SeqCst);
    clean_to_poc(record);
    let record_phys = (record as *const CpuBoot as u64).wrapping_sub(KERNEL_OFFSET);
    // SAFETY: a static initialised by the linker with the address of `aarch64_secondary_start`.
    let entry = unsafe { core::ptr::read_volatile(&raw const aarch64_secondary_start_phys) };
    super::machine::psci_cpu_on(mpidr, entry, record_phys).map_err(Skip::Psci)?;
    wait_for_check_in(i, start)
}

/// Waits for logical CPU `index` to come online or report a failure. A CPU still in
/// [`STARTING`] at the timeout is abandoned; one that is [`JOINING`] gets one more timeout.
fn wait_for_check_in(index: usize, start: &AtomicU8) -> Result<(), Skip> {
    let settled = || crate::smp::is_online(index) || start.load(Ordering::Acquire) > ABANDONED;
    for _ in 0..2 {
        // The clock runs by now (`init_timer`); the spin limit only bounds the wait if it did not.
        let deadline = time::uptime_ns().saturating_add(CHECK_IN_TIMEOUT_NS);
        spin_until(CHECK_IN_SPIN_LIMIT, || settled() || time::uptime_ns() >= deadline);
        if crate::smp::is_online(index) {
            return Ok(());
        }
        match start.load(Ordering::Acquire) {
            FAILED_GIC => return Err(Skip::Gic),
            FAILED_TIMER => return Err(Skip::Timer),
            JOINING => continue,
            _ => {
                if start.compare_exchange(STARTING, ABANDONED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                    return Err(Skip::Timeout);
                }
            }
        }
    }
    // Joining for two timeouts: it either stops now or has committed and is let in.
    if crate::smp::withdraw_or_wait(index) { Ok(()) } else { Err(Skip::Timeout) }
}

/// Starts every CPU the device tree lists besides the boot CPU, prints the `[smp]` line and
/// returns the number of CPUs online (the boot CPU included).
pub fn start_secondary_cpus(info: &BootInfo) -> u32 {
    let boot = super::cpu::mpidr() & MPIDR_AFFINITY;
    let listed = info.cpu_count();
    let regs = read_registers();
    let mut index: u64 = 0;
    for mpidr in info.cpu_id_list().map(|id| id & MPIDR_AFFINITY).filter(|&id| id != boot) {
        index += 1;
        if let Some(why) = crate::smp::start_refused() {
            kwarn!("[smp] CPU {mpidr:#x} skipped: {why}");
            continue;
        }
        if let Err(why) = start_cpu(mpidr, index, &regs) {
            kwarn!("[smp] CPU {mpidr:#x} skipped: {why}");
        }
    }
    // What the CPUs reported when they checked in (`crate::smp`), in logical order.
    let (online, cpus) = crate::smp::online_ids(true);
    kinfo!("[smp] {online} of {listed} CPUs online (MPIDR {cpus})");
    online
}

/// Sends the reschedule interrupt to logical CPU `cpu` (nothing for a CPU that is not online).
pub fn send_reschedule_ipi(cpu: usize) {
    if !crate::smp::is_online(cpu) {
        return;
    }
    if let Some(target) = super::percpu::cpu(cpu) {
        super::gic::send_sgi(target.affinity.load(Ordering::Relaxed), super::gic::RESCHEDULE_SGI);
    }
}

/// The firmware id of the boot CPU (its MPIDR_EL1 affinity fields).
pub fn boot_cpu_id() -> u64 {
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { core::arch::asm!("mrs {0}, mpidr_el1", out(reg) mpidr, options(nomem, nostack, preserves_flags)) };
    mpidr & MPIDR_AFFINITY
}
