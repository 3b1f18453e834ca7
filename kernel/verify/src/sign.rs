// SPDX-License-Identifier: AGPL-3.0-or-later
//! Host-side signing with `ed25519-dalek` (feature `sign`; never built for the kernel).
//!
//! [`sign_file`] produces exactly what [`crate::verifier::verify_binary`] and
//! [`crate::manifest::verify_manifest`] accept: the body followed by a trailer holding the
//! Ed25519 signature of `BLAKE3(body)`.

use crate::trailer;
use core::fmt;
use ed25519_dalek::Signer;
use std::vec::Vec;

/// Payload prefixes `sign_file` agrees to sign: ELF images and boot manifests.
pub const SIGNABLE_PREFIXES: [&[u8]; 2] = [b"\x7fELF", crate::manifest::MAGIC.as_slice()];

/// An Ed25519 signing key (RFC 8032 seed; the secret is wiped on drop).
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// The key pair derived from a 32-byte RFC 8032 seed.
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The development key (docs/abi/signed-elf.md).
    pub fn dev() -> SigningKey {
        SigningKey::from_seed(&crate::keys::dev_seed())
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// An Ed25519 signature over `message`.
    pub fn sign_message(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public {})", crate::keys::Hex(&self.public_key()))
    }
}

/// Why a file could not be signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignError {
    /// The payload starts with neither `\x7fELF` nor `CBOSMANI`.
    NotSignable,
}

impl SignError {
    /// A human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            SignError::NotSignable => "refusing to sign: the file is neither an ELF image nor a boot manifest",
        }
    }
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for SignError {}

/// The signature a trailer carries for `body`: Ed25519 over `BLAKE3(body)`.
pub fn sign_body(body: &[u8], key: &SigningKey) -> [u8; 64] {
    key.sign_message(blake3::hash(body).as_bytes())
}

/// Signs a file: strips an existing version-1 trailer (so re-signing is idempotent), then
/// appends a trailer over the rest. Only ELF images and boot manifests are signed.
pub fn sign_file(file: &[u8], key: &SigningKey) -> Result<Vec<u8>, SignError> {
    let body = trailer::strip(file);
    if !SIGNABLE_PREFIXES.iter().any(|p| body.starts_with(p)) {
        return Err(SignError::NotSignable);
    }
    Ok(trailer::append(body, &sign_body(body, key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8032_test_1() {
        // RFC 8032 §7.1, TEST 1 (empty message).
        let seed =
            crate::keys::decode_hex32(b"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap();
        let key = SigningKey::from_seed(&seed);
        assert_eq!(
            crate::keys::Hex(&key.public_key()).to_string(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let sig = key.sign_message(b"");
        assert_eq!(
            crate::keys::Hex(&sig).to_string(),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        assert!(format!("{key:?}").contains("d75a98"));
    }

    #[test]
    fn resigning_is_idempotent_and_prefixes_are_enforced() {
        let key = SigningKey::dev();
        let once = sign_file(b"\x7fELF payload", &key).unwrap();
        let twice = sign_file(&once, &key).unwrap();
        assert_eq!(once, twice);
        let other = sign_file(&once, &SigningKey::from_seed(&[3; 32])).unwrap();
        assert_eq!(other.len(), once.len());
        assert_ne!(other, once);
        assert_eq!(sign_file(b"#!/bin/sh", &key), Err(SignError::NotSignable));
        assert!(sign_file(b"CBOSMANI....", &key).is_ok());
    }
}
