// SPDX-License-Identifier: AGPL-3.0-or-later
//! The capability table of one process: which endpoints it may use, and with which rights.
//!
//! A [`CapTable`] is a fixed array of [`CAP_SLOTS`] optional [`Capability`] values; user
//! space names a capability by its slot number. Nothing allocates. The kernel keeps one
//! table per process inside a lock.
//!
//! # Revocation
//!
//! Every endpoint carries a revocation epoch (`crate::ipc::Endpoint::epoch`). A capability
//! remembers the epoch of its endpoint at the time it was made ([`EndpointRef::epoch`]).
//! Revoking bumps the endpoint's epoch, so every capability made before is refused by
//! [`CapTable::check`] at its next use ([`CapError::Revoked`]) without visiting any table.
//! The owner keeps its own capabilities valid with [`CapTable::refresh`]; a destroyed
//! endpoint's capabilities are dropped lazily (they fail `check`) or eagerly with
//! [`CapTable::purge`].
//!
//! # Transfer
//!
//! A capability travels in a message as a copy made by [`CapTable::derive`]: the source needs
//! [`Rights::GRANT`], and the copy has at most the source's rights (asking for more is
//! [`CapError::Escalation`], never a silent upgrade). The copy keeps the source's epoch, so a
//! copy of a revoked capability is as dead as its source.

#[cfg(test)]
mod tests;

use core::fmt;

use cambios_abi::error::SysError;
use cambios_abi::ipc::{CAP_SLOTS, Rights};

/// Why a capability operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CapError {
    /// Every slot of the table is in use.
    TableFull,
    /// The slot is empty or out of range.
    Empty,
    /// The endpoint no longer exists, or it was revoked after the capability was made.
    Revoked,
    /// The capability lacks a right the operation needs.
    MissingRight,
    /// A derived capability would have rights its source lacks.
    Escalation,
}

impl CapError {
    /// A short human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            CapError::TableFull => "capability table full",
            CapError::Empty => "capability slot empty or out of range",
            CapError::Revoked => "capability revoked or endpoint gone",
            CapError::MissingRight => "capability lacks the needed right",
            CapError::Escalation => "derived capability would exceed its source's rights",
        }
    }

    /// The syscall error user space sees.
    pub const fn sys_error(self) -> SysError {
        match self {
            CapError::TableFull => SysError::OutOfMemory,
            CapError::Empty | CapError::Revoked => SysError::BadCapability,
            CapError::MissingRight | CapError::Escalation => SysError::MissingRight,
        }
    }
}

impl fmt::Display for CapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An endpoint as a capability sees it: its id and its revocation epoch when the capability
/// was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EndpointRef {
    /// The endpoint id (the kernel's endpoint table index or name).
    pub id: u32,
    /// The endpoint's revocation epoch when the capability was made.
    pub epoch: u32,
}

/// The right to use one endpoint in the ways `rights` allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Capability {
    /// The endpoint.
    pub endpoint: EndpointRef,
    /// What the holder may do with it.
    pub rights: Rights,
}

impl Capability {
    /// A capability for endpoint `id` at revocation epoch `epoch`.
    pub const fn new(id: u32, epoch: u32, rights: Rights) -> Capability {
        Capability { endpoint: EndpointRef { id, epoch }, rights }
    }
}

/// The capability table of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapTable {
    slots: [Option<Capability>; CAP_SLOTS],
}

impl Default for CapTable {
    fn default() -> Self {
        CapTable::new()
    }
}

/// The array index of `slot`, if it is in range.
fn index(slot: u32) -> Option<usize> {
    usize::try_from(slot).ok().filter(|&i| i < CAP_SLOTS)
}

impl CapTable {
    /// An empty table.
    pub const fn new() -> CapTable {
        CapTable { slots: [None; CAP_SLOTS] }
    }

    /// Number of slots (`CAP_SLOTS`).
    pub const fn capacity(&self) -> usize {
        CAP_SLOTS
    }

    /// Number of occupied slots.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// True when no slot is occupied.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(|s| s.is_none())
    }

    /// Stores `cap` in the lowest free slot and returns that slot.
    pub fn insert(&mut self, cap: Capability) -> Result<u32, CapError> {
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.is_none() {
                let slot = u32::try_from(i).map_err(|_| CapError::TableFull)?;
                *s = Some(cap);
                return Ok(slot);
            }
        }
        Err(CapError::TableFull)
    }

    /// The capability in `slot`, without any validity check (`None` when empty or out of
    /// range).
    pub fn get(&self, slot: u32) -> Option<Capability> {
        index(slot).and_then(|i| self.slots.get(i).copied().flatten())
    }

    /// Validates `slot` for an operation needing `needed`: the slot holds a capability
    /// ([`CapError::Empty`]), its endpoint exists and has not been revoked since
    /// (`current_epoch_of(id)` returns the endpoint's epoch, `None` when it is gone;
    /// [`CapError::Revoked`]), and it has every right in `needed`
    /// ([`CapError::MissingRight`]). Returns the endpoint.
    pub fn check(
        &self,
        slot: u32,
        needed: Rights,
        current_epoch_of: impl Fn(u32) -> Option<u32>,
    ) -> Result<EndpointRef, CapError> {
        let cap = self.get(slot).ok_or(CapError::Empty)?;
        match current_epoch_of(cap.endpoint.id) {
            Some(epoch) if epoch == cap.endpoint.epoch => {}
            _ => return Err(CapError::Revoked),
        }
        if !cap.rights.contains(needed) {
            return Err(CapError::MissingRight);
        }
        Ok(cap.endpoint)
    }

    /// Empties `slot` and returns what it held.
    pub fn remove(&mut self, slot: u32) -> Result<Capability, CapError> {
        index(slot).and_then(|i| self.slots.get_mut(i)).and_then(Option::take).ok_or(CapError::Empty)
    }

    /// A copy of the capability in `slot` to send in a message, with rights `requested`.
    /// The source needs [`Rights::GRANT`] ([`CapError::MissingRight`]); `requested` must be
    /// a subset of the source's rights ([`CapError::Escalation`]). The copy keeps the
    /// source's epoch. The table is not changed. Call [`CapTable::check`] with
    /// [`Rights::GRANT`] first to refuse a revoked source at send time; a copy of a revoked
    /// capability fails every check anyway.
    pub fn derive(&self, slot: u32, requested: Rights) -> Result<Capability, CapError> {
        let source = self.get(slot).ok_or(CapError::Empty)?;
        if !source.rights.contains(Rights::GRANT) {
            return Err(CapError::MissingRight);
        }
        if !source.rights.contains(requested) {
            return Err(CapError::Escalation);
        }
        Ok(Capability { endpoint: source.endpoint, rights: requested.intersect(source.rights) })
    }

    /// Moves every capability for endpoint `id` to epoch `new_epoch` (the owner's own
    /// capabilities after it revoked the others). Returns how many changed.
    pub fn refresh(&mut self, id: u32, new_epoch: u32) -> usize {
        let mut n = 0;
        for cap in self.slots.iter_mut().flatten() {
            if cap.endpoint.id == id {
                cap.endpoint.epoch = new_epoch;
                n += 1;
            }
        }
        n
    }

    /// Drops every capability for endpoint `id` (destroyed). Returns how many were dropped.
    pub fn purge(&mut self, id: u32) -> usize {
        let mut n = 0;
        for s in self.slots.iter_mut() {
            if s.is_some_and(|c| c.endpoint.id == id) {
                *s = None;
                n += 1;
            }
        }
        n
    }

    /// The occupied slots with their capabilities, lowest slot first.
    pub fn iter(&self) -> impl Iterator<Item = (u32, Capability)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| Some((u32::try_from(i).ok()?, (*s)?)))
    }
}
