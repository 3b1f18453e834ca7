// SPDX-License-Identifier: MPL-2.0
//! Base58 with the Bitcoin alphabet ("base58btc", multibase prefix `z`), encoding only, without
//! allocation.

/// The Bitcoin base58 alphabet.
pub const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// The most characters `input_len` bytes encode to (each byte is log(256)/log(58) < 1.37
/// digits; leading zero bytes become one `1` each).
pub const fn max_encoded_len(input_len: usize) -> usize {
    input_len * 137 / 100 + 1
}

/// Encodes `input` into `out`; returns the number of ASCII characters written, or `None` if
/// `out` is too short. `out` is also the working space (`max_encoded_len` is always enough).
pub fn encode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    // Base-58 digits, least significant first, accumulated in `out[..len]`.
    let mut len = 0;
    for &byte in input {
        let mut carry = u32::from(byte);
        for digit in out.iter_mut().take(len) {
            carry += u32::from(*digit) << 8;
            *digit = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            *out.get_mut(len)? = (carry % 58) as u8;
            len += 1;
            carry /= 58;
        }
    }
    // Each leading zero byte is one leading '1' (digit 0).
    for _ in input.iter().take_while(|b| **b == 0) {
        *out.get_mut(len)? = 0;
        len += 1;
    }
    let digits = out.get_mut(..len)?;
    digits.reverse();
    for digit in digits.iter_mut() {
        *digit = *ALPHABET.get(usize::from(*digit))?;
    }
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(input: &[u8]) -> String {
        let mut out = vec![0u8; max_encoded_len(input.len())];
        let n = encode(input, &mut out).unwrap();
        String::from_utf8(out[..n].to_vec()).unwrap()
    }

    #[test]
    fn known_values() {
        assert_eq!(enc(b""), "");
        assert_eq!(enc(&[0]), "1");
        assert_eq!(enc(&[0, 0, 1]), "112");
        assert_eq!(enc(&[57]), "z");
        assert_eq!(enc(&[58]), "21");
        assert_eq!(enc(b"Hello World!"), "2NEpo7TZRRrLZSi2U");
        assert_eq!(
            enc(b"The quick brown fox jumps over the lazy dog."),
            "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z"
        );
        assert_eq!(enc(&[0xff; 32]), "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG");
    }

    #[test]
    fn short_output_is_refused() {
        let mut out = [0u8; 2];
        assert_eq!(encode(b"Hello", &mut out), None);
        assert_eq!(encode(&[0, 0, 0], &mut out), None);
    }
}
