// SPDX-License-Identifier: AGPL-3.0-or-later
//! The machine: power-off through PSCI `SYSTEM_OFF`, halting this CPU, and the fault
//! self-test's load.
//!
//! The PSCI conduit (`hvc` or `smc`) comes from the device tree's `/psci` node: firmware at EL2
//! (QEMU's built-in PSCI without `virtualization=on`) answers `hvc`, firmware at EL3 (or QEMU with
//! `virtualization=on`, where the kernel itself entered at EL2) answers `smc`. PSCI cannot
//! report an exit status: QEMU exits with status 0 either way and the serial log says what
//! happened.

use core::sync::atomic::{AtomicU8, Ordering};

use cambios_abi::exit::ExitCode;
use kernel_boot::PsciConduit;

/// PSCI 0.2+ `SYSTEM_OFF` function id (SMC32 calling convention).
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
const PSCI_SYSTEM_RESET: u64 = 0x8400_0009;

const CONDUIT_NONE: u8 = 0;
const CONDUIT_HVC: u8 = 1;
const CONDUIT_SMC: u8 = 2;

static CONDUIT: AtomicU8 = AtomicU8::new(CONDUIT_NONE);

/// Records the PSCI conduit the device tree names.
pub fn set_psci_conduit(conduit: PsciConduit) {
    let value = match conduit {
        PsciConduit::None => CONDUIT_NONE,
        PsciConduit::Hvc => CONDUIT_HVC,
        PsciConduit::Smc => CONDUIT_SMC,
    };
    CONDUIT.store(value, Ordering::Relaxed);
}

/// PSCI 0.2+ `CPU_ON` function id (SMC64 calling convention).
const PSCI_CPU_ON: u64 = 0xC400_0003;
/// PSCI `NOT_SUPPORTED`, also reported when there is no PSCI at all.
const PSCI_NOT_SUPPORTED: i64 = -1;

/// One SMCCC call to the PSCI firmware through the conduit the device tree names: function
/// id in x0, arguments in x1-x3, result from x0. `None` when there is no PSCI.
fn psci_call(function: u64, a1: u64, a2: u64, a3: u64) -> Option<u64> {
    let ret: u64;
    match CONDUIT.load(Ordering::Relaxed) {
        CONDUIT_HVC => {
            // SAFETY: an SMCCC call to the hypervisor-level PSCI firmware the device tree names;
            // the kernel calls only CPU_ON (starts another CPU and returns), SYSTEM_OFF and
            // SYSTEM_RESET (do not return on success); per SMCCC only x0-x17 may be changed on
            // return (declared clobbered through the C ABI).
            unsafe {
                core::arch::asm!(
                    "hvc #0",
                    inout("x0") function => ret,
                    in("x1") a1,
                    in("x2") a2,
                    in("x3") a3,
                    clobber_abi("C"),
                    options(nostack)
                );
            }
        }
        CONDUIT_SMC => {
            // SAFETY: as above, through the secure-monitor conduit.
            unsafe {
                core::arch::asm!(
                    "smc #0",
                    inout("x0") function => ret,
                    in("x1") a1,
                    in("x2") a2,
                    in("x3") a3,
                    clobber_abi("C"),
                    options(nostack)
                );
            }
        }
        _ => return None,
    }
    Some(ret)
}

/// PSCI `CPU_ON`: starts the CPU with affinity `target` at the physical address `entry`
/// (MMU off) with `context` in x0. Returns the PSCI error code on failure.
pub(super) fn psci_cpu_on(target: u64, entry: u64, context: u64) -> Result<(), i64> {
    match psci_call(PSCI_CPU_ON, target, entry, context).map(|r| r as i64) {
        Some(0) => Ok(()),
        Some(code) => Err(code),
        None => Err(PSCI_NOT_SUPPORTED),
    }
}

/// Stops this CPU for good: every exception masked, then `wfi` forever.
pub fn halt() -> ! {
    loop {
        // SAFETY: masking every exception and waiting; with DAIF all set nothing is ever taken,
        // so this only parks the CPU.
        unsafe { core::arch::asm!("msr daifset, #0xf", "wfi", options(nomem, nostack)) };
    }
}

/// Powers the machine off through PSCI `SYSTEM_OFF`; halts if there is no PSCI or the
/// firmware returns. `code` cannot be passed on (PSCI has no status argument).
pub fn exit(_code: ExitCode) -> ! {
    psci_final(PSCI_SYSTEM_OFF)
}

/// Reboots the machine (PSCI SYSTEM_RESET; QEMU with `-no-reboot` exits instead); halts if
/// there is no PSCI.
pub fn reboot() -> ! {
    psci_final(PSCI_SYSTEM_RESET)
}

/// A PSCI call that does not return on success; halts if it does (or there is no PSCI).
fn psci_final(function: u64) -> ! {
    let _ = psci_call(function, 0, 0, 0);
    halt()
}

/// Loads from `addr` (the fault self-test uses an address that is never mapped).
#[cfg(feature = "selftest")]
pub fn trigger_test_fault(addr: u64) {
    // SAFETY: a deliberate load from an unmapped address: the data abort handler reports the
    // fault and stops the machine; no memory is changed.
    unsafe { core::arch::asm!("ldr {0}, [{0}]", inout(reg) addr => _, options(nostack, readonly)) };
}

/// Stores a zero byte at `addr` (the W^X self-test aims it at read-only kernel text).
#[cfg(feature = "selftest")]
pub fn trigger_test_store(addr: u64) {
    // SAFETY: a deliberate store to a page mapped read-only: the permission fault is reported
    // and the machine stops, so the byte is never written.
    unsafe { core::arch::asm!("strb wzr, [{0}]", in(reg) addr, options(nostack)) };
}

/// Branches with link to the code at `addr` (the W^X self-test aims it at non-executable data).
#[cfg(feature = "selftest")]
pub fn trigger_test_execute(addr: u64) {
    // SAFETY: a deliberate call into a never-executable page: the instruction abort is reported
    // and the machine stops. Should PXN fail, the page holds `RETURN_INSTRUCTION`, so the call
    // returns; the link register and every caller-saved register are declared clobbered.
    unsafe { core::arch::asm!("blr {0}", in(reg) addr, clobber_abi("C"), options(nostack)) };
}

/// A return instruction (`ret`, little-endian), for the execute self-test's probe.
#[cfg(feature = "selftest")]
pub const RETURN_INSTRUCTION: &[u8] = &[0xc0, 0x03, 0x5f, 0xd6];
