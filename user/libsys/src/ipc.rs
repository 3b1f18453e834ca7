// SPDX-License-Identifier: MPL-2.0
//! IPC: endpoints, the 256-byte [`Message`], send / receive / call / reply, and the capability
//! table.
//!
//! A capability is named by its slot (`u32`, `0..CAP_SLOTS`) in the caller's table. The kernel
//! stamps every delivered message with the sender's Principal and pid (a sender cannot forge
//! them); [`receive_verified`] returns those in a [`Verified`], which user code cannot build
//! itself, so a function taking a `Verified` knows its sender came from the kernel.
//!
//! ```ignore
//! let slot = ipc::find_endpoint(WellKnown::Echo).ok_or(SysError::NotFound)?;
//! let mut msg = Message::with_payload(0, b"hi");
//! ipc::call(slot, &mut msg, Timeout::Forever)?; // the reply is written into `msg`
//! ```

use core::time::Duration;

use cambios_abi::cap::Capability;
use cambios_abi::error::SysError;
pub use cambios_abi::ipc::{
    CAP_SLOTS, CapKind, CapRecord, FLAG_CAP, FOREVER, HEADER_SIZE, MAX_PAYLOAD, MESSAGE_SIZE, Message, NO_CAP,
    NONBLOCKING, QUEUE_DEPTH, Rights, WellKnown,
};
use cambios_abi::syscall::{Syscall, decode_result};

use crate::principal::Principal;
use crate::raw;
use crate::sys::{Pid, read_records};

/// How long a blocking operation may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// Do not wait: fail with `WouldBlock` (or `QueueFull` for a send) instead.
    NonBlocking,
    /// Wait until the operation completes.
    Forever,
    /// Wait at most this long (`TimedOut` afterwards). `After(Duration::ZERO)` is the same as
    /// `NonBlocking`; a duration of `u64::MAX` nanoseconds or more saturates just below
    /// `Forever`.
    After(Duration),
}

impl Timeout {
    /// The timeout argument of the syscall, in nanoseconds: [`NONBLOCKING`] (0), [`FOREVER`]
    /// (`u64::MAX`) or the duration, capped at `u64::MAX - 1`.
    pub const fn encode(self) -> u64 {
        match self {
            Timeout::NonBlocking => NONBLOCKING,
            Timeout::Forever => FOREVER,
            Timeout::After(d) => {
                let ns = d.as_nanos();
                if ns >= FOREVER as u128 { FOREVER - 1 } else { ns as u64 }
            }
        }
    }
}

/// `syscall(slot, message, timeout)` for send, receive and call.
///
/// # Safety
/// `msg` must be the address of a live [`Message`] (reads), writable and not otherwise borrowed
/// when the syscall writes it (receive, call).
unsafe fn message_op(call: Syscall, slot: u32, msg: u64, timeout: Timeout) -> Result<(), SysError> {
    // SAFETY: the kernel reads and/or writes exactly MESSAGE_SIZE bytes at `msg`, which the
    // caller guarantees is a live message.
    decode_result(unsafe { raw::syscall3(call.number(), u64::from(slot), msg, timeout.encode()) }).map(drop)
}

/// Creates an endpoint; returns the slot of the caller's capability for it (send, receive and
/// grant).
pub fn endpoint_create() -> Result<u32, SysError> {
    // SAFETY: no arguments.
    let slot = decode_result(unsafe { raw::syscall0(Syscall::EndpointCreate.number()) })?;
    u32::try_from(slot).map_err(|_| SysError::Unrecognised)
}

/// Sends `msg` to the endpoint of capability `slot` (needs the send right). With `FLAG_CAP` in
/// `flags`, `msg.cap()` is a slot of the caller whose capability is transferred (needs its
/// grant right). A full queue makes it wait up to `timeout` (`QueueFull` when non-blocking).
pub fn send(slot: u32, msg: &Message, timeout: Timeout) -> Result<(), SysError> {
    // SAFETY: `send` only reads the message; the pointer comes from a live reference.
    unsafe { message_op(Syscall::Send, slot, msg.bytes.as_ptr() as u64, timeout) }
}

/// Receives a message from the endpoint of capability `slot` (needs the receive right) into
/// `msg`, waiting up to `timeout`. The header's sender fields are the kernel's; prefer
/// [`receive_verified`], which checks them and keeps them read-only.
pub fn receive(slot: u32, msg: &mut Message, timeout: Timeout) -> Result<(), SysError> {
    // SAFETY: the kernel writes MESSAGE_SIZE bytes into `msg`, a live exclusive reference;
    // every byte pattern is a valid `Message`.
    unsafe { message_op(Syscall::Receive, slot, msg.bytes.as_mut_ptr() as u64, timeout) }
}

/// Sends `msg` as a call to the endpoint of capability `slot` (needs the send right) and waits
/// up to `timeout` for the reply, which the kernel writes into `msg` (its sender is the
/// replier's Principal).
pub fn call(slot: u32, msg: &mut Message, timeout: Timeout) -> Result<(), SysError> {
    // SAFETY: as in `receive`: the kernel reads, then writes back, the live message.
    unsafe { message_op(Syscall::Call, slot, msg.bytes.as_mut_ptr() as u64, timeout) }
}

/// Answers a call: `msg.reply_token()` must be the token of a call this process received.
pub fn reply(msg: &Message) -> Result<(), SysError> {
    // SAFETY: the kernel only reads MESSAGE_SIZE bytes from `msg`, a live message.
    decode_result(unsafe { raw::syscall1(Syscall::Reply.number(), msg.bytes.as_ptr() as u64) }).map(drop)
}

/// Invalidates every other capability for the endpoint of `slot` (the caller must own it).
pub fn cap_revoke(slot: u32) -> Result<(), SysError> {
    // SAFETY: a plain integer argument.
    decode_result(unsafe { raw::syscall1(Syscall::CapRevoke.number(), u64::from(slot)) }).map(drop)
}

/// Empties capability slot `slot`.
pub fn cap_drop(slot: u32) -> Result<(), SysError> {
    // SAFETY: a plain integer argument.
    decode_result(unsafe { raw::syscall1(Syscall::CapDrop.number(), u64::from(slot)) }).map(drop)
}

/// Most records [`caps`] returns: every slot plus every system capability.
pub const MAX_CAPS: usize = CAP_SLOTS + Capability::ALL.len();

/// The caller's capabilities, as [`caps`] lists them.
#[derive(Clone, Debug)]
pub struct CapList {
    records: [CapRecord; MAX_CAPS],
    len: usize,
}

impl CapList {
    /// The records.
    pub fn as_slice(&self) -> &[CapRecord] {
        self.records.get(..self.len).unwrap_or(&[])
    }

    /// The records, in the kernel's order.
    pub fn iter(&self) -> core::slice::Iter<'_, CapRecord> {
        self.as_slice().iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot of the first endpoint capability for `endpoint`.
    pub fn endpoint_slot(&self, endpoint: u32) -> Option<u32> {
        self.iter().find(|r| r.kind == CapKind::Endpoint as u8 && r.endpoint == endpoint).map(|r| r.slot)
    }

    /// True when the caller holds system capability `cap`.
    pub fn has_system(&self, cap: Capability) -> bool {
        self.iter().any(|r| system_capability(r) == Some(cap))
    }

    /// True when `slot` holds an endpoint capability.
    pub fn holds_slot(&self, slot: u32) -> bool {
        self.iter().any(|r| r.kind == CapKind::Endpoint as u8 && r.slot == slot)
    }
}

impl<'a> IntoIterator for &'a CapList {
    type Item = &'a CapRecord;
    type IntoIter = core::slice::Iter<'a, CapRecord>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The system capability a `System` record names (`None` for endpoint records).
pub fn system_capability(record: &CapRecord) -> Option<Capability> {
    if record.kind != CapKind::System as u8 {
        return None;
    }
    Capability::ALL.iter().copied().find(|c| *c as u32 == record.endpoint)
}

/// Lists the caller's capabilities (`cap_list`): endpoint capabilities with their slot, rights
/// and endpoint id; system capabilities with kind `System` and the [`Capability`] value in
/// `endpoint` (see [`system_capability`]).
pub fn caps() -> Result<CapList, SysError> {
    const EMPTY: CapRecord = CapRecord { slot: NO_CAP, kind: 0, rights: Rights::NONE, endpoint: 0, owner: 0 };
    let mut list = CapList { records: [EMPTY; MAX_CAPS], len: 0 };
    list.len =
        read_records::<CapRecord, { CapRecord::SIZE }>(Syscall::CapList, &mut list.records, CapRecord::from_bytes)?;
    Ok(list)
}

/// The slot of the caller's capability for well-known endpoint `which` (granted by the boot
/// manifest: all rights to its provider, send to its users); `None` when it holds none or the
/// list cannot be read.
pub fn find_endpoint(which: WellKnown) -> Option<u32> {
    caps().ok()?.endpoint_slot(which as u32)
}

/// A received message whose sender fields were stamped by the kernel and checked (non-zero
/// Principal). Only [`receive_verified`] makes one.
#[derive(Clone, Debug)]
pub struct Verified {
    msg: Message,
    sender: Principal,
}

impl Verified {
    /// Checks a message the kernel delivered: an all-zero sender means the stamp is missing
    /// (`Unrecognised`: no kernel of this ABI delivers one).
    fn from_delivered(msg: Message) -> Result<Verified, SysError> {
        let sender = Principal(msg.sender());
        if sender.is_zero() {
            return Err(SysError::Unrecognised);
        }
        Ok(Verified { msg, sender })
    }

    /// The sender's Principal.
    pub fn sender(&self) -> Principal {
        self.sender
    }

    /// The sender's process id.
    pub fn sender_pid(&self) -> Pid {
        Pid(self.msg.sender_pid())
    }

    /// The endpoint id the message arrived on.
    pub fn endpoint(&self) -> u32 {
        self.msg.endpoint()
    }

    /// The protocol's operation code.
    pub fn label(&self) -> u32 {
        self.msg.label()
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        self.msg.payload()
    }

    /// The token to reply with; 0 when the sender is not waiting in `call`.
    pub fn reply_token(&self) -> u64 {
        self.msg.reply_token()
    }

    /// True when the sender waits for a reply.
    pub fn is_call(&self) -> bool {
        self.reply_token() != 0
    }

    /// The slot of a capability transferred with the message.
    pub fn cap(&self) -> Option<u32> {
        (self.msg.flags() & FLAG_CAP != 0 && self.msg.cap() != NO_CAP).then(|| self.msg.cap())
    }

    /// The whole message, read-only.
    pub fn message(&self) -> &Message {
        &self.msg
    }

    /// The reply to this call with `label` and `payload` (truncated to [`MAX_PAYLOAD`]);
    /// `InvalidArgument` when the message is not a call.
    pub fn reply_message(&self, label: u32, payload: &[u8]) -> Result<Message, SysError> {
        if !self.is_call() {
            return Err(SysError::InvalidArgument);
        }
        let mut msg = Message::with_payload(label, payload);
        msg.set_reply_token(self.reply_token());
        Ok(msg)
    }

    /// Replies to this call with `label` and `payload` (truncated to [`MAX_PAYLOAD`]).
    pub fn reply(&self, label: u32, payload: &[u8]) -> Result<(), SysError> {
        reply(&self.reply_message(label, payload)?)
    }
}

/// Receives a message from the endpoint of capability `slot`, waiting up to `timeout`, and
/// checks its kernel-stamped sender (an all-zero Principal is refused with `Unrecognised`).
pub fn receive_verified(slot: u32, timeout: Timeout) -> Result<Verified, SysError> {
    let mut msg = Message::new();
    receive(slot, &mut msg, timeout)?;
    Verified::from_delivered(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_encoding() {
        assert_eq!(Timeout::NonBlocking.encode(), 0);
        assert_eq!(Timeout::Forever.encode(), u64::MAX);
        assert_eq!(Timeout::After(Duration::from_millis(5)).encode(), 5_000_000);
        assert_eq!(Timeout::After(Duration::ZERO).encode(), NONBLOCKING);
        assert_eq!(Timeout::After(Duration::from_nanos(u64::MAX)).encode(), u64::MAX - 1);
        assert_eq!(Timeout::After(Duration::MAX).encode(), u64::MAX - 1);
    }

    fn delivered(sender: [u8; 32], token: u64) -> Message {
        let mut m = Message::with_payload(7, b"ping");
        m.set_sender(&sender);
        m.set_sender_pid(12);
        m.set_endpoint(1);
        m.set_reply_token(token);
        m
    }

    #[test]
    fn verified_checks_the_sender() {
        assert_eq!(Verified::from_delivered(delivered([0; 32], 5)).err(), Some(SysError::Unrecognised));
        let v = Verified::from_delivered(delivered([3; 32], 5)).unwrap();
        assert_eq!(v.sender(), Principal([3; 32]));
        assert_eq!((v.sender_pid(), v.endpoint(), v.label(), v.payload()), (Pid(12), 1, 7, &b"ping"[..]));
        assert!(v.is_call());
        assert_eq!(v.cap(), None);
        let r = v.reply_message(0, b"pong").unwrap();
        assert_eq!((r.reply_token(), r.label(), r.payload(), r.cap()), (5, 0, &b"pong"[..], NO_CAP));
        assert!(r.validate_send().is_ok());
    }

    #[test]
    fn verified_cap_and_non_calls() {
        let mut m = delivered([1; 32], 0);
        m.set_cap(9);
        let v = Verified::from_delivered(m).unwrap();
        assert_eq!(v.cap(), None, "cap without FLAG_CAP");
        assert_eq!(v.reply_message(0, b"").err(), Some(SysError::InvalidArgument));
        m.set_flags(FLAG_CAP);
        assert_eq!(Verified::from_delivered(m).unwrap().cap(), Some(9));
    }

    #[test]
    fn cap_list_lookups() {
        let ep = CapRecord { slot: 3, kind: CapKind::Endpoint as u8, rights: Rights::SEND, endpoint: 2, owner: 4 };
        let sys = CapRecord {
            slot: NO_CAP,
            kind: CapKind::System as u8,
            rights: Rights::NONE,
            endpoint: Capability::Kill as u32,
            owner: 0,
        };
        let mut list = CapList { records: [sys; MAX_CAPS], len: 2 };
        list.records[0] = ep;
        assert_eq!(list.endpoint_slot(WellKnown::Pong as u32), Some(3));
        assert_eq!(list.endpoint_slot(WellKnown::Echo as u32), None);
        assert!(list.has_system(Capability::Kill) && !list.has_system(Capability::Power));
        assert!(list.holds_slot(3) && !list.holds_slot(NO_CAP));
        assert_eq!(system_capability(&sys), Some(Capability::Kill));
        assert_eq!(system_capability(&ep), None);
        assert_eq!(list.iter().count(), 2);
    }

    #[test]
    fn hosted_syscalls_fail_cleanly() {
        assert_eq!(receive_verified(0, Timeout::NonBlocking).err(), Some(SysError::UnknownSyscall));
        assert_eq!(find_endpoint(WellKnown::Echo), None);
        assert_eq!(crate::sys::console_read(&mut [0; 4], Timeout::Forever), Err(SysError::UnknownSyscall));
        assert_eq!(crate::sys::power_off(), SysError::UnknownSyscall);
    }
}
