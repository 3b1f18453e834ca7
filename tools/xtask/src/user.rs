// SPDX-License-Identifier: AGPL-3.0-or-later
//! `cargo xtask user`: builds the user programs (`user/programs/*`, a separate cargo workspace
//! with the runtime `user/libsys`) for an architecture and copies their ELFs, unsigned, to
//! `build/<arch>/user/<name>.elf`.
//!
//! Cargo runs in `user/` so `user/.cargo/config.toml` applies (static relocation model and frame
//! pointers on the AArch64 and RISC-V user targets), with its own target directory
//! (`<target>/user`): the user targets and profiles differ from the kernel's.

use std::path::{Path, PathBuf};

use cambios_abi::Arch;
use cambios_abi::layout::USER_IMAGE_BASE;
use object::Endianness;
use object::elf::{ET_EXEC, FileHeader64, Machine};
use object::read::elf::FileHeader;

use crate::build::arch_dir;
use crate::util::{self, Context, Result, bail, display_path};

/// One built user program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserProgram {
    /// The program (and boot module) name: its directory under `user/programs/`.
    pub name: String,
    /// `build/<arch>/user/<name>.elf`.
    pub elf: PathBuf,
}

/// `user/` (the user-space workspace).
pub fn user_root() -> PathBuf {
    util::root().join("user")
}

/// `build/<arch>/user/`.
pub fn output_dir(arch: Arch) -> PathBuf {
    arch_dir(arch).join("user")
}

/// The programs: every directory in `user/programs/` with a `Cargo.toml`, sorted. Each is a
/// package whose binary has the directory's name.
pub fn program_names(user_root: &Path) -> Result<Vec<String>> {
    let dir = user_root.join("programs");
    let entries = std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", display_path(&dir)))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", display_path(&dir)))?;
        if entry.path().join("Cargo.toml").is_file()
            && let Some(name) = entry.file_name().to_str()
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    if names.is_empty() {
        bail!("no user programs in {}", display_path(&dir));
    }
    Ok(names)
}

/// Checks what the kernel's loader will insist on anyway, so a broken build fails here with a
/// clear message: a static (ET_EXEC) ELF64 for `arch` entered inside the image.
fn check_elf(arch: Arch, name: &str, bytes: &[u8]) -> Result<()> {
    let header =
        FileHeader64::<Endianness>::parse(bytes).with_context(|| format!("user program {name}: not a 64-bit ELF"))?;
    let endian = header.endian().with_context(|| format!("user program {name}: bad ELF header"))?;
    if header.e_type(endian) != ET_EXEC {
        bail!(
            "user program {name}: not a static executable (e_type {}; is the relocation model static?)",
            header.e_type(endian)
        );
    }
    let machine = header.e_machine(endian);
    if machine != Machine(arch.elf_machine()) {
        bail!("user program {name}: e_machine {} is not {}", machine.0, arch.name());
    }
    if header.e_entry(endian) < USER_IMAGE_BASE {
        bail!("user program {name}: entry {:#x} below USER_IMAGE_BASE", header.e_entry(endian));
    }
    Ok(())
}

/// Builds every user program for `arch` and copies the ELFs to `build/<arch>/user/`.
pub fn build_user(arch: Arch, release: bool) -> Result<Vec<UserProgram>> {
    let root = user_root();
    let names = program_names(&root)?;
    let triple = arch.user_target();
    let profile = if release { "release" } else { "debug" };
    let target_dir = util::target_dir().join("user");
    util::status("Building", format!("user programs ({triple}, {profile}): {}", names.join(" ")));
    let mut cmd = util::cargo();
    cmd.current_dir(&root).env("CARGO_TARGET_DIR", &target_dir);
    cmd.arg("build").arg("--manifest-path").arg(root.join("Cargo.toml")).args(["--target", triple]);
    if release {
        cmd.arg("--release");
    }
    for name in &names {
        cmd.args(["-p", name]);
    }
    util::run_checked(&mut cmd, &format!("building the {} user programs", arch.name()))?;

    let out_dir = output_dir(arch);
    let mut programs = Vec::new();
    for name in names {
        let built = target_dir.join(triple).join(profile).join(&name);
        if !built.is_file() {
            bail!(
                "cargo built no {} (user/programs/{name} must be a package with a binary named {name})",
                display_path(&built)
            );
        }
        let bytes = util::read_file(&built)?;
        check_elf(arch, &name, &bytes)?;
        let elf = out_dir.join(format!("{name}.elf"));
        util::write_file(&elf, &bytes)?;
        programs.push(UserProgram { name, elf });
    }
    Ok(programs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_listed() {
        let names = program_names(&user_root()).unwrap();
        for expected in ["hello", "child", "spawner", "wx"] {
            assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
        }
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn elf_check_refuses_garbage() {
        assert!(check_elf(Arch::X86_64, "x", b"not an elf").is_err());
    }
}
