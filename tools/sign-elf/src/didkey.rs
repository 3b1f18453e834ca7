// SPDX-License-Identifier: AGPL-3.0-or-later
//! base58btc and `did:key` encoding of Ed25519 public keys.
//!
//! `did:key:z` + base58btc(`0xed 0x01` || key): `0xed01` is the multicodec varint for
//! `ed25519-pub` and `z` the multibase prefix for base58btc. A 32-byte key always gives a
//! 56-character identifier starting `did:key:z6Mk`.

/// The Bitcoin base58 alphabet (no 0, O, I, l).
const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Multicodec prefix of an Ed25519 public key.
const ED25519_PUB: [u8; 2] = [0xed, 0x01];

/// base58btc of `bytes` (leading zero bytes become leading `1`s).
pub fn base58(bytes: &[u8]) -> String {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    // Little-endian base-58 digits of the big-endian number in `bytes`; log(256)/log(58) < 1.37,
    // so 138 % of the input length bounds the digit count (the loops are bounded by it).
    let mut digits: Vec<u8> = Vec::with_capacity(bytes.len() * 138 / 100 + 1);
    for &byte in bytes {
        let mut carry = u32::from(byte);
        for d in digits.iter_mut() {
            carry += u32::from(*d) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut out = String::with_capacity(zeros + digits.len());
    out.extend(std::iter::repeat_n('1', zeros));
    for d in digits.iter().rev() {
        out.push(char::from(ALPHABET.get(usize::from(*d)).copied().unwrap_or(b'?')));
    }
    out
}

/// The `did:key` identifier of an Ed25519 public key.
pub fn did_key(public_key: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(34);
    bytes.extend_from_slice(&ED25519_PUB);
    bytes.extend_from_slice(public_key);
    format!("did:key:z{}", base58(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel_verify::keys::decode_hex32;
    use kernel_verify::sign::SigningKey;

    #[test]
    fn base58_basics() {
        assert_eq!(base58(b""), "");
        assert_eq!(base58(&[0]), "1");
        assert_eq!(base58(&[0, 0, 1]), "112");
        assert_eq!(base58(&[57]), "z");
        assert_eq!(base58(&[58]), "21");
        assert_eq!(base58(b"hello world"), "StV1DL6CwTryKyV");
    }

    #[test]
    fn did_key_vectors() {
        let text = include_str!("../testdata/did_key_ed25519.json");
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let mut count = 0;
        for (did, v) in doc.as_object().unwrap() {
            let seed = decode_hex32(v["seed"].as_str().unwrap().as_bytes()).unwrap();
            let public = SigningKey::from_seed(&seed).public_key();
            // Most vectors also give the bare key in base58 (one gives a JWK instead).
            if let Some(b58) = v["verificationKeyPair"]["publicKeyBase58"].as_str() {
                assert_eq!(base58(&public), b58);
            }
            assert_eq!(&did_key(&public), did);
            assert_eq!(did.len(), 56);
            assert!(did.starts_with("did:key:z6Mk"));
            count += 1;
        }
        assert_eq!(count, 5);
    }
}
