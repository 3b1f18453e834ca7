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
    /// Create an endpoint; the caller gets a capability with every right.
    EndpointCreate = 12,
    /// Send a message to an endpoint (needs the send right).
    Send = 13,
    /// Receive a message from an endpoint (needs the receive right).
    Receive = 14,
    /// Send a message and wait for the reply, which only the receiver can give.
    Call = 15,
    /// Answer a call received with `receive`.
    Reply = 16,
    /// Invalidate every other capability for an endpoint the caller owns.
    CapRevoke = 17,
    /// Empty one of the caller's capability slots.
    CapDrop = 18,
    /// List the caller's capabilities ([`crate::ipc::CapRecord`]s).
    CapList = 19,
    /// Copy audit events out (needs `audit-read`).
    AuditRead = 20,
    /// Read serial console input (needs `console-read`).
    ConsoleRead = 21,
    /// List processes ([`ProcRecord`]s).
    ProcessList = 22,
    /// End another process (needs `kill`).
    Kill = 23,
    /// Power off or reboot the machine (needs `power`).
    Power = 24,
    /// Copy an [`crate::audit::AuditInfo`] record (counts, losses) out (needs `audit-read`).
    AuditInfo = 25,
    /// The logical index of the CPU the caller is running on.
    CpuId = 26,
    /// List CPUs ([`CpuRecord`]s).
    CpuList = 27,
}

impl Syscall {
    /// Every syscall, in number order.
    pub const ALL: [Syscall; 28] = [
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
        Syscall::EndpointCreate,
        Syscall::Send,
        Syscall::Receive,
        Syscall::Call,
        Syscall::Reply,
        Syscall::CapRevoke,
        Syscall::CapDrop,
        Syscall::CapList,
        Syscall::AuditRead,
        Syscall::ConsoleRead,
        Syscall::ProcessList,
        Syscall::Kill,
        Syscall::Power,
        Syscall::AuditInfo,
        Syscall::CpuId,
        Syscall::CpuList,
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
            Syscall::EndpointCreate => "endpoint_create",
            Syscall::Send => "send",
            Syscall::Receive => "receive",
            Syscall::Call => "call",
            Syscall::Reply => "reply",
            Syscall::CapRevoke => "cap_revoke",
            Syscall::CapDrop => "cap_drop",
            Syscall::CapList => "cap_list",
            Syscall::AuditRead => "audit_read",
            Syscall::ConsoleRead => "console_read",
            Syscall::ProcessList => "process_list",
            Syscall::Kill => "kill",
            Syscall::Power => "power",
            Syscall::AuditInfo => "audit_info",
            Syscall::CpuId => "cpu_id",
            Syscall::CpuList => "cpu_list",
        }
    }

    /// How many argument registers the syscall reads.
    pub const fn arg_count(self) -> usize {
        match self {
            Syscall::Yield | Syscall::GetPid | Syscall::GetTime | Syscall::EndpointCreate | Syscall::CpuId => 0,
            Syscall::Exit | Syscall::Sleep | Syscall::Reply | Syscall::CapRevoke | Syscall::CapDrop => 1,
            Syscall::Kill | Syscall::Power => 1,
            Syscall::Send | Syscall::Receive | Syscall::Call | Syscall::ConsoleRead => 3,
            Syscall::GetPrincipal
            | Syscall::ConsoleWrite
            | Syscall::MapAnon
            | Syscall::Unmap
            | Syscall::Spawn
            | Syscall::Wait
            | Syscall::MemInfo
            | Syscall::CapList
            | Syscall::AuditRead
            | Syscall::ProcessList
            | Syscall::AuditInfo
            | Syscall::CpuList => 2,
        }
    }

    /// The capability the caller must hold, if any.
    pub const fn capability(self) -> Option<Capability> {
        match self {
            Syscall::ConsoleWrite => Some(Capability::ConsoleWrite),
            Syscall::Spawn => Some(Capability::Spawn),
            Syscall::AuditRead | Syscall::AuditInfo => Some(Capability::AuditRead),
            Syscall::ConsoleRead => Some(Capability::ConsoleRead),
            Syscall::Kill => Some(Capability::Kill),
            Syscall::Power => Some(Capability::Power),
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

/// `power` operations.
pub const POWER_OFF: u64 = 0;
/// `power`: reboot.
pub const POWER_REBOOT: u64 = 1;

/// One `cpu_list` record ([`CpuRecord::SIZE`] bytes, little-endian): index u32, online u8,
/// reserved [3], firmware id u64 (APIC id, MPIDR affinity, hart id), timer ticks u64,
/// reschedule interrupts u64, ready threads u32, running user threads u32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CpuRecord {
    /// Logical CPU index (0 = the boot CPU).
    pub index: u32,
    /// True once the CPU has checked in and schedules threads.
    pub online: bool,
    /// The firmware's id for the CPU.
    pub hw_id: u64,
    /// Timer interrupts it has taken.
    pub ticks: u64,
    /// Reschedule interrupts it has taken.
    pub ipis: u64,
    /// Threads waiting in its run queues.
    pub ready: u32,
    /// 1 when it is running a user thread, else 0.
    pub running: u32,
}

impl CpuRecord {
    /// Size of one record.
    pub const SIZE: usize = 40;

    /// The record as bytes.
    pub fn to_bytes(&self) -> [u8; CpuRecord::SIZE] {
        let mut b = [0u8; CpuRecord::SIZE];
        let mut put = |at: usize, src: &[u8]| {
            if let Some(dst) = b.get_mut(at..at + src.len()) {
                dst.copy_from_slice(src);
            }
        };
        put(0, &self.index.to_le_bytes());
        put(4, &[u8::from(self.online)]);
        put(8, &self.hw_id.to_le_bytes());
        put(16, &self.ticks.to_le_bytes());
        put(24, &self.ipis.to_le_bytes());
        put(32, &self.ready.to_le_bytes());
        put(36, &self.running.to_le_bytes());
        b
    }

    /// Parses a record.
    pub fn from_bytes(b: &[u8; CpuRecord::SIZE]) -> CpuRecord {
        let word = |at: usize| {
            let mut w = [0u8; 4];
            if let Some(src) = b.get(at..at + 4) {
                w.copy_from_slice(src);
            }
            u32::from_le_bytes(w)
        };
        let quad = |at: usize| {
            let mut w = [0u8; 8];
            if let Some(src) = b.get(at..at + 8) {
                w.copy_from_slice(src);
            }
            u64::from_le_bytes(w)
        };
        CpuRecord {
            index: word(0),
            online: b.get(4).is_some_and(|&v| v != 0),
            hw_id: quad(8),
            ticks: quad(16),
            ipis: quad(24),
            ready: word(32),
            running: word(36),
        }
    }
}

/// One `process_list` record ([`ProcRecord::SIZE`] bytes, little-endian): pid u32, parent pid
/// u32 (0 = none), state u8 (0 running, 1 exited), cpu u8, reserved u16, reserved u32,
/// Principal [32], name [24] (NUL-padded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcRecord {
    /// Process id.
    pub pid: u32,
    /// Parent's pid, 0 for none.
    pub parent: u32,
    /// 0 running, 1 exited (status not yet collected).
    pub state: u8,
    /// The CPU it runs on.
    pub cpu: u8,
    /// Its Principal.
    pub principal: [u8; 32],
    /// Its module name (truncated to 24 bytes).
    pub name: [u8; 24],
}

impl ProcRecord {
    /// Size of one record.
    pub const SIZE: usize = 72;

    /// The record as bytes.
    pub fn to_bytes(&self) -> [u8; ProcRecord::SIZE] {
        let mut b = [0u8; ProcRecord::SIZE];
        let mut put = |at: usize, src: &[u8]| {
            if let Some(dst) = b.get_mut(at..at + src.len()) {
                dst.copy_from_slice(src);
            }
        };
        put(0, &self.pid.to_le_bytes());
        put(4, &self.parent.to_le_bytes());
        put(8, &[self.state, self.cpu]);
        put(16, &self.principal);
        put(48, &self.name);
        b
    }

    /// Parses a record.
    pub fn from_bytes(b: &[u8; ProcRecord::SIZE]) -> ProcRecord {
        let word = |at: usize| {
            let mut w = [0u8; 4];
            if let Some(src) = b.get(at..at + 4) {
                w.copy_from_slice(src);
            }
            u32::from_le_bytes(w)
        };
        let mut principal = [0u8; 32];
        if let Some(src) = b.get(16..48) {
            principal.copy_from_slice(src);
        }
        let mut name = [0u8; 24];
        if let Some(src) = b.get(48..72) {
            name.copy_from_slice(src);
        }
        ProcRecord {
            pid: word(0),
            parent: word(4),
            state: b.get(8).copied().unwrap_or(0),
            cpu: b.get(9).copied().unwrap_or(0),
            principal,
            name,
        }
    }

    /// The name as text (up to the first NUL).
    pub fn name_str(&self) -> &str {
        let end = self.name.iter().position(|&c| c == 0).unwrap_or(self.name.len());
        self.name.get(..end).and_then(|n| core::str::from_utf8(n).ok()).unwrap_or("?")
    }
}

/// How a process ended, as returned by `wait`: the low 32 bits hold the exit code for a
/// normal exit; a fatal fault sets bit 32 and puts the [`FaultKind`] in bits 0..8; `kill` is
/// bit 33 alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// The process called `exit(code)` (or returned `code` from `main`).
    Exited(u32),
    /// The kernel ended the process after a fatal fault.
    Faulted(FaultKind),
    /// Another process ended it with `kill`.
    Killed,
}

/// Bit 32 of an encoded [`ExitStatus`]: the process was killed by a fault.
const FAULTED_BIT: u64 = 1 << 32;
/// Bit 33 of an encoded [`ExitStatus`]: the process was killed by another.
const KILLED_BIT: u64 = 1 << 33;

impl ExitStatus {
    /// The value `wait` returns.
    pub const fn encode(self) -> u64 {
        match self {
            ExitStatus::Exited(code) => code as u64,
            ExitStatus::Faulted(kind) => FAULTED_BIT | kind as u64,
            ExitStatus::Killed => KILLED_BIT,
        }
    }

    /// Decodes a `wait` result.
    pub fn decode(raw: u64) -> Option<ExitStatus> {
        if raw == KILLED_BIT {
            Some(ExitStatus::Killed)
        } else if raw & FAULTED_BIT != 0 {
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
        assert_eq!(Syscall::from_number(Syscall::ALL.len() as u64), Err(SysError::UnknownSyscall));
        assert_eq!(Syscall::from_number(u64::MAX), Err(SysError::UnknownSyscall));
    }

    #[test]
    fn cpu_records_round_trip() {
        let r = CpuRecord { index: 3, online: true, hw_id: 0x8000_0003, ticks: 1 << 40, ipis: 7, ready: 2, running: 1 };
        assert_eq!(CpuRecord::from_bytes(&r.to_bytes()), r);
        assert_eq!(CpuRecord::from_bytes(&[0; CpuRecord::SIZE]), CpuRecord::default());
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
        for s in [
            ExitStatus::Exited(0),
            ExitStatus::Exited(u32::MAX),
            ExitStatus::Faulted(FaultKind::PageFault),
            ExitStatus::Killed,
        ] {
            assert_eq!(ExitStatus::decode(s.encode()), Some(s));
        }
        assert_eq!(ExitStatus::decode(1 << 40), None);
    }
}
