// SPDX-License-Identifier: AGPL-3.0-or-later
//! Boot entry: from the loader's jump to the arm64 Image (MMU off, x0 = device tree, EL2 or
//! EL1) to `kernel_main`.
//!
//! The image starts with the 64-byte arm64 Image header (Linux `Documentation/arch/arm64/booting.rst`):
//! QEMU `-kernel`, U-Boot `booti` and UEFI loaders read it, load the image at a 2 MiB-aligned
//! address (QEMU: 0x4020_0000, where the image is linked) and pass the device tree in x0.
//!
//! `_start` runs at its physical address with the MMU off:
//! 1. masks exceptions, remembers the device tree and the entry exception level;
//! 2. at EL2, drops to EL1 (AArch64 EL1, no stage 2, EL1 may use the physical timer and the
//!    GICv3 system registers, no FP traps);
//! 3. leaves FP/SIMD trapping at EL1 (`CPACR_EL1.FPEN = 0`: the kernel is built for the
//!    soft-float target, so any FP/SIMD instruction in it during the boot is a bug and
//!    faults) until `user::init_user_mode` sets `FPEN = 0b11` for user threads (the
//!    architecture has no setting that traps EL1 but not EL0, so from then on the soft-float
//!    target alone keeps FP/SIMD out of the kernel, apart from the per-thread save and
//!    restore), sets a known `SCTLR_EL1` (EL0 cache maintenance, `DC ZVA`, `CTR_EL0`,
//!    `WFI`/`WFE` and `DAIF` accesses trap);
//! 4. builds the early tables in `.boot` (see `paging.rs`): TTBR0 identity and TTBR1 direct map
//!    share one level-1 table of 512 1 GiB blocks, and TTBR1's top level-1 table maps the
//!    1 GiB block holding the image at `phys + KERNEL_OFFSET`;
//! 5. programs MAIR/TCR, turns the MMU and caches on, and jumps to the upper half through an
//!    absolute address (PC-relative reach from `.boot` to the upper half is impossible).
//!
//! `aarch64_high_entry` (in `.text`, upper half) sets the boot stack, points `TPIDR_EL1` at
//! logical CPU 0's per-CPU record (`percpu.rs`), installs the vector table, clears `.bss`,
//! unmasks SErrors and calls [`aarch64_rust_entry`].
//!
//! `aarch64_secondary_start` (also in `.boot`) is where PSCI `CPU_ON` starts the other CPUs
//! (`smp.rs`); it shares the EL2 → EL1 drop (`aarch64_el2_to_el1`) and the early identity map.
//!
//! A failure before the MMU is on (unsupported exception level, no 4 KiB granule, image not
//! at its link address) prints a line on QEMU's default PL011 and stops.

use core::sync::atomic::{AtomicU64, Ordering};

use kernel_boot::BootProtocol;

use super::paging::KERNEL_OFFSET;

/// Block descriptor attributes of early Normal memory: valid, AttrIndx 0 (write-back), inner
/// shareable, access flag.
const BLOCK_NORMAL: u64 = 0x1 | (0b11 << 8) | (1 << 10);
/// Block descriptor attributes of early Device memory: valid, AttrIndx 1 (Device-nGnRE),
/// access flag, never executable (PXN, UXN).
const BLOCK_DEVICE: u64 = 0x1 | (1 << 2) | (1 << 10) | (1 << 53) | (1 << 54);
/// SCTLR_EL1 bits that are RES1 in ARMv8.0 (later named EOS, TSCXT, EIS, SPAN, nTLSMD, LSMAOE);
/// with the MMU, caches and alignment checks off.
const SCTLR_RES1: u64 = (1 << 11) | (1 << 20) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29);
/// SCTLR_EL1 with the MMU on: M (MMU), C (data cache), SA/SA0 (stack alignment checks),
/// I (instruction cache). A (alignment checking) stays off.
const SCTLR_MMU_ON: u64 = SCTLR_RES1 | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 12);
/// TCR_EL1 without IPS: T0SZ = T1SZ = 16 (48-bit), 4 KiB granules (TG0 = 0b00, TG1 = 0b10),
/// write-back write-allocate inner and outer cacheable, inner shareable walks.
const TCR_BASE: u64 = 16
    | (0b01 << 8)
    | (0b01 << 10)
    | (0b11 << 12)
    | (16 << 16)
    | (0b01 << 24)
    | (0b01 << 26)
    | (0b11 << 28)
    | (0b10 << 30);
/// HCR_EL2 for the kernel at EL1: RW (EL1 is AArch64); no traps, no stage 2.
const HCR_EL2_RW: u64 = 1 << 31;
/// CPTR_EL2 RES1 bits (non-VHE layout) with TFP clear: FP/SIMD not trapped to EL2. TZ (bit 8)
/// and TSM (bit 12) are set, so SVE and SME would trap to EL2, which has no vector table:
/// CambiOS uses neither (user threads get FP/SIMD only, docs/adr/0005).
const CPTR_EL2_DEFAULT: u64 = 0x33ff;
/// SPSR for the drop to EL1: EL1h (SP_EL1), D, A, I, F masked.
const SPSR_EL1H_MASKED: u64 = 0x3c5;
/// Physical address of QEMU `virt`'s PL011, for failures while the MMU is still off.
const EARLY_UART: u64 = 0x0900_0000;

core::arch::global_asm!(
    r#"
    .section .boot.header, "ax"
    .global _head
_head:
    b _start                /* code0: branch to the entry */
    .long 0                 /* code1 */
    .quad 0                 /* text_offset: 0 (loaded 2 MiB above the RAM base) */
    .quad __image_size      /* image_size: the whole image including .bss (non-zero) */
    .quad 2                 /* flags: little-endian, 4 KiB pages, 2 MiB base near RAM start */
    .quad 0                 /* res2 */
    .quad 0                 /* res3 */
    .quad 0                 /* res4 */
    .long 0x644d5241        /* magic "ARM\x64" */
    .long 0                 /* res5 (no PE header) */

    .section .boot.text, "ax"
    .balign 4
    .global _start
_start:
    msr daifset, #0xf
    mov x19, x0
    mrs x20, CurrentEL
    ubfx x20, x20, #2, #2
    /* Loaded where linked? Nothing below works otherwise. */
    adr x9, _head
    ldr x10, =_head
    cmp x9, x10
    b.ne 90f
    cmp x20, #1
    b.eq 2f
    cmp x20, #2
    b.ne 91f
    bl aarch64_el2_to_el1
    b 2f

    /* EL2 -> EL1: returns to x30 at EL1 (EL1h, DAIF masked). Clobbers x9, x10. Also used by
       secondary CPUs that PSCI starts at EL2 (smp.rs). */
aarch64_el2_to_el1:
    ldr x9, ={hcr}
    msr hcr_el2, x9
    mov x9, #3
    msr cnthctl_el2, x9
    msr cntvoff_el2, xzr
    ldr x9, ={cptr}
    msr cptr_el2, x9
    msr hstr_el2, xzr
    msr vttbr_el2, xzr
    /* EL1 reads of MIDR/MPIDR return VPIDR_EL2/VMPIDR_EL2, which reset to UNKNOWN values:
       give EL1 the real ones (the GIC code finds this CPU's redistributor by MPIDR). */
    mrs x9, midr_el1
    msr vpidr_el2, x9
    mrs x9, mpidr_el1
    msr vmpidr_el2, x9
    /* MDCR_EL2: no debug or PMU register traps to EL2; with a PMUv3, all its counters visible
       at EL1 (HPMN = PMCR_EL0.N). Without one (ID_AA64DFR0_EL1.PMUVer 0 or 0xf), PMCR_EL0 does
       not exist, so it is not read. */
    mrs x10, id_aa64dfr0_el1
    ubfx x10, x10, #8, #4
    mov x9, xzr
    cbz x10, 3f
    cmp x10, #0xf
    b.eq 3f
    mrs x9, pmcr_el0
    ubfx x9, x9, #11, #5
3:  msr mdcr_el2, x9
    /* GICv3 system registers usable at EL1 (ICC_SRE_EL2.SRE and .Enable), when present. */
    mrs x9, id_aa64pfr0_el1
    ubfx x9, x9, #24, #4
    cbz x9, 1f
    mrs x9, s3_4_c12_c9_5
    orr x9, x9, #0xf
    msr s3_4_c12_c9_5, x9
    isb
1:  ldr x9, ={sctlr_off}
    msr sctlr_el1, x9
    ldr x9, ={spsr}
    msr spsr_el2, x9
    msr elr_el2, x30
    eret

2:  /* EL1, MMU off. */
    ldr x9, ={sctlr_off}
    msr sctlr_el1, x9
    msr cpacr_el1, xzr
    isb
    /* 4 KiB granule required (ID_AA64MMFR0_EL1.TGran4 = 0xf: not implemented). */
    mrs x9, id_aa64mmfr0_el1
    ubfx x10, x9, #28, #4
    cmp x10, #0xf
    b.eq 92f

    /* Early tables: discard stale cache lines, zero, fill, discard again. */
    bl aarch64_boot_inval_tables
    adr x9, __boot_tables_start
    adr x10, __boot_tables_end
3:  cmp x9, x10
    b.hs 4f
    stp xzr, xzr, [x9], #16
    b 3b
4:  /* Shared level 1: block i maps physical i GiB; the first GiB is Device. */
    adr x9, aarch64_boot_l1_map
    ldr x11, ={device}
    str x11, [x9]
    ldr x12, ={normal}
    mov x10, #1
5:  orr x11, x12, x10, lsl #30
    str x11, [x9, x10, lsl #3]
    add x10, x10, #1
    cmp x10, #512
    b.lo 5b
    /* TTBR0 level 0: [0] = identity; TTBR1 level 0: [0] = direct map, [511] = kernel. */
    orr x11, x9, #3
    adr x12, aarch64_boot_l0_low
    str x11, [x12]
    adr x12, aarch64_boot_l0_high
    str x11, [x12]
    adr x13, aarch64_boot_l1_kernel
    orr x11, x13, #3
    str x11, [x12, #511 * 8]
    /* The 1 GiB block holding the image, at phys + KERNEL_OFFSET. */
    adr x14, _head
    and x14, x14, #0xffffffffc0000000
    ldr x15, ={kernel_offset}
    add x15, x15, x14
    ubfx x15, x15, #30, #9
    ldr x11, ={normal}
    orr x11, x11, x14
    str x11, [x13, x15, lsl #3]
    dsb sy
    bl aarch64_boot_inval_tables

    /* Translation: MAIR, TCR (IPS = PARange, at most 48 bits), TTBRs, then the MMU. */
    ldr x9, ={mair}
    msr mair_el1, x9
    mrs x10, id_aa64mmfr0_el1
    and x10, x10, #0xf
    mov x11, #5
    cmp x10, x11
    csel x10, x10, x11, ls
    ldr x9, ={tcr}
    bfi x9, x10, #32, #3
    msr tcr_el1, x9
    adr x9, aarch64_boot_l0_low
    msr ttbr0_el1, x9
    adr x9, aarch64_boot_l0_high
    msr ttbr1_el1, x9
    isb
    tlbi vmalle1
    dsb nsh
    isb
    ldr x9, ={sctlr_on}
    msr sctlr_el1, x9
    isb
    ic iallu
    dsb nsh
    isb
    ldr x9, =aarch64_high_entry
    br x9

    /* Secondary CPUs (smp.rs): PSCI CPU_ON enters here at EL2 or EL1 with the MMU off,
       x0 = physical address of the CPU's boot record. The early TTBR0 identity map (never
       changed after the boot) keeps this code mapped while the MMU comes on with the final
       TTBR1; the upper-half continuation then disables TTBR0 walks. */
    .balign 4
    .global aarch64_secondary_start
aarch64_secondary_start:
    msr daifset, #0xf
    mov x19, x0
    mrs x9, CurrentEL
    ubfx x9, x9, #2, #2
    cmp x9, #1
    b.eq 1f
    cmp x9, #2
    b.ne 3f
    bl aarch64_el2_to_el1
1:  msr spsel, #1
    ldr x9, ={sctlr_off}
    msr sctlr_el1, x9
    msr cpacr_el1, xzr
    isb
    /* Record: tcr, ttbr1, mair, sctlr, stack top, per-CPU record, pan, cpacr (smp.rs `CpuBoot`). */
    ldp x20, x21, [x19]
    ldp x22, x23, [x19, #16]
    ldp x24, x25, [x19, #32]
    ldp x26, x27, [x19, #48]
    msr mair_el1, x22
    bic x9, x20, #{epd0}
    msr tcr_el1, x9
    adr x9, aarch64_boot_l0_low
    msr ttbr0_el1, x9
    msr ttbr1_el1, x21
    isb
    tlbi vmalle1
    dsb nsh
    isb
    /* The final SCTLR without WXN: the identity blocks are writable. */
    bic x9, x23, #{wxn}
    msr sctlr_el1, x9
    isb
    ic iallu
    dsb nsh
    isb
    ldr x9, =aarch64_secondary_high
    br x9
3:  wfi
    b 3b

    /* dc ivac over the early tables (line size from CTR_EL0.DminLine). Clobbers x0-x3. */
aarch64_boot_inval_tables:
    mrs x0, ctr_el0
    ubfx x0, x0, #16, #4
    mov x1, #4
    lsl x1, x1, x0
    adr x2, __boot_tables_start
    adr x3, __boot_tables_end
    dsb sy
6:  dc ivac, x2
    add x2, x2, x1
    cmp x2, x3
    b.lo 6b
    dsb sy
    ret

90: adr x0, 80f
    b aarch64_boot_fail
91: adr x0, 81f
    b aarch64_boot_fail
92: adr x0, 82f
    b aarch64_boot_fail

    /* Prints the NUL-terminated string at x0 on the default PL011 (MMU off) and stops. */
aarch64_boot_fail:
    ldr x9, ={uart}
7:  ldrb w10, [x0], #1
    cbz w10, 9f
    mov x11, #0x100000
8:  ldr w12, [x9, #0x18]
    tbz w12, #5, 10f
    subs x11, x11, #1
    b.ne 8b
10: str w10, [x9]
    b 7b
9:  wfi
    b 9b

    .ltorg

    .section .boot.rodata, "a"
80: .asciz "CambiOS: error: the image is not at its link address 0x40200000 (check the Image header/loader)\r\n"
81: .asciz "CambiOS: error: entered at an exception level other than EL1 or EL2\r\n"
82: .asciz "CambiOS: error: the CPU does not implement the 4 KiB translation granule\r\n"

    .section .boot.tables, "aw", @nobits
    .balign 4096
aarch64_boot_l0_low:    .space 4096
aarch64_boot_l0_high:   .space 4096
aarch64_boot_l1_map:    .space 4096
aarch64_boot_l1_kernel: .space 4096

    .section .text.entry, "ax"
    .balign 4
    .global aarch64_high_entry
aarch64_high_entry:
    adrp x9, __boot_stack_top
    add x9, x9, :lo12:__boot_stack_top
    mov sp, x9
    /* The boot CPU is logical CPU 0: TPIDR_EL1 = &PER_CPU[0] (percpu.rs). */
    adrp x9, {per_cpu}
    add x9, x9, :lo12:{per_cpu}
    msr tpidr_el1, x9
    adrp x9, aarch64_vectors
    add x9, x9, :lo12:aarch64_vectors
    msr vbar_el1, x9
    isb
    adrp x9, __bss_start
    add x9, x9, :lo12:__bss_start
    adrp x10, __bss_end
    add x10, x10, :lo12:__bss_end
1:  cmp x9, x10
    b.hs 2f
    stp xzr, xzr, [x9], #16
    b 1b
2:  msr daifclr, #4
    mov x29, xzr
    mov x30, xzr
    mov x0, x19
    mov x1, x20
    bl {rust_entry}
3:  wfi
    b 3b

    .section .bss.boot_stack, "aw", @nobits
    .balign 16
aarch64_boot_stack_bottom:
    .space 131072
    .global __boot_stack_top
__boot_stack_top:
"#,
    hcr = const HCR_EL2_RW,
    cptr = const CPTR_EL2_DEFAULT,
    spsr = const SPSR_EL1H_MASKED,
    sctlr_off = const SCTLR_RES1,
    sctlr_on = const SCTLR_MMU_ON,
    device = const BLOCK_DEVICE,
    normal = const BLOCK_NORMAL,
    kernel_offset = const KERNEL_OFFSET,
    mair = const kernel_core::paging::aarch64::MAIR_VALUE,
    tcr = const TCR_BASE,
    uart = const EARLY_UART,
    rust_entry = sym aarch64_rust_entry,
    per_cpu = sym super::percpu::PER_CPU,
    epd0 = const super::paging::TCR_EPD0,
    wxn = const super::paging::SCTLR_WXN,
);

/// Exception level the kernel was entered at (1 or 2), for the boot log.
static ENTRY_EL: AtomicU64 = AtomicU64::new(0);

/// The exception level the loader entered the kernel at.
pub fn entry_el() -> u64 {
    ENTRY_EL.load(Ordering::Relaxed)
}

/// The Rust entry, on the boot stack in the upper half with the early tables active and
/// exceptions other than SError masked.
extern "C" fn aarch64_rust_entry(dtb_phys: u64, entry_el: u64) -> ! {
    // The boot CPU's emergency stack and affinity (its TPIDR_EL1 already points there).
    let _ = super::percpu::prepare(0, super::smp::boot_cpu_id());
    ENTRY_EL.store(entry_el, Ordering::Relaxed);
    let info = match crate::device_tree::boot_info(dtb_phys, BootProtocol::ArmImage) {
        Ok(info) => info,
        Err(_) if dtb_phys == 0 => {
            kerror!("boot failed: no device tree in x0 (QEMU passes none to an ELF: boot the flat arm64 Image)");
            crate::trap::stop()
        }
        Err(e) => {
            kerror!("boot failed: device tree at {dtb_phys:#x}: {}", e.as_str());
            crate::trap::stop()
        }
    };
    super::machine::set_psci_conduit(info.psci);
    crate::boot_sequence::kernel_main(&info)
}
