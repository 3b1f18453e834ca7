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
//!
//! The IPC benchmark boots `ipc-bench` and `pong` (user/programs/ipc-bench) alone on one CPU:
//! 100,000 call/reply round trips of 256-byte messages, the median over batches of 1,000. On
//! an x86_64 host with a usable `/dev/kvm` it is also run under KVM, but only after a probe
//! boot with `-accel kvm` reaches the ready line (the KVM of some hosts cannot run a kernel);
//! the output says which accelerators were used and why. In the same run [`crate::hostpipe`]
//! measures a pipe ping-pong between two processes on the host Linux for comparison.
//!
//! The IPC scaling figure boots `pairs-bench` (user/programs/pairs-bench) with four
//! independent call/reply pairs (`pair-client-k` calling `pair-server-k` on the well-known
//! endpoint `bench-k`, both pinned to CPU k mod n) on 1, 2 and 4 CPUs, under multi-threaded
//! TCG (`-accel tcg,thread=multi`) *without* `-icount`: `-icount` runs every virtual CPU on one
//! host thread, one after the other, so nothing could scale. The guest clock is then real
//! time, so the figure (round trips per second, all four pairs together) depends on the host
//! and its load, and it cannot scale beyond the host's core count: with 2 host cores, 4
//! virtual CPUs share 2 cores. It is printed with its ratio to the 1-CPU figure.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cambios_abi::Arch;
use cambios_abi::bootlog::READY_PREFIX;

use crate::cli::{BenchOpts, BuildOpts, DEFAULT_MEM_MIB};
use crate::qemu::{self, Boot, Console, Event, Machine, Overrides, Session};
use crate::util::{Context, Result, bail, status};

/// QEMU flags of the method: one guest instruction per nanosecond of virtual time.
const ICOUNT: &[&str] = &["-icount", "shift=0,sleep=off"];
/// Host-side limit for one benchmark boot.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Host-side limit for the KVM probe boot (to the ready line).
const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(15);
/// QEMU flag value of the IPC scaling figure: multi-threaded TCG (one host thread per virtual
/// CPU), and no `-icount`, which would serialise the virtual CPUs.
const MTTCG: &str = "tcg,thread=multi";
/// CPU counts of the IPC scaling figure.
const SCALING_CPUS: [u32; 3] = [1, 2, 4];
/// Linux 6.1's pipe round trip (two processes, one CPU, 256 B) under the same QEMU flags, in
/// guest instructions (../shared/guides/benchmarking.md).
const LINUX_PIPE_IN_TCG: u64 = 14_087;

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

/// The services of the IPC benchmark: `pong` first (it waits for calls), then `ipc-bench`.
fn ipc_services() -> Vec<crate::services::Service> {
    use crate::services::Service;
    use cambios_abi::cap::Capability;
    use cambios_abi::ipc::WellKnown;
    vec![
        Service::boot("pong", "pong", &[Capability::ConsoleWrite]).endpoints(&[WellKnown::Pong], &[]),
        Service::boot("ipc-bench", "ipc-bench", &[Capability::ConsoleWrite]).endpoints(&[], &[WellKnown::Pong]),
    ]
}

/// The `ipc-bench` result: nanoseconds (guest instructions under `-icount`) per round trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IpcFigure {
    /// Timed round trips.
    rounds: u64,
    /// Round trips per batch.
    batch: u64,
    /// Median of the per-batch averages.
    median: u64,
    /// Lowest batch average.
    min: u64,
    /// Highest batch average.
    max: u64,
}

/// `[ipc-bench] round trips <N>, median <m> ns per round trip (batches of <b>), min <a>, max <z>`.
fn parse_ipc_line(line: &str) -> Option<IpcFigure> {
    let rest = line.strip_prefix("[ipc-bench] round trips")?;
    Some(IpcFigure {
        rounds: number_after(rest, "")?,
        batch: number_after(rest, "batches of")?,
        median: number_after(rest, "median")?,
        min: number_after(rest, "min")?,
        max: number_after(rest, "max")?,
    })
}

/// The services of the IPC scaling figure on `smp` CPUs: `pair-server-k` (providing
/// `bench-k`) for the four pairs, their `pair-client-k` on demand, both pinned to CPU
/// k mod `smp`, and `pairs-bench`, which spawns the clients and times them.
fn pairs_services(smp: u32) -> Vec<crate::services::Service> {
    use crate::services::Service;
    use cambios_abi::cap::Capability;
    use cambios_abi::ipc::WellKnown;
    let mut services = Vec::new();
    for (k, endpoint) in (0u32..).zip(WellKnown::BENCH) {
        let cpu = [k % smp.max(1)];
        services.push(
            Service::boot(&format!("pair-server-{k}"), "pair-server", &[Capability::ConsoleWrite])
                .endpoints(&[endpoint], &[])
                .on_cpus(&cpu),
        );
        services.push(
            Service::boot(&format!("pair-client-{k}"), "pair-client", &[Capability::ConsoleWrite])
                .endpoints(&[], &[endpoint])
                .on_cpus(&cpu)
                .on_demand(),
        );
    }
    services.push(Service::boot("pairs-bench", "pairs-bench", &[Capability::ConsoleWrite, Capability::Spawn]));
    services
}

/// The `pairs-bench` result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PairsFigure {
    /// CPUs the guest reported online.
    cpus: u64,
    /// Pairs run at once.
    pairs: u64,
    /// Round trips of all pairs together.
    round_trips: u64,
    /// Guest nanoseconds (real time without `-icount`) from the first spawn to the last wait.
    ns: u64,
    /// Round trips per second.
    per_second: u64,
}

/// `[pairs-bench] cpus <n> pairs <p> round trips <t> in <ns> ns, <r> round trips per second`.
fn parse_pairs_line(line: &str) -> Option<PairsFigure> {
    let rest = line.strip_prefix("[pairs-bench] cpus")?;
    if !rest.trim_end().ends_with("round trips per second") {
        return None;
    }
    Some(PairsFigure {
        cpus: number_after(rest, "")?,
        pairs: number_after(rest, "pairs")?,
        round_trips: number_after(rest, "round trips")?,
        ns: number_after(rest, " in ")?,
        per_second: number_after(rest, "ns,")?,
    })
}

/// What one QEMU run printed.
struct Run {
    /// Serial lines, in order.
    lines: Vec<String>,
    /// Whether the stop condition was met (rather than a timeout or QEMU exiting).
    stopped: bool,
    /// Whether the time limit ended the run.
    timed_out: bool,
    /// QEMU's stderr.
    stderr: String,
}

/// Runs QEMU with `argv` (program first), collecting serial lines until `stop` accepts one,
/// QEMU exits or `limit` passes, then kills it. (For argument lists `Machine` cannot express,
/// such as `-accel kvm`.)
fn run_lines(argv: &[String], limit: Duration, stop: impl Fn(&str) -> bool) -> Result<Run> {
    let Some((program, args)) = argv.split_first() else { bail!("internal error: empty QEMU command") };
    let Some(path) = crate::util::find_in_path(program) else {
        bail!("{program} not found (see `cargo xtask doctor`)")
    };
    let mut child = Command::new(path)
        .args(args)
        .current_dir(crate::util::root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {program}"))?;
    let _stdin = child.stdin.take(); // held open: QEMU's serial input
    let stderr = crate::util::read_all_in_background(child.stderr.take());
    let (tx, rx) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                let text = String::from_utf8_lossy(&line).replace('\r', "");
                if tx.send(text).is_err() {
                    break;
                }
            }
        });
    }
    let deadline = Instant::now() + limit;
    let (mut lines, mut stopped) = (Vec::new(), false);
    // Ends on a timeout or when QEMU closes its output.
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        stopped = stop(&line);
        lines.push(line);
        if stopped {
            break;
        }
    }
    let timed_out = !stopped && Instant::now() >= deadline;
    let _ = child.kill();
    let _ = child.wait();
    let stderr = stderr.recv_timeout(Duration::from_secs(1)).unwrap_or_default();
    Ok(Run { lines, stopped, timed_out, stderr })
}

/// The first line of QEMU's stderr, for messages.
fn qemu_said(stderr: &str) -> String {
    stderr.lines().find(|l| !l.trim().is_empty()).map_or(String::new(), |l| format!("; QEMU said: {}", l.trim()))
}

/// Boots the IPC benchmark with `argv` and reads its figure.
fn measure_ipc(argv: &[String]) -> Result<IpcFigure> {
    let stop =
        |l: &str| l.starts_with("[ipc-bench] done") || l.starts_with("[ipc-bench] error") || l.starts_with("[fault]");
    let run = run_lines(argv, TIMEOUT * 3, stop)?;
    if let Some(bad) = run.lines.iter().find(|l| l.starts_with("[ipc-bench] error") || l.starts_with("[fault]")) {
        bail!("the IPC benchmark failed: {bad}");
    }
    match run.lines.iter().find_map(|l| parse_ipc_line(l)) {
        Some(figure) if run.stopped => Ok(figure),
        _ => bail!("`ipc-bench` did not finish within {} s{}", (TIMEOUT * 3).as_secs(), qemu_said(&run.stderr)),
    }
}

/// `machine`'s command line with `-accel kvm -cpu host` instead of TCG (and no `-icount`,
/// which KVM does not allow).
fn kvm_argv(machine: &Machine) -> Vec<String> {
    let kvm =
        Machine { overrides: Overrides { cpu: Some("host"), extra_args: &[], ..machine.overrides }, ..machine.clone() };
    let mut argv = kvm.argv();
    if let Some(i) = argv.iter().position(|a| a == "-accel")
        && let Some(value) = argv.get_mut(i + 1)
    {
        *value = "kvm".into();
    }
    argv
}

/// `machine`'s command line with multi-threaded TCG ([`MTTCG`]); `machine` must have no
/// `-icount` in its extra arguments.
fn mttcg_argv(machine: &Machine) -> Vec<String> {
    let mut argv = machine.argv();
    if let Some(i) = argv.iter().position(|a| a == "-accel")
        && let Some(value) = argv.get_mut(i + 1)
    {
        *value = MTTCG.into();
    }
    argv
}

/// Boots the IPC scaling benchmark with `argv` and reads its figure.
fn measure_pairs(argv: &[String]) -> Result<PairsFigure> {
    let failed = |l: &str| {
        l.starts_with("[pairs-bench] error") || l.starts_with("[pair-client] LOST") || l.starts_with("[fault]")
    };
    let stop = |l: &str| parse_pairs_line(l).is_some() || failed(l);
    let run = run_lines(argv, TIMEOUT * 3, stop)?;
    if let Some(bad) = run.lines.iter().find(|l| failed(l)) {
        bail!("the IPC scaling benchmark failed: {bad}");
    }
    match run.lines.iter().find_map(|l| parse_pairs_line(l)) {
        Some(figure) => Ok(figure),
        None => {
            let ending = if run.timed_out {
                format!("within {} s", (TIMEOUT * 3).as_secs())
            } else {
                "before QEMU exited".to_string()
            };
            bail!(
                "`pairs-bench` printed no result {ending} ({} serial lines){}",
                run.lines.len(),
                qemu_said(&run.stderr)
            )
        }
    }
}

/// The host's cores as this process may use them (affinity and cgroup quota included).
fn host_cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Whether the IPC benchmark may run under KVM on `machine`: `Err(reason)` unless the host
/// and guest are x86_64, `/dev/kvm` opens, and a probe boot reaches the ready line.
fn probe_kvm(machine: &Machine) -> std::result::Result<(), String> {
    if !cfg!(target_arch = "x86_64") {
        return Err("the host is not x86_64 (the probe is x86_64 only)".into());
    }
    if machine.arch != Arch::X86_64 {
        return Err(format!("{} guest (the probe is x86_64 only)", machine.arch.name()));
    }
    std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").map_err(|e| format!("/dev/kvm: {e}"))?;
    let run =
        run_lines(&kvm_argv(machine), KVM_PROBE_TIMEOUT, |l| l.starts_with(READY_PREFIX)).map_err(|e| e.to_string())?;
    if run.stopped {
        return Ok(());
    }
    let ending = if run.timed_out {
        format!("within {} s", KVM_PROBE_TIMEOUT.as_secs())
    } else {
        "before QEMU exited".to_string()
    };
    Err(format!(
        "a probe boot with -accel kvm -cpu host did not reach the ready line {ending} ({} serial lines){}",
        run.lines.len(),
        qemu_said(&run.stderr)
    ))
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
    let mut ipc_rows: Vec<(Arch, IpcFigure)> = Vec::new();
    let mut scaling_rows: Vec<ScalingRow> = Vec::new();
    let mut kvm: std::result::Result<IpcFigure, String> = Err("x86_64 not selected (the probe is x86_64 only)".into());
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
            // One CPU: "yield to another process" must really switch, and spawn+wait must not
            // depend on where the child is placed.
            smp: 1,
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
        let initrd = crate::initrd::build(arch, &ipc_services(), true, "initrd-bench-ipc.img")?;
        let ipc_machine = Machine {
            smp: 1,
            boot: Boot::Direct {
                kernel: kernel.boot_image.clone(),
                initrd: Some(initrd.path.clone()),
                cmdline: qemu::cmdline(arch, &[]),
            },
            ..machine.clone()
        };
        status("Benchmarking", format!("IPC on {}: {}", arch.name(), ipc_machine.display()));
        match measure_ipc(&ipc_machine.argv()) {
            Ok(figure) => ipc_rows.push((arch, figure)),
            Err(e) => {
                crate::util::warn(format!("{} IPC: {e}", arch.name()));
                ok = false;
            }
        }
        let mut scaling = ScalingRow { arch, points: Vec::new() };
        for smp in SCALING_CPUS {
            let initrd =
                crate::initrd::build(arch, &pairs_services(smp), true, &format!("initrd-bench-pairs-{smp}.img"))?;
            let pairs_machine = Machine {
                smp,
                boot: Boot::Direct {
                    kernel: kernel.boot_image.clone(),
                    initrd: Some(initrd.path.clone()),
                    cmdline: qemu::cmdline(arch, &[]),
                },
                overrides: Overrides { extra_args: &[], ..machine.overrides },
                ..machine.clone()
            };
            let argv = mttcg_argv(&pairs_machine);
            let root = format!("{}/", crate::util::root().display());
            let shown: Vec<String> = argv.iter().map(|a| a.replace(&root, "")).collect();
            status("Benchmarking", format!("IPC scaling on {}: {}", arch.name(), crate::util::shell_line(&shown)));
            let mut figures = Vec::new();
            for _ in 0..opts.runs {
                match measure_pairs(&argv) {
                    Ok(figure) => figures.push(figure),
                    Err(e) => {
                        crate::util::warn(format!("{} IPC scaling, -smp {smp}: {e}", arch.name()));
                        ok = false;
                        break;
                    }
                }
            }
            if !figures.is_empty() {
                scaling.points.push((smp, figures));
            }
        }
        scaling_rows.push(scaling);
        if arch == Arch::X86_64 {
            status("Probing", "KVM (a boot with -accel kvm to the ready line)");
            kvm = probe_kvm(&ipc_machine).and_then(|()| {
                status(
                    "Benchmarking",
                    format!("IPC on x86_64 under KVM: {}", crate::util::shell_line(&kvm_argv(&ipc_machine))),
                );
                measure_ipc(&kvm_argv(&ipc_machine))
                    .map_err(|e| format!("the probe passed but the benchmark failed: {e}"))
            });
        }
    }
    status("Benchmarking", "a pipe ping-pong between two processes on this host");
    let host = crate::hostpipe::measure();
    if let Err(e) = &host {
        crate::util::warn(format!("host pipe ping-pong: {e}"));
        ok = false;
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
    println!(
        "User space, guest instructions per operation (user/programs/bench, -smp 1, one run, loop overhead included)"
    );
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
    print_ipc(&ipc_rows, &kvm, host.as_ref().ok());
    print_scaling(&scaling_rows, opts.runs, host_cores());
    Ok(ok && rows.len() == opts.arches.len() && user_rows.len() == opts.arches.len())
}

/// `a / b` with two decimals.
fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 { format!("{:.2}", a / b) } else { "-".into() }
}

/// The IPC section of the report.
fn print_ipc(
    rows: &[(Arch, IpcFigure)],
    kvm: &std::result::Result<IpcFigure, String>,
    host: Option<&crate::hostpipe::PipeFigures>,
) {
    use crate::hostpipe::{BATCH, MESSAGE, ROUNDS, WARMUP};
    println!();
    println!("IPC round trip: call/reply of a 256-byte message between two processes on one CPU");
    let (rounds, batch) = rows.first().map_or((0, 0), |(_, f)| (f.rounds, f.batch));
    println!(
        "  method: QEMU TCG, {}, -smp 1, release kernel; ipc-bench calls pong {} times after 1,000",
        ICOUNT.join(" "),
        thousands(rounds)
    );
    println!(
        "          warm-up calls; median over batches of {} of the per-batch average (min..max in brackets).",
        thousands(batch)
    );
    println!("          Figures are guest instructions (TCG -icount), not host cycles.");
    match kvm {
        Ok(_) => println!(
            "  accelerators: TCG for every architecture; KVM too on x86_64 (a probe boot reached the ready line)"
        ),
        Err(why) => println!("  accelerator: TCG. KVM not used: {why}"),
    }
    for (arch, f) in rows {
        println!(
            "  CambiOS call/reply (256 B, two processes, one CPU), {:<8} median {} guest instructions per round trip [{}..{}]",
            arch.name(),
            thousands(f.median),
            thousands(f.min),
            thousands(f.max)
        );
    }
    if let Ok(f) = kvm {
        let cycles = host.and_then(|h| h.tsc_ghz).map_or(String::new(), |ghz| {
            format!(" = {} host TSC cycles at {ghz:.2} GHz", thousands((f.median as f64 * ghz).round() as u64))
        });
        println!(
            "  CambiOS call/reply under KVM, x86_64: median {} ns per round trip (real time){cycles} [{}..{}]",
            thousands(f.median),
            thousands(f.min),
            thousands(f.max)
        );
    }
    let Some(h) = host else {
        println!("  Linux pipe ping-pong on this host: not measured (see the warning above)");
        return;
    };
    let cycles = h.median_cycles.map_or(String::new(), |c| format!(" = {} cycles", thousands(c.round() as u64)));
    println!(
        "  Linux pipe ping-pong on this host ({MESSAGE} B, two processes, {}): median {} ns{cycles} per round trip",
        h.placement,
        thousands(h.median_ns.round() as u64),
    );
    println!(
        "          {} round trips after {} warm-up, batches of {}; cycles are TSC ticks{}; host CPU: {}.",
        thousands(ROUNDS),
        thousands(WARMUP),
        thousands(BATCH),
        h.tsc_ghz.map_or(String::new(), |g| format!(" ({g:.2} GHz)")),
        host_cpu()
    );
    println!("  ratios, CambiOS / Linux (below 1: CambiOS takes less):");
    for (arch, f) in rows {
        let against = if *arch == Arch::X86_64 {
            "like for like, guest instructions under the same QEMU flags"
        } else {
            "against the x86_64 Linux figure (a different ISA: indicative)"
        };
        println!(
            "    {:<8} {} {against}: {} / {} (Linux 6.1 pipe round trip in TCG, benchmarking guide)",
            arch.name(),
            ratio(f.median as f64, LINUX_PIPE_IN_TCG as f64),
            thousands(f.median),
            thousands(LINUX_PIPE_IN_TCG)
        );
        if let Some(c) = h.median_cycles {
            println!(
                "    {:<8} {} mixed measures, guest instructions (TCG) / host TSC cycles: {} / {} (indicative only)",
                "",
                ratio(f.median as f64, c),
                thousands(f.median),
                thousands(c.round() as u64)
            );
        }
    }
    if let (Ok(f), Some(c), Some(ghz)) = (kvm, h.median_cycles, h.tsc_ghz) {
        println!(
            "    x86_64   {} KVM against the host, both TSC cycles: {} / {}",
            ratio(f.median as f64 * ghz, c),
            thousands((f.median as f64 * ghz).round() as u64),
            thousands(c.round() as u64)
        );
    }
}

/// One architecture's IPC scaling figures: per CPU count, the figure of every run.
struct ScalingRow {
    arch: Arch,
    points: Vec<(u32, Vec<PairsFigure>)>,
}

/// The median run of `figures` by round trips per second.
fn median_figure(figures: &[PairsFigure]) -> Option<PairsFigure> {
    let mut sorted = figures.to_vec();
    sorted.sort_unstable_by_key(|f| f.per_second);
    sorted.get(sorted.len() / 2).copied()
}

/// One architecture's scaling line: `1 CPU <r1>/s, 2 CPUs <r2>/s (x<r2/r1>), ...`, with the
/// CPUs the guest saw online when they are fewer than QEMU's `-smp`.
fn scaling_line(row: &ScalingRow) -> String {
    let base = row.points.iter().find(|(smp, _)| *smp == 1).and_then(|(_, f)| median_figure(f));
    let mut parts = Vec::new();
    for smp in SCALING_CPUS {
        let noun = if smp == 1 { "CPU" } else { "CPUs" };
        let Some(f) = row.points.iter().find(|(n, _)| *n == smp).and_then(|(_, f)| median_figure(f)) else {
            parts.push(format!("{smp} {noun} -"));
            continue;
        };
        let mut notes = Vec::new();
        if smp != 1 {
            notes.push(format!("x{}", base.map_or("-".into(), |b| ratio(f.per_second as f64, b.per_second as f64))));
        }
        if f.cpus < u64::from(smp) {
            notes.push(format!("guest: {} online", f.cpus));
        }
        let notes = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) };
        parts.push(format!("{smp} {noun} {}/s{notes}", thousands(f.per_second)));
    }
    parts.join(", ")
}

/// The IPC scaling section of the report.
fn print_scaling(rows: &[ScalingRow], runs: u32, host_cores: usize) {
    println!();
    println!("IPC scaling: round trips per second of 4 independent call/reply pairs (64-byte payload) at once");
    let each = rows
        .iter()
        .flat_map(|r| &r.points)
        .flat_map(|(_, f)| f.first())
        .next()
        .map_or("-".into(), |f| thousands(f.round_trips / f.pairs.max(1)));
    println!("  method: QEMU TCG multi-threaded (-accel {MTTCG}, no -icount: the guest clock is real time and the");
    println!("          virtual CPUs run in parallel on host cores), -smp 1, 2 and 4, release kernel; pairs-bench");
    println!(
        "          spawns pair-client-0..3 at once, each makes {each} calls to its own pair-server (pair k pinned"
    );
    println!(
        "          to CPU k mod n), and times first spawn to last exit; median of {runs} run(s); xN = against 1 CPU."
    );
    println!(
        "  This host has {host_cores} core{}: with fewer host cores than virtual CPUs the figure cannot scale beyond",
        if host_cores == 1 { "" } else { "s" }
    );
    println!("          x{host_cores}; it is real time, so it varies with the host and its load.");
    for row in rows {
        println!(
            "  IPC scaling on {} (4 independent call/reply pairs, TCG multi-threaded, host has {host_cores} cores): {}",
            row.arch.name(),
            scaling_line(row)
        );
        if runs > 1 {
            let ranges: Vec<String> = row
                .points
                .iter()
                .map(|(smp, f)| {
                    let lo = f.iter().map(|f| f.per_second).min().unwrap_or(0);
                    let hi = f.iter().map(|f| f.per_second).max().unwrap_or(0);
                    format!("{smp}: {}..{}", thousands(lo), thousands(hi))
                })
                .collect();
            println!("          runs, min..max per second by CPUs: {}", ranges.join(", "));
        }
    }
}

/// The host CPU's model name from /proc/cpuinfo.
fn host_cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
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
    fn parses_the_ipc_line() {
        let line =
            "[ipc-bench] round trips 100000, median 3456 ns per round trip (batches of 1000), min 3400, max 3900";
        assert_eq!(
            parse_ipc_line(line),
            Some(IpcFigure { rounds: 100_000, batch: 1000, median: 3456, min: 3400, max: 3900 })
        );
        assert_eq!(parse_ipc_line("[ipc-bench] done"), None);
        assert_eq!(parse_ipc_line("[ipc-bench] round trips 5, median x ns"), None);
        assert_eq!(parse_ipc_line("[bench] get_pid: 412 ns/op over 20000"), None);
    }

    #[test]
    fn parses_the_pairs_line() {
        let line = "[pairs-bench] cpus 2 pairs 4 round trips 80000 in 4000000000 ns, 20000 round trips per second";
        assert_eq!(
            parse_pairs_line(line),
            Some(PairsFigure { cpus: 2, pairs: 4, round_trips: 80_000, ns: 4_000_000_000, per_second: 20_000 })
        );
        assert_eq!(parse_pairs_line(&format!("{line}\r ")).map(|f| f.per_second), Some(20_000));
        assert_eq!(parse_pairs_line("[pairs-bench] error: a client failed"), None);
        assert_eq!(parse_pairs_line("[pairs-bench] cpus 2 pairs 4 round trips 80000 in 4000 ns"), None);
        assert_eq!(
            parse_pairs_line("[pairs-bench] cpus x pairs 4 round trips 8 in 4 ns, 2 round trips per second"),
            None
        );
        assert_eq!(parse_pairs_line("[ipc-bench] round trips 100000, median 3456 ns per round trip"), None);
    }

    #[test]
    fn scaling_line_and_services() {
        let f = |cpus, per_second| PairsFigure { cpus, pairs: 4, round_trips: 80_000, ns: 1, per_second };
        let row = ScalingRow {
            arch: Arch::Riscv64,
            points: vec![
                (1, vec![f(1, 10_000), f(1, 9_000), f(1, 11_000)]),
                (2, vec![f(2, 19_000)]),
                (4, vec![f(1, 10_500)]),
            ],
        };
        assert_eq!(median_figure(&row.points[0].1).map(|f| f.per_second), Some(10_000));
        assert_eq!(
            scaling_line(&row),
            "1 CPU 10,000/s, 2 CPUs 19,000/s (x1.90), 4 CPUs 10,500/s (x1.05; guest: 1 online)"
        );
        let partial = ScalingRow { arch: Arch::X86_64, points: vec![(2, vec![f(2, 5)])] };
        assert_eq!(scaling_line(&partial), "1 CPU -, 2 CPUs 5/s (x-), 4 CPUs -");

        use cambios_abi::ipc::WellKnown;
        let services = pairs_services(2);
        assert_eq!(services.len(), 9);
        let client3 = services.iter().find(|s| s.name == "pair-client-3").unwrap();
        assert_eq!(
            (client3.program.as_str(), client3.uses, client3.provides),
            ("pair-client", WellKnown::Bench3.bit(), 0)
        );
        assert_eq!(client3.cpus, 1 << 1);
        let server2 = services.iter().find(|s| s.name == "pair-server-2").unwrap();
        assert_eq!((server2.provides, server2.cpus), (WellKnown::Bench2.bit(), 1 << 0));
        assert!(pairs_services(1).iter().filter(|s| s.name != "pairs-bench").all(|s| s.cpus == 1));
        assert!(pairs_services(4).iter().any(|s| s.name == "pair-server-3" && s.cpus == 1 << 3));
    }

    #[test]
    fn mttcg_command_line() {
        let machine = Machine {
            arch: Arch::Aarch64,
            smp: 4,
            mem_mib: 256,
            boot: Boot::Direct { kernel: "k.elf".into(), initrd: None, cmdline: "console=ttyAMA0".into() },
            console: Console::Pipe,
            gdb: false,
            overrides: Overrides::default(),
        };
        let argv = mttcg_argv(&machine).join(" ");
        assert!(argv.contains("-accel tcg,thread=multi") && argv.contains("-smp 4"), "{argv}");
        assert!(!argv.contains("icount"), "{argv}");
    }

    #[test]
    fn kvm_command_line() {
        let machine = Machine {
            arch: Arch::X86_64,
            smp: 1,
            mem_mib: 256,
            boot: Boot::Direct { kernel: "k.elf".into(), initrd: None, cmdline: "console=ttyS0".into() },
            console: Console::Pipe,
            gdb: false,
            overrides: Overrides { machine: None, cpu: None, extra_args: ICOUNT },
        };
        let tcg = machine.argv().join(" ");
        assert!(tcg.contains("-accel tcg -cpu max -icount shift=0,sleep=off -smp 1"), "{tcg}");
        let kvm = kvm_argv(&machine).join(" ");
        assert!(kvm.contains("-accel kvm -cpu host -smp 1"), "{kvm}");
        assert!(!kvm.contains("tcg") && !kvm.contains("icount"), "{kvm}");
        assert_eq!(ratio(1.0, 4.0), "0.25");
        assert_eq!(ratio(1.0, 0.0), "-");
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
