// SPDX-License-Identifier: AGPL-3.0-or-later
//! `shell`: the interactive shell on the serial console.
//!
//! It reads the console with `console_read` (the kernel does not echo, so the shell echoes
//! printable characters itself), edits one line (backspace: 0x08 or 0x7f; Enter: `\r` or `\n`;
//! other control bytes and ANSI escape sequences are ignored) and runs it. Its manifest grants
//! console-read, console-write, spawn, audit-read, kill, power and send on `echo`.
//!
//! Output: `CambiOS shell: type 'help'`, then the prompt `cambios> `. Commands: `help`, `ps`,
//! `whoami`, `caps`, `audit`, `echo <text>`, `uptime`, `mem`, `cpus`, `kill <pid>`, `run <module>`,
//! `poweroff`, `reboot`; anything else prints `unknown command '<x>'; type 'help'`. A failing
//! command prints `<command>: <ErrorName> (<reason>)`.
#![no_std]
#![no_main]

use core::time::Duration;

use libsys::abi::audit::{Event, EventKind};
use libsys::abi::ipc::{CapKind, MAX_PAYLOAD};
use libsys::abi::syscall::{CpuRecord, ProcRecord};
use libsys::{ExitStatus, Message, Pid, Principal, SysError, Timeout, WellKnown, ipc, print, println, sys};

libsys::entry!(main);

/// CPU records asked for (the kernel's `MAX_CPUS`).
const MAX_CPU_RECORDS: usize = 64;

/// The prompt.
const PROMPT: &str = "cambios> ";
/// Longest command line; further characters are ignored.
const LINE_MAX: usize = 160;
/// Audit events `audit` shows.
const AUDIT_EVENTS: usize = 16;
/// Processes `ps` lists at most.
const PS_MAX: usize = 64;
/// How long `echo` waits for the echo service.
const ECHO_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of an echo reply taken by the caller's Principal.
const PRINCIPAL_LEN: usize = 32;

/// Escape-sequence state: ESC, then `[` or `O`, then parameters up to a final byte.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    Esc,
    Sequence,
}

/// What one input byte did.
enum Action {
    /// Nothing to show.
    Nothing,
    /// Show these bytes.
    Echo(&'static [u8]),
    /// Show the byte just added to the line.
    EchoByte(u8),
    /// The line is complete.
    Run,
}

/// The line being edited.
struct Editor {
    line: [u8; LINE_MAX],
    len: usize,
    after_cr: bool,
    escape: Escape,
}

impl Editor {
    const fn new() -> Editor {
        Editor { line: [0; LINE_MAX], len: 0, after_cr: false, escape: Escape::None }
    }

    fn feed(&mut self, byte: u8) -> Action {
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        match self.escape {
            Escape::Esc => {
                self.escape = if byte == b'[' || byte == b'O' { Escape::Sequence } else { Escape::None };
                return Action::Nothing;
            }
            Escape::Sequence => {
                if (0x40..=0x7e).contains(&byte) {
                    self.escape = Escape::None;
                }
                return Action::Nothing;
            }
            Escape::None => {}
        }
        match byte {
            b'\r' => {
                self.after_cr = true;
                Action::Run
            }
            // The second half of a CR LF pair.
            b'\n' if after_cr => Action::Nothing,
            b'\n' => Action::Run,
            0x08 | 0x7f if self.len > 0 => {
                self.len -= 1;
                Action::Echo(b"\x08 \x08")
            }
            0x1b => {
                self.escape = Escape::Esc;
                Action::Nothing
            }
            0x20..=0x7e if self.len < LINE_MAX => {
                if let Some(slot) = self.line.get_mut(self.len) {
                    *slot = byte;
                    self.len += 1;
                }
                Action::EchoByte(byte)
            }
            _ => Action::Nothing,
        }
    }

    /// Takes the finished line (printable ASCII only) and starts a new one.
    fn take(&mut self) -> ([u8; LINE_MAX], usize) {
        let taken = (self.line, self.len);
        self.len = 0;
        taken
    }
}

/// Bytes to echo, written once per batch of input.
struct EchoBuf {
    buf: [u8; 256],
    len: usize,
}

impl EchoBuf {
    fn push(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > self.buf.len() {
            self.flush();
        }
        if let Some(dst) = self.buf.get_mut(self.len..self.len + bytes.len()) {
            dst.copy_from_slice(bytes);
            self.len += bytes.len();
        }
    }

    fn flush(&mut self) {
        if let Some(pending) = self.buf.get(..self.len)
            && !pending.is_empty()
        {
            let _ = sys::console_write(pending);
        }
        self.len = 0;
    }
}

/// At start, one call through the echo service checks the whole IPC path on every boot
/// (capability check, kernel stamp, interceptor, audit, reply) and shows who the kernel says
/// we are.
fn self_check() {
    let Some(slot) = ipc::find_endpoint(WellKnown::Echo) else {
        println!("[shell] no echo capability: IPC self-check skipped");
        return;
    };
    let mut msg = Message::with_payload(0, b"self-check");
    match ipc::call(slot, &mut msg, Timeout::After(ECHO_TIMEOUT)) {
        Ok(()) => match msg.payload().first_chunk::<PRINCIPAL_LEN>() {
            Some(seen) if *seen == sys::principal().map(|p| p.0).unwrap_or_default() => {
                println!(
                    "[shell] IPC self-check: echo service {} answered; it saw us as ourselves",
                    Principal(msg.sender()).short()
                );
            }
            _ => println!("[shell] IPC self-check: FAILED (echo saw another identity)"),
        },
        Err(e) => println!("[shell] IPC self-check: FAILED ({})", e.name()),
    }
}

fn main() -> i32 {
    self_check();
    println!("CambiOS shell: type 'help'");
    print!("{PROMPT}");
    let mut editor = Editor::new();
    let mut input = [0u8; 64];
    loop {
        let n = match sys::console_read(&mut input, Timeout::Forever) {
            Ok(n) => n,
            Err(SysError::WouldBlock | SysError::TimedOut) => continue,
            Err(e) => {
                println!("\nshell: console_read failed: {} ({e})", e.name());
                return 1;
            }
        };
        let mut echo = EchoBuf { buf: [0; 256], len: 0 };
        for &byte in input.get(..n).unwrap_or(&[]) {
            match editor.feed(byte) {
                Action::Nothing => {}
                Action::Echo(bytes) => echo.push(bytes),
                Action::EchoByte(b) => echo.push(&[b]),
                Action::Run => {
                    echo.push(b"\n");
                    echo.flush();
                    let (line, len) = editor.take();
                    let text = line.get(..len).and_then(|l| core::str::from_utf8(l).ok()).unwrap_or("");
                    run_line(text);
                    print!("{PROMPT}");
                }
            }
        }
        echo.flush();
    }
}

/// Runs one command line.
fn run_line(line: &str) {
    let line = line.trim();
    let (command, args) = match line.split_once(' ') {
        Some((command, args)) => (command, args.trim_start()),
        None => (line, ""),
    };
    let result = match command {
        "" => Ok(()),
        "help" => {
            help();
            Ok(())
        }
        "ps" => ps(),
        "whoami" => whoami(),
        "caps" => caps(),
        "audit" => audit(),
        "echo" => echo(args),
        "uptime" => uptime(),
        "mem" => mem(),
        "cpus" => cpus(),
        "kill" => kill(args),
        "run" => run(args),
        "poweroff" => Err(sys::power_off()),
        "reboot" => Err(sys::reboot()),
        _ => {
            println!("unknown command '{command}'; type 'help'");
            Ok(())
        }
    };
    if let Err(e) = result {
        println!("{command}: {} ({e})", e.name());
    }
}

fn help() {
    println!("commands:");
    println!("  help          this list");
    println!("  ps            list processes");
    println!("  whoami        this shell's pid and Principal");
    println!("  caps          this shell's capabilities");
    println!("  audit         the most recent audit events");
    println!("  echo <text>   send <text> through the echo service");
    println!("  uptime        time since boot");
    println!("  mem           physical memory");
    println!("  cpus          CPUs with their timer ticks and run queues");
    println!("  kill <pid>    end a process");
    println!("  run <module>  start a boot module and wait for it");
    println!("  poweroff      power the machine off");
    println!("  reboot        reboot the machine");
}

fn ps() -> Result<(), SysError> {
    let empty = ProcRecord { pid: 0, parent: 0, state: 0, cpu: 0, principal: [0; 32], name: [0; 24] };
    let mut records = [empty; PS_MAX];
    let n = sys::processes(&mut records)?;
    println!("{:>5} {:>5}  {:<16}  {:<16}  {:<8} {:>3}", "PID", "PPID", "NAME", "PRINCIPAL", "STATE", "CPU");
    for p in records.iter().take(n) {
        let state = match p.state {
            0 => "running",
            1 => "exited",
            _ => "?",
        };
        let principal = Principal(p.principal).short();
        println!("{:>5} {:>5}  {:<16}  {:<16}  {:<8} {:>3}", p.pid, p.parent, p.name_str(), principal, state, p.cpu);
    }
    Ok(())
}

fn cpus() -> Result<(), SysError> {
    let mut records = [CpuRecord::default(); MAX_CPU_RECORDS];
    let n = sys::cpu_list(&mut records)?;
    let online = records.iter().take(n).filter(|c| c.online).count();
    println!("{online} CPUs online; this shell runs on CPU {}", sys::cpu_id());
    println!("{:>3}  {:>10}  {:>10}  {:>8}  {:>5}  {:>4}", "CPU", "ID", "TICKS", "IPIS", "READY", "BUSY");
    for c in records.iter().take(n).filter(|c| c.online) {
        let busy = if c.running > 0 { "yes" } else { "no" };
        println!("{:>3}  {:>#10x}  {:>10}  {:>8}  {:>5}  {:>4}", c.index, c.hw_id, c.ticks, c.ipis, c.ready, busy);
    }
    Ok(())
}

fn whoami() -> Result<(), SysError> {
    let pid = sys::pid()?;
    let principal = sys::principal()?;
    let empty = ProcRecord { pid: 0, parent: 0, state: 0, cpu: 0, principal: [0; 32], name: [0; 24] };
    let mut records = [empty; PS_MAX];
    let n = sys::processes(&mut records).unwrap_or(0);
    match records.iter().take(n).find(|p| p.pid == pid.0) {
        Some(me) => println!("pid {pid} ({}), principal {principal}", me.name_str()),
        None => println!("pid {pid}, principal {principal}"),
    }
    Ok(())
}

fn caps() -> Result<(), SysError> {
    let list = ipc::caps()?;
    for record in &list {
        if let Some(cap) = ipc::system_capability(record) {
            println!("system     {}", cap.name());
        }
    }
    for record in list.iter().filter(|r| r.kind == CapKind::Endpoint as u8) {
        let name = WellKnown::ALL.iter().find(|w| **w as u32 == record.endpoint).map_or("-", |w| w.name());
        let rights = record.rights.as_text();
        println!(
            "slot {:<5} endpoint {} ({name}), rights {}, owner pid {}",
            record.slot,
            record.endpoint,
            core::str::from_utf8(&rights).unwrap_or("???"),
            record.owner
        );
    }
    if list.is_empty() {
        println!("no capabilities");
    }
    Ok(())
}

fn audit() -> Result<(), SysError> {
    let mut events = [Event::default(); AUDIT_EVENTS];
    let n = sys::audit_read(&mut events)?;
    let info = sys::audit_info()?;
    println!(
        "{} events logged, {} lost at full buffers, {} overwritten unread (ring of {})",
        info.total, info.dropped, info.overwritten, info.capacity
    );
    if n == 0 {
        println!("no audit events");
    }
    for e in events.iter().take(n) {
        let ms = e.time_ns / 1_000_000;
        let kind = EventKind::from_u16(e.kind).map_or("unknown", EventKind::name);
        // Events carry the first 16 bytes of the Principal: shown as the first 4 in hex.
        let mut key = [0u8; 32];
        if let Some(head) = key.get_mut(..16) {
            head.copy_from_slice(&e.principal);
        }
        let principal = Principal(key);
        let hex = principal.short_hex();
        let who = if principal.is_zero() { "-" } else { hex.as_str() };
        println!(
            "#{:<6} {:>8} ms  {:<16} pid {:<4} {:<8}  arg {}  arg2 {}",
            e.seq, ms, kind, e.pid, who, e.arg, e.arg2
        );
    }
    Ok(())
}

fn echo(text: &str) -> Result<(), SysError> {
    let slot = ipc::find_endpoint(WellKnown::Echo).ok_or(SysError::NotFound)?;
    let bytes = text.as_bytes();
    let request = bytes.get(..bytes.len().min(MAX_PAYLOAD - PRINCIPAL_LEN)).unwrap_or(bytes);
    let mut msg = Message::with_payload(0, request);
    ipc::call(slot, &mut msg, Timeout::After(ECHO_TIMEOUT))?;
    let replier = Principal(msg.sender());
    let payload = msg.payload();
    let (Some(seen), Some(echoed)) = (payload.first_chunk::<PRINCIPAL_LEN>(), payload.get(PRINCIPAL_LEN..)) else {
        println!("echo: reply too short ({} bytes)", payload.len());
        return Ok(());
    };
    println!("{}", core::str::from_utf8(echoed).unwrap_or("<not UTF-8>"));
    println!("  (via echo service {}, seen as {})", replier.short(), Principal(*seen).short());
    Ok(())
}

fn uptime() -> Result<(), SysError> {
    let up = sys::time()?;
    println!("up {}.{:03} s", up.as_secs(), up.subsec_millis());
    Ok(())
}

fn mem() -> Result<(), SysError> {
    let info = sys::mem_info()?;
    let used = info.total_frames.saturating_sub(info.free_frames);
    println!(
        "free {} frames ({} KiB), used {} frames ({} KiB), total {} frames ({} KiB)",
        info.free_frames,
        info.free_frames * 4,
        used,
        used * 4,
        info.total_frames,
        info.total_frames * 4
    );
    Ok(())
}

fn kill(args: &str) -> Result<(), SysError> {
    let Ok(pid) = args.trim().parse::<u32>() else {
        println!("usage: kill <pid>");
        return Ok(());
    };
    sys::kill(Pid(pid))?;
    println!("killed pid {pid}");
    Ok(())
}

fn run(args: &str) -> Result<(), SysError> {
    let module = args.trim();
    if module.is_empty() || module.contains(' ') {
        println!("usage: run <module>");
        return Ok(());
    }
    let pid = sys::spawn(module)?;
    match sys::wait(pid)? {
        ExitStatus::Exited(code) => println!("{module} (pid {pid}) exited with code {code}"),
        ExitStatus::Faulted(kind) => println!("{module} (pid {pid}) was killed by a {}", kind.as_str()),
        ExitStatus::Killed => println!("{module} (pid {pid}) was killed"),
    }
    Ok(())
}
