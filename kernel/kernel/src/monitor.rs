// SPDX-License-Identifier: AGPL-3.0-or-later
//! The boot monitor: a few serial-console commands until the shell (a user-space service)
//! exists: `help`, `uptime`, `mem`, `ps` (processes and threads), `spawn <module>` (start a
//! verified boot module listed in the manifest, with its own Principal and capabilities) and
//! `poweroff`.
//!
//! The serial receive interrupt moves bytes from the UART into a small ring
//! ([`on_serial_interrupt`]); the idle loop turns them into lines and runs commands
//! ([`poll`]). Nothing is printed unless the user types something.

use crate::sync::SpinLock;
use cambios_abi::exit::ExitCode;
use kernel_core::sync::LockClass;

use crate::{arch, memory, time};

const RING: usize = 256;
const LINE: usize = 80;

struct Input {
    ring: [u8; RING],
    head: usize,
    len: usize,
    dropped: u64,
}

static INPUT: SpinLock<Input> =
    SpinLock::new(LockClass::SerialInput, Input { ring: [0; RING], head: 0, len: 0, dropped: 0 });

/// The line being typed (only the idle loop touches it).
static LINE_BUF: SpinLock<Line> = SpinLock::new(LockClass::MonitorLine, Line { bytes: [0; LINE], len: 0 });

struct Line {
    bytes: [u8; LINE],
    len: usize,
}

/// Called from the serial receive interrupt: drains the UART into the ring (bounded by the
/// UART's FIFO; bytes that do not fit are counted and dropped).
pub fn on_serial_interrupt() {
    let mut input = INPUT.lock();
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

/// True when received bytes wait to be processed.
pub fn has_input() -> bool {
    INPUT.lock().len > 0
}

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
            if let Some(c) = crate::sched::counts() {
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
