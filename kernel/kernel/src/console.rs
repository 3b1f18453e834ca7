// SPDX-License-Identifier: AGPL-3.0-or-later
//! Kernel console: formatted output to the serial port, and the leveled log macros.
//!
//! Output goes through one interrupt-safe lock so lines from different contexts never
//! interleave. Every leveled line (`kerror!`, `kwarn!`, `kinfo!` for the boot milestones,
//! `kdebug!`) is filtered by the level set with `cambios.log=` (default `info`; errors always
//! print); [`kprintln!`] (the ready line, monitor replies) is never filtered. Panic and fault paths use [`force_print`],
//! which does not wait for the lock.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU8, Ordering};

use crate::sync::SpinLock;
use kernel_core::cmdline::LogLevel;
use kernel_core::sync::LockClass;

use crate::arch;

/// Zero-sized writer over the architecture's serial output (turns `\n` into `\r\n`).
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

static CONSOLE: SpinLock<Serial> = SpinLock::new(LockClass::Console, Serial);

/// The most verbose level printed (a `LogLevel` as u8); `Info` until the command line says otherwise.
static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Info as u8);

/// Sets the most verbose level printed.
pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// True when lines of `level` are printed.
pub fn enabled(level: LogLevel) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Prints formatted text under the console lock.
pub fn print(args: fmt::Arguments<'_>) {
    let mut guard = CONSOLE.lock();
    let _ = guard.write_fmt(args);
}

/// Writes raw bytes (user programs' output) under the console lock, `\n` as `\r\n`.
pub fn write_bytes(bytes: &[u8]) {
    let _guard = CONSOLE.lock();
    for chunk in bytes.split_inclusive(|&b| b == b'\n') {
        match chunk.split_last() {
            Some((b'\n', body)) => {
                arch::console_write(body);
                arch::console_write(b"\r\n");
            }
            _ => arch::console_write(chunk),
        }
    }
}

/// Prints formatted text if `level` is enabled.
pub fn log(level: LogLevel, args: fmt::Arguments<'_>) {
    if enabled(level) {
        print(args);
    }
}

/// Prints without waiting for the console lock (panic and fault paths only: the interrupted
/// code may hold the lock forever). Output may interleave with a concurrent printer.
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

/// Prints a line unconditionally.
macro_rules! kprintln {
    () => { $crate::console::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Prints an informational line (boot milestones).
macro_rules! kinfo {
    ($($arg:tt)*) => {
        $crate::console::log(kernel_core::cmdline::LogLevel::Info, format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Prints a debugging line (shown with `cambios.log=debug`).
macro_rules! kdebug {
    ($($arg:tt)*) => {
        $crate::console::log(kernel_core::cmdline::LogLevel::Debug, format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Prints a warning line.
macro_rules! kwarn {
    ($($arg:tt)*) => {
        $crate::console::log(kernel_core::cmdline::LogLevel::Warn, format_args!("warning: {}\n", format_args!($($arg)*)))
    };
}

/// Prints an error line.
macro_rules! kerror {
    ($($arg:tt)*) => {
        $crate::console::log(kernel_core::cmdline::LogLevel::Error, format_args!("error: {}\n", format_args!($($arg)*)))
    };
}
