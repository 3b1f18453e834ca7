// SPDX-License-Identifier: AGPL-3.0-or-later
//! Exit codes the kernel reports to the machine (QEMU exit device) when it powers off.
//!
//! x86_64 writes the code to the `isa-debug-exit` port, so QEMU exits with `(code << 1) | 1`;
//! aarch64 (PSCI) and riscv64 (SBI SRST) can only signal "off" (QEMU status 0) or, on riscv64,
//! a system failure. The serial log stays the source of truth; the exit status only confirms.

/// Why the kernel stopped the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// Requested power-off, or a test that passed.
    Success = 0x10,
    /// A test that failed, or a kernel panic.
    Failure = 0x11,
}

impl ExitCode {
    /// The process status QEMU returns for this code with `isa-debug-exit` on x86_64.
    pub const fn x86_qemu_status(self) -> i32 {
        ((self as i32) << 1) | 1
    }

    /// Maps a QEMU process status back to an exit code, given the architecture's convention.
    /// Returns `None` for a status the kernel never produces (for example QEMU's own errors).
    pub fn from_qemu_status(arch: crate::Arch, status: i32) -> Option<ExitCode> {
        match arch {
            crate::Arch::X86_64 => {
                [ExitCode::Success, ExitCode::Failure].into_iter().find(|code| code.x86_qemu_status() == status)
            }
            crate::Arch::Aarch64 | crate::Arch::Riscv64 => match status {
                0 => Some(ExitCode::Success),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Arch;

    #[test]
    fn x86_status_mapping() {
        assert_eq!(ExitCode::Success.x86_qemu_status(), 0x21);
        assert_eq!(ExitCode::Failure.x86_qemu_status(), 0x23);
        assert_eq!(ExitCode::from_qemu_status(Arch::X86_64, 0x21), Some(ExitCode::Success));
        assert_eq!(ExitCode::from_qemu_status(Arch::X86_64, 0x23), Some(ExitCode::Failure));
        assert_eq!(ExitCode::from_qemu_status(Arch::X86_64, 1), None);
        assert_eq!(ExitCode::from_qemu_status(Arch::Riscv64, 0), Some(ExitCode::Success));
    }
}
