// SPDX-License-Identifier: AGPL-3.0-or-later
//! Architecture selection: the only `cfg(target_arch)` switch in the kernel.
//!
//! Every architecture module provides the same small set of items, one interface per
//! concern. The portable kernel (`boot_sequence`, `memory`, `time`, `trap`, ...) uses only
//! these names:
//!
//! | concern | items |
//! |---|---|
//! | identity | `ARCH: cambios_abi::Arch` |
//! | entry | assembly entry → builds a `kernel_boot::BootInfo` → `crate::boot_sequence::kernel_main` |
//! | console | `console_write(&[u8])`, `console_init(&BootInfo)` (switch to the DTB/ACPI-named UART) |
//! | memory | `KERNEL_OFFSET` (virt = phys + offset for the image), `hhdm_base()`, `device_windows(&BootInfo, &mut RangeList<16>)`, `init_paging(&BootInfo, &mut Frames) -> Result<PagingReport>` |
//! | locks | `IrqMask: kernel_core::sync::InterruptMask` |
//! | traps | `init_traps() -> Result<TrapReport>`, faults reported through `crate::trap::report_kernel_fault` |
//! | interrupts | `init_interrupts(&BootInfo) -> Result<IrqReport>`; the UART receive interrupt calls `crate::monitor::on_input` |
//! | time | `init_timer(&BootInfo, hz) -> Result<TimerReport>`, `counter()`, `counter_hz()`; each tick calls `crate::time::on_tick` |
//! | cpu | `enable_interrupts()`, `disable_interrupts()`, `wait_for_interrupt()`, `switch_stack(top, f) -> !` |
//! | machine | `exit(ExitCode) -> !`, `halt() -> !`, `trigger_test_fault()` |

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "riscv64")]
mod riscv64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(target_arch = "aarch64")]
pub use aarch64::*;
#[cfg(target_arch = "riscv64")]
pub use riscv64::*;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;

/// What the paging setup did, for the boot log.
#[derive(Clone, Copy, Debug)]
pub struct PagingReport {
    /// Page-table format name (`PageTableFormat::NAME`).
    pub format: &'static str,
    /// Base of the direct map of physical memory.
    pub hhdm_base: u64,
    /// Frames used by the kernel's page tables.
    pub table_frames: u64,
    /// Extra hardware protections switched on (for example "NX, SMEP" or "PAN").
    pub protections: &'static str,
}

/// What the trap setup did, for the boot log.
#[derive(Clone, Copy, Debug)]
pub struct TrapReport {
    /// One-line description (for example "IDT, 256 vectors, IST for #DF/#NMI/#MC").
    pub detail: &'static str,
}

/// What the interrupt-controller setup did, for the boot log.
#[derive(Clone, Copy, Debug)]
pub struct IrqReport {
    /// Controller names (for example "local APIC + I/O APIC").
    pub controller: &'static str,
    /// Number of device interrupt lines the controller can route.
    pub lines: u32,
    /// The serial receive interrupt, routed to this CPU, if one was found.
    pub uart_irq: Option<u32>,
}

/// What the timer setup did, for the boot log.
#[derive(Clone, Copy, Debug)]
pub struct TimerReport {
    /// Interrupt source (for example "local APIC timer").
    pub source: &'static str,
    /// Tick rate in Hz.
    pub hz: u32,
    /// Frequency of the free-running monotonic counter.
    pub counter_hz: u64,
    /// Name of the counter (for example "TSC", "CNTVCT_EL0", "time CSR").
    pub counter: &'static str,
    /// The reference clock used for calibration, if any (for example "PIT").
    pub calibrated_against: Option<&'static str>,
}
