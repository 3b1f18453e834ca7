// SPDX-License-Identifier: AGPL-3.0-or-later
//! Kernel console: formatted output to the early serial port, and the log macros.
//!
//! Output goes through one interrupt-safe lock so lines from different contexts never
//! interleave. `kprintln!` prints a line as is (boot milestones use it with their bracketed
//! tag); `kwarn!` and `kerror!` add a level prefix. Panic and fault paths use
//! [`force_print`], which does not wait for the lock.

use core::fmt::{self, Write};

use kernel_core::sync::{IrqSpinLock, LockClass};

use crate::arch;

/// Zero-sized writer over the architecture's serial output.
pub struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for chunk in s.as_bytes().split_inclusive(|&b| b == b'\n') {
            match chunk.split_last() {
                Some((b'\n', body)) => {
                    arch::console_write(body);
                    arch::console_write(b"\r\n");
                }
                _ => arch::console_write(chunk),
            }
        }
        Ok(())
    }
}

static CONSOLE: IrqSpinLock<Serial, arch::IrqMask> = IrqSpinLock::new(LockClass::Console, Serial);

/// Prints formatted text under the console lock.
pub fn print(args: fmt::Arguments<'_>) {
    let mut guard = CONSOLE.lock();
    let _ = guard.write_fmt(args);
}

/// Prints without waiting for the console lock (panic and fault paths only: another CPU may
/// hold the lock forever). Output may interleave with a concurrent printer.
pub fn force_print(args: fmt::Arguments<'_>) {
    match CONSOLE.try_lock() {
        Some(mut guard) => {
            let _ = guard.write_fmt(args);
        }
        None => {
            let _ = Serial.write_fmt(args);
        }
    }
}

/// Prints a line.
macro_rules! kprintln {
    () => { $crate::console::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Prints a warning line.
macro_rules! kwarn {
    ($($arg:tt)*) => { $crate::console::print(format_args!("warning: {}\n", format_args!($($arg)*))) };
}

/// Prints an error line.
macro_rules! kerror {
    ($($arg:tt)*) => { $crate::console::print(format_args!("error: {}\n", format_args!($($arg)*))) };
}
