// SPDX-License-Identifier: AGPL-3.0-or-later
//! `echo`: the echo service. It provides the well-known `echo` endpoint and answers every call
//! with label 0 and a payload of the caller's kernel-stamped 32-byte Principal followed by the
//! request payload (truncated to fit). Messages that are not calls are ignored. It runs until
//! killed.
//!
//! Output: `[echo] ready` once; `[echo] ...` error lines only when something goes wrong. Exit
//! code 1 if it holds no `echo` capability or loses it.
#![no_std]
#![no_main]

use libsys::abi::ipc::MAX_PAYLOAD;
use libsys::{SysError, Timeout, WellKnown, ipc, println};

libsys::entry!(main);

/// Bytes of the reply taken by the caller's Principal.
const PRINCIPAL_LEN: usize = 32;

fn main() -> i32 {
    let Some(slot) = ipc::find_endpoint(WellKnown::Echo) else {
        println!("[echo] no echo capability");
        return 1;
    };
    println!("[echo] ready");
    loop {
        let request = match ipc::receive_verified(slot, Timeout::Forever) {
            Ok(request) => request,
            Err(e @ (SysError::BadCapability | SysError::MissingRight)) => {
                println!("[echo] receive failed: {} ({e}); exiting", e.name());
                return 1;
            }
            Err(e) => {
                println!("[echo] receive failed: {} ({e})", e.name());
                continue;
            }
        };
        if !request.is_call() {
            continue;
        }
        let mut payload = [0u8; MAX_PAYLOAD];
        let (who, rest) = payload.split_at_mut(PRINCIPAL_LEN);
        who.copy_from_slice(&request.sender().0);
        let n = request.payload().len().min(rest.len());
        if let (Some(dst), Some(src)) = (rest.get_mut(..n), request.payload().get(..n)) {
            dst.copy_from_slice(src);
        }
        let reply = payload.get(..PRINCIPAL_LEN + n).unwrap_or(&payload);
        if let Err(e) = request.reply(0, reply) {
            // The caller may have been killed or timed out meanwhile: not the service's problem.
            println!("[echo] reply to pid {} failed: {}", request.sender_pid(), e.name());
        }
    }
}
