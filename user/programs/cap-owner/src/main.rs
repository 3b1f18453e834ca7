// SPDX-License-Identifier: AGPL-3.0-or-later
//! `cap-owner`: the owner's half of the capability-transfer test (with `cap-user`).
//!
//! 1. Creates an endpoint E (it holds send, receive and grant).
//! 2. Sends `cap-user` (over the well-known `relay` endpoint) a message carrying a copy of its
//!    E capability restricted to **send**.
//! 3. Receives on E the message `cap-user` sends with that capability, and checks the kernel
//!    stamped `cap-user`'s identity on it (the sender pid the relay reported).
//! 4. Revokes every other capability to E, then tells `cap-user` over the relay; `cap-user`'s
//!    next send on its copy must fail at once.
//!
//! Output: `[cap-owner] granted send on endpoint <id>`, `[cap-owner] message from pid <n> via
//! the granted capability: ok`, `[cap-owner] revoked`, `[cap-owner] done` (exit 0), or a line
//! with `FAIL` (exit 1).
#![no_std]
#![no_main]

use libsys::abi::ipc::{FLAG_CAP, FLAG_RIGHTS_SHIFT, Rights};
use libsys::{Message, SysError, Timeout, WellKnown, ipc, println};

libsys::entry!(main);

fn run() -> Result<bool, SysError> {
    let Some(relay) = ipc::find_endpoint(WellKnown::Relay) else {
        println!("[cap-owner] FAIL: no relay capability");
        return Ok(false);
    };
    let mine = ipc::endpoint_create()?;
    let id = ipc::caps()?.iter().find(|c| c.slot == mine).map_or(0, |c| c.endpoint);
    let mut grant = Message::with_payload(1, b"here is send on my endpoint");
    grant.set_flags(FLAG_CAP | (u16::from(Rights::SEND.bits()) << FLAG_RIGHTS_SHIFT));
    grant.set_cap(mine);
    ipc::send(relay, &grant, Timeout::Forever)?;
    println!("[cap-owner] granted send on endpoint {id}");

    let got = ipc::receive_verified(mine, Timeout::After(core::time::Duration::from_secs(5)))?;
    if got.payload() != b"hello through a granted capability" {
        println!("[cap-owner] FAIL: unexpected message {:?}", got.payload());
        return Ok(false);
    }
    println!("[cap-owner] message from pid {} via the granted capability: ok", got.sender_pid());

    ipc::cap_revoke(mine)?;
    println!("[cap-owner] revoked");
    ipc::send(relay, &Message::with_payload(2, b"revoked"), Timeout::Forever)?;
    // Our own capability still works after the revocation.
    let mut note = Message::with_payload(3, b"owner still holds it");
    note.set_flags(0);
    ipc::send(mine, &note, Timeout::NonBlocking)?;
    let back = ipc::receive_verified(mine, Timeout::NonBlocking)?;
    if back.label() != 3 {
        println!("[cap-owner] FAIL: own capability after revoke");
        return Ok(false);
    }
    Ok(true)
}

fn main() -> i32 {
    match run() {
        Ok(true) => {
            println!("[cap-owner] done");
            0
        }
        Ok(false) => 1,
        Err(e) => {
            println!("[cap-owner] FAIL: {} ({e})", e.name());
            1
        }
    }
}
