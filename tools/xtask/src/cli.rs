// SPDX-License-Identifier: AGPL-3.0-or-later
//! Command-line parsing (hand-written: a dozen options do not need a framework) and the help
//! text.

use std::path::PathBuf;

use cambios_abi::Arch;

use crate::util::{Error, Result, bail};

/// Default `-smp`.
pub const DEFAULT_SMP: u32 = 2;
/// Default `-m`, in MiB.
pub const DEFAULT_MEM_MIB: u64 = 256;
/// Default host-side timeout of one QEMU test, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;
/// Most CPUs `--smp` accepts (QEMU `virt` with GICv3 and `pc` both go this high).
pub const MAX_SMP: u32 = 64;
/// Accepted `--mem` range, in MiB.
pub const MEM_RANGE_MIB: std::ops::RangeInclusive<u64> = 32..=65536;

/// What to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildOpts {
    /// Target architecture.
    pub arch: Arch,
    /// Release profile instead of debug.
    pub release: bool,
    /// Build with the `selftest` feature.
    pub selftest: bool,
}

/// `cargo xtask initrd`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitrdOpts {
    /// Target architecture (selects `build/<arch>/`).
    pub arch: Arch,
    /// Extra module files (added unchanged, listed in the manifest).
    pub extra_modules: Vec<PathBuf>,
    /// Build the user programs in release mode.
    pub release: bool,
}

/// `cargo xtask user`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserOpts {
    /// Target architecture.
    pub arch: Arch,
    /// Release profile instead of debug.
    pub release: bool,
}

/// `cargo xtask run`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOpts {
    /// The kernel to build.
    pub build: BuildOpts,
    /// CPUs.
    pub smp: u32,
    /// RAM in MiB.
    pub mem_mib: u64,
    /// Boot without an initrd.
    pub no_initrd: bool,
    /// Extra kernel command-line text.
    pub append: Option<String>,
    /// Start QEMU's gdb stub and wait for a debugger.
    pub gdb: bool,
    /// Files added to the initrd.
    pub extra_modules: Vec<PathBuf>,
}

/// Which half of the tests to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// `cargo test` on the host crates.
    Host,
    /// The QEMU boot-test matrix.
    Qemu,
    /// Both.
    All,
}

/// `cargo xtask test`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestOpts {
    /// Host, QEMU or both.
    pub suite: Suite,
    /// Architectures for the QEMU tests.
    pub arches: Vec<Arch>,
    /// Only QEMU tests whose `<arch>/<name>` contains this.
    pub filter: Option<String>,
    /// Host-side timeout per QEMU test, in seconds.
    pub timeout_secs: u64,
}

/// `cargo xtask grub-iso`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrubOpts {
    /// The kernel to build (always x86_64).
    pub build: BuildOpts,
    /// Extra kernel command-line text.
    pub append: Option<String>,
    /// Files added to the initrd.
    pub extra_modules: Vec<PathBuf>,
}

/// `cargo xtask bench`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchOpts {
    /// Architectures to measure.
    pub arches: Vec<Arch>,
    /// Boots per architecture.
    pub runs: u32,
}

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Print the help text.
    Help,
    /// Build the kernel and its boot image.
    Build(BuildOpts),
    /// Build the initrd.
    Initrd(InitrdOpts),
    /// Build the user programs.
    User(UserOpts),
    /// Build and boot in QEMU.
    Run(RunOpts),
    /// Run tests.
    Test(TestOpts),
    /// Clippy and rustfmt over everything.
    CheckAll,
    /// Source statistics.
    Stats,
    /// Environment report.
    Doctor,
    /// Build a GRUB rescue ISO.
    GrubIso(GrubOpts),
    /// Benchmarks.
    Bench(BenchOpts),
    /// Hidden: the echo process of the host pipe benchmark (`hostpipe::echo`).
    PipeEcho,
}

/// The help text (`cargo xtask help`).
pub const HELP: &str = "\
cargo xtask: build, run and test CambiOS

USAGE:
    cargo xtask <COMMAND> [OPTIONS]

COMMANDS:
    help                  Show this text (also -h, --help, or no command)
    build                 Build the kernel and its boot image in build/<arch>/
        --arch A              x86_64 (default), aarch64 or riscv64 (also a bare word)
        --release             Release profile (default: debug)
        --selftest            Build with the `selftest` feature (kernel-selftest.elf/.img)
    initrd                Pack boot/modules/* (+ extra files) into build/<arch>/initrd.img
        --arch A
        --extra-modules a,b   Extra files; each entry is named after its file name
    user                  Build the user programs (user/programs/*) into build/<arch>/user/
        --arch A  --release
    run                   build + initrd, then boot in QEMU (TCG) with the serial console here
        --arch A  --release  --selftest  --extra-modules a,b
        --smp N               CPUs (default 2)
        --mem M               RAM: 256M, 2G or MiB (default 256M)
        --no-initrd           Boot without an initrd
        --append \"...\"        Extra kernel command line (e.g. \"cambios.log=debug\")
        --gdb                 Start QEMU's gdb stub (:1234) and wait for the debugger
    test [host|qemu|all]  Run tests (default all); ends with one `N passed, M failed` line
        --arch A|all          Architectures for the QEMU tests (default all)
        --filter S            Only QEMU tests whose <arch>/<name> contains S
        --timeout SECS        Host-side timeout per QEMU test (default 60; GRUB gets >= 120)
    bench                 Boot time, memory at ready, syscall/switch/spawn costs and IPC call/reply
                          round trips (guest instructions, QEMU -icount) vs a host pipe ping-pong,
                          and IPC throughput of 4 independent pairs on 1, 2 and 4 CPUs (real time)
        --arch A|all          Architectures (default all)
        --runs N              Boots per architecture (default 3)
    check-all             clippy -D warnings on the 3 kernel targets (+selftest), the host
                          crates, and rustfmt --check
    stats                 Lines of code per area, #[test] counts, syscall count
    doctor                QEMU, firmware, Rust targets, gdb and GRUB tools found here
    grub-iso              x86_64 only: build/x86_64/cambios.iso (GRUB, Multiboot2)
        --release  --selftest  --append \"...\"  --extra-modules a,b

OUTPUT:
    build/<arch>/kernel.elf    kernel ELF (x86_64, riscv64 boot it directly; symbols for gdb)
    build/<arch>/kernel.img    aarch64 flat arm64 Image made from the ELF
    build/<arch>/initrd.img    CAMBINIT boot-module archive
    build/<arch>/user/<name>.elf   user program ELFs (unsigned)
    build/test-logs/<arch>-<test>.log   serial log of every QEMU test

EXAMPLES:
    cargo xtask run --arch aarch64 --smp 4 --mem 1G
    cargo xtask run riscv64 --append \"cambios.hz=250\" --gdb
    cargo xtask test qemu --arch riscv64 --filter fault
    cargo xtask test host
    cargo xtask build --arch aarch64 --release
    printf 'uptime\\npoweroff\\n' | cargo xtask run --arch x86_64   # scripted console

QEMU's serial console: in a terminal press Ctrl-A X to quit (Ctrl-A C: monitor). With stdin
not a terminal, stdin/stdout are the serial line (input is passed on once the kernel prints its
`CambiOS ready:` line), so scripts can drive the boot monitor.
";

/// Parses an architecture name, with the error message users see.
pub fn parse_arch(name: &str) -> Result<Arch> {
    Arch::from_name(name)
        .ok_or_else(|| Error::new(format!("unknown architecture '{name}' (expected x86_64, aarch64 or riscv64)")))
}

/// Parses `--mem`: `256M`, `2G`, `512MiB`, `1GB` or a plain number of MiB.
pub fn parse_mem(text: &str) -> Result<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let factor = match unit {
        "" | "m" | "mb" | "mib" => 1,
        "g" | "gb" | "gib" => 1024,
        _ => bail!("invalid memory size '{text}' (expected e.g. 256M, 2G or a number of MiB)"),
    };
    let mib = digits.parse::<u64>().ok().and_then(|n| n.checked_mul(factor)).ok_or_else(|| {
        Error::new(format!("invalid memory size '{text}' (expected e.g. 256M, 2G or a number of MiB)"))
    })?;
    if !MEM_RANGE_MIB.contains(&mib) {
        bail!(
            "memory size '{text}' out of range ({} MiB to {} GiB)",
            MEM_RANGE_MIB.start(),
            MEM_RANGE_MIB.end() / 1024
        );
    }
    Ok(mib)
}

/// Parses `--arch` of `test` and `bench`: `all` or a comma-separated list of names.
fn parse_arch_list(text: &str) -> Result<Vec<Arch>> {
    if text == "all" { Ok(Arch::ALL.to_vec()) } else { text.split(',').map(parse_arch).collect() }
}

fn parse_smp(text: &str) -> Result<u32> {
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_SMP).contains(&n) => Ok(n),
        _ => bail!("invalid --smp '{text}' (expected a number of CPUs from 1 to {MAX_SMP})"),
    }
}

fn parse_timeout(text: &str) -> Result<u64> {
    match text.parse::<u64>() {
        Ok(n) if (1..=3600).contains(&n) => Ok(n),
        _ => bail!("invalid --timeout '{text}' (expected seconds, 1 to 3600)"),
    }
}

fn parse_list(text: &str) -> Vec<PathBuf> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(PathBuf::from).collect()
}

/// Walks the words after the command name: `--flag`, `--opt value`, `--opt=value`, words.
struct Words<'a> {
    command: &'a str,
    rest: std::slice::Iter<'a, String>,
}

enum Word<'a> {
    /// `--name`, with an inline `=value` if one was given.
    Opt(&'a str, Option<&'a str>),
    /// Anything else.
    Plain(&'a str),
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Option<Word<'a>> {
        let word = self.rest.next()?;
        Some(match word.strip_prefix("--") {
            Some(opt) if !opt.is_empty() => match opt.split_once('=') {
                Some((name, value)) => Word::Opt(name, Some(value)),
                None => Word::Opt(opt, None),
            },
            _ if word == "-h" => Word::Opt("help", None),
            _ => Word::Plain(word),
        })
    }

    /// The value of `--name`: inline or the next word.
    fn value(&mut self, name: &str, inline: Option<&'a str>) -> Result<&'a str> {
        if let Some(v) = inline {
            return Ok(v);
        }
        match self.rest.next() {
            Some(v) => Ok(v),
            None => bail!("option --{name} needs a value (see `cargo xtask help`)"),
        }
    }

    fn flag(&self, name: &str, inline: Option<&str>) -> Result<bool> {
        match inline {
            None => Ok(true),
            Some(_) => bail!("option --{name} takes no value"),
        }
    }

    fn unknown_option(&self, name: &str) -> Error {
        Error::new(format!("unknown option '--{name}' for `cargo xtask {}` (see `cargo xtask help`)", self.command))
    }

    fn unexpected(&self, word: &str) -> Error {
        Error::new(format!("unexpected argument '{word}' for `cargo xtask {}` (see `cargo xtask help`)", self.command))
    }
}

/// The options shared by `build`, `run`, `initrd` and `grub-iso`; each command accepts the
/// subset it allows.
#[derive(Default)]
struct Common {
    arch: Option<Arch>,
    release: bool,
    selftest: bool,
    smp: Option<u32>,
    mem_mib: Option<u64>,
    no_initrd: bool,
    append: Option<String>,
    gdb: bool,
    extra_modules: Vec<PathBuf>,
}

fn parse_common(command: &str, args: &[String], allowed: &[&str]) -> Result<Option<Common>> {
    let mut words = Words { command, rest: args.iter() };
    let mut c = Common::default();
    while let Some(word) = words.next() {
        match word {
            Word::Opt("help", _) => return Ok(None),
            Word::Opt(name, inline) if allowed.contains(&name) => match name {
                "arch" => c.arch = Some(parse_arch(words.value(name, inline)?)?),
                "release" => c.release = words.flag(name, inline)?,
                "selftest" => c.selftest = words.flag(name, inline)?,
                "smp" => c.smp = Some(parse_smp(words.value(name, inline)?)?),
                "mem" => c.mem_mib = Some(parse_mem(words.value(name, inline)?)?),
                "no-initrd" => c.no_initrd = words.flag(name, inline)?,
                "append" => c.append = Some(words.value(name, inline)?.to_string()),
                "gdb" => c.gdb = words.flag(name, inline)?,
                "extra-modules" => c.extra_modules.extend(parse_list(words.value(name, inline)?)),
                _ => return Err(words.unknown_option(name)),
            },
            Word::Opt(name, _) => return Err(words.unknown_option(name)),
            // A bare architecture name is accepted where --arch is (`cargo xtask run riscv64`).
            Word::Plain(w) if allowed.contains(&"arch") && c.arch.is_none() => c.arch = Some(parse_arch(w)?),
            Word::Plain(w) => return Err(words.unexpected(w)),
        }
    }
    Ok(Some(c))
}

fn parse_test(args: &[String]) -> Result<Option<TestOpts>> {
    let mut words = Words { command: "test", rest: args.iter() };
    let mut opts =
        TestOpts { suite: Suite::All, arches: Arch::ALL.to_vec(), filter: None, timeout_secs: DEFAULT_TIMEOUT_SECS };
    let mut suite_given = false;
    while let Some(word) = words.next() {
        match word {
            Word::Opt("help", _) => return Ok(None),
            Word::Opt("arch", inline) => opts.arches = parse_arch_list(words.value("arch", inline)?)?,
            Word::Opt("filter", inline) => opts.filter = Some(words.value("filter", inline)?.to_string()),
            Word::Opt("timeout", inline) => opts.timeout_secs = parse_timeout(words.value("timeout", inline)?)?,
            Word::Opt(name, _) => return Err(words.unknown_option(name)),
            Word::Plain(w) if !suite_given => {
                suite_given = true;
                opts.suite = match w {
                    "host" => Suite::Host,
                    "qemu" => Suite::Qemu,
                    "all" => Suite::All,
                    _ => bail!("unknown test suite '{w}' (expected host, qemu or all)"),
                };
            }
            Word::Plain(w) => return Err(words.unexpected(w)),
        }
    }
    Ok(Some(opts))
}

fn parse_bench(args: &[String]) -> Result<Option<BenchOpts>> {
    let mut words = Words { command: "bench", rest: args.iter() };
    let mut opts = BenchOpts { arches: Arch::ALL.to_vec(), runs: 3 };
    while let Some(word) = words.next() {
        match word {
            Word::Opt("help", _) => return Ok(None),
            Word::Opt("arch", inline) => opts.arches = parse_arch_list(words.value("arch", inline)?)?,
            Word::Opt("runs", inline) => {
                let value = words.value("runs", inline)?;
                opts.runs = match value.parse::<u32>() {
                    Ok(n) if (1..=100).contains(&n) => n,
                    _ => bail!("invalid --runs '{value}' (expected 1 to 100)"),
                };
            }
            Word::Opt(name, _) => return Err(words.unknown_option(name)),
            Word::Plain(w) => return Err(words.unexpected(w)),
        }
    }
    Ok(Some(opts))
}

fn no_args(command: &str, args: &[String]) -> Result<bool> {
    let mut words = Words { command, rest: args.iter() };
    match words.next() {
        None => Ok(true),
        Some(Word::Opt("help", _)) => Ok(false),
        Some(Word::Opt(name, _)) => Err(words.unknown_option(name)),
        Some(Word::Plain(w)) => Err(words.unexpected(w)),
    }
}

/// Parses the arguments after `xtask`.
pub fn parse(args: &[String]) -> Result<Command> {
    let Some((command, rest)) = args.split_first() else { return Ok(Command::Help) };
    let default_arch = Arch::X86_64;
    let cmd = match command.as_str() {
        "help" | "-h" | "--help" => Some(Command::Help),
        "build" => parse_common("build", rest, &["arch", "release", "selftest"])?.map(|c| {
            Command::Build(BuildOpts { arch: c.arch.unwrap_or(default_arch), release: c.release, selftest: c.selftest })
        }),
        "initrd" => parse_common("initrd", rest, &["arch", "release", "extra-modules"])?.map(|c| {
            Command::Initrd(InitrdOpts {
                arch: c.arch.unwrap_or(default_arch),
                extra_modules: c.extra_modules,
                release: c.release,
            })
        }),
        "user" => parse_common("user", rest, &["arch", "release"])?
            .map(|c| Command::User(UserOpts { arch: c.arch.unwrap_or(default_arch), release: c.release })),
        "run" => parse_common(
            "run",
            rest,
            &["arch", "release", "selftest", "smp", "mem", "no-initrd", "append", "gdb", "extra-modules"],
        )?
        .map(|c| {
            Command::Run(RunOpts {
                build: BuildOpts { arch: c.arch.unwrap_or(default_arch), release: c.release, selftest: c.selftest },
                smp: c.smp.unwrap_or(DEFAULT_SMP),
                mem_mib: c.mem_mib.unwrap_or(DEFAULT_MEM_MIB),
                no_initrd: c.no_initrd,
                append: c.append,
                gdb: c.gdb,
                extra_modules: c.extra_modules,
            })
        }),
        "grub-iso" => parse_common("grub-iso", rest, &["release", "selftest", "append", "extra-modules"])?.map(|c| {
            Command::GrubIso(GrubOpts {
                build: BuildOpts { arch: Arch::X86_64, release: c.release, selftest: c.selftest },
                append: c.append,
                extra_modules: c.extra_modules,
            })
        }),
        "test" => parse_test(rest)?.map(Command::Test),
        "bench" => parse_bench(rest)?.map(Command::Bench),
        "check-all" => no_args("check-all", rest)?.then_some(Command::CheckAll),
        "stats" => no_args("stats", rest)?.then_some(Command::Stats),
        "doctor" => no_args("doctor", rest)?.then_some(Command::Doctor),
        crate::hostpipe::ECHO_COMMAND => Some(Command::PipeEcho),
        other => bail!("unknown command '{other}' (run `cargo xtask help` for the list)"),
    };
    // `<command> --help` shows the help text too.
    Ok(cmd.unwrap_or(Command::Help))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    fn err(line: &str) -> String {
        parse(&args(line)).unwrap_err().to_string()
    }

    #[test]
    fn help_forms() {
        for line in ["", "help", "-h", "--help", "run --help", "test -h", "stats --help"] {
            assert_eq!(parse(&args(line)).unwrap(), Command::Help, "{line:?}");
        }
    }

    #[test]
    fn run_defaults_and_options() {
        let Command::Run(run) = parse(&args("run")).unwrap() else { panic!() };
        assert_eq!(run.build.arch, Arch::X86_64);
        assert_eq!((run.smp, run.mem_mib, run.gdb, run.no_initrd), (2, 256, false, false));
        let Command::Run(run) = parse(&args(
            "run --arch=aarch64 --smp 4 --mem 2G --release --no-initrd --gdb --append x=1 --extra-modules a.elf,b.elf",
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(run.build, BuildOpts { arch: Arch::Aarch64, release: true, selftest: false });
        assert_eq!((run.smp, run.mem_mib, run.gdb, run.no_initrd), (4, 2048, true, true));
        assert_eq!(run.append.as_deref(), Some("x=1"));
        assert_eq!(run.extra_modules, vec![PathBuf::from("a.elf"), PathBuf::from("b.elf")]);
        let Command::Run(run) = parse(&args("run riscv64 --selftest")).unwrap() else { panic!() };
        assert_eq!(run.build, BuildOpts { arch: Arch::Riscv64, release: false, selftest: true });
    }

    #[test]
    fn user_options() {
        assert_eq!(parse(&args("user")).unwrap(), Command::User(UserOpts { arch: Arch::X86_64, release: false }));
        assert_eq!(
            parse(&args("user --arch riscv64 --release")).unwrap(),
            Command::User(UserOpts { arch: Arch::Riscv64, release: true })
        );
        assert_eq!(
            parse(&args("user aarch64")).unwrap(),
            Command::User(UserOpts { arch: Arch::Aarch64, release: false })
        );
        assert!(err("user --selftest").contains("unknown option '--selftest' for `cargo xtask user`"));
    }

    #[test]
    fn test_options() {
        let Command::Test(t) = parse(&args("test")).unwrap() else { panic!() };
        assert_eq!(t.suite, Suite::All);
        assert_eq!(t.arches, Arch::ALL.to_vec());
        assert_eq!(t.timeout_secs, 60);
        let Command::Test(t) = parse(&args("test qemu --arch riscv64 --filter fault --timeout 30")).unwrap() else {
            panic!()
        };
        assert_eq!(t.suite, Suite::Qemu);
        assert_eq!(t.arches, vec![Arch::Riscv64]);
        assert_eq!(t.filter.as_deref(), Some("fault"));
        assert_eq!(t.timeout_secs, 30);
        let Command::Test(t) = parse(&args("test host --arch x86_64,arm64")).unwrap() else { panic!() };
        assert_eq!((t.suite, t.arches), (Suite::Host, vec![Arch::X86_64, Arch::Aarch64]));
    }

    #[test]
    fn errors_are_clear() {
        assert_eq!(err("build --arch mips"), "unknown architecture 'mips' (expected x86_64, aarch64 or riscv64)");
        assert_eq!(err("frobnicate"), "unknown command 'frobnicate' (run `cargo xtask help` for the list)");
        assert_eq!(err("run --smp"), "option --smp needs a value (see `cargo xtask help`)");
        assert!(err("run --smp 0").contains("invalid --smp '0'"));
        assert!(err("run --mem 12X").contains("invalid memory size '12X'"));
        assert!(err("run --mem 1M").contains("out of range"));
        assert_eq!(err("build --gdb"), "unknown option '--gdb' for `cargo xtask build` (see `cargo xtask help`)");
        assert!(err("build --release=yes").contains("takes no value"));
        assert!(err("build x86_64 aarch64").contains("unexpected argument 'aarch64'"));
        assert!(err("test everything").contains("unknown test suite 'everything'"));
        assert!(err("test --timeout 0").contains("invalid --timeout"));
        assert!(err("stats extra").contains("unexpected argument"));
    }

    #[test]
    fn mem_sizes() {
        assert_eq!(parse_mem("256M").unwrap(), 256);
        assert_eq!(parse_mem("256").unwrap(), 256);
        assert_eq!(parse_mem("2G").unwrap(), 2048);
        assert_eq!(parse_mem("1gib").unwrap(), 1024);
        assert_eq!(parse_mem("512MiB").unwrap(), 512);
        assert!(parse_mem("G").is_err());
        assert!(parse_mem("99999999999999999999G").is_err());
    }

    #[test]
    fn help_mentions_every_command() {
        for cmd in ["help", "build", "initrd", "user", "run", "test", "check-all", "stats", "doctor", "grub-iso"] {
            assert!(HELP.contains(&format!("\n    {cmd} ")), "{cmd}");
        }
    }
}
