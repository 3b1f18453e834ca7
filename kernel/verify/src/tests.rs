// SPDX-License-Identifier: AGPL-3.0-or-later
//! Cross-module host tests: one crafted ELF per verifier rule, signing cases, manifests, BLAKE3.

use crate::elf::{PF_R, PF_W, PF_X, PT_DYNAMIC, PT_INTERP, PT_LOAD};
use crate::elfbuild::{ElfBuilder, R, RW, RX, SegmentSpec};
use crate::manifest::{EntrySpec, ManifestBuilder, encode};
use crate::sign::{SigningKey, sign_body, sign_file};
use crate::trailer::{self, TRAILER_LEN, TrailerError};
use crate::*;
use cambios_abi::Arch;
use cambios_abi::cap::{CapSet, Capability};
use cambios_abi::layout::{MAX_LOAD_SEGMENTS, USER_END, USER_IMAGE_BASE, USER_START};

const BASE: u64 = USER_IMAGE_BASE;
const X86: Arch = Arch::X86_64;

/// Signs any bytes with the development key (bypassing sign_file's prefix check).
fn signed(body: &[u8]) -> Vec<u8> {
    trailer::append(body, &sign_body(body, &SigningKey::dev()))
}

fn policy() -> VerifyPolicy {
    VerifyPolicy::for_arch(X86)
}

/// Signs, then runs the full verifier with the dev key and the x86_64 policy.
fn check_bytes(elf: &[u8]) -> Result<ElfImage, VerifyError> {
    verify_binary(&signed(elf), &TrustedKeys::dev(), &policy()).map(|v| v.image)
}

fn check(b: ElfBuilder) -> Result<ElfImage, VerifyError> {
    check_bytes(&b.build())
}

fn patched(mut bytes: Vec<u8>, at: usize, with: &[u8]) -> Vec<u8> {
    bytes[at..at + with.len()].copy_from_slice(with);
    bytes
}

fn minimal() -> Vec<u8> {
    ElfBuilder::minimal(X86).build()
}

#[test]
fn a_good_binary_verifies_on_every_arch() {
    for arch in Arch::ALL {
        let elf = ElfBuilder::minimal(arch).build();
        let file = sign_file(&elf, &SigningKey::dev()).unwrap();
        let v = verify_binary(&file, &TrustedKeys::dev(), &VerifyPolicy::for_arch(arch)).unwrap();
        assert_eq!(v.elf, &elf[..]);
        assert_eq!(v.hash, *blake3::hash(&elf).as_bytes());
        assert_eq!((v.signer_index, v.signer), (0, DEV_PUBLIC_KEY));
        assert_eq!(v.image.machine, arch.elf_machine());
        assert_eq!(v.image.entry, BASE);
        let segs = v.image.segments();
        assert_eq!(segs.len(), 2);
        assert_eq!((segs[0].vaddr, segs[0].mem_size, segs[0].file_size), (BASE, 64, 64));
        assert_eq!(segs[0].flags, SegmentFlags { read: true, write: false, execute: true });
        assert_eq!(segs[1].flags.as_str(), "rw-");
        assert_eq!(elf::segment_bytes(v.elf, &segs[1]), Some(&[0x11u8; 16][..]));
        assert_eq!(verify_structure(&elf, &VerifyPolicy::for_arch(arch)), Ok(v.image));
        assert_eq!(VerifyPolicy::for_machine(arch.elf_machine()), Some(VerifyPolicy::for_arch(arch)));
    }
    assert_eq!(VerifyPolicy::for_machine(3), None);
}

#[test]
fn signature_cases() {
    let elf = minimal();
    let dev = TrustedKeys::dev();
    let p = policy();
    let good = sign_file(&elf, &SigningKey::dev()).unwrap();
    assert!(verify_binary(&good, &dev, &p).is_ok());
    // Unsigned.
    assert_eq!(verify_binary(&elf, &dev, &p).unwrap_err(), VerifyError::MissingSignature);
    // A flipped byte in the body, in the signature, in R.
    for at in [0usize, 70, elf.len() - 1, elf.len() + 1, elf.len() + 40] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        assert_eq!(verify_binary(&bad, &dev, &p).unwrap_err(), VerifyError::BadSignature, "byte {at}");
    }
    // Signed by a key that is not trusted; then trusted as the second key.
    let other = SigningKey::from_seed(&[0x42; 32]);
    let by_other = sign_file(&elf, &other).unwrap();
    assert_eq!(verify_binary(&by_other, &dev, &p).unwrap_err(), VerifyError::BadSignature);
    let mut two = TrustedKeys::dev();
    two.add(other.public_key()).unwrap();
    let v = verify_binary(&by_other, &two, &p).unwrap();
    assert_eq!((v.signer_index, v.signer), (1, other.public_key()));
    assert_eq!(verify_binary(&good, &TrustedKeys::empty(), &p).unwrap_err(), VerifyError::BadSignature);
    // Trailer damage.
    let n = good.len();
    assert_eq!(verify_binary(&good[n - 40..], &dev, &p).unwrap_err(), VerifyError::TruncatedTrailer);
    assert_eq!(
        verify_binary(&patched(good.clone(), n - 2, &[2]), &dev, &p).unwrap_err(),
        VerifyError::UnsupportedTrailerVersion(2)
    );
    assert_eq!(
        verify_binary(&patched(good.clone(), n - 1, &[1]), &dev, &p).unwrap_err(),
        VerifyError::UnsupportedAlgorithm(1)
    );
    assert_eq!(
        verify_binary(&patched(good.clone(), n - 8, b"CAMSIX"), &dev, &p).unwrap_err(),
        VerifyError::MissingSignature
    );
    assert_eq!(verify_binary(&signed(&good), &dev, &p).unwrap_err(), VerifyError::MalformedTrailer);
    assert_eq!(verify_binary(&good[n - TRAILER_LEN..], &dev, &p).unwrap_err(), VerifyError::MalformedTrailer);
    // Truncating the signed file anywhere breaks it.
    assert_eq!(verify_binary(&good[..n - 1], &dev, &p).unwrap_err(), VerifyError::MissingSignature);
}

#[test]
fn checks_run_in_order_size_trailer_signature_structure() {
    let dev = TrustedKeys::dev();
    let small = VerifyPolicy { max_image_bytes: 100, ..policy() };
    // Too large beats unsigned.
    assert_eq!(verify_binary(&[0u8; 101], &dev, &small).unwrap_err(), VerifyError::ImageTooLarge);
    assert_eq!(verify_binary(&signed(&minimal()), &dev, &small).unwrap_err(), VerifyError::ImageTooLarge);
    // Garbage that is unsigned is reported as unsigned, not as bad ELF.
    assert_eq!(verify_binary(b"garbage", &dev, &policy()).unwrap_err(), VerifyError::MissingSignature);
    // Garbage signed by an untrusted key: bad signature, structure never examined.
    let other = SigningKey::from_seed(&[5; 32]);
    let garbage = trailer::append(b"garbage", &sign_body(b"garbage", &other));
    assert_eq!(verify_binary(&garbage, &dev, &policy()).unwrap_err(), VerifyError::BadSignature);
    // Correctly signed garbage: now the structure is checked.
    assert_eq!(verify_binary(&signed(b"garbage"), &dev, &policy()).unwrap_err(), VerifyError::TruncatedElf);
    // The size cap includes the trailer.
    let elf = minimal();
    let exact = VerifyPolicy { max_image_bytes: (elf.len() + TRAILER_LEN) as u64, ..policy() };
    assert!(verify_binary(&signed(&elf), &dev, &exact).is_ok());
    assert_eq!(verify_structure(&[0; 101], &small).unwrap_err(), VerifyError::ImageTooLarge);
}

#[test]
fn header_rules() {
    let elf = minimal();
    assert_eq!(check_bytes(&elf[..63]).unwrap_err(), VerifyError::TruncatedElf);
    assert_eq!(check_bytes(&patched(elf.clone(), 0, b"\x7fELG")).unwrap_err(), VerifyError::BadMagic);
    assert_eq!(check_bytes(&patched(elf.clone(), 4, &[1])).unwrap_err(), VerifyError::NotElf64);
    assert_eq!(check_bytes(&patched(elf.clone(), 5, &[2])).unwrap_err(), VerifyError::NotLittleEndian);
    assert_eq!(check_bytes(&patched(elf.clone(), 6, &[0])).unwrap_err(), VerifyError::BadElfVersion);
    assert_eq!(check_bytes(&patched(elf.clone(), 20, &2u32.to_le_bytes())).unwrap_err(), VerifyError::BadElfVersion);
    assert_eq!(check(ElfBuilder::minimal(Arch::Aarch64)).unwrap_err(), VerifyError::WrongMachine(183));
    assert_eq!(check(ElfBuilder::minimal(Arch::Riscv64)).unwrap_err(), VerifyError::WrongMachine(243));
    assert_eq!(check_bytes(&patched(elf.clone(), 16, &3u16.to_le_bytes())).unwrap_err(), VerifyError::NotExecutable(3));
    assert_eq!(check_bytes(&patched(elf.clone(), 16, &1u16.to_le_bytes())).unwrap_err(), VerifyError::NotExecutable(1));
    assert_eq!(check_bytes(&patched(elf.clone(), 52, &52u16.to_le_bytes())).unwrap_err(), VerifyError::BadHeaderSize);
    assert_eq!(check_bytes(&patched(elf.clone(), 54, &32u16.to_le_bytes())).unwrap_err(), VerifyError::BadHeaderSize);
}

#[test]
fn header_table_bounds() {
    let elf = minimal();
    let len = elf.len() as u64;
    let phoff_past = patched(elf.clone(), 32, &len.to_le_bytes());
    assert_eq!(check_bytes(&phoff_past).unwrap_err(), VerifyError::ProgramHeadersOutOfBounds);
    let phoff_wrap = patched(elf.clone(), 32, &(u64::MAX - 8).to_le_bytes());
    assert_eq!(check_bytes(&phoff_wrap).unwrap_err(), VerifyError::ProgramHeadersOutOfBounds);
    let phnum_big = patched(elf.clone(), 56, &1000u16.to_le_bytes());
    assert_eq!(check_bytes(&phnum_big).unwrap_err(), VerifyError::ProgramHeadersOutOfBounds);
    let phnum_xnum = patched(elf.clone(), 56, &0xffffu16.to_le_bytes());
    assert_eq!(check_bytes(&phnum_xnum).unwrap_err(), VerifyError::ProgramHeadersOutOfBounds);
    // A section header table that does not fit, or overflows.
    let sh = patched(patched(elf.clone(), 60, &1u16.to_le_bytes()), 40, &(len - 10).to_le_bytes());
    assert_eq!(check_bytes(&sh).unwrap_err(), VerifyError::SectionHeadersOutOfBounds);
    let sh_wrap = patched(patched(elf.clone(), 60, &4u16.to_le_bytes()), 40, &u64::MAX.to_le_bytes());
    assert_eq!(check_bytes(&sh_wrap).unwrap_err(), VerifyError::SectionHeadersOutOfBounds);
    let sh_entsize = patched(patched(elf.clone(), 60, &1u16.to_le_bytes()), 58, &40u16.to_le_bytes());
    assert_eq!(check_bytes(&sh_entsize).unwrap_err(), VerifyError::SectionHeadersOutOfBounds);
    // A section header table that fits is fine.
    let sh_ok = patched(patched(elf.clone(), 60, &1u16.to_le_bytes()), 40, &0u64.to_le_bytes());
    assert!(check_bytes(&sh_ok).is_ok());
}

#[test]
fn program_header_rules() {
    assert_eq!(check(ElfBuilder::minimal(X86).other(PT_INTERP)).unwrap_err(), VerifyError::DynamicBinary);
    assert_eq!(check(ElfBuilder::minimal(X86).other(PT_DYNAMIC)).unwrap_err(), VerifyError::DynamicBinary);
    // PT_NOTE and PT_GNU_STACK are ignored.
    assert!(check(ElfBuilder::minimal(X86).other(4).other(0x6474_e551)).is_ok());
    assert_eq!(check(ElfBuilder::new(X86).entry(BASE).other(4)).unwrap_err(), VerifyError::NoLoadSegments);
    assert_eq!(check(ElfBuilder::new(X86)).unwrap_err(), VerifyError::NoLoadSegments);
    let many =
        |n: u64| (0..n).fold(ElfBuilder::new(X86).entry(BASE), |b, i| b.load(BASE + i * 0x1000, RX, &[0xc3; 8], 8));
    assert_eq!(check(many(MAX_LOAD_SEGMENTS as u64)).unwrap().count, MAX_LOAD_SEGMENTS);
    assert_eq!(check(many(MAX_LOAD_SEGMENTS as u64 + 1)).unwrap_err(), VerifyError::TooManyLoadSegments);
}

#[test]
fn segment_rules() {
    let text = |b: ElfBuilder| b.entry(BASE).load(BASE, RX, &[0xc3; 16], 16);
    let base = || text(ElfBuilder::new(X86));
    // W^X.
    let wx = ElfBuilder::new(X86).entry(BASE).load(BASE, PF_R | PF_W | PF_X, &[0xc3; 16], 16);
    assert_eq!(check(wx).unwrap_err(), VerifyError::WritableAndExecutable { index: 0 });
    let wx_only = base().load(BASE + 0x1000, PF_W | PF_X, &[], 16);
    assert_eq!(check(wx_only).unwrap_err(), VerifyError::WritableAndExecutable { index: 1 });
    // File size larger than memory size.
    let fat = base().load(BASE + 0x1000, RW, &[1; 32], 16);
    assert_eq!(check(fat).unwrap_err(), VerifyError::FileSizeExceedsMemSize { index: 1 });
    // File range past the end of the ELF body, and overflowing.
    let spec = |file_offset: Option<u64>, file_size: Option<u64>| SegmentSpec {
        p_type: PT_LOAD,
        p_flags: RW,
        vaddr: BASE + 0x1000,
        mem_size: 1 << 20,
        data: vec![1; 8],
        file_offset,
        file_size,
    };
    assert_eq!(
        check(base().header(spec(None, Some(1 << 19)))).unwrap_err(),
        VerifyError::SegmentOutOfFile { index: 1 }
    );
    let wrap = spec(Some(u64::MAX - 0xfff), Some(0x2000));
    let wrap = SegmentSpec { mem_size: u64::MAX, ..wrap };
    assert_eq!(check(base().header(wrap)).unwrap_err(), VerifyError::SegmentOutOfFile { index: 1 });
    // vaddr + mem_size overflows.
    let wraps = base().load(u64::MAX - 0xfff, R, &[], 0x2000);
    assert_eq!(check(wraps).unwrap_err(), VerifyError::SegmentWraps { index: 1 });
    // Outside [USER_START, USER_END): below, straddling the top, kernel half.
    let low = base().load(0x1000, R, &[], 0x1000);
    assert_eq!(check(low).unwrap_err(), VerifyError::SegmentOutsideUserSpace { index: 1 });
    let straddle_low = base().load(USER_START - 0x1000, R, &[], 0x2000);
    assert_eq!(check(straddle_low).unwrap_err(), VerifyError::SegmentOutsideUserSpace { index: 1 });
    let top = base().load(USER_END - 0x1000, R, &[], 0x1001);
    assert_eq!(check(top).unwrap_err(), VerifyError::SegmentOutsideUserSpace { index: 1 });
    let exactly_top = base().load(USER_END - 0x1000, R, &[], 0x1000);
    assert!(check(exactly_top).is_ok());
    let kernel = base().load(0xffff_8000_0000_0000, R, &[], 0x1000);
    assert_eq!(check(kernel).unwrap_err(), VerifyError::SegmentOutsideUserSpace { index: 1 });
    // vaddr and file offset not congruent modulo the page size.
    let misaligned = SegmentSpec { file_offset: Some(0x2001), ..spec(None, None) };
    let misaligned = SegmentSpec { mem_size: 16, ..misaligned };
    let b = base().header(misaligned);
    let mut elf = b.build();
    elf.resize(0x3000, 0);
    assert_eq!(check_bytes(&elf).unwrap_err(), VerifyError::MisalignedSegment { index: 1 });
}

#[test]
fn layout_rules() {
    let base = || ElfBuilder::new(X86).entry(BASE).load(BASE, RX, &[0xc3; 16], 0x1800);
    // Overlap: bytes in common.
    let overlap = base().load(BASE + 0x1000, RW, &[], 0x1000);
    assert_eq!(check(overlap).unwrap_err(), VerifyError::OverlappingSegments { first: 0, second: 1 });
    let contained = base().load(BASE + 0x10, R, &[], 0x10);
    assert_eq!(check(contained).unwrap_err(), VerifyError::OverlappingSegments { first: 0, second: 1 });
    // Adjacent in the same page with different permissions: refused.
    let shared_page = base().load(BASE + 0x1800, RW, &[], 0x100);
    assert_eq!(check(shared_page).unwrap_err(), VerifyError::PagePermissionConflict { first: 0, second: 1 });
    // ... same permissions: fine (the page is mapped once).
    assert!(check(base().load(BASE + 0x1800, RX, &[], 0x100)).is_ok());
    // ... next page: fine.
    assert!(check(base().load(BASE + 0x2000, RW, &[], 0x100)).is_ok());
    // A third segment conflicting with the first only.
    let third = base().load(BASE + 0x4000, RW, &[], 0x10).load(BASE + 0x1900, R, &[], 0x10);
    assert_eq!(check(third).unwrap_err(), VerifyError::PagePermissionConflict { first: 0, second: 2 });
    // Total memory over the cap (256 MiB), in one segment or several.
    let big = base().load(0x1000_0000, RW, &[], (256 << 20) + 1);
    assert_eq!(check(big).unwrap_err(), VerifyError::ExcessiveMemory);
    let split = base().load(0x1000_0000, RW, &[], 200 << 20).load(0x2000_0000, RW, &[], 57 << 20);
    assert_eq!(check(split).unwrap_err(), VerifyError::ExcessiveMemory);
    let at_cap = ElfBuilder::new(X86).entry(BASE).load(BASE, RX, &[0xc3], (256 << 20) - 0x1000).load(
        0x2000_0000,
        RW,
        &[],
        0x1000,
    );
    assert!(check(at_cap).is_ok());
    // Entry point rules.
    let in_data = ElfBuilder::minimal(X86).entry(BASE + 0x1000);
    assert_eq!(check(in_data).unwrap_err(), VerifyError::EntryNotExecutable);
    let past_text = ElfBuilder::minimal(X86).entry(BASE + 64);
    assert_eq!(check(past_text).unwrap_err(), VerifyError::EntryNotExecutable);
    let nowhere = ElfBuilder::minimal(X86).entry(0);
    assert_eq!(check(nowhere).unwrap_err(), VerifyError::EntryNotExecutable);
    assert!(check(ElfBuilder::minimal(X86).entry(BASE + 63)).is_ok());
}

#[test]
fn every_verify_error_has_a_distinct_reason_and_code() {
    let all = [
        VerifyError::ImageTooLarge,
        VerifyError::MissingSignature,
        VerifyError::TruncatedTrailer,
        VerifyError::MalformedTrailer,
        VerifyError::UnsupportedTrailerVersion(2),
        VerifyError::UnsupportedAlgorithm(1),
        VerifyError::BadSignature,
        VerifyError::TruncatedElf,
        VerifyError::BadMagic,
        VerifyError::NotElf64,
        VerifyError::NotLittleEndian,
        VerifyError::BadElfVersion,
        VerifyError::WrongMachine(3),
        VerifyError::NotExecutable(3),
        VerifyError::BadHeaderSize,
        VerifyError::ProgramHeadersOutOfBounds,
        VerifyError::SectionHeadersOutOfBounds,
        VerifyError::DynamicBinary,
        VerifyError::NoLoadSegments,
        VerifyError::TooManyLoadSegments,
        VerifyError::WritableAndExecutable { index: 1 },
        VerifyError::FileSizeExceedsMemSize { index: 1 },
        VerifyError::SegmentOutOfFile { index: 1 },
        VerifyError::SegmentWraps { index: 1 },
        VerifyError::SegmentOutsideUserSpace { index: 1 },
        VerifyError::MisalignedSegment { index: 1 },
        VerifyError::OverlappingSegments { first: 0, second: 1 },
        VerifyError::PagePermissionConflict { first: 0, second: 1 },
        VerifyError::ExcessiveMemory,
        VerifyError::EntryNotExecutable,
    ];
    let reasons: std::collections::HashSet<_> = all.iter().map(|e| e.as_str()).collect();
    let codes: std::collections::HashSet<_> = all.iter().map(|e| e.code()).collect();
    assert_eq!((reasons.len(), codes.len()), (all.len(), all.len()));
    assert_eq!(
        VerifyError::OverlappingSegments { first: 0, second: 1 }.to_string(),
        "segments 0 and 1: segments overlap"
    );
    assert_eq!(VerifyError::WrongMachine(183).to_string(), "ELF machine is not this architecture (183)");
    assert_eq!(VerifyError::from(TrailerError::Absent), VerifyError::MissingSignature);
    assert!(ElfError::SegmentOutOfBounds(2).to_string().starts_with("segment 2: "));
}

// ------------------------------------------------------------------ manifests

fn sample_specs() -> Vec<EntrySpec> {
    vec![
        EntrySpec::new("init", StartPolicy::AtBoot, Priority::High, CapSet::EMPTY.with(Capability::Spawn)),
        EntrySpec::new("hello", StartPolicy::AtBoot, Priority::Normal, CapSet::EMPTY.with(Capability::ConsoleWrite)),
        EntrySpec::new("fault-test_2.elf", StartPolicy::OnDemand, Priority::Low, CapSet::EMPTY),
    ]
}

fn sample_body() -> Vec<u8> {
    encode(&sample_specs()).unwrap()
}

fn entry_at(body: &mut [u8], index: usize) -> &mut [u8] {
    &mut body[32 + index * 128..32 + (index + 1) * 128]
}

#[test]
fn manifest_round_trip() {
    let body = ManifestBuilder::new()
        .service("init", StartPolicy::AtBoot, Priority::High, CapSet::EMPTY.with(Capability::Spawn))
        .service("hello", StartPolicy::AtBoot, Priority::Normal, CapSet::EMPTY.with(Capability::ConsoleWrite))
        .service("fault-test_2.elf", StartPolicy::OnDemand, Priority::Low, CapSet::EMPTY)
        .build()
        .unwrap();
    assert_eq!(body, sample_body());
    assert_eq!(body.len(), 32 + 3 * 128);
    assert_eq!(&body[..8], b"CBOSMANI");
    let file = sign_file(&body, &SigningKey::dev()).unwrap();
    let m = verify_manifest(&file, &TrustedKeys::dev()).unwrap();
    assert_eq!(m.len(), 3);
    assert!(!m.is_empty());
    assert_eq!(m.body(), &body[..]);
    let names: Vec<&str> = m.entries().map(|e| e.name).collect();
    assert_eq!(names, ["init", "hello", "fault-test_2.elf"]);
    let init = m.find("init").unwrap();
    assert_eq!(init.start, StartPolicy::AtBoot);
    assert_eq!(init.priority, Priority::High);
    assert!(init.caps.contains(Capability::Spawn));
    assert_eq!(init.principal, service_principal("init"));
    assert_eq!(m.entry(2).unwrap().start, StartPolicy::OnDemand);
    assert_eq!(m.find("nope"), None);
    assert_eq!(m.entry(3), None);
    // The principal convention, spelled out.
    let mut h = blake3::Hasher::new();
    h.update(b"cambios:v1:service-aid:hello");
    assert_eq!(service_principal("hello"), *h.finalize().as_bytes());
    // An explicit principal survives the round trip.
    let explicit = EntrySpec { principal: Some([7; 32]), ..sample_specs()[0].clone() };
    let body = encode(&[explicit]).unwrap();
    assert_eq!(Manifest::parse(&body).unwrap().entry(0).unwrap().principal, [7; 32]);
}

#[test]
fn manifest_signature_rejections() {
    let body = sample_body();
    let dev = TrustedKeys::dev();
    assert_eq!(verify_manifest(&body, &dev), Err(ManifestError::Trailer(TrailerError::Absent)));
    let mut file = sign_file(&body, &SigningKey::dev()).unwrap();
    file[40] ^= 1;
    assert_eq!(verify_manifest(&file, &dev), Err(ManifestError::BadSignature));
    let other = sign_file(&body, &SigningKey::from_seed(&[8; 32])).unwrap();
    assert_eq!(verify_manifest(&other, &dev), Err(ManifestError::BadSignature));
    let n = other.len();
    assert_eq!(
        verify_manifest(&patched(other.clone(), n - 2, &[9]), &dev),
        Err(ManifestError::Trailer(TrailerError::UnsupportedVersion(9)))
    );
    assert_eq!(verify_manifest(&vec![0; manifest::MAX_MANIFEST_BYTES + 1], &dev), Err(ManifestError::TooLarge));
    // Structurally bad but correctly signed: the parse error comes through.
    let mut bad = body.clone();
    bad[8] = 2;
    assert_eq!(verify_manifest(&signed(&bad), &dev), Err(ManifestError::UnsupportedVersion(2)));
    // A principal equal to the signing key is refused after a good signature.
    let as_key = EntrySpec { principal: Some(DEV_PUBLIC_KEY), ..sample_specs()[1].clone() };
    let body = encode(&[sample_specs()[0].clone(), as_key]).unwrap();
    let m = Manifest::parse(&body).unwrap();
    assert_eq!(m.check_against_keys(&dev), Err(ManifestError::PrincipalIsSigningKey { index: 1 }));
    assert_eq!(m.check_against_keys(&TrustedKeys::empty()), Ok(()));
    assert_eq!(verify_manifest(&signed(&body), &dev), Err(ManifestError::PrincipalIsSigningKey { index: 1 }));
}

#[test]
fn manifest_header_rejections() {
    let body = sample_body();
    let parse = |b: &[u8]| Manifest::parse(b).map(|_| ());
    assert_eq!(parse(&body[..31]), Err(ManifestError::TooShort));
    assert_eq!(parse(&patched(body.clone(), 0, b"CBOSMANX")), Err(ManifestError::BadMagic));
    assert_eq!(parse(&patched(body.clone(), 8, &2u32.to_le_bytes())), Err(ManifestError::UnsupportedVersion(2)));
    assert_eq!(parse(&patched(body.clone(), 12, &0u32.to_le_bytes())), Err(ManifestError::BadEntryCount(0)));
    assert_eq!(parse(&patched(body.clone(), 12, &65u32.to_le_bytes())), Err(ManifestError::BadEntryCount(65)));
    assert_eq!(parse(&patched(body.clone(), 12, &2u32.to_le_bytes())), Err(ManifestError::BadLength));
    assert_eq!(parse(&patched(body.clone(), 16, &64u32.to_le_bytes())), Err(ManifestError::BadEntrySize(64)));
    assert_eq!(parse(&patched(body.clone(), 31, &[1])), Err(ManifestError::HeaderReservedNotZero));
    assert_eq!(parse(&patched(body.clone(), 20, &[1])), Err(ManifestError::HeaderReservedNotZero));
    let mut longer = body.clone();
    longer.push(0);
    assert_eq!(parse(&longer), Err(ManifestError::BadLength));
    assert_eq!(parse(&body[..body.len() - 1]), Err(ManifestError::BadLength));
    // 64 entries is the maximum.
    let many: Vec<EntrySpec> = (0..64)
        .map(|i| EntrySpec::new(&format!("svc{i}"), StartPolicy::OnDemand, Priority::Normal, CapSet::EMPTY))
        .collect();
    assert_eq!(Manifest::parse(&encode(&many).unwrap()).unwrap().len(), 64);
    let mut too_many = many.clone();
    too_many.push(EntrySpec::new("svc64", StartPolicy::OnDemand, Priority::Normal, CapSet::EMPTY));
    assert_eq!(encode(&too_many), Err(ManifestError::BadEntryCount(65)));
    assert_eq!(encode(&[]), Err(ManifestError::BadEntryCount(0)));
}

#[test]
fn manifest_entry_rejections() {
    let body = sample_body();
    let with = |index: usize, at: usize, bytes: &[u8]| {
        let mut b = body.clone();
        entry_at(&mut b, index)[at..at + bytes.len()].copy_from_slice(bytes);
        Manifest::parse(&b).map(|_| ())
    };
    assert_eq!(with(1, 48, &[0]), Err(ManifestError::BadNameLength { index: 1 }));
    assert_eq!(with(1, 48, &[48]), Err(ManifestError::BadNameLength { index: 1 }));
    assert_eq!(with(1, 48, &[4]), Err(ManifestError::NamePaddingNotZero { index: 1 }));
    assert_eq!(with(1, 0, b"Hello"), Err(ManifestError::BadName { index: 1 }));
    assert_eq!(with(1, 0, b"-ello"), Err(ManifestError::BadName { index: 1 }));
    assert_eq!(with(1, 0, b".ello"), Err(ManifestError::BadName { index: 1 }));
    assert_eq!(with(1, 0, b"he/lo"), Err(ManifestError::BadName { index: 1 }));
    assert_eq!(with(1, 0, b"he lo"), Err(ManifestError::BadName { index: 1 }));
    assert_eq!(with(1, 0, &[b'h', 0xc3, 0xa9, b'l', b'o']), Err(ManifestError::BadName { index: 1 }));
    assert_eq!(with(1, 47, b"x"), Err(ManifestError::NamePaddingNotZero { index: 1 }));
    assert_eq!(with(2, 49, &[2]), Err(ManifestError::BadStartPolicy { index: 2 }));
    assert_eq!(with(2, 50, &[3]), Err(ManifestError::BadPriority { index: 2 }));
    assert_eq!(with(0, 51, &[1]), Err(ManifestError::EntryReservedNotZero { index: 0 }));
    assert_eq!(with(0, 55, &[1]), Err(ManifestError::EntryReservedNotZero { index: 0 }));
    assert_eq!(with(0, 96, &[1]), Err(ManifestError::UnknownEndpoints { index: 0 }));
    assert_eq!(with(0, 104, &(1u64 << 40).to_le_bytes()), Err(ManifestError::UnknownEndpoints { index: 0 }));
    assert_eq!(with(0, 120, &[1]), Err(ManifestError::EntryReservedNotZero { index: 0 }));
    assert_eq!(with(0, 127, &[1]), Err(ManifestError::EntryReservedNotZero { index: 0 }));
    assert_eq!(with(0, 56, &(1u64 << 20).to_le_bytes()), Err(ManifestError::UnknownCapabilities { index: 0 }));
    // Well-known endpoints: valid once; two providers of one endpoint are refused.
    let echo = cambios_abi::ipc::WellKnown::Echo.bit().to_le_bytes();
    let mut one = body.clone();
    entry_at(&mut one, 0)[96..104].copy_from_slice(&echo);
    entry_at(&mut one, 1)[104..112].copy_from_slice(&echo);
    entry_at(&mut one, 1)[112..120].copy_from_slice(&0b110u64.to_le_bytes());
    let parsed = Manifest::parse(&one).unwrap();
    assert_eq!(parsed.entry(0).unwrap().provides, cambios_abi::ipc::WellKnown::Echo.bit());
    assert_eq!((parsed.entry(0).unwrap().cpus, parsed.entry(1).unwrap().cpus), (0, 0b110));
    assert_eq!(parsed.entry(1).unwrap().uses, cambios_abi::ipc::WellKnown::Echo.bit());
    entry_at(&mut one, 2)[96..104].copy_from_slice(&echo);
    assert_eq!(Manifest::parse(&one), Err(ManifestError::DuplicateProvider { index: 2 }));
    assert_eq!(with(0, 56, &(1u64 << 63).to_le_bytes()), Err(ManifestError::UnknownCapabilities { index: 0 }));
    assert_eq!(with(2, 64, &[0; 32]), Err(ManifestError::ZeroPrincipal { index: 2 }));
    // Duplicates: entry 2 renamed to "hello", or given entry 0's principal.
    let mut dup = body.clone();
    let hello: Vec<u8> = entry_at(&mut dup, 1)[..49].to_vec();
    entry_at(&mut dup, 2)[..49].copy_from_slice(&hello);
    assert_eq!(Manifest::parse(&dup), Err(ManifestError::DuplicateName { index: 2 }));
    let init_principal = service_principal("init");
    assert_eq!(with(2, 64, &init_principal), Err(ManifestError::DuplicatePrincipal { index: 2 }));
    // The encoder validates the same way.
    let long = EntrySpec::new(&"a".repeat(48), StartPolicy::AtBoot, Priority::Normal, CapSet::EMPTY);
    assert_eq!(encode(&[long]), Err(ManifestError::BadNameLength { index: 0 }));
    let max = EntrySpec::new(&"a".repeat(47), StartPolicy::AtBoot, Priority::Normal, CapSet::EMPTY);
    assert!(encode(&[max]).is_ok());
    let upper = EntrySpec::new("Init", StartPolicy::AtBoot, Priority::Normal, CapSet::EMPTY);
    assert_eq!(encode(&[upper]), Err(ManifestError::BadName { index: 0 }));
    let twice = [sample_specs()[0].clone(), sample_specs()[0].clone()];
    assert_eq!(encode(&twice), Err(ManifestError::DuplicateName { index: 1 }));
    assert_eq!(ManifestError::DuplicateName { index: 1 }.to_string(), "entry 1: name is not unique");
    assert_eq!(ManifestError::Trailer(TrailerError::Absent).to_string(), "no signature trailer (unsigned file)");
}

// ------------------------------------------------------------------ BLAKE3

#[test]
fn blake3_test_vectors() {
    let text = include_str!("../testdata/blake3_test_vectors.json");
    let doc: serde_json::Value = serde_json::from_str(text).unwrap();
    let mut count = 0;
    for case in doc["cases"].as_array().unwrap() {
        let len = case["input_len"].as_u64().unwrap() as usize;
        let input: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let expected = case["hash"].as_str().unwrap();
        assert_eq!(expected.len(), 131 * 2);
        assert_eq!(keys::Hex(blake3::hash(&input).as_bytes()).to_string(), &expected[..64], "len {len}");
        let mut xof = [0u8; 131];
        let mut hasher = blake3::Hasher::new();
        hasher.update(&input);
        hasher.finalize_xof().fill(&mut xof);
        assert_eq!(keys::Hex(&xof).to_string(), expected, "len {len} (XOF)");
        count += 1;
    }
    assert_eq!(count, doc["cases"].as_array().unwrap().len());
    assert!(count >= 30);
}
