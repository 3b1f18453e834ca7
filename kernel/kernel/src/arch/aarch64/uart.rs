// SPDX-License-Identifier: AGPL-3.0-or-later
//! Arm PrimeCell PL011 serial console (QEMU `virt`: 0x0900_0000, SPI 1 = INTID 33).
//!
//! Output polls `FR.TXFF`; input polls `FR.RXFE`. Until [`console_init`] runs, the console uses
//! QEMU's default address through the early direct map (which maps the first GiB of physical
//! addresses as Device memory); afterwards it uses the UART the device tree's
//! `/chosen stdout-path` names, which the final address space maps as a device window at
//! `hhdm_base() + base`. The firmware has already programmed the baud rate and line format;
//! the kernel only makes sure the UART, transmitter and receiver are enabled.

use core::cell::UnsafeCell;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use kernel_core::sync::spin_until;

use kernel_boot::{BootInfo, UartKind};

use super::paging::hhdm_base;

/// QEMU `virt`'s PL011, used before the device tree is read.
const DEFAULT_BASE: u64 = 0x0900_0000;

const DR: u64 = 0x00;
const FR: u64 = 0x18;
const CR: u64 = 0x30;
const IMSC: u64 = 0x38;
const ICR: u64 = 0x44;

const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;
const CR_UARTEN: u32 = 1 << 0;
const CR_TXE: u32 = 1 << 8;
const CR_RXE: u32 = 1 << 9;
/// Receive and receive-timeout interrupts (IMSC/ICR bits 4 and 6).
const INT_RX: u32 = (1 << 4) | (1 << 6);

/// Spins allowed per byte while the transmit FIFO is full (a stuck UART must not hang the
/// kernel; the byte is dropped instead).
const TX_SPINS: u32 = 1_000_000;

/// Physical base of the console UART.
static BASE: AtomicU64 = AtomicU64::new(DEFAULT_BASE);

fn reg(offset: u64) -> *mut u32 {
    (hhdm_base() + BASE.load(Ordering::Relaxed) + offset) as *mut u32
}

fn read(offset: u64) -> u32 {
    // SAFETY: `reg` points into the PL011's 4 KiB register window, which the early direct
    // map (first GiB as Device memory) and the final address space (a device window) both
    // map; the registers are 32 bits wide and 4-byte aligned.
    unsafe { core::ptr::read_volatile(reg(offset)) }
}

fn write(offset: u64, value: u32) {
    // SAFETY: as in `read`.
    unsafe { core::ptr::write_volatile(reg(offset), value) }
}

/// Writes bytes, waiting (bounded) for room in the transmit FIFO.
pub fn console_write(bytes: &[u8]) {
    for &b in bytes {
        // On a stuck FIFO, write anyway: output may be lost, the kernel must not hang.
        spin_until(TX_SPINS, || read(FR) & FR_TXFF == 0);
        write(DR, u32::from(b));
    }
}

/// One received byte, if any (never blocks).
pub fn console_read_byte() -> Option<u8> {
    if read(FR) & FR_RXFE != 0 {
        return None;
    }
    // The upper DR bits are error flags; the byte is bits 7:0.
    Some((read(DR) & 0xff) as u8)
}

/// Switches to the UART the device tree names (when it is a PL011), makes sure it is enabled,
/// and describes it for the boot log.
pub fn console_init(info: &BootInfo) -> &'static str {
    let note = match info.uart {
        Some(uart) if uart.kind == UartKind::Pl011 => {
            BASE.store(uart.base, Ordering::Relaxed);
            ""
        }
        Some(_) => " (default: the firmware's console is not a PL011)",
        None => " (default: no stdout-path in the device tree)",
    };
    let cr = read(CR);
    let wanted = CR_UARTEN | CR_TXE | CR_RXE;
    if cr & wanted != wanted {
        write(CR, cr | wanted);
    }
    DESCRIPTION.set(format_args!("PL011 at {:#x}{}", BASE.load(Ordering::Relaxed), note))
}

/// Physical base of the console UART (for the kernel's device window).
pub fn base() -> u64 {
    BASE.load(Ordering::Relaxed)
}

/// Enables the receive and receive-timeout interrupts.
pub fn enable_rx_interrupt() {
    write(ICR, INT_RX);
    write(IMSC, read(IMSC) | INT_RX);
}

/// Clears the receive interrupts; called before the FIFO is drained so that a byte arriving
/// during the drain raises the interrupt again instead of being left behind.
pub fn clear_rx_interrupt() {
    write(ICR, INT_RX);
}

/// A description written once (by the first `set`) and read-only afterwards.
struct Description {
    bytes: UnsafeCell<[u8; 96]>,
    len: AtomicUsize,
    claimed: AtomicBool,
}

// SAFETY: `bytes` is written only by the single caller that wins `claimed`, before it
// publishes `len` with Release ordering; afterwards it is only read.
unsafe impl Sync for Description {}

static DESCRIPTION: Description =
    Description { bytes: UnsafeCell::new([0; 96]), len: AtomicUsize::new(0), claimed: AtomicBool::new(false) };

/// Formats into a byte buffer, cutting what does not fit.
struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

impl Description {
    fn set(&'static self, args: core::fmt::Arguments<'_>) -> &'static str {
        if self.claimed.swap(true, Ordering::Acquire) {
            return "PL011 (console already described)";
        }
        // SAFETY: this caller won `claimed`, so it is the only one ever to write `bytes`, and
        // no reader exists yet (readers only appear through the `&'static str` returned below).
        let buf = unsafe { &mut *self.bytes.get() };
        let mut cursor = Cursor { buf, len: 0 };
        let _ = cursor.write_fmt(args);
        let len = cursor.len;
        self.len.store(len, Ordering::Release);
        // SAFETY: from here on `bytes` is never written again, so a shared borrow for the rest
        // of the kernel's life is sound.
        let bytes: &'static [u8; 96] = unsafe { &*self.bytes.get() };
        // Only ASCII was written (format output of ASCII text and hex numbers); a cut in the
        // middle of a multi-byte character cannot happen, but fall back safely anyway.
        core::str::from_utf8(bytes.get(..len).unwrap_or(&[])).unwrap_or("PL011")
    }
}
