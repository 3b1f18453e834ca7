// SPDX-License-Identifier: AGPL-3.0-or-later
//! Syscall numbers, the calling convention and the result encoding.
//!
//! A syscall takes a number and up to six register arguments and returns one signed 64-bit
//! value: zero or positive is success (a count, an address, an id), negative is a
//! [`SysError`](crate::error::SysError). Numbers are permanent: a retired number is never
//! reused. `docs/abi/syscalls.md` documents every entry of [`Syscall`]; a host test checks that
//! the document and this table agree.
//!
//! | arch | trap | number | arguments 1-6 | result | clobbered besides the result |
//! |---|---|---|---|---|---|
//! | x86_64 | `syscall` | `rax` | `rdi rsi rdx r10 r8 r9` | `rax` | `rcx r11` |
//! | aarch64 | `svc #0` | `x8` | `x0`-`x5` | `x0` | none |
//! | riscv64 | `ecall` | `a7` | `a0`-`a5` | `a0` | none |

use crate::cap::Capability;
use crate::error::SysError;

/// Every syscall, by number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Syscall {
    /// End the calling process with an exit code. Never returns.
    Exit = 0,
    /// Give up the rest of the time slice.
    Yield = 1,
    /// Sleep for a number of nanoseconds.
    Sleep = 2,
    /// The caller's process id.
    GetPid = 3,
    /// Copy the caller's 32-byte Principal to a user buffer.
    GetPrincipal = 4,
    /// Write bytes to the system console.
    ConsoleWrite = 5,
    /// Map zeroed anonymous memory.
    MapAnon = 6,
    /// Unmap memory mapped by [`Syscall::MapAnon`].
    Unmap = 7,
    /// Start a boot module listed in the manifest, as a child of the caller.
    Spawn = 8,
    /// Wait for a child to exit and collect its status.
    Wait = 9,
    /// Nanoseconds since boot on the monotonic clock.
    GetTime = 10,
    /// Copy a [`MemInfo`] record (physical memory totals) to a user buffer.
    MemInfo = 11,
}

impl Syscall {
    /// Every syscall, in number order.
    pub const ALL: [Syscall; 12] = [
        Syscall::Exit,
        Syscall::Yield,
        Syscall::Sleep,
        Syscall::GetPid,
        Syscall::GetPrincipal,
        Syscall::ConsoleWrite,
        Syscall::MapAnon,
        Syscall::Unmap,
        Syscall::Spawn,
        Syscall::Wait,
        Syscall::GetTime,
        Syscall::MemInfo,
    ];

    /// Decodes a syscall number.
    pub fn from_number(number: u64) -> Result<Syscall, SysError> {
        Syscall::ALL.iter().copied().find(|s| *s as u64 == number).ok_or(SysError::UnknownSyscall)
    }

    /// The number passed in the syscall register.
    pub const fn number(self) -> u64 {
        self as u64
    }

    /// The name used in documentation and traces (snake case).
    pub const fn name(self) -> &'static str {
        match self {
            Syscall::Exit => "exit",
            Syscall::Yield => "yield",
            Syscall::Sleep => "sleep",
            Syscall::GetPid => "get_pid",
            Syscall::GetPrincipal => "get_principal",
            Syscall::ConsoleWrite => "console_write",
            Syscall::MapAnon => "map_anon",
            Syscall::Unmap => "unmap",
            Syscall::Spawn => "spawn",
            Syscall::Wait => "wait",
            Syscall::GetTime => "get_time",
            Syscall::MemInfo => "mem_info",
        }
    }

    /// How many argument registers the syscall reads.
    pub const fn arg_count(self) -> usize {
        match self {
            Syscall::Yield | Syscall::GetPid | Syscall::GetTime => 0,
            Syscall::Exit | Syscall::Sleep => 1,
            Syscall::GetPrincipal
            | Syscall::ConsoleWrite
            | Syscall::MapAnon
            | Syscall::Unmap
            | Syscall::Spawn
            | Syscall::Wait
            | Syscall::MemInfo => 2,
        }
    }

    /// The capability the caller must hold, if any.
    pub const fn capability(self) -> Option<Capability> {
        match self {
            Syscall::ConsoleWrite => Some(Capability::ConsoleWrite),
            Syscall::Spawn => Some(Capability::Spawn),
            _ => None,
        }
    }
}

/// Encodes a handler's result as the value returned in the result register.
pub const fn encode_result(result: Result<u64, SysError>) -> u64 {
    match result {
        Ok(v) => v,
        Err(e) => e.code() as u64,
    }
}

/// Decodes the value of the result register.
pub fn decode_result(raw: u64) -> Result<u64, SysError> {
    let signed = raw as i64;
    if signed >= 0 { Ok(raw) } else { Err(SysError::from_code(signed)) }
}

/// Largest buffer one `console_write` accepts, in bytes.
pub const MAX_CONSOLE_WRITE: u64 = 4096;
/// Largest single `map_anon` request, in bytes (64 MiB).
pub const MAX_MAP_ANON: u64 = 64 << 20;
/// Longest module name `spawn` accepts, in bytes.
pub const MAX_MODULE_NAME: u64 = 47;
/// `map_anon` protection: readable and writable (the only protection user memory gets from
/// `map_anon`; executable memory comes only from verified ELF segments).
pub const PROT_READ_WRITE: u64 = 0b11;
/// `map_anon` protection: read-only zero pages.
pub const PROT_READ: u64 = 0b01;

/// The record `mem_info` writes: physical memory in 4 KiB frames, little-endian.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MemInfo {
    /// Frames the kernel manages.
    pub total_frames: u64,
    /// Frames free right now.
    pub free_frames: u64,
}

impl MemInfo {
    /// Size of the record in bytes.
    pub const SIZE: usize = 16;

    /// The record as bytes.
    pub fn to_bytes(self) -> [u8; MemInfo::SIZE] {
        let mut out = [0u8; MemInfo::SIZE];
        let (a, b) = out.split_at_mut(8);
        a.copy_from_slice(&self.total_frames.to_le_bytes());
        b.copy_from_slice(&self.free_frames.to_le_bytes());
        out
    }

    /// Parses the record.
    pub fn from_bytes(bytes: &[u8; MemInfo::SIZE]) -> MemInfo {
        let (a, b) = bytes.split_at(8);
        let mut t = [0u8; 8];
        let mut f = [0u8; 8];
        t.copy_from_slice(a);
        f.copy_from_slice(b);
        MemInfo { total_frames: u64::from_le_bytes(t), free_frames: u64::from_le_bytes(f) }
    }
}

/// How a process ended, as returned by `wait`: the low 32 bits hold the exit code for a
/// normal exit; a fatal fault sets bit 32 and puts the [`FaultKind`] in bits 0..8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// The process called `exit(code)` (or returned `code` from `main`).
    Exited(u32),
    /// The kernel ended the process after a fatal fault.
    Faulted(FaultKind),
}

/// Bit 32 of an encoded [`ExitStatus`]: the process was killed by a fault.
const FAULTED_BIT: u64 = 1 << 32;

impl ExitStatus {
    /// The value `wait` returns.
    pub const fn encode(self) -> u64 {
        match self {
            ExitStatus::Exited(code) => code as u64,
            ExitStatus::Faulted(kind) => FAULTED_BIT | kind as u64,
        }
    }

    /// Decodes a `wait` result.
    pub fn decode(raw: u64) -> Option<ExitStatus> {
        if raw & FAULTED_BIT != 0 {
            FaultKind::from_code(raw & 0xff).map(ExitStatus::Faulted)
        } else if raw >> 32 == 0 {
            Some(ExitStatus::Exited(raw as u32))
        } else {
            None
        }
    }
}

/// Why the kernel ended a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FaultKind {
    /// Access to an unmapped address or one the page does not allow (read, write, execute).
    PageFault = 1,
    /// A privileged, undefined or malformed instruction.
    IllegalInstruction = 2,
    /// Misaligned access where the architecture requires alignment.
    Alignment = 3,
    /// Arithmetic trap (for example integer division by zero on x86_64).
    Arithmetic = 4,
    /// A breakpoint instruction with no debugger attached.
    Breakpoint = 5,
    /// Any other exception taken from user mode.
    Other = 6,
}

impl FaultKind {
    /// Decodes a fault code.
    pub fn from_code(code: u64) -> Option<FaultKind> {
        Some(match code {
            1 => FaultKind::PageFault,
            2 => FaultKind::IllegalInstruction,
            3 => FaultKind::Alignment,
            4 => FaultKind::Arithmetic,
            5 => FaultKind::Breakpoint,
            6 => FaultKind::Other,
            _ => return None,
        })
    }

    /// A short name for fault reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            FaultKind::PageFault => "page fault",
            FaultKind::IllegalInstruction => "illegal instruction",
            FaultKind::Alignment => "alignment fault",
            FaultKind::Arithmetic => "arithmetic fault",
            FaultKind::Breakpoint => "breakpoint",
            FaultKind::Other => "exception",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_dense_and_round_trip() {
        for (i, s) in Syscall::ALL.iter().enumerate() {
            assert_eq!(s.number(), i as u64);
            assert_eq!(Syscall::from_number(s.number()), Ok(*s));
        }
        assert_eq!(Syscall::from_number(12), Err(SysError::UnknownSyscall));
        assert_eq!(Syscall::from_number(u64::MAX), Err(SysError::UnknownSyscall));
    }

    #[test]
    fn results_round_trip() {
        assert_eq!(decode_result(encode_result(Ok(42))), Ok(42));
        for e in SysError::ALL {
            assert_eq!(decode_result(encode_result(Err(e))), Err(e));
        }
    }

    #[test]
    fn exit_status_round_trips() {
        for s in [ExitStatus::Exited(0), ExitStatus::Exited(u32::MAX), ExitStatus::Faulted(FaultKind::PageFault)] {
            assert_eq!(ExitStatus::decode(s.encode()), Some(s));
        }
        assert_eq!(ExitStatus::decode(1 << 40), None);
    }
}
