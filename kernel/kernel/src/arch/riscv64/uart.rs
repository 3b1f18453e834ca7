// SPDX-License-Identifier: AGPL-3.0-or-later
//! NS16550A serial console, memory-mapped (QEMU `virt`: 0x1000_0000, interrupt 10).
//!
//! Output polls the transmit-holding-register-empty bit. Until [`console_init`] runs, the
//! console uses QEMU's default address through the early direct map; afterwards it uses the
//! UART the device tree's `/chosen stdout-path` names.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use kernel_boot::{BootInfo, UartKind};
use kernel_core::sync::spin_until;

use super::paging::hhdm_base;

/// QEMU `virt`'s first UART, used before the device tree is read.
const DEFAULT_BASE: u64 = 0x1000_0000;

const RBR_THR: u64 = 0;
const IER: u64 = 1;
const FCR: u64 = 2;
const LSR: u64 = 5;
const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;
const IER_RX_AVAILABLE: u8 = 1 << 0;
/// Polls of the line status before a byte is written regardless.
const TX_SPINS: u32 = 100_000;

/// Physical base of the console UART.
static BASE: AtomicU64 = AtomicU64::new(DEFAULT_BASE);
/// Register spacing as a power of two.
static SHIFT: AtomicU8 = AtomicU8::new(0);

fn reg(offset: u64) -> *mut u8 {
    let base = hhdm_base() + BASE.load(Ordering::Relaxed);
    (base + (offset << SHIFT.load(Ordering::Relaxed))) as *mut u8
}

fn read(offset: u64) -> u8 {
    // SAFETY: `reg` points into the UART's register window, which the early direct map and
    // the final kernel address space (a device window) both map; byte access is what the
    // device expects.
    unsafe { core::ptr::read_volatile(reg(offset)) }
}

fn write(offset: u64, value: u8) {
    // SAFETY: as in `read`.
    unsafe { core::ptr::write_volatile(reg(offset), value) }
}

/// Writes bytes, waiting for room in the transmitter (bounded per byte).
pub fn console_write(bytes: &[u8]) {
    for &b in bytes {
        // On a stuck transmitter, give up waiting and write anyway: output may be lost, the
        // kernel must not hang on its console.
        spin_until(TX_SPINS, || read(LSR) & LSR_THR_EMPTY != 0);
        write(RBR_THR, b);
    }
}

/// One received byte, if any.
pub fn console_read_byte() -> Option<u8> {
    (read(LSR) & LSR_DATA_READY != 0).then(|| read(RBR_THR))
}

/// Switches to the UART the device tree names (when it is a 16550) and enables its FIFOs.
pub fn console_init(info: &BootInfo) -> &'static str {
    match info.uart {
        Some(uart) => match uart.kind {
            UartKind::Ns16550Mmio { reg_shift } => {
                SHIFT.store(reg_shift, Ordering::Relaxed);
                BASE.store(uart.base, Ordering::Relaxed);
                write(FCR, 0x07);
                "NS16550A named by the device tree"
            }
            _ => "NS16550A at 0x10000000 (the firmware's console is not a 16550)",
        },
        None => "NS16550A at 0x10000000 (no stdout-path in the device tree)",
    }
}

/// Physical page of the console UART (for the kernel's device window).
pub fn window() -> u64 {
    BASE.load(Ordering::Relaxed)
}

/// Enables the receive-data-available interrupt.
pub fn enable_rx_interrupt() {
    write(IER, IER_RX_AVAILABLE);
}
