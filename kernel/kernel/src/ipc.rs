// SPDX-License-Identifier: AGPL-3.0-or-later
//! IPC: endpoints, capability-checked send and receive, call and reply, capability transfer
//! and revocation, on top of `kernel_core::{ipc, cap}`.
//!
//! Every endpoint has its own lock (rank `Endpoint`; never two at once): there is no global
//! IPC lock. Pending calls live in one reply table (rank `Replies`). Capability tables live in
//! the process table (rank `Processes`, taken first).
//!
//! The order of every send: look the capability up in the sender's table (right SEND, epoch
//! current) → validate the header → derive a capability to transfer (needs GRANT) →
//! **stamp** the sender's Principal, pid and the endpoint into the message (whatever the
//! sender wrote there is overwritten) → the interceptor's `on_send` → queue (or block while
//! full). A receive: capability (RECEIVE) → `on_receive` → dequeue (or block) → install a
//! transferred capability in the receiver's table → copy out. Every refusal is a typed error
//! and an audit event (`cap.denied` or `intercept.denied`).

use cambios_abi::audit::EventKind;
use cambios_abi::error::SysError;
use cambios_abi::ipc::{
    FLAG_CAP, FLAG_RIGHTS_MASK, FLAG_RIGHTS_SHIFT, FOREVER, MESSAGE_SIZE, Message, NO_CAP, NONBLOCKING, Rights,
    WellKnown,
};
use cambios_abi::syscall::Syscall;
use kernel_core::cap::{CapError, Capability, EndpointRef};
use kernel_core::ipc::{Endpoint, EndpointState, IpcError, Queued, ReplyTable, ReplyTo};
use kernel_core::sched::{BlockReason, ThreadId};
use kernel_core::sync::LockClass;

use crate::interceptor::{ACTIVE, Interceptor, Subject, Verdict};
use crate::process::{self, Pid};
use crate::sync::SpinLock;
use crate::{sched, time};

/// Endpoints the kernel can hold at once (ids 1..MAX_ENDPOINTS; 1..=63 are reserved for the
/// well-known endpoints).
pub const MAX_ENDPOINTS: usize = 128;
/// First id handed out by `endpoint_create`.
const FIRST_DYNAMIC: usize = 64;
/// Open endpoints one process may own.
const MAX_OWNED: usize = 16;
/// Calls pending at once, system-wide.
const MAX_CALLS: usize = 64;

/// One lock per endpoint (built in place; a `const` item only seeds the array initialiser,
/// each element is its own lock).
static ENDPOINTS: [SpinLock<Option<Endpoint>>; MAX_ENDPOINTS] = {
    #[allow(clippy::declare_interior_mutable_const)]
    const NO_ENDPOINT: SpinLock<Option<Endpoint>> = SpinLock::new(LockClass::Endpoint, None);
    [NO_ENDPOINT; MAX_ENDPOINTS]
};
static REPLIES: SpinLock<ReplyTable<MAX_CALLS>> = SpinLock::new(LockClass::Replies, ReplyTable::new(0x5eed_ca11));

/// Block reason values: receive and send waits carry the endpoint id; call waits this tag.
const CALL_WAIT: u32 = 0xca11_0000;

fn endpoint(id: u32) -> Option<&'static SpinLock<Option<Endpoint>>> {
    ENDPOINTS.get(usize::try_from(id).ok()?)
}

/// The current epoch of endpoint `id`, if it exists and is open.
fn epoch_of(id: u32) -> Option<u32> {
    let guard = endpoint(id)?.lock();
    guard.as_ref().filter(|e| e.state() == EndpointState::Open).map(Endpoint::epoch)
}

/// The deadline for a timeout argument: `None` = forever.
fn deadline(timeout: u64) -> Option<u64> {
    (timeout != FOREVER).then(|| time::uptime_ns().saturating_add(timeout))
}

/// Wakes `first` or, if it cannot be woken (it timed out, was killed, or already runs), the
/// next waiter of the same kind, until one is woken or none is left: a wakeup is never lost.
fn wake_waiter(e: &mut Endpoint, first: Option<ThreadId>, receivers: bool) {
    let mut next = first;
    // Bounded by the waiter FIFO's length.
    for _ in 0..=kernel_core::ipc::WAITERS {
        let Some(thread) = next else { return };
        if sched::wake(thread) {
            return;
        }
        next = if receivers { e.pop_receiver() } else { e.pop_sender() };
    }
}

/// A thread about to sleep on an endpoint.
struct Waiter {
    thread: ThreadId,
    endpoint: u32,
    until: Option<u64>,
    /// Waiting for a message (true) or for room (false).
    receiver: bool,
}

/// Sleeps until woken or until the deadline. The caller registered `w.thread` as a waiter
/// under `guard`; the thread is marked blocked before the guard is dropped, so a wakeup cannot
/// slip between. A timed-out waiter takes itself off the list and passes on any wakeup it
/// might have been handed (`TimedOut`).
fn sleep_on(
    guard: crate::sync::SpinGuard<'_, Option<Endpoint>>,
    lock: &SpinLock<Option<Endpoint>>,
    w: Waiter,
) -> Result<(), SysError> {
    sched::block_current_until(BlockReason::Generic(w.endpoint), w.until).map_err(|_| SysError::InvalidArgument)?;
    drop(guard);
    sched::reschedule();
    if sched::woke_by_timeout(w.thread) {
        if let Some(e) = lock.lock().as_mut() {
            e.cancel_wait(w.thread);
            let next = if w.receiver { e.pop_receiver() } else { e.pop_sender() };
            wake_waiter(e, next, w.receiver);
        }
        return Err(SysError::TimedOut);
    }
    Ok(())
}

/// The result of registering as a waiter before sleeping. `AlreadyWaiting` means this
/// thread is still registered from its previous sleep here: a stray wakeup (one meant for an
/// earlier wait, delivered late by another CPU) ended that sleep, so it just sleeps again.
fn still_waiting(registered: Result<(), IpcError>) -> Result<(), SysError> {
    match registered {
        Ok(()) | Err(IpcError::AlreadyWaiting) => Ok(()),
        Err(e) => Err(e.sys_error()),
    }
}

/// Audits and returns a capability failure.
fn denied(pid: Pid, principal: &[u8; 32], call: Syscall, slot: u32, e: CapError) -> SysError {
    crate::audit::log_denial(EventKind::CapDenied, pid.0, principal, call.number(), u64::from(slot));
    e.sys_error()
}

/// Audits and returns an interceptor denial.
fn intercepted(pid: Pid, principal: &[u8; 32], call: Syscall, endpoint: u32) -> SysError {
    crate::audit::log_denial(EventKind::InterceptDenied, pid.0, principal, call.number(), u64::from(endpoint));
    SysError::Denied
}

/// The caller's identity and the endpoint behind `slot` (with rights `needed`).
fn lookup(call: Syscall, slot: u32, needed: Rights) -> Result<(Pid, [u8; 32], EndpointRef), SysError> {
    let pid = process::current_pid()?;
    let principal = process::current_principal()?;
    let checked = process::with_caps(pid, |caps| caps.check(slot, needed, epoch_of))?;
    match checked {
        Ok(ep) => Ok((pid, principal, ep)),
        Err(e) => Err(denied(pid, &principal, call, slot, e)),
    }
}

/// `endpoint_create`: a new endpoint owned by the caller; returns the slot of its capability.
pub fn create() -> Result<u64, SysError> {
    let pid = process::current_pid()?;
    let owned = ENDPOINTS
        .iter()
        .filter(|l| l.lock().as_ref().is_some_and(|e| e.owner() == pid.0 && e.state() == EndpointState::Open))
        .count();
    if owned >= MAX_OWNED {
        return Err(SysError::OutOfMemory);
    }
    for (id, lock) in ENDPOINTS.iter().enumerate().skip(FIRST_DYNAMIC) {
        let mut guard = lock.lock();
        // A free slot, or a closed endpoint reused at a later epoch (its old capabilities
        // carry older epochs and stay dead); a slot whose epochs are used up is retired.
        let epoch = match guard.as_ref() {
            None => Some(0),
            Some(e) if e.state() == EndpointState::Closed => e.epoch().checked_add(1),
            Some(_) => None,
        };
        if let Some(epoch) = epoch {
            let endpoint = Endpoint::with_epoch(pid.0, epoch);
            let cap = Capability::new(id as u32, endpoint.epoch(), Rights::ALL);
            *guard = Some(endpoint);
            drop(guard);
            return match process::with_caps(pid, |caps| caps.insert(cap))? {
                Ok(slot) => Ok(u64::from(slot)),
                Err(e) => {
                    if let Some(endpoint) = lock.lock().as_mut() {
                        let _ = endpoint.close();
                    }
                    Err(e.sys_error())
                }
            };
        }
    }
    Err(SysError::OutOfMemory)
}

/// Gives `pid` its manifest's well-known endpoint capabilities: all rights on the ones it
/// `provides` (it becomes their owner), send on the ones it `uses`.
pub fn grant_well_known(pid: Pid, provides: u64, uses: u64) -> Result<(), SysError> {
    for w in WellKnown::ALL {
        let id = w as u32;
        let (owns, sends) = (provides & w.bit() != 0, uses & w.bit() != 0);
        if !owns && !sends {
            continue;
        }
        let lock = endpoint(id).ok_or(SysError::InvalidArgument)?;
        let epoch = {
            let mut guard = lock.lock();
            let reopen = guard.as_ref().is_none_or(|e| e.state() == EndpointState::Closed);
            if reopen {
                // A new endpoint (or a new incarnation after its provider ended): old
                // capabilities carry an old epoch, so they stay invalid.
                let next_epoch = match guard.as_ref() {
                    None => 0,
                    Some(e) => e.epoch().checked_add(1).ok_or(SysError::OutOfMemory)?,
                };
                *guard = Some(Endpoint::with_epoch(if owns { pid.0 } else { 0 }, next_epoch));
            } else if owns && let Some(e) = guard.as_mut() {
                // A second provider while the first is alive would take the endpoint over.
                if e.owner() != 0 && e.owner() != pid.0 {
                    return Err(SysError::PermissionDenied);
                }
                e.set_owner(pid.0);
            }
            guard.as_ref().map_or(0, Endpoint::epoch)
        };
        let rights = if owns { Rights::ALL } else { Rights::SEND };
        process::with_caps(pid, |caps| caps.insert(Capability::new(id, epoch, rights)))?
            .map_err(CapError::sys_error)?;
    }
    Ok(())
}

/// Reads a 256-byte message from user memory.
fn read_message(ptr: u64) -> Result<Message, SysError> {
    let mut msg = Message::new();
    process::copy_from_user(ptr, &mut msg.bytes)?;
    Ok(msg)
}

/// `send` (and the first half of `call`, with its reply token): queues `msg`, already read
/// from the caller once.
fn deliver(call: Syscall, slot: u32, mut msg: Message, timeout: u64, token: Option<u64>) -> Result<(), SysError> {
    let (pid, principal, ep) = lookup(call, slot, Rights::SEND)?;
    msg.validate_send()?;
    let transfer = if msg.flags() & FLAG_CAP != 0 {
        let source = msg.cap();
        let asked = Rights::from_bits(((msg.flags() & FLAG_RIGHTS_MASK) >> FLAG_RIGHTS_SHIFT) as u8);
        let derived = process::with_caps(pid, |caps| {
            caps.check(source, Rights::GRANT, epoch_of).and_then(|_| {
                let rights = match asked {
                    Some(r) if r != Rights::NONE => r,
                    _ => caps_rights(caps, source),
                };
                caps.derive(source, rights)
            })
        })?;
        Some(derived.map_err(|e| denied(pid, &principal, call, source, e))?)
    } else {
        None
    };
    // The stamp: nothing the sender wrote in these fields survives.
    msg.set_sender(&principal);
    msg.set_sender_pid(pid.0);
    msg.set_endpoint(ep.id);
    msg.set_reply_token(token.unwrap_or(0));
    msg.set_cap(NO_CAP);
    let subject = Subject { pid: pid.0, principal: &principal };
    if let Verdict::Deny(_) = ACTIVE.on_send(subject, ep.id, &msg, transfer.map(|c| c.endpoint.id)) {
        return Err(intercepted(pid, &principal, call, ep.id));
    }
    let item = Queued { msg, transfer, reply_to: token.map(|token| ReplyTo { token }) };
    let lock = endpoint(ep.id).ok_or(SysError::BadCapability)?;
    let until = deadline(timeout);
    let me = sched::current_thread().map_err(|_| SysError::InvalidArgument)?;
    // Each round queues the message or waits for room (or the deadline).
    for _ in 0..u32::MAX {
        {
            let mut guard = lock.lock();
            let e = guard.as_mut().ok_or(SysError::BadCapability)?;
            if e.epoch() != ep.epoch {
                // Pass on the room this sender was woken for.
                let next = e.pop_sender();
                wake_waiter(e, next, false);
                return Err(denied(pid, &principal, call, slot, CapError::Revoked));
            }
            match e.enqueue(item) {
                Ok(first) => wake_waiter(e, first, true),
                Err(IpcError::QueueFull) if timeout == NONBLOCKING => return Err(SysError::QueueFull),
                Err(IpcError::QueueFull) => {
                    still_waiting(e.wait_send(me))?;
                    sleep_on(guard, lock, Waiter { thread: me, endpoint: ep.id, until, receiver: false })?;
                    continue;
                }
                Err(e) => return Err(e.sys_error()),
            }
        }
        return Ok(());
    }
    Err(SysError::TimedOut)
}

/// The rights of the capability in `slot` (a transferred copy keeps them all).
fn caps_rights(caps: &kernel_core::cap::CapTable, slot: u32) -> Rights {
    caps.get(slot).map_or(Rights::NONE, |c| c.rights)
}

/// `send(slot, message, timeout)`.
pub fn send(slot: u64, ptr: u64, timeout: u64) -> Result<u64, SysError> {
    let slot = u32::try_from(slot).map_err(|_| SysError::BadCapability)?;
    deliver(Syscall::Send, slot, read_message(ptr)?, timeout, None).map(|()| 0)
}

/// `receive(slot, message, timeout)`.
pub fn receive(slot: u64, ptr: u64, timeout: u64) -> Result<u64, SysError> {
    let slot = u32::try_from(slot).map_err(|_| SysError::BadCapability)?;
    let (pid, principal, ep) = lookup(Syscall::Receive, slot, Rights::RECEIVE)?;
    let subject = Subject { pid: pid.0, principal: &principal };
    if let Verdict::Deny(_) = ACTIVE.on_receive(subject, ep.id) {
        return Err(intercepted(pid, &principal, Syscall::Receive, ep.id));
    }
    // Check the buffer before taking a message, so a bad pointer loses nothing.
    process::copy_to_user(ptr, &[0u8; MESSAGE_SIZE])?;
    let lock = endpoint(ep.id).ok_or(SysError::BadCapability)?;
    let until = deadline(timeout);
    let me = sched::current_thread().map_err(|_| SysError::InvalidArgument)?;
    let mut taken = None;
    for _ in 0..u32::MAX {
        {
            let mut guard = lock.lock();
            let e = guard.as_mut().ok_or(SysError::BadCapability)?;
            if e.epoch() != ep.epoch {
                // Pass on the message this receiver was woken for.
                let next = e.pop_receiver();
                wake_waiter(e, next, true);
                return Err(denied(pid, &principal, Syscall::Receive, slot, CapError::Revoked));
            }
            match e.dequeue() {
                Ok((item, first)) => {
                    taken = Some(item);
                    wake_waiter(e, first, false);
                }
                Err(IpcError::Empty) if timeout == NONBLOCKING => return Err(SysError::WouldBlock),
                Err(IpcError::Empty) => {
                    still_waiting(e.wait_receive(me))?;
                    sleep_on(guard, lock, Waiter { thread: me, endpoint: ep.id, until, receiver: true })?;
                    continue;
                }
                Err(e) => return Err(e.sys_error()),
            }
        }
        break;
    }
    let Some(mut item) = taken else { return Err(SysError::TimedOut) };
    if let Some(ReplyTo { token }) = item.reply_to
        && REPLIES.lock().bind(token, pid.0).is_err()
    {
        // The caller gave up (timed out or ended) meanwhile: it is no longer a call.
        item.msg.set_reply_token(0);
    }
    if let Some(cap) = item.transfer {
        match process::with_caps(pid, |caps| caps.insert(cap))? {
            Ok(new_slot) => {
                item.msg.set_cap(new_slot);
                crate::audit::log(
                    EventKind::CapGranted,
                    pid.0,
                    &principal,
                    u64::from(item.msg.sender_pid()),
                    u64::from(cap.endpoint.id),
                );
            }
            Err(_) => {
                item.msg.set_cap(NO_CAP);
                item.msg.set_flags(item.msg.flags() & !FLAG_CAP);
            }
        }
    }
    process::copy_to_user(ptr, &item.msg.bytes)?;
    Ok(0)
}

/// `call(slot, message, timeout)`: send, then wait for the reply into the same buffer.
pub fn call(slot: u64, ptr: u64, timeout: u64) -> Result<u64, SysError> {
    let slot = u32::try_from(slot).map_err(|_| SysError::BadCapability)?;
    if timeout == NONBLOCKING {
        // A call always waits for its reply.
        return Err(SysError::InvalidArgument);
    }
    let until = deadline(timeout);
    let pid = process::current_pid()?;
    // The reply buffer must be writable before anything is sent.
    let request = read_message(ptr)?;
    process::copy_to_user(ptr, &request.bytes)?;
    let me = sched::current_thread().map_err(|_| SysError::InvalidArgument)?;
    let token = REPLIES.lock().begin(me, pid.0, None).map_err(IpcError::sys_error)?;
    if let Err(e) = deliver(Syscall::Call, slot, request, timeout, Some(token)) {
        let _ = REPLIES.lock().cancel(token);
        return Err(e);
    }
    for _ in 0..u32::MAX {
        {
            let mut replies = REPLIES.lock();
            match replies.take_reply(token, me) {
                Ok(reply) => {
                    drop(replies);
                    process::copy_to_user(ptr, &reply.bytes)?;
                    return Ok(0);
                }
                Err(IpcError::NotReady) => {
                    // Blocked while holding the reply table: the reply cannot slip between.
                    sched::block_current_until(BlockReason::Generic(CALL_WAIT), until)
                        .map_err(|_| SysError::InvalidArgument)?;
                }
                Err(e) => return Err(e.sys_error()),
            }
        }
        sched::reschedule();
        if sched::woke_by_timeout(me) {
            let mut replies = REPLIES.lock();
            if let Ok(reply) = replies.take_reply(token, me) {
                drop(replies);
                process::copy_to_user(ptr, &reply.bytes)?;
                return Ok(0);
            }
            let _ = replies.cancel(token);
            return Err(SysError::TimedOut);
        }
    }
    Err(SysError::TimedOut)
}

/// `reply(message)`: answers the call named by the message's `reply_token`; only the process
/// that received that call may answer, and the answer goes only to its caller.
pub fn reply(ptr: u64) -> Result<u64, SysError> {
    let pid = process::current_pid()?;
    let principal = process::current_principal()?;
    let mut msg = read_message(ptr)?;
    msg.validate_send()?;
    if msg.flags() & FLAG_CAP != 0 {
        return Err(SysError::InvalidArgument);
    }
    let token = msg.reply_token();
    msg.set_sender(&principal);
    msg.set_sender_pid(pid.0);
    msg.set_reply_token(0);
    msg.set_cap(NO_CAP);
    {
        let mut replies = REPLIES.lock();
        let info = replies.claim(token, pid.0).map_err(|e| {
            crate::audit::log_denial(EventKind::CapDenied, pid.0, &principal, Syscall::Reply.number(), token);
            e.sys_error()
        })?;
        msg.set_endpoint(0);
        let _ = info;
        let caller = replies.complete(token, msg).map_err(IpcError::sys_error)?;
        // Woken under the lock that holds the reply, so the wakeup cannot reach the caller
        // after it gave up waiting (timeout) and blocked on something else.
        sched::wake(caller);
    }
    Ok(0)
}

/// `cap_revoke(slot)`: the endpoint's owner invalidates every other capability to it.
pub fn revoke(slot: u64) -> Result<u64, SysError> {
    let slot = u32::try_from(slot).map_err(|_| SysError::BadCapability)?;
    let (pid, principal, ep) = lookup(Syscall::CapRevoke, slot, Rights::GRANT)?;
    let lock = endpoint(ep.id).ok_or(SysError::BadCapability)?;
    let new_epoch = {
        let mut guard = lock.lock();
        let e = guard.as_mut().ok_or(SysError::BadCapability)?;
        if e.owner() != pid.0 {
            return Err(denied(pid, &principal, Syscall::CapRevoke, slot, CapError::MissingRight));
        }
        e.revoke().map_err(IpcError::sys_error)?
    };
    process::with_caps(pid, |caps| caps.refresh(ep.id, new_epoch))?;
    crate::audit::log(EventKind::CapRevoked, pid.0, &principal, u64::from(slot), u64::from(ep.id));
    Ok(0)
}

/// `cap_drop(slot)`.
pub fn drop_cap(slot: u64) -> Result<u64, SysError> {
    let slot = u32::try_from(slot).map_err(|_| SysError::BadCapability)?;
    let pid = process::current_pid()?;
    process::with_caps(pid, |caps| caps.remove(slot))?.map_err(CapError::sys_error)?;
    Ok(0)
}

/// The owner of endpoint `id` (0 = the kernel or none).
pub fn owner_of(id: u32) -> u32 {
    endpoint(id).and_then(|l| l.lock().as_ref().map(Endpoint::owner)).unwrap_or(0)
}

/// Cleans up after process `pid` ended (called under the process-table lock, which ranks
/// before the endpoint and reply locks): closes the endpoints it owns, waking their waiters,
/// and abandons the calls it was serving or making.
pub fn process_ended(pid: Pid, thread: Option<ThreadId>) {
    for lock in ENDPOINTS.iter() {
        let mut guard = lock.lock();
        let Some(e) = guard.as_mut() else { continue };
        // A killed thread may wait on any endpoint: take it off, and pass on what it held.
        if let Some(t) = thread
            && e.cancel_wait(t)
        {
            let next = e.pop_receiver();
            wake_waiter(e, next, true);
            let next = e.pop_sender();
            wake_waiter(e, next, false);
        }
        if e.owner() != pid.0 || e.state() != EndpointState::Open {
            continue;
        }
        if let Ok(drain) = e.close() {
            // Endpoint (3) → Replies (4) → Scheduler (5): waking here keeps the lock order.
            let mut replies = REPLIES.lock();
            for call in drain.calls.iter().flatten() {
                if let Ok(t) = replies.abandon(call.token) {
                    sched::wake(t);
                }
            }
            drop(replies);
            for t in drain.threads() {
                sched::wake(t);
            }
        }
    }
    REPLIES.lock().cancel_for_process(pid.0, |t| {
        sched::wake(t);
    });
}
