// SPDX-License-Identifier: AGPL-3.0-or-later
//! x86_64 user mode: per-CPU block, SYSCALL entry, thread contexts, FP/SIMD state and user
//! address spaces.
//!
//! * **Per-CPU block** ([`PerCpu`], one per CPU) reached through `GS` while in the kernel: its
//!   own address, the running thread's kernel stack top, the SYSCALL entry's scratch word and
//!   the CPU's logical index, so [`cpu_index`] is a single `%gs:` load. User code runs with
//!   the user's GS base (always zero: CR4.FSGSBASE stays off) and the block's address in
//!   `IA32_KERNEL_GS_BASE`; every entry from user mode (`syscall`, interrupts, exceptions)
//!   does `swapgs` first and every return to user mode does it last. The boot CPU's block is
//!   installed by the boot code before any Rust code runs (`trap::install_early`), a
//!   secondary CPU's right after it loads its GDT (`smp.rs`): kernel code never runs on a
//!   CPU whose GS base is not its block (the fault path repairs the two-instruction windows
//!   around `swapgs` that an NMI can hit, see [`ensure_kernel_gs`]).
//! * **SYSCALL** (`x86_64_syscall_entry`): switches to the thread's kernel stack (from the
//!   per-CPU block), builds the same [`TrapFrame`](super::trap::TrapFrame) an interrupt
//!   would, calls the portable dispatcher, and leaves through the common `iretq` tail, so
//!   every path back to user mode is one piece of code. `IA32_FMASK` clears IF, DF, TF, AC, NT,
//!   IOPL, RF and ID (a user-set NT would make the final `iretq` fault in the kernel):
//!   syscalls run with interrupts masked, and AC stays clear so SMAP keeps the kernel out of
//!   user pages (user memory is only copied through the direct map, `crate::usercopy`).
//! * **Context switch** (`x86_64_switch_context`): saves the callee-saved registers on the
//!   old thread's kernel stack and its stack pointer in its [`Context`], and resumes the new
//!   one. A new thread's stack holds a switch frame that "returns" into
//!   `x86_64_thread_start`, which finishes the switch and leaves to user mode through the
//!   `iretq` tail with the initial [`TrapFrame`](super::trap::TrapFrame).
//! * **FP/SIMD**: CR0.EM clear, CR0.MP and CR4.OSFXSR/OSXMMEXCPT set; the x87/MMX/SSE state of
//!   the outgoing thread is saved with `fxsave64` at every switch and the incoming thread's
//!   restored with `fxrstor64`. The kernel itself is soft-float (docs/adr/0005), so the user
//!   state is live in the registers for the whole time a thread is in the kernel. AVX stays
//!   disabled (no XSAVE), so AVX instructions fault in user mode.

use core::arch::global_asm;

use kernel_core::addr::{PhysAddr, VirtAddr};
use kernel_core::paging::x86_64::X86_64;
use kernel_core::paging::{MapAttrs, PagingError, TableAllocator, Translation};

use super::cpu::{self, CpuCell};
use super::gdt::{KERNEL_CS, USER_CS, USER_DS};
use super::trap::{SYSCALL_VECTOR, TrapFrame};
use crate::memory;

const MSR_EFER: u32 = 0xc000_0080;
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_FMASK: u32 = 0xc000_0084;
const MSR_GS_BASE: u32 = 0xc000_0101;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
const EFER_SCE: u64 = 1 << 0;
/// RFLAGS bits cleared on SYSCALL: TF (8), IF (9), DF (10), IOPL (12-13), NT (14), RF (16),
/// AC (18), ID (21). NT in particular: `iretq` with NT set raises #GP in the kernel.
const FMASK: u64 = (1 << 8) | (1 << 9) | (1 << 10) | (3 << 12) | (1 << 14) | (1 << 16) | (1 << 18) | (1 << 21);
/// RFLAGS of a new user thread: IF set, reserved bit 1.
const USER_RFLAGS: u64 = 0x202;
const CR0_MP: u64 = 1 << 1;
/// Native x87 error reporting (#MF) instead of the legacy FERR#/IRQ 13 path.
const CR0_NE: u64 = 1 << 5;
const CR0_EM: u64 = 1 << 2;
const CR0_TS: u64 = 1 << 3;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;

/// The per-CPU block (offsets are used by the assembly below and by [`cpu_index`]).
#[repr(C)]
pub struct PerCpu {
    /// +0: address of this block.
    self_ptr: u64,
    /// +8: top of the running thread's kernel stack (where SYSCALL switches to).
    kernel_rsp: u64,
    /// +16: the user stack pointer, saved by the SYSCALL entry.
    user_rsp: u64,
    /// +24: the CPU's logical index.
    index: u64,
}

const _: () = assert!(core::mem::offset_of!(PerCpu, kernel_rsp) == 8);
const _: () = assert!(core::mem::offset_of!(PerCpu, user_rsp) == 16);
/// Offset of [`PerCpu::index`] in the block.
const INDEX_OFFSET: usize = core::mem::offset_of!(PerCpu, index);

/// One block per CPU, by logical index.
static PER_CPU: [CpuCell<PerCpu>; crate::smp::MAX_CPUS] =
    [const { CpuCell::new(PerCpu { self_ptr: 0, kernel_rsp: 0, user_rsp: 0, index: 0 }) }; crate::smp::MAX_CPUS];

/// The logical index of the running CPU: one load from its per-CPU block (`GS` base).
#[inline]
pub fn cpu_index() -> usize {
    let index: usize;
    // SAFETY: in the kernel the GS base is always the running CPU's per-CPU block (installed
    // before any Rust code runs on each CPU, swapped on every entry from and exit to user
    // mode), which is mapped for the kernel's whole life; the load has no other effect. Not
    // `pure`: a thread that migrates must read the index again.
    unsafe {
        core::arch::asm!(
            "movq %gs:{offset}, {index}",
            index = out(reg) index,
            offset = const INDEX_OFFSET,
            options(att_syntax, nostack, preserves_flags, readonly)
        )
    };
    index
}

/// Installs the per-CPU block of CPU `index` on the running CPU: fills it in and points the GS
/// base at it (the user GS base, `IA32_KERNEL_GS_BASE`, is zero). Call with interrupts masked
/// after loading the CPU's GDT (a segment reload clears the GS base), before any code that
/// takes a lock. Returns false for an index without a block.
pub fn init_cpu_block(index: usize) -> bool {
    let Some(cell) = PER_CPU.get(index) else { return false };
    let block = cell.get();
    // SAFETY: each CPU installs only its own block, once, with interrupts masked, before
    // anything reads it through GS.
    unsafe {
        (*block).self_ptr = block as u64;
        (*block).index = index as u64;
    }
    // SAFETY: GS_BASE and KERNEL_GS_BASE are architectural MSRs on every x86_64 CPU; the GS
    // base now names this CPU's block, which lives for the whole kernel.
    unsafe {
        cpu::wrmsr(MSR_GS_BASE, block as u64);
        cpu::wrmsr(MSR_KERNEL_GS_BASE, 0);
    }
    true
}

/// True when `addr` is the address of some CPU's per-CPU block.
fn is_cpu_block(addr: u64) -> bool {
    PER_CPU.iter().any(|cell| cell.get() as u64 == addr)
}

/// For the fatal-exception path: makes sure the GS base is a per-CPU block. An NMI or machine
/// check can arrive in kernel mode with the user's GS base, between the `swapgs` and the
/// `iretq` of the return to user mode or at the SYSCALL entry's first instruction; the entry
/// stub only swaps for frames from user mode. The report then needs the kernel's GS base
/// (locks read the CPU index through it). Nothing returns to the interrupted code afterwards.
pub fn ensure_kernel_gs() {
    // SAFETY: the GS base MSRs exist on every x86_64 CPU; reading them has no side effect.
    let (gs, kernel_gs) = unsafe { (cpu::rdmsr(MSR_GS_BASE), cpu::rdmsr(MSR_KERNEL_GS_BASE)) };
    if !is_cpu_block(gs) && is_cpu_block(kernel_gs) {
        // SAFETY: exchanges the two GS bases, which makes the kernel's the active one; the
        // caller never returns to the interrupted code, which would expect the user's.
        unsafe { core::arch::asm!("swapgs", options(att_syntax, nostack, preserves_flags)) };
    }
}

/// A suspended thread's kernel-side state: its kernel stack pointer (everything else is on
/// that stack).
#[repr(C)]
#[derive(Debug, Default)]
pub struct Context {
    rsp: u64,
}

/// One thread's x87/MMX/SSE state in `fxsave` format.
#[repr(C, align(16))]
pub struct FpState([u8; 512]);

impl FpState {
    /// The state a new thread starts with: x87 control word 0x37f (all exceptions masked,
    /// double-extended precision), MXCSR 0x1f80 (all SIMD exceptions masked), registers zero.
    pub fn new() -> FpState {
        let mut area = [0u8; 512];
        if let Some(fcw) = area.get_mut(0..2) {
            fcw.copy_from_slice(&0x037fu16.to_le_bytes());
        }
        if let Some(mxcsr) = area.get_mut(24..28) {
            mxcsr.copy_from_slice(&0x1f80u32.to_le_bytes());
        }
        FpState(area)
    }
}

impl Default for FpState {
    fn default() -> Self {
        FpState::new()
    }
}

/// Saves the CPU's FP/SIMD registers into `state`.
pub fn fp_save(state: &mut FpState) {
    // SAFETY: `state` is a 512-byte, 16-byte-aligned buffer we own, and CR4.OSFXSR is set by
    // `init_user_mode`, so `fxsave64` is valid and writes exactly that buffer.
    unsafe {
        core::arch::asm!("fxsave64 ({0})", in(reg) state.0.as_mut_ptr(), options(att_syntax, nostack, preserves_flags))
    };
}

/// Loads the CPU's FP/SIMD registers from `state`.
pub fn fp_restore(state: &FpState) {
    // SAFETY: as in `fp_save`; the area was produced by `fxsave64` or by `FpState::new`,
    // whose MXCSR has no reserved bits set, so `fxrstor64` cannot fault.
    unsafe {
        core::arch::asm!("fxrstor64 ({0})", in(reg) state.0.as_ptr(), options(att_syntax, nostack, preserves_flags))
    };
}

global_asm!(
    r#"
    .section .text.x86_64_user, "ax"
    .balign 16
    .global x86_64_switch_context
    /* rdi = &mut Context (old), rsi = &Context (new); interrupts masked. */
x86_64_switch_context:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq (%rsi), %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret

    .balign 16
    .global x86_64_thread_start
    /* A new thread's first instructions: rsp points at its initial TrapFrame. */
x86_64_thread_start:
    call {after_switch}
    jmp x86_64_trap_return

    .balign 16
    .global x86_64_syscall_entry
x86_64_syscall_entry:
    swapgs
    movq %rsp, %gs:16
    movq %gs:8, %rsp
    pushq ${user_ds}
    pushq %gs:16
    pushq %r11
    pushq ${user_cs}
    pushq %rcx
    pushq $0
    pushq ${syscall_vector}
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld
    movq %rsp, %rdi
    call {syscall}
    jmp x86_64_trap_return
    .text
"#,
    after_switch = sym thread_first_run,
    syscall = sym syscall_handler,
    user_ds = const USER_DS,
    user_cs = const USER_CS,
    syscall_vector = const SYSCALL_VECTOR,
    options(att_syntax)
);

unsafe extern "C" {
    fn x86_64_switch_context(old: *mut Context, new: *const Context);
    fn x86_64_thread_start();
    fn x86_64_syscall_entry();
}

extern "C" fn thread_first_run() {
    crate::sched::after_switch();
}

extern "C" fn syscall_handler(frame: &mut TrapFrame) {
    let args = [frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9];
    frame.rax = crate::syscall::dispatch(frame.rax, args);
}

/// Switches from the running thread to another. Call with interrupts masked and no lock
/// held; returns when something switches back to `old`.
///
/// # Safety
/// `old` must be the running thread's context and `new` a context saved by this function or
/// made by [`init_thread_stack`], whose kernel stack and address space are still mapped.
pub unsafe fn switch_context(old: *mut Context, new: *const Context) {
    // SAFETY: guaranteed by the caller; the assembly saves and restores exactly the registers
    // the C ABI says a call preserves, so the compiler's view of this call holds.
    unsafe { x86_64_switch_context(old, new) }
}

/// Prepares the kernel stack `[.., top)` of a new user thread so that switching to the
/// returned context enters user mode at `entry` with stack pointer `user_sp`.
///
/// # Safety
/// `top` must be the 16-byte-aligned top of a mapped, otherwise unused kernel stack of at
/// least one page.
pub unsafe fn init_thread_stack(top: u64, entry: u64, user_sp: u64) -> Context {
    let frame_addr = top - core::mem::size_of::<TrapFrame>() as u64;
    let frame = TrapFrame::user_entry(entry, user_sp, USER_RFLAGS, USER_CS, USER_DS);
    // Below the frame: the return address, then the six callee-saved registers the switch pops.
    let switch_frame_addr = frame_addr - 7 * 8;
    // SAFETY: the caller guarantees the stack is mapped, unused and large enough for the
    // 176-byte frame plus 56 bytes; both addresses are 8-byte aligned.
    unsafe {
        core::ptr::write(frame_addr as *mut TrapFrame, frame);
        let words = switch_frame_addr as *mut u64;
        for i in 0..6 {
            core::ptr::write(words.add(i), 0);
        }
        core::ptr::write(words.add(6), x86_64_thread_start as *const () as u64);
    }
    Context { rsp: switch_frame_addr }
}

/// Makes `top` the kernel stack the running CPU switches to on the next entry from user mode
/// (its TSS RSP0 and its per-CPU block). Call with interrupts masked.
pub fn set_kernel_stack(top: u64) {
    let cpu = cpu_index();
    super::gdt::set_rsp0(cpu, top);
    if let Some(cell) = PER_CPU.get(cpu) {
        // SAFETY: the per-CPU block belongs to this CPU and is only written by it with
        // interrupts masked (context switches), and read by the SYSCALL entry of this CPU.
        unsafe { (*cell.get()).kernel_rsp = top };
    }
}

/// Switches to the page tables at `root` (a user root, or the kernel's own).
///
/// CR4.PCIDE is never set, so every CR3 write drops all non-global translations of this CPU:
/// no user translation of the previous address space survives a switch to another one (the
/// kernel half is global and identical in every root). Skipping the write when `root` is
/// already loaded is safe because an address space runs on at most one CPU at a time (one
/// thread per process), and every CPU that leaves it loads another root (an idle thread
/// loads the kernel root), so a CPU never keeps a stale root loaded after it was freed.
///
/// # Safety
/// `root` must map the whole kernel half (every user root copies it from the kernel root).
pub unsafe fn activate_root(root: PhysAddr) {
    if cpu::read_cr3() & 0x000f_ffff_ffff_f000 != root.as_u64() {
        // SAFETY: guaranteed by the caller; the kernel half is global and shared.
        unsafe { cpu::write_cr3(root.as_u64()) };
    }
}

/// Enables SYSCALL and FP/SIMD for user threads on the running CPU (the boot CPU calls it once
/// from the boot sequence, each secondary CPU from its start-up path).
pub fn init_user_mode() {
    // SAFETY: architectural MSRs and control bits, written on this CPU with interrupts
    // masked: KERNEL_GS_BASE holds the user GS base (zero); STAR selects the kernel code
    // segment 0x08 for SYSCALL and the user segments (0x1b data, 0x23 code) for SYSRET; LSTAR
    // is the entry above; FMASK masks interrupts on entry. CR0/CR4 enable FXSAVE and SSE with
    // x87 emulation off; the kernel never executes FP/SIMD instructions other than the
    // save/restore pair.
    unsafe {
        cpu::wrmsr(MSR_KERNEL_GS_BASE, 0);
        cpu::wrmsr(MSR_STAR, (u64::from(KERNEL_CS) << 32) | (u64::from(USER_DS - 8 - 3) << 48));
        cpu::wrmsr(MSR_LSTAR, x86_64_syscall_entry as *const () as u64);
        cpu::wrmsr(MSR_FMASK, FMASK);
        cpu::wrmsr(MSR_EFER, cpu::rdmsr(MSR_EFER) | EFER_SCE);
        cpu::write_cr0((cpu::read_cr0() | CR0_MP | CR0_NE) & !(CR0_EM | CR0_TS));
        cpu::write_cr4(cpu::read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
        core::arch::asm!("fninit", options(att_syntax, nomem, nostack));
    }
}

/// Maps kernel memory (run-time kernel stacks) in the kernel half, which every address space
/// shares.
pub fn kernel_map(
    va: VirtAddr,
    pa: PhysAddr,
    len: u64,
    attrs: MapAttrs,
    alloc: &mut impl TableAllocator,
) -> Result<(), PagingError> {
    memory::kernel_map::<X86_64>(va, pa, len, attrs, alloc)
}

/// Unmaps kernel memory and drops it from every CPU's TLB (a shootdown, `smp.rs`): when this
/// returns no CPU translates the range any more, so its frames may be freed and reused.
pub fn kernel_unmap(va: VirtAddr, len: u64) -> Result<(), PagingError> {
    memory::kernel_unmap::<X86_64>(va, len)?;
    if super::smp::shootdown(va.as_u64(), len) { Ok(()) } else { Err(PagingError::ShootdownIncomplete) }
}

/// Root-table entries that belong to user space (the lower half); the rest is the kernel's.
const USER_ROOT_ENTRIES: core::ops::Range<usize> = 0..256;

/// A new user root: empty lower half, kernel half shared with the kernel's root.
pub fn new_user_root(alloc: &mut impl TableAllocator) -> Result<PhysAddr, PagingError> {
    memory::new_user_root::<X86_64>(alloc, Some(256..512))
}

/// Maps one user page.
pub fn user_map(
    root: PhysAddr,
    va: VirtAddr,
    pa: PhysAddr,
    attrs: MapAttrs,
    alloc: &mut impl TableAllocator,
) -> Result<(), PagingError> {
    memory::user_map::<X86_64>(root, va, pa, attrs, alloc)
}

/// Translates a user address.
pub fn user_translate(root: PhysAddr, va: VirtAddr) -> Option<Translation> {
    memory::user_translate::<X86_64>(root, va)
}

/// Unmaps one user page of the active or an inactive address space and flushes it from this
/// CPU's TLB.
pub fn user_unmap(root: PhysAddr, va: VirtAddr) -> Result<(), PagingError> {
    memory::user_unmap::<X86_64>(root, va)?;
    // SAFETY: `invlpg` only drops a TLB entry.
    unsafe { core::arch::asm!("invlpg ({0})", in(reg) va.as_u64(), options(att_syntax, nostack, preserves_flags)) };
    Ok(())
}

/// Tears down the user half of `root` (which must not be active), reporting every leaf frame
/// and table frame.
pub fn user_teardown(root: PhysAddr, leaf: &mut impl FnMut(PhysAddr, usize), table: &mut impl FnMut(PhysAddr)) {
    memory::user_teardown::<X86_64>(root, USER_ROOT_ENTRIES, leaf, table);
}

/// Makes code just written through the direct map visible to instruction fetch. Nothing to do
/// on x86_64: instruction caches are coherent with data writes, and the address-space switch
/// that precedes running the code serialises.
pub fn sync_code(_kernel_va: u64, _len: u64) {}
