// SPDX-License-Identifier: AGPL-3.0-or-later
//! The signed boot manifest: which modules exist, how they start, and what they may do.
//!
//! Binary, little-endian, signed with the same trailer as ELF images. docs/abi/boot-manifest.md
//! is the reference; in short:
//!
//! ```text
//! header (32 bytes)  [0..8] "CBOSMANI"  [8..12] version u32 = 1  [12..16] entry_count u32 (1..=64)
//!                    [16..20] entry_size u32 = 128  [20..32] reserved, zero
//! entry (128 bytes)  [0..48] name, zero-padded  [48] name_len (1..=47)  [49] start (0 on demand, 1 at boot)
//!                    [50] priority (0 low, 1 normal, 2 high)  [51..56] reserved, zero
//!                    [56..64] capabilities u64 (CapSet bits)  [64..96] principal
//!                    [96..104] provides u64 (well-known endpoints it owns)  [104..112] uses u64
//!                    (well-known endpoints it may send to)  [112..120] cpus u64 (bit n: may run
//!                    on logical CPU n; 0 = any CPU)  [120..128] reserved, zero
//! ```
//!
//! [`Manifest::parse`] is a total validator: it checks every field of every entry before it
//! returns, allocates nothing, and afterwards the accessors cannot fail.

use crate::keys::TrustedKeys;
use crate::trailer::{self, TrailerError};
use crate::verifier::{AuthError, authenticate};
use cambios_abi::cap::CapSet;
use core::fmt;

/// The manifest magic.
pub const MAGIC: [u8; 8] = *b"CBOSMANI";
/// The only manifest version defined.
pub const VERSION: u32 = 1;
/// Size of the header.
pub const HEADER_LEN: usize = 32;
/// Size of one entry.
pub const ENTRY_LEN: usize = 128;
/// Most entries a manifest may have.
pub const MAX_ENTRIES: usize = 64;
/// Size of the name field.
pub const NAME_FIELD_LEN: usize = 48;
/// Longest module name.
pub const MAX_NAME_LEN: usize = 47;
/// Largest signed manifest file (header, 64 entries, trailer).
pub const MAX_MANIFEST_BYTES: usize = HEADER_LEN + MAX_ENTRIES * ENTRY_LEN + trailer::TRAILER_LEN;
/// The prefix hashed with a module name to form its principal.
pub const SERVICE_PRINCIPAL_PREFIX: &[u8] = b"cambios:v1:service-aid:";

/// When a module starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartPolicy {
    /// Only when a process holding the spawn capability asks for it.
    OnDemand = 0,
    /// At boot, in manifest order.
    AtBoot = 1,
}

impl StartPolicy {
    /// The manifest byte for this policy.
    pub const fn to_byte(self) -> u8 {
        self as u8
    }

    /// The policy for a manifest byte.
    pub const fn from_byte(b: u8) -> Option<StartPolicy> {
        match b {
            0 => Some(StartPolicy::OnDemand),
            1 => Some(StartPolicy::AtBoot),
            _ => None,
        }
    }

    /// The name used in tools and docs.
    pub const fn as_str(self) -> &'static str {
        match self {
            StartPolicy::OnDemand => "on-demand",
            StartPolicy::AtBoot => "boot",
        }
    }
}

/// Scheduling priority band of a module's main thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// Background work.
    Low = 0,
    /// The default.
    Normal = 1,
    /// Latency-sensitive services.
    High = 2,
}

impl Priority {
    /// The manifest byte for this priority.
    pub const fn to_byte(self) -> u8 {
        self as u8
    }

    /// The priority for a manifest byte.
    pub const fn from_byte(b: u8) -> Option<Priority> {
        match b {
            0 => Some(Priority::Low),
            1 => Some(Priority::Normal),
            2 => Some(Priority::High),
            _ => None,
        }
    }

    /// The name used in tools and docs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }
}

/// Why a manifest was rejected. `index` is the entry's position (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// The signed file is larger than [`MAX_MANIFEST_BYTES`].
    TooLarge,
    /// The signature trailer is unusable.
    Trailer(TrailerError),
    /// No trusted key verifies the signature.
    BadSignature,
    /// Shorter than the header.
    TooShort,
    /// Does not start with `CBOSMANI`.
    BadMagic,
    /// Unsupported version (value found).
    UnsupportedVersion(u32),
    /// Entry count is 0 or above [`MAX_ENTRIES`] (value found).
    BadEntryCount(u32),
    /// Entry size is not 128 (value found).
    BadEntrySize(u32),
    /// Reserved header bytes are not zero.
    HeaderReservedNotZero,
    /// The body length is not exactly `32 + entry_count * 128`.
    BadLength,
    /// `name_len` is 0 or above [`MAX_NAME_LEN`].
    BadNameLength {
        /// The entry.
        index: u8,
    },
    /// The name has a character outside `[a-z0-9._-]` or does not start with `[a-z0-9]`.
    BadName {
        /// The entry.
        index: u8,
    },
    /// Bytes of the name field past `name_len` are not zero.
    NamePaddingNotZero {
        /// The entry.
        index: u8,
    },
    /// The start byte is not 0 or 1.
    BadStartPolicy {
        /// The entry.
        index: u8,
    },
    /// The priority byte is not 0, 1 or 2.
    BadPriority {
        /// The entry.
        index: u8,
    },
    /// Reserved entry bytes are not zero.
    EntryReservedNotZero {
        /// The entry.
        index: u8,
    },
    /// The capability mask has bits that name no capability.
    UnknownCapabilities {
        /// The entry.
        index: u8,
    },
    /// The principal is all zero.
    ZeroPrincipal {
        /// The entry.
        index: u8,
    },
    /// The name repeats an earlier entry's.
    DuplicateName {
        /// The later entry.
        index: u8,
    },
    /// The principal repeats an earlier entry's.
    DuplicatePrincipal {
        /// The later entry.
        index: u8,
    },
    /// `provides` or `uses` names an endpoint that is not well known.
    UnknownEndpoints {
        /// Entry index.
        index: u8,
    },
    /// Two entries provide the same well-known endpoint.
    DuplicateProvider {
        /// Entry index (the later one).
        index: u8,
    },
    /// The principal is a trusted signing key (no process may run as the signing identity).
    PrincipalIsSigningKey {
        /// The entry.
        index: u8,
    },
}

impl ManifestError {
    /// A human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            ManifestError::TooLarge => "manifest is larger than the size cap",
            ManifestError::Trailer(t) => t.as_str(),
            ManifestError::BadSignature => "bad manifest signature (no trusted key verifies it)",
            ManifestError::TooShort => "manifest is shorter than its header",
            ManifestError::BadMagic => "not a boot manifest (bad magic)",
            ManifestError::UnsupportedVersion(_) => "unsupported manifest version",
            ManifestError::BadEntryCount(_) => "entry count must be 1 to 64",
            ManifestError::BadEntrySize(_) => "entry size must be 128",
            ManifestError::HeaderReservedNotZero => "reserved header bytes are not zero",
            ManifestError::BadLength => "manifest length does not match its entry count",
            ManifestError::BadNameLength { .. } => "name length must be 1 to 47",
            ManifestError::BadName { .. } => "name must be [a-z0-9._-] starting with a letter or digit",
            ManifestError::NamePaddingNotZero { .. } => "name field padding is not zero",
            ManifestError::BadStartPolicy { .. } => "start policy must be 0 (on demand) or 1 (boot)",
            ManifestError::BadPriority { .. } => "priority must be 0, 1 or 2",
            ManifestError::EntryReservedNotZero { .. } => "reserved entry bytes are not zero",
            ManifestError::UnknownCapabilities { .. } => "capability mask has unknown bits",
            ManifestError::ZeroPrincipal { .. } => "principal is zero",
            ManifestError::DuplicateName { .. } => "name is not unique",
            ManifestError::DuplicatePrincipal { .. } => "principal is not unique",
            ManifestError::PrincipalIsSigningKey { .. } => "principal is a trusted signing key",
            ManifestError::UnknownEndpoints { .. } => "provides/uses names an endpoint that is not well known",
            ManifestError::DuplicateProvider { .. } => "two entries provide the same endpoint",
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = self.as_str();
        match *self {
            ManifestError::Trailer(t) => write!(f, "{t}"),
            ManifestError::UnsupportedVersion(v) | ManifestError::BadEntryCount(v) | ManifestError::BadEntrySize(v) => {
                write!(f, "{reason} ({v})")
            }
            ManifestError::BadNameLength { index }
            | ManifestError::BadName { index }
            | ManifestError::NamePaddingNotZero { index }
            | ManifestError::BadStartPolicy { index }
            | ManifestError::BadPriority { index }
            | ManifestError::EntryReservedNotZero { index }
            | ManifestError::UnknownCapabilities { index }
            | ManifestError::ZeroPrincipal { index }
            | ManifestError::DuplicateName { index }
            | ManifestError::DuplicatePrincipal { index }
            | ManifestError::PrincipalIsSigningKey { index } => write!(f, "entry {index}: {reason}"),
            _ => f.write_str(reason),
        }
    }
}

/// One module's entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManifestEntry<'a> {
    /// Module name (`[a-z0-9._-]`, 1 to 47 bytes).
    pub name: &'a str,
    /// When it starts.
    pub start: StartPolicy,
    /// Its priority band.
    pub priority: Priority,
    /// The capabilities its process holds.
    pub caps: CapSet,
    /// The identity its process runs as.
    pub principal: [u8; 32],
    /// Well-known endpoints it owns (bit n = `cambios_abi::ipc::WellKnown` n): it gets send,
    /// receive and grant on them.
    pub provides: u64,
    /// Well-known endpoints it may send to.
    pub uses: u64,
    /// The logical CPUs it may run on (bit n = CPU n); 0 means any CPU.
    pub cpus: u64,
}

/// A validated manifest body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Manifest<'a> {
    body: &'a [u8],
    count: usize,
}

/// `BLAKE3("cambios:v1:service-aid:" || name)`: the principal a module runs as by convention.
pub fn service_principal(name: &str) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(SERVICE_PRINCIPAL_PREFIX);
    hasher.update(name.as_bytes());
    *hasher.finalize().as_bytes()
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn all_zero(bytes: Option<&[u8]>) -> bool {
    bytes.is_some_and(|b| b.iter().all(|&x| x == 0))
}

fn valid_name(name: &[u8]) -> bool {
    let char_ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-');
    match name.first() {
        Some(first) => (first.is_ascii_lowercase() || first.is_ascii_digit()) && name.iter().all(char_ok),
        None => false,
    }
}

/// Validates one raw 128-byte entry.
fn decode_entry(raw: &[u8], index: u8) -> Result<ManifestEntry<'_>, ManifestError> {
    let name_field = raw.get(..NAME_FIELD_LEN).ok_or(ManifestError::BadLength)?;
    let name_len = usize::from(raw.get(48).copied().ok_or(ManifestError::BadLength)?);
    if name_len == 0 || name_len > MAX_NAME_LEN {
        return Err(ManifestError::BadNameLength { index });
    }
    let (name, padding) = name_field.split_at_checked(name_len).ok_or(ManifestError::BadNameLength { index })?;
    if !valid_name(name) {
        return Err(ManifestError::BadName { index });
    }
    if !all_zero(Some(padding)) {
        return Err(ManifestError::NamePaddingNotZero { index });
    }
    let name = core::str::from_utf8(name).map_err(|_| ManifestError::BadName { index })?;
    let start = raw.get(49).copied().and_then(StartPolicy::from_byte).ok_or(ManifestError::BadStartPolicy { index })?;
    let priority = raw.get(50).copied().and_then(Priority::from_byte).ok_or(ManifestError::BadPriority { index })?;
    if !all_zero(raw.get(51..56)) || !all_zero(raw.get(120..128)) {
        return Err(ManifestError::EntryReservedNotZero { index });
    }
    let cap_bytes: [u8; 8] = raw.get(56..64).and_then(|b| b.try_into().ok()).ok_or(ManifestError::BadLength)?;
    let caps = CapSet::from_bits(u64::from_le_bytes(cap_bytes)).ok_or(ManifestError::UnknownCapabilities { index })?;
    let principal: [u8; 32] = raw.get(64..96).and_then(|b| b.try_into().ok()).ok_or(ManifestError::BadLength)?;
    if principal == [0; 32] {
        return Err(ManifestError::ZeroPrincipal { index });
    }
    let mask = |at: usize| raw.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    let provides = mask(96).ok_or(ManifestError::BadLength)?;
    let uses = mask(104).ok_or(ManifestError::BadLength)?;
    if (provides | uses) & !cambios_abi::ipc::WellKnown::KNOWN_BITS != 0 {
        return Err(ManifestError::UnknownEndpoints { index });
    }
    let cpus = mask(112).ok_or(ManifestError::BadLength)?;
    Ok(ManifestEntry { name, start, priority, caps, principal, provides, uses, cpus })
}

impl<'a> Manifest<'a> {
    /// Validates a manifest body (without trailer). Every field of every entry is checked.
    pub fn parse(body: &'a [u8]) -> Result<Manifest<'a>, ManifestError> {
        let header = body.get(..HEADER_LEN).ok_or(ManifestError::TooShort)?;
        if header.get(..8) != Some(MAGIC.as_slice()) {
            return Err(ManifestError::BadMagic);
        }
        let version = u32_at(header, 8).ok_or(ManifestError::TooShort)?;
        if version != VERSION {
            return Err(ManifestError::UnsupportedVersion(version));
        }
        let count = u32_at(header, 12).ok_or(ManifestError::TooShort)?;
        if count == 0 || count as usize > MAX_ENTRIES {
            return Err(ManifestError::BadEntryCount(count));
        }
        let entry_size = u32_at(header, 16).ok_or(ManifestError::TooShort)?;
        if entry_size as usize != ENTRY_LEN {
            return Err(ManifestError::BadEntrySize(entry_size));
        }
        if !all_zero(header.get(20..HEADER_LEN)) {
            return Err(ManifestError::HeaderReservedNotZero);
        }
        let count = count as usize;
        if body.len() != HEADER_LEN + count * ENTRY_LEN {
            return Err(ManifestError::BadLength);
        }
        let entries = body.get(HEADER_LEN..).ok_or(ManifestError::BadLength)?;
        // At most 64 entries: both loops are bounded.
        for (i, raw) in entries.chunks_exact(ENTRY_LEN).enumerate() {
            let index = u8::try_from(i).map_err(|_| ManifestError::BadEntryCount(count as u32))?;
            decode_entry(raw, index)?;
            for earlier in entries.chunks_exact(ENTRY_LEN).take(i) {
                if earlier.get(..NAME_FIELD_LEN) == raw.get(..NAME_FIELD_LEN) {
                    return Err(ManifestError::DuplicateName { index });
                }
                if earlier.get(64..96) == raw.get(64..96) {
                    return Err(ManifestError::DuplicatePrincipal { index });
                }
                let provides = |e: &[u8]| e.get(96..104).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes);
                if provides(earlier) & provides(raw) != 0 {
                    return Err(ManifestError::DuplicateProvider { index });
                }
            }
        }
        Ok(Manifest { body, count })
    }

    /// The entries, in boot order.
    pub fn entries(&self) -> impl Iterator<Item = ManifestEntry<'a>> + 'a {
        let body: &'a [u8] = self.body;
        body.get(HEADER_LEN..)
            .unwrap_or(&[])
            .chunks_exact(ENTRY_LEN)
            .enumerate()
            .filter_map(|(i, raw)| decode_entry(raw, u8::try_from(i).unwrap_or(u8::MAX)).ok())
    }

    /// Number of entries (at least 1).
    pub const fn len(&self) -> usize {
        self.count
    }

    /// Always false: a valid manifest has at least one entry.
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The entry at `index`.
    pub fn entry(&self, index: usize) -> Option<ManifestEntry<'a>> {
        self.entries().nth(index)
    }

    /// The entry named `name`.
    pub fn find(&self, name: &str) -> Option<ManifestEntry<'a>> {
        self.entries().find(|e| e.name == name)
    }

    /// The validated body bytes.
    pub const fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Rejects a manifest that would run a process as a trusted signing key.
    pub fn check_against_keys(&self, keys: &TrustedKeys) -> Result<(), ManifestError> {
        for (i, entry) in self.entries().enumerate() {
            if keys.contains(&entry.principal) {
                return Err(ManifestError::PrincipalIsSigningKey { index: u8::try_from(i).unwrap_or(u8::MAX) });
            }
        }
        Ok(())
    }
}

/// Verifies a signed manifest: size cap, trailer, signature under `keys`, full validation,
/// and [`Manifest::check_against_keys`].
pub fn verify_manifest<'a>(bytes: &'a [u8], keys: &TrustedKeys) -> Result<Manifest<'a>, ManifestError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge);
    }
    let auth = authenticate(bytes, keys).map_err(|e| match e {
        AuthError::Trailer(t) => ManifestError::Trailer(t),
        AuthError::BadSignature => ManifestError::BadSignature,
    })?;
    let manifest = Manifest::parse(auth.body)?;
    manifest.check_against_keys(keys)?;
    Ok(manifest)
}

#[cfg(feature = "std")]
pub use encode::{EntrySpec, ManifestBuilder, encode};

#[cfg(feature = "std")]
mod encode {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    /// One entry to encode.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct EntrySpec {
        /// Module name.
        pub name: String,
        /// When it starts.
        pub start: StartPolicy,
        /// Priority band.
        pub priority: Priority,
        /// Capabilities.
        pub caps: CapSet,
        /// Principal; `None` means [`service_principal`] of the name.
        pub principal: Option<[u8; 32]>,
        /// Well-known endpoints it owns.
        pub provides: u64,
        /// Well-known endpoints it may send to.
        pub uses: u64,
        /// CPUs it may run on (bit n = CPU n; 0 = any).
        pub cpus: u64,
    }

    impl EntrySpec {
        /// An entry with the conventional principal.
        pub fn new(name: &str, start: StartPolicy, priority: Priority, caps: CapSet) -> EntrySpec {
            EntrySpec { name: name.into(), start, priority, caps, principal: None, provides: 0, uses: 0, cpus: 0 }
        }
    }

    /// Encodes entries (in boot order) into a manifest body, then validates it with
    /// [`Manifest::parse`], so only valid manifests come out.
    pub fn encode(entries: &[EntrySpec]) -> Result<Vec<u8>, ManifestError> {
        let count = u32::try_from(entries.len()).unwrap_or(u32::MAX);
        if entries.is_empty() || entries.len() > MAX_ENTRIES {
            return Err(ManifestError::BadEntryCount(count));
        }
        let mut out = Vec::with_capacity(HEADER_LEN + entries.len() * ENTRY_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&(ENTRY_LEN as u32).to_le_bytes());
        out.resize(HEADER_LEN, 0);
        for (i, e) in entries.iter().enumerate() {
            let index = u8::try_from(i).unwrap_or(u8::MAX);
            let name = e.name.as_bytes();
            let name_len = u8::try_from(name.len()).ok().filter(|n| (1..=MAX_NAME_LEN as u8).contains(n));
            let name_len = name_len.ok_or(ManifestError::BadNameLength { index })?;
            let mut raw = [0u8; ENTRY_LEN];
            let (name_field, rest) = raw.split_at_mut(NAME_FIELD_LEN);
            name_field.iter_mut().zip(name).for_each(|(o, b)| *o = *b);
            let (flags, rest) = rest.split_at_mut(8);
            flags.iter_mut().zip([name_len, e.start.to_byte(), e.priority.to_byte()]).for_each(|(o, b)| *o = b);
            let (caps, rest) = rest.split_at_mut(8);
            caps.copy_from_slice(&e.caps.bits().to_le_bytes());
            let (principal, rest) = rest.split_at_mut(32);
            principal.copy_from_slice(&e.principal.unwrap_or_else(|| service_principal(&e.name)));
            let (provides, rest) = rest.split_at_mut(8);
            provides.copy_from_slice(&e.provides.to_le_bytes());
            let (uses, rest) = rest.split_at_mut(8);
            uses.copy_from_slice(&e.uses.to_le_bytes());
            let (cpus, _) = rest.split_at_mut(8);
            cpus.copy_from_slice(&e.cpus.to_le_bytes());
            out.extend_from_slice(&raw);
        }
        Manifest::parse(&out)?;
        Ok(out)
    }

    /// Collects entries, then [`encode`]s them.
    #[derive(Clone, Debug, Default)]
    pub struct ManifestBuilder {
        entries: Vec<EntrySpec>,
    }

    impl ManifestBuilder {
        /// No entries yet.
        pub fn new() -> ManifestBuilder {
            ManifestBuilder::default()
        }

        /// Adds an entry (boot order is insertion order).
        pub fn entry(mut self, spec: EntrySpec) -> ManifestBuilder {
            self.entries.push(spec);
            self
        }

        /// Adds an entry with the conventional principal.
        pub fn service(self, name: &str, start: StartPolicy, priority: Priority, caps: CapSet) -> ManifestBuilder {
            self.entry(EntrySpec::new(name, start, priority, caps))
        }

        /// The encoded, validated body.
        pub fn build(&self) -> Result<Vec<u8>, ManifestError> {
            encode(&self.entries)
        }
    }
}
