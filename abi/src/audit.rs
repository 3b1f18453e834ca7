// SPDX-License-Identifier: AGPL-3.0-or-later
//! Audit events: the record the kernel logs for every security decision and lifecycle event,
//! and what `audit_read` copies out (reading needs the `audit-read` capability).
//!
//! A record is [`Event::SIZE`] = 64 bytes, little-endian:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | `seq`: global sequence number (gaps = events lost to overflow) |
//! | 8 | 8 | `time_ns`: monotonic time |
//! | 16 | 2 | `kind` ([`EventKind`]) |
//! | 18 | 2 | `cpu` |
//! | 20 | 4 | `pid`: the process concerned (0 = the kernel) |
//! | 24 | 8 | `arg`: kind-specific (syscall number, capability slot, exit status, ...) |
//! | 32 | 8 | `arg2`: kind-specific (endpoint id, fault kind, ...) |
//! | 40 | 16 | `principal`: the first 16 bytes of the process's Principal |
//! | 56 | 8 | reserved, zero |

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum EventKind {
    /// A capability check failed (missing slot, missing right, revoked). arg = syscall, arg2 = slot.
    CapDenied = 1,
    /// The interceptor denied an IPC or a syscall. arg = syscall, arg2 = endpoint id or 0.
    InterceptDenied = 2,
    /// A module failed verification. arg = the verifier's error code.
    VerifyFailed = 3,
    /// A process started. arg = parent pid (0 for boot).
    ProcessStart = 4,
    /// A process exited. arg = exit code.
    ProcessExit = 5,
    /// A process was killed by a fault. arg = fault kind.
    ProcessFault = 6,
    /// A capability was transferred in a message. arg = receiver pid, arg2 = endpoint id.
    CapGranted = 7,
    /// An endpoint's other capabilities were revoked. arg2 = endpoint id.
    CapRevoked = 8,
    /// A process was killed by `kill`. arg = the killer's pid.
    ProcessKilled = 9,
    /// Denials by one process beyond its budget were not logged one by one. arg = how many
    /// were suppressed in the window that just ended.
    DenialsSuppressed = 10,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 10] = [
        EventKind::CapDenied,
        EventKind::InterceptDenied,
        EventKind::VerifyFailed,
        EventKind::ProcessStart,
        EventKind::ProcessExit,
        EventKind::ProcessFault,
        EventKind::CapGranted,
        EventKind::CapRevoked,
        EventKind::ProcessKilled,
        EventKind::DenialsSuppressed,
    ];

    /// Decodes a kind.
    pub fn from_u16(v: u16) -> Option<EventKind> {
        EventKind::ALL.iter().copied().find(|k| *k as u16 == v)
    }

    /// The name the shell prints.
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::CapDenied => "cap.denied",
            EventKind::InterceptDenied => "intercept.denied",
            EventKind::VerifyFailed => "loader.rejected",
            EventKind::ProcessStart => "proc.start",
            EventKind::ProcessExit => "proc.exit",
            EventKind::ProcessFault => "proc.fault",
            EventKind::CapGranted => "cap.granted",
            EventKind::CapRevoked => "cap.revoked",
            EventKind::ProcessKilled => "proc.killed",
            EventKind::DenialsSuppressed => "denials.suppressed",
        }
    }
}

/// One audit record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// Global sequence number.
    pub seq: u64,
    /// Monotonic time in nanoseconds.
    pub time_ns: u64,
    /// [`EventKind`] as u16.
    pub kind: u16,
    /// The CPU that logged it.
    pub cpu: u16,
    /// The process concerned.
    pub pid: u32,
    /// First kind-specific value.
    pub arg: u64,
    /// Second kind-specific value.
    pub arg2: u64,
    /// First 16 bytes of the process's Principal.
    pub principal: [u8; 16],
}

impl Event {
    /// Size of a record.
    pub const SIZE: usize = 64;

    /// The record as bytes.
    pub fn to_bytes(&self) -> [u8; Event::SIZE] {
        let mut b = [0u8; Event::SIZE];
        let mut put = |at: usize, src: &[u8]| {
            if let Some(dst) = b.get_mut(at..at + src.len()) {
                dst.copy_from_slice(src);
            }
        };
        put(0, &self.seq.to_le_bytes());
        put(8, &self.time_ns.to_le_bytes());
        put(16, &self.kind.to_le_bytes());
        put(18, &self.cpu.to_le_bytes());
        put(20, &self.pid.to_le_bytes());
        put(24, &self.arg.to_le_bytes());
        put(32, &self.arg2.to_le_bytes());
        put(40, &self.principal);
        b
    }

    /// Parses a record.
    pub fn from_bytes(b: &[u8; Event::SIZE]) -> Event {
        let get = |at: usize, n: usize| -> u64 {
            let mut w = [0u8; 8];
            if let (Some(dst), Some(src)) = (w.get_mut(..n), b.get(at..at + n)) {
                dst.copy_from_slice(src);
            }
            u64::from_le_bytes(w)
        };
        let mut principal = [0u8; 16];
        if let Some(src) = b.get(40..56) {
            principal.copy_from_slice(src);
        }
        Event {
            seq: get(0, 8),
            time_ns: get(8, 8),
            kind: get(16, 2) as u16,
            cpu: get(18, 2) as u16,
            pid: get(20, 4) as u32,
            arg: get(24, 8),
            arg2: get(32, 8),
            principal,
        }
    }
}

/// What `audit_info` reports (32 bytes, little-endian u64s): events that reached the ring,
/// events dropped at full per-CPU buffers, events pushed out of the ring unread, and the
/// ring's capacity. Losses are counted, never silent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuditInfo {
    /// Events that reached the ring since boot.
    pub total: u64,
    /// Events dropped because a per-CPU buffer was full.
    pub dropped: u64,
    /// Events overwritten in the ring before anyone read them.
    pub overwritten: u64,
    /// Events the ring holds.
    pub capacity: u64,
}

impl AuditInfo {
    /// Size of the record.
    pub const SIZE: usize = 32;

    /// The record as bytes.
    pub fn to_bytes(&self) -> [u8; AuditInfo::SIZE] {
        let mut b = [0u8; AuditInfo::SIZE];
        for (chunk, v) in b.chunks_exact_mut(8).zip([self.total, self.dropped, self.overwritten, self.capacity]) {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// Parses the record.
    pub fn from_bytes(b: &[u8; AuditInfo::SIZE]) -> AuditInfo {
        let mut v = [0u64; 4];
        for (o, chunk) in v.iter_mut().zip(b.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            *o = u64::from_le_bytes(w);
        }
        let [total, dropped, overwritten, capacity] = v;
        AuditInfo { total, dropped, overwritten, capacity }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let e = Event { seq: 1, time_ns: 2, kind: 3, cpu: 4, pid: 5, arg: 6, arg2: 7, principal: [8; 16] };
        assert_eq!(Event::from_bytes(&e.to_bytes()), e);
        let i = AuditInfo { total: 1, dropped: 2, overwritten: 3, capacity: 4 };
        assert_eq!(AuditInfo::from_bytes(&i.to_bytes()), i);
        for k in EventKind::ALL {
            assert_eq!(EventKind::from_u16(k as u16), Some(k));
        }
    }
}
