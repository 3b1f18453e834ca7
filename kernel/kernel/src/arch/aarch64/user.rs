// SPDX-License-Identifier: AGPL-3.0-or-later
//! AArch64 user mode (EL0): thread contexts, the context switch, FP/SIMD state, the kernel
//! stack for entries from EL0, and user address spaces (TTBR0).
//!
//! * **Entries from EL0** (`trap.rs`, vector entries 8-15): the CPU takes them on `SP_EL1`.
//!   A thread leaves for EL0 only through `aarch64_trap_return`, which pops its frame off the
//!   top of its kernel stack, so `SP_EL1` holds that top for as long as the thread runs in EL0
//!   and the next entry builds its frame right below it: the hardware needs no per-thread
//!   setting. [`set_kernel_stack`] records the top in the running CPU's per-CPU record
//!   (`percpu.rs`) so the entry can check that invariant; the scheduler calls it on the CPU
//!   that switches to the thread, right before the switch.
//!   The user stack pointer stays in `SP_EL0` while the thread is in the kernel (the kernel
//!   runs on `SP_EL1`, EL1h) and is saved in the frame and restored from it, like x0-x30,
//!   `ELR_EL1` and `SPSR_EL1`.
//! * **Context switch** (`aarch64_switch_context`): saves x19-x29, the link register and the
//!   user thread pointer `TPIDR_EL0` on the old thread's kernel stack, its stack pointer in its
//!   [`Context`], and resumes the new thread the same way. A new thread's stack holds a switch
//!   frame that "returns" into `aarch64_thread_start`, which finishes the switch and leaves to
//!   EL0 through `aarch64_trap_return` with the initial [`TrapFrame`] (every register zero,
//!   `SPSR_EL1` = EL0t with DAIF clear: IRQs enabled in user mode).
//! * **FP/SIMD**: `CPACR_EL1.FPEN = 0b11` (no traps at EL0 or EL1: the architecture has no
//!   setting that traps EL1 only). The kernel is soft-float (docs/adr/0005) and never uses the
//!   FP/SIMD registers except in [`fp_save`]/[`fp_restore`], which the scheduler calls at every
//!   switch: q0-q31, FPCR and FPSR of each thread.
//! * **Address spaces**: the kernel half lives in TTBR1 and is shared by every address space
//!   without copying; a user root is a TTBR0 tree of its own. ASIDs are not used (every user
//!   tree runs with ASID 0), so every change of TTBR0 invalidates this CPU's whole TLB
//!   (`tlbi vmalle1`, walk caches included). The kernel root (idle threads) means "no user
//!   space": TTBR0 walks are disabled (`TCR_EL1.EPD0`) and the TLB flushed, the kernel root
//!   itself is never loaded into TTBR0. A CPU therefore holds translations of a user tree only
//!   while it runs that tree's (single) thread: switching away always flushes, so a CPU that
//!   switches to a space finds no stale entries of an older space, even one whose root frame
//!   was freed and reused. User pages are non-global (nG), never executable at EL1 (PXN), and
//!   with `SCTLR_EL1.WXN` never both writable and executable. PAN stays on: the kernel copies
//!   user memory through the direct map (`crate::usercopy`).
//! * **TLB shootdown** (SMP): page-table memory is Normal, inner shareable, and every CPU is
//!   in the one inner-shareable domain, so invalidation needs no IPI: the broadcast TLB
//!   maintenance instructions (`tlbi ...is`) reach every CPU's TLB. The ordering rule, as for
//!   an IPI-based shootdown: the initiator publishes the page-table change (the store that
//!   clears the entry, then `dsb ishst`, so every table walker sees it); it then signals (the
//!   `tlbi vaale1is`/`vaae1is` per page, broadcast by the interconnect); each CPU drops the
//!   entries (the hardware's part) and the initiator's `dsb ish` completes only once every CPU
//!   in the domain has done so (the acknowledgement); `isb` then resynchronises the initiator.
//!   Only after that does [`kernel_unmap`]/[`user_unmap`] return, so the frame can be freed or
//!   reused while no CPU still translates the old address. Kernel unmaps use the last-level
//!   form `vaale1is` (the kernel tables under a removed leaf are never freed); user unmaps use
//!   `vaae1is` (leaf and walk-cache entries). [`activate_root`]'s flush is local (`vmalle1`,
//!   `dsb nsh`): it only concerns the CPU that switches.
//! * **EL0 access to system state**: `init_user_mode` denies EL0 the generic timer and counter
//!   (`CNTKCTL_EL1`), the PMU (`PMUSERENR_EL0`) and the debug communication channel
//!   (`MDSCR_EL1.TDCC`, which also clears single-step and breakpoint enables), and zeroes the
//!   EL0 thread registers; `SCTLR_EL1` (set in `entry.rs`) already traps EL0 cache maintenance,
//!   `DC ZVA`, `CTR_EL0`, `WFI`/`WFE` and `DAIF` accesses.

use core::arch::global_asm;
use core::sync::atomic::Ordering;

use kernel_core::addr::{PAGE_SIZE, PhysAddr, VirtAddr};
use kernel_core::paging::aarch64::Aarch64;
use kernel_core::paging::{ENTRIES_PER_TABLE, MapAttrs, PagingError, TableAllocator, Translation};

use super::paging::{TCR_EPD0, read_tcr};
use super::trap::TrapFrame;
use crate::memory;

/// `SPSR_EL1` of a new user thread: EL0t (M = 0), AArch64, D/A/I/F clear, flags zero.
const USER_SPSR: u64 = 0;
/// `CPACR_EL1.FPEN = 0b11`: FP/SIMD instructions trap at neither EL0 nor EL1.
const CPACR_FPEN_NONE: u64 = 0b11 << 20;
/// `MDSCR_EL1.TDCC`: EL0 accesses to the debug communication channel trap.
const MDSCR_TDCC: u64 = 1 << 12;
/// Bytes of the switch frame: x19-x28, x29, x30, `TPIDR_EL0` and padding (16-byte aligned).
const SWITCH_FRAME: u64 = 14 * 8;
/// Offset of the return address (x30) in the switch frame.
const SWITCH_LR: u64 = 11 * 8;
/// `TTBR0_EL1` base-address field (ASID and CnP are zero).
const TTBR_BADDR: u64 = 0x0000_ffff_ffff_fffe;

/// A suspended thread's kernel-side state: its kernel stack pointer (everything else is on
/// that stack).
#[repr(C)]
#[derive(Debug, Default)]
pub struct Context {
    sp: u64,
}

/// One thread's FP/SIMD state: q0-q31, FPCR and FPSR.
#[repr(C, align(16))]
pub struct FpState {
    q: [u64; 64],
    fpcr: u64,
    fpsr: u64,
}

const _: () = assert!(core::mem::offset_of!(FpState, fpcr) == 512 && core::mem::offset_of!(FpState, fpsr) == 520);

impl FpState {
    /// The state a new thread starts with: every register zero, FPCR zero (round to nearest,
    /// no floating-point exception traps, no flush-to-zero), FPSR zero.
    pub fn new() -> FpState {
        FpState { q: [0; 64], fpcr: 0, fpsr: 0 }
    }
}

impl Default for FpState {
    fn default() -> Self {
        FpState::new()
    }
}

/// Saves the CPU's FP/SIMD registers into `state`.
pub fn fp_save(state: &mut FpState) {
    // SAFETY: `state` is a 528-byte, 16-byte-aligned buffer we own; the stores cover exactly
    // offsets 0..528. `init_user_mode` set CPACR_EL1.FPEN, so the FP/SIMD instructions do not
    // trap. The assembler directives only let the soft-float target's assembler accept them.
    unsafe {
        core::arch::asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "stp q0, q1, [{p}, #0]",
            "stp q2, q3, [{p}, #32]",
            "stp q4, q5, [{p}, #64]",
            "stp q6, q7, [{p}, #96]",
            "stp q8, q9, [{p}, #128]",
            "stp q10, q11, [{p}, #160]",
            "stp q12, q13, [{p}, #192]",
            "stp q14, q15, [{p}, #224]",
            "stp q16, q17, [{p}, #256]",
            "stp q18, q19, [{p}, #288]",
            "stp q20, q21, [{p}, #320]",
            "stp q22, q23, [{p}, #352]",
            "stp q24, q25, [{p}, #384]",
            "stp q26, q27, [{p}, #416]",
            "stp q28, q29, [{p}, #448]",
            "stp q30, q31, [{p}, #480]",
            "mrs {t}, fpcr",
            "str {t}, [{p}, #512]",
            "mrs {t}, fpsr",
            "str {t}, [{p}, #520]",
            p = in(reg) state as *mut FpState,
            t = out(reg) _,
            options(nostack, preserves_flags)
        );
    }
}

/// Loads the CPU's FP/SIMD registers from `state`.
pub fn fp_restore(state: &FpState) {
    // SAFETY: as in `fp_save`, reading the same 528 bytes. FPCR and FPSR come from `fp_save`
    // or `FpState::new` (zero), so no reserved bit is set.
    unsafe {
        core::arch::asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "ldp q0, q1, [{p}, #0]",
            "ldp q2, q3, [{p}, #32]",
            "ldp q4, q5, [{p}, #64]",
            "ldp q6, q7, [{p}, #96]",
            "ldp q8, q9, [{p}, #128]",
            "ldp q10, q11, [{p}, #160]",
            "ldp q12, q13, [{p}, #192]",
            "ldp q14, q15, [{p}, #224]",
            "ldp q16, q17, [{p}, #256]",
            "ldp q18, q19, [{p}, #288]",
            "ldp q20, q21, [{p}, #320]",
            "ldp q22, q23, [{p}, #352]",
            "ldp q24, q25, [{p}, #384]",
            "ldp q26, q27, [{p}, #416]",
            "ldp q28, q29, [{p}, #448]",
            "ldp q30, q31, [{p}, #480]",
            "ldr {t}, [{p}, #512]",
            "msr fpcr, {t}",
            "ldr {t}, [{p}, #520]",
            "msr fpsr, {t}",
            p = in(reg) state as *const FpState,
            t = out(reg) _,
            options(nostack, preserves_flags, readonly)
        );
    }
}

global_asm!(
    r#"
    .section .text.aarch64_user, "ax"
    .balign 16
    .global aarch64_switch_context
    /* x0 = &mut Context (old), x1 = &Context (new); IRQs masked. */
aarch64_switch_context:
    sub sp, sp, #{frame}
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    mrs x9, tpidr_el0
    str x9, [sp, #96]
    mov x9, sp
    str x9, [x0]
    ldr x9, [x1]
    mov sp, x9
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldr x9, [sp, #96]
    msr tpidr_el0, x9
    add sp, sp, #{frame}
    ret

    .balign 16
    .global aarch64_thread_start
    /* A new thread's first instructions: SP points at its initial TrapFrame. */
aarch64_thread_start:
    bl {after_switch}
    b aarch64_trap_return
    .text
"#,
    frame = const SWITCH_FRAME,
    after_switch = sym thread_first_run,
);

unsafe extern "C" {
    fn aarch64_switch_context(old: *mut Context, new: *const Context);
    fn aarch64_thread_start();
}

extern "C" fn thread_first_run() {
    crate::sched::after_switch();
}

/// Switches from the running thread to another. Call with IRQs masked and no lock held;
/// returns when something switches back to `old`.
///
/// # Safety
/// `old` must be the running thread's context and `new` a context saved by this function or
/// made by [`init_thread_stack`], whose kernel stack and address space are still mapped.
pub unsafe fn switch_context(old: *mut Context, new: *const Context) {
    // SAFETY: guaranteed by the caller; the assembly saves and restores exactly the registers
    // AAPCS64 says a call preserves (x19-x29, SP; the soft-float kernel keeps nothing in
    // v8-v15), plus TPIDR_EL0, so the compiler's view of this call holds.
    unsafe { aarch64_switch_context(old, new) }
}

/// Prepares the kernel stack `[.., top)` of a new user thread so that switching to the
/// returned context enters EL0 at `entry` with stack pointer `user_sp`.
///
/// # Safety
/// `top` must be the 16-byte-aligned top of a mapped, otherwise unused kernel stack of at
/// least one page.
pub unsafe fn init_thread_stack(top: u64, entry: u64, user_sp: u64) -> Context {
    let frame_addr = top - core::mem::size_of::<TrapFrame>() as u64;
    let frame = TrapFrame::user_entry(entry, user_sp, USER_SPSR);
    // Below the frame: the switch frame (callee-saved registers zero, TPIDR_EL0 zero) whose
    // return address is the thread's first instruction.
    let switch_frame_addr = frame_addr - SWITCH_FRAME;
    // SAFETY: the caller guarantees the stack is mapped, unused and large enough for the frame
    // plus the switch frame; both addresses are 16-byte aligned.
    unsafe {
        core::ptr::write(frame_addr as *mut TrapFrame, frame);
        core::ptr::write_bytes(switch_frame_addr as *mut u8, 0, SWITCH_FRAME as usize);
        core::ptr::write((switch_frame_addr + SWITCH_LR) as *mut u64, aarch64_thread_start as *const () as u64);
    }
    Context { sp: switch_frame_addr }
}

/// Records `top` as the kernel stack of the next entry from EL0 on the running CPU. The CPU
/// itself needs nothing: `SP_EL1` already holds the top whenever the thread runs in EL0 (see
/// the module documentation); the entry checks that it matches.
pub fn set_kernel_stack(top: u64) {
    if let Some(cpu) = super::percpu::this_cpu() {
        cpu.kernel_stack_top.store(top, Ordering::Relaxed);
    }
}

/// The kernel stack top of the user thread running on this CPU, as [`set_kernel_stack`]
/// recorded it.
pub(super) fn kernel_stack_top() -> u64 {
    super::percpu::this_cpu().map_or(0, |cpu| cpu.kernel_stack_top.load(Ordering::Relaxed))
}

fn read_ttbr0() -> u64 {
    let v: u64;
    // SAFETY: reading TTBR0_EL1 has no side effects.
    unsafe { core::arch::asm!("mrs {0}, ttbr0_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Switches to the user address space `root`, or to none when `root` is the kernel root.
///
/// # Safety
/// `root` must be the kernel root or a user root made by [`new_user_root`] that is still
/// allocated; the caller must not be using lower-half addresses of the previous space.
pub unsafe fn activate_root(root: PhysAddr) {
    let tcr = read_tcr();
    if root == memory::kernel_root() {
        if tcr & TCR_EPD0 != 0 {
            return;
        }
        // SAFETY: disabling TTBR0 walks and dropping every TLB entry (the previous process's
        // included) only makes lower-half accesses fault; the kernel runs in TTBR1.
        unsafe {
            core::arch::asm!(
                "msr tcr_el1, {tcr}",
                "isb",
                "tlbi vmalle1",
                "dsb nsh",
                "isb",
                tcr = in(reg) tcr | TCR_EPD0,
                options(nostack, preserves_flags)
            );
        }
        return;
    }
    if tcr & TCR_EPD0 == 0 && read_ttbr0() & TTBR_BADDR == root.as_u64() {
        return;
    }
    // SAFETY: guaranteed by the caller: `root` is a valid TTBR0 tree (4 KiB-aligned, ASID 0).
    // The invalidation after the switch drops the previous process's entries (no ASIDs), so
    // no stale translation of another address space survives; the kernel half (TTBR1, global
    // entries) is unaffected apart from refills.
    unsafe {
        core::arch::asm!(
            "msr ttbr0_el1, {root}",
            "msr tcr_el1, {tcr}",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            root = in(reg) root.as_u64(),
            tcr = in(reg) tcr & !TCR_EPD0,
            options(nostack, preserves_flags)
        );
    }
}

/// Enables FP/SIMD for user threads and denies EL0 the timer, counter, PMU and debug
/// channel (once per CPU, with IRQs masked, before the first thread switch).
pub fn init_user_mode() {
    let dfr0: u64;
    // SAFETY: reading an identification register has no side effects.
    unsafe { core::arch::asm!("mrs {0}, id_aa64dfr0_el1", out(reg) dfr0, options(nomem, nostack, preserves_flags)) };
    let pmu = matches!((dfr0 >> 8) & 0xf, 1..=0xe);
    // SAFETY: CPACR_EL1.FPEN = 0b11 lets EL0 (and EL1, which never emits FP/SIMD code: the
    // kernel is soft-float) use FP/SIMD; CNTKCTL_EL1 = 0 keeps the counters and timers (the
    // kernel's tick) away from EL0; MDSCR_EL1 = TDCC traps the debug channel at EL0 and leaves
    // every debug event disabled; the EL0 thread registers and SP_EL0 start at zero. None of
    // this changes how the kernel itself runs.
    unsafe {
        core::arch::asm!(
            "msr cpacr_el1, {cpacr}",
            "msr cntkctl_el1, xzr",
            "msr mdscr_el1, {mdscr}",
            "msr tpidr_el0, xzr",
            "msr tpidrro_el0, xzr",
            "msr sp_el0, xzr",
            "isb",
            cpacr = in(reg) CPACR_FPEN_NONE,
            mdscr = in(reg) MDSCR_TDCC,
            options(nostack, preserves_flags)
        );
    }
    if pmu {
        // SAFETY: PMUSERENR_EL0 = 0: EL0 accesses to the PMU trap (the register exists: the
        // CPU implements PMUv3).
        unsafe { core::arch::asm!("msr pmuserenr_el0, xzr", "isb", options(nostack, preserves_flags)) };
    }
}

/// Makes page-table stores visible to the table walker before the new mappings are used.
fn publish_tables() {
    // SAFETY: barriers only.
    unsafe { core::arch::asm!("dsb ishst", "isb", options(nostack, preserves_flags)) };
}

/// Which TLB entries of a page [`flush_pages`] drops.
#[derive(Clone, Copy)]
enum Flush {
    /// Leaf entries only (`tlbi vaale1is`): no table under the range was freed.
    LastLevel,
    /// Leaf and intermediate (walk-cache) entries (`tlbi vaae1is`).
    AllLevels,
}

/// Drops the translations of the pages `[va, va + len)` from every TLB of the inner-shareable
/// domain (every CPU), after the table stores that removed them; returns once every CPU has
/// (see "TLB shootdown" in the module documentation).
fn flush_pages(va: u64, len: u64, levels: Flush) {
    // SAFETY: a barrier so the cleared entries are visible to every walker first.
    unsafe { core::arch::asm!("dsb ishst", options(nostack, preserves_flags)) };
    let mut page = va;
    while page < va.saturating_add(len) {
        let operand = (page >> 12) & 0x0fff_ffff_ffff;
        // SAFETY: `tlbi vaale1is`/`vaae1is` only drop TLB entries (every ASID, global ones
        // included) for the page, on every CPU of the inner-shareable domain; the operand is
        // VA[55:12].
        unsafe {
            match levels {
                Flush::LastLevel => {
                    core::arch::asm!("tlbi vaale1is, {0}", in(reg) operand, options(nostack, preserves_flags))
                }
                Flush::AllLevels => {
                    core::arch::asm!("tlbi vaae1is, {0}", in(reg) operand, options(nostack, preserves_flags))
                }
            }
        };
        page += PAGE_SIZE;
    }
    // SAFETY: barriers that wait until every CPU completed the invalidations, then
    // resynchronise this CPU's instruction fetch.
    unsafe { core::arch::asm!("dsb ish", "isb", options(nostack, preserves_flags)) };
}

/// Maps kernel memory (run-time kernel stacks) in the kernel half (TTBR1), which every
/// address space shares.
pub fn kernel_map(
    va: VirtAddr,
    pa: PhysAddr,
    len: u64,
    attrs: MapAttrs,
    alloc: &mut impl TableAllocator,
) -> Result<(), PagingError> {
    let result = memory::kernel_map::<Aarch64>(va, pa, len, attrs, alloc);
    publish_tables();
    result
}

/// Unmaps kernel memory and drops it from every CPU's TLB (a shootdown: when this returns, no
/// CPU translates the range any more).
pub fn kernel_unmap(va: VirtAddr, len: u64) -> Result<(), PagingError> {
    let result = memory::kernel_unmap::<Aarch64>(va, len);
    flush_pages(va.as_u64(), len, Flush::LastLevel);
    result
}

/// Root-table entries that belong to user space: all of them (a TTBR0 tree holds nothing
/// else).
const USER_ROOT_ENTRIES: core::ops::Range<usize> = 0..ENTRIES_PER_TABLE;

/// A new, empty user root (TTBR0 tree; the kernel half is TTBR1's and needs nothing).
pub fn new_user_root(alloc: &mut impl TableAllocator) -> Result<PhysAddr, PagingError> {
    let root = memory::new_user_root::<Aarch64>(alloc, None);
    publish_tables();
    root
}

/// Maps one user page.
pub fn user_map(
    root: PhysAddr,
    va: VirtAddr,
    pa: PhysAddr,
    attrs: MapAttrs,
    alloc: &mut impl TableAllocator,
) -> Result<(), PagingError> {
    let result = memory::user_map::<Aarch64>(root, va, pa, attrs, alloc);
    publish_tables();
    result
}

/// Translates a user address.
pub fn user_translate(root: PhysAddr, va: VirtAddr) -> Option<Translation> {
    memory::user_translate::<Aarch64>(root, va)
}

/// Unmaps one user page of the active or an inactive address space and drops it from the
/// TLBs. The flush is broadcast: the space may be active on another CPU than this one (its
/// thread runs there while this CPU changes its tables).
pub fn user_unmap(root: PhysAddr, va: VirtAddr) -> Result<(), PagingError> {
    let result = memory::user_unmap::<Aarch64>(root, va);
    flush_pages(va.as_u64(), PAGE_SIZE, Flush::AllLevels);
    result
}

/// Tears down the user tree at `root` (which must not be active), reporting every leaf frame
/// and table frame.
pub fn user_teardown(root: PhysAddr, leaf: &mut impl FnMut(PhysAddr, usize), table: &mut impl FnMut(PhysAddr)) {
    memory::user_teardown::<Aarch64>(root, USER_ROOT_ENTRIES, leaf, table);
}

/// Makes code just written through the direct map (`[kernel_va, kernel_va + len)`) visible to
/// instruction fetch at any virtual address: cleans the data cache to the point of
/// unification, then invalidates the instruction cache (the lines may be cached under another
/// alias, so all of it), with the barriers the architecture requires.
pub fn sync_code(kernel_va: u64, len: u64) {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {0}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    // DminLine (bits 19:16): log2 of the smallest data-cache line in 4-byte words.
    let line_size: u64 = 4 << ((ctr >> 16) & 0xf);
    let mut line = kernel_va & !(line_size - 1);
    let end = kernel_va.saturating_add(len);
    // Bounded by `len`, which is at most one page per call.
    while line < end {
        // SAFETY: `dc cvau` only cleans a cache line of mapped kernel memory (the direct map).
        unsafe { core::arch::asm!("dc cvau, {0}", in(reg) line, options(nostack, preserves_flags)) };
        line += line_size;
    }
    // SAFETY: barriers and a whole instruction-cache invalidation have no memory effects
    // beyond the caches.
    unsafe { core::arch::asm!("dsb ish", "ic ialluis", "dsb ish", "isb", options(nostack, preserves_flags)) };
}
