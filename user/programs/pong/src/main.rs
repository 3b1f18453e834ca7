// SPDX-License-Identifier: AGPL-3.0-or-later
//! `pong`: the ping-pong test server. It provides the well-known `pong` endpoint and answers
//! every call with label 0 and the request payload whose first 8 bytes, read as a little-endian
//! u64, are incremented by one (a payload shorter than 8 bytes comes back unchanged). Messages
//! that are not calls are ignored. It runs until killed.
//!
//! Output: `[pong] ready on CPU <c>` once; `[pong] ...` error lines only when something goes wrong. Exit
//! code 1 if it holds no `pong` capability or loses it.
#![no_std]
#![no_main]

use libsys::abi::ipc::MAX_PAYLOAD;
use libsys::{SysError, Timeout, WellKnown, ipc, println};

libsys::entry!(main);

fn main() -> i32 {
    let Some(slot) = ipc::find_endpoint(WellKnown::Pong) else {
        println!("[pong] no pong capability");
        return 1;
    };
    println!("[pong] ready on CPU {}", libsys::sys::cpu_id());
    let mut payload = [0u8; MAX_PAYLOAD];
    loop {
        let request = match ipc::receive_verified(slot, Timeout::Forever) {
            Ok(request) => request,
            Err(e @ (SysError::BadCapability | SysError::MissingRight)) => {
                println!("[pong] receive failed: {} ({e}); exiting", e.name());
                return 1;
            }
            Err(e) => {
                println!("[pong] receive failed: {} ({e})", e.name());
                continue;
            }
        };
        if !request.is_call() {
            continue;
        }
        let n = request.payload().len().min(payload.len());
        let (Some(out), Some(src)) = (payload.get_mut(..n), request.payload().get(..n)) else { continue };
        out.copy_from_slice(src);
        if let Some(first) = out.first_chunk_mut::<8>() {
            *first = u64::from_le_bytes(*first).wrapping_add(1).to_le_bytes();
        }
        if let Err(e) = request.reply(0, out) {
            println!("[pong] reply to pid {} failed: {}", request.sender_pid(), e.name());
        }
    }
}
