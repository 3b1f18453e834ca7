// SPDX-License-Identifier: AGPL-3.0-or-later
//! The PIV exchange against a scripted fake YubiKey: every APDU is checked byte for byte
//! (written out as hex here, independently of the builders) and answered as a YubiKey 5.7
//! would.

use super::*;
use kernel_verify::sign::SigningKey;
use std::collections::VecDeque;

/// Hex (spaces allowed) to bytes.
pub(crate) fn h(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd hex: {s}");
    digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
}

pub(crate) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A card that expects exactly the scripted APDUs, in order, and gives the scripted answers.
pub(crate) struct FakeCard {
    script: VecDeque<(Vec<u8>, Vec<u8>)>,
}

impl FakeCard {
    pub(crate) fn new() -> FakeCard {
        FakeCard { script: VecDeque::new() }
    }

    pub(crate) fn expect(mut self, apdu: Vec<u8>, answer: Vec<u8>) -> FakeCard {
        self.script.push_back((apdu, answer));
        self
    }

    pub(crate) fn done(&self) {
        assert!(self.script.is_empty(), "APDUs never sent: {:02x?}", self.script);
    }
}

impl Card for FakeCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, PivError> {
        let (expected, answer) = self.script.pop_front().unwrap_or_else(|| panic!("unexpected APDU {apdu:02x?}"));
        assert_eq!(apdu, expected.as_slice(), "APDU {apdu:02X?} != expected {expected:02X?}");
        Ok(answer)
    }
}

pub(crate) const SELECT: &str = "00 A4 04 00 05 A0 00 00 03 08";
/// What a YubiKey answers to SELECT: the application property template, then 9000.
const SELECT_OK: &str = "61 11 4F 06 00 00 10 00 01 00 79 07 4F 05 A0 00 00 03 08 90 00";
const METADATA_9C: &str = "00 F7 00 9C";
pub(crate) const PIN: &[u8] = b"123456";
pub(crate) const VERIFY_123456: &str = "00 20 00 80 08 31 32 33 34 35 36 FF FF";

fn key() -> SigningKey {
    SigningKey::from_seed(&[0x42; 32])
}

fn message() -> [u8; 32] {
    *blake3::hash(b"\x7fELF a body to sign").as_bytes()
}

/// GET METADATA answer for an Ed25519 key: algorithm, policy (PIN once, touch always),
/// origin generated, public key `04 { 86 20 <key> }`.
pub(crate) fn metadata_answer(algorithm: u8, point: &[u8]) -> Vec<u8> {
    let mut public = vec![0x86, point.len() as u8];
    public.extend_from_slice(point);
    cat(&[
        &[0x01, 0x01, algorithm, 0x02, 0x02, 0x02, 0x02, 0x03, 0x01, 0x01, 0x04, public.len() as u8],
        &public,
        &h("90 00"),
    ])
}

pub(crate) fn sign_command(slot: u8, msg: &[u8; 32]) -> Vec<u8> {
    cat(&[&h("00 87 E0"), &[slot], &h("26 7C 24 82 00 81 20"), msg])
}

pub(crate) fn signature_answer(sig: &[u8; 64]) -> Vec<u8> {
    cat(&[&h("7C 42 82 40"), sig, &h("90 00")])
}

/// A YubiKey holding `key` in slot `slot` (key reference) that signs `msg` once, PIN 123456.
pub(crate) fn yubikey_signing(key: &SigningKey, slot: u8, msg: &[u8; 32]) -> FakeCard {
    FakeCard::new()
        .expect(h(SELECT), h(SELECT_OK))
        .expect(cat(&[&h("00 F7 00"), &[slot]]), metadata_answer(0xE0, &key.public_key()))
        .expect(h(VERIFY_123456), h("90 00"))
        .expect(sign_command(slot, msg), signature_answer(&key.sign_message(msg)))
}

pub(crate) fn pin_ok(_: &SlotKey) -> Result<Pin, PivError> {
    Pin::new(PIN)
}

#[test]
fn signs_like_a_yubikey() {
    let key = key();
    let msg = message();
    let sig = key.sign_message(&msg);
    let mut card = FakeCard::new()
        .expect(h(SELECT), h(SELECT_OK))
        .expect(h(METADATA_9C), metadata_answer(0xE0, &key.public_key()))
        .expect(h(VERIFY_123456), h("90 00"))
        .expect(sign_command(0x9C, &msg), signature_answer(&sig));
    let mut asked = 0;
    let mut pin = |k: &SlotKey| {
        asked += 1;
        assert_eq!(k.public_key, key.public_key());
        pin_ok(k)
    };
    let (slot_key, signature) = sign(&mut card, Slot::Signature, &msg, &mut pin).unwrap();
    card.done();
    assert_eq!(asked, 1);
    assert_eq!(signature, sig);
    assert_eq!(
        slot_key,
        SlotKey {
            slot: Slot::Signature,
            public_key: key.public_key(),
            pin_policy: Some(2),
            touch_policy: Some(2),
            origin: Some(1),
        }
    );
    assert!(slot_key.may_need_touch());
    // The trailer made from it is what the kernel verifier accepts.
    assert_eq!(signature, kernel_verify::sign::sign_body(b"\x7fELF a body to sign", &key));
}

#[test]
fn other_slots_use_their_key_reference() {
    let key = key();
    let msg = message();
    let mut card = FakeCard::new()
        .expect(h(SELECT), h("90 00"))
        .expect(h("00 F7 00 9A"), metadata_answer(0xE0, &key.public_key()))
        .expect(h(VERIFY_123456), h("90 00"))
        .expect(sign_command(0x9A, &msg), signature_answer(&key.sign_message(&msg)));
    sign(&mut card, Slot::Authentication, &msg, &mut pin_ok).unwrap();
    card.done();
}

#[test]
fn public_key_needs_no_pin() {
    let key = key();
    let mut card = FakeCard::new()
        .expect(h(SELECT), h(SELECT_OK))
        .expect(h("00 F7 00 9E"), metadata_answer(0xE0, &key.public_key()));
    let k = read_public_key(&mut card, Slot::CardAuthentication).unwrap();
    card.done();
    assert_eq!(k.public_key, key.public_key());
}

#[test]
fn wrong_pin_reports_tries_left_and_stops() {
    let key = key();
    let mut card = FakeCard::new()
        .expect(h(SELECT), h("90 00"))
        .expect(h(METADATA_9C), metadata_answer(0xE0, &key.public_key()))
        .expect(h(VERIFY_123456), h("63 C2"));
    let err = sign(&mut card, Slot::Signature, &message(), &mut pin_ok).unwrap_err();
    card.done();
    assert_eq!(err, PivError::WrongPin { retries: 2 });
    assert!(err.to_string().contains("2 tries left"));
    let last = check(&Response { data: vec![], sw: 0x63C0 }, Command::Verify).unwrap_err();
    assert!(last.to_string().contains("now blocked"), "{last}");
}

#[test]
fn blocked_pin() {
    let key = key();
    let mut card = FakeCard::new()
        .expect(h(SELECT), h("90 00"))
        .expect(h(METADATA_9C), metadata_answer(0xE0, &key.public_key()))
        .expect(h(VERIFY_123456), h("69 83"));
    let err = sign(&mut card, Slot::Signature, &message(), &mut pin_ok).unwrap_err();
    card.done();
    assert_eq!(err, PivError::PinBlocked);
    assert!(err.to_string().contains("PUK"));
}

#[test]
fn wrong_algorithm_costs_no_pin_try() {
    // A P-256 key in 9C: uncompressed point 04 || X || Y.
    let point = cat(&[&[0x04], &[0x11; 64]]);
    let mut card = FakeCard::new().expect(h(SELECT), h("90 00")).expect(h(METADATA_9C), metadata_answer(0x11, &point));
    let mut pin = |_: &SlotKey| -> Result<Pin, PivError> { panic!("PIN asked for a non-Ed25519 slot") };
    let err = sign(&mut card, Slot::Signature, &message(), &mut pin).unwrap_err();
    card.done();
    assert_eq!(err, PivError::WrongAlgorithm { slot: Slot::Signature, found: 0x11 });
    let text = err.to_string();
    assert!(text.contains("ECC P-256") && text.contains("5.7"), "{text}");
}

#[test]
fn response_chaining_with_get_response() {
    let key = key();
    let msg = message();
    let sig = key.sign_message(&msg);
    let full = signature_answer(&sig);
    // The card hands out the 68-byte answer as 30 + 38 bytes: 61 26, then GET RESPONSE.
    let (first, rest) = full.split_at(30);
    let meta = metadata_answer(0xE0, &key.public_key());
    let (meta_body, _) = meta.split_at(meta.len() - 2);
    let (m1, m2) = meta_body.split_at(10);
    let mut card = FakeCard::new()
        .expect(h(SELECT), h(SELECT_OK))
        .expect(h(METADATA_9C), cat(&[m1, &[0x61, 0x00]]))
        .expect(h("00 C0 00 00 00"), cat(&[m2, &h("90 00")]))
        .expect(h(VERIFY_123456), h("90 00"))
        .expect(sign_command(0x9C, &msg), cat(&[first, &h("61 26")]))
        .expect(h("00 C0 00 00 26"), rest.to_vec());
    let (_, signature) = sign(&mut card, Slot::Signature, &msg, &mut pin_ok).unwrap();
    card.done();
    assert_eq!(signature, sig);
}

#[test]
fn endless_chaining_is_cut_off() {
    let mut card = FakeCard::new().expect(h(SELECT), h("61 05"));
    for _ in 0..apdu::MAX_RESPONSE_ROUNDS {
        card = card.expect(h("00 C0 00 00 05"), h("AA 61 05"));
    }
    assert_eq!(select(&mut card), Err(PivError::EndlessResponse));
    card.done();
}

#[test]
fn malformed_answers_are_typed_errors() {
    let key = key();
    let msg = message();
    let sig = key.sign_message(&msg);
    let bad_signatures: [(Vec<u8>, &str); 6] = [
        (h("7C 50 82 40 00 90 00"), "value longer than the data"),
        (cat(&[&h("7C 41 82 3F"), &sig[..63], &h("90 00")]), "63-byte signature"),
        (cat(&[&h("7D 42 82 40"), &sig, &h("90 00")]), "wrong outer tag"),
        (cat(&[&h("7C 42 83 40"), &sig, &h("90 00")]), "no 82 inside"),
        (cat(&[&h("7C 42 82 40"), &sig, &h("00 90 00")]), "trailing byte"),
        (h("90"), "no status word"),
    ];
    for (answer, what) in bad_signatures {
        let mut card = FakeCard::new()
            .expect(h(SELECT), h("90 00"))
            .expect(h(METADATA_9C), metadata_answer(0xE0, &key.public_key()))
            .expect(h(VERIFY_123456), h("90 00"))
            .expect(sign_command(0x9C, &msg), answer);
        let err = sign(&mut card, Slot::Signature, &msg, &mut pin_ok).unwrap_err();
        card.done();
        assert!(matches!(err, PivError::Malformed(_) | PivError::ShortResponse), "{what}: {err:?}");
    }
}

#[test]
fn long_form_lengths_in_the_signature_response() {
    // A card may encode lengths in the long form (81 xx, 82 xx xx); those must parse too.
    let sig = [0x33; 64];
    let data = cat(&[&h("7C 81 43 82 81 40"), &sig]);
    assert_eq!(parse_signature(&data).unwrap(), sig);
    let data = cat(&[&h("7C 82 00 44 82 82 00 40"), &sig]);
    assert_eq!(parse_signature(&data).unwrap(), sig);
}

#[test]
fn malformed_metadata() {
    let pk = key().public_key();
    let ok = metadata_answer(0xE0, &pk);
    let body = &ok[..ok.len() - 2];
    assert!(parse_metadata(Slot::Signature, body).is_ok());
    // Only the algorithm and the key are required.
    let minimal = cat(&[&h("01 01 E0 04 22 86 20"), &pk]);
    let k = parse_metadata(Slot::Signature, &minimal).unwrap();
    assert_eq!((k.pin_policy, k.touch_policy, k.origin), (None, None, None));
    assert!(k.may_need_touch());
    for (bad, what) in [
        (cat(&[&h("04 22 86 20"), &pk]), "no algorithm"),
        (cat(&[&h("01 02 E0 00 04 22 86 20"), &pk]), "two-byte algorithm"),
        (h("01 01 E0"), "no public key"),
        (cat(&[&h("01 01 E0 04 22 87 20"), &pk]), "no 86 in the key"),
        (cat(&[&h("01 01 E0 04 21 86 1F"), &pk[..31]]), "31-byte key"),
        (cat(&[&h("01 01 E0 02 01 02 04 22 86 20"), &pk]), "one-byte policy"),
        (cat(&[&h("01 01 E0 04 23 86 20"), &pk]), "outer length too long"),
    ] {
        assert!(matches!(parse_metadata(Slot::Signature, &bad), Err(PivError::Malformed(_))), "{what}");
    }
    // A small-order point is no usable key.
    let mut weak = [0u8; 32];
    weak[0] = 1;
    let err = parse_metadata(Slot::Signature, &cat(&[&h("01 01 E0 04 22 86 20"), &weak])).unwrap_err();
    assert!(matches!(err, PivError::BadPublicKey(_)), "{err:?}");
}

#[test]
fn a_bad_signature_from_the_card_is_caught() {
    let key = key();
    let msg = message();
    let wrong = SigningKey::from_seed(&[7; 32]).sign_message(&msg);
    let mut card = FakeCard::new()
        .expect(h(SELECT), h("90 00"))
        .expect(h(METADATA_9C), metadata_answer(0xE0, &key.public_key()))
        .expect(h(VERIFY_123456), h("90 00"))
        .expect(sign_command(0x9C, &msg), signature_answer(&wrong));
    let err = sign(&mut card, Slot::Signature, &msg, &mut pin_ok).unwrap_err();
    card.done();
    assert!(matches!(err, PivError::BadSignature(_)), "{err:?}");
}

#[test]
fn status_words_per_command() {
    let cases: [(&str, &str, PivError); 4] = [
        (SELECT, "6A 82", PivError::PivNotFound),
        (METADATA_9C, "6A 88", PivError::SlotEmpty(Slot::Signature)),
        (METADATA_9C, "6D 00", PivError::MetadataUnsupported),
        (METADATA_9C, "6F 00", PivError::Status { command: "GET METADATA", sw: 0x6F00 }),
    ];
    for (command, answer, expected) in cases {
        let mut card = FakeCard::new();
        if command != SELECT {
            card = card.expect(h(SELECT), h("90 00"));
        }
        card = card.expect(h(command), h(answer));
        assert_eq!(read_public_key(&mut card, Slot::Signature).unwrap_err(), expected);
        card.done();
    }
    // Touch not given in time / PIN not verified.
    let msg = message();
    let mut card = FakeCard::new().expect(sign_command(0x9D, &msg), h("69 82"));
    assert_eq!(sign_raw(&mut card, Slot::KeyManagement, &msg), Err(PivError::NotAuthorized));
    let text = PivError::Status { command: "X", sw: 0x6A80 }.to_string();
    assert!(text.contains("6A80") && text.contains("incorrect data"), "{text}");
}

#[test]
fn pins_are_checked_and_padded() {
    assert_eq!(Pin::new(b"123456").unwrap().padded(), &h("31 32 33 34 35 36 FF FF")[..]);
    assert_eq!(Pin::new(b"12345678").unwrap().padded(), b"12345678");
    assert!(matches!(Pin::new(b"12345"), Err(PivError::BadPin(_))));
    assert!(matches!(Pin::new(b"123456789"), Err(PivError::BadPin(_))));
    assert!(matches!(Pin::new(b"12345\xff"), Err(PivError::BadPin(_))));
    assert_eq!(format!("{:?}", Pin::new(b"123456").unwrap()), "Pin(..)");
}

#[test]
fn slots_parse() {
    assert_eq!(Slot::parse("9c"), Some(Slot::Signature));
    assert_eq!(Slot::parse("9A"), Some(Slot::Authentication));
    assert_eq!(Slot::parse("0x9d"), Some(Slot::KeyManagement));
    assert_eq!(Slot::parse("9e"), Some(Slot::CardAuthentication));
    for bad in ["9b", "82", "", "9", "09c", "0x", "zz", "+9c"] {
        assert_eq!(Slot::parse(bad), None, "{bad}");
    }
    assert_eq!(Slot::default(), Slot::Signature);
    assert_eq!(Slot::Signature.to_string(), "9C");
}

#[test]
fn readers_are_chosen() {
    let names: Vec<String> =
        ["Alcor Micro AU9540 00 00", "Yubico YubiKey OTP+FIDO+CCID 01 00", "Yubico YubiKey CCID 02 00"]
            .map(String::from)
            .to_vec();
    assert_eq!(choose_reader(&names, None), Ok(1));
    assert_eq!(choose_reader(&names, Some("ccid 02")), Ok(2));
    assert_eq!(choose_reader(&names, Some("alcor")), Ok(0));
    assert!(matches!(choose_reader(&names, Some("nitrokey")), Err(PivError::ReaderNotFound { .. })));
    assert_eq!(choose_reader(&names[..1], None), Ok(0), "the only reader");
    let two: Vec<String> = ["Reader A", "Reader B"].map(String::from).to_vec();
    assert!(matches!(choose_reader(&two, None), Err(PivError::NoYubiKeyReader { .. })));
    assert_eq!(choose_reader(&[], None), Err(PivError::NoReader));
    assert_eq!(choose_reader(&[], Some("x")), Err(PivError::NoReader));
}

#[test]
fn apdu_builders_match_the_documented_bytes() {
    assert_eq!(select_apdu().unwrap(), h(SELECT));
    assert_eq!(metadata_apdu(Slot::Signature).unwrap(), h(METADATA_9C));
    assert_eq!(verify_apdu(&Pin::new(PIN).unwrap()).unwrap(), h(VERIFY_123456));
    let msg = message();
    assert_eq!(sign_apdu(Slot::Signature, &msg).unwrap(), sign_command(0x9C, &msg));
}

#[test]
#[cfg(not(feature = "yubikey"))]
fn without_the_feature_there_is_no_transport() {
    const { assert!(!AVAILABLE) };
    assert_eq!(with_card(None, &mut |_, _| Ok(())), Err(PivError::NotBuilt));
    assert!(PivError::NotBuilt.to_string().contains("--features yubikey"));
}
