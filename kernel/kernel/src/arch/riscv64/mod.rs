// SPDX-License-Identifier: AGPL-3.0-or-later
//! RISC-V (RV64GC, S-mode under OpenSBI) support: the `arch` interface for QEMU `virt` and
//! compatible machines.
//!
//! | file | concern |
//! |---|---|
//! | `entry.rs` | `_start` (MMU off), early Sv48/Sv39 tables, jump to the upper half, BootInfo from the DTB |
//! | `sbi.rs` | SBI calls: timer, system reset, hart start (HSM), IPIs, remote fences (RFENCE), extension probing |
//! | `uart.rs` | NS16550A console |
//! | `paging.rs` | the final kernel address space (Sv48, or Sv39 when the hart lacks Sv48) |
//! | `trap.rs` | `stvec` entry (S- and U-mode, `sscratch` stack swap), register frame, exception reports, syscalls, user faults, interrupt dispatch and preemption |
//! | `plic.rs` | platform-level interrupt controller |
//! | `timer.rs` | periodic tick from SBI set_timer on the `time` CSR |
//! | `cpu.rs` | interrupt masking, idle, stacks, power-off |
//! | `percpu.rs` | the per-hart block `tp` points to: CPU index, trap scratch word, emergency stack, kernel stack for U-mode traps |
//! | `smp.rs` | secondary harts: SBI HSM `hart_start`, `.boot` entry, guarded stacks, per-hart timer, reschedule IPIs, remote TLB fences |
//! | `user.rs` | context switch, new-thread stacks, kernel stack for U-mode traps, FP state, user address spaces (Sv48/Sv39), run-time kernel mappings and TLB shootdown |

mod cpu;
mod entry;
mod paging;
mod percpu;
mod plic;
mod sbi;
mod smp;
mod timer;
mod trap;
mod uart;
mod user;

pub use cpu::{
    IrqState, disable_interrupts, enable_interrupts, exit, halt, irq_restore, irq_save, reboot, switch_stack,
    wait_for_interrupt,
};
#[cfg(feature = "selftest")]
pub use cpu::{RETURN_INSTRUCTION, trigger_test_execute, trigger_test_fault, trigger_test_store};
pub use paging::{EARLY_MAP_LIMIT, KERNEL_OFFSET, hhdm_base, init_paging};
pub use percpu::cpu_index;
pub use plic::init_interrupts;
pub use smp::{boot_cpu_id, send_reschedule_ipi, start_secondary_cpus};
pub use timer::{counter, init_timer};
pub use trap::{init_traps, unexpected_interrupts};
pub use uart::{console_init, console_read_byte, console_write};
pub use user::{
    Context, FpState, activate_root, fp_restore, fp_save, init_thread_stack, init_user_mode, kernel_map, kernel_unmap,
    new_user_root, set_kernel_stack, switch_context, sync_code, user_map, user_teardown, user_translate, user_unmap,
};

/// Exception stacks in guarded slots after each CPU's kernel stack: the emergency stack.
pub const EXCEPTION_STACKS: u64 = 1;

/// This architecture.
pub const ARCH: cambios_abi::Arch = cambios_abi::Arch::Riscv64;
