// SPDX-License-Identifier: AGPL-3.0-or-later
//! Signing with a YubiKey PIV slot (cargo feature `yubikey`): not available in this build.
//!
//! The card path would send the 32-byte BLAKE3 hash of the file to PIV slot 9C for an Ed25519
//! signature and append the usual trailer. Two things are missing, so `sign --piv` is a clear
//! error in every build (docs/abi/signed-elf.md, "Hardware keys"):
//!
//! * the `yubikey` crate's released line (0.8) signs with RSA and NIST P-256/P-384 only; PIV
//!   Ed25519 needs YubiKey firmware 5.7 and a crate release that supports it;
//! * the crate links the PC/SC library (`libpcsclite-dev` on Debian) and needs `pcscd` at run
//!   time; neither is installed on the project's build machines.
//!
//! This is untested without hardware by construction.

use std::path::Path;

/// Always fails, naming what is missing.
pub fn sign_with_piv(input: &Path) -> Result<(), String> {
    let why = if cfg!(feature = "yubikey") {
        "the YubiKey PIV backend is not implemented yet (it needs PIV Ed25519 support in the \
         yubikey crate and the PC/SC library); see docs/abi/signed-elf.md"
    } else {
        "rebuild with `--features yubikey` once the PIV backend exists; see docs/abi/signed-elf.md"
    };
    Err(format!("cannot sign '{}' with --piv: sign-elf was built without hardware support: {why}", input.display()))
}
