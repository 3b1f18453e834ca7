// SPDX-License-Identifier: AGPL-3.0-or-later
//! The signature trailer appended to signed ELF images and boot manifests.
//!
//! ```text
//! [ body: the ELF image or manifest      ]  N bytes
//! [ Ed25519 signature                    ]  64 bytes   offset N
//! [ magic "CAMSIG"                       ]  6 bytes    offset N + 64
//! [ version u8 = 1                       ]  1 byte     offset N + 70
//! [ algorithm u8 = 0 (Ed25519)           ]  1 byte     offset N + 71
//! ```
//!
//! The signed message is the 32-byte BLAKE3 hash of the body. docs/abi/signed-elf.md is the
//! reference.

use core::fmt;

/// Length of the trailer in bytes.
pub const TRAILER_LEN: usize = 72;
/// Length of the Ed25519 signature at the start of the trailer.
pub const SIGNATURE_LEN: usize = 64;
/// The trailer magic, right after the signature.
pub const MAGIC: [u8; 6] = *b"CAMSIG";
/// The only trailer version defined.
pub const VERSION: u8 = 1;
/// Algorithm byte for Ed25519 over the BLAKE3 hash of the body.
pub const ALGORITHM_ED25519: u8 = 0;

/// The signature algorithm a trailer names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Ed25519 (RFC 8032, strict verification) over `BLAKE3(body)`.
    Ed25519,
}

/// A parsed version-1 trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// The signature over `BLAKE3(body)`.
    pub signature: [u8; SIGNATURE_LEN],
    /// The trailer version (always [`VERSION`] for a parsed trailer).
    pub version: u8,
    /// The signature algorithm.
    pub algorithm: Algorithm,
}

/// Why a file's trailer is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrailerError {
    /// The file does not end with a trailer (no magic at its place).
    Absent,
    /// The magic is present but the file is shorter than a whole trailer.
    Truncated,
    /// The trailer is whole but what it signs is not a single body: the body is empty or
    /// itself ends with a trailer.
    Malformed,
    /// The trailer version is not 1 (distinct from absent, so a downgrade is visible).
    UnsupportedVersion(u8),
    /// The algorithm byte names no algorithm this verifier implements.
    UnsupportedAlgorithm(u8),
}

impl TrailerError {
    /// A human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            TrailerError::Absent => "no signature trailer (unsigned file)",
            TrailerError::Truncated => "signature trailer is truncated",
            TrailerError::Malformed => "signature trailer is malformed (empty or doubly signed body)",
            TrailerError::UnsupportedVersion(_) => "unsupported signature trailer version",
            TrailerError::UnsupportedAlgorithm(_) => "unsupported signature algorithm",
        }
    }
}

impl fmt::Display for TrailerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrailerError::UnsupportedVersion(v) => write!(f, "{} {v}", self.as_str()),
            TrailerError::UnsupportedAlgorithm(a) => write!(f, "{} {a}", self.as_str()),
            _ => f.write_str(self.as_str()),
        }
    }
}

/// True when `bytes` ends with the trailer magic followed by two bytes (any version).
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.len().checked_sub(8).and_then(|start| bytes.get(start..start + 6)).is_some_and(|m| m == MAGIC)
}

/// Splits a signed file into its body and trailer.
pub fn split(bytes: &[u8]) -> Result<(&[u8], Trailer), TrailerError> {
    if !has_magic(bytes) {
        return Err(TrailerError::Absent);
    }
    let (version, algorithm) = match bytes.rchunks(2).next() {
        Some(&[v, a]) => (v, a),
        _ => return Err(TrailerError::Absent),
    };
    if bytes.len() < TRAILER_LEN {
        return Err(TrailerError::Truncated);
    }
    if version != VERSION {
        return Err(TrailerError::UnsupportedVersion(version));
    }
    if algorithm != ALGORITHM_ED25519 {
        return Err(TrailerError::UnsupportedAlgorithm(algorithm));
    }
    let (body, trailer) = bytes.split_at_checked(bytes.len() - TRAILER_LEN).ok_or(TrailerError::Truncated)?;
    if body.is_empty() || has_magic(body) {
        return Err(TrailerError::Malformed);
    }
    let mut signature = [0u8; SIGNATURE_LEN];
    signature.copy_from_slice(trailer.get(..SIGNATURE_LEN).ok_or(TrailerError::Truncated)?);
    Ok((body, Trailer { signature, version, algorithm: Algorithm::Ed25519 }))
}

/// The 72 trailer bytes for a signature.
pub fn encode(signature: &[u8; SIGNATURE_LEN]) -> [u8; TRAILER_LEN] {
    let mut out = [0u8; TRAILER_LEN];
    let (sig, rest) = out.split_at_mut(SIGNATURE_LEN);
    sig.copy_from_slice(signature);
    for (o, b) in rest.iter_mut().zip(MAGIC.iter().chain(&[VERSION, ALGORITHM_ED25519])) {
        *o = *b;
    }
    out
}

/// The body of a file: everything before a version-1 Ed25519 trailer if it has one, else the
/// whole file. Used by the signer so that re-signing replaces the old trailer.
pub fn strip(bytes: &[u8]) -> &[u8] {
    match split(bytes) {
        Ok((body, _)) => body,
        Err(_) => bytes,
    }
}

/// `body` followed by the trailer for `signature`.
#[cfg(feature = "std")]
pub fn append(body: &[u8], signature: &[u8; SIGNATURE_LEN]) -> std::vec::Vec<u8> {
    let mut out = std::vec::Vec::with_capacity(body.len() + TRAILER_LEN);
    out.extend_from_slice(body);
    out.extend_from_slice(&encode(signature));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let sig = [0x5a; 64];
        let file = append(b"\x7fELF body", &sig);
        assert_eq!(file.len(), 9 + TRAILER_LEN);
        let (body, t) = split(&file).unwrap();
        assert_eq!(body, b"\x7fELF body");
        assert_eq!(t.signature, sig);
        assert_eq!(t.version, 1);
        assert_eq!(t.algorithm, Algorithm::Ed25519);
        assert_eq!(strip(&file), b"\x7fELF body");
        assert_eq!(strip(b"plain"), b"plain");
    }

    #[test]
    fn each_failure_is_distinct() {
        assert_eq!(split(b""), Err(TrailerError::Absent));
        assert_eq!(split(b"\x7fELF and no trailer at all"), Err(TrailerError::Absent));
        assert_eq!(split(b"xxCAMSIG\x01\x00"), Err(TrailerError::Truncated));
        let mut file = append(b"body", &[1; 64]);
        let n = file.len();
        file[n - 2] = 2;
        assert_eq!(split(&file), Err(TrailerError::UnsupportedVersion(2)));
        file[n - 2] = 1;
        file[n - 1] = 1;
        assert_eq!(split(&file), Err(TrailerError::UnsupportedAlgorithm(1)));
        assert_eq!(split(&append(b"", &[1; 64])), Err(TrailerError::Malformed));
        let twice = append(&append(b"body", &[1; 64]), &[2; 64]);
        assert_eq!(split(&twice), Err(TrailerError::Malformed));
        assert!(TrailerError::UnsupportedVersion(9).to_string().ends_with(" 9"));
    }
}
