// SPDX-License-Identifier: AGPL-3.0-or-later
//! Signing with an Ed25519 key in a YubiKey PIV slot (`sign --piv`, `pubkey --piv`).
//!
//! **Untested without hardware.** The protocol code below runs against a scripted fake card in
//! the host tests; no real YubiKey has been used with it.
//!
//! The card talks ISO/IEC 7816-4 APDUs; everything here is written from NIST SP 800-73-4 and
//! Yubico's published PIV extensions (docs/abi/signed-elf.md, "Hardware keys"):
//!
//! | step | APDU | answer |
//! |---|---|---|
//! | SELECT the PIV application | `00 A4 04 00 05 A0 00 00 03 08` | `9000` |
//! | GET METADATA of the slot (firmware 5.3+) | `00 F7 00 <slot>` | TLVs: `01` algorithm (`E0` = Ed25519, firmware 5.7+), `02` PIN/touch policy, `04` { `86` 32-byte public key } |
//! | VERIFY the PIN | `00 20 00 80 08 <PIN padded with FF>` | `9000`, `63Cx` (wrong, x tries left), `6983` (blocked) |
//! | GENERAL AUTHENTICATE | `00 87 E0 <slot> 26 7C 24 82 00 81 20 <32-byte message>` | `7C 42 82 40 <64-byte signature>` |
//!
//! The message is the 32-byte BLAKE3 hash of the file body, exactly what the trailer signs
//! (`kernel_verify::sign::sign_body`). A `61xx` status means more response bytes wait on the
//! card; [`apdu::exchange`] collects them with GET RESPONSE. The metadata is read before the
//! PIN is asked for, so a wrong slot or algorithm never costs a PIN try, and the signature is
//! checked with the kernel's strict verifier before anything is written.
//!
//! All of this is feature-independent and works through the [`Card`] trait. Only the PC/SC
//! transport (`pcsc_card`, cargo feature `yubikey`) needs the PC/SC library.

pub mod apdu;
#[cfg(feature = "yubikey")]
mod pcsc_card;
mod terminal;
#[cfg(test)]
pub(crate) mod tests;
pub mod tlv;

use apdu::{Response, SW_OK, exchange};
use core::fmt;
use kernel_verify::ed25519::{self, SignatureError};

/// Whether this build can talk to a card (cargo feature `yubikey`).
pub const AVAILABLE: bool = cfg!(feature = "yubikey");

/// The PIV application identifier (NIST SP 800-73-4 Part 1 §2.2, right-truncated).
pub const PIV_AID: [u8; 5] = [0xA0, 0x00, 0x00, 0x03, 0x08];
/// SELECT.
pub const INS_SELECT: u8 = 0xA4;
/// VERIFY.
pub const INS_VERIFY: u8 = 0x20;
/// GET METADATA (Yubico extension, firmware 5.3+).
pub const INS_GET_METADATA: u8 = 0xF7;
/// GENERAL AUTHENTICATE.
pub const INS_GENERAL_AUTHENTICATE: u8 = 0x87;
/// Key reference of the PIV application PIN.
pub const PIN_REFERENCE: u8 = 0x80;
/// PIV algorithm identifier of Ed25519 (Yubico extension, firmware 5.7+).
pub const ALG_ED25519: u8 = 0xE0;
/// The environment variable the PIN is read from unless `--pin-env` names another.
pub const DEFAULT_PIN_ENV: &str = "CAMBIOS_PIV_PIN";

/// Dynamic authentication template and its members (SP 800-73-4 Part 2 §3.2.4).
const TAG_DYN_AUTH: u8 = 0x7C;
const TAG_CHALLENGE: u8 = 0x81;
const TAG_RESPONSE: u8 = 0x82;
/// GET METADATA response tags.
const TAG_META_ALGORITHM: u32 = 0x01;
const TAG_META_POLICY: u32 = 0x02;
const TAG_META_ORIGIN: u32 = 0x03;
const TAG_META_PUBLIC_KEY: u32 = 0x04;
/// An EC (and Ed25519) point inside the public key object.
const TAG_EC_POINT: u32 = 0x86;

/// A transport to a smart card: sends one command APDU and returns the raw response
/// (data followed by `SW1 SW2`).
pub trait Card {
    /// Sends `apdu` and returns the card's answer.
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, PivError>;
}

/// A PIV key slot that can hold a signing key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Slot {
    /// `9A`, PIV Authentication.
    Authentication,
    /// `9C`, Digital Signature (the default).
    #[default]
    Signature,
    /// `9D`, Key Management.
    KeyManagement,
    /// `9E`, Card Authentication.
    CardAuthentication,
}

impl Slot {
    /// The four slots, in key reference order.
    pub const ALL: [Slot; 4] = [Slot::Authentication, Slot::Signature, Slot::KeyManagement, Slot::CardAuthentication];

    /// The key reference (P2 of GET METADATA and GENERAL AUTHENTICATE).
    pub const fn id(self) -> u8 {
        match self {
            Slot::Authentication => 0x9A,
            Slot::Signature => 0x9C,
            Slot::KeyManagement => 0x9D,
            Slot::CardAuthentication => 0x9E,
        }
    }

    /// Parses `9a`, `9c`, `9d` or `9e` (any case, optionally with `0x`).
    pub fn parse(s: &str) -> Option<Slot> {
        let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
        let id = u8::from_str_radix(hex, 16).ok()?;
        Slot::ALL.into_iter().find(|slot| slot.id() == id && hex.len() == 2)
    }

    /// The slot's name in Yubico's documentation.
    pub const fn name(self) -> &'static str {
        match self {
            Slot::Authentication => "PIV Authentication",
            Slot::Signature => "Digital Signature",
            Slot::KeyManagement => "Key Management",
            Slot::CardAuthentication => "Card Authentication",
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X}", self.id())
    }
}

/// A PIV algorithm identifier's name (SP 800-78-4 and Yubico's extensions).
pub fn algorithm_name(id: u8) -> &'static str {
    match id {
        0x03 => "3DES",
        0x05 => "RSA-3072",
        0x06 => "RSA-1024",
        0x07 => "RSA-2048",
        0x08 => "AES-128",
        0x0A => "AES-192",
        0x0C => "AES-256",
        0x11 => "ECC P-256",
        0x14 => "ECC P-384",
        0x16 => "RSA-4096",
        0xE0 => "Ed25519",
        0xE1 => "X25519",
        _ => "unknown algorithm",
    }
}

/// Why talking to the card failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PivError {
    /// sign-elf was built without the `yubikey` feature.
    NotBuilt,
    /// The PC/SC layer failed (message from the library, with a hint).
    #[cfg_attr(not(feature = "yubikey"), allow(dead_code))]
    Transport(String),
    /// PC/SC lists no reader.
    NoReader,
    /// `--reader` matched none of these readers.
    ReaderNotFound {
        /// The `--reader` substring.
        wanted: String,
        /// The readers PC/SC lists.
        available: Vec<String>,
    },
    /// Several readers, none of them a YubiKey.
    NoYubiKeyReader {
        /// The readers PC/SC lists.
        available: Vec<String>,
    },
    /// A response shorter than its two status bytes.
    ShortResponse,
    /// The card kept answering `61xx`.
    EndlessResponse,
    /// A command or TLV too long for the encoding in use.
    TooLong(&'static str),
    /// A response that does not parse.
    Malformed(&'static str),
    /// SELECT failed: the card has no PIV application.
    PivNotFound,
    /// GET METADATA is unknown to the card (YubiKey firmware before 5.3).
    MetadataUnsupported,
    /// The slot holds no key.
    SlotEmpty(Slot),
    /// The slot's key is not Ed25519.
    WrongAlgorithm {
        /// The slot.
        slot: Slot,
        /// Its algorithm identifier.
        found: u8,
    },
    /// The slot's public key is not a usable Ed25519 key.
    BadPublicKey(SignatureError),
    /// The PIN is unusable before it reaches the card (length).
    BadPin(&'static str),
    /// No PIN could be obtained.
    PinUnavailable(String),
    /// VERIFY rejected the PIN; `retries` tries are left.
    WrongPin {
        /// Tries left before the PIN is blocked.
        retries: u8,
    },
    /// The PIN is blocked (unblock it with the PUK).
    PinBlocked,
    /// Security status not satisfied (PIN not verified, or touch not given in time).
    NotAuthorized,
    /// Any other unsuccessful status word.
    Status {
        /// The command's name.
        command: &'static str,
        /// The status word.
        sw: u16,
    },
    /// The card's signature does not verify under the slot's public key.
    BadSignature(SignatureError),
}

impl fmt::Display for PivError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PivError::NotBuilt => f.write_str(
                "sign-elf was built without hardware support: rebuild it with `cargo build -p sign-elf \
                 --features yubikey` (needs the PC/SC library: libpcsclite-dev to build, pcscd to run)",
            ),
            PivError::Transport(msg) => write!(f, "PC/SC: {msg}"),
            PivError::NoReader => f.write_str("no smart card reader found (is the YubiKey plugged in?)"),
            PivError::ReaderNotFound { wanted, available } => {
                write!(f, "no reader name contains '{wanted}'; readers: {}", available.join(", "))
            }
            PivError::NoYubiKeyReader { available } => write!(
                f,
                "several readers and none is a Yubico one; choose with --reader <substring>: {}",
                available.join(", ")
            ),
            PivError::ShortResponse => f.write_str("the card sent a response without a status word"),
            PivError::EndlessResponse => f.write_str("the card kept announcing more response data (61xx)"),
            PivError::TooLong(what) => write!(f, "{what} is too long"),
            PivError::Malformed(what) => write!(f, "malformed answer from the card: {what}"),
            PivError::PivNotFound => f.write_str("the card has no PIV application (SELECT answered 6A82)"),
            PivError::MetadataUnsupported => {
                f.write_str("the card does not support GET METADATA (YubiKey firmware 5.3 or later is needed)")
            }
            PivError::SlotEmpty(slot) => write!(f, "PIV slot {slot} ({}) holds no key", slot.name()),
            PivError::WrongAlgorithm { slot, found } => write!(
                f,
                "PIV slot {slot} holds a {} key (algorithm {found:#04x}), not Ed25519 ({ALG_ED25519:#04x}; \
                 YubiKey firmware 5.7 or later)",
                algorithm_name(*found)
            ),
            PivError::BadPublicKey(e) => write!(f, "the slot's public key is unusable: {e}"),
            PivError::BadPin(why) => write!(f, "unusable PIN: {why}"),
            PivError::PinUnavailable(why) => write!(f, "no PIN: {why}"),
            PivError::WrongPin { retries: 0 } => f.write_str("wrong PIN; no tries left, the PIN is now blocked"),
            PivError::WrongPin { retries } => write!(f, "wrong PIN; {retries} tries left before it is blocked"),
            PivError::PinBlocked => f.write_str("the PIN is blocked (status 6983); unblock it with the PUK"),
            PivError::NotAuthorized => f.write_str(
                "security status not satisfied (status 6982): PIN not verified, or the key was not touched in time",
            ),
            PivError::Status { command, sw } => {
                write!(f, "{command} failed with status {sw:04X} ({})", status_meaning(*sw))
            }
            PivError::BadSignature(e) => {
                write!(f, "the card's signature does not verify under the slot's public key ({e}); nothing written")
            }
        }
    }
}

impl std::error::Error for PivError {}

/// What a status word means (ISO/IEC 7816-4 §5.6).
fn status_meaning(sw: u16) -> &'static str {
    match sw {
        0x6700 => "wrong length",
        0x6985 => "conditions of use not satisfied",
        0x6A80 => "incorrect data",
        0x6A81 => "function not supported",
        0x6A82 => "file or application not found",
        0x6A86 | 0x6B00 => "incorrect P1/P2",
        0x6A88 => "referenced data not found",
        0x6D00 => "instruction not supported",
        0x6E00 => "class not supported",
        0x6F00 => "no precise diagnosis",
        _ => "unexpected status",
    }
}

/// The commands this module sends (status words mean different things per command).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    Select,
    Metadata(Slot),
    Verify,
    Sign(Slot),
}

impl Command {
    const fn name(self) -> &'static str {
        match self {
            Command::Select => "SELECT PIV",
            Command::Metadata(_) => "GET METADATA",
            Command::Verify => "VERIFY PIN",
            Command::Sign(_) => "GENERAL AUTHENTICATE",
        }
    }
}

/// Turns an unsuccessful status word into its error.
fn check(response: &Response, command: Command) -> Result<(), PivError> {
    match (response.sw, command) {
        (SW_OK, _) => Ok(()),
        (sw @ 0x63C0..=0x63CF, _) => Err(PivError::WrongPin { retries: (sw & 0x0F) as u8 }),
        (0x6983, _) => Err(PivError::PinBlocked),
        (0x6982, _) => Err(PivError::NotAuthorized),
        (0x6A82, Command::Select) => Err(PivError::PivNotFound),
        (0x6A88, Command::Metadata(slot) | Command::Sign(slot)) => Err(PivError::SlotEmpty(slot)),
        (0x6D00, Command::Metadata(_)) => Err(PivError::MetadataUnsupported),
        (sw, command) => Err(PivError::Status { command: command.name(), sw }),
    }
}

/// Sends one command and checks its status.
fn run(card: &mut dyn Card, command: Command, apdu: &[u8]) -> Result<Vec<u8>, PivError> {
    let response = exchange(card, apdu)?;
    check(&response, command)?;
    Ok(response.data)
}

/// A PIV PIN, padded to 8 bytes with `0xFF` (SP 800-73-4 Part 2 §2.4.3). Wiped on drop.
pub struct Pin([u8; 8]);

impl Pin {
    /// A PIN of 6 to 8 bytes (YubiKey rule; checked here so a bad one costs no try).
    pub fn new(pin: &[u8]) -> Result<Pin, PivError> {
        if pin.len() < 6 {
            return Err(PivError::BadPin("shorter than 6 characters"));
        }
        if pin.len() > 8 {
            return Err(PivError::BadPin("longer than 8 characters"));
        }
        if pin.contains(&0xFF) {
            return Err(PivError::BadPin("contains the padding byte 0xFF"));
        }
        let mut padded = [0xFF; 8];
        for (p, b) in padded.iter_mut().zip(pin) {
            *p = *b;
        }
        Ok(Pin(padded))
    }

    /// The 8 padded bytes VERIFY sends.
    pub fn padded(&self) -> &[u8; 8] {
        &self.0
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        self.0.fill(0);
        std::hint::black_box(&self.0);
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(..)")
    }
}

/// What GET METADATA says about a slot holding an Ed25519 key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotKey {
    /// The slot.
    pub slot: Slot,
    /// The Ed25519 public key (validated: canonical, on the curve, not of small order).
    pub public_key: [u8; 32],
    /// PIN policy byte (1 never, 2 once, 3 always), if reported.
    pub pin_policy: Option<u8>,
    /// Touch policy byte (1 never, 2 always, 3 cached), if reported.
    pub touch_policy: Option<u8>,
    /// Origin (1 generated on the card, 2 imported), if reported.
    pub origin: Option<u8>,
}

impl SlotKey {
    /// Whether signing may wait for a touch of the key (touch policy other than "never").
    pub fn may_need_touch(&self) -> bool {
        self.touch_policy != Some(1)
    }
}

/// The SELECT command for the PIV application.
pub fn select_apdu() -> Result<Vec<u8>, PivError> {
    apdu::command(INS_SELECT, 0x04, 0x00, &PIV_AID)
}

/// The GET METADATA command for `slot`.
pub fn metadata_apdu(slot: Slot) -> Result<Vec<u8>, PivError> {
    apdu::command(INS_GET_METADATA, 0x00, slot.id(), &[])
}

/// The VERIFY command for `pin`.
pub fn verify_apdu(pin: &Pin) -> Result<Vec<u8>, PivError> {
    apdu::command(INS_VERIFY, 0x00, PIN_REFERENCE, pin.padded())
}

/// The GENERAL AUTHENTICATE command asking `slot` for an Ed25519 signature of `message`:
/// `7C { 82 00, 81 <len> <message> }`.
pub fn sign_apdu(slot: Slot, message: &[u8]) -> Result<Vec<u8>, PivError> {
    let mut template = vec![TAG_RESPONSE, 0x00];
    tlv::encode(TAG_CHALLENGE, message, &mut template)?;
    apdu::command(INS_GENERAL_AUTHENTICATE, ALG_ED25519, slot.id(), &tlv::encoded(TAG_DYN_AUTH, &template)?)
}

/// Parses a GET METADATA response for `slot`, requiring an Ed25519 key.
pub fn parse_metadata(slot: Slot, data: &[u8]) -> Result<SlotKey, PivError> {
    let objects = tlv::parse_all(data)?;
    let get = |tag: u32| objects.iter().find(|t| t.tag == tag).map(|t| t.value);
    let algorithm = match get(TAG_META_ALGORITHM) {
        Some(&[a]) => a,
        _ => return Err(PivError::Malformed("metadata without a one-byte algorithm (tag 01)")),
    };
    if algorithm != ALG_ED25519 {
        return Err(PivError::WrongAlgorithm { slot, found: algorithm });
    }
    let (pin_policy, touch_policy) = match get(TAG_META_POLICY) {
        Some(&[pin, touch]) => (Some(pin), Some(touch)),
        None => (None, None),
        Some(_) => return Err(PivError::Malformed("metadata policy (tag 02) is not 2 bytes")),
    };
    let origin = match get(TAG_META_ORIGIN) {
        Some(&[o]) => Some(o),
        None => None,
        Some(_) => return Err(PivError::Malformed("metadata origin (tag 03) is not 1 byte")),
    };
    let public = get(TAG_META_PUBLIC_KEY).ok_or(PivError::Malformed("metadata without a public key (tag 04)"))?;
    let point = tlv::find(public, TAG_EC_POINT)?.ok_or(PivError::Malformed("public key without a point (tag 86)"))?;
    let public_key: [u8; 32] =
        point.try_into().map_err(|_| PivError::Malformed("Ed25519 public key (tag 86) is not 32 bytes"))?;
    ed25519::validate_public_key(&public_key).map_err(PivError::BadPublicKey)?;
    Ok(SlotKey { slot, public_key, pin_policy, touch_policy, origin })
}

/// Parses a GENERAL AUTHENTICATE response: `7C { 82 40 <signature> }`.
pub fn parse_signature(data: &[u8]) -> Result<[u8; 64], PivError> {
    let template = tlv::only(data, u32::from(TAG_DYN_AUTH), "signature response is not one 7C template")?;
    let sig = tlv::find(template, u32::from(TAG_RESPONSE))?
        .ok_or(PivError::Malformed("signature response without a response (tag 82)"))?;
    sig.try_into().map_err(|_| PivError::Malformed("Ed25519 signature (tag 82) is not 64 bytes"))
}

/// Selects the PIV application.
pub fn select(card: &mut dyn Card) -> Result<(), PivError> {
    run(card, Command::Select, &select_apdu()?).map(|_| ())
}

/// Reads `slot`'s metadata and requires an Ed25519 key (the PIV application must be selected).
pub fn slot_key(card: &mut dyn Card, slot: Slot) -> Result<SlotKey, PivError> {
    let data = run(card, Command::Metadata(slot), &metadata_apdu(slot)?)?;
    parse_metadata(slot, &data)
}

/// Verifies the PIN. The command buffer holding it is wiped afterwards.
pub fn verify_pin(card: &mut dyn Card, pin: &Pin) -> Result<(), PivError> {
    let mut apdu = verify_apdu(pin)?;
    let result = run(card, Command::Verify, &apdu);
    apdu.fill(0);
    std::hint::black_box(&apdu);
    result.map(|_| ())
}

/// Asks `slot` for a signature of `message` (PIN already verified); not yet checked.
pub fn sign_raw(card: &mut dyn Card, slot: Slot, message: &[u8]) -> Result<[u8; 64], PivError> {
    let data = run(card, Command::Sign(slot), &sign_apdu(slot, message)?)?;
    parse_signature(&data)
}

/// SELECT, then GET METADATA: the Ed25519 public key in `slot`. Needs no PIN.
pub fn read_public_key(card: &mut dyn Card, slot: Slot) -> Result<SlotKey, PivError> {
    select(card)?;
    slot_key(card, slot)
}

/// The whole signing exchange: SELECT, GET METADATA (Ed25519 required), `pin(&key)` for the
/// PIN, VERIFY, GENERAL AUTHENTICATE, then a strict local check of the signature.
pub fn sign(
    card: &mut dyn Card,
    slot: Slot,
    message: &[u8],
    pin: &mut dyn FnMut(&SlotKey) -> Result<Pin, PivError>,
) -> Result<(SlotKey, [u8; 64]), PivError> {
    let key = read_public_key(card, slot)?;
    verify_pin(card, &pin(&key)?)?;
    let signature = sign_raw(card, slot, message)?;
    ed25519::verify_strict(&key.public_key, message, &signature).map_err(PivError::BadSignature)?;
    Ok((key, signature))
}

/// Which of `names` to use: the first containing `wanted` (case-insensitive) if given, else
/// the first containing "Yubico", else the only one.
#[cfg_attr(not(feature = "yubikey"), allow(dead_code))]
pub fn choose_reader(names: &[String], wanted: Option<&str>) -> Result<usize, PivError> {
    if names.is_empty() {
        return Err(PivError::NoReader);
    }
    let containing = |needle: &str| {
        let needle = needle.to_lowercase();
        names.iter().position(|n| n.to_lowercase().contains(&needle))
    };
    match wanted {
        Some(w) => {
            containing(w).ok_or_else(|| PivError::ReaderNotFound { wanted: w.to_string(), available: names.to_vec() })
        }
        None => match containing("yubico") {
            Some(i) => Ok(i),
            None if names.len() == 1 => Ok(0),
            None => Err(PivError::NoYubiKeyReader { available: names.to_vec() }),
        },
    }
}

/// The PIN: from the environment variable `var` if set and non-empty, else asked for on the
/// terminal without echo.
pub fn read_pin(var: &str) -> Result<Pin, PivError> {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(value) => {
            let mut bytes = value.into_encoded_bytes();
            let pin = Pin::new(&bytes);
            bytes.fill(0);
            std::hint::black_box(&bytes);
            pin
        }
        None => {
            let line = terminal::prompt_hidden("YubiKey PIV PIN: ").map_err(|why| {
                PivError::PinUnavailable(format!("{var} is not set and the terminal cannot be used ({why})"))
            })?;
            let mut bytes = line.into_bytes();
            let pin = Pin::new(&bytes);
            bytes.fill(0);
            std::hint::black_box(&bytes);
            pin
        }
    }
}

/// Connects to the reader chosen by [`choose_reader`] and runs `f` with its name and the card,
/// inside one PC/SC transaction; the card is reset afterwards (which forgets the verified PIN).
#[cfg(feature = "yubikey")]
pub fn with_card<T>(
    wanted: Option<&str>,
    f: &mut dyn FnMut(&str, &mut dyn Card) -> Result<T, PivError>,
) -> Result<T, PivError> {
    pcsc_card::with_card(wanted, f)
}

/// Without the `yubikey` feature there is no transport: always [`PivError::NotBuilt`].
#[cfg(not(feature = "yubikey"))]
pub fn with_card<T>(
    _wanted: Option<&str>,
    _f: &mut dyn FnMut(&str, &mut dyn Card) -> Result<T, PivError>,
) -> Result<T, PivError> {
    Err(PivError::NotBuilt)
}
