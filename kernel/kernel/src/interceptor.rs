// SPDX-License-Identifier: AGPL-3.0-or-later
//! The interceptor: one trait that sees every IPC send, every IPC receive and every syscall
//! before it happens, and may deny it.
//!
//! The kernel is generic over the [`Interceptor`] it uses ([`Active`]), so every hook call is
//! monomorphised: no trait objects, no indirect calls on the hot path. [`DefaultPolicy`] is the
//! in-kernel policy. A later issue adds a policy service in user space: an implementation of
//! this trait that answers from a decision cache the service fills (the hooks get everything
//! such a service needs: who, what, and on which endpoint). A denial is a typed
//! `SysError::Denied` for the caller and an `intercept.denied` audit event.

use cambios_abi::ipc::Message;
use cambios_abi::syscall::Syscall;

/// Who is asking.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// Process id.
    pub pid: u32,
    /// Its Principal.
    pub principal: &'a [u8; 32],
}

/// A hook's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Refuse, with a reason for the audit log.
    Deny(DenyReason),
}

/// Why the policy refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DenyReason {
    /// A message carries a capability for the very endpoint it is sent to (a loop that only
    /// hands the receiver back what it already owns).
    SelfDelegation = 1,
    /// A process may not end itself or the kernel through `kill` (use `exit`).
    KillSelf = 2,
    /// The sender has no identity (an all-zero Principal): every message must name a sender.
    NoIdentity = 3,
}

/// The three hooks.
pub trait Interceptor {
    /// Before a message (already stamped) is queued on endpoint `endpoint`.
    fn on_send(&self, subject: Subject<'_>, endpoint: u32, msg: &Message, transfer_endpoint: Option<u32>) -> Verdict;
    /// Before a receive on `endpoint` takes a message.
    fn on_receive(&self, subject: Subject<'_>, endpoint: u32) -> Verdict;
    /// Before a syscall's handler runs (after decoding and the capability check).
    fn on_syscall(&self, subject: Subject<'_>, call: Syscall, args: &[u64; 6]) -> Verdict;
}

/// The in-kernel default policy: structural rules only; everything the capabilities allow
/// is allowed otherwise.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultPolicy;

impl Interceptor for DefaultPolicy {
    fn on_send(&self, subject: Subject<'_>, endpoint: u32, _msg: &Message, transfer_endpoint: Option<u32>) -> Verdict {
        if subject.principal.iter().all(|&b| b == 0) {
            return Verdict::Deny(DenyReason::NoIdentity);
        }
        if transfer_endpoint == Some(endpoint) {
            return Verdict::Deny(DenyReason::SelfDelegation);
        }
        Verdict::Allow
    }

    fn on_receive(&self, _subject: Subject<'_>, _endpoint: u32) -> Verdict {
        Verdict::Allow
    }

    fn on_syscall(&self, subject: Subject<'_>, call: Syscall, args: &[u64; 6]) -> Verdict {
        if call == Syscall::Kill && (args[0] == u64::from(subject.pid) || args[0] == 0) {
            return Verdict::Deny(DenyReason::KillSelf);
        }
        Verdict::Allow
    }
}

/// The interceptor the kernel runs with.
pub type Active = DefaultPolicy;

/// The installed interceptor.
pub static ACTIVE: Active = DefaultPolicy;
