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
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Polls `done` until it returns true, at most `limit` times (with a spin-loop hint between
/// polls); true when `done` succeeded. The one bounded busy-wait for device registers and
/// reference clocks: callers turn `false` into their typed timeout error.
pub fn spin_until(limit: u32, mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..limit {
        if done() {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// Masks and restores interrupts on the current CPU.
pub trait InterruptMask {
    /// Saved interrupt state.
    type State: Copy;
    /// Disables interrupts and returns the previous state.
    fn save_and_disable() -> Self::State;
    /// Restores a state returned by `save_and_disable`.
    fn restore(state: Self::State);
    /// Called with interrupts masked right after a lock of `class` is taken (lock-order
    /// checking hook; the default does nothing).
    fn on_acquire(_class: LockClass) {}
    /// Called with interrupts still masked right before a lock of `class` is released.
    fn on_release(_class: LockClass) {}
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
    /// The process table: processes, their address spaces and region lists.
    Processes = 2,
    /// One IPC endpoint's queue and waiters (one endpoint lock at a time).
    Endpoint = 3,
    /// The table of pending calls (reply tokens).
    Replies = 4,
    /// The scheduler and the thread table (taken in the timer interrupt).
    Scheduler = 5,
    /// Boot-time state handed from one half of the boot to the other.
    Boot = 6,
    /// Kernel heap (below `Frames`: a growing heap may take frames while it holds its lock).
    Heap = 8,
    /// Frame allocator and memory bookkeeping.
    Frames = 10,
    /// Per-CPU timer state (deadlines), taken in the timer interrupt.
    Timer = 60,
    /// The global audit ring (the per-CPU buffers need no lock).
    Audit = 70,
    /// The boot monitor's line editor.
    MonitorLine = 80,
    /// Serial console output and the log (any code may log while holding the locks above).
    Console = 90,
    /// Serial input ring filled by the receive interrupt (innermost).
    SerialInput = 95,
}

impl LockClass {
    /// Name used in lock-order violation reports.
    pub const fn name(self) -> &'static str {
        match self {
            LockClass::Processes => "Processes",
            LockClass::Endpoint => "Endpoint",
            LockClass::Replies => "Replies",
            LockClass::Scheduler => "Scheduler",
            LockClass::Boot => "Boot",
            LockClass::Frames => "Frames",
            LockClass::Timer => "Timer",
            LockClass::Audit => "Audit",
            LockClass::Heap => "Heap",
            LockClass::MonitorLine => "MonitorLine",
            LockClass::Console => "Console",
            LockClass::SerialInput => "SerialInput",
        }
    }
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

/// [`LockOrder`] for one CPU, usable from a `static` through shared references.
///
/// The kernel keeps one per CPU and updates it from [`InterruptMask::on_acquire`] and
/// [`InterruptMask::on_release`], which run with interrupts masked, so the CPU's own updates
/// never race. A violation is not fatal here (the hook runs inside lock acquisition, where
/// printing could recurse into the console lock): it is counted and the first one is kept for
/// the boot log, the monitor and the self-tests to report.
#[derive(Debug, Default)]
pub struct LockOrderTracker {
    held: [AtomicU64; 2],
    violations: AtomicU64,
    first: AtomicU32,
}

impl LockOrderTracker {
    /// A tracker holding nothing.
    pub const fn new() -> Self {
        LockOrderTracker {
            held: [AtomicU64::new(0), AtomicU64::new(0)],
            violations: AtomicU64::new(0),
            first: AtomicU32::new(0),
        }
    }

    fn load(&self) -> LockOrder {
        let lo = self.held[0].load(Ordering::Relaxed) as u128;
        let hi = self.held[1].load(Ordering::Relaxed) as u128;
        LockOrder { held: lo | (hi << 64) }
    }

    fn store(&self, order: &LockOrder) {
        self.held[0].store(order.held as u64, Ordering::Relaxed);
        self.held[1].store((order.held >> 64) as u64, Ordering::Relaxed);
    }

    /// Records that `class` was taken, checking the order; true when that was a violation.
    pub fn acquire(&self, class: LockClass) -> bool {
        let mut order = self.load();
        let violated = if let Err(v) = order.acquire(class) {
            if self.violations.fetch_add(1, Ordering::Relaxed) == 0 {
                self.first.store(((v.acquiring as u32) << 8) | v.highest_held as u32, Ordering::Relaxed);
            }
            // Record the lock as held anyway so the release stays balanced.
            order.held |= 1u128 << (class as u8);
            true
        } else {
            false
        };
        self.store(&order);
        violated
    }

    /// Records that `class` was released.
    pub fn release(&self, class: LockClass) {
        let mut order = self.load();
        order.release(class);
        self.store(&order);
    }

    /// Number of violations seen, and the ranks of the first one (acquiring, highest held).
    pub fn violations(&self) -> (u64, Option<(u8, u8)>) {
        let n = self.violations.load(Ordering::Relaxed);
        let first = self.first.load(Ordering::Relaxed);
        (n, (n > 0).then_some(((first >> 8) as u8, first as u8)))
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

    /// Masks interrupts, checks the lock order, then spins until the lock is free. The order
    /// is checked before spinning, so an acquisition that could deadlock is reported
    /// ([`InterruptMask::on_acquire`]) even if it then never gets the lock.
    pub fn lock(&self) -> IrqGuard<'_, T, M> {
        let state = M::save_and_disable();
        M::on_acquire(self.class);
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
            M::on_acquire(self.class);
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
        M::on_release(self.lock.class);
        self.lock.locked.store(false, Ordering::Release);
        M::restore(self.state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_until_is_bounded() {
        let mut polls = 0;
        assert!(!spin_until(5, || {
            polls += 1;
            false
        }));
        assert_eq!(polls, 5);
        let mut polls = 0;
        assert!(spin_until(5, || {
            polls += 1;
            polls == 3
        }));
        assert_eq!(polls, 3);
        assert!(!spin_until(0, || true), "a zero limit polls nothing");
    }

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
    fn tracker_counts_violations_and_stays_balanced() {
        let t = LockOrderTracker::new();
        t.acquire(LockClass::Frames);
        t.acquire(LockClass::Console);
        t.release(LockClass::Console);
        assert_eq!(t.violations(), (0, None));
        t.acquire(LockClass::SerialInput);
        t.acquire(LockClass::Heap); // Heap after SerialInput: out of order
        assert_eq!(t.violations(), (1, Some((LockClass::Heap as u8, LockClass::SerialInput as u8))));
        t.release(LockClass::Heap);
        t.release(LockClass::SerialInput);
        t.release(LockClass::Frames);
        t.acquire(LockClass::Heap);
        assert_eq!(t.violations().0, 1);
    }

    #[test]
    fn lock_order_checker() {
        let mut order = LockOrder::default();
        order.acquire(LockClass::Frames).unwrap();
        order.acquire(LockClass::Console).unwrap();
        let v = order.acquire(LockClass::Timer).unwrap_err();
        assert_eq!(v.acquiring, LockClass::Timer);
        assert_eq!(v.highest_held, LockClass::Console as u8);
        order.release(LockClass::Console);
        order.acquire(LockClass::Timer).unwrap();
        // Re-acquiring a held rank is also a violation (self-deadlock).
        assert!(order.acquire(LockClass::Timer).is_err());
        // The heap ranks below the frame allocator: allocating from the heap while holding
        // the frame allocator is out of order.
        assert!(order.acquire(LockClass::Heap).is_err());
    }
}
