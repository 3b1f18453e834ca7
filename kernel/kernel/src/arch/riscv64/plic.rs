// SPDX-License-Identifier: AGPL-3.0-or-later
//! The RISC-V platform-level interrupt controller (PLIC), as described by the device tree
//! (`riscv,plic0` / `sifive,plic-1.0.0`).
//!
//! Register map: source priorities at +4*n, enable bits per context at +0x2000 + 0x80*ctx,
//! priority threshold at +0x20_0000 + 0x1000*ctx, claim/complete at +4 from it. The boot
//! hart's supervisor context comes from the PLIC's `interrupts-extended` in the device tree;
//! if the tree has none, the kernel assumes the QEMU `virt` / SiFive layout (`2 * hart + 1`:
//! every hart has an M-mode then an S-mode context) and says so in the boot log.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use kernel_boot::{BootInfo, InterruptController};

use super::paging::hhdm_base;
use crate::arch::IrqReport;
use crate::error::KernelError;

static BASE: AtomicU64 = AtomicU64::new(0);
static CONTEXT: AtomicU64 = AtomicU64::new(0);
static BOOT_HART: AtomicU64 = AtomicU64::new(0);
static UART_IRQ: AtomicU32 = AtomicU32::new(0);
static SOURCES: AtomicU32 = AtomicU32::new(0);

/// Remembers which hart booted (its S-mode context receives the interrupts).
pub fn set_boot_hart(hart: u64) {
    BOOT_HART.store(hart, Ordering::Relaxed);
}

/// The hart that booted.
pub(super) fn boot_hart() -> u64 {
    BOOT_HART.load(Ordering::Relaxed)
}

fn reg(offset: u64) -> *mut u32 {
    (hhdm_base() + BASE.load(Ordering::Relaxed) + offset) as *mut u32
}

fn write(offset: u64, value: u32) {
    // SAFETY: `offset` is inside the PLIC register window (checked against its size by the
    // callers' construction), which the kernel maps as a device window.
    unsafe { core::ptr::write_volatile(reg(offset), value) }
}

fn read(offset: u64) -> u32 {
    // SAFETY: as in `write`.
    unsafe { core::ptr::read_volatile(reg(offset)) }
}

/// Initialises the PLIC for the boot hart and routes the serial receive interrupt to it.
pub fn init_interrupts(info: &BootInfo) -> Result<IrqReport, KernelError> {
    let InterruptController::Plic { regs, sources } = info.interrupt_controller else {
        return Err(KernelError::Hardware("the device tree describes no PLIC"));
    };
    let hart = BOOT_HART.load(Ordering::Relaxed);
    let (context, from_tree) = match info.plic_s_context(hart) {
        Some(c) => (u64::from(c), true),
        None => (2 * hart + 1, false),
    };
    let threshold_offset = 0x20_0000 + 0x1000 * context;
    if regs.len() < threshold_offset + 8 || sources == 0 || sources > 1023 {
        return Err(KernelError::Hardware("PLIC register window too small for this hart, or bad source count"));
    }
    BASE.store(regs.start, Ordering::Relaxed);
    CONTEXT.store(context, Ordering::Relaxed);
    SOURCES.store(sources, Ordering::Relaxed);

    // Everything off for this context, then threshold 0 (accept any priority above 0).
    for word in 0..=(u64::from(sources) / 32) {
        write(0x2000 + 0x80 * context + 4 * word, 0);
    }
    write(threshold_offset, 0);

    let uart_irq = info.uart.and_then(|u| u.irq).filter(|&irq| irq > 0 && irq <= sources);
    if let Some(irq) = uart_irq {
        let irq64 = u64::from(irq);
        write(4 * irq64, 1);
        let enable = 0x2000 + 0x80 * context + 4 * (irq64 / 32);
        write(enable, read(enable) | (1 << (irq % 32)));
        UART_IRQ.store(irq, Ordering::Relaxed);
        super::uart::enable_rx_interrupt();
    }
    // SAFETY: enabling supervisor external interrupts in `sie`; the handler is installed.
    unsafe { core::arch::asm!("csrs sie, {0}", in(reg) 1u64 << 9, options(nostack)) };
    let controller = if from_tree { "PLIC" } else { "PLIC (context assumed 2*hart+1: none in the device tree)" };
    Ok(IrqReport { controller, lines: sources, uart_irq })
}

/// Supervisor external interrupt: claim, dispatch and complete every pending source.
pub fn on_interrupt() {
    let claim = 0x20_0004 + 0x1000 * CONTEXT.load(Ordering::Relaxed);
    let uart = UART_IRQ.load(Ordering::Relaxed);
    // Bounded: at most one claim per source.
    for _ in 0..=SOURCES.load(Ordering::Relaxed) {
        let irq = read(claim);
        if irq == 0 {
            break;
        }
        if irq == uart {
            crate::monitor::on_serial_interrupt();
        }
        write(claim, irq);
    }
}
