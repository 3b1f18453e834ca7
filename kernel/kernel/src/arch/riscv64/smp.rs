// SPDX-License-Identifier: AGPL-3.0-or-later
//! Secondary harts: bring-up through SBI HSM `hart_start`, reschedule IPIs through the SBI
//! IPI extension, remote TLB fences through SBI RFENCE (docs/adr/0009).
//!
//! The boot hart maps a guarded kernel stack and a guarded emergency stack for every other
//! hart the device tree lists (logical CPU k uses kernel-stack slot `k * (1 + EXCEPTION_STACKS)`
//! and the next one), prepares its per-CPU block (`percpu.rs`), fills in its boot record and
//! starts it at `riscv64_secondary_start` in `.boot` (`entry.rs`, after `_start`; physical
//! address, MMU off, a0 = hart id, a1 = physical address of the record). There the hart sets
//! `stvec` to the upper-half continuation and writes `satp` with the kernel root: the final
//! tables have no identity map, so the next instruction fetch faults into `stvec`, which is the
//! continuation. It takes its stack and its `tp` (the per-CPU block), installs the normal trap
//! vector and enters [`riscv64_secondary_main`] with interrupts masked. That claims the
//! record (so a hart the boot hart gave up on parks instead of joining late), marks the hart
//! present (remote fences and IPIs reach it from now on), arms its timer at the boot hart's
//! rate, enables its timer and software interrupts in `sie` (external interrupts stay routed
//! to the boot hart by the PLIC) and calls `crate::smp::secondary_main`, which registers it
//! with the scheduler and marks it online.
//!
//! A reschedule IPI is an SBI `send_ipi` to the target hart; it arrives as a supervisor
//! software interrupt (`trap.rs`). Remote fences ([`remote_sfence_vma`]) go to every other
//! present hart; see `user.rs` for the shootdown ordering.

use core::sync::atomic::{AtomicU64, Ordering};

use kernel_boot::{BootInfo, MAX_CPUS};
use kernel_core::sync::spin_until;

use super::paging::KERNEL_OFFSET;
use super::percpu;
use super::sbi::{self, HartMask};
use crate::error::KernelError;
use crate::memory;
use crate::{layout, time};

/// Kernel-stack slots below this belong to CPUs; threads start here (`sched.rs`).
const CPU_STACK_SLOT_LIMIT: u64 = 64;
/// How long the boot hart waits for a started hart to reach the kernel, and then again for
/// it to come online.
const CHECK_IN_TIMEOUT_NS: u64 = 100_000_000;
/// Upper bound on the polls of the check-in flag, in case the clock does not advance.
const CHECK_IN_SPIN_LIMIT: u32 = 50_000_000;

/// Record states: written by the boot hart, claimed by the secondary hart.
const RECORD_STARTING: u64 = 0;
/// The hart reached Rust and goes on to come online.
const RECORD_CLAIMED: u64 = 1;
/// The boot hart gave up waiting: the hart must park if it ever arrives.
const RECORD_ABANDONED: u64 = 2;
/// The hart could not arm its timer.
const RECORD_TIMER_FAILED: u64 = 3;

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
    /// The hart's `tp`: the virtual address of its per-CPU block.
    tp: AtomicU64,
    /// `RECORD_*`.
    state: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_RECORD: HartBoot = HartBoot {
    satp: AtomicU64::new(0),
    stack_top: AtomicU64::new(0),
    continuation: AtomicU64::new(0),
    index: AtomicU64::new(0),
    tp: AtomicU64::new(0),
    state: AtomicU64::new(RECORD_STARTING),
};
static RECORDS: [HartBoot; MAX_CPUS] = [EMPTY_RECORD; MAX_CPUS];
const _: () = assert!(core::mem::offset_of!(HartBoot, index) == 24 && core::mem::offset_of!(HartBoot, tp) == 32);

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
    /* s0 = hart id, s1 = stack top, s2 = logical index, s3 = per-CPU block. */
riscv64_secondary_high:
    mv sp, s1
    mv tp, s3
    csrw sscratch, zero
    csrw sie, zero
    csrci sstatus, 0x2
    lla t0, riscv64_trap_entry
    csrw stvec, t0
    /* Arguments first: fp is s0, the hart id. */
    mv a0, s2
    mv a1, s0
    li ra, 0
    li fp, 0
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

/// A secondary hart on its own stack in the upper half, `tp` set, interrupts masked.
#[unsafe(no_mangle)]
extern "C" fn riscv64_secondary_main(index: u64, hart: u64) -> ! {
    let i = usize::try_from(index).unwrap_or(usize::MAX);
    let (Some(record), Some(block)) = (RECORDS.get(i), percpu::block(i)) else { super::cpu::halt() };
    if record.state.compare_exchange(RECORD_STARTING, RECORD_CLAIMED, Ordering::AcqRel, Ordering::Acquire).is_err() {
        // The boot hart gave up on this hart: stay out of everything.
        super::cpu::halt()
    }
    block.mark_present();
    if super::timer::start_secondary().is_err() {
        record.state.store(RECORD_TIMER_FAILED, Ordering::Release);
        super::cpu::halt()
    }
    enable_software_interrupt();
    crate::smp::secondary_main(i, hart)
}

/// Lets reschedule IPIs (supervisor software interrupts) in on this hart.
fn enable_software_interrupt() {
    // SAFETY: setting sie.SSIE; the trap handler acknowledges and handles the interrupt.
    unsafe { core::arch::asm!("csrs sie, {0}", in(reg) 1u64 << 1, options(nostack)) };
}

/// Maps the guarded kernel stack and emergency stack of logical CPU `index` and returns
/// their tops.
fn map_cpu_stacks(index: u64) -> Result<(u64, u64), KernelError> {
    let slot = index * (1 + super::EXCEPTION_STACKS);
    if slot + super::EXCEPTION_STACKS >= CPU_STACK_SLOT_LIMIT {
        return Err(KernelError::AddressSpace("no kernel stack slot left for this CPU"));
    }
    let stack = memory::map_kernel_stack(slot)?;
    if let Err(e) = memory::map_kernel_stack(slot + 1) {
        let _ = memory::unmap_kernel_stack(slot, stack);
        return Err(e);
    }
    Ok((layout::kernel_stack(slot).1, layout::kernel_stack(slot + 1).1))
}

/// Why a hart was skipped.
enum Skip {
    /// More CPUs than the kernel has records for.
    TooMany,
    /// Its kernel stacks could not be mapped.
    Stack(KernelError),
    /// The firmware refused `hart_start` (SBI error code).
    Sbi(isize),
    /// It did not reach the kernel before the timeout.
    Timeout,
    /// It could not arm its timer.
    Timer,
    /// It reached the kernel but did not come online before the timeout.
    NotOnline,
}

impl core::fmt::Display for Skip {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Skip::TooMany => f.write_str("more CPUs than the kernel supports"),
            Skip::Stack(e) => write!(f, "kernel stack: {e}"),
            Skip::Sbi(code) => write!(f, "SBI hart_start failed with error {code}"),
            Skip::Timeout => f.write_str("did not check in within 100 ms"),
            Skip::Timer => f.write_str("could not arm its timer"),
            Skip::NotOnline => f.write_str("checked in but did not come online within 100 ms"),
        }
    }
}

/// Waits (bounded by time and by polls) until `done` holds; returns whether it did.
fn wait_for(done: impl Fn() -> bool) -> bool {
    // The clock runs by now (`init_timer`); the spin limit only bounds the wait if it did not.
    let deadline = time::uptime_ns().saturating_add(CHECK_IN_TIMEOUT_NS);
    spin_until(CHECK_IN_SPIN_LIMIT, || done() || time::uptime_ns() >= deadline) && done()
}

/// Starts hart `hart` as logical CPU `index` and waits for it to come online.
fn start_hart(hart: u64, index: u64) -> Result<(), Skip> {
    let i = usize::try_from(index).map_err(|_| Skip::TooMany)?;
    let (record, block) = match (RECORDS.get(i), percpu::block(i)) {
        (Some(r), Some(b)) => (r, b),
        _ => return Err(Skip::TooMany),
    };
    let (top, emergency_top) = map_cpu_stacks(index).map_err(Skip::Stack)?;
    let tp = block.prepare(i, hart, emergency_top);
    record.satp.store(super::user::satp_for(memory::kernel_root()), Ordering::Relaxed);
    record.stack_top.store(top, Ordering::Relaxed);
    record.continuation.store(riscv64_secondary_high as *const () as u64, Ordering::Relaxed);
    record.index.store(index, Ordering::Relaxed);
    record.tp.store(tp, Ordering::Relaxed);
    record.state.store(RECORD_STARTING, Ordering::Relaxed);
    // The record, the block and the page tables are complete before the hart can read them.
    core::sync::atomic::fence(Ordering::SeqCst);
    let record_phys = (record as *const HartBoot as u64).wrapping_sub(KERNEL_OFFSET);
    // SAFETY: a static initialised by the linker with the address of `riscv64_secondary_start`.
    let entry = unsafe { core::ptr::read_volatile(&raw const riscv64_secondary_start_phys) };
    sbi::hart_start(hart, entry, record_phys).map_err(|e| Skip::Sbi(e.0))?;
    if !wait_for(|| record.state.load(Ordering::Acquire) != RECORD_STARTING)
        && record.state.compare_exchange(RECORD_STARTING, RECORD_ABANDONED, Ordering::AcqRel, Ordering::Acquire).is_ok()
    {
        // It parks if it ever arrives; its stacks stay mapped (it may be using them).
        return Err(Skip::Timeout);
    }
    if wait_for(|| crate::smp::is_online(i) || record.state.load(Ordering::Acquire) == RECORD_TIMER_FAILED) {
        if crate::smp::is_online(i) {
            return Ok(());
        }
        return Err(Skip::Timer);
    }
    // Past its set-up but not online: it either stops now or has committed and is let in.
    if crate::smp::withdraw_or_wait(i) { Ok(()) } else { Err(Skip::NotOnline) }
}

/// Starts every hart the device tree lists besides the boot hart, prints the `[smp]` line
/// and returns the number of CPUs online (the boot hart included).
pub fn start_secondary_cpus(info: &BootInfo) -> u32 {
    let boot = super::plic::boot_hart();
    let listed = info.cpu_count();
    let missing = [(sbi::EID_HSM, "HSM"), (sbi::EID_IPI, "IPI"), (sbi::EID_RFENCE, "RFENCE")]
        .into_iter()
        .find(|&(eid, _)| !sbi::has_extension(eid))
        .map(|(_, name)| name);
    // The boot hart takes reschedule IPIs too.
    enable_software_interrupt();
    let mut index: u64 = 0;
    for hart in info.cpu_id_list().filter(|&h| h != boot) {
        index += 1;
        if let Some(name) = missing {
            kwarn!("[smp] hart {hart} skipped: the firmware has no SBI {name} extension");
            continue;
        }
        if let Some(why) = crate::smp::start_refused() {
            kwarn!("[smp] hart {hart} skipped: {why}");
            continue;
        }
        if let Err(why) = start_hart(hart, index) {
            kwarn!("[smp] hart {hart} skipped: {why}");
        }
    }
    let (online, harts) = crate::smp::online_ids(false);
    kinfo!("[smp] {online} of {listed} CPUs online (harts {harts})");
    online
}

/// Sends a reschedule IPI to logical CPU `cpu` (nothing for an unknown index or a hart that
/// is not running in the kernel).
pub fn send_reschedule_ipi(cpu: usize) {
    if let Some(block) = percpu::block(cpu)
        && block.is_present()
    {
        let _ = sbi::send_ipi(HartMask { mask: 1, base: block.hart() });
    }
}

/// Makes every other present hart execute `sfence.vma` for `len` bytes at `va` and returns
/// once all have (SBI RFENCE, see `user.rs`). Harts are batched 64 ids at a time.
pub(super) fn remote_sfence_vma(va: u64, len: u64) -> bool {
    let me = super::cpu_index();
    let mut pending = [None::<u64>; MAX_CPUS];
    for (cpu, slot) in pending.iter_mut().enumerate() {
        if cpu != me
            && let Some(block) = percpu::block(cpu)
            && block.is_present()
        {
            *slot = Some(block.hart());
        }
    }
    let mut confirmed = true;
    // Bounded: every round sends to (and clears) at least the lowest pending hart.
    for _ in 0..MAX_CPUS {
        let Some(base) = pending.iter().flatten().copied().min() else { break };
        let mut mask = 0u64;
        for slot in pending.iter_mut() {
            if let Some(hart) = *slot
                && hart - base < 64
            {
                mask |= 1 << (hart - base);
                *slot = None;
            }
        }
        if sbi::remote_sfence_vma(HartMask { mask, base }, va, len).is_err() {
            // Said at once, without the console lock (the caller may hold locks): a hart may
            // still translate memory that is about to be reused.
            super::console_write(b"\n[smp] SBI remote_sfence_vma failed: TLB shootdown incomplete\n");
            confirmed = false;
        }
    }
    confirmed
}

/// The firmware id of the boot CPU (its hart id).
pub fn boot_cpu_id() -> u64 {
    super::plic::boot_hart()
}
