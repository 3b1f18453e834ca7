// SPDX-License-Identifier: AGPL-3.0-or-later
//! The audit log: per-CPU lock-free buffers drained into one global ring.
//!
//! Every security decision and lifecycle event becomes a [`cambios_abi::audit::Event`]
//! (docs/abi/audit.md). Logging must be cheap and possible from any context — with any lock
//! held, inside the timer interrupt — so it never takes a lock and never waits:
//!
//! ```text
//! Audit::log(cpu, e) ──► CpuBuffer (one per CPU, lock-free SPSC)
//!                              │  Audit::drain (timer tick, and before every read)
//!                              ▼
//!                         Ring (newest RING events, global seq) ──► audit_read
//! ```
//!
//! # Who may call what
//!
//! | method | needs | where |
//! |---|---|---|
//! | [`Audit::log`], [`CpuBuffer::push`] | `&Audit` only (lock-free, never blocks) | the CPU `cpu`, anywhere |
//! | [`Audit::drain`], [`Audit::read_since`], [`Audit::read_newest`] | `&mut Ring` (the ring lock) | any CPU |
//! | [`Audit::stats`] | `&mut Ring` (the ring lock; drains first) | any CPU |
//! | [`Ring::stats`] | `&Ring` (the ring lock) | any CPU |
//! | [`Audit::dropped`] | `&Audit` only | anywhere |
//!
//! The kernel keeps an `Audit` in a plain `static` (all its state is atomic) and the
//! [`Ring`] in a `static` spin lock; both have `const` constructors. Holding the ring lock is
//! what makes the drain the single consumer of every [`CpuBuffer`].
//!
//! # CpuBuffer: why it is sound without locks
//!
//! A buffer is an array of slots, each an array of [`AtomicU64`] words holding one event (the
//! 64-byte record minus its reserved word), plus two monotonic 64-bit positions: `tail`
//! (written only by the producer) and `head` (written only by the consumer). Position `p`
//! lives in slot `p % N`; the buffer holds `head..tail`.
//!
//! * **push**: load `head` with Acquire; if `tail - head == N` the buffer is full: count a drop
//!   and return. Otherwise store the words of slot `tail % N` (Relaxed), then store
//!   `tail + 1` with **Release**.
//! * **pop**: load `tail` with Acquire; if it equals `head` the buffer is empty. Otherwise load
//!   the words of slot `head % N` (Relaxed), then store `head + 1` with **Release**.
//!
//! The producer's Release of `tail` pairs with the consumer's Acquire, so the consumer sees
//! every word of an event it pops. The consumer's Release of `head` pairs with the producer's
//! Acquire, so the consumer's reads of a slot happen before the producer overwrites it: a pop
//! can never see half of a newer event. Because the payload is atomic words (not a plain
//! `Event` in an `UnsafeCell`), even a broken caller cannot cause undefined behaviour, and the
//! module needs no `unsafe` at all.
//!
//! The protocol needs one producer and one consumer at a time. Each side is claimed with an
//! atomic flag (`swap`, never a wait): a second producer — an interrupt handler that logs
//! while the same CPU was inside `push` — gets [`Full`] and is counted as dropped, and a second
//! consumer sees an empty buffer. The kernel logs with interrupts masked so that this does not
//! happen in practice; if it does, the drop is counted, not silent.
//!
//! # Overflow accounting
//!
//! * A full per-CPU buffer drops the new event and counts it ([`CpuBuffer::dropped`]). Such
//!   events never get a `seq`; the drain copies the sum into [`Stats::dropped_at_cpus`].
//! * The ring keeps the newest `RING` events. An event pushed out before any reader copied it
//!   is counted in [`Stats::overwritten`]. `seq` numbers are consecutive, so a reader sees what
//!   it missed as a gap, and [`ReadResult::lost`] reports it explicitly.
//!
//! So `logged == Stats::total + Stats::dropped_at_cpus + (events still in per-CPU buffers)`.

#[cfg(test)]
mod tests;

mod cpu;
mod ring;

pub use cpu::{CpuBuffer, Full};
pub use ring::{ReadResult, Ring, Stats};

use core::sync::atomic::{AtomicU64, Ordering};

use cambios_abi::audit::Event;

/// Why [`Audit::log`] dropped an event (it is counted in [`Audit::dropped`] either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogError {
    /// The CPU index is not below `CPUS`.
    BadCpu,
    /// The CPU's buffer was full (or busy with another producer).
    Full,
}

/// The per-CPU half of the audit log: `CPUS` buffers of `PER_CPU` events each, feeding a
/// [`Ring`] of `RING` events that the caller keeps behind a lock.
pub struct Audit<const CPUS: usize, const PER_CPU: usize, const RING: usize> {
    cpus: [CpuBuffer<PER_CPU>; CPUS],
    /// Events logged with an out-of-range CPU index.
    misrouted: AtomicU64,
}

impl<const CPUS: usize, const PER_CPU: usize, const RING: usize> Default for Audit<CPUS, PER_CPU, RING> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CPUS: usize, const PER_CPU: usize, const RING: usize> Audit<CPUS, PER_CPU, RING> {
    /// Empty buffers (usable in a `static`).
    pub const fn new() -> Self {
        Audit { cpus: [const { CpuBuffer::new() }; CPUS], misrouted: AtomicU64::new(0) }
    }

    /// An empty ring of the matching size (usable in a `static`).
    pub const fn new_ring() -> Ring<RING> {
        Ring::new()
    }

    /// The buffer of `cpu`.
    pub fn cpu(&self, cpu: usize) -> Option<&CpuBuffer<PER_CPU>> {
        self.cpus.get(cpu)
    }

    /// Logs `event` on `cpu` (lock-free, never blocks; call it on CPU `cpu` only, ideally with
    /// interrupts masked). Stamps `event.cpu`; the `seq` is assigned later by the drain.
    pub fn log(&self, cpu: usize, mut event: Event) -> Result<(), LogError> {
        let Some(buffer) = self.cpus.get(cpu) else {
            self.misrouted.fetch_add(1, Ordering::Relaxed);
            return Err(LogError::BadCpu);
        };
        event.cpu = u16::try_from(cpu).unwrap_or(u16::MAX);
        buffer.push(event).map_err(|Full| LogError::Full)
    }

    /// Events dropped before reaching the ring: full (or busy) per-CPU buffers plus events
    /// logged with a bad CPU index.
    pub fn dropped(&self) -> u64 {
        self.cpus.iter().fold(self.misrouted.load(Ordering::Relaxed), |sum, b| sum.saturating_add(b.dropped()))
    }

    /// Moves the per-CPU events into `ring` (the caller holds the ring lock, which makes it the
    /// only consumer) and updates [`Stats::dropped_at_cpus`]; returns how many were moved.
    ///
    /// Events are merged by `time_ns` (oldest first, lower CPU first on ties); each CPU's own
    /// order is always kept. At most `CPUS * PER_CPU` events move per call, so a drain is
    /// bounded even while other CPUs keep logging.
    pub fn drain(&self, ring: &mut Ring<RING>) -> usize {
        let budget = CPUS.saturating_mul(PER_CPU);
        let mut moved = 0;
        for _ in 0..budget {
            let mut best: Option<(&CpuBuffer<PER_CPU>, u64)> = None;
            for buffer in &self.cpus {
                if let Some(t) = buffer.front_time()
                    && best.is_none_or(|(_, oldest)| t < oldest)
                {
                    best = Some((buffer, t));
                }
            }
            let Some(event) = best.and_then(|(buffer, _)| buffer.pop()) else { break };
            ring.push(event);
            moved += 1;
        }
        ring.set_dropped_at_cpus(self.dropped());
        moved
    }

    /// Drains, then [`Ring::read_since`].
    pub fn read_since(&self, ring: &mut Ring<RING>, seq: u64, out: &mut [Event]) -> ReadResult {
        self.drain(ring);
        ring.read_since(seq, out)
    }

    /// Drains, then [`Ring::read_newest`] (the `audit_read` syscall).
    pub fn read_newest(&self, ring: &mut Ring<RING>, out: &mut [Event]) -> usize {
        self.drain(ring);
        ring.read_newest(out)
    }

    /// Drains, then returns [`Ring::stats`].
    pub fn stats(&self, ring: &mut Ring<RING>) -> Stats {
        self.drain(ring);
        ring.stats()
    }
}
