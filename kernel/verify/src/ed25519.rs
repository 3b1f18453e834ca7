// SPDX-License-Identifier: AGPL-3.0-or-later
//! Strict Ed25519 verification (RFC 8032 with the strict rules of docs/abi/signed-elf.md).
//!
//! A signature `(R, S)` by public key `A` over message `M` is accepted only when all of these
//! hold, checked in this order:
//!
//! 1. `S` is canonical: `S < L` (no malleable `S + L`).
//! 2. `A` is a canonical encoding (`y < p`, no "negative zero" with `x = 0` and the sign bit
//!    set), decodes to a curve point, and that point does not have small order.
//! 3. `R` satisfies the same rules.
//! 4. `ed25519-compact` accepts the signature (its own checks).
//! 5. The cofactorless equation holds exactly: the encoding of `[S]B - [k]A` equals the bytes
//!    of `R`, with `k = SHA-512(R || A || M) mod L`. `ed25519-compact` alone only checks that
//!    the two sides differ by a small-order point; this check closes that gap.
//!
//! Every valid signature produced by an RFC 8032 signer passes; every Wycheproof `invalid`
//! case fails (see the tests).

use crate::curve::{self, BASE_POINT_BYTES, DecodeError, Point};
use core::fmt;

/// Why a signature was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// The public key or signature has the wrong length.
    BadLength,
    /// `S` is not below the group order L.
    NonCanonicalS,
    /// The public key is a non-canonical encoding (y >= p or negative zero).
    NonCanonicalPublicKey,
    /// The public key is not a curve point.
    InvalidPublicKey,
    /// The public key has small order (it would verify forged signatures).
    WeakPublicKey,
    /// `R` is a non-canonical encoding.
    NonCanonicalR,
    /// `R` is not a curve point.
    InvalidR,
    /// `R` has small order.
    SmallOrderR,
    /// The signature does not match the message and key.
    Mismatch,
}

impl SignatureError {
    /// A human-readable reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            SignatureError::BadLength => "public key or signature has the wrong length",
            SignatureError::NonCanonicalS => "signature scalar S is not below the group order (malleable)",
            SignatureError::NonCanonicalPublicKey => "public key is not a canonical point encoding",
            SignatureError::InvalidPublicKey => "public key is not a curve point",
            SignatureError::WeakPublicKey => "public key has small order",
            SignatureError::NonCanonicalR => "signature point R is not a canonical encoding",
            SignatureError::InvalidR => "signature point R is not a curve point",
            SignatureError::SmallOrderR => "signature point R has small order",
            SignatureError::Mismatch => "signature does not match the message and key",
        }
    }
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a point failed the strict decoding rules.
enum PointFault {
    NonCanonical,
    NotOnCurve,
    SmallOrder,
}

/// Decodes a point and applies the strict rules.
fn decode_strict(bytes: &[u8; 32]) -> Result<Point, PointFault> {
    let point = Point::decode(bytes).map_err(|e| match e {
        DecodeError::NonCanonical => PointFault::NonCanonical,
        DecodeError::NotOnCurve => PointFault::NotOnCurve,
    })?;
    if point.has_small_order() {
        return Err(PointFault::SmallOrder);
    }
    Ok(point)
}

fn decode_public_key(public_key: &[u8; 32]) -> Result<Point, SignatureError> {
    decode_strict(public_key).map_err(|e| match e {
        PointFault::NonCanonical => SignatureError::NonCanonicalPublicKey,
        PointFault::NotOnCurve => SignatureError::InvalidPublicKey,
        PointFault::SmallOrder => SignatureError::WeakPublicKey,
    })
}

/// Checks that a public key is usable: canonical, on the curve, not of small order.
pub fn validate_public_key(public_key: &[u8; 32]) -> Result<(), SignatureError> {
    decode_public_key(public_key).map(|_| ())
}

/// Verifies `signature` over `message` under `public_key` with the strict rules above.
pub fn verify_strict(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Result<(), SignatureError> {
    let (r_bytes, s_bytes) = split_signature(signature);
    if !curve::scalar_is_canonical(&s_bytes) {
        return Err(SignatureError::NonCanonicalS);
    }
    let a = decode_public_key(public_key)?;
    decode_strict(&r_bytes).map_err(|e| match e {
        PointFault::NonCanonical => SignatureError::NonCanonicalR,
        PointFault::NotOnCurve => SignatureError::InvalidR,
        PointFault::SmallOrder => SignatureError::SmallOrderR,
    })?;

    // The audited library must accept ...
    let pk = ed25519_compact::PublicKey::new(*public_key);
    pk.verify(message, &ed25519_compact::Signature::new(*signature)).map_err(|_| SignatureError::Mismatch)?;

    // ... and so must the exact cofactorless equation [S]B + [k](-A) == R.
    let mut hasher = ed25519_compact::sha512::Hash::new();
    hasher.update(r_bytes);
    hasher.update(public_key);
    hasher.update(message);
    let k = curve::reduce_wide(&hasher.finalize());
    let b = Point::decode(&BASE_POINT_BYTES).map_err(|_| SignatureError::Mismatch)?;
    let r_check = b.double_mul(&s_bytes, &a.neg(), &k);
    if r_check.encode() != r_bytes {
        return Err(SignatureError::Mismatch);
    }
    Ok(())
}

/// [`verify_strict`] for byte slices of any length (wrong lengths are rejected).
pub fn verify_strict_slices(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
    let pk: &[u8; 32] = public_key.try_into().map_err(|_| SignatureError::BadLength)?;
    let sig: &[u8; 64] = signature.try_into().map_err(|_| SignatureError::BadLength)?;
    verify_strict(pk, message, sig)
}

fn split_signature(signature: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    let (rs, ss) = signature.split_at(32);
    r.copy_from_slice(rs);
    s.copy_from_slice(ss);
    (r, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn wycheproof_all_cases() {
        let text = include_str!("../testdata/wycheproof_ed25519_test.json");
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let (mut total, mut valid, mut invalid) = (0, 0, 0);
        for group in doc["testGroups"].as_array().unwrap() {
            let pk = hex(group["publicKey"]["pk"].as_str().unwrap());
            for case in group["tests"].as_array().unwrap() {
                let id = case["tcId"].as_u64().unwrap();
                let msg = hex(case["msg"].as_str().unwrap());
                let sig = hex(case["sig"].as_str().unwrap());
                let got = verify_strict_slices(&pk, &msg, &sig);
                match case["result"].as_str().unwrap() {
                    "valid" => {
                        assert_eq!(got, Ok(()), "tcId {id} ({})", case["comment"]);
                        valid += 1;
                    }
                    "invalid" => {
                        assert!(got.is_err(), "tcId {id} ({}) was accepted", case["comment"]);
                        invalid += 1;
                    }
                    other => panic!("tcId {id}: unexpected result {other}"),
                }
                total += 1;
            }
        }
        assert_eq!(total, 151);
        assert_eq!(doc["numberOfTests"].as_u64(), Some(151));
        assert_eq!((valid, invalid), (88, 63));
    }

    #[test]
    fn strict_rules_reject_each_bad_form() {
        let key = crate::sign::SigningKey::from_seed(&[7u8; 32]);
        let pk = key.public_key();
        let msg = b"strict";
        let sig = key.sign_message(msg);
        assert_eq!(verify_strict(&pk, msg, &sig), Ok(()));
        assert_eq!(verify_strict(&pk, b"other", &sig), Err(SignatureError::Mismatch));

        // S + L is the same signature mathematically but must be rejected.
        let l = hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
        let mut malleable = sig;
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(malleable[32 + i]) + u16::from(l[i]) + carry;
            malleable[32 + i] = v as u8;
            carry = v >> 8;
        }
        if malleable[63] & 0xe0 == 0 {
            assert_eq!(verify_strict(&pk, msg, &malleable), Err(SignatureError::NonCanonicalS));
        }

        // Small-order public key (the identity) and R.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(verify_strict(&identity, msg, &sig), Err(SignatureError::WeakPublicKey));
        let mut r_small = sig;
        r_small[..32].copy_from_slice(&identity);
        assert_eq!(verify_strict(&pk, msg, &r_small), Err(SignatureError::SmallOrderR));

        // Non-canonical encodings: y = p + 1 and negative zero.
        let mut big = [0xffu8; 32];
        big[0] = 0xee;
        big[31] = 0x7f;
        assert_eq!(verify_strict(&big, msg, &sig), Err(SignatureError::NonCanonicalPublicKey));
        let mut nz = identity;
        nz[31] |= 0x80;
        assert_eq!(verify_strict(&nz, msg, &sig), Err(SignatureError::NonCanonicalPublicKey));
        let mut r_nz = sig;
        r_nz[..32].copy_from_slice(&nz);
        assert_eq!(verify_strict(&pk, msg, &r_nz), Err(SignatureError::NonCanonicalR));
        assert_eq!(verify_strict_slices(&pk, msg, &sig[..63]), Err(SignatureError::BadLength));
        assert!(SignatureError::Mismatch.to_string().contains("does not match"));
    }

    /// A mixed-order R (R + T for a torsion point T) passes a cofactored check but not ours.
    #[test]
    fn mixed_order_r_is_rejected() {
        // Sign by hand with a nonce point that carries an order-4 torsion component.
        let seed = [9u8; 32];
        let h = ed25519_compact::sha512::Hash::hash(seed);
        let mut a_scalar = [0u8; 32];
        a_scalar.copy_from_slice(&h[..32]);
        a_scalar[0] &= 248;
        a_scalar[31] &= 127;
        a_scalar[31] |= 64;
        let b = Point::decode(&BASE_POINT_BYTES).unwrap();
        let a_point = b.double_mul(&a_scalar, &Point::IDENTITY, &[0; 32]);
        let pk = a_point.encode();
        let mut r_scalar = [0u8; 32];
        r_scalar[0] = 42;
        let torsion = Point::decode(&[0u8; 32]).unwrap(); // y = 0: order 4
        let r_point = b.double_mul(&r_scalar, &Point::IDENTITY, &[0; 32]).add(&torsion);
        let r_bytes = r_point.encode();
        let msg = b"mixed order";
        let mut hasher = ed25519_compact::sha512::Hash::new();
        hasher.update(r_bytes);
        hasher.update(pk);
        hasher.update(msg);
        let k = curve::reduce_wide(&hasher.finalize());
        // s = r + k * a mod L: multiply-add bytewise with carries, then reduce.
        let mut acc = [0u32; 64];
        for (i, kb) in k.iter().enumerate() {
            for (j, ab) in a_scalar.iter().enumerate() {
                acc[i + j] += u32::from(*kb) * u32::from(*ab);
            }
        }
        acc[0] += 42;
        let mut bytes = [0u8; 64];
        let mut carry = 0u32;
        for (o, v) in bytes.iter_mut().zip(acc) {
            let t = v + carry;
            *o = t as u8;
            carry = t >> 8;
        }
        let s = curve::reduce_wide(&bytes);
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_bytes);
        sig[32..].copy_from_slice(&s);
        // The cofactored library accepts it; the strict verifier does not.
        let compact = ed25519_compact::PublicKey::new(pk);
        assert!(compact.verify(msg, &ed25519_compact::Signature::new(sig)).is_ok());
        assert_eq!(verify_strict(&pk, msg, &sig), Err(SignatureError::Mismatch));
    }
}
