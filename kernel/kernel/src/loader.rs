// SPDX-License-Identifier: AGPL-3.0-or-later
//! The verified-load path: the signed boot manifest, the module registry, and process
//! creation from verified images.
//!
//! At boot ([`load_boot_modules`]) the kernel finds the initrd, verifies the boot manifest's
//! signature against the trusted keys (the bootstrap public key compiled into the kernel; the
//! kernel never holds a private key), checks that no entry claims a signing key as its
//! Principal, then verifies every listed module with the BinaryVerifier (size cap, signature
//! trailer, Ed25519 over the BLAKE3 hash, then the ELF structure rules) and prints one line
//! each, in manifest order:
//!
//! ```text
//! [loader] <name>: verified, pid <n>
//! [loader] <name>: verified, started on demand
//! [loader] <name>: REJECTED: <reason>
//! ```
//!
//! A rejected module is skipped and the boot continues. Verified modules are kept in a
//! registry with their BLAKE3 hash; [`spawn`] (the `spawn` syscall) starts a registered module
//! after re-hashing its bytes and comparing with the verified hash, so a module changed in
//! memory after boot is refused.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use cambios_abi::audit::EventKind;
use cambios_abi::cap::CapSet;
use cambios_abi::error::SysError;
use cambios_abi::initrd;
use kernel_boot::BootInfo;
use kernel_core::addr::PhysAddr;
use kernel_core::sched::Priority;
use kernel_core::sync::LockClass;
use kernel_verify::elf::ElfImage;
use kernel_verify::keys::TrustedKeys;
use kernel_verify::manifest::{self, StartPolicy};
use kernel_verify::verifier::{VerifyPolicy, verify_binary};

use kernel_core::sched::CpuSet;

use crate::error::KernelError;
use crate::process::{self, Image, LoadSegment, Pid};
use crate::sync::SpinLock;
use crate::{arch, layout};

/// Name of the manifest in the initrd.
pub const MANIFEST_NAME: &str = "manifest";

/// A module the manifest lists and the verifier accepted.
struct Module {
    name: String,
    bytes: &'static [u8],
    elf: &'static [u8],
    image: ElfImage,
    hash: [u8; 32],
    principal: [u8; 32],
    caps: CapSet,
    priority: Priority,
    provides: u64,
    uses: u64,
    /// The CPUs it may run on (manifest `cpus`; 0 = any).
    cpus: u64,
}

static REGISTRY: SpinLock<Option<&'static [Module]>> = SpinLock::new(LockClass::Boot, None);

/// The trusted signing keys: the bootstrap public key built into the kernel
/// (`CAMBIOS_BOOTSTRAP_PUBKEY` at build time, 64 hex digits; the documented development key
/// otherwise).
pub fn trusted_keys() -> Result<TrustedKeys, KernelError> {
    let key = match option_env!("CAMBIOS_BOOTSTRAP_PUBKEY") {
        Some(hex) => kernel_verify::keys::decode_hex32(hex.as_bytes()).map_err(|_| {
            KernelError::NotInitialised("bootstrap key (CAMBIOS_BOOTSTRAP_PUBKEY is not 64 hex digits)")
        })?,
        None => kernel_verify::keys::DEV_PUBLIC_KEY,
    };
    let mut keys = TrustedKeys::empty();
    keys.add(key).map_err(|_| KernelError::NotInitialised("bootstrap key (not a valid Ed25519 public key)"))?;
    Ok(keys)
}

fn priority(p: manifest::Priority) -> Priority {
    match p {
        manifest::Priority::Low => Priority::Low,
        manifest::Priority::Normal => Priority::Normal,
        manifest::Priority::High => Priority::High,
    }
}

/// The initrd archive's bytes, if the boot loader provided one the kernel can read.
fn initrd_bytes(info: &BootInfo) -> Option<&'static [u8]> {
    info.module_list().find(|m| info.is_mapped_ram(m.range)).map(|m| {
        let ptr = layout::phys_to_virt(PhysAddr(m.range.start));
        // SAFETY: `is_mapped_ram` checked the module lies in RAM the direct map covers; it is
        // reserved (never handed out by the frame allocator) and nothing writes it, so it is
        // valid, unchanged memory for the rest of the kernel's life.
        unsafe { core::slice::from_raw_parts(ptr.cast_const(), m.range.len() as usize) }
    })
}

/// Verifies the manifest and every module, starts the boot-time ones, and registers the
/// verified ones for `spawn`. Problems are reported per module; the boot always continues.
pub fn load_boot_modules(info: &BootInfo) -> Result<(), KernelError> {
    let keys = trusted_keys()?;
    let Some(bytes) = initrd_bytes(info) else {
        kinfo!("[loader] no initrd: no services to start");
        return Ok(());
    };
    let Ok(archive) = initrd::parse(bytes) else {
        kinfo!("[loader] the initrd is not a CambiOS archive: no services started");
        return Ok(());
    };
    let Some(manifest_entry) = archive.entries().find(|e| e.name == MANIFEST_NAME) else {
        kinfo!("[loader] the initrd has no boot manifest: no services started");
        return Ok(());
    };
    let manifest = match manifest::verify_manifest(manifest_entry.data, &keys)
        .and_then(|m| m.check_against_keys(&keys).map(|()| m))
    {
        Ok(m) => m,
        Err(e) => {
            kinfo!("[loader] {MANIFEST_NAME}: REJECTED: {e}; no services started");
            return Ok(());
        }
    };
    kinfo!("[loader] {MANIFEST_NAME}: verified, {} modules", manifest.entries().count());
    let policy = VerifyPolicy::for_arch(arch::ARCH);
    let mut registry = Vec::new();
    let mut boot = Vec::new();
    for entry in manifest.entries() {
        let Some(module) = archive.entries().find(|m| m.name == entry.name) else {
            kinfo!("[loader] {}: REJECTED: not in the initrd", entry.name);
            continue;
        };
        match verify_binary(module.data, &keys, &policy) {
            Ok(v) => {
                registry.push(Module {
                    name: String::from(entry.name),
                    bytes: module.data,
                    elf: v.elf,
                    image: v.image,
                    hash: v.hash,
                    principal: entry.principal,
                    caps: entry.caps,
                    priority: priority(entry.priority),
                    provides: entry.provides,
                    uses: entry.uses,
                    cpus: entry.cpus,
                });
                if entry.start == StartPolicy::AtBoot {
                    boot.push(registry.len() - 1);
                } else {
                    kinfo!("[loader] {}: verified, started on demand", entry.name);
                }
            }
            Err(e) => {
                kinfo!("[loader] {}: REJECTED: {e}", entry.name);
                crate::audit::log(EventKind::VerifyFailed, 0, &entry.principal, u64::from(e.code()), 0);
            }
        }
    }
    for module in archive.entries() {
        // Data files (not ELF) may sit in the initrd; programs must be listed to run.
        if module.data.starts_with(b"\x7fELF") && manifest.find(module.name).is_none() {
            kinfo!("[loader] {}: REJECTED: not listed in the boot manifest", module.name);
        }
    }
    let registry: &'static [Module] = Box::leak(registry.into_boxed_slice());
    *REGISTRY.lock() = Some(registry);
    if boot.iter().filter_map(|i| registry.get(*i)).any(|m| m.caps.contains(cambios_abi::cap::Capability::ConsoleRead))
    {
        crate::monitor::reserve_for_user();
    }
    for index in boot {
        if let Some(module) = registry.get(index) {
            match start(module, None) {
                Ok(pid) => kinfo!("[loader] {}: verified, pid {pid}", module.name),
                Err(e) => kinfo!("[loader] {}: REJECTED: cannot start: {e}", module.name),
            }
        }
    }
    Ok(())
}

/// The CPUs a module's process may run on: its manifest `cpus` limited to the CPUs online;
/// every CPU when the manifest names none (0) or names no online CPU.
fn affinity(module: &Module) -> CpuSet {
    let online =
        (0..crate::smp::MAX_CPUS).filter(|&c| crate::smp::is_online(c)).fold(CpuSet::EMPTY, |set, c| set.with(c));
    let wanted = CpuSet::from_bits(module.cpus);
    if module.cpus == 0 {
        return CpuSet::all();
    }
    let usable = CpuSet::from_bits(wanted.bits() & online.bits());
    if usable.is_empty() {
        kwarn!(
            "[loader] {}: none of its manifest CPUs (mask {:#x}) is online: it runs on any CPU",
            module.name,
            module.cpus
        );
        return CpuSet::all();
    }
    usable
}

/// Creates a process from a registered module.
fn start(module: &Module, parent: Option<Pid>) -> Result<Pid, KernelError> {
    let mut segments = [LoadSegment { vaddr: 0, mem_size: 0, file: &[], write: false, execute: false };
        cambios_abi::layout::MAX_LOAD_SEGMENTS];
    let mut count = 0;
    for (slot, seg) in segments.iter_mut().zip(module.image.segments()) {
        let file = kernel_verify::elf::segment_bytes(module.elf, seg)
            .ok_or(KernelError::AddressSpace("segment bytes outside the image"))?;
        *slot = LoadSegment {
            vaddr: seg.vaddr,
            mem_size: seg.mem_size,
            file,
            write: seg.flags.write,
            execute: seg.flags.execute,
        };
        count += 1;
    }
    let image = Image {
        name: &module.name,
        entry: module.image.entry,
        segments: segments.get(..count).unwrap_or(&[]),
        principal: module.principal,
        caps: module.caps,
        priority: module.priority,
        affinity: affinity(module),
    };
    // Its well-known endpoint capabilities, before any CPU can run it.
    process::create(&image, parent, |pid| {
        if let Err(e) = crate::ipc::grant_well_known(pid, module.provides, module.uses) {
            kwarn!("[loader] {}: endpoint capabilities not granted: {e}", module.name);
        }
    })
}

/// Starts the registered module `name` as a child of `parent` (the `spawn` syscall), or
/// without a parent (the boot monitor's `spawn` command).
pub fn spawn(name: &str, parent: Option<Pid>) -> Result<Pid, SysError> {
    // Masked until the child has its capabilities (the monitor calls this with interrupts on).
    let state = arch::irq_save();
    let result = spawn_masked(name, parent);
    arch::irq_restore(state);
    result
}

fn spawn_masked(name: &str, parent: Option<Pid>) -> Result<Pid, SysError> {
    let registry = REGISTRY.lock().ok_or(SysError::NotFound)?;
    let module = registry.iter().find(|m| m.name == name).ok_or(SysError::NotFound)?;
    // The bytes were verified at boot; make sure they are still the bytes that were signed.
    let body = module.bytes.get(..module.elf.len()).ok_or(SysError::VerificationFailed)?;
    if *blake3::hash(body).as_bytes() != module.hash {
        return Err(SysError::VerificationFailed);
    }
    // Every way creation fails (frames, page tables, thread slots, process ids) is a resource
    // running out.
    start(module, parent).map_err(|_| SysError::OutOfMemory)
}

/// The registered module names, in manifest order (for the monitor).
pub fn module_names() -> Vec<&'static str> {
    REGISTRY.lock().map_or(Vec::new(), |r| r.iter().map(|m| m.name.as_str()).collect())
}
