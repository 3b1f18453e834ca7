// SPDX-License-Identifier: AGPL-3.0-or-later
//! System capabilities a boot manifest can grant to a service.
//!
//! A process holds exactly the capabilities its manifest entry lists and nothing else; a
//! spawned child gets its own manifest entry's set, never its parent's. Endpoint capabilities
//! (with send / receive / grant rights) live in each process's capability table
//! (`crate::ipc`).

/// One system capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Capability {
    /// Write to the system console (`console_write`).
    ConsoleWrite = 0,
    /// Start manifest-listed modules as children (`spawn`).
    Spawn = 1,
    /// Read serial console input (`console_read`); the console then belongs to user space.
    ConsoleRead = 2,
    /// Read the audit ring (`audit_read`).
    AuditRead = 3,
    /// End other processes (`kill`).
    Kill = 4,
    /// Power the machine off or reboot it (`power`).
    Power = 5,
}

impl Capability {
    /// Every capability, in bit order.
    pub const ALL: [Capability; 6] = [
        Capability::ConsoleWrite,
        Capability::Spawn,
        Capability::ConsoleRead,
        Capability::AuditRead,
        Capability::Kill,
        Capability::Power,
    ];

    /// The bit in a [`CapSet`].
    pub const fn bit(self) -> u64 {
        1 << (self as u64)
    }

    /// The name used in manifests and documentation.
    pub const fn name(self) -> &'static str {
        match self {
            Capability::ConsoleWrite => "console-write",
            Capability::Spawn => "spawn",
            Capability::ConsoleRead => "console-read",
            Capability::AuditRead => "audit-read",
            Capability::Kill => "kill",
            Capability::Power => "power",
        }
    }

    /// Parses a name as printed by [`Capability::name`].
    pub fn from_name(name: &str) -> Option<Capability> {
        Capability::ALL.iter().copied().find(|c| c.name() == name)
    }
}

/// A set of capabilities, stored as a bit mask (bit n = the capability with value n).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CapSet(u64);

impl CapSet {
    /// No capabilities.
    pub const EMPTY: CapSet = CapSet(0);

    /// Every bit that names a capability.
    pub const KNOWN_BITS: u64 = {
        let mut bits = 0;
        let mut i = 0;
        while i < Capability::ALL.len() {
            bits |= 1 << i;
            i += 1;
        }
        bits
    };

    /// A set from its bit mask; `None` if a bit names no capability.
    pub const fn from_bits(bits: u64) -> Option<CapSet> {
        if bits & !CapSet::KNOWN_BITS == 0 { Some(CapSet(bits)) } else { None }
    }

    /// The bit mask.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The set plus `cap`.
    pub const fn with(self, cap: Capability) -> CapSet {
        CapSet(self.0 | cap.bit())
    }

    /// True when `cap` is in the set.
    pub const fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// The capabilities in the set, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_and_names() {
        let set = CapSet::EMPTY.with(Capability::Spawn);
        assert!(set.contains(Capability::Spawn));
        assert!(!set.contains(Capability::ConsoleWrite));
        assert_eq!(CapSet::from_bits(set.bits()), Some(set));
        assert_eq!(CapSet::from_bits(1 << 63), None);
        for c in Capability::ALL {
            assert_eq!(Capability::from_name(c.name()), Some(c));
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![Capability::Spawn]);
    }
}
