// SPDX-License-Identifier: AGPL-3.0-or-later
//! The fixed boot-log contract (documented in `docs/boot.md`).
//!
//! Milestone lines start with a bracketed subsystem tag (`[memory] `, `[paging] `, ...). The boot
//! ends with exactly one [`READY_PREFIX`] line:
//! `CambiOS ready: arch=<x86_64|aarch64|riscv64> cpus=<n> mem=<MiB>MiB`.
//! Tests and scripts wait for that line; it is built and parsed only through this module.

use core::fmt;

/// Start of the single line that says the boot finished.
pub const READY_PREFIX: &str = "CambiOS ready: ";

/// Milestone tags, in the order their first lines appear in every boot log.
pub const MILESTONES: [&str; 11] = [
    "[boot]",
    "[memory]",
    "[reserved]",
    "[frames]",
    "[paging]",
    "[heap]",
    "[tables]",
    "[traps]",
    "[irq]",
    "[timer]",
    "[modules]",
];

/// Tag of the lines a self-test kernel (cargo feature `selftest`) prints after the ready line.
/// A passing test prints `[selftest] <name>: passed (<detail>)`, a failing one
/// `[selftest] <name>: FAILED: <reason>`.
pub const SELFTEST_TAG: &str = "[selftest]";
/// Tag of every line of a fault report (vector, faulting address, PC, registers).
pub const FAULT_TAG: &str = "[fault]";
/// Text a fault report contains when the faulting address is a kernel stack guard page
/// (the `overflow` self-test checks it).
pub const STACK_GUARD_TEXT: &str = "kernel stack guard page";
/// Tag of the panic line: `[panic] kernel panic at <file>:<line>:<column>: <message>`.
pub const PANIC_TAG: &str = "[panic]";
/// The unmapped (lower-half, canonical on every paging mode) address the `fault` self-test
/// reads; the fault report prints it as `addr=0x00000000dead0000`.
pub const TEST_FAULT_ADDR: u64 = 0xdead_0000;
/// Kernel command-line key that selects a self-test (`cambios.test=ticks|fault|panic`).
pub const TEST_CMDLINE_KEY: &str = "cambios.test";
/// Timer ticks the `ticks` self-test waits for.
pub const SELFTEST_MIN_TICKS: u64 = 10;

/// The contents of the ready line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadyLine<'a> {
    /// Architecture name (`x86_64`, `aarch64` or `riscv64`).
    pub arch: &'a str,
    /// CPUs online.
    pub cpus: u32,
    /// Usable RAM in MiB.
    pub mem_mib: u64,
}

impl fmt::Display for ReadyLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{READY_PREFIX}arch={} cpus={} mem={}MiB", self.arch, self.cpus, self.mem_mib)
    }
}

impl<'a> ReadyLine<'a> {
    /// Parses a ready line (surrounding whitespace and a trailing `\r` are ignored).
    pub fn parse(line: &'a str) -> Option<ReadyLine<'a>> {
        let rest = line.trim().strip_prefix(READY_PREFIX)?;
        let mut fields = rest.split(' ');
        let arch = fields.next()?.strip_prefix("arch=")?;
        let cpus = fields.next()?.strip_prefix("cpus=")?.parse().ok()?;
        let mem_mib = fields.next()?.strip_prefix("mem=")?.strip_suffix("MiB")?.parse().ok()?;
        if fields.next().is_some() || crate::Arch::from_name(arch).is_none() {
            return None;
        }
        Some(ReadyLine { arch, cpus, mem_mib })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_line_round_trips() {
        let line = ReadyLine { arch: "riscv64", cpus: 2, mem_mib: 126 };
        let text = std::format!("{line}");
        assert_eq!(text, "CambiOS ready: arch=riscv64 cpus=2 mem=126MiB");
        assert_eq!(ReadyLine::parse(&text), Some(line));
        assert_eq!(ReadyLine::parse("CambiOS ready: arch=riscv64 cpus=2 mem=126MiB\r"), Some(line));
    }

    #[test]
    fn ready_line_rejects_garbage() {
        assert_eq!(ReadyLine::parse("CambiOS ready: arch=mips cpus=1 mem=1MiB"), None);
        assert_eq!(ReadyLine::parse("CambiOS ready: arch=x86_64 cpus=x mem=1MiB"), None);
        assert_eq!(ReadyLine::parse("CambiOS ready: arch=x86_64 cpus=1 mem=1MiB extra"), None);
        assert_eq!(ReadyLine::parse("ready: arch=x86_64 cpus=1 mem=1MiB"), None);
    }
}
