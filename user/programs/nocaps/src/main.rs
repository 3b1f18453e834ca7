// SPDX-License-Identifier: AGPL-3.0-or-later
//! `nocaps`: started with no capabilities. `console_write` and `spawn` must both fail with
//! `PermissionDenied`. It cannot print, so it reports by exit code: 0 if both were denied, 1 if
//! `console_write` was not, 2 if `spawn` was not.
#![no_std]
#![no_main]

use libsys::{SysError, sys};

libsys::entry!(main);

fn main() -> i32 {
    let write = sys::console_write(b"[nocaps] SHOULD NOT PRINT\n");
    let spawn = sys::spawn("child");
    if let Ok(pid) = spawn {
        let _ = sys::wait(pid);
    }
    match (write, spawn) {
        (Err(SysError::PermissionDenied), Err(SysError::PermissionDenied)) => 0,
        (Err(SysError::PermissionDenied), _) => 2,
        _ => 1,
    }
}
