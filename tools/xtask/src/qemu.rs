// SPDX-License-Identifier: AGPL-3.0-or-later
//! QEMU command lines (TCG only, one place for every flag) and the two ways of running QEMU:
//! attached to this terminal (`run`) or with its serial line captured (`test`).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use cambios_abi::Arch;
use cambios_abi::bootlog::READY_PREFIX;
use cambios_abi::exit::ExitCode as KernelExit;

use crate::util::{self, Context, Result, bail};

/// How the serial console is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Console {
    /// A person at a terminal: serial multiplexed with the QEMU monitor (Ctrl-A X quits).
    Terminal,
    /// A program: stdin/stdout are the serial line, no monitor.
    Pipe,
}

/// What QEMU boots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Boot {
    /// `-kernel` (+ `-initrd`, `-append`): the direct-boot protocols of docs/boot.md.
    Direct {
        /// `-kernel` file.
        kernel: PathBuf,
        /// `-initrd` file.
        initrd: Option<PathBuf>,
        /// `-append` text.
        cmdline: String,
    },
    /// A bootable CD image (the GRUB rescue ISO); the command line is inside it.
    Cdrom(PathBuf),
}

/// One QEMU machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// Architecture.
    pub arch: Arch,
    /// CPUs.
    pub smp: u32,
    /// RAM in MiB.
    pub mem_mib: u64,
    /// What to boot.
    pub boot: Boot,
    /// Serial console wiring.
    pub console: Console,
    /// `-s -S`: gdb stub on :1234, CPUs stopped until the debugger continues.
    pub gdb: bool,
    /// Replacements for the architecture's default `-M` and `-cpu` values.
    pub overrides: Overrides,
}

/// A different machine or CPU model than the architecture's default (for tests that cover
/// other boot paths: EL2 entry, Sv39, CPUs without 1 GiB pages, ...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `-M` value.
    pub machine: Option<&'static str>,
    /// `-cpu` value.
    pub cpu: Option<&'static str>,
    /// Extra arguments (for example `-icount shift=0,sleep=off` for benchmarks).
    pub extra_args: &'static [&'static str],
}

/// The QEMU program for an architecture.
pub const fn program(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "qemu-system-x86_64",
        Arch::Aarch64 => "qemu-system-aarch64",
        Arch::Riscv64 => "qemu-system-riscv64",
    }
}

/// The Linux-style name of the first serial port (`console=` on the command line).
pub const fn console_name(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 | Arch::Riscv64 => "ttyS0",
        Arch::Aarch64 => "ttyAMA0",
    }
}

/// The kernel command line: the console first, then `extra` words.
pub fn cmdline(arch: Arch, extra: &[&str]) -> String {
    let mut line = format!("console={}", console_name(arch));
    for word in extra.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
        line.push(' ');
        line.push_str(word);
    }
    line
}

impl Machine {
    /// The full command line, program first.
    pub fn argv(&self) -> Vec<String> {
        let mut argv: Vec<String> = vec![program(self.arch).into()];
        let mut add = |args: &[&str]| argv.extend(args.iter().map(|a| a.to_string()));
        let (machine, cpu) = match self.arch {
            Arch::X86_64 => ("pc", Some("max")),
            Arch::Aarch64 => ("virt,gic-version=3", Some("cortex-a72")),
            Arch::Riscv64 => ("virt", None),
        };
        add(&["-M", self.overrides.machine.unwrap_or(machine), "-accel", "tcg"]);
        if let Some(cpu) = self.overrides.cpu.or(cpu) {
            add(&["-cpu", cpu]);
        }
        if self.arch == Arch::Riscv64 {
            add(&["-bios", "default"]);
        }
        add(self.overrides.extra_args);
        let smp = self.smp.to_string();
        let mem = format!("{}M", self.mem_mib);
        add(&["-smp", &smp, "-m", &mem, "-no-reboot", "-nic", "none"]);
        if self.arch == Arch::X86_64 {
            add(&["-device", "isa-debug-exit,iobase=0xf4,iosize=4"]);
        }
        match self.console {
            Console::Terminal => add(&["-display", "none", "-serial", "mon:stdio"]),
            Console::Pipe => add(&["-display", "none", "-serial", "stdio", "-monitor", "none"]),
        }
        match &self.boot {
            Boot::Direct { kernel, initrd, cmdline } => {
                argv.extend(["-kernel".into(), kernel.display().to_string()]);
                if let Some(initrd) = initrd {
                    argv.extend(["-initrd".into(), initrd.display().to_string()]);
                }
                argv.extend(["-append".into(), cmdline.clone()]);
            }
            Boot::Cdrom(iso) => argv.extend(["-cdrom".into(), iso.display().to_string(), "-boot".into(), "d".into()]),
        }
        if self.gdb {
            argv.extend(["-s".into(), "-S".into()]);
        }
        argv
    }

    /// The command line for printing: paths relative to the workspace root when possible.
    pub fn display(&self) -> String {
        let root = util::root();
        let root_prefix = format!("{}/", root.display());
        let argv: Vec<String> = self.argv().into_iter().map(|a| a.replace(&root_prefix, "")).collect();
        util::shell_line(&argv)
    }

    /// A [`Command`] for this machine, run from the workspace root.
    pub fn command(&self) -> Result<Command> {
        let argv = self.argv();
        let Some((prog, args)) = argv.split_first() else { bail!("internal error: empty QEMU command") };
        let Some(path) = util::find_in_path(prog) else {
            bail!(
                "{prog} not found: install QEMU 10 (scripts/setup.sh does it; `cargo xtask doctor` shows what is missing)"
            );
        };
        let mut cmd = Command::new(path);
        cmd.args(args).current_dir(util::root());
        Ok(cmd)
    }
}

/// How a QEMU run ended, in kernel terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The kernel powered off reporting this code.
    Kernel(KernelExit),
    /// Any other status (QEMU's own, a signal, Ctrl-A X, ...).
    Other(Option<i32>),
}

/// Maps a QEMU process status to what the kernel reported (`ExitCode::from_qemu_status`).
pub fn ending(arch: Arch, status: ExitStatus) -> Ending {
    match status.code() {
        Some(code) => KernelExit::from_qemu_status(arch, code).map_or(Ending::Other(Some(code)), Ending::Kernel),
        None => Ending::Other(None),
    }
}

/// Runs QEMU attached to this process's stdin/stdout; returns its exit status.
pub fn run_attached(machine: &Machine) -> Result<ExitStatus> {
    let mut cmd = machine.command()?;
    cmd.status().with_context(|| format!("cannot start {}", program(machine.arch)))
}

/// Runs QEMU with the serial line relayed between this process's stdin/stdout and QEMU (for
/// [`Console::Pipe`]): output passes through at once, while input is held back until the
/// kernel's ready line, because bytes sent before the kernel set up its UART would be lost.
/// Returns QEMU's exit status.
pub fn run_relayed(machine: &Machine) -> Result<ExitStatus> {
    let mut cmd = machine.command()?;
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("cannot start {}", program(machine.arch)))?;
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let output = child.stdout.take().map(|mut from_qemu| {
        std::thread::spawn(move || {
            let mut out = std::io::stdout();
            let mut line: Vec<u8> = Vec::new();
            let mut ready = false;
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = from_qemu.read(&mut buf) {
                let chunk = buf.get(..n).unwrap_or_default();
                // Keep draining QEMU even if our stdout went away (`| head`), so it never blocks.
                let _ = out.write_all(chunk).and_then(|()| out.flush());
                for &byte in chunk {
                    if ready {
                        break;
                    }
                    if byte == b'\n' {
                        if line.starts_with(READY_PREFIX.as_bytes()) {
                            ready = true;
                            let _ = ready_tx.send(());
                        }
                        line.clear();
                    } else if line.len() < 256 {
                        line.push(byte);
                    }
                }
            }
        })
    });
    if let Some(mut to_qemu) = child.stdin.take() {
        std::thread::spawn(move || {
            if ready_rx.recv().is_err() {
                return; // the serial output ended without a ready line
            }
            let mut input = std::io::stdin().lock();
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = input.read(&mut buf) {
                let chunk = buf.get(..n).unwrap_or_default();
                if to_qemu.write_all(chunk).and_then(|()| to_qemu.flush()).is_err() {
                    break;
                }
            }
            // Keep QEMU's stdin open at our end of input: QEMU keeps running until the kernel
            // powers off (or the process is interrupted).
            let _keep = to_qemu;
            loop {
                std::thread::park();
            }
        });
    }
    let status = child.wait().with_context(|| format!("waiting for {}", program(machine.arch)))?;
    if let Some(thread) = output {
        let _ = thread.join();
    }
    Ok(status)
}

/// Something QEMU's serial line did.
pub enum Event {
    /// A complete line (without `\r\n`), and when it arrived.
    Line(String, Instant),
    /// QEMU closed its stdout (it is exiting).
    Closed,
}

/// A QEMU process whose serial line we read line by line and can type into.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    events: Receiver<Event>,
    stderr: Receiver<String>,
    /// When QEMU was started.
    pub started: Instant,
}

impl Session {
    /// Starts QEMU with piped stdin/stdout/stderr (the machine should use [`Console::Pipe`]).
    pub fn start(machine: &Machine) -> Result<Session> {
        let mut cmd = machine.command()?;
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().with_context(|| format!("cannot start {}", program(machine.arch)))?;
        let stdin = child.stdin.take();
        let (tx, events) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let text = String::from_utf8_lossy(&buf);
                            let line = text.trim_end_matches(['\n', '\r']).replace('\r', "");
                            if tx.send(Event::Line(line, Instant::now())).is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = tx.send(Event::Closed);
            });
        }
        let stderr = util::read_all_in_background(child.stderr.take());
        Ok(Session { child, stdin, events, stderr, started })
    }

    /// Waits up to `timeout` for the next event; `None` on timeout.
    pub fn next_event(&mut self, timeout: Duration) -> Option<Event> {
        match self.events.recv_timeout(timeout) {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Event::Closed),
        }
    }

    /// Types `text` on the serial line.
    pub fn send(&mut self, text: &str) -> Result<()> {
        let Some(stdin) = self.stdin.as_mut() else { bail!("QEMU's stdin is closed") };
        stdin.write_all(text.as_bytes()).and_then(|()| stdin.flush()).context("cannot write to QEMU's serial line")
    }

    /// Waits up to `grace` for QEMU to exit by itself, then kills it. Returns the status if
    /// QEMU exited by itself, and QEMU's stderr.
    pub fn finish(mut self, grace: Duration) -> (Option<ExitStatus>, String) {
        drop(self.stdin.take());
        let deadline = Instant::now() + grace;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        // A child process of QEMU could keep the pipe open: do not wait for it for long.
        let stderr = self.stderr.recv_timeout(Duration::from_secs(1)).unwrap_or_default();
        (status, stderr)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Never leave a QEMU behind (for example when the runner returns early).
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(arch: Arch, console: Console) -> Machine {
        Machine {
            arch,
            smp: 2,
            mem_mib: 256,
            boot: Boot::Direct {
                kernel: PathBuf::from("build/x/kernel.elf"),
                initrd: Some(PathBuf::from("build/x/initrd.img")),
                cmdline: cmdline(arch, &["cambios.test=ticks", " "]),
            },
            console,
            gdb: false,
            overrides: Overrides::default(),
        }
    }

    #[test]
    fn x86_64_command_line() {
        let argv = machine(Arch::X86_64, Console::Pipe).argv().join(" ");
        assert_eq!(
            argv,
            "qemu-system-x86_64 -M pc -accel tcg -cpu max -smp 2 -m 256M -no-reboot -nic none \
             -device isa-debug-exit,iobase=0xf4,iosize=4 -display none -serial stdio -monitor none \
             -kernel build/x/kernel.elf -initrd build/x/initrd.img -append console=ttyS0 cambios.test=ticks"
        );
    }

    #[test]
    fn other_arches_and_options() {
        let mut m = machine(Arch::Aarch64, Console::Terminal);
        m.gdb = true;
        let argv = m.argv().join(" ");
        assert!(argv.starts_with("qemu-system-aarch64 -M virt,gic-version=3 -accel tcg -cpu cortex-a72 -smp 2"));
        assert!(argv.contains("-serial mon:stdio") && !argv.contains("-monitor none"));
        assert!(argv.contains("console=ttyAMA0") && argv.ends_with("-s -S"));
        assert!(!argv.contains("isa-debug-exit"));
        let argv = machine(Arch::Riscv64, Console::Pipe).argv().join(" ");
        assert!(argv.starts_with("qemu-system-riscv64 -M virt -accel tcg -bios default -smp 2 -m 256M"));
        let mut m = machine(Arch::X86_64, Console::Pipe);
        m.boot = Boot::Cdrom(PathBuf::from("x.iso"));
        let argv = m.argv().join(" ");
        assert!(argv.ends_with("-cdrom x.iso -boot d") && !argv.contains("-kernel"));
        assert!(!m.argv().iter().any(|a| a.contains("kvm")));
    }

    #[test]
    fn display_quotes_the_append_string() {
        let shown = machine(Arch::Riscv64, Console::Pipe).display();
        assert!(shown.ends_with("-append 'console=ttyS0 cambios.test=ticks'"), "{shown}");
    }
}
