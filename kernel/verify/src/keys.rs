// SPDX-License-Identifier: AGPL-3.0-or-later
//! Trusted signing keys, the development key, and the key file formats of `sign-elf`.
//!
//! The development key pair is public knowledge: its seed is
//! `BLAKE3("cambios development signing key v1")`. It lets a fresh checkout build and boot
//! without any setup; a real deployment replaces it (docs/abi/signed-elf.md, "Replacing the
//! development key").
//!
//! Key files are text: a public key file holds 64 hex digits and a newline (a raw 32-byte file
//! is accepted too); a secret key file holds the 32-byte Ed25519 seed as 64 hex digits and a
//! newline, and is written with mode 0600.

use crate::ed25519::{self, SignatureError};
use core::fmt;

/// Most keys a [`TrustedKeys`] holds.
pub const MAX_TRUSTED_KEYS: usize = 4;

/// The string whose BLAKE3 hash is the development seed.
pub const DEV_SEED_LABEL: &str = "cambios development signing key v1";

/// The development seed, `BLAKE3("cambios development signing key v1")`, in hex.
pub const DEV_SEED_HEX: &str = "a9d843c38b6f25776a68ecae571bb5aa203f76f73cac9c0e2126905295b8c16c";

/// The development public key, `50f94a5e…dcd20539` (derived from [`DEV_SEED_HEX`]; checked by a
/// test).
pub const DEV_PUBLIC_KEY: [u8; 32] = [
    0x50, 0xf9, 0x4a, 0x5e, 0xf9, 0x33, 0x74, 0xe8, 0x85, 0x21, 0x20, 0x03, 0xc9, 0xad, 0x01, 0x75, 0x29, 0xac, 0xdb,
    0x44, 0x3f, 0x98, 0xa6, 0x8a, 0x1a, 0x53, 0xab, 0x37, 0xdc, 0xd2, 0x05, 0x39,
];

/// Why a key or key file was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not 64 hex digits (after trimming whitespace), nor 32 raw bytes where those are allowed.
    BadFormat,
    /// The key is not a usable Ed25519 public key.
    Unusable(SignatureError),
    /// The set already holds [`MAX_TRUSTED_KEYS`] keys.
    Full,
    /// The key is already in the set.
    Duplicate,
}

impl KeyError {
    /// A human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyError::BadFormat => "key is not 64 hex digits",
            KeyError::Unusable(e) => e.as_str(),
            KeyError::Full => "too many trusted keys",
            KeyError::Duplicate => "key is already trusted",
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The public keys whose signatures the verifier accepts (at most [`MAX_TRUSTED_KEYS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: [[u8; 32]; MAX_TRUSTED_KEYS],
    len: usize,
}

impl TrustedKeys {
    /// No keys: nothing verifies.
    pub const fn empty() -> TrustedKeys {
        TrustedKeys { keys: [[0; 32]; MAX_TRUSTED_KEYS], len: 0 }
    }

    /// One key, for a compile-time constant. The key is not validated here; an unusable key
    /// simply verifies nothing (use [`TrustedKeys::add`] for keys from outside).
    pub const fn single(key: [u8; 32]) -> TrustedKeys {
        let mut keys = [[0; 32]; MAX_TRUSTED_KEYS];
        keys[0] = key;
        TrustedKeys { keys, len: 1 }
    }

    /// Only the development key.
    pub const fn dev() -> TrustedKeys {
        TrustedKeys::single(DEV_PUBLIC_KEY)
    }

    /// Adds a key after checking it is usable; returns its index.
    pub fn add(&mut self, key: [u8; 32]) -> Result<usize, KeyError> {
        ed25519::validate_public_key(&key).map_err(KeyError::Unusable)?;
        if self.contains(&key) {
            return Err(KeyError::Duplicate);
        }
        let index = self.len;
        let slot = self.keys.get_mut(index).ok_or(KeyError::Full)?;
        *slot = key;
        self.len += 1;
        Ok(index)
    }

    /// Number of keys.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True when there are no keys.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The keys, in the order they were added.
    pub fn as_slice(&self) -> &[[u8; 32]] {
        self.keys.get(..self.len).unwrap_or(&[])
    }

    /// The key at `index`.
    pub fn get(&self, index: usize) -> Option<&[u8; 32]> {
        self.as_slice().get(index)
    }

    /// The index of `key`, if trusted.
    pub fn position(&self, key: &[u8; 32]) -> Option<usize> {
        self.as_slice().iter().position(|k| k == key)
    }

    /// True when `key` is trusted.
    pub fn contains(&self, key: &[u8; 32]) -> bool {
        self.position(key).is_some()
    }

    /// The first key (index and bytes) under which `signature` over `message` verifies
    /// strictly.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Option<(usize, [u8; 32])> {
        self.as_slice()
            .iter()
            .enumerate()
            .find(|(_, k)| ed25519::verify_strict(k, message, signature).is_ok())
            .map(|(i, k)| (i, *k))
    }
}

/// Bytes shown as lowercase hex by `Display`.
#[derive(Clone, Copy, Debug)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes exactly 64 hex digits (surrounding ASCII whitespace is ignored).
pub fn decode_hex32(text: &[u8]) -> Result<[u8; 32], KeyError> {
    let text = text.trim_ascii();
    if text.len() != 64 {
        return Err(KeyError::BadFormat);
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (hi, lo) = match pair {
            &[h, l] => (hex_digit(h), hex_digit(l)),
            _ => (None, None),
        };
        *o = (hi.ok_or(KeyError::BadFormat)? << 4) | lo.ok_or(KeyError::BadFormat)?;
    }
    Ok(out)
}

/// The contents of a key file for `key`: 64 lowercase hex digits and a newline.
pub fn encode_key_file(key: &[u8; 32]) -> [u8; 65] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'\n'; 65];
    for (pair, b) in out.chunks_exact_mut(2).zip(key) {
        let hi = DIGITS.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
        let lo = DIGITS.get(usize::from(b & 15)).copied().unwrap_or(b'0');
        pair.copy_from_slice(&[hi, lo]);
    }
    out
}

/// Parses a public key file: 64 hex digits (plus whitespace), or exactly 32 raw bytes. The key
/// must be usable (canonical, on the curve, not of small order).
pub fn parse_public_key_file(bytes: &[u8]) -> Result<[u8; 32], KeyError> {
    let key = match <[u8; 32]>::try_from(bytes) {
        Ok(raw) => raw,
        Err(_) => decode_hex32(bytes)?,
    };
    ed25519::validate_public_key(&key).map_err(KeyError::Unusable)?;
    Ok(key)
}

/// Parses a secret key file: the 32-byte seed as 64 hex digits (plus whitespace).
pub fn parse_seed_file(bytes: &[u8]) -> Result<[u8; 32], KeyError> {
    decode_hex32(bytes)
}

/// The development seed as bytes.
pub fn dev_seed() -> [u8; 32] {
    decode_hex32(DEV_SEED_HEX.as_bytes()).unwrap_or([0; 32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::SigningKey;

    #[test]
    fn dev_key_matches_its_derivation() {
        let seed = *blake3::hash(DEV_SEED_LABEL.as_bytes()).as_bytes();
        assert_eq!(Hex(&seed).to_string(), DEV_SEED_HEX);
        assert_eq!(dev_seed(), seed);
        assert_eq!(SigningKey::from_seed(&seed).public_key(), DEV_PUBLIC_KEY);
        assert_eq!(TrustedKeys::dev().as_slice(), &[DEV_PUBLIC_KEY]);
    }

    #[test]
    fn trusted_keys_add_and_verify() {
        let mut keys = TrustedKeys::empty();
        assert!(keys.is_empty());
        let signers: Vec<SigningKey> = (1..=5u8).map(|i| SigningKey::from_seed(&[i; 32])).collect();
        for (i, s) in signers.iter().take(4).enumerate() {
            assert_eq!(keys.add(s.public_key()), Ok(i));
        }
        assert_eq!(keys.add(signers[0].public_key()), Err(KeyError::Duplicate));
        assert_eq!(keys.add(signers[4].public_key()), Err(KeyError::Full));
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(TrustedKeys::empty().add(identity), Err(KeyError::Unusable(SignatureError::WeakPublicKey)));
        let sig = signers[2].sign_message(b"m");
        assert_eq!(keys.verify(b"m", &sig), Some((2, signers[2].public_key())));
        assert_eq!(keys.verify(b"x", &sig), None);
        assert_eq!(keys.len(), 4);
        assert_eq!(keys.get(3), Some(&signers[3].public_key()));
    }

    #[test]
    fn key_files() {
        let key = DEV_PUBLIC_KEY;
        let file = encode_key_file(&key);
        assert_eq!(file[64], b'\n');
        assert_eq!(parse_public_key_file(&file), Ok(key));
        assert_eq!(parse_public_key_file(&key), Ok(key));
        assert_eq!(parse_public_key_file(&file[..63]), Err(KeyError::BadFormat));
        let mut upper = file;
        upper[..64].make_ascii_uppercase();
        assert_eq!(parse_public_key_file(&upper), Ok(key));
        let mut bad = file;
        bad[5] = b'g';
        assert_eq!(parse_public_key_file(&bad), Err(KeyError::BadFormat));
        assert_eq!(parse_seed_file(b"  ab\n"), Err(KeyError::BadFormat));
        assert_eq!(parse_seed_file(DEV_SEED_HEX.as_bytes()), Ok(dev_seed()));
        assert_eq!(Hex(&[0xab, 0x01]).to_string(), "ab01");
    }
}
