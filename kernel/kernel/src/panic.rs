// SPDX-License-Identifier: AGPL-3.0-or-later
//! The panic handler. Panics are kernel bugs only: bad input gets a typed error long before
//! anything could panic. The handler prints the location and message, then stops the machine
//! (CambiOS runs on one CPU until the SMP issue lands; the other CPUs have not been started,
//! so stopping this one stops them all).

use cambios_abi::bootlog::PANIC_TAG;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    crate::arch::disable_interrupts();
    match info.location() {
        Some(at) => crate::console::force_print(format_args!(
            "{PANIC_TAG} kernel panic at {}:{}:{}: {}\n",
            at.file(),
            at.line(),
            at.column(),
            info.message()
        )),
        None => crate::console::force_print(format_args!("{PANIC_TAG} kernel panic: {}\n", info.message())),
    }
    crate::trap::stop()
}
