// SPDX-License-Identifier: AGPL-3.0-or-later
//! Endpoints and pending calls: the portable IPC state machines.
//!
//! An [`Endpoint`] is a bounded queue of [`QUEUE_DEPTH`] messages plus two small FIFOs of
//! blocked threads: receivers waiting for a message and senders waiting for room. A
//! [`ReplyTable`] tracks calls from the moment they are sent until the caller has collected
//! its reply. Neither allocates and neither blocks or wakes anything itself: every operation
//! returns the thread the kernel should wake, and the kernel glue holds each structure in a
//! lock and talks to the scheduler.
//!
//! # Endpoint protocol (kernel glue)
//!
//! * **send**: [`Endpoint::enqueue`]; on success wake the returned receiver, if any. On
//!   [`IpcError::QueueFull`] either fail (non-blocking) or [`Endpoint::wait_send`], block and
//!   retry after waking.
//! * **receive**: [`Endpoint::dequeue`]; on success wake the returned sender, if any. On
//!   [`IpcError::Empty`] either fail or [`Endpoint::wait_receive`], block and retry.
//! * A waiter that times out or is killed leaves with [`Endpoint::cancel_wait`]. A woken
//!   waiter is already off the FIFO. If the returned thread cannot be woken (it just timed
//!   out), take the next one with [`Endpoint::pop_receiver`] / [`Endpoint::pop_sender`].
//! * `wait_*` refuse ([`IpcError::NoNeedToWait`]) when the operation could proceed, so a
//!   waiter can never sleep through a wakeup that already happened.
//! * [`Endpoint::revoke`] bumps the epoch (see `crate::cap`); [`Endpoint::close`] ends the
//!   endpoint and hands back everything the kernel must clean up ([`Drain`]).
//!
//! # Call protocol
//!
//! `call` = [`ReplyTable::begin`] (token into the message's `reply_token` and
//! [`Queued::reply_to`]) + enqueue + block. When a receiver dequeues it:
//! [`ReplyTable::bind`] with the receiver's pid. `reply` = [`ReplyTable::claim`] (only the
//! bound receiver) + [`ReplyTable::complete`] (wake the caller). The caller, whenever it
//! wakes, calls [`ReplyTable::take_reply`]; on [`IpcError::NotReady`] after a timeout it
//! calls [`ReplyTable::cancel`].

#[cfg(test)]
mod tests;

mod reply;

pub use reply::{CallInfo, CallState, MAX_CALLS, ReplyTable};

use core::fmt;

use cambios_abi::error::SysError;
use cambios_abi::ipc::{Message, QUEUE_DEPTH};

use crate::cap::Capability;
use crate::sched::ThreadId;

/// Threads that can wait on one endpoint in each direction (receivers, senders).
pub const WAITERS: usize = 8;

/// Why an IPC operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpcError {
    /// The endpoint's queue is full.
    QueueFull,
    /// The endpoint's queue is empty.
    Empty,
    /// The endpoint is closed.
    Closed,
    /// The endpoint's FIFO of waiting threads is full.
    TooManyWaiters,
    /// The thread already waits on this endpoint.
    AlreadyWaiting,
    /// The operation can proceed now; waiting would miss the wakeup.
    NoNeedToWait,
    /// The endpoint was revoked so often that its epoch would repeat.
    EpochExhausted,
    /// Every slot of the reply table is in use.
    TableFull,
    /// No pending call has this token (never issued, cancelled, or already finished), or the
    /// call belongs to another thread.
    BadToken,
    /// The call was already bound to a receiver.
    AlreadyBound,
    /// Only the process that received the call may reply, and this is not it.
    NotReceiver,
    /// A reply to the call is already in progress or done.
    AlreadyReplied,
    /// [`ReplyTable::complete`] without a successful [`ReplyTable::claim`].
    NotClaimed,
    /// The reply has not arrived yet.
    NotReady,
    /// The call was abandoned: its server died or its endpoint closed.
    Abandoned,
}

impl IpcError {
    /// A short human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            IpcError::QueueFull => "endpoint queue full",
            IpcError::Empty => "endpoint queue empty",
            IpcError::Closed => "endpoint closed",
            IpcError::TooManyWaiters => "too many threads waiting on the endpoint",
            IpcError::AlreadyWaiting => "thread already waits on the endpoint",
            IpcError::NoNeedToWait => "operation can proceed without waiting",
            IpcError::EpochExhausted => "endpoint revocation epoch exhausted",
            IpcError::TableFull => "reply table full",
            IpcError::BadToken => "no such pending call",
            IpcError::AlreadyBound => "call already received",
            IpcError::NotReceiver => "only the receiver of a call may reply",
            IpcError::AlreadyReplied => "call already answered",
            IpcError::NotClaimed => "reply not claimed",
            IpcError::NotReady => "reply not arrived yet",
            IpcError::Abandoned => "call abandoned: server gone or endpoint closed",
        }
    }

    /// The syscall error user space sees (the glue may pick a more specific one).
    pub const fn sys_error(self) -> SysError {
        match self {
            IpcError::QueueFull => SysError::QueueFull,
            IpcError::Empty | IpcError::NotReady => SysError::WouldBlock,
            IpcError::Closed | IpcError::Abandoned => SysError::BadCapability,
            IpcError::TooManyWaiters | IpcError::EpochExhausted | IpcError::TableFull => SysError::OutOfMemory,
            IpcError::AlreadyWaiting | IpcError::NoNeedToWait => SysError::InvalidArgument,
            IpcError::BadToken
            | IpcError::AlreadyBound
            | IpcError::NotReceiver
            | IpcError::AlreadyReplied
            | IpcError::NotClaimed => SysError::NotFound,
        }
    }
}

impl fmt::Display for IpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fixed-capacity FIFO.
#[derive(Clone, Copy, Debug)]
struct Ring<T: Copy, const N: usize> {
    items: [Option<T>; N],
    head: usize,
    len: usize,
}

impl<T: Copy, const N: usize> Ring<T, N> {
    const fn new() -> Self {
        Ring { items: [None; N], head: 0, len: 0 }
    }

    const fn len(&self) -> usize {
        self.len
    }

    const fn is_full(&self) -> bool {
        self.len >= N
    }

    /// The array index of the `k`th element from the front.
    fn index(&self, k: usize) -> Option<usize> {
        self.head.checked_add(k)?.checked_rem(N)
    }

    fn push_back(&mut self, value: T) -> bool {
        if self.is_full() {
            return false;
        }
        match self.index(self.len).and_then(|i| self.items.get_mut(i)) {
            Some(cell) => {
                *cell = Some(value);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let value = self.items.get_mut(self.head).and_then(Option::take)?;
        self.head = self.index(1).unwrap_or(0);
        self.len -= 1;
        Some(value)
    }

    fn get(&self, k: usize) -> Option<T> {
        if k >= self.len {
            return None;
        }
        self.index(k).and_then(|i| self.items.get(i)).copied().flatten()
    }

    /// Removes the first element matching `pred`, keeping the others in order.
    fn remove_first(&mut self, pred: impl Fn(&T) -> bool) -> Option<T> {
        let k = (0..self.len).find(|&k| self.get(k).is_some_and(|v| pred(&v)))?;
        let removed = self.get(k);
        for j in k..self.len {
            let next = if j + 1 < self.len { self.get(j + 1) } else { None };
            if let Some(cell) = self.index(j).and_then(|i| self.items.get_mut(i)) {
                *cell = next;
            }
        }
        self.len -= 1;
        removed
    }

    fn iter(&self) -> impl Iterator<Item = T> + '_ {
        (0..self.len).filter_map(|k| self.get(k))
    }

    fn contains(&self, pred: impl Fn(&T) -> bool) -> bool {
        self.iter().any(|v| pred(&v))
    }
}

/// Whether an endpoint still accepts operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndpointState {
    /// Messages and waiters are accepted.
    Open,
    /// Closed by [`Endpoint::close`]; every operation fails with [`IpcError::Closed`].
    Closed,
}

/// Where the reply to a queued call goes: the [`ReplyTable`] token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReplyTo {
    /// The call's token (never 0).
    pub token: u64,
}

/// One queued message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Queued {
    /// The message, already stamped by the kernel.
    pub msg: Message,
    /// A capability travelling with the message (not yet in any table).
    pub transfer: Option<Capability>,
    /// Set when the message is a call.
    pub reply_to: Option<ReplyTo>,
}

/// What [`Endpoint::close`] leaves for the kernel to clean up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drain {
    /// Receivers that were waiting, in order: wake them (their receive fails).
    pub receivers: [Option<ThreadId>; WAITERS],
    /// Senders that were waiting, in order: wake them (their send fails).
    pub senders: [Option<ThreadId>; WAITERS],
    /// Capabilities of the drained messages, never delivered: drop them.
    pub transfers: [Option<Capability>; QUEUE_DEPTH],
    /// Calls among the drained messages: abandon them ([`ReplyTable::abandon`]).
    pub calls: [Option<ReplyTo>; QUEUE_DEPTH],
    /// Number of drained messages.
    pub messages: usize,
}

impl Drain {
    /// Every thread to wake: the receivers, then the senders.
    pub fn threads(&self) -> impl Iterator<Item = ThreadId> + '_ {
        self.receivers.iter().chain(self.senders.iter()).flatten().copied()
    }
}

/// One endpoint: owner, revocation epoch, state, message queue and waiting threads.
#[derive(Clone, Debug)]
pub struct Endpoint {
    owner: u32,
    epoch: u32,
    state: EndpointState,
    queue: Ring<Queued, QUEUE_DEPTH>,
    receivers: Ring<ThreadId, WAITERS>,
    senders: Ring<ThreadId, WAITERS>,
}

impl Endpoint {
    /// An open, empty endpoint owned by process `owner`, at epoch 0.
    pub const fn new(owner: u32) -> Endpoint {
        Endpoint {
            owner,
            epoch: 0,
            state: EndpointState::Open,
            queue: Ring::new(),
            receivers: Ring::new(),
            senders: Ring::new(),
        }
    }

    /// An open, empty endpoint owned by `owner` starting at `epoch` (a new incarnation of a
    /// well-known endpoint starts past every epoch its old capabilities carry).
    pub const fn with_epoch(owner: u32, epoch: u32) -> Endpoint {
        let mut e = Endpoint::new(owner);
        e.epoch = epoch;
        e
    }

    /// The owner's pid.
    pub const fn owner(&self) -> u32 {
        self.owner
    }

    /// Hands the endpoint to a new owner (a well-known endpoint created before its provider).
    pub fn set_owner(&mut self, owner: u32) {
        self.owner = owner;
    }

    /// The current revocation epoch.
    pub const fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Open or closed.
    pub const fn state(&self) -> EndpointState {
        self.state
    }

    /// Queued messages.
    pub const fn len(&self) -> usize {
        self.queue.len()
    }

    /// True when no message is queued.
    pub const fn is_empty(&self) -> bool {
        self.queue.len() == 0
    }

    /// True when the queue holds [`QUEUE_DEPTH`] messages.
    pub const fn is_full(&self) -> bool {
        self.queue.is_full()
    }

    /// Threads waiting to receive.
    pub const fn receivers_waiting(&self) -> usize {
        self.receivers.len()
    }

    /// Threads waiting for room to send.
    pub const fn senders_waiting(&self) -> usize {
        self.senders.len()
    }

    fn open(&self) -> Result<(), IpcError> {
        match self.state {
            EndpointState::Open => Ok(()),
            EndpointState::Closed => Err(IpcError::Closed),
        }
    }

    /// Appends `item` to the queue and returns the first waiting receiver (now off the FIFO)
    /// for the kernel to wake.
    pub fn enqueue(&mut self, item: Queued) -> Result<Option<ThreadId>, IpcError> {
        self.open()?;
        if !self.queue.push_back(item) {
            return Err(IpcError::QueueFull);
        }
        Ok(self.receivers.pop_front())
    }

    /// Takes the oldest message and returns the first blocked sender (now off the FIFO) for
    /// the kernel to wake, since there is room again.
    pub fn dequeue(&mut self) -> Result<(Queued, Option<ThreadId>), IpcError> {
        self.open()?;
        let item = self.queue.pop_front().ok_or(IpcError::Empty)?;
        Ok((item, self.senders.pop_front()))
    }

    fn check_wait(&self, tid: ThreadId) -> Result<(), IpcError> {
        self.open()?;
        if self.receivers.contains(|&t| t == tid) || self.senders.contains(|&t| t == tid) {
            return Err(IpcError::AlreadyWaiting);
        }
        Ok(())
    }

    /// Records that `tid` blocks until a message arrives. Refused when a message is already
    /// queued ([`IpcError::NoNeedToWait`]) or the FIFO is full.
    pub fn wait_receive(&mut self, tid: ThreadId) -> Result<(), IpcError> {
        self.check_wait(tid)?;
        if !self.is_empty() {
            return Err(IpcError::NoNeedToWait);
        }
        if self.receivers.push_back(tid) { Ok(()) } else { Err(IpcError::TooManyWaiters) }
    }

    /// Records that `tid` blocks until the queue has room. Refused when it has room now
    /// ([`IpcError::NoNeedToWait`]) or the FIFO is full.
    pub fn wait_send(&mut self, tid: ThreadId) -> Result<(), IpcError> {
        self.check_wait(tid)?;
        if !self.is_full() {
            return Err(IpcError::NoNeedToWait);
        }
        if self.senders.push_back(tid) { Ok(()) } else { Err(IpcError::TooManyWaiters) }
    }

    /// Removes `tid` from both FIFOs (it timed out or is being killed). True when it was
    /// waiting.
    pub fn cancel_wait(&mut self, tid: ThreadId) -> bool {
        let r = self.receivers.remove_first(|&t| t == tid).is_some();
        let s = self.senders.remove_first(|&t| t == tid).is_some();
        r || s
    }

    /// The next waiting receiver, taken off the FIFO (when the one `enqueue` returned could
    /// not be woken). `None` when the queue is empty or nobody waits.
    pub fn pop_receiver(&mut self) -> Option<ThreadId> {
        if self.is_empty() { None } else { self.receivers.pop_front() }
    }

    /// The next blocked sender, taken off the FIFO (when the one `dequeue` returned could
    /// not be woken). `None` when the queue is full or nobody waits.
    pub fn pop_sender(&mut self) -> Option<ThreadId> {
        if self.is_full() { None } else { self.senders.pop_front() }
    }

    /// Invalidates every capability made so far by moving to the next epoch, which is
    /// returned (the owner refreshes its own capabilities to it). Refused when the endpoint
    /// is closed or the epoch would wrap around to a value old capabilities may carry.
    pub fn revoke(&mut self) -> Result<u32, IpcError> {
        self.open()?;
        self.epoch = self.epoch.checked_add(1).ok_or(IpcError::EpochExhausted)?;
        Ok(self.epoch)
    }

    /// Closes the endpoint: the queue is drained and every waiter released; the [`Drain`]
    /// says what to wake and what to drop. Later operations fail with [`IpcError::Closed`].
    pub fn close(&mut self) -> Result<Drain, IpcError> {
        self.open()?;
        self.state = EndpointState::Closed;
        let mut drain = Drain {
            receivers: [None; WAITERS],
            senders: [None; WAITERS],
            transfers: [None; QUEUE_DEPTH],
            calls: [None; QUEUE_DEPTH],
            messages: 0,
        };
        for cell in drain.receivers.iter_mut() {
            *cell = self.receivers.pop_front();
        }
        for cell in drain.senders.iter_mut() {
            *cell = self.senders.pop_front();
        }
        for (transfer, call) in drain.transfers.iter_mut().zip(drain.calls.iter_mut()) {
            let Some(item) = self.queue.pop_front() else { break };
            *transfer = item.transfer;
            *call = item.reply_to;
            drain.messages += 1;
        }
        Ok(drain)
    }
}
