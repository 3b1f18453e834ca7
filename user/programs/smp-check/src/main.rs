// SPDX-License-Identifier: AGPL-3.0-or-later
//! `smp-check`: the SMP test controller (QEMU rows `smp-1`, `smp-2`, `smp-4`). It runs three
//! checks one after the other, so they do not disturb each other:
//!
//! 1. Work scaling: one `hog` alone, then one `hog` per online CPU at once. Each hog works for
//!    a fixed time and reports its work units and the CPUs it ran on. With two or more CPUs
//!    the hogs must have run on at least two CPUs and the total work must be at least
//!    [`MIN_SCALING_PERCENT`] of (CPUs online, at most [`HOST_PARALLELISM`]) times the single
//!    hog's work: QEMU runs the virtual CPUs on the host's cores, so more virtual CPUs than
//!    host cores cannot add work.
//! 2. Cross-CPU IPC: it starts `ping` (pinned to CPU 0 by the manifest) and waits for it;
//!    `pong` (pinned to CPU 1) answers. `ping` itself checks the 10,000 round trips.
//! 3. Stress: [`ROUNDS`] rounds of [`CLIENTS`] `stress-client`s calling `echo` at once, the
//!    last one of each round killed while it runs, then the free frames must come back to
//!    where they were after a warm-up round.
//!
//! 0. Time: every online CPU takes timer interrupts, all at about the same rate (the CPU with
//!    the fewest ticks over half a second has at least half as many as the one with the
//!    most), and the monotonic clock agrees with the sleep.
//!
//! Output: `[smp-check] ...` lines; the last is `[smp-check] all checks passed` (exit 0) or a
//! line with `FAILED` (exit 1).
#![no_std]
#![no_main]

use core::time::Duration;

use libsys::abi::syscall::CpuRecord;
use libsys::{ExitStatus, Pid, SysError, println, sys};

libsys::entry!(main);

/// CPU records asked for (the kernel's `MAX_CPUS`).
const MAX_CPU_RECORDS: usize = 64;

/// Host cores QEMU can spread virtual CPUs over (CI machines have two).
const HOST_PARALLELISM: u64 = 2;
/// The least total work, in percent of the ideal (CPUs × one hog's work), that counts as scaling.
const MIN_SCALING_PERCENT: u64 = 65;
/// Stress rounds and clients per round.
const ROUNDS: u32 = 10;
const CLIENTS: usize = 6;
/// Calls one stress client makes (`stress-client`'s `CALLS`).
const CLIENT_CALLS: u64 = 200;
/// How long to wait for the frames of reaped processes to come back.
const FRAME_SETTLE_TRIES: u32 = 100;

fn main() -> i32 {
    match run() {
        Ok(true) => {
            println!("[smp-check] all checks passed");
            0
        }
        Ok(false) => 1,
        Err(e) => {
            println!("[smp-check] FAILED: {} ({e})", e.name());
            1
        }
    }
}

fn run() -> Result<bool, SysError> {
    let mut records = [CpuRecord::default(); MAX_CPU_RECORDS];
    let n = sys::cpu_list(&mut records)?;
    let online = records.iter().take(n).filter(|c| c.online).count() as u64;
    println!("[smp-check] {online} CPUs online");
    Ok(timers()? && work_scaling(online)? && cross_cpu_ipc()? && stress()?)
}

/// Every online CPU's tick count.
fn ticks() -> Result<[Option<u64>; MAX_CPU_RECORDS], SysError> {
    let mut records = [CpuRecord::default(); MAX_CPU_RECORDS];
    let n = sys::cpu_list(&mut records)?;
    let mut out = [None; MAX_CPU_RECORDS];
    for (slot, c) in out.iter_mut().zip(records.iter().take(n)) {
        *slot = c.online.then_some(c.ticks);
    }
    Ok(out)
}

fn timers() -> Result<bool, SysError> {
    const WINDOW: Duration = Duration::from_millis(500);
    let (t0, before) = (sys::time()?, ticks()?);
    sys::sleep(WINDOW)?;
    let (t1, after) = (sys::time()?, ticks()?);
    let elapsed = t1.saturating_sub(t0);
    let mut deltas = [0u64; MAX_CPU_RECORDS];
    let mut count = 0;
    for (cpu, (b, a)) in before.iter().zip(after.iter()).enumerate() {
        if let (Some(b), Some(a)) = (b, a) {
            let delta = a.saturating_sub(*b);
            println!("[smp-check] CPU {cpu}: {delta} timer ticks in {} ms", elapsed.as_millis());
            if let Some(d) = deltas.get_mut(count) {
                *d = delta;
            }
            count += 1;
        }
    }
    let seen = deltas.get(..count).unwrap_or(&[]);
    let (min, max) = (seen.iter().min().copied().unwrap_or(0), seen.iter().max().copied().unwrap_or(0));
    if elapsed < WINDOW || min == 0 || min * 2 < max {
        println!(
            "[smp-check] timers FAILED (every CPU must tick, at similar rates, and the clock must not lag the sleep)"
        );
        return Ok(false);
    }
    println!("[smp-check] timers ok");
    Ok(true)
}

/// A hog's exit code: (work units, CPU set).
fn hog_result(status: ExitStatus) -> Option<(u64, u32)> {
    match status {
        ExitStatus::Exited(code) => Some((u64::from(code & 0xff_ffff), code >> 24)),
        _ => None,
    }
}

/// Starts `count` hogs at once and returns their total work and the union of their CPUs.
fn hogs(count: u64) -> Result<Option<(u64, u32)>, SysError> {
    let mut pids = [Pid(0); 8];
    for slot in pids.iter_mut().take(count as usize) {
        *slot = sys::spawn("hog")?;
    }
    let (mut work, mut cpus) = (0, 0);
    let mut ok = true;
    for pid in pids.iter().take(count as usize) {
        match hog_result(sys::wait(*pid)?) {
            Some((w, c)) => {
                println!("[smp-check] hog pid {pid}: {w} units on CPUs {}", CpuSet(c));
                work += w;
                cpus |= c;
            }
            None => ok = false,
        }
    }
    Ok(ok.then_some((work, cpus)))
}

/// Measurement attempts: the virtual CPUs share the host's cores with whatever else the host
/// runs, so one noisy measurement is retried (the best attempt counts).
const ATTEMPTS: u32 = 3;

fn work_scaling(online: u64) -> Result<bool, SysError> {
    for attempt in 1..=ATTEMPTS {
        match work_scaling_once(online)? {
            Some(true) => return Ok(true),
            Some(false) if attempt < ATTEMPTS => println!("[smp-check] work scaling: attempt {attempt} too low, again"),
            _ => break,
        }
    }
    println!("[smp-check] work scaling FAILED");
    Ok(false)
}

/// One measurement: `Some(true)` when it scaled, `Some(false)` when not, `None` on an error.
fn work_scaling_once(online: u64) -> Result<Option<bool>, SysError> {
    let Some((alone, _)) = hogs(1)? else {
        println!("[smp-check] work scaling: a hog did not exit normally");
        return Ok(None);
    };
    let Some((together, cpus)) = hogs(online.min(8))? else {
        println!("[smp-check] work scaling: a hog did not exit normally");
        return Ok(None);
    };
    let percent = together * 100 / alone.max(1);
    println!(
        "[smp-check] work: 1 hog {alone} units; {online} hogs {together} units ({}.{:02}x) on CPUs {}",
        percent / 100,
        percent % 100,
        CpuSet(cpus)
    );
    if online < 2 {
        println!("[smp-check] work scaling ok (one CPU: nothing to spread)");
        return Ok(Some(true));
    }
    let want = online.min(HOST_PARALLELISM) * MIN_SCALING_PERCENT;
    if cpus.count_ones() < 2 || percent < want {
        println!(
            "[smp-check] work scaling too low (want at least {}.{:02}x on two or more CPUs)",
            want / 100,
            want % 100
        );
        return Ok(Some(false));
    }
    println!("[smp-check] work scaling ok");
    Ok(Some(true))
}

fn cross_cpu_ipc() -> Result<bool, SysError> {
    let pid = sys::spawn("ping")?;
    let status = sys::wait(pid)?;
    if status != ExitStatus::Exited(0) {
        println!("[smp-check] cross-CPU IPC FAILED: ping ended with {status:?}");
        return Ok(false);
    }
    println!("[smp-check] cross-CPU IPC ok");
    Ok(true)
}

/// One stress round: returns (clients that finished, clients killed) or `None` on failure.
fn stress_round(round: u32) -> Result<Option<(u64, u64)>, SysError> {
    let mut pids = [Pid(0); CLIENTS];
    for slot in pids.iter_mut() {
        *slot = sys::spawn("stress-client")?;
    }
    // The last client dies while it runs (or waits for echo) on whichever CPU it is on.
    if let Some(victim) = pids.last() {
        match sys::kill(*victim) {
            Ok(()) | Err(SysError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    let (mut finished, mut killed) = (0, 0);
    for (i, pid) in pids.iter().enumerate() {
        match sys::wait(*pid)? {
            ExitStatus::Exited(0) => finished += 1,
            ExitStatus::Killed if i + 1 == CLIENTS => killed += 1,
            other => {
                println!("[smp-check] stress FAILED: round {round}, client pid {pid} ended with {other:?}");
                return Ok(None);
            }
        }
    }
    Ok(Some((finished, killed)))
}

fn stress() -> Result<bool, SysError> {
    // Warm-up: state the kernel creates on first use stays.
    if stress_round(0)?.is_none() {
        return Ok(false);
    }
    let before = sys::mem_info()?.free_frames;
    let started = sys::time()?;
    let (mut finished, mut killed) = (0, 0);
    for round in 1..=ROUNDS {
        let Some((f, k)) = stress_round(round)? else { return Ok(false) };
        finished += f;
        killed += k;
    }
    let elapsed = sys::time()?.saturating_sub(started);
    // Reaping is deferred to the next switch on some CPU: give it a moment.
    let mut after = sys::mem_info()?.free_frames;
    for _ in 0..FRAME_SETTLE_TRIES {
        if after == before {
            break;
        }
        sys::sleep(Duration::from_millis(10))?;
        after = sys::mem_info()?.free_frames;
    }
    println!(
        "[smp-check] stress: {} clients in {ROUNDS} rounds ({finished} finished, {killed} killed), {} calls checked, {} ms",
        u64::from(ROUNDS) * CLIENTS as u64,
        finished * CLIENT_CALLS,
        elapsed.as_millis()
    );
    println!("[smp-check] stress: free frames before {before} after {after}");
    if after != before {
        println!("[smp-check] stress FAILED: {} frames not returned", i128::from(before) - i128::from(after));
        return Ok(false);
    }
    println!("[smp-check] stress ok");
    Ok(true)
}

/// A CPU set printed as `{0, 1}`.
struct CpuSet(u32);

impl core::fmt::Display for CpuSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("{")?;
        let mut first = true;
        for c in (0..32).filter(|c| self.0 & (1 << c) != 0) {
            if !first {
                f.write_str(", ")?;
            }
            write!(f, "{c}")?;
            first = false;
        }
        f.write_str("}")
    }
}
