// SPDX-License-Identifier: AGPL-3.0-or-later
//! Host tests of the audit log: per-CPU FIFO order and exact overflow counts, the ring's
//! newest-N window and `lost` reporting, `seq` monotonicity, producer/consumer threads, and a
//! randomized run against a simple reference model.

use crate::testing::Rng;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use std::vec;
use std::vec::Vec;

use cambios_abi::audit::{Event, EventKind};

use super::*;
use crate::sync::{IrqSpinLock, LockClass, NoMask};

/// An event whose every field is derived from `i`, so a torn read is detectable.
fn ev(i: u64) -> Event {
    Event {
        seq: 0,
        time_ns: i,
        kind: EventKind::ALL[(i % 9) as usize] as u16,
        cpu: 0,
        pid: (i as u32) ^ 0x5a5a,
        arg: i,
        arg2: !i,
        principal: (i as u128).wrapping_mul(0x0101_0101_0101_0101_0101_0101_0101_0101).to_le_bytes(),
    }
}

/// Checks that `e` is `ev(e.arg)` up to the fields the pipeline stamps; returns `e.arg`.
fn check(e: &Event) -> u64 {
    let i = e.arg;
    let want = Event { seq: e.seq, cpu: e.cpu, ..ev(i) };
    assert_eq!(*e, want, "torn or corrupted event");
    i
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

#[test]
fn encoding_round_trips() {
    for i in [0, 1, 0x1234_5678_9abc_def0, u64::MAX] {
        let e = Event { seq: i ^ 7, cpu: 0xfffe, ..ev(i) };
        assert_eq!(cpu::round_trip(&e), e);
    }
}

#[test]
fn cpu_buffer_is_fifo_across_wraparound() {
    let b: CpuBuffer<4> = CpuBuffer::new();
    assert_eq!(b.capacity(), 4);
    assert!(b.is_empty());
    assert_eq!(b.pop(), None);
    assert_eq!(b.front_time(), None);
    let mut next_in = 0;
    let mut next_out = 0;
    // Uneven batches make head and tail wrap the slots many times.
    for round in 0..50u64 {
        for _ in 0..(round % 4 + 1) {
            b.push(ev(next_in)).unwrap();
            next_in += 1;
        }
        assert_eq!(b.len(), (next_in - next_out) as usize);
        assert_eq!(b.front_time(), Some(next_out));
        while let Some(e) = b.pop() {
            assert_eq!(check(&e), next_out);
            next_out += 1;
        }
    }
    assert_eq!(next_out, next_in);
    assert_eq!(b.accepted(), next_in);
    assert_eq!(b.dropped(), 0);
}

#[test]
fn cpu_buffer_counts_overflow_exactly() {
    let b: CpuBuffer<4> = CpuBuffer::new();
    let results: Vec<_> = (0..10).map(|i| b.push(ev(i))).collect();
    assert!(results[..4].iter().all(Result::is_ok));
    assert!(results[4..].iter().all(|r| *r == Err(Full)));
    assert_eq!(b.dropped(), 6);
    assert_eq!(b.len(), 4);
    assert_eq!(check(&b.pop().unwrap()), 0);
    assert_eq!(check(&b.pop().unwrap()), 1);
    assert!(b.push(ev(10)).is_ok());
    assert!(b.push(ev(11)).is_ok());
    assert_eq!(b.push(ev(12)), Err(Full));
    assert_eq!(b.dropped(), 7);
    let rest: Vec<_> = std::iter::from_fn(|| b.pop()).map(|e| check(&e)).collect();
    assert_eq!(rest, [2, 3, 10, 11], "the dropped events are the new ones, never the held ones");

    let zero: CpuBuffer<0> = CpuBuffer::new();
    assert_eq!(zero.push(ev(0)), Err(Full));
    assert_eq!(zero.pop(), None);
    assert_eq!(zero.dropped(), 1);
}

#[test]
fn ring_keeps_the_newest_and_reports_lost() {
    let mut r: Ring<4> = Ring::new();
    assert!(r.is_empty());
    for i in 0..10 {
        assert_eq!(r.push(ev(i)), i, "seq is assigned at push, from 0");
    }
    assert_eq!((r.oldest_seq(), r.next_seq(), r.len()), (6, 10, 4));
    let mut out = [Event::default(); 8];
    let res = r.read_since(0, &mut out);
    assert_eq!(res, ReadResult { copied: 4, next_seq: 10, lost: 6 });
    let seqs: Vec<_> = out[..4].iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [6, 7, 8, 9]);
    assert!(out[..4].iter().all(|e| check(e) == e.seq));
    assert_eq!(r.stats(), Stats { total: 10, dropped_at_cpus: 0, overwritten: 6, capacity: 4 });

    // Caught up: nothing new, nothing lost.
    assert_eq!(r.read_since(10, &mut out), ReadResult { copied: 0, next_seq: 10, lost: 0 });
    // Pushing out events that were read does not count as overwritten.
    for i in 10..14 {
        r.push(ev(i));
    }
    assert_eq!(r.stats().overwritten, 6);
    // A small output buffer: partial reads continue where they stopped.
    let mut two = [Event::default(); 2];
    assert_eq!(
        r.read_since(9, &mut two),
        ReadResult { copied: 2, next_seq: 12, lost: 1 },
        "9 was read, but not by this reader"
    );
    assert_eq!((two[0].seq, two[1].seq), (10, 11));
    r.push(ev(14)); // pushes out 10 (read)
    r.push(ev(15)); // pushes out 11 (read)
    r.push(ev(16)); // pushes out 12 (unread)
    assert_eq!(r.stats().overwritten, 7);
    assert_eq!(r.read_since(12, &mut two), ReadResult { copied: 2, next_seq: 15, lost: 1 });
    assert_eq!((two[0].seq, two[1].seq), (13, 14));
    // An empty output still reports the loss once and moves past it.
    let res = r.read_since(0, &mut []);
    assert_eq!(res, ReadResult { copied: 0, next_seq: 13, lost: 13 });
    assert_eq!(r.read_since(res.next_seq, &mut []).lost, 0);
    // A seq from the future is clamped.
    assert_eq!(r.read_since(1000, &mut out), ReadResult { copied: 0, next_seq: 17, lost: 0 });
    // read_newest: the newest events, oldest first.
    assert_eq!(r.read_newest(&mut two), 2);
    assert_eq!((two[0].seq, two[1].seq), (15, 16));
    assert_eq!(r.read_newest(&mut out), 4);
    assert_eq!(out[..4].iter().map(|e| e.seq).collect::<Vec<_>>(), [13, 14, 15, 16]);

    let mut zero: Ring<0> = Ring::new();
    zero.push(ev(0));
    assert_eq!(zero.read_since(0, &mut out), ReadResult { copied: 0, next_seq: 1, lost: 1 });
    assert_eq!(zero.stats(), Stats { total: 1, dropped_at_cpus: 0, overwritten: 1, capacity: 0 });
}

#[test]
fn audit_merges_cpus_by_time_and_numbers_in_order() {
    let a: Audit<3, 4, 16> = Audit::new();
    let mut ring = Audit::<3, 4, 16>::new_ring();
    // CPU 0 logs times 0, 3, 6; CPU 1 logs 1, 4, 7; CPU 2 logs 2, 5, 8.
    for t in 0..9 {
        a.log(t as usize % 3, ev(t)).unwrap();
    }
    assert_eq!(a.log(3, ev(99)), Err(LogError::BadCpu));
    assert_eq!(a.drain(&mut ring), 9);
    let mut out = [Event::default(); 16];
    let res = ring.read_since(0, &mut out);
    assert_eq!(res, ReadResult { copied: 9, next_seq: 9, lost: 0 });
    for (seq, e) in out[..9].iter().enumerate() {
        assert_eq!(e.seq, seq as u64);
        assert_eq!(check(e), seq as u64, "merged by time");
        assert_eq!(e.cpu as u64, e.arg % 3, "cpu stamped");
    }
    // Overflow on one CPU is counted and carried into the ring's stats.
    for t in 100..110 {
        let r = a.log(1, ev(t));
        assert_eq!(r.is_err(), t >= 104);
    }
    assert_eq!(a.dropped(), 7);
    let stats = a.stats(&mut ring);
    assert_eq!(stats, Stats { total: 13, dropped_at_cpus: 7, overwritten: 0, capacity: 16 });
    // seq keeps increasing across drains.
    let res = a.read_since(&mut ring, res.next_seq, &mut out);
    assert_eq!(res.copied, 4);
    assert_eq!(
        out[..4].iter().map(|e| (e.seq, e.arg)).collect::<Vec<_>>(),
        [(9, 100), (10, 101), (11, 102), (12, 103)]
    );
    assert_eq!(a.read_newest(&mut ring, &mut out[..1]), 1);
    assert_eq!(out[0].seq, 12);
}

#[test]
fn two_threads_lose_nothing_when_the_consumer_keeps_up() {
    const N: u64 = 100_000;
    let b: Arc<CpuBuffer<64>> = Arc::new(CpuBuffer::new());
    let producer = {
        let b = Arc::clone(&b);
        std::thread::spawn(move || {
            let end = deadline();
            for i in 0..N {
                // Wait for room: only the consumer makes room, so the push cannot fail.
                while b.len() == b.capacity() {
                    assert!(Instant::now() < end, "consumer stalled");
                    std::thread::yield_now();
                }
                b.push(ev(i)).unwrap();
            }
        })
    };
    let end = deadline();
    let mut next = 0;
    while next < N {
        match b.pop() {
            Some(e) => {
                assert_eq!(check(&e), next, "FIFO, nothing lost");
                next += 1;
            }
            None => {
                assert!(Instant::now() < end, "producer stalled");
                std::hint::spin_loop();
            }
        }
    }
    producer.join().unwrap();
    assert_eq!(b.dropped(), 0);
    assert_eq!(b.pop(), None);
}

#[test]
fn two_threads_count_every_drop_when_the_consumer_lags() {
    const N: u64 = 100_000;
    let b: Arc<CpuBuffer<16>> = Arc::new(CpuBuffer::new());
    let done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(2));
    let producer = {
        let (b, done, start) = (Arc::clone(&b), Arc::clone(&done), Arc::clone(&start));
        std::thread::spawn(move || {
            start.wait();
            let mut refused = 0;
            for i in 0..N {
                // Bursts and pauses, so both full and empty buffers happen.
                for _ in 0..(i % 256) / 8 {
                    std::hint::spin_loop();
                }
                if b.push(ev(i)).is_err() {
                    refused += 1;
                }
            }
            done.store(true, Ordering::Release);
            refused
        })
    };
    start.wait();
    let end = deadline();
    let mut popped = 0u64;
    let mut last = None;
    loop {
        let finished = done.load(Ordering::Acquire);
        match b.pop() {
            Some(e) => {
                let i = check(&e);
                assert!(last.is_none_or(|l| i > l), "order kept across drops");
                last = Some(i);
                popped += 1;
            }
            None if finished => break,
            None => assert!(Instant::now() < end, "producer stalled"),
        }
    }
    let refused = producer.join().unwrap();
    assert_eq!(refused, b.dropped(), "every refused push is counted");
    assert_eq!(popped + b.dropped(), N, "pushed == popped + dropped");
    assert_eq!(b.accepted(), popped);
}

#[test]
fn static_audit_with_concurrent_cpus_and_drain() {
    const CPUS: usize = 4;
    const EACH: u64 = 20_000;
    static AUDIT: Audit<CPUS, 32, 1024> = Audit::new();
    static RING: IrqSpinLock<Ring<1024>, NoMask> =
        IrqSpinLock::new(LockClass::Console, Audit::<CPUS, 32, 1024>::new_ring());
    static DONE: AtomicBool = AtomicBool::new(false);

    let producers: Vec<_> = (0..CPUS)
        .map(|cpu| {
            std::thread::spawn(move || {
                (0..EACH).filter(|&i| AUDIT.log(cpu, ev(i * CPUS as u64 + cpu as u64)).is_err()).count() as u64
            })
        })
        .collect();
    // The reader drains under the ring lock and follows `seq`, accounting for every gap.
    let end = deadline();
    let mut out = [Event::default(); 64];
    let mut next_seq = 0;
    let (mut seen, mut lost) = (0u64, 0u64);
    let mut last_per_cpu = [None::<u64>; CPUS];
    let mut read = |next_seq: &mut u64| {
        let res = AUDIT.read_since(&mut RING.lock(), *next_seq, &mut out);
        if res.copied > 0 {
            assert_eq!(out[0].seq, *next_seq + res.lost, "gaps are exactly the lost events");
        }
        for (k, e) in out[..res.copied].iter().enumerate() {
            assert_eq!(e.seq, out[0].seq + k as u64, "seq consecutive inside one read");
            let i = check(e);
            let cpu = e.cpu as usize;
            assert_eq!(i % CPUS as u64, cpu as u64);
            assert!(last_per_cpu[cpu].is_none_or(|l| i > l), "per-CPU order kept");
            last_per_cpu[cpu] = Some(i);
        }
        seen += res.copied as u64;
        lost += res.lost;
        *next_seq = res.next_seq;
        res.copied
    };
    loop {
        let finished = DONE.load(Ordering::Acquire);
        if read(&mut next_seq) == 0 && finished {
            break;
        }
        if producers.iter().all(|p| p.is_finished()) {
            DONE.store(true, Ordering::Release);
        }
        assert!(Instant::now() < end, "stalled");
    }
    let refused: u64 = producers.into_iter().map(|p| p.join().unwrap()).sum();
    let stats = RING.lock().stats();
    assert_eq!(refused, AUDIT.dropped());
    assert_eq!(stats.dropped_at_cpus, refused);
    assert_eq!(stats.total + stats.dropped_at_cpus, CPUS as u64 * EACH, "logged == in ring + dropped");
    assert_eq!(seen + lost, stats.total, "the reader saw or was told about every event");
    assert_eq!(lost, stats.overwritten, "single reader: lost == overwritten");
}

/// The reference model: plain collections, no wraparound arithmetic.
struct Model {
    cpus: Vec<VecDeque<Event>>,
    per_cpu: usize,
    dropped: u64,
    all: Vec<Event>,
    read: Vec<bool>,
    ring: usize,
    overwritten: u64,
}

impl Model {
    fn log(&mut self, cpu: usize, mut e: Event) -> Result<(), LogError> {
        let Some(q) = self.cpus.get_mut(cpu) else {
            self.dropped += 1;
            return Err(LogError::BadCpu);
        };
        if q.len() == self.per_cpu {
            self.dropped += 1;
            return Err(LogError::Full);
        }
        e.cpu = cpu as u16;
        q.push_back(e);
        Ok(())
    }

    fn drain(&mut self) -> usize {
        let mut moved = 0;
        loop {
            let mut best: Option<usize> = None;
            for (c, q) in self.cpus.iter().enumerate() {
                if let Some(e) = q.front()
                    && best.is_none_or(|b| e.time_ns < self.cpus[b][0].time_ns)
                {
                    best = Some(c);
                }
            }
            let Some(c) = best else { return moved };
            let mut e = self.cpus[c].pop_front().unwrap();
            let seq = self.all.len();
            e.seq = seq as u64;
            if seq >= self.ring && !self.read[seq - self.ring] {
                self.overwritten += 1;
            }
            self.all.push(e);
            self.read.push(false);
            moved += 1;
        }
    }

    fn oldest(&self) -> usize {
        self.all.len().saturating_sub(self.ring)
    }

    fn read_range(&mut self, first: usize, max: usize) -> Vec<Event> {
        let end = (first + max).min(self.all.len());
        for flag in &mut self.read[first..end] {
            *flag = true;
        }
        self.all[first..end].to_vec()
    }
}

fn randomized_run(seed: u64) {
    const CPUS: usize = 3;
    const PER_CPU: usize = 4;
    const RING: usize = 8;
    let a: Audit<CPUS, PER_CPU, RING> = Audit::new();
    let mut ring = Audit::<CPUS, PER_CPU, RING>::new_ring();
    let mut m = Model {
        cpus: vec![VecDeque::new(); CPUS],
        per_cpu: PER_CPU,
        dropped: 0,
        all: Vec::new(),
        read: Vec::new(),
        ring: RING,
        overwritten: 0,
    };
    let mut rng = Rng(seed | 1);
    let mut out = [Event::default(); 12];
    for step in 0..20_000u64 {
        match rng.below(10) {
            0..=5 => {
                let cpu = rng.below(CPUS as u64 + 1) as usize; // CPUS itself is out of range
                let e = Event { time_ns: rng.below(6), ..ev(step) }; // small times: many ties
                assert_eq!(a.log(cpu, e), m.log(cpu, e), "step {step}: log");
            }
            6 => assert_eq!(a.drain(&mut ring), m.drain(), "step {step}: drain"),
            7 | 8 => {
                let next = m.all.len() as u64;
                let seq = rng.below(next + 3);
                let len = rng.below(out.len() as u64 + 1) as usize;
                let got = ring.read_since(seq, &mut out[..len]);
                let asked = seq.min(next) as usize;
                let first = asked.max(m.oldest());
                let want = m.read_range(first, len);
                let lost = (m.oldest().saturating_sub(asked)) as u64;
                assert_eq!(
                    got,
                    ReadResult { copied: want.len(), next_seq: (first + want.len()) as u64, lost },
                    "step {step}: read_since({seq}, {len})"
                );
                assert_eq!(&out[..got.copied], &want[..], "step {step}: read_since contents");
            }
            _ => {
                let len = rng.below(out.len() as u64 + 1) as usize;
                let n = ring.read_newest(&mut out[..len]);
                let held = m.all.len() - m.oldest();
                let take = held.min(len);
                let want = m.read_range(m.all.len() - take, take);
                assert_eq!(&out[..n], &want[..], "step {step}: read_newest");
            }
        }
        for (c, q) in m.cpus.iter().enumerate() {
            assert_eq!(a.cpu(c).unwrap().len(), q.len(), "step {step}: cpu {c} length");
        }
        assert_eq!(a.dropped(), m.dropped, "step {step}: dropped");
        let s = ring.stats();
        assert_eq!((s.total, s.overwritten), (m.all.len() as u64, m.overwritten), "step {step}: stats");
    }
    m.drain();
    assert_eq!(a.stats(&mut ring).dropped_at_cpus, m.dropped);
}

#[test]
fn randomized_against_model() {
    for seed in [1, 0x9e37_79b9_7f4a_7c15, 42, 0xdead_beef, 7_777_777] {
        randomized_run(seed);
    }
}
