// SPDX-License-Identifier: AGPL-3.0-or-later
//! `cargo xtask build`: compiles the kernel for an architecture and puts its boot image in
//! `build/<arch>/`.
//!
//! x86_64 and riscv64 boot the ELF itself (PVH / Multiboot2, OpenSBI payload), so the image is
//! a copy of it; aarch64 boots a flat arm64 Image made from the ELF ([`crate::image`]).

use std::path::PathBuf;

use cambios_abi::Arch;

use crate::cli::BuildOpts;
use crate::util::{self, Result, display_path, human_size, status};

/// The files a kernel build produced.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// The ELF with symbols (`build/<arch>/kernel[-selftest].elf`), for gdb.
    pub elf: PathBuf,
    /// What QEMU's `-kernel` gets: the ELF, or the arm64 Image on aarch64.
    pub boot_image: PathBuf,
}

/// `build/` under the workspace root.
pub fn build_root() -> PathBuf {
    util::root().join("build")
}

/// `build/<arch>/`.
pub fn arch_dir(arch: Arch) -> PathBuf {
    build_root().join(arch.name())
}

fn stem(opts: &BuildOpts) -> &'static str {
    if opts.selftest { "kernel-selftest" } else { "kernel" }
}

/// Where cargo leaves the kernel ELF.
fn cargo_output(opts: &BuildOpts) -> PathBuf {
    let profile = if opts.release { "release" } else { "debug" };
    util::target_dir().join(opts.arch.kernel_target()).join(profile).join("kernel")
}

/// Runs cargo for the kernel and produces the boot image.
pub fn build(opts: &BuildOpts) -> Result<Kernel> {
    let triple = opts.arch.kernel_target();
    let profile = if opts.release { "release" } else { "debug" };
    let extra = if opts.selftest { ", selftest" } else { "" };
    status("Building", format!("kernel ({triple}, {profile}{extra})"));
    let mut cmd = util::cargo();
    cmd.args(["build", "-p", "kernel", "--target", triple]);
    if opts.release {
        cmd.arg("--release");
    }
    if opts.selftest {
        cmd.args(["--features", "selftest"]);
    }
    // The public half of the signing key in use becomes the kernel's trusted bootstrap key.
    match crate::services::bootstrap_key_env()? {
        Some(hex) => cmd.env("CAMBIOS_BOOTSTRAP_PUBKEY", hex),
        None => cmd.env_remove("CAMBIOS_BOOTSTRAP_PUBKEY"),
    };
    util::run_checked(&mut cmd, &format!("building the {} kernel", opts.arch.name()))?;

    let built = cargo_output(opts);
    let elf_bytes = util::read_file(&built)?;
    let dir = arch_dir(opts.arch);
    let elf = dir.join(format!("{}.elf", stem(opts)));
    util::write_file(&elf, &elf_bytes)?;
    let boot_image = match opts.arch {
        Arch::X86_64 | Arch::Riscv64 => elf.clone(),
        Arch::Aarch64 => {
            let image = crate::image::arm64_image(&elf_bytes)
                .map_err(|e| util::Error::new(format!("making the arm64 Image from {}: {e}", display_path(&built))))?;
            let path = dir.join(format!("{}.img", stem(opts)));
            util::write_file(&path, &image)?;
            status("Imaging", format!("{} ({})", display_path(&path), human_size(image.len() as u64)));
            path
        }
    };
    if boot_image == elf {
        status("Copying", format!("{} ({})", display_path(&elf), human_size(elf_bytes.len() as u64)));
    }
    Ok(Kernel { elf, boot_image })
}
