// SPDX-License-Identifier: AGPL-3.0-or-later
//! End-to-end tests of the `sign-elf` binary: keygen, sign, verify, inspect, errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cambios_abi::Arch;
use cambios_abi::cap::{CapSet, Capability};
use kernel_verify::elfbuild::ElfBuilder;
use kernel_verify::keys::{DEV_PUBLIC_KEY, Hex};
use kernel_verify::manifest::{EntrySpec, Priority, StartPolicy, encode};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("sign-elf-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sign-elf")).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn write_elf(dir: &TempDir, name: &str) -> PathBuf {
    let path = dir.path(name);
    std::fs::write(&path, ElfBuilder::minimal(Arch::X86_64).build()).unwrap();
    path
}

#[test]
fn keygen_sign_verify_round_trip() {
    let dir = TempDir::new();
    let key = dir.path("mykey");
    let out = run(&["keygen", "--out", s(&key)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("did:key:z6Mk"), "{text}");
    let seed_file = std::fs::read_to_string(&key).unwrap();
    assert_eq!(seed_file.len(), 65);
    assert!(seed_file.ends_with('\n'));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let pub_path = dir.path("mykey.pub");
    let public = std::fs::read_to_string(&pub_path).unwrap();
    assert!(text.contains(public.trim()));

    // No silent overwrite; --force works.
    let again = run(&["keygen", "--out", s(&key)]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("--force"));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), seed_file);
    assert!(run(&["keygen", "--out", s(&key), "--force"]).status.success());
    let seed_file = std::fs::read_to_string(&key).unwrap();
    let public = std::fs::read_to_string(&pub_path).unwrap();

    // Sign in place with the key file, verify with the public key file and with its hex.
    let elf = write_elf(&dir, "prog.elf");
    let unsigned_len = std::fs::metadata(&elf).unwrap().len();
    let signed = run(&["sign", "--key", s(&key), s(&elf)]);
    assert!(signed.status.success(), "{}", stderr(&signed));
    let expect = format!("Signed '{}' ({} bytes), key {}", s(&elf), unsigned_len + 72, public.trim());
    assert_eq!(stdout(&signed).trim(), expect);
    let ok = run(&["verify", "--pubkey", s(&pub_path), s(&elf)]);
    assert!(ok.status.success(), "{}{}", stdout(&ok), stderr(&ok));
    assert!(stdout(&ok).starts_with("OK"));
    assert!(run(&["verify", "--pubkey", public.trim(), s(&elf)]).status.success());
    // The development key alone does not accept it.
    let wrong = run(&["verify", "--dev", s(&elf)]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stdout(&wrong).contains("REJECTED"));
    assert!(stdout(&wrong).contains("bad signature"));

    // --seed with the same seed gives the same file; -o leaves the input alone.
    let copy = dir.path("copy.elf");
    let by_seed = run(&["sign", "--seed", seed_file.trim(), s(&elf), "-o", s(&copy)]);
    assert!(by_seed.status.success(), "{}", stderr(&by_seed));
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&elf).unwrap());
}

#[test]
fn tampered_files_fail_verification() {
    let dir = TempDir::new();
    let elf = write_elf(&dir, "t.elf");
    assert!(run(&["sign", "--dev", s(&elf)]).status.success());
    assert!(run(&["verify", "--dev", s(&elf)]).status.success());
    let mut bytes = std::fs::read(&elf).unwrap();
    bytes[0x1000] ^= 0x80;
    std::fs::write(&elf, &bytes).unwrap();
    let out = run(&["verify", "--dev", s(&elf)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("REJECTED"), "{}", stdout(&out));

    // Unsigned, truncated trailer, wrong version: each with its own reason.
    let plain = write_elf(&dir, "plain.elf");
    let out = run(&["verify", "--dev", s(&plain)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("no signature trailer"));
    bytes[0x1000] ^= 0x80;
    let n = bytes.len();
    bytes[n - 2] = 7;
    std::fs::write(&elf, &bytes).unwrap();
    let out = run(&["verify", "--dev", s(&elf)]);
    assert!(stdout(&out).contains("unsupported signature trailer version (7)"), "{}", stdout(&out));
}

#[test]
fn structural_rejection_is_reported() {
    let dir = TempDir::new();
    let path = dir.path("wx.elf");
    let elf = ElfBuilder::new(Arch::Aarch64).entry(0x40_0000).load(0x40_0000, 7, &[0; 16], 16).build();
    std::fs::write(&path, elf).unwrap();
    assert!(run(&["sign", "--dev", s(&path)]).status.success());
    let out = run(&["verify", "--dev", s(&path)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("segment 0: segment is both writable and executable"), "{}", stdout(&out));
}

#[test]
fn inspect_prints_the_segment_table() {
    let dir = TempDir::new();
    let elf = write_elf(&dir, "i.elf");
    let unsigned = run(&["inspect", s(&elf)]);
    assert!(unsigned.status.success());
    assert!(stdout(&unsigned).contains("absent (unsigned)"));
    assert!(run(&["sign", "--dev", s(&elf)]).status.success());
    let out = run(&["inspect", s(&elf)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for want in [
        "trailer:    present, version 1, algorithm Ed25519",
        &format!("signature:  valid, key {} (development key)", Hex(&DEV_PUBLIC_KEY)),
        "type:       ELF64 little-endian, machine 62 (x86_64)",
        "entry:      0x400000",
        "segments:   2 PT_LOAD",
        "0x400000",
        "0x401000",
        "r-x",
        "rw-",
        "0x2000",
        "structure:  OK",
        "BLAKE3 ",
    ] {
        assert!(text.contains(want), "missing '{want}' in:\n{text}");
    }
    // An unknown signer is reported as such.
    let other = dir.path("o.elf");
    std::fs::copy(&elf, &other).unwrap();
    assert!(run(&["sign", "--seed", &"11".repeat(32), s(&other)]).status.success());
    assert!(stdout(&run(&["inspect", s(&other)])).contains("NOT valid under any known key"));
}

#[test]
fn manifests_are_signed_verified_and_inspected() {
    let dir = TempDir::new();
    let path = dir.path("manifest.bin");
    let body = encode(&[
        EntrySpec::new("init", StartPolicy::AtBoot, Priority::High, CapSet::EMPTY.with(Capability::Spawn)),
        EntrySpec::new("hello", StartPolicy::OnDemand, Priority::Normal, CapSet::EMPTY.with(Capability::ConsoleWrite)),
    ])
    .unwrap();
    std::fs::write(&path, body).unwrap();
    assert!(run(&["sign", "--dev", s(&path)]).status.success());
    let ok = run(&["verify", "--dev", s(&path)]);
    assert!(ok.status.success(), "{}", stdout(&ok));
    assert!(stdout(&ok).contains("valid boot manifest with 2 entries"));
    let text = stdout(&run(&["inspect", s(&path)]));
    assert!(text.contains("type:       boot manifest"), "{text}");
    assert!(text.contains("init"));
    assert!(text.contains("console-write"));
    assert!(text.contains("on-demand"));
    let other_key = run(&["verify", "--pubkey", &Hex(&[0x11; 32]).to_string(), s(&path)]);
    assert_eq!(other_key.status.code(), Some(1));
}

#[test]
fn usage_and_refusals() {
    let dir = TempDir::new();
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&["bogus"]).status.code(), Some(2));
    let help = run(&["--help"]);
    assert!(help.status.success());
    assert!(stdout(&help).contains("sign-elf keygen"));
    assert!(stdout(&run(&["sign", "--help"])).contains("--seed"));
    assert_eq!(run(&["sign", "x.elf"]).status.code(), Some(2));
    assert_eq!(run(&["sign", "--seed", "abc", "x.elf"]).status.code(), Some(2));
    assert_eq!(run(&["verify", "x.elf"]).status.code(), Some(2));
    // Not an ELF or manifest: refused, and the file is untouched.
    let text = dir.path("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let out = run(&["sign", "--dev", s(&text)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("neither an ELF image nor a boot manifest"));
    assert_eq!(std::fs::read_to_string(&text).unwrap(), "hello");
    // Missing input.
    assert_eq!(run(&["sign", "--dev", s(&dir.path("missing.elf"))]).status.code(), Some(1));
    // The hardware path: option errors are usage errors in every build ...
    let elf = write_elf(&dir, "p.elf");
    for bad in [
        &["sign", "--piv", "--slot", "9f", s(&elf)][..],
        &["sign", "--piv", "--dev", s(&elf)],
        &["sign", "--dev", "--slot", "9c", s(&elf)],
        &["sign", "--dev", "--reader", "Yubico", s(&elf)],
        &["pubkey", "--piv", "--pin-env", "PIN"],
        &["pubkey", "--piv", "--key", "k"],
    ] {
        assert_eq!(run(bad).status.code(), Some(2), "{bad:?}");
    }
    // ... and without the `yubikey` feature --piv explains how to get it, touching nothing.
    #[cfg(not(feature = "yubikey"))]
    {
        let before = std::fs::read(&elf).unwrap();
        for args in [&["sign", "--piv", "--slot", "9a", s(&elf)][..], &["pubkey", "--piv"]] {
            let piv = run(args);
            assert_eq!(piv.status.code(), Some(1), "{args:?}");
            let err = stderr(&piv);
            assert!(err.contains("built without hardware support"), "{err}");
            assert!(err.contains("--features yubikey") && err.contains("libpcsclite"), "{err}");
        }
        assert_eq!(std::fs::read(&elf).unwrap(), before);
    }
    // pubkey prints the development key.
    let out = run(&["pubkey", "--dev"]);
    assert!(stdout(&out).starts_with(&Hex(&DEV_PUBLIC_KEY).to_string()));
}
