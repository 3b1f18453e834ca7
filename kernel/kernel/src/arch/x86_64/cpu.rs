// SPDX-License-Identifier: AGPL-3.0-or-later
//! CPU instructions: interrupt masking (`RFLAGS.IF`), idling, CPUID, MSRs, control
//! registers, port I/O and the time-stamp counter.
//!
//! The wrappers that can reconfigure the machine (port I/O, MSR and control-register writes)
//! are `unsafe fn`s: their callers state why the access is sound.

use core::arch::asm;
use core::cell::UnsafeCell;

/// Saved interrupt state: whether `RFLAGS.IF` was set.
pub type IrqState = bool;

const RFLAGS_IF: u64 = 1 << 9;

/// Disables interrupts and returns whether they were enabled.
pub fn irq_save() -> IrqState {
    let flags: u64;
    // SAFETY: reads RFLAGS through the stack (balanced push/pop) and clears IF, which only
    // masks interrupts on this CPU. Not `nomem`: the caller relies on it as a compiler barrier.
    unsafe { asm!("pushfq", "pop {0}", "cli", out(reg) flags, options(att_syntax)) };
    flags & RFLAGS_IF != 0
}

/// Restores a state returned by [`irq_save`].
pub fn irq_restore(state: IrqState) {
    if state {
        enable_interrupts();
    }
}

/// Enables interrupts on this CPU.
pub fn enable_interrupts() {
    // SAFETY: the IDT is installed before any Rust code runs (see `entry.rs`), so every
    // interrupt that can now arrive has a handler.
    unsafe { asm!("sti", options(att_syntax, nostack)) };
}

/// Disables interrupts on this CPU.
pub fn disable_interrupts() {
    // SAFETY: clearing IF only masks interrupts.
    unsafe { asm!("cli", options(att_syntax, nostack)) };
}

/// Called with interrupts masked, after the caller has checked that there is no work:
/// enables interrupts and sleeps until one arrives, takes it, and returns with interrupts
/// masked again. `sti` takes effect after the next instruction, so an interrupt that became
/// pending after the caller's check wakes the `hlt` instead of being taken before it: no
/// wake-up is lost.
pub fn wait_for_interrupt() {
    // SAFETY: as in `enable_interrupts`; `hlt` only waits. Not `nomem`: the interrupt handler
    // may change memory the caller reads next.
    unsafe { asm!("sti", "hlt", "cli", options(att_syntax, nostack)) };
}

/// Stops this CPU for good (interrupts off; an NMI only re-enters the loop).
pub fn halt() -> ! {
    loop {
        // SAFETY: masks interrupts and waits; nothing else.
        unsafe { asm!("cli", "hlt", options(att_syntax, nomem, nostack)) };
    }
}

/// The CPUID result registers the kernel uses (ECX is not needed yet).
#[derive(Clone, Copy, Debug)]
pub struct Cpuid {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// EDX.
    pub edx: u32,
}

/// Runs CPUID for `leaf`/`subleaf`.
pub fn cpuid(leaf: u32, subleaf: u32) -> Cpuid {
    let (eax, ebx, edx): (u32, u32, u32);
    // SAFETY: CPUID only reads identification data. RBX is reserved by the compiler, so it is
    // saved in a scratch register around the instruction.
    unsafe {
        asm!(
            "movq %rbx, {tmp:r}",
            "cpuid",
            "xchgq {tmp:r}, %rbx",
            tmp = out(reg) ebx,
            inout("eax") leaf => eax,
            inout("ecx") subleaf => _,
            out("edx") edx,
            options(att_syntax, nomem, nostack, preserves_flags)
        )
    };
    Cpuid { eax, ebx, edx }
}

/// True when CPUID `leaf` (basic or extended range) exists.
pub fn has_leaf(leaf: u32) -> bool {
    let base = leaf & 0x8000_0000;
    cpuid(base, 0).eax >= leaf
}

/// Processor features the kernel cares about.
#[derive(Clone, Copy, Debug)]
pub struct Features {
    /// 1 GiB pages (`PDPE1GB`).
    pub gib_pages: bool,
    /// Supervisor-mode execution prevention.
    pub smep: bool,
    /// Supervisor-mode access prevention.
    pub smap: bool,
    /// An on-chip local APIC.
    pub apic: bool,
    /// The TSC runs at a constant rate in every power state.
    pub invariant_tsc: bool,
    /// The page attribute table (`IA32_PAT`).
    pub pat: bool,
}

/// Reads the feature flags.
pub fn features() -> Features {
    let leaf1 = cpuid(1, 0);
    let leaf7 = if has_leaf(7) { cpuid(7, 0).ebx } else { 0 };
    let ext1 = if has_leaf(0x8000_0001) { cpuid(0x8000_0001, 0).edx } else { 0 };
    let ext7 = if has_leaf(0x8000_0007) { cpuid(0x8000_0007, 0).edx } else { 0 };
    Features {
        gib_pages: ext1 & (1 << 26) != 0,
        smep: leaf7 & (1 << 7) != 0,
        smap: leaf7 & (1 << 20) != 0,
        apic: leaf1.edx & (1 << 9) != 0,
        invariant_tsc: ext7 & (1 << 8) != 0,
        pat: leaf1.edx & (1 << 16) != 0,
    }
}

/// Reads model-specific register `msr`.
///
/// # Safety
/// `msr` must exist on this CPU (reading a missing MSR raises #GP).
pub unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: the caller guarantees the MSR exists; RDMSR has no other effect.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(att_syntax, nomem, nostack, preserves_flags))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Writes model-specific register `msr`.
///
/// # Safety
/// `msr` must exist and `value` must be a setting the rest of the kernel expects.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    let (lo, hi) = (value as u32, (value >> 32) as u32);
    // SAFETY: the caller guarantees the write is valid and intended.
    unsafe { asm!("wrmsr", in("ecx") msr, in("eax") lo, in("edx") hi, options(att_syntax, nostack, preserves_flags)) };
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSC only reads the counter (CR4.TSD is clear, and the kernel runs at CPL 0).
    unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(att_syntax, nomem, nostack, preserves_flags)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

macro_rules! read_control_register {
    ($name:ident, $reg:literal) => {
        #[doc = concat!("Reads ", $reg, ".")]
        pub fn $name() -> u64 {
            let value: u64;
            // SAFETY: reading a control register has no side effects at CPL 0.
            unsafe { asm!(concat!("mov %", $reg, ", {0}"), out(reg) value, options(att_syntax, nomem, nostack, preserves_flags)) };
            value
        }
    };
}

read_control_register!(read_cr0, "cr0");
read_control_register!(read_cr2, "cr2");
read_control_register!(read_cr3, "cr3");
read_control_register!(read_cr4, "cr4");

/// Writes CR3 (switches page tables and flushes the non-global TLB entries).
///
/// # Safety
/// `value` must point at page tables that map everything the kernel uses from now on at
/// the same virtual addresses (code, stack, data, descriptor tables).
pub unsafe fn write_cr3(value: u64) {
    // SAFETY: guaranteed by the caller. Not `nomem`: memory accesses must not move across.
    unsafe { asm!("mov {0}, %cr3", in(reg) value, options(att_syntax, nostack, preserves_flags)) };
}

/// Writes CR0.
///
/// # Safety
/// The new value must keep paging, protection and write protection as the kernel set them.
pub unsafe fn write_cr0(value: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe { asm!("mov {0}, %cr0", in(reg) value, options(att_syntax, nostack, preserves_flags)) };
}

/// Writes CR4.
///
/// # Safety
/// Every bit set must be supported by this CPU and compatible with the current state.
pub unsafe fn write_cr4(value: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe { asm!("mov {0}, %cr4", in(reg) value, options(att_syntax, nostack, preserves_flags)) };
}

/// Writes a byte to an I/O port.
///
/// # Safety
/// The port must belong to a device the caller owns, and the write must be valid for it.
pub unsafe fn outb(port: u16, value: u8) {
    // SAFETY: guaranteed by the caller.
    unsafe { asm!("outb %al, %dx", in("dx") port, in("al") value, options(att_syntax, nostack, preserves_flags)) };
}

/// Reads a byte from an I/O port.
///
/// # Safety
/// The port must belong to a device the caller owns (reads can have side effects).
pub unsafe fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: guaranteed by the caller.
    unsafe { asm!("inb %dx, %al", in("dx") port, out("al") value, options(att_syntax, nostack, preserves_flags)) };
    value
}

/// Writes a 32-bit value to an I/O port.
///
/// # Safety
/// The port must belong to a device the caller owns, and the write must be valid for it.
pub unsafe fn outl(port: u16, value: u32) {
    // SAFETY: guaranteed by the caller.
    unsafe { asm!("outl %eax, %dx", in("dx") port, in("eax") value, options(att_syntax, nostack, preserves_flags)) };
}

/// Data owned by one CPU: its descriptor tables, its TSS, its per-CPU block (one element of a
/// `[CpuCell<T>; MAX_CPUS]` array per CPU), or data written once during single-threaded boot
/// (the shared IDT). An element is written only by the CPU it belongs to, with interrupts
/// masked, or by the boot CPU before that CPU is started (which publishes the writes through
/// the start-up IPI); other CPUs and the hardware only read it afterwards. Hands out raw
/// pointers; every user states why its access does not race.
#[repr(transparent)]
pub struct CpuCell<T>(UnsafeCell<T>);

// SAFETY: see the type's contract: each value has a single writer at any time (its own CPU
// with interrupts masked, or the boot CPU before the owner runs), so sharing the cell between
// CPUs only ever shares reads with that writer's completed writes.
unsafe impl<T: Send> Sync for CpuCell<T> {}

impl<T> CpuCell<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        CpuCell(UnsafeCell::new(value))
    }

    /// A raw pointer to the value.
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}
