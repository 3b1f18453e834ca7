// SPDX-License-Identifier: AGPL-3.0-or-later
//! The audit pipeline: every security decision and lifecycle event becomes an
//! `cambios_abi::audit::Event`.
//!
//! [`log`] writes into the running CPU's lock-free buffer (`kernel_core::audit`), so it may be
//! called from any context, interrupt handlers included, and never blocks. The buffers are
//! drained into the global ring (lock rank `Audit`) on every timer tick and before every read.
//! A full per-CPU buffer and events pushed out of the ring unread are counted, never silent:
//! readers see the gaps in the sequence numbers. Reading needs the `audit-read` capability
//! (`audit_read`; docs/abi/audit.md).
//!
//! Denials ([`log_denial`]) are rate-limited per process: a process that provokes more than
//! [`DENIALS_PER_WINDOW`] in one [`DENIAL_WINDOW_NS`] window gets the rest counted and reported
//! as one `denials.suppressed` event, so a hostile program cannot flush everyone else's events
//! out of the ring.

use cambios_abi::audit::{Event, EventKind};
use kernel_core::audit::{Audit, Ring};
use kernel_core::sync::LockClass;

use crate::sync::SpinLock;

/// Events each CPU buffers between drains.
const PER_CPU: usize = 128;
/// Events the global ring keeps.
const RING: usize = 1024;

static AUDIT: Audit<{ crate::sched::MAX_CPUS }, PER_CPU, RING> = Audit::new();
static GLOBAL: SpinLock<Ring<RING>> = SpinLock::new(LockClass::Audit, Audit::<1, 1, RING>::new_ring());

/// Records an event about process `pid` (0 = the kernel) with Principal `principal`.
pub fn log(kind: EventKind, pid: u32, principal: &[u8; 32], arg: u64, arg2: u64) {
    let mut prefix = [0u8; 16];
    prefix.copy_from_slice(principal.get(..16).unwrap_or(&[0; 16]));
    let event = Event {
        seq: 0,
        time_ns: crate::time::uptime_ns(),
        kind: kind as u16,
        cpu: 0,
        pid,
        arg,
        arg2,
        principal: prefix,
    };
    // Interrupts masked: an interrupt that logs on this CPU in the middle of this push would
    // find the buffer busy and lose its event (counted). A full buffer is counted too.
    let state = crate::arch::irq_save();
    let _ = AUDIT.log(0, event);
    crate::arch::irq_restore(state);
}

/// Denial events one process may log per window.
pub const DENIALS_PER_WINDOW: u32 = 64;
/// The rate-limit window.
pub const DENIAL_WINDOW_NS: u64 = 1_000_000_000;

/// Per-process denial budget, in a small table indexed by pid (collisions share a budget,
/// which only makes the limit stricter).
#[derive(Clone, Copy)]
struct Budget {
    pid: u32,
    window_start: u64,
    logged: u32,
    suppressed: u32,
    principal: [u8; 32],
}

const BUDGETS: usize = 32;
static DENIALS: SpinLock<[Budget; BUDGETS]> = SpinLock::new(
    LockClass::Audit,
    [Budget { pid: 0, window_start: 0, logged: 0, suppressed: 0, principal: [0; 32] }; BUDGETS],
);

/// Logs a denial (`cap.denied`, `intercept.denied`) within the process's budget.
pub fn log_denial(kind: EventKind, pid: u32, principal: &[u8; 32], arg: u64, arg2: u64) {
    let now = crate::time::uptime_ns();
    let (within, report) = {
        let mut table = DENIALS.lock();
        let Some(b) = table.get_mut(pid as usize % BUDGETS) else { return };
        let mut report = None;
        if b.pid != pid || now.saturating_sub(b.window_start) >= DENIAL_WINDOW_NS {
            if b.suppressed > 0 {
                report = Some((b.pid, b.principal, b.suppressed));
            }
            *b = Budget { pid, window_start: now, logged: 0, suppressed: 0, principal: *principal };
        }
        let within = b.logged < DENIALS_PER_WINDOW;
        if within {
            b.logged += 1;
        } else {
            b.suppressed = b.suppressed.saturating_add(1);
        }
        (within, report)
    };
    if let Some((who, p, n)) = report {
        log(EventKind::DenialsSuppressed, who, &p, u64::from(n), 0);
    }
    if within {
        log(kind, pid, principal, arg, arg2);
    }
}

/// Reports the denials of `pid` still suppressed in its current window (it is ending).
pub fn flush_denials(pid: u32) {
    let report = {
        let mut table = DENIALS.lock();
        match table.get_mut(pid as usize % BUDGETS) {
            Some(b) if b.pid == pid && b.suppressed > 0 => {
                let r = (b.principal, b.suppressed);
                b.suppressed = 0;
                Some(r)
            }
            _ => None,
        }
    };
    if let Some((principal, n)) = report {
        log(EventKind::DenialsSuppressed, pid, &principal, u64::from(n), 0);
    }
}

/// Moves the per-CPU buffers into the global ring (the timer tick calls this).
pub fn drain() {
    if let Some(mut ring) = GLOBAL.try_lock() {
        AUDIT.drain(&mut ring);
    }
}

/// Copies the most recent events, oldest first, into `out`; returns how many.
pub fn read_newest(out: &mut [Event]) -> usize {
    let mut ring = GLOBAL.lock();
    AUDIT.drain(&mut ring);
    AUDIT.read_newest(&mut ring, out)
}

/// The counts `audit_info` reports.
pub fn info() -> cambios_abi::audit::AuditInfo {
    let mut ring = GLOBAL.lock();
    let stats = AUDIT.stats(&mut ring);
    cambios_abi::audit::AuditInfo {
        total: stats.total,
        dropped: stats.dropped_at_cpus,
        overwritten: stats.overwritten,
        capacity: stats.capacity as u64,
    }
}
