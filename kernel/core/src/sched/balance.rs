// SPDX-License-Identifier: AGPL-3.0-or-later
//! CPU affinity ([`CpuSet`], [`Scheduler::set_affinity`]) and load balancing
//! ([`Scheduler::balance`]) for the scheduler.

use super::{Priority, SchedError, Scheduler, ThreadId, ThreadState};

/// A set of CPUs `0..64` as a bit mask (bit `n` is CPU `n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CpuSet(u64);

impl CpuSet {
    /// How many CPUs a set can name (CPUs `0..CAPACITY`).
    pub const CAPACITY: usize = 64;

    /// The set without any CPU.
    pub const EMPTY: CpuSet = CpuSet(0);

    /// Every CPU `0..64`.
    pub const fn all() -> CpuSet {
        CpuSet(u64::MAX)
    }

    /// Only `cpu` (empty when `cpu` is 64 or more).
    pub const fn single(cpu: usize) -> CpuSet {
        CpuSet(bit(cpu))
    }

    /// The set whose bit mask is `bits`.
    pub const fn from_bits(bits: u64) -> CpuSet {
        CpuSet(bits)
    }

    /// The bit mask.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// This set plus `cpu` (unchanged when `cpu` is 64 or more).
    #[must_use]
    pub const fn with(self, cpu: usize) -> CpuSet {
        CpuSet(self.0 | bit(cpu))
    }

    /// This set without `cpu`.
    #[must_use]
    pub const fn without(self, cpu: usize) -> CpuSet {
        CpuSet(self.0 & !bit(cpu))
    }

    /// True when `cpu` is in the set.
    pub const fn contains(self, cpu: usize) -> bool {
        self.0 & bit(cpu) != 0
    }

    /// True when the set has no CPU.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of CPUs in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The lowest CPU of the set.
    pub const fn first(self) -> Option<usize> {
        if self.0 == 0 { None } else { Some(self.0.trailing_zeros() as usize) }
    }

    /// The CPUs of the set, lowest first.
    pub const fn iter(self) -> CpuSetIter {
        CpuSetIter(self.0)
    }
}

impl IntoIterator for CpuSet {
    type Item = usize;
    type IntoIter = CpuSetIter;

    fn into_iter(self) -> CpuSetIter {
        self.iter()
    }
}

/// Iterator over the CPUs of a [`CpuSet`], lowest first (at most 64 steps).
#[derive(Clone, Debug)]
pub struct CpuSetIter(u64);

impl Iterator for CpuSetIter {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let cpu = CpuSet(self.0).first()?;
        self.0 &= self.0 - 1;
        Some(cpu)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = CpuSet(self.0).len();
        (n, Some(n))
    }
}

impl ExactSizeIterator for CpuSetIter {}

const fn bit(cpu: usize) -> u64 {
    if cpu < CpuSet::CAPACITY { 1 << cpu } else { 0 }
}

/// What [`Scheduler::set_affinity`] did with the thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AffinityChange {
    /// Its CPU is in the new set: nothing moved.
    Stays,
    /// It was ready or blocked and moved to CPU `to`, the first CPU of the new set.
    Migrated {
        /// The CPU it now belongs to.
        to: usize,
    },
    /// It is its CPU's current thread (or that CPU has not confirmed the switch away from
    /// it): it keeps running, [`Scheduler::needs_reschedule`] becomes true for that CPU, and
    /// it moves to the first CPU of the new set at the next switch away from it (in
    /// [`Scheduler::switch_done`]).
    MoveAtNextSwitch,
}

/// A ready thread moved by [`Scheduler::balance`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migration {
    /// The thread moved.
    pub thread: ThreadId,
    /// The CPU it left.
    pub from: usize,
    /// The CPU it now waits on (at the tail of its band).
    pub to: usize,
}

impl<const THREADS: usize, const CPUS: usize> Scheduler<THREADS, CPUS> {
    /// The CPUs the thread may be placed on.
    pub fn affinity(&self, id: ThreadId) -> Result<CpuSet, SchedError> {
        let i = self.resolve(id)?;
        Ok(self.slot(i)?.affinity)
    }

    /// Restricts the thread to the CPUs of `set`, which must hold at least one CPU of this
    /// scheduler ([`SchedError::AffinityViolation`] otherwise; nothing changes). When its
    /// CPU stays in the set nothing moves; a ready or blocked thread on a CPU outside the set
    /// moves to the set's first CPU (a sleeper keeps its deadline); a running one moves at
    /// its next switch (see [`AffinityChange::MoveAtNextSwitch`]). Refused for idle and
    /// exited threads.
    pub fn set_affinity(&mut self, id: ThreadId, set: CpuSet) -> Result<AffinityChange, SchedError> {
        let i = self.resolve(id)?;
        let s = *self.slot(i)?;
        if s.priority == Priority::Idle {
            return Err(SchedError::IdleThread);
        }
        if matches!(s.state, ThreadState::Exited(_)) {
            return Err(SchedError::ThreadExited);
        }
        let to = self.allowed_cpu(set)?;
        self.relink(i, |s| s.affinity = set)?;
        if set.contains(s.cpu) {
            return Ok(AffinityChange::Stays);
        }
        if self.is_current(i)? || self.is_switching_from(i)? {
            return Ok(AffinityChange::MoveAtNextSwitch);
        }
        self.relink(i, |s| s.cpu = to)?;
        Ok(AffinityChange::Migrated { to })
    }

    /// Runnable threads of `cpu`: its ready threads plus its current thread when that is
    /// running and not the idle thread (idle threads never count).
    pub fn runnable(&self, cpu: usize) -> Result<usize, SchedError> {
        let c = self.cpu(cpu)?;
        let ready: usize = c.queues.iter().skip(Priority::Low.band()).map(|q| q.len).sum();
        let running = match c.online {
            Some(o) if o.current != o.idle && self.slot(o.current)?.state == ThreadState::Running => 1,
            _ => 0,
        };
        Ok(ready + running)
    }

    /// Where a new thread with `affinity` should start: the started CPU of the set with the
    /// fewest [`Scheduler::runnable`] threads (ties: lowest index). Before any CPU of the set
    /// has started, its first CPU ([`SchedError::AffinityViolation`] when the set holds no
    /// CPU of this scheduler).
    pub fn place(&self, affinity: CpuSet) -> Result<usize, SchedError> {
        let mut loads = [None; CPUS];
        for (c, load) in loads.iter_mut().enumerate() {
            if self.cpu(c)?.online.is_some() {
                *load = Some(self.runnable(c)?);
            }
        }
        match least_loaded(affinity, &loads) {
            Some(c) => Ok(c),
            None => self.allowed_cpu(affinity),
        }
    }

    /// Moves at most one ready thread between started CPUs to even out their
    /// [`Scheduler::runnable`] counts, and returns the move.
    ///
    /// Source CPUs are tried busiest first (ties: lowest index). On a source, candidates are
    /// its ready threads from the lowest band up, tail first (the ones that would wait
    /// longest); idle threads, running threads and a thread whose switch away is not
    /// confirmed yet are never moved. A candidate goes to the least loaded started CPU its
    /// affinity allows (ties: lowest index), provided that CPU has at least two fewer
    /// runnable threads than the source, so a move never just swaps the imbalance. `None`
    /// when no such move exists, i.e. the CPUs are balanced as far as affinities allow.
    /// The kernel should then check [`Scheduler::needs_reschedule`] on the target CPU.
    pub fn balance(&mut self) -> Result<Option<Migration>, SchedError> {
        let mut loads = [None; CPUS];
        for (c, load) in loads.iter_mut().enumerate() {
            if self.cpu(c)?.online.is_some() {
                *load = Some(self.runnable(c)?);
            }
        }
        let mut tried = CpuSet::EMPTY;
        for _ in 0..CPUS {
            let busiest = loads
                .iter()
                .enumerate()
                .filter(|&(c, _)| !tried.contains(c))
                .filter_map(|(c, l)| l.map(|l| (c, l)))
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
            let Some((from, load)) = busiest else { break };
            if load < 2 {
                break;
            }
            tried = tried.with(from);
            if let Some((i, to)) = self.balance_candidate(from, load, &loads)? {
                self.relink(i, |s| s.cpu = to)?;
                return Ok(Some(Migration { thread: self.id_of(i)?, from, to }));
            }
        }
        Ok(None)
    }

    /// The first thread of `from` (carrying `load`) that [`Scheduler::balance`] may move, and
    /// where to.
    fn balance_candidate(
        &self,
        from: usize,
        load: usize,
        loads: &[Option<usize>; CPUS],
    ) -> Result<Option<(usize, usize)>, SchedError> {
        let c = self.cpu(from)?;
        let pending = c.online.and_then(|o| o.switching_from);
        for q in c.queues.iter().skip(Priority::Low.band()) {
            let mut at = q.tail;
            for _ in 0..q.len {
                let Some(i) = at else { break };
                let s = self.slot(i)?;
                if pending != Some(i)
                    && let Some(to) = least_loaded(s.affinity.without(from), loads)
                    && loads.get(to).copied().flatten().is_some_and(|l| l + 2 <= load)
                {
                    return Ok(Some((i, to)));
                }
                at = s.prev;
            }
        }
        Ok(None)
    }
}

/// The started CPU of `set` with the lowest load (ties: lowest index).
fn least_loaded(set: CpuSet, loads: &[Option<usize>]) -> Option<usize> {
    set.iter().filter_map(|c| loads.get(c).copied().flatten().map(|l| (l, c))).min().map(|(_, c)| c)
}
