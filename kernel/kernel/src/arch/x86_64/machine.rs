// SPDX-License-Identifier: AGPL-3.0-or-later
//! Machine control: power-off through QEMU's `isa-debug-exit` device, stack switching and
//! the deliberate fault of the self-test.

use core::arch::asm;

use cambios_abi::exit::ExitCode;

use super::cpu;

/// I/O port of QEMU's `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4,iosize=4`).
const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Stops the machine, reporting `code`: QEMU exits with status `(code << 1) | 1`. Without the
/// exit device (real hardware) the write does nothing and the CPU halts, which keeps the last
/// report on screen.
pub fn exit(code: ExitCode) -> ! {
    cpu::disable_interrupts();
    // SAFETY: port 0xf4 is the debug-exit device on QEMU and unused on PC hardware; writing
    // it either ends the emulator or has no effect.
    unsafe { cpu::outl(DEBUG_EXIT_PORT, code as u32) };
    cpu::halt()
}

/// Reboots the machine: a reset through the 8042 keyboard controller, then a triple fault
/// (an empty IDT) if that did nothing. QEMU with `-no-reboot` exits instead.
pub fn reboot() -> ! {
    cpu::disable_interrupts();
    // SAFETY: port 0x64 is the 8042 controller's command port on PCs; 0xfe pulses the reset
    // line. Nothing the kernel needs survives a reset.
    unsafe { cpu::outb(0x64, 0xfe) };
    let empty = super::gdt::DescriptorPointer { limit: 0, base: 0 };
    // SAFETY: with a zero-length IDT the next exception cannot be delivered: the CPU triple
    // faults and resets, which is the intent.
    unsafe {
        asm!("lidt ({0})", "int3", in(reg) &raw const empty, options(att_syntax, nostack));
    }
    cpu::halt()
}

/// Switches to the stack whose top is `top` and calls `entry` there.
pub fn switch_stack(top: u64, entry: extern "C" fn() -> !) -> ! {
    // SAFETY: `top` is the 16-byte-aligned top of a mapped, unused kernel stack; the `call`
    // leaves the stack as the System V ABI expects at function entry. `entry` never returns,
    // so nothing runs on the old stack again (the `ud2` is unreachable).
    unsafe {
        asm!(
            "mov {top}, %rsp",
            "xor %ebp, %ebp",
            "call *{entry}",
            "ud2",
            top = in(reg) top,
            entry = in(reg) entry,
            options(att_syntax, noreturn)
        )
    }
}

/// Loads from `addr` (the fault self-test uses an address that is never mapped).
#[cfg(feature = "selftest")]
pub fn trigger_test_fault(addr: u64) {
    // SAFETY: a deliberate load from an unmapped address: the page-fault handler reports it
    // and stops the machine; no memory is changed.
    unsafe { asm!("mov ({0}), {0}", inout(reg) addr => _, options(att_syntax, nostack, readonly)) };
}

/// Stores a zero byte at `addr` (the W^X self-test aims it at read-only kernel text).
#[cfg(feature = "selftest")]
pub fn trigger_test_store(addr: u64) {
    // SAFETY: a deliberate store to a page mapped read-only: the page-fault handler reports it
    // and stops the machine, so the byte is never written.
    unsafe { asm!("movb $0, ({0})", in(reg) addr, options(att_syntax, nostack)) };
}

/// Calls the code at `addr` (the W^X self-test aims it at non-executable data).
#[cfg(feature = "selftest")]
pub fn trigger_test_execute(addr: u64) {
    // SAFETY: a deliberate call into a non-executable page: the instruction fetch faults and the
    // handler stops the machine. Should NX fail, the page holds `RETURN_INSTRUCTION`, so the call
    // returns; every caller-saved register is declared clobbered.
    unsafe { asm!("call *{0}", in(reg) addr, clobber_abi("C"), options(att_syntax)) };
}

/// A return instruction (`ret`), for the execute self-test's probe.
#[cfg(feature = "selftest")]
pub const RETURN_INSTRUCTION: &[u8] = &[0xc3];
