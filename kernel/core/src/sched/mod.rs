// SPDX-License-Identifier: AGPL-3.0-or-later
//! Thread scheduler bookkeeping: per-CPU run queues, priority bands, sleeps, blocking and
//! deferred reclamation of exited threads.
//!
//! [`Scheduler`] decides *which* thread runs where; it never touches a stack or a register.
//! The kernel holds it inside one interrupt-safe spin lock and keeps each thread's stack and
//! saved context in its own table indexed by [`ThreadId::slot`]. Everything is sized by the
//! const generics `THREADS` (slots) and `CPUS`; nothing allocates.
//!
//! # Model
//!
//! * A [`ThreadId`] is a slot index plus a generation. Releasing a slot bumps its generation,
//!   so an old id is refused ([`SchedError::StaleId`]) by every operation. Never-used slots
//!   are handed out first, then released slots, oldest release first.
//! * [`Priority`] has four bands: [`Priority::Idle`] is reserved for the idle threads, then
//!   `Low`, `Normal`, `High`. A CPU runs the head of its highest non-empty band; inside a band
//!   threads take turns in FIFO order, one quantum (`quantum_ticks` timer ticks) each.
//! * Every CPU has its own queues, its own sleeper list and its own idle thread, which sits
//!   alone in the idle band and therefore runs only when nothing else is ready on that CPU.
//!   A thread stays on its CPU until [`Scheduler::migrate`], [`Scheduler::set_affinity`] or
//!   [`Scheduler::balance`] moves it.
//! * Every thread has an affinity, a [`CpuSet`] (all CPUs for [`Scheduler::create`], only its
//!   own CPU for an idle thread). A thread is never placed on a CPU outside its set; the one
//!   exception is a running thread whose set was changed under it: it keeps running until
//!   its CPU switches away, and [`Scheduler::switch_done`] then moves it to the first CPU of
//!   its set. CPU numbers are limited to `0..64` ([`CpuSet::CAPACITY`]).
//! * [`Scheduler::balance`] moves at most one ready thread per call from a busy CPU to a
//!   CPU with at least two fewer runnable threads ([`Scheduler::runnable`]); the kernel
//!   calls it periodically and decides how often.
//! * Deadlines are absolute values in the unit of `now` given to [`Scheduler::tick`] (the
//!   kernel uses nanoseconds of the monotonic clock). A thread blocks with or without one.
//!
//! # States
//!
//! | from | event | to |
//! |---|---|---|
//! | `Free` | [`Scheduler::create`], [`Scheduler::create_with_affinity`] | `Ready` (tail of its band) |
//! | `Free` | [`Scheduler::add_idle`] | `Running` (the CPU's first current thread) |
//! | `Ready` | [`Scheduler::schedule`] picks it | `Running`, fresh quantum |
//! | `Running` | `schedule` preempts it (quantum used, or a higher band is ready) | `Ready` (tail) |
//! | `Running` | [`Scheduler::block_current`] | `Blocked(reason)` |
//! | `Blocked` | [`Scheduler::wake`] | `Ready`, cause `Woken`, timeout cancelled |
//! | `Blocked` | `tick` with `deadline <= now` | `Ready`, cause `TimedOut` |
//! | `Running` | [`Scheduler::exit_current`] | `Exited(Departing)` |
//! | `Exited(Departing)` | [`Scheduler::switch_done`] after the switch away from it | `Exited(Reapable)` |
//! | `Exited(Reapable)` | [`Scheduler::take_reapable`] | `Exited(Reaped)` |
//! | `Exited(Reapable \| Reaped)` | [`Scheduler::release`] | `Free`, generation + 1 |
//! | `Ready \| Blocked` | [`Scheduler::migrate`] to a CPU of its set | same state on that CPU (tail; sleepers keep their deadline) |
//! | `Ready \| Blocked` | [`Scheduler::set_affinity`] without its CPU | same state on the set's first CPU |
//! | `Running` | `set_affinity` without its CPU ([`AffinityChange::MoveAtNextSwitch`]) | `Running` until `schedule` switches away (it is not picked again), then moved by `switch_done` |
//! | `Ready` | [`Scheduler::balance`] picks it | `Ready`, tail of its band on a less loaded CPU |
//!
//! A thread that blocks stays its CPU's current thread until `schedule` switches away; if it
//! is woken in between, it goes straight back to `Running` (no lost wakeup). Where a thread
//! is: `Ready` threads are in exactly one run queue, `Running` ones are exactly their CPU's
//! current thread, `Blocked` ones with a deadline are in their CPU's sleeper list (sorted by
//! deadline), `Exited(Reapable)` ones are in their CPU's reap list, released slots are in the
//! free list. The host tests check this after every step of a randomized run.
//!
//! # Reclamation rule
//!
//! A thread that called [`Scheduler::exit_current`] is still executing on its kernel stack
//! until its CPU has switched to another thread. [`Scheduler::schedule`] returns the
//! [`Switch`]; the kernel performs it and then, on the new thread, calls
//! [`Scheduler::switch_done`] (a new thread's entry path must call it first). Only then does
//! an exited thread become reapable, and [`Scheduler::take_reapable`] hands it out once.
//! The kernel frees the stack and calls [`Scheduler::release`]; a slot is never reused
//! before that. Until `switch_done`, `schedule` refuses to run again on that CPU
//! ([`SchedError::SwitchPending`]) and the outgoing thread cannot be migrated (nor moved by
//! `set_affinity` or `balance`: an affinity move waits for `switch_done`).

mod balance;
#[cfg(test)]
mod tests;

use core::fmt;

pub use balance::{AffinityChange, CpuSet, CpuSetIter, Migration};

/// Number of priority bands (the idle band included).
pub const BANDS: usize = 4;

/// Largest generation: generations use 31 bits, so a raw id is always a positive `i64`.
pub const MAX_GENERATION: u32 = 0x7fff_ffff;

/// Why a scheduler operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedError {
    /// The CPU index is not below the scheduler's CPU count.
    BadCpu,
    /// Every thread slot is in use.
    TableFull,
    /// The value is not a thread id of this scheduler (malformed, or slot out of range).
    InvalidId,
    /// The thread was released: its slot is free or belongs to a newer thread.
    StaleId,
    /// The CPU already has an idle thread.
    IdleExists,
    /// The CPU has no idle thread yet, hence no current thread.
    NotStarted,
    /// [`Priority::Idle`] is reserved for idle threads.
    IdlePriority,
    /// The operation is not allowed on an idle thread.
    IdleThread,
    /// The CPU's current thread has already blocked or exited.
    NotRunning,
    /// The CPU's last switch was not confirmed with [`Scheduler::switch_done`] yet.
    SwitchPending,
    /// The thread is running, or has blocked but is still its CPU's current thread.
    ThreadRunning,
    /// The thread has exited.
    ThreadExited,
    /// The thread is alive, or exited but its CPU has not switched away from it yet.
    NotReapable,
    /// The scheduler's internal lists are inconsistent (a bug).
    Corrupted,
    /// The CPU is not in the thread's affinity set, or the set holds no CPU of this
    /// scheduler.
    AffinityViolation,
}

impl SchedError {
    /// A short human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            SchedError::BadCpu => "CPU index out of range",
            SchedError::TableFull => "thread table full",
            SchedError::InvalidId => "not a thread id",
            SchedError::StaleId => "thread id refers to a released thread",
            SchedError::IdleExists => "CPU already has an idle thread",
            SchedError::NotStarted => "CPU has no idle thread yet",
            SchedError::IdlePriority => "idle priority is reserved for idle threads",
            SchedError::IdleThread => "not allowed on an idle thread",
            SchedError::NotRunning => "current thread has already blocked or exited",
            SchedError::SwitchPending => "previous context switch not confirmed yet",
            SchedError::ThreadRunning => "thread is still on its CPU",
            SchedError::ThreadExited => "thread has exited",
            SchedError::NotReapable => "thread is not reapable yet",
            SchedError::Corrupted => "scheduler bookkeeping is inconsistent",
            SchedError::AffinityViolation => "CPU not allowed by the thread's affinity",
        }
    }
}

impl fmt::Display for SchedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A thread: slot index in bits 0..32, generation (1..=[`MAX_GENERATION`]) in bits 32..63.
///
/// Bit 63 is always clear and the raw value is never 0, so a raw id fits a positive syscall
/// result and 0 can mean "no thread".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId(u64);

impl ThreadId {
    const fn new(slot: u32, generation: u32) -> ThreadId {
        ThreadId(((generation as u64) << 32) | slot as u64)
    }

    /// The slot index (the kernel's per-thread table is indexed by it).
    pub const fn slot(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }

    /// The generation of the slot this id was handed out with.
    pub const fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The packed value.
    pub const fn as_raw(self) -> u64 {
        self.0
    }

    /// Unpacks a value from [`ThreadId::as_raw`]. Only the encoding is checked here; the
    /// scheduler checks the slot range and the generation when the id is used.
    pub const fn from_raw(raw: u64) -> Result<ThreadId, SchedError> {
        let generation = raw >> 32;
        if generation == 0 || generation > MAX_GENERATION as u64 {
            return Err(SchedError::InvalidId);
        }
        Ok(ThreadId(raw))
    }
}

impl fmt::Display for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.slot(), self.generation())
    }
}

/// A priority band, lowest first. Higher bands always run first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Priority {
    /// Reserved for the per-CPU idle threads.
    Idle = 0,
    /// Background work.
    Low = 1,
    /// Ordinary threads.
    Normal = 2,
    /// Latency-sensitive threads.
    High = 3,
}

impl Priority {
    /// Every band, lowest first.
    pub const ALL: [Priority; BANDS] = [Priority::Idle, Priority::Low, Priority::Normal, Priority::High];

    /// The band index, `0..BANDS`.
    pub const fn band(self) -> usize {
        self as usize
    }

    /// The priority of band `band`.
    pub const fn from_band(band: usize) -> Option<Priority> {
        match band {
            0 => Some(Priority::Idle),
            1 => Some(Priority::Low),
            2 => Some(Priority::Normal),
            3 => Some(Priority::High),
            _ => None,
        }
    }

    /// The band's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::Idle => "idle",
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }
}

/// What a blocked thread waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockReason {
    /// A plain sleep, normally with a deadline.
    Sleep,
    /// A child process exiting (the value is the process id the kernel chose).
    ChildWait(u32),
    /// Any other wait (IPC and later), with a value the kernel chooses.
    Generic(u32),
}

/// Why a blocked thread became ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WakeCause {
    /// [`Scheduler::wake`] was called.
    Woken,
    /// Its deadline passed.
    TimedOut,
}

/// How far the reclamation of an exited thread has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitStage {
    /// Its CPU has not yet completed the switch away: it may still run on its stack.
    Departing,
    /// Switched away from; waiting in its CPU's reap list for [`Scheduler::take_reapable`].
    Reapable,
    /// Handed out by `take_reapable`; waiting for [`Scheduler::release`].
    Reaped,
}

/// The state of a thread slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThreadState {
    /// The slot holds no thread (never reported for a valid id).
    Free,
    /// Waiting in its CPU's run queue.
    Ready,
    /// Its CPU's current thread.
    Running,
    /// Waiting for a wakeup or its deadline.
    Blocked(BlockReason),
    /// Ended with an exit code; see [`ExitStage`].
    Exited(ExitStage),
}

/// A context switch decided by [`Scheduler::schedule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switch {
    /// The thread that was running.
    pub from: ThreadId,
    /// The thread to run now.
    pub to: ThreadId,
}

/// What [`Scheduler::tick`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct TickOutcome {
    /// Sleepers woken because their deadline passed.
    pub woken: usize,
    /// True when [`Scheduler::schedule`] should be called before returning to the thread.
    pub reschedule: bool,
}

/// Thread numbers of one CPU (idle thread excluded), for statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuCounts {
    /// Threads in the run queues.
    pub ready: usize,
    /// Blocked threads (including one that blocked and is not switched away from yet).
    pub blocked: usize,
    /// 1 when a thread other than the idle thread is running, else 0.
    pub running: usize,
    /// Exited threads not released yet.
    pub exited: usize,
    /// True when the idle thread is the current thread.
    pub idle_running: bool,
}

/// One thread slot.
#[derive(Clone, Copy, Debug)]
struct Slot {
    generation: u32,
    state: ThreadState,
    priority: Priority,
    cpu: usize,
    /// CPUs the thread may be placed on.
    affinity: CpuSet,
    /// Ticks left in the quantum.
    slice: u32,
    /// Wake deadline while blocked.
    deadline: Option<u64>,
    /// Why it last woke (cleared when it blocks).
    cause: Option<WakeCause>,
    exit_code: u64,
    /// Links of the one list the slot is in (see [`Scheduler::home`]).
    prev: Option<usize>,
    next: Option<usize>,
}

impl Slot {
    const FREE: Slot = Slot {
        generation: 1,
        state: ThreadState::Free,
        priority: Priority::Normal,
        cpu: 0,
        affinity: CpuSet::all(),
        slice: 0,
        deadline: None,
        cause: None,
        exit_code: 0,
        prev: None,
        next: None,
    };
}

fn slot_ref(slots: &[Slot], i: usize) -> Result<&Slot, SchedError> {
    slots.get(i).ok_or(SchedError::Corrupted)
}

fn slot_mut(slots: &mut [Slot], i: usize) -> Result<&mut Slot, SchedError> {
    slots.get_mut(i).ok_or(SchedError::Corrupted)
}

/// A doubly linked list threaded through the slots' `prev`/`next` links.
#[derive(Clone, Copy, Debug)]
struct List {
    head: Option<usize>,
    tail: Option<usize>,
    len: usize,
}

impl List {
    const EMPTY: List = List { head: None, tail: None, len: 0 };

    /// Links `i` before `before` (at the tail when `None`).
    fn insert_before(&mut self, slots: &mut [Slot], i: usize, before: Option<usize>) -> Result<(), SchedError> {
        let prev = match before {
            Some(b) => slot_ref(slots, b)?.prev,
            None => self.tail,
        };
        let s = slot_mut(slots, i)?;
        s.prev = prev;
        s.next = before;
        match prev {
            Some(p) => slot_mut(slots, p)?.next = Some(i),
            None => self.head = Some(i),
        }
        match before {
            Some(b) => slot_mut(slots, b)?.prev = Some(i),
            None => self.tail = Some(i),
        }
        self.len += 1;
        Ok(())
    }

    fn remove(&mut self, slots: &mut [Slot], i: usize) -> Result<(), SchedError> {
        let s = slot_mut(slots, i)?;
        let (prev, next) = (s.prev, s.next);
        s.prev = None;
        s.next = None;
        match prev {
            Some(p) => {
                let ps = slot_mut(slots, p)?;
                if ps.next != Some(i) {
                    return Err(SchedError::Corrupted);
                }
                ps.next = next;
            }
            None if self.head == Some(i) => self.head = next,
            None => return Err(SchedError::Corrupted),
        }
        match next {
            Some(n) => {
                let ns = slot_mut(slots, n)?;
                if ns.prev != Some(i) {
                    return Err(SchedError::Corrupted);
                }
                ns.prev = prev;
            }
            None if self.tail == Some(i) => self.tail = prev,
            None => return Err(SchedError::Corrupted),
        }
        self.len = self.len.checked_sub(1).ok_or(SchedError::Corrupted)?;
        Ok(())
    }

    /// The first member whose deadline is later than `deadline` (sleeper lists are sorted).
    fn first_later(&self, slots: &[Slot], deadline: u64) -> Result<Option<usize>, SchedError> {
        let mut at = self.head;
        for _ in 0..self.len {
            let Some(i) = at else { break };
            let s = slot_ref(slots, i)?;
            if s.deadline.is_some_and(|d| d > deadline) {
                return Ok(Some(i));
            }
            at = s.next;
        }
        Ok(None)
    }
}

/// The list a slot belongs in, given its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListId {
    /// A CPU's run queue for one band.
    Run { cpu: usize, band: usize },
    /// A CPU's sleepers, sorted by deadline.
    Sleepers(usize),
    /// A CPU's reapable threads.
    Reap(usize),
    /// Released slots, oldest release first.
    Free,
}

/// A started CPU: it has an idle thread and a current thread.
#[derive(Clone, Copy, Debug)]
struct Online {
    idle: usize,
    current: usize,
    /// The thread of the last switch until [`Scheduler::switch_done`] confirms it.
    switching_from: Option<usize>,
}

#[derive(Clone, Copy, Debug)]
struct Cpu {
    queues: [List; BANDS],
    sleepers: List,
    reap: List,
    online: Option<Online>,
}

impl Cpu {
    const NEW: Cpu = Cpu { queues: [List::EMPTY; BANDS], sleepers: List::EMPTY, reap: List::EMPTY, online: None };

    /// The highest band with a ready thread.
    fn highest_band(&self) -> Option<usize> {
        (0..BANDS).rev().find(|&b| self.queues.get(b).is_some_and(|q| q.len > 0))
    }
}

const fn next_generation(generation: u32) -> u32 {
    if generation >= MAX_GENERATION { 1 } else { generation + 1 }
}

/// Scheduler state for `THREADS` thread slots (idle threads included) and `CPUS` CPUs.
pub struct Scheduler<const THREADS: usize, const CPUS: usize> {
    slots: [Slot; THREADS],
    cpus: [Cpu; CPUS],
    /// Released slots.
    free: List,
    /// Slots `fresh..THREADS` have never been used (and are in no list).
    fresh: usize,
    quantum: u32,
    /// Threads in all CPUs' reap lists (kept by `relink`, so the switch path need not sum
    /// every CPU's list).
    reapable: usize,
}

impl<const THREADS: usize, const CPUS: usize> fmt::Debug for Scheduler<THREADS, CPUS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("threads", &THREADS)
            .field("cpus", &CPUS)
            .field("in_use", &self.in_use())
            .field("quantum", &self.quantum)
            .finish_non_exhaustive()
    }
}

impl<const THREADS: usize, const CPUS: usize> Scheduler<THREADS, CPUS> {
    /// An empty scheduler giving each thread `quantum_ticks` ticks per turn (0 counts as 1).
    /// `CPUS` must not exceed [`CpuSet::CAPACITY`] (checked at compile time).
    pub const fn new(quantum_ticks: u32) -> Self {
        const { assert!(CPUS <= CpuSet::CAPACITY, "a scheduler supports at most 64 CPUs") };
        Scheduler {
            slots: [Slot::FREE; THREADS],
            cpus: [Cpu::NEW; CPUS],
            free: List::EMPTY,
            fresh: 0,
            quantum: if quantum_ticks == 0 { 1 } else { quantum_ticks },
            reapable: 0,
        }
    }

    /// Ticks per quantum.
    pub const fn quantum(&self) -> u32 {
        self.quantum
    }

    /// Thread slots in the table (`THREADS`).
    pub const fn capacity(&self) -> usize {
        THREADS
    }

    /// Slots holding a thread (idle and exited threads included).
    pub fn in_use(&self) -> usize {
        self.fresh.saturating_sub(self.free.len)
    }

    /// Registers the idle thread of `cpu`, which becomes its current thread. The CPU can
    /// schedule from then on.
    pub fn add_idle(&mut self, cpu: usize) -> Result<ThreadId, SchedError> {
        if self.cpu(cpu)?.online.is_some() {
            return Err(SchedError::IdleExists);
        }
        let quantum = self.quantum;
        let i = self.allocate(|s| {
            s.state = ThreadState::Running;
            s.priority = Priority::Idle;
            s.cpu = cpu;
            s.affinity = CpuSet::single(cpu);
            s.slice = quantum;
        })?;
        self.cpu_mut(cpu)?.online = Some(Online { idle: i, current: i, switching_from: None });
        self.id_of(i)
    }

    /// The idle thread of `cpu`.
    pub fn idle(&self, cpu: usize) -> Result<ThreadId, SchedError> {
        let online = self.online(cpu)?;
        self.id_of(online.idle)
    }

    /// A new thread, `Ready` at the tail of its band on `cpu`, allowed on every CPU.
    /// `cpu` need not be started.
    pub fn create(&mut self, priority: Priority, cpu: usize) -> Result<ThreadId, SchedError> {
        self.create_with_affinity(priority, cpu, CpuSet::all())
    }

    /// A new thread, `Ready` at the tail of its band on `cpu`, only ever placed on the CPUs
    /// of `affinity`, which must contain `cpu` ([`SchedError::AffinityViolation`]).
    pub fn create_with_affinity(
        &mut self,
        priority: Priority,
        cpu: usize,
        affinity: CpuSet,
    ) -> Result<ThreadId, SchedError> {
        self.cpu(cpu)?;
        if priority == Priority::Idle {
            return Err(SchedError::IdlePriority);
        }
        if !affinity.contains(cpu) {
            return Err(SchedError::AffinityViolation);
        }
        let quantum = self.quantum;
        let i = self.allocate(|s| {
            s.state = ThreadState::Ready;
            s.priority = priority;
            s.cpu = cpu;
            s.affinity = affinity;
            s.slice = quantum;
        })?;
        self.id_of(i)
    }

    /// The thread `cpu` is executing (after [`Scheduler::schedule`], the one it switches to).
    pub fn current(&self, cpu: usize) -> Result<ThreadId, SchedError> {
        let online = self.online(cpu)?;
        self.id_of(online.current)
    }

    /// The timer tick of `cpu` at time `now`: wakes this CPU's sleepers whose deadline is at
    /// or before `now` (cause [`WakeCause::TimedOut`]), charges one tick to the running
    /// thread and says whether to reschedule (see [`Scheduler::needs_reschedule`]).
    pub fn tick(&mut self, cpu: usize, now: u64) -> Result<TickOutcome, SchedError> {
        self.cpu(cpu)?;
        let mut woken = 0;
        for _ in 0..THREADS {
            let Some(i) = self.cpu(cpu)?.sleepers.head else { break };
            if self.slot(i)?.deadline.is_none_or(|d| d > now) {
                break;
            }
            self.make_runnable(i, WakeCause::TimedOut)?;
            woken += 1;
        }
        if let Some(online) = self.cpu(cpu)?.online {
            let s = self.slot_mut(online.current)?;
            if s.state == ThreadState::Running {
                s.slice = s.slice.saturating_sub(1);
            }
        }
        Ok(TickOutcome { woken, reschedule: self.needs_reschedule(cpu)? })
    }

    /// True when `cpu` should switch: its current thread blocked or exited, or its affinity
    /// no longer allows `cpu`; or a higher band than the current thread's is ready (anything
    /// preempts the idle thread); or the current thread used up its quantum and another
    /// thread of its band is ready. False for a CPU that is not started.
    pub fn needs_reschedule(&self, cpu: usize) -> Result<bool, SchedError> {
        let c = self.cpu(cpu)?;
        let Some(online) = c.online else { return Ok(false) };
        let cur = self.slot(online.current)?;
        if cur.state != ThreadState::Running || !cur.affinity.contains(cpu) {
            return Ok(true);
        }
        let Some(band) = c.highest_band() else { return Ok(false) };
        let mine = cur.priority.band();
        Ok(band > mine || (band == mine && cur.slice == 0))
    }

    /// Picks the thread to run on `cpu`. When [`Scheduler::needs_reschedule`] is false the
    /// current thread continues and this returns `None`. Otherwise a still-running current
    /// thread goes to the tail of its band, the head of the highest non-empty band becomes
    /// `Running` with a fresh quantum (the idle thread when nothing else is ready), and the
    /// switch is returned. A current thread whose affinity no longer allows `cpu` is not
    /// picked: it goes to the tail of its band after the pick and moves at `switch_done`.
    /// The kernel must confirm the switch with [`Scheduler::switch_done`] before scheduling
    /// on this CPU again.
    pub fn schedule(&mut self, cpu: usize) -> Result<Option<Switch>, SchedError> {
        let online = self.online(cpu)?;
        if online.switching_from.is_some() {
            return Err(SchedError::SwitchPending);
        }
        if !self.needs_reschedule(cpu)? {
            return Ok(None);
        }
        let from = online.current;
        let outgoing = *self.slot(from)?;
        let leaving = !outgoing.affinity.contains(cpu);
        match outgoing.state {
            ThreadState::Running if !leaving => self.relink(from, |s| s.state = ThreadState::Ready)?,
            ThreadState::Running | ThreadState::Blocked(_) | ThreadState::Exited(ExitStage::Departing) => {}
            _ => return Err(SchedError::Corrupted),
        }
        let c = self.cpu(cpu)?;
        let band = c.highest_band().ok_or(SchedError::Corrupted)?;
        let to = c.queues.get(band).and_then(|q| q.head).ok_or(SchedError::Corrupted)?;
        let quantum = self.quantum;
        self.relink(to, |s| {
            s.state = ThreadState::Running;
            s.slice = quantum;
        })?;
        if leaving && outgoing.state == ThreadState::Running {
            self.relink(from, |s| s.state = ThreadState::Ready)?;
        }
        let online = self.online_mut(cpu)?;
        online.current = to;
        if to == from {
            return Ok(None);
        }
        online.switching_from = Some(from);
        Ok(Some(Switch { from: self.id_of(from)?, to: self.id_of(to)? }))
    }

    /// Confirms that `cpu` completed the switch returned by [`Scheduler::schedule`]: the
    /// thread switched away from no longer uses its stack, and if it had exited it becomes
    /// reapable; if it is ready or blocked and its affinity no longer allows `cpu`, it moves
    /// to the first CPU of its set. Returns that thread, or `None` when no switch was pending.
    pub fn switch_done(&mut self, cpu: usize) -> Result<Option<ThreadId>, SchedError> {
        let online = self.online_mut(cpu)?;
        let Some(from) = online.switching_from.take() else { return Ok(None) };
        let s = *self.slot(from)?;
        match s.state {
            ThreadState::Exited(ExitStage::Departing) => {
                self.relink(from, |s| s.state = ThreadState::Exited(ExitStage::Reapable))?;
            }
            ThreadState::Ready | ThreadState::Blocked(_) if !s.affinity.contains(s.cpu) => {
                let to = self.allowed_cpu(s.affinity)?;
                self.relink(from, |s| s.cpu = to)?;
            }
            _ => {}
        }
        self.id_of(from).map(Some)
    }

    /// The current thread of `cpu` gives up the rest of its quantum: it goes to the tail of
    /// its band if another thread of the same or a higher band is ready, else it continues.
    pub fn yield_current(&mut self, cpu: usize) -> Result<Option<Switch>, SchedError> {
        let online = self.online(cpu)?;
        if online.switching_from.is_some() {
            return Err(SchedError::SwitchPending);
        }
        let s = self.slot_mut(online.current)?;
        if s.state != ThreadState::Running {
            return Err(SchedError::NotRunning);
        }
        s.slice = 0;
        self.schedule(cpu)
    }

    /// Blocks the current thread of `cpu` for `reason`, until [`Scheduler::wake`] or, with a
    /// deadline, until a tick at or after it. It stays current until the kernel calls
    /// [`Scheduler::schedule`]. Returns the blocked thread.
    pub fn block_current(
        &mut self,
        cpu: usize,
        reason: BlockReason,
        deadline: Option<u64>,
    ) -> Result<ThreadId, SchedError> {
        let i = self.running_current(cpu)?;
        self.relink(i, |s| {
            s.state = ThreadState::Blocked(reason);
            s.deadline = deadline;
            s.cause = None;
        })?;
        self.id_of(i)
    }

    /// Makes a blocked thread ready (cause [`WakeCause::Woken`]) and cancels its timeout.
    /// Returns false, changing nothing, when the thread was not blocked.
    pub fn wake(&mut self, id: ThreadId) -> Result<bool, SchedError> {
        let i = self.resolve(id)?;
        if !matches!(self.slot(i)?.state, ThreadState::Blocked(_)) {
            return Ok(false);
        }
        self.make_runnable(i, WakeCause::Woken)?;
        Ok(true)
    }

    /// Why the thread last woke up; `None` while it has not woken since it last blocked (or
    /// never blocked).
    pub fn wake_cause(&self, id: ThreadId) -> Result<Option<WakeCause>, SchedError> {
        let i = self.resolve(id)?;
        Ok(self.slot(i)?.cause)
    }

    /// Ends the current thread of `cpu` with `code`. It stays current until the kernel calls
    /// [`Scheduler::schedule`], and becomes reapable after [`Scheduler::switch_done`].
    pub fn exit_current(&mut self, cpu: usize, code: u64) -> Result<ThreadId, SchedError> {
        let i = self.running_current(cpu)?;
        self.relink(i, |s| {
            s.state = ThreadState::Exited(ExitStage::Departing);
            s.exit_code = code;
        })?;
        self.id_of(i)
    }

    /// The next exited thread of `cpu` whose stack is no longer in use, with its exit code,
    /// oldest first. Each thread is handed out once; free it with [`Scheduler::release`].
    pub fn take_reapable(&mut self, cpu: usize) -> Result<Option<(ThreadId, u64)>, SchedError> {
        let Some(i) = self.cpu(cpu)?.reap.head else { return Ok(None) };
        self.relink(i, |s| s.state = ThreadState::Exited(ExitStage::Reaped))?;
        Ok(Some((self.id_of(i)?, self.slot(i)?.exit_code)))
    }

    /// Exited threads, on any CPU, waiting for [`Scheduler::take_reapable`].
    pub fn reapable(&self) -> usize {
        self.reapable
    }

    /// Frees the slot of a reapable (or reaped) thread. Its generation is bumped, so `id` and
    /// every copy of it become stale.
    pub fn release(&mut self, id: ThreadId) -> Result<(), SchedError> {
        let i = self.resolve(id)?;
        match self.slot(i)?.state {
            ThreadState::Exited(ExitStage::Reapable | ExitStage::Reaped) => {}
            _ => return Err(SchedError::NotReapable),
        }
        self.relink(i, |s| {
            *s = Slot { generation: next_generation(s.generation), ..Slot::FREE };
        })
    }

    /// Ends a thread that is not running anywhere (ready or blocked, and not any CPU's
    /// current thread): it becomes reapable at once with `code` (the `kill` path; a running
    /// thread ends itself with [`Scheduler::exit_current`]).
    pub fn terminate(&mut self, id: ThreadId, code: u64) -> Result<(), SchedError> {
        let i = self.resolve(id)?;
        let s = *self.slot(i)?;
        if s.priority == Priority::Idle {
            return Err(SchedError::IdleThread);
        }
        match s.state {
            ThreadState::Exited(_) => return Err(SchedError::ThreadExited),
            ThreadState::Running => return Err(SchedError::ThreadRunning),
            _ if self.is_current(i)? => return Err(SchedError::ThreadRunning),
            _ => {}
        }
        // A thread its CPU is still switching away from is on that CPU's stack until
        // `switch_done`: it departs, and becomes reapable only then.
        let stage = if self.is_switching_from(i)? { ExitStage::Departing } else { ExitStage::Reapable };
        self.relink(i, |s| {
            s.state = ThreadState::Exited(stage);
            s.exit_code = code;
            s.deadline = None;
        })
    }

    /// Frees a thread that was created but never ran (it is still `Ready` and not any CPU's
    /// current thread): the kernel could not finish setting it up. Bumps the generation.
    pub fn discard(&mut self, id: ThreadId) -> Result<(), SchedError> {
        let i = self.resolve(id)?;
        if self.slot(i)?.state != ThreadState::Ready || self.is_current(i)? {
            return Err(SchedError::ThreadRunning);
        }
        if self.slot(i)?.priority == Priority::Idle {
            return Err(SchedError::IdleThread);
        }
        self.relink(i, |s| {
            *s = Slot { generation: next_generation(s.generation), ..Slot::FREE };
        })
    }

    /// The current thread of `cpu` gives up the rest of its quantum without switching yet:
    /// the next [`Scheduler::schedule`] moves it to the tail of its band if another thread
    /// of its band (or a higher one) is ready.
    pub fn expire_quantum(&mut self, cpu: usize) -> Result<(), SchedError> {
        let i = self.running_current(cpu)?;
        if let Ok(s) = self.slot_mut(i) {
            s.slice = 0;
        }
        Ok(())
    }

    /// Changes a thread's band. A ready thread moves to the tail of its new band; for a
    /// running one, [`Scheduler::needs_reschedule`] tells whether it should give way.
    pub fn set_priority(&mut self, id: ThreadId, priority: Priority) -> Result<(), SchedError> {
        let i = self.resolve(id)?;
        if priority == Priority::Idle {
            return Err(SchedError::IdlePriority);
        }
        let s = self.slot(i)?;
        if s.priority == Priority::Idle {
            return Err(SchedError::IdleThread);
        }
        if matches!(s.state, ThreadState::Exited(_)) {
            return Err(SchedError::ThreadExited);
        }
        if s.priority == priority {
            return Ok(());
        }
        self.relink(i, |s| s.priority = priority)
    }

    /// Moves a ready or blocked thread to `to_cpu`: a ready one to the tail of its band
    /// there, a sleeper to that CPU's sleeper list (same deadline). `to_cpu` must be in the
    /// thread's affinity ([`SchedError::AffinityViolation`]).
    pub fn migrate(&mut self, id: ThreadId, to_cpu: usize) -> Result<(), SchedError> {
        let i = self.resolve(id)?;
        self.cpu(to_cpu)?;
        let s = *self.slot(i)?;
        if s.priority == Priority::Idle {
            return Err(SchedError::IdleThread);
        }
        match s.state {
            ThreadState::Exited(_) => return Err(SchedError::ThreadExited),
            ThreadState::Running => return Err(SchedError::ThreadRunning),
            _ if self.is_current(i)? => return Err(SchedError::ThreadRunning),
            _ => {}
        }
        if self.is_switching_from(i)? {
            return Err(SchedError::SwitchPending);
        }
        if !s.affinity.contains(to_cpu) {
            return Err(SchedError::AffinityViolation);
        }
        if s.cpu == to_cpu {
            return Ok(());
        }
        self.relink(i, |s| s.cpu = to_cpu)
    }

    /// The thread's state.
    pub fn state(&self, id: ThreadId) -> Result<ThreadState, SchedError> {
        let i = self.resolve(id)?;
        Ok(self.slot(i)?.state)
    }

    /// The thread's band.
    pub fn priority(&self, id: ThreadId) -> Result<Priority, SchedError> {
        let i = self.resolve(id)?;
        Ok(self.slot(i)?.priority)
    }

    /// The CPU the thread belongs to.
    pub fn cpu_of(&self, id: ThreadId) -> Result<usize, SchedError> {
        let i = self.resolve(id)?;
        Ok(self.slot(i)?.cpu)
    }

    /// The earliest sleeper deadline on `cpu` (for programming a one-shot timer).
    pub fn next_deadline(&self, cpu: usize) -> Result<Option<u64>, SchedError> {
        match self.cpu(cpu)?.sleepers.head {
            Some(i) => Ok(self.slot(i)?.deadline),
            None => Ok(None),
        }
    }

    /// Thread numbers of `cpu`.
    pub fn counts(&self, cpu: usize) -> Result<CpuCounts, SchedError> {
        let c = self.cpu(cpu)?;
        let mut counts =
            CpuCounts { idle_running: c.online.is_some_and(|o| o.current == o.idle), ..CpuCounts::default() };
        for s in self.slots.iter().filter(|s| s.cpu == cpu && s.priority != Priority::Idle) {
            match s.state {
                ThreadState::Free => {}
                ThreadState::Ready => counts.ready += 1,
                ThreadState::Running => counts.running += 1,
                ThreadState::Blocked(_) => counts.blocked += 1,
                ThreadState::Exited(_) => counts.exited += 1,
            }
        }
        Ok(counts)
    }

    // ---- internals ----

    fn cpu(&self, cpu: usize) -> Result<&Cpu, SchedError> {
        self.cpus.get(cpu).ok_or(SchedError::BadCpu)
    }

    fn cpu_mut(&mut self, cpu: usize) -> Result<&mut Cpu, SchedError> {
        self.cpus.get_mut(cpu).ok_or(SchedError::BadCpu)
    }

    fn online(&self, cpu: usize) -> Result<Online, SchedError> {
        self.cpu(cpu)?.online.ok_or(SchedError::NotStarted)
    }

    fn online_mut(&mut self, cpu: usize) -> Result<&mut Online, SchedError> {
        self.cpu_mut(cpu)?.online.as_mut().ok_or(SchedError::NotStarted)
    }

    fn slot(&self, i: usize) -> Result<&Slot, SchedError> {
        slot_ref(&self.slots, i)
    }

    fn slot_mut(&mut self, i: usize) -> Result<&mut Slot, SchedError> {
        slot_mut(&mut self.slots, i)
    }

    fn id_of(&self, i: usize) -> Result<ThreadId, SchedError> {
        let slot = u32::try_from(i).map_err(|_| SchedError::Corrupted)?;
        Ok(ThreadId::new(slot, self.slot(i)?.generation))
    }

    /// The slot of a live id.
    fn resolve(&self, id: ThreadId) -> Result<usize, SchedError> {
        let i = id.slot();
        let s = self.slots.get(i).ok_or(SchedError::InvalidId)?;
        if s.generation != id.generation() || s.state == ThreadState::Free {
            return Err(SchedError::StaleId);
        }
        Ok(i)
    }

    /// True when slot `i` is the current thread of its CPU.
    fn is_current(&self, i: usize) -> Result<bool, SchedError> {
        let cpu = self.slot(i)?.cpu;
        Ok(self.cpu(cpu)?.online.is_some_and(|o| o.current == i))
    }

    /// True when slot `i` is the thread its CPU is switching away from (not confirmed yet).
    fn is_switching_from(&self, i: usize) -> Result<bool, SchedError> {
        let cpu = self.slot(i)?.cpu;
        Ok(self.cpu(cpu)?.online.is_some_and(|o| o.switching_from == Some(i)))
    }

    /// The first CPU of `set` that this scheduler has.
    fn allowed_cpu(&self, set: CpuSet) -> Result<usize, SchedError> {
        set.first().filter(|&c| c < CPUS).ok_or(SchedError::AffinityViolation)
    }

    /// The current thread of `cpu`, which must be running and not idle.
    fn running_current(&self, cpu: usize) -> Result<usize, SchedError> {
        let online = self.online(cpu)?;
        if online.current == online.idle {
            return Err(SchedError::IdleThread);
        }
        if self.slot(online.current)?.state != ThreadState::Running {
            return Err(SchedError::NotRunning);
        }
        Ok(online.current)
    }

    /// Blocked -> Ready (or straight back to Running when it never left its CPU).
    fn make_runnable(&mut self, i: usize, cause: WakeCause) -> Result<(), SchedError> {
        let state = if self.is_current(i)? { ThreadState::Running } else { ThreadState::Ready };
        self.relink(i, |s| {
            s.state = state;
            s.deadline = None;
            s.cause = Some(cause);
        })
    }

    /// Takes a slot (never-used ones first, then the oldest released one) and initializes it.
    fn allocate(&mut self, init: impl FnOnce(&mut Slot)) -> Result<usize, SchedError> {
        let i = if self.fresh < THREADS { self.fresh } else { self.free.head.ok_or(SchedError::TableFull)? };
        if u32::try_from(i).is_err() {
            return Err(SchedError::TableFull);
        }
        let was_fresh = i == self.fresh;
        self.relink(i, |s| {
            *s = Slot { generation: s.generation, ..Slot::FREE };
            init(s);
        })?;
        if was_fresh {
            self.fresh += 1;
        }
        Ok(i)
    }

    /// The list slot `i` belongs in according to its state, if any.
    fn home(&self, i: usize) -> Result<Option<ListId>, SchedError> {
        Ok(self.home_for(self.slot(i)?, i))
    }

    /// The list a slot with contents `s` at index `i` belongs in.
    fn home_for(&self, s: &Slot, i: usize) -> Option<ListId> {
        match s.state {
            ThreadState::Ready => Some(ListId::Run { cpu: s.cpu, band: s.priority.band() }),
            ThreadState::Blocked(_) if s.deadline.is_some() => Some(ListId::Sleepers(s.cpu)),
            ThreadState::Exited(ExitStage::Reapable) => Some(ListId::Reap(s.cpu)),
            ThreadState::Free if i < self.fresh => Some(ListId::Free),
            _ => None,
        }
    }

    fn list(&mut self, id: ListId) -> Result<(&mut List, &mut [Slot]), SchedError> {
        let list = match id {
            ListId::Run { cpu, band } => self.cpus.get_mut(cpu).and_then(|c| c.queues.get_mut(band)),
            ListId::Sleepers(cpu) => self.cpus.get_mut(cpu).map(|c| &mut c.sleepers),
            ListId::Reap(cpu) => self.cpus.get_mut(cpu).map(|c| &mut c.reap),
            ListId::Free => Some(&mut self.free),
        };
        Ok((list.ok_or(SchedError::Corrupted)?, &mut self.slots))
    }

    /// The one way a slot changes: leave the list of its old state, update, join the list
    /// of its new state (at the tail; sleepers in deadline order, after equal deadlines).
    /// A slot whose list does not change keeps its place in it.
    fn relink(&mut self, i: usize, update: impl FnOnce(&mut Slot)) -> Result<(), SchedError> {
        let old = self.home(i)?;
        let mut probe = *self.slot(i)?;
        update(&mut probe);
        let new = self.home_for(&probe, i);
        if old != new
            && let Some(old) = old
        {
            let (list, slots) = self.list(old)?;
            list.remove(slots, i)?;
            if matches!(old, ListId::Reap(_)) {
                self.reapable = self.reapable.checked_sub(1).ok_or(SchedError::Corrupted)?;
            }
        }
        // The links belong to the list bookkeeping, never to `update`.
        let s = self.slot_mut(i)?;
        *s = Slot { prev: s.prev, next: s.next, ..probe };
        if old != new
            && let Some(new) = new
        {
            let deadline = self.slot(i)?.deadline;
            let (list, slots) = self.list(new)?;
            let before = match (new, deadline) {
                (ListId::Sleepers(_), Some(d)) => list.first_later(slots, d)?,
                _ => None,
            };
            list.insert_before(slots, i, before)?;
            if matches!(new, ListId::Reap(_)) {
                self.reapable += 1;
            }
        }
        Ok(())
    }
}
