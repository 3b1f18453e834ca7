// SPDX-License-Identifier: AGPL-3.0-or-later
//! `cargo xtask bench`: boot-time and memory benchmarks.
//!
//! Method (see ../shared/guides/benchmarking.md): QEMU TCG with `-icount shift=0,sleep=off`
//! makes the guest's virtual clock advance exactly one nanosecond per guest instruction, so
//! the kernel's own clock (TSC, CNTPCT_EL0, `time`), read at the ready line, counts
//! instructions, repeatably, whatever else the host is doing. The kernel prints the numbers
//! with `cambios.log=debug` (`[boot] timing: ...`); the boot monitor's `mem` command gives the
//! memory in use at the ready line. Wall-clock time to the ready line is reported too,
//! labelled as emulator time (it measures QEMU more than CambiOS).
//!
//! The user-space benchmark boots the `bench` program (user/programs/bench) with the same
//! method: it times syscalls, yields, mappings and spawns with `get_time`, whose nanoseconds
//! are guest instructions under `-icount`, and prints `[bench] <name>: <n> ns/op over <count>`.

use std::time::{Duration, Instant};

use cambios_abi::bootlog::READY_PREFIX;

use crate::cli::{BenchOpts, BuildOpts, DEFAULT_MEM_MIB};
use crate::qemu::{self, Boot, Console, Event, Machine, Overrides, Session};
use crate::util::{Result, bail, status};

/// QEMU flags of the method: one guest instruction per nanosecond of virtual time.
const ICOUNT: &[&str] = &["-icount", "shift=0,sleep=off"];
/// Host-side limit for one benchmark boot.
const TIMEOUT: Duration = Duration::from_secs(60);

/// One boot's measurements.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Sample {
    /// Instructions from the counter's zero (machine reset, firmware included) to ready.
    reset_to_ready: u64,
    /// Instructions from `kernel_main` to ready.
    kernel_to_ready: u64,
    /// Emulator wall time from QEMU start to the ready line.
    wall: Duration,
    /// Frames in use at the ready line, in KiB (total minus free).
    frames_used_kib: u64,
    /// Heap bytes in use at the ready line, in KiB.
    heap_used_kib: u64,
    /// Kernel image sections from the `[paging]` line, in KiB: text, rodata, data+bss.
    image_kib: (u64, u64, u64),
    /// The object-table region from the `[tables]` line, in KiB.
    tables_kib: u64,
}

/// The number after `key` in `line` (digits only, `key` included in the match).
fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = line.get(line.find(key)? + key.len()..)?;
    let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Reads the numbers out of the relevant log lines.
fn parse_sample(lines: &[String], wall: Duration) -> Result<Sample> {
    let find = |prefix: &str| lines.iter().find(|l| l.starts_with(prefix));
    let Some(timing) = find("[boot] timing:") else {
        bail!("the kernel printed no `[boot] timing:` line (is cambios.log=debug honoured?)")
    };
    let Some(mem) = find("mem: ") else { bail!("no reply to the `mem` monitor command") };
    let Some(paging) = find("[paging]") else { bail!("no `[paging]` milestone") };
    let Some(tables) = find("[tables]") else { bail!("no `[tables]` milestone") };
    let parsed = (|| {
        let kernel_to_ready = number_after(timing, "kernel_main to ready")?;
        let reset_to_ready = number_after(timing.get(timing.find("counter zero")?..)?, "to ready")?;
        let free = number_after(mem, "mem:")?;
        let total = number_after(mem, " of ")?;
        let heap_used = number_after(mem, "heap")?;
        let image =
            (number_after(paging, "(text")?, number_after(paging, "rodata")?, number_after(paging, "data+bss")?);
        Some(Sample {
            reset_to_ready,
            kernel_to_ready,
            wall,
            frames_used_kib: total.checked_sub(free)?,
            heap_used_kib: heap_used,
            image_kib: image,
            tables_kib: number_after(tables, "bytes,")?,
        })
    })();
    parsed.ok_or_else(|| {
        crate::util::Error::new(format!("unexpected benchmark lines:\n  {timing}\n  {mem}\n  {paging}\n  {tables}"))
    })
}

/// The services of the user-space benchmark: `bench` at boot, its helpers on demand.
fn bench_services() -> Vec<crate::services::Service> {
    use crate::services::Service;
    use cambios_abi::cap::Capability;
    vec![
        Service::boot("bench", "bench", &[Capability::ConsoleWrite, Capability::Spawn]),
        Service::boot("child", "child", &[]).on_demand(),
        Service::boot("yielder", "yielder", &[]).on_demand(),
    ]
}

/// One user-space figure: name, instructions per operation, iterations.
type Figure = (String, u64, u64);

/// One `[bench] <name>: <n> ns/op over <count>` line.
fn parse_bench_line(line: &str) -> Option<Figure> {
    let rest = line.strip_prefix("[bench] ")?;
    let (name, numbers) = rest.split_once(": ")?;
    let per_op = number_after(numbers, "")?;
    let count = number_after(numbers, "over")?;
    Some((name.to_string(), per_op, count))
}

/// Boots the `bench` program once and collects its figures.
fn measure_user(machine: &Machine) -> Result<Vec<Figure>> {
    let mut session = Session::start(machine)?;
    let deadline = Instant::now() + TIMEOUT * 3;
    let mut figures = Vec::new();
    let mut done = false;
    while Instant::now() < deadline && !done {
        match session.next_event(Duration::from_millis(200)) {
            Some(Event::Line(line, _)) => {
                if let Some(f) = parse_bench_line(&line) {
                    figures.push(f);
                } else if line.starts_with("[bench] done") {
                    done = true;
                    session.send("poweroff\n")?;
                } else if line.starts_with("[bench] error") || line.starts_with("[fault]") {
                    bail!("the benchmark failed: {line}");
                }
            }
            Some(Event::Closed) => break,
            None => {}
        }
    }
    let _ = session.finish(Duration::from_secs(5));
    if !done {
        bail!("the `bench` program did not finish within {} s", (TIMEOUT * 3).as_secs());
    }
    Ok(figures)
}

/// Boots once and measures.
fn measure(machine: &Machine) -> Result<Sample> {
    let mut session = Session::start(machine)?;
    let deadline = Instant::now() + TIMEOUT;
    let mut lines: Vec<String> = Vec::new();
    let mut wall = None;
    let mut asked_mem = false;
    while Instant::now() < deadline {
        match session.next_event(Duration::from_millis(200)) {
            Some(Event::Line(line, at)) => {
                if line.starts_with(READY_PREFIX) {
                    wall = Some(at.duration_since(session.started));
                    session.send("mem\n")?;
                    asked_mem = true;
                }
                let done = asked_mem && line.starts_with("mem: ");
                lines.push(line);
                if done {
                    session.send("poweroff\n")?;
                    break;
                }
            }
            Some(Event::Closed) => break,
            None => {}
        }
    }
    let (_, stderr) = session.finish(Duration::from_secs(5));
    let Some(wall) = wall else {
        bail!(
            "no `{READY_PREFIX}` line within {} s{}",
            TIMEOUT.as_secs(),
            if stderr.is_empty() { String::new() } else { format!("; QEMU said: {}", stderr.trim()) }
        )
    };
    parse_sample(&lines, wall)
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `cargo xtask bench`. Returns false if any benchmark could not run.
pub fn command(opts: &BenchOpts) -> Result<bool> {
    println!("CambiOS boot benchmark");
    println!("  method: QEMU TCG, {} (1 guest instruction = 1 ns of guest time);", ICOUNT.join(" "));
    println!(
        "          release kernel, {} MiB guest, 2 CPUs, initrd from boot/modules, {} runs per",
        DEFAULT_MEM_MIB, opts.runs
    );
    println!("          architecture; instruction counts are medians (min..max in brackets).");
    println!("  reset→ready includes the firmware (SeaBIOS + PVH loader, OpenSBI; none on aarch64).");
    println!();
    let mut rows = Vec::new();
    let mut user_rows: Vec<(cambios_abi::Arch, Vec<Figure>)> = Vec::new();
    let mut ok = true;
    for &arch in &opts.arches {
        let kernel = crate::build::build(&BuildOpts { arch, release: true, selftest: false })?;
        // Nothing starts at boot, so the memory figures are the kernel's own.
        let quiet: Vec<crate::services::Service> =
            crate::boot_services(&[])?.into_iter().map(crate::services::Service::on_demand).collect();
        let initrd = crate::initrd::build(arch, &quiet, true, "initrd-bench.img")?;
        let machine = Machine {
            arch,
            smp: 2,
            mem_mib: DEFAULT_MEM_MIB,
            boot: Boot::Direct {
                kernel: kernel.boot_image.clone(),
                initrd: Some(initrd.path.clone()),
                cmdline: qemu::cmdline(arch, &["cambios.log=debug"]),
            },
            console: Console::Pipe,
            gdb: false,
            overrides: Overrides { machine: None, cpu: None, extra_args: ICOUNT },
        };
        status("Benchmarking", machine.display());
        let mut samples = Vec::new();
        for _ in 0..opts.runs {
            match measure(&machine) {
                Ok(sample) => samples.push(sample),
                Err(e) => {
                    crate::util::warn(format!("{}: {e}", arch.name()));
                    ok = false;
                    break;
                }
            }
        }
        if !samples.is_empty() {
            rows.push((arch, samples));
        }
        let initrd = crate::initrd::build(arch, &bench_services(), true, "initrd-bench-user.img")?;
        let user_machine = Machine {
            boot: Boot::Direct {
                kernel: kernel.boot_image.clone(),
                initrd: Some(initrd.path.clone()),
                cmdline: qemu::cmdline(arch, &[""]),
            },
            ..machine.clone()
        };
        status("Benchmarking", format!("user space on {}", arch.name()));
        match measure_user(&user_machine) {
            Ok(figures) => user_rows.push((arch, figures)),
            Err(e) => {
                crate::util::warn(format!("{} user space: {e}", arch.name()));
                ok = false;
            }
        }
    }
    println!();
    println!("Boot time, guest instructions: median [min..max]");
    println!("{:<9} {:>36} {:>36} {:>11}", "arch", "reset -> ready", "kernel_main -> ready", "wall (emu)");
    for (arch, samples) in &rows {
        let range = |f: fn(&Sample) -> u64| {
            let values: Vec<u64> = samples.iter().map(f).collect();
            let (lo, hi) = (values.iter().min().copied().unwrap_or(0), values.iter().max().copied().unwrap_or(0));
            format!("{} [{}..{}]", thousands(median(values)), thousands(lo), thousands(hi))
        };
        let wall_ms = median(samples.iter().map(|s| s.wall.as_millis() as u64).collect());
        println!(
            "{:<9} {:>36} {:>36} {:>8} ms",
            arch.name(),
            range(|s| s.reset_to_ready),
            range(|s| s.kernel_to_ready),
            wall_ms
        );
    }
    println!();
    println!("Memory at the ready line, KiB (release kernel, {DEFAULT_MEM_MIB} MiB guest)");
    println!(
        "{:<9} {:>28} {:>16} {:>14} {:>10}",
        "arch", "image text/rodata/data+bss", "frames in use", "object tables", "heap used"
    );
    for (arch, samples) in &rows {
        let Some(s) = samples.first() else { continue };
        let (t, r, d) = s.image_kib;
        println!(
            "{:<9} {:>28} {:>16} {:>14} {:>10}",
            arch.name(),
            format!("{t} / {r} / {d}"),
            thousands(s.frames_used_kib),
            thousands(s.tables_kib),
            s.heap_used_kib
        );
    }
    println!();
    println!("frames in use: taken from the buddy allocator (the 4 MiB heap block, page tables, the kernel");
    println!("stack); the allocator's metadata and the object tables are carved out before it exists.");
    println!();
    println!("User space, guest instructions per operation (user/programs/bench, one run, loop overhead included)");
    let names: Vec<String> =
        user_rows.first().map(|(_, f)| f.iter().map(|(n, _, _)| n.clone()).collect()).unwrap_or_default();
    print!("{:<9}", "arch");
    for n in &names {
        print!(" {n:>14}");
    }
    println!();
    for (arch, figures) in &user_rows {
        print!("{:<9}", arch.name());
        for n in &names {
            let v = figures.iter().find(|(name, _, _)| name == n).map_or("-".to_string(), |(_, v, _)| thousands(*v));
            print!(" {v:>14}");
        }
        println!();
    }
    if let Some((_, figures)) = user_rows.first() {
        let counts: Vec<String> = figures.iter().map(|(n, _, c)| format!("{n} x{c}")).collect();
        println!("iterations: {}", counts.join(", "));
    }
    println!("get_pid is a full syscall round trip; yield-switch is one yield that runs another process");
    println!("and comes back (2 syscalls, 2 switches); spawn-wait creates, runs, reaps a 1-page child.");
    println!("Linux 6.1 in the same emulator (benchmarking guide): getppid 341, pipe round trip 14,087.");
    Ok(ok && rows.len() == opts.arches.len() && user_rows.len() == opts.arches.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_kernel_lines() {
        let log = lines(&[
            "[paging] riscv Sv48, direct map at 0xffff800000000000, kernel W^X (text 88K RX, rodata 32K R, data+bss 88K RW NX), 11 table frames, x",
            "[boot] timing: kernel_main to ready 1234567 ns, counter zero (reset) to ready 9876543 ns",
            "[tables] tier standard: 4096 process slots of 2048 bytes, 8192 KiB at 0x80239000 (binding: MaxSlots)",
            "CambiOS ready: arch=riscv64 cpus=1 mem=256MiB",
            "mem: 249092 of 253296 KiB free in frames; heap 3 of 4096 KiB used",
        ]);
        let s = parse_sample(&log, Duration::from_millis(120)).unwrap();
        assert_eq!((s.kernel_to_ready, s.reset_to_ready), (1_234_567, 9_876_543));
        assert_eq!((s.frames_used_kib, s.heap_used_kib, s.image_kib), (4204, 3, (88, 32, 88)));
        assert_eq!(s.tables_kib, 8192);
    }

    #[test]
    fn parses_bench_lines() {
        assert_eq!(parse_bench_line("[bench] get_pid: 412 ns/op over 20000"), Some(("get_pid".into(), 412, 20000)));
        assert_eq!(parse_bench_line("[bench] done"), None);
        assert_eq!(parse_bench_line("[hello] x: 1 ns/op over 2"), None);
    }

    #[test]
    fn missing_lines_are_errors() {
        let log = lines(&["CambiOS ready: arch=riscv64 cpus=1 mem=256MiB"]);
        assert!(parse_sample(&log, Duration::ZERO).is_err());
    }

    #[test]
    fn number_formatting() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
        assert_eq!(median(vec![5, 1, 3]), 3);
    }
}
