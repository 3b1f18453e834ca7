// SPDX-License-Identifier: AGPL-3.0-or-later
//! GICv3 interrupt controller: distributor (shared peripheral interrupts), this CPU's
//! redistributor (private peripheral interrupts such as the timer) and the system-register CPU
//! interface (`ICC_*_EL1`).
//!
//! Every interrupt the kernel uses is Non-secure group 1 and priority 0xa0; the serial
//! receive interrupt (a level-sensitive SPI) is routed to the boot CPU (affinity routing,
//! `GICD_CTLR.ARE_NS`). An IRQ is acknowledged with `ICC_IAR1_EL1`, dispatched (timer,
//! reschedule SGI, serial receive) and completed with `ICC_EOIR1_EL1` (EOImode 0: priority
//! drop and deactivation together). INTIDs 1020-1023 are special (spurious); an interrupt
//! nobody asked for is counted, disabled and completed.
//!
//! Per CPU: each CPU finds its own redistributor (by `GICR_TYPER` affinity, kept in its
//! per-CPU record, `percpu.rs`), wakes it (`GICR_WAKER`), configures its SGIs and PPIs
//! (group 1, priority, all disabled and cleared), enables the timer PPI and the reschedule
//! SGI ([`RESCHEDULE_SGI`]) there, and sets up its own CPU interface (`ICC_SRE_EL1`,
//! `ICC_PMR_EL1`, `ICC_BPR1_EL1`, `ICC_CTLR_EL1`, `ICC_IGRPEN1_EL1`): the boot CPU in
//! [`init_interrupts`], the others in [`init_secondary`].
//!
//! The reschedule IPI is SGI [`RESCHEDULE_SGI`] sent with `ICC_SGI1R_EL1` to one CPU named by
//! its MPIDR affinity (Aff3.Aff2.Aff1 and a target-list bit for Aff0; Aff0 above 15 needs the
//! range selector, `GICD_TYPER.RSS` and `ICC_CTLR_EL1.RSS`). A `dsb ishst` before the write
//! makes the sender's memory writes (the run queue it changed) visible before the interrupt
//! can be taken; the receiver acknowledges and completes it before looking at its run queue,
//! so a request sent while it looks is not lost (the SGI is pending again).
//!
//! Register offsets are from the GICv3/v4 architecture specification (Arm IHI 0069).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel_core::sync::spin_until;

use kernel_boot::{BootInfo, InterruptController};

use super::paging::hhdm_base;
use crate::arch::IrqReport;
use crate::error::KernelError;

// Distributor.
const GICD_CTLR: u64 = 0x0000;
const GICD_TYPER: u64 = 0x0004;
const GICD_IGROUPR: u64 = 0x0080;
const GICD_ISENABLER: u64 = 0x0100;
const GICD_ICENABLER: u64 = 0x0180;
const GICD_ICPENDR: u64 = 0x0280;
const GICD_IPRIORITYR: u64 = 0x0400;
const GICD_ICFGR: u64 = 0x0c00;
const GICD_IGRPMODR: u64 = 0x0d00;
const GICD_IROUTER: u64 = 0x6000;
const GICD_CTLR_ENABLE_G1: u32 = 1 << 0;
const GICD_CTLR_ENABLE_G1A: u32 = 1 << 1;
const GICD_CTLR_ARE_NS: u32 = 1 << 4;
const GICD_CTLR_RWP: u32 = 1 << 31;
/// GICD_TYPER.RSS: SGIs can target Aff0 values 0-255 (range selector).
const GICD_TYPER_RSS: u32 = 1 << 26;
/// ICC_CTLR_EL1.RSS: the CPU interface supports the range selector.
const ICC_CTLR_RSS: u64 = 1 << 18;

// Redistributor, RD_base frame.
const GICR_CTLR: u64 = 0x0000;
const GICR_TYPER: u64 = 0x0008;
const GICR_WAKER: u64 = 0x0014;
const GICR_CTLR_RWP: u32 = 1 << 3;
const GICR_TYPER_VLPIS: u64 = 1 << 1;
const GICR_TYPER_LAST: u64 = 1 << 4;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// The SGI_base frame follows RD_base.
const GICR_SGI: u64 = 0x1_0000;
/// RD_base + SGI_base (GICv3); GICv4 adds two frames for virtual LPIs.
const GICR_FRAMES_V3: u64 = 0x2_0000;
const GICR_FRAMES_V4: u64 = 0x4_0000;

/// Priority of every kernel interrupt (lower is more urgent; 0xff in PMR lets all through).
const PRIORITY: u8 = 0xa0;
/// The software-generated interrupt that asks a CPU to reschedule.
pub const RESCHEDULE_SGI: u32 = 1;
/// First shared peripheral interrupt.
const FIRST_SPI: u32 = 32;
/// INTIDs 1020-1023 are special (1023: spurious).
const SPECIAL_FIRST: u32 = 1020;
/// Spins allowed for a register-write-pending or wake-up bit to clear.
const POLL_SPINS: u32 = 1_000_000;
/// Interrupts handled per IRQ exception before returning.
const MAX_PER_EXCEPTION: u32 = 32;

static GICD_BASE: AtomicU64 = AtomicU64::new(0);
/// The device tree's redistributor region (physical start, length), searched by every CPU.
static GICR_REGION: (AtomicU64, AtomicU64) = (AtomicU64::new(0), AtomicU64::new(0));
static UART_INTID: AtomicU32 = AtomicU32::new(u32::MAX);
static TIMER_INTID: AtomicU32 = AtomicU32::new(u32::MAX);
static UNEXPECTED: AtomicU64 = AtomicU64::new(0);
static SPURIOUS: AtomicU64 = AtomicU64::new(0);

fn mmio32(base: &AtomicU64, offset: u64) -> *mut u32 {
    (hhdm_base() + base.load(Ordering::Relaxed) + offset) as *mut u32
}

fn gicd_read(offset: u64) -> u32 {
    // SAFETY: GICD_BASE is the distributor the device tree names (checked to be at least
    // 64 KiB, which holds every offset used here), mapped as a device window; 32-bit aligned
    // accesses are what the GIC supports.
    unsafe { core::ptr::read_volatile(mmio32(&GICD_BASE, offset)) }
}

fn gicd_write(offset: u64, value: u32) {
    // SAFETY: as in `gicd_read`.
    unsafe { core::ptr::write_volatile(mmio32(&GICD_BASE, offset), value) }
}

/// RD_base of the running CPU's redistributor (physical; 0 until this CPU found it).
fn gicr_base() -> u64 {
    super::percpu::this_cpu().map_or(0, |c| c.gicr_base.load(Ordering::Relaxed))
}

/// Reads a register of the running CPU's redistributor (0 before it is known).
fn gicr_read(offset: u64) -> u32 {
    let base = gicr_base();
    if base == 0 {
        return 0;
    }
    // SAFETY: `base` is this CPU's redistributor (RD_base and SGI_base frames, 128 KiB),
    // found inside the device-tree region, which is mapped as a device window; every offset
    // used is inside those frames.
    unsafe { core::ptr::read_volatile((hhdm_base() + base + offset) as *const u32) }
}

/// Writes a register of the running CPU's redistributor (nothing before it is known).
fn gicr_write(offset: u64, value: u32) {
    let base = gicr_base();
    if base == 0 {
        return;
    }
    // SAFETY: as in `gicr_read`.
    unsafe { core::ptr::write_volatile((hhdm_base() + base + offset) as *mut u32, value) }
}

fn wait_clear(read: fn(u64) -> u32, offset: u64, bit: u32, what: &'static str) -> Result<(), KernelError> {
    if spin_until(POLL_SPINS, || read(offset) & bit == 0) { Ok(()) } else { Err(KernelError::Hardware(what)) }
}

// CPU interface system registers (generic encodings, so no assembler feature is needed).

fn icc_sre_read() -> u64 {
    let v: u64;
    // SAFETY: reading ICC_SRE_EL1 has no side effects (the GIC system registers exist: the
    // caller checked ID_AA64PFR0_EL1.GIC).
    unsafe { core::arch::asm!("mrs {0}, s3_0_c12_c12_5", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

fn icc_sre_write(v: u64) {
    // SAFETY: enabling the system-register interface of the CPU's own GIC interface.
    unsafe { core::arch::asm!("msr s3_0_c12_c12_5, {0}", "isb", in(reg) v, options(nostack, preserves_flags)) };
}

fn icc_setup() {
    // SAFETY: ICC_PMR_EL1 = 0xff (accept every priority), ICC_BPR1_EL1 = 0 (no preemption
    // grouping), ICC_CTLR_EL1 = 0 (EOImode 0), ICC_IGRPEN1_EL1 = 1 (signal group 1). Only this
    // CPU's interface changes; IRQs are still masked in DAIF.
    unsafe {
        core::arch::asm!(
            "msr s3_0_c4_c6_0, {pmr}",
            "msr s3_0_c12_c12_3, xzr",
            "msr s3_0_c12_c12_4, xzr",
            "msr s3_0_c12_c12_7, {one}",
            "isb",
            pmr = in(reg) 0xffu64,
            one = in(reg) 1u64,
            options(nostack, preserves_flags)
        );
    }
}

fn icc_ack() -> u32 {
    let v: u64;
    // SAFETY: reading ICC_IAR1_EL1 acknowledges the highest-priority pending group-1
    // interrupt (the caller completes it); it touches no memory.
    unsafe { core::arch::asm!("mrs {0}, s3_0_c12_c12_0", out(reg) v, options(nomem, nostack, preserves_flags)) };
    (v & 0xff_ffff) as u32
}

fn icc_eoi(intid: u32) {
    // SAFETY: completing an interrupt this CPU acknowledged.
    unsafe {
        core::arch::asm!("msr s3_0_c12_c12_1, {0}", "isb", in(reg) u64::from(intid), options(nostack, preserves_flags))
    };
}

fn icc_ctlr_read() -> u64 {
    let v: u64;
    // SAFETY: reading ICC_CTLR_EL1 has no side effects.
    unsafe { core::arch::asm!("mrs {0}, s3_0_c12_c12_4", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// This CPU's affinity as GICR_TYPER reports it (Aff3.Aff2.Aff1.Aff0).
fn affinity_u32(mpidr: u64) -> u64 {
    (((mpidr >> 32) & 0xff) << 24) | (mpidr & 0xff_ffff)
}

/// This CPU's affinity as GICD_IROUTER expects it (Aff3 in bits 39:32, IRM = 0).
fn affinity_route(mpidr: u64) -> u64 {
    mpidr & 0xff_00ff_ffff
}

/// Initialises the GICv3 distributor and the boot CPU's redistributor and CPU interface, and
/// routes the serial receive interrupt to the boot CPU.
pub fn init_interrupts(info: &BootInfo) -> Result<IrqReport, KernelError> {
    let (distributor, redistributor) = match info.interrupt_controller {
        InterruptController::GicV3 { distributor, redistributor } => (distributor, redistributor),
        InterruptController::GicV2 { .. } => {
            return Err(KernelError::Hardware("the device tree describes a GICv2; only GICv3 is supported"));
        }
        _ => return Err(KernelError::Hardware("the device tree describes no GICv3")),
    };
    if distributor.len() < 0x1_0000 || redistributor.len() < GICR_FRAMES_V3 {
        return Err(KernelError::Hardware("GICv3 register regions smaller than the architecture requires"));
    }
    if (super::cpu::id_aa64pfr0() >> 24) & 0xf == 0 {
        return Err(KernelError::Hardware("CPU has no GIC system-register interface"));
    }
    GICD_BASE.store(distributor.start, Ordering::Relaxed);

    // Distributor: off, every SPI disabled, cleared, group 1, level, default priority.
    gicd_write(GICD_CTLR, 0);
    wait_clear(gicd_read, GICD_CTLR, GICD_CTLR_RWP, "GICD_CTLR.RWP stuck after disabling the distributor")?;
    let lines = 32 * ((gicd_read(GICD_TYPER) & 0x1f) + 1);
    let max_intid = lines.min(SPECIAL_FIRST);
    for first in (FIRST_SPI..max_intid).step_by(32) {
        let word = u64::from(first / 32) * 4;
        gicd_write(GICD_ICENABLER + word, u32::MAX);
        gicd_write(GICD_ICPENDR + word, u32::MAX);
        gicd_write(GICD_IGROUPR + word, u32::MAX);
        gicd_write(GICD_IGRPMODR + word, 0);
    }
    let priorities = u32::from_ne_bytes([PRIORITY; 4]);
    for first in (FIRST_SPI..max_intid).step_by(4) {
        gicd_write(GICD_IPRIORITYR + u64::from(first), priorities);
    }
    for first in (FIRST_SPI..max_intid).step_by(16) {
        gicd_write(GICD_ICFGR + u64::from(first / 16) * 4, 0);
    }
    wait_clear(gicd_read, GICD_CTLR, GICD_CTLR_RWP, "GICD_CTLR.RWP stuck after configuring SPIs")?;
    gicd_write(GICD_CTLR, GICD_CTLR_ARE_NS | GICD_CTLR_ENABLE_G1A | GICD_CTLR_ENABLE_G1);
    wait_clear(gicd_read, GICD_CTLR, GICD_CTLR_RWP, "GICD_CTLR.RWP stuck after enabling the distributor")?;

    GICR_REGION.0.store(redistributor.start, Ordering::Relaxed);
    GICR_REGION.1.store(redistributor.len(), Ordering::Relaxed);
    init_this_cpu()?;

    let uart_irq = info.uart.and_then(|u| u.irq).filter(|&intid| (FIRST_SPI..max_intid).contains(&intid));
    if let Some(intid) = uart_irq {
        enable_spi(intid, affinity_route(super::cpu::mpidr()));
        UART_INTID.store(intid, Ordering::Relaxed);
        super::uart::enable_rx_interrupt();
    }
    Ok(IrqReport { controller: "GICv3 (affinity routing, system-register CPU interface)", lines, uart_irq })
}

/// Sets up the running CPU's redistributor and CPU interface: wakes the redistributor,
/// configures its SGIs and PPIs (group 1, priority [`PRIORITY`], disabled, not pending),
/// enables the reschedule SGI, then enables the system-register CPU interface.
fn init_this_cpu() -> Result<(), KernelError> {
    if (super::cpu::id_aa64pfr0() >> 24) & 0xf == 0 {
        return Err(KernelError::Hardware("CPU has no GIC system-register interface"));
    }
    icc_sre_write(icc_sre_read() | 0b111);
    if icc_sre_read() & 1 == 0 {
        return Err(KernelError::Hardware("ICC_SRE_EL1.SRE does not stick (GIC system registers disabled by EL2/EL3)"));
    }
    let this = super::percpu::this_cpu().ok_or(KernelError::NotInitialised("per-CPU record"))?;
    let (start, len) = (GICR_REGION.0.load(Ordering::Relaxed), GICR_REGION.1.load(Ordering::Relaxed));
    let rd = find_redistributor(start, len, affinity_u32(super::cpu::mpidr()))?;
    this.gicr_base.store(rd, Ordering::Relaxed);
    gicr_write(GICR_WAKER, gicr_read(GICR_WAKER) & !GICR_WAKER_PROCESSOR_SLEEP);
    wait_clear(
        gicr_read,
        GICR_WAKER,
        GICR_WAKER_CHILDREN_ASLEEP,
        "GICR_WAKER.ChildrenAsleep stuck: redistributor asleep",
    )?;
    gicr_write(GICR_SGI + GICD_ICENABLER, u32::MAX);
    wait_clear(gicr_read, GICR_CTLR, GICR_CTLR_RWP, "GICR_CTLR.RWP stuck after disabling PPIs")?;
    gicr_write(GICR_SGI + GICD_ICPENDR, u32::MAX);
    gicr_write(GICR_SGI + GICD_IGROUPR, u32::MAX);
    gicr_write(GICR_SGI + GICD_IGRPMODR, 0);
    let priorities = u32::from_ne_bytes([PRIORITY; 4]);
    for first in (0..32u64).step_by(4) {
        gicr_write(GICR_SGI + GICD_IPRIORITYR + first, priorities);
    }
    gicr_write(GICR_SGI + GICD_ISENABLER, 1 << RESCHEDULE_SGI);
    icc_setup();
    Ok(())
}

/// Sets up a secondary CPU's redistributor and CPU interface (after the boot CPU ran
/// [`init_interrupts`]); its interrupts stay masked in `DAIF`.
pub fn init_secondary() -> Result<(), KernelError> {
    if GICD_BASE.load(Ordering::Relaxed) == 0 {
        return Err(KernelError::NotInitialised("GIC distributor"));
    }
    init_this_cpu()
}

/// True when `affinity` (MPIDR affinity fields) can be named in `ICC_SGI1R_EL1` from this
/// CPU: Aff0 below 16, or range selectors supported by the distributor and this CPU.
pub fn sgi_can_target(affinity: u64) -> bool {
    affinity & 0xff < 16 || (gicd_read(GICD_TYPER) & GICD_TYPER_RSS != 0 && icc_ctlr_read() & ICC_CTLR_RSS != 0)
}

/// Sends SGI `intid` (0-15) to the one CPU with MPIDR affinity `affinity`.
pub fn send_sgi(affinity: u64, intid: u32) {
    let aff0 = affinity & 0xff;
    let value = (((affinity >> 32) & 0xff) << 48)
        | ((aff0 >> 4) << 44)
        | (((affinity >> 16) & 0xff) << 32)
        | (u64::from(intid & 0xf) << 24)
        | (((affinity >> 8) & 0xff) << 16)
        | (1 << (aff0 & 0xf));
    // SAFETY: `dsb ishst` makes this CPU's earlier memory writes visible to the target before
    // the SGI can reach it; writing ICC_SGI1R_EL1 only generates a group-1 SGI for that CPU
    // (IRM = 0: the target list); the `isb` makes the write take effect now.
    unsafe {
        core::arch::asm!(
            "dsb ishst",
            "msr s3_0_c12_c11_5, {0}",
            "isb",
            in(reg) value,
            options(nostack, preserves_flags)
        )
    };
}

/// Finds the redistributor whose GICR_TYPER affinity is `affinity`; returns its RD_base.
fn find_redistributor(start: u64, len: u64, affinity: u64) -> Result<u64, KernelError> {
    let mut offset = 0;
    // Bounded by the region: every frame is at least 128 KiB.
    for _ in 0..len / GICR_FRAMES_V3 {
        if offset + GICR_FRAMES_V3 > len {
            break;
        }
        let ptr = (hhdm_base() + start + offset + GICR_TYPER) as *const u64;
        // SAFETY: `offset + 128 KiB` is inside the device-tree redistributor region, which is
        // mapped as a device window; GICR_TYPER is a 64-bit register at RD_base + 8.
        let typer = unsafe { core::ptr::read_volatile(ptr) };
        if typer >> 32 == affinity {
            return Ok(start + offset);
        }
        if typer & GICR_TYPER_LAST != 0 {
            break;
        }
        offset += if typer & GICR_TYPER_VLPIS != 0 { GICR_FRAMES_V4 } else { GICR_FRAMES_V3 };
    }
    Err(KernelError::Hardware("no GICv3 redistributor matches this CPU's affinity"))
}

/// Configures and enables SPI `intid` (group 1, level, default priority: set for every SPI
/// during init), routed to the CPU with affinity `route`.
fn enable_spi(intid: u32, route: u64) {
    let ptr = (hhdm_base() + GICD_BASE.load(Ordering::Relaxed) + GICD_IROUTER + 8 * u64::from(intid)) as *mut u64;
    // SAFETY: GICD_IROUTER<n> for an SPI below the distributor's line count lies inside the
    // 64 KiB distributor window; it is a 64-bit register.
    unsafe { core::ptr::write_volatile(ptr, route) };
    gicd_write(GICD_ISENABLER + u64::from(intid / 32) * 4, 1 << (intid % 32));
}

/// Enables private interrupt `intid` (0-31) on the running CPU and dispatches it to the
/// timer (on every CPU: each CPU's timer raises the same PPI number on its own redistributor).
pub fn enable_timer_ppi(intid: u32) -> Result<(), KernelError> {
    if intid >= FIRST_SPI {
        return Err(KernelError::Hardware("timer interrupt is not a private peripheral interrupt"));
    }
    if gicr_base() == 0 {
        return Err(KernelError::NotInitialised("GIC redistributor"));
    }
    TIMER_INTID.store(intid, Ordering::Relaxed);
    gicr_write(GICR_SGI + GICD_ISENABLER, 1 << intid);
    Ok(())
}

/// Counts an interrupt nobody handles.
pub fn count_unexpected() {
    UNEXPECTED.fetch_add(1, Ordering::Relaxed);
}

/// Interrupts that arrived without a handler, plus spurious acknowledgements, so far
/// (reported by the monitor).
pub fn unexpected_interrupts() -> u64 {
    UNEXPECTED.load(Ordering::Relaxed) + SPURIOUS.load(Ordering::Relaxed)
}

/// Disables an interrupt that has no handler, so a stuck line cannot storm.
fn disable(intid: u32) {
    let word = u64::from(intid / 32) * 4;
    if intid < FIRST_SPI {
        gicr_write(GICR_SGI + GICD_ICENABLER + word, 1 << (intid % 32));
    } else {
        gicd_write(GICD_ICENABLER + word, 1 << (intid % 32));
    }
}

/// IRQ exception: acknowledge, dispatch and complete every pending interrupt (bounded).
pub fn on_interrupt() {
    let timer = TIMER_INTID.load(Ordering::Relaxed);
    let uart = UART_INTID.load(Ordering::Relaxed);
    for round in 0..MAX_PER_EXCEPTION {
        let intid = icc_ack();
        if intid >= SPECIAL_FIRST {
            if round == 0 {
                SPURIOUS.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        if intid == timer {
            super::timer::on_interrupt();
        } else if intid == RESCHEDULE_SGI {
            // Completed before the scheduler looks at the run queue: a request sent meanwhile
            // makes the SGI pending again instead of being lost.
            icc_eoi(intid);
            crate::smp::on_reschedule_ipi();
            continue;
        } else if intid == uart {
            super::uart::clear_rx_interrupt();
            crate::monitor::on_serial_interrupt();
        } else {
            count_unexpected();
            disable(intid);
        }
        icc_eoi(intid);
    }
}
