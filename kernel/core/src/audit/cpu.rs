// SPDX-License-Identifier: AGPL-3.0-or-later
//! [`CpuBuffer`]: the lock-free single-producer/single-consumer ring of audit events of one CPU.
//!
//! See the [parent module](super) for the memory-ordering argument.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cambios_abi::audit::Event;

/// Number of 64-bit words a slot stores (the 64-byte record without its reserved word).
const WORDS: usize = 7;

/// Index of the `time_ns` word in a slot.
const TIME_WORD: usize = 1;

/// One slot: an event spread over atomic words, so a racing reader can never cause undefined
/// behaviour (at worst it would see a mix of two events, which the protocol rules out).
type Slot = [AtomicU64; WORDS];

/// The buffer had no free slot, or another producer was in the middle of a push on it (only
/// possible if the caller broke the one-producer rule, e.g. by logging from an interrupt that
/// interrupted a push). The event was dropped and counted in [`CpuBuffer::dropped`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// Packs an event into slot words.
fn encode(e: &Event) -> [u64; WORDS] {
    let principal = u128::from_le_bytes(e.principal);
    [
        e.seq,
        e.time_ns,
        e.kind as u64 | (e.cpu as u64) << 16 | (e.pid as u64) << 32,
        e.arg,
        e.arg2,
        principal as u64,
        (principal >> 64) as u64,
    ]
}

/// Unpacks slot words into an event.
fn decode(w: [u64; WORDS]) -> Event {
    let [seq, time_ns, packed, arg, arg2, lo, hi] = w;
    Event {
        seq,
        time_ns,
        kind: packed as u16,
        cpu: (packed >> 16) as u16,
        pid: (packed >> 32) as u32,
        arg,
        arg2,
        principal: ((hi as u128) << 64 | lo as u128).to_le_bytes(),
    }
}

/// A bounded FIFO of [`Event`]s for one CPU: one producer (the CPU's kernel code) and one
/// consumer (the drain, possibly on another CPU), neither ever blocking.
///
/// `push` fails instead of waiting when the buffer is full; every failed push increments
/// [`CpuBuffer::dropped`], so overflow is counted, never silent. A capacity of 0 is allowed
/// (every push is dropped).
pub struct CpuBuffer<const N: usize> {
    slots: [Slot; N],
    /// Position of the next event to pop (written by the consumer only).
    head: AtomicU64,
    /// Position of the next event to push (written by the producer only).
    tail: AtomicU64,
    /// Events refused by `push`.
    dropped: AtomicU64,
    /// Set while a producer is inside `push`.
    producing: AtomicBool,
    /// Set while a consumer is inside `pop` or `front_time`.
    consuming: AtomicBool,
}

impl<const N: usize> Default for CpuBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> CpuBuffer<N> {
    /// An empty buffer (usable in a `static`).
    pub const fn new() -> Self {
        CpuBuffer {
            slots: [const { [const { AtomicU64::new(0) }; WORDS] }; N],
            head: AtomicU64::new(0),
            tail: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            producing: AtomicBool::new(false),
            consuming: AtomicBool::new(false),
        }
    }

    /// The number of events the buffer holds when full.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The slot of position `pos`, `None` only when the capacity is 0.
    fn slot(&self, pos: u64) -> Option<&Slot> {
        let index = pos.checked_rem(N as u64)?;
        self.slots.get(usize::try_from(index).ok()?)
    }

    /// Appends `event` without blocking. On [`Full`] the event is dropped and counted.
    pub fn push(&self, event: Event) -> Result<(), Full> {
        // Claim the producer side. A second producer (a broken caller) drops instead of
        // racing; Acquire pairs with the Release below so successive producers see each
        // other's `tail`.
        if self.producing.swap(true, Ordering::Acquire) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(Full);
        }
        let result = self.push_claimed(event);
        self.producing.store(false, Ordering::Release);
        if result.is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn push_claimed(&self, event: Event) -> Result<(), Full> {
        let tail = self.tail.load(Ordering::Relaxed);
        // Acquire pairs with the consumer's Release store of `head`: its reads of the slot we
        // are about to reuse happen before our writes.
        let head = self.head.load(Ordering::Acquire);
        if tail.wrapping_sub(head) >= N as u64 {
            return Err(Full);
        }
        let slot = self.slot(tail).ok_or(Full)?;
        for (word, value) in slot.iter().zip(encode(&event)) {
            word.store(value, Ordering::Relaxed);
        }
        // Release publishes the words to the consumer's Acquire load of `tail`.
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Runs `f` with the consumer side claimed; `None` if another consumer holds it.
    fn consume<T>(&self, f: impl FnOnce() -> Option<T>) -> Option<T> {
        if self.consuming.swap(true, Ordering::Acquire) {
            return None;
        }
        let result = f();
        self.consuming.store(false, Ordering::Release);
        result
    }

    /// The slot of the oldest event, if there is one (consumer side).
    fn front(&self) -> Option<(u64, &Slot)> {
        let head = self.head.load(Ordering::Relaxed);
        // Acquire pairs with the producer's Release store of `tail`: the slot's words are
        // visible once the new tail is.
        let tail = self.tail.load(Ordering::Acquire);
        if head == tail {
            return None;
        }
        Some((head, self.slot(head)?))
    }

    /// Removes and returns the oldest event, or `None` when empty (or when another consumer is
    /// inside `pop` right now).
    pub fn pop(&self) -> Option<Event> {
        self.consume(|| {
            let (head, slot) = self.front()?;
            let mut words = [0u64; WORDS];
            for (value, word) in words.iter_mut().zip(slot.iter()) {
                *value = word.load(Ordering::Relaxed);
            }
            // Release: the reads above happen before the producer reuses the slot.
            self.head.store(head.wrapping_add(1), Ordering::Release);
            Some(decode(words))
        })
    }

    /// The `time_ns` of the oldest event without removing it (what the drain merges by).
    pub fn front_time(&self) -> Option<u64> {
        self.consume(|| {
            let (_, slot) = self.front()?;
            Some(slot.get(TIME_WORD)?.load(Ordering::Relaxed))
        })
    }

    /// The number of events held (a snapshot).
    pub fn len(&self) -> usize {
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        usize::try_from(tail.saturating_sub(head)).unwrap_or(usize::MAX).min(N)
    }

    /// True when the buffer holds no event (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of events accepted by `push` since creation.
    pub fn accepted(&self) -> u64 {
        self.tail.load(Ordering::Relaxed)
    }

    /// The number of events refused by `push` since creation.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
pub(super) fn round_trip(e: &Event) -> Event {
    decode(encode(e))
}
