// SPDX-License-Identifier: MPL-2.0
//! [`Principal`]: a process's identity, the 32-byte Ed25519 public key its image was signed for,
//! displayed as a W3C `did:key` (`did:key:z` + base58btc of the multicodec prefix `0xed 0x01`
//! followed by the key).

use core::fmt;

use crate::base58;

/// The multicodec prefix of an Ed25519 public key (varint of 0xed).
const ED25519_PUB_PREFIX: [u8; 2] = [0xed, 0x01];
/// Prefix plus key.
const MULTICODEC_LEN: usize = ED25519_PUB_PREFIX.len() + 32;
/// Longest base58 text of a prefixed key.
const DID_KEY_MAX_CHARS: usize = base58::max_encoded_len(MULTICODEC_LEN);

/// A Principal: a 32-byte Ed25519 public key. `Display` shows it as a `did:key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Principal(pub [u8; 32]);

impl Principal {
    /// The base58btc part of the `did:key` (after `did:key:z`), written into `buf`; returns the
    /// text.
    pub fn did_key_suffix<'a>(&self, buf: &'a mut [u8; DID_KEY_MAX_CHARS]) -> &'a str {
        let mut prefixed = [0u8; MULTICODEC_LEN];
        let (prefix, key) = prefixed.split_at_mut(ED25519_PUB_PREFIX.len());
        prefix.copy_from_slice(&ED25519_PUB_PREFIX);
        key.copy_from_slice(&self.0);
        let len = base58::encode(&prefixed, buf).unwrap_or(0);
        // The encoder writes only alphabet characters, which are ASCII.
        buf.get(..len).and_then(|text| core::str::from_utf8(text).ok()).unwrap_or("")
    }

    /// True for the all-zero key, which is never a real Principal (the kernel stamps every
    /// message with the sender's; a zero sender means the stamp is missing).
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|b| *b == 0)
    }

    /// A short form of the `did:key` for tables: `z`, the first [`ShortDid::HEAD`] base58
    /// characters, `..` and the last [`ShortDid::TAIL`] (`z6MkiTBz1y..ooWp`; 16 characters).
    /// Every Ed25519 `did:key` starts with `z6Mk`, so the distinctive part is what follows.
    pub fn short(&self) -> ShortDid {
        let mut buf = [0u8; DID_KEY_MAX_CHARS];
        let suffix = self.did_key_suffix(&mut buf).as_bytes();
        let mut text = [b'?'; ShortDid::LEN];
        let head = suffix.get(..ShortDid::HEAD);
        let tail = suffix.len().checked_sub(ShortDid::TAIL).and_then(|at| suffix.get(at..));
        if let (Some(head), Some(tail)) = (head, tail) {
            let parts: [&[u8]; 4] = [b"z", head, b"..", tail];
            let mut at = 0;
            for part in parts {
                if let Some(dst) = text.get_mut(at..at + part.len()) {
                    dst.copy_from_slice(part);
                }
                at += part.len();
            }
        }
        ShortDid(text)
    }

    /// The first four bytes in lowercase hex (8 characters), for compact logs.
    pub fn short_hex(&self) -> ShortHex {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; 8];
        for (pair, byte) in text.chunks_exact_mut(2).zip(self.0) {
            if let [hi, lo] = pair {
                *hi = HEX[usize::from(byte >> 4)];
                *lo = HEX[usize::from(byte & 0xf)];
            }
        }
        ShortHex(text)
    }
}

impl fmt::Display for Principal {
    /// `did:key:z6Mk...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; DID_KEY_MAX_CHARS];
        f.write_str("did:key:z")?;
        f.write_str(self.did_key_suffix(&mut buf))
    }
}

/// The text of [`Principal::short_hex`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShortHex([u8; 8]);

impl ShortHex {
    /// The hex digits.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("????????")
    }
}

impl fmt::Display for ShortHex {
    /// The hex digits (width and alignment flags apply).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The text of [`Principal::short`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShortDid([u8; ShortDid::LEN]);

impl ShortDid {
    /// Base58 characters kept from the start of the `did:key` suffix.
    pub const HEAD: usize = 9;
    /// Base58 characters kept from its end.
    pub const TAIL: usize = 4;
    /// Length of the text: `z`, head, `..`, tail.
    pub const LEN: usize = 1 + ShortDid::HEAD + 2 + ShortDid::TAIL;

    /// The text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("????????????????")
    }
}

impl fmt::Display for ShortDid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Base58 decoding, for reading the vectors' `publicKeyBase58` fields.
    fn decode58(text: &str) -> Vec<u8> {
        let mut bytes: Vec<u8> = Vec::new(); // little-endian base-256
        for c in text.bytes() {
            let mut carry = base58::ALPHABET.iter().position(|a| *a == c).expect("base58 character") as u32;
            for b in bytes.iter_mut() {
                carry += u32::from(*b) * 58;
                *b = carry as u8;
                carry >>= 8;
            }
            while carry > 0 {
                bytes.push(carry as u8);
                carry >>= 8;
            }
        }
        bytes.extend(text.bytes().take_while(|c| *c == b'1').map(|_| 0));
        bytes.reverse();
        bytes
    }

    fn key(bytes: &[u8]) -> Principal {
        Principal(bytes.try_into().expect("32-byte key"))
    }

    #[test]
    fn seed_zero_vector() {
        // did_key_ed25519.json, seed 00..00 (also checked against the file below).
        let p = key(&decode58("4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS"));
        assert_eq!(p.to_string(), "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp");
        assert_eq!(p.short_hex().as_str(), "3b6a27bc");
        assert_eq!(p.short().as_str(), "z6MkiTBz1y..ooWp");
        assert_eq!(format!("[{:<18}]", p.short()), "[z6MkiTBz1y..ooWp  ]");
        assert!(!p.is_zero());
        assert!(Principal([0; 32]).is_zero());
    }

    #[test]
    fn extreme_keys() {
        // Every did:key of an Ed25519 key starts with z6Mk and has 47 base58 characters.
        for k in [[0u8; 32], [0xff; 32]] {
            let text = Principal(k).to_string();
            assert!(text.starts_with("did:key:z6Mk"), "{text}");
            assert_eq!(text.len(), "did:key:z".len() + 47, "{text}");
        }
        assert_eq!(Principal([0xab; 32]).short_hex().to_string(), "abababab");
    }

    /// Base64url without padding, for the vectors' `publicKeyJwk.x` fields.
    fn decode64url(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for c in text.bytes() {
            acc = (acc << 6) | ALPHABET.iter().position(|a| *a == c).expect("base64url character") as u32;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }

    /// The quoted value of the first line in `lines` that starts with `"<field>":`.
    fn field<'a>(lines: &[&'a str], field: &str) -> Option<&'a str> {
        let key = format!("\"{field}\":");
        lines.iter().find(|l| l.trim_start().starts_with(&key)).and_then(|l| l.split('"').nth(3))
    }

    /// Every entry of `shared/vectors/did_key_ed25519.json` (beside the repository): the object
    /// keys are the expected did:key strings; the key is the `verificationKeyPair`'s
    /// `publicKeyBase58`, or its `publicKeyJwk.x` (base64url) in the JWK-style entries. Parsed by
    /// hand (no JSON crate in this no_std workspace): top-level keys are the lines indented by
    /// exactly two spaces, and each entry's verification key comes first.
    #[test]
    fn did_key_vectors_file() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/did_key_ed25519.json");
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("skipping: {path} not found (shared/ is not beside the repository)");
            return;
        };
        let lines: Vec<&str> = text.lines().collect();
        let starts: Vec<usize> = (0..lines.len()).filter(|i| lines[*i].starts_with("  \"did:key:")).collect();
        assert!(starts.len() >= 5, "expected at least 5 vectors, found {}", starts.len());
        for (n, start) in starts.iter().enumerate() {
            let end = starts.get(n + 1).copied().unwrap_or(lines.len());
            let entry = &lines[*start..end];
            let did = entry[0].split('"').nth(1).unwrap();
            let key_bytes = match field(entry, "publicKeyBase58") {
                Some(b58) => decode58(b58),
                None => decode64url(field(entry, "x").expect("publicKeyBase58 or publicKeyJwk.x")),
            };
            assert_eq!(key(&key_bytes).to_string(), did);
        }
    }
}
