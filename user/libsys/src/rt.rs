// SPDX-License-Identifier: MPL-2.0
//! The runtime around `main`: [`entry!`](crate::entry!), the exit-code convention
//! ([`Termination`]), the Rust-side start function and the panic handler.
//!
//! Start-up: the kernel enters `_start` (per architecture, in `arch/`), which zeroes the frame
//! pointer and calls [`start`]; `start` calls the program's main through the symbol
//! `__libsys_main` that [`entry!`](crate::entry!) defines, turns the result into an exit code
//! and calls `exit`. A program that forgets `entry!` fails to link (undefined
//! `__libsys_main`). Nothing else is initialised: the kernel has zeroed `.bss`, and the heap
//! (feature `heap`) maps its first chunk on the first allocation.

use core::fmt::Display;

/// What `main` may return, and how it becomes the exit code.
///
/// - `()` → 0;
/// - `i32` → that code (passed to `exit` as its two's-complement `u32`);
/// - `Result<T, E>` with `T: Termination`, `E: Display` → `T`'s code on `Ok`; on `Err`, prints
///   `error: <e>` and exits with 1.
pub trait Termination {
    /// The exit code.
    fn report(self) -> i32;
}

impl Termination for () {
    fn report(self) -> i32 {
        0
    }
}

impl Termination for i32 {
    fn report(self) -> i32 {
        self
    }
}

impl<T: Termination, E: Display> Termination for Result<T, E> {
    fn report(self) -> i32 {
        match self {
            Ok(value) => value.report(),
            Err(e) => {
                crate::eprintln!("error: {e}");
                1
            }
        }
    }
}

/// Names the program's main function: `libsys::entry!(main);` at the crate root, where `main`
/// is a `fn() -> T` with `T:` [`Termination`] (`()`, `i32` or `Result<_, impl Display>`).
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// The program's main, as the libsys runtime calls it.
        #[doc(hidden)]
        #[unsafe(no_mangle)]
        pub extern "Rust" fn __libsys_main() -> i32 {
            let main: fn() -> _ = $main;
            $crate::rt::Termination::report(main())
        }
    };
}

#[cfg(target_os = "none")]
unsafe extern "Rust" {
    /// Defined by [`entry!`](crate::entry!) in the program.
    fn __libsys_main() -> i32;
}

/// Called by `_start`: runs the program's main and exits with its code.
#[cfg(target_os = "none")]
pub extern "C" fn start() -> ! {
    // SAFETY: `entry!` defines `__libsys_main` with exactly this signature; it is an ordinary
    // safe Rust function.
    let code = unsafe { __libsys_main() };
    crate::sys::exit(code as u32)
}

/// Prints `panic: <message> at <file>:<line>` and exits with code 101.
#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(at) => crate::eprintln!("panic: {} at {}:{}", info.message(), at.file(), at.line()),
        None => crate::eprintln!("panic: {}", info.message()),
    }
    crate::sys::exit(101)
}
