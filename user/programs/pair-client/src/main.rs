// SPDX-License-Identifier: AGPL-3.0-or-later
//! `pair-client`: the client half of one benchmark pair of `make bench`'s IPC scaling figure.
//! `pairs-bench` spawns it (as `pair-client-<k>`); the boot manifest lets it send to exactly
//! one of the well-known endpoints `bench-0` .. `bench-3`, where a `pair-server` answers.
//!
//! It makes [`ROUNDS`] call/reply round trips with a [`PAYLOAD`]-byte payload that carries the
//! round number, the endpoint id and a pattern derived from both, and checks that every reply
//! brings back exactly what it sent, so a lost, damaged or misdelivered round trip cannot go
//! unnoticed. It prints nothing while it works (the console would cost more than the IPC).
//!
//! Exit code 0 when every round trip came back intact; otherwise one
//! `[pair-client] LOST ...` line and exit code 1.
#![no_std]
#![no_main]

use libsys::abi::ipc::CapKind;
use libsys::{Message, Timeout, WellKnown, ipc, println};

libsys::entry!(main);

/// Round trips per client (`pairs-bench` counts on this number).
const ROUNDS: u64 = 20_000;
/// Payload bytes per message.
const PAYLOAD: usize = 64;

/// The one benchmark endpoint this process may send to: its slot and name. `None` when it
/// holds none or several.
fn bench_endpoint() -> Option<(u32, WellKnown)> {
    let caps = ipc::caps().ok()?;
    let mut found = None;
    for record in caps.iter().filter(|r| r.kind == CapKind::Endpoint as u8 && r.rights.contains(ipc::Rights::SEND)) {
        let Some(w) = WellKnown::from_id(record.endpoint).filter(|w| WellKnown::BENCH.contains(w)) else { continue };
        if found.is_some() {
            return None;
        }
        found = Some((record.slot, w));
    }
    found
}

/// The payload of round `round` on endpoint `id`: the round (8 bytes, little-endian), the id
/// (4 bytes), then bytes that depend on both.
fn payload(round: u64, id: u32) -> [u8; PAYLOAD] {
    let mut p = [0u8; PAYLOAD];
    let (head, rest) = p.split_at_mut(8);
    head.copy_from_slice(&round.to_le_bytes());
    let (tag, rest) = rest.split_at_mut(4);
    tag.copy_from_slice(&id.to_le_bytes());
    for (i, b) in rest.iter_mut().enumerate() {
        *b = (round as u8).wrapping_mul(31).wrapping_add(i as u8).wrapping_add(id as u8);
    }
    p
}

fn main() -> i32 {
    let Some((slot, which)) = bench_endpoint() else {
        println!("[pair-client] LOST: no bench-k endpoint capability (or more than one)");
        return 1;
    };
    let id = which as u32;
    for round in 0..ROUNDS {
        let sent = payload(round, id);
        let mut msg = Message::with_payload(0, &sent);
        if let Err(e) = ipc::call(slot, &mut msg, Timeout::Forever) {
            println!("[pair-client] LOST round trip {round} on {}: call failed: {} ({e})", which.name(), e.name());
            return 1;
        }
        if msg.payload() != sent.as_slice() {
            println!(
                "[pair-client] LOST round trip {round} on {}: the reply ({} bytes, label {}) is not what was sent",
                which.name(),
                msg.payload().len(),
                msg.label()
            );
            return 1;
        }
    }
    0
}
