// SPDX-License-Identifier: AGPL-3.0-or-later
//! The PC/SC transport (cargo feature `yubikey`): the only code that needs the PC/SC library
//! (`libpcsclite` and a running `pcscd` on Linux). Untested without hardware.

use super::{Card, PivError, choose_reader};
use pcsc::{Context, Disposition, Protocols, Scope, ShareMode};

/// A connected card inside a PC/SC transaction.
struct PcscCard<'a> {
    card: &'a pcsc::Card,
    buffer: Vec<u8>,
}

impl Card for PcscCard<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, PivError> {
        self.card.transmit(apdu, &mut self.buffer).map(<[u8]>::to_vec).map_err(transport)
    }
}

/// A PC/SC error, with a hint for the common ones.
fn transport(e: pcsc::Error) -> PivError {
    let hint = match e {
        pcsc::Error::NoService | pcsc::Error::ServiceStopped => " (is pcscd running?)",
        pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard => " (is the YubiKey plugged in?)",
        pcsc::Error::SharingViolation => " (another program is using the card)",
        _ => "",
    };
    PivError::Transport(format!("{e}{hint}"))
}

/// Connects to the chosen reader and runs `f` inside one transaction, then resets the card.
pub fn with_card<T>(
    wanted: Option<&str>,
    f: &mut dyn FnMut(&str, &mut dyn Card) -> Result<T, PivError>,
) -> Result<T, PivError> {
    let context = Context::establish(Scope::User).map_err(transport)?;
    let readers = match context.list_readers_owned() {
        Ok(readers) => readers,
        Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
        Err(e) => return Err(transport(e)),
    };
    let names: Vec<String> = readers.iter().map(|r| r.to_string_lossy().into_owned()).collect();
    let index = choose_reader(&names, wanted)?;
    let (Some(reader), Some(name)) = (readers.get(index), names.get(index)) else {
        return Err(PivError::NoReader);
    };
    let mut card = context.connect(reader, ShareMode::Shared, Protocols::ANY).map_err(transport)?;
    let transaction = card.transaction().map_err(transport)?;
    let result = {
        let mut piv = PcscCard { card: &transaction, buffer: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED] };
        f(name, &mut piv)
    };
    // Resetting forgets the verified PIN; a failure here changes nothing about the result.
    let _ = transaction.end(Disposition::ResetCard);
    result
}
