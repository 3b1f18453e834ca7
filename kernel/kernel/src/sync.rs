// SPDX-License-Identifier: AGPL-3.0-or-later
//! The kernel's lock flavour: [`kernel_core::sync::IrqSpinLock`] with the architecture's
//! interrupt masking and the lock-order tracker.
//!
//! Every kernel lock is an `IrqSpinLock<T, IrqMask>` with a `LockClass` rank; the order is
//! documented in docs/locking.md. Each acquisition is checked against the ranks this CPU
//! already holds; a violation is counted and reported by the boot log and the self-tests.
//! Each CPU has its own tracker.

use kernel_core::sync::{InterruptMask, LockClass, LockOrderTracker};

use crate::arch;

#[allow(clippy::declare_interior_mutable_const)]
const NEW_TRACKER: LockOrderTracker = LockOrderTracker::new();
/// One tracker per CPU: each records the locks its CPU holds (interrupts are masked while a
/// lock is held, so the CPU index cannot change under a tracker update).
static TRACKERS: [LockOrderTracker; crate::smp::MAX_CPUS] = [NEW_TRACKER; crate::smp::MAX_CPUS];

fn tracker() -> &'static LockOrderTracker {
    // `smp::current` is always below MAX_CPUS; the fallback only satisfies the indexing rule.
    TRACKERS.get(crate::smp::current()).unwrap_or(&TRACKERS[0])
}

/// Interrupt masking for kernel locks.
pub enum IrqMask {}

impl InterruptMask for IrqMask {
    type State = arch::IrqState;

    fn save_and_disable() -> arch::IrqState {
        arch::irq_save()
    }

    fn restore(state: arch::IrqState) {
        arch::irq_restore(state);
    }

    fn on_acquire(class: LockClass) {
        if tracker().acquire(class) {
            // Printed at once, without the console lock (this acquisition may be the one that
            // deadlocks): the idle loop's fuller report may never run.
            arch::console_write(b"\n[lock] lock-order violation: a lock was taken out of order (docs/locking.md)\n");
        }
    }

    fn on_release(class: LockClass) {
        tracker().release(class);
    }
}

/// A kernel spin lock.
pub type SpinLock<T> = kernel_core::sync::IrqSpinLock<T, IrqMask>;

/// What [`SpinLock::lock`] returns.
pub type SpinGuard<'a, T> = kernel_core::sync::IrqGuard<'a, T, IrqMask>;

/// Lock-order violations seen so far on all CPUs, and the ranks of the first one found
/// (acquiring, highest held).
pub fn lock_order_violations() -> (u64, Option<(u8, u8)>) {
    let mut total = 0;
    let mut first = None;
    for t in &TRACKERS {
        let (n, f) = t.violations();
        total += n;
        first = first.or(f);
    }
    (total, first)
}
