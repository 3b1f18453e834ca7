// SPDX-License-Identifier: AGPL-3.0-or-later
//! `cargo xtask test`: host unit tests (`cargo test`) and the QEMU boot-test matrix.
//!
//! Every QEMU test is one row of [`MATRIX`]. For each architecture the runner builds the
//! self-test kernel and the initrd once, then boots each row in turn (sequentially: CI has
//! two cores), reads the serial line, types boot-monitor input when a row asks for it, and
//! judges the log with [`crate::logcheck`] under a host-side timeout. It prints one line per
//! test and ends with one `N passed, M failed` line.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use cambios_abi::Arch;
use cambios_abi::bootlog::{READY_PREFIX, TEST_CMDLINE_KEY};

use crate::cli::{BuildOpts, DEFAULT_MEM_MIB, DEFAULT_SMP, Suite, TestOpts};
use crate::logcheck::{self, ConsoleStep, Exit, Expect, Modules, Outcome, POWEROFF_STEPS, UserCheck, Verdict};
use crate::qemu::{self, Boot, Console, Machine, Overrides, Session};
use crate::services::{Service, Variant};
use crate::util::{self, Color, Context, Result, bail, display_path, paint, status};
use cambios_abi::cap::Capability;
use cambios_abi::ipc::WellKnown;

/// The boot-monitor conversation of the `console` test.
pub const CONSOLE_STEPS: &[ConsoleStep] = &[
    ConsoleStep { input: "uptime\n", expect: "uptime: ", delay_ms: 0 },
    ConsoleStep { input: "mem\n", expect: "mem: ", delay_ms: 0 },
    ConsoleStep { input: "poweroff\n", expect: "Powering off.", delay_ms: 0 },
];

/// The `idle` test: a second of silence after the ready line, then power-off.
pub const IDLE_STEPS: &[ConsoleStep] = &[ConsoleStep { input: "poweroff\n", expect: "Powering off.", delay_ms: 1000 }];

/// How QEMU gets the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Medium {
    /// QEMU `-kernel` (PVH / arm64 Image / OpenSBI payload).
    Direct,
    /// A GRUB rescue ISO booted from CD (Multiboot2; x86_64 only).
    Grub,
}

/// One QEMU boot test.
#[derive(Clone, Copy, Debug)]
pub struct QemuTest {
    /// Name (`<arch>/<name>` in the output and the log file name).
    pub name: &'static str,
    /// Only on this architecture (`None`: all).
    pub only: Option<Arch>,
    /// `-smp`.
    pub smp: u32,
    /// `-m`, in MiB.
    pub mem_mib: u64,
    /// Lowest acceptable `mem=` on the ready line (`None`: `mem_mib - 64`).
    pub min_mem_mib: Option<u64>,
    /// Boot with the initrd.
    pub initrd: bool,
    /// Boot with a corrupt initrd instead (random bytes: the kernel must ignore it, not fail).
    pub corrupt_initrd: bool,
    /// Value of `cambios.test=` (`None`: not on the command line).
    pub selftest: Option<&'static str>,
    /// More kernel command-line words.
    pub append: &'static str,
    /// How the run must end.
    pub outcome: Outcome,
    /// How QEMU gets the kernel.
    pub medium: Medium,
    /// Lowest timeout for this test, in seconds (GRUB is slow).
    pub min_timeout_secs: u64,
    /// Another QEMU machine or CPU model than the architecture's default.
    pub overrides: Overrides,
    /// Text some line before the ready line must contain (proves the variant took effect).
    pub boot_log_contains: Option<&'static str>,
    /// The boot services of this row's own initrd (`None`: the shared test initrd, whose
    /// services all start on demand, so nothing runs unless asked).
    pub services: Option<&'static [TestService]>,
}

/// How a test service's module bytes are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestBytes {
    /// Signed with the signing key.
    Signed,
    /// No signature trailer.
    Unsigned,
    /// Signed, then one byte flipped.
    FlippedByte,
    /// Signed by a key the kernel does not trust.
    ForeignKey,
    /// The program's unsigned ELF file passed as an `EXTRA_MODULES` file (added unchanged).
    ExtraFile,
}

/// One service of a test row's initrd (all start at boot unless `on_demand`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestService {
    /// Well-known endpoints it owns.
    pub provides: &'static [WellKnown],
    /// Well-known endpoints it may send to.
    pub uses: &'static [WellKnown],
    /// Module name.
    pub name: &'static str,
    /// Program under user/programs/.
    pub program: &'static str,
    /// Start only through `spawn`.
    pub on_demand: bool,
    /// Granted capabilities.
    pub caps: &'static [Capability],
    /// How its bytes are made.
    pub bytes: TestBytes,
    /// CPUs it may run on (empty: any).
    pub cpus: &'static [u32],
}

const CONSOLE: &[Capability] = &[Capability::ConsoleWrite];

const fn svc(name: &'static str, program: &'static str, caps: &'static [Capability]) -> TestService {
    TestService { name, program, on_demand: false, caps, bytes: TestBytes::Signed, provides: &[], uses: &[], cpus: &[] }
}

/// Two programs that never yield, on one CPU: their output must interleave.
const PREEMPT: &[TestService] = &[svc("spin-a", "spinner", CONSOLE), svc("spin-b", "spinner", CONSOLE)];
const PREEMPT_CHECK: UserCheck = UserCheck {
    boot: &["[loader] spin-a: verified, pid 1", "[loader] spin-b: verified, pid 2"],
    after: &["[spinner 1] done, fp state intact", "[spinner 2] done, fp state intact"],
    forbidden: &["FP STATE CORRUPTED"],
    interleave: Some(("[spinner 1] round", "[spinner 2] round")),
    killed: &[],
};

/// Unsigned, tampered, foreign-signed and W+X modules are rejected; the boot goes on.
const REJECTS: &[TestService] = &[
    TestService { bytes: TestBytes::Unsigned, ..svc("unsigned", "hello", CONSOLE) },
    TestService { bytes: TestBytes::FlippedByte, ..svc("tampered", "hello", CONSOLE) },
    TestService { bytes: TestBytes::ForeignKey, ..svc("foreign-key", "hello", CONSOLE) },
    TestService { bytes: TestBytes::ExtraFile, ..svc("extra-file", "hello", CONSOLE) },
    svc("wx", "wx", CONSOLE),
    svc("hello", "hello", CONSOLE),
];
const REJECTS_CHECK: UserCheck = UserCheck {
    boot: &[
        "[loader] unsigned: REJECTED: ",
        "[loader] tampered: REJECTED: ",
        "[loader] foreign-key: REJECTED: ",
        "[loader] extra-file: REJECTED: ",
        "[loader] wx: REJECTED: ",
        "[loader] hello: verified, pid 1",
    ],
    after: &["[hello] heap ok"],
    forbidden: &["SHOULD NOT RUN"],
    interleave: None,
    killed: &[],
};

/// Programs that read kernel memory, execute their stack and write their read-only data
/// are killed with a report; a fourth keeps running.
const FAULTS: &[TestService] = &[
    svc("fault-kernel-read", "fault-kernel-read", CONSOLE),
    svc("fault-exec-stack", "fault-exec-stack", CONSOLE),
    svc("fault-write-rodata", "fault-write-rodata", CONSOLE),
    svc("survivor", "spinner", CONSOLE),
];
const FAULTS_CHECK: UserCheck = UserCheck {
    boot: &[],
    after: &[
        "[fault] process fault-kernel-read (pid 1) killed: ",
        "[fault] process fault-exec-stack (pid 2) killed: ",
        "[fault] process fault-write-rodata (pid 3) killed: ",
        "[spinner 4] done, fp state intact",
    ],
    forbidden: &["SURVIVED"],
    interleave: None,
    killed: &["fault-kernel-read", "fault-exec-stack", "fault-write-rodata"],
};

/// 1,000 spawn-and-wait cycles leave the free-frame count where it was.
const SPAWN: &[TestService] = &[
    svc("spawner", "spawner", &[Capability::ConsoleWrite, Capability::Spawn]),
    TestService { on_demand: true, ..svc("child", "child", &[]) },
];
const SPAWN_CHECK: UserCheck = UserCheck {
    boot: &["[loader] child: verified, started on demand"],
    after: &["[spawner] spawned and reaped 1000 children", "[spawner] frames balanced"],
    forbidden: &["FRAME LEAK"],
    interleave: None,
    killed: &[],
};

/// The shell, the echo service and the hostile program, as `make run` boots them.
const SHELL_CAPS: &[Capability] = &[
    Capability::ConsoleRead,
    Capability::ConsoleWrite,
    Capability::Spawn,
    Capability::AuditRead,
    Capability::Kill,
    Capability::Power,
];
const SHELL: &[TestService] = &[
    TestService { provides: &[WellKnown::Echo], ..svc("echo", "echo", &[]) },
    TestService { on_demand: true, uses: &[WellKnown::Echo], ..svc("intruder", "intruder", CONSOLE) },
    TestService { on_demand: true, ..svc("child", "child", &[]) },
    TestService { uses: &[WellKnown::Echo], ..svc("shell", "shell", SHELL_CAPS) },
];
/// A scripted shell session: each reply must follow the previous one.
pub const SHELL_STEPS: &[ConsoleStep] = &[
    // Typed at the ready line; the shell's first output is its IPC self-check.
    ConsoleStep { input: "\n", expect: "[shell] IPC self-check: echo service z6Mk", delay_ms: 0 },
    ConsoleStep { input: "whoami\n", expect: "(shell), principal did:key:z6Mk", delay_ms: 0 },
    ConsoleStep { input: "ps\n", expect: "PRINCIPAL", delay_ms: 0 },
    ConsoleStep { input: "caps\n", expect: "rights s--", delay_ms: 0 },
    ConsoleStep { input: "echo hello cambios\n", expect: "(via echo service z6Mk", delay_ms: 0 },
    // Backspace: `echp` corrected to `echo`.
    ConsoleStep { input: "echp\x7fo fixed\n", expect: "(via echo service z6Mk", delay_ms: 0 },
    ConsoleStep { input: "run child\n", expect: "exited with code 42", delay_ms: 0 },
    ConsoleStep { input: "run intruder\n", expect: "[intruder] all attempts denied", delay_ms: 0 },
    // The interceptor's default policy: no process kills itself (the shell is pid 2 here).
    ConsoleStep { input: "kill 2\n", expect: "kill: Denied", delay_ms: 0 },
    ConsoleStep { input: "audit\n", expect: "events logged, 0 lost at full buffers", delay_ms: 0 },
    ConsoleStep { input: "audit\n", expect: "cap.denied", delay_ms: 0 },
    // The intruder provoked more denials than its budget: the rest were counted in one event.
    ConsoleStep { input: "audit\n", expect: "denials.suppressed", delay_ms: 0 },
    ConsoleStep { input: "audit\n", expect: "intercept.denied", delay_ms: 0 },
    ConsoleStep { input: "uptime\n", expect: "up ", delay_ms: 0 },
    ConsoleStep { input: "mem\n", expect: "free ", delay_ms: 0 },
    ConsoleStep { input: "cpus\n", expect: "2 CPUs online; this shell runs on CPU ", delay_ms: 0 },
    ConsoleStep { input: "cpus\n", expect: "TICKS", delay_ms: 0 },
    ConsoleStep { input: "kill 999\n", expect: "kill: NotFound", delay_ms: 0 },
    ConsoleStep { input: "frobnicate\n", expect: "unknown command 'frobnicate'; type 'help'", delay_ms: 0 },
    ConsoleStep { input: "poweroff\n", expect: "Powering off.", delay_ms: 0 },
];

/// Two processes, 10,000 call/reply round trips, none lost.
const PINGPONG: &[TestService] = &[
    TestService { provides: &[WellKnown::Pong], ..svc("pong", "pong", CONSOLE) },
    TestService { uses: &[WellKnown::Pong], ..svc("ping", "ping", CONSOLE) },
];
const PINGPONG_CHECK: UserCheck = UserCheck {
    boot: &[],
    after: &["[ping] 10000 round trips, 0 lost"],
    forbidden: &["LOST", "CORRUPT"],
    interleave: None,
    killed: &[],
};

/// A capability travels in a message with fewer rights, works, and stops working the moment
/// its owner revokes it.
const CAPXFER: &[TestService] = &[
    TestService { provides: &[WellKnown::Relay], ..svc("cap-user", "cap-user", CONSOLE) },
    TestService { uses: &[WellKnown::Relay], ..svc("cap-owner", "cap-owner", CONSOLE) },
];
const CAPXFER_CHECK: UserCheck = UserCheck {
    boot: &[],
    after: &[
        "[cap-user] received a capability: rights s--",
        "[cap-user] receive on it: denied (MissingRight)",
        "[cap-owner] message from pid 1 via the granted capability: ok",
        "[cap-user] send after revoke: denied (BadCapability)",
        "[cap-user] done",
        "[cap-owner] done",
    ],
    forbidden: &["FAIL"],
    interleave: None,
    killed: &[],
};

/// Bad syscall arguments get typed errors; a process without capabilities is refused.
const SYSCALLS: &[TestService] = &[
    svc("badargs", "badargs", &[Capability::ConsoleWrite, Capability::Spawn]),
    svc("nocaps", "nocaps", &[]),
    svc("ipc-errors", "ipc-errors", CONSOLE),
];
const SYSCALLS_CHECK: UserCheck = UserCheck {
    boot: &[],
    after: &[
        "[badargs] all checks passed",
        "[proc] nocaps (pid 2) exited with code 0",
        "[ipc-errors] all checks passed",
    ],
    forbidden: &["FAIL"],
    interleave: None,
    killed: &[],
};

/// The default row every entry starts from.
const BOOT: QemuTest = QemuTest {
    name: "boot",
    only: None,
    smp: DEFAULT_SMP,
    mem_mib: DEFAULT_MEM_MIB,
    min_mem_mib: None,
    initrd: true,
    corrupt_initrd: false,
    selftest: Some("ticks"),
    append: "",
    outcome: Outcome::Selftest("ticks"),
    medium: Medium::Direct,
    min_timeout_secs: 0,
    overrides: Overrides { machine: None, cpu: None, extra_args: &[] },
    boot_log_contains: None,
    services: None,
};

/// SMP: work scaling, pinned cross-CPU IPC and spawn/kill/IPC stress (`smp-check`), with
/// `pong` pinned to CPU 1 and `ping` to CPU 0 (with one CPU the loader ignores the pins).
const SMP: &[TestService] = &[
    TestService { provides: &[WellKnown::Echo], ..svc("echo", "echo", CONSOLE) },
    TestService { provides: &[WellKnown::Pong], cpus: &[1], ..svc("pong", "pong", CONSOLE) },
    TestService { uses: &[WellKnown::Pong], cpus: &[0], on_demand: true, ..svc("ping", "ping", CONSOLE) },
    TestService { on_demand: true, ..svc("hog", "hog", &[]) },
    TestService { uses: &[WellKnown::Echo], on_demand: true, ..svc("stress-client", "stress-client", CONSOLE) },
    svc("smp-check", "smp-check", &[Capability::ConsoleWrite, Capability::Spawn, Capability::Kill]),
];
const SMP_FORBIDDEN: &[&str] = &["FAILED", "LOST", "CORRUPT", "[fault]"];
const SMP_CHECK_1: UserCheck = UserCheck {
    boot: &["[smp] 1 of 1 CPUs online"],
    after: &[
        "[smp-check] 1 CPUs online",
        "[smp-check] timers ok",
        "[smp-check] work scaling ok",
        "[ping] 10000 round trips, 0 lost",
        "[smp-check] stress ok",
        "[smp-check] all checks passed",
    ],
    forbidden: SMP_FORBIDDEN,
    interleave: None,
    killed: &[],
};
const SMP_CHECK_2: UserCheck = UserCheck {
    boot: &["[smp] 2 of 2 CPUs online"],
    after: &[
        "[smp-check] timers ok",
        "[smp-check] work scaling ok",
        "[pong] ready on CPU 1",
        "[ping] 10000 round trips, 0 lost",
        "[ping] ran on CPU 0",
        "[smp-check] stress ok",
        "[smp-check] all checks passed",
    ],
    ..SMP_CHECK_1
};
const SMP_CHECK_4: UserCheck = UserCheck { boot: &["[smp] 4 of 4 CPUs online"], ..SMP_CHECK_2 };

/// The default row of the user-space tests.
const USER: QemuTest = QemuTest { selftest: None, min_timeout_secs: 120, ..BOOT };

/// The boot-test matrix. Adding a test is adding a row.
pub const MATRIX: &[QemuTest] = &[
    BOOT,
    QemuTest { name: "no-initrd", initrd: false, ..BOOT },
    // Bad input from the boot loader and the user: a corrupt initrd, invalid command-line values.
    QemuTest { name: "corrupt-initrd", corrupt_initrd: true, ..BOOT },
    QemuTest {
        name: "bad-cmdline",
        append: "cambios.hz=fast cambios.log=loud",
        boot_log_contains: Some("warning: kernel command line: "),
        ..BOOT
    },
    QemuTest { name: "mem-128M", mem_mib: 128, ..BOOT },
    QemuTest { name: "mem-2G", mem_mib: 2048, min_mem_mib: Some(1900), ..BOOT },
    // RAM above 4 GiB (on x86_64 it joins the frame allocator after paging).
    QemuTest { name: "mem-6G", mem_mib: 6144, min_mem_mib: Some(6000), ..BOOT },
    QemuTest { name: "fault", selftest: Some("fault"), outcome: Outcome::Fault, ..BOOT },
    QemuTest { name: "panic", selftest: Some("panic"), outcome: Outcome::Panic, ..BOOT },
    QemuTest { name: "stack-overflow", selftest: Some("overflow"), outcome: Outcome::StackOverflow, ..BOOT },
    QemuTest { name: "boot-stack-guard", selftest: Some("guard"), outcome: Outcome::StackOverflow, ..BOOT },
    // W^X in the page tables: writing kernel text and executing heap data fault.
    QemuTest { name: "write-text", selftest: Some("wx"), outcome: Outcome::AnnouncedFault("wx"), ..BOOT },
    QemuTest { name: "execute-data", selftest: Some("nx"), outcome: Outcome::AnnouncedFault("nx"), ..BOOT },
    // The timer rate and the log level come from the command line.
    QemuTest { name: "hz-1000", append: "cambios.hz=1000", boot_log_contains: Some(" at 1000 Hz"), ..BOOT },
    QemuTest { name: "log-debug", append: "cambios.log=debug", boot_log_contains: Some("[boot] timing:"), ..BOOT },
    QemuTest { name: "console", selftest: None, outcome: Outcome::Console(CONSOLE_STEPS), ..BOOT },
    QemuTest { name: "idle", selftest: None, outcome: Outcome::Quiet(IDLE_STEPS), ..BOOT },
    // User space: verified loading, preemption, fault isolation, syscalls, reclamation.
    QemuTest { name: "user-preempt", services: Some(PREEMPT), outcome: Outcome::User(&PREEMPT_CHECK), ..USER },
    QemuTest { name: "user-rejects", services: Some(REJECTS), outcome: Outcome::User(&REJECTS_CHECK), ..USER },
    QemuTest { name: "user-faults", services: Some(FAULTS), outcome: Outcome::User(&FAULTS_CHECK), ..USER },
    QemuTest { name: "user-spawn", services: Some(SPAWN), outcome: Outcome::User(&SPAWN_CHECK), ..USER },
    QemuTest {
        name: "user-syscalls",
        services: Some(SYSCALLS),
        // badargs maps the whole 256 MiB anonymous-memory budget of one process.
        mem_mib: 1024,
        append: "cambios.log=debug",
        outcome: Outcome::User(&SYSCALLS_CHECK),
        ..USER
    },
    // IPC, capabilities, identity and the shell.
    QemuTest {
        name: "shell-session",
        services: Some(SHELL),
        outcome: Outcome::Console(SHELL_STEPS),
        min_timeout_secs: 120,
        selftest: None,
        ..BOOT
    },
    QemuTest { name: "ipc-captransfer", services: Some(CAPXFER), outcome: Outcome::User(&CAPXFER_CHECK), ..USER },
    QemuTest { name: "ipc-pingpong", services: Some(PINGPONG), outcome: Outcome::User(&PINGPONG_CHECK), ..USER },
    // The lock-order checker reports an out-of-order acquisition (made on purpose).
    QemuTest { name: "lock-order", selftest: Some("lockorder"), outcome: Outcome::Selftest("lockorder"), ..BOOT },
    // SMP with one, two and four CPUs: TLB shootdown, then the user-space checks.
    QemuTest {
        name: "shootdown-1",
        smp: 1,
        selftest: Some("shootdown"),
        outcome: Outcome::Selftest("shootdown"),
        boot_log_contains: Some("[smp] 1 of 1 CPUs online"),
        ..BOOT
    },
    QemuTest {
        name: "shootdown-2",
        smp: 2,
        selftest: Some("shootdown"),
        outcome: Outcome::Selftest("shootdown"),
        boot_log_contains: Some("[smp] 2 of 2 CPUs online"),
        ..BOOT
    },
    QemuTest {
        name: "shootdown-4",
        smp: 4,
        selftest: Some("shootdown"),
        outcome: Outcome::Selftest("shootdown"),
        boot_log_contains: Some("[smp] 4 of 4 CPUs online"),
        ..BOOT
    },
    // CPUs left offline on purpose are reported and the boot goes on with the others.
    QemuTest {
        name: "smp-maxcpus",
        smp: 4,
        append: "cambios.maxcpus=2",
        boot_log_contains: Some("[smp] 2 of 4 CPUs online"),
        ..BOOT
    },
    // Ten CPUs: more than the other rows and the shell's default view.
    QemuTest { name: "smp-10", smp: 10, boot_log_contains: Some("[smp] 10 of 10 CPUs online"), ..BOOT },
    QemuTest { name: "smp-1", smp: 1, services: Some(SMP), outcome: Outcome::User(&SMP_CHECK_1), ..USER },
    QemuTest { name: "smp-2", smp: 2, services: Some(SMP), outcome: Outcome::User(&SMP_CHECK_2), ..USER },
    QemuTest { name: "smp-4", smp: 4, services: Some(SMP), outcome: Outcome::User(&SMP_CHECK_4), ..USER },
    QemuTest { name: "grub-multiboot2", only: Some(Arch::X86_64), medium: Medium::Grub, min_timeout_secs: 120, ..BOOT },
    // CPUs without 1 GiB pages, SMEP or SMAP, on the Q35 chipset.
    QemuTest {
        name: "q35-qemu64",
        only: Some(Arch::X86_64),
        overrides: Overrides { machine: Some("q35"), cpu: Some("qemu64"), extra_args: &[] },
        ..BOOT
    },
    // Entry at EL2 (dropped to EL1), PSCI over SMC, PAN present.
    QemuTest {
        name: "el2-entry",
        only: Some(Arch::Aarch64),
        overrides: Overrides {
            machine: Some("virt,gic-version=3,virtualization=on"),
            cpu: Some("max"),
            extra_args: &[],
        },
        boot_log_contains: Some("entered at EL2"),
        ..BOOT
    },
    // A hart without Sv48: the Sv39 fallback.
    QemuTest {
        name: "sv39",
        only: Some(Arch::Riscv64),
        overrides: Overrides { machine: None, cpu: Some("rv64,sv48=false,sv57=false"), extra_args: &[] },
        boot_log_contains: Some("riscv Sv39"),
        ..BOOT
    },
];

/// Serial lines shown when a test fails.
const TAIL_LINES: usize = 40;
/// How long QEMU may keep running after the log went wrong (an unexpected fault or panic, a
/// milestone out of order, ...) before it is stopped: time to finish a fault report.
const FATAL_GRACE: Duration = Duration::from_secs(3);
/// Up to this many lines the log is judged after every line, to stop a doomed run early.
const EVALUATE_LINES: usize = 2000;
/// How long QEMU gets to exit after the log says it is done.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Passed / failed / skipped counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
    /// Tests that could not run here (missing tools).
    pub skipped: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }

    /// The closing line.
    pub fn summary(&self) -> String {
        let mut line = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            line.push_str(&format!(", {} skipped", self.skipped));
        }
        line
    }
}

/// Runs the selected tests; the process exit code is non-zero if any failed.
pub fn run(opts: &TestOpts) -> Result<bool> {
    if matches!(opts.suite, Suite::Qemu | Suite::All)
        && let Some(filter) = &opts.filter
        && opts.arches.iter().all(|&arch| {
            selected(arch, Some(filter)).is_empty()
                && !format!("{}/{RUN_COMMAND_TEST}", arch.name()).contains(filter.as_str())
        })
    {
        let names: Vec<String> = opts
            .arches
            .iter()
            .flat_map(|&a| {
                selected(a, None)
                    .into_iter()
                    .map(|t| t.name)
                    .chain([RUN_COMMAND_TEST])
                    .map(move |name| format!("{}/{name}", a.name()))
            })
            .collect();
        bail!("no QEMU test matches --filter '{filter}' (tests: {})", names.join(", "));
    }
    let mut tally = Tally::default();
    // A harness error (cannot start cargo, cannot write a log) counts as one failed test, so
    // the run still ends with its summary line.
    let mut add = |name: &str, result: Result<Tally>| match result {
        Ok(t) => tally.add(t),
        Err(e) => {
            println!("test {name} ... {} ({e})", failed_label());
            tally.failed += 1;
        }
    };
    if matches!(opts.suite, Suite::Host | Suite::All) {
        add("host/cargo-test", host_tests());
    }
    if matches!(opts.suite, Suite::Qemu | Suite::All) {
        for &arch in &opts.arches {
            add(&format!("{}/harness", arch.name()), qemu_tests(arch, opts));
            let name = format!("{}/{RUN_COMMAND_TEST}", arch.name());
            if opts.filter.as_deref().is_none_or(|f| name.contains(f)) {
                add(&name, run_command_test(arch, &name));
            }
        }
    }
    println!("{}", tally.summary());
    Ok(tally.failed == 0)
}

// ------------------------------------------------------------------------------ `make run`

/// Name of the test of the user-facing run command.
const RUN_COMMAND_TEST: &str = "run-command";
/// Time for `cargo xtask run` to build the (non-self-test) kernel, boot and answer.
const RUN_COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// `cargo xtask run --arch <arch>` (what `make run` calls) driven by a script through stdin, as
/// a user would: it must boot to the shell's prompt, answer `uptime`, power off on `poweroff`
/// and exit with success.
fn run_command_test(arch: Arch, name: &str) -> Result<Tally> {
    let started = Instant::now();
    let exe = std::env::current_exe().context("cannot find the xtask binary")?;
    // Its own process group, so a timeout can stop QEMU (a grandchild) too.
    let mut child = std::process::Command::new(exe)
        .process_group(0)
        .args(["run", "--arch", arch.name()])
        .current_dir(util::root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start `cargo xtask run`")?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin.write_all(b"uptime\npoweroff\n").context("cannot type into `cargo xtask run`")?;
    }
    let output_rx = util::read_all_in_background(child.stdout.take());
    let errors_rx = util::read_all_in_background(child.stderr.take());
    let status = loop {
        match child.try_wait().context("waiting for `cargo xtask run`")? {
            Some(status) => break Some(status),
            None if started.elapsed() < RUN_COMMAND_TIMEOUT => std::thread::sleep(Duration::from_millis(50)),
            None => {
                // The whole group: `xtask run`, cargo and QEMU.
                let _ =
                    std::process::Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", child.id())]).status();
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let output = output_rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    let errors = errors_rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    let ready = format!("{READY_PREFIX}arch={}", arch.name());
    let problem = match status {
        None => Some(format!("timed out after {} s", RUN_COMMAND_TIMEOUT.as_secs())),
        Some(s) if !s.success() => Some(format!("exited with {}", util::describe_status(s))),
        // The default boot starts the shell, which answers `uptime` with `up <seconds> s`.
        Some(_) => [ready.as_str(), "cambios> ", "up ", "Powering off."]
            .into_iter()
            .find(|want| !output.contains(want))
            .map(|want| format!("no `{want}` in its output")),
    };
    let secs = started.elapsed().as_secs_f64();
    Ok(match problem {
        None => {
            println!("test {name} ... {} ({secs:.2} s, `cargo xtask run` with scripted input)", ok_label());
            Tally { passed: 1, ..Tally::default() }
        }
        Some(why) => {
            println!("test {name} ... {} ({why})", failed_label());
            for line in output.lines().chain(errors.lines()).rev().take(TAIL_LINES).collect::<Vec<_>>().iter().rev() {
                println!("    | {line}");
            }
            Tally { failed: 1, ..Tally::default() }
        }
    })
}

// ------------------------------------------------------------------------------ host tests

/// Adds up cargo's `test result: ok. X passed; Y failed; ...` lines.
pub fn parse_cargo_results(output: &str) -> Tally {
    let mut tally = Tally::default();
    for line in output.lines() {
        let Some(rest) = line.trim().strip_prefix("test result: ") else { continue };
        for field in rest.split(';') {
            let mut words = field.split_whitespace().rev();
            let (Some(kind), Some(count)) = (words.next(), words.next()) else { continue };
            let Ok(n) = count.parse::<u64>() else { continue };
            match kind {
                "passed" => tally.passed += n,
                "failed" => tally.failed += n,
                _ => {}
            }
        }
    }
    tally
}

/// The host's target triple (`rustc -vV`), for the user workspace's host tests.
fn host_target() -> Result<String> {
    let out = std::process::Command::new("rustc").arg("-vV").output().context("cannot run rustc -vV")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    match text.lines().find_map(|l| l.strip_prefix("host: ")) {
        Some(host) => Ok(host.trim().to_string()),
        None => bail!("rustc -vV did not name the host target"),
    }
}

fn host_tests() -> Result<Tally> {
    status("Testing", "host crates (cargo test --workspace --exclude kernel)");
    let started = Instant::now();
    let mut cmd = util::cargo();
    cmd.args(["test", "--workspace", "--exclude", "kernel", "--no-fail-fast"]).stdout(Stdio::piped());
    let mut child = cmd.spawn().context("cannot start cargo test")?;
    let mut output = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading cargo test output")?;
            println!("{line}");
            output.push_str(&line);
            output.push('\n');
        }
    }
    let exit = child.wait().context("waiting for cargo test")?;
    // libsys (user space, its own workspace) has host tests too: base58 / did:key.
    let mut user = util::cargo();
    user.args(["test", "-p", "libsys", "--target", &host_target()?])
        .current_dir(util::root().join("user"))
        .env("CARGO_TARGET_DIR", util::target_dir().join("user"))
        .stdout(Stdio::piped());
    let user_out = user.output().context("cannot start cargo test for libsys")?;
    let user_text = String::from_utf8_lossy(&user_out.stdout).into_owned();
    print!("{user_text}");
    output.push_str(&user_text);
    let exit = if user_out.status.success() { exit } else { user_out.status };
    let mut tally = parse_cargo_results(&output);
    if !exit.success() && tally.failed == 0 {
        // Did not compile, or a test binary crashed before reporting: one failure.
        println!(
            "test host/cargo-test ... {} (cargo test {} without reporting a failed test)",
            paint("FAILED", Color::Red, false),
            util::describe_status(exit)
        );
        tally.failed += 1;
    }
    status(
        "Finished",
        format!(
            "host tests in {:.1} s: {} passed, {} failed",
            started.elapsed().as_secs_f64(),
            tally.passed,
            tally.failed
        ),
    );
    Ok(tally)
}

// ------------------------------------------------------------------------------ QEMU tests

/// The services of a test row, as the initrd builder takes them.
fn row_services(arch: Arch, services: &[TestService]) -> Vec<Service> {
    services
        .iter()
        .map(|t| {
            let caps = t.caps;
            let service = Service::boot(t.name, t.program, caps).endpoints(t.provides, t.uses).on_cpus(t.cpus);
            let service = if t.on_demand { service.on_demand() } else { service };
            service.variant(match t.bytes {
                TestBytes::Signed => Variant::Signed,
                TestBytes::Unsigned => Variant::Unsigned,
                TestBytes::FlippedByte => Variant::FlippedByte,
                TestBytes::ForeignKey => Variant::ForeignKey,
                TestBytes::ExtraFile => Variant::File(crate::user::output_dir(arch).join(format!("{}.elf", t.program))),
            })
        })
        .collect()
}

/// The rows of [`MATRIX`] that run on `arch` and match the filter.
pub fn selected(arch: Arch, filter: Option<&str>) -> Vec<&'static QemuTest> {
    MATRIX
        .iter()
        .filter(|t| t.only.is_none_or(|only| only == arch))
        .filter(|t| filter.is_none_or(|f| format!("{}/{}", arch.name(), t.name).contains(f)))
        .collect()
}

/// What the tests of one architecture share.
struct Prepared {
    kernel: crate::build::Kernel,
    initrd: crate::initrd::Initrd,
    /// A file of random bytes the size of a small initrd (for `corrupt_initrd` rows).
    corrupt_initrd: PathBuf,
    /// The GRUB ISO, or why it cannot be made here (tests using it are skipped or fail).
    grub: Option<std::result::Result<PathBuf, GrubProblem>>,
}

enum GrubProblem {
    Missing(String),
    Failed(String),
}

fn ok_label() -> String {
    paint("ok", Color::Green, false)
}

fn failed_label() -> String {
    paint("FAILED", Color::Red, false)
}

fn prepare(arch: Arch, tests: &[&QemuTest]) -> Result<Prepared> {
    let kernel = crate::build::build(&BuildOpts { arch, release: false, selftest: true })?;
    // The shared test initrd: the default services, none started at boot.
    let services: Vec<Service> = crate::boot_services(&[])?.into_iter().map(Service::on_demand).collect();
    let initrd = crate::initrd::build(arch, &services, false, "initrd-test.img")?;
    let corrupt_initrd = crate::build::arch_dir(arch).join("initrd-corrupt.img");
    util::write_file(&corrupt_initrd, &noise(4096, 0x5eed_c0de ^ arch as u64))?;
    let grub = tests.iter().any(|t| t.medium == Medium::Grub).then(|| {
        if let Some(missing) = crate::grub::missing_tools() {
            return Err(GrubProblem::Missing(missing));
        }
        let cmdline = qemu::cmdline(arch, &[&format!("{TEST_CMDLINE_KEY}=ticks")]);
        let iso = crate::build::arch_dir(arch).join("cambios-selftest.iso");
        crate::grub::make_iso(&kernel.elf, Some(&initrd.path), &cmdline, &iso)
            .map(|()| iso)
            .map_err(|e| GrubProblem::Failed(e.to_string()))
    });
    Ok(Prepared { kernel, initrd, corrupt_initrd, grub })
}

fn qemu_tests(arch: Arch, opts: &TestOpts) -> Result<Tally> {
    let tests = selected(arch, opts.filter.as_deref());
    let mut tally = Tally::default();
    if tests.is_empty() {
        return Ok(tally);
    }
    status("Preparing", format!("{} QEMU tests for {}", tests.len(), arch.name()));
    if util::find_in_path(qemu::program(arch)).is_none() {
        println!(
            "test {}/qemu ... {} ({} not found: run scripts/setup.sh)",
            arch.name(),
            failed_label(),
            qemu::program(arch)
        );
        tally.failed += 1;
        return Ok(tally);
    }
    let prepared = match prepare(arch, &tests) {
        Ok(p) => p,
        Err(e) => {
            println!("test {}/build ... {} ({e})", arch.name(), failed_label());
            tally.failed += 1;
            return Ok(tally);
        }
    };
    let logs = crate::build::build_root().join("test-logs");
    util::create_dir(&logs)?;
    for test in tests {
        let id = format!("{}/{}", arch.name(), test.name);
        // A row with its own services gets its own initrd.
        let own_initrd = match test.services {
            Some(services) => {
                match crate::initrd::build(
                    arch,
                    &row_services(arch, services),
                    false,
                    &format!("initrd-{}.img", test.name),
                ) {
                    Ok(i) => Some(i),
                    Err(e) => {
                        println!("test {id} ... {} (cannot build its initrd: {e})", failed_label());
                        tally.failed += 1;
                        continue;
                    }
                }
            }
            None => None,
        };
        let initrd = own_initrd.as_ref().unwrap_or(&prepared.initrd);
        let machine = match machine_for(arch, test, &prepared, initrd) {
            Ok(m) => m,
            Err(GrubProblem::Missing(why)) => {
                println!("test {id} ... {} ({why})", paint("skipped", Color::Yellow, false));
                tally.skipped += 1;
                continue;
            }
            Err(GrubProblem::Failed(why)) => {
                println!("test {id} ... {} (cannot build the GRUB ISO: {why})", failed_label());
                tally.failed += 1;
                continue;
            }
        };
        let timeout = Duration::from_secs(opts.timeout_secs.max(test.min_timeout_secs));
        let log_path = logs.join(format!("{}-{}.log", arch.name(), test.name));
        let result = run_one(&machine, &expect_for(arch, test, initrd.entries.len()), timeout);
        save_log(&log_path, &result)?;
        match &result.verdict {
            Verdict::Pass => {
                let ready = result.ready_after.map_or("never".to_string(), |d| format!("{:.2} s", d.as_secs_f64()));
                println!("test {id} ... {} ({:.2} s; ready after {ready})", ok_label(), result.elapsed.as_secs_f64());
                tally.passed += 1;
            }
            Verdict::Fail(reason) | Verdict::Pending(reason) => {
                println!("test {id} ... {} ({reason})", failed_label());
                print_failure(&machine, &result, &log_path);
                tally.failed += 1;
            }
        }
    }
    Ok(tally)
}

fn machine_for(
    arch: Arch,
    test: &QemuTest,
    prepared: &Prepared,
    initrd: &crate::initrd::Initrd,
) -> std::result::Result<Machine, GrubProblem> {
    let boot = match test.medium {
        Medium::Grub => match &prepared.grub {
            Some(Ok(iso)) => Boot::Cdrom(iso.clone()),
            Some(Err(GrubProblem::Missing(why))) => return Err(GrubProblem::Missing(why.clone())),
            Some(Err(GrubProblem::Failed(why))) => return Err(GrubProblem::Failed(why.clone())),
            None => return Err(GrubProblem::Failed("internal error: GRUB ISO not prepared".into())),
        },
        Medium::Direct => {
            let key = test.selftest.map(|name| format!("{TEST_CMDLINE_KEY}={name}"));
            Boot::Direct {
                kernel: prepared.kernel.boot_image.clone(),
                initrd: if test.corrupt_initrd {
                    Some(prepared.corrupt_initrd.clone())
                } else {
                    test.initrd.then(|| initrd.path.clone())
                },
                cmdline: qemu::cmdline(arch, &[key.as_deref().unwrap_or(""), test.append]),
            }
        }
    };
    Ok(Machine {
        arch,
        smp: test.smp,
        mem_mib: test.mem_mib,
        boot,
        console: Console::Pipe,
        gdb: false,
        overrides: test.overrides,
    })
}

/// `len` pseudo-random bytes (xorshift64*), deterministic for a seed.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

fn expect_for(arch: Arch, test: &QemuTest, initrd_entries: usize) -> Expect {
    let min = test.min_mem_mib.unwrap_or(test.mem_mib.saturating_sub(64));
    Expect {
        arch,
        mem_mib: min..=test.mem_mib,
        max_cpus: test.smp,
        modules: if test.corrupt_initrd {
            Modules::Invalid
        } else if test.initrd {
            Modules::Entries(initrd_entries)
        } else {
            Modules::NoInitrd
        },
        protocol: (test.medium == Medium::Grub).then_some("Multiboot2"),
        boot_log_contains: test.boot_log_contains,
        outcome: test.outcome,
    }
}

/// The result of one QEMU run.
struct RunResult {
    lines: Vec<String>,
    verdict: Verdict,
    elapsed: Duration,
    ready_after: Option<Duration>,
    stderr: String,
}

/// Boots `machine`, feeds the console steps, and judges the log.
fn run_one(machine: &Machine, exp: &Expect, timeout: Duration) -> RunResult {
    let mut session = match Session::start(machine) {
        Ok(s) => s,
        Err(e) => {
            return RunResult {
                lines: Vec::new(),
                verdict: Verdict::Fail(e.to_string()),
                elapsed: Duration::ZERO,
                ready_after: None,
                stderr: String::new(),
            };
        }
    };
    let started = session.started;
    let deadline = started + timeout;
    let steps: &[ConsoleStep] = match exp.outcome {
        Outcome::Console(steps) | Outcome::Quiet(steps) => steps,
        Outcome::User(_) => POWEROFF_STEPS,
        _ => &[],
    };
    // User rows type their first input once the user checks are met, not at the ready line.
    let user_check = match exp.outcome {
        Outcome::User(check) => Some(check),
        _ => None,
    };
    // A step waiting for its delay: (when to type it, which step).
    let mut pending: Option<(Instant, &ConsoleStep)> = None;
    let mut lines: Vec<String> = Vec::new();
    let mut ready_after = None;
    let mut next_step = 0usize; // index of the next console input to type
    let mut stop_at: Option<Instant> = None; // set once the log went wrong
    let mut send_error = None;
    let mut closed = false;

    while !closed {
        let now = Instant::now();
        let limit = stop_at.map_or(deadline, |s| s.min(deadline));
        if now >= limit {
            break;
        }
        if let Some((when, step)) = pending
            && now >= when
        {
            if let Err(e) = session.send(step.input) {
                send_error = Some(e.to_string());
            }
            pending = None;
        }
        let wake = pending.map_or(limit, |(when, _)| when.min(limit));
        match session.next_event(wake.saturating_duration_since(now)) {
            None => continue,
            Some(qemu::Event::Closed) => closed = true,
            Some(qemu::Event::Line(line, at)) => {
                let is_ready = line.starts_with(READY_PREFIX) && ready_after.is_none();
                if is_ready {
                    ready_after = Some(at.duration_since(started));
                }
                // Type the next console line after the ready line, then after each reply.
                let answered = next_step > 0 && steps.get(next_step - 1).is_some_and(|s| line.contains(s.expect));
                let start = match user_check {
                    None => is_ready,
                    Some(check) => {
                        let mut with_line = lines.clone();
                        with_line.push(line.clone());
                        logcheck::user_done(&with_line, check)
                    }
                };
                if ((start && next_step == 0) || answered)
                    && let Some(step) = steps.get(next_step)
                {
                    if step.delay_ms > 0 {
                        pending = Some((Instant::now() + Duration::from_millis(step.delay_ms), step));
                    } else if let Err(e) = session.send(step.input) {
                        send_error = Some(e.to_string());
                    }
                    next_step += 1;
                }
                let fatal = logcheck::is_unexpected_fatal(&line, exp.outcome);
                lines.push(line);
                // Stop soon (after the rest of a fault report) once the log is certainly wrong.
                if stop_at.is_none()
                    && (fatal
                        || (lines.len() <= EVALUATE_LINES
                            && matches!(logcheck::evaluate(&lines, exp, Exit::Running), Verdict::Fail(_))))
                {
                    stop_at = Some(Instant::now() + FATAL_GRACE);
                }
            }
        }
    }
    let timed_out = !closed && stop_at.is_none_or(|s| deadline <= s);
    let (status, stderr) = session.finish(if closed { EXIT_GRACE } else { Duration::ZERO });
    let elapsed = started.elapsed();
    let exit = match status {
        Some(s) => s.code().map_or(Exit::Signal, Exit::Status),
        None => Exit::Running,
    };
    let verdict = match logcheck::evaluate(&lines, exp, exit) {
        Verdict::Pending(what) if timed_out => {
            Verdict::Fail(format!("timed out after {} s waiting for {what}", timeout.as_secs()))
        }
        Verdict::Pending(what) => Verdict::Fail(format!("QEMU stopped before {what}")),
        Verdict::Fail(reason) => Verdict::Fail(match &send_error {
            Some(e) => format!("{reason} ({e})"),
            None => reason,
        }),
        Verdict::Pass => Verdict::Pass,
    };
    RunResult { lines, verdict, elapsed, ready_after, stderr }
}

fn save_log(path: &Path, result: &RunResult) -> Result<()> {
    let mut text = result.lines.join("\n");
    text.push('\n');
    if !result.stderr.trim().is_empty() {
        text.push_str("--- QEMU stderr ---\n");
        text.push_str(&result.stderr);
    }
    util::write_file(path, text.as_bytes())
}

fn print_failure(machine: &Machine, result: &RunResult, log_path: &Path) {
    println!("    command: {}", machine.display());
    if !result.stderr.trim().is_empty() {
        for line in result.stderr.lines().take(10) {
            println!("    qemu: {line}");
        }
    }
    let skip = result.lines.len().saturating_sub(TAIL_LINES);
    println!("    last {} serial lines (full log: {}):", result.lines.len() - skip, display_path(log_path));
    for line in result.lines.iter().skip(skip) {
        println!("    | {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_results_are_added_up() {
        let out = "\
running 3 tests
test a ... ok
test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

test result: FAILED. 10 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.10s
   Doc-tests cambios_abi
test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
test something_named_test_result ... ok
";
        assert_eq!(parse_cargo_results(out), Tally { passed: 13, failed: 2, skipped: 0 });
    }

    #[test]
    fn summary_line() {
        assert_eq!(Tally { passed: 5, failed: 0, skipped: 0 }.summary(), "5 passed, 0 failed");
        assert_eq!(Tally { passed: 5, failed: 1, skipped: 2 }.summary(), "5 passed, 1 failed, 2 skipped");
    }

    #[test]
    fn matrix_names_are_unique_and_complete() {
        let names: Vec<&str> = MATRIX.iter().map(|t| t.name).collect();
        for (i, name) in names.iter().enumerate() {
            assert!(!names[..i].contains(name), "duplicate test {name}");
        }
        for want in [
            "boot",
            "no-initrd",
            "mem-128M",
            "mem-2G",
            "smp-1",
            "fault",
            "panic",
            "stack-overflow",
            "console",
            "grub-multiboot2",
        ] {
            assert!(names.contains(&want), "{want}");
        }
    }

    #[test]
    fn selection_by_arch_and_filter() {
        let for_arch = |arch: Arch| MATRIX.iter().filter(|t| t.only.is_none_or(|only| only == arch)).count();
        assert_eq!(selected(Arch::X86_64, None).len(), for_arch(Arch::X86_64));
        assert_eq!(selected(Arch::Riscv64, None).len(), for_arch(Arch::Riscv64));
        assert!(for_arch(Arch::Riscv64) < MATRIX.len());
        let picked: Vec<&str> = selected(Arch::Riscv64, Some("fault")).iter().map(|t| t.name).collect();
        assert_eq!(picked, ["fault", "user-faults"]);
        assert!(selected(Arch::Aarch64, Some("riscv64/")).is_empty());
        assert_eq!(selected(Arch::Aarch64, Some("aarch64/")).len(), for_arch(Arch::Aarch64));
    }

    fn row(name: &str) -> &'static QemuTest {
        MATRIX.iter().find(|t| t.name == name).unwrap_or(&BOOT)
    }

    #[test]
    fn expectations_follow_the_rows() {
        let boot = expect_for(Arch::Aarch64, row("boot"), 3);
        assert_eq!(boot.mem_mib, 192..=256);
        assert_eq!((boot.max_cpus, boot.modules, boot.protocol), (2, Modules::Entries(3), None));
        assert_eq!(boot.outcome, Outcome::Selftest("ticks"));
        assert_eq!(expect_for(Arch::X86_64, row("mem-2G"), 1).mem_mib, 1900..=2048);
        assert_eq!(expect_for(Arch::X86_64, row("mem-128M"), 1).mem_mib, 64..=128);
        assert_eq!(expect_for(Arch::X86_64, row("no-initrd"), 1).modules, Modules::NoInitrd);
        assert_eq!(expect_for(Arch::X86_64, row("smp-1"), 1).max_cpus, 1);
        assert_eq!(expect_for(Arch::X86_64, row("grub-multiboot2"), 1).protocol, Some("Multiboot2"));
        assert_eq!(expect_for(Arch::X86_64, row("fault"), 1).outcome.exit_code(), cambios_abi::exit::ExitCode::Failure);
        assert!(row("console").selftest.is_none());
    }
}
