// SPDX-License-Identifier: AGPL-3.0-or-later
//! IPC: the fixed 256-byte message, its header, capability rights and timeouts.
//!
//! Every message is exactly [`MESSAGE_SIZE`] bytes: a [`HEADER_SIZE`]-byte header and up to
//! [`MAX_PAYLOAD`] bytes of payload. The sender fills `label`, `len`, `flags` and (to transfer a
//! capability) `cap`; the kernel **overwrites** `sender`, `sender_pid`, `endpoint` and
//! `reply_token` on delivery, so a receiver can trust them and a sender cannot forge them.
//! `docs/abi/ipc.md` is the reference.
//!
//! | offset | size | field | set by |
//! |---:|---:|---|---|
//! | 0 | 32 | `sender`: the sender's Principal | kernel |
//! | 32 | 4 | `sender_pid` | kernel |
//! | 36 | 4 | `endpoint`: the endpoint id it arrived on | kernel |
//! | 40 | 8 | `reply_token`: for a call, what `reply` takes; else 0 | kernel |
//! | 48 | 4 | `label`: an operation code chosen by the protocol | sender |
//! | 52 | 2 | `len`: payload bytes used (0..=192) | sender |
//! | 54 | 2 | `flags`: [`FLAG_CAP`], rights to transfer in bits 8..11 | sender (kernel on delivery) |
//! | 56 | 4 | `cap`: send: the sender's slot to transfer; receive: the receiver's new slot | sender / kernel |
//! | 60 | 4 | reserved, zero | — |
//! | 64 | 192 | payload | sender |

/// Size of every message.
pub const MESSAGE_SIZE: usize = 256;
/// Size of the header.
pub const HEADER_SIZE: usize = 64;
/// Largest payload.
pub const MAX_PAYLOAD: usize = MESSAGE_SIZE - HEADER_SIZE;
/// `flags`: the message carries a capability (`cap`).
pub const FLAG_CAP: u16 = 1 << 0;
/// `flags` bits 8..11: the rights the transferred capability gets ([`Rights`] bits; 0 = all
/// of the sender's). Never more than the sender holds: asking for more is `MissingRight`.
pub const FLAG_RIGHTS_SHIFT: u16 = 8;
/// Mask of the rights field in `flags`.
pub const FLAG_RIGHTS_MASK: u16 = 0b111 << FLAG_RIGHTS_SHIFT;
/// Every flag bit this ABI version defines.
pub const KNOWN_FLAGS: u16 = FLAG_CAP | FLAG_RIGHTS_MASK;
/// `cap` when no capability is attached.
pub const NO_CAP: u32 = u32::MAX;

/// Timeout argument: do not block (fail with `WouldBlock` instead).
pub const NONBLOCKING: u64 = 0;
/// Timeout argument: block until the operation completes.
pub const FOREVER: u64 = u64::MAX;

/// Messages one endpoint queues before `send` blocks or fails with `QueueFull`.
pub const QUEUE_DEPTH: usize = 16;
/// Capability slots per process.
pub const CAP_SLOTS: usize = 64;

/// Rights a capability grants on its endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rights(u8);

impl Rights {
    /// Send messages (and calls) to the endpoint.
    pub const SEND: Rights = Rights(1 << 0);
    /// Receive messages from the endpoint.
    pub const RECEIVE: Rights = Rights(1 << 1);
    /// Pass this capability (or a weaker copy) to another process in a message.
    pub const GRANT: Rights = Rights(1 << 2);
    /// Everything (what an endpoint's owner holds).
    pub const ALL: Rights = Rights(0b111);
    /// Nothing.
    pub const NONE: Rights = Rights(0);

    /// From bits; `None` if an unknown bit is set.
    pub const fn from_bits(bits: u8) -> Option<Rights> {
        if bits & !Rights::ALL.0 == 0 { Some(Rights(bits)) } else { None }
    }

    /// The bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// True when every right of `other` is in `self`.
    pub const fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// The rights in both.
    pub const fn intersect(self, other: Rights) -> Rights {
        Rights(self.0 & other.0)
    }

    /// The rights in either.
    pub const fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    /// `srg` style text (`-` for a missing right).
    pub fn as_text(self) -> [u8; 3] {
        [
            if self.contains(Rights::SEND) { b's' } else { b'-' },
            if self.contains(Rights::RECEIVE) { b'r' } else { b'-' },
            if self.contains(Rights::GRANT) { b'g' } else { b'-' },
        ]
    }
}

/// Well-known endpoints a boot manifest can name (bit n of `provides` / `uses` = endpoint n).
/// The owner (`provides`) gets send, receive and grant; a user (`uses`) gets send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum WellKnown {
    /// The echo service: replies to a call with the payload and the caller's stamped identity.
    Echo = 1,
    /// The ping-pong test server (call/reply round trips).
    Pong = 2,
    /// The capability-transfer test's meeting point.
    Relay = 3,
    /// Benchmark pair 0 (`make bench`'s IPC scaling figure: `pair-server` provides it,
    /// `pair-client` calls it).
    Bench0 = 4,
    /// Benchmark pair 1.
    Bench1 = 5,
    /// Benchmark pair 2.
    Bench2 = 6,
    /// Benchmark pair 3.
    Bench3 = 7,
}

impl WellKnown {
    /// Every well-known endpoint.
    pub const ALL: [WellKnown; 7] = [
        WellKnown::Echo,
        WellKnown::Pong,
        WellKnown::Relay,
        WellKnown::Bench0,
        WellKnown::Bench1,
        WellKnown::Bench2,
        WellKnown::Bench3,
    ];
    /// The benchmark pairs' endpoints, pair k at index k.
    pub const BENCH: [WellKnown; 4] = [WellKnown::Bench0, WellKnown::Bench1, WellKnown::Bench2, WellKnown::Bench3];
    /// Highest well-known endpoint number plus one (the manifest bit masks are 64 bits).
    pub const LIMIT: u32 = 64;

    /// The name used in services files and documentation.
    pub const fn name(self) -> &'static str {
        match self {
            WellKnown::Echo => "echo",
            WellKnown::Pong => "pong",
            WellKnown::Relay => "relay",
            WellKnown::Bench0 => "bench-0",
            WellKnown::Bench1 => "bench-1",
            WellKnown::Bench2 => "bench-2",
            WellKnown::Bench3 => "bench-3",
        }
    }

    /// Parses a name.
    pub fn from_name(name: &str) -> Option<WellKnown> {
        WellKnown::ALL.iter().copied().find(|w| w.name() == name)
    }

    /// The bit in a manifest mask.
    pub const fn bit(self) -> u64 {
        1 << (self as u64)
    }

    /// The endpoint with number `id`, if it is well known.
    pub fn from_id(id: u32) -> Option<WellKnown> {
        WellKnown::ALL.iter().copied().find(|w| *w as u32 == id)
    }

    /// Every bit that names a well-known endpoint (bits 1 to 7).
    pub const KNOWN_BITS: u64 = 0b1111_1110;
}

/// A message as bytes, with typed accessors for the header.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(8))]
pub struct Message {
    /// The whole message.
    pub bytes: [u8; MESSAGE_SIZE],
}

impl core::fmt::Debug for Message {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Message")
            .field("sender_pid", &self.sender_pid())
            .field("endpoint", &self.endpoint())
            .field("label", &self.label())
            .field("len", &self.len())
            .field("flags", &self.flags())
            .finish()
    }
}

impl Default for Message {
    fn default() -> Self {
        Message::new()
    }
}

macro_rules! field {
    ($get:ident, $set:ident, $ty:ty, $offset:expr, $doc:literal) => {
        #[doc = concat!("The `", $doc, "` field.")]
        pub fn $get(&self) -> $ty {
            let mut raw = [0u8; core::mem::size_of::<$ty>()];
            if let Some(src) = self.bytes.get($offset..$offset + core::mem::size_of::<$ty>()) {
                raw.copy_from_slice(src);
            }
            <$ty>::from_le_bytes(raw)
        }

        #[doc = concat!("Sets the `", $doc, "` field.")]
        pub fn $set(&mut self, value: $ty) {
            if let Some(dst) = self.bytes.get_mut($offset..$offset + core::mem::size_of::<$ty>()) {
                dst.copy_from_slice(&value.to_le_bytes());
            }
        }
    };
}

impl Message {
    /// An empty message (no payload, no capability).
    pub const fn new() -> Message {
        let mut bytes = [0u8; MESSAGE_SIZE];
        // cap = NO_CAP
        bytes[56] = 0xff;
        bytes[57] = 0xff;
        bytes[58] = 0xff;
        bytes[59] = 0xff;
        Message { bytes }
    }

    /// A message with `label` and `payload` (truncated to [`MAX_PAYLOAD`]).
    pub fn with_payload(label: u32, payload: &[u8]) -> Message {
        let mut m = Message::new();
        m.set_label(label);
        m.set_payload(payload);
        m
    }

    /// The sender's Principal (stamped by the kernel).
    pub fn sender(&self) -> [u8; 32] {
        let mut p = [0u8; 32];
        if let Some(src) = self.bytes.get(0..32) {
            p.copy_from_slice(src);
        }
        p
    }

    /// Sets the sender field (the kernel's job; a sender's value is overwritten).
    pub fn set_sender(&mut self, principal: &[u8; 32]) {
        if let Some(dst) = self.bytes.get_mut(0..32) {
            dst.copy_from_slice(principal);
        }
    }

    field!(sender_pid, set_sender_pid, u32, 32, "sender_pid");
    field!(endpoint, set_endpoint, u32, 36, "endpoint");
    field!(reply_token, set_reply_token, u64, 40, "reply_token");
    field!(label, set_label, u32, 48, "label");
    field!(len, set_len, u16, 52, "len");
    field!(flags, set_flags, u16, 54, "flags");
    field!(cap, set_cap, u32, 56, "cap");
    field!(reserved, set_reserved, u32, 60, "reserved");

    /// True when the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The payload bytes in use (`len`, capped at [`MAX_PAYLOAD`]).
    pub fn payload(&self) -> &[u8] {
        let n = usize::from(self.len()).min(MAX_PAYLOAD);
        self.bytes.get(HEADER_SIZE..HEADER_SIZE + n).unwrap_or(&[])
    }

    /// Sets the payload (truncated to [`MAX_PAYLOAD`]) and `len`.
    pub fn set_payload(&mut self, payload: &[u8]) {
        let n = payload.len().min(MAX_PAYLOAD);
        if let (Some(dst), Some(src)) = (self.bytes.get_mut(HEADER_SIZE..HEADER_SIZE + n), payload.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.set_len(n as u16);
    }

    /// Checks what a sender controls: `len`, `flags` and the reserved field.
    pub fn validate_send(&self) -> Result<(), crate::error::SysError> {
        if usize::from(self.len()) > MAX_PAYLOAD || self.flags() & !KNOWN_FLAGS != 0 || self.reserved() != 0 {
            return Err(crate::error::SysError::InvalidArgument);
        }
        Ok(())
    }
}

/// The kind of a capability, as `cap_list` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CapKind {
    /// A capability for an endpoint.
    Endpoint = 1,
    /// A system capability from the manifest (`endpoint` holds its
    /// [`crate::cap::Capability`] value, `slot` is [`NO_CAP`], rights are empty).
    System = 2,
}

/// One `cap_list` record (16 bytes, little-endian): slot u32, kind u8, rights u8, reserved
/// u16, endpoint id u32, endpoint owner pid u32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapRecord {
    /// The slot in the caller's table.
    pub slot: u32,
    /// What it refers to.
    pub kind: u8,
    /// Its rights.
    pub rights: Rights,
    /// The endpoint id.
    pub endpoint: u32,
    /// The endpoint owner's pid.
    pub owner: u32,
}

impl CapRecord {
    /// Size of one record.
    pub const SIZE: usize = 16;

    /// The record as bytes.
    pub fn to_bytes(&self) -> [u8; CapRecord::SIZE] {
        let mut b = [0u8; CapRecord::SIZE];
        let (slot, rest) = b.split_at_mut(4);
        slot.copy_from_slice(&self.slot.to_le_bytes());
        let (kr, rest) = rest.split_at_mut(4);
        kr.copy_from_slice(&[self.kind, self.rights.bits(), 0, 0]);
        let (ep, owner) = rest.split_at_mut(4);
        ep.copy_from_slice(&self.endpoint.to_le_bytes());
        owner.copy_from_slice(&self.owner.to_le_bytes());
        b
    }

    /// Parses a record.
    pub fn from_bytes(b: &[u8; CapRecord::SIZE]) -> CapRecord {
        let word = |i: usize| {
            let mut w = [0u8; 4];
            if let Some(src) = b.get(i..i + 4) {
                w.copy_from_slice(src);
            }
            u32::from_le_bytes(w)
        };
        CapRecord {
            slot: word(0),
            kind: b.get(4).copied().unwrap_or(0),
            rights: Rights::from_bits(b.get(5).copied().unwrap_or(0) & Rights::ALL.bits()).unwrap_or(Rights::NONE),
            endpoint: word(8),
            owner: word(12),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_round_trip() {
        let mut m = Message::with_payload(7, b"hello");
        assert_eq!(m.cap(), NO_CAP);
        m.set_sender(&[9; 32]);
        m.set_sender_pid(3);
        m.set_endpoint(4);
        m.set_reply_token(0x1122_3344_5566_7788);
        assert_eq!((m.label(), m.len(), m.payload()), (7, 5, &b"hello"[..]));
        assert_eq!((m.sender(), m.sender_pid(), m.endpoint(), m.reply_token()), ([9; 32], 3, 4, 0x1122_3344_5566_7788));
        assert_eq!(&m.bytes[48..52], &7u32.to_le_bytes());
        assert!(m.validate_send().is_ok());
        m.set_len(MAX_PAYLOAD as u16 + 1);
        assert!(m.validate_send().is_err());
        let mut m = Message::new();
        m.set_flags(0x8000);
        assert!(m.validate_send().is_err());
        let big = Message::with_payload(1, &[1; 300]);
        assert_eq!(big.payload().len(), MAX_PAYLOAD);
    }

    #[test]
    fn rights_and_records() {
        let r = Rights::SEND.union(Rights::GRANT);
        assert!(r.contains(Rights::SEND) && !r.contains(Rights::RECEIVE));
        assert_eq!(&r.as_text(), b"s-g");
        assert_eq!(Rights::from_bits(8), None);
        let rec = CapRecord { slot: 2, kind: CapKind::Endpoint as u8, rights: r, endpoint: 5, owner: 9 };
        assert_eq!(CapRecord::from_bytes(&rec.to_bytes()), rec);
        assert_eq!(WellKnown::from_name("echo"), Some(WellKnown::Echo));
        let bits = WellKnown::ALL.iter().fold(0, |b, w| b | w.bit());
        assert_eq!(bits, WellKnown::KNOWN_BITS);
    }

    #[test]
    fn well_known_names_and_ids() {
        for (i, w) in WellKnown::ALL.iter().enumerate() {
            // Ids are 1, 2, ... in `ALL` order, every name parses back, no two are alike.
            assert_eq!(*w as usize, i + 1, "{w:?}");
            assert_eq!(WellKnown::from_name(w.name()), Some(*w));
            assert_eq!(WellKnown::from_id(*w as u32), Some(*w));
            assert!(WellKnown::ALL.iter().filter(|o| o.name() == w.name()).count() == 1);
            assert!((*w as u32) < WellKnown::LIMIT);
        }
        for (k, w) in WellKnown::BENCH.iter().enumerate() {
            assert_eq!(w.name(), format!("bench-{k}"));
            assert_eq!(*w as usize, 4 + k);
        }
        assert_eq!(WellKnown::from_name("bench-4"), None);
        assert_eq!((WellKnown::from_id(0), WellKnown::from_id(8)), (None, None));
        assert_eq!(WellKnown::Bench3.bit(), 1 << 7);
    }
}
