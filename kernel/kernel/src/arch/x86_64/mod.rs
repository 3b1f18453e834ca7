// SPDX-License-Identifier: AGPL-3.0-or-later
//! x86_64 support: the `arch` interface for PC-compatible machines (QEMU `pc`/`q35`, and
//! real hardware through GRUB).
//!
//! | file | concern |
//! |---|---|
//! | `entry.rs` | Multiboot2 header, PVH note, 32-bit trampoline, early tables, upper-half entry, BootInfo |
//! | `platform.rs` | ACPI discovery (RSDP, MADT) while the early map reaches firmware memory |
//! | `uart.rs` | 16550 console on I/O ports |
//! | `paging.rs` | the final kernel address space; NX, WP, global pages, SMEP, SMAP |
//! | `gdt.rs` | GDT, TSS and the IST stacks for #DF and NMI/#MC |
//! | `trap.rs` | IDT, entry stubs, register frame, exception reports, interrupt dispatch |
//! | `apic.rs` | 8259 PICs (masked), local APIC, I/O APIC routing of the serial interrupt |
//! | `timer.rs` | PIT calibration of the TSC and the local APIC timer; periodic tick |
//! | `cpu.rs` | interrupt masking, idling, CPUID, MSRs, control registers, port I/O |
//! | `user.rs` | per-CPU block, SYSCALL entry, context switch, FP/SIMD state, user address spaces |
//! | `machine.rs` | power-off (isa-debug-exit), stack switching, the fault self-test load |
//! | `smp.rs` | secondary CPU start-up (INIT-SIPI-SIPI, real-mode trampoline), reschedule IPI, TLB shootdown |

mod apic;
mod cpu;
mod entry;
mod gdt;
mod machine;
mod paging;
mod platform;
mod smp;
mod timer;
mod trap;
mod uart;
mod user;

pub use apic::init_interrupts;
pub use cpu::{IrqState, disable_interrupts, enable_interrupts, halt, irq_restore, irq_save, wait_for_interrupt};
#[cfg(feature = "selftest")]
pub use machine::{RETURN_INSTRUCTION, trigger_test_execute, trigger_test_fault, trigger_test_store};
pub use machine::{exit, reboot, switch_stack};
pub use paging::{EARLY_MAP_LIMIT, KERNEL_OFFSET, hhdm_base, init_paging};
pub use smp::{boot_cpu_id, send_reschedule_ipi, start_secondary_cpus};
pub use timer::{counter, init_timer};
pub use trap::{init_traps, unexpected_interrupts};
pub use uart::{console_init, console_read_byte, console_write};
pub use user::{
    Context, FpState, activate_root, cpu_index, fp_restore, fp_save, init_thread_stack, init_user_mode, kernel_map,
    kernel_unmap, new_user_root, set_kernel_stack, switch_context, sync_code, user_map, user_teardown, user_translate,
    user_unmap,
};

/// Exception stacks in guarded slots (`layout::exception_stack`): IST1 (#DF) and IST2
/// (NMI, #MC).
pub const EXCEPTION_STACKS: u64 = 2;

/// This architecture.
pub const ARCH: cambios_abi::Arch = cambios_abi::Arch::X86_64;
