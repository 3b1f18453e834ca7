// SPDX-License-Identifier: AGPL-3.0-or-later
//! Command APDUs, status words and response chaining (ISO/IEC 7816-4 §5.1, §5.6).
//!
//! Every command sign-elf sends is a short APDU `CLA INS P1 P2 [Lc data]` without Le, the
//! form Yubico's own tools send to the PIV application. A response is `data SW1 SW2`. When
//! SW1 is `0x61` more response bytes wait on the card: [`exchange`] fetches them with GET
//! RESPONSE (`00 C0 00 00 SW2`) and concatenates the pieces.

use super::{Card, PivError};

/// Class byte of every command (no chaining, no secure messaging).
pub const CLA: u8 = 0x00;
/// GET RESPONSE.
pub const INS_GET_RESPONSE: u8 = 0xC0;
/// Status word of a successful command.
pub const SW_OK: u16 = 0x9000;
/// How many GET RESPONSE rounds one command may take (a YubiKey needs at most a handful).
pub const MAX_RESPONSE_ROUNDS: usize = 64;

/// A short command APDU: header, and `Lc data` when `data` is non-empty.
pub fn command(ins: u8, p1: u8, p2: u8, data: &[u8]) -> Result<Vec<u8>, PivError> {
    let mut apdu = vec![CLA, ins, p1, p2];
    if !data.is_empty() {
        let lc = u8::try_from(data.len()).map_err(|_| PivError::TooLong("a command's data (255 bytes at most)"))?;
        apdu.push(lc);
        apdu.extend_from_slice(data);
    }
    Ok(apdu)
}

/// A complete response: the data of every chained piece and the final status word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The response data (without status words).
    pub data: Vec<u8>,
    /// The final status word `SW1 SW2`.
    pub sw: u16,
}

/// Splits a raw response into data and status word.
pub fn split_status(raw: &[u8]) -> Result<(&[u8], u16), PivError> {
    match raw.split_last_chunk::<2>() {
        Some((data, [sw1, sw2])) => Ok((data, u16::from_be_bytes([*sw1, *sw2]))),
        None => Err(PivError::ShortResponse),
    }
}

/// Sends `apdu` and collects the whole response, following `61xx` with GET RESPONSE.
pub fn exchange(card: &mut dyn Card, apdu: &[u8]) -> Result<Response, PivError> {
    let mut raw = card.transmit(apdu)?;
    let mut data = Vec::new();
    for _ in 0..MAX_RESPONSE_ROUNDS {
        let (piece, sw) = split_status(&raw)?;
        data.extend_from_slice(piece);
        let [sw1, sw2] = sw.to_be_bytes();
        if sw1 != 0x61 {
            return Ok(Response { data, sw });
        }
        // SW2 is the number of bytes still available (0 = 256 or more): ask for that many.
        raw = card.transmit(&[CLA, INS_GET_RESPONSE, 0x00, 0x00, sw2])?;
    }
    Err(PivError::EndlessResponse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_forms() {
        assert_eq!(command(0xF7, 0x00, 0x9C, &[]).unwrap(), [0x00, 0xF7, 0x00, 0x9C]);
        assert_eq!(command(0x20, 0x00, 0x80, &[1, 2]).unwrap(), [0x00, 0x20, 0x00, 0x80, 0x02, 1, 2]);
        let apdu = command(0x87, 0xE0, 0x9C, &[7; 255]).unwrap();
        assert_eq!(apdu.len(), 5 + 255);
        assert_eq!(apdu[4], 0xFF);
        assert!(matches!(command(0x87, 0xE0, 0x9C, &[7; 256]), Err(PivError::TooLong(_))));
    }

    #[test]
    fn status_words() {
        assert_eq!(split_status(&[0x90, 0x00]).unwrap(), (&[][..], SW_OK));
        assert_eq!(split_status(&[1, 2, 0x63, 0xC2]).unwrap(), (&[1, 2][..], 0x63C2));
        assert!(matches!(split_status(&[0x90]), Err(PivError::ShortResponse)));
        assert!(matches!(split_status(&[]), Err(PivError::ShortResponse)));
    }
}
