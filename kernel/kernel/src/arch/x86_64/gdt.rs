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
//!
//! Every CPU has its own GDT and TSS (arrays indexed by the logical CPU index): a TSS holds
//! the CPU's RSP0 and IST pointers, and `ltr` marks its descriptor busy in the GDT it lives in,
//! so neither can be shared. Logical CPU k's IST stacks are its guarded exception-stack slots
//! (`smp::exception_stack_top`). The boot CPU alone starts on two small stacks in `.bss`
//! (before the final page tables map the slots); [`use_guarded_ist_stacks`] then moves it to
//! its slots. Secondary CPUs load their tables with their slots from the start.

use core::arch::asm;

use super::cpu::CpuCell;
use crate::smp::MAX_CPUS;

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

/// The GDT of each CPU (by logical index).
static GDTS: [CpuCell<[u64; 7]>; MAX_CPUS] = [const { CpuCell::new([0; 7]) }; MAX_CPUS];
/// The TSS of each CPU (by logical index).
static TSSES: [CpuCell<Tss>; MAX_CPUS] = [const { CpuCell::new(Tss([0; TSS_SIZE / 4])) }; MAX_CPUS];
/// The boot CPU's IST stacks until the final page tables map its guarded slots.
static BOOT_DOUBLE_FAULT_STACK: CpuCell<IstStack> = CpuCell::new(IstStack([0; IST_STACK_SIZE]));
static BOOT_NMI_STACK: CpuCell<IstStack> = CpuCell::new(IstStack([0; IST_STACK_SIZE]));

/// The operand of `lgdt`/`lidt`.
#[repr(C, packed)]
pub struct DescriptorPointer {
    /// Size in bytes minus one.
    pub limit: u16,
    /// Linear address.
    pub base: u64,
}

fn stack_top(stack: &CpuCell<IstStack>) -> u64 {
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

/// Points the boot CPU's IST1 and IST2 at its guarded exception-stack slots (call once the
/// final page tables, which map those slots, are active).
pub fn use_guarded_ist_stacks() {
    let Some(cell) = TSSES.first() else { return };
    // SAFETY: runs on the boot CPU with interrupts masked (the boot sequence enables them only
    // after the ready line), before any other CPU starts; the CPU reads the IST fields from
    // memory at each delivery, so the new values take effect for the next exception. No other
    // reference to the boot CPU's TSS exists.
    let tss = unsafe { &mut *cell.get() };
    set_u64(tss, 0x24, crate::layout::exception_stack(0).1); // IST1
    set_u64(tss, 0x2c, crate::layout::exception_stack(1).1); // IST2
}

/// Sets RSP0 of CPU `cpu` (the running CPU), the stack the CPU switches to when an interrupt
/// or exception arrives in user mode (the running thread's kernel stack top).
pub fn set_rsp0(cpu: usize, top: u64) {
    let Some(cell) = TSSES.get(cpu) else { return };
    // SAFETY: only the CPU that owns the TSS calls this, with interrupts masked (context
    // switches); the CPU reads RSP0 at the next delivery from user mode.
    let tss = unsafe { &mut *cell.get() };
    set_u64(tss, 0x04, top);
}

/// Builds and loads the boot CPU's GDT and TSS with its `.bss` IST stacks (called by the boot
/// code before the Rust entry).
pub fn load_boot() {
    load(0, stack_top(&BOOT_DOUBLE_FAULT_STACK), stack_top(&BOOT_NMI_STACK));
}

/// Builds the GDT and the TSS of CPU `cpu` (the running CPU, which has not loaded them yet)
/// with IST1 = `ist1` and IST2 = `ist2`, loads them and reloads every segment register. The
/// GS base is zero afterwards (a null selector load clears it): the caller sets the per-CPU
/// block next. Returns false (and loads nothing) for an index without tables.
pub fn load(cpu: usize, ist1: u64, ist2: u64) -> bool {
    let (Some(gdt_cell), Some(tss_cell)) = (GDTS.get(cpu), TSSES.get(cpu)) else { return false };
    let tss_base = tss_cell.get() as u64;
    // SAFETY: runs once per CPU on that CPU with interrupts off, before anything else uses its
    // TSS, so this is the only reference to it.
    let tss = unsafe { &mut *tss_cell.get() };
    set_u64(tss, 0x24, ist1); // IST1
    set_u64(tss, 0x2c, ist2); // IST2
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
    // SAFETY: as above: this CPU's initialisation; the CPU reads its GDT only through the
    // `lgdt` below.
    unsafe { *gdt_cell.get() = table };

    let pointer =
        DescriptorPointer { limit: (core::mem::size_of::<[u64; 7]>() - 1) as u16, base: gdt_cell.get() as u64 };
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
    true
}
