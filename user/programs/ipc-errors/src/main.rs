// SPDX-License-Identifier: AGPL-3.0-or-later
//! `ipc-errors`: every IPC error path a well-behaved program can hit gets its typed error, on
//! an endpoint of its own. One line per check, `[ipc-errors] <check>: ok` or `... FAIL (...)`,
//! then `[ipc-errors] all checks passed` (exit 0) or `[ipc-errors] N checks FAILED` (exit 1).
#![no_std]
#![no_main]

use core::time::Duration;

use libsys::abi::ipc::{MAX_PAYLOAD, QUEUE_DEPTH};
use libsys::{Message, SysError, Timeout, ipc, println, sys};

libsys::entry!(main);

struct Checks {
    failed: u32,
}

impl Checks {
    fn expect(&mut self, check: &str, got: Result<(), SysError>, want: SysError) {
        match got {
            Err(e) if e == want => println!("[ipc-errors] {check}: ok"),
            other => {
                println!("[ipc-errors] {check}: FAIL (got {other:?}, expected {want:?})");
                self.failed += 1;
            }
        }
    }

    fn ok(&mut self, check: &str, got: Result<(), SysError>) {
        match got {
            Ok(()) => println!("[ipc-errors] {check}: ok"),
            Err(e) => {
                println!("[ipc-errors] {check}: FAIL ({e:?})");
                self.failed += 1;
            }
        }
    }
}

fn main() -> i32 {
    let mut c = Checks { failed: 0 };
    let slot = match ipc::endpoint_create() {
        Ok(s) => s,
        Err(e) => {
            println!("[ipc-errors] endpoint_create: FAIL ({e:?})");
            return 1;
        }
    };
    let mut msg = Message::new();
    c.expect("receive, non-blocking, empty", ipc::receive(slot, &mut msg, Timeout::NonBlocking), SysError::WouldBlock);
    let before = sys::time().unwrap_or_default();
    let timed = ipc::receive(slot, &mut msg, Timeout::After(Duration::from_millis(20)));
    let waited = sys::time().unwrap_or_default().saturating_sub(before);
    c.expect("receive with a 20 ms timeout", timed, SysError::TimedOut);
    if waited < Duration::from_millis(20) {
        println!("[ipc-errors] timeout length: FAIL (returned after {waited:?})");
        c.failed += 1;
    } else {
        println!("[ipc-errors] timeout length: ok");
    }
    let mut all = Ok(());
    for i in 0..QUEUE_DEPTH {
        all = all.and(ipc::send(slot, &Message::with_payload(i as u32, b"fill"), Timeout::NonBlocking));
    }
    c.ok("fill the queue (16 messages)", all);
    let one_more = Message::with_payload(99, b"overflow");
    c.expect(
        "send to a full queue, non-blocking",
        ipc::send(slot, &one_more, Timeout::NonBlocking),
        SysError::QueueFull,
    );
    c.expect(
        "send to a full queue with a timeout",
        ipc::send(slot, &one_more, Timeout::After(Duration::from_millis(5))),
        SysError::TimedOut,
    );
    let mut order = Ok(());
    for i in 0..QUEUE_DEPTH {
        match ipc::receive(slot, &mut msg, Timeout::NonBlocking) {
            Ok(()) if msg.label() == i as u32 => {}
            Ok(()) => order = Err(SysError::Unrecognised),
            Err(e) => order = Err(e),
        }
    }
    c.ok("drain in FIFO order", order);
    let mut bad = Message::with_payload(1, b"x");
    bad.set_len(MAX_PAYLOAD as u16 + 1);
    c.expect("send with len 193", ipc::send(slot, &bad, Timeout::NonBlocking), SysError::InvalidArgument);
    let mut bogus = Message::with_payload(0, b"reply");
    bogus.set_reply_token(0x1234_5678_9abc);
    c.expect("reply to a call that does not exist", ipc::reply(&bogus), SysError::NotFound);
    let mut req = Message::with_payload(5, b"nobody answers");
    c.expect(
        "call with a timeout, nobody answering",
        ipc::call(slot, &mut req, Timeout::After(Duration::from_millis(10))),
        SysError::TimedOut,
    );
    // The abandoned call is still queued: receiving it works, but replying is refused.
    match ipc::receive(slot, &mut msg, Timeout::NonBlocking) {
        Ok(()) if msg.label() == 5 => {
            let answer = Message::with_payload(0, b"too late");
            let mut answer = answer;
            answer.set_reply_token(msg.reply_token());
            c.expect("reply after the caller gave up", ipc::reply(&answer), SysError::NotFound);
        }
        other => {
            println!("[ipc-errors] abandoned call still queued: FAIL ({other:?})");
            c.failed += 1;
        }
    }
    c.ok("drop the capability", ipc::cap_drop(slot));
    c.expect("drop it again", ipc::cap_drop(slot), SysError::BadCapability);
    c.expect(
        "send on the dropped slot",
        ipc::send(slot, &Message::new(), Timeout::NonBlocking),
        SysError::BadCapability,
    );
    if c.failed == 0 {
        println!("[ipc-errors] all checks passed");
        0
    } else {
        println!("[ipc-errors] {} checks FAILED", c.failed);
        1
    }
}
