// SPDX-License-Identifier: AGPL-3.0-or-later
//! Boot entry: from OpenSBI's jump to `_start` (S-mode, MMU off, a0 = hart id, a1 = DTB) to
//! `kernel_main`.
//!
//! `_start` runs at its physical address. It builds the early page tables in `.boot`: an
//! identity map (so it keeps running when translation starts), the direct map of low memory,
//! and the kernel window (virtual 0xffff_ffff_8000_0000 = physical 0x8000_0000, one
//! gigapage). It tries Sv48 first and falls back to Sv39 when the hart ignores the Sv48
//! `satp` write (the register is WARL). Then it jumps to the upper half, where
//! `riscv64_high_entry` sets up the boot stack, clears `.bss`, points `tp` at the boot hart's
//! per-CPU block (`percpu.rs`), installs the trap vector and calls [`riscv64_rust_entry`].

use kernel_boot::BootProtocol;

use super::paging::{self, PagingMode};

core::arch::global_asm!(
    r#"
    .section .boot.text, "ax"
    .global _start
_start:
    csrw sie, zero
    csrci sstatus, 0x2
    /* FS = Off (the kernel has no FP code: FP use traps), SUM = 0, MXR = 0. */
    li t0, (3 << 13) | (1 << 18) | (1 << 19)
    csrc sstatus, t0
    mv s0, a0
    mv s1, a1

    lla t0, __boot_tables_start
    lla t1, __boot_tables_end
1:  bgeu t0, t1, 2f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 1b
2:
    /* Sv48 level-2 table: 512 identity gigapages (V R W X G A D). */
    lla t0, boot_l2_identity
    li t1, 0
    li t2, 512
    li t3, 0xef
3:  slli t4, t1, 28
    or t4, t4, t3
    sd t4, 0(t0)
    addi t0, t0, 8
    addi t1, t1, 1
    bltu t1, t2, 3b

    /* Sv48 level-2 table of the top 512 GiB: entry 510 is the kernel window. */
    lla t0, boot_l2_high
    li t5, 510 * 8
    add t0, t0, t5
    li t4, 0x200000ef
    sd t4, 0(t0)

    /* Sv48 root: [0] identity, [256] direct map (0xffff_8000_0000_0000), [511] kernel. */
    lla t0, boot_root_sv48
    lla t1, boot_l2_identity
    srli t1, t1, 12
    slli t1, t1, 10
    ori t1, t1, 1
    sd t1, 0(t0)
    li t5, 256 * 8
    add t6, t0, t5
    sd t1, 0(t6)
    lla t1, boot_l2_high
    srli t1, t1, 12
    slli t1, t1, 10
    ori t1, t1, 1
    li t5, 511 * 8
    add t6, t0, t5
    sd t1, 0(t6)

    srli t0, t0, 12
    li t1, 9
    slli t1, t1, 60
    or t0, t0, t1
    sfence.vma
    csrw satp, t0
    csrr t2, satp
    srli t2, t2, 60
    li s2, 9
    li t3, 9
    beq t2, t3, 6f

    /* Sv39 fallback: root[i] = identity i GiB and root[256 + i] = direct map of i GiB
       (0xffff_ffc0_0000_0000), for i < 252; root[510] is the kernel window. */
    lla t0, boot_root_sv39
    li t1, 0
    li t2, 252
    li t3, 0xef
4:  slli t4, t1, 28
    or t4, t4, t3
    sd t4, 0(t0)
    li t5, 256 * 8
    add t6, t0, t5
    sd t4, 0(t6)
    addi t0, t0, 8
    addi t1, t1, 1
    bltu t1, t2, 4b
    lla t0, boot_root_sv39
    li t5, 510 * 8
    add t6, t0, t5
    li t4, 0x200000ef
    sd t4, 0(t6)
    srli t0, t0, 12
    li t1, 8
    slli t1, t1, 60
    or t0, t0, t1
    csrw satp, t0
    csrr t2, satp
    srli t2, t2, 60
    li s2, 8
    li t3, 8
    beq t2, t3, 6f
    /* Neither paging mode: nothing the kernel can do. */
5:  wfi
    j 5b

6:  sfence.vma
    mv a0, s0
    mv a1, s1
    mv a2, s2
    lla t0, 7f
    ld t0, 0(t0)
    jr t0
    .balign 8
7:  .quad riscv64_high_entry

    /* Secondary harts (smp.rs): hart_start enters here, a0 = hart id, a1 = boot record.
       In this block, after `_start`, so that `_start` stays at the load address. */
    .balign 4
    .global riscv64_secondary_start
riscv64_secondary_start:
    csrw sie, zero
    csrci sstatus, 0x2
    li t0, (3 << 13) | (1 << 18) | (1 << 19)
    csrc sstatus, t0
    mv s0, a0
    ld t0, 0(a1)
    ld s1, 8(a1)
    ld t2, 16(a1)
    ld s2, 24(a1)
    ld s3, 32(a1)
    csrw stvec, t2
    sfence.vma
    csrw satp, t0
    /* No identity map: this fetch (or the next) faults into stvec, the continuation. */
    sfence.vma
1:  j 1b

    .section .boot.tables, "aw", @nobits
    .balign 4096
boot_root_sv48:   .space 4096
boot_l2_identity: .space 4096
boot_l2_high:     .space 4096
boot_root_sv39:   .space 4096

    .section .text.entry, "ax"
    .global riscv64_high_entry
riscv64_high_entry:
    lla sp, __boot_stack_top
    lla t0, __bss_start
    lla t1, __bss_end
1:  bgeu t0, t1, 2f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 1b
2:  /* tp: this hart's per-CPU block (percpu.rs), from here on and before any lock. */
    lla tp, {blocks}
    /* sscratch is zero while in S-mode (the trap entry tells U-mode traps by it). */
    csrw sscratch, zero
    lla t0, riscv64_trap_entry
    csrw stvec, t0
    li ra, 0
    li fp, 0
    call riscv64_rust_entry
3:  wfi
    j 3b

    .section .bss.boot_stack, "aw", @nobits
    .balign 16
__boot_stack_bottom:
    .space 131072
    .global __boot_stack_top
__boot_stack_top:
"#,
    blocks = sym super::percpu::BLOCKS,
);

/// The Rust entry, on the boot stack in the upper half with the early tables active.
#[unsafe(no_mangle)]
extern "C" fn riscv64_rust_entry(hart_id: u64, dtb_phys: u64, satp_mode: u64) -> ! {
    let mode = if satp_mode == 9 { PagingMode::Sv48 } else { PagingMode::Sv39 };
    paging::set_mode(mode);
    super::plic::set_boot_hart(hart_id);
    if let Some(block) = super::percpu::block(0) {
        block.prepare(0, hart_id, crate::layout::exception_stack(0).1);
        block.mark_present();
    }

    let info = match crate::device_tree::boot_info(dtb_phys, BootProtocol::OpenSbi) {
        Ok(info) => info,
        Err(e) => {
            kerror!("boot failed: device tree at {dtb_phys:#x}: {}", e.as_str());
            super::cpu::halt()
        }
    };
    crate::boot_sequence::kernel_main(&info)
}
