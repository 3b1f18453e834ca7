// SPDX-License-Identifier: AGPL-3.0-or-later
//! `bench`: measures the cost of the basic kernel operations from user space.
//!
//! Meant to run under QEMU with `-icount shift=0,sleep=off` (`make bench`), where the guest
//! clock advances one nanosecond per guest instruction, so `get_time` differences are
//! instruction counts. Each figure is the total over many iterations divided by the
//! iteration count (loop overhead included: a few instructions). Output, one line each:
//!
//! ```text
//! [bench] get_pid: <n> ns/op over <iterations>
//! [bench] yield-alone: ...           (a yield with nothing else ready: no switch)
//! [bench] yield-switch: ...          (yield to another process and back: 2 switches, 2 syscalls)
//! [bench] map-unmap-4k: ...          (map_anon of one page, then unmap)
//! [bench] spawn-wait: ...            (spawn a tiny child, wait for its exit, reclaim)
//! [bench] done
//! ```
#![no_std]
#![no_main]

use core::time::Duration;

use libsys::sys::Protection;
use libsys::{SysError, println, sys};

libsys::entry!(main);

fn now() -> Result<u64, SysError> {
    Ok(sys::time()?.as_nanos() as u64)
}

fn report(name: &str, started: u64, iterations: u32) -> Result<(), SysError> {
    let elapsed = now()?.saturating_sub(started);
    println!("[bench] {name}: {} ns/op over {iterations}", elapsed / u64::from(iterations));
    Ok(())
}

fn run() -> Result<(), SysError> {
    const CALLS: u32 = 20_000;
    let t = now()?;
    for _ in 0..CALLS {
        core::hint::black_box(sys::pid()?);
    }
    report("get_pid", t, CALLS)?;

    let t = now()?;
    for _ in 0..CALLS {
        sys::yield_now()?;
    }
    report("yield-alone", t, CALLS)?;

    const PAGES: u32 = 2_000;
    let t = now()?;
    for _ in 0..PAGES {
        let p = sys::map_anon(4096, Protection::ReadWrite)?;
        // SAFETY: `p` is the mapping just made, of exactly 4096 bytes, and nothing refers to it.
        unsafe { sys::unmap(p, 4096)? };
    }
    report("map-unmap-4k", t, PAGES)?;

    const SPAWNS: u32 = 200;
    let t = now()?;
    for _ in 0..SPAWNS {
        let pid = sys::spawn("child")?;
        sys::wait(pid)?;
    }
    report("spawn-wait", t, SPAWNS)?;

    // Yield ping-pong with another process: each of our yields runs the yielder once.
    const SWITCHES: u32 = 10_000;
    let partner = sys::spawn("yielder")?;
    sys::yield_now()?; // let it start
    let t = now()?;
    for _ in 0..SWITCHES {
        sys::yield_now()?;
    }
    report("yield-switch", t, SWITCHES)?;
    sys::wait(partner)?;
    sys::sleep(Duration::from_millis(1))?;
    println!("[bench] done");
    Ok(())
}

fn main() -> i32 {
    match run() {
        Ok(()) => 0,
        Err(e) => {
            println!("[bench] error: {e}");
            1
        }
    }
}
