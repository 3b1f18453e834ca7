// SPDX-License-Identifier: AGPL-3.0-or-later
//! The console: a 16550 UART on x86 I/O ports (COM1 at 0x3f8 unless the boot information
//! names another port).
//!
//! Port I/O needs no mapping, so the console works from the first Rust instruction to the
//! last fault report. Output polls the transmitter-empty bit with a bounded spin (a missing
//! or wedged UART costs time, never a hang); input is read without blocking.

use core::sync::atomic::{AtomicU16, Ordering};
use kernel_core::sync::spin_until;

use kernel_boot::{BootInfo, UartKind};

use super::cpu::{inb, outb};

/// The legacy COM ports and their names.
const COM_PORTS: [(u16, &str); 4] = [
    (0x3f8, "16550 COM1 at I/O port 0x3f8"),
    (0x2f8, "16550 COM2 at I/O port 0x2f8"),
    (0x3e8, "16550 COM3 at I/O port 0x3e8"),
    (0x2e8, "16550 COM4 at I/O port 0x2e8"),
];
const COM1: u16 = 0x3f8;

// Register offsets.
const DATA: u16 = 0; // RBR (read) / THR (write); DLL with DLAB set
const IER: u16 = 1; // interrupt enable; DLM with DLAB set
const FCR: u16 = 2; // FIFO control (write) / IIR (read)
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;
const MSR: u16 = 6;
const SCRATCH: u16 = 7;

const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;
const LSR_TX_IDLE: u8 = 1 << 6;
const LCR_DLAB: u8 = 1 << 7;
const LCR_8N1: u8 = 0b0000_0011;
const MCR_DTR_RTS: u8 = 0b0000_0011;
const MCR_OUT2: u8 = 1 << 3; // gates the UART's interrupt line on PC hardware
const IER_RX_AVAILABLE: u8 = 1 << 0;
/// Enable and clear both FIFOs, interrupt after every received byte.
const FCR_ENABLE_CLEAR: u8 = 0b0000_0111;
/// Baud divisor for 115200 baud (1.8432 MHz / 16 / 115200).
const DIVISOR_115200: u16 = 1;
/// Spins waiting for the transmitter (about 1 ms of port reads on hardware; more than one
/// character time at 115200 baud).
const TX_SPINS: u32 = 100_000;

/// I/O base of the console UART.
static BASE: AtomicU16 = AtomicU16::new(COM1);

fn base() -> u16 {
    BASE.load(Ordering::Relaxed)
}

fn read(reg: u16) -> u8 {
    // SAFETY: the UART's eight ports belong to the console driver; reading LSR, RBR, IIR or
    // MSR only consumes state the driver owns.
    unsafe { inb(base() + reg) }
}

fn write(reg: u16, value: u8) {
    // SAFETY: as in `read`; every value written is a valid 16550 setting.
    unsafe { outb(base() + reg, value) }
}

fn wait_lsr(bit: u8) {
    // On a stuck transmitter, go on: output may be lost, the kernel must not hang.
    spin_until(TX_SPINS, || read(LSR) & bit != 0);
}

/// Writes `bytes` to the console, polling.
pub fn console_write(bytes: &[u8]) {
    for &b in bytes {
        wait_lsr(LSR_THR_EMPTY);
        write(DATA, b);
    }
}

/// Returns a received byte, if one is waiting.
pub fn console_read_byte() -> Option<u8> {
    (read(LSR) & LSR_DATA_READY != 0).then(|| read(DATA))
}

/// Switches to the UART the boot information names (if it is a port-I/O 16550 other than
/// COM1), programs it for 115200 baud 8N1 with FIFOs, and describes it.
pub fn console_init(info: &BootInfo) -> &'static str {
    if let Some(uart) = info.uart
        && uart.kind == UartKind::Ns16550Pio
        && let Ok(port) = u16::try_from(uart.base)
        && port != base()
        && port <= 0xfff8
    {
        wait_lsr(LSR_TX_IDLE);
        BASE.store(port, Ordering::Relaxed);
    }
    wait_lsr(LSR_TX_IDLE);
    write(IER, 0);
    write(LCR, LCR_DLAB);
    write(DATA, DIVISOR_115200 as u8);
    write(IER, (DIVISOR_115200 >> 8) as u8);
    write(LCR, LCR_8N1);
    write(FCR, FCR_ENABLE_CLEAR);
    write(MCR, MCR_DTR_RTS);

    write(SCRATCH, 0xa5);
    let present = read(SCRATCH) == 0xa5;
    match COM_PORTS.iter().find(|(port, _)| *port == base()) {
        Some((_, name)) if present => name,
        Some(_) => "no 16550 answers at the COM port (output is discarded)",
        None => "16550 at the I/O port the boot loader named",
    }
}

/// Enables the receive-data interrupt (IER bit 0) and the interrupt line (MCR OUT2), and
/// clears any stale interrupt condition.
pub fn enable_receive_interrupt() {
    write(IER, IER_RX_AVAILABLE);
    write(MCR, MCR_DTR_RTS | MCR_OUT2);
    // Bounded drain of the receive FIFO, then read the status registers to clear them.
    for _ in 0..64 {
        if console_read_byte().is_none() {
            break;
        }
    }
    let _ = read(LSR);
    let _ = read(FCR);
    let _ = read(MSR);
}
