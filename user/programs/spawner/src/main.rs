// SPDX-License-Identifier: AGPL-3.0-or-later
//! `spawner`: spawns `child` and waits for it [`CHILDREN`] times, checking every status is
//! `Exited(42)`, and compares the free physical frames before and after (after one warm-up
//! child, so kernel state created lazily on first use does not count as a leak).
//!
//! Output: `[spawner] 250 reaped` (every [`REPORT_EVERY`]), then `[spawner] spawned and reaped
//! 1000 children, free frames before <a> after <b>`, the time taken, and `[spawner] frames
//! balanced` (exit 0) or `[spawner] FRAME LEAK of <a-b> frames` (exit 1). A wrong status or a
//! failed syscall prints what happened and exits with 1 or 2.
#![no_std]
#![no_main]

use libsys::{ExitStatus, Pid, SysError, println, sys};

libsys::entry!(main);

/// Children to spawn and reap.
const CHILDREN: u32 = 1000;
/// Progress line period.
const REPORT_EVERY: u32 = 250;
/// The module spawned.
const CHILD: &str = "child";
/// `child`'s exit code.
const CHILD_EXIT: u32 = 42;

fn main() -> i32 {
    match run() {
        Ok(code) => code,
        Err(e) => {
            println!("[spawner] error: {} ({e})", e.name());
            2
        }
    }
}

/// Spawns `child` and waits for it; false (after saying why) if it did not exit with 42.
fn spawn_and_reap(i: u32) -> Result<bool, SysError> {
    let pid: Pid = sys::spawn(CHILD)?;
    let status = sys::wait(pid)?;
    if status != ExitStatus::Exited(CHILD_EXIT) {
        println!("[spawner] child {i} (pid {pid}) ended with {status:?}, expected Exited({CHILD_EXIT})");
        return Ok(false);
    }
    Ok(true)
}

fn run() -> Result<i32, SysError> {
    // Warm-up: the first spawn, wait, print, time and mem_info calls may create kernel state
    // (and touch stack pages) that then stays.
    if !spawn_and_reap(0)? {
        return Ok(1);
    }
    let _ = sys::time()?;
    let _ = sys::mem_info()?;
    println!("[spawner] warm-up child reaped, spawning {CHILDREN}");

    let before = sys::mem_info()?;
    let started = sys::time()?;
    for i in 1..=CHILDREN {
        if !spawn_and_reap(i)? {
            return Ok(1);
        }
        if i % REPORT_EVERY == 0 {
            println!("[spawner] {i} reaped");
        }
    }
    let elapsed = sys::time()?.saturating_sub(started);
    let after = sys::mem_info()?;

    let (a, b) = (before.free_frames, after.free_frames);
    println!("[spawner] spawned and reaped {CHILDREN} children, free frames before {a} after {b}");
    println!(
        "[spawner] {} ms in all, {} us per spawn+wait",
        elapsed.as_millis(),
        elapsed.as_micros() / u128::from(CHILDREN)
    );
    if a == b {
        println!("[spawner] frames balanced");
        Ok(0)
    } else {
        println!("[spawner] FRAME LEAK of {} frames", i128::from(a) - i128::from(b));
        Ok(1)
    }
}
