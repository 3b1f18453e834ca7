// SPDX-License-Identifier: AGPL-3.0-or-later
//! Signed-binary and boot-manifest verification for CambiOS (docs/adr/0006).
//!
//! The kernel calls [`verifier::verify_binary`] on every boot module and
//! [`manifest::verify_manifest`] on the boot manifest before spending any memory on them. A
//! signed file is its body followed by a 72-byte [`trailer`] holding an Ed25519 signature of
//! the body's BLAKE3 hash; signatures are checked with the strict rules of [`ed25519`] against
//! [`keys::TrustedKeys`]. [`elf`] is the bounds-checked parser the verifier and loader share.
//!
//! The crate is portable (no `cfg(target_arch)`), `no_std`, allocation-free and free of
//! `unsafe`, and it builds for all three soft-float kernel targets: `blake3` is restricted to
//! its portable code and `ed25519-compact` has no SIMD. Feature `std` adds the manifest
//! encoder and a test ELF writer ([`elfbuild`]); feature `sign` adds host-side signing with
//! `ed25519-dalek` ([`sign`]). The file formats are documented in docs/abi/signed-elf.md and
//! docs/abi/boot-manifest.md.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
#![forbid(unsafe_code)]

mod curve;
pub mod ed25519;
pub mod elf;
#[cfg(feature = "std")]
pub mod elfbuild;
pub mod keys;
pub mod manifest;
#[cfg(feature = "sign")]
pub mod sign;
pub mod trailer;
pub mod verifier;

pub use elf::{ElfError, ElfImage, Segment, SegmentFlags};
pub use keys::{DEV_PUBLIC_KEY, DEV_SEED_HEX, TrustedKeys};
pub use manifest::{Manifest, ManifestEntry, ManifestError, Priority, StartPolicy, service_principal, verify_manifest};
pub use trailer::{Trailer, TrailerError};
pub use verifier::{VerifiedBinary, VerifyError, VerifyPolicy, verify_binary, verify_structure};

#[cfg(test)]
mod tests;
