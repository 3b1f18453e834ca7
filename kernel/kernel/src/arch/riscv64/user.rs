// SPDX-License-Identifier: AGPL-3.0-or-later
//! riscv64 user mode: thread contexts, the kernel stack for traps from U-mode, FP state and
//! user address spaces.
//!
//! * **Kernel stack** ([`set_kernel_stack`]): the kernel stack top of the thread a hart runs is
//!   kept in that hart's per-CPU block (`percpu.rs`); `riscv64_trap_entry` loads `sp` from it on
//!   the next trap from U-mode (see `trap.rs`). The scheduler calls it on the hart that is
//!   about to run the thread, at every switch, so a thread that moved to another hart finds
//!   its stack there.
//! * **Context switch** (`riscv64_switch_context`): stores `ra`, `sp` and `s0`-`s11` of the
//!   old thread in its [`Context`] and loads the new thread's. A new thread's context "returns"
//!   into `riscv64_thread_start` on a kernel stack that holds only its initial
//!   [`TrapFrame`](super::trap::TrapFrame); it finishes the switch and leaves to U-mode through
//!   `riscv64_trap_return`.
//! * **FP**: the kernel is soft-float and runs with `sstatus.FS = Off` (docs/adr/0005). User
//!   threads start with FS = Initial; `f0`-`f31` and `fcsr` of the outgoing thread are saved at
//!   every switch and the incoming thread's restored, with FS switched on just for the copy.
//!   A hart without an FPU (FS reads back as Off) keeps FS off: user FP instructions fault.
//! * **Address spaces**: Sv48 or Sv39, as the boot code chose; every user root shares the
//!   kernel half by copying root entries 256..512 of the kernel root. `sstatus.SUM` stays
//!   clear, so the kernel reaches user memory only through the direct map (`crate::usercopy`).
//!   Every space uses ASID 0, and [`activate_root`] flushes the whole TLB (`sfence.vma` with no
//!   operands) whenever it changes `satp`: a hart holds translations of its current root only.
//!   A user space is active on at most one hart (each process has one thread), and that hart
//!   flushes it when it switches away, so [`user_unmap`] flushes locally only.
//! * **TLB shootdown** (kernel half, shared by every hart): when [`kernel_unmap`] returns, no
//!   hart translates the range any more. Ordering: the initiator publishes the page-table
//!   change (the PTE stores, then a full `fence rw, rw`) and executes `sfence.vma` locally;
//!   then it signals the others with SBI RFENCE `remote_sfence_vma`, a call that returns only
//!   when it is done: OpenSBI queues the request on each target, interrupts it in M-mode
//!   (whatever its S-mode interrupt mask: a target spinning on a lock the initiator holds
//!   still serves it), the target executes `sfence.vma` for the range and acknowledges by
//!   decrementing the initiator's sync counter, and the initiator's call waits for the counter
//!   to reach zero. (The SBI specification's own wording is only "sent to all the targeted
//!   harts"; the kernel relies on OpenSBI's synchronous behaviour, as Linux does.) Only after
//!   every target acknowledged does `kernel_unmap` return, and only then may the caller free
//!   or reuse the frames or the virtual range.
//! * **New kernel mappings** ([`kernel_map`]) need no interrupt: nothing can use a stale
//!   translation of a page that was not mapped, but without Svvptc a hart's page walks need
//!   not see the new entries until it executes `sfence.vma`. So `kernel_map` bumps a kernel-map
//!   generation after its stores, and a hart flushes its TLB when it sees a newer one: in
//!   [`activate_root`], which the scheduler calls before switching to a thread (whose new
//!   kernel stack it may not have seen yet), and on a page fault in S-mode, which is retried
//!   once after such a flush (`trap.rs`).
//! * **Code**: [`sync_code`] executes `fence.i` locally and bumps a code generation; a hart
//!   that switches address space ([`activate_root`]) executes `fence.i` when the generation
//!   changed since it last looked, before it can run the new code.

use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel_core::addr::{PAGE_SIZE, PhysAddr, VirtAddr};
use kernel_core::paging::riscv::{SATP_MODE_SV39, SATP_MODE_SV48, Sv39, Sv48};
use kernel_core::paging::{MapAttrs, PagingError, TableAllocator, Translation};

use super::paging::{self, PagingMode};
use super::trap::{FRAME_SIZE, SSTATUS_FS, SSTATUS_SPP, TrapFrame};
use crate::memory;

/// Bumped by [`sync_code`] after the code is written: a hart that last synchronised with an
/// older generation runs `fence.i` before it enters another address space.
static CODE_GENERATION: AtomicU64 = AtomicU64::new(0);
/// Bumped by [`kernel_map`] after its stores: a hart that last synchronised with an older
/// generation flushes its TLB before it relies on kernel mappings made since.
static KERNEL_MAP_GENERATION: AtomicU64 = AtomicU64::new(0);
/// Whether the hart has an FPU (FS is writable).
static HAS_FPU: AtomicBool = AtomicBool::new(false);

const SSTATUS_SIE: u64 = 1 << 1;
const SSTATUS_SPIE: u64 = 1 << 5;
const SSTATUS_VS: u64 = 3 << 9;
const SSTATUS_FS_INITIAL: u64 = 1 << 13;
const SSTATUS_XS: u64 = 3 << 15;
const SSTATUS_SUM: u64 = 1 << 18;
const SSTATUS_MXR: u64 = 1 << 19;

/// A suspended thread's kernel-side state: the registers the C calling convention preserves
/// across a call (everything else is on its kernel stack or dead).
#[repr(C)]
#[derive(Debug, Default)]
pub struct Context {
    ra: u64,
    sp: u64,
    s: [u64; 12],
}

/// One thread's FP state: `f0`-`f31` (64 bits each) and `fcsr`.
#[repr(C, align(16))]
pub struct FpState {
    f: [u64; 32],
    fcsr: u64,
}

impl FpState {
    /// The state a new thread starts with: registers zero, `fcsr` zero (round to nearest,
    /// no exception flags).
    pub fn new() -> FpState {
        FpState { f: [0; 32], fcsr: 0 }
    }
}

impl Default for FpState {
    fn default() -> Self {
        FpState::new()
    }
}

/// Saves the hart's FP registers and `fcsr` into `state`.
pub fn fp_save(state: &mut FpState) {
    if !HAS_FPU.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: the hart has an FPU (checked by `init_user_mode`); FS is set to Initial for the
    // copy so the FP instructions are legal, then put back as it was (Off in the kernel).
    // `fsd` writes the 33 words of `state`, which we borrow mutably; only the declared
    // temporaries are clobbered.
    unsafe {
        core::arch::asm!(
            ".option push",
            ".option arch, +d",
            "csrrs {old}, sstatus, {on}",
            "fsd f0, 0({p})",
            "fsd f1, 8({p})",
            "fsd f2, 16({p})",
            "fsd f3, 24({p})",
            "fsd f4, 32({p})",
            "fsd f5, 40({p})",
            "fsd f6, 48({p})",
            "fsd f7, 56({p})",
            "fsd f8, 64({p})",
            "fsd f9, 72({p})",
            "fsd f10, 80({p})",
            "fsd f11, 88({p})",
            "fsd f12, 96({p})",
            "fsd f13, 104({p})",
            "fsd f14, 112({p})",
            "fsd f15, 120({p})",
            "fsd f16, 128({p})",
            "fsd f17, 136({p})",
            "fsd f18, 144({p})",
            "fsd f19, 152({p})",
            "fsd f20, 160({p})",
            "fsd f21, 168({p})",
            "fsd f22, 176({p})",
            "fsd f23, 184({p})",
            "fsd f24, 192({p})",
            "fsd f25, 200({p})",
            "fsd f26, 208({p})",
            "fsd f27, 216({p})",
            "fsd f28, 224({p})",
            "fsd f29, 232({p})",
            "fsd f30, 240({p})",
            "fsd f31, 248({p})",
            "frcsr {tmp}",
            "sd {tmp}, 256({p})",
            "csrc sstatus, {mask}",
            "and {old}, {old}, {mask}",
            "csrs sstatus, {old}",
            ".option pop",
            p = in(reg) state as *mut FpState,
            on = in(reg) SSTATUS_FS_INITIAL,
            mask = in(reg) SSTATUS_FS,
            old = out(reg) _,
            tmp = out(reg) _,
            options(nostack)
        );
    }
}

/// Loads the hart's FP registers and `fcsr` from `state`.
pub fn fp_restore(state: &FpState) {
    if !HAS_FPU.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: as in `fp_save`; `fld` only reads the 33 words of `state`. The FP registers
    // belong to user threads alone (the kernel is soft-float), so loading them cannot disturb
    // compiled kernel code.
    unsafe {
        core::arch::asm!(
            ".option push",
            ".option arch, +d",
            "csrrs {old}, sstatus, {on}",
            "fld f0, 0({p})",
            "fld f1, 8({p})",
            "fld f2, 16({p})",
            "fld f3, 24({p})",
            "fld f4, 32({p})",
            "fld f5, 40({p})",
            "fld f6, 48({p})",
            "fld f7, 56({p})",
            "fld f8, 64({p})",
            "fld f9, 72({p})",
            "fld f10, 80({p})",
            "fld f11, 88({p})",
            "fld f12, 96({p})",
            "fld f13, 104({p})",
            "fld f14, 112({p})",
            "fld f15, 120({p})",
            "fld f16, 128({p})",
            "fld f17, 136({p})",
            "fld f18, 144({p})",
            "fld f19, 152({p})",
            "fld f20, 160({p})",
            "fld f21, 168({p})",
            "fld f22, 176({p})",
            "fld f23, 184({p})",
            "fld f24, 192({p})",
            "fld f25, 200({p})",
            "fld f26, 208({p})",
            "fld f27, 216({p})",
            "fld f28, 224({p})",
            "fld f29, 232({p})",
            "fld f30, 240({p})",
            "fld f31, 248({p})",
            "ld {tmp}, 256({p})",
            "fscsr {tmp}",
            "csrc sstatus, {mask}",
            "and {old}, {old}, {mask}",
            "csrs sstatus, {old}",
            ".option pop",
            p = in(reg) state as *const FpState,
            on = in(reg) SSTATUS_FS_INITIAL,
            mask = in(reg) SSTATUS_FS,
            old = out(reg) _,
            tmp = out(reg) _,
            options(nostack)
        );
    }
}

global_asm!(
    r#"
    .section .text.riscv64_user, "ax"
    .balign 4
    .global riscv64_switch_context
    /* a0 = &mut Context (old), a1 = &Context (new); interrupts masked. */
riscv64_switch_context:
    sd ra, 0(a0)
    sd sp, 8(a0)
    sd s0, 16(a0)
    sd s1, 24(a0)
    sd s2, 32(a0)
    sd s3, 40(a0)
    sd s4, 48(a0)
    sd s5, 56(a0)
    sd s6, 64(a0)
    sd s7, 72(a0)
    sd s8, 80(a0)
    sd s9, 88(a0)
    sd s10, 96(a0)
    sd s11, 104(a0)
    ld ra, 0(a1)
    ld sp, 8(a1)
    ld s0, 16(a1)
    ld s1, 24(a1)
    ld s2, 32(a1)
    ld s3, 40(a1)
    ld s4, 48(a1)
    ld s5, 56(a1)
    ld s6, 64(a1)
    ld s7, 72(a1)
    ld s8, 80(a1)
    ld s9, 88(a1)
    ld s10, 96(a1)
    ld s11, 104(a1)
    ret

    .balign 4
    .global riscv64_thread_start
    /* A new thread's first instructions: sp points at its initial TrapFrame. */
riscv64_thread_start:
    call {after_switch}
    j riscv64_trap_return
    .text
"#,
    after_switch = sym thread_first_run,
);

const _: () = assert!(core::mem::size_of::<Context>() == 14 * 8);

unsafe extern "C" {
    fn riscv64_switch_context(old: *mut Context, new: *const Context);
    fn riscv64_thread_start();
}

extern "C" fn thread_first_run() {
    crate::sched::after_switch();
}

/// Switches from the running thread to another. Call with interrupts masked and no lock
/// held; returns when something switches back to `old`.
///
/// # Safety
/// `old` must be the running thread's context and `new` a context saved by this function or
/// made by [`init_thread_stack`], whose kernel stack and address space are still mapped.
pub unsafe fn switch_context(old: *mut Context, new: *const Context) {
    // SAFETY: guaranteed by the caller; the assembly saves and restores exactly the registers
    // the C ABI says a call preserves (plus sp), so the compiler's view of this call holds.
    unsafe { riscv64_switch_context(old, new) }
}

/// Prepares the kernel stack `[.., top)` of a new user thread so that switching to the
/// returned context enters U-mode at `entry` with stack pointer `user_sp`, every other
/// register zero, interrupts enabled and FP usable (FS = Initial).
///
/// # Safety
/// `top` must be the 16-byte-aligned top of a mapped, otherwise unused kernel stack of at
/// least one page.
pub unsafe fn init_thread_stack(top: u64, entry: u64, user_sp: u64) -> Context {
    let frame_addr = top - FRAME_SIZE as u64;
    // SPP = 0 (U-mode), SPIE = 1 (interrupts on after `sret`), FS = Initial, SUM/MXR clear,
    // vector and custom extension state off; the other bits (UXL, ...) as the hart has them.
    let cleared = SSTATUS_SIE | SSTATUS_SPIE | SSTATUS_SPP | SSTATUS_VS | SSTATUS_FS | SSTATUS_XS | SSTATUS_SUM;
    let sstatus = (read_sstatus() & !(cleared | SSTATUS_MXR)) | SSTATUS_SPIE | SSTATUS_FS_INITIAL;
    let frame = TrapFrame::user_entry(entry, user_sp, sstatus);
    // SAFETY: the caller guarantees the stack is mapped, unused and at least a page (the
    // frame is 288 bytes); `frame_addr` is 16-byte aligned because `top` and the frame size are.
    unsafe { core::ptr::write(frame_addr as *mut TrapFrame, frame) };
    Context { ra: riscv64_thread_start as *const () as u64, sp: frame_addr, s: [0; 12] }
}

fn read_sstatus() -> u64 {
    let value: u64;
    // SAFETY: reading sstatus has no side effects.
    unsafe { core::arch::asm!("csrr {0}, sstatus", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

/// Makes `top` the kernel stack this hart switches to on the next trap from U-mode.
pub fn set_kernel_stack(top: u64) {
    super::percpu::this().set_kernel_stack_top(top);
}

pub(super) fn satp_for(root: PhysAddr) -> u64 {
    let mode = match paging::mode() {
        PagingMode::Sv48 => SATP_MODE_SV48,
        PagingMode::Sv39 => SATP_MODE_SV39,
    };
    (mode << 60) | (root.as_u64() >> 12)
}

/// Switches to the page tables at `root` (a user root, or the kernel's own).
///
/// # Safety
/// `root` must map the whole kernel half (every user root copies it from the kernel root).
pub unsafe fn activate_root(root: PhysAddr) {
    let satp = satp_for(root);
    let current: u64;
    // SAFETY: reading satp has no side effects.
    unsafe { core::arch::asm!("csrr {0}, satp", out(reg) current, options(nomem, nostack, preserves_flags)) };
    if current != satp {
        // SAFETY: guaranteed by the caller: the kernel half, where this code and its stack
        // live, is the same in every root. ASID 0 is used for every space, so the whole TLB is
        // flushed after the switch.
        unsafe { core::arch::asm!("csrw satp, {0}", "sfence.vma", in(reg) satp, options(nostack)) };
    }
    // Kernel mappings made since this hart last looked (the next thread's kernel stack).
    catch_up_kernel_maps();
    // Code written (by any hart) since this hart last looked: make its fetches see it before
    // it runs user code again. The acquire makes those stores visible to this hart first.
    let generation = CODE_GENERATION.load(Ordering::Acquire);
    if super::percpu::this().swap_code_generation(generation) != generation {
        // SAFETY: `fence.i` only orders instruction fetch after the stores visible here.
        unsafe { core::arch::asm!("fence.i", options(nostack, preserves_flags)) };
    }
}

/// Flushes this hart's TLB if kernel mappings were made since it last did; returns whether
/// it flushed. The acquire makes the new entries visible to this hart before `sfence.vma`
/// orders its page walks after them.
pub(super) fn catch_up_kernel_maps() -> bool {
    let generation = KERNEL_MAP_GENERATION.load(Ordering::Acquire);
    if super::percpu::this().swap_map_generation(generation) == generation {
        return false;
    }
    // SAFETY: `sfence.vma` only orders page-table reads and drops TLB entries.
    unsafe { core::arch::asm!("sfence.vma", options(nostack)) };
    true
}

/// Prepares the hart for user threads (once, after traps are set up): `sscratch` zero (the
/// kernel is in S-mode), `sstatus.SUM` and `MXR` clear, and probes the FPU.
pub fn init_user_mode() {
    let fs: u64;
    // SAFETY: `sscratch` is zero while in S-mode (the trap entry's convention); SUM and MXR
    // clear keep the kernel out of user pages. FS is set to Initial only to see whether it
    // sticks (a hart without an FPU hardwires it to Off), then switched off again: the kernel
    // executes no FP instructions.
    unsafe {
        core::arch::asm!(
            "csrw sscratch, zero",
            "csrc sstatus, {sum_mxr}",
            "csrs sstatus, {on}",
            "csrr {fs}, sstatus",
            "csrc sstatus, {mask}",
            sum_mxr = in(reg) SSTATUS_SUM | SSTATUS_MXR,
            on = in(reg) SSTATUS_FS_INITIAL,
            mask = in(reg) SSTATUS_FS,
            fs = out(reg) fs,
            options(nostack)
        );
    }
    let has_fpu = fs & SSTATUS_FS != 0;
    HAS_FPU.store(has_fpu, Ordering::Relaxed);
    if !has_fpu {
        kwarn!("[user] this hart has no FPU: FP instructions in user programs will fault");
    }
}

/// Drops the translations of `len` bytes at `va` from this hart's TLB.
fn flush_range(va: u64, len: u64) {
    let mut page = va;
    while page < va.saturating_add(len) {
        // SAFETY: `sfence.vma` only orders page-table updates and drops TLB entries.
        unsafe { core::arch::asm!("sfence.vma {0}, zero", in(reg) page, options(nostack)) };
        page += PAGE_SIZE;
    }
}

/// Maps kernel memory (run-time kernel stacks) in the kernel half, which every address space
/// shares (its root entries exist from boot, so user roots see new mappings).
pub fn kernel_map(
    va: VirtAddr,
    pa: PhysAddr,
    len: u64,
    attrs: MapAttrs,
    alloc: &mut impl TableAllocator,
) -> Result<(), PagingError> {
    match paging::mode() {
        PagingMode::Sv48 => memory::kernel_map::<Sv48>(va, pa, len, attrs, alloc)?,
        PagingMode::Sv39 => memory::kernel_map::<Sv39>(va, pa, len, attrs, alloc)?,
    }
    // This hart uses the new entries at once; the others catch up lazily (module doc).
    flush_range(va.as_u64(), len);
    KERNEL_MAP_GENERATION.fetch_add(1, Ordering::Release);
    Ok(())
}

/// Unmaps kernel memory; when it returns, no hart translates the range any more (TLB
/// shootdown, see the module doc for the ordering).
pub fn kernel_unmap(va: VirtAddr, len: u64) -> Result<(), PagingError> {
    match paging::mode() {
        PagingMode::Sv48 => memory::kernel_unmap::<Sv48>(va, len)?,
        PagingMode::Sv39 => memory::kernel_unmap::<Sv39>(va, len)?,
    }
    if shootdown(va.as_u64(), len) { Ok(()) } else { Err(PagingError::ShootdownIncomplete) }
}

/// Publishes a kernel page-table change and flushes `len` bytes at `va` from every hart's
/// TLB: this one, then the others through SBI (which returns once they have).
/// False when the firmware refused a remote fence.
fn shootdown(va: u64, len: u64) -> bool {
    core::sync::atomic::fence(Ordering::SeqCst);
    flush_range(va, len);
    super::smp::remote_sfence_vma(va, len)
}

/// Root-table entries that belong to user space (the lower half); the rest is the kernel's.
const USER_ROOT_ENTRIES: core::ops::Range<usize> = 0..256;
/// Root-table entries of the kernel half, shared by every user root.
const KERNEL_ROOT_ENTRIES: core::ops::Range<usize> = 256..512;

/// A new user root: empty lower half, kernel half shared with the kernel's root.
pub fn new_user_root(alloc: &mut impl TableAllocator) -> Result<PhysAddr, PagingError> {
    match paging::mode() {
        PagingMode::Sv48 => memory::new_user_root::<Sv48>(alloc, Some(KERNEL_ROOT_ENTRIES)),
        PagingMode::Sv39 => memory::new_user_root::<Sv39>(alloc, Some(KERNEL_ROOT_ENTRIES)),
    }
}

/// Maps one user page.
pub fn user_map(
    root: PhysAddr,
    va: VirtAddr,
    pa: PhysAddr,
    attrs: MapAttrs,
    alloc: &mut impl TableAllocator,
) -> Result<(), PagingError> {
    match paging::mode() {
        PagingMode::Sv48 => memory::user_map::<Sv48>(root, va, pa, attrs, alloc)?,
        PagingMode::Sv39 => memory::user_map::<Sv39>(root, va, pa, attrs, alloc)?,
    }
    // RISC-V may cache invalid entries: order the new entry before the process uses it.
    flush_range(va.as_u64(), PAGE_SIZE);
    Ok(())
}

/// Translates a user address.
pub fn user_translate(root: PhysAddr, va: VirtAddr) -> Option<Translation> {
    match paging::mode() {
        PagingMode::Sv48 => memory::user_translate::<Sv48>(root, va),
        PagingMode::Sv39 => memory::user_translate::<Sv39>(root, va),
    }
}

/// Unmaps one user page of the active or an inactive address space and flushes it from this
/// hart's TLB.
pub fn user_unmap(root: PhysAddr, va: VirtAddr) -> Result<(), PagingError> {
    match paging::mode() {
        PagingMode::Sv48 => memory::user_unmap::<Sv48>(root, va)?,
        PagingMode::Sv39 => memory::user_unmap::<Sv39>(root, va)?,
    }
    flush_range(va.as_u64(), PAGE_SIZE);
    Ok(())
}

/// Tears down the user half of `root` (which must not be active), reporting every leaf frame
/// and table frame.
pub fn user_teardown(root: PhysAddr, leaf: &mut impl FnMut(PhysAddr, usize), table: &mut impl FnMut(PhysAddr)) {
    match paging::mode() {
        PagingMode::Sv48 => memory::user_teardown::<Sv48>(root, USER_ROOT_ENTRIES, leaf, table),
        PagingMode::Sv39 => memory::user_teardown::<Sv39>(root, USER_ROOT_ENTRIES, leaf, table),
    }
}

/// Makes code just written through the direct map visible to instruction fetch: on this hart
/// at once (`fence.i`), on the others before they next switch address space (the code
/// generation, see the module doc).
pub fn sync_code(_kernel_va: u64, _len: u64) {
    // Release publishes this code; acquire makes the code of earlier generations (other
    // harts') visible here too, so the `fence.i` below covers every generation up to this one.
    let generation = CODE_GENERATION.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
    // SAFETY: `fence.i` only orders instruction fetch after earlier stores.
    unsafe { core::arch::asm!("fence.i", options(nostack, preserves_flags)) };
    super::percpu::this().swap_code_generation(generation);
}
