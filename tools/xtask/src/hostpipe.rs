// SPDX-License-Identifier: AGPL-3.0-or-later
//! The host reference of `cargo xtask bench`: a pipe ping-pong between two processes on the
//! host Linux, 256 bytes each way, both pinned to CPU 0 with `taskset` when it is installed.
//!
//! The second process is this xtask binary again, run with the hidden subcommand
//! [`ECHO_COMMAND`] ([`echo`]): it copies 256-byte blocks from its stdin to its stdout until
//! end of input. The first writes a block into the child's stdin pipe and reads it back from
//! its stdout pipe, [`ROUNDS`] times in batches of [`BATCH`] after [`WARMUP`] untimed round
//! trips, on a thread of its own (pinned by thread id with `taskset -p`, so the rest of xtask
//! keeps every CPU). Each batch is timed with `Instant` and, on x86_64 hosts, the TSC; the
//! figures are the medians over batches of the per-batch averages.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::util::{Context, Result, bail};

/// Bytes each way per round trip.
pub const MESSAGE: usize = 256;
/// Round trips per timed batch.
pub const BATCH: u64 = 1_000;
/// Timed batches.
const BATCHES: usize = 100;
/// Timed round trips.
pub const ROUNDS: u64 = BATCH * BATCHES as u64;
/// Untimed round trips first.
pub const WARMUP: u64 = 1_000;
/// The hidden subcommand that runs [`echo`].
pub const ECHO_COMMAND: &str = "__pipe-echo";

/// What the host measurement found.
#[derive(Clone, Debug, PartialEq)]
pub struct PipeFigures {
    /// Timed round trips.
    pub rounds: u64,
    /// Median of the per-batch averages, nanoseconds per round trip.
    pub median_ns: f64,
    /// The same in TSC ticks per round trip (x86_64 hosts only).
    pub median_cycles: Option<f64>,
    /// The TSC rate seen during the run, GHz (x86_64 hosts only).
    pub tsc_ghz: Option<f64>,
    /// How the two processes were placed: "CPU 0, taskset -c 0" or why they were not pinned.
    pub placement: String,
}

/// `cargo xtask __pipe-echo`: copies 256-byte blocks from stdin to stdout, unbuffered, until
/// end of input.
pub fn echo() -> Result<()> {
    let fd = |f: std::io::Result<std::os::fd::OwnedFd>| f.map(File::from).context("pipe echo: cannot use stdio");
    let mut input = fd(std::io::stdin().as_fd().try_clone_to_owned())?;
    let mut output = fd(std::io::stdout().as_fd().try_clone_to_owned())?;
    let mut block = [0u8; MESSAGE];
    loop {
        match input.read_exact(&mut block) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => bail!("pipe echo: read failed: {e}"),
        }
        output.write_all(&block).context("pipe echo: write failed")?;
    }
}

/// The TSC, where there is one.
fn cycles() -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` has no preconditions and touches no memory; every x86_64 CPU has it.
        Some(unsafe { core::arch::x86_64::_rdtsc() })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// The calling thread's id, from `/proc/thread-self` (a link to `<pid>/task/<tid>`).
fn thread_id() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// Pins the calling thread to CPU 0 with `taskset -p`; the error says why it could not.
fn pin_this_thread(taskset: &Option<PathBuf>) -> Result<()> {
    let Some(taskset) = taskset else { bail!("taskset not found") };
    let Some(tid) = thread_id() else { bail!("no /proc/thread-self") };
    let status = Command::new(taskset)
        .args(["-p", "-c", "0", &tid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("cannot run taskset")?;
    if !status.success() {
        bail!("taskset -p -c 0 {tid} failed");
    }
    Ok(())
}

/// Median of `values` (the upper middle one for an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Runs the ping-pong against the echo child `child`.
fn ping_pong(child: &mut Child) -> Result<(Vec<f64>, Vec<f64>)> {
    let (Some(mut to_child), Some(mut from_child)) = (child.stdin.take(), child.stdout.take()) else {
        bail!("the pipe echo child has no pipes")
    };
    let mut block = [0x5au8; MESSAGE];
    let mut round_trip = |seq: u64| -> Result<()> {
        if let Some(first) = block.first_chunk_mut::<8>() {
            *first = seq.to_le_bytes();
        }
        to_child.write_all(&block).context("pipe ping-pong: write failed")?;
        from_child.read_exact(&mut block).context("pipe ping-pong: read failed")?;
        if block.first_chunk::<8>() != Some(&seq.to_le_bytes()) {
            bail!("pipe ping-pong: round trip {seq} came back damaged");
        }
        Ok(())
    };
    for seq in 0..WARMUP {
        round_trip(seq)?;
    }
    let (mut ns, mut ticks) = (Vec::with_capacity(BATCHES), Vec::with_capacity(BATCHES));
    for batch in 0..BATCHES as u64 {
        let (t0, c0) = (Instant::now(), cycles());
        for i in 0..BATCH {
            round_trip(WARMUP + batch * BATCH + i)?;
        }
        let (elapsed, c1) = (t0.elapsed(), cycles());
        ns.push(elapsed.as_nanos() as f64 / BATCH as f64);
        if let (Some(c0), Some(c1)) = (c0, c1) {
            ticks.push(c1.wrapping_sub(c0) as f64 / BATCH as f64);
        }
    }
    Ok((ns, ticks))
}

/// Measures on a fresh thread (which is then pinned; the caller's threads are not).
fn measure_on_this_thread() -> Result<PipeFigures> {
    let taskset = crate::util::find_in_path("taskset");
    let placement = match pin_this_thread(&taskset) {
        Ok(()) => "CPU 0, taskset -c 0".to_string(),
        Err(why) => format!("not pinned: {why}"),
    };
    let exe = std::env::current_exe().context("cannot find the xtask binary")?;
    let mut cmd = match (&taskset, placement.starts_with("CPU 0")) {
        (Some(taskset), true) => {
            let mut cmd = Command::new(taskset);
            cmd.args(["-c", "0"]).arg(&exe);
            cmd
        }
        _ => Command::new(&exe),
    };
    cmd.arg(ECHO_COMMAND).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().context("cannot start the pipe echo child")?;
    let result = ping_pong(&mut child);
    // The child's stdin was dropped with the closure's pipe: it sees end of input and exits.
    let status = child.wait().context("waiting for the pipe echo child")?;
    let (mut ns, mut ticks) = result?;
    if !status.success() {
        bail!("the pipe echo child failed ({status})");
    }
    let median_ns = median(&mut ns);
    let median_cycles = (!ticks.is_empty()).then(|| median(&mut ticks));
    Ok(PipeFigures {
        rounds: ROUNDS,
        median_ns,
        median_cycles,
        tsc_ghz: median_cycles.filter(|_| median_ns > 0.0).map(|c| c / median_ns),
        placement,
    })
}

/// The pipe ping-pong on the host.
pub fn measure() -> Result<PipeFigures> {
    match std::thread::spawn(measure_on_this_thread).join() {
        Ok(result) => result,
        Err(_) => bail!("the pipe ping-pong thread panicked"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_floats() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 3.0);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn thread_ids_come_from_proc() {
        assert!(thread_id().is_some_and(|tid| tid > 0));
    }
}
