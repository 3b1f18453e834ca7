// SPDX-License-Identifier: AGPL-3.0-or-later
//! `ping`: the IPC round-trip test. It calls the `pong` service [`ROUNDS`] times with a full
//! 192-byte payload: round `i` carries `i` (little-endian u64) in the first 8 bytes and a
//! pattern derived from `i` in the rest. Every reply must carry `i + 1`, the pattern intact,
//! and come from the same non-zero Principal (the pong service's, stamped by the kernel).
//!
//! Output: `[ping] 10000 round trips, 0 lost, <n> ns per round trip` and `[ping] ran on CPU
//! <c>` (exit 0), or one
//! `[ping] LOST ...` / `[ping] CORRUPT ...` line for the first bad round trip (exit 1).
#![no_std]
#![no_main]

use core::time::Duration;

use libsys::abi::ipc::MAX_PAYLOAD;
use libsys::{Message, Principal, SysError, Timeout, WellKnown, ipc, println, sys};

libsys::entry!(main);

/// Round trips.
const ROUNDS: u64 = 10_000;
/// How long one round trip may take before it counts as lost.
const ROUND_TIMEOUT: Duration = Duration::from_secs(5);

/// Payload byte `j` (8 and up) of round `i`.
fn pattern(i: u64, j: usize) -> u8 {
    (i as u8).wrapping_mul(31) ^ (j as u8).wrapping_mul(7) ^ 0xa5
}

/// The request of round `i`.
fn request(i: u64) -> Message {
    let mut payload = [0u8; MAX_PAYLOAD];
    for (j, b) in payload.iter_mut().enumerate() {
        *b = pattern(i, j);
    }
    if let Some(first) = payload.first_chunk_mut::<8>() {
        *first = i.to_le_bytes();
    }
    Message::with_payload(0, &payload)
}

/// What is wrong with the reply to round `i`, if anything; `pong` is the replier seen first.
fn check(i: u64, reply: &Message, pong: &mut Option<Principal>) -> Result<(), &'static str> {
    let payload = reply.payload();
    if payload.len() != MAX_PAYLOAD {
        return Err("wrong payload length");
    }
    if payload.first_chunk::<8>().map(|b| u64::from_le_bytes(*b)) != Some(i.wrapping_add(1)) {
        return Err("sequence number not incremented");
    }
    if !payload.iter().enumerate().skip(8).all(|(j, b)| *b == pattern(i, j)) {
        return Err("payload pattern damaged");
    }
    let sender = Principal(reply.sender());
    if sender.is_zero() {
        return Err("zero sender");
    }
    match pong {
        Some(p) if *p != sender => Err("reply from a different Principal"),
        Some(_) => Ok(()),
        None => {
            *pong = Some(sender);
            Ok(())
        }
    }
}

fn run() -> Result<i32, SysError> {
    let Some(slot) = ipc::find_endpoint(WellKnown::Pong) else {
        println!("[ping] LOST: no pong capability");
        return Ok(1);
    };
    let mut pong = None;
    let started = sys::time()?;
    for i in 0..ROUNDS {
        let mut msg = request(i);
        if let Err(e) = ipc::call(slot, &mut msg, Timeout::After(ROUND_TIMEOUT)) {
            println!("[ping] LOST round trip {i}: {} ({e})", e.name());
            return Ok(1);
        }
        if let Err(what) = check(i, &msg, &mut pong) {
            println!("[ping] CORRUPT reply to round trip {i}: {what}");
            return Ok(1);
        }
    }
    let elapsed = sys::time()?.saturating_sub(started);
    let per_round = elapsed.as_nanos() / u128::from(ROUNDS);
    println!("[ping] {ROUNDS} round trips, 0 lost, {per_round} ns per round trip");
    println!("[ping] ran on CPU {}", sys::cpu_id());
    Ok(0)
}

fn main() -> i32 {
    match run() {
        Ok(code) => code,
        Err(e) => {
            println!("[ping] LOST: {} ({e})", e.name());
            1
        }
    }
}
