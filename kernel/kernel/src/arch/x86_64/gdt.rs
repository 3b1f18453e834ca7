// SPDX-License-Identifier: AGPL-3.0-or-later
//! The GDT and the TSS with its interrupt stacks (IST).
//!
//! | index | selector | descriptor |
//! |---|---|---|
//! | 0 | — | null |
//! | 1 | `0x08` | kernel code, 64-bit, DPL 0 |
//! | 2 | `0x10` | kernel data, DPL 0 |
//! | 3 | `0x1b` | user data, DPL 3 (before user code, as SYSRET's selector arithmetic needs) |
//! | 4 | `0x23` | user code, 64-bit, DPL 3 |
//! | 5–6 | `0x28` | TSS (16-byte system descriptor) |
//!
//! IST1 is the double-fault stack: a kernel stack overflow faults on the guard page, the CPU
//! cannot push the page-fault frame on the overflowing stack, and raises #DF, which runs on
//! IST1 and reports. IST2 serves NMI and machine check, which can arrive at any instruction.
//! Until the final page tables exist both are small stacks in `.bss`; then
//! [`use_guarded_ist_stacks`] moves them to the boot CPU's exception-stack slots, which have
//! unmapped guard regions below them (the SMP issue makes these per CPU).

use core::arch::asm;

use super::cpu::BootCpuCell;

/// Kernel code selector.
pub const KERNEL_CS: u16 = 0x08;
/// Kernel data/stack selector.
pub const KERNEL_DS: u16 = 0x10;
/// User data/stack selector (RPL 3).
pub const USER_DS: u16 = 0x1b;
/// User code selector (RPL 3).
pub const USER_CS: u16 = 0x23;
/// TSS selector.
pub const TSS_SELECTOR: u16 = 0x28;
/// IST index of the double-fault stack.
pub const IST_DOUBLE_FAULT: u8 = 1;
/// IST index of the NMI / machine-check stack.
pub const IST_NMI_MCE: u8 = 2;

const IST_STACK_SIZE: usize = 16 * 1024;
const TSS_SIZE: usize = 104;

#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

/// The 64-bit TSS as 32-bit words (its 64-bit fields are only 4-byte aligned).
#[repr(C, align(16))]
struct Tss([u32; TSS_SIZE / 4]);

static GDT: BootCpuCell<[u64; 7]> = BootCpuCell::new([0; 7]);
static TSS: BootCpuCell<Tss> = BootCpuCell::new(Tss([0; TSS_SIZE / 4]));
static DOUBLE_FAULT_STACK: BootCpuCell<IstStack> = BootCpuCell::new(IstStack([0; IST_STACK_SIZE]));
static NMI_STACK: BootCpuCell<IstStack> = BootCpuCell::new(IstStack([0; IST_STACK_SIZE]));

/// The operand of `lgdt`/`lidt`.
#[repr(C, packed)]
pub struct DescriptorPointer {
    /// Size in bytes minus one.
    pub limit: u16,
    /// Linear address.
    pub base: u64,
}

fn stack_top(stack: &BootCpuCell<IstStack>) -> u64 {
    stack.get() as u64 + IST_STACK_SIZE as u64
}

fn set_u64(tss: &mut Tss, byte_offset: usize, value: u64) {
    let i = byte_offset / 4;
    if let Some(lo) = tss.0.get_mut(i) {
        *lo = value as u32;
    }
    if let Some(hi) = tss.0.get_mut(i + 1) {
        *hi = (value >> 32) as u32;
    }
}

/// Points IST1 and IST2 at the guarded exception-stack slots (call once the final page tables,
/// which map those slots, are active).
pub fn use_guarded_ist_stacks() {
    // SAFETY: runs on the boot CPU with interrupts masked (the boot sequence enables them only
    // after the ready line); the CPU reads the IST fields from memory at each delivery, so the
    // new values take effect for the next exception. No other reference to the TSS exists.
    let tss = unsafe { &mut *TSS.get() };
    set_u64(tss, 0x24, crate::layout::exception_stack(0).1); // IST1
    set_u64(tss, 0x2c, crate::layout::exception_stack(1).1); // IST2
}

/// Sets RSP0, the stack the CPU switches to when an interrupt or exception arrives in user
/// mode (the running thread's kernel stack top).
pub fn set_rsp0(top: u64) {
    // SAFETY: only the CPU that owns the TSS writes it, with interrupts masked (context
    // switches); the CPU reads RSP0 at the next delivery from user mode.
    let tss = unsafe { &mut *TSS.get() };
    set_u64(tss, 0x04, top);
}

/// Builds the GDT and the TSS, loads them and reloads every segment register.
pub fn load() {
    let tss_base = TSS.get() as u64;
    // SAFETY: runs once on the boot CPU with interrupts off, before anything else uses the
    // TSS, so this is the only reference to it.
    let tss = unsafe { &mut *TSS.get() };
    set_u64(tss, 0x24, stack_top(&DOUBLE_FAULT_STACK)); // IST1
    set_u64(tss, 0x2c, stack_top(&NMI_STACK)); // IST2
    // No I/O permission bitmap: its offset points past the end of the TSS.
    if let Some(last) = tss.0.last_mut() {
        *last = (TSS_SIZE as u32) << 16;
    }

    let limit = (TSS_SIZE - 1) as u64;
    let tss_low = (limit & 0xffff)
        | ((tss_base & 0xff_ffff) << 16)
        | (0x89 << 40) // present, DPL 0, available 64-bit TSS
        | (((limit >> 16) & 0xf) << 48)
        | (((tss_base >> 24) & 0xff) << 56);
    let tss_high = tss_base >> 32;
    let table: [u64; 7] = [
        0,
        0x00af_9b00_0000_ffff, // kernel code: present, DPL 0, code, long mode, accessed
        0x00cf_9300_0000_ffff, // kernel data: present, DPL 0, writable, accessed
        0x00cf_f300_0000_ffff, // user data: DPL 3
        0x00af_fb00_0000_ffff, // user code: DPL 3, long mode
        tss_low,
        tss_high,
    ];
    // SAFETY: as above: single-threaded initialisation; the CPU reads the GDT only through
    // the `lgdt` below.
    unsafe { *GDT.get() = table };

    let pointer = DescriptorPointer { limit: (core::mem::size_of::<[u64; 7]>() - 1) as u16, base: GDT.get() as u64 };
    // SAFETY: the GDT above has a 64-bit kernel code segment at 0x08, a data segment at 0x10
    // and an available TSS at 0x28. The far return reloads CS with the same kind of segment
    // the code already runs in; the data segments are reloaded with the flat kernel data
    // segment, and `ltr` marks the TSS busy. The statics live for the whole kernel.
    unsafe {
        asm!(
            "lgdt ({ptr})",
            "pushq ${cs}",
            "leaq 2f(%rip), {tmp}",
            "pushq {tmp}",
            "lretq",
            "2:",
            "movl ${ds}, {tmp:e}",
            "movl {tmp:e}, %ds",
            "movl {tmp:e}, %es",
            "movl {tmp:e}, %ss",
            "xorl {tmp:e}, {tmp:e}",
            "movl {tmp:e}, %fs",
            "movl {tmp:e}, %gs",
            "movw ${tss}, {tmp:x}",
            "ltr {tmp:x}",
            ptr = in(reg) &raw const pointer,
            tmp = out(reg) _,
            cs = const KERNEL_CS,
            ds = const KERNEL_DS,
            tss = const TSS_SELECTOR,
            options(att_syntax, preserves_flags)
        )
    };
}
