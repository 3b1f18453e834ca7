// SPDX-License-Identifier: AGPL-3.0-or-later
//! Secondary hart bring-up through SBI HSM `hart_start` (first step of SMP, docs/adr/0009).
//!
//! The boot hart maps a guarded kernel stack for every other hart the device tree lists
//! (hart index k uses kernel-stack slot `k * (1 + EXCEPTION_STACKS)`), fills in the hart's
//! boot record and starts it at `riscv64_secondary_start` in `.boot` (`entry.rs`, after `_start`; physical address, MMU
//! off, a0 = hart id, a1 = physical address of the record). There the hart sets `stvec` to the
//! upper-half continuation and writes `satp` with the kernel root: the final tables have no
//! identity map, so the next instruction fetch faults into `stvec`, which is the continuation.
//! It takes its stack, installs the normal trap vector, marks itself online and parks in a
//! `wfi` loop with interrupts masked (`sie` = 0, `sstatus.SIE` = 0).
//!
//! Secondary harts take no lock and never print: they only store to atomics.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel_boot::{BootInfo, MAX_CPUS};
use kernel_core::sync::spin_until;

use super::paging::KERNEL_OFFSET;
use super::sbi;
use crate::error::KernelError;
use crate::memory;
use crate::{layout, time};

/// Kernel-stack slots below this belong to CPUs; threads start here (`sched.rs`).
const CPU_STACK_SLOT_LIMIT: u64 = 64;
/// How long the boot hart waits for a started hart to check in.
const CHECK_IN_TIMEOUT_NS: u64 = 100_000_000;
/// Upper bound on the polls of the check-in flag, in case the clock does not advance.
const CHECK_IN_SPIN_LIMIT: u32 = 50_000_000;

/// What a starting hart reads with the MMU off (through its physical address).
#[repr(C)]
struct HartBoot {
    /// The `satp` value of the kernel address space.
    satp: AtomicU64,
    /// Top of the hart's kernel stack (virtual).
    stack_top: AtomicU64,
    /// Virtual address of the upper-half continuation (loaded into `stvec`).
    continuation: AtomicU64,
    /// The hart's logical CPU index.
    index: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_RECORD: HartBoot = HartBoot {
    satp: AtomicU64::new(0),
    stack_top: AtomicU64::new(0),
    continuation: AtomicU64::new(0),
    index: AtomicU64::new(0),
};
static RECORDS: [HartBoot; MAX_CPUS] = [EMPTY_RECORD; MAX_CPUS];

#[allow(clippy::declare_interior_mutable_const)]
const OFFLINE: AtomicBool = AtomicBool::new(false);
/// Set by each secondary hart (by logical index) once it is parked in the upper half.
static ONLINE: [AtomicBool; MAX_CPUS] = [OFFLINE; MAX_CPUS];

core::arch::global_asm!(
    r#"
    .section .rodata.riscv64_secondary, "a"
    .balign 8
    .global riscv64_secondary_start_phys
riscv64_secondary_start_phys:
    .quad riscv64_secondary_start

    .section .text.riscv64_secondary, "ax"
    .balign 4
    .global riscv64_secondary_high
riscv64_secondary_high:
    mv sp, s1
    csrw sscratch, zero
    csrw sie, zero
    csrci sstatus, 0x2
    lla t0, riscv64_trap_entry
    csrw stvec, t0
    li ra, 0
    li fp, 0
    mv a0, s2
    call riscv64_secondary_main
2:  wfi
    j 2b
"#
);

unsafe extern "C" {
    /// The upper-half continuation (only its address is used).
    fn riscv64_secondary_high();
    /// The physical address of `riscv64_secondary_start`.
    static riscv64_secondary_start_phys: u64;
}

/// A secondary hart on its own stack in the upper half: check in, then park.
#[unsafe(no_mangle)]
extern "C" fn riscv64_secondary_main(index: u64) -> ! {
    if let Some(flag) = usize::try_from(index).ok().and_then(|i| ONLINE.get(i)) {
        flag.store(true, Ordering::Release);
    }
    super::cpu::halt()
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

/// Why a hart was skipped.
enum Skip {
    /// More CPUs than the kernel has records for.
    TooMany,
    /// Its kernel stack could not be mapped.
    Stack(KernelError),
    /// The firmware refused `hart_start` (SBI error code).
    Sbi(isize),
    /// It did not check in before the timeout.
    Timeout,
}

impl core::fmt::Display for Skip {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Skip::TooMany => f.write_str("more CPUs than the kernel supports"),
            Skip::Stack(e) => write!(f, "kernel stack: {e}"),
            Skip::Sbi(code) => write!(f, "SBI hart_start failed with error {code}"),
            Skip::Timeout => f.write_str("did not check in within 100 ms"),
        }
    }
}

/// Starts hart `hart` as logical CPU `index` and waits for it to check in.
fn start_hart(hart: u64, index: u64) -> Result<(), Skip> {
    let i = usize::try_from(index).map_err(|_| Skip::TooMany)?;
    let (record, online) = match (RECORDS.get(i), ONLINE.get(i)) {
        (Some(r), Some(o)) => (r, o),
        _ => return Err(Skip::TooMany),
    };
    let top = map_cpu_stack(index).map_err(Skip::Stack)?;
    record.satp.store(super::user::satp_for(memory::kernel_root()), Ordering::Relaxed);
    record.stack_top.store(top, Ordering::Relaxed);
    record.continuation.store(riscv64_secondary_high as *const () as u64, Ordering::Relaxed);
    record.index.store(index, Ordering::Relaxed);
    // The record and the page tables are complete before the hart can read them.
    core::sync::atomic::fence(Ordering::SeqCst);
    let record_phys = (record as *const HartBoot as u64).wrapping_sub(KERNEL_OFFSET);
    // SAFETY: a static initialised by the linker with the address of `riscv64_secondary_start`.
    let entry = unsafe { core::ptr::read_volatile(&raw const riscv64_secondary_start_phys) };
    sbi::hart_start(hart, entry, record_phys).map_err(|e| Skip::Sbi(e.0))?;
    // The clock runs by now (`init_timer`); the spin limit only bounds the wait if it did not.
    let deadline = time::uptime_ns().saturating_add(CHECK_IN_TIMEOUT_NS);
    let arrived = spin_until(CHECK_IN_SPIN_LIMIT, || online.load(Ordering::Acquire) || time::uptime_ns() >= deadline);
    if arrived && online.load(Ordering::Acquire) { Ok(()) } else { Err(Skip::Timeout) }
}

/// Starts every hart the device tree lists besides the boot hart, parks them, prints the
/// `[smp]` line and returns the number of CPUs online (the boot hart included).
pub fn start_secondary_cpus(info: &BootInfo) -> u32 {
    let boot = super::plic::boot_hart();
    let listed = info.cpu_count();
    let hsm = sbi::has_extension(sbi::EID_HSM);
    let mut online: u32 = 1;
    let mut index: u64 = 0;
    let mut harts = HartList::new();
    harts.push(boot);
    for hart in info.cpu_id_list().filter(|&h| h != boot) {
        index += 1;
        if !hsm {
            kwarn!("[smp] hart {hart} skipped: the firmware has no SBI HSM extension");
            continue;
        }
        match start_hart(hart, index) {
            Ok(()) => {
                online += 1;
                harts.push(hart);
            }
            Err(why) => kwarn!("[smp] hart {hart} skipped: {why}"),
        }
    }
    kinfo!("[smp] {online} of {listed} CPUs online (harts {harts})");
    online
}

/// The hart ids that are online, printed as `0, 1, 2`.
struct HartList {
    ids: [u64; MAX_CPUS],
    len: usize,
}

impl HartList {
    fn new() -> Self {
        HartList { ids: [0; MAX_CPUS], len: 0 }
    }

    fn push(&mut self, id: u64) {
        if let Some(slot) = self.ids.get_mut(self.len) {
            *slot = id;
            self.len += 1;
        }
    }
}

impl core::fmt::Display for HartList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (n, id) in self.ids.iter().take(self.len).enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{id}")?;
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

/// The firmware id of the boot CPU (its hart id).
pub fn boot_cpu_id() -> u64 {
    super::plic::boot_hart()
}
