// SPDX-License-Identifier: AGPL-3.0-or-later
//! `cap-user`: the receiving half of the capability-transfer test (with `cap-owner`). It owns
//! the well-known `relay` endpoint.
//!
//! 1. Receives a message carrying a capability; checks it got exactly **send** (not receive,
//!    not grant) and that receiving on it is refused (`MissingRight`).
//! 2. Sends a message with it.
//! 3. After the owner says it revoked the capability, a send on the copy must fail with
//!    `BadCapability`.
//!
//! Output: `[cap-user] received a capability: rights s--`, `[cap-user] receive on it: denied
//! (MissingRight)`, `[cap-user] send after revoke: denied (BadCapability)`, `[cap-user] done`
//! (exit 0), or a line with `FAIL` (exit 1).
#![no_std]
#![no_main]

use libsys::abi::ipc::Rights;
use libsys::{Message, SysError, Timeout, WellKnown, ipc, println};

libsys::entry!(main);

fn run() -> Result<bool, SysError> {
    let Some(relay) = ipc::find_endpoint(WellKnown::Relay) else {
        println!("[cap-user] FAIL: no relay capability");
        return Ok(false);
    };
    let grant = ipc::receive_verified(relay, Timeout::Forever)?;
    let Some(slot) = grant.cap() else {
        println!("[cap-user] FAIL: no capability attached");
        return Ok(false);
    };
    let rights = ipc::caps()?.iter().find(|c| c.slot == slot).map_or(Rights::NONE, |c| c.rights);
    let text = rights.as_text();
    println!("[cap-user] received a capability: rights {}", core::str::from_utf8(&text).unwrap_or("?"));
    if rights != Rights::SEND {
        println!("[cap-user] FAIL: expected send only");
        return Ok(false);
    }
    let mut probe = Message::new();
    match ipc::receive(slot, &mut probe, Timeout::NonBlocking) {
        Err(SysError::MissingRight) => println!("[cap-user] receive on it: denied (MissingRight)"),
        other => {
            println!("[cap-user] FAIL: receive on a send-only capability gave {other:?}");
            return Ok(false);
        }
    }
    ipc::send(slot, &Message::with_payload(7, b"hello through a granted capability"), Timeout::Forever)?;
    let notice = ipc::receive_verified(relay, Timeout::Forever)?;
    if notice.payload() != b"revoked" {
        println!("[cap-user] FAIL: unexpected notice");
        return Ok(false);
    }
    match ipc::send(slot, &Message::with_payload(8, b"after revoke"), Timeout::NonBlocking) {
        Err(SysError::BadCapability) => println!("[cap-user] send after revoke: denied (BadCapability)"),
        other => {
            println!("[cap-user] FAIL: send after revoke gave {other:?}");
            return Ok(false);
        }
    }
    Ok(true)
}

fn main() -> i32 {
    match run() {
        Ok(true) => {
            println!("[cap-user] done");
            0
        }
        Ok(false) => 1,
        Err(e) => {
            println!("[cap-user] FAIL: {} ({e})", e.name());
            1
        }
    }
}
