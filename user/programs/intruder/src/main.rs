// SPDX-License-Identifier: AGPL-3.0-or-later
//! `intruder`: the hostile program. Its manifest grants only `console-write` and send on the
//! `echo` endpoint; it tries to do more, and every attempt must be refused with the right error:
//!
//! - receive on its send-only `echo` capability → `MissingRight`;
//! - send on a slot it was never given → `BadCapability`;
//! - receive on every slot it does not hold → `BadCapability` (one summary line);
//! - transfer its `echo` capability (no grant right) → `MissingRight`;
//! - call `echo` with a forged sender (0x41 bytes, pid 1): the Principal echo reports must be
//!   the intruder's own, stamped by the kernel;
//! - `audit_read`, `kill(1)` and `console_read` without their capabilities → `PermissionDenied`.
//!
//! Output: one line per attempt, `[intruder] <attempt>: denied (<ErrorName>)` or
//! `[intruder] <attempt>: ALLOWED` (`denied (<ErrorName>, expected <ErrorName>)` for a refusal
//! with the wrong error; `[intruder] forged sender: overwritten by the kernel` or
//! `... FORGERY ACCEPTED`), then `[intruder] all attempts denied` (exit 0) or
//! `[intruder] N attempts succeeded` / `[intruder] N attempts denied with the wrong error`
//! (exit 1).
#![no_std]
#![no_main]

use core::fmt::Display;
use core::time::Duration;

use libsys::abi::audit::Event;
use libsys::abi::ipc::{CAP_SLOTS, FLAG_CAP};
use libsys::{Message, Pid, Principal, SysError, Timeout, WellKnown, ipc, println, sys};

libsys::entry!(main);

/// A slot the manifest never fills (unless it happens to hold it; then the next empty one).
const EMPTY_SLOT: u32 = 40;
/// How long an attempt that could block may wait.
const WAIT: Timeout = Timeout::After(Duration::from_secs(5));

#[derive(Default)]
struct Report {
    /// Attempts that succeeded.
    allowed: u32,
    /// Attempts refused with an unexpected error.
    wrong: u32,
}

impl Report {
    /// Reports one attempt that must fail with `want`.
    fn expect<T>(&mut self, attempt: impl Display, got: Result<T, SysError>, want: SysError) {
        match got {
            Err(e) if e == want => println!("[intruder] {attempt}: denied ({})", e.name()),
            Err(e) => {
                println!("[intruder] {attempt}: denied ({}, expected {})", e.name(), want.name());
                self.wrong += 1;
            }
            Ok(_) => {
                println!("[intruder] {attempt}: ALLOWED");
                self.allowed += 1;
            }
        }
    }
}

fn main() -> i32 {
    let Some(echo) = ipc::find_endpoint(WellKnown::Echo) else {
        println!("[intruder] setup failed: no echo capability");
        return 2;
    };
    let held = ipc::caps().ok();
    let holds = |slot: u32| slot == echo || held.as_ref().is_some_and(|c| c.holds_slot(slot));
    let mut report = Report::default();

    // a. Receive with a send-only capability.
    let mut msg = Message::new();
    report.expect(
        "receive on its send-only echo capability",
        ipc::receive(echo, &mut msg, Timeout::NonBlocking),
        SysError::MissingRight,
    );

    // b. Send on a slot it was never given.
    let empty = (EMPTY_SLOT..CAP_SLOTS as u32).chain(0..EMPTY_SLOT).find(|s| !holds(*s)).unwrap_or(EMPTY_SLOT);
    let probe = Message::with_payload(0, b"intruder");
    report.expect(
        format_args!("send on never-granted slot {empty}"),
        ipc::send(empty, &probe, Timeout::NonBlocking),
        SysError::BadCapability,
    );

    // c. Receive on every slot it does not hold.
    receive_on_empty_slots(&mut report, &holds);

    // d. Pass its echo capability on without the grant right.
    let mut transfer = Message::with_payload(0, b"take my capability");
    transfer.set_flags(FLAG_CAP);
    transfer.set_cap(echo);
    report.expect(
        "transfer of its echo capability (no grant right)",
        ipc::send(echo, &transfer, WAIT),
        SysError::MissingRight,
    );

    // e. A forged sender.
    forged_sender(&mut report, echo);

    // f. System capabilities it was not granted.
    let mut events = [Event::default(); 4];
    report.expect("audit_read without audit-read", sys::audit_read(&mut events), SysError::PermissionDenied);
    report.expect("kill(1) without kill", sys::kill(Pid(1)), SysError::PermissionDenied);
    let mut input = [0u8; 16];
    report.expect(
        "console_read without console-read",
        sys::console_read(&mut input, Timeout::NonBlocking),
        SysError::PermissionDenied,
    );

    if report.allowed == 0 && report.wrong == 0 {
        println!("[intruder] all attempts denied");
        return 0;
    }
    if report.allowed > 0 {
        println!("[intruder] {} attempts succeeded", report.allowed);
    }
    if report.wrong > 0 {
        println!("[intruder] {} attempts denied with the wrong error", report.wrong);
    }
    1
}

/// c: receive on every slot `0..CAP_SLOTS` it does not hold; one summary line.
fn receive_on_empty_slots(report: &mut Report, holds: &dyn Fn(u32) -> bool) {
    let (mut tried, mut first_bad) = (0u32, None);
    for slot in (0..CAP_SLOTS as u32).filter(|s| !holds(*s)) {
        tried += 1;
        let mut msg = Message::new();
        let got = ipc::receive(slot, &mut msg, Timeout::NonBlocking);
        if got != Err(SysError::BadCapability) && first_bad.is_none() {
            first_bad = Some((slot, got));
        }
    }
    match first_bad {
        None => println!("[intruder] receive on {tried} slots it does not hold: denied (BadCapability)"),
        Some((slot, Ok(()))) => {
            println!("[intruder] receive on {tried} slots it does not hold: ALLOWED on slot {slot}");
            report.allowed += 1;
        }
        Some((slot, Err(e))) => {
            println!(
                "[intruder] receive on {tried} slots it does not hold: denied ({} on slot {slot}, expected BadCapability)",
                e.name()
            );
            report.wrong += 1;
        }
    }
}

/// e: call echo with the sender fields forged; echo reports the Principal the kernel stamped.
fn forged_sender(report: &mut Report, echo: u32) {
    let me = match sys::principal() {
        Ok(me) => me,
        Err(e) => {
            println!("[intruder] forged sender: get_principal failed ({})", e.name());
            report.wrong += 1;
            return;
        }
    };
    let mut msg = Message::with_payload(0, b"forged");
    msg.set_sender(&[0x41; 32]);
    msg.set_sender_pid(1);
    if let Err(e) = ipc::call(echo, &mut msg, WAIT) {
        println!("[intruder] forged sender: call to echo failed ({})", e.name());
        report.wrong += 1;
        return;
    }
    let seen = msg.payload().first_chunk::<32>().map(|p| Principal(*p));
    match seen {
        Some(seen) if seen == me => println!("[intruder] forged sender: overwritten by the kernel"),
        Some(seen) => {
            println!("[intruder] forged sender: FORGERY ACCEPTED (echo saw {})", seen.short());
            report.allowed += 1;
        }
        None => {
            println!("[intruder] forged sender: echo's reply is too short ({} bytes)", msg.payload().len());
            report.wrong += 1;
        }
    }
}
