// SPDX-License-Identifier: AGPL-3.0-or-later
//! `ipc-bench`: the IPC round-trip benchmark (`make bench`). It calls the `pong` service
//! [`ROUNDS`] times with full 256-byte messages (64-byte header + 192-byte payload) and times
//! each batch of [`BATCH`] round trips with `get_time`. Under QEMU with
//! `-icount shift=0,sleep=off` a nanosecond of guest time is one guest instruction, so the
//! figures are instruction counts.
//!
//! The reply of each round trip (pong increments the first 8 payload bytes) is sent again as
//! the next request, and the sequence number is checked every time, so a lost or damaged
//! round trip cannot go unnoticed. [`WARMUP`] untimed round trips come first. The figure is
//! the median over batches of the per-batch average (plus the lowest and highest batch).
//!
//! Output, at the end only:
//!
//! ```text
//! [ipc-bench] round trips <N>, median <m> ns per round trip (batches of 1000), min <a>, max <b>
//! [ipc-bench] done
//! ```
//!
//! or one `[ipc-bench] error: ...` line.
#![no_std]
#![no_main]

use libsys::abi::ipc::MAX_PAYLOAD;
use libsys::{Message, SysError, Timeout, WellKnown, ipc, println, sys};

libsys::entry!(main);

/// Round trips in one timed batch.
const BATCH: usize = 1_000;
/// Timed batches.
const BATCHES: usize = 100;
/// Timed round trips.
const ROUNDS: usize = BATCH * BATCHES;
/// Untimed round trips first (both processes' pages and caches settle).
const WARMUP: usize = 1_000;

fn now() -> Result<u64, SysError> {
    Ok(sys::time()?.as_nanos() as u64)
}

/// The sequence number in the first 8 payload bytes.
fn sequence(msg: &Message) -> Option<u64> {
    msg.payload().first_chunk::<8>().map(|b| u64::from_le_bytes(*b))
}

/// One round trip: `msg` goes out carrying `seq` and must come back with `seq + 1`.
fn round_trip(slot: u32, msg: &mut Message, seq: u64) -> Result<(), &'static str> {
    if ipc::call(slot, msg, Timeout::Forever).is_err() {
        return Err("call failed");
    }
    if msg.payload().len() != MAX_PAYLOAD || sequence(msg) != Some(seq.wrapping_add(1)) {
        return Err("bad reply");
    }
    Ok(())
}

fn run() -> Result<(), &'static str> {
    let slot = ipc::find_endpoint(WellKnown::Pong).ok_or("no pong capability")?;
    let mut payload = [0x5au8; MAX_PAYLOAD];
    if let Some(first) = payload.first_chunk_mut::<8>() {
        *first = 0u64.to_le_bytes();
    }
    let mut msg = Message::with_payload(0, &payload);
    let mut seq = 0u64;
    for _ in 0..WARMUP {
        round_trip(slot, &mut msg, seq)?;
        seq += 1;
    }
    let mut per_round = [0u64; BATCHES];
    for average in per_round.iter_mut() {
        let started = now().map_err(|_| "get_time failed")?;
        for _ in 0..BATCH {
            round_trip(slot, &mut msg, seq)?;
            seq += 1;
        }
        let elapsed = now().map_err(|_| "get_time failed")?.saturating_sub(started);
        *average = elapsed / BATCH as u64;
    }
    per_round.sort_unstable();
    let (min, median, max) = (
        per_round.first().copied().unwrap_or(0),
        per_round.get(BATCHES / 2).copied().unwrap_or(0),
        per_round.last().copied().unwrap_or(0),
    );
    println!(
        "[ipc-bench] round trips {ROUNDS}, median {median} ns per round trip (batches of {BATCH}), min {min}, max {max}"
    );
    println!("[ipc-bench] done");
    Ok(())
}

fn main() -> i32 {
    match run() {
        Ok(()) => 0,
        Err(what) => {
            println!("[ipc-bench] error: {what}");
            1
        }
    }
}
