// SPDX-License-Identifier: AGPL-3.0-or-later
//! The kernel's lock flavour: [`kernel_core::sync::IrqSpinLock`] with the architecture's
//! interrupt masking and the lock-order tracker.
//!
//! Every kernel lock is an `IrqSpinLock<T, IrqMask>` with a `LockClass` rank; the order is
//! documented in docs/locking.md. Each acquisition is checked against the ranks this CPU
//! already holds; a violation is counted and reported by the boot log and the self-tests.
//! CambiOS runs on the boot CPU only until the SMP issue, which makes the tracker per-CPU.

use kernel_core::sync::{InterruptMask, LockClass, LockOrderTracker};

use crate::arch;

static TRACKER: LockOrderTracker = LockOrderTracker::new();

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
        TRACKER.acquire(class);
    }

    fn on_release(class: LockClass) {
        TRACKER.release(class);
    }
}

/// A kernel spin lock.
pub type SpinLock<T> = kernel_core::sync::IrqSpinLock<T, IrqMask>;

/// What [`SpinLock::lock`] returns.
pub type SpinGuard<'a, T> = kernel_core::sync::IrqGuard<'a, T, IrqMask>;

/// Lock-order violations seen so far, and the ranks of the first (acquiring, highest held).
pub fn lock_order_violations() -> (u64, Option<(u8, u8)>) {
    TRACKER.violations()
}
