// SPDX-License-Identifier: MPL-2.0
//! Console output: [`print!`](crate::print!), [`println!`](crate::println!) and
//! [`eprintln!`](crate::eprintln!).
//!
//! Output is formatted into a [`BUFFER_SIZE`]-byte buffer on the stack and written with
//! `console_write` when the buffer fills and at the end of the macro call. So a line of up to
//! [`BUFFER_SIZE`] bytes reaches the console in one syscall and lines from different processes
//! do not interleave mid-line. There is one console: `eprintln!` writes to it too. Errors (no
//! `console-write` capability, for one) are ignored, as a program has nowhere else to report
//! them; call [`crate::sys::console_write`] to see them.

use core::fmt;

use crate::sys;

/// Size of the formatting buffer, in bytes.
pub const BUFFER_SIZE: usize = 512;

/// A buffered console writer; [`Console::flush`] (or dropping it) writes what is buffered.
pub struct Console {
    buf: [u8; BUFFER_SIZE],
    len: usize,
}

impl Console {
    /// An empty writer.
    pub const fn new() -> Console {
        Console { buf: [0; BUFFER_SIZE], len: 0 }
    }

    /// Writes the buffered bytes to the console.
    pub fn flush(&mut self) {
        if let Some(pending) = self.buf.get(..self.len)
            && !pending.is_empty()
        {
            let _ = sys::console_write(pending);
        }
        self.len = 0;
    }
}

impl Default for Console {
    fn default() -> Console {
        Console::new()
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut bytes = s.as_bytes();
        while !bytes.is_empty() {
            if self.len == BUFFER_SIZE {
                self.flush();
            }
            let Some(space) = self.buf.get_mut(self.len..) else { return Err(fmt::Error) };
            let n = space.len().min(bytes.len());
            let (now, later) = bytes.split_at(n);
            if let Some(dst) = space.get_mut(..n) {
                dst.copy_from_slice(now);
            }
            self.len += n;
            bytes = later;
        }
        Ok(())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Formats `args` to the console (what the macros call).
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    use fmt::Write;
    let mut console = Console::new();
    let _ = console.write_fmt(args);
    console.flush();
}

/// Prints to the console (see [`crate::print`]).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::print::_print(::core::format_args!($($arg)*))
    };
}

/// Prints to the console with a newline, in one syscall when the line fits in
/// [`BUFFER_SIZE`](crate::print::BUFFER_SIZE) bytes.
#[macro_export]
macro_rules! println {
    () => {
        $crate::print::_print(::core::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::print::_print(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}

/// Like [`println!`]: CambiOS has a single console, so errors go the same way.
#[macro_export]
macro_rules! eprintln {
    ($($arg:tt)*) => {
        $crate::println!($($arg)*)
    };
}
