// SPDX-License-Identifier: AGPL-3.0-or-later
//! AArch64 (ARMv8-A, EL1) support: the `arch` interface for QEMU `virt` and machines booted
//! the same way (an arm64 Image with a device tree in x0, a GICv3, a PL011 console, PSCI).
//!
//! | file | concern |
//! |---|---|
//! | `entry.rs` | Image header, `_start` (MMU off, EL2 → EL1), early tables, jump to the upper half, BootInfo from the DTB |
//! | `uart.rs` | PL011 console |
//! | `paging.rs` | address-space constants and the final kernel address space (TTBR1, 4 KiB granule, 48-bit) |
//! | `trap.rs` | VBAR_EL1 vector table, register frame, the one return path (`eret`), exception reports, stack-overflow detection, syscall and fault dispatch for EL0 |
//! | `gic.rs` | GICv3 distributor, per-CPU redistributors and CPU interfaces; interrupt dispatch; reschedule SGI |
//! | `timer.rs` | periodic tick from the EL1 physical generic timer, on every CPU |
//! | `cpu.rs` | interrupt masking (DAIF), idle, stack switching, system-register helpers |
//! | `user.rs` | EL0: context switch, thread start, FP/SIMD state (CPACR_EL1.FPEN), kernel stack for EL0 entries, user address spaces (TTBR0, EPD0, TLB) |
//! | `machine.rs` | PSCI power-off, CPU_ON, halt, the fault self-test's load |
//! | `percpu.rs` | per-CPU records through `TPIDR_EL1`: `cpu_index`, emergency stack, kernel stack top, affinity, redistributor |
//! | `smp.rs` | secondary CPUs: PSCI CPU_ON onto guarded stacks in the kernel address space, per-CPU setup, scheduler entry; reschedule IPI |

mod cpu;
mod entry;
mod gic;
mod machine;
mod paging;
mod percpu;
mod smp;
mod timer;
mod trap;
mod uart;
mod user;

pub use cpu::{
    IrqState, disable_interrupts, enable_interrupts, irq_restore, irq_save, switch_stack, wait_for_interrupt,
};
pub use gic::{init_interrupts, unexpected_interrupts};
#[cfg(feature = "selftest")]
pub use machine::{RETURN_INSTRUCTION, trigger_test_execute, trigger_test_fault, trigger_test_store};
pub use machine::{exit, halt, reboot};
pub use paging::{EARLY_MAP_LIMIT, KERNEL_OFFSET, hhdm_base, init_paging};
pub use percpu::cpu_index;
pub use smp::{boot_cpu_id, send_reschedule_ipi, start_secondary_cpus};
pub use timer::{counter, init_timer};
pub use trap::init_traps;
pub use uart::{console_init, console_read_byte, console_write};
pub use user::{
    Context, FpState, activate_root, fp_restore, fp_save, init_thread_stack, init_user_mode, kernel_map, kernel_unmap,
    new_user_root, set_kernel_stack, switch_context, sync_code, user_map, user_teardown, user_translate, user_unmap,
};

/// Exception stacks in guarded slots after each CPU's kernel stack (`layout::exception_stack`
/// for the boot CPU, `percpu::emergency_top`): the emergency stack.
pub const EXCEPTION_STACKS: u64 = 1;

/// This architecture.
pub const ARCH: cambios_abi::Arch = cambios_abi::Arch::Aarch64;
