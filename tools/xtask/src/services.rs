// SPDX-License-Identifier: AGPL-3.0-or-later
//! The boot services: which signed user programs go into the initrd, and the signed boot
//! manifest that lists them.
//!
//! `boot/services.toml` lists the services in boot order (docs/abi/boot-manifest.md). For a
//! boot image, [`compose`] builds the programs, signs each with the signing key, adds the
//! files given with `EXTRA_MODULES` **unchanged** (not re-signed, so a tester can boot a
//! tampered or hostile binary and watch the loader reject it), and writes the manifest (signed
//! too). The signing key is the documented development key unless `SIGNING_KEY` names a seed
//! file (`sign-elf keygen`); the kernel is then built with the matching public key
//! ([`bootstrap_key_env`]).

use std::path::{Path, PathBuf};

use cambios_abi::Arch;
use cambios_abi::cap::{CapSet, Capability};
use cambios_abi::ipc::WellKnown;
use kernel_verify::keys::{self, Hex};
use kernel_verify::manifest::{EntrySpec, ManifestBuilder, Priority, StartPolicy};
use kernel_verify::sign::{SigningKey, sign_file};
use serde::Deserialize;

use crate::util::{self, Result, bail, display_path};

/// Name of the manifest entry in the initrd (the kernel looks for this name).
pub const MANIFEST_ENTRY: &str = "manifest";

/// How a service's bytes are made (the variants other than `Signed` exist for tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The program signed with the signing key.
    Signed,
    /// The program without a signature trailer.
    Unsigned,
    /// Signed, then one byte of the ELF flipped.
    FlippedByte,
    /// Signed with a key the kernel does not trust.
    ForeignKey,
    /// A file used exactly as it is (`EXTRA_MODULES`).
    File(PathBuf),
}

/// One manifest entry and where its bytes come from.
#[derive(Clone, Debug)]
pub struct Service {
    /// Module name.
    pub name: String,
    /// The program under user/programs/ (unused for `Variant::File`).
    pub program: String,
    /// When it starts.
    pub start: StartPolicy,
    /// Priority band.
    pub priority: Priority,
    /// Granted capabilities.
    pub caps: CapSet,
    /// Well-known endpoints it owns (`cambios_abi::ipc::WellKnown` bits).
    pub provides: u64,
    /// Well-known endpoints it may send to.
    pub uses: u64,
    /// CPUs it may run on (bit n = CPU n; 0 = any).
    pub cpus: u64,
    /// How the bytes are made.
    pub variant: Variant,
}

impl Service {
    /// A signed service started at boot with `caps`.
    pub fn boot(name: &str, program: &str, caps: &[Capability]) -> Service {
        Service {
            name: name.into(),
            program: program.into(),
            start: StartPolicy::AtBoot,
            priority: Priority::Normal,
            caps: caps.iter().fold(CapSet::EMPTY, |set, c| set.with(*c)),
            provides: 0,
            uses: 0,
            cpus: 0,
            variant: Variant::Signed,
        }
    }

    /// The same service owning the well-known endpoints `provides` and sending to `uses`.
    pub fn endpoints(mut self, provides: &[WellKnown], uses: &[WellKnown]) -> Service {
        self.provides = provides.iter().fold(0, |b, w| b | w.bit());
        self.uses = uses.iter().fold(0, |b, w| b | w.bit());
        self
    }

    /// The same service, allowed only on the CPUs of `cpus`.
    pub fn on_cpus(mut self, cpus: &[u32]) -> Service {
        self.cpus = cpus.iter().fold(0, |b, c| b | (1u64 << c));
        self
    }

    /// The same service, started only on demand.
    pub fn on_demand(mut self) -> Service {
        self.start = StartPolicy::OnDemand;
        self
    }

    /// The same service with its bytes made another way.
    pub fn variant(mut self, variant: Variant) -> Service {
        self.variant = variant;
        self
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    service: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    program: Option<String>,
    start: Option<String>,
    priority: Option<String>,
    caps: Option<Vec<String>>,
    provides: Option<Vec<String>>,
    uses: Option<Vec<String>>,
    cpus: Option<Vec<u32>>,
}

/// `boot/services.toml`.
pub fn services_file() -> PathBuf {
    util::root().join("boot").join("services.toml")
}

/// Parses a services file.
pub fn parse(text: &str, origin: &Path) -> Result<Vec<Service>> {
    let file: File = toml::from_str(text).map_err(|e| util::Error::new(format!("{}: {e}", display_path(origin))))?;
    let mut out = Vec::new();
    for e in file.service {
        let start = match e.start.as_deref() {
            None | Some("boot") => StartPolicy::AtBoot,
            Some("on-demand") => StartPolicy::OnDemand,
            Some(other) => bail!(
                "{}: service '{}': start must be \"boot\" or \"on-demand\", not \"{other}\"",
                display_path(origin),
                e.name
            ),
        };
        let priority = match e.priority.as_deref() {
            None | Some("normal") => Priority::Normal,
            Some("low") => Priority::Low,
            Some("high") => Priority::High,
            Some(other) => bail!(
                "{}: service '{}': priority must be low, normal or high, not \"{other}\"",
                display_path(origin),
                e.name
            ),
        };
        let mut caps = CapSet::EMPTY;
        for name in e.caps.unwrap_or_default() {
            let Some(cap) = Capability::from_name(&name) else {
                let known: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
                bail!(
                    "{}: service '{}': unknown capability \"{name}\" (known: {})",
                    display_path(origin),
                    e.name,
                    known.join(", ")
                );
            };
            caps = caps.with(cap);
        }
        let endpoints = |list: Option<Vec<String>>, what: &str| -> Result<u64> {
            let mut bits = 0;
            for name in list.unwrap_or_default() {
                let Some(w) = WellKnown::from_name(&name) else {
                    let known: Vec<&str> = WellKnown::ALL.iter().map(|w| w.name()).collect();
                    bail!(
                        "{}: service '{}': {what}: unknown endpoint \"{name}\" (known: {})",
                        display_path(origin),
                        e.name,
                        known.join(", ")
                    );
                };
                bits |= w.bit();
            }
            Ok(bits)
        };
        let provides = endpoints(e.provides, "provides")?;
        let uses = endpoints(e.uses, "uses")?;
        let mut cpus = 0u64;
        for c in e.cpus.unwrap_or_default() {
            if c >= 64 {
                bail!("{}: service '{}': cpus: {c} is not a CPU index (0 to 63)", display_path(origin), e.name);
            }
            cpus |= 1 << c;
        }
        let program = e.program.unwrap_or_else(|| e.name.clone());
        out.push(Service {
            name: e.name,
            program,
            start,
            priority,
            caps,
            provides,
            uses,
            cpus,
            variant: Variant::Signed,
        });
    }
    Ok(out)
}

/// The services of `boot/services.toml`, or of the file the `SERVICES` environment variable
/// names (what `make run SERVICES=` sets).
pub fn load_default() -> Result<Vec<Service>> {
    let path = match std::env::var_os("SERVICES").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => services_file(),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| util::Error::new(format!("cannot read {}: {e}", display_path(&path))))?;
    parse(&text, &path)
}

/// The signing key: the seed file named by the `SIGNING_KEY` environment variable (what
/// `make ... SIGNING_KEY=` sets), else the development key.
pub fn signing_key() -> Result<SigningKey> {
    match std::env::var_os("SIGNING_KEY").filter(|v| !v.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            let bytes = util::read_file(&path)?;
            let seed = keys::parse_seed_file(&bytes).map_err(|e| {
                util::Error::new(format!(
                    "SIGNING_KEY={}: not a seed file ({e}); make one with `sign-elf keygen`",
                    display_path(&path)
                ))
            })?;
            Ok(SigningKey::from_seed(&seed))
        }
        None => Ok(SigningKey::dev()),
    }
}

/// The environment variable the kernel build needs for the signing key in use:
/// `CAMBIOS_BOOTSTRAP_PUBKEY=<hex>` for a custom key, nothing for the development key.
pub fn bootstrap_key_env() -> Result<Option<String>> {
    let key = signing_key()?.public_key();
    if key == keys::DEV_PUBLIC_KEY { Ok(None) } else { Ok(Some(Hex(&key).to_string())) }
}

/// A key nobody trusts (for the foreign-key test module).
fn foreign_key() -> SigningKey {
    SigningKey::from_seed(blake3::hash(b"cambios test: an untrusted signing key").as_bytes())
}

/// The module name for an `EXTRA_MODULES` file: its file stem.
fn extra_name(path: &Path) -> Result<String> {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if stem.is_empty() {
        bail!("extra module '{}' has no usable file name", path.display());
    }
    Ok(stem)
}

/// The services `EXTRA_MODULES` adds: each file unchanged, started at boot, with the console.
pub fn extra_services(extra: &[PathBuf]) -> Result<Vec<Service>> {
    extra
        .iter()
        .map(|path| {
            let name = extra_name(path)?;
            Ok(Service::boot(&name, "", &[Capability::ConsoleWrite]).variant(Variant::File(path.clone())))
        })
        .collect()
}

/// Builds and signs every service for `arch`, and returns the initrd entries: the modules in
/// order, then the manifest.
pub fn compose(arch: Arch, services: &[Service], release: bool) -> Result<Vec<(String, Vec<u8>)>> {
    let key = signing_key()?;
    let needs_build = services.iter().any(|s| !matches!(s.variant, Variant::File(_)));
    let programs = if needs_build { crate::user::build_user(arch, release)? } else { Vec::new() };
    let mut entries = Vec::new();
    let mut manifest = ManifestBuilder::new();
    for s in services {
        let program_bytes = || -> Result<Vec<u8>> {
            let Some(p) = programs.iter().find(|p| p.name == s.program) else {
                let known: Vec<&str> = programs.iter().map(|p| p.name.as_str()).collect();
                bail!("service '{}': no user program '{}' (programs: {})", s.name, s.program, known.join(", "));
            };
            util::read_file(&p.elf)
        };
        let sign = |bytes: &[u8], key: &SigningKey| {
            sign_file(bytes, key).map_err(|e| util::Error::new(format!("signing '{}': {e}", s.name)))
        };
        let bytes = match &s.variant {
            Variant::Signed => sign(&program_bytes()?, &key)?,
            Variant::Unsigned => program_bytes()?,
            Variant::FlippedByte => {
                let mut signed = sign(&program_bytes()?, &key)?;
                // A byte inside the code, well past the headers.
                let at = (signed.len() / 2).max(0x40);
                if let Some(b) = signed.get_mut(at) {
                    *b ^= 0x01;
                }
                signed
            }
            Variant::ForeignKey => sign(&program_bytes()?, &foreign_key())?,
            Variant::File(path) => {
                let found = if path.is_file() { path.clone() } else { util::root().join(path) };
                if !found.is_file() {
                    bail!("extra module '{}' not found (or not a regular file)", path.display());
                }
                util::read_file(&found)?
            }
        };
        entries.push((s.name.clone(), bytes));
        let mut spec = EntrySpec::new(&s.name, s.start, s.priority, s.caps);
        spec.provides = s.provides;
        spec.uses = s.uses;
        spec.cpus = s.cpus;
        manifest = manifest.entry(spec);
    }
    let body = manifest.build().map_err(|e| util::Error::new(format!("the boot manifest is invalid: {e}")))?;
    let signed = sign_file(&body, &key).map_err(|e| util::Error::new(format!("signing the manifest: {e}")))?;
    entries.push((MANIFEST_ENTRY.to_string(), signed));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_file() {
        let services = load_default().unwrap();
        assert!(services.iter().any(|s| s.name == "hello" && s.start == StartPolicy::AtBoot));
        let spawner = services.iter().find(|s| s.name == "spawner").unwrap();
        assert!(spawner.caps.contains(Capability::Spawn));
    }

    #[test]
    fn rejects_bad_fields() {
        let p = Path::new("x.toml");
        let e = parse("[[service]]\nname='a'\nstart='later'\n", p).unwrap_err().to_string();
        assert!(e.contains("start must be"), "{e}");
        let e = parse("[[service]]\nname='a'\ncaps=['root']\n", p).unwrap_err().to_string();
        assert!(e.contains("unknown capability \"root\""), "{e}");
        let e = parse("[[service]]\nname='a'\ncolour='red'\n", p).unwrap_err().to_string();
        assert!(e.contains("unknown field"), "{e}");
        let e = parse("[[service]]\nname='a'\nuses=['nope']\n", p).unwrap_err().to_string();
        assert!(e.contains("unknown endpoint \"nope\""), "{e}");
        let e = parse("[[service]]\nname='a'\ncpus=[64]\n", p).unwrap_err().to_string();
        assert!(e.contains("cpus: 64 is not a CPU index"), "{e}");
        let pinned = parse("[[service]]\nname='a'\ncpus=[1, 3]\n", p).unwrap();
        assert_eq!(pinned[0].cpus, 0b1010);
        let ok = parse("[[service]]\nname='a'\nprovides=['echo']\nuses=['pong']\n", p).unwrap();
        assert_eq!((ok[0].provides, ok[0].uses), (WellKnown::Echo.bit(), WellKnown::Pong.bit()));
        let ok = parse("[[service]]\nname='a'\nprogram='hello'\npriority='high'\n", p).unwrap();
        assert_eq!(ok[0].program, "hello");
        assert_eq!(ok[0].priority, Priority::High);
    }

    #[test]
    fn extra_modules_are_named_after_the_file() {
        let s = extra_services(&[PathBuf::from("/tmp/evil.elf")]).unwrap();
        assert_eq!(s[0].name, "evil");
        assert_eq!(s[0].variant, Variant::File(PathBuf::from("/tmp/evil.elf")));
    }
}
