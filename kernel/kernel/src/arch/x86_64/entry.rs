// SPDX-License-Identifier: AGPL-3.0-or-later
//! Boot entry: the Multiboot2 header, the PVH note, the 32-bit trampoline, the upper-half
//! entry and the Rust entry that builds the `BootInfo`.
//!
//! Both boot protocols enter `_start32` in 32-bit protected mode with paging off: QEMU's PVH
//! loader with `ebx` = `hvm_start_info`, GRUB with `eax` = 0x36d76289 and `ebx` = the
//! Multiboot2 information. The trampoline (in `.boot`, linked and loaded at its physical
//! address) checks for long mode and NX, builds the early page tables with 2 MiB pages
//! (identity and direct map of 0..4 GiB sharing one PDPT, plus the kernel window at
//! `KERNEL_OFFSET` mapping the first GiB), enables PAE, long mode, NX and write protection,
//! and jumps through a 64-bit literal to `x86_64_high_entry` in the upper half. That sets the
//! 128 KiB boot stack, clears `.bss`, installs the GDT, TSS and IDT (so even an early fault
//! prints a report) and calls [`x86_64_rust_entry`].

use core::sync::atomic::{AtomicBool, Ordering};

use kernel_boot::{BootInfo, PhysReader, ReservedKind, multiboot2};
use kernel_core::addr::PhysAddr;
use kernel_core::memmap::Range;

use super::paging::EARLY_MAP_LIMIT;
use crate::layout;

/// The legacy low memory the kernel never allocates: real-mode IVT, BIOS data area, EBDA,
/// VGA and option-ROM space, and the page the secondary CPUs' start-up trampoline uses
/// (`smp.rs` picks one that the memory map says is RAM nothing else reserved).
const LOW_MEMORY: Range = Range { start: 0, end: 0x10_0000 };

core::arch::global_asm!(
    r#"
    /* Multiboot2 header: magic, architecture 0 (i386 protected mode), length, checksum, end
       tag. It must be 8-byte aligned within the first 32 KiB of the file. */
    .section .boot.multiboot2, "a"
    .balign 8
x86_64_mb2_header:
    .long {mb2_magic}
    .long {mb2_arch}
    .long x86_64_mb2_header_end - x86_64_mb2_header
    .long 0x100000000 - ({mb2_magic} + {mb2_arch} + (x86_64_mb2_header_end - x86_64_mb2_header))
    .balign 8
    .short 0
    .short 0
    .long 8
x86_64_mb2_header_end:

    /* PVH: XEN_ELFNOTE_PHYS32_ENTRY (18), the 32-bit physical entry point. */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4
    .long 8
    .long 18
    .asciz "Xen"
    .balign 4
    .quad _start32
    .balign 4

    .section .boot.text, "ax"
    .code32
    .global _start32
_start32:
    cli
    cld
    mov %eax, %ebp
    mov %ebx, %esi

    /* Long mode and NX are required (the final page tables use NX). */
    mov $0x80000000, %eax
    cpuid
    cmp $0x80000001, %eax
    jb x86_64_no_long_mode
    mov $0x80000001, %eax
    cpuid
    bt $29, %edx
    jnc x86_64_no_long_mode
    bt $20, %edx
    jnc x86_64_no_nx

    /* Clear the early tables (the loader zeroes them too, but do not rely on it). */
    mov $__boot_tables_start, %edi
    mov $__boot_tables_end, %ecx
    sub %edi, %ecx
    shr $2, %ecx
    xor %eax, %eax
    rep stosl

    /* Four page directories of 2 MiB pages: physical 0..4 GiB (present, writable, large). */
    mov $x86_64_boot_pd, %edi
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax
    mov %eax, (%edi,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jb 1b

    /* One PDPT for both the identity map (PML4[0]) and the direct map (PML4[256]). */
    mov $x86_64_boot_pdpt_low, %edi
    mov $(x86_64_boot_pd + 3), %eax
    mov %eax, 0(%edi)
    add $4096, %eax
    mov %eax, 8(%edi)
    add $4096, %eax
    mov %eax, 16(%edi)
    add $4096, %eax
    mov %eax, 24(%edi)

    /* Kernel window: 0xffff_ffff_8000_0000 (PML4[511], PDPT[510]) = physical 0..1 GiB. */
    mov $x86_64_boot_pdpt_high, %edi
    mov $(x86_64_boot_pd + 3), %eax
    mov %eax, 510*8(%edi)

    mov $x86_64_boot_pml4, %edi
    mov $(x86_64_boot_pdpt_low + 3), %eax
    mov %eax, 0(%edi)
    mov %eax, 256*8(%edi)
    mov $(x86_64_boot_pdpt_high + 3), %eax
    mov %eax, 511*8(%edi)

    /* CR4.PAE, CR3, EFER.LME|NXE, then CR0.PG|WP|PE with caching enabled (CD, NW clear). */
    mov %cr4, %eax
    or $0x20, %eax
    mov %eax, %cr4
    mov $x86_64_boot_pml4, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx
    rdmsr
    or $0x900, %eax
    wrmsr
    mov %cr0, %eax
    and $0x9fffffff, %eax
    or $0x80010001, %eax
    mov %eax, %cr0

    lgdt x86_64_boot_gdt_pointer
    ljmp $0x08, $x86_64_start64

x86_64_no_long_mode:
    mov $x86_64_msg_no_long_mode, %esi
    jmp x86_64_boot_fatal
x86_64_no_nx:
    mov $x86_64_msg_no_nx, %esi
    /* Print the NUL-terminated message at esi on COM1 (bounded polling), then stop. */
x86_64_boot_fatal:
2:  movb (%esi), %bl
    test %bl, %bl
    jz 4f
    mov $0x3fd, %dx
    mov $100000, %ecx
3:  in %dx, %al
    test $0x20, %al
    jnz 5f
    dec %ecx
    jnz 3b
5:  mov %bl, %al
    mov $0x3f8, %dx
    out %al, %dx
    inc %esi
    jmp 2b
4:  cli
    hlt
    jmp 4b

    .code64
x86_64_start64:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    /* Upper halves of the registers are undefined after the mode switch: zero-extend. */
    mov %ebp, %edi
    mov %esi, %esi
    movabs $x86_64_high_entry, %rax
    jmp *%rax

    .section .boot.rodata, "a"
    .balign 8
x86_64_boot_gdt:
    .quad 0
    .quad 0x00af9b000000ffff
    .quad 0x00cf93000000ffff
x86_64_boot_gdt_end:
    .balign 8
x86_64_boot_gdt_pointer:
    .short x86_64_boot_gdt_end - x86_64_boot_gdt - 1
    .long x86_64_boot_gdt
x86_64_msg_no_long_mode:
    .asciz "CambiOS: this CPU has no 64-bit long mode; stopped.\r\n"
x86_64_msg_no_nx:
    .asciz "CambiOS: this CPU has no NX (execute-disable) support; stopped.\r\n"

    .section .boot.tables, "aw", @nobits
    .balign 4096
x86_64_boot_pml4:      .space 4096
x86_64_boot_pdpt_low:  .space 4096
x86_64_boot_pdpt_high: .space 4096
x86_64_boot_pd:        .space 4 * 4096

    .section .text.entry, "ax"
    .global x86_64_high_entry
x86_64_high_entry:
    mov %edi, %r12d
    mov %esi, %r13d
    lea x86_64_boot_stack_top(%rip), %rsp
    xor %ebp, %ebp
    lea __bss_start(%rip), %rdi
    lea __bss_end(%rip), %rcx
    sub %rdi, %rcx
    shr $3, %rcx
    xor %eax, %eax
    rep stosq
    call {install_traps}
    mov %r12d, %edi
    mov %r13d, %esi
    call {rust_entry}
6:  cli
    hlt
    jmp 6b

    .section .bss.boot_stack, "aw", @nobits
    .balign 16
    .space 131072
x86_64_boot_stack_top:

    .text
"#,
    install_traps = sym super::trap::install_early,
    rust_entry = sym x86_64_rust_entry,
    mb2_magic = const multiboot2::HEADER_MAGIC,
    mb2_arch = const multiboot2::ARCH_I386,
    options(att_syntax)
);

/// Set while the early page tables (identity + direct map of 0..4 GiB) are active.
static EARLY_MAP_ACTIVE: AtomicBool = AtomicBool::new(true);

/// Called by `init_paging` right before the switch: [`EarlyReader`] refuses from now on.
pub fn end_early_map() {
    EARLY_MAP_ACTIVE.store(false, Ordering::Release);
}

/// Reads physical memory below `EARLY_MAP_LIMIT` through the early direct map (boot only).
pub struct EarlyReader;

impl PhysReader for EarlyReader {
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        if !EARLY_MAP_ACTIVE.load(Ordering::Acquire) {
            return None;
        }
        let end = addr.checked_add(u64::try_from(len).ok()?)?;
        if end > EARLY_MAP_LIMIT {
            return None;
        }
        let ptr = layout::phys_to_virt(PhysAddr(addr));
        // SAFETY: while the early tables are active the direct map covers every physical
        // address below EARLY_MAP_LIMIT, and `addr + len` was checked against it. Boot
        // structures and firmware tables are not written while the kernel parses them (one
        // CPU, interrupts off); the parsers copy what they need before the memory is reused.
        Some(unsafe { core::slice::from_raw_parts(ptr.cast_const(), len) })
    }
}

/// The Rust entry, on the boot stack in the upper half with the early tables, the GDT and
/// the IDT active and interrupts off. `magic` is the boot loader's `eax`, `info` its `ebx`.
extern "C" fn x86_64_rust_entry(magic: u32, info: u32) -> ! {
    let reader = EarlyReader;
    let parsed = if magic == multiboot2::BOOTLOADER_MAGIC {
        multiboot2::parse(&reader, info as u64)
    } else {
        kernel_boot::pvh::parse(&reader, info as u64)
    };
    let mut boot_info: BootInfo = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            let protocol =
                if magic == multiboot2::BOOTLOADER_MAGIC { "Multiboot2 information" } else { "PVH start_info" };
            kerror!("boot failed: {protocol} at {info:#x}: {}", e.as_str());
            crate::trap::stop()
        }
    };
    boot_info.reserve(layout::image_phys_range(), ReservedKind::KernelImage);
    boot_info.reserve(LOW_MEMORY, ReservedKind::LowMemory);
    super::platform::discover(&reader, &mut boot_info);
    crate::boot_sequence::kernel_main(&boot_info)
}
