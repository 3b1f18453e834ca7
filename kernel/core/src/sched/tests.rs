// SPDX-License-Identifier: AGPL-3.0-or-later
//! Host tests of the scheduler: policy scenarios, sleeps, reclamation, stale ids, per-CPU
//! independence, and a randomized run against a simple reference model with a brute-force
//! structural check after every step.

use crate::testing::Rng;
use std::collections::VecDeque;
use std::vec;
use std::vec::Vec;

use super::*;

type Small = Scheduler<16, 2>;

/// Checks every structural invariant by brute force; in particular that every slot is in
/// exactly one place: a run queue, running, blocked (sleeper list or not), exited, or free.
fn check<const T: usize, const C: usize>(s: &Scheduler<T, C>) {
    let mut seen = vec![0usize; T];
    let mut walk = |list: &List, id: ListId| {
        let mut at = list.head;
        let mut prev = None;
        let mut n = 0;
        let mut last_deadline = 0u64;
        while let Some(i) = at {
            assert!(n < T, "{id:?}: cycle");
            let slot = &s.slots[i];
            assert_eq!(slot.prev, prev, "{id:?}: bad back link at slot {i}");
            assert_eq!(s.home(i).unwrap(), Some(id), "slot {i} ({:?}) is in {id:?}", slot.state);
            if let ListId::Sleepers(_) = id {
                let d = slot.deadline.unwrap();
                assert!(d >= last_deadline, "{id:?}: not sorted by deadline");
                last_deadline = d;
            }
            seen[i] += 1;
            prev = Some(i);
            at = slot.next;
            n += 1;
        }
        assert_eq!(list.tail, prev, "{id:?}: bad tail");
        assert_eq!(list.len, n, "{id:?}: bad length");
    };
    for (c, cpu) in s.cpus.iter().enumerate() {
        for (band, q) in cpu.queues.iter().enumerate() {
            walk(q, ListId::Run { cpu: c, band });
        }
        walk(&cpu.sleepers, ListId::Sleepers(c));
        walk(&cpu.reap, ListId::Reap(c));
    }
    walk(&s.free, ListId::Free);
    assert_eq!(s.reapable, s.cpus.iter().map(|c| c.reap.len).sum::<usize>(), "reapable count");

    let mut in_use = 0;
    for (i, slot) in s.slots.iter().enumerate() {
        let online = s.cpus[slot.cpu].online;
        let current = online.is_some_and(|o| o.current == i);
        let places = seen[i]
            + match slot.state {
                ThreadState::Running => 1,
                ThreadState::Blocked(_) if slot.deadline.is_none() => 1,
                ThreadState::Exited(ExitStage::Departing | ExitStage::Reaped) => 1,
                ThreadState::Free if i >= s.fresh => 1,
                _ => 0,
            };
        assert_eq!(places, 1, "slot {i} ({:?}) is in {places} places", slot.state);
        if slot.state != ThreadState::Free {
            in_use += 1;
            assert!(i < s.fresh);
        }
        if i >= s.fresh {
            assert_eq!(slot.generation, 1);
            assert_eq!(slot.state, ThreadState::Free);
        }
        assert!((1..=MAX_GENERATION).contains(&slot.generation));
        match slot.state {
            ThreadState::Running => assert!(current, "slot {i} runs but is not current"),
            ThreadState::Exited(ExitStage::Departing) => {
                let o = online.unwrap();
                assert!(current || o.switching_from == Some(i), "departing slot {i} already switched away");
            }
            ThreadState::Ready | ThreadState::Exited(_) | ThreadState::Free => {
                assert!(!current, "slot {i} ({:?}) is current", slot.state)
            }
            ThreadState::Blocked(_) => {}
        }
        if !matches!(slot.state, ThreadState::Blocked(_)) {
            assert_eq!(slot.deadline, None, "slot {i}: deadline outside Blocked");
        }
        if slot.state != ThreadState::Free && slot.priority == Priority::Idle {
            assert_eq!(online.map(|o| o.idle), Some(i), "slot {i}: idle priority on a non-idle thread");
            assert_eq!(slot.affinity, CpuSet::single(slot.cpu), "slot {i}: idle affinity");
        }
        // Ready and blocked threads sit on an allowed CPU, unless their CPU still runs them
        // or has not confirmed the switch away from them (they move at switch_done).
        if matches!(slot.state, ThreadState::Ready | ThreadState::Blocked(_)) && !slot.affinity.contains(slot.cpu) {
            let o = online.unwrap();
            assert!(current || o.switching_from == Some(i), "slot {i} ({:?}) on a disallowed CPU", slot.state);
        }
        if slot.state != ThreadState::Free {
            assert!(slot.affinity.iter().any(|c| c < C), "slot {i}: affinity without a CPU");
        }
    }
    assert_eq!(s.in_use(), in_use);
    for (c, cpu) in s.cpus.iter().enumerate() {
        assert!(cpu.queues[0].len <= 1);
        let Some(o) = cpu.online else {
            assert!(cpu.queues[0].len == 0);
            continue;
        };
        let cur = &s.slots[o.current];
        assert_eq!(cur.cpu, c);
        assert!(matches!(
            cur.state,
            ThreadState::Running | ThreadState::Blocked(_) | ThreadState::Exited(ExitStage::Departing)
        ));
        let idle = &s.slots[o.idle];
        assert_eq!((idle.cpu, idle.priority), (c, Priority::Idle));
        let want = if o.current == o.idle { ThreadState::Running } else { ThreadState::Ready };
        assert_eq!(idle.state, want);
        assert_ne!(o.switching_from, Some(o.current));
    }
}

fn started<const T: usize, const C: usize>(quantum: u32) -> (Scheduler<T, C>, Vec<ThreadId>) {
    let mut s = Scheduler::<T, C>::new(quantum);
    let idles = (0..C).map(|c| s.add_idle(c).unwrap()).collect();
    check(&s);
    (s, idles)
}

/// `schedule` followed by `switch_done`; returns the current thread afterwards.
fn resched<const T: usize, const C: usize>(s: &mut Scheduler<T, C>, cpu: usize) -> ThreadId {
    if let Some(sw) = s.schedule(cpu).unwrap() {
        assert_eq!(s.current(cpu), Ok(sw.to));
        assert_eq!(s.switch_done(cpu), Ok(Some(sw.from)));
    }
    check(s);
    s.current(cpu).unwrap()
}

/// Ticks `cpu` until a reschedule is requested (at most `limit` ticks), then reschedules.
fn run_out<const T: usize, const C: usize>(s: &mut Scheduler<T, C>, cpu: usize, now: &mut u64, limit: u32) -> ThreadId {
    for _ in 0..limit {
        *now += 1;
        if s.tick(cpu, *now).unwrap().reschedule {
            return resched(s, cpu);
        }
    }
    panic!("no reschedule within {limit} ticks");
}

#[test]
fn thread_id_packing() {
    let id = ThreadId::new(7, 3);
    assert_eq!((id.slot(), id.generation()), (7, 3));
    assert_eq!(id.as_raw(), (3 << 32) | 7);
    assert_eq!(ThreadId::from_raw(id.as_raw()), Ok(id));
    assert_eq!(std::format!("{id}"), "7.3");
    let max = ThreadId::new(u32::MAX, MAX_GENERATION);
    assert!(i64::try_from(max.as_raw()).is_ok());
    assert_eq!(ThreadId::from_raw(max.as_raw()), Ok(max));
    assert_eq!(ThreadId::from_raw(0), Err(SchedError::InvalidId));
    assert_eq!(ThreadId::from_raw(5), Err(SchedError::InvalidId));
    assert_eq!(ThreadId::from_raw(1 << 63), Err(SchedError::InvalidId));
    assert_eq!(next_generation(1), 2);
    assert_eq!(next_generation(MAX_GENERATION), 1);
    for p in Priority::ALL {
        assert_eq!(Priority::from_band(p.band()), Some(p));
    }
    assert_eq!(Priority::from_band(BANDS), None);
    assert!(Priority::High > Priority::Normal && Priority::Low > Priority::Idle);
}

#[test]
fn usable_in_a_static() {
    static SCHED: Scheduler<64, 4> = Scheduler::new(10);
    assert_eq!((SCHED.quantum(), SCHED.capacity(), SCHED.in_use()), (10, 64, 0));
    assert_eq!(SCHED.current(0), Err(SchedError::NotStarted));
    assert_eq!(Scheduler::<4, 1>::new(0).quantum(), 1);
}

#[test]
fn round_robin_within_a_band() {
    let (mut s, idles) = started::<16, 1>(2);
    let threads: Vec<_> = (0..3).map(|_| s.create(Priority::Normal, 0).unwrap()).collect();
    assert_eq!(s.current(0), Ok(idles[0]));
    assert_eq!(s.schedule(0), Ok(Some(Switch { from: idles[0], to: threads[0] })));
    assert_eq!(s.switch_done(0), Ok(Some(idles[0])));
    let mut now = 0;
    for round in 0..5 {
        for k in 0..3 {
            assert_eq!(s.current(0), Ok(threads[k]), "round {round}");
            now += 1;
            assert_eq!(s.tick(0, now), Ok(TickOutcome { woken: 0, reschedule: false }));
            now += 1;
            assert_eq!(s.tick(0, now), Ok(TickOutcome { woken: 0, reschedule: true }));
            let sw = s.schedule(0).unwrap().unwrap();
            assert_eq!(sw, Switch { from: threads[k], to: threads[(k + 1) % 3] });
            s.switch_done(0).unwrap();
            check(&s);
        }
    }
    // Yield hands over immediately, to the back of the band.
    assert_eq!(s.yield_current(0), Ok(Some(Switch { from: threads[0], to: threads[1] })));
    s.switch_done(0).unwrap();
    assert_eq!(s.yield_current(0), Ok(Some(Switch { from: threads[1], to: threads[2] })));
    s.switch_done(0).unwrap();
    assert_eq!(s.yield_current(0), Ok(Some(Switch { from: threads[2], to: threads[0] })));
    s.switch_done(0).unwrap();
    check(&s);
}

#[test]
fn higher_band_always_first() {
    let (mut s, idles) = started::<16, 1>(1);
    let low = s.create(Priority::Low, 0).unwrap();
    let normal = s.create(Priority::Normal, 0).unwrap();
    let h1 = s.create(Priority::High, 0).unwrap();
    let h2 = s.create(Priority::High, 0).unwrap();
    let mut now = 0;
    assert_eq!(resched(&mut s, 0), h1);
    for _ in 0..10 {
        assert_eq!(run_out(&mut s, 0, &mut now, 1), h2);
        assert_eq!(run_out(&mut s, 0, &mut now, 1), h1);
    }
    s.block_current(0, BlockReason::Generic(1), None).unwrap();
    assert_eq!(resched(&mut s, 0), h2);
    s.block_current(0, BlockReason::Generic(2), None).unwrap();
    assert_eq!(resched(&mut s, 0), normal);
    // Alone in its band and above: runs past its quantum.
    for _ in 0..5 {
        now += 1;
        assert!(!s.tick(0, now).unwrap().reschedule);
    }
    s.block_current(0, BlockReason::Generic(3), None).unwrap();
    assert_eq!(resched(&mut s, 0), low);
    // A high thread waking preempts the low one mid-quantum.
    assert!(s.wake(h1).unwrap());
    assert_eq!(s.needs_reschedule(0), Ok(true));
    assert_eq!(resched(&mut s, 0), h1);
    assert_eq!(s.state(low), Ok(ThreadState::Ready));
    s.block_current(0, BlockReason::Generic(1), None).unwrap();
    assert_eq!(resched(&mut s, 0), low);
    s.block_current(0, BlockReason::Generic(4), None).unwrap();
    assert_eq!(resched(&mut s, 0), idles[0]);
    assert_eq!(s.counts(0), Ok(CpuCounts { ready: 0, blocked: 4, running: 0, exited: 0, idle_running: true }));
}

#[test]
fn quantum_preemption_only_when_someone_else_is_ready() {
    let (mut s, _) = started::<16, 1>(3);
    let a = s.create(Priority::Normal, 0).unwrap();
    assert_eq!(resched(&mut s, 0), a);
    let mut now = 0;
    for _ in 0..20 {
        now += 1;
        assert!(!s.tick(0, now).unwrap().reschedule);
        assert_eq!(s.schedule(0), Ok(None));
    }
    // A lower band does not preempt even after the quantum.
    let low = s.create(Priority::Low, 0).unwrap();
    now += 1;
    assert!(!s.tick(0, now).unwrap().reschedule);
    // The same band does, at once (the quantum is long used up).
    let b = s.create(Priority::Normal, 0).unwrap();
    assert_eq!(s.needs_reschedule(0), Ok(true));
    assert_eq!(resched(&mut s, 0), b);
    // b has a fresh quantum: two ticks without a reschedule, the third one asks for it.
    now += 1;
    assert!(!s.tick(0, now).unwrap().reschedule);
    now += 1;
    assert!(!s.tick(0, now).unwrap().reschedule);
    now += 1;
    assert!(s.tick(0, now).unwrap().reschedule);
    assert_eq!(resched(&mut s, 0), a);
    // schedule() without need keeps the current thread and its quantum.
    assert_eq!(s.schedule(0), Ok(None));
    assert_eq!(s.current(0), Ok(a));
    assert_eq!(s.state(low), Ok(ThreadState::Ready));
}

#[test]
fn idle_runs_only_when_nothing_is_ready() {
    let (mut s, idles) = started::<16, 1>(2);
    let idle = idles[0];
    assert_eq!(s.idle(0), Ok(idle));
    assert_eq!(s.priority(idle), Ok(Priority::Idle));
    let mut now = 0;
    for _ in 0..10 {
        now += 1;
        assert!(!s.tick(0, now).unwrap().reschedule);
        assert_eq!(s.schedule(0), Ok(None));
    }
    assert_eq!(s.yield_current(0), Ok(None));
    // Anything ready preempts idle immediately, even a low thread.
    let a = s.create(Priority::Low, 0).unwrap();
    assert!(s.tick(0, now).unwrap().reschedule);
    assert_eq!(resched(&mut s, 0), a);
    assert_eq!(s.state(idle), Ok(ThreadState::Ready));
    // a sleeps: idle runs; its deadline passes: a preempts idle on that very tick.
    s.block_current(0, BlockReason::Sleep, Some(now + 5)).unwrap();
    assert_eq!(resched(&mut s, 0), idle);
    for _ in 0..4 {
        now += 1;
        assert_eq!(s.tick(0, now), Ok(TickOutcome { woken: 0, reschedule: false }));
    }
    now += 1;
    assert_eq!(s.tick(0, now), Ok(TickOutcome { woken: 1, reschedule: true }));
    assert_eq!(resched(&mut s, 0), a);
    // An explicit wake preempts idle too.
    s.block_current(0, BlockReason::Generic(9), None).unwrap();
    assert_eq!(resched(&mut s, 0), idle);
    assert_eq!(s.wake(a), Ok(true));
    assert_eq!(s.needs_reschedule(0), Ok(true));
    assert_eq!(resched(&mut s, 0), a);
    // Idle threads cannot block, exit, migrate or change band.
    s.block_current(0, BlockReason::Sleep, None).unwrap();
    assert_eq!(resched(&mut s, 0), idle);
    assert_eq!(s.block_current(0, BlockReason::Sleep, None), Err(SchedError::IdleThread));
    assert_eq!(s.exit_current(0, 0), Err(SchedError::IdleThread));
    assert_eq!(s.migrate(idle, 0), Err(SchedError::IdleThread));
    assert_eq!(s.set_priority(idle, Priority::High), Err(SchedError::IdleThread));
    assert_eq!(s.add_idle(0), Err(SchedError::IdleExists));
}

#[test]
fn block_and_wake() {
    let (mut s, _) = started::<16, 1>(5);
    let a = s.create(Priority::Normal, 0).unwrap();
    let b = s.create(Priority::Normal, 0).unwrap();
    assert_eq!(resched(&mut s, 0), a);
    assert_eq!(s.wake(a), Ok(false));
    assert_eq!(s.block_current(0, BlockReason::ChildWait(42), None), Ok(a));
    assert_eq!(s.state(a), Ok(ThreadState::Blocked(BlockReason::ChildWait(42))));
    // Still current until the switch; a second block or an exit is refused.
    assert_eq!(s.current(0), Ok(a));
    assert_eq!(s.block_current(0, BlockReason::Sleep, None), Err(SchedError::NotRunning));
    assert_eq!(s.exit_current(0, 1), Err(SchedError::NotRunning));
    assert_eq!(s.yield_current(0), Err(SchedError::NotRunning));
    assert_eq!(s.needs_reschedule(0), Ok(true));
    assert_eq!(resched(&mut s, 0), b);
    assert_eq!(s.wake_cause(a), Ok(None));
    assert_eq!(s.wake(a), Ok(true));
    assert_eq!(s.wake(a), Ok(false));
    assert_eq!(s.state(a), Ok(ThreadState::Ready));
    assert_eq!(s.wake_cause(a), Ok(Some(WakeCause::Woken)));
    // Woken threads queue behind the running one (no preemption inside the band).
    assert_eq!(s.needs_reschedule(0), Ok(false));
    assert_eq!(s.yield_current(0), Ok(Some(Switch { from: b, to: a })));
    s.switch_done(0).unwrap();
    check(&s);
}

#[test]
fn wake_before_the_switch_is_not_lost() {
    let (mut s, _) = started::<16, 1>(5);
    let a = s.create(Priority::Normal, 0).unwrap();
    assert_eq!(resched(&mut s, 0), a);
    s.block_current(0, BlockReason::Generic(1), Some(100)).unwrap();
    // The wakeup races ahead of schedule(): a never leaves the CPU.
    assert_eq!(s.wake(a), Ok(true));
    assert_eq!(s.state(a), Ok(ThreadState::Running));
    assert_eq!(s.next_deadline(0), Ok(None));
    assert_eq!(s.schedule(0), Ok(None));
    check(&s);
    // Same with a timeout.
    s.block_current(0, BlockReason::Sleep, Some(100)).unwrap();
    assert_eq!(s.tick(0, 100), Ok(TickOutcome { woken: 1, reschedule: false }));
    assert_eq!(s.state(a), Ok(ThreadState::Running));
    assert_eq!(s.wake_cause(a), Ok(Some(WakeCause::TimedOut)));
    assert_eq!(s.current(0), Ok(a));
    check(&s);
}

#[test]
fn sleep_deadlines_time_out_exactly() {
    let (mut s, idles) = started::<16, 1>(5);
    let a = s.create(Priority::Normal, 0).unwrap();
    assert_eq!(resched(&mut s, 0), a);
    s.block_current(0, BlockReason::Sleep, Some(1_000)).unwrap();
    assert_eq!(resched(&mut s, 0), idles[0]);
    assert_eq!(s.next_deadline(0), Ok(Some(1_000)));
    assert_eq!(s.tick(0, 999), Ok(TickOutcome { woken: 0, reschedule: false }));
    assert_eq!(s.state(a), Ok(ThreadState::Blocked(BlockReason::Sleep)));
    assert_eq!(s.tick(0, 1_000), Ok(TickOutcome { woken: 1, reschedule: true }));
    assert_eq!(s.wake_cause(a), Ok(Some(WakeCause::TimedOut)));
    assert_eq!(s.next_deadline(0), Ok(None));
    assert_eq!(resched(&mut s, 0), a);
    // Several sleepers: woken by deadline, equal deadlines in the order they blocked; one
    // late tick wakes all that are due.
    let others: Vec<_> = (0..3).map(|_| s.create(Priority::Normal, 0).unwrap()).collect();
    let deadlines = [(a, 3_000), (others[0], 2_000), (others[1], 3_000), (others[2], 2_500)];
    for (i, &(t, d)) in deadlines.iter().enumerate() {
        assert_eq!(s.current(0), Ok(t), "sleeper {i}");
        s.block_current(0, BlockReason::Sleep, Some(d)).unwrap();
        resched(&mut s, 0);
    }
    assert_eq!(s.current(0), Ok(idles[0]));
    assert_eq!(s.next_deadline(0), Ok(Some(2_000)));
    assert_eq!(s.tick(0, 2_499), Ok(TickOutcome { woken: 1, reschedule: true }));
    assert_eq!(s.tick(0, 10_000), Ok(TickOutcome { woken: 3, reschedule: true }));
    for t in [others[0], others[2], a, others[1]] {
        assert_eq!(resched(&mut s, 0), t);
        assert_eq!(s.wake_cause(t), Ok(Some(WakeCause::TimedOut)));
        s.block_current(0, BlockReason::Generic(0), None).unwrap();
    }
    assert_eq!(resched(&mut s, 0), idles[0]);
}

#[test]
fn wake_before_timeout_cancels_it() {
    let (mut s, idles) = started::<16, 1>(5);
    let a = s.create(Priority::Normal, 0).unwrap();
    assert_eq!(resched(&mut s, 0), a);
    s.block_current(0, BlockReason::ChildWait(7), Some(500)).unwrap();
    assert_eq!(resched(&mut s, 0), idles[0]);
    assert_eq!(s.tick(0, 100), Ok(TickOutcome { woken: 0, reschedule: false }));
    assert_eq!(s.wake(a), Ok(true));
    assert_eq!(s.wake_cause(a), Ok(Some(WakeCause::Woken)));
    assert_eq!(s.next_deadline(0), Ok(None));
    assert_eq!(resched(&mut s, 0), a);
    // Blocks again without a deadline: the old timeout must not fire.
    s.block_current(0, BlockReason::Generic(1), None).unwrap();
    assert_eq!(s.wake_cause(a), Ok(None));
    assert_eq!(resched(&mut s, 0), idles[0]);
    assert_eq!(s.tick(0, 600), Ok(TickOutcome { woken: 0, reschedule: false }));
    assert_eq!(s.tick(0, u64::MAX), Ok(TickOutcome { woken: 0, reschedule: false }));
    assert_eq!(s.state(a), Ok(ThreadState::Blocked(BlockReason::Generic(1))));
    assert_eq!(s.wake_cause(a), Ok(None));
}

#[test]
fn exit_is_reapable_only_after_switch_done() {
    let (mut s, idles) = started::<16, 1>(5);
    let a = s.create(Priority::Normal, 0).unwrap();
    assert_eq!(resched(&mut s, 0), a);
    assert_eq!(s.exit_current(0, 42), Ok(a));
    assert_eq!(s.state(a), Ok(ThreadState::Exited(ExitStage::Departing)));
    assert_eq!(s.current(0), Ok(a));
    assert_eq!(s.take_reapable(0), Ok(None));
    assert_eq!(s.release(a), Err(SchedError::NotReapable));
    assert_eq!(s.wake(a), Ok(false));
    assert_eq!(s.migrate(a, 0), Err(SchedError::ThreadExited));
    assert_eq!(s.set_priority(a, Priority::High), Err(SchedError::ThreadExited));
    assert_eq!(s.schedule(0), Ok(Some(Switch { from: a, to: idles[0] })));
    check(&s);
    // Switched in the books, but the CPU may still be on a's stack.
    assert_eq!(s.take_reapable(0), Ok(None));
    assert_eq!(s.release(a), Err(SchedError::NotReapable));
    assert_eq!(s.schedule(0), Err(SchedError::SwitchPending));
    assert_eq!(s.yield_current(0), Err(SchedError::SwitchPending));
    assert_eq!(s.switch_done(0), Ok(Some(a)));
    assert_eq!(s.switch_done(0), Ok(None));
    assert_eq!(s.state(a), Ok(ThreadState::Exited(ExitStage::Reapable)));
    assert_eq!(s.counts(0), Ok(CpuCounts { exited: 1, idle_running: true, ..CpuCounts::default() }));
    assert_eq!(s.take_reapable(0), Ok(Some((a, 42))));
    assert_eq!(s.take_reapable(0), Ok(None));
    assert_eq!(s.state(a), Ok(ThreadState::Exited(ExitStage::Reaped)));
    assert_eq!(s.in_use(), 2);
    assert_eq!(s.release(a), Ok(()));
    assert_eq!(s.in_use(), 1);
    assert_eq!(s.release(a), Err(SchedError::StaleId));
    // A reapable thread may also be released without take_reapable.
    let b = s.create(Priority::High, 0).unwrap();
    assert_eq!(resched(&mut s, 0), b);
    s.exit_current(0, 7).unwrap();
    resched(&mut s, 0);
    assert_eq!(s.release(b), Ok(()));
    assert_eq!(s.take_reapable(0), Ok(None));
    check(&s);
}

#[test]
fn stale_ids_are_refused_after_release_and_reuse() {
    let (mut s, _) = started::<4, 1>(1);
    let a = s.create(Priority::Normal, 0).unwrap();
    let b = s.create(Priority::Normal, 0).unwrap();
    let c = s.create(Priority::Normal, 0).unwrap();
    assert_eq!(s.create(Priority::Normal, 0), Err(SchedError::TableFull));
    assert_eq!(resched(&mut s, 0), a);
    s.exit_current(0, 3).unwrap();
    assert_eq!(resched(&mut s, 0), b);
    assert_eq!(s.take_reapable(0), Ok(Some((a, 3))));
    s.release(a).unwrap();
    for stale in [a, ThreadId::from_raw(a.as_raw()).unwrap()] {
        assert_eq!(s.state(stale), Err(SchedError::StaleId));
        assert_eq!(s.wake(stale), Err(SchedError::StaleId));
        assert_eq!(s.wake_cause(stale), Err(SchedError::StaleId));
        assert_eq!(s.priority(stale), Err(SchedError::StaleId));
        assert_eq!(s.cpu_of(stale), Err(SchedError::StaleId));
        assert_eq!(s.set_priority(stale, Priority::High), Err(SchedError::StaleId));
        assert_eq!(s.migrate(stale, 0), Err(SchedError::StaleId));
        assert_eq!(s.release(stale), Err(SchedError::StaleId));
    }
    // The slot is reused with the next generation; the old id stays dead.
    let d = s.create(Priority::Low, 0).unwrap();
    assert_eq!(d.slot(), a.slot());
    assert_eq!(d.generation(), a.generation() + 1);
    assert_eq!(s.state(d), Ok(ThreadState::Ready));
    assert_eq!(s.state(a), Err(SchedError::StaleId));
    assert_eq!(s.wake(a), Err(SchedError::StaleId));
    assert_eq!(s.create(Priority::Normal, 0), Err(SchedError::TableFull));
    // Ids of slots never handed out, or beyond the table.
    let forged = ThreadId::new(3, 1);
    assert_eq!(forged, c);
    assert_eq!(s.state(forged), Ok(ThreadState::Ready));
    assert_eq!(s.state(ThreadId::new(4, 1)), Err(SchedError::InvalidId));
    assert_eq!(s.state(ThreadId::new(u32::MAX, 1)), Err(SchedError::InvalidId));
    let mut t = Scheduler::<4, 1>::new(1);
    assert_eq!(t.state(ThreadId::new(2, 1)), Err(SchedError::StaleId));
    assert_eq!(t.wake(ThreadId::new(0, 1)), Err(SchedError::StaleId));
    check(&s);
}

#[test]
fn thousand_create_exit_reap_cycles_leave_the_table_empty() {
    let (mut s, idles) = started::<8, 1>(2);
    for k in 0..1_000u64 {
        let t = s.create(Priority::Normal, 0).unwrap();
        assert_eq!(resched(&mut s, 0), t);
        s.exit_current(0, k).unwrap();
        assert_eq!(resched(&mut s, 0), idles[0]);
        assert_eq!(s.take_reapable(0), Ok(Some((t, k))));
        s.release(t).unwrap();
    }
    assert_eq!(s.in_use(), 1);
    // Several at a time, exiting in a shuffled order.
    for k in 0..1_000u64 {
        let batch: Vec<_> = (0..7).map(|_| s.create(Priority::ALL[1 + (k % 3) as usize], 0).unwrap()).collect();
        assert_eq!(s.create(Priority::High, 0), Err(SchedError::TableFull));
        for _ in 0..7 {
            let cur = resched(&mut s, 0);
            assert!(batch.contains(&cur));
            s.exit_current(0, k).unwrap();
        }
        assert_eq!(resched(&mut s, 0), idles[0]);
        let mut reaped = 0;
        while let Some((t, code)) = s.take_reapable(0).unwrap() {
            assert_eq!(code, k);
            s.release(t).unwrap();
            reaped += 1;
        }
        assert_eq!(reaped, 7);
    }
    assert_eq!(s.in_use(), 1);
    assert_eq!(s.counts(0), Ok(CpuCounts { idle_running: true, ..CpuCounts::default() }));
    assert_eq!(s.free.len, 7);
    check(&s);
}

#[test]
fn per_cpu_queues_are_independent() {
    let (mut s, idles) = started::<16, 2>(2);
    let a = s.create(Priority::Normal, 0).unwrap();
    let b = s.create(Priority::Normal, 0).unwrap();
    let c = s.create(Priority::Normal, 1).unwrap();
    assert_eq!(resched(&mut s, 0), a);
    assert_eq!(resched(&mut s, 1), c);
    assert_eq!(s.counts(0), Ok(CpuCounts { ready: 1, running: 1, ..CpuCounts::default() }));
    assert_eq!(s.counts(1), Ok(CpuCounts { running: 1, ..CpuCounts::default() }));
    // Ticks on CPU 1 never charge CPU 0.
    for now in 1..10 {
        assert!(!s.tick(1, now).unwrap().reschedule);
    }
    assert_eq!(s.needs_reschedule(0), Ok(false));
    // A sleeper on CPU 1 is woken by CPU 1's tick only.
    s.block_current(1, BlockReason::Sleep, Some(50)).unwrap();
    assert_eq!(resched(&mut s, 1), idles[1]);
    assert_eq!(s.tick(0, 100).unwrap().woken, 0);
    assert_eq!(s.state(c), Ok(ThreadState::Blocked(BlockReason::Sleep)));
    assert_eq!(s.next_deadline(0), Ok(None));
    assert_eq!(s.next_deadline(1), Ok(Some(50)));
    assert_eq!(s.tick(1, 100), Ok(TickOutcome { woken: 1, reschedule: true }));
    // CPU 0 round-robins between a and b; CPU 1 switches to c on its own.
    let mut now = 100;
    assert_eq!(run_out(&mut s, 0, &mut now, 2), b);
    assert_eq!(resched(&mut s, 1), c);
    assert_eq!(s.cpu_of(c), Ok(1));
    // Switch confirmations are per CPU too.
    s.exit_current(0, 0).unwrap();
    assert!(s.schedule(0).unwrap().is_some());
    assert_eq!(s.yield_current(1), Ok(None));
    assert_eq!(s.take_reapable(1), Ok(None));
    assert_eq!(s.switch_done(1), Ok(None));
    assert_eq!(s.take_reapable(0), Ok(None));
    assert_eq!(s.switch_done(0), Ok(Some(b)));
    assert_eq!(s.take_reapable(1), Ok(None));
    assert_eq!(s.take_reapable(0), Ok(Some((b, 0))));
    check(&s);
}

#[test]
fn migrate_ready_and_blocked_threads() {
    let (mut s, idles) = started::<16, 2>(2);
    let a = s.create(Priority::Normal, 0).unwrap();
    let b = s.create(Priority::Normal, 0).unwrap();
    let c = s.create(Priority::Normal, 1).unwrap();
    assert_eq!(s.migrate(a, 2), Err(SchedError::BadCpu));
    assert_eq!(s.migrate(a, 0), Ok(()));
    // A ready thread joins the tail of its band on the other CPU.
    assert_eq!(s.migrate(a, 1), Ok(()));
    assert_eq!(s.cpu_of(a), Ok(1));
    assert_eq!(resched(&mut s, 0), b);
    assert_eq!(resched(&mut s, 1), c);
    assert_eq!(s.migrate(c, 0), Err(SchedError::ThreadRunning));
    assert_eq!(s.yield_current(1), Ok(Some(Switch { from: c, to: a })));
    // c was preempted but CPU 1 is still switching away from it.
    assert_eq!(s.migrate(c, 0), Err(SchedError::SwitchPending));
    s.switch_done(1).unwrap();
    // A blocked thread that has not been switched away from is still on its CPU.
    s.block_current(0, BlockReason::Sleep, Some(30)).unwrap();
    assert_eq!(s.migrate(b, 1), Err(SchedError::ThreadRunning));
    assert_eq!(resched(&mut s, 0), idles[0]);
    // Sleepers move with their deadline: CPU 0 no longer wakes b, CPU 1 does.
    assert_eq!(s.migrate(b, 1), Ok(()));
    assert_eq!(s.next_deadline(0), Ok(None));
    assert_eq!(s.next_deadline(1), Ok(Some(30)));
    assert_eq!(s.tick(0, 40).unwrap().woken, 0);
    assert_eq!(s.tick(1, 40).unwrap().woken, 1);
    assert_eq!(s.cpu_of(b), Ok(1));
    assert_eq!(s.state(b), Ok(ThreadState::Ready));
    // A thread blocked without a deadline moves too, and is woken into its new CPU's queue.
    assert_eq!(s.migrate(c, 0), Ok(()));
    assert_eq!(resched(&mut s, 0), c);
    s.block_current(0, BlockReason::Generic(5), None).unwrap();
    assert_eq!(resched(&mut s, 0), idles[0]);
    assert_eq!(s.migrate(c, 1), Ok(()));
    assert_eq!(s.wake(c), Ok(true));
    assert_eq!(s.counts(0), Ok(CpuCounts { idle_running: true, ..CpuCounts::default() }));
    assert_eq!(s.counts(1), Ok(CpuCounts { ready: 2, running: 1, ..CpuCounts::default() }));
    check(&s);
}

#[test]
fn set_priority_moves_between_bands() {
    let (mut s, _) = started::<16, 1>(3);
    let a = s.create(Priority::Normal, 0).unwrap();
    let b = s.create(Priority::Low, 0).unwrap();
    let c = s.create(Priority::Low, 0).unwrap();
    assert_eq!(s.set_priority(a, Priority::Idle), Err(SchedError::IdlePriority));
    // c jumps above a; a ready thread changing band goes to the tail of the new band.
    s.set_priority(c, Priority::High).unwrap();
    assert_eq!(resched(&mut s, 0), c);
    // Lowering the running thread below a ready one makes it give way.
    assert_eq!(s.needs_reschedule(0), Ok(false));
    s.set_priority(c, Priority::Low).unwrap();
    assert_eq!(s.needs_reschedule(0), Ok(true));
    assert_eq!(resched(&mut s, 0), a);
    assert_eq!(s.priority(c), Ok(Priority::Low));
    // In the low band, b is ahead of c (c was queued when it was preempted).
    s.block_current(0, BlockReason::Generic(0), None).unwrap();
    assert_eq!(resched(&mut s, 0), b);
    // A blocked thread keeps its new band when it wakes.
    s.set_priority(a, Priority::High).unwrap();
    assert_eq!(s.state(a), Ok(ThreadState::Blocked(BlockReason::Generic(0))));
    s.wake(a).unwrap();
    assert_eq!(resched(&mut s, 0), a);
    check(&s);
}

#[test]
fn refusals() {
    let mut s = Small::new(2);
    assert_eq!(s.current(0), Err(SchedError::NotStarted));
    assert_eq!(s.idle(0), Err(SchedError::NotStarted));
    assert_eq!(s.schedule(0), Err(SchedError::NotStarted));
    assert_eq!(s.switch_done(0), Err(SchedError::NotStarted));
    assert_eq!(s.yield_current(0), Err(SchedError::NotStarted));
    assert_eq!(s.block_current(0, BlockReason::Sleep, None), Err(SchedError::NotStarted));
    assert_eq!(s.exit_current(0, 0), Err(SchedError::NotStarted));
    assert_eq!(s.needs_reschedule(0), Ok(false));
    // Threads may be created on a CPU before it starts.
    let early = s.create(Priority::Normal, 1).unwrap();
    assert_eq!(s.tick(1, 5), Ok(TickOutcome { woken: 0, reschedule: false }));
    for cpu in [2, usize::MAX] {
        assert_eq!(s.add_idle(cpu), Err(SchedError::BadCpu));
        assert_eq!(s.create(Priority::Normal, cpu), Err(SchedError::BadCpu));
        assert_eq!(s.current(cpu), Err(SchedError::BadCpu));
        assert_eq!(s.tick(cpu, 0), Err(SchedError::BadCpu));
        assert_eq!(s.needs_reschedule(cpu), Err(SchedError::BadCpu));
        assert_eq!(s.schedule(cpu), Err(SchedError::BadCpu));
        assert_eq!(s.switch_done(cpu), Err(SchedError::BadCpu));
        assert_eq!(s.yield_current(cpu), Err(SchedError::BadCpu));
        assert_eq!(s.block_current(cpu, BlockReason::Sleep, None), Err(SchedError::BadCpu));
        assert_eq!(s.exit_current(cpu, 0), Err(SchedError::BadCpu));
        assert_eq!(s.take_reapable(cpu), Err(SchedError::BadCpu));
        assert_eq!(s.next_deadline(cpu), Err(SchedError::BadCpu));
        assert_eq!(s.counts(cpu), Err(SchedError::BadCpu));
        assert_eq!(s.migrate(early, cpu), Err(SchedError::BadCpu));
    }
    assert_eq!(s.create(Priority::Idle, 0), Err(SchedError::IdlePriority));
    let idle = s.add_idle(1).unwrap();
    assert_eq!(s.add_idle(1), Err(SchedError::IdleExists));
    assert_eq!(s.current(1), Ok(idle));
    assert_eq!(resched(&mut s, 1), early);
    let mut none = Scheduler::<0, 0>::new(1);
    assert_eq!(none.add_idle(0), Err(SchedError::BadCpu));
    let mut tiny = Scheduler::<1, 2>::new(1);
    tiny.add_idle(0).unwrap();
    assert_eq!(tiny.add_idle(1), Err(SchedError::TableFull));
    assert_eq!(tiny.create(Priority::High, 0), Err(SchedError::TableFull));
    check(&s);
    check(&tiny);
    let _ = std::format!("{s:?}");
}

#[test]
fn error_strings() {
    let all = [
        SchedError::BadCpu,
        SchedError::TableFull,
        SchedError::InvalidId,
        SchedError::StaleId,
        SchedError::IdleExists,
        SchedError::NotStarted,
        SchedError::IdlePriority,
        SchedError::IdleThread,
        SchedError::NotRunning,
        SchedError::SwitchPending,
        SchedError::ThreadRunning,
        SchedError::ThreadExited,
        SchedError::NotReapable,
        SchedError::Corrupted,
        SchedError::AffinityViolation,
    ];
    for (i, a) in all.iter().enumerate() {
        assert_eq!(std::format!("{a}"), a.as_str());
        for b in &all[i + 1..] {
            assert_ne!(a.as_str(), b.as_str());
        }
    }
    let names: Vec<_> = Priority::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(names, ["idle", "low", "normal", "high"]);
}

// ---- affinity and load balancing ----

#[test]
fn cpu_set_basics() {
    assert!(CpuSet::EMPTY.is_empty() && CpuSet::EMPTY.first().is_none());
    assert_eq!(CpuSet::all().len(), 64);
    assert!(CpuSet::all().contains(0) && CpuSet::all().contains(63) && !CpuSet::all().contains(64));
    assert_eq!(CpuSet::single(5).iter().collect::<Vec<_>>(), [5]);
    assert!(CpuSet::single(64).is_empty() && CpuSet::single(usize::MAX).is_empty());
    let set = CpuSet::single(9).with(2).with(63).with(100);
    assert_eq!(set.bits(), (1 << 9) | (1 << 2) | (1 << 63));
    assert_eq!((set.first(), set.len()), (Some(2), 3));
    assert_eq!(set.iter().collect::<Vec<_>>(), [2, 9, 63]);
    assert_eq!(set.iter().len(), 3);
    assert_eq!(set.without(2).first(), Some(9));
    assert_eq!(CpuSet::from_bits(set.bits()), set);
    assert!(!set.contains(3) && set.contains(63));
    assert_eq!(CpuSet::all().into_iter().count(), 64);
}

#[test]
fn affinity_refusals() {
    let (mut s, idles) = started::<16, 4>(2);
    assert_eq!(s.create_with_affinity(Priority::Normal, 1, CpuSet::single(0)), Err(SchedError::AffinityViolation));
    assert_eq!(s.create_with_affinity(Priority::Normal, 0, CpuSet::EMPTY), Err(SchedError::AffinityViolation));
    assert_eq!(s.create_with_affinity(Priority::Normal, 4, CpuSet::all()), Err(SchedError::BadCpu));
    assert_eq!(s.create_with_affinity(Priority::Idle, 0, CpuSet::all()), Err(SchedError::IdlePriority));
    assert_eq!(s.in_use(), 4);
    let t = s.create_with_affinity(Priority::Normal, 2, CpuSet::single(2).with(3)).unwrap();
    assert_eq!(s.affinity(t), Ok(CpuSet::single(2).with(3)));
    let any = s.create(Priority::Normal, 1).unwrap();
    assert_eq!(s.affinity(any), Ok(CpuSet::all()));
    // Sets without a CPU of this scheduler change nothing.
    for bad in [CpuSet::EMPTY, CpuSet::single(4), CpuSet::single(4).with(63)] {
        assert_eq!(s.set_affinity(t, bad), Err(SchedError::AffinityViolation));
    }
    assert_eq!(s.affinity(t), Ok(CpuSet::single(2).with(3)));
    assert_eq!(s.cpu_of(t), Ok(2));
    // migrate stays inside the set.
    assert_eq!(s.migrate(t, 0), Err(SchedError::AffinityViolation));
    assert_eq!(s.migrate(t, 3), Ok(()));
    assert_eq!(s.set_affinity(idles[0], CpuSet::all()), Err(SchedError::IdleThread));
    assert_eq!(s.affinity(idles[1]), Ok(CpuSet::single(1)));
    assert_eq!(resched(&mut s, 1), any);
    s.exit_current(1, 0).unwrap();
    assert_eq!(s.set_affinity(any, CpuSet::single(0)), Err(SchedError::ThreadExited));
    resched(&mut s, 1);
    s.release(any).unwrap();
    assert_eq!(s.set_affinity(any, CpuSet::all()), Err(SchedError::StaleId));
    assert_eq!(s.affinity(any), Err(SchedError::StaleId));
    assert_eq!(s.runnable(4), Err(SchedError::BadCpu));
    check(&s);
}

#[test]
fn set_affinity_migrates_ready_and_sleeping_threads() {
    let (mut s, idles) = started::<16, 3>(2);
    let a = s.create(Priority::Normal, 0).unwrap();
    let b = s.create(Priority::Normal, 0).unwrap();
    let c = s.create(Priority::Normal, 0).unwrap();
    assert_eq!(resched(&mut s, 0), a);
    s.block_current(0, BlockReason::Sleep, Some(50)).unwrap();
    assert_eq!(resched(&mut s, 0), b);
    s.block_current(0, BlockReason::Generic(3), None).unwrap();
    assert_eq!(resched(&mut s, 0), c);
    // Still allowed: nothing moves.
    assert_eq!(s.set_affinity(a, CpuSet::single(0).with(2)), Ok(AffinityChange::Stays));
    assert_eq!(s.cpu_of(a), Ok(0));
    // A sleeper moves to the first allowed CPU with its deadline.
    assert_eq!(s.set_affinity(a, CpuSet::single(2).with(1)), Ok(AffinityChange::Migrated { to: 1 }));
    assert_eq!(s.cpu_of(a), Ok(1));
    assert_eq!(s.state(a), Ok(ThreadState::Blocked(BlockReason::Sleep)));
    assert_eq!(s.next_deadline(0), Ok(None));
    assert_eq!(s.next_deadline(1), Ok(Some(50)));
    assert_eq!(s.tick(0, 50).unwrap().woken, 0);
    assert_eq!(s.tick(1, 50), Ok(TickOutcome { woken: 1, reschedule: true }));
    assert_eq!(resched(&mut s, 1), a);
    // A thread blocked without a deadline moves and is woken on its new CPU.
    assert_eq!(s.set_affinity(b, CpuSet::single(2)), Ok(AffinityChange::Migrated { to: 2 }));
    assert_eq!(s.wake(b), Ok(true));
    assert_eq!(s.counts(2), Ok(CpuCounts { ready: 1, idle_running: true, ..CpuCounts::default() }));
    assert_eq!(resched(&mut s, 2), b);
    // A ready thread moves to the tail of its band.
    let d = s.create(Priority::Normal, 0).unwrap();
    let e = s.create(Priority::Normal, 1).unwrap();
    assert_eq!(s.set_affinity(d, CpuSet::single(1)), Ok(AffinityChange::Migrated { to: 1 }));
    assert_eq!(s.state(d), Ok(ThreadState::Ready));
    assert_eq!(s.yield_current(1), Ok(Some(Switch { from: a, to: e })));
    s.switch_done(1).unwrap();
    assert_eq!(s.yield_current(1), Ok(Some(Switch { from: e, to: d })));
    s.switch_done(1).unwrap();
    assert_eq!(s.counts(0), Ok(CpuCounts { running: 1, ..CpuCounts::default() }));
    assert_eq!(s.current(2), Ok(b));
    assert_ne!(s.current(0), Ok(idles[0]));
    check(&s);
}

#[test]
fn running_thread_moves_after_its_switch() {
    let (mut s, idles) = started::<16, 2>(5);
    let a = s.create(Priority::Normal, 0).unwrap();
    let b = s.create(Priority::Normal, 0).unwrap();
    assert_eq!(resched(&mut s, 0), a);
    assert_eq!(s.needs_reschedule(0), Ok(false));
    assert_eq!(s.set_affinity(a, CpuSet::single(1)), Ok(AffinityChange::MoveAtNextSwitch));
    assert_eq!((s.cpu_of(a), s.state(a)), (Ok(0), Ok(ThreadState::Running)));
    assert_eq!(s.needs_reschedule(0), Ok(true));
    assert!(s.tick(0, 1).unwrap().reschedule);
    check(&s);
    assert_eq!(s.schedule(0), Ok(Some(Switch { from: a, to: b })));
    // Until the switch is confirmed it stays queued here but cannot be taken anywhere.
    assert_eq!((s.cpu_of(a), s.state(a)), (Ok(0), Ok(ThreadState::Ready)));
    assert_eq!(s.migrate(a, 1), Err(SchedError::SwitchPending));
    assert_eq!(s.balance(), Ok(None));
    check(&s);
    assert_eq!(s.switch_done(0), Ok(Some(a)));
    assert_eq!((s.cpu_of(a), s.state(a)), (Ok(1), Ok(ThreadState::Ready)));
    assert_eq!(resched(&mut s, 1), a);
    // Alone on its CPU: schedule switches to idle rather than picking it again.
    assert_eq!(s.set_affinity(a, CpuSet::single(0)), Ok(AffinityChange::MoveAtNextSwitch));
    assert_eq!(s.schedule(1), Ok(Some(Switch { from: a, to: idles[1] })));
    assert_eq!(s.switch_done(1), Ok(Some(a)));
    assert_eq!(s.cpu_of(a), Ok(0));
    assert_eq!(s.counts(0), Ok(CpuCounts { ready: 1, running: 1, ..CpuCounts::default() }));
    // Blocked but not switched away yet: it moves as a sleeper, deadline kept.
    assert_eq!(s.yield_current(0), Ok(Some(Switch { from: b, to: a })));
    s.switch_done(0).unwrap();
    s.block_current(0, BlockReason::Sleep, Some(70)).unwrap();
    assert_eq!(s.set_affinity(a, CpuSet::single(1)), Ok(AffinityChange::MoveAtNextSwitch));
    assert_eq!(s.cpu_of(a), Ok(0));
    assert_eq!(resched(&mut s, 0), b);
    assert_eq!(s.cpu_of(a), Ok(1));
    assert_eq!(s.next_deadline(0), Ok(None));
    assert_eq!(s.next_deadline(1), Ok(Some(70)));
    assert_eq!(s.tick(1, 70).unwrap().woken, 1);
    assert_eq!(resched(&mut s, 1), a);
    // Preempted but not confirmed yet: it moves at switch_done.
    let c = s.create(Priority::Normal, 1).unwrap();
    assert_eq!(s.yield_current(1), Ok(Some(Switch { from: a, to: c })));
    assert_eq!(s.set_affinity(a, CpuSet::single(0)), Ok(AffinityChange::MoveAtNextSwitch));
    check(&s);
    assert_eq!(s.switch_done(1), Ok(Some(a)));
    assert_eq!((s.cpu_of(a), s.state(a)), (Ok(0), Ok(ThreadState::Ready)));
    // Allowed again before the switch: it stays.
    assert_eq!(resched(&mut s, 1), c);
    assert_eq!(s.set_affinity(c, CpuSet::single(0)), Ok(AffinityChange::MoveAtNextSwitch));
    assert_eq!(s.set_affinity(c, CpuSet::all()), Ok(AffinityChange::Stays));
    assert_eq!(s.needs_reschedule(1), Ok(false));
    check(&s);
}

/// Runnable counts of every CPU.
fn loads<const T: usize, const C: usize>(s: &Scheduler<T, C>) -> Vec<usize> {
    (0..C).map(|c| s.runnable(c).unwrap()).collect()
}

#[test]
fn balance_spreads_threads_one_per_call() {
    let (mut s, _) = started::<32, 4>(2);
    let threads: Vec<_> = (0..6).map(|_| s.create(Priority::Normal, 0).unwrap()).collect();
    assert_eq!(loads(&s), [6, 0, 0, 0]);
    let mut calls = 0;
    while let Some(m) = s.balance().unwrap() {
        calls += 1;
        assert!(calls <= 6, "balance does not converge");
        // The tail of CPU 0's band goes to the idlest CPU, one thread per call.
        assert_eq!(m.from, 0);
        assert_eq!(m.thread, threads[6 - calls]);
        assert_eq!(s.cpu_of(m.thread), Ok(m.to));
        assert_eq!(loads(&s).iter().sum::<usize>(), 6);
        check(&s);
    }
    assert_eq!(calls, 4);
    assert_eq!(loads(&s), [2, 2, 1, 1]);
    assert_eq!(s.balance(), Ok(None));
    // Running threads count: each CPU runs one, CPU 0 and 1 have one more waiting.
    for c in 0..4 {
        resched(&mut s, c);
    }
    assert_eq!(loads(&s), [2, 2, 1, 1]);
    assert_eq!(s.balance(), Ok(None));
    // A blocked thread does not count: CPU 2 and 3 go idle, and two ready threads move.
    for c in [2, 3] {
        s.block_current(c, BlockReason::Generic(0), None).unwrap();
        resched(&mut s, c);
    }
    assert_eq!(loads(&s), [2, 2, 0, 0]);
    assert_eq!(s.balance().unwrap().map(|m| (m.from, m.to)), Some((0, 2)));
    assert_eq!(s.balance().unwrap().map(|m| (m.from, m.to)), Some((1, 3)));
    assert_eq!(s.balance(), Ok(None));
    assert_eq!(loads(&s), [1, 1, 1, 1]);
    // The moved threads are ready on their new CPU and preempt its idle thread.
    assert_eq!(s.needs_reschedule(2), Ok(true));
    check(&s);
}

#[test]
fn terminate_during_a_switch_waits_for_switch_done() {
    let (mut s, _) = started::<16, 2>(2);
    let a = s.create(Priority::Normal, 0).unwrap();
    let b = s.create(Priority::Normal, 0).unwrap();
    assert_eq!(resched(&mut s, 0), a);
    // CPU 0 switches from a to b; before it confirms, another CPU kills a.
    s.block_current(0, BlockReason::Generic(0), None).unwrap();
    let switch = s.schedule(0).unwrap().unwrap();
    assert_eq!((switch.from, switch.to), (a, b));
    assert_eq!(s.terminate(a, 9), Ok(()));
    // Its stack is still in use: not reapable, its slot not releasable.
    assert_eq!(s.take_reapable(0), Ok(None));
    assert_eq!(s.take_reapable(1), Ok(None));
    assert_eq!(s.reapable(), 0);
    assert!(s.release(a).is_err());
    check(&s);
    assert_eq!(s.switch_done(0), Ok(Some(a)));
    assert_eq!(s.reapable(), 1);
    assert_eq!(s.take_reapable(0), Ok(Some((a, 9))));
    assert_eq!(s.release(a), Ok(()));
    check(&s);
}

#[test]
fn place_picks_the_least_loaded_allowed_started_cpu() {
    let (mut s, _) = started::<32, 4>(3);
    // CPU 3 is not started: nothing is placed there, even when the set names only it.
    assert_eq!(s.place(CpuSet::all()), Ok(0));
    s.create(Priority::Normal, 0).unwrap();
    assert_eq!(s.place(CpuSet::all()), Ok(1));
    s.create(Priority::Normal, 1).unwrap();
    assert_eq!(s.place(CpuSet::all()), Ok(2));
    s.create(Priority::Normal, 2).unwrap();
    s.create(Priority::Normal, 2).unwrap();
    assert_eq!(s.place(CpuSet::single(1).with(2)), Ok(1));
    assert_eq!(s.place(CpuSet::single(3)), Ok(3));
    assert_eq!(s.place(CpuSet::EMPTY), Err(SchedError::AffinityViolation));
    check(&s);
}

#[test]
fn balance_respects_affinity() {
    let (mut s, _) = started::<32, 4>(2);
    let pinned: Vec<_> =
        (0..5).map(|_| s.create_with_affinity(Priority::Normal, 0, CpuSet::single(0)).unwrap()).collect();
    resched(&mut s, 0);
    for _ in 0..10 {
        assert_eq!(s.balance(), Ok(None));
    }
    let pair = CpuSet::single(1).with(2);
    let movable: Vec<_> = (0..4).map(|_| s.create_with_affinity(Priority::Low, 1, pair).unwrap()).collect();
    assert_eq!(loads(&s), [5, 4, 0, 0]);
    // CPU 0 is busiest but nothing there may move; CPU 1 gives to CPU 2, never to 0 or 3.
    for _ in 0..2 {
        let m = s.balance().unwrap().unwrap();
        assert_eq!((m.from, m.to), (1, 2));
        assert!(movable.contains(&m.thread));
        check(&s);
    }
    assert_eq!(s.balance(), Ok(None));
    assert_eq!(loads(&s), [5, 2, 2, 0]);
    for &t in &pinned {
        assert_eq!(s.cpu_of(t), Ok(0));
    }
}

#[test]
fn balance_never_moves_running_idle_or_switching_threads() {
    let (mut s, idles) = started::<16, 2>(2);
    let a = s.create(Priority::High, 0).unwrap();
    assert_eq!(resched(&mut s, 0), a);
    // One running thread and idle threads everywhere: nothing to move.
    assert_eq!(loads(&s), [1, 0]);
    assert_eq!(s.balance(), Ok(None));
    let b = s.create(Priority::Normal, 0).unwrap();
    assert_eq!(loads(&s), [2, 0]);
    assert_eq!(s.balance(), Ok(Some(Migration { thread: b, from: 0, to: 1 })));
    assert_eq!((s.cpu_of(a), s.cpu_of(idles[0]), s.cpu_of(idles[1])), (Ok(0), Ok(0), Ok(1)));
    assert_eq!(s.balance(), Ok(None));
    // A preempted thread whose switch is not confirmed is skipped; the one before it moves.
    let c = s.create(Priority::High, 0).unwrap();
    let d = s.create(Priority::High, 0).unwrap();
    resched(&mut s, 1);
    s.expire_quantum(0).unwrap();
    assert_eq!(s.schedule(0), Ok(Some(Switch { from: a, to: c })));
    assert_eq!(loads(&s), [3, 1]);
    assert_eq!(s.balance(), Ok(Some(Migration { thread: d, from: 0, to: 1 })));
    assert_eq!(s.balance(), Ok(None));
    s.switch_done(0).unwrap();
    assert_eq!(s.cpu_of(a), Ok(0));
    check(&s);
}

// ---- randomized run against a reference model ----

#[derive(Clone, Debug)]
struct MThread {
    state: ThreadState,
    priority: Priority,
    cpu: usize,
    affinity: CpuSet,
    slice: u32,
    deadline: Option<u64>,
    /// Order of arrival in the sleeper list (equal deadlines wake in this order).
    seq: u64,
    cause: Option<WakeCause>,
    code: u64,
}

#[derive(Default)]
struct MCpu {
    queues: [VecDeque<usize>; BANDS],
    current: Option<usize>,
    idle: Option<usize>,
    pending: Option<usize>,
    reap: VecDeque<usize>,
}

/// The scheduler's specification written the obvious way: vectors and queues, no links.
struct Model {
    threads: Vec<Option<MThread>>,
    gens: Vec<u32>,
    fresh: usize,
    free: VecDeque<usize>,
    cpus: Vec<MCpu>,
    quantum: u32,
    seq: u64,
}

type R<T> = Result<T, SchedError>;

impl Model {
    fn new(threads: usize, cpus: usize, quantum: u32) -> Model {
        Model {
            threads: vec![None; threads],
            gens: vec![1; threads],
            fresh: 0,
            free: VecDeque::new(),
            cpus: (0..cpus).map(|_| MCpu::default()).collect(),
            quantum,
            seq: 0,
        }
    }

    fn id(&self, i: usize) -> ThreadId {
        ThreadId::new(i as u32, self.gens[i])
    }

    fn t(&mut self, i: usize) -> &mut MThread {
        self.threads[i].as_mut().unwrap()
    }

    fn cpu(&self, cpu: usize) -> R<()> {
        if cpu < self.cpus.len() { Ok(()) } else { Err(SchedError::BadCpu) }
    }

    fn resolve(&self, id: ThreadId) -> R<usize> {
        let i = id.slot();
        if i >= self.threads.len() {
            return Err(SchedError::InvalidId);
        }
        if self.gens[i] != id.generation() || self.threads[i].is_none() {
            return Err(SchedError::StaleId);
        }
        Ok(i)
    }

    fn allocate(&mut self, t: MThread) -> R<usize> {
        let i = if self.fresh < self.threads.len() {
            self.fresh += 1;
            self.fresh - 1
        } else {
            self.free.pop_front().ok_or(SchedError::TableFull)?
        };
        self.threads[i] = Some(t);
        Ok(i)
    }

    fn fresh_thread(&self, priority: Priority, cpu: usize, state: ThreadState) -> MThread {
        MThread {
            state,
            priority,
            cpu,
            affinity: CpuSet::all(),
            slice: self.quantum,
            deadline: None,
            seq: 0,
            cause: None,
            code: 0,
        }
    }

    fn add_idle(&mut self, cpu: usize) -> R<ThreadId> {
        self.cpu(cpu)?;
        if self.cpus[cpu].idle.is_some() {
            return Err(SchedError::IdleExists);
        }
        let mut idle = self.fresh_thread(Priority::Idle, cpu, ThreadState::Running);
        idle.affinity = CpuSet::single(cpu);
        let i = self.allocate(idle)?;
        self.cpus[cpu].idle = Some(i);
        self.cpus[cpu].current = Some(i);
        Ok(self.id(i))
    }

    fn create(&mut self, priority: Priority, cpu: usize) -> R<ThreadId> {
        self.create_with_affinity(priority, cpu, CpuSet::all())
    }

    fn create_with_affinity(&mut self, priority: Priority, cpu: usize, affinity: CpuSet) -> R<ThreadId> {
        self.cpu(cpu)?;
        if priority == Priority::Idle {
            return Err(SchedError::IdlePriority);
        }
        if !affinity.contains(cpu) {
            return Err(SchedError::AffinityViolation);
        }
        let mut t = self.fresh_thread(priority, cpu, ThreadState::Ready);
        t.affinity = affinity;
        let i = self.allocate(t)?;
        self.cpus[cpu].queues[priority.band()].push_back(i);
        Ok(self.id(i))
    }

    fn started(&self, cpu: usize) -> R<usize> {
        self.cpu(cpu)?;
        self.cpus[cpu].current.ok_or(SchedError::NotStarted)
    }

    fn needs(&self, cpu: usize) -> bool {
        let Some(cur) = self.cpus[cpu].current else { return false };
        let t = self.threads[cur].as_ref().unwrap();
        if t.state != ThreadState::Running || !t.affinity.contains(cpu) {
            return true;
        }
        match (0..BANDS).rev().find(|&b| !self.cpus[cpu].queues[b].is_empty()) {
            None => false,
            Some(b) => b > t.priority.band() || (b == t.priority.band() && t.slice == 0),
        }
    }

    fn runnable(&mut self, i: usize, cause: WakeCause) {
        let cpu = self.t(i).cpu;
        let current = self.cpus[cpu].current == Some(i);
        let t = self.t(i);
        t.deadline = None;
        t.cause = Some(cause);
        if current {
            t.state = ThreadState::Running;
        } else {
            t.state = ThreadState::Ready;
            let band = t.priority.band();
            self.cpus[cpu].queues[band].push_back(i);
        }
    }

    fn tick(&mut self, cpu: usize, now: u64) -> R<TickOutcome> {
        self.cpu(cpu)?;
        let mut due: Vec<(u64, u64, usize)> = (0..self.threads.len())
            .filter_map(|i| {
                let t = self.threads[i].as_ref()?;
                match (t.state, t.deadline) {
                    (ThreadState::Blocked(_), Some(d)) if t.cpu == cpu && d <= now => Some((d, t.seq, i)),
                    _ => None,
                }
            })
            .collect();
        due.sort();
        for &(_, _, i) in &due {
            self.runnable(i, WakeCause::TimedOut);
        }
        if let Some(cur) = self.cpus[cpu].current {
            let t = self.t(cur);
            if t.state == ThreadState::Running {
                t.slice = t.slice.saturating_sub(1);
            }
        }
        Ok(TickOutcome { woken: due.len(), reschedule: self.needs(cpu) })
    }

    fn schedule(&mut self, cpu: usize) -> R<Option<Switch>> {
        let from = self.started(cpu)?;
        if self.cpus[cpu].pending.is_some() {
            return Err(SchedError::SwitchPending);
        }
        if !self.needs(cpu) {
            return Ok(None);
        }
        let requeue = |m: &mut Model| {
            m.t(from).state = ThreadState::Ready;
            let band = m.t(from).priority.band();
            m.cpus[cpu].queues[band].push_back(from);
        };
        // A thread leaving this CPU is queued after the pick, so it is not picked again.
        let running = self.t(from).state == ThreadState::Running;
        let leaving = !self.t(from).affinity.contains(cpu);
        if running && !leaving {
            requeue(self);
        }
        let band = (0..BANDS).rev().find(|&b| !self.cpus[cpu].queues[b].is_empty()).unwrap();
        let to = self.cpus[cpu].queues[band].pop_front().unwrap();
        let quantum = self.quantum;
        let t = self.t(to);
        t.state = ThreadState::Running;
        t.slice = quantum;
        if running && leaving {
            requeue(self);
        }
        self.cpus[cpu].current = Some(to);
        if to == from {
            return Ok(None);
        }
        self.cpus[cpu].pending = Some(from);
        Ok(Some(Switch { from: self.id(from), to: self.id(to) }))
    }

    fn switch_done(&mut self, cpu: usize) -> R<Option<ThreadId>> {
        self.started(cpu)?;
        let Some(from) = self.cpus[cpu].pending.take() else { return Ok(None) };
        let t = self.t(from).clone();
        if t.state == ThreadState::Exited(ExitStage::Departing) {
            self.t(from).state = ThreadState::Exited(ExitStage::Reapable);
            self.cpus[cpu].reap.push_back(from);
        } else if matches!(t.state, ThreadState::Ready | ThreadState::Blocked(_)) && !t.affinity.contains(cpu) {
            let to = t.affinity.iter().find(|&c| c < self.cpus.len()).unwrap();
            self.move_to(from, to);
        }
        Ok(Some(self.id(from)))
    }

    fn yield_current(&mut self, cpu: usize) -> R<Option<Switch>> {
        let cur = self.started(cpu)?;
        if self.cpus[cpu].pending.is_some() {
            return Err(SchedError::SwitchPending);
        }
        if self.t(cur).state != ThreadState::Running {
            return Err(SchedError::NotRunning);
        }
        self.t(cur).slice = 0;
        self.schedule(cpu)
    }

    fn running_current(&mut self, cpu: usize) -> R<usize> {
        let cur = self.started(cpu)?;
        if self.cpus[cpu].idle == Some(cur) {
            return Err(SchedError::IdleThread);
        }
        if self.t(cur).state != ThreadState::Running {
            return Err(SchedError::NotRunning);
        }
        Ok(cur)
    }

    fn block(&mut self, cpu: usize, reason: BlockReason, deadline: Option<u64>) -> R<ThreadId> {
        let cur = self.running_current(cpu)?;
        self.seq += 1;
        let seq = self.seq;
        let t = self.t(cur);
        t.state = ThreadState::Blocked(reason);
        t.deadline = deadline;
        t.cause = None;
        t.seq = seq;
        Ok(self.id(cur))
    }

    fn exit(&mut self, cpu: usize, code: u64) -> R<ThreadId> {
        let cur = self.running_current(cpu)?;
        let t = self.t(cur);
        t.state = ThreadState::Exited(ExitStage::Departing);
        t.code = code;
        Ok(self.id(cur))
    }

    fn wake(&mut self, id: ThreadId) -> R<bool> {
        let i = self.resolve(id)?;
        if !matches!(self.t(i).state, ThreadState::Blocked(_)) {
            return Ok(false);
        }
        self.runnable(i, WakeCause::Woken);
        Ok(true)
    }

    fn take_reapable(&mut self, cpu: usize) -> R<Option<(ThreadId, u64)>> {
        self.cpu(cpu)?;
        let Some(i) = self.cpus[cpu].reap.pop_front() else { return Ok(None) };
        self.t(i).state = ThreadState::Exited(ExitStage::Reaped);
        Ok(Some((self.id(i), self.t(i).code)))
    }

    fn release(&mut self, id: ThreadId) -> R<()> {
        let i = self.resolve(id)?;
        match self.t(i).state {
            ThreadState::Exited(ExitStage::Reapable) => {
                let cpu = self.t(i).cpu;
                self.cpus[cpu].reap.retain(|&x| x != i);
            }
            ThreadState::Exited(ExitStage::Reaped) => {}
            _ => return Err(SchedError::NotReapable),
        }
        self.threads[i] = None;
        self.gens[i] = next_generation(self.gens[i]);
        self.free.push_back(i);
        Ok(())
    }

    fn set_priority(&mut self, id: ThreadId, priority: Priority) -> R<()> {
        let i = self.resolve(id)?;
        if priority == Priority::Idle {
            return Err(SchedError::IdlePriority);
        }
        let t = self.t(i).clone();
        if t.priority == Priority::Idle {
            return Err(SchedError::IdleThread);
        }
        if matches!(t.state, ThreadState::Exited(_)) {
            return Err(SchedError::ThreadExited);
        }
        if t.priority == priority {
            return Ok(());
        }
        if t.state == ThreadState::Ready {
            self.cpus[t.cpu].queues[t.priority.band()].retain(|&x| x != i);
            self.cpus[t.cpu].queues[priority.band()].push_back(i);
        }
        self.t(i).priority = priority;
        Ok(())
    }

    fn migrate(&mut self, id: ThreadId, to: usize) -> R<()> {
        let i = self.resolve(id)?;
        self.cpu(to)?;
        let t = self.t(i).clone();
        if t.priority == Priority::Idle {
            return Err(SchedError::IdleThread);
        }
        match t.state {
            ThreadState::Exited(_) => return Err(SchedError::ThreadExited),
            ThreadState::Running => return Err(SchedError::ThreadRunning),
            _ if self.cpus[t.cpu].current == Some(i) => return Err(SchedError::ThreadRunning),
            _ => {}
        }
        if self.cpus[t.cpu].pending == Some(i) {
            return Err(SchedError::SwitchPending);
        }
        if !t.affinity.contains(to) {
            return Err(SchedError::AffinityViolation);
        }
        if t.cpu == to {
            return Ok(());
        }
        self.move_to(i, to);
        Ok(())
    }

    /// Moves thread `i` to CPU `to` (queue tail; a sleeper keeps its deadline but arrives
    /// after equal deadlines).
    fn move_to(&mut self, i: usize, to: usize) {
        let t = self.t(i).clone();
        match t.state {
            ThreadState::Ready => {
                self.cpus[t.cpu].queues[t.priority.band()].retain(|&x| x != i);
                self.cpus[to].queues[t.priority.band()].push_back(i);
            }
            ThreadState::Blocked(_) if t.deadline.is_some() => {
                self.seq += 1;
                self.t(i).seq = self.seq;
            }
            _ => {}
        }
        self.t(i).cpu = to;
    }

    fn set_affinity(&mut self, id: ThreadId, set: CpuSet) -> R<AffinityChange> {
        let i = self.resolve(id)?;
        let t = self.t(i).clone();
        if t.priority == Priority::Idle {
            return Err(SchedError::IdleThread);
        }
        if matches!(t.state, ThreadState::Exited(_)) {
            return Err(SchedError::ThreadExited);
        }
        let to = set.iter().find(|&c| c < self.cpus.len()).ok_or(SchedError::AffinityViolation)?;
        self.t(i).affinity = set;
        if set.contains(t.cpu) {
            return Ok(AffinityChange::Stays);
        }
        if self.cpus[t.cpu].current == Some(i) || self.cpus[t.cpu].pending == Some(i) {
            return Ok(AffinityChange::MoveAtNextSwitch);
        }
        self.move_to(i, to);
        Ok(AffinityChange::Migrated { to })
    }

    fn load(&self, cpu: usize) -> usize {
        let c = &self.cpus[cpu];
        let ready: usize = c.queues[1..].iter().map(|q| q.len()).sum();
        let running = match c.current {
            Some(cur) if c.current != c.idle => {
                usize::from(self.threads[cur].as_ref().unwrap().state == ThreadState::Running)
            }
            _ => 0,
        };
        ready + running
    }

    /// Balancing spelled out: every (source, candidate, target) in preference order.
    fn balance(&mut self) -> R<Option<Migration>> {
        let n = self.cpus.len();
        let loads: Vec<Option<usize>> = (0..n).map(|c| self.cpus[c].idle.is_some().then(|| self.load(c))).collect();
        let mut sources: Vec<(usize, usize)> = (0..n).filter_map(|c| loads[c].map(|l| (c, l))).collect();
        sources.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for (from, load) in sources {
            for band in 1..BANDS {
                let queue: Vec<usize> = self.cpus[from].queues[band].iter().rev().copied().collect();
                for i in queue {
                    if self.cpus[from].pending == Some(i) {
                        continue;
                    }
                    let affinity = self.t(i).affinity;
                    let target = (0..n)
                        .filter(|&c| c != from && affinity.contains(c))
                        .filter_map(|c| loads[c].map(|l| (l, c)))
                        .min();
                    if let Some((l, to)) = target
                        && l + 2 <= load
                    {
                        self.move_to(i, to);
                        return Ok(Some(Migration { thread: self.id(i), from, to }));
                    }
                }
            }
        }
        Ok(None)
    }

    fn counts(&self, cpu: usize) -> CpuCounts {
        let c = &self.cpus[cpu];
        let mut counts = CpuCounts { idle_running: c.current.is_some() && c.current == c.idle, ..CpuCounts::default() };
        for t in self.threads.iter().flatten().filter(|t| t.cpu == cpu && t.priority != Priority::Idle) {
            match t.state {
                ThreadState::Ready => counts.ready += 1,
                ThreadState::Running => counts.running += 1,
                ThreadState::Blocked(_) => counts.blocked += 1,
                ThreadState::Exited(_) => counts.exited += 1,
                ThreadState::Free => unreachable!(),
            }
        }
        counts
    }

    fn next_deadline(&self, cpu: usize) -> Option<u64> {
        self.threads
            .iter()
            .flatten()
            .filter(|t| t.cpu == cpu && matches!(t.state, ThreadState::Blocked(_)))
            .filter_map(|t| t.deadline)
            .min()
    }
}

/// Compares everything observable, then checks the real scheduler's structure.
fn compare<const T: usize, const C: usize>(s: &Scheduler<T, C>, m: &Model) {
    for i in 0..T {
        let id = m.id(i);
        match &m.threads[i] {
            Some(t) => {
                assert_eq!(s.state(id), Ok(t.state), "slot {i}");
                assert_eq!(s.priority(id), Ok(t.priority), "slot {i}");
                assert_eq!(s.cpu_of(id), Ok(t.cpu), "slot {i}");
                assert_eq!(s.affinity(id), Ok(t.affinity), "slot {i}");
                assert_eq!(s.wake_cause(id), Ok(t.cause), "slot {i}");
                assert_eq!(s.slots[i].slice, t.slice, "slot {i}");
                assert_eq!(s.slots[i].deadline, t.deadline, "slot {i}");
            }
            None => {
                assert_eq!(s.state(id), Err(SchedError::StaleId), "slot {i}");
                assert_eq!(s.slots[i].generation, m.gens[i], "slot {i}");
            }
        }
    }
    for c in 0..C {
        let mc = &m.cpus[c];
        assert_eq!(s.current(c).ok(), mc.current.map(|i| m.id(i)), "cpu {c}");
        assert_eq!(s.counts(c), Ok(m.counts(c)), "cpu {c}");
        assert_eq!(s.next_deadline(c), Ok(m.next_deadline(c)), "cpu {c}");
        assert_eq!(s.needs_reschedule(c), Ok(m.needs(c)), "cpu {c}");
        assert_eq!(s.runnable(c), Ok(m.load(c)), "cpu {c}");
        for band in 0..BANDS {
            let mut at = s.cpus[c].queues[band].head;
            for &i in &mc.queues[band] {
                assert_eq!(at, Some(i), "cpu {c} band {band}: queue order");
                at = s.slots[i].next;
            }
            assert_eq!(at, None);
        }
    }
    assert_eq!(s.in_use(), m.threads.iter().flatten().count());
    check(s);
}

/// Counts of interesting outcomes, to make sure the random run is not vacuous.
#[derive(Default, Debug)]
struct Seen {
    switches: usize,
    timeouts: usize,
    wakes: usize,
    releases: usize,
    reuses: usize,
    migrations: usize,
    affinity_moves: usize,
    deferred_moves: usize,
    balances: usize,
}

fn random_run<const T: usize, const C: usize>(seed: u64, steps: usize, seen: &mut Seen) {
    let mut rng = Rng(seed);
    let quantum = 1 + rng.below(4) as u32;
    let mut s = Scheduler::<T, C>::new(quantum);
    let mut m = Model::new(T, C, quantum);
    let mut known: Vec<ThreadId> = Vec::new();
    let mut now = 0u64;
    // Start all but the last CPU; it starts at a random point.
    for c in 0..C.saturating_sub(1) {
        let id = s.add_idle(c).unwrap();
        assert_eq!(Ok(id), m.add_idle(c));
    }
    for step in 0..steps {
        // Mostly valid CPUs, sometimes one out of range.
        let cpu = if rng.below(16) == 0 { C } else { rng.below(C as u64) as usize };
        let pick = |rng: &mut Rng, known: &[ThreadId]| -> ThreadId {
            if known.is_empty() || rng.below(40) == 0 {
                ThreadId::new(rng.below(T as u64 + 2) as u32, 1 + rng.below(3) as u32)
            } else {
                known[rng.below(known.len() as u64) as usize]
            }
        };
        let prio = if rng.below(20) == 0 { Priority::Idle } else { Priority::ALL[1 + rng.below(3) as usize] };
        let cpus = CpuSet::from_bits((1 << (C + 1)) - 1);
        let set = match rng.below(8) {
            0 => CpuSet::all(),
            1 => CpuSet::EMPTY,
            2..=4 => CpuSet::single(rng.below(C as u64 + 1) as usize),
            _ => CpuSet::from_bits(rng.next() & cpus.bits()),
        };
        let op = rng.below(115);
        let ctx = std::format!("seed {seed} step {step} op {op} cpu {cpu}");
        match op {
            0..=14 => {
                let got = s.create(prio, cpu);
                assert_eq!(got, m.create(prio, cpu), "{ctx}");
                if let Ok(id) = got {
                    if id.generation() > 1 {
                        seen.reuses += 1;
                    }
                    known.push(id);
                }
            }
            15..=16 => {
                let got = s.add_idle(cpu);
                assert_eq!(got, m.add_idle(cpu), "{ctx}");
                if let Ok(id) = got {
                    known.push(id);
                }
            }
            17..=31 => {
                now += rng.below(4);
                let got = s.tick(cpu, now);
                assert_eq!(got, m.tick(cpu, now), "{ctx}");
                if let Ok(t) = got {
                    seen.timeouts += t.woken;
                }
            }
            32..=46 => {
                let got = s.schedule(cpu);
                assert_eq!(got, m.schedule(cpu), "{ctx}");
                if let Ok(Some(_)) = got {
                    seen.switches += 1;
                    if rng.below(5) != 0 {
                        assert_eq!(s.switch_done(cpu), m.switch_done(cpu), "{ctx}");
                    }
                }
            }
            47..=51 => assert_eq!(s.switch_done(cpu), m.switch_done(cpu), "{ctx}"),
            52..=55 => {
                let got = s.yield_current(cpu);
                assert_eq!(got, m.yield_current(cpu), "{ctx}");
                if let Ok(Some(_)) = got {
                    seen.switches += 1;
                    assert_eq!(s.switch_done(cpu), m.switch_done(cpu), "{ctx}");
                }
            }
            56..=63 => {
                let reason = match rng.below(3) {
                    0 => BlockReason::Sleep,
                    1 => BlockReason::ChildWait(rng.below(5) as u32),
                    _ => BlockReason::Generic(rng.below(5) as u32),
                };
                let deadline = if rng.below(3) == 0 { None } else { Some(now + rng.below(12)) };
                assert_eq!(s.block_current(cpu, reason, deadline), m.block(cpu, reason, deadline), "{ctx}");
            }
            64..=71 => {
                let id = pick(&mut rng, &known);
                let got = s.wake(id);
                assert_eq!(got, m.wake(id), "{ctx}");
                if got == Ok(true) {
                    seen.wakes += 1;
                }
            }
            72..=77 => {
                let code = rng.next();
                assert_eq!(s.exit_current(cpu, code), m.exit(cpu, code), "{ctx}");
            }
            78..=85 => {
                let got = s.take_reapable(cpu);
                assert_eq!(got, m.take_reapable(cpu), "{ctx}");
                if let Ok(Some((id, _))) = got
                    && rng.below(4) != 0
                {
                    assert_eq!(s.release(id), m.release(id), "{ctx}");
                    seen.releases += 1;
                }
            }
            86..=89 => {
                let id = pick(&mut rng, &known);
                let got = s.release(id);
                assert_eq!(got, m.release(id), "{ctx}");
                if got.is_ok() {
                    seen.releases += 1;
                }
            }
            90..=94 => {
                let id = pick(&mut rng, &known);
                assert_eq!(s.set_priority(id, prio), m.set_priority(id, prio), "{ctx}");
            }
            95..=99 => {
                let id = pick(&mut rng, &known);
                let got = s.migrate(id, cpu);
                assert_eq!(got, m.migrate(id, cpu), "{ctx}");
                if got.is_ok() {
                    seen.migrations += 1;
                }
            }
            100..=104 => {
                // Often the current thread of a CPU, to exercise moves at the next switch.
                let id = match s.current(cpu) {
                    Ok(cur) if rng.below(2) == 0 => cur,
                    _ => pick(&mut rng, &known),
                };
                let got = s.set_affinity(id, set);
                assert_eq!(got, m.set_affinity(id, set), "{ctx} set {set:?}");
                match got {
                    Ok(AffinityChange::Migrated { .. }) => seen.affinity_moves += 1,
                    Ok(AffinityChange::MoveAtNextSwitch) => seen.deferred_moves += 1,
                    _ => {}
                }
            }
            105..=108 => {
                let got = s.create_with_affinity(prio, cpu, set);
                assert_eq!(got, m.create_with_affinity(prio, cpu, set), "{ctx} set {set:?}");
                if let Ok(id) = got {
                    known.push(id);
                }
            }
            _ => {
                let got = s.balance();
                assert_eq!(got, m.balance(), "{ctx}");
                if let Ok(Some(mv)) = got {
                    assert!(s.affinity(mv.thread).unwrap().contains(mv.to), "{ctx}");
                    assert_eq!(s.state(mv.thread), Ok(ThreadState::Ready), "{ctx}");
                    seen.balances += 1;
                }
            }
        }
        compare(&s, &m);
    }
}

#[test]
fn randomized_against_a_reference_model() {
    let mut seen = Seen::default();
    for seed in 1..=12u64 {
        random_run::<12, 3>(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 4_000, &mut seen);
    }
    for seed in 1..=4u64 {
        random_run::<5, 1>(seed.wrapping_mul(0x2545_f491_4f6c_dd1d), 3_000, &mut seen);
        random_run::<24, 2>(seed.wrapping_mul(0x1234_5678_9abc_def1), 3_000, &mut seen);
    }
    std::println!("{seen:?}");
    assert!(seen.switches > 1_000, "{seen:?}");
    assert!(seen.timeouts > 100, "{seen:?}");
    assert!(seen.wakes > 100, "{seen:?}");
    assert!(seen.releases > 100, "{seen:?}");
    assert!(seen.reuses > 100, "{seen:?}");
    assert!(seen.migrations > 100, "{seen:?}");
    assert!(seen.affinity_moves > 100, "{seen:?}");
    assert!(seen.deferred_moves > 100, "{seen:?}");
    assert!(seen.balances > 100, "{seen:?}");
}

#[test]
fn discard_and_expire_quantum() {
    let mut s: Scheduler<8, 1> = Scheduler::new(5);
    let idle = s.add_idle(0).unwrap();
    let a = s.create(Priority::Normal, 0).unwrap();
    let b = s.create(Priority::Normal, 0).unwrap();
    s.discard(b).unwrap();
    assert_eq!(s.state(b), Err(SchedError::StaleId));
    assert_eq!(s.schedule(0).unwrap(), Some(Switch { from: idle, to: a }));
    s.switch_done(0).unwrap();
    assert_eq!(s.discard(a), Err(SchedError::ThreadRunning));
    // Alone in its band: expiring the quantum does not switch.
    s.expire_quantum(0).unwrap();
    assert_eq!(s.schedule(0).unwrap(), None);
    let c = s.create(Priority::Normal, 0).unwrap();
    s.expire_quantum(0).unwrap();
    assert_eq!(s.schedule(0).unwrap(), Some(Switch { from: a, to: c }));
}

#[test]
fn terminate_ready_and_blocked_threads() {
    let mut s: Scheduler<8, 1> = Scheduler::new(5);
    let idle = s.add_idle(0).unwrap();
    let a = s.create(Priority::Normal, 0).unwrap();
    let b = s.create(Priority::Normal, 0).unwrap();
    assert_eq!(s.schedule(0).unwrap(), Some(Switch { from: idle, to: a }));
    s.switch_done(0).unwrap();
    assert_eq!(s.terminate(a, 1), Err(SchedError::ThreadRunning));
    assert_eq!(s.terminate(idle, 1), Err(SchedError::IdleThread));
    s.block_current(0, BlockReason::Sleep, Some(100)).unwrap();
    assert_eq!(s.schedule(0).unwrap(), Some(Switch { from: a, to: b }));
    s.switch_done(0).unwrap();
    // `a` is blocked with a deadline: terminating it cancels the deadline.
    s.terminate(a, 9).unwrap();
    assert_eq!(s.take_reapable(0).unwrap(), Some((a, 9)));
    s.release(a).unwrap();
    assert_eq!(s.tick(0, 1000).unwrap().woken, 0);
    let c = s.create(Priority::Normal, 0).unwrap();
    s.terminate(c, 2).unwrap();
    assert_eq!(s.take_reapable(0).unwrap(), Some((c, 2)));
    assert_eq!(s.terminate(c, 2), Err(SchedError::ThreadExited));
}
