// SPDX-License-Identifier: MPL-2.0
//! The build script of every program in `user/programs/` (each names it in its Cargo.toml:
//! `build = "../../libsys/link/program-build.rs"`).
//!
//! For the bare-metal user targets it links the program with `libsys/link/user.ld`, or with
//! `link.ld` in the program's own directory when there is one (the `wx` test program uses that
//! to build a deliberately invalid image). Pages are 4 KiB on every architecture (lld's AArch64
//! default maximum page size is 64 KiB, which would pad every segment). Hosted builds get no
//! extra link arguments.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let own = manifest.join("link.ld");
    let script = if own.is_file() { own } else { manifest.join("../../libsys/link/user.ld") };
    let script = script.canonicalize().unwrap_or(script);
    println!("cargo::rerun-if-changed={}", script.display());
    if std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "none") {
        println!("cargo::rustc-link-arg-bins=-T{}", script.display());
        println!("cargo::rustc-link-arg-bins=-zmax-page-size=4096");
        println!("cargo::rustc-link-arg-bins=-zcommon-page-size=4096");
    }
}
