// SPDX-License-Identifier: AGPL-3.0-or-later
//! The architecture-neutral half of trap handling: fault reports and stopping the machine.
//!
//! Architecture trap handlers decode what happened into a [`FaultReport`] and call
//! [`kernel_fault`]. A fault in kernel mode is a kernel bug (bad input never gets this far),
//! so the report is printed and the machine stops: a self-test kernel powers off with a
//! failure code so the test harness sees it; a normal kernel halts so the report stays on
//! screen.

use cambios_abi::bootlog::{FAULT_TAG, STACK_GUARD_TEXT};
use cambios_abi::exit::ExitCode;

use crate::{arch, layout};

/// What an architecture trap handler knows about a fault.
#[derive(Clone, Copy, Debug)]
pub struct FaultReport<'a> {
    /// The exception: x86 vector, AArch64 ESR_EL1.EC, RISC-V `scause`.
    pub vector: u64,
    /// Its name ("page fault", "data abort (current EL)", "load page fault", ...).
    pub name: &'static str,
    /// The faulting address, when the exception has one (CR2, FAR_EL1, `stval`).
    pub addr: Option<u64>,
    /// Syndrome or error code, when the exception has one.
    pub code: Option<u64>,
    /// Program counter of the faulting instruction.
    pub pc: u64,
    /// Stack pointer at the fault.
    pub sp: u64,
    /// General-purpose registers, by name.
    pub registers: &'a [(&'static str, u64)],
}

/// A fatal exception in user mode: prints the report with the process's name and ends the
/// process; the rest of the system keeps running. Never returns. It prints through the
/// console lock (this CPU holds no lock: the fault came from user mode), so reports of
/// processes faulting on two CPUs at once do not interleave.
pub fn user_fault(kind: cambios_abi::syscall::FaultKind, report: &FaultReport<'_>) -> ! {
    let (pid, name) = crate::process::current_name().unwrap_or((crate::process::Pid(0), alloc::string::String::new()));
    crate::console::print(format_args!(
        "{FAULT_TAG} process {name} (pid {pid}) killed: {} (vector {:#x})\n",
        report.name, report.vector
    ));
    crate::console::print(format_args!(
        "{FAULT_TAG}   pc={:#018x} addr={:#018x} sp={:#018x} code={:#x}\n",
        report.pc,
        report.addr.map_or(0, |a| a),
        report.sp,
        report.code.map_or(0, |c| c)
    ));
    crate::process::exit_current(cambios_abi::syscall::ExitStatus::Faulted(kind))
}

/// Prints the report and stops the machine.
pub fn kernel_fault(report: &FaultReport<'_>) -> ! {
    arch::disable_interrupts();
    crate::console::force_print(format_args!(
        "{FAULT_TAG} KERNEL FAULT: {} (vector {:#x})\n",
        report.name, report.vector
    ));
    let addr = report.addr.map_or(0, |a| a);
    crate::console::force_print(format_args!(
        "{FAULT_TAG}   pc={:#018x} addr={:#018x} sp={:#018x} code={:#x}\n",
        report.pc,
        addr,
        report.sp,
        report.code.map_or(0, |c| c)
    ));
    if report.addr.is_some_and(layout::is_stack_guard) {
        crate::console::force_print(format_args!(
            "{FAULT_TAG}   the address is a {STACK_GUARD_TEXT}: stack overflow\n"
        ));
    }
    for row in report.registers.chunks(4) {
        crate::console::force_print(format_args!("{FAULT_TAG}  "));
        for (name, value) in row {
            crate::console::force_print(format_args!(" {name:>3}={value:#018x}"));
        }
        crate::console::force_print(format_args!("\n"));
    }
    crate::console::force_print(format_args!("{FAULT_TAG} kernel stopped (this is a kernel bug)\n"));
    stop()
}

/// Stops the machine after a kernel fault or panic.
/// The other CPUs stop at their next timer tick (`smp::stop_all`), so nothing keeps running
/// on kernel state the failure may have left inconsistent.
pub fn stop() -> ! {
    crate::smp::stop_all();
    if cfg!(feature = "selftest") { arch::exit(ExitCode::Failure) } else { arch::halt() }
}
