// SPDX-License-Identifier: AGPL-3.0-or-later
//! Architecture selection: the only `cfg(target_arch)` switch in the kernel.
//!
//! Every architecture module provides the same small set of items, one interface per
//! concern. The portable kernel (`boot_sequence`, `memory`, `time`, `trap`, ...) uses only
//! these names; docs/adr/0002 and docs/boot.md describe what each architecture does behind them.
//!
//! | concern | items |
//! |---|---|
//! | identity | `ARCH: cambios_abi::Arch` |
//! | entry | assembly entry → early page tables (identity + direct map of physical memory below `EARLY_MAP_LIMIT` + kernel window) → builds a `kernel_boot::BootInfo` → `crate::boot_sequence::kernel_main(&info)` |
//! | console | `console_write(&[u8])` (polling, usable from the first Rust instruction), `console_init(&BootInfo) -> &'static str` (switch to the firmware-named UART; returns its description), `console_read_byte() -> Option<u8>` |
//! | stacks | `EXCEPTION_STACKS` (guarded exception-stack slots `build_kernel_space` maps after the kernel stack) |
//! | memory | `KERNEL_OFFSET` (virtual minus physical address of the kernel image), `EARLY_MAP_LIMIT` (physical memory below this is reachable through the direct map before `init_paging`), `hhdm_base()`, `init_paging(&BootInfo, &mut FrameAllocator) -> Result<PagingReport, KernelError>` (builds the final tables with `crate::memory::build_kernel_space` and switches to them) |
//! | locks | `IrqMask: kernel_core::sync::InterruptMask` |
//! | traps | `init_traps() -> Result<TrapReport, KernelError>`; a kernel fault calls `crate::trap::kernel_fault(&FaultReport) -> !`; `unexpected_interrupts() -> u64` counts interrupts nothing handled |
//! | interrupts | `init_interrupts(&BootInfo) -> Result<IrqReport, KernelError>` (controller + serial receive interrupt); the handlers call `crate::time::on_tick()` and `crate::monitor::on_serial_interrupt()` |
//! | time | `init_timer(&BootInfo, hz) -> Result<TimerReport, KernelError>`, `counter() -> u64` (free-running, monotonic) |
//! | cpu | `enable_interrupts()`, `disable_interrupts()`, `wait_for_interrupt()` (called with interrupts masked after checking for work; sleeps until an interrupt arrives, takes it, returns masked: no lost wake-up), `switch_stack(top, entry) -> !` |
//! | threads | `Context` + `switch_context(old, new)` (callee-saved registers and stack pointer; interrupts masked), `init_thread_stack(top, entry, user_sp) -> Context` (a new thread's first switch runs `crate::sched::after_switch()` and enters user mode), `set_kernel_stack(top)` (the stack the next trap from user mode uses) |
//! | FP/SIMD | `FpState::new()`, `fp_save(&mut FpState)`, `fp_restore(&FpState)`: the user thread's FP/SIMD registers, saved and restored at every switch (the kernel itself is soft-float) |
//! | user mode | `init_user_mode()` (once, before the first process); syscalls from user mode call `crate::syscall::dispatch(number, args)` with interrupts masked; exceptions from user mode call `crate::trap::user_fault(kind, &report)`; the timer and serial interrupt handlers call `crate::sched::preempt_point()` after acknowledging the interrupt |
//! | address spaces | `sync_code(kernel_va, len)` (code written through the direct map becomes visible to instruction fetch), `new_user_root`, `user_map`, `user_translate`, `user_unmap` (with TLB flush), `user_teardown`, `activate_root(root)` (the kernel root means no user space); `kernel_map`/`kernel_unmap` for run-time kernel stacks in the shared kernel half |
//! | SMP | `cpu_index() -> usize` (the running CPU's logical index, 0 = boot CPU, from a per-CPU register: x86_64 `%gs`, AArch64 `TPIDR_EL1`, RISC-V `tp`), `boot_cpu_id() -> u64` (firmware id), `start_secondary_cpus(&BootInfo) -> u32` (starts the other CPUs, each of which sets up its traps, interrupt controller interface and timer and enters `crate::smp::secondary_main`; prints the `[smp]` line; returns the CPUs online, boot CPU included), `send_reschedule_ipi(cpu)` (its handler calls `crate::smp::on_reschedule_ipi` then `crate::sched::preempt_point`); `kernel_unmap` is a TLB shootdown: no CPU translates the range when it returns (docs/locking.md) |
//! | machine | `exit(ExitCode) -> !` (power off through the exit device), `reboot() -> !`, `halt() -> !` (stop this CPU for good) |
//! | self-tests (feature `selftest`) | `trigger_test_fault(addr)` (a load), `trigger_test_store(addr)` (a byte store), `trigger_test_execute(addr)` (a call), `RETURN_INSTRUCTION` (bytes of a return instruction) |

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
    /// Extra hardware protections switched on (for example "NX, WP, SMEP, SMAP" or "PAN").
    pub protections: &'static str,
}

/// What the trap setup did, for the boot log.
#[derive(Clone, Copy, Debug)]
pub struct TrapReport {
    /// One-line description (for example "IDT, 32 exception vectors, IST stack for #DF").
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
