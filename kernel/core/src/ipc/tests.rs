// SPDX-License-Identifier: AGPL-3.0-or-later
//! Host tests of endpoints and the reply table: FIFO order, full and closed queues, waking
//! each waiter exactly once, replies only by the bound receiver and only to the caller,
//! token uniqueness, cancellation, a randomized run against a `VecDeque` model, and many
//! call/reply cycles.

use crate::testing::Rng;
use std::collections::{HashSet, VecDeque};
use std::vec::Vec;

use cambios_abi::ipc::Rights;

use super::*;
use crate::cap::{CapError, CapTable};

fn tid(n: u64) -> ThreadId {
    ThreadId::from_raw((1 << 32) | n).unwrap()
}

fn msg(label: u32) -> Queued {
    Queued { msg: Message::with_payload(label, &label.to_le_bytes()), transfer: None, reply_to: None }
}

#[test]
fn fifo_order() {
    let mut ep = Endpoint::new(1);
    assert!(ep.is_empty());
    for round in 0..3u32 {
        for i in 0..10 {
            assert_eq!(ep.enqueue(msg(round * 100 + i)), Ok(None));
        }
        assert_eq!(ep.len(), 10);
        for i in 0..10 {
            let (q, woke) = ep.dequeue().unwrap();
            assert_eq!((q.msg.label(), woke), (round * 100 + i, None));
        }
        assert_eq!(ep.dequeue(), Err(IpcError::Empty));
    }
}

#[test]
fn full_queue_is_queue_full() {
    let mut ep = Endpoint::new(1);
    for i in 0..QUEUE_DEPTH as u32 {
        assert!(!ep.is_full());
        ep.enqueue(msg(i)).unwrap();
    }
    assert!(ep.is_full());
    assert_eq!(ep.enqueue(msg(999)), Err(IpcError::QueueFull));
    assert_eq!(ep.len(), QUEUE_DEPTH);
    // The refused message left no trace.
    for i in 0..QUEUE_DEPTH as u32 {
        assert_eq!(ep.dequeue().unwrap().0.msg.label(), i);
    }
}

#[test]
fn enqueue_wakes_first_receiver_exactly_once() {
    let mut ep = Endpoint::new(1);
    for n in 1..=3 {
        ep.wait_receive(tid(n)).unwrap();
    }
    assert_eq!(ep.wait_receive(tid(2)), Err(IpcError::AlreadyWaiting));
    assert_eq!(ep.receivers_waiting(), 3);
    assert_eq!(ep.enqueue(msg(1)), Ok(Some(tid(1))));
    // Receiver 1 is off the list: the next message wakes receiver 2, not 1 again.
    assert_eq!(ep.enqueue(msg(2)), Ok(Some(tid(2))));
    assert_eq!(ep.enqueue(msg(3)), Ok(Some(tid(3))));
    assert_eq!(ep.enqueue(msg(4)), Ok(None));
    assert_eq!(ep.receivers_waiting(), 0);
    // With a message queued, waiting is refused (it would sleep through the message).
    assert_eq!(ep.wait_receive(tid(9)), Err(IpcError::NoNeedToWait));
}

#[test]
fn dequeue_wakes_first_blocked_sender_exactly_once() {
    let mut ep = Endpoint::new(1);
    assert_eq!(ep.wait_send(tid(5)), Err(IpcError::NoNeedToWait));
    for i in 0..QUEUE_DEPTH as u32 {
        ep.enqueue(msg(i)).unwrap();
    }
    ep.wait_send(tid(5)).unwrap();
    ep.wait_send(tid(6)).unwrap();
    assert_eq!(ep.wait_receive(tid(5)), Err(IpcError::AlreadyWaiting));
    assert_eq!(ep.dequeue().unwrap().1, Some(tid(5)));
    assert_eq!(ep.dequeue().unwrap().1, Some(tid(6)));
    assert_eq!(ep.dequeue().unwrap().1, None);
    assert_eq!(ep.senders_waiting(), 0);
}

#[test]
fn waiter_limits_and_cancel() {
    let mut ep = Endpoint::new(1);
    for n in 0..WAITERS as u64 {
        ep.wait_receive(tid(n)).unwrap();
    }
    assert_eq!(ep.wait_receive(tid(100)), Err(IpcError::TooManyWaiters));
    assert!(ep.cancel_wait(tid(3)));
    assert!(!ep.cancel_wait(tid(3)));
    assert!(!ep.cancel_wait(tid(100)));
    ep.wait_receive(tid(100)).unwrap();
    // Order kept around the cancelled one; the newcomer is last.
    let mut woken = Vec::new();
    for i in 0..WAITERS as u32 {
        woken.push(ep.enqueue(msg(i)).unwrap().unwrap());
    }
    let expected: Vec<ThreadId> = [0, 1, 2, 4, 5, 6, 7, 100].into_iter().map(tid).collect();
    assert_eq!(woken, expected);
    // pop_receiver: nothing to give while the queue is empty or nobody waits.
    let mut ep = Endpoint::new(1);
    ep.wait_receive(tid(1)).unwrap();
    ep.wait_receive(tid(2)).unwrap();
    assert_eq!(ep.pop_receiver(), None);
    assert_eq!(ep.enqueue(msg(0)), Ok(Some(tid(1))));
    assert_eq!(ep.pop_receiver(), Some(tid(2)));
    assert_eq!(ep.pop_receiver(), None);
    assert_eq!(ep.pop_sender(), None);
}

#[test]
fn closed_endpoint() {
    let mut ep = Endpoint::new(7);
    ep.wait_receive(tid(1)).unwrap();
    ep.wait_receive(tid(2)).unwrap();
    assert_eq!(ep.enqueue(msg(0)), Ok(Some(tid(1))));
    let cap = Capability::new(3, 0, Rights::SEND);
    for i in 1..QUEUE_DEPTH as u32 {
        let mut q = msg(i);
        if i % 2 == 0 {
            q.transfer = Some(cap);
        }
        if i % 3 == 0 {
            q.reply_to = Some(ReplyTo { token: u64::from(i) << 16 });
        }
        assert_eq!(ep.enqueue(q).unwrap(), if i == 1 { Some(tid(2)) } else { None });
    }
    ep.wait_send(tid(10)).unwrap();
    ep.wait_send(tid(11)).unwrap();
    let drain = ep.close().unwrap();
    assert_eq!(ep.state(), EndpointState::Closed);
    assert_eq!(drain.messages, QUEUE_DEPTH);
    assert_eq!(drain.threads().collect::<Vec<_>>(), [tid(10), tid(11)]);
    assert_eq!(drain.transfers.iter().flatten().count(), (QUEUE_DEPTH - 1) / 2);
    let calls: Vec<u64> = drain.calls.iter().flatten().map(|r| r.token >> 16).collect();
    assert_eq!(calls, (1..QUEUE_DEPTH as u64).filter(|i| i % 3 == 0).collect::<Vec<_>>());
    assert!(ep.is_empty());
    assert_eq!(ep.receivers_waiting() + ep.senders_waiting(), 0);
    assert_eq!(ep.enqueue(msg(0)), Err(IpcError::Closed));
    assert_eq!(ep.dequeue(), Err(IpcError::Closed));
    assert_eq!(ep.wait_receive(tid(1)), Err(IpcError::Closed));
    assert_eq!(ep.wait_send(tid(1)), Err(IpcError::Closed));
    assert_eq!(ep.revoke(), Err(IpcError::Closed));
    assert_eq!(ep.close(), Err(IpcError::Closed));
    // Waiting receivers are handed back by close.
    let mut ep = Endpoint::new(7);
    ep.wait_receive(tid(4)).unwrap();
    let drain = ep.close().unwrap();
    assert_eq!((drain.threads().collect::<Vec<_>>(), drain.messages), ([tid(4)].to_vec(), 0));
}

#[test]
fn revoke_invalidates_capabilities() {
    let mut ep = Endpoint::new(1);
    let id = 5;
    let mut owner = CapTable::new();
    let mut user = CapTable::new();
    let own = owner.insert(Capability::new(id, ep.epoch(), Rights::ALL)).unwrap();
    let given = user.insert(owner.derive(own, Rights::SEND).unwrap()).unwrap();
    assert!(user.check(given, Rights::SEND, |_| Some(ep.epoch())).is_ok());
    let epoch = ep.revoke().unwrap();
    assert_eq!(epoch, 1);
    owner.refresh(id, epoch);
    assert_eq!(user.check(given, Rights::SEND, |_| Some(ep.epoch())), Err(CapError::Revoked));
    assert!(owner.check(own, Rights::RECEIVE, |_| Some(ep.epoch())).is_ok());
    // Queued messages survive a revocation.
    ep.enqueue(msg(1)).unwrap();
    ep.revoke().unwrap();
    assert_eq!(ep.len(), 1);
    // The epoch never wraps back to a value old capabilities carry.
    ep.epoch = u32::MAX;
    assert_eq!(ep.revoke(), Err(IpcError::EpochExhausted));
    assert_eq!(ep.epoch(), u32::MAX);
}

#[test]
fn randomized_against_model() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut ep = Endpoint::new(1);
    let mut queue: VecDeque<u32> = VecDeque::new();
    let mut receivers: VecDeque<ThreadId> = VecDeque::new();
    let mut senders: VecDeque<ThreadId> = VecDeque::new();
    let mut label = 0u32;
    for step in 0..200_000 {
        let t = tid(rng.below(12));
        let waiting = receivers.contains(&t) || senders.contains(&t);
        match rng.below(6) {
            0 | 1 => {
                label += 1;
                let got = ep.enqueue(msg(label));
                if queue.len() == QUEUE_DEPTH {
                    assert_eq!(got, Err(IpcError::QueueFull), "step {step}");
                } else {
                    queue.push_back(label);
                    assert_eq!(got, Ok(receivers.pop_front()), "step {step}");
                }
            }
            2 | 3 => match ep.dequeue() {
                Ok((q, woke)) => {
                    assert_eq!(Some(q.msg.label()), queue.pop_front(), "step {step}");
                    assert_eq!(woke, senders.pop_front(), "step {step}");
                }
                Err(e) => assert_eq!((e, queue.len()), (IpcError::Empty, 0), "step {step}"),
            },
            4 => {
                let got = if rng.below(2) == 0 {
                    let want = if waiting {
                        Err(IpcError::AlreadyWaiting)
                    } else if !queue.is_empty() {
                        Err(IpcError::NoNeedToWait)
                    } else if receivers.len() == WAITERS {
                        Err(IpcError::TooManyWaiters)
                    } else {
                        receivers.push_back(t);
                        Ok(())
                    };
                    (ep.wait_receive(t), want)
                } else {
                    let want = if waiting {
                        Err(IpcError::AlreadyWaiting)
                    } else if queue.len() < QUEUE_DEPTH {
                        Err(IpcError::NoNeedToWait)
                    } else if senders.len() == WAITERS {
                        Err(IpcError::TooManyWaiters)
                    } else {
                        senders.push_back(t);
                        Ok(())
                    };
                    (ep.wait_send(t), want)
                };
                assert_eq!(got.0, got.1, "step {step}");
            }
            _ => {
                receivers.retain(|&x| x != t);
                senders.retain(|&x| x != t);
                assert_eq!(ep.cancel_wait(t), waiting, "step {step}");
            }
        }
        assert_eq!(ep.len(), queue.len());
        assert_eq!(ep.is_full(), queue.len() == QUEUE_DEPTH);
        assert_eq!(ep.receivers_waiting(), receivers.len());
        assert_eq!(ep.senders_waiting(), senders.len());
    }
}

type Table = ReplyTable<8>;

/// A call from thread `caller` of process 1 to server process 2, received by process 2.
fn received(t: &mut Table, caller: ThreadId) -> u64 {
    let token = t.begin(caller, 1, Some(2)).unwrap();
    t.bind(token, 2).unwrap();
    token
}

#[test]
fn reply_only_by_bound_receiver() {
    let mut t = Table::new(1);
    let token = t.begin(tid(1), 1, Some(2)).unwrap();
    assert_eq!(t.state(token), Ok(CallState::Sent));
    // Nobody received it yet: not even the server may reply.
    assert_eq!(t.claim(token, 2), Err(IpcError::NotReceiver));
    // Received by process 3 (a holder of the receive right), not the owner.
    let info = t.bind(token, 3).unwrap();
    assert_eq!((info.caller_tid, info.caller_pid, info.server_pid, info.receiver_pid), (tid(1), 1, Some(2), Some(3)));
    assert_eq!(t.bind(token, 2), Err(IpcError::AlreadyBound));
    for pid in [1, 2, 4] {
        assert_eq!(t.claim(token, pid), Err(IpcError::NotReceiver));
    }
    assert_eq!(t.complete(token, Message::new()), Err(IpcError::NotClaimed));
    assert_eq!(t.claim(token, 3).unwrap().caller_tid, tid(1));
    assert_eq!(t.claim(token, 3), Err(IpcError::AlreadyReplied));
    assert_eq!(t.claim(token, 2), Err(IpcError::NotReceiver));
    // A failed copy of the reply: unclaim and claim again.
    assert_eq!(t.unclaim(token, 2), Err(IpcError::NotReceiver));
    t.unclaim(token, 3).unwrap();
    assert_eq!(t.unclaim(token, 3), Err(IpcError::NotClaimed));
    t.claim(token, 3).unwrap();
    assert_eq!(t.complete(token, Message::with_payload(9, b"ok")), Ok(tid(1)));
    assert_eq!(t.complete(token, Message::new()), Err(IpcError::NotClaimed));
    assert_eq!(t.claim(token, 3), Err(IpcError::AlreadyReplied));
    assert_eq!(t.take_reply(token, tid(1)).unwrap().label(), 9);
    assert!(t.is_empty());
    assert_eq!(t.claim(token, 3), Err(IpcError::BadToken));
}

#[test]
fn replies_only_to_the_caller() {
    let mut t = Table::new(2);
    let a = received(&mut t, tid(1));
    let b = received(&mut t, tid(2));
    t.claim(a, 2).unwrap();
    t.complete(a, Message::with_payload(1, b"for a")).unwrap();
    assert_eq!(t.take_reply(b, tid(2)), Err(IpcError::NotReady));
    // Thread 2 cannot collect thread 1's reply, and the reply stays for thread 1.
    assert_eq!(t.take_reply(a, tid(2)), Err(IpcError::BadToken));
    assert_eq!(t.take_reply(a, ThreadId::from_raw((2 << 32) | 1).unwrap()), Err(IpcError::BadToken));
    assert_eq!(t.take_reply(a, tid(1)).unwrap().payload(), b"for a");
    assert_eq!(t.take_reply(a, tid(1)), Err(IpcError::BadToken));
    t.claim(b, 2).unwrap();
    t.complete(b, Message::with_payload(2, b"for b")).unwrap();
    assert_eq!(t.take_reply(b, tid(2)).unwrap().payload(), b"for b");
    assert!(t.is_empty());
}

#[test]
fn tokens_unique_and_never_reused_while_pending() {
    let mut t = Table::new(3);
    let mut ever = HashSet::new();
    let mut pending: Vec<u64> = (0..8).map(|i| t.begin(tid(i), 1, None).unwrap()).collect();
    assert_eq!(t.begin(tid(9), 1, None), Err(IpcError::TableFull));
    assert_eq!(t.len(), t.capacity());
    ever.extend(pending.iter().copied());
    assert_eq!(ever.len(), 8);
    let mut rng = Rng(99);
    for _ in 0..10_000 {
        let k = rng.below(8) as usize;
        t.cancel(pending[k]).unwrap();
        let token = t.begin(tid(k as u64), 1, None).unwrap();
        assert!(token != 0 && token >> 63 == 0);
        assert!(ever.insert(token), "token {token:#x} issued twice");
        pending[k] = token;
        for &p in &pending {
            assert!(t.info(p).is_ok());
        }
    }
    // Garbage tokens name nothing.
    for bogus in [0, 1, u64::MAX, pending[0] ^ (1 << 20), pending[0] & 0xffff] {
        assert_eq!(t.info(bogus), Err(IpcError::BadToken));
    }
    // Different seeds give different tokens.
    let mut u = Table::new(4);
    assert_ne!(u.begin(tid(0), 1, None).unwrap(), Table::new(3).begin(tid(0), 1, None).unwrap());
}

#[test]
fn cancel_paths() {
    let mut t = Table::new(5);
    // Caller timed out before the call was received: a late bind and a late reply fail.
    let a = t.begin(tid(1), 1, Some(2)).unwrap();
    assert_eq!(t.cancel(a).unwrap().caller_tid, tid(1));
    assert_eq!(t.cancel(a), Err(IpcError::BadToken));
    assert_eq!(t.bind(a, 2), Err(IpcError::BadToken));
    // Caller gave up between claim and complete: the reply is refused.
    let b = received(&mut t, tid(1));
    t.claim(b, 2).unwrap();
    t.cancel(b).unwrap();
    assert_eq!(t.complete(b, Message::new()), Err(IpcError::BadToken));
    // A new call reusing the slot does not accept the old token.
    let c = received(&mut t, tid(1));
    assert_ne!(b, c);
    assert_eq!(t.claim(b, 2), Err(IpcError::BadToken));
    // Wakeup and timeout race: a reply stored before the caller looked is still delivered.
    t.claim(c, 2).unwrap();
    t.complete(c, Message::with_payload(3, b"")).unwrap();
    assert_eq!(t.take_reply(c, tid(1)).unwrap().label(), 3);
    // Still pending when the caller looks after a timeout: NotReady, then cancel.
    let d = received(&mut t, tid(1));
    assert_eq!(t.take_reply(d, tid(1)), Err(IpcError::NotReady));
    t.cancel(d).unwrap();
    // Drained from a closed endpoint: abandoned, the caller is woken and gets an error.
    let e = t.begin(tid(4), 1, Some(2)).unwrap();
    assert_eq!(t.abandon(e), Ok(tid(4)));
    assert_eq!(t.abandon(e), Err(IpcError::Abandoned));
    assert_eq!(t.bind(e, 2), Err(IpcError::Abandoned));
    assert_eq!(t.claim(e, 2), Err(IpcError::Abandoned));
    assert_eq!(t.take_reply(e, tid(4)), Err(IpcError::Abandoned));
    assert_eq!(t.state(e), Err(IpcError::BadToken));
    // A stored reply cannot be abandoned.
    let f = received(&mut t, tid(1));
    t.claim(f, 2).unwrap();
    t.complete(f, Message::new()).unwrap();
    assert_eq!(t.abandon(f), Err(IpcError::AlreadyReplied));
    t.take_reply(f, tid(1)).unwrap();
    assert!(t.is_empty());
}

#[test]
fn dying_processes() {
    let mut t = Table::new(6);
    let sent = t.begin(tid(1), 1, Some(2)).unwrap(); // to server 2, not received yet
    let got = received(&mut t, tid(2)); // received by 2
    let claimed = received(&mut t, tid(3));
    t.claim(claimed, 2).unwrap();
    let replied = received(&mut t, tid(4));
    t.claim(replied, 2).unwrap();
    t.complete(replied, Message::with_payload(4, b"")).unwrap();
    let elsewhere = t.begin(tid(5), 1, Some(3)).unwrap(); // another server
    let from_server = t.begin(tid(6), 2, Some(3)).unwrap(); // made by the dying server
    t.bind(from_server, 3).unwrap();
    let mut woken = Vec::new();
    assert_eq!(t.cancel_for_process(2, |x| woken.push(x)), 4);
    woken.sort();
    assert_eq!(woken, [tid(1), tid(2), tid(3)]);
    for (token, caller) in [(sent, tid(1)), (got, tid(2)), (claimed, tid(3))] {
        assert_eq!(t.complete(token, Message::new()), Err(IpcError::Abandoned));
        assert_eq!(t.take_reply(token, caller), Err(IpcError::Abandoned));
    }
    assert_eq!(t.take_reply(replied, tid(4)).unwrap().label(), 4);
    assert_eq!(t.claim(from_server, 3), Err(IpcError::BadToken));
    assert_eq!(t.state(elsewhere), Ok(CallState::Sent));
    // The calling process dies: its calls vanish and nobody is woken.
    assert_eq!(t.cancel_for_process(1, |_| panic!("no wakeup for a dying caller")), 1);
    assert!(t.is_empty());
}

#[test]
fn many_call_reply_cycles_leave_table_empty() {
    let mut t = ReplyTable::<4>::new(7);
    let mut rng = Rng(0xfeed);
    let mut ever = HashSet::new();
    let mut in_flight: VecDeque<(u64, ThreadId)> = VecDeque::new();
    let mut done = 0;
    let mut n = 0u64;
    while done < 10_000 {
        // Start calls while there is room, then serve the oldest one.
        if in_flight.len() < 4 && rng.below(2) == 0 {
            n += 1;
            let caller = tid(n % 1000);
            let token = t.begin(caller, 1, Some(2)).unwrap();
            assert!(ever.insert(token));
            in_flight.push_back((token, caller));
            continue;
        }
        let Some((token, caller)) = in_flight.pop_front() else { continue };
        t.bind(token, 2).unwrap();
        let info = t.claim(token, 2).unwrap();
        assert_eq!(info.caller_tid, caller);
        let mut reply = Message::with_payload(0, &token.to_le_bytes());
        reply.set_reply_token(token);
        assert_eq!(t.complete(token, reply), Ok(caller));
        assert_eq!(t.take_reply(token, caller).unwrap().payload(), token.to_le_bytes());
        done += 1;
    }
    assert_eq!(t.len(), in_flight.len());
    for (token, _) in in_flight.drain(..) {
        t.cancel(token).unwrap();
    }
    assert!(t.is_empty());
    assert_eq!(t.occupied(), 0);
}

#[test]
fn error_texts() {
    let all = [
        IpcError::QueueFull,
        IpcError::Empty,
        IpcError::Closed,
        IpcError::TooManyWaiters,
        IpcError::AlreadyWaiting,
        IpcError::NoNeedToWait,
        IpcError::EpochExhausted,
        IpcError::TableFull,
        IpcError::BadToken,
        IpcError::AlreadyBound,
        IpcError::NotReceiver,
        IpcError::AlreadyReplied,
        IpcError::NotClaimed,
        IpcError::NotReady,
        IpcError::Abandoned,
    ];
    let texts: HashSet<&str> = all.iter().map(|e| e.as_str()).collect();
    assert_eq!(texts.len(), all.len());
    assert_eq!(std::format!("{}", IpcError::QueueFull), "endpoint queue full");
    assert_eq!(IpcError::QueueFull.sys_error(), SysError::QueueFull);
    assert_eq!(IpcError::BadToken.sys_error(), SysError::NotFound);
}
