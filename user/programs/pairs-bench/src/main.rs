// SPDX-License-Identifier: AGPL-3.0-or-later
//! `pairs-bench`: the controller of `make bench`'s IPC scaling figure. Four independent
//! call/reply pairs run at once, each a `pair-client-<k>` calling a `pair-server` on its own
//! well-known endpoint `bench-<k>`; the figure is their total round trips per second, which
//! `cargo xtask bench` compares across 1, 2 and 4 CPUs.
//!
//! It reads the online CPU count with `cpu_list`, warms up with `pair-client-0` alone (the
//! emulator translates the IPC paths, the pages settle), then spawns `pair-client-0` ..
//! `pair-client-3` at once and waits for all four. The time, from `get_time` before the first
//! spawn to after the last wait, includes the four spawns (small next to the
//! 4 × [`CLIENT_ROUNDS`] round trips). Meant for QEMU TCG *without* `-icount`, so the clock is
//! real time and virtual CPUs run in parallel on host cores.
//!
//! Output, one line (needs `console-write` and `spawn`):
//!
//! ```text
//! [pairs-bench] cpus <n> pairs 4 round trips <total> in <ns> ns, <r> round trips per second
//! ```
//!
//! or one `[pairs-bench] error: ...` line (exit code 1).
#![no_std]
#![no_main]

use libsys::abi::syscall::CpuRecord;
use libsys::{ExitStatus, Pid, SysError, println, sys};

libsys::entry!(main);

/// The pairs, and the boot modules of their clients.
const CLIENTS: [&str; 4] = ["pair-client-0", "pair-client-1", "pair-client-2", "pair-client-3"];
/// Round trips one `pair-client` makes (its `ROUNDS`).
const CLIENT_ROUNDS: u64 = 20_000;

fn now() -> Result<u64, SysError> {
    Ok(sys::time()?.as_nanos() as u64)
}

/// CPUs that have checked in and schedule threads.
fn online_cpus() -> Result<usize, SysError> {
    let mut records = [CpuRecord::default(); 64];
    let n = sys::cpu_list(&mut records)?;
    Ok(records.iter().take(n).filter(|c| c.online).count())
}

/// Waits for `pid` (started as `name`), which must exit with 0.
fn reap(name: &str, pid: Pid) -> Result<(), &'static str> {
    match sys::wait(pid) {
        Ok(ExitStatus::Exited(0)) => Ok(()),
        Ok(status) => {
            println!("[pairs-bench] {name} (pid {pid}) ended with {status:?}");
            Err("a client failed")
        }
        Err(e) => {
            println!("[pairs-bench] wait for {name} (pid {pid}): {}", e.name());
            Err("wait failed")
        }
    }
}

fn run() -> Result<(), &'static str> {
    let cpus = online_cpus().map_err(|_| "cpu_list failed")?;
    let warm = sys::spawn(CLIENTS[0]).map_err(|_| "cannot spawn the warm-up client")?;
    reap(CLIENTS[0], warm)?;

    let started = now().map_err(|_| "get_time failed")?;
    let mut pids = [Pid(0); CLIENTS.len()];
    for (slot, name) in pids.iter_mut().zip(CLIENTS) {
        *slot = sys::spawn(name).map_err(|_| "cannot spawn a client")?;
    }
    let mut result = Ok(());
    for (pid, name) in pids.iter().zip(CLIENTS) {
        // Every client is waited for, even after one failed.
        result = result.and(reap(name, *pid));
    }
    let elapsed = now().map_err(|_| "get_time failed")?.saturating_sub(started).max(1);
    result?;
    let total = CLIENT_ROUNDS * CLIENTS.len() as u64;
    let per_second = u128::from(total) * 1_000_000_000 / u128::from(elapsed);
    println!(
        "[pairs-bench] cpus {cpus} pairs {} round trips {total} in {elapsed} ns, {per_second} round trips per second",
        CLIENTS.len()
    );
    Ok(())
}

fn main() -> i32 {
    match run() {
        Ok(()) => 0,
        Err(what) => {
            println!("[pairs-bench] error: {what}");
            1
        }
    }
}
