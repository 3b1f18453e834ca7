// SPDX-License-Identifier: AGPL-3.0-or-later
//! `stress-client`: one client of the SMP stress test (`smp-check`). It calls the `echo`
//! service [`CALLS`] times; call `i` carries `i` and the client's pid, and the reply must
//! carry them back after the caller's Principal. It may be killed at any moment (that is part
//! of the test).
//!
//! Output: one `[stress-client] LOST ...` or `[stress-client] CORRUPT ...` line when a call
//! fails. Exit code 0 when every call came back intact, 1 otherwise.
#![no_std]
#![no_main]

use core::time::Duration;

use libsys::{Message, Timeout, WellKnown, ipc, println, sys};

libsys::entry!(main);

/// Calls made.
pub const CALLS: u64 = 200;
/// How long one call may take before it counts as lost.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of the reply taken by the caller's Principal (see `echo`).
const PRINCIPAL_LEN: usize = 32;

fn main() -> i32 {
    let Some(slot) = ipc::find_endpoint(WellKnown::Echo) else {
        println!("[stress-client] LOST: no echo capability");
        return 1;
    };
    let pid = sys::pid().map_or(0, |p| u64::from(p.0));
    for i in 0..CALLS {
        let mut body = [0u8; 16];
        let (seq, who) = body.split_at_mut(8);
        seq.copy_from_slice(&i.to_le_bytes());
        who.copy_from_slice(&pid.to_le_bytes());
        let mut msg = Message::with_payload(0, &body);
        if let Err(e) = ipc::call(slot, &mut msg, Timeout::After(CALL_TIMEOUT)) {
            println!("[stress-client] LOST call {i} of pid {pid}: {} ({e})", e.name());
            return 1;
        }
        if msg.payload().get(PRINCIPAL_LEN..PRINCIPAL_LEN + 16) != Some(&body[..]) {
            println!("[stress-client] CORRUPT reply to call {i} of pid {pid}");
            return 1;
        }
    }
    0
}
