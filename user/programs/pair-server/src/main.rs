// SPDX-License-Identifier: AGPL-3.0-or-later
//! `pair-server`: the server half of one benchmark pair of `make bench`'s IPC scaling figure
//! (`pairs-bench`). It provides exactly one of the well-known endpoints `bench-0` ..
//! `bench-3` (the boot manifest says which) and answers every call on it with label 0 and the
//! request's payload, unchanged, forever. Messages that are not calls are ignored.
//!
//! Output: `[pair-server] bench-<k> ready on CPU <c>` once; `[pair-server] ...` error lines
//! only when something goes wrong. Exit code 1 if it owns no `bench-k` endpoint (or more than
//! one) or loses its capability.
#![no_std]
#![no_main]

use libsys::abi::ipc::{CapKind, MAX_PAYLOAD};
use libsys::{SysError, Timeout, WellKnown, ipc, println};

libsys::entry!(main);

/// The one benchmark endpoint this process owns (holds with the receive right): its slot and
/// name. `None` when it owns none or several.
fn owned_bench_endpoint() -> Option<(u32, WellKnown)> {
    let caps = ipc::caps().ok()?;
    let mut found = None;
    for record in caps.iter().filter(|r| r.kind == CapKind::Endpoint as u8 && r.rights.contains(ipc::Rights::RECEIVE)) {
        let Some(w) = WellKnown::from_id(record.endpoint).filter(|w| WellKnown::BENCH.contains(w)) else { continue };
        if found.is_some() {
            return None;
        }
        found = Some((record.slot, w));
    }
    found
}

fn main() -> i32 {
    let Some((slot, which)) = owned_bench_endpoint() else {
        println!("[pair-server] owns no bench-k endpoint, or more than one");
        return 1;
    };
    println!("[pair-server] {} ready on CPU {}", which.name(), libsys::sys::cpu_id());
    let mut payload = [0u8; MAX_PAYLOAD];
    loop {
        let request = match ipc::receive_verified(slot, Timeout::Forever) {
            Ok(request) => request,
            Err(e @ (SysError::BadCapability | SysError::MissingRight)) => {
                println!("[pair-server] {}: receive failed: {} ({e}); exiting", which.name(), e.name());
                return 1;
            }
            Err(e) => {
                println!("[pair-server] {}: receive failed: {} ({e})", which.name(), e.name());
                continue;
            }
        };
        if !request.is_call() {
            continue;
        }
        let n = request.payload().len().min(payload.len());
        let (Some(out), Some(src)) = (payload.get_mut(..n), request.payload().get(..n)) else { continue };
        out.copy_from_slice(src);
        if let Err(e) = request.reply(0, out) {
            println!("[pair-server] {}: reply to pid {} failed: {}", which.name(), request.sender_pid(), e.name());
        }
    }
}
