// SPDX-License-Identifier: AGPL-3.0-or-later
//! The boot-log checker: does a serial log (plus QEMU's exit status) satisfy the boot contract
//! of docs/boot.md for one test?
//!
//! Every string it looks for comes from `cambios_abi::bootlog`, except the boot-monitor replies,
//! which the test table supplies. [`evaluate`] works on a partial log too: while QEMU runs it
//! says what is still awaited, which is how a timeout is explained.

use std::ops::RangeInclusive;

use cambios_abi::Arch;
use cambios_abi::bootlog::{
    FAULT_TAG, MILESTONES, PANIC_TAG, READY_PREFIX, ReadyLine, SELFTEST_MIN_TICKS, SELFTEST_TAG, STACK_GUARD_TEXT,
    TEST_FAULT_ADDR,
};
use cambios_abi::exit::ExitCode as KernelExit;

/// One line typed at the boot monitor and the text its reply contains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsoleStep {
    /// What is written to the serial line (ends with `\n`).
    pub input: &'static str,
    /// Text a later line must contain.
    pub expect: &'static str,
    /// Host time to wait before typing (the `idle` test watches the console stay quiet).
    pub delay_ms: u64,
}

/// How a test run must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `[selftest] <name>: passed` after the ready line, then power-off with success.
    Selftest(&'static str),
    /// A `[fault]` report for [`TEST_FAULT_ADDR`] with a PC, then power-off with failure.
    Fault,
    /// `[panic] kernel panic at ...selftest.rs:...`, then power-off with failure.
    Panic,
    /// `[selftest] <name>: ... at <address>`, then a `[fault]` report with `addr=<address>`
    /// (a protection fault the self-test provokes on purpose), then power-off with failure.
    AnnouncedFault(&'static str),
    /// A `[fault]` report naming a kernel stack guard page (stack overflow, or a load from the
    /// boot stack's guard page), then power-off with failure.
    StackOverflow,
    /// Boot-monitor input after the ready line; the replies in order, then power-off.
    Console(&'static [ConsoleStep]),
    /// Like `Console`, and the kernel must print nothing between the ready line and the echo
    /// of the first input (it idles silently until asked).
    Quiet(&'static [ConsoleStep]),
    /// User programs: the lines of a [`UserCheck`]; once they are all there the harness types
    /// `poweroff` and the kernel must power off with success.
    User(&'static UserCheck),
}

/// What a user-space test row must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserCheck {
    /// Texts that lines before the ready line must contain (the loader's verdicts).
    pub boot: &'static [&'static str],
    /// Texts that lines after the ready line must contain (any order).
    pub after: &'static [&'static str],
    /// Texts no line may contain.
    pub forbidden: &'static [&'static str],
    /// Two line prefixes whose lines must interleave: a line of each between two of the other
    /// (two programs that never yield both made progress while the other was running).
    pub interleave: Option<(&'static str, &'static str)>,
    /// Processes that are expected to be killed by a fault (`[fault] process <name> (pid`).
    pub killed: &'static [&'static str],
}

/// The console step that ends a user test.
pub const POWEROFF_STEPS: &[ConsoleStep] = &[ConsoleStep { input: "poweroff\n", expect: "Powering off.", delay_ms: 0 }];

impl Outcome {
    /// The exit code the kernel reports at the end.
    pub const fn exit_code(self) -> KernelExit {
        match self {
            Outcome::Selftest(_) | Outcome::Console(_) | Outcome::Quiet(_) | Outcome::User(_) => KernelExit::Success,
            Outcome::Fault | Outcome::Panic | Outcome::StackOverflow | Outcome::AnnouncedFault(_) => {
                KernelExit::Failure
            }
        }
    }
}

/// What the `[modules]` milestone must say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modules {
    /// An initrd with this many entries.
    Entries(usize),
    /// `no initrd`.
    NoInitrd,
    /// An initrd the kernel rejects as not a CAMBINIT archive (and ignores).
    Invalid,
}

/// Everything one test expects of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    /// The architecture the ready line must name.
    pub arch: Arch,
    /// Accepted `mem=` of the ready line, in MiB.
    pub mem_mib: RangeInclusive<u64>,
    /// Most CPUs the ready line may report (the `-smp` value).
    pub max_cpus: u32,
    /// The `[modules]` milestone.
    pub modules: Modules,
    /// Text the `[boot]` line must contain after `protocol=`, if any.
    pub protocol: Option<&'static str>,
    /// Text some line before the ready line must contain, if any.
    pub boot_log_contains: Option<&'static str>,
    /// How the run ends.
    pub outcome: Outcome,
}

/// QEMU's state when the log is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Still running (or killed by the harness after a timeout).
    Running,
    /// Exited with this status.
    Status(i32),
    /// Killed by a signal nobody expected.
    Signal,
}

/// The judgement on a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every expectation is met.
    Pass,
    /// Something is wrong (the reason, one line).
    Fail(String),
    /// Nothing is wrong yet; QEMU is running and this is what is awaited next.
    Pending(String),
}

enum State {
    Met,
    /// Not seen yet: what is awaited.
    Unmet(String),
    /// Wrong, whatever comes later.
    Violated(String),
}

/// The first line starting with `prefix`, by index.
fn first(lines: &[String], prefix: &str) -> Option<usize> {
    lines.iter().position(|l| l.starts_with(prefix))
}

/// The address text the fault report must contain.
pub fn fault_addr_text() -> String {
    format!("addr={TEST_FAULT_ADDR:#018x}")
}

/// True if `line` stops the test: a fault, a panic, a failed self-test or a failed boot that
/// the test does not expect.
pub fn is_unexpected_fatal(line: &str, outcome: Outcome) -> bool {
    fatal_reason(line, outcome).is_some()
}

fn fatal_reason(line: &str, outcome: Outcome) -> Option<String> {
    if let Outcome::User(check) = outcome
        && line.starts_with(FAULT_TAG)
    {
        // User faults are reported and survived; only an unexpected victim or a kernel fault
        // ends the test.
        let victim = line.split_once(" process ").and_then(|(_, rest)| rest.split_once(" (pid "));
        return match victim {
            Some((name, _)) if check.killed.contains(&name) => None,
            Some((name, _)) => Some(format!("unexpected user fault in {name}: {line}")),
            None if line.contains("KERNEL FAULT") => Some(format!("kernel fault: {line}")),
            None => None,
        };
    }
    if line.starts_with(FAULT_TAG)
        && !matches!(outcome, Outcome::Fault | Outcome::StackOverflow | Outcome::AnnouncedFault(_))
    {
        Some(format!("unexpected fault: {line}"))
    } else if line.starts_with(PANIC_TAG) && outcome != Outcome::Panic {
        Some(format!("unexpected panic: {line}"))
    } else if line.starts_with(SELFTEST_TAG) && line.contains(": FAILED") {
        Some(format!("self-test failed: {line}"))
    } else if line.contains("lock-order violation") && outcome != Outcome::Selftest("lockorder") {
        // (The `lockorder` self-test commits one on purpose and checks it is reported.)
        Some(format!("lock-order violation: {line}"))
    } else if line.starts_with("error: boot failed") {
        Some(line.to_string())
    } else {
        None
    }
}

fn milestones(lines: &[String]) -> Vec<State> {
    let firsts: Vec<Option<usize>> = MILESTONES.iter().map(|tag| first(lines, tag)).collect();
    let mut states = Vec::new();
    let mut previous: Option<(usize, &str)> = None;
    for (i, (tag, at)) in MILESTONES.iter().zip(&firsts).enumerate() {
        match *at {
            None => {
                let later = MILESTONES.iter().zip(&firsts).skip(i + 1).find(|(_, at)| at.is_some());
                states.push(match later {
                    Some((later_tag, _)) => {
                        State::Violated(format!("missing milestone `{tag}` (the log went on to `{later_tag}`)"))
                    }
                    None => State::Unmet(format!("the `{tag}` milestone")),
                });
            }
            Some(line) => {
                match previous {
                    Some((prev_line, prev_tag)) if line < prev_line => states.push(State::Violated(format!(
                        "milestone `{tag}` (line {}) came before `{prev_tag}` (line {})",
                        line + 1,
                        prev_line + 1
                    ))),
                    _ => states.push(State::Met),
                }
                previous = Some((line, tag));
            }
        }
    }
    states
}

fn protocol(lines: &[String], exp: &Expect) -> State {
    let (Some(want), Some(boot)) = (exp.protocol, first(lines, "[boot]").and_then(|i| lines.get(i))) else {
        return State::Met; // nothing asked, or the milestone check already waits for `[boot]`
    };
    if boot.contains(&format!("protocol={want}")) {
        State::Met
    } else {
        State::Violated(format!("the `[boot]` line does not say `protocol={want}`: {boot}"))
    }
}

/// True if `text` has the words `<count> entries` (or `1 entry`).
fn says_entries(text: &str, count: usize) -> bool {
    let words: Vec<&str> = text.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')').collect();
    words.windows(2).any(|pair| match pair {
        [n, noun] => n.parse::<usize>() == Ok(count) && (*noun == "entries" || (*noun == "entry" && count == 1)),
        _ => false,
    })
}

fn modules(lines: &[String], exp: &Expect) -> State {
    let Some(line) = first(lines, "[modules]").and_then(|i| lines.get(i)) else {
        return State::Met; // awaited by the milestone check
    };
    match exp.modules {
        Modules::Entries(k) if line.contains("initrd") && says_entries(line, k) => State::Met,
        Modules::Entries(k) => {
            State::Violated(format!("the `[modules]` line should report the initrd with {k} entries: {line}"))
        }
        Modules::NoInitrd if line.contains("no initrd") => State::Met,
        Modules::Invalid if line.contains("not a CambiOS initrd") => State::Met,
        Modules::Invalid => State::Violated(format!("the `[modules]` line should reject the corrupt initrd: {line}")),
        Modules::NoInitrd => State::Violated(format!("the `[modules]` line should say `no initrd`: {line}")),
    }
}

/// Checks the ready line; returns its state and index.
fn ready(lines: &[String], exp: &Expect) -> (State, Option<usize>) {
    let found: Vec<usize> =
        lines.iter().enumerate().filter(|(_, l)| l.starts_with(READY_PREFIX)).map(|(i, _)| i).collect();
    let Some((&at, rest)) = found.split_first() else {
        return (State::Unmet(format!("the `{}` line", READY_PREFIX.trim_end())), None);
    };
    let text = lines.get(at).map_or("", String::as_str);
    if !rest.is_empty() {
        return (State::Violated(format!("the ready line appeared {} times", found.len())), Some(at));
    }
    let Some(parsed) = ReadyLine::parse(text) else {
        return (State::Violated(format!("malformed ready line: {text}")), Some(at));
    };
    let state = if parsed.arch != exp.arch.name() {
        State::Violated(format!("the ready line says arch={}, expected {}", parsed.arch, exp.arch.name()))
    } else if !exp.mem_mib.contains(&parsed.mem_mib) {
        State::Violated(format!(
            "the ready line reports mem={}MiB, expected {}..={} MiB",
            parsed.mem_mib,
            exp.mem_mib.start(),
            exp.mem_mib.end()
        ))
    } else if parsed.cpus == 0 || parsed.cpus > exp.max_cpus {
        State::Violated(format!("the ready line reports cpus={}, expected 1..={}", parsed.cpus, exp.max_cpus))
    } else if first(lines, "[modules]").is_some_and(|m| m > at) {
        State::Violated("the ready line came before the `[modules]` milestone".to_string())
    } else {
        State::Met
    };
    (state, Some(at))
}

/// Index of the first line after `from` satisfying `pred`.
fn find_after(lines: &[String], from: usize, pred: impl Fn(&str) -> bool) -> Option<usize> {
    lines.iter().enumerate().skip(from + 1).find(|(_, l)| pred(l)).map(|(i, _)| i)
}

fn outcome(lines: &[String], exp: &Expect, ready_at: Option<usize>) -> Vec<State> {
    let after = |from: Option<usize>, pred: &dyn Fn(&str) -> bool| from.and_then(|f| find_after(lines, f, pred));
    match exp.outcome {
        Outcome::Selftest(name) => {
            let want = format!("{SELFTEST_TAG} {name}: passed");
            vec![match after(ready_at, &|l| l.starts_with(&want)) {
                Some(at) if name == "ticks" => ticks_state(lines.get(at).map_or("", String::as_str)),
                Some(_) => State::Met,
                None => State::Unmet(format!("`{want}`")),
            }]
        }
        Outcome::Fault => {
            let addr = fault_addr_text();
            let is_fault = |l: &str| l.starts_with(FAULT_TAG);
            vec![
                match after(ready_at, &|l| is_fault(l) && l.contains(&addr)) {
                    Some(_) => State::Met,
                    None => State::Unmet(format!("a `{FAULT_TAG}` report with `{addr}`")),
                },
                match after(ready_at, &|l| is_fault(l) && l.contains("pc=0x")) {
                    Some(_) => State::Met,
                    None => State::Unmet(format!("`pc=0x` in the `{FAULT_TAG}` report")),
                },
                // A register row: several `name=0x...` pairs on a line without `pc=`.
                match after(ready_at, &|l| is_fault(l) && !l.contains("pc=") && l.matches("=0x").count() >= 3) {
                    Some(_) => State::Met,
                    None => State::Unmet(format!("a `{FAULT_TAG}` register dump")),
                },
            ]
        }
        Outcome::AnnouncedFault(name) => {
            let prefix = format!("{SELFTEST_TAG} {name}: ");
            let announced = after(ready_at, &|l| l.starts_with(&prefix) && l.contains(" at 0x"));
            let target = announced
                .and_then(|i| lines.get(i))
                .and_then(|l| l.rsplit(" at ").next())
                .map(|addr| format!("addr={}", addr.trim()));
            vec![match (announced, target) {
                (Some(at), Some(want)) => {
                    match find_after(lines, at, |l: &str| l.starts_with(FAULT_TAG) && l.contains(&want)) {
                        Some(_) => State::Met,
                        None => State::Unmet(format!("a `{FAULT_TAG}` report with `{want}`")),
                    }
                }
                _ => State::Unmet(format!("`{prefix}... at <address>`")),
            }]
        }
        Outcome::StackOverflow => {
            vec![match after(ready_at, &|l| l.starts_with(FAULT_TAG) && l.contains(STACK_GUARD_TEXT)) {
                Some(_) => State::Met,
                None => State::Unmet(format!("a `{FAULT_TAG}` report naming the `{STACK_GUARD_TEXT}`")),
            }]
        }
        Outcome::Panic => {
            let prefix = format!("{PANIC_TAG} kernel panic at ");
            match after(ready_at, &|l| l.starts_with(PANIC_TAG)) {
                None => vec![State::Unmet(format!("`{prefix}...selftest.rs:...`"))],
                Some(i) => {
                    let line = lines.get(i).map_or("", String::as_str);
                    if line.starts_with(&prefix) && line.contains("selftest.rs:") {
                        vec![State::Met]
                    } else {
                        vec![State::Violated(format!("the panic line should be `{prefix}...selftest.rs:...`: {line}"))]
                    }
                }
            }
        }
        Outcome::Console(steps) => console_replies(lines, ready_at, steps),
        Outcome::User(check) => {
            let mut states = user_states(lines, ready_at, check);
            states.extend(console_replies(lines, ready_at, POWEROFF_STEPS));
            states
        }
        Outcome::Quiet(steps) => {
            let mut states = console_replies(lines, ready_at, steps);
            let echo = steps.first().map_or("", |s| s.input.trim_end());
            let first_after_ready = ready_at.and_then(|r| lines.get(r + 1));
            states.push(match first_after_ready {
                Some(line) if line.trim_end() == echo => State::Met,
                Some(line) => State::Violated(format!("the kernel printed `{line}` after the ready line, unasked")),
                None => State::Unmet(format!("the echo of `{echo}`")),
            });
            states
        }
    }
}

/// The states of a [`UserCheck`] (without the final power-off).
fn user_states(lines: &[String], ready_at: Option<usize>, check: &UserCheck) -> Vec<State> {
    let mut states = Vec::new();
    let before = ready_at.map_or(lines, |r| lines.get(..r).unwrap_or(lines));
    let after = ready_at.map_or(&[][..], |r| lines.get(r + 1..).unwrap_or(&[]));
    for want in check.boot {
        states.push(match (before.iter().any(|l| l.contains(want)), ready_at) {
            (true, _) => State::Met,
            (false, Some(_)) => State::Violated(format!("the boot log before the ready line never says `{want}`")),
            (false, None) => State::Unmet(format!("`{want}` in the boot log")),
        });
    }
    for want in check.after {
        states.push(match after.iter().any(|l| l.contains(want)) {
            true => State::Met,
            false => State::Unmet(format!("`{want}` after the ready line")),
        });
    }
    for bad in check.forbidden {
        if let Some(line) = lines.iter().find(|l| l.contains(bad)) {
            states.push(State::Violated(format!("`{bad}` must not appear: {line}")));
        }
    }
    if let Some((a, b)) = check.interleave {
        states.push(match interleaved(after, a, b) {
            true => State::Met,
            false => State::Unmet(format!("lines starting `{a}` and `{b}` interleaved (preemption)")),
        });
    }
    states
}

/// True when some `b` line falls between two `a` lines and some `a` line between two `b` lines.
pub fn interleaved(lines: &[String], a: &str, b: &str) -> bool {
    let kinds: Vec<bool> =
        lines.iter().filter(|l| l.starts_with(a) || l.starts_with(b)).map(|l| l.starts_with(a)).collect();
    let sandwiched =
        |outer: bool| kinds.windows(3).any(|w| matches!(w, [x, y, z] if *x == outer && *y != outer && *z == outer));
    // A run of the other kind between two lines of `outer`.
    let between = |outer: bool| {
        let first = kinds.iter().position(|k| *k == outer);
        let last = kinds.iter().rposition(|k| *k == outer);
        match (first, last) {
            (Some(f), Some(l)) => kinds.get(f..l).is_some_and(|mid| mid.iter().any(|k| *k != outer)),
            _ => false,
        }
    };
    (sandwiched(true) || between(true)) && (sandwiched(false) || between(false))
}

/// True once every user expectation of `check` is met (the harness then powers off).
pub fn user_done(lines: &[String], check: &UserCheck) -> bool {
    let ready_at = lines.iter().position(|l| l.starts_with(READY_PREFIX));
    ready_at.is_some() && user_states(lines, ready_at, check).iter().all(|s| matches!(s, State::Met))
}

/// Each step's reply must follow the previous one's, after the ready line.
fn console_replies(lines: &[String], ready_at: Option<usize>, steps: &[ConsoleStep]) -> Vec<State> {
    let mut at = ready_at;
    steps
        .iter()
        .map(|step| {
            at = at.and_then(|f| find_after(lines, f, |l: &str| l.contains(step.expect)));
            match at {
                Some(_) => State::Met,
                None => State::Unmet(format!("`{}` (the reply to `{}`)", step.expect, step.input.trim_end())),
            }
        })
        .collect()
}

fn exit(exp: &Expect, exit: Exit) -> State {
    let want = exp.outcome.exit_code();
    match exit {
        Exit::Running => State::Unmet("QEMU to exit (kernel power-off)".to_string()),
        Exit::Signal => State::Violated("QEMU was killed by a signal".to_string()),
        Exit::Status(code) => match (exp.arch, want) {
            (Arch::X86_64, _) if KernelExit::from_qemu_status(Arch::X86_64, code) == Some(want) => State::Met,
            (Arch::X86_64, _) => State::Violated(format!(
                "QEMU exit status {code:#x}, expected {:#x} ({want:?} through isa-debug-exit)",
                want.x86_qemu_status()
            )),
            // PSCI SYSTEM_OFF and SBI shutdown cannot carry a failure code: the log decides.
            (_, KernelExit::Failure) => State::Met,
            (arch, KernelExit::Success) if KernelExit::from_qemu_status(arch, code) == Some(want) => State::Met,
            (_, KernelExit::Success) => State::Violated(format!("QEMU exit status {code}, expected 0 (power-off)")),
        },
    }
}

/// The `ticks` self-test line must itself show at least `SELFTEST_MIN_TICKS` ticks: the
/// harness checks the number rather than trusting the kernel's verdict.
fn ticks_state(line: &str) -> State {
    let count = line
        .split_once("passed (")
        .and_then(|(_, rest)| rest.split_once(" ticks"))
        .and_then(|(n, _)| n.trim().parse::<u64>().ok());
    match count {
        Some(n) if n >= SELFTEST_MIN_TICKS => State::Met,
        Some(n) => {
            State::Violated(format!("only {n} timer ticks seen, expected at least {SELFTEST_MIN_TICKS}: {line}"))
        }
        None => State::Violated(format!("cannot read the tick count: {line}")),
    }
}

fn boot_log_contains(lines: &[String], exp: &Expect) -> State {
    let Some(want) = exp.boot_log_contains else { return State::Met };
    let ready_at = lines.iter().position(|l| l.starts_with(READY_PREFIX)).unwrap_or(lines.len());
    match lines.iter().take(ready_at).any(|l| l.contains(want)) {
        true => State::Met,
        false if ready_at < lines.len() => {
            State::Violated(format!("the boot log before the ready line never says `{want}`"))
        }
        false => State::Unmet(format!("`{want}` in the boot log")),
    }
}

/// Judges a serial log (lines without `\r\n`) against `exp`, given QEMU's state.
pub fn evaluate(lines: &[String], exp: &Expect, qemu: Exit) -> Verdict {
    if let Some(reason) = lines.iter().find_map(|l| fatal_reason(l, exp.outcome)) {
        return Verdict::Fail(reason);
    }
    let (ready_state, ready_at) = ready(lines, exp);
    let mut states = milestones(lines);
    states.push(protocol(lines, exp));
    states.push(boot_log_contains(lines, exp));
    states.push(modules(lines, exp));
    states.push(ready_state);
    states.extend(outcome(lines, exp, ready_at));
    states.push(exit(exp, qemu));

    if let Some(reason) = states.iter().find_map(|s| match s {
        State::Violated(reason) => Some(reason.clone()),
        _ => None,
    }) {
        return Verdict::Fail(reason);
    }
    match states.into_iter().find_map(|s| match s {
        State::Unmet(what) => Some(what),
        _ => None,
    }) {
        None => Verdict::Pass,
        Some(what) => match qemu {
            Exit::Running => Verdict::Pending(what),
            Exit::Status(code) => Verdict::Fail(format!("QEMU exited (status {code:#x}) before {what}")),
            Exit::Signal => Verdict::Fail(format!("QEMU was killed before {what}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: &[ConsoleStep] = &[
        ConsoleStep { input: "uptime\n", expect: "uptime: ", delay_ms: 0 },
        ConsoleStep { input: "mem\n", expect: "mem: ", delay_ms: 0 },
        ConsoleStep { input: "poweroff\n", expect: "Powering off.", delay_ms: 0 },
    ];

    fn expect(arch: Arch, outcome: Outcome) -> Expect {
        Expect {
            arch,
            mem_mib: 192..=256,
            max_cpus: 2,
            modules: Modules::Entries(1),
            protocol: None,
            boot_log_contains: None,
            outcome,
        }
    }

    /// A plausible boot log up to and including the ready line.
    fn boot_log(arch: &str) -> Vec<String> {
        let mut log = vec![
            "OpenSBI v1.5".to_string(),
            "[boot] CambiOS 0.1.0 on riscv64, protocol=OpenSBI + DTB, console ns16550a, cmdline \"x\"".to_string(),
            "[memory] 256 MiB in 1 range".to_string(),
            "[reserved] kernel 0x80200000..0x80400000".to_string(),
            "[reserved] initrd 0x88200000..0x88201000".to_string(),
            "warning: something harmless".to_string(),
        ];
        for tag in &MILESTONES[3..] {
            let detail = if *tag == "[modules]" { "initrd at 0x88200000, 96 bytes, 1 entries" } else { "ok" };
            log.push(format!("{tag} {detail}"));
        }
        log.push("[modules]   motd (13 bytes)".to_string());
        log.push(format!("CambiOS ready: arch={arch} cpus=1 mem=254MiB"));
        log
    }

    fn with(mut log: Vec<String>, more: &[&str]) -> Vec<String> {
        log.extend(more.iter().map(|s| s.to_string()));
        log
    }

    fn fail_reason(v: Verdict) -> String {
        match v {
            Verdict::Fail(reason) => reason,
            other => format!("not a failure: {other:?}"),
        }
    }

    #[test]
    fn interleaving_is_detected() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(interleaved(&l(&["A 1", "B 1", "A 2", "B 2"]), "A", "B"));
        assert!(!interleaved(&l(&["A 1", "A 2", "B 1", "B 2"]), "A", "B"));
        assert!(!interleaved(&l(&["A 1", "B 1", "B 2", "A 2"]), "A", "B"), "B never surrounds an A");
        assert!(interleaved(&l(&["A 1", "B 1", "x", "A 2", "B 2"]), "A", "B"));
        assert!(!interleaved(&l(&["A 1", "A 2"]), "A", "B"));
    }

    #[test]
    fn user_rows_tolerate_expected_faults_only() {
        const CHECK: UserCheck = UserCheck {
            boot: &["[loader] x: verified"],
            after: &["[x] done"],
            forbidden: &["SURVIVED"],
            interleave: None,
            killed: &["bad"],
        };
        let o = Outcome::User(&CHECK);
        assert!(!is_unexpected_fatal("[fault] process bad (pid 2) killed: page fault", o));
        assert!(!is_unexpected_fatal("[fault]   pc=0x1 addr=0x2 sp=0x3 code=0x4", o));
        assert!(is_unexpected_fatal("[fault] process good (pid 3) killed: page fault", o));
        assert!(is_unexpected_fatal("[fault] KERNEL FAULT: page fault", o));
        let mut log = boot_log("riscv64");
        log.insert(3, "[loader] x: verified, pid 1".to_string());
        assert!(!user_done(&log, &CHECK));
        log.push("[x] done".to_string());
        assert!(user_done(&log, &CHECK));
        log.push("[x] SURVIVED".to_string());
        assert!(!user_done(&log, &CHECK));
        let mut exp = expect(Arch::Riscv64, o);
        exp.modules = Modules::Entries(1);
        assert!(matches!(evaluate(&log, &exp, Exit::Running), Verdict::Fail(_)));
    }

    #[test]
    fn passing_selftest_boot() {
        let log = with(boot_log("riscv64"), &["[selftest] ticks: passed (10 ticks in 100 ms)"]);
        let exp = expect(Arch::Riscv64, Outcome::Selftest("ticks"));
        assert_eq!(evaluate(&log, &exp, Exit::Status(0)), Verdict::Pass);
        assert_eq!(evaluate(&log, &exp, Exit::Running), Verdict::Pending("QEMU to exit (kernel power-off)".into()));
    }

    #[test]
    fn too_few_ticks_fail_even_if_the_kernel_says_passed() {
        let exp = expect(Arch::Riscv64, Outcome::Selftest("ticks"));
        let log = with(boot_log("riscv64"), &["[selftest] ticks: passed (9 ticks in 90 ms)"]);
        assert!(fail_reason(evaluate(&log, &exp, Exit::Status(0))).contains("only 9 timer ticks"));
        let log = with(boot_log("riscv64"), &["[selftest] ticks: passed (lots of ticks)"]);
        assert!(fail_reason(evaluate(&log, &exp, Exit::Status(0))).contains("cannot read the tick count"));
    }

    #[test]
    fn x86_exit_statuses() {
        let log = with(boot_log("x86_64"), &["[selftest] ticks: passed (10 ticks in 100 ms)"]);
        let exp = expect(Arch::X86_64, Outcome::Selftest("ticks"));
        assert_eq!(evaluate(&log, &exp, Exit::Status(0x21)), Verdict::Pass);
        assert!(fail_reason(evaluate(&log, &exp, Exit::Status(0))).contains("QEMU exit status 0x0, expected 0x21"));
        let exp = expect(Arch::X86_64, Outcome::Panic);
        let log = with(boot_log("x86_64"), &["[panic] kernel panic at kernel/kernel/src/selftest.rs:30:13: boom"]);
        assert_eq!(evaluate(&log, &exp, Exit::Status(0x23)), Verdict::Pass);
        assert!(fail_reason(evaluate(&log, &exp, Exit::Status(0x21))).contains("expected 0x23"));
        assert_eq!(evaluate(&log, &exp, Exit::Signal), Verdict::Fail("QEMU was killed by a signal".into()));
    }

    #[test]
    fn pending_says_what_is_awaited() {
        let log = boot_log("riscv64")[..4].to_vec();
        let exp = expect(Arch::Riscv64, Outcome::Selftest("ticks"));
        assert_eq!(evaluate(&log, &exp, Exit::Running), Verdict::Pending("the `[frames]` milestone".into()));
        assert_eq!(
            fail_reason(evaluate(&log, &exp, Exit::Status(0))),
            "QEMU exited (status 0x0) before the `[frames]` milestone"
        );
        let log = boot_log("riscv64");
        let log = &log[..log.len() - 1];
        assert_eq!(evaluate(log, &exp, Exit::Running), Verdict::Pending("the `CambiOS ready:` line".into()));
        assert_eq!(
            evaluate(&boot_log("riscv64"), &exp, Exit::Running),
            Verdict::Pending("`[selftest] ticks: passed`".into())
        );
        assert_eq!(evaluate(&[], &exp, Exit::Running), Verdict::Pending("the `[boot]` milestone".into()));
    }

    #[test]
    fn milestone_order_and_gaps() {
        let exp = expect(Arch::Riscv64, Outcome::Selftest("ticks"));
        let log: Vec<String> = boot_log("riscv64").into_iter().filter(|l| !l.starts_with("[heap]")).collect();
        assert_eq!(
            fail_reason(evaluate(&log, &exp, Exit::Running)),
            "missing milestone `[heap]` (the log went on to `[tables]`)"
        );
        let mut log = boot_log("riscv64");
        let irq = log.iter().position(|l| l.starts_with("[irq]")).unwrap_or(0);
        let traps = log.iter().position(|l| l.starts_with("[traps]")).unwrap_or(0);
        log.swap(irq, traps);
        let reason = fail_reason(evaluate(&log, &exp, Exit::Running));
        assert!(reason.starts_with("milestone `[irq]` (line"), "{reason}");
        assert!(reason.contains("came before `[traps]`"), "{reason}");
    }

    #[test]
    fn ready_line_mismatches() {
        let exp = expect(Arch::Riscv64, Outcome::Selftest("ticks"));
        let log = boot_log("aarch64");
        assert_eq!(
            fail_reason(evaluate(&log, &exp, Exit::Running)),
            "the ready line says arch=aarch64, expected riscv64"
        );
        let mut log = boot_log("riscv64");
        let last = log.len() - 1;
        log[last] = "CambiOS ready: arch=riscv64 cpus=1 mem=100MiB".into();
        assert_eq!(
            fail_reason(evaluate(&log, &exp, Exit::Running)),
            "the ready line reports mem=100MiB, expected 192..=256 MiB"
        );
        log[last] = "CambiOS ready: arch=riscv64 cpus=4 mem=250MiB".into();
        assert!(fail_reason(evaluate(&log, &exp, Exit::Running)).contains("cpus=4, expected 1..=2"));
        log[last] = "CambiOS ready: arch=riscv64 cpus=one mem=250MiB".into();
        assert!(fail_reason(evaluate(&log, &exp, Exit::Running)).starts_with("malformed ready line"));
        let log = with(boot_log("riscv64"), &["CambiOS ready: arch=riscv64 cpus=1 mem=254MiB"]);
        assert_eq!(fail_reason(evaluate(&log, &exp, Exit::Running)), "the ready line appeared 2 times");
    }

    #[test]
    fn modules_line() {
        let log = with(boot_log("riscv64"), &["[selftest] ticks: passed (10 ticks)"]);
        let mut exp = expect(Arch::Riscv64, Outcome::Selftest("ticks"));
        exp.modules = Modules::Entries(2);
        assert!(fail_reason(evaluate(&log, &exp, Exit::Status(0))).contains("with 2 entries"));
        exp.modules = Modules::NoInitrd;
        assert!(fail_reason(evaluate(&log, &exp, Exit::Status(0))).contains("should say `no initrd`"));
        let log: Vec<String> = log
            .into_iter()
            .filter(|l| !l.starts_with("[modules]"))
            .map(|l| if l.starts_with("[timer]") { format!("{l}\n[modules] no initrd: no boot modules") } else { l })
            .flat_map(|l| l.split('\n').map(String::from).collect::<Vec<_>>())
            .collect();
        assert_eq!(evaluate(&log, &exp, Exit::Status(0)), Verdict::Pass);
        assert!(says_entries("[modules] initrd at 0x1, 96 bytes, 11 entries", 11));
        assert!(!says_entries("[modules] initrd at 0x1, 96 bytes, 11 entries", 1));
        assert!(says_entries("(1 entry)", 1));
    }

    #[test]
    fn unexpected_fault_and_panic() {
        let exp = expect(Arch::Riscv64, Outcome::Selftest("ticks"));
        let log = with(boot_log("riscv64"), &["[fault] page fault addr=0x0000000000000008 pc=0xffffffc000201234"]);
        assert!(fail_reason(evaluate(&log, &exp, Exit::Running)).starts_with("unexpected fault: [fault] page fault"));
        let mut log = boot_log("riscv64");
        log.insert(3, "[panic] kernel panic at kernel/core/src/x.rs:1:1: oops".into());
        assert!(fail_reason(evaluate(&log, &exp, Exit::Status(0))).starts_with("unexpected panic"));
        let log = with(boot_log("riscv64"), &["[selftest] ticks: FAILED: no timer interrupts in 1000 ms"]);
        assert!(fail_reason(evaluate(&log, &exp, Exit::Status(0))).starts_with("self-test failed: [selftest] ticks"));
        let log = with(boot_log("riscv64")[..3].to_vec(), &["error: boot failed: no memory"]);
        assert_eq!(fail_reason(evaluate(&log, &exp, Exit::Status(0))), "error: boot failed: no memory");
        assert!(is_unexpected_fatal("[panic] x", Outcome::Fault));
        assert!(!is_unexpected_fatal("[fault] x", Outcome::Fault));
    }

    #[test]
    fn fault_report() {
        let exp = expect(Arch::Aarch64, Outcome::Fault);
        let report = [
            "[fault] data abort (EC 0x25) at EL1",
            "[fault] addr=0x00000000dead0000 pc=0xffff000040201234 sp=0xffff000040400000",
            "[fault] x0=0x0 x1=0x1 x2=0x2 x3=0x3",
        ];
        let log = with(boot_log("aarch64"), &report);
        assert_eq!(evaluate(&log, &exp, Exit::Status(0)), Verdict::Pass);
        let log = with(boot_log("aarch64"), &report[..1]);
        assert_eq!(
            fail_reason(evaluate(&log, &exp, Exit::Status(0))),
            "QEMU exited (status 0x0) before a `[fault]` report with `addr=0x00000000dead0000`"
        );
        let log = with(boot_log("aarch64"), &["[fault] addr=0x00000000dead0000"]);
        assert_eq!(evaluate(&log, &exp, Exit::Running), Verdict::Pending("`pc=0x` in the `[fault]` report".into()));
        assert!(fault_addr_text() == "addr=0x00000000dead0000");
    }

    #[test]
    fn panic_line_must_point_at_selftest() {
        let exp = expect(Arch::Riscv64, Outcome::Panic);
        let log = with(boot_log("riscv64"), &["[panic] kernel panic at kernel/kernel/src/heap.rs:1:1: oom"]);
        assert!(fail_reason(evaluate(&log, &exp, Exit::Status(0))).contains("should be `[panic] kernel panic at"));
    }

    #[test]
    fn console_replies_in_order() {
        let exp = expect(Arch::X86_64, Outcome::Console(STEPS));
        let log = with(
            boot_log("x86_64"),
            &["uptime", "uptime: 1.234 s", "mem", "mem: 250 MiB free", "poweroff", "Powering off."],
        );
        assert_eq!(evaluate(&log, &exp, Exit::Status(0x21)), Verdict::Pass);
        let log = with(boot_log("x86_64"), &["uptime", "uptime: 1.234 s", "mem"]);
        assert_eq!(evaluate(&log, &exp, Exit::Running), Verdict::Pending("`mem: ` (the reply to `mem`)".into()));
        // A reply before the ready line does not count.
        let mut log = boot_log("x86_64");
        log.insert(2, "uptime: 0 s".into());
        assert_eq!(evaluate(&log, &exp, Exit::Running), Verdict::Pending("`uptime: ` (the reply to `uptime`)".into()));
    }

    #[test]
    fn quiet_idle_after_ready() {
        const IDLE: &[ConsoleStep] = &[ConsoleStep { input: "poweroff\n", expect: "Powering off.", delay_ms: 1000 }];
        let exp = expect(Arch::Riscv64, Outcome::Quiet(IDLE));
        let log = with(boot_log("riscv64"), &["poweroff", "Powering off."]);
        assert_eq!(evaluate(&log, &exp, Exit::Status(0)), Verdict::Pass);
        let log = with(boot_log("riscv64"), &["tick", "poweroff", "Powering off."]);
        assert!(fail_reason(evaluate(&log, &exp, Exit::Status(0))).contains("printed `tick` after the ready line"));
    }

    #[test]
    fn fault_report_needs_registers() {
        let exp = expect(Arch::Riscv64, Outcome::Fault);
        let head = [
            "[fault] KERNEL FAULT: load page fault (vector 0xd)",
            "[fault]   pc=0xffffffff80208052 addr=0x00000000dead0000 sp=0xffffffff0001db80 code=0x0",
        ];
        let regs =
            "[fault]    ra=0x0000000000000001  sp=0x0000000000000002  gp=0x0000000000000003  tp=0x0000000000000004";
        let mut with_regs = head.to_vec();
        with_regs.push(regs);
        assert_eq!(evaluate(&with(boot_log("riscv64"), &with_regs), &exp, Exit::Status(0)), Verdict::Pass);
        assert_eq!(
            evaluate(&with(boot_log("riscv64"), &head), &exp, Exit::Running),
            Verdict::Pending("a `[fault]` register dump".into())
        );
    }

    #[test]
    fn announced_fault_address_must_match() {
        let exp = expect(Arch::X86_64, Outcome::AnnouncedFault("wx"));
        let announce = "[selftest] wx: writing to kernel text at 0xffffffff80109000";
        let good = "[fault]   pc=0xffffffff8010a507 addr=0xffffffff80109000 sp=0xffffffff0001cf80 code=0x3";
        let wrong = "[fault]   pc=0xffffffff8010a507 addr=0x0000000000001000 sp=0xffffffff0001cf80 code=0x3";
        let log = with(boot_log("x86_64"), &[announce, good]);
        assert_eq!(evaluate(&log, &exp, Exit::Status(0x23)), Verdict::Pass);
        let log = with(boot_log("x86_64"), &[announce, wrong]);
        assert_eq!(
            evaluate(&log, &exp, Exit::Running),
            Verdict::Pending("a `[fault]` report with `addr=0xffffffff80109000`".into())
        );
        let log = with(boot_log("x86_64"), &["[selftest] wx: FAILED: a write to kernel text succeeded"]);
        assert!(fail_reason(evaluate(&log, &exp, Exit::Status(0x23))).starts_with("self-test failed"));
    }

    #[test]
    fn protocol_check() {
        let mut exp = expect(Arch::X86_64, Outcome::Selftest("ticks"));
        exp.protocol = Some("Multiboot2");
        let log = with(boot_log("x86_64"), &["[selftest] ticks: passed (10 ticks in 100 ms)"]);
        assert!(fail_reason(evaluate(&log, &exp, Exit::Status(0x21))).contains("does not say `protocol=Multiboot2`"));
        let log: Vec<String> = log.into_iter().map(|l| l.replace("OpenSBI + DTB", "Multiboot2")).collect();
        assert_eq!(evaluate(&log, &exp, Exit::Status(0x21)), Verdict::Pass);
    }
}
