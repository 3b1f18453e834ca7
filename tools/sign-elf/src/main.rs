// SPDX-License-Identifier: AGPL-3.0-or-later
//! `sign-elf`: generate signing keys, sign, verify and inspect CambiOS signed ELF images and
//! boot manifests.
//!
//! Verification runs the kernel's own verifier (`kernel-verify`), so `sign-elf verify` accepts
//! exactly what the kernel loader accepts. Formats: docs/abi/signed-elf.md and
//! docs/abi/boot-manifest.md. Exit status: 0 success, 1 failure or rejection, 2 usage error.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
#![forbid(unsafe_code)]

mod didkey;
mod piv;

use cambios_abi::Arch;
use kernel_verify::elf;
use kernel_verify::keys::{self, DEV_PUBLIC_KEY, Hex, TrustedKeys};
use kernel_verify::manifest::{self, Manifest};
use kernel_verify::sign::{SIGNABLE_PREFIXES, SignError, SigningKey, sign_file};
use kernel_verify::trailer::{self, TrailerError};
use kernel_verify::verifier::{VerifyPolicy, verify_binary, verify_structure};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
sign-elf: sign and check CambiOS ELF images and boot manifests

USAGE:
    sign-elf keygen --out <file> [--force]
    sign-elf sign (--seed <64 hex> | --key <file> | --dev | --piv [<piv options>]) <input> [-o <output>]
    sign-elf verify (--pubkey <hex|file>)... [--dev] <file>
    sign-elf inspect [--pubkey <hex|file>]... <file>
    sign-elf pubkey (--seed <64 hex> | --key <file> | --dev | --piv [--slot <slot>] [--reader <name>])
    sign-elf help [<command>]

Run `sign-elf <command> --help` for details. Exit status: 0 ok, 1 failure, 2 usage error.
";

const KEYGEN_HELP: &str = "\
sign-elf keygen --out <file> [--force]

Generates an Ed25519 key from the operating system's random source. Writes the 32-byte seed
as 64 hex digits to <file> (mode 0600) and the public key as 64 hex digits to <file>.pub,
then prints the public key and its did:key. Refuses to overwrite either file unless --force.
Build CambiOS with it: `make run SIGNING_KEY=<file>`.
";

const SIGN_HELP: &str = "\
sign-elf sign (--seed <64 hex> | --key <file> | --dev | --piv [<piv options>]) <input> [-o <output>]

Appends a signature trailer (Ed25519 over the BLAKE3 hash of the file) to an ELF image or a
boot manifest; an existing trailer is replaced. Writes <input> in place unless -o is given.
    --seed <hex>      the 32-byte key seed as 64 hex digits
    --key <file>      a seed file written by `sign-elf keygen`
    --dev             the public development key (docs/abi/signed-elf.md)
    --piv             an Ed25519 key in a YubiKey PIV slot (firmware 5.7 or later). Needs a
                      sign-elf built with `--features yubikey` (PC/SC: libpcsclite, pcscd);
                      untested without hardware. The card signs the 32-byte BLAKE3 hash and
                      the signature is verified before the file is written.
PIV options:
    --slot <slot>     9a, 9c (default), 9d or 9e
    --reader <text>   the first PC/SC reader whose name contains <text> (default: the first
                      Yubico reader, or the only reader)
    --pin-env <VAR>   read the PIN from $VAR (default CAMBIOS_PIV_PIN); when it is unset the
                      PIN is asked for on the terminal without echo
";

const VERIFY_HELP: &str = "\
sign-elf verify (--pubkey <hex|file>)... [--dev] <file>

Runs the kernel's verifier: trailer, strict signature check against the given keys (up to 4;
--dev adds the development key), then every structural rule for the architecture named in
the ELF header. Boot manifests (magic CBOSMANI) are verified as manifests. Prints OK, or the
reason for rejection and exits with status 1.
";

const INSPECT_HELP: &str = "\
sign-elf inspect [--pubkey <hex|file>]... <file>

Prints the BLAKE3 hash of the body, the trailer, which key signed the file (the development
key and any --pubkey keys are recognised), whether the signature is valid, the ELF header and
PT_LOAD segment table, or a manifest's entries.
";

const PUBKEY_HELP: &str = "\
sign-elf pubkey (--seed <64 hex> | --key <file> | --dev | --piv [--slot <slot>] [--reader <text>])

Prints the public key (hex) and did:key of a signing key. With --piv, of the Ed25519 key in a
YubiKey PIV slot (read with GET METADATA, no PIN; see `sign-elf sign --help` for the options).
A kernel trusting it is built with CAMBIOS_BOOTSTRAP_PUBKEY=<hex> (docs/abi/signed-elf.md).
";

/// How a command failed.
#[derive(Debug)]
enum CliError {
    /// Bad command line: exit status 2.
    Usage(String),
    /// The command ran and failed: exit status 1.
    Failure(String),
}

type CliResult = Result<(), CliError>;

fn usage<T>(msg: impl Into<String>) -> Result<T, CliError> {
    Err(CliError::Usage(msg.into()))
}

fn failure<T>(msg: impl Into<String>) -> Result<T, CliError> {
    Err(CliError::Failure(msg.into()))
}

/// Parsed options of one subcommand.
#[derive(Debug, Default)]
struct Options {
    help: bool,
    force: bool,
    dev: bool,
    piv: bool,
    out: Option<String>,
    slot: Option<String>,
    reader: Option<String>,
    pin_env: Option<String>,
    seed: Option<String>,
    key: Option<String>,
    pubkeys: Vec<String>,
    positional: Vec<String>,
}

/// Parses `args` (after the subcommand), allowing only the flags in `allowed`.
fn parse_options(args: &[String], allowed: &[&str]) -> Result<Options, CliError> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let flag = arg.as_str();
        if flag == "--help" || flag == "-h" {
            o.help = true;
            continue;
        }
        if !flag.starts_with('-') || flag == "-" {
            o.positional.push(arg.clone());
            continue;
        }
        if !allowed.contains(&flag) {
            return usage(format!("unknown option '{flag}'"));
        }
        let mut value = || it.next().cloned().ok_or_else(|| CliError::Usage(format!("option '{flag}' needs a value")));
        match flag {
            "--force" => o.force = true,
            "--dev" => o.dev = true,
            "--piv" => o.piv = true,
            "--out" | "-o" => o.out = Some(value()?),
            "--seed" => o.seed = Some(value()?),
            "--key" => o.key = Some(value()?),
            "--pubkey" => o.pubkeys.push(value()?),
            "--slot" => o.slot = Some(value()?),
            "--reader" => o.reader = Some(value()?),
            "--pin-env" => o.pin_env = Some(value()?),
            _ => return usage(format!("unknown option '{flag}'")),
        }
    }
    Ok(o)
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Failure(format!("cannot read '{}': {e}", path.display())))
}

/// The signing key chosen by exactly one of --seed, --key, --dev.
fn signing_key(o: &Options) -> Result<SigningKey, CliError> {
    let chosen = usize::from(o.seed.is_some()) + usize::from(o.key.is_some()) + usize::from(o.dev);
    if chosen != 1 {
        return usage("choose exactly one key: --seed <hex>, --key <file> or --dev");
    }
    if let Some(seed) = &o.seed {
        let seed = keys::parse_seed_file(seed.as_bytes())
            .map_err(|e| CliError::Usage(format!("--seed: {e} (expected 64 hex digits)")))?;
        return Ok(SigningKey::from_seed(&seed));
    }
    if let Some(path) = &o.key {
        let seed = keys::parse_seed_file(&read(Path::new(path))?)
            .map_err(|e| CliError::Failure(format!("'{path}' is not a seed file: {e}")))?;
        return Ok(SigningKey::from_seed(&seed));
    }
    Ok(SigningKey::dev())
}

/// A public key given as 64 hex digits or as the path of a public key file.
fn public_key_arg(arg: &str) -> Result<[u8; 32], CliError> {
    if arg.len() == 64 && arg.bytes().all(|b| b.is_ascii_hexdigit()) {
        let key = keys::parse_public_key_file(arg.as_bytes())
            .map_err(|e| CliError::Failure(format!("public key {arg}: {e}")))?;
        return Ok(key);
    }
    keys::parse_public_key_file(&read(Path::new(arg))?)
        .map_err(|e| CliError::Failure(format!("'{arg}' is not a public key file: {e}")))
}

/// The trusted set: the given --pubkey keys, plus the development key with --dev (or always,
/// when `include_dev`).
fn trusted_keys(o: &Options, include_dev: bool) -> Result<TrustedKeys, CliError> {
    let mut set = TrustedKeys::empty();
    let mut add = |key: [u8; 32]| match set.add(key) {
        Ok(_) | Err(keys::KeyError::Duplicate) => Ok(()),
        Err(e) => Err(CliError::Failure(format!("key {}: {e}", Hex(&key)))),
    };
    if o.dev || include_dev {
        add(DEV_PUBLIC_KEY)?;
    }
    for arg in &o.pubkeys {
        add(public_key_arg(arg)?)?;
    }
    Ok(set)
}

fn one_positional<'a>(o: &'a Options, what: &str) -> Result<&'a str, CliError> {
    match o.positional.as_slice() {
        [one] => Ok(one),
        [] => usage(format!("missing {what}")),
        _ => usage(format!("expected one {what}, got {}", o.positional.len())),
    }
}

/// Writes a file with mode 0600 (on Unix), refusing to replace an existing one unless `force`.
fn write_private(path: &Path, contents: &[u8], force: bool) -> CliResult {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::Failure(format!("'{}' exists; use --force to overwrite it", path.display()))
        } else {
            CliError::Failure(format!("cannot create '{}': {e}", path.display()))
        }
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| CliError::Failure(format!("cannot set permissions of '{}': {e}", path.display())))?;
    }
    f.write_all(contents).map_err(|e| CliError::Failure(format!("cannot write '{}': {e}", path.display())))
}

fn keygen(o: &Options) -> CliResult {
    let Some(out) = &o.out else { return usage("keygen needs --out <file>") };
    if !o.positional.is_empty() {
        return usage("keygen takes no positional arguments");
    }
    let secret_path = PathBuf::from(out);
    let public_path = PathBuf::from(format!("{out}.pub"));
    if !o.force {
        for p in [&secret_path, &public_path] {
            if p.exists() {
                return failure(format!("'{}' exists; use --force to overwrite it", p.display()));
            }
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| CliError::Failure(format!("no randomness from the OS: {e}")))?;
    let key = SigningKey::from_seed(&seed);
    let public = key.public_key();
    write_private(&secret_path, &keys::encode_key_file(&seed), o.force)?;
    seed.fill(0);
    std::fs::write(&public_path, keys::encode_key_file(&public))
        .map_err(|e| CliError::Failure(format!("cannot write '{}': {e}", public_path.display())))?;
    println!("Public key: {}", Hex(&public));
    println!("did:key:    {}", didkey::did_key(&public));
    println!("Wrote secret key file {} (mode 0600; keep it private)", secret_path.display());
    println!("Wrote public key file {}", public_path.display());
    Ok(())
}

/// The PIV slot for --piv (default 9C). --slot, --reader and --pin-env are errors without
/// --piv, and --piv excludes the software keys.
fn piv_slot(o: &Options) -> Result<piv::Slot, CliError> {
    if !o.piv {
        if o.slot.is_some() || o.reader.is_some() || o.pin_env.is_some() {
            return usage("--slot, --reader and --pin-env need --piv");
        }
        return Ok(piv::Slot::default());
    }
    if o.seed.is_some() || o.key.is_some() || o.dev {
        return usage("choose exactly one key: --seed <hex>, --key <file>, --dev or --piv");
    }
    match &o.slot {
        None => Ok(piv::Slot::default()),
        Some(s) => piv::Slot::parse(s).ok_or_else(|| CliError::Usage(format!("--slot {s}: expected 9a, 9c, 9d or 9e"))),
    }
}

fn sign(o: &Options) -> CliResult {
    let input = PathBuf::from(one_positional(o, "input file")?);
    let slot = piv_slot(o)?;
    let output = o.out.as_ref().map(PathBuf::from).unwrap_or_else(|| input.clone());
    if o.piv {
        return sign_piv(o, slot, &input, &output);
    }
    let key = signing_key(o)?;
    let bytes = read(&input)?;
    let signed = sign_file(&bytes, &key).map_err(|e| CliError::Failure(format!("'{}': {e}", input.display())))?;
    write_signed(&input, &output, &signed)?;
    println!("Signed '{}' ({} bytes), key {}", output.display(), signed.len(), Hex(&key.public_key()));
    Ok(())
}

/// `sign --piv`: the card signs BLAKE3(body); the trailer is appended as for software keys.
fn sign_piv(o: &Options, slot: piv::Slot, input: &Path, output: &Path) -> CliResult {
    let cannot = |e: piv::PivError| CliError::Failure(format!("cannot sign '{}' with --piv: {e}", input.display()));
    if !piv::AVAILABLE {
        return Err(cannot(piv::PivError::NotBuilt));
    }
    let bytes = read(input)?;
    let body = trailer::strip(&bytes);
    if !SIGNABLE_PREFIXES.iter().any(|p| body.starts_with(p)) {
        return failure(format!("'{}': {}", input.display(), SignError::NotSignable));
    }
    let pin_env = o.pin_env.as_deref().unwrap_or(piv::DEFAULT_PIN_ENV);
    let (reader, key, signed) = piv::with_card(o.reader.as_deref(), &mut |reader, card| {
        let mut pin = |key: &piv::SlotKey| {
            eprintln!("Reader '{reader}', PIV slot {slot}: Ed25519 key {}", Hex(&key.public_key));
            let pin = piv::read_pin(pin_env)?;
            if key.may_need_touch() {
                eprintln!("Touch the YubiKey if it flashes.");
            }
            Ok(pin)
        };
        let (key, signed) = piv_signed(card, slot, body, &mut pin)?;
        Ok((reader.to_string(), key, signed))
    })
    .map_err(cannot)?;
    write_signed(input, output, &signed)?;
    println!(
        "Signed '{}' ({} bytes) with YubiKey PIV slot {slot} ({}) on reader '{reader}'",
        output.display(),
        signed.len(),
        slot.name()
    );
    println!("Public key: {}", Hex(&key.public_key));
    println!("did:key:    {}", didkey::did_key(&key.public_key));
    Ok(())
}

/// `body` followed by a trailer whose signature the card in `card` made over BLAKE3(body);
/// `piv::sign` has verified it strictly under the slot's public key.
fn piv_signed(
    card: &mut dyn piv::Card,
    slot: piv::Slot,
    body: &[u8],
    pin: &mut dyn FnMut(&piv::SlotKey) -> Result<piv::Pin, piv::PivError>,
) -> Result<(piv::SlotKey, Vec<u8>), piv::PivError> {
    let (key, signature) = piv::sign(card, slot, blake3::hash(body).as_bytes(), pin)?;
    Ok((key, trailer::append(body, &signature)))
}

/// Writes `signed` to `output` beside the target, then renames, so a failed write never leaves
/// a half-signed file; keeps the input's permissions.
fn write_signed(input: &Path, output: &Path, signed: &[u8]) -> CliResult {
    let mut tmp = output.to_path_buf().into_os_string();
    tmp.push(".sign-elf-tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, signed).map_err(|e| CliError::Failure(format!("cannot write '{}': {e}", tmp.display())))?;
    // Keep the input's permissions (an executable stays executable).
    if let Ok(meta) = std::fs::metadata(input) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    if let Err(e) = std::fs::rename(&tmp, output) {
        let _ = std::fs::remove_file(&tmp);
        return failure(format!("cannot replace '{}': {e}", output.display()));
    }
    Ok(())
}

fn pubkey(o: &Options) -> CliResult {
    if !o.positional.is_empty() {
        return usage("pubkey takes no positional arguments");
    }
    let slot = piv_slot(o)?;
    if o.piv {
        let (reader, key) = piv::with_card(o.reader.as_deref(), &mut |reader, card| {
            Ok((reader.to_string(), piv::read_public_key(card, slot)?))
        })
        .map_err(|e| CliError::Failure(format!("cannot read the PIV public key: {e}")))?;
        eprintln!("Reader '{reader}', PIV slot {slot} ({}), Ed25519", slot.name());
        println!("{}", Hex(&key.public_key));
        println!("{}", didkey::did_key(&key.public_key));
        return Ok(());
    }
    let public = signing_key(o)?.public_key();
    println!("{}", Hex(&public));
    println!("{}", didkey::did_key(&public));
    Ok(())
}

/// The architecture an ELF header names, if CambiOS runs on it.
fn elf_arch(body: &[u8]) -> Option<Arch> {
    let machine = u16::from_le_bytes(body.get(18..20)?.try_into().ok()?);
    Arch::ALL.into_iter().find(|a| a.elf_machine() == machine)
}

fn key_label(key: &[u8; 32]) -> String {
    if *key == DEV_PUBLIC_KEY { format!("{} (development key)", Hex(key)) } else { format!("{}", Hex(key)) }
}

fn verify(o: &Options) -> CliResult {
    let path = one_positional(o, "file")?;
    if o.pubkeys.is_empty() && !o.dev {
        return usage("verify needs the trusted keys: --pubkey <hex|file> and/or --dev");
    }
    let keys = trusted_keys(o, false)?;
    let bytes = read(Path::new(path))?;
    let body = trailer::strip(&bytes);
    if body.starts_with(&manifest::MAGIC) {
        return match manifest::verify_manifest(&bytes, &keys) {
            Ok(m) => {
                println!("OK: '{path}' is a valid boot manifest with {} entries", m.len());
                Ok(())
            }
            Err(e) => {
                println!("REJECTED: '{path}': {e}");
                failure("manifest rejected")
            }
        };
    }
    let policy = VerifyPolicy::for_arch(elf_arch(body).unwrap_or(Arch::X86_64));
    match verify_binary(&bytes, &keys, &policy) {
        Ok(v) => {
            let arch = elf_arch(v.elf).map(Arch::name).unwrap_or("?");
            println!(
                "OK: '{path}' ({arch}, {} segments, entry {:#x}), signed by {}",
                v.image.count,
                v.image.entry,
                key_label(&v.signer)
            );
            Ok(())
        }
        Err(e) => {
            println!("REJECTED: '{path}': {e}");
            failure("binary rejected")
        }
    }
}

fn inspect(o: &Options) -> CliResult {
    let path = one_positional(o, "file")?;
    let keys = trusted_keys(o, true)?;
    let bytes = read(Path::new(path))?;
    println!("file:       {path} ({} bytes)", bytes.len());
    let (body, trailer) = match trailer::split(&bytes) {
        Ok((body, t)) => {
            println!("trailer:    present, version {}, algorithm Ed25519 (72 bytes)", t.version);
            (body, Some(t))
        }
        Err(TrailerError::Absent) => {
            println!("trailer:    absent (unsigned)");
            (bytes.as_slice(), None)
        }
        Err(e) => {
            println!("trailer:    unusable: {e}");
            (trailer::strip(&bytes), None)
        }
    };
    let hash = blake3::hash(body);
    println!("body:       {} bytes, BLAKE3 {}", body.len(), hash.to_hex());
    if let Some(t) = trailer {
        match keys.verify(hash.as_bytes(), &t.signature) {
            Some((_, key)) => println!("signature:  valid, key {}", key_label(&key)),
            None => println!("signature:  NOT valid under any known key (development key or --pubkey)"),
        }
    }
    if body.starts_with(&manifest::MAGIC) {
        inspect_manifest(body);
    } else {
        inspect_elf(body);
    }
    Ok(())
}

fn inspect_manifest(body: &[u8]) {
    println!("type:       boot manifest");
    let m = match Manifest::parse(body) {
        Ok(m) => m,
        Err(e) => {
            println!("manifest:   INVALID: {e}");
            return;
        }
    };
    println!("entries:    {}", m.len());
    println!("  #  {:<24} {:<9} {:<8} {:<24} principal", "name", "start", "priority", "capabilities");
    for (i, e) in m.entries().enumerate() {
        let caps: Vec<&str> = e.caps.iter().map(|c| c.name()).collect();
        let caps = if caps.is_empty() { "-".to_string() } else { caps.join(",") };
        let principal = Hex(e.principal.get(..8).unwrap_or(&[]));
        let note =
            if e.principal == manifest::service_principal(e.name) { "" } else { " (not the service convention)" };
        println!(
            "  {i:<2} {:<24} {:<9} {:<8} {caps:<24} {principal}…{note}",
            e.name,
            e.start.as_str(),
            e.priority.as_str()
        );
    }
}

fn inspect_elf(body: &[u8]) {
    let class = match body.get(4) {
        Some(2) => "ELF64",
        Some(1) => "ELF32",
        _ => "?",
    };
    let data = match body.get(5) {
        Some(1) => "little-endian",
        Some(2) => "big-endian",
        _ => "?",
    };
    if !body.starts_with(b"\x7fELF") {
        println!("type:       not an ELF file");
        return;
    }
    let machine = body.get(18..20).and_then(|b| b.try_into().ok()).map(u16::from_le_bytes);
    let arch = elf_arch(body).map(Arch::name).unwrap_or("unknown");
    let entry = body.get(24..32).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    println!("type:       {class} {data}, machine {} ({arch})", machine.unwrap_or(0));
    if let Some(entry) = entry {
        println!("entry:      {entry:#x}");
    }
    let image = match elf::parse(body) {
        Ok(image) => image,
        Err(e) => {
            println!("segments:   cannot be read: {e}");
            return;
        }
    };
    println!("segments:   {} PT_LOAD", image.count);
    println!("  #  {:<18} {:<12} {:<12} {:<12} flags", "vaddr", "memsz", "filesz", "offset");
    for (i, s) in image.segments().iter().enumerate() {
        println!(
            "  {i:<2} {:<18} {:<12} {:<12} {:<12} {}",
            format!("{:#x}", s.vaddr),
            format!("{:#x}", s.mem_size),
            format!("{:#x}", s.file_size),
            format!("{:#x}", s.file_offset),
            s.flags.as_str()
        );
    }
    let policy = VerifyPolicy::for_arch(elf_arch(body).unwrap_or(Arch::X86_64));
    match verify_structure(body, &policy) {
        Ok(_) => println!("structure:  OK"),
        Err(e) => println!("structure:  REJECTED: {e}"),
    }
}

fn run(args: &[String]) -> CliResult {
    let Some((command, rest)) = args.split_first() else { return usage("missing command") };
    let (help, allowed, handler): (&str, &[&str], fn(&Options) -> CliResult) = match command.as_str() {
        "keygen" => (KEYGEN_HELP, &["--out", "-o", "--force"], keygen),
        "sign" => {
            (SIGN_HELP, &["--seed", "--key", "--dev", "--piv", "--slot", "--reader", "--pin-env", "--out", "-o"], sign)
        }
        "verify" => (VERIFY_HELP, &["--pubkey", "--dev"], verify),
        "inspect" => (INSPECT_HELP, &["--pubkey"], inspect),
        "pubkey" => (PUBKEY_HELP, &["--seed", "--key", "--dev", "--piv", "--slot", "--reader"], pubkey),
        "help" | "--help" | "-h" => {
            let text = match rest.first().map(String::as_str) {
                Some("keygen") => KEYGEN_HELP,
                Some("sign") => SIGN_HELP,
                Some("verify") => VERIFY_HELP,
                Some("inspect") => INSPECT_HELP,
                Some("pubkey") => PUBKEY_HELP,
                _ => USAGE,
            };
            print!("{text}");
            return Ok(());
        }
        other => return usage(format!("unknown command '{other}'")),
    };
    let o = parse_options(rest, allowed)?;
    if o.help {
        print!("{help}");
        return Ok(());
    }
    handler(&o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(msg)) => {
            eprintln!("sign-elf: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(CliError::Failure(msg)) => {
            eprintln!("sign-elf: error: {msg}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn option_parsing() {
        let o = parse_options(&args("--dev in.elf -o out.elf"), &["--dev", "-o"]).unwrap();
        assert!(o.dev);
        assert_eq!(o.out.as_deref(), Some("out.elf"));
        assert_eq!(o.positional, ["in.elf"]);
        assert!(matches!(parse_options(&args("--bogus"), &["--dev"]), Err(CliError::Usage(_))));
        assert!(matches!(parse_options(&args("-o"), &["-o"]), Err(CliError::Usage(_))));
        let o = parse_options(&args("--pubkey a --pubkey b f"), &["--pubkey"]).unwrap();
        assert_eq!(o.pubkeys, ["a", "b"]);
    }

    #[test]
    fn usage_errors() {
        assert!(matches!(run(&[]), Err(CliError::Usage(_))));
        assert!(matches!(run(&args("frobnicate")), Err(CliError::Usage(_))));
        assert!(matches!(run(&args("sign x.elf")), Err(CliError::Usage(_))));
        assert!(matches!(run(&args("sign --dev --seed 00 x.elf")), Err(CliError::Usage(_))));
        assert!(matches!(run(&args("verify x.elf")), Err(CliError::Usage(_))));
        assert!(matches!(run(&args("keygen")), Err(CliError::Usage(_))));
        assert!(matches!(run(&args("sign --piv --slot 9b x.elf")), Err(CliError::Usage(_))));
        assert!(matches!(run(&args("sign --piv --seed 00 x.elf")), Err(CliError::Usage(_))));
        assert!(matches!(run(&args("sign --key k --pin-env PIN x.elf")), Err(CliError::Usage(_))));
        assert!(matches!(run(&args("pubkey --dev --slot 9c")), Err(CliError::Usage(_))));
        assert!(matches!(run(&args("pubkey --piv --pin-env PIN")), Err(CliError::Usage(_))));
        assert!(run(&args("sign --help")).is_ok());
        assert!(run(&args("help verify")).is_ok());
    }

    #[test]
    fn piv_options() {
        let o = parse_options(
            &args("--piv --slot 9A --reader yubi --pin-env P f"),
            &["--piv", "--slot", "--reader", "--pin-env"],
        )
        .unwrap();
        assert_eq!(piv_slot(&o).unwrap(), piv::Slot::Authentication);
        assert_eq!((o.reader.as_deref(), o.pin_env.as_deref()), (Some("yubi"), Some("P")));
        let o = Options { piv: true, ..Options::default() };
        assert_eq!(piv_slot(&o).unwrap(), piv::Slot::Signature);
    }

    #[test]
    #[cfg(not(feature = "yubikey"))]
    fn piv_without_the_feature_fails_before_reading() {
        let Err(CliError::Failure(msg)) = run(&args("sign --piv /nonexistent/x.elf")) else {
            panic!("expected a failure")
        };
        assert!(msg.contains("--features yubikey"), "{msg}");
        let Err(CliError::Failure(msg)) = run(&args("pubkey --piv --slot 9e")) else { panic!("expected a failure") };
        assert!(msg.contains("built without hardware support"), "{msg}");
    }

    #[test]
    fn piv_signed_files_pass_the_kernel_verifier() {
        use kernel_verify::elfbuild::ElfBuilder;
        let card_key = SigningKey::from_seed(&[9; 32]);
        let elf = ElfBuilder::minimal(Arch::X86_64).build();
        // Signed with the development key first: --piv replaces that trailer.
        let dev_signed = sign_file(&elf, &SigningKey::dev()).unwrap();
        let body = trailer::strip(&dev_signed);
        assert_eq!(body, elf.as_slice());
        let msg = *blake3::hash(body).as_bytes();
        let mut card = piv::tests::yubikey_signing(&card_key, 0x9D, &msg);
        let (key, signed) = piv_signed(&mut card, piv::Slot::KeyManagement, body, &mut piv::tests::pin_ok).unwrap();
        card.done();
        assert_eq!(key.public_key, card_key.public_key());
        assert_eq!(signed.len(), elf.len() + trailer::TRAILER_LEN);
        assert_eq!(signed, sign_file(&dev_signed, &card_key).unwrap(), "same bytes as a software signature");
        let mut trusted = TrustedKeys::empty();
        trusted.add(card_key.public_key()).unwrap();
        let v = verify_binary(&signed, &trusted, &VerifyPolicy::for_arch(Arch::X86_64)).unwrap();
        assert_eq!(v.signer, card_key.public_key());
    }

    #[test]
    fn public_key_arguments() {
        let hex = Hex(&DEV_PUBLIC_KEY).to_string();
        assert_eq!(public_key_arg(&hex).unwrap(), DEV_PUBLIC_KEY);
        assert!(matches!(public_key_arg("/nonexistent/key.pub"), Err(CliError::Failure(_))));
        let o = Options { pubkeys: vec![hex], dev: true, ..Options::default() };
        assert_eq!(trusted_keys(&o, false).unwrap().len(), 1);
    }
}
