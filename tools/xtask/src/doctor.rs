// SPDX-License-Identifier: AGPL-3.0-or-later
//! `cargo xtask doctor`: what this machine has for building, running and debugging CambiOS.

use std::path::Path;
use std::process::Command;

use cambios_abi::Arch;

use crate::util::{self, Color, paint};

/// QEMU major versions the boot protocols and tests were verified with.
const KNOWN_GOOD_QEMU_MAJOR: &[u32] = &[10];
/// Where Debian and QEMU keep OpenSBI's `fw_dynamic` (used by `-bios default`).
const OPENSBI_PATHS: &[&str] = &[
    "/usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin",
    "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin",
];

/// The version in `QEMU emulator version 10.0.2 (Debian ...)`.
pub fn parse_qemu_version(output: &str) -> Option<(String, u32)> {
    let line = output.lines().find(|l| l.contains("version"))?;
    let version = line.split("version").nth(1)?.split_whitespace().next()?.to_string();
    let major = version.split('.').next()?.parse().ok()?;
    Some((version, major))
}

fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn mark(ok: bool) -> String {
    if ok { paint("ok", Color::Green, false) } else { paint("missing", Color::Red, false) }
}

/// Prints the report; returns false if something `run`/`test` need is missing.
pub fn command() -> bool {
    let mut ok = true;
    println!(
        "QEMU (known good: {}):",
        KNOWN_GOOD_QEMU_MAJOR.iter().map(|m| format!("{m}.x")).collect::<Vec<_>>().join(", ")
    );
    for arch in Arch::ALL {
        let program = crate::qemu::program(arch);
        match util::find_in_path(program) {
            None => {
                ok = false;
                println!("  {program:<22} {}", mark(false));
            }
            Some(path) => {
                let version = output_of(program, &["--version"]).and_then(|o| parse_qemu_version(&o));
                let note = match &version {
                    Some((_, major)) if KNOWN_GOOD_QEMU_MAJOR.contains(major) => {
                        paint("known good", Color::Green, false)
                    }
                    Some(_) => paint("untested version", Color::Yellow, false),
                    None => paint("version unknown", Color::Yellow, false),
                };
                let shown = version.map_or("?".to_string(), |(v, _)| v);
                println!("  {program:<22} {shown:<10} {note}  ({})", path.display());
            }
        }
    }

    println!("OpenSBI firmware (riscv64 -bios default):");
    match OPENSBI_PATHS.iter().find(|p| Path::new(p).is_file()) {
        Some(path) => println!("  {path}  {}", mark(true)),
        None => {
            ok = false;
            println!("  fw_dynamic.bin        {} (Debian: apt-get install opensbi)", mark(false));
        }
    }

    println!("Rust targets (rust-toolchain.toml):");
    let installed = output_of("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    let rustc = output_of("rustc", &["--version"]).unwrap_or_else(|| "rustc not found".to_string());
    println!("  {}", rustc.trim());
    for arch in Arch::ALL {
        let target = arch.kernel_target();
        let have = installed.lines().any(|l| l.trim() == target);
        ok &= have;
        let hint = if have { String::new() } else { format!(" (rustup target add {target}, or scripts/setup.sh)") };
        println!("  {target:<28} {}{hint}", mark(have));
    }

    let required: Vec<&str> = Arch::ALL.iter().map(|a| a.kernel_target()).collect();
    let others: Vec<&str> =
        installed.lines().map(str::trim).filter(|t| !t.is_empty() && !required.contains(t)).collect();
    if !others.is_empty() {
        println!("  also installed: {}", others.join(", "));
    }

    println!("Debugging and optional tools:");
    for (tool, why) in [
        ("gdb-multiarch", "`run --gdb` (Debian: apt-get install gdb-multiarch)"),
        ("grub-mkrescue", "the x86_64 GRUB test (Debian: apt-get install grub-pc-bin)"),
        ("xorriso", "the x86_64 GRUB test (Debian: apt-get install xorriso)"),
    ] {
        let found = util::find_in_path(tool);
        let state = match &found {
            Some(path) => format!("{}  ({})", mark(true), path.display()),
            None => format!("{} (optional: {why})", paint("not found", Color::Yellow, false)),
        };
        println!("  {tool:<22} {state}");
    }
    if let Some(why) = crate::grub::missing_tools() {
        println!("  GRUB ISO               {} ({why})", paint("unavailable", Color::Yellow, false));
    }

    println!();
    if ok {
        println!("Everything `make run` and `make test` need is installed.");
    } else {
        println!("Something required is missing: run scripts/setup.sh (as root on Debian it installs it).");
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_version_line() {
        let out = "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright (c) 2003-2025\n";
        assert_eq!(parse_qemu_version(out), Some(("10.0.2".to_string(), 10)));
        assert_eq!(parse_qemu_version("nothing"), None);
    }
}
