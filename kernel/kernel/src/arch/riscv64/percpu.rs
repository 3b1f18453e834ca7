// SPDX-License-Identifier: AGPL-3.0-or-later
//! The per-hart block: what each hart keeps for itself, found through `tp`.
//!
//! In the kernel, `tp` (x4) always holds the address of the running hart's [`PerCpu`] block:
//! the boot hart sets it in `riscv64_high_entry` before any Rust code runs (so before the
//! first lock), a secondary hart in `riscv64_secondary_high` before it calls into Rust. The
//! compiler never allocates `tp` and kernel code never changes it, so [`cpu_index`] is one
//! load. User code owns `tp` while in U-mode: the trap entry swaps the user's value out
//! through `sscratch`, which holds this hart's block address while the hart is in U-mode
//! (`trap.rs`), and the return to U-mode restores it from the trap frame. A return to S-mode
//! never reloads `tp` from the frame: a kernel thread interrupted on one hart may be resumed
//! on another.
//!
//! The trap entry reaches the fields by their offsets (`OFFSET_*`): a scratch word for the
//! S-mode entry, the top of the hart's emergency stack and the kernel stack top of the
//! thread that runs in U-mode (`set_kernel_stack`).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel_boot::MAX_CPUS;

/// One hart's block (a cache line of its own, so harts do not share lines).
#[repr(C, align(64))]
pub(super) struct PerCpu {
    /// The logical CPU index (`cpu_index`).
    index: AtomicU64,
    /// Scratch word of the S-mode trap entry (only this hart's trap entry uses it).
    scratch: AtomicU64,
    /// Top of this hart's guarded emergency stack (for kernel stack overflows).
    emergency_top: AtomicU64,
    /// Kernel stack top of the thread this hart runs (where a trap from U-mode lands).
    kernel_stack_top: AtomicU64,
    /// The hart id.
    hart: AtomicU64,
    /// The code generation (`user.rs` `sync_code`) this hart last synchronised its
    /// instruction fetch with.
    code_generation: AtomicU64,
    /// The kernel-map generation (`user.rs` `kernel_map`) this hart last synchronised its
    /// address translation with.
    map_generation: AtomicU64,
    /// The hart runs in the kernel address space: remote fences and IPIs may target it.
    present: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: PerCpu = PerCpu {
    index: AtomicU64::new(0),
    scratch: AtomicU64::new(0),
    emergency_top: AtomicU64::new(0),
    kernel_stack_top: AtomicU64::new(0),
    hart: AtomicU64::new(0),
    code_generation: AtomicU64::new(0),
    map_generation: AtomicU64::new(0),
    present: AtomicBool::new(false),
};

/// Every hart's block, by logical index. All zero at boot (`.bss`): index 0 is the boot hart.
pub(super) static BLOCKS: [PerCpu; MAX_CPUS] = [EMPTY; MAX_CPUS];

/// Offset of the scratch word (for the trap entry).
pub(super) const OFFSET_SCRATCH: usize = core::mem::offset_of!(PerCpu, scratch);
/// Offset of the emergency stack top (for the trap entry).
pub(super) const OFFSET_EMERGENCY_TOP: usize = core::mem::offset_of!(PerCpu, emergency_top);
/// Offset of the kernel stack top for traps from U-mode (for the trap entry).
pub(super) const OFFSET_KERNEL_STACK_TOP: usize = core::mem::offset_of!(PerCpu, kernel_stack_top);
const OFFSET_INDEX: usize = core::mem::offset_of!(PerCpu, index);
const _: () = assert!(OFFSET_INDEX == 0 && core::mem::size_of::<PerCpu>() == 64);

/// The logical index of the running hart (0 = the boot hart), read from its block.
#[inline]
pub fn cpu_index() -> usize {
    let index: u64;
    // SAFETY: in the kernel `tp` always points at the running hart's block (module doc),
    // whose first word is its index; the load changes nothing.
    unsafe {
        core::arch::asm!(
            "ld {0}, {off}(tp)",
            out(reg) index,
            off = const OFFSET_INDEX,
            options(nostack, readonly, preserves_flags)
        );
    }
    index as usize
}

/// The block of logical CPU `index`.
pub(super) fn block(index: usize) -> Option<&'static PerCpu> {
    BLOCKS.get(index)
}

/// The running hart's block.
pub(super) fn this() -> &'static PerCpu {
    // `cpu_index` is below MAX_CPUS (blocks are only prepared for such indexes); the
    // fallback only satisfies the indexing rule.
    BLOCKS.get(cpu_index()).unwrap_or(&BLOCKS[0])
}

impl PerCpu {
    /// Fills in the block of logical CPU `index` (hart `hart`, emergency stack top
    /// `emergency_top`) before that hart uses it, and returns the value its `tp` gets.
    pub(super) fn prepare(&self, index: usize, hart: u64, emergency_top: u64) -> u64 {
        self.index.store(index as u64, Ordering::Relaxed);
        self.hart.store(hart, Ordering::Relaxed);
        self.emergency_top.store(emergency_top, Ordering::Relaxed);
        self as *const PerCpu as u64
    }

    /// Marks the hart as running in the kernel address space (it may now hold TLB entries of
    /// kernel mappings, so shootdowns must reach it).
    pub(super) fn mark_present(&self) {
        self.present.store(true, Ordering::SeqCst);
    }

    /// Whether the hart runs in the kernel address space.
    pub(super) fn is_present(&self) -> bool {
        self.present.load(Ordering::SeqCst)
    }

    /// The hart id.
    pub(super) fn hart(&self) -> u64 {
        self.hart.load(Ordering::Relaxed)
    }

    /// Records the kernel stack top for the next trap from U-mode.
    pub(super) fn set_kernel_stack_top(&self, top: u64) {
        self.kernel_stack_top.store(top, Ordering::Relaxed);
    }

    /// Records that the hart synchronised instruction fetch with code generation
    /// `generation`, returning the previous one.
    pub(super) fn swap_code_generation(&self, generation: u64) -> u64 {
        self.code_generation.swap(generation, Ordering::Relaxed)
    }

    /// Records that the hart synchronised address translation with kernel-map generation
    /// `generation`, returning the previous one.
    pub(super) fn swap_map_generation(&self, generation: u64) -> u64 {
        self.map_generation.swap(generation, Ordering::Relaxed)
    }
}
