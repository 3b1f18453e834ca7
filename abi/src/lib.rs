// SPDX-License-Identifier: AGPL-3.0-or-later
//! The CambiOS ABI: everything the kernel shares with user space and with host tools.
//!
//! `no_std`, no dependencies. It holds the architecture names, the QEMU exit codes, the fixed
//! boot-log contract that tests and scripts parse, the initrd format, and the user-space
//! contract: syscall numbers and calling convention ([`syscall`]), typed errors ([`error`]),
//! capabilities ([`cap`]) and the user address-space layout ([`layout`]).
//! `docs/abi/syscalls.md` is the reference for user programs.
#![cfg_attr(not(test), no_std)]

pub mod audit;
pub mod bootlog;
pub mod cap;
pub mod error;
pub mod exit;
pub mod initrd;
pub mod ipc;
pub mod layout;
pub mod syscall;

/// The architectures CambiOS runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// x86-64 (PVH or Multiboot2 boot).
    X86_64,
    /// AArch64 (arm64 Image boot).
    Aarch64,
    /// RISC-V RV64GC (OpenSBI S-mode payload).
    Riscv64,
}

impl Arch {
    /// Every supported architecture, in the order tests run them.
    pub const ALL: [Arch; 3] = [Arch::X86_64, Arch::Aarch64, Arch::Riscv64];

    /// The name used in the boot log, in `make ARCH=`, and in file names.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// Parses a name as printed by [`Arch::name`]; a few common aliases are accepted.
    pub fn from_name(name: &str) -> Option<Arch> {
        match name {
            "x86_64" | "x86-64" | "amd64" | "x64" => Some(Arch::X86_64),
            "aarch64" | "arm64" => Some(Arch::Aarch64),
            "riscv64" | "riscv64gc" | "riscv" => Some(Arch::Riscv64),
            _ => None,
        }
    }

    /// The Rust target triple the kernel is built for. All three are soft-float: the kernel
    /// never touches FP/SIMD registers, so a trap need not save them (they belong to user
    /// threads; docs/adr/0005).
    pub const fn kernel_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-none",
            Arch::Aarch64 => "aarch64-unknown-none-softfloat",
            Arch::Riscv64 => "riscv64imac-unknown-none-elf",
        }
    }

    /// The Rust target triple user programs are built for. User code may use FP/SIMD on
    /// AArch64 and RISC-V (the kernel saves that state per thread); x86_64 user programs use
    /// the soft-float target because stable Rust has no hard-float bare-metal x86_64 target.
    pub const fn user_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-none",
            Arch::Aarch64 => "aarch64-unknown-none",
            Arch::Riscv64 => "riscv64gc-unknown-none-elf",
        }
    }

    /// The ELF `e_machine` value of this architecture's binaries.
    pub const fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => 62,
            Arch::Aarch64 => 183,
            Arch::Riscv64 => 243,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for arch in Arch::ALL {
            assert_eq!(Arch::from_name(arch.name()), Some(arch));
        }
        assert_eq!(Arch::from_name("arm64"), Some(Arch::Aarch64));
        assert_eq!(Arch::from_name("mips"), None);
    }
}
