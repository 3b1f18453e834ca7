// SPDX-License-Identifier: AGPL-3.0-or-later
//! Pending calls: who waits for which reply, and who may give it.
//!
//! A [`ReplyTable`] holds up to `N` calls. Each gets a token when it starts; the token is the
//! only name user space sees (the `reply_token` header field).
//!
//! # Tokens
//!
//! Bits 0..16 are the call's slot; bits 16..63 are a 47-bit sequence number, advanced on every
//! call and passed through a keyed bijection (so consecutive tokens do not look consecutive).
//! A slot holds one call at a time and sequence numbers repeat only after 2^47 calls, so a
//! pending token is never issued again and a finished or cancelled token is refused
//! ([`IpcError::BadToken`]). Bit 63 is clear and 0 is never a token.
//!
//! # States
//!
//! | from | event | to |
//! |---|---|---|
//! | — | [`ReplyTable::begin`] | `Sent` |
//! | `Sent` | [`ReplyTable::bind`] (dequeued by process `r`) | `Received(r)` |
//! | `Received(r)` | [`ReplyTable::claim`] by `r` | `Claimed(r)` |
//! | `Claimed(r)` | [`ReplyTable::unclaim`] by `r` (the reply could not be read) | `Received(r)` |
//! | `Claimed(r)` | [`ReplyTable::complete`] (wake the caller) | `Replied` |
//! | `Sent \| Received \| Claimed` | [`ReplyTable::abandon`], or the server dies ([`ReplyTable::cancel_for_process`]) | `Abandoned` (wake the caller) |
//! | `Replied \| Abandoned` | [`ReplyTable::take_reply`] by the caller | free |
//! | any | [`ReplyTable::cancel`], or the caller's process dies | free |

use core::fmt;

use cambios_abi::ipc::Message;

use super::IpcError;
use crate::sched::ThreadId;

const SLOT_BITS: u32 = 16;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
const SEQ_MASK: u64 = (1 << 47) - 1;
/// An odd multiplier: multiplication by it is a bijection modulo 2^47.
const MULTIPLIER: u64 = 0x5851_f42d_4c95_7f2d & SEQ_MASK;

/// Largest `N` a [`ReplyTable`] can have (the slot bits of a token).
pub const MAX_CALLS: usize = 1 << SLOT_BITS;

/// Where a call is in its life (see the module's state table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallState {
    /// Sent; no receiver has taken it yet.
    Sent,
    /// Taken by a receiver, which may reply.
    Received,
    /// The receiver is replying.
    Claimed,
    /// The reply waits for the caller.
    Replied,
    /// No reply will come; the caller gets an error.
    Abandoned,
}

/// Who is involved in a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallInfo {
    /// The calling thread (the only one that can collect the reply).
    pub caller_tid: ThreadId,
    /// The calling process.
    pub caller_pid: u32,
    /// The process expected to serve the call (the endpoint's owner when it was sent).
    pub server_pid: Option<u32>,
    /// The process that received the call, once it has.
    pub receiver_pid: Option<u32>,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Sent,
    Received { receiver: u32 },
    Claimed { receiver: u32 },
    Replied { receiver: u32 },
    Abandoned,
}

#[derive(Clone, Copy, Debug)]
struct Call {
    token: u64,
    caller_tid: ThreadId,
    caller_pid: u32,
    server_pid: Option<u32>,
    phase: Phase,
    /// The reply; meaningful in `Phase::Replied` only (every slot must be able to hold one).
    reply: Message,
}

impl Call {
    fn receiver(&self) -> Option<u32> {
        match self.phase {
            Phase::Received { receiver } | Phase::Claimed { receiver } | Phase::Replied { receiver } => Some(receiver),
            Phase::Sent | Phase::Abandoned => None,
        }
    }

    fn info(&self) -> CallInfo {
        CallInfo {
            caller_tid: self.caller_tid,
            caller_pid: self.caller_pid,
            server_pid: self.server_pid,
            receiver_pid: self.receiver(),
        }
    }

    fn state(&self) -> CallState {
        match self.phase {
            Phase::Sent => CallState::Sent,
            Phase::Received { .. } => CallState::Received,
            Phase::Claimed { .. } => CallState::Claimed,
            Phase::Replied { .. } => CallState::Replied,
            Phase::Abandoned => CallState::Abandoned,
        }
    }

    /// True while the call waits for its server (not answered, not abandoned).
    fn waiting_on(&self, pid: u32) -> bool {
        match self.phase {
            Phase::Sent => self.server_pid == Some(pid),
            Phase::Received { receiver } | Phase::Claimed { receiver } => receiver == pid,
            Phase::Replied { .. } | Phase::Abandoned => false,
        }
    }
}

/// SplitMix64 finaliser: spreads a seed over all bits.
const fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The pending calls of the system, up to `N` (at most [`MAX_CALLS`]) at a time.
#[derive(Clone)]
pub struct ReplyTable<const N: usize> {
    calls: [Option<Call>; N],
    len: usize,
    seq: u64,
    key: u64,
    /// Where the search for a free slot starts.
    cursor: usize,
}

impl<const N: usize> fmt::Debug for ReplyTable<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyTable").field("capacity", &N).field("pending", &self.len).finish_non_exhaustive()
    }
}

impl<const N: usize> ReplyTable<N> {
    /// An empty table. `seed` keys the token scrambling (any value works; a boot-time random
    /// value makes tokens harder to guess).
    pub const fn new(seed: u64) -> Self {
        const { assert!(N <= MAX_CALLS, "a reply table holds at most MAX_CALLS calls") };
        ReplyTable { calls: [None; N], len: 0, seq: 0, key: mix(seed), cursor: 0 }
    }

    /// Number of slots (`N`).
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Calls in the table (in any state).
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True when no call is in the table.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    const fn scramble(&self, seq: u64) -> u64 {
        ((((seq ^ self.key) & SEQ_MASK).wrapping_mul(MULTIPLIER | 1)) ^ (self.key >> 17)) & SEQ_MASK
    }

    /// The next token for `slot` (the sequence value that would give 0 is skipped).
    fn next_token(&mut self, slot: usize) -> Option<u64> {
        let slot = u64::try_from(slot).ok().filter(|&s| s <= SLOT_MASK)?;
        for _ in 0..2 {
            self.seq = self.seq.wrapping_add(1) & SEQ_MASK;
            let token = (self.scramble(self.seq) << SLOT_BITS) | slot;
            if token != 0 {
                return Some(token);
            }
        }
        None
    }

    /// Starts a call by `caller_tid` of process `caller_pid` to an endpoint served by
    /// `server_pid` (its owner, if known). Returns the call's token.
    pub fn begin(&mut self, caller_tid: ThreadId, caller_pid: u32, server_pid: Option<u32>) -> Result<u64, IpcError> {
        let slot = (0..N)
            .filter_map(|k| self.cursor.checked_add(k)?.checked_rem(N))
            .find(|&i| matches!(self.calls.get(i), Some(None)))
            .ok_or(IpcError::TableFull)?;
        let token = self.next_token(slot).ok_or(IpcError::TableFull)?;
        let cell = self.calls.get_mut(slot).ok_or(IpcError::TableFull)?;
        *cell = Some(Call { token, caller_tid, caller_pid, server_pid, phase: Phase::Sent, reply: Message::new() });
        self.len += 1;
        self.cursor = slot.checked_add(1).and_then(|c| c.checked_rem(N)).unwrap_or(0);
        Ok(token)
    }

    /// The slot of the pending call `token`.
    fn slot_of(&self, token: u64) -> Result<usize, IpcError> {
        let slot = usize::try_from(token & SLOT_MASK).map_err(|_| IpcError::BadToken)?;
        match self.calls.get(slot) {
            Some(Some(call)) if token != 0 && call.token == token => Ok(slot),
            _ => Err(IpcError::BadToken),
        }
    }

    fn call_mut(&mut self, token: u64) -> Result<(usize, &mut Call), IpcError> {
        let slot = self.slot_of(token)?;
        match self.calls.get_mut(slot) {
            Some(Some(call)) => Ok((slot, call)),
            _ => Err(IpcError::BadToken),
        }
    }

    fn free(&mut self, slot: usize) -> Option<Call> {
        let call = self.calls.get_mut(slot).and_then(Option::take)?;
        self.len = self.len.saturating_sub(1);
        Some(call)
    }

    /// Occupied slots, counted the slow way (tests compare it with `len`).
    #[cfg(test)]
    pub(super) fn occupied(&self) -> usize {
        self.calls.iter().filter(|c| c.is_some()).count()
    }

    /// Who is involved in call `token`.
    pub fn info(&self, token: u64) -> Result<CallInfo, IpcError> {
        let slot = self.slot_of(token)?;
        self.calls.get(slot).copied().flatten().map(|c| c.info()).ok_or(IpcError::BadToken)
    }

    /// Where call `token` is.
    pub fn state(&self, token: u64) -> Result<CallState, IpcError> {
        let slot = self.slot_of(token)?;
        self.calls.get(slot).copied().flatten().map(|c| c.state()).ok_or(IpcError::BadToken)
    }

    /// Records that process `receiver_pid` dequeued call `token`; only it may reply.
    pub fn bind(&mut self, token: u64, receiver_pid: u32) -> Result<CallInfo, IpcError> {
        let (_, call) = self.call_mut(token)?;
        match call.phase {
            Phase::Sent => {
                call.phase = Phase::Received { receiver: receiver_pid };
                Ok(call.info())
            }
            Phase::Abandoned => Err(IpcError::Abandoned),
            Phase::Received { .. } | Phase::Claimed { .. } | Phase::Replied { .. } => Err(IpcError::AlreadyBound),
        }
    }

    /// Starts the reply of process `replier_pid` to call `token`: only the process the call
    /// was bound to may reply, once. Returns the caller, so the reply can be stamped.
    pub fn claim(&mut self, token: u64, replier_pid: u32) -> Result<CallInfo, IpcError> {
        let (_, call) = self.call_mut(token)?;
        match call.phase {
            Phase::Abandoned => Err(IpcError::Abandoned),
            Phase::Sent => Err(IpcError::NotReceiver),
            _ if call.receiver() != Some(replier_pid) => Err(IpcError::NotReceiver),
            Phase::Received { receiver } => {
                call.phase = Phase::Claimed { receiver };
                Ok(call.info())
            }
            Phase::Claimed { .. } | Phase::Replied { .. } => Err(IpcError::AlreadyReplied),
        }
    }

    /// Undoes a [`ReplyTable::claim`] by `replier_pid` whose reply could not be read.
    pub fn unclaim(&mut self, token: u64, replier_pid: u32) -> Result<(), IpcError> {
        let (_, call) = self.call_mut(token)?;
        match call.phase {
            Phase::Claimed { receiver } if receiver == replier_pid => {
                call.phase = Phase::Received { receiver };
                Ok(())
            }
            Phase::Abandoned => Err(IpcError::Abandoned),
            _ if call.receiver() != Some(replier_pid) => Err(IpcError::NotReceiver),
            _ => Err(IpcError::NotClaimed),
        }
    }

    /// Stores the reply to claimed call `token` and returns the caller to wake.
    pub fn complete(&mut self, token: u64, reply: Message) -> Result<ThreadId, IpcError> {
        let (_, call) = self.call_mut(token)?;
        match call.phase {
            Phase::Claimed { receiver } => {
                call.phase = Phase::Replied { receiver };
                call.reply = reply;
                Ok(call.caller_tid)
            }
            Phase::Abandoned => Err(IpcError::Abandoned),
            Phase::Sent | Phase::Received { .. } | Phase::Replied { .. } => Err(IpcError::NotClaimed),
        }
    }

    /// The reply for `caller_tid`, which made call `token`; the call ends. Another thread's
    /// token is [`IpcError::BadToken`]; an abandoned call ends with [`IpcError::Abandoned`];
    /// a call still pending is [`IpcError::NotReady`] (it stays).
    pub fn take_reply(&mut self, token: u64, caller_tid: ThreadId) -> Result<Message, IpcError> {
        let (slot, call) = self.call_mut(token)?;
        if call.caller_tid != caller_tid {
            return Err(IpcError::BadToken);
        }
        match call.phase {
            Phase::Replied { .. } => {
                let reply = call.reply;
                self.free(slot);
                Ok(reply)
            }
            Phase::Abandoned => {
                self.free(slot);
                Err(IpcError::Abandoned)
            }
            Phase::Sent | Phase::Received { .. } | Phase::Claimed { .. } => Err(IpcError::NotReady),
        }
    }

    /// Ends call `token` at once, whatever its state (the caller timed out or died); a late
    /// bind, claim or reply gets [`IpcError::BadToken`].
    pub fn cancel(&mut self, token: u64) -> Result<CallInfo, IpcError> {
        let slot = self.slot_of(token)?;
        self.free(slot).map(|c| c.info()).ok_or(IpcError::BadToken)
    }

    /// Gives up waiting for a reply to call `token` (its message was drained from a closed
    /// endpoint) and returns the caller to wake; its `take_reply` fails with
    /// [`IpcError::Abandoned`].
    pub fn abandon(&mut self, token: u64) -> Result<ThreadId, IpcError> {
        let (_, call) = self.call_mut(token)?;
        match call.phase {
            Phase::Sent | Phase::Received { .. } | Phase::Claimed { .. } => {
                call.phase = Phase::Abandoned;
                Ok(call.caller_tid)
            }
            Phase::Replied { .. } => Err(IpcError::AlreadyReplied),
            Phase::Abandoned => Err(IpcError::Abandoned),
        }
    }

    /// Process `pid` is dying. Its own calls end at once; calls waiting on it (received by
    /// it, or sent to an endpoint it serves and not received yet) are abandoned and each
    /// caller is passed to `wake`. Returns the number of calls affected.
    pub fn cancel_for_process(&mut self, pid: u32, mut wake: impl FnMut(ThreadId)) -> usize {
        let mut n = 0;
        for cell in self.calls.iter_mut() {
            let Some(call) = cell else { continue };
            if call.caller_pid == pid {
                *cell = None;
                self.len = self.len.saturating_sub(1);
                n += 1;
            } else if call.waiting_on(pid) {
                call.phase = Phase::Abandoned;
                wake(call.caller_tid);
                n += 1;
            }
        }
        n
    }
}
