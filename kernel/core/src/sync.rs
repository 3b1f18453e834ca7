// SPDX-License-Identifier: AGPL-3.0-or-later
//! An interrupt-safe spin lock.
//!
//! [`IrqSpinLock`] masks interrupts on the local CPU (through an [`InterruptMask`] supplied by
//! the architecture) before it spins, so code reachable from an interrupt handler can share
//! data with ordinary kernel code without deadlocking against itself. Each lock carries a
//! [`LockClass`] rank; the kernel's lock order (docs/locking.md) is "acquire in increasing
//! rank", and debug builds check it through [`LockOrder`].

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// Masks and restores interrupts on the current CPU.
pub trait InterruptMask {
    /// Saved interrupt state.
    type State: Copy;
    /// Disables interrupts and returns the previous state.
    fn save_and_disable() -> Self::State;
    /// Restores a state returned by `save_and_disable`.
    fn restore(state: Self::State);
}

/// A mask that does nothing: for host tests and for data never touched by interrupt handlers.
pub enum NoMask {}

impl InterruptMask for NoMask {
    type State = ();
    fn save_and_disable() {}
    fn restore(_: ()) {}
}

/// Rank of a lock in the global lock order (lower ranks are taken first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum LockClass {
    /// Frame allocator.
    Frames = 10,
    /// Kernel heap.
    Heap = 20,
    /// Serial console and the log (innermost: any code may log while holding other locks).
    Console = 90,
}

/// Tracks which lock ranks a CPU holds, to catch lock-order violations.
///
/// A bitmask of held ranks: acquiring rank `r` while holding a rank `>= r` is a violation.
#[derive(Debug, Default)]
pub struct LockOrder {
    held: u128,
}

/// A violation found by [`LockOrder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderViolation {
    /// The lock being acquired.
    pub acquiring: LockClass,
    /// The highest rank already held.
    pub highest_held: u8,
}

impl LockOrder {
    /// Records the acquisition of `class`, or reports the violation (and records nothing).
    pub fn acquire(&mut self, class: LockClass) -> Result<(), OrderViolation> {
        let rank = class as u8;
        let at_or_above = self.held >> rank;
        if at_or_above != 0 {
            let highest = 127 - self.held.leading_zeros() as u8;
            return Err(OrderViolation { acquiring: class, highest_held: highest });
        }
        self.held |= 1u128 << rank;
        Ok(())
    }

    /// Records the release of `class`.
    pub fn release(&mut self, class: LockClass) {
        self.held &= !(1u128 << (class as u8));
    }
}

/// A spin lock that masks interrupts while held.
pub struct IrqSpinLock<T, M: InterruptMask> {
    locked: AtomicBool,
    class: LockClass,
    value: UnsafeCell<T>,
    mask: PhantomData<M>,
}

// SAFETY: the lock serialises all access to `value`, so sharing the lock between CPUs is
// sound whenever the value itself may be sent between them.
unsafe impl<T: Send, M: InterruptMask> Sync for IrqSpinLock<T, M> {}
// SAFETY: moving the lock moves the value; sound when the value is `Send`.
unsafe impl<T: Send, M: InterruptMask> Send for IrqSpinLock<T, M> {}

impl<T, M: InterruptMask> IrqSpinLock<T, M> {
    /// A new, unlocked lock of rank `class`.
    pub const fn new(class: LockClass, value: T) -> Self {
        IrqSpinLock { locked: AtomicBool::new(false), class, value: UnsafeCell::new(value), mask: PhantomData }
    }

    /// The lock's rank.
    pub fn class(&self) -> LockClass {
        self.class
    }

    /// Masks interrupts, then spins until the lock is free.
    pub fn lock(&self) -> IrqGuard<'_, T, M> {
        let state = M::save_and_disable();
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
        IrqGuard { lock: self, state }
    }

    /// Takes the lock only if it is free right now (for panic and fault paths).
    pub fn try_lock(&self) -> Option<IrqGuard<'_, T, M>> {
        let state = M::save_and_disable();
        if self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            Some(IrqGuard { lock: self, state })
        } else {
            M::restore(state);
            None
        }
    }
}

/// Holds an [`IrqSpinLock`]; unlocks and restores interrupts when dropped.
pub struct IrqGuard<'a, T, M: InterruptMask> {
    lock: &'a IrqSpinLock<T, M>,
    state: M::State,
}

impl<T, M: InterruptMask> Deref for IrqGuard<'_, T, M> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves this CPU holds the lock, so no other reference exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T, M: InterruptMask> DerefMut for IrqGuard<'_, T, M> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves this CPU holds the lock, so no other reference exists.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T, M: InterruptMask> Drop for IrqGuard<'_, T, M> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
        M::restore(self.state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_serialises() {
        let lock: IrqSpinLock<u32, NoMask> = IrqSpinLock::new(LockClass::Heap, 1);
        {
            let mut g = lock.lock();
            *g += 1;
            assert!(lock.try_lock().is_none());
        }
        assert_eq!(*lock.lock(), 2);
        assert_eq!(lock.class(), LockClass::Heap);
    }

    #[test]
    fn threads_share_a_counter() {
        static LOCK: IrqSpinLock<u64, NoMask> = IrqSpinLock::new(LockClass::Frames, 0);
        let handles: std::vec::Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..10_000 {
                        *LOCK.lock() += 1;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*LOCK.lock(), 40_000);
    }

    #[test]
    fn lock_order_checker() {
        let mut order = LockOrder::default();
        order.acquire(LockClass::Frames).unwrap();
        order.acquire(LockClass::Console).unwrap();
        let v = order.acquire(LockClass::Heap).unwrap_err();
        assert_eq!(v.acquiring, LockClass::Heap);
        assert_eq!(v.highest_held, LockClass::Console as u8);
        order.release(LockClass::Console);
        order.acquire(LockClass::Heap).unwrap();
        // Re-acquiring a held rank is also a violation (self-deadlock).
        assert!(order.acquire(LockClass::Heap).is_err());
    }
}
