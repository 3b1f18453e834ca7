// SPDX-License-Identifier: AGPL-3.0-or-later
//! `cargo xtask grub-iso`: a GRUB rescue ISO that boots the x86_64 kernel through Multiboot2,
//! the way real PCs start CambiOS. The QEMU test `x86_64/grub-multiboot2` boots one.

use std::path::{Path, PathBuf};
use std::process::Command;

use cambios_abi::Arch;

use crate::cli::GrubOpts;
use crate::util::{self, Context, Result, bail, display_path, human_size, status};

/// Where grub-mkrescue finds GRUB's BIOS platform files.
const GRUB_BIOS_DIR: &str = "/usr/lib/grub/i386-pc";

/// Why an ISO cannot be made here, or `None` if the tools are installed.
pub fn missing_tools() -> Option<String> {
    let missing: Vec<&str> =
        ["grub-mkrescue", "xorriso"].into_iter().filter(|tool| util::find_in_path(tool).is_none()).collect();
    if !missing.is_empty() {
        return Some(format!("{} not installed", missing.join(" and ")));
    }
    if !Path::new(GRUB_BIOS_DIR).is_dir() {
        return Some(format!("GRUB's BIOS files ({GRUB_BIOS_DIR}, package grub-pc-bin) are not installed"));
    }
    None
}

/// The `grub.cfg` that boots `/boot/kernel.elf` with `cmdline` (and `/boot/initrd.img`).
pub fn grub_cfg(cmdline: &str, initrd: bool) -> Result<String> {
    // Keep GRUB's own parser out of it: no quoting, variables or separators.
    if let Some(c) = cmdline.chars().find(|c| "'\"\\$;{}#\n\r".contains(*c)) {
        bail!("the kernel command line for GRUB must not contain {c:?}: {cmdline}");
    }
    let mut cfg = String::from("set timeout=0\nset default=0\n\nmenuentry \"CambiOS\" {\n");
    cfg.push_str(&format!("    multiboot2 /boot/kernel.elf {cmdline}\n"));
    if initrd {
        cfg.push_str("    module2 /boot/initrd.img initrd\n");
    }
    cfg.push_str("    boot\n}\n");
    Ok(cfg)
}

/// Builds a bootable ISO at `out` from the kernel ELF and (optionally) the initrd.
pub fn make_iso(kernel_elf: &Path, initrd: Option<&Path>, cmdline: &str, out: &Path) -> Result<()> {
    if let Some(missing) = missing_tools() {
        bail!("cannot build a GRUB ISO: {missing} (Debian: apt-get install grub-pc-bin xorriso mtools)");
    }
    let cfg = grub_cfg(cmdline, initrd.is_some())?;
    let staging = out.with_extension("iso.d");
    let _ = std::fs::remove_dir_all(&staging);
    let boot = staging.join("boot");
    util::write_file(&boot.join("grub").join("grub.cfg"), cfg.as_bytes())?;
    util::write_file(&boot.join("kernel.elf"), &util::read_file(kernel_elf)?)?;
    if let Some(initrd) = initrd {
        util::write_file(&boot.join("initrd.img"), &util::read_file(initrd)?)?;
    }
    let output = Command::new("grub-mkrescue")
        .arg("-o")
        .arg(out)
        .arg(&staging)
        .output()
        .context("cannot start grub-mkrescue")?;
    if !output.status.success() {
        bail!(
            "grub-mkrescue failed ({}):\n{}",
            util::describe_status(output.status),
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    let _ = std::fs::remove_dir_all(&staging);
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    status("Mastering", format!("{} ({})", display_path(out), human_size(size)));
    Ok(())
}

/// `cargo xtask grub-iso`: build the kernel and initrd, then `build/x86_64/cambios.iso`.
pub fn command(opts: &GrubOpts) -> Result<PathBuf> {
    let kernel = crate::build::build(&opts.build)?;
    let initrd = crate::initrd::build(
        Arch::X86_64,
        &crate::boot_services(&opts.extra_modules)?,
        opts.build.release,
        "initrd.img",
    )?;
    let cmdline = crate::qemu::cmdline(Arch::X86_64, &[opts.append.as_deref().unwrap_or("")]);
    let name = if opts.build.selftest { "cambios-selftest.iso" } else { "cambios.iso" };
    let iso = crate::build::arch_dir(Arch::X86_64).join(name);
    make_iso(&kernel.elf, Some(&initrd.path), &cmdline, &iso)?;
    let machine = crate::qemu::Machine {
        arch: Arch::X86_64,
        smp: crate::cli::DEFAULT_SMP,
        mem_mib: crate::cli::DEFAULT_MEM_MIB,
        boot: crate::qemu::Boot::Cdrom(iso.clone()),
        console: crate::qemu::Console::Terminal,
        gdb: false,
        overrides: crate::qemu::Overrides::default(),
    };
    eprintln!("{:12} boot it with: {}", "", machine.display());
    Ok(iso)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_boots_multiboot2_with_module() {
        let cfg = grub_cfg("console=ttyS0 cambios.test=ticks", true).unwrap();
        assert!(cfg.contains("    multiboot2 /boot/kernel.elf console=ttyS0 cambios.test=ticks\n"));
        assert!(cfg.contains("    module2 /boot/initrd.img initrd\n"));
        assert!(cfg.contains("    boot\n"));
        assert!(cfg.contains("set timeout=0"));
        assert!(!grub_cfg("x", false).unwrap().contains("module2"));
        assert!(grub_cfg("x; reboot", true).is_err());
    }
}
