// SPDX-License-Identifier: AGPL-3.0-or-later
//! [`Ring`]: the global audit ring that keeps the newest events and numbers them.
//!
//! Plain data behind `&mut self`: the kernel keeps it behind one spin lock.

use cambios_abi::audit::Event;

/// An empty record (the contents of never-written slots).
const EMPTY: Event = Event { seq: 0, time_ns: 0, kind: 0, cpu: 0, pid: 0, arg: 0, arg2: 0, principal: [0; 16] };

/// What [`Ring::read_since`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadResult {
    /// Events copied to the front of the output slice (consecutive `seq`, oldest first).
    pub copied: usize,
    /// The `seq` to pass to the next call to continue where this one stopped.
    pub next_seq: u64,
    /// Events the reader missed: they were between the `seq` it asked for and the oldest event
    /// still held, and were overwritten before it read them.
    pub lost: u64,
}

/// Counters of the whole audit pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Events that reached the ring since boot (= the `seq` the next one gets).
    pub total: u64,
    /// Events dropped before reaching the ring — at full per-CPU buffers, or logged with a bad
    /// CPU index — as of the last drain. They never got a `seq`.
    pub dropped_at_cpus: u64,
    /// Events pushed out of the ring before any reader copied them.
    pub overwritten: u64,
    /// The number of events the ring holds when full.
    pub capacity: usize,
}

/// The newest `N` audit events, numbered with consecutive global `seq` numbers from 0.
///
/// The event with sequence number `s` lives in slot `s % N`; the ring holds the sequence
/// numbers `oldest_seq()..next_seq()`. A per-slot flag remembers whether any reader copied the
/// event, so [`Stats::overwritten`] counts exactly the events nobody saw.
pub struct Ring<const N: usize> {
    events: [Event; N],
    read: [bool; N],
    next_seq: u64,
    overwritten: u64,
    dropped_at_cpus: u64,
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Ring<N> {
    /// An empty ring (usable in a `static`).
    pub const fn new() -> Self {
        Ring { events: [EMPTY; N], read: [false; N], next_seq: 0, overwritten: 0, dropped_at_cpus: 0 }
    }

    /// The number of events the ring holds when full.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The `seq` the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The `seq` of the oldest event still held (`== next_seq()` when empty).
    pub fn oldest_seq(&self) -> u64 {
        self.next_seq.saturating_sub(N as u64)
    }

    /// The number of events held.
    pub fn len(&self) -> usize {
        usize::try_from(self.next_seq - self.oldest_seq()).unwrap_or(N)
    }

    /// True when no event was ever pushed.
    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }

    /// Slot index of `seq`; `None` only when the capacity is 0.
    fn index(seq: u64) -> Option<usize> {
        usize::try_from(seq.checked_rem(N as u64)?).ok()
    }

    /// Appends `event`, giving it the next `seq` (which is returned); the oldest event is pushed
    /// out when the ring is full, and counted in [`Stats::overwritten`] if nobody read it.
    pub fn push(&mut self, mut event: Event) -> u64 {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        event.seq = seq;
        let unread_evicted = match Self::index(seq) {
            Some(i) => {
                // Slot `i` holds seq - N (if seq >= N): that event is pushed out now.
                let evicted = seq >= N as u64 && !self.read.get(i).copied().unwrap_or(true);
                if let (Some(slot), Some(read)) = (self.events.get_mut(i), self.read.get_mut(i)) {
                    *slot = event;
                    *read = false;
                }
                evicted
            }
            // A ring of capacity 0 pushes every event out at once.
            None => true,
        };
        if unread_evicted {
            self.overwritten = self.overwritten.saturating_add(1);
        }
        seq
    }

    /// Copies events `first..first + out.len()` (clamped to what is held) to `out`, marking
    /// them read; returns how many.
    fn copy_from(&mut self, first: u64, out: &mut [Event]) -> usize {
        let available = self.next_seq.saturating_sub(first);
        let count = usize::try_from(available).unwrap_or(usize::MAX).min(out.len());
        let mut copied = 0;
        for (seq, dst) in (first..).zip(out.iter_mut().take(count)) {
            let Some(i) = Self::index(seq) else { break };
            if let (Some(src), Some(read)) = (self.events.get(i), self.read.get_mut(i)) {
                *dst = *src;
                *read = true;
                copied += 1;
            }
        }
        copied
    }

    /// Copies the events with `seq >= seq` (oldest first, as many as fit in `out`) and says
    /// where to continue and how many events the reader missed because they were overwritten.
    ///
    /// A `seq` beyond [`Ring::next_seq`] is treated as `next_seq()` (nothing to copy). With an
    /// empty `out`, the result still reports `lost` and a `next_seq` past the lost events.
    pub fn read_since(&mut self, seq: u64, out: &mut [Event]) -> ReadResult {
        let oldest = self.oldest_seq();
        let asked = seq.min(self.next_seq);
        let lost = oldest.saturating_sub(asked);
        let first = asked.max(oldest);
        let copied = self.copy_from(first, out);
        ReadResult { copied, next_seq: first + copied as u64, lost }
    }

    /// Copies the newest `min(out.len(), len())` events, oldest first, and returns how many
    /// (what `audit_read` does; gaps between calls show in `seq`).
    pub fn read_newest(&mut self, out: &mut [Event]) -> usize {
        let held = self.len().min(out.len());
        let first = self.next_seq - held as u64;
        self.copy_from(first, out)
    }

    /// Records the current total of events dropped at the per-CPU buffers (a monotonic sum the
    /// drain computes).
    pub fn set_dropped_at_cpus(&mut self, total: u64) {
        self.dropped_at_cpus = self.dropped_at_cpus.max(total);
    }

    /// The pipeline counters.
    pub fn stats(&self) -> Stats {
        Stats {
            total: self.next_seq,
            dropped_at_cpus: self.dropped_at_cpus,
            overwritten: self.overwritten,
            capacity: N,
        }
    }
}
