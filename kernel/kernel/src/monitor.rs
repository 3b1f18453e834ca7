// SPDX-License-Identifier: AGPL-3.0-or-later
//! The boot monitor: a few serial-console commands until the shell (a user-space service)
//! exists: `help`, `uptime`, `mem`, `ps` (processes and threads), `spawn <module>` (start a
//! verified boot module listed in the manifest, with its own Principal and capabilities) and
//! `poweroff`.
//!
//! The serial receive interrupt moves bytes from the UART into a small ring
//! ([`on_serial_interrupt`]); the idle loop turns them into lines and runs commands
//! ([`poll`]). Nothing is printed unless the user types something.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::sync::SpinLock;
use cambios_abi::error::SysError;
use cambios_abi::exit::ExitCode;
use kernel_core::sched::{BlockReason, ThreadId};
use kernel_core::sync::LockClass;

use crate::{arch, memory, time};

const RING: usize = 256;
const LINE: usize = 80;

struct Input {
    ring: [u8; RING],
    head: usize,
    len: usize,
    dropped: u64,
    /// A user thread blocked in `console_read`, woken by the next input.
    waiter: Option<ThreadId>,
}

static INPUT: SpinLock<Input> =
    SpinLock::new(LockClass::SerialInput, Input { ring: [0; RING], head: 0, len: 0, dropped: 0, waiter: None });

/// Who reads serial input: [`MONITOR`] (the boot monitor), [`RESERVED`] (a boot service with
/// `console-read` will), or the pid of the process that reads it. When that process ends, the
/// boot monitor takes the console back.
static CONSOLE_OWNER: AtomicU32 = AtomicU32::new(MONITOR);
/// [`CONSOLE_OWNER`]: the boot monitor.
const MONITOR: u32 = 0;
/// [`CONSOLE_OWNER`]: kept for a user-space reader that has not read yet.
const RESERVED: u32 = u32::MAX;

fn user_console() -> bool {
    CONSOLE_OWNER.load(Ordering::Relaxed) != MONITOR
}

/// The line being typed (only the idle loop touches it).
static LINE_BUF: SpinLock<Line> = SpinLock::new(LockClass::MonitorLine, Line { bytes: [0; LINE], len: 0 });

struct Line {
    bytes: [u8; LINE],
    len: usize,
}

/// Called from the serial receive interrupt: drains the UART into the ring (bounded by the
/// UART's FIFO; bytes that do not fit are counted and dropped).
pub fn on_serial_interrupt() {
    let waiter = {
        let mut input = INPUT.lock();
        drain_uart(&mut input);
        if input.len > 0 { input.waiter.take() } else { None }
    };
    if let Some(thread) = waiter {
        crate::sched::wake(thread);
    }
}

fn drain_uart(input: &mut Input) {
    for _ in 0..64 {
        let Some(byte) = arch::console_read_byte() else { break };
        if input.len == RING {
            input.dropped += 1;
            continue;
        }
        let tail = (input.head + input.len) % RING;
        if let Some(slot) = input.ring.get_mut(tail) {
            *slot = byte;
            input.len += 1;
        }
    }
}

/// True when received bytes wait for the boot monitor (never once user space owns the
/// console).
pub fn has_input() -> bool {
    !user_console() && INPUT.lock().len > 0
}

/// Hands serial input to user space from now on (the loader calls this when a boot service
/// holds `console-read`, so nothing typed early is eaten by the boot monitor).
pub fn reserve_for_user() {
    CONSOLE_OWNER.store(RESERVED, Ordering::Relaxed);
}

/// A process ended: if it owned the console, the boot monitor takes it back.
pub fn process_ended(pid: u32) {
    if CONSOLE_OWNER.compare_exchange(pid, MONITOR, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
        INPUT.lock().waiter = None;
    }
}

/// The `console_read` syscall: copies received bytes into `out`, blocking until at least one
/// arrives or `deadline` (uptime ns) passes. The first call hands the console to user space.
pub fn user_read(pid: u32, out: &mut [u8], deadline: Option<u64>, nonblocking: bool) -> Result<usize, SysError> {
    let owner = CONSOLE_OWNER.load(Ordering::Relaxed);
    if owner != pid {
        // The console is free or reserved: the first reader takes it; anyone else is refused.
        if (owner == MONITOR || owner == RESERVED)
            && CONSOLE_OWNER.compare_exchange(owner, pid, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
        } else {
            return Err(SysError::PermissionDenied);
        }
    }
    // Each round copies or blocks until input arrives (or the deadline).
    let me = crate::sched::current_thread().map_err(|_| SysError::InvalidArgument)?;
    for _ in 0..u32::MAX {
        {
            let mut input = INPUT.lock();
            if input.len > 0 {
                let mut n = 0;
                for slot in out.iter_mut() {
                    if input.len == 0 {
                        break;
                    }
                    *slot = input.ring.get(input.head).copied().unwrap_or(0);
                    input.head = (input.head + 1) % RING;
                    input.len -= 1;
                    n += 1;
                }
                return Ok(n);
            }
            if nonblocking {
                return Err(SysError::WouldBlock);
            }
        }
        // Block first, then register and look again: the serial interrupt (on the boot CPU)
        // may run between the two on another CPU. It either sees the waiter and wakes this
        // (still current) thread, which then does not sleep, or it filled the ring before
        // the second look. The wakeup cannot be taken under `INPUT` (rank 95 > Scheduler).
        crate::sched::block_current_until(BlockReason::Generic(CONSOLE_WAIT), deadline)
            .map_err(|_| SysError::InvalidArgument)?;
        let arrived = {
            let mut input = INPUT.lock();
            if input.len > 0 {
                input.waiter = None;
                true
            } else {
                input.waiter = Some(me);
                false
            }
        };
        if arrived {
            crate::sched::wake(me);
        }
        crate::sched::reschedule();
        if crate::sched::woke_by_timeout(me) {
            let mut input = INPUT.lock();
            if input.waiter == Some(me) {
                input.waiter = None;
            }
            return Err(SysError::TimedOut);
        }
    }
    Err(SysError::TimedOut)
}

/// Block reason value of a thread waiting in `console_read`.
const CONSOLE_WAIT: u32 = 0xc0_0501;

fn next_byte() -> Option<u8> {
    let mut input = INPUT.lock();
    if input.len == 0 {
        return None;
    }
    let byte = input.ring.get(input.head).copied();
    input.head = (input.head + 1) % RING;
    input.len -= 1;
    byte
}

/// Processes pending input: echoes it, and runs each completed line. Called by the idle loop.
pub fn poll() {
    if user_console() {
        return;
    }
    for _ in 0..RING {
        let Some(byte) = next_byte() else { return };
        let mut line = LINE_BUF.lock();
        match byte {
            b'\r' | b'\n' => {
                let (bytes, len) = (line.bytes, line.len);
                line.len = 0;
                drop(line);
                kprintln!();
                run(bytes.get(..len).and_then(|b| core::str::from_utf8(b).ok()).unwrap_or(""));
            }
            0x08 | 0x7f if line.len > 0 => {
                line.len -= 1;
                drop(line);
                crate::console::print(format_args!("\x08 \x08"));
            }
            0x20..=0x7e => {
                let len = line.len;
                if let Some(slot) = line.bytes.get_mut(len) {
                    *slot = byte;
                    line.len += 1;
                    drop(line);
                    crate::console::print(format_args!("{}", byte as char));
                }
            }
            _ => {}
        }
    }
}

const HELP: &str = "commands: help, uptime, mem, ps, spawn <module>, poweroff";

fn run(line: &str) {
    match line.trim() {
        "" => {}
        "help" => kprintln!("{HELP}"),
        "uptime" => {
            let ns = time::uptime_ns();
            kprintln!(
                "uptime: {}.{:03} s, {} timer ticks, {} unexpected interrupts",
                ns / 1_000_000_000,
                (ns / 1_000_000) % 1000,
                time::ticks(),
                arch::unexpected_interrupts()
            );
        }
        "mem" => {
            let (free, total) = memory::frame_counts();
            let (heap_used, heap_total) = crate::heap::usage();
            kprintln!(
                "mem: {} of {} KiB free in frames; heap {} of {} KiB used",
                free * 4,
                total * 4,
                heap_used / 1024,
                heap_total / 1024
            );
        }
        "ps" => {
            kprintln!("  pid  parent  state    memory  name");
            for p in crate::process::list() {
                let parent = p.parent.map_or(alloc::string::String::from("-"), |pp| alloc::format!("{pp}"));
                kprintln!("{:>5}  {:>6}  {:<7}  {:>5}K  {}", p.pid, parent, p.state, p.mapped / 1024, p.name);
            }
            if let Some(c) = crate::sched::counts(crate::smp::current()) {
                kprintln!(
                    "threads: {} ready, {} blocked, {} running, {} exiting",
                    c.ready,
                    c.blocked,
                    c.running,
                    c.exited
                );
            }
        }
        "poweroff" => {
            kprintln!("Powering off.");
            arch::exit(ExitCode::Success);
        }
        line if line == "spawn" || line.starts_with("spawn ") => match line.split_whitespace().nth(1) {
            Some(name) => match crate::loader::spawn(name, None) {
                Ok(pid) => kprintln!("spawn: {name} started, pid {pid}"),
                Err(e) => kprintln!("spawn: {name}: {e}"),
            },
            None => kprintln!("spawn: which module? ({})", crate::loader::module_names().join(", ")),
        },
        other => kprintln!("unknown command '{other}' ({HELP})"),
    }
}
