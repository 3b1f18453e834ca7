// SPDX-License-Identifier: AGPL-3.0-or-later
//! The BER-TLV subset PIV uses (ISO/IEC 7816-4 §5.2 / NIST SP 800-73-4 Part 2 §3.3).
//!
//! Tags are one byte, or several when the low five bits of the first byte are all set (each
//! following byte with bit 8 set continues the tag). Lengths are definite: `0x00..=0x7F` in
//! one byte, `0x81 xx` for up to 255 and `0x82 xx xx` for up to 65535. The indefinite form
//! (`0x80`) and longer forms (`0x83`, ...) are rejected: no PIV response uses them.

use super::PivError;

/// One data object: its tag and the bytes of its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag, its bytes big-endian (`0x7C`, `0x5FC105`, ...).
    pub tag: u32,
    /// The value.
    pub value: &'a [u8],
}

/// Appends the encoding of `len` to `out`.
pub fn encode_len(len: usize, out: &mut Vec<u8>) -> Result<(), PivError> {
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xFFFF => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        _ => return Err(PivError::TooLong("a TLV value")),
    }
    Ok(())
}

/// Appends a data object with a one-byte `tag` and `value` to `out`.
pub fn encode(tag: u8, value: &[u8], out: &mut Vec<u8>) -> Result<(), PivError> {
    out.push(tag);
    encode_len(value.len(), out)?;
    out.extend_from_slice(value);
    Ok(())
}

/// A data object with a one-byte `tag` and `value`.
pub fn encoded(tag: u8, value: &[u8]) -> Result<Vec<u8>, PivError> {
    let mut out = Vec::with_capacity(value.len() + 4);
    encode(tag, value, &mut out)?;
    Ok(out)
}

/// Splits the first data object off `data`: the object and the bytes after it.
pub fn parse_one(data: &[u8]) -> Result<(Tlv<'_>, &[u8]), PivError> {
    let (&first, mut rest) = data.split_first().ok_or(PivError::Malformed("a TLV is missing its tag"))?;
    let mut tag = u32::from(first);
    if first & 0x1F == 0x1F {
        // Multi-byte tag: continuation bytes have bit 8 set; at most three bytes in all.
        loop {
            let (&b, r) = rest.split_first().ok_or(PivError::Malformed("a TLV tag is cut short"))?;
            rest = r;
            if tag > 0xFFFF {
                return Err(PivError::Malformed("a TLV tag is longer than 3 bytes"));
            }
            tag = (tag << 8) | u32::from(b);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let (&l, r) = rest.split_first().ok_or(PivError::Malformed("a TLV is missing its length"))?;
    rest = r;
    let len = match l {
        0..=0x7F => usize::from(l),
        0x81 | 0x82 => {
            let n = usize::from(l & 0x7F);
            let (bytes, r) = rest.split_at_checked(n).ok_or(PivError::Malformed("a TLV length is cut short"))?;
            rest = r;
            bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        }
        _ => return Err(PivError::Malformed("a TLV uses an unsupported length form")),
    };
    let (value, rest) = rest.split_at_checked(len).ok_or(PivError::Malformed("a TLV value is longer than the data"))?;
    Ok((Tlv { tag, value }, rest))
}

/// Every data object in `data`, which must consist of whole objects and nothing else.
pub fn parse_all(mut data: &[u8]) -> Result<Vec<Tlv<'_>>, PivError> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (tlv, rest) = parse_one(data)?;
        out.push(tlv);
        data = rest;
    }
    Ok(out)
}

/// The value of the first object tagged `tag` in `data` (which must parse whole).
pub fn find(data: &[u8], tag: u32) -> Result<Option<&[u8]>, PivError> {
    Ok(parse_all(data)?.into_iter().find(|t| t.tag == tag).map(|t| t.value))
}

/// The value of `data` when it is exactly one object tagged `tag`.
pub fn only<'a>(data: &'a [u8], tag: u32, what: &'static str) -> Result<&'a [u8], PivError> {
    let (tlv, rest) = parse_one(data)?;
    if tlv.tag != tag || !rest.is_empty() {
        return Err(PivError::Malformed(what));
    }
    Ok(tlv.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_forms_round_trip() {
        for (len, header) in [
            (0usize, vec![0x00]),
            (0x7F, vec![0x7F]),
            (0x80, vec![0x81, 0x80]),
            (0xFF, vec![0x81, 0xFF]),
            (0x100, vec![0x82, 0x01, 0x00]),
            (0x1234, vec![0x82, 0x12, 0x34]),
        ] {
            let value = vec![0xA5; len];
            let enc = encoded(0x53, &value).unwrap();
            assert_eq!(enc[0], 0x53);
            assert_eq!(&enc[1..1 + header.len()], header.as_slice(), "length {len}");
            let (tlv, rest) = parse_one(&enc).unwrap();
            assert_eq!(tlv, Tlv { tag: 0x53, value: &value });
            assert!(rest.is_empty());
        }
        let mut out = Vec::new();
        assert!(matches!(encode_len(0x1_0000, &mut out), Err(PivError::TooLong(_))));
    }

    #[test]
    fn multi_byte_tags_and_sequences() {
        let data = [0x5F, 0xC1, 0x05, 0x01, 0xAA, 0x01, 0x01, 0xE0, 0x7C, 0x00];
        let all = parse_all(&data).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0], Tlv { tag: 0x5FC105, value: &[0xAA] });
        assert_eq!(find(&data, 0x01).unwrap(), Some(&[0xE0][..]));
        assert_eq!(find(&data, 0x7C).unwrap(), Some(&[][..]));
        assert_eq!(find(&data, 0x02).unwrap(), None);
        assert_eq!(only(&[0x7C, 0x01, 0x09], 0x7C, "x").unwrap(), &[0x09]);
        assert!(only(&[0x7C, 0x01, 0x09, 0x00], 0x7C, "x").is_err());
        assert!(only(&[0x7D, 0x01, 0x09], 0x7C, "x").is_err());
    }

    #[test]
    fn malformed_input_is_rejected() {
        for bad in [
            &[][..],
            &[0x7C],                               // no length
            &[0x7C, 0x02, 0x01],                   // value cut short
            &[0x7C, 0x80],                         // indefinite length
            &[0x7C, 0x83, 0, 0, 1, 0],             // 3-byte length form
            &[0x7C, 0x81],                         // long form cut short
            &[0x7C, 0x82, 0x01],                   // long form cut short
            &[0x7C, 0x81, 0x05, 1, 2],             // long form value cut short
            &[0x5F, 0xC1],                         // multi-byte tag cut short
            &[0x5F, 0x81, 0x82, 0x83, 0x01, 0x00], // tag too long
        ] {
            assert!(matches!(parse_all(bad), Err(PivError::Malformed(_))) || bad.is_empty(), "{bad:02x?}");
            assert!(matches!(parse_one(bad), Err(PivError::Malformed(_))), "{bad:02x?}");
        }
        assert!(parse_all(&[0x01, 0x01, 0xE0, 0x02]).is_err(), "trailing garbage");
    }
}
