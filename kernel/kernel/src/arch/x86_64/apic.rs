// SPDX-License-Identifier: AGPL-3.0-or-later
//! The interrupt controllers: the legacy 8259 PICs (remapped and masked), the local APIC
//! (xAPIC through its MMIO window in the direct map, or x2APIC through MSRs when the firmware
//! left it in that mode) and the I/O APICs found in the MADT.
//!
//! `init_interrupts` enables the local APIC (spurious vector 0xff, task priority 0, LINT0 and
//! the error/performance/thermal LVTs masked), masks every I/O APIC input, then routes ISA
//! IRQ 4 (COM1, after the MADT's interrupt source override) to the serial vector on this
//! CPU's APIC id and turns on the UART's receive interrupt. Every interrupt is acknowledged
//! with a local APIC EOI.
//!
//! Every CPU has its own local APIC at the same address (or MSRs), so the register accessors
//! below serve all CPUs; secondary CPUs enable theirs with [`init_secondary`]. Inter-processor
//! interrupts go through the interrupt command register ([`send_ipi`]).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel_boot::BootInfo;
use kernel_boot::acpi::{IoApic, Madt, Polarity, Trigger};
use kernel_core::addr::PhysAddr;

use super::cpu::{self, outb, rdmsr, wrmsr};
use super::platform;
use super::trap::{PIC_VECTOR_BASE, SERIAL_VECTOR, SPURIOUS_VECTOR};
use super::uart;
use crate::arch::IrqReport;
use crate::error::KernelError;
use crate::layout;

/// IA32_APIC_BASE: local APIC physical base, global enable (bit 11), x2APIC mode (bit 10).
const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;
const APIC_BASE_ADDRESS: u64 = 0x000f_ffff_ffff_f000;

// Local APIC register offsets (xAPIC MMIO; x2APIC MSR = 0x800 + offset / 16).
/// Local APIC id.
pub const REG_ID: u32 = 0x20;
/// Version: bits 16-23 hold the index of the last LVT entry.
pub const REG_VERSION: u32 = 0x30;
/// Task priority.
pub const REG_TPR: u32 = 0x80;
/// End of interrupt.
pub const REG_EOI: u32 = 0xb0;
/// Spurious-interrupt vector and software enable (bit 8).
pub const REG_SPURIOUS: u32 = 0xf0;
/// LVT thermal sensor.
pub const REG_LVT_THERMAL: u32 = 0x330;
/// LVT performance counter.
pub const REG_LVT_PERF: u32 = 0x340;
/// LVT LINT0.
pub const REG_LVT_LINT0: u32 = 0x350;
/// LVT error.
pub const REG_LVT_ERROR: u32 = 0x370;
/// LVT timer.
pub const REG_LVT_TIMER: u32 = 0x320;
/// Timer initial count.
pub const REG_TIMER_INITIAL: u32 = 0x380;
/// Timer current count.
pub const REG_TIMER_CURRENT: u32 = 0x390;
/// Timer divide configuration.
pub const REG_TIMER_DIVIDE: u32 = 0x3e0;
/// LVT mask bit.
pub const LVT_MASKED: u32 = 1 << 16;
/// Interrupt command register, low half (xAPIC; writing it sends the IPI).
const REG_ICR_LOW: u32 = 0x300;
/// Interrupt command register, high half (xAPIC: destination in bits 24-31).
const REG_ICR_HIGH: u32 = 0x310;
/// The x2APIC's 64-bit interrupt command register.
const MSR_X2APIC_ICR: u32 = 0x830;
/// ICR delivery status: the previous IPI has not been accepted yet (xAPIC only).
const ICR_PENDING: u32 = 1 << 12;
/// ICR: fixed delivery of the vector in bits 0-7, level assert.
pub const ICR_FIXED: u32 = 1 << 14;
/// ICR: non-maskable interrupt (the vector field is ignored), level assert.
pub const ICR_NMI: u32 = (1 << 14) | (0b100 << 8);
/// ICR: INIT, level-triggered, assert.
pub const ICR_INIT_ASSERT: u32 = (1 << 15) | (1 << 14) | (0b101 << 8);
/// ICR: start-up IPI, level assert; bits 0-7 hold the start page (physical address >> 12).
pub const ICR_STARTUP: u32 = (1 << 14) | (0b110 << 8);
/// Polls of the delivery-status bit before an IPI is sent anyway.
const ICR_SPINS: u32 = 1_000_000;

const SPURIOUS_ENABLE: u32 = 1 << 8;

// I/O APIC registers.
const IOAPIC_VERSION: u32 = 0x01;
const IOAPIC_REDIRECTION: u32 = 0x10;
const IOAPIC_MASKED: u64 = 1 << 16;
const IOAPIC_ACTIVE_LOW: u64 = 1 << 13;
const IOAPIC_LEVEL: u64 = 1 << 15;

/// ISA IRQ of COM1.
const COM1_IRQ: u8 = 4;

/// Virtual address of the xAPIC register window (0 until `init_interrupts`).
static LAPIC_BASE: AtomicU64 = AtomicU64::new(0);
/// The local APIC runs in x2APIC mode (MSR access).
static X2APIC: AtomicBool = AtomicBool::new(false);
/// The local APIC is enabled and EOIs may be sent.
static READY: AtomicBool = AtomicBool::new(false);

/// Physical address of the local APIC's register window, and whether it is in x2APIC mode.
pub fn local_apic_phys() -> Result<(u64, bool), KernelError> {
    if !cpu::features().apic {
        return Err(KernelError::Hardware("this CPU has no local APIC"));
    }
    // SAFETY: IA32_APIC_BASE exists on every CPU with a local APIC (checked above).
    let base = unsafe { rdmsr(IA32_APIC_BASE) };
    Ok((base & APIC_BASE_ADDRESS, base & APIC_BASE_X2APIC != 0))
}

/// Reads local APIC register `reg`.
pub fn read(reg: u32) -> u32 {
    if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: x2APIC mode is on, so the MSR range 0x800.. maps the local APIC registers;
        // every `reg` the kernel uses is a readable register.
        return unsafe { rdmsr(0x800 + (reg >> 4)) } as u32;
    }
    let base = LAPIC_BASE.load(Ordering::Relaxed);
    if base == 0 {
        return 0;
    }
    // SAFETY: `base` is the local APIC window, mapped uncached by `init_paging`; `reg` is a
    // 16-byte-aligned register offset inside the 4 KiB window.
    unsafe { core::ptr::read_volatile((base + u64::from(reg)) as *const u32) }
}

/// Writes local APIC register `reg`.
pub fn write(reg: u32, value: u32) {
    if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: as in `read`; the kernel writes only writable registers with valid values.
        unsafe { wrmsr(0x800 + (reg >> 4), u64::from(value)) };
        return;
    }
    let base = LAPIC_BASE.load(Ordering::Relaxed);
    if base == 0 {
        return;
    }
    // SAFETY: as in `read`.
    unsafe { core::ptr::write_volatile((base + u64::from(reg)) as *mut u32, value) };
}

/// Acknowledges the interrupt being handled.
pub fn eoi() {
    if READY.load(Ordering::Relaxed) {
        write(REG_EOI, 0);
    }
}

/// This CPU's local APIC id.
pub fn id() -> u32 {
    if X2APIC.load(Ordering::Relaxed) { read(REG_ID) } else { read(REG_ID) >> 24 }
}

/// This CPU's local APIC id once `init_interrupts` has run, `fallback` before.
pub fn id_or(fallback: u32) -> u32 {
    if READY.load(Ordering::Relaxed) { id() } else { fallback }
}

/// Remaps the 8259 PICs to `PIC_VECTOR_BASE` (so a spurious IRQ 7/15 cannot look like an
/// exception) and masks every input.
fn disable_pics() {
    const MASTER_CMD: u16 = 0x20;
    const MASTER_DATA: u16 = 0x21;
    const SLAVE_CMD: u16 = 0xa0;
    const SLAVE_DATA: u16 = 0xa1;
    // SAFETY: the 8259 ports belong to the interrupt-controller driver; the ICW1-ICW4
    // sequence below is the standard initialisation (edge, cascade on IRQ 2, 8086 mode),
    // followed by masking all inputs. Port 0x80 writes only delay.
    unsafe {
        for (port, value) in [
            (MASTER_CMD, 0x11),
            (SLAVE_CMD, 0x11),
            (MASTER_DATA, PIC_VECTOR_BASE),
            (SLAVE_DATA, PIC_VECTOR_BASE + 8),
            (MASTER_DATA, 0x04),
            (SLAVE_DATA, 0x02),
            (MASTER_DATA, 0x01),
            (SLAVE_DATA, 0x01),
            (MASTER_DATA, 0xff),
            (SLAVE_DATA, 0xff),
        ] {
            outb(port, value);
            outb(0x80, 0);
        }
    }
}

fn enable_local_apic() -> Result<&'static str, KernelError> {
    let (phys, x2apic) = local_apic_phys()?;
    // SAFETY: IA32_APIC_BASE exists (checked by `local_apic_phys`); setting the global
    // enable bit keeps the base address and mode the firmware chose.
    unsafe {
        let value = rdmsr(IA32_APIC_BASE);
        if value & APIC_BASE_ENABLE == 0 {
            wrmsr(IA32_APIC_BASE, value | APIC_BASE_ENABLE);
        }
    }
    X2APIC.store(x2apic, Ordering::Relaxed);
    if !x2apic {
        LAPIC_BASE.store(layout::phys_to_virt(PhysAddr(phys)) as u64, Ordering::Relaxed);
    }
    configure_local_apic()?;
    READY.store(true, Ordering::Relaxed);
    Ok(if x2apic { "local x2APIC" } else { "local APIC" })
}

/// Enables the running secondary CPU's local APIC in the boot CPU's mode (xAPIC at the same
/// address, or x2APIC): task priority 0, spurious vector, every local interrupt masked.
pub fn init_secondary() -> Result<(), KernelError> {
    let (_, x2apic) = local_apic_phys()?;
    let want_x2apic = X2APIC.load(Ordering::Relaxed);
    // SAFETY: IA32_APIC_BASE exists (checked by `local_apic_phys`). The global enable bit is
    // set first, then x2APIC mode if the boot CPU uses it (the architectural order); the base
    // address is kept.
    unsafe {
        let mut value = rdmsr(IA32_APIC_BASE);
        if value & APIC_BASE_ENABLE == 0 {
            value |= APIC_BASE_ENABLE;
            wrmsr(IA32_APIC_BASE, value);
        }
        if want_x2apic && !x2apic {
            wrmsr(IA32_APIC_BASE, value | APIC_BASE_X2APIC);
        }
    }
    if x2apic && !want_x2apic {
        return Err(KernelError::Hardware("this CPU's local APIC is in x2APIC mode but the boot CPU's is not"));
    }
    configure_local_apic()
}

/// Programs the running CPU's local APIC: task priority 0, every LVT masked, software enable
/// with the spurious vector.
fn configure_local_apic() -> Result<(), KernelError> {
    let version = read(REG_VERSION);
    if version == 0 || version == u32::MAX {
        return Err(KernelError::Hardware("the local APIC does not respond"));
    }
    let last_lvt = (version >> 16) & 0xff;
    write(REG_TPR, 0);
    write(REG_LVT_LINT0, LVT_MASKED);
    write(REG_LVT_ERROR, LVT_MASKED);
    write(REG_LVT_TIMER, LVT_MASKED);
    if last_lvt >= 4 {
        write(REG_LVT_PERF, LVT_MASKED);
    }
    if last_lvt >= 5 {
        write(REG_LVT_THERMAL, LVT_MASKED);
    }
    write(REG_SPURIOUS, SPURIOUS_ENABLE | u32::from(SPURIOUS_VECTOR));
    Ok(())
}

/// Sends an inter-processor interrupt with command `command` (an `ICR_*` value, plus the
/// vector or start page) to the local APIC with id `apic_id`. Returns false when an xAPIC's
/// previous IPI was still pending after a bounded wait (the new one is sent anyway, and the
/// caller's own timeout notices a lost IPI) or the id cannot be addressed.
///
/// The memory writes before the call are visible to the target before it takes the
/// interrupt: the xAPIC's ICR is uncached memory (ordered after earlier stores), and the
/// x2APIC's ICR write is preceded by a full fence (WRMSR to it does not serialise).
pub fn send_ipi(apic_id: u32, command: u32) -> bool {
    let saved = cpu::irq_save();
    let sent = if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: `mfence; lfence` only orders memory: a WRMSR to an x2APIC register is not
        // serialising and MFENCE alone does not order it, so the earlier stores (shootdown
        // requests) become visible before the interrupt can arrive.
        unsafe { core::arch::asm!("mfence", "lfence", options(nostack, preserves_flags)) };
        // SAFETY: x2APIC mode is on, so MSR 0x830 is the interrupt command register; the
        // command is one of the kernel's IPIs. Interrupts are masked, so no handler on this
        // CPU writes the ICR in between.
        unsafe { wrmsr(MSR_X2APIC_ICR, (u64::from(apic_id) << 32) | u64::from(command)) };
        true
    } else if let Ok(destination) = u8::try_from(apic_id) {
        let idle = kernel_core::sync::spin_until(ICR_SPINS, || read(REG_ICR_LOW) & ICR_PENDING == 0);
        // The destination first: writing the low half sends. Interrupts are masked, so no
        // handler on this CPU sends another IPI between the two writes.
        write(REG_ICR_HIGH, u32::from(destination) << 24);
        write(REG_ICR_LOW, command);
        idle
    } else {
        false
    };
    cpu::irq_restore(saved);
    sent
}

/// One I/O APIC's register window.
struct IoApicRegs {
    base: u64,
}

impl IoApicRegs {
    fn new(io: &IoApic) -> Self {
        IoApicRegs { base: layout::phys_to_virt(PhysAddr(io.address)) as u64 }
    }

    fn read(&self, reg: u32) -> u32 {
        // SAFETY: `base` is an I/O APIC window from the MADT, mapped uncached by
        // `init_paging`; IOREGSEL (offset 0) selects the register, IOWIN (0x10) accesses it.
        // Only the boot CPU touches it, with interrupts off.
        unsafe {
            core::ptr::write_volatile(self.base as *mut u32, reg);
            core::ptr::read_volatile((self.base + 0x10) as *const u32)
        }
    }

    fn write(&self, reg: u32, value: u32) {
        // SAFETY: as in `read`.
        unsafe {
            core::ptr::write_volatile(self.base as *mut u32, reg);
            core::ptr::write_volatile((self.base + 0x10) as *mut u32, value);
        }
    }

    /// Number of inputs (redirection entries).
    fn lines(&self) -> Result<u32, KernelError> {
        let version = self.read(IOAPIC_VERSION);
        if version == u32::MAX {
            return Err(KernelError::Hardware("an I/O APIC listed in the MADT does not respond"));
        }
        Ok(((version >> 16) & 0xff) + 1)
    }

    fn set_entry(&self, input: u32, entry: u64) {
        // High half (destination) first, while the low half still masks the input.
        self.write(IOAPIC_REDIRECTION + 2 * input, IOAPIC_MASKED as u32);
        self.write(IOAPIC_REDIRECTION + 2 * input + 1, (entry >> 32) as u32);
        self.write(IOAPIC_REDIRECTION + 2 * input, entry as u32);
    }
}

/// Masks every I/O APIC input; returns the total number of inputs.
fn mask_io_apics(madt: &Madt) -> Result<u32, KernelError> {
    let mut total = 0u32;
    for io in madt.io_apic_list() {
        let regs = IoApicRegs::new(io);
        let lines = regs.lines()?;
        for input in 0..lines {
            regs.set_entry(input, IOAPIC_MASKED);
        }
        total = total.saturating_add(lines);
    }
    Ok(total)
}

/// Routes ISA IRQ `irq` to `vector` on the CPU with APIC id `apic_id`; returns its GSI.
fn route_isa_irq(madt: &Madt, irq: u8, vector: u8, apic_id: u32) -> Result<u32, KernelError> {
    let route = madt.isa_route(irq);
    let destination = u8::try_from(apic_id)
        .map_err(|_| KernelError::Hardware("APIC id above 255 cannot be an I/O APIC destination"))?;
    for io in madt.io_apic_list() {
        let regs = IoApicRegs::new(io);
        let lines = regs.lines()?;
        let Some(input) = route.gsi.checked_sub(io.gsi_base).filter(|&i| i < lines) else { continue };
        let mut entry = u64::from(vector) | (u64::from(destination) << 56); // fixed, physical
        if route.polarity == Polarity::ActiveLow {
            entry |= IOAPIC_ACTIVE_LOW;
        }
        if route.trigger == Trigger::Level {
            entry |= IOAPIC_LEVEL;
        }
        regs.set_entry(input, entry);
        return Ok(route.gsi);
    }
    Err(KernelError::Hardware("no I/O APIC serves the serial port's interrupt"))
}

/// Prints what the MADT says (with `cambios.log=debug`).
fn log_madt(madt: &Madt, apic_id: u32) {
    kdebug!(
        "[irq] MADT: local APIC at {:#x} (this CPU: APIC id {}), {} enabled CPUs, 8259 PICs {}",
        madt.local_apic,
        apic_id,
        madt.cpu_list().count(),
        if madt.pcat_compat { "present" } else { "absent" }
    );
    for io in madt.io_apic_list() {
        kdebug!("[irq]   I/O APIC id {} at {:#x}, first GSI {}", io.id, io.address, io.gsi_base);
    }
    for irq in madt.overrides.iter().flatten() {
        kdebug!("[irq]   ISA IRQ {} -> GSI {} ({:?}, {:?})", irq.irq, irq.gsi, irq.polarity, irq.trigger);
    }
    if madt.dropped > 0 {
        kwarn!("[irq] {} MADT entries did not fit the kernel's tables and are ignored", madt.dropped);
    }
}

/// Sets up the interrupt controllers and the serial receive interrupt.
pub fn init_interrupts(_info: &BootInfo) -> Result<IrqReport, KernelError> {
    let madt = platform::madt()?;
    if madt.io_apic_list().next().is_none() {
        return Err(KernelError::Hardware("the MADT lists no I/O APIC"));
    }
    if let Ok((phys, false)) = local_apic_phys()
        && phys != madt.local_apic
    {
        kwarn!(
            "[irq] the MADT places the local APIC at {:#x} but IA32_APIC_BASE says {:#x}; using the MSR",
            madt.local_apic,
            phys
        );
    }
    disable_pics();
    let local = enable_local_apic()?;
    let lines = mask_io_apics(&madt)?;
    let apic_id = id();
    let gsi = route_isa_irq(&madt, COM1_IRQ, SERIAL_VECTOR, apic_id)?;
    log_madt(&madt, apic_id);
    uart::enable_receive_interrupt();
    let controller = match (local, madt.io_apic_list().count()) {
        ("local x2APIC", 1) => "local x2APIC + I/O APIC (8259 PICs masked)",
        ("local x2APIC", _) => "local x2APIC + I/O APICs (8259 PICs masked)",
        (_, 1) => "local APIC + I/O APIC (8259 PICs masked)",
        _ => "local APIC + I/O APICs (8259 PICs masked)",
    };
    Ok(IrqReport { controller, lines, uart_irq: Some(gsi) })
}
